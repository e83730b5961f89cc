//! Split finding on histograms (LightGBM's `split_info.hpp` habit).
//!
//! For every feature of the node's subset, bins are scanned in order; a candidate "bin <= b"
//! sends value bins `0..=b` left. When the feature has a missing bin with rows at this node both
//! directions for missing values are tried. Spark's rules decide validity: both children need
//! at least `minInstancesPerNode` (bag) rows and `minWeightPerNode` weight, and the gain must be
//! `>= minInfoGain` and positive. Ties keep the first candidate (lowest feature, lowest bin,
//! missing-right before missing-left), so results do not depend on anything but the data.

use crate::binning::BinEdges;
use crate::histogram::{HistKind, HistLayout, Histogram};

/// Impurity measure (Spark's `impurity`; serde writes Spark's lower-case names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
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
    #[inline]
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
    #[inline(always)]
    pub fn gain(self, parent: &[f64], parent_impurity: f64, left: &[f64], right: &[f64]) -> f64 {
        let w = self.weight(parent);
        let wl = self.weight(left);
        let wr = self.weight(right);
        match self {
            // Same quantity, written without the cancelling second moments.
            Impurity::Variance => (variance_score(left[2], wl, right[2], wr) - parent[2] * parent[2] / w) / w,
            _ => parent_impurity - wl / w * self.impurity(left) - wr / w * self.impurity(right),
        }
    }
}

/// The part of the variance gain that depends on the split: `Σy_L²/w_L + Σy_R²/w_R`. The gain
/// is `(score - Σy²/w) / w`, non-decreasing in the score, so a candidate scoring below the best
/// cannot have a larger gain and the split search skips it without the last two divisions.
#[inline(always)]
fn variance_score(sum_left: f64, wl: f64, sum_right: f64, wr: f64) -> f64 {
    sum_left * sum_left / wl + sum_right * sum_right / wr
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
    /// Statistics of the left child. With [`HistKind::Regression`] the histogram has no
    /// `Σc·y²`: slot 3 is 0 here (and the right child's is the parent's) until the caller
    /// sums it from the rows.
    pub left: Vec<f64>,
    /// Statistics of the right child.
    pub right: Vec<f64>,
}

/// Finds the best valid split of a node over `features`, or `None` (the node is a leaf).
///
/// Dispatches on the histogram width so that the common layouts (regression: 4; two or three
/// classes: 3 or 4) scan with fixed-size arrays the compiler keeps in registers; any other
/// width runs the same code on vectors. The arithmetic, and so the chosen split, is the same.
#[allow(clippy::too_many_arguments)]
pub fn find_best_split(
    impurity: Impurity,
    kind: HistKind,
    layout: &HistLayout,
    hist: &Histogram,
    edges: &[BinEdges],
    features: &[u32],
    totals: &[f64],
    constraints: &SplitConstraints,
) -> Option<SplitCandidate> {
    let args = (impurity, kind, layout, hist, edges, features, constraints);
    match (layout.width(), totals.len()) {
        (2, 4) => search([0.0; 2], <[f64; 4]>::from_slice(totals), args),
        (2, 3) => search([0.0; 2], <[f64; 3]>::from_slice(totals), args),
        (3, 3) => search([0.0; 3], <[f64; 3]>::from_slice(totals), args),
        (4, 4) => search([0.0; 4], <[f64; 4]>::from_slice(totals), args),
        (w, _) => search(vec![0.0; w], totals.to_vec(), args),
    }
}

/// Per-candidate sums: a fixed-size array for the common widths, a vector otherwise.
trait Sums: Clone + AsRef<[f64]> + AsMut<[f64]> {
    fn from_slice(s: &[f64]) -> Self;
}

impl<const W: usize> Sums for [f64; W] {
    #[inline(always)]
    fn from_slice(s: &[f64]) -> Self {
        let mut a = [0.0; W];
        a.copy_from_slice(s);
        a
    }
}

impl Sums for Vec<f64> {
    fn from_slice(s: &[f64]) -> Self {
        s.to_vec()
    }
}

type SearchArgs<'a> =
    (Impurity, HistKind, &'a HistLayout, &'a Histogram, &'a [BinEdges], &'a [u32], &'a SplitConstraints);

/// The scan: `cum` (histogram layout) accumulates value bins, `left` and `right` are node
/// statistics (totals layout) of each candidate.
#[inline(always)]
fn search<H: Sums, A: Sums>(mut cum: H, totals: A, args: SearchArgs<'_>) -> Option<SplitCandidate> {
    let (impurity, kind, layout, hist, edges, features, constraints) = args;
    let width = layout.width();
    let t = totals.as_ref();
    let parent_impurity = impurity.impurity(t);
    let floor = impurity.gain_floor(t).max(0.0);
    // (feature, bin, missing left, gain, left, right) of the best candidate so far.
    let mut best: Option<(u32, usize, bool, f64, A, A)> = None;
    let mut best_gain = f64::NEG_INFINITY;
    let variance = impurity == Impurity::Variance;
    let mut best_score = f64::NEG_INFINITY;
    let parent_term = if variance { t[2] * t[2] / t[1] } else { 0.0 };
    let mut with_missing = cum.clone();
    let mut left = totals.clone();
    let mut right = totals.clone();
    for &f in features {
        let fi = f as usize;
        let e = &edges[fi];
        let h = hist.feature(layout, fi);
        let nv = e.num_value_bins();
        if nv < 2 {
            continue;
        }
        let miss: Option<&[f64]> = e
            .missing_bin()
            .map(|mb| &h[mb as usize * width..(mb as usize + 1) * width])
            .filter(|m| kind.count(m) > 0.0);
        cum.as_mut().iter_mut().for_each(|c| *c = 0.0);
        for b in 0..nv - 1 {
            for (c, v) in cum.as_mut().iter_mut().zip(&h[b * width..(b + 1) * width]) {
                *c += *v;
            }
            for missing_left in [false, true] {
                if missing_left && miss.is_none() {
                    continue;
                }
                match miss {
                    Some(m) if missing_left => {
                        for ((o, c), v) in with_missing.as_mut().iter_mut().zip(cum.as_ref()).zip(m) {
                            *o = c + v;
                        }
                        kind.expand(with_missing.as_ref(), left.as_mut());
                    }
                    _ => kind.expand(cum.as_ref(), left.as_mut()),
                }
                for ((r, t), l) in right.as_mut().iter_mut().zip(t).zip(left.as_ref()) {
                    *r = t - l;
                }
                let (l, r) = (left.as_ref(), right.as_ref());
                if l[0] < constraints.min_instances || r[0] < constraints.min_instances || l[0] <= 0.0 || r[0] <= 0.0 {
                    continue;
                }
                let wl = impurity.weight(l);
                let wr = impurity.weight(r);
                if wl < constraints.min_weight || wr < constraints.min_weight || wl <= 0.0 || wr <= 0.0 {
                    continue;
                }
                let gain = if variance {
                    // Same bits as `impurity.gain`, computed only when it could win.
                    let score = variance_score(l[2], wl, r[2], wr);
                    if score < best_score {
                        continue;
                    }
                    (score - parent_term) / t[1]
                } else {
                    impurity.gain(t, parent_impurity, l, r)
                };
                if gain < constraints.min_info_gain || gain <= floor || gain <= best_gain {
                    continue;
                }
                if variance {
                    best_score = variance_score(l[2], wl, r[2], wr);
                }
                best_gain = gain;
                // Without missing rows here, unseen missing values follow the heavier child.
                let ml = if miss.is_some() { missing_left } else { wl >= wr };
                best = Some((f, b, ml, gain, left.clone(), right.clone()));
            }
        }
    }
    best.map(|(feature, bin, missing_left, gain, left, right)| SplitCandidate {
        feature,
        bin: bin as u16,
        missing_left,
        gain,
        left: left.as_ref().to_vec(),
        right: right.as_ref().to_vec(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::binning::BinnedMatrix;
    use crate::histogram::{ClassificationStat, RegressionStat, UnweightedClassificationStat};
    use crate::params::MaxBins;

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
        let m = BinnedMatrix::from_columns(&[x], MaxBins::new(8).unwrap(), 0).unwrap();
        let layout = HistLayout::new(&m, 4);
        let stats: Vec<RegressionStat> = y.iter().map(|&y| RegressionStat([1.0, 1.0, y, y * y])).collect();
        let mut h = Histogram::new(&layout);
        let rows: Vec<u32> = (0..stats.len() as u32).collect();
        h.build(&layout, &[0], &m, &rows, |r| stats[r as usize]);
        let totals = [4.0, 4.0, 12.0, 52.0];
        let s =
            find_best_split(Impurity::Variance, HistKind::Full, &layout, &h, m.mapper().edges(), &[0], &totals, &FREE)
                .unwrap();
        assert_eq!(s.bin, 1);
        assert!((s.gain - 4.0).abs() < 1e-12); // variance 4 → 0
        assert_eq!(s.left, vec![2.0, 2.0, 2.0, 2.0]);
        // minInfoGain above the gain → no split; minInstancesPerNode 3 → no split.
        let c = SplitConstraints { min_info_gain: 4.5, ..FREE };
        assert!(
            find_best_split(Impurity::Variance, HistKind::Full, &layout, &h, m.mapper().edges(), &[0], &totals, &c)
                .is_none()
        );
        let c = SplitConstraints { min_instances: 3.0, ..FREE };
        assert!(
            find_best_split(Impurity::Variance, HistKind::Full, &layout, &h, m.mapper().edges(), &[0], &totals, &c)
                .is_none()
        );
    }

    #[test]
    fn missing_direction_is_learned() {
        // Missing rows look like the high-x rows: they should go right.
        let x = vec![1.0, 2.0, 3.0, 4.0, f64::NAN, f64::NAN];
        let cls = [0u32, 0, 1, 1, 1, 1];
        let m = BinnedMatrix::from_columns(&[x], MaxBins::new(8).unwrap(), 0).unwrap();
        let layout = HistLayout::new(&m, 3);
        let stats: Vec<ClassificationStat> =
            cls.iter().map(|&c| ClassificationStat { count: 1.0, weight: 1.0, class: c }).collect();
        let mut h = Histogram::new(&layout);
        let rows: Vec<u32> = (0..stats.len() as u32).collect();
        h.build(&layout, &[0], &m, &rows, |r| stats[r as usize]);
        let totals = [6.0, 2.0, 4.0];
        let s = find_best_split(Impurity::Gini, HistKind::Full, &layout, &h, m.mapper().edges(), &[0], &totals, &FREE)
            .unwrap();
        assert_eq!((s.bin, s.missing_left), (1, false));
        assert!((s.gain - (1.0 - (4.0 + 16.0) / 36.0)).abs() < 1e-12);
        // The compact layout (class counts only; the missing bin has no class-0 row) finds
        // the same split, with the same child statistics.
        let layout2 = HistLayout::new(&m, 2);
        let mut h2 = Histogram::new(&layout2);
        h2.build(&layout2, &[0], &m, &rows, |r| UnweightedClassificationStat { count: 1.0, class: cls[r as usize] });
        let s2 =
            find_best_split(Impurity::Gini, HistKind::Classes, &layout2, &h2, m.mapper().edges(), &[0], &totals, &FREE)
                .unwrap();
        assert_eq!(s2, s);
        // Missing rows on the left side of the best split: the direction must still be tried.
        let cls = [1u32, 1, 0, 0, 1, 1];
        let mut h3 = Histogram::new(&layout2);
        h3.build(&layout2, &[0], &m, &rows, |r| UnweightedClassificationStat { count: 1.0, class: cls[r as usize] });
        let totals = [6.0, 2.0, 4.0];
        let s3 =
            find_best_split(Impurity::Gini, HistKind::Classes, &layout2, &h3, m.mapper().edges(), &[0], &totals, &FREE)
                .unwrap();
        assert_eq!((s3.bin, s3.missing_left), (1, true));
        assert!((s3.gain - Impurity::Gini.impurity(&totals)).abs() < 1e-12); // both children pure
    }
}
