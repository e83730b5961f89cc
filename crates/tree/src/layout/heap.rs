//! [`HeapTree`]: a ranked tree laid out as a complete binary tree of its depth, so a walk step
//! loads no child index and adds no missing-value bias; its first levels are walked for a whole
//! block of rows at once with byte-wide vector compares ([`HeapTree::descend_top`]), the rest row
//! by row, [`GROUP`] rows together ([`Walks`]).

use super::flat::FlatTree;
use super::quant::QNode;
use super::{BLOCK, GROUP, TOP_CHUNK};

/// Top levels of a [`HeapTree`] walked for a whole block at once by
/// [`HeapTree::descend_top`], before the per-row walk takes over. A level of `2^l` nodes costs
/// that many byte-wide vector compares per [`TOP_CHUNK`] rows, against one 8-instruction
/// scalar step per row: cheaper for the first few levels only.
const TOP_LEVELS: usize = 4;

/// Trees at most this deep also get a [`HeapTree`] (2^(depth+1) slots of 4 bytes: 32 KiB at
/// depth 12); deeper ones are walked through their [`QNode`]s only.
pub(super) const HEAP_MAX_DEPTH: usize = 12;

/// A slot of a [`HeapTree`]: 4 bytes, no child index (the children of slot `i` are `2i + 1`
/// and `2i + 2`).
#[derive(Debug, Clone, Copy)]
pub(super) struct HNode {
    /// Column of the ranked row: the feature `f` when missing values go right (a missing
    /// rank is [`QMISSING`](super::quant::QMISSING)), `nf + f` when they go left (the column
    /// where a missing rank is 0, see
    /// [`QuantForest::complete_block`](super::QuantForest::complete_block)).
    pub(super) column: u16,
    /// A row goes right iff its rank is above this; 255 for leaves, so they always go left.
    pub(super) thr: u8,
}

/// A tree laid out as a complete binary tree of its depth `D`: a leaf above the last level
/// sends every row left down a chain of dummy slots, so every row takes exactly `D` steps of
/// `d = 2d + (rank > thr)` (1-based slots) and ends on slot `2^D + j`, leaf `j` of the last level.
/// Against [`QNode`]s a step loads no child index and adds no missing-value bias: fewer
/// instructions per step in the walk that dominates batch prediction.
#[derive(Debug, Clone)]
pub(super) struct HeapTree {
    /// The `2^(depth+1) - 1` slots, 1-based (`nodes[0]` is unused): the children of slot `d`
    /// are `2d` and `2d + 1`, the last level is `2^depth..2^(depth+1)`, and the length is a
    /// power of two so `d & (len - 1)` is always in bounds.
    pub(super) nodes: Vec<HNode>,
    depth: usize,
    /// Flat id of the leaf behind last-level slot `j`.
    pub(super) leaf_flat: Vec<u32>,
    /// The [`FlatTree`] values (`width` each) of that leaf, so sums need no second lookup.
    pub(super) leaf_values: Vec<f64>,
    /// Levels walked by [`HeapTree::descend_top`]: `min(depth, TOP_LEVELS)`.
    pub(super) top_levels: usize,
    /// Slots `0..2^top_levels` (1-based like `nodes`; slot 0 unused) as (slot of the column in
    /// the column-major block, see
    /// [`QuantForest::top_columns`](super::QuantForest::top_columns), threshold).
    pub(super) top: Vec<(u16, u8)>,
}

impl HeapTree {
    pub(super) fn new(t: &FlatTree, qnodes: &[QNode], nf: usize) -> Option<Self> {
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
    /// [`QuantForest::top_columns`](super::QuantForest::top_columns)), for rows `0..n`
    /// rounded up to [`TOP_CHUNK`] (the rows past `n` get garbage). Per level, every node of the level compares its column with its
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
    pub(super) fn descend_group<const S: usize>(&self, rows: &[[u8; S]; GROUP], top: &[u8; GROUP]) -> [usize; GROUP] {
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
    pub(super) fn descend_one<const S: usize>(&self, row: &[u8; S], top: u8) -> usize {
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
pub(super) struct Walks<'a, const S: usize> {
    pub(super) groups: &'a [[[u8; S]; GROUP]],
    pub(super) tgroups: &'a [[u8; GROUP]],
    pub(super) rest: &'a [[u8; S]],
    pub(super) trest: &'a [u8],
}

impl<'a, const S: usize> Walks<'a, S> {
    /// Runs `h`'s top walk over `block` (its top columns in `cols`) into `top`, then splits
    /// the rows and their slots into groups and the rest.
    #[inline(always)]
    pub(super) fn new(h: &HeapTree, block: &'a [[u8; S]], cols: &[[u8; TOP_CHUNK]], top: &'a mut [u8; BLOCK]) -> Self {
        h.descend_top(cols, block.len(), top);
        let top: &'a [u8; BLOCK] = top;
        let (groups, rest) = block.as_chunks::<GROUP>();
        let (tgroups, trest) = top[..block.len()].as_chunks::<GROUP>();
        Walks { groups, tgroups, rest, trest }
    }
}
