//! Checked conversions between prost messages and the tree engine's types. Incoming messages
//! are checked field by field before the engine sees them, and every error names the field
//! by its path from the message being decoded.

use crate::error::{Error, Result};
use crate::pb;
use reelforest_tree::{BinEdges, BinMapper, Forest, ForestParams, MaxBins, Node, Split, Task, Tree};

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

/// The `kind` of a random forest's [`pb::EstimatorParams`].
pub(crate) const RANDOM_FOREST: &str = "random_forest";

pub(crate) fn params_to_pb(p: &ForestParams) -> pb::EstimatorParams {
    // The declared type serializes to plain JSON values: this cannot fail.
    let json = serde_json::to_string(p).unwrap_or_default();
    pb::EstimatorParams { kind: RANDOM_FOREST.to_string(), json }
}

/// Decodes forest parameters with their own type (its checks apply); `prefix` is their path
/// (`tasks[0].params`) and errors name the key under it (`tasks[0].params.maxBins`).
pub(crate) fn params_from_pb(msg: pb::EstimatorParams, prefix: &str) -> Result<ForestParams> {
    if msg.kind != RANDOM_FOREST {
        return Err(Error::field(path(prefix, "kind"), format!("{:?}, expected {RANDOM_FOREST:?}", msg.kind)));
    }
    let de = &mut serde_json::Deserializer::from_str(&msg.json);
    let p: ForestParams = serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        // `.`: the error is about the whole object; `?`: the JSON broke off before a key.
        let at = if key == "." || key.ends_with('?') { path(prefix, "json") } else { path(prefix, &key) };
        let e = e.into_inner();
        let text = e.to_string();
        let position = format!(" at line {} column {}", e.line(), e.column());
        Error::field(at, text.strip_suffix(&position).unwrap_or(&text))
    })?;
    p.validate().map_err(|e| Error::tree(prefix, e))?;
    Ok(p)
}

pub(crate) fn bins_to_pb(b: &BinMapper) -> pb::BinEdgesSet {
    pb::BinEdgesSet {
        max_bins: u32::from(u16::from(b.max_bins())),
        features: b
            .edges()
            .iter()
            .map(|e| pb::BinEdges { thresholds: e.thresholds.clone(), has_missing: e.has_missing })
            .collect(),
    }
}

/// Checks and converts bin edges; `prefix` is their path (`tasks[0].bins`).
pub(crate) fn bins_from_pb(msg: pb::BinEdgesSet, prefix: &str) -> Result<BinMapper> {
    let max_bins = MaxBins::new(i64::from(msg.max_bins)).map_err(|e| Error::tree(path(prefix, "max_bins"), e))?;
    for (f, e) in msg.features.iter().enumerate() {
        let at = path(prefix, &format!("features[{f}].thresholds"));
        if let Some(i) = e.thresholds.iter().position(|t| t.is_nan()) {
            return Err(Error::field(at, format!("value {i} is NaN")));
        }
        if let Some(i) = e.thresholds.windows(2).position(|w| w[0] >= w[1]) {
            return Err(Error::field(at, format!("not strictly increasing at value {}", i + 1)));
        }
        let bins = e.thresholds.len() + 1 + usize::from(e.has_missing);
        if bins > max_bins.get() {
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
pub(crate) fn forest_from_pb(msg: pb::Forest, task: Task, params: &ForestParams, prefix: &str) -> Result<Forest> {
    if u32::try_from(msg.trees.len()).ok() != Some(params.num_trees) {
        return Err(Error::field(
            path(prefix, "trees"),
            format!("{} trees, the parameters say numTrees = {}", msg.trees.len(), params.num_trees),
        ));
    }
    let k = task.num_classes();
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
    Forest::from_trees(task, params, nf as usize, trees).map_err(|e| Error::tree(prefix, e))
}
