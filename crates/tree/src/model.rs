//! Trained trees: plain, public node structs (their bytes are [`crate::codec`]'s).
//!
//! A [`Tree`] is a vector of [`Node`]s, root first; an internal node carries a [`Split`] with the
//! raw-value threshold (`x <= threshold` goes left, missing values follow
//! [`Split::missing_left`]) and the indices of its children. Every node keeps Spark's impurity
//! statistics (bag count, weight, impurity, prediction, class weights), so
//! `featureImportances`, probabilities and the debug dump need nothing else.
//!
//! The arrays a tree is re-laid into for fast prediction are in the crate-private `layout`
//! module; the forest's batch walk over them is in [`crate::forest`].

use std::fmt::Write as _;

use crate::error::{Error, Result};

/// The split of an internal node.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// Feature index.
    pub feature: u32,
    /// Raw threshold: `x <= threshold` goes left.
    pub threshold: f64,
    /// The same split in bins of the training [`crate::BinnedMatrix`]: value bins `<= bin` go
    /// left (used for out-of-bag evaluation on the binned training data).
    pub bin: u16,
    /// Whether missing values (`NaN`) go left.
    pub missing_left: bool,
    /// Information gain of the split.
    pub gain: f64,
    /// Index of the left child in [`Tree::nodes`].
    pub left: u32,
    /// Index of the right child in [`Tree::nodes`].
    pub right: u32,
}

/// A node and its impurity statistics (Spark's `ImpurityStats`).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The split, or `None` for a leaf.
    pub split: Option<Split>,
    /// Impurity of the node's training rows.
    pub impurity: f64,
    /// Number of training rows counted with their bag counts (Spark's raw count).
    pub count: f64,
    /// Total weight (row weight × bag count).
    pub weight: f64,
    /// Prediction: mean label (regression) or the heaviest class (classification).
    pub prediction: f64,
    /// Weight per class (classification); empty for regression.
    pub class_weights: Vec<f64>,
}

impl Node {
    /// Whether the node is a leaf.
    pub fn is_leaf(&self) -> bool {
        self.split.is_none()
    }
}

/// One decision tree of a forest.
#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    tree_index: u32,
    num_classes: u32,
    nodes: Vec<Node>,
}

/// Heap bytes of a vector's buffer.
pub(crate) fn vec_bytes<T>(v: &Vec<T>) -> usize {
    v.capacity() * std::mem::size_of::<T>()
}

impl Tree {
    /// Heap bytes held by the nodes (class weights included).
    pub fn heap_bytes(&self) -> usize {
        vec_bytes(&self.nodes) + self.nodes.iter().map(|n| vec_bytes(&n.class_weights)).sum::<usize>()
    }

    /// Assembles a tree, checking its structure: the root is node 0, children come after their
    /// parent, every node but the root has exactly one parent, class weights have
    /// `num_classes` entries (0 for regression).
    pub fn new(tree_index: u32, num_classes: u32, nodes: Vec<Node>) -> Result<Self> {
        let bad = |reason: String| Error::InconsistentTree { tree_index, reason };
        if nodes.is_empty() {
            return Err(bad("no nodes".into()));
        }
        if nodes.len() > u32::MAX as usize / 2 {
            return Err(bad("too many nodes".into()));
        }
        let mut parents = vec![0u8; nodes.len()];
        for (i, n) in nodes.iter().enumerate() {
            if n.class_weights.len() != num_classes as usize {
                return Err(bad(format!(
                    "node {i} has {} class weights, expected {num_classes}",
                    n.class_weights.len()
                )));
            }
            if let Some(s) = &n.split {
                for c in [s.left, s.right] {
                    let c = c as usize;
                    if c <= i || c >= nodes.len() {
                        return Err(bad(format!("node {i} has child {c} out of order")));
                    }
                    parents[c] += 1;
                    if parents[c] > 1 {
                        return Err(bad(format!("node {c} has two parents")));
                    }
                }
                if s.threshold.is_nan() {
                    return Err(bad(format!("node {i} has a NaN threshold")));
                }
            }
        }
        if let Some(orphan) = parents.iter().skip(1).position(|p| *p == 0) {
            return Err(bad(format!("node {} is unreachable", orphan + 1)));
        }
        Ok(Tree { tree_index, num_classes, nodes })
    }

    /// The tree's index in its forest (its seed derives from it).
    pub fn tree_index(&self) -> u32 {
        self.tree_index
    }

    /// Number of classes (0 for regression).
    pub fn num_classes(&self) -> u32 {
        self.num_classes
    }

    /// Nodes, root first.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Number of nodes.
    pub fn num_nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Depth (a single leaf has depth 0).
    pub fn depth(&self) -> usize {
        let mut depth = vec![0usize; self.nodes.len()];
        let mut max = 0;
        for (i, n) in self.nodes.iter().enumerate() {
            if let Some(s) = &n.split {
                let d = depth[i] + 1;
                depth[s.left as usize] = d;
                depth[s.right as usize] = d;
                max = max.max(d);
            }
        }
        max
    }

    /// Index of the leaf reached by a raw row (features beyond the row's end count as missing).
    pub fn leaf_index(&self, row: &[f64]) -> usize {
        let mut i = 0;
        while let Some(s) = &self.nodes[i].split {
            let x = row.get(s.feature as usize).copied().unwrap_or(f64::NAN);
            let left = if x.is_nan() { s.missing_left } else { x <= s.threshold };
            i = if left { s.left } else { s.right } as usize;
        }
        i
    }

    /// Spark's per-tree importances: Σ gain × weight per feature, normalized to sum 1 (all
    /// zero for a single leaf).
    pub fn feature_importances(&self, num_features: usize) -> Vec<f64> {
        let mut imp = vec![0.0; num_features];
        for n in &self.nodes {
            if let Some(s) = &n.split
                && let Some(v) = imp.get_mut(s.feature as usize)
            {
                *v += s.gain * n.weight;
            }
        }
        let total: f64 = imp.iter().sum();
        if total > 0.0 {
            imp.iter_mut().for_each(|v| *v /= total);
        }
        imp
    }

    /// Appends a Spark-`toDebugString`-like dump of the tree, indented by `indent` spaces.
    pub fn write_debug(&self, out: &mut String, indent: usize) {
        self.write_node(out, 0, indent);
    }

    fn write_node(&self, out: &mut String, i: usize, indent: usize) {
        let n = &self.nodes[i];
        let pad = " ".repeat(indent);
        match &n.split {
            None => {
                let _ = writeln!(out, "{pad}Predict: {}", n.prediction);
            }
            Some(s) => {
                let (ml, mr) = if s.missing_left { (" or missing", "") } else { ("", " or missing") };
                let _ = writeln!(out, "{pad}If (feature {} <= {}{ml})", s.feature, s.threshold);
                self.write_node(out, s.left as usize, indent + 1);
                let _ = writeln!(out, "{pad}Else (feature {} > {}{mr})", s.feature, s.threshold);
                self.write_node(out, s.right as usize, indent + 1);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    fn leaf(p: f64) -> Node {
        Node { split: None, impurity: 0.0, count: 1.0, weight: 1.0, prediction: p, class_weights: vec![] }
    }

    /// A regression stump on feature 1 (`<= 0.5` left, missing values right): leaves 1 and 2.
    pub(crate) fn stump() -> Tree {
        let root = Node {
            split: Some(Split {
                feature: 1,
                threshold: 0.5,
                bin: 0,
                missing_left: false,
                gain: 2.0,
                left: 1,
                right: 2,
            }),
            ..leaf(0.0)
        };
        Tree::new(0, 0, vec![root, leaf(1.0), leaf(2.0)]).unwrap()
    }

    #[test]
    fn structure_is_checked() {
        let mut nodes = stump().nodes().to_vec();
        if let Some(s) = nodes[0].split.as_mut() {
            s.right = 1;
        }
        assert!(Tree::new(0, 0, nodes).is_err());
        assert!(Tree::new(0, 2, stump().nodes().to_vec()).is_err());
    }

    #[test]
    fn debug_dump_and_importance() {
        let t = stump();
        let mut s = String::new();
        t.write_debug(&mut s, 2);
        assert_eq!(s, "  If (feature 1 <= 0.5)\n   Predict: 1\n  Else (feature 1 > 0.5 or missing)\n   Predict: 2\n");
        assert_eq!(t.feature_importances(3), vec![0.0, 1.0, 0.0]);
    }
}
