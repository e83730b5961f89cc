//! The Model page's evaluation charts, computed from the model's own test split:
//! predicted vs actual ratings (a sample for the scatter plot), the residual distribution and
//! the ROC curve of P(good), with its AUC.
//!
//! [`Analysis::compute`] reads `<run>.test` (the honest test rows the feature run wrote, see
//! [`reelforest_features::FeatureRun`]) with [`reelforest_pipeline::dataset::Dataset::load`],
//! predicts them with the model's forests on a blocking thread, and summarizes. It runs once
//! per served version, on the first request that needs it.

use crate::Result;
use reelforest_core::TaskKind;
use reelforest_features::FeatureRun;
use reelforest_pipeline::dataset::Dataset;
use reelforest_pipeline::model::Model;
use reelforest_warehouse::Warehouse;

/// Most points drawn in the predicted-vs-actual scatter plot.
const SCATTER_POINTS: usize = 1500;
/// Bins of the residual histogram.
const RESIDUAL_BINS: usize = 24;
/// Most points of the ROC polyline.
const ROC_POINTS: usize = 200;

/// A histogram with equal-width bins.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    /// Bin edges, one more than the counts.
    pub edges: Vec<f64>,
    /// Rows per bin.
    pub counts: Vec<u64>,
}

/// The evaluation of a model on its test split.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Analysis {
    /// Test rows scored.
    pub test_rows: usize,
    /// Why there is nothing to show, when there is not.
    pub unavailable: Option<String>,
    /// (actual, predicted) rating pairs, an evenly spaced sample of the test rows.
    pub scatter: Vec<(f64, f64)>,
    /// Predicted minus actual rating.
    pub residuals: Histogram,
    /// Mean residual.
    pub residual_mean: Option<f64>,
    /// ROC curve of P(good): (false positive rate, true positive rate) from (0,0) to (1,1).
    pub roc: Vec<(f64, f64)>,
    /// Area under [`Analysis::roc`] (over every threshold, before thinning).
    pub auc: Option<f64>,
}

impl Analysis {
    /// An analysis that explains why it is empty.
    pub fn unavailable(e: &dyn std::error::Error) -> Self {
        Analysis { unavailable: Some(crate::reload::error_chain(e)), ..Analysis::default() }
    }

    /// Scores the model on its feature run's test table.
    pub async fn compute(warehouse: &Warehouse, model: &Model) -> Result<Self> {
        let run = FeatureRun::load(warehouse, &model.artifact.serving.run).await?;
        if run.feature_columns != model.artifact.feature_names {
            return Ok(Analysis {
                unavailable: Some(format!(
                    "feature run {:?} no longer has the model's feature columns (rebuilt since training?)",
                    run.run
                )),
                ..Analysis::default()
            });
        }
        let ctx = datafusion::prelude::SessionContext::new();
        warehouse.register_all(&ctx).await?;
        let test = Dataset::load(&ctx, &run.table("test"), &run).await?;
        if test.is_empty() {
            return Ok(Analysis { unavailable: Some("the test split has no rows".into()), ..Analysis::default() });
        }
        let model = model.clone();
        tokio::task::spawn_blocking(move || Self::score(&model, &test)).await?
    }

    fn score(model: &Model, test: &Dataset) -> Result<Self> {
        let mut a = Analysis { test_rows: test.len(), ..Analysis::default() };
        if let Some(f) = model.forest(TaskKind::Regression) {
            let predicted = f.predict(&test.columns).map_err(reelforest_pipeline::Error::from)?;
            let step = test.len().div_ceil(SCATTER_POINTS).max(1);
            a.scatter = (0..test.len()).step_by(step).map(|i| (test.rating[i], predicted[i])).collect();
            let residuals: Vec<f64> = predicted.iter().zip(&test.rating).map(|(p, y)| p - y).collect();
            a.residual_mean = Some(residuals.iter().sum::<f64>() / residuals.len() as f64);
            a.residuals = histogram(&residuals, RESIDUAL_BINS);
        }
        if let Some(f) = model.forest(TaskKind::Classification) {
            let proba = f.predict_proba(&test.columns).map_err(reelforest_pipeline::Error::from)?;
            let k = proba.len() / test.len().max(1);
            if k >= 2 {
                let scores: Vec<f64> = proba.chunks_exact(k).map(|p| p[1]).collect();
                let (roc, auc) = roc_curve(&scores, &test.good);
                a.roc = thin(roc, ROC_POINTS);
                a.auc = auc;
            }
        }
        Ok(a)
    }
}

/// Equal-width histogram of `values` over their range.
pub fn histogram(values: &[f64], bins: usize) -> Histogram {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let (Some(lo), Some(hi)) =
        (finite.iter().copied().min_by(|a, b| a.total_cmp(b)), finite.iter().copied().max_by(|a, b| a.total_cmp(b)))
    else {
        return Histogram::default();
    };
    let bins = bins.max(1);
    let width = if hi > lo { (hi - lo) / bins as f64 } else { 1.0 };
    let edges = (0..=bins).map(|i| lo + width * i as f64).collect();
    let mut counts = vec![0u64; bins];
    for v in finite {
        let i = (((v - lo) / width) as usize).min(bins - 1);
        counts[i] += 1;
    }
    Histogram { edges, counts }
}

/// ROC points over every distinct score (highest first) and the trapezoidal AUC; `None` when
/// one class is absent.
pub fn roc_curve(scores: &[f64], labels: &[f64]) -> (Vec<(f64, f64)>, Option<f64>) {
    let mut order: Vec<usize> = (0..scores.len().min(labels.len())).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let pos = order.iter().filter(|&&i| labels[i] >= 0.5).count() as f64;
    let neg = order.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return (Vec::new(), None);
    }
    let mut points = vec![(0.0, 0.0)];
    let (mut tp, mut fp, mut auc) = (0.0, 0.0, 0.0);
    let mut i = 0;
    while i < order.len() {
        let s = scores[order[i]];
        while i < order.len() && scores[order[i]] == s {
            if labels[order[i]] >= 0.5 {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            i += 1;
        }
        let (x0, y0) = points.last().copied().unwrap_or((0.0, 0.0));
        let (x1, y1) = (fp / neg, tp / pos);
        auc += (x1 - x0) * (y0 + y1) / 2.0;
        points.push((x1, y1));
    }
    (points, Some(auc))
}

/// At most `n` points, evenly spaced, keeping the first and the last.
fn thin(points: Vec<(f64, f64)>, n: usize) -> Vec<(f64, f64)> {
    if points.len() <= n || n < 2 {
        return points;
    }
    let last = points.len() - 1;
    (0..n).map(|i| points[i * last / (n - 1)]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roc_of_perfect_random_and_inverted_scores() {
        let labels = [1.0, 1.0, 0.0, 0.0];
        let (pts, auc) = roc_curve(&[0.9, 0.8, 0.2, 0.1], &labels);
        assert_eq!(auc, Some(1.0));
        assert_eq!(pts.first(), Some(&(0.0, 0.0)));
        assert_eq!(pts.last(), Some(&(1.0, 1.0)));
        assert_eq!(roc_curve(&[0.1, 0.2, 0.8, 0.9], &labels).1, Some(0.0));
        // All scores tied: the diagonal.
        assert_eq!(roc_curve(&[0.5; 4], &labels), (vec![(0.0, 0.0), (1.0, 1.0)], Some(0.5)));
        assert_eq!(roc_curve(&[0.5, 0.4], &[1.0, 1.0]), (Vec::new(), None), "one class only");
        // One swapped pair out of four positive/negative pairs.
        let (_, auc) = roc_curve(&[0.9, 0.3, 0.4, 0.1], &labels);
        assert_eq!(auc, Some(0.75));
    }

    #[test]
    fn histogram_covers_every_value() {
        let h = histogram(&[-1.0, 0.0, 0.5, 1.0, f64::NAN], 4);
        assert_eq!(h.edges, vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
        assert_eq!(h.counts, vec![1, 0, 1, 2]);
        assert_eq!(histogram(&[2.0, 2.0], 3).counts, vec![2, 0, 0]);
        assert_eq!(histogram(&[], 3), Histogram::default());
    }

    #[test]
    fn thinning_keeps_the_ends() {
        let pts: Vec<(f64, f64)> = (0..=1000).map(|i| (f64::from(i), 0.0)).collect();
        let t = thin(pts, 11);
        assert_eq!(t.len(), 11);
        assert_eq!((t[0].0, t[5].0, t[10].0), (0.0, 500.0, 1000.0));
    }
}
