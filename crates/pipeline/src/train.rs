//! Fitting and scoring forests on [`Dataset`]s: the job's estimator (its parameters are the tree
//! engine's own [`reelforest_tree::ForestParams`]) is fitted by a [`Trainer`], and predictions
//! become mergeable metric statistics.

use crate::Result;
use crate::dataset::Dataset;
use crate::estimator::Estimator;
use crate::spec::TaskKind;
use reelforest_core::Progress;
use reelforest_tree::{BinnedMatrix, ClassificationStats, Forest, MaxBins, RegressionStats, Task, TrainingSet};

/// The label column of a task.
pub fn labels(ds: &Dataset, task: TaskKind) -> &[f64] {
    match task {
        TaskKind::Regression => &ds.rating,
        TaskKind::Classification => &ds.good,
    }
}

/// Bins the training features once; every fit of a grid point with the same `maxBins` reuses it.
pub fn bin(ds: &Dataset, max_bins: MaxBins, seed: u64) -> Result<BinnedMatrix> {
    Ok(BinnedMatrix::from_columns(&ds.columns, max_bins, seed)?)
}

/// Binned matrices of one dataset, keyed by `(maxBins, seed)`: every task and grid point that
/// shares those reuses one binning instead of redoing it.
#[derive(Debug)]
pub struct BinCache<'a> {
    ds: &'a Dataset,
    binned: std::collections::BTreeMap<(MaxBins, u64), BinnedMatrix>,
}

impl<'a> BinCache<'a> {
    /// An empty cache over `ds`.
    pub fn new(ds: &'a Dataset) -> Self {
        BinCache { ds, binned: std::collections::BTreeMap::new() }
    }

    /// The bins for `cfg`'s `maxBins` and seed, computed on first use.
    pub fn get(&mut self, cfg: &Estimator) -> Result<&BinnedMatrix> {
        let key = Self::key(cfg);
        if !self.binned.contains_key(&key) {
            let b = bin(self.ds, key.0, key.1)?;
            self.binned.insert(key, b);
        }
        Ok(&self.binned[&key])
    }

    /// The bins for `cfg` if [`BinCache::get`] computed them already.
    pub fn cached(&self, cfg: &Estimator) -> Option<&BinnedMatrix> {
        self.binned.get(&Self::key(cfg))
    }

    fn key(cfg: &Estimator) -> (MaxBins, u64) {
        let p = cfg.forest();
        (p.max_bins, p.seed)
    }
}

/// How a remote worker finds the rows of a training table: the same query [`Dataset::load`]
/// runs here, so its copy (and binning) equals this process's.
#[derive(Debug, Clone)]
pub struct TableRef {
    /// SQL name in the warehouse (`honest.train`, `cv0.train`).
    pub sql_name: String,
    /// The feature run the table belongs to (feature columns, label names).
    pub run: reelforest_features::FeatureRun,
}

/// One forest to fit.
#[derive(Debug, Clone, Copy)]
pub struct FitRequest<'a> {
    /// The training rows, binned here (an embedded fit uses them directly).
    pub binned: &'a BinnedMatrix,
    /// The training table in memory.
    pub data: &'a Dataset,
    /// Where the training table lives, for trainers that fit elsewhere.
    pub table: &'a TableRef,
    /// The estimator and its parameters.
    pub cfg: &'a Estimator,
    /// Regression or classification.
    pub task: TaskKind,
}

/// A forest to score on a held-out table.
#[derive(Debug, Clone, Copy)]
pub struct EvalRequest<'a> {
    /// The held-out rows in memory (an embedded evaluation uses them directly).
    pub data: &'a Dataset,
    /// Where the table lives, for evaluators that score elsewhere.
    pub table: &'a TableRef,
    /// Regression or classification.
    pub task: TaskKind,
}

/// Where forests are fitted and scored: in this process ([`LocalTrainer`]) or fanned out to
/// workers by the cluster's coordinator. Every implementation must return the forest [`fit`]
/// would and the statistics [`evaluate`] would: the cluster's byte-identity guarantee rests on
/// it.
pub trait Trainer: Send + Sync {
    /// Fits `req`, advancing `progress` by one per finished tree inside a step the caller
    /// opened. May be called from several threads at once (tuning's `parallelism`).
    fn fit(&self, req: FitRequest<'_>, progress: &dyn Progress) -> Result<Forest>;

    /// Scores `forest` on `req`'s table (by default here, block by block).
    fn evaluate(&self, forest: &Forest, req: EvalRequest<'_>) -> Result<Stats> {
        evaluate(forest, req.data, req.task)
    }

    /// Whether [`Trainer::fit`] builds the trees in this process, so that the process's CPU
    /// time measures the fit (reported as `fit_cpu_seconds`). `false` unless overridden.
    fn builds_in_process(&self) -> bool {
        false
    }
}

/// Fits in this process on the current rayon pool.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalTrainer;

impl Trainer for LocalTrainer {
    fn fit(&self, req: FitRequest<'_>, progress: &dyn Progress) -> Result<Forest> {
        fit(req.binned, req.data, req.cfg, req.task, progress)
    }

    fn builds_in_process(&self) -> bool {
        true
    }
}

/// Fits one forest on already-binned training rows, inside a progress step the caller opened:
/// each finished tree advances it by one (several fits may share one step when they run at once).
pub fn fit(
    binned: &BinnedMatrix,
    ds: &Dataset,
    cfg: &Estimator,
    task: TaskKind,
    progress: &dyn Progress,
) -> Result<Forest> {
    let data = TrainingSet::new(binned, labels(ds, task), None, Task::from(task))?;
    match cfg {
        Estimator::RandomForest(p) => Ok(reelforest_tree::train_with_progress(&data, p, &|_| progress.advance(1))?),
    }
}

/// Metrics of one task on one split. Declared in the tree engine, below every crate that
/// reports, stores or shows them.
pub use reelforest_tree::metrics::Metrics;

/// Mergeable scoring statistics of one task (what a cluster worker sends back per block).
#[derive(Debug, Clone, PartialEq)]
pub enum Stats {
    /// Regression sums.
    Regression(RegressionStats),
    /// Classification counts and score histograms.
    Classification(ClassificationStats),
}

impl From<reelforest_proto::BlockStats> for Stats {
    fn from(s: reelforest_proto::BlockStats) -> Self {
        match s {
            reelforest_proto::BlockStats::Regression(r) => Stats::Regression(r),
            reelforest_proto::BlockStats::Classification(c) => Stats::Classification(c),
        }
    }
}

impl From<Stats> for reelforest_proto::BlockStats {
    fn from(s: Stats) -> Self {
        match s {
            Stats::Regression(r) => reelforest_proto::BlockStats::Regression(r),
            Stats::Classification(c) => reelforest_proto::BlockStats::Classification(c),
        }
    }
}

impl Stats {
    /// Statistics of no rows.
    pub fn empty(task: TaskKind) -> Self {
        match task {
            TaskKind::Regression => Stats::Regression(RegressionStats::new()),
            TaskKind::Classification => Stats::Classification(ClassificationStats::new(2)),
        }
    }

    /// Adds `other`'s rows (same kind of statistics).
    pub fn merge(&mut self, other: &Stats) -> Result<()> {
        match (self, other) {
            (Stats::Regression(a), Stats::Regression(b)) => a.merge(b),
            (Stats::Classification(a), Stats::Classification(b)) => a.merge(b)?,
            _ => {
                return Err(
                    reelforest_tree::Error::MergeMismatch("regression and classification statistics".into()).into()
                );
            }
        }
        Ok(())
    }

    /// Final metrics.
    pub fn metrics(&self) -> Metrics {
        match self {
            Stats::Regression(s) => s.metrics(),
            Stats::Classification(s) => Metrics::Classification {
                rows: s.weight() as u64,
                accuracy: s.accuracy(),
                precision: s.precision(),
                recall: s.recall(),
                f1: s.f1(),
                weighted_f1: s.weighted_f1(),
                roc_auc: s.roc_auc(),
                pr_auc: s.pr_auc(),
                log_loss: s.log_loss(),
                confusion: s.confusion_matrix(),
            },
        }
    }
}

/// Rows per evaluation block. Statistics are summed per block and blocks are merged in block
/// order, so a forest's metrics are the same bit for bit whether one process scores every block
/// or cluster workers score them in any order.
pub const EVAL_BLOCK_ROWS: usize = 65_536;

/// Number of evaluation blocks of a table with `rows` rows.
pub fn eval_blocks(rows: usize) -> usize {
    rows.div_ceil(EVAL_BLOCK_ROWS)
}

/// Scores `forest` on block `block` of `ds` (rows `block * EVAL_BLOCK_ROWS ..`).
pub fn evaluate_block(forest: &Forest, ds: &Dataset, task: TaskKind, block: usize) -> Result<Stats> {
    let start = (block * EVAL_BLOCK_ROWS).min(ds.len());
    let end = (start + EVAL_BLOCK_ROWS).min(ds.len());
    let columns: Vec<&[f64]> = ds.columns.iter().map(|c| &c[start..end]).collect();
    match task {
        TaskKind::Regression => {
            let pred = forest.predict(&columns)?;
            Ok(Stats::Regression(RegressionStats::from_slices(&ds.rating[start..end], &pred)))
        }
        TaskKind::Classification => {
            let proba = forest.predict_proba(&columns)?;
            let mut s = ClassificationStats::new(2);
            for (i, y) in ds.good[start..end].iter().enumerate() {
                let p = &proba[i * 2..i * 2 + 2];
                s.add(usize::from(*y >= 0.5), forest.class_from_proba(p), p, 1.0)?;
            }
            Ok(Stats::Classification(s))
        }
    }
}

/// Scores `forest` on `ds`: every block, merged in block order.
pub fn evaluate(forest: &Forest, ds: &Dataset, task: TaskKind) -> Result<Stats> {
    let mut total = Stats::empty(task);
    for b in 0..eval_blocks(ds.len()) {
        total.merge(&evaluate_block(forest, ds, task, b)?)?;
    }
    Ok(total)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// 2.5 blocks of rows, so the last block is partial.
    fn data() -> Dataset {
        let n = EVAL_BLOCK_ROWS * 5 / 2;
        let x: Vec<f64> = (0..n).map(|i| (i % 997) as f64).collect();
        let rating: Vec<f64> = x.iter().map(|v| 1.0 + (v / 250.0).floor()).collect();
        let good = rating.iter().map(|r| f64::from(u8::from(*r >= 4.0))).collect();
        Dataset { feature_names: vec!["x".into()], columns: vec![x], rating, good, ..Dataset::default() }
    }

    #[test]
    fn evaluation_is_the_in_order_merge_of_blocks() {
        let ds = data();
        assert_eq!(eval_blocks(ds.len()), 3);
        assert_eq!(eval_blocks(0), 0);
        let cfg = Estimator::RandomForest(reelforest_tree::ForestParams {
            num_trees: 3,
            max_depth: 3,
            ..reelforest_tree::ForestParams::default()
        });
        let binned = bin(&ds, MaxBins::DEFAULT, 1).unwrap();
        for task in [TaskKind::Regression, TaskKind::Classification] {
            let forest = fit(&binned, &ds, &cfg, task, &reelforest_core::NoProgress).unwrap();
            let whole = evaluate(&forest, &ds, task).unwrap();
            let mut merged = Stats::empty(task);
            for b in 0..3 {
                merged.merge(&evaluate_block(&forest, &ds, task, b).unwrap()).unwrap();
            }
            assert_eq!(whole, merged, "{task:?}");
            let empty = evaluate_block(&forest, &ds, task, 7).unwrap();
            assert_eq!(empty, Stats::empty(task), "a block past the end has no rows");
        }
        assert!(Stats::empty(TaskKind::Regression).merge(&Stats::empty(TaskKind::Classification)).is_err());
    }

    /// The metrics of block-wise evaluation equal metrics computed here from all predictions at
    /// once, by hand, without the statistics types (up to summation order).
    #[test]
    fn evaluation_matches_metrics_computed_independently() {
        let ds = data();
        let cfg = Estimator::RandomForest(reelforest_tree::ForestParams {
            num_trees: 3,
            max_depth: 3,
            ..reelforest_tree::ForestParams::default()
        });
        let binned = bin(&ds, MaxBins::DEFAULT, 1).unwrap();
        let n = ds.len() as f64;

        let forest = fit(&binned, &ds, &cfg, TaskKind::Regression, &reelforest_core::NoProgress).unwrap();
        let pred = forest.predict(&ds.columns).unwrap();
        let sse: f64 = pred.iter().zip(&ds.rating).map(|(p, y)| (p - y) * (p - y)).sum();
        let sae: f64 = pred.iter().zip(&ds.rating).map(|(p, y)| (p - y).abs()).sum();
        let Metrics::Regression { rows, rmse, mae, .. } =
            evaluate(&forest, &ds, TaskKind::Regression).unwrap().metrics()
        else {
            panic!("regression metrics expected");
        };
        assert_eq!(rows, ds.len() as u64);
        assert!((rmse - (sse / n).sqrt()).abs() < 1e-9, "{rmse}");
        assert!((mae - sae / n).abs() < 1e-9, "{mae}");

        let forest = fit(&binned, &ds, &cfg, TaskKind::Classification, &reelforest_core::NoProgress).unwrap();
        let proba = forest.predict_proba(&ds.columns).unwrap();
        let p_good: Vec<f64> = proba.chunks(2).map(|p| p[1]).collect();
        let correct = p_good.iter().zip(&ds.good).filter(|(p, y)| (**p > 0.5) == (**y >= 0.5)).count() as f64;
        // Exact AUC: the Mann-Whitney rank sum of the good rows (tied scores share their mean rank).
        let mut order: Vec<usize> = (0..p_good.len()).collect();
        order.sort_by(|&a, &b| p_good[a].total_cmp(&p_good[b]));
        let (mut rank_sum, mut pos) = (0.0, 0.0);
        let mut i = 0;
        while i < order.len() {
            let mut j = i;
            while j < order.len() && p_good[order[j]] == p_good[order[i]] {
                j += 1;
            }
            let mean_rank = (i + j + 1) as f64 / 2.0;
            for &r in &order[i..j] {
                if ds.good[r] >= 0.5 {
                    rank_sum += mean_rank;
                    pos += 1.0;
                }
            }
            i = j;
        }
        let auc = (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * (n - pos));
        let stats = evaluate(&forest, &ds, TaskKind::Classification).unwrap();
        let Stats::Classification(cs) = &stats else { panic!("classification statistics expected") };
        let bound = cs.roc_auc_error_bound().unwrap();
        let Metrics::Classification { rows, accuracy, roc_auc, .. } = stats.metrics() else {
            panic!("classification metrics expected");
        };
        assert_eq!(rows, ds.len() as u64);
        assert!((accuracy - correct / n).abs() < 1e-9, "{accuracy} vs {}", correct / n);
        // The stored AUC bins scores (see reelforest_tree::metrics); it is exact up to its bound.
        assert!((roc_auc.unwrap() - auc).abs() <= bound + 1e-9, "{roc_auc:?} vs {auc} (bound {bound})");
    }
}
