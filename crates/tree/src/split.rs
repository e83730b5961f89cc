//! Split finding on histograms (LightGBM's `split_info.hpp` habit).
//!
//! For every feature of the node's subset, bins are scanned in order; a candidate "bin <= b"
//! sends value bins `0..=b` left. When the feature has a missing bin with rows at this node both
//! directions for missing values are tried. Spark's rules decide validity: both children need
//! at least `minInstancesPerNode` (bag) rows and `minWeightPerNode` weight, and the gain must be
//! `>= minInfoGain` and positive. Ties keep the first candidate (lowest feature, lowest bin,
//! missing-right before missing-left), so results do not depend on anything but the data.

use crate::binning::BinEdges;
use crate::histogram::{HistLayout, Histogram};

/// Impurity measure (Spark's `impurity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Impurity {
    /// Weighted variance of the label (regression).
    Variance,
    /// Gini impurity `1 - Σ p²` (classification).
    Gini,
    /// Entropy `-Σ p log2 p` (classification).
    Entropy,
}

impl Impurity {
    /// Spark's name (`variance`, `gini`, `entropy`).
    pub fn name(self) -> &'static str {
        match self {
            Impurity::Variance => "variance",
            Impurity::Gini => "gini",
            Impurity::Entropy => "entropy",
        }
    }

    /// Total weight of node statistics `s` (see [`crate::histogram`] for the layout).
    #[inline]
    pub fn weight(self, s: &[f64]) -> f64 {
        match self {
            Impurity::Variance => s[1],
            _ => s[1..].iter().sum(),
        }
    }

    /// Impurity of node statistics `s`; 0 for an empty node.
    pub fn impurity(self, s: &[f64]) -> f64 {
        let w = self.weight(s);
        if w <= 0.0 {
            return 0.0;
        }
        match self {
            Impurity::Variance => {
                let mean = s[2] / w;
                let v = s[3] / w - mean * mean;
                // Cancellation noise below 1e-12 of the second moment is a pure node.
                if v <= 1e-12 * (s[3] / w).abs() { 0.0 } else { v }
            }
            Impurity::Gini => {
                let sq: f64 = s[1..].iter().map(|c| (c / w) * (c / w)).sum();
                (1.0 - sq).max(0.0)
            }
            Impurity::Entropy => s[1..]
                .iter()
                .filter(|c| **c > 0.0)
                .map(|c| {
                    let p = c / w;
                    -p * p.log2()
                })
                .sum::<f64>()
                .max(0.0),
        }
    }

    /// Smallest gain treated as a real improvement (guards against rounding noise).
    fn gain_floor(self, total: &[f64]) -> f64 {
        match self {
            Impurity::Variance => {
                let w = total[1];
                if w > 0.0 { 1e-12 * (total[3] / w).abs() } else { 0.0 }
            }
            _ => 1e-12,
        }
    }

    /// Information gain of splitting `parent` into `left` and `right` (Spark's definition:
    /// parent impurity minus weight-averaged child impurities).
    pub fn gain(self, parent: &[f64], parent_impurity: f64, left: &[f64], right: &[f64]) -> f64 {
        let w = self.weight(parent);
        let wl = self.weight(left);
        let wr = self.weight(right);
        match self {
            // Same quantity, written without the cancelling second moments.
            Impurity::Variance => (left[2] * left[2] / wl + right[2] * right[2] / wr - parent[2] * parent[2] / w) / w,
            _ => parent_impurity - wl / w * self.impurity(left) - wr / w * self.impurity(right),
        }
    }
}

/// Thresholds a split must pass (Spark's semantics).
#[derive(Debug, Clone, Copy)]
pub struct SplitConstraints {
    /// `minInstancesPerNode` (compared with bag counts).
    pub min_instances: f64,
    /// `minWeightFractionPerNode × total weight`.
    pub min_weight: f64,
    /// `minInfoGain`.
    pub min_info_gain: f64,
}

/// The best split of a node.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitCandidate {
    /// Feature index.
    pub feature: u32,
    /// Value bins `0..=bin` go left.
    pub bin: u16,
    /// Whether the missing bin goes left.
    pub missing_left: bool,
    /// Information gain.
    pub gain: f64,
    /// Statistics of the left child.
    pub left: Vec<f64>,
    /// Statistics of the right child.
    pub right: Vec<f64>,
}

/// Finds the best valid split of a node over `features`, or `None` (the node is a leaf).
#[allow(clippy::too_many_arguments)]
pub fn find_best_split(
    impurity: Impurity,
    layout: &HistLayout,
    hist: &Histogram,
    edges: &[BinEdges],
    features: &[u32],
    totals: &[f64],
    constraints: &SplitConstraints,
) -> Option<SplitCandidate> {
    let width = layout.width();
    let parent_impurity = impurity.impurity(totals);
    let floor = impurity.gain_floor(totals).max(0.0);
    let mut best: Option<SplitCandidate> = None;
    let mut best_gain = f64::NEG_INFINITY;
    let mut cum = vec![0.0; width];
    let mut left = vec![0.0; width];
    let mut right = vec![0.0; width];
    for &f in features {
        let fi = f as usize;
        let e = &edges[fi];
        let h = hist.feature(layout, fi);
        let nv = e.num_value_bins();
        if nv < 2 {
            continue;
        }
        let miss: Option<&[f64]> =
            e.missing_bin().map(|mb| &h[mb as usize * width..(mb as usize + 1) * width]).filter(|m| m[0] > 0.0);
        cum.iter_mut().for_each(|c| *c = 0.0);
        for b in 0..nv - 1 {
            for (c, v) in cum.iter_mut().zip(&h[b * width..(b + 1) * width]) {
                *c += *v;
            }
            for missing_left in [false, true] {
                if missing_left && miss.is_none() {
                    continue;
                }
                left.copy_from_slice(&cum);
                if missing_left && let Some(m) = miss {
                    left.iter_mut().zip(m).for_each(|(l, v)| *l += *v);
                }
                for ((r, t), l) in right.iter_mut().zip(totals).zip(&left) {
                    *r = t - l;
                }
                if left[0] < constraints.min_instances
                    || right[0] < constraints.min_instances
                    || left[0] <= 0.0
                    || right[0] <= 0.0
                {
                    continue;
                }
                let wl = impurity.weight(&left);
                let wr = impurity.weight(&right);
                if wl < constraints.min_weight || wr < constraints.min_weight || wl <= 0.0 || wr <= 0.0 {
                    continue;
                }
                let gain = impurity.gain(totals, parent_impurity, &left, &right);
                if gain < constraints.min_info_gain || gain <= floor || gain <= best_gain {
                    continue;
                }
                best_gain = gain;
                // Without missing rows here, unseen missing values follow the heavier child.
                let ml = if miss.is_some() { missing_left } else { wl >= wr };
                best = Some(SplitCandidate {
                    feature: f,
                    bin: b as u16,
                    missing_left: ml,
                    gain,
                    left: left.clone(),
                    right: right.clone(),
                });
            }
        }
    }
    best
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::binning::BinnedMatrix;
    use crate::histogram::{ClassificationStat, RegressionStat};

    const FREE: SplitConstraints = SplitConstraints { min_instances: 1.0, min_weight: 0.0, min_info_gain: 0.0 };

    #[test]
    fn impurities_by_hand() {
        // Two classes 3:1 → gini 1 - (9+1)/16 = 0.375, entropy 0.811278...
        let s = [4.0, 3.0, 1.0];
        assert!((Impurity::Gini.impurity(&s) - 0.375).abs() < 1e-12);
        assert!((Impurity::Entropy.impurity(&s) - 0.811_278_124_459_132_9).abs() < 1e-12);
        // y = 1, 2, 3: variance 2/3.
        let v = [3.0, 3.0, 6.0, 14.0];
        assert!((Impurity::Variance.impurity(&v) - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn regression_split_by_hand() {
        let x = vec![1.0, 2.0, 3.0, 4.0];
        let y = [1.0, 1.0, 5.0, 5.0];
        let m = BinnedMatrix::from_columns(&[x], 8, 0).unwrap();
        let layout = HistLayout::new(&m, 4);
        let stats: Vec<RegressionStat> = y.iter().map(|&y| RegressionStat([1.0, 1.0, y, y * y])).collect();
        let mut h = Histogram::new(&layout);
        let rows: Vec<u32> = (0..stats.len() as u32).collect();
        h.build(&layout, &[0], &m, &rows, |r| stats[r as usize]);
        let totals = [4.0, 4.0, 12.0, 52.0];
        let s = find_best_split(Impurity::Variance, &layout, &h, m.mapper().edges(), &[0], &totals, &FREE).unwrap();
        assert_eq!(s.bin, 1);
        assert!((s.gain - 4.0).abs() < 1e-12); // variance 4 → 0
        assert_eq!(s.left, vec![2.0, 2.0, 2.0, 2.0]);
        // minInfoGain above the gain → no split; minInstancesPerNode 3 → no split.
        let c = SplitConstraints { min_info_gain: 4.5, ..FREE };
        assert!(find_best_split(Impurity::Variance, &layout, &h, m.mapper().edges(), &[0], &totals, &c).is_none());
        let c = SplitConstraints { min_instances: 3.0, ..FREE };
        assert!(find_best_split(Impurity::Variance, &layout, &h, m.mapper().edges(), &[0], &totals, &c).is_none());
    }

    #[test]
    fn missing_direction_is_learned() {
        // Missing rows look like the high-x rows: they should go right.
        let x = vec![1.0, 2.0, 3.0, 4.0, f64::NAN, f64::NAN];
        let cls = [0u32, 0, 1, 1, 1, 1];
        let m = BinnedMatrix::from_columns(&[x], 8, 0).unwrap();
        let layout = HistLayout::new(&m, 3);
        let stats: Vec<ClassificationStat> =
            cls.iter().map(|&c| ClassificationStat { count: 1.0, weight: 1.0, class: c }).collect();
        let mut h = Histogram::new(&layout);
        let rows: Vec<u32> = (0..stats.len() as u32).collect();
        h.build(&layout, &[0], &m, &rows, |r| stats[r as usize]);
        let totals = [6.0, 2.0, 4.0];
        let s = find_best_split(Impurity::Gini, &layout, &h, m.mapper().edges(), &[0], &totals, &FREE).unwrap();
        assert_eq!((s.bin, s.missing_left), (1, false));
        assert!((s.gain - (1.0 - (4.0 + 16.0) / 36.0)).abs() < 1e-12);
    }
}
