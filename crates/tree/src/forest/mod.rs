//! Random forests: training on rayon and the trained [`Forest`].
//!
//! A random forest is a configuration of the tree learner (LightGBM's `rf.hpp` habit): each tree
//! is [`crate::learner::grow_tree`] with its own bag and feature subsets drawn from
//! `(seed, tree index)`. [`train`] grows trees in parallel on the current rayon pool; a cluster
//! worker calls [`grow_tree`] for the trees it leases; [`Forest::from_trees`] assembles trees
//! from anywhere, ordered by index. All paths give byte-identical [`Forest::to_bytes`]. The
//! parameters are declared in [`crate::params`].
//!
//! Outputs: [`Forest::predict`] (mean of tree predictions for regression, the class of highest
//! probability / threshold for classification), [`Forest::predict_proba`] (Spark: the average
//! of the trees' normalized leaf class distributions), [`Forest::predict_raw`] (Spark's
//! `rawPrediction`: their sum), [`Forest::predict_leaves`], [`Forest::explain_row`],
//! [`Forest::feature_importances`], [`Forest::total_num_nodes`], [`Forest::debug_string`] and
//! [`Forest::oob_error`].
//!
//! This file holds the training entry points and the [`Forest`] type with its parts, summaries
//! and byte encoding; the rest of `impl Forest` is split by concern:
//!
//! * `predict.rs`: the public prediction outputs, batch and single-row, and `explain_row`;
//! * `blocks.rs`: the parallel block walk they run on (rows ranked once, then every tree walks
//!   each block through the layouts of `crate::layout`);
//! * `oob.rs`: [`OobError`] and [`Forest::oob_error`].

mod blocks;
mod oob;
mod predict;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use crate::codec;
use crate::error::{Error, Result};
use crate::histogram::LocalReducer;
use crate::layout::{FlatTree, QuantForest};
use crate::learner::{TrainingSet, grow_tree};
use crate::model::Tree;
use crate::params::{ForestParams, Task};
use crate::sampler::BagSpec;

pub use oob::OobError;

/// Trains a forest on the current rayon pool.
pub fn train(data: &TrainingSet<'_>, params: &ForestParams) -> Result<Forest> {
    train_with_progress(data, params, &|_| {})
}

/// [`train`], calling `progress(trees_done)` after each finished tree (from worker threads).
pub fn train_with_progress(
    data: &TrainingSet<'_>,
    params: &ForestParams,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Forest> {
    params.validate_for(data.task())?;
    let done = AtomicUsize::new(0);
    let trees = (0..params.num_trees)
        .into_par_iter()
        .map(|i| {
            let t = grow_tree(data, params, i, &LocalReducer);
            progress(done.fetch_add(1, Ordering::Relaxed) + 1);
            t
        })
        .collect::<Result<Vec<_>>>()?;
    Forest::from_trees(data.task(), params, data.binned().n_features(), trees)
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
    pub fn from_trees(task: Task, params: &ForestParams, num_features: usize, trees: Vec<Tree>) -> Result<Self> {
        params.validate_for(task)?;
        let bag = BagSpec { subsampling_rate: params.subsampling_rate, bootstrap: params.bootstrap };
        Self::assemble(task, num_features, params.seed, bag, params.thresholds.clone(), trees)
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
            + self.flat.iter().map(FlatTree::heap_bytes).sum::<usize>()
            + self.quant.as_ref().map_or(0, QuantForest::heap_bytes)
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

    /// Stable little-endian encoding (see [`crate::codec`] for the layout).
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes [`Forest::to_bytes`]; corrupt or truncated input is an error, never a panic.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        codec::decode(bytes)
    }
}
