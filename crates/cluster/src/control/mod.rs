//! The coordinator's control state (which worker does which task), with no I/O and no clock of
//! its own (every call takes `now`), so each rule has a unit test. It is split by concern, as
//! Ballista splits its scheduler state into executor, task and session managers:
//!
//! * [`registry`]: registered workers, their heartbeats and the leases they hold;
//! * [`leases`]: the task queue, lease grants, deadlines, attempts;
//! * [`assembly`]: fits and evaluations, the checks on returned results, and the collection of
//!   trees into a forest and of block statistics into metrics.
//!
//! [`Control`] ties them together under the rules:
//!
//! * A fit is cut into tasks of at most `trees_per_task` trees, an evaluation into tasks of one
//!   block. Tasks wait in a FIFO queue; a worker's poll takes the first one as a lease with a
//!   deadline (`lease_timeout` after the grant, not extended: a worker that keeps beating but
//!   never finishes, stuck or far too slow, loses the task at the deadline).
//! * A lease ends by completion (result checked, then kept), by failure (retryable: back in the
//!   queue; fatal: the fit fails), by expiry, or by its worker being declared dead (no heartbeat
//!   within the timeout): the last two put the task back. After `max_attempts` grants of one
//!   task its fit (evaluation) fails with the last reason.
//! * Only the worker holding a lease can complete or fail it.

pub mod assembly;
pub mod leases;
pub mod registry;
#[cfg(test)]
mod tests;

pub use assembly::{CancelReason, EvalOutcome, FitEvent, FitOutcome, NewEval, NewFit, ResultProblem, WorkFailure};
pub use leases::TaskFailure;
pub use registry::WorkerView;

use assembly::Assembly;
use leases::{Leases, Requeue};
use reelforest_proto::wire;
use registry::Registry;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Tunables of the control state.
#[derive(Debug, Clone)]
pub struct ControlConfig {
    /// Trees per task (the unit a worker leases).
    pub trees_per_task: u32,
    /// A lease not completed this long after it was granted is taken back.
    pub lease_timeout: Duration,
    /// A worker without a heartbeat for this long is dead; its leases are taken back.
    pub heartbeat_timeout: Duration,
    /// How often workers are asked to send heartbeats.
    pub heartbeat_interval: Duration,
    /// Leases of one task before its fit fails.
    pub max_attempts: u32,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            trees_per_task: 10,
            lease_timeout: Duration::from_secs(600),
            heartbeat_timeout: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(2),
            max_attempts: 4,
        }
    }
}

/// What a lease asks a worker to do.
#[derive(Debug, Clone)]
pub enum Assignment {
    /// Build trees.
    Fit(wire::FitTask),
    /// Score a forest on blocks of a held-out table.
    Eval(wire::EvalTask),
}

/// A granted lease, as sent to the worker.
#[derive(Debug, Clone)]
pub struct Granted {
    /// Lease id.
    pub lease_id: String,
    /// Job id.
    pub job_id: String,
    /// What to do.
    pub task: Assignment,
    /// When the lease ends (heartbeats do not extend it).
    pub deadline: Instant,
}

/// Why a completion or failure report was refused (the worker's call fails with it).
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refusal {
    /// The worker is not registered (restarted coordinator, or declared dead).
    #[error("worker {0} is not registered (register again)")]
    UnknownWorker(String),
    /// The lease is not held by this worker (expired, reassigned, or never granted).
    #[error("lease {lease} is not held by worker {worker}")]
    NotHolder {
        /// Lease id.
        lease: String,
        /// Worker id.
        worker: String,
    },
    /// The result is corrupt or is not the one leased; the task is queued again.
    #[error("rejected result for lease {lease}")]
    BadResult {
        /// Lease id.
        lease: String,
        /// What was wrong, naming the field.
        #[source]
        problem: ResultProblem,
    },
}

/// What [`Control::reap`] took back.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reaped {
    /// Workers declared dead.
    pub dead_workers: Vec<String>,
    /// Leases taken back (expired or held by dead workers).
    pub requeued_leases: Vec<String>,
}

/// The control state: workers, leases and the work being assembled.
pub struct Control {
    cfg: ControlConfig,
    next_id: u64,
    registry: Registry,
    leases: Leases,
    work: Assembly,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").field("work", &self.work).field("queued", &self.leases.queued()).finish()
    }
}

impl Control {
    /// An empty state.
    pub fn new(cfg: ControlConfig) -> Self {
        Control { cfg, next_id: 1, registry: Registry::default(), leases: Leases::default(), work: Assembly::default() }
    }

    /// The configuration.
    pub fn config(&self) -> &ControlConfig {
        &self.cfg
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Registers a worker; returns its id.
    pub fn register(&mut self, name: &str, cpus: u32, now: Instant) -> String {
        let serial = self.id();
        self.registry.register(serial, name, cpus, now)
    }

    /// Whether `worker` is registered (and not declared dead).
    pub fn is_registered(&self, worker: &str) -> bool {
        self.registry.contains(worker)
    }

    /// Records a heartbeat; `false` if the worker is unknown.
    pub fn heartbeat(&mut self, worker: &str, now: Instant) -> bool {
        self.registry.heartbeat(worker, now)
    }

    /// Schedules a fit; returns its id. Tasks are queued behind earlier ones.
    pub fn add_fit(&mut self, fit: NewFit) -> u64 {
        let id = self.id();
        let total = fit.params.num_trees;
        let k = self.cfg.trees_per_task.max(1);
        let mut first = 0;
        while first < total {
            let count = k.min(total - first);
            let tid = self.id();
            self.leases.add(tid, id, first, count, false);
            first += count;
        }
        self.work.add_fit(id, fit);
        id
    }

    /// Schedules an evaluation, one task per block; returns its id.
    pub fn add_eval(&mut self, eval: NewEval) -> u64 {
        let id = self.id();
        for block in 0..eval.blocks {
            let tid = self.id();
            self.leases.add(tid, id, block, 1, false);
        }
        self.work.add_eval(id, eval);
        id
    }

    /// Gives the first queued task to `worker`; `None` when there is none (or the worker is
    /// unknown).
    pub fn poll(&mut self, worker: &str, now: Instant) -> Option<Granted> {
        if !self.registry.contains(worker) {
            return None;
        }
        let (task, lease) = self.leases.grant(worker, now, self.cfg.lease_timeout)?;
        let (work, first, count) = (task.work, task.first, task.count);
        let Some((job_id, task)) = self.work.assignment(work, first, count) else {
            // Work without a fit or an evaluation cannot happen; drop the task if it does.
            self.leases.remove_work(work);
            return None;
        };
        self.registry.hold(worker, &lease.id);
        Some(Granted { lease_id: lease.id, job_id, task, deadline: lease.deadline })
    }

    /// The task behind `lease` if `worker` holds it.
    fn held(&self, worker: &str, lease: &str) -> Result<u64, Refusal> {
        if !self.registry.contains(worker) {
            return Err(Refusal::UnknownWorker(worker.to_string()));
        }
        self.leases
            .held(worker, lease)
            .ok_or_else(|| Refusal::NotHolder { lease: lease.to_string(), worker: worker.to_string() })
    }

    /// Ends the lease of task `tid` (without deciding the task's fate).
    fn release(&mut self, tid: u64) {
        if let Some(l) = self.leases.release(tid) {
            self.registry.drop_lease(&l.worker, &l.id);
        }
    }

    /// Puts task `tid` back in the queue, or fails its work when it ran out of attempts.
    fn retry(&mut self, tid: u64, failure: TaskFailure) {
        self.release(tid);
        if let Requeue::Exhausted { work, first, count, attempts, last } =
            self.leases.requeue(tid, failure, self.cfg.max_attempts)
        {
            let unit = self.work.unit(work);
            self.fail_work(work, WorkFailure::OutOfAttempts { unit, first, end: first + count, attempts, last });
        }
    }

    /// Fails a fit or an evaluation: its waiter gets `failure`, its tasks are dropped.
    fn fail_work(&mut self, work: u64, failure: WorkFailure) {
        for l in self.leases.remove_work(work) {
            self.registry.drop_lease(&l.worker, &l.id);
        }
        self.work.fail(work, failure);
    }

    /// Accepts the result of a lease: a fit task's trees or an evaluation task's statistics
    /// (see [`assembly`] for the checks). A bad result puts the task back (an attempt) and is
    /// refused.
    pub fn complete(
        &mut self,
        worker: &str,
        lease: &str,
        trees: &[u8],
        stats: Vec<wire::EvalStats>,
    ) -> Result<(), Refusal> {
        let tid = self.held(worker, lease)?;
        let Some((work, first, count)) = self.leases.task(tid).map(|t| (t.work, t.first, t.count)) else {
            return Err(Refusal::NotHolder { lease: lease.to_string(), worker: worker.to_string() });
        };
        let checked = match self.work.check(work, first, count, trees, stats) {
            Ok(c) => c,
            Err(problem) => {
                self.retry(tid, TaskFailure::BadResult { worker: worker.to_string(), problem: problem.clone() });
                return Err(Refusal::BadResult { lease: lease.to_string(), problem });
            }
        };
        self.release(tid);
        self.leases.remove(tid);
        match &checked {
            assembly::Checked::Trees(t) => self.registry.credit(worker, t.len() as u64, 0),
            assembly::Checked::Stats(s) => self.registry.credit(worker, 0, s.len() as u64),
        }
        self.work.accept(work, checked);
        Ok(())
    }

    /// A worker gives a lease up: retryable failures go back in the queue, fatal ones fail the
    /// fit with `message`.
    pub fn fail(&mut self, worker: &str, lease: &str, fatal: bool, message: &str) -> Result<(), Refusal> {
        let tid = self.held(worker, lease)?;
        let (worker, message) = (worker.to_string(), message.to_string());
        if fatal {
            if let Some(work) = self.leases.task(tid).map(|t| t.work) {
                self.fail_work(work, WorkFailure::Fatal { worker, message });
            }
        } else {
            self.retry(tid, TaskFailure::Worker { worker, message });
        }
        Ok(())
    }

    /// Declares workers without a recent heartbeat dead and takes back their leases and every
    /// expired lease.
    pub fn reap(&mut self, now: Instant) -> Reaped {
        let mut out = Reaped::default();
        for id in self.registry.silent(now, self.cfg.heartbeat_timeout) {
            for l in self.registry.remove(&id) {
                if let Some(tid) = self.leases.task_of(&l) {
                    self.retry(tid, TaskFailure::Silent(id.clone()));
                    out.requeued_leases.push(l);
                }
            }
            out.dead_workers.push(id);
        }
        for (tid, lease) in self.leases.expired(now) {
            self.retry(tid, TaskFailure::Expired(lease.clone()));
            out.requeued_leases.push(lease);
        }
        out
    }

    /// Fails every fit and evaluation of `job` (cancellation, or the job ended).
    pub fn cancel_job(&mut self, job: &str, reason: CancelReason) {
        for work in self.work.work_of(job) {
            self.fail_work(work, WorkFailure::Cancelled(reason));
        }
    }

    /// Workers holding a lease of `job`.
    pub fn workers_busy(&self, job: &str) -> u32 {
        let busy: BTreeSet<&str> =
            self.leases.holders().filter(|(work, _)| self.work.job_of(*work) == Some(job)).map(|(_, w)| w).collect();
        busy.len() as u32
    }

    /// Tasks waiting for a worker.
    pub fn queued(&self) -> usize {
        self.leases.queued()
    }

    /// Workers, by id.
    pub fn workers(&self, now: Instant) -> Vec<WorkerView> {
        self.registry.views(now)
    }

    /// Queues a second task for trees `first..first + count` of the (only) fit, at the front:
    /// how a late duplicate reaches the fit in tests.
    #[cfg(test)]
    fn add_task_for_test(&mut self, first: u32, count: u32) -> u64 {
        let fit = self.work.first_fit();
        let tid = self.id();
        self.leases.add(tid, fit, first, count, true);
        tid
    }
}
