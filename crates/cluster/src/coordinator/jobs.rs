//! Job state and the job runner. Each job has its journal record, a watch channel of its
//! [`wire::JobStatus`] (what `WatchJob` streams), its cancel flag and its tree counters.
//!
//! The runner takes queued jobs in submission order and runs each as
//! [`reelforest_pipeline::run_job_with`] on a thread of its own, with a [`ClusterTrainer`] for
//! the fits and a SQL context from the configured session factory (embedded DataFusion, or
//! Ballista): `Queued → Preprocess → Train → Evaluate → Publish → Succeeded | Failed |
//! Cancelled`. Every state change is written to the journal.

use super::trainer::{ClusterTrainer, JobCounters};
use super::{SessionError, Shared, now_ms};
use crate::control::CancelReason;
use crate::journal::{self, JobRecord, JobState};
use reelforest_core::{Progress, Stage};
use reelforest_pipeline::{JobSpec, RunOptions};
use reelforest_proto::wire;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tokio::sync::{Notify, watch};

/// A job the coordinator knows.
pub(crate) struct JobEntry {
    pub(super) record: JobRecord,
    pub(super) status: watch::Sender<wire::JobStatus>,
    pub(super) cancelled: Arc<AtomicBool>,
    pub(super) cancel: Arc<Notify>,
    counters: Arc<JobCounters>,
    step_started: Instant,
}

/// Why a job did not produce its report.
#[derive(Debug, thiserror::Error)]
pub(crate) enum JobFailure {
    /// The spec does not parse (it did at submission; a journal edited since?).
    #[error(transparent)]
    Spec(reelforest_pipeline::Error),
    /// The job's runtime could not start.
    #[error("cannot start the job's runtime")]
    Runtime(#[source] std::io::Error),
    /// The SQL context could not be made.
    #[error("cannot open the SQL session")]
    Session(#[source] SessionError),
    /// The pipeline failed.
    #[error(transparent)]
    Run(reelforest_pipeline::Error),
    /// The report does not encode.
    #[error("cannot encode the report")]
    Report(#[source] serde_json::Error),
    /// A client cancelled the job while it ran.
    #[error("cancelled")]
    Cancelled,
    /// The job's thread could not start.
    #[error("cannot start the job thread")]
    Thread(#[source] std::io::Error),
    /// The job's thread panicked.
    #[error("the job thread panicked")]
    Panicked,
}

/// The wire form of a job state.
fn wire_state(state: JobState) -> wire::JobState {
    match state {
        JobState::Queued => wire::JobState::Queued,
        JobState::Preprocess => wire::JobState::Preprocess,
        JobState::Train => wire::JobState::Train,
        JobState::Evaluate => wire::JobState::Evaluate,
        JobState::Publish => wire::JobState::Publish,
        JobState::Succeeded => wire::JobState::Succeeded,
        JobState::Failed => wire::JobState::Failed,
        JobState::Cancelled => wire::JobState::Cancelled,
    }
}

impl JobEntry {
    /// The entry of a record (status from the record, no step yet).
    pub(crate) fn new(record: JobRecord) -> Self {
        let initial = wire::JobStatus {
            job_id: record.job_id.clone(),
            name: record.name.clone(),
            state: wire_state(record.state) as i32,
            error: record.error.clone(),
            report_json: record.report_json.clone(),
            submitted_unix_ms: record.submitted_unix_ms,
            finished_unix_ms: record.finished_unix_ms,
            eta_seconds: -1.0,
            ..Default::default()
        };
        JobEntry {
            record,
            status: watch::Sender::new(initial),
            cancelled: Arc::new(AtomicBool::new(false)),
            cancel: Arc::new(Notify::new()),
            counters: Arc::new(JobCounters::default()),
            step_started: Instant::now(),
        }
    }

    /// The status now, with `workers_busy` workers holding a lease of the job.
    fn status_now(&self, workers_busy: u32) -> wire::JobStatus {
        let prev = self.status.borrow();
        let (done, total) = (prev.step_done, prev.step_total);
        let elapsed = self.step_started.elapsed().as_secs_f64();
        let eta = if done > 0 && total >= done { elapsed * (total - done) as f64 / done as f64 } else { -1.0 };
        wire::JobStatus {
            job_id: self.record.job_id.clone(),
            name: self.record.name.clone(),
            state: wire_state(self.record.state) as i32,
            step: prev.step.clone(),
            step_done: done,
            step_total: total,
            trees_done: self.counters.trees_done(),
            trees_total: self.counters.trees_total(),
            workers_busy,
            eta_seconds: if self.record.is_finished() { 0.0 } else { eta },
            error: self.record.error.clone(),
            report_json: self.record.report_json.clone(),
            submitted_unix_ms: self.record.submitted_unix_ms,
            finished_unix_ms: self.record.finished_unix_ms,
        }
    }
}

impl Shared {
    /// Updates a job's status and tells its watchers.
    pub(crate) fn update(&self, job: &str, f: impl FnOnce(&mut JobEntry)) {
        let busy = self.control().workers_busy(job);
        let mut jobs = self.jobs();
        if let Some(e) = jobs.get_mut(job) {
            f(e);
            let s = e.status_now(busy);
            e.status.send_replace(s);
        }
    }

    /// Writes a job's journal record (in the background: progress callbacks cannot wait).
    fn journal_later(&self, job: &str) {
        let rec = self.jobs().get(job).map(|e| e.record.clone());
        if let Some(rec) = rec {
            let wh = self.warehouse.clone();
            self.runtime.spawn(async move {
                if let Err(e) = journal::write(&wh, &rec).await {
                    tracing::error!(job = %rec.job_id, error = %reelforest_core::error_chain(&e), "cannot write the job journal");
                }
            });
        }
    }
}

/// Takes queued jobs in order and runs them, one at a time.
pub(super) async fn run_jobs(shared: Arc<Shared>) {
    loop {
        let notified = shared.submitted.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let next = shared
            .jobs()
            .values()
            .filter(|e| e.record.state == JobState::Queued)
            .min_by_key(|e| e.record.submitted_unix_ms)
            .map(|e| e.record.job_id.clone());
        match next {
            Some(id) => run_one(&shared, &id).await,
            None => notified.await,
        }
    }
}

/// Reports a job's progress into its status.
struct JobProgress {
    shared: Arc<Shared>,
    job: String,
}

impl Progress for JobProgress {
    fn begin(&self, step: &str, total: Option<u64>) {
        self.shared.update(&self.job, |e| {
            e.step_started = Instant::now();
            e.status.send_modify(|s| {
                s.step = step.to_string();
                s.step_done = 0;
                s.step_total = total.unwrap_or(0);
            });
        });
    }

    fn advance(&self, n: u64) {
        self.shared.update(&self.job, |e| e.status.send_modify(|s| s.step_done += n));
    }

    fn end(&self) {}

    fn stage(&self, stage: Stage) {
        self.shared.update(&self.job, |e| e.record.state = JobState::of_stage(stage));
        self.shared.journal_later(&self.job);
    }
}

async fn run_one(shared: &Arc<Shared>, job: &str) {
    let Some((record, cancelled, cancel, counters)) =
        shared.jobs().get(job).map(|e| (e.record.clone(), e.cancelled.clone(), e.cancel.clone(), e.counters.clone()))
    else {
        return;
    };
    tracing::info!(job, name = %record.name, "job starts");
    shared.update(job, |e| e.record.state = JobState::Preprocess);
    shared.journal_later(job);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let sh = shared.clone();
    let job_id = job.to_string();
    let spawned = std::thread::Builder::new().name(format!("job-{job}")).spawn(move || {
        let outcome = run_in_thread(&sh, &job_id, &record, &cancelled, &cancel, counters);
        let _ = tx.send(outcome);
    });
    let outcome = match spawned {
        Ok(_) => rx.await.unwrap_or(Err(JobFailure::Panicked)),
        Err(e) => Err(JobFailure::Thread(e)),
    };
    let was_cancelled = shared.jobs().get(job).is_some_and(|e| e.cancelled.load(Ordering::SeqCst));
    shared.update(job, |e| {
        e.record.finished_unix_ms = now_ms();
        match outcome {
            Ok(report_json) => {
                e.record.state = JobState::Succeeded;
                e.record.report_json = report_json;
            }
            Err(_) if was_cancelled => {
                e.record.state = JobState::Cancelled;
                e.record.error = "cancelled by a client".into();
            }
            Err(failure) => {
                e.record.state = JobState::Failed;
                e.record.error = reelforest_core::error_chain(&failure);
            }
        }
        e.status.send_modify(|s| s.step.clear());
    });
    // Nothing of this job may stay queued (a failed job's other fits).
    shared.control().cancel_job(job, CancelReason::JobEnded);
    let rec = shared.jobs().get(job).map(|e| e.record.clone());
    if let Some(rec) = rec {
        tracing::info!(job, state = %rec.state, error = %rec.error, "job ends");
        if let Err(e) = journal::write(&shared.warehouse, &rec).await {
            tracing::error!(job, error = %reelforest_core::error_chain(&e), "cannot write the job journal");
        }
    }
}

/// Runs the job on this (dedicated) thread with its own runtime, so fits that block waiting for
/// workers never stall the gRPC server's runtime. Returns the report as JSON.
fn run_in_thread(
    shared: &Arc<Shared>,
    job: &str,
    record: &JobRecord,
    cancelled: &Arc<AtomicBool>,
    cancel: &Arc<Notify>,
    counters: Arc<JobCounters>,
) -> Result<String, JobFailure> {
    let spec = JobSpec::from_toml(&record.spec_toml, &format!("job {job}")).map_err(JobFailure::Spec)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(JobFailure::Runtime)?;
    let opts = RunOptions {
        out: shared.cfg.work_dir.join("jobs").join(job),
        data: (!record.data_dir.is_empty()).then(|| PathBuf::from(&record.data_dir)),
        warehouse: Some(shared.cfg.warehouse.clone()),
    };
    let trainer = ClusterTrainer::new(shared.clone(), job, &shared.cfg.warehouse, cancelled.clone(), counters);
    let progress = JobProgress { shared: shared.clone(), job: job.to_string() };
    let sessions = shared.cfg.sessions.clone();
    rt.block_on(async {
        let ctx = sessions().await.map_err(JobFailure::Session)?;
        let run = reelforest_pipeline::run_job_with(&spec, &opts, &progress, &trainer, ctx);
        tokio::select! {
            r = run => {
                let report = r.map_err(JobFailure::Run)?;
                serde_json::to_string(&report).map_err(JobFailure::Report)
            }
            () = cancel.notified() => Err(JobFailure::Cancelled),
        }
    })
}
