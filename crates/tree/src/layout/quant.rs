//! [`QuantForest`]: the forest on ranks. Every feature value is replaced by its rank among the
//! forest's thresholds on that feature (`x <= cut[j]` iff `rank(x) <= j`), so a walk compares
//! bytes (8-byte [`QNode`]s, missing values handled by one add) and a block of rows plus a tree
//! fit in L1. Trees that are not too deep are also laid out as a [`HeapTree`] (see
//! [`super::heap`]), which batch prediction walks instead.

use super::flat::{FlatTree, MISSING_RIGHT};
use super::heap::{HeapTree, Walks};
use super::{BLOCK, GROUP, TOP_CHUNK};
use crate::model::vec_bytes;

/// Rank code of a missing value in a [`QuantForest`] block.
pub(crate) const QMISSING: u8 = u8::MAX;

/// A node of a [`QuantTree`]: 8 bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct QNode {
    pub(super) left: u32,
    pub(super) feature: u16,
    /// Rank threshold, shifted by `bias`: a rank `q` goes right iff `q + bias > thr` in
    /// wrapping `u8` arithmetic (255 for leaves, so they stay put).
    pub(super) thr: u8,
    /// 1 if missing values go left, else 0. Ranks of present values are at most 254, so adding
    /// 1 to them and to `thr` keeps every comparison, while a missing rank ([`QMISSING`], 255)
    /// wraps to 0 and goes left: the missing-value rule costs one add, no branch or mask.
    pub(super) bias: u8,
}

/// Trees walked together for one row by [`QuantForest::walk_paths`].
pub(crate) const PATH_LANES: usize = 8;

#[derive(Debug, Clone)]
struct QuantTree {
    /// Flat nodes padded with self-looping leaves to a power-of-two length, so `id & mask`
    /// is always in bounds (and the compiler drops the bounds check).
    nodes: Vec<QNode>,
    mask: usize,
    depth: usize,
    /// The same tree in heap order, for batch prediction (trees of depth at most
    /// [`HEAP_MAX_DEPTH`](super::heap::HEAP_MAX_DEPTH)).
    heap: Option<HeapTree>,
}

/// The forest with every feature value replaced by its rank among the forest's thresholds on
/// that feature (`x <= cut[j]` iff `rank(x) <= j`), so traversal compares bytes and a block of
/// rows plus a tree fit in L1. Same node layout (and leaf ids) as the [`FlatTree`]s. Only built
/// when each feature has at most 254 distinct thresholds (always true for forests trained here).
#[derive(Debug, Clone)]
pub(crate) struct QuantForest {
    /// Per feature: the sorted distinct thresholds.
    cuts: Vec<Vec<f64>>,
    trees: Vec<QuantTree>,
    /// Features with a split that sends missing values left (their column `nf + f` of a
    /// ranked row is read by [`HeapTree`]s).
    missing_left: Vec<usize>,
    /// Columns of a ranked row read by the top levels of some [`HeapTree`], in the order
    /// [`QuantForest::complete_block`] lays them out column-major.
    top_columns: Vec<u16>,
}

impl QuantForest {
    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        let heap = |t: &QuantTree| {
            t.heap.as_ref().map_or(0, |h| vec_bytes(&h.nodes) + vec_bytes(&h.leaf_flat) + vec_bytes(&h.leaf_values))
        };
        self.cuts.iter().map(vec_bytes).sum::<usize>()
            + self.trees.iter().map(|t| vec_bytes(&t.nodes) + heap(t)).sum::<usize>()
            + vec_bytes(&self.missing_left)
            + vec_bytes(&self.top_columns)
    }

    /// Number of columns [`QuantForest::complete_block`] copies column-major.
    pub(crate) fn num_top_columns(&self) -> usize {
        self.top_columns.len()
    }

    /// Bytes per ranked row for `nf` features: a power of two holding both rank columns of
    /// every feature (see [`QuantForest::complete_block`]), at least 256: a row index masked
    /// with `S - 1 = 255` is the low byte of a column, so the walk loads it with one `movzx`
    /// and needs no separate bounds mask (13% faster batch prediction on ml-100k u1 than
    /// 128-byte rows, at 64 KiB of block per thread).
    pub(crate) fn row_bytes(nf: usize) -> usize {
        (2 * nf).next_power_of_two().max(256)
    }

    /// Completes ranked rows whose ranks of feature `f` are at index `f` (missing:
    /// [`QMISSING`]) with the column [`HeapTree`]s read for splits sending missing values
    /// left: index `nf + f`, the same rank with missing as 0 (`0 > thr` never holds). Then
    /// copies the block's [`QuantForest::top_columns`] column-major into `cols` ([`BLOCK`]
    /// bytes per column, so `BLOCK / TOP_CHUNK` chunks each) for [`HeapTree::descend_top`].
    #[inline]
    pub(crate) fn complete_block<const S: usize>(&self, block: &mut [[u8; S]], cols: &mut [[u8; TOP_CHUNK]]) {
        let nf = self.cuts.len();
        for row in block.iter_mut() {
            for &f in &self.missing_left {
                let q = row[f];
                row[(nf + f) & (S - 1)] = if q == QMISSING { 0 } else { q };
            }
        }
        for (out, &c) in cols.as_flattened_mut().chunks_exact_mut(BLOCK).zip(&self.top_columns) {
            let c = usize::from(c) & (S - 1);
            for (o, row) in out.iter_mut().zip(block.iter()) {
                *o = row[c];
            }
        }
    }

    /// Adds the leaf values (`width` each) that tree `t` gives a block of ranked rows
    /// (completed by [`QuantForest::complete_block`]) to `acc` (`width` per row). `flat` is
    /// the same tree's [`FlatTree`], used when the tree has no heap layout.
    #[inline]
    pub(crate) fn accumulate_block<const S: usize>(
        &self,
        t: usize,
        flat: &FlatTree,
        block: &[[u8; S]],
        cols: &[[u8; TOP_CHUNK]],
        acc: &mut [f64],
        width: usize,
    ) {
        let Some(h) = &self.trees[t].heap else {
            let mut cur = vec![0u32; block.len()];
            self.descend_block::<S>(t, block, &mut cur);
            for (a, &c) in acc.chunks_exact_mut(width).zip(&cur) {
                a.iter_mut().zip(flat.values(c)).for_each(|(a, v)| *a += *v);
            }
            return;
        };
        let mut top = [0u8; BLOCK];
        let walks = Walks::new(h, block, cols, &mut top);
        let Walks { groups, tgroups, rest, trest } = walks;
        let (agroups, arest) = acc.split_at_mut(groups.len() * GROUP * width);
        match width {
            1 => return Self::accumulate_fixed::<S, 1>(h, walks, agroups, arest),
            2 => return Self::accumulate_fixed::<S, 2>(h, walks, agroups, arest),
            _ => {}
        }
        let add = |a: &mut [f64], j: usize| {
            a.iter_mut().zip(&h.leaf_values[j * width..(j + 1) * width]).for_each(|(a, v)| *a += *v);
        };
        for ((rows, t), a) in groups.iter().zip(tgroups).zip(agroups.chunks_exact_mut(GROUP * width)) {
            let j = h.descend_group::<S>(rows, t);
            for (k, a) in a.chunks_exact_mut(width).enumerate() {
                add(a, j[k]);
            }
        }
        for ((row, &t), a) in rest.iter().zip(trest).zip(arest.chunks_exact_mut(width)) {
            add(a, h.descend_one::<S>(row, t));
        }
    }

    /// [`QuantForest::accumulate_block`]'s heap walk for `W` values per leaf known at compile
    /// time (regression: `W = 1`, binary classification: `W = 2`), so the per-row adds are
    /// straight-line code.
    #[inline(always)]
    fn accumulate_fixed<const S: usize, const W: usize>(
        h: &HeapTree,
        walks: Walks<'_, S>,
        agroups: &mut [f64],
        arest: &mut [f64],
    ) {
        let Walks { groups, tgroups, rest, trest } = walks;
        let (vals, _) = h.leaf_values.as_chunks::<W>();
        for ((rows, t), a) in groups.iter().zip(tgroups).zip(agroups.as_chunks_mut::<W>().0.chunks_exact_mut(GROUP)) {
            let j = h.descend_group::<S>(rows, t);
            for k in 0..GROUP {
                let v = &vals[j[k]];
                for w in 0..W {
                    a[k][w] += v[w];
                }
            }
        }
        for ((row, &t), a) in rest.iter().zip(trest).zip(arest.as_chunks_mut::<W>().0) {
            let v = &vals[h.descend_one::<S>(row, t)];
            for w in 0..W {
                a[w] += v[w];
            }
        }
    }

    /// Flat leaf ids of a block of ranked rows (completed) in tree `t`, through the heap
    /// layout when the tree has one.
    #[inline]
    pub(crate) fn leaves_block<const S: usize>(
        &self,
        t: usize,
        block: &[[u8; S]],
        cols: &[[u8; TOP_CHUNK]],
        cur: &mut [u32],
    ) {
        let Some(h) = &self.trees[t].heap else {
            return self.descend_block::<S>(t, block, cur);
        };
        let mut top = [0u8; BLOCK];
        let Walks { groups, tgroups, rest, trest } = Walks::new(h, block, cols, &mut top);
        let (cgroups, crest) = cur.as_chunks_mut::<GROUP>();
        for ((rows, t), cg) in groups.iter().zip(tgroups).zip(cgroups.iter_mut()) {
            let j = h.descend_group::<S>(rows, t);
            *cg = j.map(|j| h.leaf_flat[j]);
        }
        for ((row, &t), c) in rest.iter().zip(trest).zip(crest.iter_mut()) {
            *c = h.leaf_flat[h.descend_one::<S>(row, t)];
        }
    }

    pub(crate) fn new(flat: &[FlatTree], num_features: usize) -> Option<Self> {
        if num_features > usize::from(u16::MAX) {
            return None;
        }
        let internal = |t: &FlatTree, i: usize| t.nodes[i].left as usize != i;
        let mut cuts = vec![Vec::new(); num_features];
        for t in flat {
            for (i, n) in t.nodes.iter().enumerate() {
                if internal(t, i) {
                    cuts[(n.feature & !MISSING_RIGHT) as usize].push(n.threshold);
                }
            }
        }
        for c in &mut cuts {
            c.sort_unstable_by(f64::total_cmp);
            c.dedup();
            if c.len() > usize::from(QMISSING) - 1 {
                return None;
            }
        }
        let mut trees: Vec<QuantTree> = flat
            .iter()
            .map(|t| {
                let mut nodes: Vec<QNode> = t
                    .nodes
                    .iter()
                    .enumerate()
                    .map(|(i, n)| {
                        if internal(t, i) {
                            let f = (n.feature & !MISSING_RIGHT) as usize;
                            // At most 253: the threshold is one of at most 254 cuts.
                            let thr = cuts[f].partition_point(|c| *c < n.threshold) as u8;
                            let bias = u8::from(n.feature & MISSING_RIGHT == 0);
                            QNode { left: n.left, feature: f as u16, thr: thr + bias, bias }
                        } else {
                            QNode { left: i as u32, feature: 0, thr: QMISSING, bias: 0 }
                        }
                    })
                    .collect();
                let len = nodes.len().next_power_of_two();
                while nodes.len() < len {
                    nodes.push(QNode { left: nodes.len() as u32, feature: 0, thr: QMISSING, bias: 0 });
                }
                let heap = HeapTree::new(t, &nodes, num_features);
                QuantTree { nodes, mask: len - 1, depth: t.depth, heap }
            })
            .collect();
        let mut missing_left = vec![false; num_features];
        for t in &trees {
            for n in &t.nodes {
                if n.bias == 1 {
                    missing_left[usize::from(n.feature)] = true;
                }
            }
        }
        let missing_left = (0..num_features).filter(|&f| missing_left[f]).collect();
        // The columns the top levels read, each given a slot of the column-major block; a
        // leaf's slot (threshold 255: every row goes left) reads whichever column is first.
        let mut top_columns: Vec<u16> = Vec::new();
        for t in &mut trees {
            let Some(h) = t.heap.as_mut() else { continue };
            h.top = h.nodes[..1 << h.top_levels]
                .iter()
                .map(|n| {
                    if n.thr == u8::MAX {
                        return (0, n.thr);
                    }
                    let slot = top_columns.iter().position(|&c| c == n.column).unwrap_or_else(|| {
                        top_columns.push(n.column);
                        top_columns.len() - 1
                    });
                    (slot as u16, n.thr)
                })
                .collect();
        }
        if top_columns.is_empty() {
            top_columns.push(0);
        }
        Some(QuantForest { cuts, trees, missing_left, top_columns })
    }

    /// Rank of a raw value of feature `f`: the number of the feature's thresholds below `x`
    /// ([`QMISSING`] for `NaN`); `partition_point` compiles to a branch-free search.
    #[inline]
    pub(crate) fn rank(&self, f: usize, x: f64) -> u8 {
        if x.is_nan() {
            return QMISSING;
        }
        self.cuts[f].partition_point(|c| *c < x) as u8
    }

    /// Walks ranked row `ranks` down trees `first..first + paths.len()` together (at most
    /// [`PATH_LANES`]), appending every split taken to that tree's path as `(parent, child,
    /// feature)` in flat ids. A single row's walk is a chain of dependent loads; walking several
    /// trees in lockstep lets their cache misses overlap.
    #[inline]
    pub(crate) fn walk_paths(&self, first: usize, ranks: &[u8], paths: &mut [Vec<(u32, u32, u32)>]) {
        let lanes = paths.len().min(PATH_LANES);
        let trees = &self.trees[first..first + lanes];
        let depth = trees.iter().map(|t| t.depth).max().unwrap_or(0);
        let mut cur = [0u32; PATH_LANES];
        for _ in 0..depth {
            for (k, (tree, path)) in trees.iter().zip(paths.iter_mut()).enumerate() {
                let c = cur[k];
                let n = tree.nodes[c as usize & tree.mask];
                if n.left == c {
                    continue; // a leaf (leaves point to themselves)
                }
                let q = ranks.get(usize::from(n.feature)).copied().unwrap_or(QMISSING);
                let right = q.wrapping_add(n.bias) > n.thr;
                let next = n.left + u32::from(right);
                path.push((c, next, u32::from(n.feature)));
                cur[k] = next;
            }
        }
    }

    /// Sends a block of ranked rows (row-major, `S` bytes per row, `S` a power of two no
    /// smaller than the feature count) down tree `t`; `cur[r]` ends as the flat leaf id of
    /// row `r`. Missing values take the same path as present ones (see [`QNode::bias`]).
    #[inline]
    pub(crate) fn descend_block<const S: usize>(&self, t: usize, block: &[[u8; S]], cur: &mut [u32]) {
        let tree = &self.trees[t];
        let nodes = &tree.nodes[..];
        let mask = tree.mask;
        assert!(mask < nodes.len() && S.is_power_of_two());
        let step = |c: u32, row: &[u8; S]| -> u32 {
            let n = nodes[c as usize & mask];
            let q = row[usize::from(n.feature) & (S - 1)];
            let right = q.wrapping_add(n.bias) > n.thr;
            n.left + u32::from(right)
        };
        let (groups, rest) = block.as_chunks::<GROUP>();
        let (cgroups, crest) = cur.as_chunks_mut::<GROUP>();
        for (rows, cg) in groups.iter().zip(cgroups.iter_mut()) {
            let mut c = [0u32; GROUP];
            for _ in 0..tree.depth {
                for k in 0..GROUP {
                    c[k] = step(c[k], &rows[k]);
                }
            }
            *cg = c;
        }
        for (row, c) in rest.iter().zip(crest.iter_mut()) {
            let mut x = 0u32;
            for _ in 0..tree.depth {
                x = step(x, row);
            }
            *c = x;
        }
    }
}
