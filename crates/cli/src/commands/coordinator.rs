//! `reelforest coordinator`: the training cluster's coordinator, and the connection flags every
//! command that talks to it shares (`submit`, `jobs`, `worker`).

use anyhow::Context;
use clap::Args;
use reelforest_cluster::control::ControlConfig;
use reelforest_cluster::coordinator::{
    Coordinator, CoordinatorConfig, SessionError, SessionFactory, embedded_sessions,
};
use reelforest_cluster::tls::ClientTls;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How to reach the coordinator.
#[derive(Debug, Clone, Args)]
pub struct CoordinatorArgs {
    /// Coordinator URL (`https://` with --tls-ca).
    #[arg(long, env = "REELFOREST_COORDINATOR", default_value = "http://127.0.0.1:50070")]
    pub coordinator: String,
    /// Shared token (must match the coordinator's).
    #[arg(long, env = "REELFOREST_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// CA certificate (PEM) to trust the coordinator's TLS certificate.
    #[arg(long, value_name = "PEM")]
    pub tls_ca: Option<PathBuf>,
    /// Name to check in the coordinator's certificate (default: the URL's host).
    #[arg(long)]
    pub tls_domain: Option<String>,
}

impl CoordinatorArgs {
    /// The TLS settings.
    pub fn tls(&self) -> ClientTls {
        ClientTls { ca: self.tls_ca.clone(), domain: self.tls_domain.clone() }
    }
}

/// Arguments of `reelforest coordinator`.
#[derive(Debug, Args)]
pub struct CoordinatorServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:50070")]
    pub bind: SocketAddr,
    #[command(flatten)]
    pub warehouse: super::WarehouseArgs,
    /// Directory for each job's report and generated data (`DIR/jobs/<id>/`).
    #[arg(long, default_value = "./coordinator")]
    pub work_dir: PathBuf,
    /// Shared token every client and worker must send.
    #[arg(long, env = "REELFOREST_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// TLS certificate chain (PEM); with --tls-key, serve TLS only.
    #[arg(long, requires = "tls_key", value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert", value_name = "PEM")]
    pub tls_key: Option<PathBuf>,
    /// Trees per task (the unit a worker leases).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub trees_per_task: u32,
    /// Heartbeat interval asked of workers, in milliseconds.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..))]
    pub heartbeat_ms: u64,
    /// A worker silent this long (ms) is dead and loses its leases.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(50..))]
    pub heartbeat_timeout_ms: u64,
    /// A task not completed this long (ms) after its lease was granted is taken back.
    #[arg(long, default_value_t = 600_000, value_parser = clap::value_parser!(u64).range(50..))]
    pub lease_timeout_ms: u64,
    /// Leases of one task before its job fails.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_attempts: u32,
    /// Largest gRPC message accepted, in bytes.
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    pub max_message_bytes: usize,
    /// Run the jobs' feature SQL on this Ballista scheduler (df://HOST:PORT); default: in this
    /// process.
    #[arg(long, value_name = "df://HOST:PORT")]
    pub ballista: Option<String>,
}

/// Runs the coordinator until Ctrl-C.
pub async fn serve(args: CoordinatorServeArgs) -> anyhow::Result<()> {
    let sessions: SessionFactory = match args.ballista.clone() {
        None => embedded_sessions(),
        Some(url) => {
            // S3 from this process's AWS_* environment (the executors read their own).
            let stores = reelforest_ballista::ObjectStores::from_env()?;
            Arc::new(move || {
                let (url, stores) = (url.clone(), stores.clone());
                Box::pin(async move {
                    reelforest_ballista::client::connect(&url, &stores).await.map_err(SessionError::from)
                })
            })
        }
    };
    let cfg = CoordinatorConfig {
        warehouse: args.warehouse.warehouse.clone(),
        work_dir: args.work_dir.clone(),
        token: args.token.clone(),
        control: ControlConfig {
            trees_per_task: args.trees_per_task,
            lease_timeout: Duration::from_millis(args.lease_timeout_ms),
            heartbeat_timeout: Duration::from_millis(args.heartbeat_timeout_ms),
            heartbeat_interval: Duration::from_millis(args.heartbeat_ms),
            max_attempts: args.max_attempts,
        },
        max_message_bytes: args.max_message_bytes,
        sessions,
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => Some(reelforest_cluster::tls::server(c, k)?),
        _ => None,
    };
    // S3: a missing bucket, refused credentials or an unreachable endpoint fail here, first.
    args.warehouse.open()?.ready().await?;
    let coordinator = Coordinator::start(cfg).await.context("cannot start the coordinator")?;
    let listener = Coordinator::bind(args.bind).await?;
    let addr = listener.local_addr()?;
    // The first line on stdout says where it listens (tests and scripts read it).
    println!("coordinator listening on {addr}{}", if tls.is_some() { " (TLS)" } else { "" });
    tracing::info!(%addr, warehouse = %args.warehouse.warehouse, "coordinator ready");
    coordinator
        .serve(listener, tls, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
