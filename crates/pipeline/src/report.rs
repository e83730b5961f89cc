//! The run report: what `reelforest run` prints and writes to `report.json`.

use crate::estimator::Estimator;
use crate::spec::TaskKind;
use reelforest_features::FeatureRun;
use reelforest_tree::metrics::Metrics;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// Everything a run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Job (model) name.
    pub job: String,
    /// Version of the model written.
    pub model_version: u64,
    /// Warehouse root URL.
    pub warehouse: String,
    /// Data directory ingested.
    pub data: String,
    /// Ratings accepted by ingest.
    pub ingest_rows: u64,
    /// Input lines rejected by ingest (see the quarantine files).
    pub ingest_rejected: u64,
    /// The honest feature run.
    pub features: FeatureRun,
    /// One entry per task: the chosen model's metrics.
    pub tasks: Vec<TaskReport>,
    /// Every tuning grid point's cross-validated metric.
    pub grid: Vec<GridResult>,
    /// Honest vs leaky test metrics.
    pub audit: Vec<AuditEntry>,
    /// The collaborative-filtering models alone on the same test rows (their `cf_*` columns
    /// as predictions): the bias baseline, ALS, ... beside the forest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cf_alone: Vec<CfAlone>,
    /// Top-k lists on the test split judged as rankings (forest, ALS alone, popularity).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranking: Vec<crate::ranking::RankingReport>,
    /// Seconds per stage.
    pub timings: Vec<(String, f64)>,
    /// Peak resident memory (MiB) during each stage, memory held from earlier stages included
    /// (see [`crate::memory`]); empty where the system cannot measure it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stage_peak_rss_mib: Vec<(String, f64)>,
    /// Wall time of the run.
    pub total_seconds: f64,
}

/// The final model of one task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskReport {
    /// Regression or classification.
    pub task: TaskKind,
    /// The estimator and its parameters (the tuned ones when a grid was searched).
    pub params: Estimator,
    /// Test-split metrics.
    pub test: Metrics,
    /// Training-split metrics (in-sample; for the overfitting gap).
    pub train: Metrics,
    /// Cross-validated metric of the chosen point, when tuned.
    pub cv: Option<f64>,
    /// Out-of-bag error (MSE or misclassification rate).
    pub oob_error: f64,
    /// Seconds to fit the final forest.
    pub fit_seconds: f64,
    /// CPU seconds (user + system, all threads) this process spent on that fit, when the trees
    /// were built in this process (`None` when a cluster built them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fit_cpu_seconds: Option<f64>,
    /// Nodes over all trees.
    pub total_num_nodes: u64,
    /// Feature importances (Spark's definition), largest first.
    pub feature_importances: Vec<(String, f64)>,
    /// SHA-256 of the encoded forest ([`reelforest_tree::Forest::to_bytes`]): equal across the
    /// embedded run and any cluster size.
    #[serde(default)]
    pub forest_sha256: String,
}

/// One grid point of the search.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GridResult {
    /// The task.
    pub task: TaskKind,
    /// The estimator and all its parameters at this point.
    pub params: Estimator,
    /// The tuned values, e.g. `maxDepth=5 numTrees=20`.
    pub label: String,
    /// Metric name.
    pub metric: String,
    /// Mean over folds.
    pub mean: f64,
    /// Per-fold values.
    pub folds: Vec<f64>,
}

/// One CF model scored on its own: its test-row predictions (the `cf_*` column, fitted on
/// every training row) against the labels.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CfAlone {
    /// The feature column (`cf_baseline`, `cf_als`, `cf_mf`, `cf_knn`).
    pub model: String,
    /// Test rows with a prediction (ALS has none for a user or movie without training
    /// ratings: Spark's `coldStartStrategy = drop`).
    pub rows: u64,
    /// Test rows without one.
    pub dropped: u64,
    /// Regression metrics of the prediction.
    pub test: Metrics,
    /// ROC AUC of the prediction as a score for `good`.
    pub roc_auc: f64,
}

impl CfAlone {
    /// Scores every `cf_*` prediction column of `ds` (the honest test table).
    pub fn score_all(ds: &crate::dataset::Dataset) -> Vec<CfAlone> {
        // `cf_implicit` is a preference score, not a rating: it is judged by the ranking.
        const PREDICTIONS: [&str; 4] = ["cf_baseline", "cf_als", "cf_mf", "cf_knn"];
        ds.feature_names
            .iter()
            .zip(&ds.columns)
            .filter(|(name, _)| PREDICTIONS.contains(&name.as_str()))
            .map(|(name, col)| {
                let kept: Vec<usize> = (0..ds.len()).filter(|&r| !col[r].is_nan()).collect();
                let labels: Vec<f64> = kept.iter().map(|&r| ds.rating[r]).collect();
                let predictions: Vec<f64> = kept.iter().map(|&r| col[r]).collect();
                let s = reelforest_tree::metrics::RegressionStats::from_slices(&labels, &predictions);
                let good: Vec<bool> = kept.iter().map(|&r| ds.good[r] == 1.0).collect();
                CfAlone {
                    model: name.clone(),
                    rows: kept.len() as u64,
                    dropped: (ds.len() - kept.len()) as u64,
                    test: s.metrics(),
                    roc_auc: roc_auc(&predictions, &good),
                }
            })
            .collect()
    }
}

/// Exact ROC AUC of `score` for `positive` (Mann-Whitney, ties counted half); NaN when one
/// class is absent.
pub fn roc_auc(score: &[f64], positive: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|&a, &b| score[a].total_cmp(&score[b]));
    let (mut rank_sum, mut n_pos) = (0.0f64, 0u64);
    let mut k = 0;
    while k < order.len() {
        let mut end = k;
        while end + 1 < order.len() && score[order[end + 1]] == score[order[k]] {
            end += 1;
        }
        // Ranks k+1 ..= end+1 share their mean.
        let mean_rank = (k + end) as f64 / 2.0 + 1.0;
        for &r in &order[k..=end] {
            if positive[r] {
                rank_sum += mean_rank;
                n_pos += 1;
            }
        }
        k = end + 1;
    }
    let n_neg = score.len() as u64 - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return f64::NAN;
    }
    let (p, n) = (n_pos as f64, n_neg as f64);
    (rank_sum - p * (p + 1.0) / 2.0) / (p * n)
}

/// The leakage audit of one task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The task.
    pub task: TaskKind,
    /// Test metrics with honest features.
    pub honest: Metrics,
    /// Test metrics with leaky features (aggregates over all ratings, test rows included).
    pub leaky: Metrics,
}

impl Report {
    /// The summary table printed at the end of a run.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let f = &self.features;
        let _ = writeln!(s, "\nreelforest run: {} (model version {})", self.job, self.model_version);
        let _ = writeln!(
            s,
            "  data        {} ratings ingested, {} lines quarantined  ({})",
            self.ingest_rows, self.ingest_rejected, self.data
        );
        let _ = writeln!(
            s,
            "  features    {} train / {} test rows, {} features, protocol {:?}",
            f.train_rows,
            f.test_rows,
            f.feature_columns.len(),
            f.spec.protocol
        );
        for t in &self.tasks {
            let _ = writeln!(
                s,
                "  {:<14} test  {}   ({} trees, depth {}, fit {:.2}s, OOB {:.4})",
                t.task.as_str(),
                t.test.summary(),
                t.params.forest().num_trees,
                t.params.forest().max_depth,
                t.fit_seconds,
                t.oob_error
            );
            if let Some(cv) = t.cv {
                let _ = writeln!(s, "  {:<14} cv    {:.4} (mean over folds; compare with test above)", "", cv);
            }
            let top: Vec<String> = t.feature_importances.iter().take(5).map(|(n, v)| format!("{n} {v:.3}")).collect();
            let _ = writeln!(s, "  {:<14} top features: {}", "", top.join(", "));
        }
        if !self.grid.is_empty() {
            let _ = writeln!(s, "  tuning grid:");
            for g in &self.grid {
                let _ = writeln!(s, "    {:<14} {:<40} {} {:.4}", g.task.as_str(), g.label, g.metric, g.mean);
            }
        }
        for a in &self.audit {
            let _ = writeln!(
                s,
                "  leakage audit {:<14} honest: {}\n                {:<14} leaky:  {}",
                a.task.as_str(),
                a.honest.summary(),
                "",
                a.leaky.summary()
            );
        }
        for c in &self.cf_alone {
            let _ = writeln!(
                s,
                "  {:<14} test  {}   AUC {:.4} (alone{})",
                c.model,
                c.test.summary(),
                c.roc_auc,
                if c.dropped > 0 { format!("; {} cold rows dropped", c.dropped) } else { String::new() }
            );
        }
        for r in &self.ranking {
            let _ = writeln!(
                s,
                "  top-{:<2} {:<12} precision {:.4}  recall {:.4}  NDCG {:.4}  MAP {:.4}  ({} users; {} distinct movies in {} lists, at most {} lists each)",
                r.k,
                r.model,
                r.precision_at_k,
                r.recall_at_k,
                r.ndcg_at_k,
                r.map_at_k,
                r.users,
                r.distinct_movies,
                r.users.min(crate::ranking::DIVERSITY_USERS as u64),
                r.max_lists_per_movie
            );
        }
        let stages: Vec<String> = self.timings.iter().map(|(k, v)| format!("{k} {v:.1}s")).collect();
        let _ = writeln!(s, "  time        {:.1}s total: {}", self.total_seconds, stages.join(", "));
        if !self.stage_peak_rss_mib.is_empty() {
            let peaks: Vec<String> = self.stage_peak_rss_mib.iter().map(|(k, v)| format!("{k} {v:.0}")).collect();
            let _ = writeln!(s, "  peak RSS    MiB per stage: {}", peaks.join(", "));
        }
        s
    }
}
