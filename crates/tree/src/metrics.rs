//! Evaluation metrics as mergeable statistics.
//!
//! Each statistic is a plain sum over rows, so partial statistics computed on different
//! partitions (or workers) combine with `merge` into exactly the statistic of the union, up to
//! floating-point summation order. Metrics are read off the merged statistic.
//!
//! * [`RegressionStats`]: MSE, RMSE, MAE, R² and Spark's explained variance.
//! * [`ClassificationStats`]: confusion matrix, accuracy, precision / recall / F1 of the
//!   positive class (1), Spark's weighted precision / recall / F1, log loss and, for binary
//!   problems, ROC AUC and PR AUC.
//! * [`Metrics`]: the final metrics of one task on one split, read off either statistic; what
//!   reports, model files and the HTTP API show.
//!
//! # AUC resolution
//! To stay mergeable with a fixed size, AUCs use a histogram of the positive-class score with
//! [`AUC_BINS`] (10,000) equal-width bins on `[0, 1]`: a bin is one threshold. Pairs of a
//! positive and a negative in different bins are ranked exactly; pairs in the same bin count as
//! ties (½). So ROC AUC is exact when no positive and negative share a bin and otherwise off by
//! at most [`ClassificationStats::roc_auc_error_bound`] (½ × same-bin pairs / all pairs), which
//! is reported alongside. PR AUC follows Spark's `areaUnderPR` (trapezoids over (recall,
//! precision) points, starting at recall 0 with the first precision) on the same thresholds.

use crate::error::{Error, Result};

/// Number of score bins of the AUC histograms.
pub const AUC_BINS: usize = 10_000;

/// Mergeable regression statistics (weighted).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegressionStats {
    /// Total weight.
    pub weight: f64,
    /// Σ w·y.
    pub sum_y: f64,
    /// Σ w·y².
    pub sum_y2: f64,
    /// Σ w·ŷ.
    pub sum_pred: f64,
    /// Σ w·ŷ².
    pub sum_pred2: f64,
    /// Σ w·(y − ŷ).
    pub sum_err: f64,
    /// Σ w·(y − ŷ)².
    pub sum_sq_err: f64,
    /// Σ w·|y − ŷ|.
    pub sum_abs_err: f64,
    /// Number of rows.
    pub count: u64,
}

impl RegressionStats {
    /// The final regression metrics of these sums.
    pub fn metrics(&self) -> Metrics {
        Metrics::Regression {
            rows: self.count,
            rmse: self.rmse(),
            mse: self.mse(),
            mae: self.mae(),
            r2: self.r2(),
            explained_variance: self.explained_variance(),
        }
    }

    /// Empty statistics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Statistics of unweighted `(label, prediction)` pairs.
    pub fn from_slices(labels: &[f64], predictions: &[f64]) -> Self {
        let mut s = Self::new();
        for (y, p) in labels.iter().zip(predictions) {
            s.add(*y, *p, 1.0);
        }
        s
    }

    /// Adds one row.
    pub fn add(&mut self, label: f64, prediction: f64, weight: f64) {
        let e = label - prediction;
        self.weight += weight;
        self.sum_y += weight * label;
        self.sum_y2 += weight * label * label;
        self.sum_pred += weight * prediction;
        self.sum_pred2 += weight * prediction * prediction;
        self.sum_err += weight * e;
        self.sum_sq_err += weight * e * e;
        self.sum_abs_err += weight * e.abs();
        self.count += 1;
    }

    /// Adds the rows of `other`.
    pub fn merge(&mut self, other: &Self) {
        self.weight += other.weight;
        self.sum_y += other.sum_y;
        self.sum_y2 += other.sum_y2;
        self.sum_pred += other.sum_pred;
        self.sum_pred2 += other.sum_pred2;
        self.sum_err += other.sum_err;
        self.sum_sq_err += other.sum_sq_err;
        self.sum_abs_err += other.sum_abs_err;
        self.count += other.count;
    }

    /// Mean squared error (NaN when empty).
    pub fn mse(&self) -> f64 {
        self.sum_sq_err / self.weight
    }

    /// Root mean squared error.
    pub fn rmse(&self) -> f64 {
        self.mse().sqrt()
    }

    /// Mean absolute error.
    pub fn mae(&self) -> f64 {
        self.sum_abs_err / self.weight
    }

    /// Σ w·(y − ȳ)².
    fn ss_tot(&self) -> f64 {
        (self.sum_y2 - self.sum_y * self.sum_y / self.weight).max(0.0)
    }

    /// Coefficient of determination `1 − SSerr / SStot`.
    pub fn r2(&self) -> f64 {
        1.0 - self.sum_sq_err / self.ss_tot()
    }

    /// Spark's `explainedVariance`: `Σ w·(ŷ − ȳ)² / Σ w` (note: not scikit-learn's
    /// `explained_variance_score`).
    pub fn explained_variance(&self) -> f64 {
        let mean = self.sum_y / self.weight;
        (self.sum_pred2 - 2.0 * mean * self.sum_pred + mean * mean * self.weight) / self.weight
    }
}

/// Mergeable classification statistics (weighted).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassificationStats {
    num_classes: usize,
    /// `confusion[true * K + predicted]` = weight.
    confusion: Vec<f64>,
    log_loss_sum: f64,
    /// Score histograms for binary AUCs (empty unless `num_classes == 2`).
    pos: Vec<f64>,
    neg: Vec<f64>,
}

/// Spark's log-loss clipping.
const LOG_LOSS_EPS: f64 = 1e-15;

impl ClassificationStats {
    /// Empty statistics for `num_classes` classes (>= 2).
    pub fn new(num_classes: usize) -> Self {
        let (pos, neg) =
            if num_classes == 2 { (vec![0.0; AUC_BINS], vec![0.0; AUC_BINS]) } else { (Vec::new(), Vec::new()) };
        ClassificationStats {
            num_classes,
            confusion: vec![0.0; num_classes * num_classes],
            log_loss_sum: 0.0,
            pos,
            neg,
        }
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Adds one row: its true class, predicted class, predicted class probabilities (length
    /// `num_classes`) and weight. Out-of-range classes are errors.
    pub fn add(&mut self, label: usize, predicted: usize, probabilities: &[f64], weight: f64) -> Result<()> {
        let k = self.num_classes;
        if label >= k || predicted >= k {
            return Err(Error::InvalidLabel {
                row: 0,
                value: label.max(predicted) as f64,
                reason: "class out of range",
            });
        }
        if probabilities.len() != k {
            return Err(Error::LengthMismatch {
                what: "probabilities".into(),
                expected: k,
                actual: probabilities.len(),
            });
        }
        self.confusion[label * k + predicted] += weight;
        let p = probabilities[label].clamp(LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS);
        self.log_loss_sum -= weight * p.ln();
        if k == 2 {
            let score = probabilities[1];
            let b = if score.is_nan() { 0 } else { ((score * AUC_BINS as f64) as usize).min(AUC_BINS - 1) };
            if label == 1 {
                self.pos[b] += weight;
            } else {
                self.neg[b] += weight;
            }
        }
        Ok(())
    }

    /// Adds the rows of `other` (same number of classes).
    pub fn merge(&mut self, other: &Self) -> Result<()> {
        if other.num_classes != self.num_classes {
            return Err(Error::MergeMismatch(format!("{} vs {} classes", self.num_classes, other.num_classes)));
        }
        self.confusion.iter_mut().zip(&other.confusion).for_each(|(a, b)| *a += b);
        self.pos.iter_mut().zip(&other.pos).for_each(|(a, b)| *a += b);
        self.neg.iter_mut().zip(&other.neg).for_each(|(a, b)| *a += b);
        self.log_loss_sum += other.log_loss_sum;
        Ok(())
    }

    /// The raw sums, in the order [`ClassificationStats::from_parts`] takes them: flat
    /// confusion (`true * K + predicted`), log-loss sum, positive and negative score histograms
    /// (empty unless binary). For shipping partial statistics between processes.
    pub fn parts(&self) -> (&[f64], f64, &[f64], &[f64]) {
        (&self.confusion, self.log_loss_sum, &self.pos, &self.neg)
    }

    /// Rebuilds statistics from [`ClassificationStats::parts`], checking every length.
    pub fn from_parts(
        num_classes: usize,
        confusion: Vec<f64>,
        log_loss_sum: f64,
        pos: Vec<f64>,
        neg: Vec<f64>,
    ) -> Result<Self> {
        if num_classes < 2 {
            return Err(Error::MergeMismatch(format!("{num_classes} classes (at least 2)")));
        }
        let hist = if num_classes == 2 { AUC_BINS } else { 0 };
        for (what, expected, actual) in [
            ("confusion", num_classes * num_classes, confusion.len()),
            ("pos", hist, pos.len()),
            ("neg", hist, neg.len()),
        ] {
            if expected != actual {
                return Err(Error::LengthMismatch { what: what.into(), expected, actual });
            }
        }
        Ok(ClassificationStats { num_classes, confusion, log_loss_sum, pos, neg })
    }

    /// Confusion matrix: `m[true][predicted]` = weight.
    pub fn confusion_matrix(&self) -> Vec<Vec<f64>> {
        self.confusion.chunks(self.num_classes).map(<[f64]>::to_vec).collect()
    }

    /// Total weight.
    pub fn weight(&self) -> f64 {
        self.confusion.iter().sum()
    }

    fn tp(&self, c: usize) -> f64 {
        self.confusion[c * self.num_classes + c]
    }
    fn true_weight(&self, c: usize) -> f64 {
        self.confusion[c * self.num_classes..(c + 1) * self.num_classes].iter().sum()
    }
    fn predicted_weight(&self, c: usize) -> f64 {
        (0..self.num_classes).map(|t| self.confusion[t * self.num_classes + c]).sum()
    }

    /// Accuracy.
    pub fn accuracy(&self) -> f64 {
        (0..self.num_classes).map(|c| self.tp(c)).sum::<f64>() / self.weight()
    }

    /// Precision of class `c` (0 when nothing is predicted as `c`, like Spark).
    pub fn precision_of(&self, c: usize) -> f64 {
        let p = self.predicted_weight(c);
        if p > 0.0 { self.tp(c) / p } else { 0.0 }
    }

    /// Recall of class `c` (0 when `c` never occurs).
    pub fn recall_of(&self, c: usize) -> f64 {
        let t = self.true_weight(c);
        if t > 0.0 { self.tp(c) / t } else { 0.0 }
    }

    /// F1 of class `c`.
    pub fn f1_of(&self, c: usize) -> f64 {
        let (p, r) = (self.precision_of(c), self.recall_of(c));
        if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 }
    }

    /// Precision of the positive class (1).
    pub fn precision(&self) -> f64 {
        self.precision_of(1)
    }

    /// Recall of the positive class (1).
    pub fn recall(&self) -> f64 {
        self.recall_of(1)
    }

    /// F1 of the positive class (1).
    pub fn f1(&self) -> f64 {
        self.f1_of(1)
    }

    fn weighted(&self, f: impl Fn(usize) -> f64) -> f64 {
        let w = self.weight();
        (0..self.num_classes).map(|c| self.true_weight(c) / w * f(c)).sum()
    }

    /// Spark's `weightedFMeasure`: per-class F1 averaged with the classes' true weights.
    pub fn weighted_f1(&self) -> f64 {
        self.weighted(|c| self.f1_of(c))
    }

    /// Spark's `weightedPrecision`.
    pub fn weighted_precision(&self) -> f64 {
        self.weighted(|c| self.precision_of(c))
    }

    /// Spark's `weightedRecall`.
    pub fn weighted_recall(&self) -> f64 {
        self.weighted(|c| self.recall_of(c))
    }

    /// Mean log loss of the true class probability (clipped to `[1e-15, 1 − 1e-15]`).
    pub fn log_loss(&self) -> f64 {
        self.log_loss_sum / self.weight()
    }

    /// ROC AUC of the class-1 score (binary only; `None` if a class is absent).
    pub fn roc_auc(&self) -> Option<f64> {
        let (p_tot, n_tot) = self.binary_totals()?;
        let mut tp_above = 0.0;
        let mut area = 0.0;
        for b in (0..AUC_BINS).rev() {
            area += self.neg[b] * (tp_above + self.pos[b] / 2.0);
            tp_above += self.pos[b];
        }
        Some(area / (p_tot * n_tot))
    }

    /// Upper bound of the ROC AUC's binning error: ½ × (positive–negative pairs sharing a score
    /// bin) / (all positive–negative pairs).
    pub fn roc_auc_error_bound(&self) -> Option<f64> {
        let (p_tot, n_tot) = self.binary_totals()?;
        let same: f64 = self.pos.iter().zip(&self.neg).map(|(p, n)| p * n).sum();
        Some(0.5 * same / (p_tot * n_tot))
    }

    /// Area under the precision–recall curve (Spark's `areaUnderPR`), binary only.
    pub fn pr_auc(&self) -> Option<f64> {
        let (p_tot, _) = self.binary_totals()?;
        let (mut tp, mut fp) = (0.0, 0.0);
        let mut prev: Option<(f64, f64)> = None;
        let mut area = 0.0;
        for b in (0..AUC_BINS).rev() {
            if self.pos[b] == 0.0 && self.neg[b] == 0.0 {
                continue;
            }
            tp += self.pos[b];
            fp += self.neg[b];
            let (r, p) = (tp / p_tot, tp / (tp + fp));
            let (r0, p0) = prev.unwrap_or((0.0, p));
            area += (r - r0) * (p + p0) / 2.0;
            prev = Some((r, p));
        }
        Some(area)
    }

    fn binary_totals(&self) -> Option<(f64, f64)> {
        if self.num_classes != 2 {
            return None;
        }
        let p: f64 = self.pos.iter().sum();
        let n: f64 = self.neg.iter().sum();
        (p > 0.0 && n > 0.0).then_some((p, n))
    }
}

/// The final metrics of one task on one split (JSON: tagged by `"task"`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "task", rename_all = "snake_case")]
pub enum Metrics {
    /// Regression metrics.
    Regression {
        /// Rows scored.
        rows: u64,
        /// Root mean squared error.
        rmse: f64,
        /// Mean squared error.
        mse: f64,
        /// Mean absolute error.
        mae: f64,
        /// Coefficient of determination.
        r2: f64,
        /// Explained variance.
        explained_variance: f64,
    },
    /// Binary classification metrics (positive class: good).
    Classification {
        /// Rows scored.
        rows: u64,
        /// Accuracy.
        accuracy: f64,
        /// Precision of the positive class.
        precision: f64,
        /// Recall of the positive class.
        recall: f64,
        /// F1 of the positive class.
        f1: f64,
        /// Spark's weighted F1.
        weighted_f1: f64,
        /// Area under the ROC curve.
        roc_auc: Option<f64>,
        /// Area under the precision-recall curve.
        pr_auc: Option<f64>,
        /// Log loss.
        log_loss: f64,
        /// Confusion matrix, rows = true class, columns = predicted.
        confusion: Vec<Vec<f64>>,
    },
}

impl Metrics {
    /// The value of a named metric and whether larger is better.
    pub fn get(&self, name: &str) -> Option<(f64, bool)> {
        match (self, name) {
            (Metrics::Regression { rmse, .. }, "rmse") => Some((*rmse, false)),
            (Metrics::Regression { mse, .. }, "mse") => Some((*mse, false)),
            (Metrics::Regression { mae, .. }, "mae") => Some((*mae, false)),
            (Metrics::Regression { r2, .. }, "r2") => Some((*r2, true)),
            (Metrics::Classification { roc_auc, .. }, "auc") => roc_auc.map(|v| (v, true)),
            (Metrics::Classification { pr_auc, .. }, "pr_auc") => pr_auc.map(|v| (v, true)),
            (Metrics::Classification { accuracy, .. }, "accuracy") => Some((*accuracy, true)),
            (Metrics::Classification { f1, .. }, "f1") => Some((*f1, true)),
            (Metrics::Classification { log_loss, .. }, "logloss") => Some((*log_loss, false)),
            _ => None,
        }
    }

    /// One-line summary for the terminal.
    pub fn summary(&self) -> String {
        match self {
            Metrics::Regression { rmse, mae, r2, .. } => format!("RMSE {rmse:.4}  MAE {mae:.4}  R² {r2:.4}"),
            Metrics::Classification { accuracy, f1, roc_auc, .. } => format!(
                "accuracy {accuracy:.4}  F1 {f1:.4}  AUC {}",
                roc_auc.map_or("n/a".to_string(), |v| format!("{v:.4}"))
            ),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }

    #[test]
    fn regression_by_hand() {
        // y = 1, 2, 3, 4; ŷ = 1.5, 2, 2.5, 5 → errors -0.5, 0, 0.5, -1.
        let s = RegressionStats::from_slices(&[1.0, 2.0, 3.0, 4.0], &[1.5, 2.0, 2.5, 5.0]);
        close(s.mse(), (0.25 + 0.0 + 0.25 + 1.0) / 4.0);
        close(s.rmse(), 0.375f64.sqrt());
        close(s.mae(), 2.0 / 4.0);
        // SStot = 5 (mean 2.5) → R² = 1 − 1.5/5.
        close(s.r2(), 0.7);
        // Σ(ŷ − 2.5)² / 4 = (1 + 0.25 + 0 + 6.25) / 4.
        close(s.explained_variance(), 7.5 / 4.0);
    }

    #[test]
    fn classification_parts_round_trip_and_lengths_are_checked() {
        let mut s = ClassificationStats::new(2);
        s.add(1, 1, &[0.2, 0.8], 1.0).unwrap();
        s.add(0, 1, &[0.4, 0.6], 2.0).unwrap();
        let (c, ll, pos, neg) = s.parts();
        let back = ClassificationStats::from_parts(2, c.to_vec(), ll, pos.to_vec(), neg.to_vec()).unwrap();
        assert_eq!(back, s);
        let err = ClassificationStats::from_parts(2, c.to_vec(), ll, pos[1..].to_vec(), neg.to_vec()).unwrap_err();
        assert!(err.to_string().contains("pos"), "{err}");
        let err = ClassificationStats::from_parts(3, c.to_vec(), ll, Vec::new(), Vec::new()).unwrap_err();
        assert!(err.to_string().contains("confusion"), "{err}");
        assert!(ClassificationStats::from_parts(1, vec![0.0], 0.0, Vec::new(), Vec::new()).is_err());
    }

    #[test]
    fn regression_merge_equals_whole() {
        let y = [1.0, 2.0, 3.0, 4.0, 7.0];
        let p = [1.1, 1.9, 3.5, 4.0, 6.0];
        let whole = RegressionStats::from_slices(&y, &p);
        let mut a = RegressionStats::from_slices(&y[..2], &p[..2]);
        a.merge(&RegressionStats::from_slices(&y[2..], &p[2..]));
        close(a.mse(), whole.mse());
        close(a.r2(), whole.r2());
        assert_eq!(a.count, 5);
    }

    fn binary() -> ClassificationStats {
        // (label, P(class 1)), predicted = P > 0.5.
        let rows = [(1, 0.9), (1, 0.8), (0, 0.7), (1, 0.6), (0, 0.55), (0, 0.4), (1, 0.3), (0, 0.2)];
        let mut s = ClassificationStats::new(2);
        for (y, p) in rows {
            s.add(y, usize::from(p > 0.5), &[1.0 - p, p], 1.0).unwrap();
        }
        s
    }

    #[test]
    fn binary_by_hand() {
        let s = binary();
        // Predicted 1: rows 1,2,3,4,5 → TP 3, FP 2; predicted 0: TN 2, FN 1.
        assert_eq!(s.confusion_matrix(), vec![vec![2.0, 2.0], vec![1.0, 3.0]]);
        close(s.accuracy(), 5.0 / 8.0);
        close(s.precision(), 3.0 / 5.0);
        close(s.recall(), 3.0 / 4.0);
        close(s.f1(), 2.0 * 0.6 * 0.75 / 1.35);
        // Class 0: precision 2/3, recall 2/4 → F1 4/7; weighted F1 = (F1_0 + F1_1) / 2.
        close(s.weighted_f1(), (4.0 / 7.0 + 2.0 * 0.6 * 0.75 / 1.35) / 2.0);
        // ROC AUC: positives at .9 .8 .6 .3, negatives at .7 .55 .4 .2.
        // Pairs (pos > neg): .9→4, .8→4, .6→3, .3→1 = 12 of 16.
        close(s.roc_auc().unwrap(), 12.0 / 16.0);
        close(s.roc_auc_error_bound().unwrap(), 0.0);
        // PR points (recall, precision): (.25,1) (.5,1) (.5,2/3) (.75,.75) (.75,.6) (.75,.5) (1,4/7) (1,.5),
        // prepended with (0,1).
        let pts = [
            (0.0, 1.0),
            (0.25, 1.0),
            (0.5, 1.0),
            (0.5, 2.0 / 3.0),
            (0.75, 0.75),
            (0.75, 0.6),
            (0.75, 0.5),
            (1.0, 4.0 / 7.0),
            (1.0, 0.5),
        ];
        let expected: f64 = pts.windows(2).map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0).sum();
        close(s.pr_auc().unwrap(), expected);
        // Log loss: mean of −ln p(true).
        let ps = [0.9, 0.8, 0.3, 0.6, 0.45, 0.6, 0.3, 0.8];
        close(s.log_loss(), -ps.iter().map(|p: &f64| p.ln()).sum::<f64>() / 8.0);
    }

    #[test]
    fn ties_share_a_bin() {
        let mut s = ClassificationStats::new(2);
        s.add(1, 1, &[0.5, 0.5], 1.0).unwrap();
        s.add(0, 1, &[0.5, 0.5], 1.0).unwrap();
        close(s.roc_auc().unwrap(), 0.5);
        close(s.roc_auc_error_bound().unwrap(), 0.5);
    }

    #[test]
    fn merge_and_multiclass() {
        let mut a = ClassificationStats::new(3);
        a.add(0, 0, &[0.8, 0.1, 0.1], 1.0).unwrap();
        a.add(1, 2, &[0.2, 0.3, 0.5], 1.0).unwrap();
        let mut b = ClassificationStats::new(3);
        b.add(2, 2, &[0.1, 0.1, 0.8], 2.0).unwrap();
        a.merge(&b).unwrap();
        close(a.accuracy(), 3.0 / 4.0);
        assert!(a.roc_auc().is_none());
        // F1: class 0 = 1, class 1 = 0, class 2: p 2/3, r 1 → 0.8; weights 1/4, 1/4, 2/4.
        close(a.weighted_f1(), 0.25 + 0.5 * 0.8);
        assert!(a.merge(&ClassificationStats::new(2)).is_err());
        assert!(a.add(3, 0, &[0.0; 3], 1.0).is_err());
    }
}
