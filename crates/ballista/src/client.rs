//! The client side: a DataFusion [`SessionContext`] whose queries run on a Ballista cluster.
//!
//! [`connect`] parses a `df://HOST:PORT` URL, checks that a scheduler answers there, and
//! returns a remote context: SQL is planned locally (our functions are registered, so
//! `rf_bucket` resolves), the logical plan is sent to the scheduler, executors run the stages,
//! and results (or, for `write_parquet`, the written row counts) stream back. Tables are
//! registered by URL (see `reelforest_warehouse::Warehouse::register_all`), so the scheduler
//! and every executor resolve the same paths through their own object stores.

use crate::error::{Error, Result};
use crate::functions;
use crate::object_stores::ObjectStores;
use ballista::extension::SessionContextExt;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::SessionContext;
use std::time::Duration;
use url::Url;

/// The scheduler port when a `df://` URL names none.
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// How long [`connect`] waits for the scheduler to accept a TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `df://HOST[:PORT]` → `(host, port)`.
pub fn parse_cluster_url(url: &str) -> Result<(String, u16)> {
    let bad = |reason: &str| Error::Config { what: "cluster URL", value: url.to_string(), reason: reason.into() };
    let parsed = Url::parse(url).map_err(|e| bad(&format!("{e} (expected df://HOST:PORT)")))?;
    if parsed.scheme() != "df" {
        return Err(bad("the scheme must be df:// (e.g. df://localhost:50050)"));
    }
    let host = parsed.host_str().filter(|h| !h.is_empty()).ok_or_else(|| bad("no host"))?;
    if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() {
        return Err(bad("only df://HOST:PORT is allowed, without a path or query"));
    }
    Ok((host.to_string(), parsed.port().unwrap_or(DEFAULT_SCHEDULER_PORT)))
}

/// A context whose queries run on the Ballista cluster at `url` (`df://HOST:PORT`), with our
/// functions registered and `stores` for planning-time file access. Fails with
/// [`Error::Unreachable`] when nothing listens there.
pub async fn connect(url: &str, stores: &ObjectStores) -> Result<SessionContext> {
    let (host, port) = parse_cluster_url(url)?;
    let addr = format!("{host}:{port}");
    let unreachable = |source| Error::Unreachable { addr: addr.clone(), source };
    match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect((host.as_str(), port))).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(unreachable(e)),
        Err(_) => return Err(unreachable(std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))),
    }
    let runtime = stores
        .runtime_env(None)
        .map_err(|source| Error::DataFusion { doing: "building the client runtime", source })?;
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(crate::session::session_config())
        .with_runtime_env(runtime)
        .build();
    let ctx = SessionContext::remote_with_state(&format!("df://{addr}"), state)
        .await
        .map_err(|source| Error::DataFusion { doing: "creating the Ballista remote context", source })?;
    // `remote_with_state` resets the scalar functions to Ballista's list: register ours after.
    for f in functions::scalar_udfs() {
        ctx.register_udf(f.as_ref().clone());
    }
    tracing::info!(cluster = %addr, session = %ctx.session_id(), "connected to Ballista");
    Ok(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_are_checked() {
        assert_eq!(parse_cluster_url("df://localhost:50055").expect("ok"), ("localhost".into(), 50055));
        assert_eq!(parse_cluster_url("df://10.0.0.2").expect("ok"), ("10.0.0.2".into(), 50050));
        for bad in ["localhost:50050", "http://localhost:50050", "df://", "df://h:1/x", "df://h:99999"] {
            let err = parse_cluster_url(bad).expect_err(bad);
            assert!(err.to_string().contains("cluster URL"), "{bad}: {err}");
        }
    }

    #[tokio::test]
    async fn nothing_listening_is_a_clear_error() {
        // Bind then drop: the port is free and nothing answers.
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let Err(err) = connect(&format!("df://127.0.0.1:{port}"), &ObjectStores::default()).await else {
            panic!("connected to a port nobody listens on");
        };
        assert!(matches!(err, Error::Unreachable { .. }), "{err}");
        assert!(err.to_string().contains(&format!("127.0.0.1:{port}")), "{err}");
    }
}
