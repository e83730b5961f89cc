//! [`ClusterTrainer`]: the pipeline's [`Trainer`] seam, implemented by the coordinator. A fit
//! becomes tasks of k trees in the control state; the calling thread waits for the workers' trees
//! and gets the forest assembled in index order — the same forest [`reelforest_tree::train`]
//! builds in one process, because tree `i` depends only on the data, the parameters and `i`.
//!
//! Evaluations go the same way: the forest is shipped with one task per block of held-out rows,
//! workers return each block's statistics, and the merged result equals the embedded
//! [`reelforest_pipeline::train::evaluate`] bit for bit (same blocks, merged in the same order).

use super::Shared;
use crate::control::{CancelReason, FitEvent, NewEval, NewFit, WorkFailure};
use reelforest_core::Progress;
use reelforest_pipeline::{Error, EvalRequest, FitRequest, RemoteError, Stats, Trainer, train};
use reelforest_proto::wire;
use reelforest_tree::Forest;
use sha2::Digest;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Trees asked for and returned over a job.
#[derive(Debug, Default)]
pub struct JobCounters {
    done: AtomicU64,
    total: AtomicU64,
}

impl JobCounters {
    /// Trees accepted so far.
    pub fn trees_done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Trees of every fit scheduled so far.
    pub fn trees_total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

/// Fits a job's forests on the cluster's workers.
pub struct ClusterTrainer {
    shared: Arc<Shared>,
    job: String,
    warehouse: String,
    cancelled: Arc<AtomicBool>,
    counters: Arc<JobCounters>,
}

impl std::fmt::Debug for ClusterTrainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterTrainer").field("job", &self.job).finish()
    }
}

impl ClusterTrainer {
    pub(crate) fn new(
        shared: Arc<Shared>,
        job: &str,
        warehouse: &str,
        cancelled: Arc<AtomicBool>,
        counters: Arc<JobCounters>,
    ) -> Self {
        ClusterTrainer { shared, job: job.to_string(), warehouse: warehouse.to_string(), cancelled, counters }
    }
}

/// Runs `wait` on this thread, telling a multi-threaded runtime (if any) that it blocks.
fn blocking<T>(wait: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(wait),
        _ => wait(),
    }
}

/// Identifies a table on a worker: the job (tables are rewritten per job), the table, its
/// feature run, and for a binned training table its binning (`maxBins`, seed).
pub fn fingerprint(job: &str, table: &str, run_json: &str, binning: Option<(reelforest_tree::MaxBins, u64)>) -> String {
    let (max_bins, seed) = binning.map_or((0, 0), |(b, s)| (u16::from(b), s));
    let mut h = sha2::Sha256::new();
    for part in [job, table, run_json, &max_bins.to_string(), &seed.to_string()] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

impl Trainer for ClusterTrainer {
    fn fit(&self, req: FitRequest<'_>, progress: &dyn Progress) -> reelforest_pipeline::Result<Forest> {
        let fail = |source: RemoteError| Error::Fit {
            table: req.table.sql_name.clone(),
            task: req.task.as_str().to_string(),
            source,
        };
        if self.cancelled.load(Ordering::SeqCst) {
            return Err(fail(Box::new(WorkFailure::Cancelled(CancelReason::Client))));
        }
        let params = req.cfg.forest().clone();
        let run_json = serde_json::to_string(&req.table.run).map_err(|e| fail(Box::new(e)))?;
        let template = wire::FitTask {
            warehouse: self.warehouse.clone(),
            table: req.table.sql_name.clone(),
            fingerprint: fingerprint(&self.job, &req.table.sql_name, &run_json, Some((params.max_bins, params.seed))),
            feature_run: Some(reelforest_proto::feature_run_to_wire(&req.table.run)),
            task: reelforest_proto::task_kind_to_wire(req.task),
            params: Some(reelforest_proto::params_to_wire(&params)),
            first_tree: 0,
            num_trees: 0,
        };
        let (tx, rx) = std::sync::mpsc::channel();
        self.counters.total.fetch_add(u64::from(params.num_trees), Ordering::Relaxed);
        self.shared.control().add_fit(NewFit {
            job_id: self.job.clone(),
            template,
            params,
            task: reelforest_tree::Task::from(req.task),
            num_features: req.data.columns.len(),
            events: tx,
        });
        self.shared.work.notify_waiters();
        // Show the new trees_total now (not at the first returned tree).
        self.shared.update(&self.job, |_| {});
        // Wait for the workers; inside a runtime, tell it this thread blocks.
        let wait = || -> Result<Forest, Error> {
            loop {
                match rx.recv() {
                    Ok(FitEvent::Trees(n)) => {
                        self.counters.done.fetch_add(n, Ordering::Relaxed);
                        progress.advance(n);
                    }
                    Ok(FitEvent::Done(outcome)) => return outcome.map_err(|f| fail(Box::new(f))),
                    Err(_) => return Err(fail("the coordinator dropped the fit".into())),
                }
            }
        };
        blocking(wait)
    }

    fn evaluate(&self, forest: &Forest, req: EvalRequest<'_>) -> reelforest_pipeline::Result<Stats> {
        let blocks = train::eval_blocks(req.data.len());
        if blocks == 0 {
            return Ok(Stats::empty(req.task));
        }
        let fail = |source: RemoteError| Error::Evaluate {
            table: req.table.sql_name.clone(),
            task: req.task.as_str().to_string(),
            source,
        };
        if self.cancelled.load(Ordering::SeqCst) {
            return Err(fail(Box::new(WorkFailure::Cancelled(CancelReason::Client))));
        }
        let run_json = serde_json::to_string(&req.table.run).map_err(|e| fail(Box::new(e)))?;
        let template = wire::EvalTask {
            warehouse: self.warehouse.clone(),
            table: req.table.sql_name.clone(),
            fingerprint: fingerprint(&self.job, &req.table.sql_name, &run_json, None),
            feature_run: Some(reelforest_proto::feature_run_to_wire(&req.table.run)),
            task: reelforest_proto::task_kind_to_wire(req.task),
            forest: forest.to_bytes(),
            first_block: 0,
            num_blocks: 0,
            block_rows: train::EVAL_BLOCK_ROWS as u32,
            table_rows: req.data.len() as u64,
        };
        let (tx, rx) = std::sync::mpsc::channel();
        self.shared.control().add_eval(NewEval {
            job_id: self.job.clone(),
            template,
            task: req.task,
            blocks: blocks as u32,
            events: tx,
        });
        self.shared.work.notify_waiters();
        match blocking(|| rx.recv()) {
            Ok(outcome) => outcome.map_err(|f| fail(Box::new(f))),
            Err(_) => Err(fail("the coordinator dropped the evaluation".into())),
        }
    }
}
