//! Checked conversions between prost messages and the tree engine's types. Incoming messages
//! are checked field by field before the engine sees them, and every error names the field
//! by its path from the message being decoded.

use crate::error::{Error, Result};
use crate::pb;
use reelforest_tree::{
    BinEdges, BinMapper, FeatureSubsetStrategy, Forest, ForestParams, Impurity, Node, Split, Task, Tree,
};

/// `prefix.rest`, or `rest` at the top level.
pub(crate) fn path(prefix: &str, rest: &str) -> String {
    if prefix.is_empty() { rest.to_string() } else { format!("{prefix}.{rest}") }
}

pub(crate) fn tree_to_pb(tree: &Tree) -> pb::Tree {
    pb::Tree {
        tree_index: tree.tree_index(),
        num_classes: tree.num_classes(),
        nodes: tree
            .nodes()
            .iter()
            .map(|n| pb::Node {
                split: n.split.as_ref().map(|s| pb::Split {
                    feature: s.feature,
                    threshold: s.threshold,
                    bin: u32::from(s.bin),
                    missing_left: s.missing_left,
                    gain: s.gain,
                    left: s.left,
                    right: s.right,
                }),
                impurity: n.impurity,
                count: n.count,
                weight: n.weight,
                prediction: n.prediction,
                class_weights: n.class_weights.clone(),
            })
            .collect(),
    }
}

/// Checks and converts a tree; `prefix` is the tree's path (`tasks[0].forest.trees[3]`).
pub(crate) fn tree_from_pb(msg: pb::Tree, prefix: &str) -> Result<Tree> {
    let n_nodes = msg.nodes.len();
    if n_nodes == 0 {
        return Err(Error::field(path(prefix, "nodes"), "empty (a tree has at least a root)"));
    }
    let k = msg.num_classes as usize;
    if k == 1 {
        return Err(Error::field(path(prefix, "num_classes"), "1 (0 for regression, >= 2 for classification)"));
    }
    let mut nodes = Vec::with_capacity(n_nodes);
    for (i, n) in msg.nodes.into_iter().enumerate() {
        let at = |f: &str| path(prefix, &format!("nodes[{i}].{f}"));
        for (name, v) in
            [("prediction", n.prediction), ("count", n.count), ("weight", n.weight), ("impurity", n.impurity)]
        {
            if !v.is_finite() {
                return Err(Error::field(at(name), format!("{v} is not finite")));
            }
        }
        if n.class_weights.len() != k {
            return Err(Error::field(
                at("class_weights"),
                format!("{} values, the tree has {k} classes", n.class_weights.len()),
            ));
        }
        if let Some(c) = n.class_weights.iter().find(|c| !(c.is_finite() && **c >= 0.0)) {
            return Err(Error::field(at("class_weights"), format!("{c} is not a finite weight >= 0")));
        }
        let split = match n.split {
            None => None,
            Some(s) => {
                for (name, c) in [("left", s.left), ("right", s.right)] {
                    if c as usize >= n_nodes {
                        return Err(Error::field(
                            at(&format!("split.{name}")),
                            format!("{c} out of range (tree has {n_nodes} nodes)"),
                        ));
                    }
                    if c as usize <= i {
                        return Err(Error::field(
                            at(&format!("split.{name}")),
                            format!("{c} does not come after its parent {i}"),
                        ));
                    }
                }
                if s.left == s.right {
                    return Err(Error::field(at("split.right"), format!("{} equals split.left", s.right)));
                }
                if s.threshold.is_nan() {
                    return Err(Error::field(at("split.threshold"), "NaN"));
                }
                if !s.gain.is_finite() {
                    return Err(Error::field(at("split.gain"), format!("{} is not finite", s.gain)));
                }
                let bin = u16::try_from(s.bin)
                    .map_err(|_| Error::field(at("split.bin"), format!("{} out of range (at most 65535)", s.bin)))?;
                Some(Split {
                    feature: s.feature,
                    threshold: s.threshold,
                    bin,
                    missing_left: s.missing_left,
                    gain: s.gain,
                    left: s.left,
                    right: s.right,
                })
            }
        };
        nodes.push(Node {
            split,
            impurity: n.impurity,
            count: n.count,
            weight: n.weight,
            prediction: n.prediction,
            class_weights: n.class_weights,
        });
    }
    Tree::new(msg.tree_index, msg.num_classes, nodes).map_err(|e| Error::tree(path(prefix, "nodes"), e))
}

pub(crate) fn params_to_pb(p: &ForestParams) -> pb::ForestParams {
    use pb::feature_subset_strategy::Strategy;
    let named = |n: pb::NamedStrategy| Strategy::Named(n as i32);
    let strategy = match p.feature_subset_strategy {
        FeatureSubsetStrategy::Auto => named(pb::NamedStrategy::Auto),
        FeatureSubsetStrategy::All => named(pb::NamedStrategy::All),
        FeatureSubsetStrategy::OneThird => named(pb::NamedStrategy::Onethird),
        FeatureSubsetStrategy::Sqrt => named(pb::NamedStrategy::Sqrt),
        FeatureSubsetStrategy::Log2 => named(pb::NamedStrategy::Log2),
        FeatureSubsetStrategy::Fraction(f) => Strategy::Fraction(f),
        FeatureSubsetStrategy::Count(n) => Strategy::Count(n as u64),
    };
    pb::ForestParams {
        num_classes: p.task.num_classes(),
        num_trees: u32::try_from(p.num_trees).unwrap_or(u32::MAX),
        max_depth: p.max_depth,
        max_bins: u32::try_from(p.max_bins).unwrap_or(u32::MAX),
        min_instances_per_node: p.min_instances_per_node as u64,
        min_info_gain: p.min_info_gain,
        min_weight_fraction_per_node: p.min_weight_fraction_per_node,
        subsampling_rate: p.subsampling_rate,
        bootstrap: p.bootstrap,
        feature_subset_strategy: Some(pb::FeatureSubsetStrategy { strategy: Some(strategy) }),
        impurity: match p.impurity {
            Impurity::Variance => pb::Impurity::Variance,
            Impurity::Gini => pb::Impurity::Gini,
            Impurity::Entropy => pb::Impurity::Entropy,
        } as i32,
        seed: p.seed,
        thresholds: p.thresholds.clone().unwrap_or_default(),
    }
}

/// Checks and converts forest parameters; `prefix` is their path (`tasks[0].params`).
pub(crate) fn params_from_pb(msg: pb::ForestParams, prefix: &str) -> Result<ForestParams> {
    use pb::feature_subset_strategy::Strategy;
    let at = |f: &str| path(prefix, f);
    let task = match msg.num_classes {
        0 => Task::Regression,
        1 => return Err(Error::field(at("num_classes"), "1 (0 for regression, >= 2 for classification)")),
        k => Task::Classification { num_classes: k },
    };
    let strategy = match msg.feature_subset_strategy.and_then(|s| s.strategy) {
        None => return Err(Error::missing(at("feature_subset_strategy"))),
        Some(Strategy::Named(n)) => match pb::NamedStrategy::try_from(n) {
            Ok(pb::NamedStrategy::Auto) => FeatureSubsetStrategy::Auto,
            Ok(pb::NamedStrategy::All) => FeatureSubsetStrategy::All,
            Ok(pb::NamedStrategy::Onethird) => FeatureSubsetStrategy::OneThird,
            Ok(pb::NamedStrategy::Sqrt) => FeatureSubsetStrategy::Sqrt,
            Ok(pb::NamedStrategy::Log2) => FeatureSubsetStrategy::Log2,
            Ok(pb::NamedStrategy::Unspecified) | Err(_) => {
                return Err(Error::field(at("feature_subset_strategy.named"), format!("unknown value {n}")));
            }
        },
        Some(Strategy::Fraction(f)) => FeatureSubsetStrategy::Fraction(f),
        Some(Strategy::Count(c)) => FeatureSubsetStrategy::Count(
            usize::try_from(c)
                .map_err(|_| Error::field(at("feature_subset_strategy.count"), format!("{c} too large")))?,
        ),
    };
    let impurity = match pb::Impurity::try_from(msg.impurity) {
        Ok(pb::Impurity::Variance) => Impurity::Variance,
        Ok(pb::Impurity::Gini) => Impurity::Gini,
        Ok(pb::Impurity::Entropy) => Impurity::Entropy,
        Ok(pb::Impurity::Unspecified) | Err(_) => {
            return Err(Error::field(at("impurity"), format!("unknown value {}", msg.impurity)));
        }
    };
    let p = ForestParams {
        task,
        num_trees: msg.num_trees as usize,
        max_depth: msg.max_depth,
        max_bins: msg.max_bins as usize,
        min_instances_per_node: usize::try_from(msg.min_instances_per_node).map_err(|_| {
            Error::field(at("min_instances_per_node"), format!("{} too large", msg.min_instances_per_node))
        })?,
        min_info_gain: msg.min_info_gain,
        min_weight_fraction_per_node: msg.min_weight_fraction_per_node,
        subsampling_rate: msg.subsampling_rate,
        bootstrap: msg.bootstrap,
        feature_subset_strategy: strategy,
        impurity,
        seed: msg.seed,
        thresholds: (!msg.thresholds.is_empty()).then_some(msg.thresholds),
    };
    p.validate().map_err(|e| Error::tree(prefix, e))?;
    Ok(p)
}

pub(crate) fn bins_to_pb(b: &BinMapper) -> pb::BinEdgesSet {
    pb::BinEdgesSet {
        max_bins: u32::try_from(b.max_bins()).unwrap_or(u32::MAX),
        features: b
            .edges()
            .iter()
            .map(|e| pb::BinEdges { thresholds: e.thresholds.clone(), has_missing: e.has_missing })
            .collect(),
    }
}

/// Checks and converts bin edges; `prefix` is their path (`tasks[0].bins`).
pub(crate) fn bins_from_pb(msg: pb::BinEdgesSet, prefix: &str) -> Result<BinMapper> {
    let max_bins = msg.max_bins as usize;
    for (f, e) in msg.features.iter().enumerate() {
        let at = path(prefix, &format!("features[{f}].thresholds"));
        if let Some(i) = e.thresholds.iter().position(|t| t.is_nan()) {
            return Err(Error::field(at, format!("value {i} is NaN")));
        }
        if let Some(i) = e.thresholds.windows(2).position(|w| w[0] >= w[1]) {
            return Err(Error::field(at, format!("not strictly increasing at value {}", i + 1)));
        }
        let bins = e.thresholds.len() + 1 + usize::from(e.has_missing);
        if bins > max_bins {
            return Err(Error::field(at, format!("{bins} bins exceed max_bins {max_bins}")));
        }
    }
    let edges =
        msg.features.into_iter().map(|e| BinEdges { thresholds: e.thresholds, has_missing: e.has_missing }).collect();
    BinMapper::from_edges(edges, max_bins).map_err(|e| Error::tree(prefix, e))
}

pub(crate) fn forest_to_pb(f: &Forest) -> pb::Forest {
    pb::Forest {
        num_features: u32::try_from(f.num_features()).unwrap_or(u32::MAX),
        trees: f.trees().iter().map(tree_to_pb).collect(),
    }
}

/// Checks and converts a forest trained with `params`; `prefix` is its path
/// (`tasks[0].forest`).
pub(crate) fn forest_from_pb(msg: pb::Forest, params: &ForestParams, prefix: &str) -> Result<Forest> {
    if msg.trees.len() != params.num_trees {
        return Err(Error::field(
            path(prefix, "trees"),
            format!("{} trees, the parameters say numTrees = {}", msg.trees.len(), params.num_trees),
        ));
    }
    let k = params.task.num_classes();
    let nf = msg.num_features;
    let mut trees = Vec::with_capacity(msg.trees.len());
    for (i, t) in msg.trees.into_iter().enumerate() {
        let at = path(prefix, &format!("trees[{i}]"));
        if t.num_classes != k {
            return Err(Error::field(format!("{at}.num_classes"), format!("{}, the forest has {k}", t.num_classes)));
        }
        if let Some((j, s)) =
            t.nodes.iter().enumerate().find_map(|(j, n)| n.split.as_ref().filter(|s| s.feature >= nf).map(|s| (j, s)))
        {
            return Err(Error::field(
                format!("{at}.nodes[{j}].split.feature"),
                format!("{} out of range (the forest has {nf} features)", s.feature),
            ));
        }
        trees.push(tree_from_pb(t, &at)?);
    }
    Forest::from_trees(params, nf as usize, trees).map_err(|e| Error::tree(prefix, e))
}
