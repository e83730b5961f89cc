//! `reelforest executor`: a Ballista executor with reelforest's functions and object stores
//! (see `reelforest_ballista::executor`). Once its ports are open it prints, on stdout,
//!
//! ```text
//! executor health on HOST:PORT
//! executor flight on HOST:PORT
//! executor grpc on HOST:PORT (reserved; unused under pull-staged scheduling)
//! ```
//!
//! the addresses actually bound (so `--port 0 --grpc-port 0 --health-port 0` works: scripts and
//! tests read the ports from these lines); `GET /readyz` on the health port turns 200 when it is
//! registered with the scheduler.

use anyhow::Context;
use clap::Args;
use reelforest_ballista::{Executor, ExecutorOptions, ObjectStores};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `reelforest executor`.
#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// Host or IP the executor's services listen on.
    #[arg(long, env = "REELFOREST_EXECUTOR_BIND_HOST", default_value = "127.0.0.1")]
    pub bind_host: String,
    /// Host name the scheduler and other executors use to reach this one (default: the
    /// address the scheduler sees it connect from).
    #[arg(long, env = "REELFOREST_EXECUTOR_EXTERNAL_HOST")]
    pub external_host: Option<String>,
    /// Arrow Flight port (shuffle and result fetches; 0: any free port, printed on start).
    #[arg(long, short = 'p', env = "REELFOREST_EXECUTOR_PORT", default_value_t = 50051)]
    pub port: u16,
    /// Executor gRPC port (task launches; reserved but unused: reelforest's executors poll for
    /// tasks; 0: any free port, printed on start).
    #[arg(long, env = "REELFOREST_EXECUTOR_GRPC_PORT", default_value_t = 50052)]
    pub grpc_port: u16,
    /// HTTP health port: /healthz and /readyz (0: any free port, printed on start).
    #[arg(long, env = "REELFOREST_EXECUTOR_HEALTH_PORT", default_value_t = 50053)]
    pub health_port: u16,
    /// Scheduler host.
    #[arg(long, env = "REELFOREST_SCHEDULER_HOST", default_value = "localhost")]
    pub scheduler_host: String,
    /// Scheduler port.
    #[arg(long, env = "REELFOREST_SCHEDULER_PORT", default_value_t = 50050)]
    pub scheduler_port: u16,
    /// Keep retrying the first connection to the scheduler for this long (0: try once).
    #[arg(long, env = "REELFOREST_SCHEDULER_CONNECT_TIMEOUT_SECONDS", default_value_t = 30)]
    pub scheduler_connect_timeout_seconds: u64,
    /// Tasks run at once (0: one per core).
    #[arg(long, env = "REELFOREST_CONCURRENT_TASKS", default_value_t = 0)]
    pub concurrent_tasks: usize,
    /// Directory for shuffle files and spills (default: a new temporary directory).
    #[arg(long, env = "REELFOREST_EXECUTOR_WORK_DIR")]
    pub work_dir: Option<PathBuf>,
    /// Seconds between heartbeats (keep well below the scheduler's --executor-timeout-seconds).
    #[arg(long, env = "REELFOREST_HEARTBEAT_INTERVAL_SECONDS", default_value_t = 60)]
    pub heartbeat_interval_seconds: u64,
    /// Executor id (default: a generated unique id).
    #[arg(long, env = "REELFOREST_EXECUTOR_ID")]
    pub executor_id: Option<String>,
}

impl TryFrom<ExecutorArgs> for ExecutorOptions {
    type Error = reelforest_warehouse::Error;

    /// The options, with S3 configured from this process's `AWS_*` environment (fails on
    /// settings that cannot work, naming the variable).
    fn try_from(a: ExecutorArgs) -> Result<Self, Self::Error> {
        Ok(ExecutorOptions {
            bind_host: a.bind_host,
            external_host: a.external_host,
            flight_port: a.port,
            grpc_port: a.grpc_port,
            health_port: a.health_port,
            scheduler_host: a.scheduler_host,
            scheduler_port: a.scheduler_port,
            scheduler_connect_timeout: Duration::from_secs(a.scheduler_connect_timeout_seconds),
            concurrent_tasks: a.concurrent_tasks,
            work_dir: a.work_dir,
            heartbeat_interval: Duration::from_secs(a.heartbeat_interval_seconds),
            executor_id: a.executor_id,
            stores: ObjectStores::from_env()?,
        })
    }
}

/// Runs the executor until it is stopped (SIGINT/SIGTERM) or loses its scheduler.
pub async fn run(args: ExecutorArgs) -> anyhow::Result<()> {
    let executor = Executor::bind(args.try_into()?).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "executor health on {}", executor.health_addr())?;
    writeln!(out, "executor flight on {}", executor.flight_addr())?;
    writeln!(out, "executor grpc on {} (reserved; unused under pull-staged scheduling)", executor.grpc_addr())?;
    out.flush()?;
    drop(out);
    executor.run().await.context("the Ballista executor stopped")
}
