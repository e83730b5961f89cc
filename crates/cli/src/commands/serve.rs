//! `reelforest serve --model NAME [--warehouse URL] [--coordinator URL] [--bind ADDR]
//! [--token T]`: the prediction API and the web UI ([`reelforest_serve`]), following new
//! versions of the model as they appear in the warehouse.
//!
//! Prints one line `listening on http://ADDR` when ready (with `--bind 127.0.0.1:0` the port
//! is the one the OS chose) and, when no token was given, the generated one. Stops gracefully
//! on Ctrl-C or SIGTERM.

use super::WarehouseArgs;
use anyhow::Context;
use clap::Args;
use reelforest_serve::{Limits, ServeConfig, Server};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `reelforest serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Model to serve (the job name); its newest version, followed as new ones are saved.
    #[arg(long, env = "REELFOREST_MODEL")]
    pub model: String,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    /// Coordinator of a cluster to show on the Cluster page (gRPC URL).
    #[arg(long, env = "REELFOREST_COORDINATOR")]
    pub coordinator: Option<String>,
    /// The coordinator's shared token (as given to `reelforest coordinator --token`).
    #[arg(long, env = "REELFOREST_TOKEN", hide_env_values = true)]
    pub coordinator_token: Option<String>,
    /// Ballista scheduler whose executors the Cluster page lists (`df://HOST:PORT`).
    #[arg(long, env = "REELFOREST_BALLISTA")]
    pub ballista: Option<String>,
    /// Address to listen on (port 0: any free port).
    #[arg(long, env = "REELFOREST_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Token for the SQL console and reloads (at least 8 characters); generated and printed
    /// when not given.
    #[arg(long, env = "REELFOREST_SERVE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Seconds between checks for a newer model version.
    #[arg(long, env = "REELFOREST_POLL_SECONDS", default_value_t = 10.0)]
    pub poll_seconds: f64,
    /// The run's report.json, for the tuning grid's per-point results (default: report.json
    /// beside a local warehouse directory).
    #[arg(long, env = "REELFOREST_REPORT")]
    pub report: Option<PathBuf>,
    /// Most pairs in one prediction batch.
    #[arg(long, env = "REELFOREST_MAX_BATCH", default_value_t = Limits::default().max_batch)]
    pub max_batch: usize,
    /// Largest request body, bytes.
    #[arg(long, env = "REELFOREST_MAX_BODY_BYTES", default_value_t = Limits::default().max_body_bytes)]
    pub max_body_bytes: usize,
    /// Requests handled at once (more wait).
    #[arg(long, env = "REELFOREST_MAX_CONCURRENCY", default_value_t = Limits::default().max_concurrency)]
    pub max_concurrency: usize,
    /// Seconds a console query may run.
    #[arg(long, env = "REELFOREST_SQL_TIMEOUT_SECONDS", default_value_t = Limits::default().sql_timeout.as_secs_f64())]
    pub sql_timeout_seconds: f64,
}

impl TryFrom<ServeArgs> for ServeConfig {
    type Error = anyhow::Error;

    fn try_from(a: ServeArgs) -> anyhow::Result<Self> {
        let seconds = |name: &str, v: f64| {
            Duration::try_from_secs_f64(v)
                .ok()
                .filter(|d| !d.is_zero())
                .with_context(|| format!("--{name}: {v} is not a positive number of seconds"))
        };
        let limits = Limits {
            max_batch: a.max_batch,
            max_body_bytes: a.max_body_bytes,
            max_concurrency: a.max_concurrency,
            sql_timeout: seconds("sql-timeout-seconds", a.sql_timeout_seconds)?,
            ..Limits::default()
        };
        let config = ServeConfig::new(
            a.warehouse.warehouse,
            a.model,
            a.token.unwrap_or_else(reelforest_serve::config::generate_token),
        )
        .with_bind(a.bind)
        .with_coordinator(a.coordinator)
        .with_poll_interval(seconds("poll-seconds", a.poll_seconds)?)
        .with_report(a.report)
        .with_limits(limits);
        config.validate()?;
        Ok(config)
    }
}

/// Loads the model, serves until Ctrl-C / SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let generated = args.token.is_none();
    let (coordinator_token, ballista) = (args.coordinator_token.clone(), args.ballista.clone());
    let config = ServeConfig::try_from(args)?;
    let token = config.token.clone();
    let cluster =
        reelforest_serve::cluster::source_for(config.coordinator.as_deref(), coordinator_token, ballista.as_deref());
    let (model, warehouse) = (config.model.clone(), config.warehouse.clone());
    // S3: a missing bucket, refused credentials or an unreachable endpoint fail here, first.
    reelforest_warehouse::Warehouse::open(&warehouse)?.ready().await?;
    let server = Server::start(config, cluster)
        .await
        .with_context(|| format!("cannot serve model {model:?} from {warehouse}"))?;
    let served = server.state().served();
    let mut out = std::io::stdout().lock();
    writeln!(out, "model {} version {} from {warehouse}", served.model().name(), served.model().version())?;
    if generated {
        writeln!(out, "token {token} (generated; pass --token to choose one)")?;
    }
    writeln!(out, "listening on http://{}", server.local_addr())?;
    out.flush()?;
    drop(out);
    server.run_until(shutdown_signal()).await.context("the server failed")?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
