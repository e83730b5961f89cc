//! `reelforest run [JOB.toml]`: the whole job embedded in this process.

use anyhow::Context;
use clap::Args;
use reelforest_pipeline::{JobSpec, RunOptions};
use reelforest_telemetry::{Bars, LogArgs};
use std::path::PathBuf;

/// Arguments of `reelforest run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Job spec (TOML). Without it: generated data, both tasks, leakage audit.
    pub job: Option<PathBuf>,
    /// Use this data directory instead of the job's source.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Where report.json, generated data and (by default) the warehouse go.
    #[arg(long, default_value = "./out")]
    pub out: PathBuf,
    /// Warehouse location (default: OUT/warehouse).
    #[arg(long, env = "REELFOREST_WAREHOUSE")]
    pub warehouse: Option<String>,
}

/// Runs the job and prints the summary.
pub async fn run(args: RunArgs, log: &LogArgs) -> anyhow::Result<()> {
    let spec = match &args.job {
        Some(path) => JobSpec::from_file(path)?,
        None => JobSpec::embedded_default(),
    };
    let bars = Bars::new(log.quiet);
    if let Some(location) = &args.warehouse {
        // S3: a missing bucket, refused credentials or an unreachable endpoint fail here, first.
        reelforest_warehouse::Warehouse::open(location)?.ready().await?;
    }
    let opts = RunOptions { out: args.out.clone(), data: args.data, warehouse: args.warehouse };
    let report = reelforest_pipeline::run_job(&spec, &opts, &bars).await.context("the job failed")?;
    print!("{}", report.summary());
    println!("  report      {}", args.out.join("report.json").display());
    println!("  model       {}models/{}/{}/", report.warehouse, report.job, report.model_version);
    Ok(())
}
