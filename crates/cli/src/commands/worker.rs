//! `reelforest worker`: a training-cluster worker (see `reelforest_cluster::worker`), with the
//! coordinator connection flags of [`CoordinatorArgs`].

use super::coordinator::CoordinatorArgs;
use clap::Args;
use reelforest_cluster::worker::WorkerConfig;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Arguments of `reelforest worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub conn: CoordinatorArgs,
    /// Threads that build trees (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Name shown in status pages (default: host:pid).
    #[arg(long)]
    pub name: Option<String>,
    /// Binned training tables kept in memory.
    #[arg(long, default_value_t = 2)]
    pub cache_tables: usize,
}

/// Runs a worker until Ctrl-C or a fatal error.
pub async fn run(args: WorkerArgs) -> anyhow::Result<()> {
    // Workers open the warehouse each job names with their own AWS_* environment: check it now.
    reelforest_warehouse::S3Options::from_env()?;
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into());
    let cfg = WorkerConfig {
        coordinator: args.conn.coordinator.clone(),
        token: args.conn.token.clone(),
        tls: args.conn.tls(),
        name: args.name.unwrap_or_else(|| format!("{host}:{}", std::process::id())),
        threads,
        cache_tables: args.cache_tables,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        s.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    reelforest_cluster::worker::run(cfg, stop).await?;
    Ok(())
}
