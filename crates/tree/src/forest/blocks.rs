//! The parallel block walk behind [`Forest`]'s batch outputs: rows are taken [`BLOCK`] at a
//! time, one block per rayon task; when the forest has its ranked form ([`QuantForest`], up to
//! 256 features) each block is ranked once and every tree walks its bytes, otherwise every
//! [`FlatTree`](crate::layout::FlatTree) walks its raw `f64` rows. Sums of leaf values are added
//! during the walk; leaf ids are handed to the caller otherwise.

use rayon::prelude::*;

use super::Forest;
use crate::error::{Error, Result};
use crate::layout::{BLOCK, QuantForest, TOP_CHUNK};

/// Writes the ranks of rows `start..start + nb` of column-major `columns` row-major into `qb`
/// (`stride` bytes per row, feature `f` at index `f`), straight from the columns.
fn rank_columns<C: AsRef<[f64]>>(
    q: &QuantForest,
    columns: &[C],
    start: usize,
    nb: usize,
    stride: usize,
    qb: &mut [u8],
) {
    for (f, c) in columns.iter().enumerate() {
        for (qv, v) in qb[f..].iter_mut().step_by(stride).zip(&c.as_ref()[start..start + nb]) {
            *qv = q.rank(f, *v);
        }
    }
}

impl Forest {
    /// Checks column-major prediction input; returns the row count.
    pub(super) fn check_columns<C: AsRef<[f64]>>(&self, columns: &[C]) -> Result<usize> {
        let nf = self.num_features();
        if columns.len() != nf {
            return Err(Error::FeatureCount { expected: nf, actual: columns.len() });
        }
        let n = Self::num_rows(columns);
        crate::binning::check_lengths(columns, n)?;
        Ok(n)
    }

    /// Runs every tree over column-major rows in parallel blocks (see [`Forest::for_blocks_with`]).
    pub(super) fn for_blocks<C, T, F>(&self, columns: &[C], out_per_row: usize, out: &mut [T], emit: F) -> Result<()>
    where
        C: AsRef<[f64]> + Sync,
        T: Send,
        F: Fn(&[u32], usize, usize, &mut [T]) + Sync,
    {
        self.check_columns(columns)?;
        let nf = self.num_features();
        let fill = |start: usize, nb: usize, block: &mut [f64]| {
            for (f, c) in columns.iter().enumerate() {
                for (r, v) in c.as_ref()[start..start + nb].iter().enumerate() {
                    block[r * nf + f] = *v;
                }
            }
        };
        let fill_ranks = |q: &QuantForest, start: usize, nb: usize, stride: usize, qb: &mut [u8]| {
            rank_columns(q, columns, start, nb, stride, qb);
        };
        self.for_blocks_with(fill, fill_ranks, out_per_row, out, emit);
        Ok(())
    }

    /// Runs every tree over blocks of [`BLOCK`] rows in parallel. When the forest has its
    /// ranked form, `fill_ranks(q, start, nb, stride, qblock)` writes the ranks of rows
    /// `start..start + nb` row-major (`stride` bytes per row, the feature's rank at its index)
    /// into `qblock`; otherwise `fill(start, nb, block)` writes their raw features row-major
    /// into `block`. Then `emit(leaves, start, nb, out_chunk)` gets the flat leaf id of row
    /// `r` in tree `t` at `leaves[t * BLOCK + r]`. `out` holds `out_per_row` values per row.
    pub(super) fn for_blocks_with<T, G, H, F>(&self, fill: G, fill_ranks: H, out_per_row: usize, out: &mut [T], emit: F)
    where
        T: Send,
        G: Fn(usize, usize, &mut [f64]) + Sync,
        H: Fn(&QuantForest, usize, usize, usize, &mut [u8]) + Sync,
        F: Fn(&[u32], usize, usize, &mut [T]) + Sync,
    {
        let nf = self.num_features();
        let nt = self.trees.len();
        match &self.quant {
            Some(q) if QuantForest::row_bytes(nf) <= 512 => {
                let leaves =
                    |t: usize, qb: &[u8], cols: &[[u8; TOP_CHUNK]], stride: usize, _: &mut [T], cur: &mut [u32]| {
                        match stride {
                            256 => q.leaves_block::<256>(t, qb.as_chunks().0, cols, cur),
                            _ => q.leaves_block::<512>(t, qb.as_chunks().0, cols, cur),
                        }
                    };
                self.ranked_blocks(q, &fill_ranks, out_per_row, out, leaves, emit);
            }
            _ => out.par_chunks_mut(BLOCK * out_per_row).enumerate().for_each_init(
                || (vec![0.0f64; BLOCK * nf], vec![0u32; BLOCK * nt]),
                |(block, leaves), (bi, chunk)| {
                    let start = bi * BLOCK;
                    let nb = chunk.len() / out_per_row;
                    fill(start, nb, &mut block[..nb * nf]);
                    for (t, tree) in self.flat.iter().enumerate() {
                        tree.descend_block(&block[..nb * nf], nf, &mut leaves[t * BLOCK..t * BLOCK + nb]);
                    }
                    emit(leaves, start, nb, chunk);
                },
            ),
        }
    }

    /// [`Forest::for_blocks_with`] on ranked rows of [`QuantForest::row_bytes`] bytes:
    /// fills and completes each block (with its top columns column-major, see
    /// [`QuantForest::complete_block`]), then `tree(t, block, top_cols, stride, out_chunk,
    /// leaves_of_t)` runs tree `t` over it (writing flat leaf ids, or summing into the output
    /// chunk), then `emit(leaves, start, nb, out_chunk)`.
    fn ranked_blocks<T, H, W, F>(
        &self,
        q: &QuantForest,
        fill_ranks: &H,
        out_per_row: usize,
        out: &mut [T],
        tree: W,
        emit: F,
    ) where
        T: Send,
        H: Fn(&QuantForest, usize, usize, usize, &mut [u8]) + Sync,
        W: Fn(usize, &[u8], &[[u8; TOP_CHUNK]], usize, &mut [T], &mut [u32]) + Sync,
        F: Fn(&[u32], usize, usize, &mut [T]) + Sync,
    {
        let nt = self.trees.len();
        let stride = QuantForest::row_bytes(self.num_features());
        let top_chunks = q.num_top_columns() * (BLOCK / TOP_CHUNK);
        out.par_chunks_mut(BLOCK * out_per_row).enumerate().for_each_init(
            || (vec![0u8; BLOCK * stride], vec![[0u8; TOP_CHUNK]; top_chunks], vec![0u32; BLOCK * nt]),
            |(qblock, cols, leaves), (bi, chunk)| {
                let start = bi * BLOCK;
                let nb = chunk.len() / out_per_row;
                let qb = &mut qblock[..nb * stride];
                fill_ranks(q, start, nb, stride, qb);
                match stride {
                    256 => q.complete_block::<256>(qb.as_chunks_mut().0, cols),
                    _ => q.complete_block::<512>(qb.as_chunks_mut().0, cols),
                }
                let qb = &qblock[..nb * stride];
                for t in 0..nt {
                    tree(t, qb, cols, stride, chunk, &mut leaves[t * BLOCK..t * BLOCK + nb]);
                }
                emit(leaves, start, nb, chunk);
            },
        );
    }

    /// Per row, the sum over trees (in tree order) of its leaf's `width` values: what
    /// [`Forest::predict`] and [`Forest::predict_raw`] need. On the ranked form the values are
    /// added during the walk, no leaf ids are kept.
    pub(super) fn sum_leaf_values<C: AsRef<[f64]> + Sync>(&self, columns: &[C], width: usize) -> Result<Vec<f64>> {
        let n = self.check_columns(columns)?;
        let mut out = vec![0.0; n * width];
        let nf = self.num_features();
        match &self.quant {
            Some(q) if QuantForest::row_bytes(nf) <= 512 => {
                let fill_ranks = |q: &QuantForest, start: usize, nb: usize, stride: usize, qb: &mut [u8]| {
                    rank_columns(q, columns, start, nb, stride, qb);
                };
                let flat = &self.flat;
                let tree =
                    |t: usize, qb: &[u8], cols: &[[u8; TOP_CHUNK]], stride: usize, chunk: &mut [f64], _: &mut [u32]| {
                        match stride {
                            256 => q.accumulate_block::<256>(t, &flat[t], qb.as_chunks().0, cols, chunk, width),
                            _ => q.accumulate_block::<512>(t, &flat[t], qb.as_chunks().0, cols, chunk, width),
                        }
                    };
                self.ranked_blocks(q, &fill_ranks, width, &mut out, tree, |_, _, _, _| {});
            }
            _ => self.for_blocks(columns, width, &mut out, |leaves, _, nb, chunk| {
                for (t, tree) in self.flat.iter().enumerate() {
                    for r in 0..nb {
                        let v = tree.values(leaves[t * BLOCK + r]);
                        for (o, x) in chunk[r * width..(r + 1) * width].iter_mut().zip(v) {
                            *o += *x;
                        }
                    }
                }
            })?,
        }
        Ok(out)
    }

    pub(super) fn num_rows<C: AsRef<[f64]>>(columns: &[C]) -> usize {
        columns.first().map_or(0, |c| c.as_ref().len())
    }
}
