//! `reelforest scheduler`: a Ballista scheduler with reelforest's functions and object stores
//! (see `reelforest_ballista::scheduler`). Prints `scheduler listening on HOST:PORT` and the
//! `df://` URL for `--cluster` on stdout once the port is open; health is `GET /healthz` and
//! `GET /readyz` on the same port.

use anyhow::Context;
use clap::Args;
use reelforest_ballista::{ObjectStores, Scheduler, SchedulerOptions};
use std::io::Write;
use std::time::Duration;

/// Arguments of `reelforest scheduler`.
#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Host or IP to listen on (0.0.0.0 for every interface; the REST API is unauthenticated).
    #[arg(long, env = "REELFOREST_SCHEDULER_BIND_HOST", default_value = "127.0.0.1")]
    pub bind_host: String,
    /// Host name executors and clients use to reach this scheduler.
    #[arg(long, env = "REELFOREST_SCHEDULER_EXTERNAL_HOST", default_value = "localhost")]
    pub external_host: String,
    /// Port of the gRPC API, health routes and REST API (0: any free port, printed on start).
    #[arg(long, short = 'p', env = "REELFOREST_SCHEDULER_PORT", default_value_t = 50050)]
    pub port: u16,
    /// An executor silent for this long is declared dead and its work is rerun elsewhere.
    #[arg(long, env = "REELFOREST_EXECUTOR_TIMEOUT_SECONDS", default_value_t = 180)]
    pub executor_timeout_seconds: u64,
    /// How often to look for executors past the timeout.
    #[arg(long, env = "REELFOREST_EXPIRE_DEAD_EXECUTOR_INTERVAL_SECONDS", default_value_t = 15)]
    pub expire_dead_executor_interval_seconds: u64,
    /// After the last executor is lost, running jobs fail unless one registers within this time.
    #[arg(long, env = "REELFOREST_NO_EXECUTORS_GRACE_PERIOD_SECONDS", default_value_t = 180)]
    pub no_executors_grace_period_seconds: u64,
    /// Executors registered before `/readyz` answers 200.
    #[arg(long, env = "REELFOREST_MIN_READY_EXECUTORS", default_value_t = 1)]
    pub min_ready_executors: usize,
    /// Attempts of one task before its job fails.
    #[arg(long, env = "REELFOREST_TASK_MAX_FAILURES", default_value_t = 4)]
    pub task_max_failures: usize,
}

impl TryFrom<SchedulerArgs> for SchedulerOptions {
    type Error = reelforest_warehouse::Error;

    /// The options, with S3 configured from this process's `AWS_*` environment (fails on
    /// settings that cannot work, naming the variable).
    fn try_from(a: SchedulerArgs) -> Result<Self, Self::Error> {
        Ok(SchedulerOptions {
            bind_host: a.bind_host,
            port: a.port,
            external_host: a.external_host,
            executor_timeout: Duration::from_secs(a.executor_timeout_seconds),
            expire_dead_executor_interval: Duration::from_secs(a.expire_dead_executor_interval_seconds),
            no_executors_grace_period: Duration::from_secs(a.no_executors_grace_period_seconds),
            min_ready_executors: a.min_ready_executors,
            task_max_failures: a.task_max_failures,
            stores: ObjectStores::from_env()?,
        })
    }
}

/// Runs the scheduler until the process is stopped.
pub async fn run(args: SchedulerArgs) -> anyhow::Result<()> {
    let scheduler = Scheduler::bind(args.try_into()?).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "scheduler listening on {}", scheduler.local_addr())?;
    writeln!(out, "cluster URL: {} (health: http://{}/healthz)", scheduler.cluster_url(), scheduler.local_addr())?;
    out.flush()?;
    drop(out);
    scheduler.serve().await.context("the Ballista scheduler stopped")
}
