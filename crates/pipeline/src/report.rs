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
        let stages: Vec<String> = self.timings.iter().map(|(k, v)| format!("{k} {v:.1}s")).collect();
        let _ = writeln!(s, "  time        {:.1}s total: {}", self.total_seconds, stages.join(", "));
        if !self.stage_peak_rss_mib.is_empty() {
            let peaks: Vec<String> = self.stage_peak_rss_mib.iter().map(|(k, v)| format!("{k} {v:.0}")).collect();
            let _ = writeln!(s, "  peak RSS    MiB per stage: {}", peaks.join(", "));
        }
        s
    }
}
