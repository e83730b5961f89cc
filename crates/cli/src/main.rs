//! The `reelforest` binary: thin by design. It parses flags, sets up logging, and calls the
//! libraries; every command lives in [`commands`] and returns `anyhow::Result`, which `main`
//! turns into a message and an exit code.

mod commands;

use clap::{Parser, Subcommand};
use reelforest_telemetry::LogArgs;
use std::process::ExitCode;

/// reelforest: a Spark-like cluster that predicts movie ratings with random forests.
#[derive(Debug, Parser)]
#[command(name = "reelforest", version, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    log: LogArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a whole job in this process: data, features, tuning, training, evaluation, audit.
    Run(commands::run::RunArgs),
    /// Get data into the warehouse: ingest MovieLens files, generate synthetic data, download.
    #[command(subcommand)]
    Data(commands::data::DataCommand),
    /// Build leak-free feature tables (train/test/online) from the raw tables with SQL.
    Features(commands::features::FeaturesArgs),
    /// Run SQL against every table in the warehouse catalog.
    Sql(commands::sql::SqlArgs),
    /// Predict a rating and P(good) for one (user, movie) from a saved model.
    #[command(disable_version_flag = true)]
    Predict(commands::predict::PredictArgs),
    /// Run a Ballista scheduler with reelforest's functions (for `--cluster df://HOST:PORT`).
    Scheduler(commands::scheduler::SchedulerArgs),
    /// Run a Ballista executor with reelforest's functions; it registers with a scheduler.
    Executor(commands::executor::ExecutorArgs),
    /// Serve predictions over HTTP (JSON API + web UI), following new model versions.
    Serve(commands::serve::ServeArgs),
    /// Run the training coordinator: job state machine, gRPC JobService and WorkerService.
    Coordinator(commands::coordinator::CoordinatorServeArgs),
    /// Run a training worker: builds trees for the coordinator's tasks.
    Worker(commands::worker::WorkerArgs),
    /// Submit a job spec to the coordinator and watch it to the end.
    Submit(commands::submit::SubmitArgs),
    /// List, inspect or cancel the coordinator's jobs.
    #[command(subcommand)]
    Jobs(commands::submit::JobsCommand),
    /// Check a service's health (HTTP URL or coordinator): exit 0 when healthy (for healthchecks).
    Health(commands::health::HealthArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    reelforest_telemetry::init(&cli.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => commands::run::run(args, &cli.log).await,
            Command::Data(cmd) => commands::data::run(cmd, &cli.log).await,
            Command::Features(args) => commands::features::run(args, &cli.log).await,
            Command::Sql(args) => commands::sql::run(args).await,
            Command::Predict(args) => commands::predict::run(args).await,
            Command::Scheduler(args) => commands::scheduler::run(args).await,
            Command::Executor(args) => commands::executor::run(args).await,
            Command::Serve(args) => commands::serve::run(args).await,
            Command::Coordinator(args) => commands::coordinator::serve(args).await,
            Command::Worker(args) => commands::worker::run(args).await,
            Command::Submit(args) => commands::submit::submit(args, cli.log.quiet).await,
            Command::Jobs(cmd) => commands::submit::jobs(cmd).await,
            Command::Health(args) => commands::health::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
