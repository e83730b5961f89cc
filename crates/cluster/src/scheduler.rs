//! The coordinator's scheduling state, with no I/O and no clock of its own (every call takes
//! `now`), so each rule below has a unit test.
//!
//! * A **fit** (one forest of one job) is cut into **tasks** of at most `trees_per_task` trees.
//! * Tasks wait in a FIFO queue; a worker's poll takes the first one as a **lease** with a
//!   deadline (`lease_timeout` after the grant, not extended: a worker that keeps beating but
//!   never finishes, stuck or far too slow, loses the task at the deadline).
//! * A lease ends by completion (trees checked, then kept), by failure (retryable: back in the
//!   queue; fatal: the fit fails), by expiry, or by its worker being declared dead (no heartbeat
//!   within the timeout): the last two put the task back. Each return to the queue counts as an
//!   attempt; after `max_attempts` the fit fails with the last reason.
//! * Only the worker holding a lease can complete or fail it. Trees are keyed by
//!   `(fit, tree index)`: a tree that is already there is dropped, so a late duplicate can never
//!   double a tree.
//! * When a fit has every tree it is assembled into a [`Forest`] in index order and handed to
//!   whoever waits for it.
//! * An **evaluation** (one forest scored on one held-out table) is cut into tasks of one block
//!   of rows ([`reelforest_pipeline::train::EVAL_BLOCK_ROWS`]). Its tasks follow the same lease,
//!   retry and holder rules; statistics are keyed by `(evaluation, block)` and merged in block
//!   order once every block is in, so the metrics equal the embedded run's bit for bit.

use reelforest_pipeline::Stats;
use reelforest_pipeline::spec::TaskKind;
use reelforest_proto::{BlockStats, wire};
use reelforest_tree::{Forest, ForestParams, Task, Tree};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Tunables of the scheduler.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
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

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            trees_per_task: 10,
            lease_timeout: Duration::from_secs(600),
            heartbeat_timeout: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(2),
            max_attempts: 4,
        }
    }
}

/// How a fit ended, for whoever waits on it.
pub type FitOutcome = Result<Forest, String>;

/// What the waiter of a fit hears.
#[derive(Debug)]
pub enum FitEvent {
    /// This many more trees were accepted.
    Trees(u64),
    /// The fit is over.
    Done(FitOutcome),
}

/// A fit to schedule.
pub struct NewFit {
    /// The job it belongs to.
    pub job_id: String,
    /// The task template (range fields are filled per task).
    pub template: wire::FitTask,
    /// Forest parameters (also in the template, already checked here).
    pub params: ForestParams,
    /// Regression or classification (the engine's task: the trees' class count).
    pub task: Task,
    /// Number of features of the training table.
    pub num_features: usize,
    /// Hears accepted trees, then the forest or the reason it failed.
    pub events: std::sync::mpsc::Sender<FitEvent>,
}

impl std::fmt::Debug for NewFit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewFit").field("job_id", &self.job_id).field("table", &self.template.table).finish()
    }
}

/// How an evaluation ended: the merged statistics, or why not.
pub type EvalOutcome = Result<Stats, String>;

/// An evaluation to schedule.
pub struct NewEval {
    /// The job it belongs to.
    pub job_id: String,
    /// The task template, with the forest (block fields are filled per task).
    pub template: wire::EvalTask,
    /// Regression or classification (the kind of statistics expected back).
    pub task: TaskKind,
    /// Blocks of the held-out table (at least one).
    pub blocks: u32,
    /// Hears the merged statistics or the reason the evaluation failed.
    pub events: std::sync::mpsc::Sender<EvalOutcome>,
}

impl std::fmt::Debug for NewEval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewEval").field("job_id", &self.job_id).field("table", &self.template.table).finish()
    }
}

struct EvalEntry {
    job_id: String,
    template: wire::EvalTask,
    task: TaskKind,
    blocks: u32,
    parts: BTreeMap<u32, Stats>,
    events: std::sync::mpsc::Sender<EvalOutcome>,
}

struct FitEntry {
    job_id: String,
    template: wire::FitTask,
    params: ForestParams,
    task: Task,
    num_features: usize,
    trees: BTreeMap<u32, Tree>,
    events: std::sync::mpsc::Sender<FitEvent>,
}

#[derive(Debug, Clone)]
struct Lease {
    id: String,
    worker: String,
    deadline: Instant,
}

/// One lease-able unit: trees `first..first + count` of a fit, or blocks `first..first + count`
/// of an evaluation (`fit` is the id of either).
#[derive(Debug)]
struct TaskEntry {
    fit: u64,
    first: u32,
    count: u32,
    attempts: u32,
    last_error: String,
    lease: Option<Lease>,
}

#[derive(Debug)]
struct WorkerEntry {
    name: String,
    cpus: u32,
    last_seen: Instant,
    leases: BTreeSet<String>,
    trees_built: u64,
    blocks_evaluated: u64,
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
    /// When the lease ends unless a heartbeat extends it.
    pub deadline: Instant,
}

/// Why a completion or failure report was refused (the worker's call fails with it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
    /// The trees are corrupt or are not the ones leased; the task is queued again.
    #[error("rejected result for lease {lease}: {reason}")]
    BadResult {
        /// Lease id.
        lease: String,
        /// What was wrong, naming the field.
        reason: String,
    },
}

/// A worker as the status page shows it.
#[derive(Debug, Clone)]
pub struct WorkerView {
    /// Worker id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its CPU count.
    pub cpus: u32,
    /// Time since its last heartbeat.
    pub since_heartbeat: Duration,
    /// Leases it holds.
    pub leases: Vec<String>,
    /// Trees it returned and had accepted.
    pub trees_built: u64,
    /// Evaluation blocks it scored and had accepted.
    pub blocks_evaluated: u64,
}

/// What [`Scheduler::reap`] took back.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reaped {
    /// Workers declared dead.
    pub dead_workers: Vec<String>,
    /// Leases taken back (expired or held by dead workers).
    pub requeued_leases: Vec<String>,
}

/// The scheduling state.
pub struct Scheduler {
    cfg: SchedulerConfig,
    next_id: u64,
    workers: HashMap<String, WorkerEntry>,
    fits: HashMap<u64, FitEntry>,
    evals: HashMap<u64, EvalEntry>,
    tasks: HashMap<u64, TaskEntry>,
    queue: VecDeque<u64>,
    leases: HashMap<String, u64>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("workers", &self.workers.len())
            .field("fits", &self.fits.len())
            .field("queued", &self.queue.len())
            .finish()
    }
}

impl Scheduler {
    /// An empty scheduler.
    pub fn new(cfg: SchedulerConfig) -> Self {
        Scheduler {
            cfg,
            next_id: 1,
            workers: HashMap::new(),
            fits: HashMap::new(),
            evals: HashMap::new(),
            tasks: HashMap::new(),
            queue: VecDeque::new(),
            leases: HashMap::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SchedulerConfig {
        &self.cfg
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Registers a worker; returns its id.
    pub fn register(&mut self, name: &str, cpus: u32, now: Instant) -> String {
        let id = format!("w{}-{}", self.id(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
        self.workers.insert(
            id.clone(),
            WorkerEntry {
                name: name.to_string(),
                cpus,
                last_seen: now,
                leases: BTreeSet::new(),
                trees_built: 0,
                blocks_evaluated: 0,
            },
        );
        id
    }

    /// Whether `worker` is registered (and not declared dead).
    pub fn is_registered(&self, worker: &str) -> bool {
        self.workers.contains_key(worker)
    }

    /// Records a heartbeat; `false` if the worker is unknown.
    pub fn heartbeat(&mut self, worker: &str, now: Instant) -> bool {
        let Some(w) = self.workers.get_mut(worker) else { return false };
        w.last_seen = now;
        true
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
            self.tasks
                .insert(tid, TaskEntry { fit: id, first, count, attempts: 0, last_error: String::new(), lease: None });
            self.queue.push_back(tid);
            first += count;
        }
        self.fits.insert(
            id,
            FitEntry {
                job_id: fit.job_id,
                template: fit.template,
                params: fit.params,
                task: fit.task,
                num_features: fit.num_features,
                trees: BTreeMap::new(),
                events: fit.events,
            },
        );
        id
    }

    /// Schedules an evaluation, one task per block; returns its id.
    pub fn add_eval(&mut self, eval: NewEval) -> u64 {
        let id = self.id();
        for block in 0..eval.blocks {
            let tid = self.id();
            self.tasks.insert(
                tid,
                TaskEntry { fit: id, first: block, count: 1, attempts: 0, last_error: String::new(), lease: None },
            );
            self.queue.push_back(tid);
        }
        self.evals.insert(
            id,
            EvalEntry {
                job_id: eval.job_id,
                template: eval.template,
                task: eval.task,
                blocks: eval.blocks,
                parts: BTreeMap::new(),
                events: eval.events,
            },
        );
        id
    }

    /// The job of fit or evaluation `work`.
    fn job_of(&self, work: u64) -> Option<&str> {
        self.fits.get(&work).map(|f| f.job_id.as_str()).or_else(|| self.evals.get(&work).map(|e| e.job_id.as_str()))
    }

    /// Gives the first queued task to `worker`; `None` when there is none (or the worker is
    /// unknown).
    pub fn poll(&mut self, worker: &str, now: Instant) -> Option<Granted> {
        if !self.is_registered(worker) {
            return None;
        }
        let tid = self.queue.pop_front()?;
        let task = self.tasks.get_mut(&tid)?;
        let (job_id, assignment) = if let Some(fit) = self.fits.get(&task.fit) {
            let mut spec = fit.template.clone();
            spec.first_tree = task.first;
            spec.num_trees = task.count;
            (fit.job_id.clone(), Assignment::Fit(spec))
        } else {
            let eval = self.evals.get(&task.fit)?;
            let mut spec = eval.template.clone();
            spec.first_block = task.first;
            spec.num_blocks = task.count;
            (eval.job_id.clone(), Assignment::Eval(spec))
        };
        task.attempts += 1;
        let lease_id = format!("l{}", tid * 1000 + u64::from(task.attempts));
        let deadline = now + self.cfg.lease_timeout;
        task.lease = Some(Lease { id: lease_id.clone(), worker: worker.to_string(), deadline });
        let granted = Granted { lease_id: lease_id.clone(), job_id, task: assignment, deadline };
        self.leases.insert(lease_id.clone(), tid);
        if let Some(w) = self.workers.get_mut(worker) {
            w.leases.insert(lease_id);
        }
        Some(granted)
    }

    /// The task behind `lease` if `worker` holds it.
    fn held(&self, worker: &str, lease: &str) -> Result<u64, Refusal> {
        if !self.workers.contains_key(worker) {
            return Err(Refusal::UnknownWorker(worker.to_string()));
        }
        let not_holder = || Refusal::NotHolder { lease: lease.to_string(), worker: worker.to_string() };
        let tid = *self.leases.get(lease).ok_or_else(not_holder)?;
        let task = self.tasks.get(&tid).ok_or_else(not_holder)?;
        match &task.lease {
            Some(l) if l.id == lease && l.worker == worker => Ok(tid),
            _ => Err(not_holder()),
        }
    }

    /// Ends the lease of task `tid` (without deciding the task's fate).
    fn release(&mut self, tid: u64) {
        if let Some(l) = self.tasks.get_mut(&tid).and_then(|t| t.lease.take()) {
            self.leases.remove(&l.id);
            if let Some(w) = self.workers.get_mut(&l.worker) {
                w.leases.remove(&l.id);
            }
        }
    }

    /// Puts task `tid` back in the queue (at the front: it is the oldest work), or fails its fit
    /// when it ran out of attempts.
    fn retry(&mut self, tid: u64, reason: String) {
        self.release(tid);
        let Some(work) = self.tasks.get(&tid).map(|t| t.fit) else { return };
        let unit = if self.evals.contains_key(&work) { "blocks" } else { "trees" };
        let Some(task) = self.tasks.get_mut(&tid) else { return };
        task.last_error = reason;
        if task.attempts >= self.cfg.max_attempts {
            let (fit, msg) = (
                task.fit,
                format!(
                    "{unit} {}..{} failed {} times; last: {}",
                    task.first,
                    task.first + task.count,
                    task.attempts,
                    task.last_error
                ),
            );
            self.fail_fit(fit, msg);
        } else {
            self.queue.push_front(tid);
        }
    }

    /// Fails a fit or an evaluation: its waiter gets `reason`, its tasks are dropped.
    fn fail_fit(&mut self, fit: u64, reason: String) {
        let tids: Vec<u64> = self.tasks.iter().filter(|(_, t)| t.fit == fit).map(|(id, _)| *id).collect();
        for tid in tids {
            self.release(tid);
            self.tasks.remove(&tid);
        }
        self.queue.retain(|t| self.tasks.contains_key(t));
        if let Some(f) = self.fits.remove(&fit) {
            // The waiter may be gone (cancelled job): nothing to tell.
            let _ = f.events.send(FitEvent::Done(Err(reason)));
        } else if let Some(e) = self.evals.remove(&fit) {
            let _ = e.events.send(Err(reason));
        }
    }

    /// Accepts the result of a lease: a fit task's trees or an evaluation task's statistics.
    /// Checks: the worker holds the lease; every tree (statistic) decodes and is well formed; the
    /// indices are exactly the leased range; nothing of the other kind is attached. A bad result
    /// puts the task back (an attempt) and is refused.
    pub fn complete(
        &mut self,
        worker: &str,
        lease: &str,
        trees: Vec<wire::Tree>,
        stats: Vec<wire::EvalStats>,
    ) -> Result<(), Refusal> {
        let tid = self.held(worker, lease)?;
        let (fit_id, first, count) = {
            let t = &self.tasks[&tid];
            (t.fit, t.first, t.count)
        };
        if self.evals.contains_key(&fit_id) {
            let checked = if trees.is_empty() {
                self.check_stats(fit_id, first, count, stats)
            } else {
                Err(format!("trees: {} trees for an evaluation task", trees.len()))
            };
            return self.accept_stats(worker, lease, tid, fit_id, checked);
        }
        let checked = if stats.is_empty() {
            self.check_trees(fit_id, first, count, trees)
        } else {
            Err(format!("stats: {} statistics for a fit task", stats.len()))
        };
        let trees = match checked {
            Ok(t) => t,
            Err(reason) => {
                self.retry(tid, format!("worker {worker} returned a bad result: {reason}"));
                return Err(Refusal::BadResult { lease: lease.to_string(), reason });
            }
        };
        self.release(tid);
        self.tasks.remove(&tid);
        let n = trees.len() as u64;
        if let Some(w) = self.workers.get_mut(worker) {
            w.trees_built += n;
        }
        let Some(fit) = self.fits.get_mut(&fit_id) else { return Ok(()) };
        let mut added = 0;
        for tree in trees {
            // Keyed by (fit, tree index): a duplicate is dropped.
            if let std::collections::btree_map::Entry::Vacant(e) = fit.trees.entry(tree.tree_index()) {
                e.insert(tree);
                added += 1;
            }
        }
        // The waiter may be gone (cancelled job): nothing to tell.
        let _ = fit.events.send(FitEvent::Trees(added));
        if u32::try_from(fit.trees.len()).ok() == Some(fit.params.num_trees)
            && let Some(f) = self.fits.remove(&fit_id)
        {
            let trees: Vec<Tree> = f.trees.into_values().collect();
            let outcome = Forest::from_trees(f.task, &f.params, f.num_features, trees).map_err(|e| e.to_string());
            let _ = f.events.send(FitEvent::Done(outcome));
        }
        Ok(())
    }

    /// Keeps checked block statistics (or refuses a bad result); hands the merged statistics
    /// to the waiter once every block is in.
    fn accept_stats(
        &mut self,
        worker: &str,
        lease: &str,
        tid: u64,
        eval_id: u64,
        checked: Result<Vec<(u32, Stats)>, String>,
    ) -> Result<(), Refusal> {
        let parts = match checked {
            Ok(p) => p,
            Err(reason) => {
                self.retry(tid, format!("worker {worker} returned a bad result: {reason}"));
                return Err(Refusal::BadResult { lease: lease.to_string(), reason });
            }
        };
        self.release(tid);
        self.tasks.remove(&tid);
        if let Some(w) = self.workers.get_mut(worker) {
            w.blocks_evaluated += parts.len() as u64;
        }
        let Some(eval) = self.evals.get_mut(&eval_id) else { return Ok(()) };
        for (block, stats) in parts {
            // Keyed by (evaluation, block): a duplicate is dropped.
            eval.parts.entry(block).or_insert(stats);
        }
        if eval.parts.len() == eval.blocks as usize
            && let Some(e) = self.evals.remove(&eval_id)
        {
            let mut total = Stats::empty(e.task);
            let merged = e.parts.values().try_for_each(|p| total.merge(p)).map(|()| total);
            let _ = e.events.send(merged.map_err(|err| err.to_string()));
        }
        Ok(())
    }

    fn check_stats(
        &self,
        eval: u64,
        first: u32,
        count: u32,
        stats: Vec<wire::EvalStats>,
    ) -> Result<Vec<(u32, Stats)>, String> {
        let e = self.evals.get(&eval).ok_or("the evaluation is gone")?;
        if stats.len() != count as usize {
            return Err(format!(
                "stats: {} statistics for a lease of {count} blocks (blocks {first}..{})",
                stats.len(),
                first + count
            ));
        }
        let mut out = Vec::with_capacity(stats.len());
        for (i, msg) in stats.into_iter().enumerate() {
            let prefix = format!("stats[{i}]");
            let (block, s) = reelforest_proto::stats_from_wire(msg, &prefix).map_err(|e| e.to_string())?;
            let want = first + i as u32;
            if block != want {
                return Err(format!("{prefix}.block: {block} (expected {want})"));
            }
            let kind_ok = matches!(
                (&s, e.task),
                (BlockStats::Regression(_), TaskKind::Regression)
                    | (BlockStats::Classification(_), TaskKind::Classification)
            );
            if !kind_ok {
                return Err(format!("{prefix}.stats: wrong kind for a {} evaluation", e.task.as_str()));
            }
            if let BlockStats::Classification(c) = &s
                && c.num_classes() != 2
            {
                return Err(format!("{prefix}.classification.num_classes: {} (expected 2)", c.num_classes()));
            }
            out.push((block, Stats::from(s)));
        }
        Ok(out)
    }

    fn check_trees(&self, fit: u64, first: u32, count: u32, trees: Vec<wire::Tree>) -> Result<Vec<Tree>, String> {
        let f = self.fits.get(&fit).ok_or("the fit is gone")?;
        if trees.len() != count as usize {
            return Err(format!(
                "trees: {} trees for a lease of {count} (trees {first}..{})",
                trees.len(),
                first + count
            ));
        }
        let mut out = Vec::with_capacity(trees.len());
        for (i, msg) in trees.into_iter().enumerate() {
            let prefix = format!("trees[{i}]");
            let tree = reelforest_proto::tree_from_wire(msg, &prefix).map_err(|e| e.to_string())?;
            let want = first + i as u32;
            if tree.tree_index() != want {
                return Err(format!("{prefix}.tree_index: {} (expected {want})", tree.tree_index()));
            }
            if tree.num_classes() != f.task.num_classes() {
                return Err(format!(
                    "{prefix}.num_classes: {} (the forest has {})",
                    tree.num_classes(),
                    f.task.num_classes()
                ));
            }
            if let Some(bad) =
                tree.nodes().iter().filter_map(|n| n.split.as_ref()).find(|s| s.feature as usize >= f.num_features)
            {
                return Err(format!("{prefix}: split on feature {} of {}", bad.feature, f.num_features));
            }
            out.push(tree);
        }
        Ok(out)
    }

    /// A worker gives a lease up: retryable failures go back in the queue, fatal ones fail the
    /// fit with `message`.
    pub fn fail(&mut self, worker: &str, lease: &str, fatal: bool, message: &str) -> Result<(), Refusal> {
        let tid = self.held(worker, lease)?;
        if fatal {
            let fit = self.tasks[&tid].fit;
            self.fail_fit(fit, format!("worker {worker}: {message}"));
        } else {
            self.retry(tid, format!("worker {worker}: {message}"));
        }
        Ok(())
    }

    /// Declares workers without a recent heartbeat dead and takes back their leases and every
    /// expired lease.
    pub fn reap(&mut self, now: Instant) -> Reaped {
        let mut out = Reaped::default();
        let timeout = self.cfg.heartbeat_timeout;
        let dead: Vec<String> = self
            .workers
            .iter()
            .filter(|(_, w)| now.duration_since(w.last_seen) > timeout)
            .map(|(id, _)| id.clone())
            .collect();
        for id in dead {
            let leases: Vec<String> =
                self.workers.get(&id).map(|w| w.leases.iter().cloned().collect()).unwrap_or_default();
            for l in leases {
                if let Some(&tid) = self.leases.get(&l) {
                    self.retry(tid, format!("worker {id} stopped sending heartbeats"));
                    out.requeued_leases.push(l);
                }
            }
            self.workers.remove(&id);
            out.dead_workers.push(id);
        }
        let expired: Vec<(u64, String)> = self
            .tasks
            .iter()
            .filter_map(|(tid, t)| t.lease.as_ref().filter(|l| l.deadline < now).map(|l| (*tid, l.id.clone())))
            .collect();
        for (tid, lease) in expired {
            self.retry(tid, format!("lease {lease} expired"));
            out.requeued_leases.push(lease);
        }
        out
    }

    /// Fails every fit of `job` with `reason` (cancellation).
    pub fn cancel_job(&mut self, job: &str, reason: &str) {
        let fits: Vec<u64> = self
            .fits
            .iter()
            .filter(|(_, f)| f.job_id == job)
            .map(|(id, _)| *id)
            .chain(self.evals.iter().filter(|(_, e)| e.job_id == job).map(|(id, _)| *id))
            .collect();
        for fit in fits {
            self.fail_fit(fit, reason.to_string());
        }
    }

    /// Workers holding a lease of `job`.
    pub fn workers_busy(&self, job: &str) -> u32 {
        let mut busy = BTreeSet::new();
        for t in self.tasks.values() {
            if let Some(l) = &t.lease
                && self.job_of(t.fit) == Some(job)
            {
                busy.insert(l.worker.as_str());
            }
        }
        busy.len() as u32
    }

    /// Queues a second task for trees `first..first + count` of the (only) fit, at the front:
    /// how a late duplicate reaches the fit in tests.
    #[cfg(test)]
    fn add_task_for_test(&mut self, first: u32, count: u32) -> u64 {
        let fit = *self.fits.keys().next().unwrap_or(&0);
        let tid = self.id();
        self.tasks.insert(tid, TaskEntry { fit, first, count, attempts: 0, last_error: String::new(), lease: None });
        self.queue.push_front(tid);
        tid
    }

    /// Tasks waiting for a worker.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Workers, by id.
    pub fn workers(&self, now: Instant) -> Vec<WorkerView> {
        let mut v: Vec<WorkerView> = self
            .workers
            .iter()
            .map(|(id, w)| WorkerView {
                id: id.clone(),
                name: w.name.clone(),
                cpus: w.cpus,
                since_heartbeat: now.duration_since(w.last_seen),
                leases: w.leases.iter().cloned().collect(),
                trees_built: w.trees_built,
                blocks_evaluated: w.blocks_evaluated,
            })
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ft(g: &Granted) -> &wire::FitTask {
        match &g.task {
            Assignment::Fit(f) => f,
            Assignment::Eval(_) => panic!("expected a fit task"),
        }
    }
    use reelforest_tree::{BinnedMatrix, MaxBins, TrainingSet, grow_tree, histogram::LocalReducer};

    fn params(n: u32) -> ForestParams {
        ForestParams { num_trees: n, max_depth: 3, ..ForestParams::default() }
    }

    fn data() -> (BinnedMatrix, Vec<f64>) {
        let x: Vec<f64> = (0..200).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|v| (v / 20.0).floor()).collect();
        (BinnedMatrix::from_columns(&[x], MaxBins::DEFAULT, 0).unwrap(), y)
    }

    fn trees(first: u32, count: u32, p: &ForestParams) -> Vec<wire::Tree> {
        let (b, y) = data();
        let d = TrainingSet::new(&b, &y, None, Task::Regression).unwrap();
        (first..first + count)
            .map(|i| reelforest_proto::tree_to_wire(&grow_tree(&d, p, i, &LocalReducer).unwrap()))
            .collect()
    }

    struct Setup {
        s: Scheduler,
        rx: std::sync::mpsc::Receiver<FitEvent>,
        t0: Instant,
    }

    impl Setup {
        /// Trees counted so far, and the outcome if the fit ended.
        fn drain(&self) -> (u64, Option<FitOutcome>) {
            let (mut n, mut done) = (0, None);
            while let Ok(e) = self.rx.try_recv() {
                match e {
                    FitEvent::Trees(k) => n += k,
                    FitEvent::Done(o) => done = Some(o),
                }
            }
            (n, done)
        }
    }

    fn setup(n: u32, k: u32) -> Setup {
        let cfg = SchedulerConfig {
            trees_per_task: k,
            lease_timeout: Duration::from_secs(30),
            heartbeat_timeout: Duration::from_secs(5),
            heartbeat_interval: Duration::from_secs(1),
            max_attempts: 2,
        };
        let mut s = Scheduler::new(cfg);
        let (tx, rx) = std::sync::mpsc::channel();
        s.add_fit(NewFit {
            job_id: "j1".into(),
            template: wire::FitTask { table: "t".into(), ..Default::default() },
            params: params(n),
            task: Task::Regression,
            num_features: 1,
            events: tx,
        });
        Setup { s, rx, t0: Instant::now() }
    }

    #[test]
    fn fit_is_cut_into_tasks_and_assembled_in_index_order() {
        let mut st = setup(5, 2);
        let t0 = st.t0;
        let a = st.s.register("a", 1, t0);
        let b = st.s.register("b", 1, t0);
        let l1 = st.s.poll(&a, t0).unwrap();
        let l2 = st.s.poll(&b, t0).unwrap();
        let l3 = st.s.poll(&a, t0).unwrap();
        assert!(st.s.poll(&b, t0).is_none());
        assert_eq!((ft(&l1).first_tree, ft(&l1).num_trees), (0, 2));
        assert_eq!((ft(&l3).first_tree, ft(&l3).num_trees), (4, 1));
        assert_eq!(st.s.workers_busy("j1"), 2);
        let p = params(5);
        // Out of order completion.
        st.s.complete(&a, &l3.lease_id, trees(4, 1, &p), vec![]).unwrap();
        st.s.complete(&b, &l2.lease_id, trees(2, 2, &p), vec![]).unwrap();
        assert_eq!(st.drain(), (3, None), "not complete yet");
        st.s.complete(&a, &l1.lease_id, trees(0, 2, &p), vec![]).unwrap();
        let (n, outcome) = st.drain();
        assert_eq!(n, 2);
        let forest = outcome.unwrap().unwrap();
        let (b_, y) = data();
        let d = TrainingSet::new(&b_, &y, None, Task::Regression).unwrap();
        let local = reelforest_tree::train(&d, &p).unwrap();
        assert_eq!(forest.to_bytes(), local.to_bytes(), "assembled forest equals a local one");
    }

    #[test]
    fn only_the_holder_completes_and_bad_results_are_retried() {
        let mut st = setup(2, 2);
        let t0 = st.t0;
        let a = st.s.register("a", 1, t0);
        let b = st.s.register("b", 1, t0);
        let l = st.s.poll(&a, t0).unwrap();
        let p = params(2);
        assert_eq!(
            st.s.complete(&b, &l.lease_id, trees(0, 2, &p), vec![]),
            Err(Refusal::NotHolder { lease: l.lease_id.clone(), worker: b.clone() })
        );
        assert_eq!(st.s.complete("nobody", &l.lease_id, vec![], vec![]), Err(Refusal::UnknownWorker("nobody".into())));
        // Wrong indices: refused, task back in the queue.
        let err = st.s.complete(&a, &l.lease_id, trees(1, 2, &p), vec![]).unwrap_err();
        assert_eq!(
            err,
            Refusal::BadResult { lease: l.lease_id.clone(), reason: "trees[0].tree_index: 1 (expected 0)".into() }
        );
        assert_eq!(st.s.queued(), 1);
        // The old lease is gone.
        assert!(matches!(st.s.complete(&a, &l.lease_id, trees(0, 2, &p), vec![]), Err(Refusal::NotHolder { .. })));
        // A corrupt tree (child index out of range) on the second (last) attempt fails the fit.
        let l2 = st.s.poll(&b, t0).unwrap();
        let mut bad = trees(0, 2, &p);
        if let Some(s) = bad[1].nodes[0].split.as_mut() {
            s.left = 999;
        }
        let err = st.s.complete(&b, &l2.lease_id, bad, vec![]).unwrap_err();
        assert!(
            matches!(&err, Refusal::BadResult { reason, .. } if reason.starts_with("trees[1].nodes[0].split.left")),
            "{err}"
        );
        let outcome = st.drain().1.unwrap().unwrap_err();
        assert!(outcome.starts_with("trees 0..2 failed 2 times; last: worker"), "{outcome}");
        assert_eq!(st.s.queued(), 0);
    }

    #[test]
    fn dead_workers_and_expired_leases_give_tasks_back() {
        let mut st = setup(4, 2);
        let t0 = st.t0;
        let a = st.s.register("a", 1, t0);
        let b = st.s.register("b", 1, t0);
        let la = st.s.poll(&a, t0).unwrap();
        let lb = st.s.poll(&b, t0).unwrap();
        // b keeps beating, a goes silent.
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert!(st.s.heartbeat(&b, at(4)));
        let r = st.s.reap(at(6));
        assert_eq!(r.dead_workers, vec![a.clone()]);
        assert_eq!(r.requeued_leases, vec![la.lease_id.clone()]);
        assert!(!st.s.heartbeat(&a, at(6)), "a dead worker must register again");
        let c = st.s.register("c", 1, at(6));
        let again = st.s.poll(&c, at(6)).unwrap();
        assert_eq!(ft(&again).first_tree, ft(&la).first_tree, "the dead worker's task is first in line");
        let p = params(4);
        st.s.complete(&c, &again.lease_id, trees(0, 2, &p), vec![]).unwrap();
        // b beats but never finishes: its lease (granted at t0, 30 s) expires; b stays registered.
        for s in [10, 15, 20, 25, 29] {
            assert!(st.s.heartbeat(&b, at(s)) && st.s.heartbeat(&c, at(s)));
        }
        assert_eq!(st.s.reap(at(29)), Reaped::default());
        let r = st.s.reap(at(31));
        assert_eq!(r, Reaped { dead_workers: vec![], requeued_leases: vec![lb.lease_id.clone()] });
        assert!(matches!(st.s.complete(&b, &lb.lease_id, trees(2, 2, &p), vec![]), Err(Refusal::NotHolder { .. })));
        let lb2 = st.s.poll(&b, at(31)).unwrap();
        assert_eq!(ft(&lb2).first_tree, 2);
        st.s.complete(&b, &lb2.lease_id, trees(2, 2, &p), vec![]).unwrap();
        assert_eq!(st.drain().1.unwrap().unwrap().num_trees(), 4);
    }

    #[test]
    fn duplicates_are_dropped_by_tree_index() {
        let mut st = setup(2, 1);
        let t0 = st.t0;
        let a = st.s.register("a", 1, t0);
        let l0 = st.s.poll(&a, t0).unwrap();
        let p = params(2);
        st.s.complete(&a, &l0.lease_id, trees(0, 1, &p), vec![]).unwrap();
        assert_eq!(st.drain(), (1, None));
        // A second copy of tree 0 reaching the fit (a late duplicate) is not counted twice.
        let tid = st.s.add_task_for_test(0, 1);
        let dup = st.s.poll(&a, t0).unwrap();
        assert_eq!(ft(&dup).first_tree, 0, "{tid}");
        st.s.complete(&a, &dup.lease_id, trees(0, 1, &p), vec![]).unwrap();
        assert_eq!(st.drain(), (0, None));
        let l1 = st.s.poll(&a, t0).unwrap();
        st.s.complete(&a, &l1.lease_id, trees(1, 1, &p), vec![]).unwrap();
        let (n, outcome) = st.drain();
        assert_eq!(n, 1);
        assert_eq!(outcome.unwrap().unwrap().num_trees(), 2);
    }

    #[test]
    fn cancel_fails_the_jobs_fits() {
        let mut st = setup(4, 2);
        let a = st.s.register("a", 1, st.t0);
        let l = st.s.poll(&a, st.t0).unwrap();
        st.s.cancel_job("j1", "job cancelled");
        assert_eq!(st.drain().1.unwrap().unwrap_err(), "job cancelled");
        assert_eq!(st.s.queued(), 0);
        assert!(matches!(st.s.complete(&a, &l.lease_id, vec![], vec![]), Err(Refusal::NotHolder { .. })));
        assert_eq!(st.s.workers_busy("j1"), 0);
    }

    #[test]
    fn fatal_failure_fails_the_fit_and_retryable_requeues() {
        let mut st = setup(2, 2);
        let a = st.s.register("a", 1, st.t0);
        let l = st.s.poll(&a, st.t0).unwrap();
        st.s.fail(&a, &l.lease_id, false, "disk full").unwrap();
        assert_eq!(st.s.queued(), 1);
        let l = st.s.poll(&a, st.t0).unwrap();
        st.s.fail(&a, &l.lease_id, true, "table cv0.train: no such table").unwrap();
        let e = st.drain().1.unwrap().unwrap_err();
        assert_eq!(e, format!("worker {a}: table cv0.train: no such table"));
    }

    fn block_stats(block: u32, ys: &[f64], ps: &[f64]) -> wire::EvalStats {
        let s = reelforest_tree::RegressionStats::from_slices(ys, ps);
        reelforest_proto::stats_to_wire(block, &BlockStats::Regression(s))
    }

    fn eval_setup(blocks: u32) -> (Scheduler, std::sync::mpsc::Receiver<EvalOutcome>, Instant) {
        let mut s = Scheduler::new(SchedulerConfig { max_attempts: 2, ..SchedulerConfig::default() });
        let (tx, rx) = std::sync::mpsc::channel();
        s.add_eval(NewEval {
            job_id: "j1".into(),
            template: wire::EvalTask { table: "honest.test".into(), ..Default::default() },
            task: TaskKind::Regression,
            blocks,
            events: tx,
        });
        (s, rx, Instant::now())
    }

    #[test]
    fn evaluation_blocks_merge_in_block_order_whoever_scores_them() {
        let (mut s, rx, t0) = eval_setup(3);
        let (a, b) = (s.register("a", 1, t0), s.register("b", 1, t0));
        let l0 = s.poll(&a, t0).unwrap();
        let l1 = s.poll(&b, t0).unwrap();
        let Assignment::Eval(e1) = &l1.task else { panic!("expected an evaluation task") };
        assert_eq!((e1.first_block, e1.num_blocks, e1.table.as_str()), (1, 1, "honest.test"));
        let l2 = s.poll(&b, t0).unwrap();
        let parts = [(0, [1.0, 2.0], [1.5, 2.5]), (1, [3.0, 4.0], [2.0, 4.5]), (2, [5.0, 1.0], [4.0, 1.0])];
        // Completed 2, 0, 1; a duplicate of block 0 is dropped.
        s.complete(&b, &l2.lease_id, vec![], vec![block_stats(2, &parts[2].1, &parts[2].2)]).unwrap();
        s.complete(&a, &l0.lease_id, vec![], vec![block_stats(0, &parts[0].1, &parts[0].2)]).unwrap();
        assert!(rx.try_recv().is_err(), "not done with a block missing");
        s.complete(&b, &l1.lease_id, vec![], vec![block_stats(1, &parts[1].1, &parts[1].2)]).unwrap();
        let got = rx.try_recv().unwrap().unwrap();
        let mut want = reelforest_tree::RegressionStats::new();
        for (_, y, p) in &parts {
            want.merge(&reelforest_tree::RegressionStats::from_slices(y, p));
        }
        assert_eq!(got, Stats::Regression(want), "bit for bit the in-order merge");
        assert_eq!(s.workers(t0).iter().map(|w| w.blocks_evaluated).sum::<u64>(), 3);
        assert_eq!(s.queued(), 0);
    }

    #[test]
    fn bad_evaluation_results_are_refused_and_requeued() {
        let (mut s, rx, t0) = eval_setup(1);
        let a = s.register("a", 1, t0);
        let l = s.poll(&a, t0).unwrap();
        let err = s.complete(&a, &l.lease_id, vec![], vec![block_stats(5, &[1.0], &[1.0])]).unwrap_err();
        assert!(err.to_string().contains("stats[0].block: 5 (expected 0)"), "{err}");
        let l = s.poll(&a, t0).expect("requeued after a bad result");
        let mut c = reelforest_tree::ClassificationStats::new(2);
        c.add(1, 1, &[0.3, 0.7], 1.0).unwrap();
        let wrong_kind = reelforest_proto::stats_to_wire(0, &BlockStats::Classification(c));
        let err = s.complete(&a, &l.lease_id, vec![], vec![wrong_kind]).unwrap_err();
        assert!(err.to_string().contains("stats[0].stats: wrong kind for a regression evaluation"), "{err}");
        // Two attempts used: the evaluation fails with the last reason.
        let outcome = rx.try_recv().unwrap().unwrap_err();
        assert!(outcome.contains("blocks 0..1 failed 2 times"), "{outcome}");
    }

    #[test]
    fn a_fit_task_with_statistics_is_refused() {
        let mut st = setup(2, 2);
        let a = st.s.register("a", 1, st.t0);
        let l = st.s.poll(&a, st.t0).unwrap();
        let p = params(2);
        let err = st.s.complete(&a, &l.lease_id, trees(0, 2, &p), vec![block_stats(0, &[1.0], &[1.0])]).unwrap_err();
        assert!(err.to_string().contains("stats: 1 statistics for a fit task"), "{err}");
    }

    #[test]
    fn cancelling_a_job_fails_its_evaluations() {
        let (mut s, rx, _) = eval_setup(2);
        s.cancel_job("j1", "cancelled");
        assert_eq!(rx.try_recv().unwrap().unwrap_err(), "cancelled");
        assert_eq!(s.queued(), 0);
    }
}
