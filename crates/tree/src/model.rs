//! Trained trees: plain, public node structs (easy to map to protobuf) and the flat arrays used
//! for fast batch prediction.
//!
//! A [`Tree`] is a vector of [`Node`]s, root first; an internal node carries a [`Split`] with the
//! raw-value threshold (`x <= threshold` goes left, missing values follow
//! [`Split::missing_left`]) and the indices of its children. Every node keeps Spark's impurity
//! statistics (bag count, weight, impurity, prediction, class weights), so
//! `featureImportances`, probabilities and the debug dump need nothing else.
//!
//! [`FlatTree`] re-lays a tree out breadth-first with siblings adjacent, leaves looping to
//! themselves and thresholds of leaves at `+inf`, so prediction is a fixed number of branch-free
//! steps (`next = left + (x > threshold)`) run over a block of rows at once.

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

/// Bit of [`FlatNode::feature`] telling that missing values go right.
const MISSING_RIGHT: u32 = 1 << 31;

/// A node of a [`FlatTree`]: 16 bytes.
#[derive(Debug, Clone, Copy)]
struct FlatNode {
    threshold: f64,
    /// Feature index; the high bit says missing values go right.
    feature: u32,
    /// Left child; the right child is `left + 1`. Leaves point to themselves.
    left: u32,
}

/// A tree laid out for batch prediction (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct FlatTree {
    nodes: Vec<FlatNode>,
    depth: usize,
    /// Original node index of every flat node.
    orig: Vec<u32>,
    /// Per flat node, internal ones included: `width` values (regression: the prediction;
    /// classification: the normalized class distribution). Internal values serve the path
    /// decomposition ([`crate::Forest::explain_row`]).
    values: Vec<f64>,
    width: usize,
}

impl FlatTree {
    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        vec_bytes(&self.nodes) + vec_bytes(&self.orig) + vec_bytes(&self.values)
    }

    pub(crate) fn new(tree: &Tree) -> Self {
        let width = (tree.num_classes as usize).max(1);
        let n = tree.nodes.len();
        let mut nodes = Vec::with_capacity(n);
        let mut orig = Vec::with_capacity(n);
        let mut values = vec![0.0; n * width];
        let mut queue = std::collections::VecDeque::new();
        queue.push_back(0u32);
        nodes.push(FlatNode { threshold: f64::INFINITY, feature: 0, left: 0 });
        orig.push(0);
        let mut next = 0usize; // flat id of the node being processed
        while let Some(o) = queue.pop_front() {
            let node = &tree.nodes[o as usize];
            let id = next;
            next += 1;
            let v = &mut values[id * width..(id + 1) * width];
            if tree.num_classes == 0 {
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

/// Rank code of a missing value in a [`QuantForest`] block.
pub(crate) const QMISSING: u8 = u8::MAX;

/// A node of a [`QuantTree`]: 8 bytes.
#[derive(Debug, Clone, Copy)]
struct QNode {
    left: u32,
    feature: u16,
    /// Rank threshold, shifted by `bias`: a rank `q` goes right iff `q + bias > thr` in
    /// wrapping `u8` arithmetic (255 for leaves, so they stay put).
    thr: u8,
    /// 1 if missing values go left, else 0. Ranks of present values are at most 254, so adding
    /// 1 to them and to `thr` keeps every comparison, while a missing rank ([`QMISSING`], 255)
    /// wraps to 0 and goes left: the missing-value rule costs one add, no branch or mask.
    bias: u8,
}

/// Trees walked together for one row by [`QuantForest::walk_paths`].
pub(crate) const PATH_LANES: usize = 8;

/// Rows of a ranked block walked together by [`QuantForest::descend_block`]: their cursors
/// stay in registers and their independent walks hide each other's load latency.
const GROUP: usize = 8;

/// Rows per prediction block (the block's ranks stay in L1/L2 while every tree walks it).
pub(crate) const BLOCK: usize = 256;

/// Top levels of a [`HeapTree`] walked for a whole block at once by
/// [`HeapTree::descend_top`], before the per-row walk takes over. A level of `2^l` nodes costs
/// that many byte-wide vector compares per [`TOP_CHUNK`] rows, against one 8-instruction
/// scalar step per row: cheaper for the first few levels only.
const TOP_LEVELS: usize = 4;

/// Rows the top walk handles together (four SSE2 registers of byte lanes; 64 measured a little
/// faster than 32).
pub(crate) const TOP_CHUNK: usize = 64;

#[derive(Debug, Clone)]
struct QuantTree {
    /// Flat nodes padded with self-looping leaves to a power-of-two length, so `id & mask`
    /// is always in bounds (and the compiler drops the bounds check).
    nodes: Vec<QNode>,
    mask: usize,
    depth: usize,
    /// The same tree in heap order, for batch prediction (trees of depth at most
    /// [`HEAP_MAX_DEPTH`]).
    heap: Option<HeapTree>,
}

/// Trees at most this deep also get a [`HeapTree`] (2^(depth+1) slots of 4 bytes: 32 KiB at
/// depth 12); deeper ones are walked through their [`QNode`]s only.
const HEAP_MAX_DEPTH: usize = 12;

/// A slot of a [`HeapTree`]: 4 bytes, no child index (the children of slot `i` are `2i + 1`
/// and `2i + 2`).
#[derive(Debug, Clone, Copy)]
struct HNode {
    /// Column of the ranked row: the feature `f` when missing values go right (a missing
    /// rank is [`QMISSING`]), `nf + f` when they go left (the column where a missing rank is
    /// 0, see [`QuantForest::complete_block`]).
    column: u16,
    /// A row goes right iff its rank is above this; 255 for leaves, so they always go left.
    thr: u8,
}

/// A tree laid out as a complete binary tree of its depth `D`: a leaf above the last level
/// sends every row left down a chain of dummy slots, so every row takes exactly `D` steps of
/// `d = 2d + (rank > thr)` (1-based slots) and ends on slot `2^D + j`, leaf `j` of the last level.
/// Against [`QNode`]s a step loads no child index and adds no missing-value bias: fewer
/// instructions per step in the walk that dominates batch prediction.
#[derive(Debug, Clone)]
struct HeapTree {
    /// The `2^(depth+1) - 1` slots, 1-based (`nodes[0]` is unused): the children of slot `d`
    /// are `2d` and `2d + 1`, the last level is `2^depth..2^(depth+1)`, and the length is a
    /// power of two so `d & (len - 1)` is always in bounds.
    nodes: Vec<HNode>,
    depth: usize,
    /// Flat id of the leaf behind last-level slot `j`.
    leaf_flat: Vec<u32>,
    /// The [`FlatTree`] values (`width` each) of that leaf, so sums need no second lookup.
    leaf_values: Vec<f64>,
    /// Levels walked by [`HeapTree::descend_top`]: `min(depth, TOP_LEVELS)`.
    top_levels: usize,
    /// Slots `0..2^top_levels` (1-based like `nodes`; slot 0 unused) as (slot of the column in
    /// the column-major block, see
    /// [`QuantForest::top_columns`], threshold).
    top: Vec<(u16, u8)>,
}

impl HeapTree {
    fn new(t: &FlatTree, qnodes: &[QNode], nf: usize) -> Option<Self> {
        let depth = t.depth;
        if depth > HEAP_MAX_DEPTH {
            return None;
        }
        let width = t.width;
        let leaf = HNode { column: 0, thr: u8::MAX };
        let mut nodes = vec![leaf; 1 << (depth + 1)];
        let first_leaf = 1usize << depth;
        let mut leaf_flat = vec![0u32; 1 << depth];
        let mut leaf_values = vec![0.0; (1 << depth) * width];
        // (slot, flat id): flat ids of real nodes, following dummy chains below early leaves.
        let mut stack = vec![(1usize, 0u32)];
        while let Some((slot, id)) = stack.pop() {
            if slot >= first_leaf {
                let j = slot - first_leaf;
                leaf_flat[j] = id;
                leaf_values[j * width..(j + 1) * width].copy_from_slice(t.values(id));
                continue;
            }
            let n = t.nodes[id as usize];
            if n.left == id {
                stack.push((2 * slot, id)); // a leaf: every row goes left
            } else {
                let q = qnodes[id as usize];
                let f = usize::from(q.feature);
                // `q.thr` carries the missing-left bias; the heap slot takes the plain rank.
                let (column, thr) = if q.bias == 1 { (nf + f, q.thr - 1) } else { (f, q.thr) };
                nodes[slot] = HNode { column: u16::try_from(column).ok()?, thr };
                stack.push((2 * slot, n.left));
                stack.push((2 * slot + 1, n.left + 1));
            }
        }
        let top_levels = depth.min(TOP_LEVELS);
        Some(HeapTree { nodes, depth, leaf_flat, leaf_values, top_levels, top: Vec::new() })
    }

    /// Heap slot reached after [`HeapTree::top_levels`] levels by each row of a block, from
    /// its column-major ranks `cols` ([`BLOCK`] bytes per column of
    /// [`QuantForest::top_columns`]), for rows `0..n` rounded up to [`TOP_CHUNK`] (the rows
    /// past `n` get garbage). Per level, every node of the level compares its column with its
    /// threshold for all rows of a chunk, and a row keeps the outcome of the node it is at:
    /// straight-line byte arithmetic the compiler turns into vector compares.
    #[inline]
    fn descend_top(&self, cols: &[[u8; TOP_CHUNK]], n: usize, top: &mut [u8; BLOCK]) {
        const CHUNKS: usize = BLOCK / TOP_CHUNK;
        let (out, _) = top.as_chunks_mut::<TOP_CHUNK>();
        for (ci, out) in out.iter_mut().enumerate().take(n.div_ceil(TOP_CHUNK)) {
            let mut c = [1u8; TOP_CHUNK];
            for level in 0..self.top_levels {
                let first = 1usize << level;
                let mut right = [0u8; TOP_CHUNK];
                for (i, &(col, thr)) in self.top[first..2 * first].iter().enumerate() {
                    let id = (first + i) as u8;
                    let x = &cols[usize::from(col) * CHUNKS + ci];
                    // Byte masks (0 or 0xFF), as the vector compares produce them.
                    for r in 0..TOP_CHUNK {
                        right[r] |= u8::from(c[r] == id).wrapping_neg() & u8::from(x[r] > thr).wrapping_neg();
                    }
                }
                for r in 0..TOP_CHUNK {
                    c[r] = (2 * c[r]).wrapping_sub(right[r]);
                }
            }
            *out = c;
        }
    }

    /// Last-level slot reached by each row of a `GROUP` of rows, from the slots `top` that
    /// [`HeapTree::descend_top`] left them at.
    #[inline(always)]
    fn descend_group<const S: usize>(&self, rows: &[[u8; S]; GROUP], top: &[u8; GROUP]) -> [usize; GROUP] {
        let nodes = &self.nodes[..];
        let mask = nodes.len() - 1;
        let mut d = top.map(usize::from);
        for _ in self.top_levels..self.depth {
            for k in 0..GROUP {
                let n = nodes[d[k] & mask];
                let q = rows[k][usize::from(n.column) & (S - 1)];
                d[k] = 2 * d[k] + usize::from(q > n.thr);
            }
        }
        let first = 1usize << self.depth;
        d.map(|x| x - first)
    }

    /// [`HeapTree::descend_group`] for one row.
    #[inline(always)]
    fn descend_one<const S: usize>(&self, row: &[u8; S], top: u8) -> usize {
        let nodes = &self.nodes[..];
        let mask = nodes.len() - 1;
        let mut d = usize::from(top);
        for _ in self.top_levels..self.depth {
            let n = nodes[d & mask];
            d = 2 * d + usize::from(row[usize::from(n.column) & (S - 1)] > n.thr);
        }
        d - (1usize << self.depth)
    }
}

/// A block of ranked rows split into [`GROUP`]s and the rest, with the slots
/// [`HeapTree::descend_top`] left each row at.
#[derive(Debug, Clone, Copy)]
struct Walks<'a, const S: usize> {
    groups: &'a [[[u8; S]; GROUP]],
    tgroups: &'a [[u8; GROUP]],
    rest: &'a [[u8; S]],
    trest: &'a [u8],
}

impl<'a, const S: usize> Walks<'a, S> {
    /// Runs `h`'s top walk over `block` (its top columns in `cols`) into `top`, then splits
    /// the rows and their slots into groups and the rest.
    #[inline(always)]
    fn new(h: &HeapTree, block: &'a [[u8; S]], cols: &[[u8; TOP_CHUNK]], top: &'a mut [u8; BLOCK]) -> Self {
        h.descend_top(cols, block.len(), top);
        let top: &'a [u8; BLOCK] = top;
        let (groups, rest) = block.as_chunks::<GROUP>();
        let (tgroups, trest) = top[..block.len()].as_chunks::<GROUP>();
        Walks { groups, tgroups, rest, trest }
    }
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn leaf(p: f64) -> Node {
        Node { split: None, impurity: 0.0, count: 1.0, weight: 1.0, prediction: p, class_weights: vec![] }
    }

    fn stump() -> Tree {
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
