//! [`FlatTree`]: a tree re-laid out breadth-first with siblings adjacent, leaves looping to
//! themselves and thresholds of leaves at `+inf`, so prediction is a fixed number of branch-free
//! steps (`next = left + (x > threshold)`) on raw `f64` rows, run over a block of rows at once.
//! It also keeps every node's values (for sums and the path decomposition) and original index.

use crate::model::{Tree, vec_bytes};

/// Bit of [`FlatNode::feature`] telling that missing values go right.
pub(super) const MISSING_RIGHT: u32 = 1 << 31;

/// A node of a [`FlatTree`]: 16 bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct FlatNode {
    pub(super) threshold: f64,
    /// Feature index; the high bit says missing values go right.
    pub(super) feature: u32,
    /// Left child; the right child is `left + 1`. Leaves point to themselves.
    pub(super) left: u32,
}

/// A tree laid out for batch prediction (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct FlatTree {
    pub(super) nodes: Vec<FlatNode>,
    pub(super) depth: usize,
    /// Original node index of every flat node.
    orig: Vec<u32>,
    /// Per flat node, internal ones included: `width` values (regression: the prediction;
    /// classification: the normalized class distribution). Internal values serve the path
    /// decomposition ([`crate::Forest::explain_row`]).
    values: Vec<f64>,
    pub(super) width: usize,
}

impl FlatTree {
    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        vec_bytes(&self.nodes) + vec_bytes(&self.orig) + vec_bytes(&self.values)
    }

    pub(crate) fn new(tree: &Tree) -> Self {
        let width = (tree.num_classes() as usize).max(1);
        let n = tree.nodes().len();
        let mut nodes = Vec::with_capacity(n);
        let mut orig = Vec::with_capacity(n);
        let mut values = vec![0.0; n * width];
        let mut queue = std::collections::VecDeque::new();
        queue.push_back(0u32);
        nodes.push(FlatNode { threshold: f64::INFINITY, feature: 0, left: 0 });
        orig.push(0);
        let mut next = 0usize; // flat id of the node being processed
        while let Some(o) = queue.pop_front() {
            let node = &tree.nodes()[o as usize];
            let id = next;
            next += 1;
            let v = &mut values[id * width..(id + 1) * width];
            if tree.num_classes() == 0 {
                v[0] = node.prediction;
            } else {
                let total: f64 = node.class_weights.iter().sum();
                for (d, c) in v.iter_mut().zip(&node.class_weights) {
                    *d = if total > 0.0 { c / total } else { 0.0 };
                }
            }
            match &node.split {
                Some(s) => {
                    let left = nodes.len() as u32;
                    nodes.push(FlatNode { threshold: f64::INFINITY, feature: 0, left });
                    nodes.push(FlatNode { threshold: f64::INFINITY, feature: 0, left: left + 1 });
                    orig.push(s.left);
                    orig.push(s.right);
                    queue.push_back(s.left);
                    queue.push_back(s.right);
                    nodes[id] = FlatNode {
                        threshold: s.threshold,
                        feature: s.feature | if s.missing_left { 0 } else { MISSING_RIGHT },
                        left,
                    };
                }
                None => {
                    nodes[id] = FlatNode { threshold: f64::INFINITY, feature: 0, left: id as u32 };
                }
            }
        }
        FlatTree { nodes, depth: tree.depth(), orig, values, width }
    }

    /// Sends a block of `cur.len()` rows (row-major, `nf` features each) down the tree; on
    /// return `cur[r]` is the flat leaf id of row `r`.
    #[inline]
    pub(crate) fn descend_block(&self, block: &[f64], nf: usize, cur: &mut [u32]) {
        cur.iter_mut().for_each(|c| *c = 0);
        let nodes = &self.nodes[..];
        for _ in 0..self.depth {
            for (r, c) in cur.iter_mut().enumerate() {
                let n = nodes[*c as usize];
                let x = block[r * nf + (n.feature & !MISSING_RIGHT) as usize];
                let right = (x > n.threshold) | (x.is_nan() & (n.feature & MISSING_RIGHT != 0));
                *c = n.left + u32::from(right);
            }
        }
    }

    /// Walks raw row `row` from the root to its leaf, calling `visit(parent, child, feature)`
    /// for every split taken (flat ids); returns the flat leaf id.
    #[inline]
    pub(crate) fn walk_path(&self, row: &[f64], mut visit: impl FnMut(u32, u32, usize)) -> u32 {
        let mut c = 0u32;
        loop {
            let n = self.nodes[c as usize];
            if n.left == c {
                return c;
            }
            let f = (n.feature & !MISSING_RIGHT) as usize;
            let x = row.get(f).copied().unwrap_or(f64::NAN);
            let right = (x > n.threshold) | (x.is_nan() & (n.feature & MISSING_RIGHT != 0));
            let next = n.left + u32::from(right);
            visit(c, next, f);
            c = next;
        }
    }

    /// Values per node (`width` entries each, flat order).
    #[inline]
    pub(crate) fn all_values(&self) -> &[f64] {
        &self.values
    }

    /// Values per output (`width`).
    #[inline]
    pub(crate) fn width(&self) -> usize {
        self.width
    }

    /// Values (width entries) of flat node `id`.
    #[inline]
    pub(crate) fn values(&self, id: u32) -> &[f64] {
        let i = id as usize * self.width;
        &self.values[i..i + self.width]
    }

    /// Original node index of flat node `id`.
    #[inline]
    pub(crate) fn orig(&self, id: u32) -> u32 {
        self.orig[id as usize]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::tests::stump;

    #[test]
    fn flat_matches_pointer_walk() {
        let t = stump();
        let f = FlatTree::new(&t);
        let rows = [[9.0, 0.2], [9.0, 0.7], [9.0, f64::NAN], [9.0, 0.5]];
        let block: Vec<f64> = rows.iter().flatten().copied().collect();
        let mut cur = vec![0u32; 4];
        f.descend_block(&block, 2, &mut cur);
        for (r, row) in rows.iter().enumerate() {
            assert_eq!(f.orig(cur[r]) as usize, t.leaf_index(row));
        }
        assert_eq!(f.values(cur[2])[0], 2.0);
        assert_eq!(t.depth(), 1);
    }
}
