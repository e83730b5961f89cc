//! Random forests: Spark MLlib's parameters, training on rayon, and the trained [`Forest`].
//!
//! A random forest is a configuration of the tree learner (LightGBM's `rf.hpp` habit): each tree
//! is [`crate::learner::grow_tree`] with its own bag and feature subsets drawn from
//! `(seed, tree index)`. [`train`] grows trees in parallel on the current rayon pool;
//! [`train_tree`] grows one tree, as a cluster worker does; [`Forest::from_trees`] assembles
//! trees from anywhere, ordered by index. All paths give byte-identical
//! [`Forest::to_bytes`].
//!
//! Outputs: [`Forest::predict`] (mean of tree predictions for regression, the class of highest
//! probability / threshold for classification), [`Forest::predict_proba`] (Spark: the average
//! of the trees' normalized leaf class distributions), [`Forest::predict_raw`] (Spark's
//! `rawPrediction`: their sum), [`Forest::predict_leaves`], [`Forest::feature_importances`],
//! [`Forest::total_num_nodes`], [`Forest::debug_string`] and [`Forest::oob_error`].

use std::fmt::Write as _;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use crate::binning::{BinnedMatrix, DEFAULT_MAX_BINS, MAX_SUPPORTED_BINS};
use crate::codec;
use crate::error::{Error, Result};
use crate::histogram::LocalReducer;
use crate::learner::{argmax, grow_validated};
use crate::model::{BLOCK, FlatTree, PATH_LANES, QuantForest, TOP_CHUNK, Tree};
use crate::sampler::{BagSpec, in_bag_mask};
pub use crate::split::Impurity;

/// What the forest predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Task {
    /// A real-valued label.
    Regression,
    /// Class indices `0..num_classes` (labels are given as `f64` integers).
    Classification {
        /// Number of classes (>= 2).
        num_classes: u32,
    },
}

impl Task {
    /// Number of classes (0 for regression).
    pub fn num_classes(self) -> u32 {
        match self {
            Task::Regression => 0,
            Task::Classification { num_classes } => num_classes,
        }
    }
}

/// Spark's `featureSubsetStrategy`: how many features each node considers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FeatureSubsetStrategy {
    /// `all` for a single tree, `sqrt` for classification, `onethird` for regression.
    Auto,
    /// Every feature.
    All,
    /// `ceil(n / 3)`.
    OneThird,
    /// `ceil(sqrt(n))`.
    Sqrt,
    /// `max(1, ceil(log2(n)))`.
    Log2,
    /// `ceil(fraction × n)`, fraction in `(0, 1]`.
    Fraction(f64),
    /// `min(count, n)`, count >= 1.
    Count(usize),
}

impl FromStr for FeatureSubsetStrategy {
    type Err = Error;

    /// Parses Spark's spelling (`auto`, `all`, `onethird`, `sqrt`, `log2`, an integer `n`, or a
    /// fraction in `(0, 1]`); like Spark an integer is tried before a fraction, so `"1"` is one
    /// feature and `"1.0"` is all of them.
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim().to_ascii_lowercase();
        Ok(match t.as_str() {
            "auto" => Self::Auto,
            "all" => Self::All,
            "onethird" => Self::OneThird,
            "sqrt" => Self::Sqrt,
            "log2" => Self::Log2,
            _ => {
                if let Ok(n) = t.parse::<usize>() {
                    Self::Count(n)
                } else if let Ok(f) = t.parse::<f64>() {
                    Self::Fraction(f)
                } else {
                    return Err(Error::param(
                        "featureSubsetStrategy",
                        format!("expected auto|all|onethird|sqrt|log2|<fraction in (0,1]>|<n >= 1>, got {s:?}"),
                    ));
                }
            }
        })
        .and_then(|v| v.check().map(|()| v))
    }
}

impl FeatureSubsetStrategy {
    fn check(self) -> Result<()> {
        match self {
            Self::Fraction(f) if !(f > 0.0 && f <= 1.0) => {
                Err(Error::param("featureSubsetStrategy", format!("fraction must be in (0, 1], got {f}")))
            }
            Self::Count(0) => Err(Error::param("featureSubsetStrategy", "feature count must be >= 1")),
            _ => Ok(()),
        }
    }

    /// Number of features per node out of `n` for `task` and `num_trees`.
    pub fn resolve(self, n: usize, task: Task, num_trees: usize) -> usize {
        let nf = n as f64;
        let k = match self {
            Self::Auto if num_trees == 1 => n,
            Self::Auto => match task {
                Task::Regression => (nf / 3.0).ceil() as usize,
                Task::Classification { .. } => nf.sqrt().ceil() as usize,
            },
            Self::All => n,
            Self::OneThird => (nf / 3.0).ceil() as usize,
            Self::Sqrt => nf.sqrt().ceil() as usize,
            Self::Log2 => (nf.log2().ceil() as usize).max(1),
            Self::Fraction(f) => (f * nf).ceil() as usize,
            Self::Count(c) => c,
        };
        k.clamp(1, n.max(1))
    }
}

/// Random-forest parameters with Spark MLlib's names (in the docs) and defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct ForestParams {
    /// Regression or classification (Spark: the estimator class).
    pub task: Task,
    /// `numTrees` (default 20, >= 1).
    pub num_trees: usize,
    /// `maxDepth` (default 5; 0 = a single leaf; not capped at 30).
    pub max_depth: u32,
    /// `maxBins` (default 32, 2..=256); used when binning with [`ForestParams::bin`].
    pub max_bins: usize,
    /// `minInstancesPerNode` (default 1, >= 1).
    pub min_instances_per_node: usize,
    /// `minInfoGain` (default 0, >= 0).
    pub min_info_gain: f64,
    /// `minWeightFractionPerNode` (default 0, in `[0, 0.5)`).
    pub min_weight_fraction_per_node: f64,
    /// `subsamplingRate` (default 1, in `(0, 1]`).
    pub subsampling_rate: f64,
    /// `bootstrap` (default true).
    pub bootstrap: bool,
    /// `featureSubsetStrategy` (default `auto`).
    pub feature_subset_strategy: FeatureSubsetStrategy,
    /// `impurity` (default `variance` for regression, `gini` for classification).
    pub impurity: Impurity,
    /// `seed` (default 42; Spark's default is a hash of the class name).
    pub seed: u64,
    /// `thresholds` (classification only): class `argmax(p_k / thresholds_k)` is predicted.
    pub thresholds: Option<Vec<f64>>,
}

impl Default for ForestParams {
    fn default() -> Self {
        Self::regression()
    }
}

impl ForestParams {
    /// Spark's `RandomForestRegressor` defaults.
    pub fn regression() -> Self {
        ForestParams {
            task: Task::Regression,
            num_trees: 20,
            max_depth: 5,
            max_bins: DEFAULT_MAX_BINS,
            min_instances_per_node: 1,
            min_info_gain: 0.0,
            min_weight_fraction_per_node: 0.0,
            subsampling_rate: 1.0,
            bootstrap: true,
            feature_subset_strategy: FeatureSubsetStrategy::Auto,
            impurity: Impurity::Variance,
            seed: 42,
            thresholds: None,
        }
    }

    /// Spark's `RandomForestClassifier` defaults for `num_classes` classes.
    pub fn classification(num_classes: u32) -> Self {
        ForestParams { task: Task::Classification { num_classes }, impurity: Impurity::Gini, ..Self::regression() }
    }

    /// Checks every parameter; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        if self.num_trees == 0 {
            return Err(Error::param("numTrees", "must be >= 1"));
        }
        if !(2..=MAX_SUPPORTED_BINS).contains(&self.max_bins) {
            return Err(Error::param("maxBins", format!("must be in 2..=256, got {}", self.max_bins)));
        }
        if self.min_instances_per_node == 0 {
            return Err(Error::param("minInstancesPerNode", "must be >= 1"));
        }
        if !(self.min_info_gain >= 0.0 && self.min_info_gain.is_finite()) {
            return Err(Error::param("minInfoGain", format!("must be finite and >= 0, got {}", self.min_info_gain)));
        }
        if !(self.min_weight_fraction_per_node >= 0.0 && self.min_weight_fraction_per_node < 0.5) {
            return Err(Error::param(
                "minWeightFractionPerNode",
                format!("must be in [0, 0.5), got {}", self.min_weight_fraction_per_node),
            ));
        }
        if !(self.subsampling_rate > 0.0 && self.subsampling_rate <= 1.0) {
            return Err(Error::param("subsamplingRate", format!("must be in (0, 1], got {}", self.subsampling_rate)));
        }
        self.feature_subset_strategy.check()?;
        match (self.task, self.impurity) {
            (Task::Regression, Impurity::Variance) => {}
            (Task::Classification { num_classes }, Impurity::Gini | Impurity::Entropy) => {
                if num_classes < 2 {
                    return Err(Error::param("numClasses", format!("must be >= 2, got {num_classes}")));
                }
            }
            (Task::Regression, i) => {
                return Err(Error::param("impurity", format!("regression needs variance, got {}", i.name())));
            }
            (Task::Classification { .. }, i) => {
                return Err(Error::param(
                    "impurity",
                    format!("classification needs gini or entropy, got {}", i.name()),
                ));
            }
        }
        if let Some(t) = &self.thresholds {
            let k = self.task.num_classes() as usize;
            if k == 0 {
                return Err(Error::param("thresholds", "only valid for classification"));
            }
            if t.len() != k {
                return Err(Error::param("thresholds", format!("expected {k} values, got {}", t.len())));
            }
            if t.iter().any(|v| !(*v >= 0.0 && v.is_finite())) {
                return Err(Error::param("thresholds", "values must be finite and >= 0"));
            }
            if t.iter().filter(|v| **v == 0.0).count() > 1 {
                return Err(Error::param("thresholds", "at most one value may be 0"));
            }
        }
        Ok(())
    }

    /// Bins column-major features with this `maxBins` and `seed`.
    pub fn bin<C: AsRef<[f64]> + Sync>(&self, columns: &[C]) -> Result<BinnedMatrix> {
        BinnedMatrix::from_columns(columns, self.max_bins, self.seed)
    }

    pub(crate) fn bag_spec(&self) -> BagSpec {
        BagSpec { subsampling_rate: self.subsampling_rate, bootstrap: self.bootstrap }
    }

    /// Features considered per node out of `n`.
    pub fn features_per_node(&self, n: usize) -> usize {
        self.feature_subset_strategy.resolve(n, self.task, self.num_trees)
    }
}

/// Checks parameters, labels and weights against the binned matrix.
pub fn validate_inputs(
    binned: &BinnedMatrix,
    labels: &[f64],
    weights: Option<&[f64]>,
    params: &ForestParams,
) -> Result<()> {
    params.validate()?;
    if labels.len() != binned.n_rows() {
        return Err(Error::LengthMismatch { what: "labels".into(), expected: binned.n_rows(), actual: labels.len() });
    }
    let k = params.task.num_classes();
    for (row, &value) in labels.iter().enumerate() {
        if !value.is_finite() {
            return Err(Error::InvalidLabel { row, value, reason: "labels must be finite" });
        }
        if k > 0 && (value < 0.0 || value.fract() != 0.0 || value >= f64::from(k)) {
            return Err(Error::InvalidLabel { row, value, reason: "class labels must be integers in 0..numClasses" });
        }
    }
    if let Some(w) = weights {
        if w.len() != binned.n_rows() {
            return Err(Error::LengthMismatch { what: "weights".into(), expected: binned.n_rows(), actual: w.len() });
        }
        if let Some((row, &value)) = w.iter().enumerate().find(|(_, v)| !(v.is_finite() && **v >= 0.0)) {
            return Err(Error::InvalidWeight { row, value });
        }
        if w.iter().sum::<f64>() <= 0.0 {
            return Err(Error::ZeroTotalWeight);
        }
    }
    Ok(())
}

/// Trains a forest on the current rayon pool.
pub fn train(binned: &BinnedMatrix, labels: &[f64], weights: Option<&[f64]>, params: &ForestParams) -> Result<Forest> {
    train_with_progress(binned, labels, weights, params, &|_| {})
}

/// [`train`], calling `progress(trees_done)` after each finished tree (from worker threads).
pub fn train_with_progress(
    binned: &BinnedMatrix,
    labels: &[f64],
    weights: Option<&[f64]>,
    params: &ForestParams,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Forest> {
    validate_inputs(binned, labels, weights, params)?;
    let done = AtomicUsize::new(0);
    let trees = (0..params.num_trees as u32)
        .into_par_iter()
        .map(|i| {
            let t = grow_validated(binned, labels, weights, params, i, &LocalReducer);
            progress(done.fetch_add(1, Ordering::Relaxed) + 1);
            t
        })
        .collect::<Result<Vec<_>>>()?;
    Forest::from_trees(params, binned.n_features(), trees)
}

/// Grows tree `tree_index` of the forest (what a cluster worker calls); identical to the tree
/// [`train`] produces at that index.
pub fn train_tree(
    binned: &BinnedMatrix,
    labels: &[f64],
    weights: Option<&[f64]>,
    params: &ForestParams,
    tree_index: u32,
) -> Result<Tree> {
    crate::learner::grow_tree(binned, labels, weights, params, tree_index)
}

/// Out-of-bag evaluation of a forest on its training data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OobError {
    /// Regression: mean squared error; classification: weighted misclassification rate.
    pub error: f64,
    /// Rows that were out of bag for at least one tree (and so were scored).
    pub rows_scored: usize,
}

/// A trained random forest.
#[derive(Debug, Clone)]
pub struct Forest {
    task: Task,
    num_features: u32,
    seed: u64,
    bag: BagSpec,
    thresholds: Option<Vec<f64>>,
    trees: Vec<Tree>,
    flat: Vec<FlatTree>,
    quant: Option<QuantForest>,
}

/// Writes the ranks of rows `start..start + nb` of column-major `columns` row-major into `qb`
/// (`stride` bytes per row, feature `f` at index `f`), straight from the columns.
fn rank_columns<C: AsRef<[f64]>>(
    q: &QuantForest,
    columns: &[C],
    start: usize,
    nb: usize,
    stride: usize,
    qb: &mut [u8],
) {
    for (f, c) in columns.iter().enumerate() {
        for (qv, v) in qb[f..].iter_mut().step_by(stride).zip(&c.as_ref()[start..start + nb]) {
            *qv = q.rank(f, *v);
        }
    }
}

impl PartialEq for Forest {
    fn eq(&self, other: &Self) -> bool {
        self.task == other.task
            && self.num_features == other.num_features
            && self.seed == other.seed
            && self.bag == other.bag
            && self.thresholds == other.thresholds
            && self.trees == other.trees
    }
}

impl Forest {
    /// Assembles a forest from trees grown anywhere, sorted by tree index. Duplicate indices,
    /// or trees whose class count or features disagree with `params`, are errors.
    pub fn from_trees(params: &ForestParams, num_features: usize, trees: Vec<Tree>) -> Result<Self> {
        params.validate()?;
        Self::assemble(params.task, num_features, params.seed, params.bag_spec(), params.thresholds.clone(), trees)
    }

    pub(crate) fn assemble(
        task: Task,
        num_features: usize,
        seed: u64,
        bag: BagSpec,
        thresholds: Option<Vec<f64>>,
        mut trees: Vec<Tree>,
    ) -> Result<Self> {
        if trees.is_empty() {
            return Err(Error::EmptyInput("no trees"));
        }
        let num_features = u32::try_from(num_features).map_err(|_| Error::param("numFeatures", "too many features"))?;
        trees.sort_by_key(Tree::tree_index);
        for w in trees.windows(2) {
            if w[0].tree_index() == w[1].tree_index() {
                return Err(Error::DuplicateTree(w[0].tree_index()));
            }
        }
        for t in &trees {
            if t.num_classes() != task.num_classes() {
                return Err(Error::InconsistentTree {
                    tree_index: t.tree_index(),
                    reason: format!("{} classes, forest has {}", t.num_classes(), task.num_classes()),
                });
            }
            if let Some(f) = t.nodes().iter().filter_map(|n| n.split.as_ref()).find(|s| s.feature >= num_features) {
                return Err(Error::InconsistentTree {
                    tree_index: t.tree_index(),
                    reason: format!("splits on feature {} of {num_features}", f.feature),
                });
            }
        }
        let flat: Vec<FlatTree> = trees.iter().map(FlatTree::new).collect();
        let quant = QuantForest::new(&flat, num_features as usize);
        Ok(Forest { task, num_features, seed, bag, thresholds, trees, flat, quant })
    }

    /// The task.
    pub fn task(&self) -> Task {
        self.task
    }

    /// Number of features the forest was trained on.
    pub fn num_features(&self) -> usize {
        self.num_features as usize
    }

    /// The forest seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The bagging used in training (`subsamplingRate`, `bootstrap`).
    pub fn bag_spec(&self) -> BagSpec {
        self.bag
    }

    /// Classification thresholds, if any.
    pub fn thresholds(&self) -> Option<&[f64]> {
        self.thresholds.as_deref()
    }

    /// Heap bytes held by the model: the trees plus the flattened prediction forms built from
    /// them (the "trees" of the training memory budget).
    pub fn heap_bytes(&self) -> usize {
        self.trees.iter().map(Tree::heap_bytes).sum::<usize>()
            + self.flat.iter().map(crate::model::FlatTree::heap_bytes).sum::<usize>()
            + self.quant.as_ref().map_or(0, crate::model::QuantForest::heap_bytes)
    }

    /// The trees, ordered by index.
    pub fn trees(&self) -> &[Tree] {
        &self.trees
    }

    /// Number of trees.
    pub fn num_trees(&self) -> usize {
        self.trees.len()
    }

    /// Spark's `totalNumNodes`.
    pub fn total_num_nodes(&self) -> usize {
        self.trees.iter().map(Tree::num_nodes).sum()
    }

    /// Spark's `featureImportances`: per-tree normalized importances, summed, normalized to 1.
    pub fn feature_importances(&self) -> Vec<f64> {
        let n = self.num_features();
        let mut total = vec![0.0; n];
        for t in &self.trees {
            for (a, b) in total.iter_mut().zip(t.feature_importances(n)) {
                *a += b;
            }
        }
        let s: f64 = total.iter().sum();
        if s > 0.0 {
            total.iter_mut().for_each(|v| *v /= s);
        }
        total
    }

    /// A readable dump like Spark's `toDebugString`.
    pub fn debug_string(&self) -> String {
        let mut s = String::new();
        let _ = match self.task {
            Task::Regression => writeln!(
                s,
                "RandomForestRegressionModel: numTrees={}, numFeatures={}",
                self.num_trees(),
                self.num_features
            ),
            Task::Classification { num_classes } => writeln!(
                s,
                "RandomForestClassificationModel: numTrees={}, numClasses={num_classes}, numFeatures={}",
                self.num_trees(),
                self.num_features
            ),
        };
        for t in &self.trees {
            let _ = writeln!(s, "  Tree {} (weight 1.0):", t.tree_index());
            t.write_debug(&mut s, 4);
        }
        s
    }

    fn width(&self) -> usize {
        (self.task.num_classes() as usize).max(1)
    }

    /// Checks column-major prediction input; returns the row count.
    fn check_columns<C: AsRef<[f64]>>(&self, columns: &[C]) -> Result<usize> {
        let nf = self.num_features();
        if columns.len() != nf {
            return Err(Error::FeatureCount { expected: nf, actual: columns.len() });
        }
        let n = Self::num_rows(columns);
        crate::binning::check_lengths(columns, n)?;
        Ok(n)
    }

    /// Runs every tree over column-major rows in parallel blocks (see [`Forest::for_blocks_with`]).
    fn for_blocks<C, T, F>(&self, columns: &[C], out_per_row: usize, out: &mut [T], emit: F) -> Result<()>
    where
        C: AsRef<[f64]> + Sync,
        T: Send,
        F: Fn(&[u32], usize, usize, &mut [T]) + Sync,
    {
        self.check_columns(columns)?;
        let nf = self.num_features();
        let fill = |start: usize, nb: usize, block: &mut [f64]| {
            for (f, c) in columns.iter().enumerate() {
                for (r, v) in c.as_ref()[start..start + nb].iter().enumerate() {
                    block[r * nf + f] = *v;
                }
            }
        };
        let fill_ranks = |q: &QuantForest, start: usize, nb: usize, stride: usize, qb: &mut [u8]| {
            rank_columns(q, columns, start, nb, stride, qb);
        };
        self.for_blocks_with(fill, fill_ranks, out_per_row, out, emit);
        Ok(())
    }

    /// Runs every tree over blocks of [`BLOCK`] rows in parallel. When the forest has its
    /// ranked form, `fill_ranks(q, start, nb, stride, qblock)` writes the ranks of rows
    /// `start..start + nb` row-major (`stride` bytes per row, the feature's rank at its index)
    /// into `qblock`; otherwise `fill(start, nb, block)` writes their raw features row-major
    /// into `block`. Then `emit(leaves, start, nb, out_chunk)` gets the flat leaf id of row
    /// `r` in tree `t` at `leaves[t * BLOCK + r]`. `out` holds `out_per_row` values per row.
    fn for_blocks_with<T, G, H, F>(&self, fill: G, fill_ranks: H, out_per_row: usize, out: &mut [T], emit: F)
    where
        T: Send,
        G: Fn(usize, usize, &mut [f64]) + Sync,
        H: Fn(&QuantForest, usize, usize, usize, &mut [u8]) + Sync,
        F: Fn(&[u32], usize, usize, &mut [T]) + Sync,
    {
        let nf = self.num_features();
        let nt = self.trees.len();
        match &self.quant {
            Some(q) if QuantForest::row_bytes(nf) <= 512 => {
                let leaves =
                    |t: usize, qb: &[u8], cols: &[[u8; TOP_CHUNK]], stride: usize, _: &mut [T], cur: &mut [u32]| {
                        match stride {
                            256 => q.leaves_block::<256>(t, qb.as_chunks().0, cols, cur),
                            _ => q.leaves_block::<512>(t, qb.as_chunks().0, cols, cur),
                        }
                    };
                self.ranked_blocks(q, &fill_ranks, out_per_row, out, leaves, emit);
            }
            _ => out.par_chunks_mut(BLOCK * out_per_row).enumerate().for_each_init(
                || (vec![0.0f64; BLOCK * nf], vec![0u32; BLOCK * nt]),
                |(block, leaves), (bi, chunk)| {
                    let start = bi * BLOCK;
                    let nb = chunk.len() / out_per_row;
                    fill(start, nb, &mut block[..nb * nf]);
                    for (t, tree) in self.flat.iter().enumerate() {
                        tree.descend_block(&block[..nb * nf], nf, &mut leaves[t * BLOCK..t * BLOCK + nb]);
                    }
                    emit(leaves, start, nb, chunk);
                },
            ),
        }
    }

    /// [`Forest::for_blocks_with`] on ranked rows of [`QuantForest::row_bytes`] bytes:
    /// fills and completes each block (with its top columns column-major, see
    /// [`QuantForest::complete_block`]), then `tree(t, block, top_cols, stride, out_chunk,
    /// leaves_of_t)` runs tree `t` over it (writing flat leaf ids, or summing into the output
    /// chunk), then `emit(leaves, start, nb, out_chunk)`.
    fn ranked_blocks<T, H, W, F>(
        &self,
        q: &QuantForest,
        fill_ranks: &H,
        out_per_row: usize,
        out: &mut [T],
        tree: W,
        emit: F,
    ) where
        T: Send,
        H: Fn(&QuantForest, usize, usize, usize, &mut [u8]) + Sync,
        W: Fn(usize, &[u8], &[[u8; TOP_CHUNK]], usize, &mut [T], &mut [u32]) + Sync,
        F: Fn(&[u32], usize, usize, &mut [T]) + Sync,
    {
        let nt = self.trees.len();
        let stride = QuantForest::row_bytes(self.num_features());
        let top_chunks = q.num_top_columns() * (BLOCK / TOP_CHUNK);
        out.par_chunks_mut(BLOCK * out_per_row).enumerate().for_each_init(
            || (vec![0u8; BLOCK * stride], vec![[0u8; TOP_CHUNK]; top_chunks], vec![0u32; BLOCK * nt]),
            |(qblock, cols, leaves), (bi, chunk)| {
                let start = bi * BLOCK;
                let nb = chunk.len() / out_per_row;
                let qb = &mut qblock[..nb * stride];
                fill_ranks(q, start, nb, stride, qb);
                match stride {
                    256 => q.complete_block::<256>(qb.as_chunks_mut().0, cols),
                    _ => q.complete_block::<512>(qb.as_chunks_mut().0, cols),
                }
                let qb = &qblock[..nb * stride];
                for t in 0..nt {
                    tree(t, qb, cols, stride, chunk, &mut leaves[t * BLOCK..t * BLOCK + nb]);
                }
                emit(leaves, start, nb, chunk);
            },
        );
    }

    /// Per row, the sum over trees (in tree order) of its leaf's `width` values: what
    /// [`Forest::predict`] and [`Forest::predict_raw`] need. On the ranked form the values are
    /// added during the walk, no leaf ids are kept.
    fn sum_leaf_values<C: AsRef<[f64]> + Sync>(&self, columns: &[C], width: usize) -> Result<Vec<f64>> {
        let n = self.check_columns(columns)?;
        let mut out = vec![0.0; n * width];
        let nf = self.num_features();
        match &self.quant {
            Some(q) if QuantForest::row_bytes(nf) <= 512 => {
                let fill_ranks = |q: &QuantForest, start: usize, nb: usize, stride: usize, qb: &mut [u8]| {
                    rank_columns(q, columns, start, nb, stride, qb);
                };
                let flat = &self.flat;
                let tree =
                    |t: usize, qb: &[u8], cols: &[[u8; TOP_CHUNK]], stride: usize, chunk: &mut [f64], _: &mut [u32]| {
                        match stride {
                            256 => q.accumulate_block::<256>(t, &flat[t], qb.as_chunks().0, cols, chunk, width),
                            _ => q.accumulate_block::<512>(t, &flat[t], qb.as_chunks().0, cols, chunk, width),
                        }
                    };
                self.ranked_blocks(q, &fill_ranks, width, &mut out, tree, |_, _, _, _| {});
            }
            _ => self.for_blocks(columns, width, &mut out, |leaves, _, nb, chunk| {
                for (t, tree) in self.flat.iter().enumerate() {
                    for r in 0..nb {
                        let v = tree.values(leaves[t * BLOCK + r]);
                        for (o, x) in chunk[r * width..(r + 1) * width].iter_mut().zip(v) {
                            *o += *x;
                        }
                    }
                }
            })?,
        }
        Ok(out)
    }

    fn num_rows<C: AsRef<[f64]>>(columns: &[C]) -> usize {
        columns.first().map_or(0, |c| c.as_ref().len())
    }

    /// Spark's `rawPrediction` for column-major rows, row-major `n × K`: the sum over trees of
    /// each leaf's normalized class distribution. Classification only.
    pub fn predict_raw<C: AsRef<[f64]> + Sync>(&self, columns: &[C]) -> Result<Vec<f64>> {
        let k = self.task.num_classes() as usize;
        if k == 0 {
            return Err(Error::WrongTask { expected: "classification" });
        }
        self.sum_leaf_values(columns, k)
    }

    /// Class probabilities, row-major `n × K` (raw prediction divided by the number of trees).
    pub fn predict_proba<C: AsRef<[f64]> + Sync>(&self, columns: &[C]) -> Result<Vec<f64>> {
        let mut raw = self.predict_raw(columns)?;
        let nt = self.trees.len() as f64;
        raw.iter_mut().for_each(|v| *v /= nt);
        Ok(raw)
    }

    /// The class predicted from probabilities `p` (respecting `thresholds` like Spark).
    pub fn class_from_proba(&self, p: &[f64]) -> usize {
        match &self.thresholds {
            None => argmax(p),
            Some(t) => {
                let scaled: Vec<f64> =
                    p.iter().zip(t).map(|(p, t)| if *t == 0.0 { f64::INFINITY } else { p / t }).collect();
                argmax(&scaled)
            }
        }
    }

    /// Predictions for column-major rows: the mean of tree predictions (regression) or the
    /// predicted class index (classification).
    pub fn predict<C: AsRef<[f64]> + Sync>(&self, columns: &[C]) -> Result<Vec<f64>> {
        match self.task {
            Task::Regression => {
                let mut out = self.sum_leaf_values(columns, 1)?;
                let nt = self.trees.len() as f64;
                out.iter_mut().for_each(|v| *v /= nt);
                Ok(out)
            }
            Task::Classification { num_classes } => {
                let k = num_classes as usize;
                let p = self.predict_proba(columns)?;
                Ok(p.chunks_exact(k).map(|p| self.class_from_proba(p) as f64).collect())
            }
        }
    }

    /// Leaf indices (into each tree's [`Tree::nodes`]), row-major `n × numTrees`.
    pub fn predict_leaves<C: AsRef<[f64]> + Sync>(&self, columns: &[C]) -> Result<Vec<u32>> {
        let nt = self.trees.len();
        let mut out = vec![0u32; Self::num_rows(columns) * nt];
        self.for_blocks(columns, nt, &mut out, |leaves, _, nb, chunk| {
            for (t, tree) in self.flat.iter().enumerate() {
                for r in 0..nb {
                    chunk[r * nt + t] = tree.orig(leaves[t * BLOCK + r]);
                }
            }
        })?;
        Ok(out)
    }

    /// Prediction for one raw row.
    pub fn predict_row(&self, row: &[f64]) -> Result<f64> {
        let nf = self.num_features();
        if row.len() != nf {
            return Err(Error::FeatureCount { expected: nf, actual: row.len() });
        }
        Ok(match self.task {
            Task::Regression => {
                let s: f64 = self.trees.iter().map(|t| t.nodes()[t.leaf_index(row)].prediction).sum();
                s / self.trees.len() as f64
            }
            Task::Classification { .. } => {
                let p = self.predict_proba_row(row)?;
                self.class_from_proba(&p) as f64
            }
        })
    }

    /// Why the forest predicts what it does for one raw row: the path decomposition of Saabas
    /// ("treeinterpreter"). Every node has a value (regression: its mean label; classification:
    /// the share of class `class` among its training weight, the distribution the forest
    /// averages). Each split on a row's path moves the value by `value(child) - value(parent)`,
    /// credited to the split's feature, so `value = bias + Σ contrib` exactly, with `bias` the
    /// mean root value. Writes each feature's mean contribution to `contrib` (one slot per
    /// feature) and returns `(value, bias)`; `value` equals [`Forest::predict_row`] (regression)
    /// or the class's entry of [`Forest::predict_proba_row`].
    ///
    /// The row is ranked once against the forest's thresholds, then each tree is walked on
    /// bytes (8-byte nodes), so one row through 100 depth-10 trees costs a few microseconds.
    pub fn explain_row(&self, row: &[f64], class: usize, contrib: &mut [f64]) -> Result<(f64, f64)> {
        let nf = self.num_features();
        if row.len() != nf {
            return Err(Error::FeatureCount { expected: nf, actual: row.len() });
        }
        if contrib.len() != nf {
            return Err(Error::LengthMismatch { what: "contributions".into(), expected: nf, actual: contrib.len() });
        }
        let width = self.task.num_classes().max(1) as usize;
        if class >= width {
            return Err(Error::param("class", format!("class {class} of a forest with {width} outputs")));
        }
        contrib.fill(0.0);
        let (mut sum, mut bias) = (0.0, 0.0);
        let value = |t: &FlatTree, id: u32| t.all_values()[id as usize * t.width() + class];
        match &self.quant {
            Some(q) => {
                let ranks: Vec<u8> = row.iter().enumerate().map(|(f, x)| q.rank(f, *x)).collect();
                // Trees descend PATH_LANES at a time; their paths are then summed tree by tree,
                // in order, so the result is the same bits as one walk after another.
                let mut paths: [Vec<(u32, u32, u32)>; PATH_LANES] = std::array::from_fn(|_| Vec::with_capacity(32));
                for (first, flats) in (0..).step_by(PATH_LANES).zip(self.flat.chunks(PATH_LANES)) {
                    let paths = &mut paths[..flats.len()];
                    paths.iter_mut().for_each(Vec::clear);
                    q.walk_paths(first, &ranks, paths);
                    for (flat, path) in flats.iter().zip(paths.iter()) {
                        bias += value(flat, 0);
                        for &(p, c, f) in path {
                            contrib[f as usize] += value(flat, c) - value(flat, p);
                        }
                        sum += value(flat, path.last().map_or(0, |s| s.1));
                    }
                }
            }
            None => {
                for flat in &self.flat {
                    bias += value(flat, 0);
                    let leaf = flat.walk_path(row, |p, c, f| contrib[f] += value(flat, c) - value(flat, p));
                    sum += value(flat, leaf);
                }
            }
        }
        let nt = self.trees.len() as f64;
        contrib.iter_mut().for_each(|v| *v /= nt);
        Ok((sum / nt, bias / nt))
    }

    /// Class probabilities for one raw row.
    pub fn predict_proba_row(&self, row: &[f64]) -> Result<Vec<f64>> {
        let cols: Vec<[f64; 1]> = row.iter().map(|v| [*v]).collect();
        self.predict_proba(&cols)
    }

    /// Out-of-bag error on the training data: each row is scored by the trees whose bag left
    /// it out (bags are regenerated from the seeds). Regression: MSE of the mean OOB
    /// prediction; classification: weighted error of the OOB vote (summed distributions).
    /// Rows in every bag are skipped. Uses split bins, so `binned` must be the training matrix.
    pub fn oob_error(&self, binned: &BinnedMatrix, labels: &[f64], weights: Option<&[f64]>) -> Result<OobError> {
        let n = binned.n_rows();
        if binned.n_features() != self.num_features() {
            return Err(Error::FeatureCount { expected: self.num_features(), actual: binned.n_features() });
        }
        if labels.len() != n {
            return Err(Error::LengthMismatch { what: "labels".into(), expected: n, actual: labels.len() });
        }
        if let Some(w) = weights
            && w.len() != n
        {
            return Err(Error::LengthMismatch { what: "weights".into(), expected: n, actual: w.len() });
        }
        // In-bag bits per tree (bit i % 64 of word i / 64), 1/8 of the memory of bools.
        let masks: Vec<Vec<u64>> = self
            .trees
            .par_iter()
            .map(|t| {
                let mut bits = vec![0u64; n.div_ceil(64)];
                for (i, b) in in_bag_mask(self.seed, t.tree_index(), self.bag, n).into_iter().enumerate() {
                    bits[i / 64] |= u64::from(b) << (i % 64);
                }
                bits
            })
            .collect();
        let k = self.width();
        let classification = self.task.num_classes() > 0;
        let nf = self.num_features();
        // A raw value per bin that every split treats exactly like the bin: the bin's upper
        // threshold (the trees' thresholds are those), +inf for the last bin, NaN when missing.
        let reps: Vec<Vec<f64>> = (0..nf)
            .map(|f| {
                let e = binned.edges(f);
                let mut r: Vec<f64> = (0..e.num_value_bins()).map(|b| e.upper_bound(b)).collect();
                if e.has_missing {
                    r.push(f64::NAN);
                }
                r
            })
            .collect();
        let fill = |start: usize, nb: usize, block: &mut [f64]| {
            for (r, out) in block.chunks_exact_mut(nf).take(nb).enumerate() {
                for ((o, rep), b) in out.iter_mut().zip(&reps).zip(binned.row(start + r)) {
                    *o = rep[*b as usize];
                }
            }
        };
        // The same through ranks: the rank of each bin's representative, per feature.
        let bin_ranks: Vec<Vec<u8>> = match &self.quant {
            Some(q) => reps.iter().enumerate().map(|(f, rep)| rep.iter().map(|v| q.rank(f, *v)).collect()).collect(),
            None => Vec::new(),
        };
        let fill_ranks = |_: &QuantForest, start: usize, nb: usize, stride: usize, qb: &mut [u8]| {
            for (r, out) in qb.chunks_mut(stride).take(nb).enumerate() {
                for ((qv, br), b) in out.iter_mut().zip(&bin_ranks).zip(binned.row(start + r)) {
                    *qv = br[*b as usize];
                }
            }
        };
        let mut per_row = vec![(0.0f64, 0.0f64, 0u32); n];
        self.for_blocks_with(fill, fill_ranks, 1, &mut per_row, |leaves, start, nb, chunk| {
            let mut acc = vec![0.0; k];
            for (r, out) in chunk.iter_mut().enumerate().take(nb) {
                let i = start + r;
                acc.iter_mut().for_each(|a| *a = 0.0);
                let mut votes = 0u32;
                for (t, tree) in self.flat.iter().enumerate() {
                    if masks[t][i / 64] >> (i % 64) & 1 != 0 {
                        continue;
                    }
                    votes += 1;
                    for (a, v) in acc.iter_mut().zip(tree.values(leaves[t * BLOCK + r])) {
                        *a += *v;
                    }
                }
                if votes == 0 {
                    continue;
                }
                let w = weights.map_or(1.0, |w| w[i]);
                let e = if classification {
                    f64::from(u8::from(self.class_from_proba(&acc) as f64 != labels[i]))
                } else {
                    let d = acc[0] / f64::from(votes) - labels[i];
                    d * d
                };
                *out = (w * e, w, 1);
            }
        });
        // Summed in row order, so the result does not depend on the thread count.
        let (err_sum, w_sum, scored) =
            per_row.iter().fold((0.0, 0.0, 0usize), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2 as usize));
        Ok(OobError { error: if w_sum > 0.0 { err_sum / w_sum } else { f64::NAN }, rows_scored: scored })
    }

    /// Stable little-endian encoding (see [`crate::codec`] for the layout).
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes [`Forest::to_bytes`]; corrupt or truncated input is an error, never a panic.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        codec::decode(bytes)
    }
}
