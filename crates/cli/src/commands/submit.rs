//! `reelforest submit JOB.toml` and `reelforest jobs list|status|cancel`: the client side of
//! the coordinator's `JobService`.

use super::coordinator::CoordinatorArgs;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use reelforest_cluster::client;
use reelforest_pipeline::Report;
use reelforest_proto::wire;
use std::path::PathBuf;

/// Arguments of `reelforest submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Job spec (TOML), as for `reelforest run`.
    pub job: PathBuf,
    #[command(flatten)]
    pub conn: CoordinatorArgs,
    /// Data directory (readable by the coordinator) instead of the job's source.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Print the job id and return without watching.
    #[arg(long)]
    pub detach: bool,
}

fn state_name(s: i32) -> &'static str {
    match wire::JobState::try_from(s) {
        Ok(wire::JobState::Queued) => "queued",
        Ok(wire::JobState::Preprocess) => "preprocess",
        Ok(wire::JobState::Train) => "train",
        Ok(wire::JobState::Evaluate) => "evaluate",
        Ok(wire::JobState::Publish) => "publish",
        Ok(wire::JobState::Succeeded) => "succeeded",
        Ok(wire::JobState::Failed) => "failed",
        Ok(wire::JobState::Cancelled) => "cancelled",
        _ => "unknown",
    }
}

fn eta(s: &wire::JobStatus) -> String {
    if s.eta_seconds < 0.0 { "?".into() } else { format!("{:.0}s", s.eta_seconds) }
}

/// One line of live progress.
fn line(s: &wire::JobStatus) -> String {
    let step = if s.step_total > 0 { format!("{} {}/{}", s.step, s.step_done, s.step_total) } else { s.step.clone() };
    format!(
        "[{}] {step} | trees {}/{} | workers busy {} | eta {}",
        state_name(s.state),
        s.trees_done,
        s.trees_total,
        s.workers_busy,
        eta(s)
    )
}

/// Submits, watches, prints the summary; fails when the job does.
pub async fn submit(args: SubmitArgs, quiet: bool) -> anyhow::Result<()> {
    let spec_toml = std::fs::read_to_string(&args.job)
        .with_context(|| format!("cannot read the job spec {}", args.job.display()))?;
    // Check locally first: the same errors as `reelforest run`, before any connection.
    reelforest_pipeline::JobSpec::from_toml(&spec_toml, &args.job.display().to_string())?;
    let mut jobs = client::jobs(&args.conn.coordinator, args.conn.token.as_deref(), &args.conn.tls()).await?;
    let data_dir = match &args.data {
        Some(d) => {
            std::fs::canonicalize(d).with_context(|| format!("data directory {}", d.display()))?.display().to_string()
        }
        None => String::new(),
    };
    let id = jobs
        .submit_job(wire::SubmitJobRequest { spec_toml, origin: args.job.display().to_string(), data_dir })
        .await
        .map_err(|s| client_error("submit", s))?
        .into_inner()
        .job_id;
    println!("submitted {id}");
    if args.detach {
        return Ok(());
    }
    let mut stream = jobs
        .watch_job(wire::WatchJobRequest { job_id: id.clone() })
        .await
        .map_err(|s| client_error("watch", s))?
        .into_inner();
    let bar = ProgressBar::with_draw_target(
        None,
        if quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() },
    );
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let mut last = None;
    while let Some(item) = stream.next().await {
        let s = item.map_err(|s| client_error("watch", s))?;
        bar.set_message(line(&s));
        last = Some(s);
    }
    bar.finish_and_clear();
    let s = last.context("the coordinator closed the watch without a status")?;
    finish(&s)
}

/// Prints a finished job's summary, or fails with its reason.
fn finish(s: &wire::JobStatus) -> anyhow::Result<()> {
    match wire::JobState::try_from(s.state) {
        Ok(wire::JobState::Succeeded) => {
            let report: Report = serde_json::from_str(&s.report_json).context("the job's report does not parse")?;
            print!("{}", report.summary());
            println!("  job         {}", s.job_id);
            println!("  model       {}models/{}/{}/", report.warehouse, report.job, report.model_version);
            Ok(())
        }
        Ok(wire::JobState::Cancelled) => bail!("job {} was cancelled: {}", s.job_id, s.error),
        Ok(wire::JobState::Failed) => bail!("job {} failed: {}", s.job_id, s.error),
        _ => bail!("job {} is still {} (the watch ended early)", s.job_id, state_name(s.state)),
    }
}

/// A failed call as an error naming it, the status code and the message.
fn client_error(call: &str, s: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{call}: {} ({:?})", s.message(), s.code())
}

/// `reelforest jobs ...`.
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Every job the coordinator knows, oldest first.
    List(JobsConn),
    /// One job's status (and its summary once it succeeded).
    Status(JobRef),
    /// Cancels a queued or running job.
    Cancel(JobRef),
}

/// Connection flags only.
#[derive(Debug, Args)]
pub struct JobsConn {
    #[command(flatten)]
    pub conn: CoordinatorArgs,
}

/// A job id and the connection flags.
#[derive(Debug, Args)]
pub struct JobRef {
    /// Job id (from `submit` or `jobs list`).
    pub job_id: String,
    #[command(flatten)]
    pub conn: CoordinatorArgs,
}

/// Runs a `jobs` subcommand.
pub async fn jobs(cmd: JobsCommand) -> anyhow::Result<()> {
    match cmd {
        JobsCommand::List(a) => {
            let mut c = client::jobs(&a.conn.coordinator, a.conn.token.as_deref(), &a.conn.tls()).await?;
            let list = c.list_jobs(wire::ListJobsRequest {}).await.map_err(|s| client_error("list", s))?.into_inner();
            println!("{:<18} {:<20} {:<11} {:>13}  error", "job", "name", "state", "trees");
            for j in list.jobs {
                println!(
                    "{:<18} {:<20} {:<11} {:>13}  {}",
                    j.job_id,
                    j.name,
                    state_name(j.state),
                    format!("{}/{}", j.trees_done, j.trees_total),
                    j.error
                );
            }
            Ok(())
        }
        JobsCommand::Status(a) => {
            let mut c = client::jobs(&a.conn.coordinator, a.conn.token.as_deref(), &a.conn.tls()).await?;
            let s = c
                .get_job(wire::GetJobRequest { job_id: a.job_id })
                .await
                .map_err(|s| client_error("status", s))?
                .into_inner();
            println!("{} ({}): {}", s.job_id, s.name, line(&s));
            match wire::JobState::try_from(s.state) {
                Ok(wire::JobState::Succeeded | wire::JobState::Failed | wire::JobState::Cancelled) => finish(&s),
                _ => Ok(()),
            }
        }
        JobsCommand::Cancel(a) => {
            let mut c = client::jobs(&a.conn.coordinator, a.conn.token.as_deref(), &a.conn.tls()).await?;
            let s = c
                .cancel_job(wire::CancelJobRequest { job_id: a.job_id })
                .await
                .map_err(|s| client_error("cancel", s))?
                .into_inner();
            println!("{}: cancel requested (now {})", s.job_id, state_name(s.state));
            Ok(())
        }
    }
}
