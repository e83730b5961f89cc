//! Grows one tree (LightGBM's `serial_tree_learner.cpp` habit: this file only coordinates
//! [`crate::histogram`], [`crate::split`] and [`crate::partition`]).
//!
//! Growth is depth-first from the root; a node's children get adjacent ids when it splits, so
//! the node order depends only on the data. For each split the smaller child's histogram is
//! built from its rows and the larger child's is the parent's minus it, feature by feature where
//! the parent has the feature; features the parent did not sample are built directly.
//! Children that cannot split (depth, size, purity) get no histogram at all.
//!
//! [`grow_tree`] is the one entry point, called by the embedded [`crate::forest::train`] and by
//! a cluster worker alike, on a [`TrainingSet`] checked once: the tree depends only on the data,
//! the parameters and the tree index.

use crate::binning::BinnedMatrix;
use crate::error::{Error, Result};
use crate::histogram::{
    ClassificationStat, HistKind, HistLayout, Histogram, HistogramReducer, ReduceContext, RegressionStat, RowStat,
    UnweightedClassificationStat, UnweightedRegressionStat,
};
use crate::model::{Node, Split, Tree};
use crate::params::{ForestParams, Task};
use crate::partition::DataPartition;
use crate::sampler::{BagSampler, BagSpec, sample_features, tree_rng};
use crate::split::{Impurity, SplitConstraints, find_best_split};
use rand_chacha::ChaCha8Rng;

/// What trees are grown from: binned features, labels and optional row weights for one task,
/// checked once (lengths, finite labels, class indices, weights) however many trees follow.
#[derive(Debug, Clone, Copy)]
pub struct TrainingSet<'a> {
    binned: &'a BinnedMatrix,
    labels: &'a [f64],
    weights: Option<&'a [f64]>,
    task: Task,
}

impl<'a> TrainingSet<'a> {
    /// Checks labels and weights against the binned matrix and the task.
    pub fn new(binned: &'a BinnedMatrix, labels: &'a [f64], weights: Option<&'a [f64]>, task: Task) -> Result<Self> {
        if labels.len() != binned.n_rows() {
            return Err(Error::LengthMismatch {
                what: "labels".into(),
                expected: binned.n_rows(),
                actual: labels.len(),
            });
        }
        let k = task.num_classes();
        for (row, &value) in labels.iter().enumerate() {
            if !value.is_finite() {
                return Err(Error::InvalidLabel { row, value, reason: "labels must be finite" });
            }
            if k > 0 && (value < 0.0 || value.fract() != 0.0 || value >= f64::from(k)) {
                return Err(Error::InvalidLabel {
                    row,
                    value,
                    reason: "class labels must be integers in 0..numClasses",
                });
            }
        }
        if let Some(w) = weights {
            if w.len() != binned.n_rows() {
                return Err(Error::LengthMismatch {
                    what: "weights".into(),
                    expected: binned.n_rows(),
                    actual: w.len(),
                });
            }
            if let Some((row, &value)) = w.iter().enumerate().find(|(_, v)| !(v.is_finite() && **v >= 0.0)) {
                return Err(Error::InvalidWeight { row, value });
            }
            if w.iter().sum::<f64>() <= 0.0 {
                return Err(Error::ZeroTotalWeight);
            }
        }
        Ok(TrainingSet { binned, labels, weights, task })
    }

    /// The binned features.
    pub fn binned(&self) -> &'a BinnedMatrix {
        self.binned
    }

    /// The labels (class indices for classification).
    pub fn labels(&self) -> &'a [f64] {
        self.labels
    }

    /// Row weights, if any.
    pub fn weights(&self) -> Option<&'a [f64]> {
        self.weights
    }

    /// Regression or classification.
    pub fn task(&self) -> Task {
        self.task
    }
}

/// Grows tree `tree_index` of the forest described by `params`: the one way a tree is grown,
/// by the embedded [`crate::forest::train`], by a cluster worker (with
/// [`crate::histogram::LocalReducer`]) and by a data-parallel learner (with its own reducer).
pub fn grow_tree(
    data: &TrainingSet<'_>,
    params: &ForestParams,
    tree_index: u32,
    reducer: &dyn HistogramReducer,
) -> Result<Tree> {
    params.validate_for(data.task)?;
    let TrainingSet { binned, labels, weights, task } = *data;
    let mut rng = tree_rng(params.seed, tree_index);
    let bag = BagSampler::new(BagSpec { subsampling_rate: params.subsampling_rate, bootstrap: params.bootstrap });
    let total_weight: f64 = weights.map_or(labels.len() as f64, |w| w.iter().sum());
    let cfg = Config {
        impurity: params.impurity_for(task)?,
        max_depth: params.max_depth,
        constraints: SplitConstraints {
            min_instances: f64::from(params.min_instances_per_node),
            min_weight: params.min_weight_fraction_per_node * total_weight,
            min_info_gain: params.min_info_gain,
        },
        features_per_node: params.features_per_node(binned.n_features(), task),
        tree_index,
    };
    let weight_of = |i: usize| weights.map_or(1.0, |w| w[i]);
    // In-bag rows (count > 0, weight > 0), ascending, and every row's bag count (at most 64,
    // see `BagSampler`); statistics are formed from them and the labels when a histogram is
    // built, so nothing per row is copied. (Capacity is reserved for every row: pages past the
    // in-bag count are never touched.)
    let mut rows = Vec::with_capacity(labels.len());
    let mut counts = vec![0u8; labels.len()];
    // 64 rows at a time: draws into `counts` and a mask of the in-bag rows, then the mask's
    // bits become ids (whether a row is in the bag is a coin flip a branch would mispredict).
    for (chunk_index, chunk) in counts.chunks_mut(64).enumerate() {
        let base = chunk_index * 64;
        let mut mask = 0u64;
        for (j, count) in chunk.iter_mut().enumerate() {
            let c = bag.draw(&mut rng);
            let keep = c > 0 && weight_of(base + j) > 0.0;
            *count = if keep { c as u8 } else { 0 };
            mask |= u64::from(keep) << j;
        }
        while mask != 0 {
            rows.push((base + mask.trailing_zeros() as usize) as u32);
            mask &= mask - 1;
        }
    }
    let nf = binned.n_features();
    let count = |r: u32| f64::from(counts[r as usize]);
    let class_leaf = |t: &[f64]| {
        let cw = t[1..].to_vec();
        (argmax(&cw) as f64, cw)
    };
    let nodes = match (task, weights) {
        (Task::Regression, None) => grow(
            binned,
            &cfg,
            DataPartition::new(rows, nf),
            (HistKind::Regression, 2, 4),
            reducer,
            &mut rng,
            |r| UnweightedRegressionStat { count: count(r), label: labels[r as usize] },
            regression_leaf,
        )?,
        (Task::Regression, Some(w)) => grow(
            binned,
            &cfg,
            DataPartition::new(rows, nf),
            (HistKind::Full, 4, 4),
            reducer,
            &mut rng,
            |r| {
                let (c, w, y) = (count(r), w[r as usize], labels[r as usize]);
                RegressionStat([c, c * w, c * w * y, c * w * y * y])
            },
            regression_leaf,
        )?,
        (Task::Classification { num_classes }, None) => grow(
            binned,
            &cfg,
            DataPartition::new(rows, nf),
            (HistKind::Classes, num_classes as usize, 1 + num_classes as usize),
            reducer,
            &mut rng,
            |r| UnweightedClassificationStat { count: count(r), class: labels[r as usize] as u32 },
            class_leaf,
        )?,
        (Task::Classification { num_classes }, Some(_)) => grow(
            binned,
            &cfg,
            DataPartition::new(rows, nf),
            (HistKind::Full, 1 + num_classes as usize, 1 + num_classes as usize),
            reducer,
            &mut rng,
            |r| {
                let c = count(r);
                ClassificationStat { count: c, weight: c * weight_of(r as usize), class: labels[r as usize] as u32 }
            },
            class_leaf,
        )?,
    };
    Tree::new(tree_index, task.num_classes(), nodes)
}

/// Regression leaf value: the weighted mean label.
fn regression_leaf(t: &[f64]) -> (f64, Vec<f64>) {
    let w = t[1];
    (if w > 0.0 { t[2] / w } else { 0.0 }, Vec::new())
}

/// Index of the first maximum.
pub(crate) fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

struct Config {
    impurity: Impurity,
    max_depth: u32,
    constraints: SplitConstraints,
    features_per_node: usize,
    tree_index: u32,
}

impl Config {
    fn can_split(&self, totals: &[f64], depth: u32) -> bool {
        depth < self.max_depth
            && totals[0] >= 2.0 * self.constraints.min_instances
            && totals[0] >= 2.0
            && self.impurity.weight(totals) >= 2.0 * self.constraints.min_weight
            && self.impurity.impurity(totals) > 0.0
    }
}

/// A node waiting to be processed.
struct Work {
    node: u32,
    range: std::ops::Range<usize>,
    depth: u32,
    totals: Vec<f64>,
    features: Vec<u32>,
    hist: Option<Histogram>,
}

#[allow(clippy::too_many_arguments)]
fn grow<S: RowStat>(
    binned: &BinnedMatrix,
    cfg: &Config,
    mut part: DataPartition<S>,
    (kind, hist_width, totals_width): (HistKind, usize, usize),
    reducer: &dyn HistogramReducer,
    rng: &mut ChaCha8Rng,
    stat: impl Fn(u32) -> S,
    leaf_value: impl Fn(&[f64]) -> (f64, Vec<f64>),
) -> Result<Vec<Node>> {
    let layout = HistLayout::new(binned, hist_width);
    let edges = binned.mapper().edges();
    let nf = binned.n_features();
    let ctx = |node: u32| ReduceContext { tree_index: cfg.tree_index, node_id: node };
    let mut scratch = Vec::new();
    let mut pool: Vec<Histogram> = Vec::new();
    let take = |pool: &mut Vec<Histogram>| {
        let mut h = pool.pop().unwrap_or_else(|| Histogram::new(&layout));
        h.clear();
        h
    };

    let all = 0..part.len();
    let mut totals = vec![0.0; totals_width];
    for &r in part.root_rows() {
        stat(r).add_to_totals(&mut totals);
    }
    reducer.reduce_totals(ctx(0), &mut totals)?;
    let mut root = Work { node: 0, range: all, depth: 0, totals, features: Vec::new(), hist: None };
    if cfg.can_split(&root.totals, 0) {
        root.features = sample_features(rng, nf, cfg.features_per_node, &mut scratch);
        let mut h = take(&mut pool);
        part.build_histogram(&mut h, &layout, &root.features, binned, root.range.clone(), &stat);
        reducer.reduce_histogram(ctx(0), &layout, &root.features, &mut h)?;
        root.hist = Some(h);
    }

    let placeholder =
        Node { split: None, impurity: 0.0, count: 0.0, weight: 0.0, prediction: 0.0, class_weights: Vec::new() };
    let mut nodes = vec![placeholder.clone()];
    let mut stack = vec![root];
    while let Some(w) = stack.pop() {
        let (prediction, class_weights) = leaf_value(&w.totals);
        nodes[w.node as usize] = Node {
            split: None,
            impurity: cfg.impurity.impurity(&w.totals),
            count: w.totals[0],
            weight: cfg.impurity.weight(&w.totals),
            prediction,
            class_weights,
        };
        let Some(mut hist) = w.hist else { continue };
        let Some(mut best) =
            find_best_split(cfg.impurity, kind, &layout, &hist, edges, &w.features, &w.totals, &cfg.constraints)
        else {
            pool.push(hist);
            continue;
        };

        // Partition the node's rows.
        let f = best.feature as usize;
        let e = &edges[f];
        let mut go_left = [false; 256];
        for (b, g) in go_left.iter_mut().enumerate().take(e.num_value_bins()) {
            *g = b <= best.bin as usize;
        }
        if let Some(mb) = e.missing_bin() {
            go_left[mb as usize] = best.missing_left;
        }
        let (mid, mut extra) = part.split(binned, w.range.clone(), f, &go_left, &stat);
        if S::EXTRA {
            // Σc·y² of each child (not in the histogram, see `HistKind::Regression`).
            reducer.reduce_totals(ctx(w.node), &mut extra)?;
            best.left[3] = extra[0];
            best.right[3] = extra[1];
        }
        let left_range = w.range.start..mid;
        let right_range = mid..w.range.end;
        let left_id = nodes.len() as u32;
        nodes.push(placeholder.clone());
        nodes.push(placeholder.clone());
        nodes[w.node as usize].split = Some(Split {
            feature: best.feature,
            threshold: e.upper_bound(best.bin as usize),
            bin: best.bin,
            missing_left: best.missing_left,
            gain: best.gain,
            left: left_id,
            right: left_id + 1,
        });

        // Children: feature subsets, then histograms (smaller built, larger subtracted).
        let depth = w.depth + 1;
        let can_l = cfg.can_split(&best.left, depth);
        let can_r = cfg.can_split(&best.right, depth);
        let feats_l = if can_l { sample_features(rng, nf, cfg.features_per_node, &mut scratch) } else { Vec::new() };
        let feats_r = if can_r { sample_features(rng, nf, cfg.features_per_node, &mut scratch) } else { Vec::new() };
        let left_small = best.left[0] <= best.right[0];
        let (s_id, s_range, s_feats, can_s, l_id, l_range, l_feats, can_lg) = if left_small {
            (left_id, left_range.clone(), &feats_l, can_l, left_id + 1, right_range.clone(), &feats_r, can_r)
        } else {
            (left_id + 1, right_range.clone(), &feats_r, can_r, left_id, left_range.clone(), &feats_l, can_l)
        };
        let mut needed: Vec<u32> = if can_s { s_feats.clone() } else { Vec::new() };
        if can_lg {
            needed.extend(l_feats.iter().filter(|&&f| hist.has(f as usize)));
            needed.sort_unstable();
            needed.dedup();
        }
        let mut small_hist = None;
        if !needed.is_empty() {
            let mut sh = take(&mut pool);
            part.build_histogram(&mut sh, &layout, &needed, binned, s_range.clone(), &stat);
            reducer.reduce_histogram(ctx(s_id), &layout, &needed, &mut sh)?;
            small_hist = Some(sh);
        }
        let mut large_hist = None;
        if can_lg {
            let mut direct = Vec::new();
            for &f in l_feats {
                match &small_hist {
                    Some(sh) if hist.has(f as usize) => hist.subtract_from(&layout, sh, f as usize),
                    _ => direct.push(f),
                }
            }
            hist.set_present(l_feats);
            if !direct.is_empty() {
                part.build_histogram(&mut hist, &layout, &direct, binned, l_range.clone(), &stat);
                reducer.reduce_histogram(ctx(l_id), &layout, &direct, &mut hist)?;
            }
            large_hist = Some(hist);
        } else {
            pool.push(hist);
        }
        let small_hist = match small_hist {
            Some(mut sh) if can_s => {
                sh.set_present(s_feats);
                Some(sh)
            }
            Some(sh) => {
                pool.push(sh);
                None
            }
            None => None,
        };
        let (hist_l, hist_r) = if left_small { (small_hist, large_hist) } else { (large_hist, small_hist) };
        stack.push(Work {
            node: left_id + 1,
            range: right_range,
            depth,
            totals: best.right,
            features: feats_r,
            hist: hist_r,
        });
        stack.push(Work {
            node: left_id,
            range: left_range,
            depth,
            totals: best.left,
            features: feats_l,
            hist: hist_l,
        });
    }
    Ok(nodes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::histogram::LocalReducer;
    use crate::params::{FeatureSubsetStrategy, MaxBins};

    fn data() -> (BinnedMatrix, Vec<f64>) {
        let x0: Vec<f64> = (0..400).map(|i| f64::from(i % 20)).collect();
        let x1: Vec<f64> = (0..400).map(|i| f64::from((i * 7) % 13)).collect();
        let y: Vec<f64> = x0.iter().zip(&x1).map(|(a, b)| a + if *b > 6.0 { 10.0 } else { 0.0 }).collect();
        (BinnedMatrix::from_columns(&[x0, x1], MaxBins::DEFAULT, 1).unwrap(), y)
    }

    fn single_tree() -> ForestParams {
        ForestParams {
            num_trees: 1,
            bootstrap: false,
            max_depth: 30,
            feature_subset_strategy: FeatureSubsetStrategy::All,
            ..ForestParams::default()
        }
    }

    fn one_tree(m: &BinnedMatrix, y: &[f64], w: Option<&[f64]>, p: &ForestParams) -> Tree {
        grow_tree(&TrainingSet::new(m, y, w, Task::Regression).unwrap(), p, 0, &LocalReducer).unwrap()
    }

    #[test]
    fn depth_zero_is_a_single_leaf() {
        let (m, y) = data();
        let p = ForestParams { max_depth: 0, ..single_tree() };
        let t = one_tree(&m, &y, None, &p);
        assert_eq!(t.num_nodes(), 1);
        let mean = y.iter().sum::<f64>() / y.len() as f64;
        assert!((t.nodes()[0].prediction - mean).abs() < 1e-9);
        assert_eq!(t.nodes()[0].count, 400.0);
    }

    #[test]
    fn unrestricted_tree_fits_exactly() {
        let (m, y) = data();
        let t = one_tree(&m, &y, None, &single_tree());
        // 20 × 2 distinct (x0, x1>6) cells → 40 leaves, every one pure.
        let leaves: Vec<_> = t.nodes().iter().filter(|n| n.is_leaf()).collect();
        assert_eq!(leaves.len(), 40);
        assert!(leaves.iter().all(|l| l.impurity == 0.0));
        assert_eq!(t.num_nodes(), 79);
    }

    #[test]
    fn min_instances_and_min_info_gain_limit_growth() {
        let (m, y) = data();
        let p = ForestParams { min_instances_per_node: 150, ..single_tree() };
        let t = one_tree(&m, &y, None, &p);
        assert!(t.nodes().iter().filter(|n| n.is_leaf()).all(|n| n.count >= 150.0));
        let p = ForestParams { min_info_gain: 1e9, ..single_tree() };
        assert_eq!(one_tree(&m, &y, None, &p).num_nodes(), 1);
        let p = ForestParams { min_weight_fraction_per_node: 0.3, ..single_tree() };
        let t = one_tree(&m, &y, None, &p);
        assert!(t.nodes().iter().all(|n| n.weight >= 0.3 * 400.0));
    }

    #[test]
    fn zero_weights_and_bags_change_counts() {
        let (m, y) = data();
        let mut w = vec![1.0; 400];
        w[..100].iter_mut().for_each(|v| *v = 0.0);
        let p = ForestParams { max_depth: 0, ..single_tree() };
        let t = one_tree(&m, &y, Some(&w), &p);
        assert_eq!(t.nodes()[0].weight, 300.0);
        let p = ForestParams { max_depth: 0, bootstrap: true, ..single_tree() };
        let t = one_tree(&m, &y, None, &p);
        assert_ne!(t.nodes()[0].count, 400.0);
        assert_eq!(t.nodes()[0].count, t.nodes()[0].weight);
    }
}
