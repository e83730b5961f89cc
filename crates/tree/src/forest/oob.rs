//! Out-of-bag evaluation of a [`Forest`] on its training data: each tree's bag is regenerated
//! from the seeds and every row is scored by the trees that did not see it.

use rayon::prelude::*;

use super::Forest;
use crate::binning::BinnedMatrix;
use crate::error::{Error, Result};
use crate::layout::{BLOCK, QuantForest};
use crate::sampler::in_bag_mask;

/// Out-of-bag evaluation of a forest on its training data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OobError {
    /// Regression: mean squared error; classification: weighted misclassification rate.
    pub error: f64,
    /// Rows that were out of bag for at least one tree (and so were scored).
    pub rows_scored: usize,
}

impl Forest {
    /// Out-of-bag error on the training data: each row is scored by the trees whose bag left
    /// it out (bags are regenerated from the seeds). Regression: MSE of the mean OOB
    /// prediction; classification: weighted error of the OOB vote (summed distributions).
    /// Rows in every bag are skipped. Uses split bins, so `binned` must be the training matrix.
    pub fn oob_error(&self, binned: &BinnedMatrix, labels: &[f64], weights: Option<&[f64]>) -> Result<OobError> {
        let n = binned.n_rows();
        if binned.n_features() != self.num_features() {
            return Err(Error::FeatureCount { expected: self.num_features(), actual: binned.n_features() });
        }
        if labels.len() != n {
            return Err(Error::LengthMismatch { what: "labels".into(), expected: n, actual: labels.len() });
        }
        if let Some(w) = weights
            && w.len() != n
        {
            return Err(Error::LengthMismatch { what: "weights".into(), expected: n, actual: w.len() });
        }
        // In-bag bits per tree (bit i % 64 of word i / 64), 1/8 of the memory of bools.
        let masks: Vec<Vec<u64>> = self
            .trees
            .par_iter()
            .map(|t| {
                let mut bits = vec![0u64; n.div_ceil(64)];
                for (i, b) in in_bag_mask(self.seed, t.tree_index(), self.bag, n).into_iter().enumerate() {
                    bits[i / 64] |= u64::from(b) << (i % 64);
                }
                bits
            })
            .collect();
        let k = self.width();
        let classification = self.task.num_classes() > 0;
        let nf = self.num_features();
        // A raw value per bin that every split treats exactly like the bin: the bin's upper
        // threshold (the trees' thresholds are those), +inf for the last bin, NaN when missing.
        let reps: Vec<Vec<f64>> = (0..nf)
            .map(|f| {
                let e = binned.edges(f);
                let mut r: Vec<f64> = (0..e.num_value_bins()).map(|b| e.upper_bound(b)).collect();
                if e.has_missing {
                    r.push(f64::NAN);
                }
                r
            })
            .collect();
        let fill = |start: usize, nb: usize, block: &mut [f64]| {
            for (r, out) in block.chunks_exact_mut(nf).take(nb).enumerate() {
                for ((o, rep), b) in out.iter_mut().zip(&reps).zip(binned.row(start + r)) {
                    *o = rep[*b as usize];
                }
            }
        };
        // The same through ranks: the rank of each bin's representative, per feature.
        let bin_ranks: Vec<Vec<u8>> = match &self.quant {
            Some(q) => reps.iter().enumerate().map(|(f, rep)| rep.iter().map(|v| q.rank(f, *v)).collect()).collect(),
            None => Vec::new(),
        };
        let fill_ranks = |_: &QuantForest, start: usize, nb: usize, stride: usize, qb: &mut [u8]| {
            for (r, out) in qb.chunks_mut(stride).take(nb).enumerate() {
                for ((qv, br), b) in out.iter_mut().zip(&bin_ranks).zip(binned.row(start + r)) {
                    *qv = br[*b as usize];
                }
            }
        };
        let mut per_row = vec![(0.0f64, 0.0f64, 0u32); n];
        self.for_blocks_with(fill, fill_ranks, 1, &mut per_row, |leaves, start, nb, chunk| {
            let mut acc = vec![0.0; k];
            for (r, out) in chunk.iter_mut().enumerate().take(nb) {
                let i = start + r;
                acc.iter_mut().for_each(|a| *a = 0.0);
                let mut votes = 0u32;
                for (t, tree) in self.flat.iter().enumerate() {
                    if masks[t][i / 64] >> (i % 64) & 1 != 0 {
                        continue;
                    }
                    votes += 1;
                    for (a, v) in acc.iter_mut().zip(tree.values(leaves[t * BLOCK + r])) {
                        *a += *v;
                    }
                }
                if votes == 0 {
                    continue;
                }
                let w = weights.map_or(1.0, |w| w[i]);
                let e = if classification {
                    f64::from(u8::from(self.class_from_proba(&acc) as f64 != labels[i]))
                } else {
                    let d = acc[0] / f64::from(votes) - labels[i];
                    d * d
                };
                *out = (w * e, w, 1);
            }
        });
        // Summed in row order, so the result does not depend on the thread count.
        let (err_sum, w_sum, scored) =
            per_row.iter().fold((0.0, 0.0, 0usize), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2 as usize));
        Ok(OobError { error: if w_sum > 0.0 { err_sum / w_sum } else { f64::NAN }, rows_scored: scored })
    }
}
