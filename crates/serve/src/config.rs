//! The server's checked configuration: [`ServeConfig`] (what to serve, where, the token) and
//! [`Limits`] (request size, batch size, concurrency, SQL limits). The CLI's clap flags convert
//! into it; tests build it with [`ServeConfig::new`] and the `with_*` builders.

use crate::{Error, Result};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything `reelforest serve` needs to start.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on (port 0: any free port; [`crate::Server::local_addr`] tells which).
    pub bind: SocketAddr,
    /// Warehouse location (directory or `file://` URL).
    pub warehouse: String,
    /// Name of the model to serve (its newest version, followed as new versions appear).
    pub model: String,
    /// Coordinator URL of a cluster, when one is configured.
    pub coordinator: Option<String>,
    /// Token that the SQL console and work-starting routes require.
    pub token: String,
    /// How often the warehouse is checked for a newer model version.
    pub poll_interval: Duration,
    /// A `report.json` of the run that produced the model, for the tuning grid's per-point
    /// results (the model file records only the chosen point). `None`: `report.json` beside a
    /// local warehouse directory, as `reelforest run --out DIR` writes it, when it exists.
    pub report: Option<PathBuf>,
    /// Request and query limits.
    pub limits: Limits,
}

/// Limits on what one request may ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest accepted request body, in bytes (larger: 413).
    pub max_body_bytes: usize,
    /// Most (user, movie) pairs in one prediction batch (more: 413 `batch_too_large`).
    pub max_batch: usize,
    /// Requests handled at once; more wait for a slot.
    pub max_concurrency: usize,
    /// Feature contributions returned per prediction unless the request asks otherwise.
    pub top_contributions: usize,
    /// Most recommendations one request may ask for.
    pub max_recommendations: usize,
    /// Longest accepted SQL text, in bytes (longer: 413 `sql_too_long`).
    pub sql_max_len: usize,
    /// Rows a query returns unless the request asks for fewer; the result says when it was cut.
    pub sql_default_rows: usize,
    /// Most rows a query may return.
    pub sql_max_rows: usize,
    /// Wall time a query may run (longer: cancelled, `sql_timeout`).
    pub sql_timeout: Duration,
    /// Queries running at once (more: 429 `sql_busy`).
    pub sql_concurrency: usize,
    /// Memory a query may use for sorts, joins and aggregates, in bytes.
    pub sql_memory_bytes: usize,
    /// Worker threads of the runtime that runs SQL queries (kept off the request threads).
    pub sql_threads: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 4 << 20,
            max_batch: 10_000,
            max_concurrency: 1024,
            top_contributions: 5,
            max_recommendations: 100,
            sql_max_len: 20_000,
            sql_default_rows: 200,
            sql_max_rows: 10_000,
            sql_timeout: Duration::from_secs(10),
            sql_concurrency: 2,
            sql_memory_bytes: 512 << 20,
            sql_threads: 2,
        }
    }
}

impl ServeConfig {
    /// Serves model `model` from `warehouse` on `127.0.0.1:8080` with default limits.
    pub fn new(warehouse: impl Into<String>, model: impl Into<String>, token: impl Into<String>) -> Self {
        ServeConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            warehouse: warehouse.into(),
            model: model.into(),
            coordinator: None,
            token: token.into(),
            poll_interval: Duration::from_secs(10),
            report: None,
            limits: Limits::default(),
        }
    }

    /// Listens on `bind`.
    pub fn with_bind(mut self, bind: SocketAddr) -> Self {
        self.bind = bind;
        self
    }

    /// Shows the cluster of the coordinator at `url`.
    pub fn with_coordinator(mut self, url: Option<String>) -> Self {
        self.coordinator = url;
        self
    }

    /// Checks for new model versions every `interval`.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Reads tuning results from this `report.json`.
    pub fn with_report(mut self, report: Option<PathBuf>) -> Self {
        self.report = report;
        self
    }

    /// Replaces the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Checks every value; the server refuses to start on the first bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |field, reason: &str| Err(Error::Config { field, reason: reason.to_string() });
        if self.model.is_empty() {
            return bad("model", "empty model name");
        }
        if self.token.len() < 8 {
            return bad("token", "must be at least 8 characters");
        }
        if self.poll_interval.is_zero() {
            return bad("poll_interval", "must be positive");
        }
        let l = &self.limits;
        for (field, v) in [
            ("max_body_bytes", l.max_body_bytes),
            ("max_batch", l.max_batch),
            ("max_concurrency", l.max_concurrency),
            ("max_recommendations", l.max_recommendations),
            ("sql_max_len", l.sql_max_len),
            ("sql_default_rows", l.sql_default_rows),
            ("sql_max_rows", l.sql_max_rows),
            ("sql_concurrency", l.sql_concurrency),
            ("sql_memory_bytes", l.sql_memory_bytes),
            ("sql_threads", l.sql_threads),
        ] {
            if v == 0 {
                return bad(field, "must be at least 1");
            }
        }
        if l.sql_default_rows > l.sql_max_rows {
            return bad("sql_default_rows", "larger than sql_max_rows");
        }
        if l.sql_timeout.is_zero() {
            return bad("sql_timeout", "must be positive");
        }
        Ok(())
    }

    /// Where the run report is looked for (see [`ServeConfig::report`]).
    pub fn report_path(&self) -> Option<PathBuf> {
        if let Some(p) = &self.report {
            return Some(p.clone());
        }
        let dir = match self.warehouse.strip_prefix("file://") {
            Some(path) => PathBuf::from(path),
            None if !self.warehouse.contains("://") => PathBuf::from(&self.warehouse),
            None => return None,
        };
        let path = dir.parent()?.join("report.json");
        path.exists().then_some(path)
    }
}

/// A random token of 32 hex digits, for a server started without one.
pub fn generate_token() -> String {
    use rand::Rng as _;
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_are_named() {
        let ok = ServeConfig::new("./warehouse", "m", "a-long-token");
        assert!(ok.validate().is_ok());
        let short = ServeConfig::new("./warehouse", "m", "short");
        assert_eq!(
            short.validate().expect_err("short token").to_string(),
            "invalid configuration: token: must be at least 8 characters"
        );
        let zero = ok.clone().with_limits(Limits { max_batch: 0, ..Limits::default() });
        assert_eq!(
            zero.validate().expect_err("zero batch").to_string(),
            "invalid configuration: max_batch: must be at least 1"
        );
        let rows = ok.with_limits(Limits { sql_default_rows: 20, sql_max_rows: 10, ..Limits::default() });
        assert!(rows.validate().expect_err("rows").to_string().contains("sql_default_rows"));
    }

    #[test]
    fn generated_tokens_are_long_and_differ() {
        let (a, b) = (generate_token(), generate_token());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn report_defaults_to_the_run_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wh = dir.path().join("warehouse");
        let cfg = ServeConfig::new(wh.display().to_string(), "m", "a-long-token");
        assert_eq!(cfg.report_path(), None, "no report.json yet");
        std::fs::write(dir.path().join("report.json"), "{}").expect("write");
        assert_eq!(cfg.report_path(), Some(dir.path().join("report.json")));
        let url = ServeConfig::new(format!("file://{}", wh.display()), "m", "a-long-token");
        assert_eq!(url.report_path(), Some(dir.path().join("report.json")));
        let explicit = cfg.with_report(Some("/x/r.json".into()));
        assert_eq!(explicit.report_path(), Some(PathBuf::from("/x/r.json")));
    }
}
