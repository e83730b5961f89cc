//! Fit and evaluation assembly: the work the leases are cut from, the checks a returned result
//! must pass, and the collection of results into what the waiter gets.
//!
//! * A **fit** (one forest of one job) collects trees keyed by tree index: a tree that is
//!   already there is dropped, so a late duplicate can never double a tree. With every tree in,
//!   the [`Forest`] is assembled in index order and handed to whoever waits for it.
//! * An **evaluation** (one forest scored on one held-out table) collects statistics keyed by
//!   block ([`reelforest_pipeline::train::EVAL_BLOCK_ROWS`] rows each) and merges them in block
//!   order once every block is in, so the metrics equal the embedded run's bit for bit.

use super::Assignment;
use super::leases::TaskFailure;
use reelforest_pipeline::Stats;
use reelforest_pipeline::spec::TaskKind;
use reelforest_proto::{BlockStats, wire};
use reelforest_tree::codec::decode_trees;
use reelforest_tree::{Forest, ForestParams, Task, Tree};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Why a fit or an evaluation did not end with its result.
#[derive(Debug, thiserror::Error)]
pub enum WorkFailure {
    /// A task was given back once too often.
    #[error("{unit} {first}..{end} failed {attempts} times")]
    OutOfAttempts {
        /// `trees` or `blocks`.
        unit: &'static str,
        /// First item of the task.
        first: u32,
        /// One past its last item.
        end: u32,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        #[source]
        last: TaskFailure,
    },
    /// A worker reported a failure that would happen anywhere (its message, as sent).
    #[error("worker {worker}: {message}")]
    Fatal {
        /// Worker id.
        worker: String,
        /// The worker's message.
        message: String,
    },
    /// The job was cancelled or ended.
    #[error("{0}")]
    Cancelled(CancelReason),
    /// Every tree arrived but the forest does not assemble.
    #[error("cannot assemble the forest")]
    Assemble(#[source] reelforest_tree::Error),
    /// Every block arrived but the statistics do not merge.
    #[error("cannot merge the evaluation's blocks")]
    Merge(#[source] reelforest_pipeline::Error),
}

/// Why a job's remaining work was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// A client cancelled the job.
    Client,
    /// The job ended (failed) with work still scheduled.
    JobEnded,
}

impl std::fmt::Display for CancelReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CancelReason::Client => "job cancelled by a client",
            CancelReason::JobEnded => "the job ended",
        })
    }
}

/// What is wrong with a returned result (the worker's call is refused with it, naming the
/// field).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ResultProblem {
    /// The fit the lease belonged to is gone.
    #[error("the fit is gone")]
    FitGone,
    /// The evaluation the lease belonged to is gone.
    #[error("the evaluation is gone")]
    EvalGone,
    /// Trees were returned for an evaluation task (this many bytes of them).
    #[error("trees: {0} bytes of trees for an evaluation task")]
    TreesForEval(usize),
    /// Statistics were returned for a fit task.
    #[error("stats: {0} statistics for a fit task")]
    StatsForFit(usize),
    /// Not one tree per leased tree.
    #[error("trees: {got} trees for a lease of {count} (trees {first}..{})", .first + .count)]
    TreeCount {
        /// Trees returned.
        got: usize,
        /// Trees leased.
        count: u32,
        /// First leased tree.
        first: u32,
    },
    /// Not one statistic per leased block.
    #[error("stats: {got} statistics for a lease of {count} blocks (blocks {first}..{})", .first + .count)]
    StatsCount {
        /// Statistics returned.
        got: usize,
        /// Blocks leased.
        count: u32,
        /// First leased block.
        first: u32,
    },
    /// The trees' bytes do not decode into a tree set of well-formed trees.
    #[error("trees: cannot decode")]
    Trees(#[source] Arc<reelforest_tree::Error>),
    /// A message does not decode into a well-formed statistic.
    #[error(transparent)]
    Decode(Arc<reelforest_proto::Error>),
    /// A tree or block index is not the one expected at its position.
    #[error("{field}: {got} (expected {want})")]
    Index {
        /// `trees[i].tree_index` or `stats[i].block`.
        field: String,
        /// Index returned.
        got: u32,
        /// Index expected.
        want: u32,
    },
    /// A statistic of the other task kind.
    #[error("{field}: wrong kind for a {task} evaluation")]
    WrongKind {
        /// `stats[i].stats`.
        field: String,
        /// The evaluation's task.
        task: &'static str,
    },
    /// Classification statistics of other than two classes.
    #[error("{field}: {got} (expected 2)")]
    NotBinary {
        /// `stats[i].classification.num_classes`.
        field: String,
        /// Classes found.
        got: usize,
    },
    /// A tree with another class count than the forest's.
    #[error("{field}: {got} (the forest has {want})")]
    Classes {
        /// `trees[i].num_classes`.
        field: String,
        /// The tree's.
        got: u32,
        /// The forest's.
        want: u32,
    },
    /// A split on a feature the training table does not have.
    #[error("{tree}: split on feature {feature} of {features}")]
    Feature {
        /// `trees[i]`.
        tree: String,
        /// The feature.
        feature: u32,
        /// Features of the table.
        features: usize,
    },
}

impl From<reelforest_proto::Error> for ResultProblem {
    fn from(e: reelforest_proto::Error) -> Self {
        ResultProblem::Decode(Arc::new(e))
    }
}

/// How a fit ended, for whoever waits on it.
pub type FitOutcome = Result<Forest, WorkFailure>;

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
pub type EvalOutcome = Result<Stats, WorkFailure>;

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

struct FitEntry {
    job_id: String,
    template: wire::FitTask,
    params: ForestParams,
    task: Task,
    num_features: usize,
    trees: BTreeMap<u32, Tree>,
    events: std::sync::mpsc::Sender<FitEvent>,
}

struct EvalEntry {
    job_id: String,
    template: wire::EvalTask,
    task: TaskKind,
    blocks: u32,
    parts: BTreeMap<u32, Stats>,
    events: std::sync::mpsc::Sender<EvalOutcome>,
}

/// A result that passed the checks.
#[derive(Debug)]
pub(crate) enum Checked {
    /// A fit task's trees.
    Trees(Vec<Tree>),
    /// An evaluation task's statistics, by block.
    Stats(Vec<(u32, Stats)>),
}

/// The fits and evaluations being assembled, by work id.
#[derive(Default)]
pub(crate) struct Assembly {
    fits: HashMap<u64, FitEntry>,
    evals: HashMap<u64, EvalEntry>,
}

impl std::fmt::Debug for Assembly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assembly").field("fits", &self.fits.len()).field("evals", &self.evals.len()).finish()
    }
}

impl Assembly {
    /// Adds a fit under `id`.
    pub(crate) fn add_fit(&mut self, id: u64, fit: NewFit) {
        let entry = FitEntry {
            job_id: fit.job_id,
            template: fit.template,
            params: fit.params,
            task: fit.task,
            num_features: fit.num_features,
            trees: BTreeMap::new(),
            events: fit.events,
        };
        self.fits.insert(id, entry);
    }

    /// Adds an evaluation under `id`.
    pub(crate) fn add_eval(&mut self, id: u64, eval: NewEval) {
        let entry = EvalEntry {
            job_id: eval.job_id,
            template: eval.template,
            task: eval.task,
            blocks: eval.blocks,
            parts: BTreeMap::new(),
            events: eval.events,
        };
        self.evals.insert(id, entry);
    }

    /// The job of fit or evaluation `work`.
    pub(crate) fn job_of(&self, work: u64) -> Option<&str> {
        self.fits.get(&work).map(|f| f.job_id.as_str()).or_else(|| self.evals.get(&work).map(|e| e.job_id.as_str()))
    }

    /// Every fit and evaluation of `job`.
    pub(crate) fn work_of(&self, job: &str) -> Vec<u64> {
        let fits = self.fits.iter().filter(|(_, f)| f.job_id == job).map(|(id, _)| *id);
        fits.chain(self.evals.iter().filter(|(_, e)| e.job_id == job).map(|(id, _)| *id)).collect()
    }

    /// What a task's items are called.
    pub(crate) fn unit(&self, work: u64) -> &'static str {
        if self.evals.contains_key(&work) { "blocks" } else { "trees" }
    }

    /// The job and the assignment of items `first..first + count` of `work`.
    pub(crate) fn assignment(&self, work: u64, first: u32, count: u32) -> Option<(String, Assignment)> {
        if let Some(fit) = self.fits.get(&work) {
            let mut spec = fit.template.clone();
            spec.first_tree = first;
            spec.num_trees = count;
            return Some((fit.job_id.clone(), Assignment::Fit(spec)));
        }
        let eval = self.evals.get(&work)?;
        let mut spec = eval.template.clone();
        spec.first_block = first;
        spec.num_blocks = count;
        Some((eval.job_id.clone(), Assignment::Eval(spec)))
    }

    /// Checks a result for items `first..first + count` of `work`: the trees (a tree set of the
    /// tree codec) or every statistic decode and are well formed, the indices are exactly the
    /// leased range, nothing of the other kind is attached.
    pub(crate) fn check(
        &self,
        work: u64,
        first: u32,
        count: u32,
        trees: &[u8],
        stats: Vec<wire::EvalStats>,
    ) -> Result<Checked, ResultProblem> {
        if self.evals.contains_key(&work) {
            if !trees.is_empty() {
                return Err(ResultProblem::TreesForEval(trees.len()));
            }
            return self.check_stats(work, first, count, stats).map(Checked::Stats);
        }
        if !stats.is_empty() {
            return Err(ResultProblem::StatsForFit(stats.len()));
        }
        self.check_trees(work, first, count, trees).map(Checked::Trees)
    }

    fn check_stats(
        &self,
        eval: u64,
        first: u32,
        count: u32,
        stats: Vec<wire::EvalStats>,
    ) -> Result<Vec<(u32, Stats)>, ResultProblem> {
        let e = self.evals.get(&eval).ok_or(ResultProblem::EvalGone)?;
        if stats.len() != count as usize {
            return Err(ResultProblem::StatsCount { got: stats.len(), count, first });
        }
        let mut out = Vec::with_capacity(stats.len());
        for (i, msg) in stats.into_iter().enumerate() {
            let prefix = format!("stats[{i}]");
            let (block, s) = reelforest_proto::stats_from_wire(msg, &prefix)?;
            let want = first + i as u32;
            if block != want {
                return Err(ResultProblem::Index { field: format!("{prefix}.block"), got: block, want });
            }
            let kind_ok = matches!(
                (&s, e.task),
                (BlockStats::Regression(_), TaskKind::Regression)
                    | (BlockStats::Classification(_), TaskKind::Classification)
            );
            if !kind_ok {
                return Err(ResultProblem::WrongKind { field: format!("{prefix}.stats"), task: e.task.as_str() });
            }
            if let BlockStats::Classification(c) = &s
                && c.num_classes() != 2
            {
                let field = format!("{prefix}.classification.num_classes");
                return Err(ResultProblem::NotBinary { field, got: c.num_classes() });
            }
            out.push((block, Stats::from(s)));
        }
        Ok(out)
    }

    fn check_trees(&self, fit: u64, first: u32, count: u32, bytes: &[u8]) -> Result<Vec<Tree>, ResultProblem> {
        let f = self.fits.get(&fit).ok_or(ResultProblem::FitGone)?;
        let trees = decode_trees(bytes).map_err(|e| ResultProblem::Trees(Arc::new(e)))?;
        if trees.len() != count as usize {
            return Err(ResultProblem::TreeCount { got: trees.len(), count, first });
        }
        for (i, tree) in trees.iter().enumerate() {
            let prefix = format!("trees[{i}]");
            let want = first + i as u32;
            if tree.tree_index() != want {
                return Err(ResultProblem::Index {
                    field: format!("{prefix}.tree_index"),
                    got: tree.tree_index(),
                    want,
                });
            }
            if tree.num_classes() != f.task.num_classes() {
                return Err(ResultProblem::Classes {
                    field: format!("{prefix}.num_classes"),
                    got: tree.num_classes(),
                    want: f.task.num_classes(),
                });
            }
            if let Some(bad) =
                tree.nodes().iter().filter_map(|n| n.split.as_ref()).find(|s| s.feature as usize >= f.num_features)
            {
                return Err(ResultProblem::Feature { tree: prefix, feature: bad.feature, features: f.num_features });
            }
        }
        Ok(trees)
    }

    /// Keeps a checked result of `work`; hands the forest (the merged statistics) to the waiter
    /// once every tree (block) is in.
    pub(crate) fn accept(&mut self, work: u64, checked: Checked) {
        match checked {
            Checked::Trees(trees) => self.accept_trees(work, trees),
            Checked::Stats(parts) => self.accept_stats(work, parts),
        }
    }

    fn accept_trees(&mut self, fit_id: u64, trees: Vec<Tree>) {
        let Some(fit) = self.fits.get_mut(&fit_id) else { return };
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
            let outcome = Forest::from_trees(f.task, &f.params, f.num_features, trees).map_err(WorkFailure::Assemble);
            let _ = f.events.send(FitEvent::Done(outcome));
        }
    }

    fn accept_stats(&mut self, eval_id: u64, parts: Vec<(u32, Stats)>) {
        let Some(eval) = self.evals.get_mut(&eval_id) else { return };
        for (block, stats) in parts {
            // Keyed by (evaluation, block): a duplicate is dropped.
            eval.parts.entry(block).or_insert(stats);
        }
        if eval.parts.len() == eval.blocks as usize
            && let Some(e) = self.evals.remove(&eval_id)
        {
            let mut total = Stats::empty(e.task);
            let merged = e.parts.values().try_for_each(|p| total.merge(p)).map(|()| total);
            let _ = e.events.send(merged.map_err(WorkFailure::Merge));
        }
    }

    /// Ends a fit or an evaluation: its waiter gets `failure`.
    pub(crate) fn fail(&mut self, work: u64, failure: WorkFailure) {
        // The waiter may be gone (cancelled job): nothing to tell.
        if let Some(f) = self.fits.remove(&work) {
            let _ = f.events.send(FitEvent::Done(Err(failure)));
        } else if let Some(e) = self.evals.remove(&work) {
            let _ = e.events.send(Err(failure));
        }
    }

    /// The only fit's id (tests).
    #[cfg(test)]
    pub(crate) fn first_fit(&self) -> u64 {
        *self.fits.keys().next().unwrap_or(&0)
    }
}
