//! The layouts a trained [`Tree`](crate::Tree) is re-laid into for prediction, and their walks.
//!
//! [`crate::model`] holds the plain trees; the forest ([`crate::forest`]) builds these arrays
//! from them once and drives them over blocks of rows. Every layout gives a leaf the same id
//! (its flat id), so the walks can be mixed tree by tree.
//!
//! * `flat`: [`FlatTree`], the tree breadth-first with siblings adjacent, leaves looping to
//!   themselves and thresholds of leaves at `+inf`, so prediction is a fixed number of
//!   branch-free steps (`next = left + (x > threshold)`) on raw `f64` rows, run over a block of
//!   rows at once. Every forest has it; it also holds the values of every node.
//! * `quant`: [`QuantForest`], the whole forest on ranks: every feature value is replaced by its
//!   rank among the forest's thresholds on that feature, so a walk compares bytes (8-byte nodes)
//!   and a block of rows plus a tree fit in L1.
//! * `heap`: a ranked tree of a [`QuantForest`] laid out as a complete binary tree (4-byte
//!   slots, no child index), whose first levels are walked for a whole block with vector
//!   compares.

mod flat;
mod heap;
mod quant;

pub(crate) use flat::FlatTree;
pub(crate) use quant::{PATH_LANES, QuantForest};

/// Rows of a ranked block walked together by [`QuantForest::descend_block`]: their cursors
/// stay in registers and their independent walks hide each other's load latency.
const GROUP: usize = 8;

/// Rows per prediction block (the block's ranks stay in L1/L2 while every tree walks it).
pub(crate) const BLOCK: usize = 256;

/// Rows the top walk handles together (four SSE2 registers of byte lanes; 64 measured a little
/// faster than 32).
pub(crate) const TOP_CHUNK: usize = 64;
