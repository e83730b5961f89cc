//! Rows of each node (LightGBM's `data_partition.hpp` habit), kept as "ordered" data.
//!
//! A tree's in-bag rows are gathered once, at the root, into two arrays in node order: the
//! rows' statistics ("ordered gradients") and their bins, row-major (`n_features` bytes per
//! row). Each node owns a contiguous range of both. Splitting a node partitions its range
//! in place, left rows first. Histogram building and partitioning then only stream memory
//! sequentially: deep in a tree a node's rows are scattered over the data set, and gathering
//! their bins from the column-major [`BinnedMatrix`] would cost a cache miss per row and
//! feature. The price is `n_features` bytes plus the statistics per in-bag row, per tree being
//! grown.

use crate::binning::BinnedMatrix;
use crate::histogram::RowStat;

/// Ordered bins and statistics, grouped by node.
#[derive(Debug)]
pub struct DataPartition<S> {
    nf: usize,
    bins: Vec<u8>,
    stats: Vec<S>,
}

impl<S: RowStat> DataPartition<S> {
    /// A partition whose root holds `rows` (ascending) of `binned` with statistics `stats`.
    pub fn new(binned: &BinnedMatrix, rows: &[u32], stats: Vec<S>) -> Self {
        debug_assert_eq!(rows.len(), stats.len());
        let nf = binned.n_features();
        let mut bins = vec![0u8; rows.len() * nf];
        for f in 0..nf {
            let col = binned.column(f);
            for (dst, &r) in bins.iter_mut().skip(f).step_by(nf).zip(rows) {
                *dst = col[r as usize];
            }
        }
        DataPartition { nf, bins, stats }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.stats.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.stats.is_empty()
    }

    /// Number of features (bytes per row of [`DataPartition::bins`]).
    pub fn num_features(&self) -> usize {
        self.nf
    }

    /// Row-major bins of a node range.
    pub fn bins(&self, range: std::ops::Range<usize>) -> &[u8] {
        &self.bins[range.start * self.nf..range.end * self.nf]
    }

    /// Statistics of a node range.
    pub fn stats(&self, range: std::ops::Range<usize>) -> &[S] {
        &self.stats[range]
    }

    /// Partitions `range` in place so that rows whose bin of `feature` has `go_left[bin]` come
    /// first (Hoare-style swaps: deterministic, no scratch memory, not stable); returns the
    /// index where the right part starts.
    pub fn split(
        &mut self,
        range: std::ops::Range<usize>,
        feature: usize,
        go_left: &[bool; 256],
    ) -> usize {
        let nf = self.nf;
        let (mut i, mut j) = (range.start, range.end);
        loop {
            while i < j && go_left[self.bins[i * nf + feature] as usize] {
                i += 1;
            }
            while i < j && !go_left[self.bins[(j - 1) * nf + feature] as usize] {
                j -= 1;
            }
            if i + 1 >= j {
                return i;
            }
            // Row i goes right and row j - 1 goes left: swap them.
            let (a, b) = self.bins.split_at_mut((j - 1) * nf);
            a[i * nf..(i + 1) * nf].swap_with_slice(&mut b[..nf]);
            self.stats.swap(i, j - 1);
            i += 1;
            j -= 1;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::histogram::RegressionStat;

    #[test]
    fn split_in_place() {
        let col = vec![0.0, 1.0, 0.0, 1.0, 1.0, 0.0];
        let m =
            BinnedMatrix::from_columns(&[col.clone(), col.iter().map(|v| 5.0 * v).collect()], 4, 0)
                .unwrap();
        let stats: Vec<RegressionStat> =
            (0..6).map(|i| RegressionStat([f64::from(i); 4])).collect();
        let mut p = DataPartition::new(&m, &[0, 1, 2, 3, 4, 5], stats);
        let mut go_left = [false; 256];
        go_left[0] = true;
        let mid = p.split(1..6, 1, &go_left);
        assert_eq!(mid, 3);
        let order: Vec<f64> = p.stats(0..6).iter().map(|s| s.0[0]).collect();
        // Row 0 is outside the range; rows 1 and 4 (bin 1) swap with rows 5 and 2 (bin 0).
        assert_eq!(order, vec![0.0, 5.0, 2.0, 3.0, 4.0, 1.0]);
        assert_eq!(p.bins(0..6), &[0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
    }
}
