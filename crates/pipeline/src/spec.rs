//! The job spec: one TOML file says what data, which split and features, which task, which
//! forest parameters, which tuning grid, and where the model goes.
//!
//! ```toml
//! name = "ml100k-u1"                      # model name: models/<name>/<version>/
//! tasks = ["regression", "classification"]
//!
//! [data]
//! source = "../../../shared/datasets/ml-100k"   # a directory (relative to this file), or "synth"
//! format = "ml-100k"                      # optional: detected from the files
//! # metadata = "movie_metadata.csv"       # optional IMDB-5000 metadata
//! # [data.synth]                          # only with source = "synth"
//! # ratings = 100000
//! # seed = 7
//!
//! [features]                              # reelforest_features::FeatureSpec
//! split = { kind = "predefined", name = "u1" }
//! folds = 5
//!
//! [forest]                                # Spark MLlib's parameter names and defaults
//! numTrees = 100
//! maxDepth = 10
//! maxBins = 32
//!
//! [tuning]                                # optional: CrossValidator / TrainValidationSplit
//! method = "cross_validation"
//! numFolds = 3
//! [tuning.grid]
//! maxDepth = [5, 10]
//!
//! [audit]
//! leaky = true                            # also score the leaky protocol, for comparison
//! ```
//!
//! Every table uses `deny_unknown_fields`, so a misspelt key is an error that names it, and
//! [`JobSpec::validate`] names the first out-of-range value.

use crate::{Error, Result};
use reelforest_features::FeatureSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A whole job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// Model name (letters, digits, `_`, `-`): the model is written to `models/<name>/<version>/`.
    pub name: String,
    /// Which models to train: `regression` (the star rating), `classification` (good or not).
    #[serde(default = "default_tasks")]
    pub tasks: Vec<TaskKind>,
    /// Where the ratings come from.
    #[serde(default)]
    pub data: DataSpec,
    /// Split and feature protocol.
    #[serde(default)]
    pub features: FeatureSpec,
    /// Forest parameters (Spark names).
    #[serde(default)]
    pub forest: ForestConfig,
    /// Optional hyper-parameter search.
    #[serde(default)]
    pub tuning: Option<TuningConfig>,
    /// Leakage audit.
    #[serde(default)]
    pub audit: AuditConfig,
}

fn default_tasks() -> Vec<TaskKind> {
    vec![TaskKind::Regression, TaskKind::Classification]
}

pub use reelforest_core::TaskKind;

/// The data source of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// `"synth"` for generated data, or a directory of MovieLens files.
    #[serde(default = "default_source")]
    pub source: String,
    /// The layout, when not detected: `csv`, `ml-100k`, `dat`.
    #[serde(default)]
    pub format: Option<String>,
    /// IMDB-5000 style metadata file (directors).
    #[serde(default)]
    pub metadata: Option<PathBuf>,
    /// Generator settings when `source = "synth"`.
    #[serde(default)]
    pub synth: SynthConfig,
}

fn default_source() -> String {
    "synth".to_string()
}

impl Default for DataSpec {
    fn default() -> Self {
        DataSpec { source: default_source(), format: None, metadata: None, synth: SynthConfig::default() }
    }
}

impl DataSpec {
    /// Whether the job generates its data.
    pub fn is_synth(&self) -> bool {
        self.source == "synth"
    }
}

/// Generator settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SynthConfig {
    /// Number of ratings.
    #[serde(default = "default_synth_ratings")]
    pub ratings: u64,
    /// Generator seed.
    #[serde(default = "default_seed")]
    pub seed: u64,
}

fn default_synth_ratings() -> u64 {
    100_000
}
fn default_seed() -> u64 {
    42
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig { ratings: default_synth_ratings(), seed: default_seed() }
    }
}

/// Random-forest parameters with Spark MLlib's names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ForestConfig {
    /// Number of trees (Spark default 20).
    #[serde(default = "d_num_trees")]
    pub num_trees: u32,
    /// Maximum depth; 0 is a single leaf (Spark default 5). Not capped at 30.
    #[serde(default = "d_max_depth")]
    pub max_depth: u32,
    /// Maximum number of bins per feature, 2..=256 (Spark default 32).
    #[serde(default = "d_max_bins")]
    pub max_bins: u32,
    /// Minimum rows in each child of a split (default 1).
    #[serde(default = "d_one")]
    pub min_instances_per_node: u32,
    /// Minimum information gain of a split (default 0).
    #[serde(default)]
    pub min_info_gain: f64,
    /// Minimum fraction of the weighted rows in each child, in [0, 0.5) (default 0).
    #[serde(default)]
    pub min_weight_fraction_per_node: f64,
    /// Fraction of rows each tree sees, in (0, 1] (default 1).
    #[serde(default = "d_rate")]
    pub subsampling_rate: f64,
    /// Poisson bootstrap (default true).
    #[serde(default = "d_true")]
    pub bootstrap: bool,
    /// `auto`, `all`, `onethird`, `sqrt`, `log2`, a fraction in (0, 1], or a count.
    #[serde(default = "d_auto")]
    pub feature_subset_strategy: String,
    /// `variance` for regression; `gini` (default) or `entropy` for classification.
    #[serde(default)]
    pub impurity: Option<String>,
    /// Forest seed.
    #[serde(default = "default_seed")]
    pub seed: u64,
}

fn d_num_trees() -> u32 {
    20
}
fn d_max_depth() -> u32 {
    5
}
fn d_max_bins() -> u32 {
    32
}
fn d_one() -> u32 {
    1
}
fn d_rate() -> f64 {
    1.0
}
fn d_true() -> bool {
    true
}
fn d_auto() -> String {
    "auto".to_string()
}

impl Default for ForestConfig {
    fn default() -> Self {
        ForestConfig {
            num_trees: d_num_trees(),
            max_depth: d_max_depth(),
            max_bins: d_max_bins(),
            min_instances_per_node: 1,
            min_info_gain: 0.0,
            min_weight_fraction_per_node: 0.0,
            subsampling_rate: 1.0,
            bootstrap: true,
            feature_subset_strategy: d_auto(),
            impurity: None,
            seed: default_seed(),
        }
    }
}

/// Tuning method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TuningMethod {
    /// Spark's `CrossValidator`: `numFolds` folds, features recomputed inside each fold.
    CrossValidation,
    /// Spark's `TrainValidationSplit`: one split with `trainRatio` of the training rows.
    TrainValidationSplit,
}

/// A parameter grid and how to score it (Spark's `ParamGridBuilder` + evaluator).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TuningConfig {
    /// CrossValidator or TrainValidationSplit.
    #[serde(default = "d_method")]
    pub method: TuningMethod,
    /// Folds of the cross-validation, at least 2 (default 3, as Spark).
    #[serde(default = "d_folds")]
    pub num_folds: u32,
    /// Training share of TrainValidationSplit, in (0, 1) (default 0.75, as Spark).
    #[serde(default = "d_ratio")]
    pub train_ratio: f64,
    /// Metric to optimise: `rmse`, `mae`, `r2` (regression); `auc`, `accuracy`, `f1`,
    /// `logloss` (classification). Default: `rmse` / `auc`.
    #[serde(default)]
    pub metric: Option<String>,
    /// Grid points fitted at once (default 1, as Spark).
    #[serde(default = "d_one")]
    pub parallelism: u32,
    /// Seed of the fold assignment.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Parameter name (Spark's) → candidate values. Supported: numTrees, maxDepth, maxBins,
    /// minInstancesPerNode, minInfoGain, subsamplingRate, featureSubsetStrategy.
    #[serde(default)]
    pub grid: BTreeMap<String, Vec<toml::Value>>,
}

fn d_method() -> TuningMethod {
    TuningMethod::CrossValidation
}
fn d_folds() -> u32 {
    3
}
fn d_ratio() -> f64 {
    0.75
}

/// The leakage audit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Also build leaky features and score the same parameters on them (default true).
    #[serde(default = "d_true")]
    pub leaky: bool,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig { leaky: true }
    }
}

impl JobSpec {
    /// The default embedded job: generated data, both tasks, a modest forest, a small grid.
    pub fn embedded_default() -> Self {
        JobSpec {
            name: "reelforest-demo".into(),
            tasks: default_tasks(),
            data: DataSpec::default(),
            features: FeatureSpec::default(),
            forest: ForestConfig { num_trees: 50, max_depth: 8, ..ForestConfig::default() },
            tuning: None,
            audit: AuditConfig::default(),
        }
    }

    /// Parses TOML; unknown keys and bad types are errors naming the key.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        let spec: JobSpec =
            toml::from_str(text).map_err(|e| Error::Spec { origin: origin.to_string(), message: e.to_string() })?;
        spec.validate().map_err(|message| Error::Spec { origin: origin.to_string(), message })?;
        Ok(spec)
    }

    /// Reads a job file; relative data paths are resolved against the file's directory.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        let mut spec = Self::from_toml(&text, &path.display().to_string())?;
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        if !spec.data.is_synth() && Path::new(&spec.data.source).is_relative() {
            spec.data.source = dir.join(&spec.data.source).display().to_string();
        }
        if let Some(m) = &spec.data.metadata
            && m.is_relative()
        {
            spec.data.metadata = Some(dir.join(m));
        }
        Ok(spec)
    }

    /// Checks ranges; the message names the key.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let ok_name = !self.name.is_empty()
            && self.name.len() <= 64
            && self.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok_name {
            return Err(format!("name: {:?} must be 1-64 letters, digits, '_' or '-'", self.name));
        }
        if self.tasks.is_empty() {
            return Err("tasks: give at least one of \"regression\", \"classification\"".into());
        }
        if let Some(f) = &self.data.format {
            f.parse::<reelforest_core::DatasetFormat>().map_err(|e| format!("data.format: {e}"))?;
        }
        if self.data.is_synth() && self.data.synth.ratings == 0 {
            return Err("data.synth.ratings: must be at least 1".into());
        }
        self.features.validate().map_err(|e| format!("features: {e}"))?;
        self.forest.validate("forest")?;
        if let Some(t) = &self.tuning {
            if t.num_folds < 2 {
                return Err(format!("tuning.numFolds: {} must be at least 2", t.num_folds));
            }
            if !(t.train_ratio > 0.0 && t.train_ratio < 1.0) {
                return Err(format!("tuning.trainRatio: {} must be in (0, 1)", t.train_ratio));
            }
            if t.parallelism == 0 {
                return Err("tuning.parallelism: must be at least 1".into());
            }
            if let Some(m) = &t.metric
                && !["rmse", "mae", "r2", "mse", "auc", "pr_auc", "accuracy", "f1", "logloss"].contains(&m.as_str())
            {
                return Err(format!(
                    "tuning.metric: unknown metric {m:?} (rmse, mse, mae, r2, auc, pr_auc, accuracy, f1, logloss)"
                ));
            }
            if let Some(m) = &t.metric {
                let regression = ["rmse", "mae", "r2", "mse"].contains(&m.as_str());
                let (fits, other) = if regression {
                    (TaskKind::Regression, "classification")
                } else {
                    (TaskKind::Classification, "regression")
                };
                if self.tasks.iter().any(|task| *task != fits) {
                    return Err(format!(
                        "tuning.metric: {m:?} does not apply to {other}, which is in `tasks`; drop tuning.metric to \
                         tune each task on its default (rmse for regression, auc for classification)"
                    ));
                }
            }
            for points in crate::tuning::expand_grid(&self.forest, &t.grid)? {
                points.validate("tuning.grid")?;
            }
        }
        Ok(())
    }
}

impl ForestConfig {
    /// Checks every parameter; `prefix` names the table in the message.
    pub fn validate(&self, prefix: &str) -> std::result::Result<(), String> {
        if self.num_trees == 0 {
            return Err(format!("{prefix}.numTrees: must be at least 1"));
        }
        if !(2..=256).contains(&self.max_bins) {
            return Err(format!("{prefix}.maxBins: {} is not in 2..=256", self.max_bins));
        }
        if self.max_depth > 64 {
            return Err(format!("{prefix}.maxDepth: {} is more than 64", self.max_depth));
        }
        if self.min_instances_per_node == 0 {
            return Err(format!("{prefix}.minInstancesPerNode: must be at least 1"));
        }
        if !(self.min_info_gain.is_finite() && self.min_info_gain >= 0.0) {
            return Err(format!("{prefix}.minInfoGain: {} must be >= 0", self.min_info_gain));
        }
        if !(0.0..0.5).contains(&self.min_weight_fraction_per_node) {
            return Err(format!(
                "{prefix}.minWeightFractionPerNode: {} is not in [0, 0.5)",
                self.min_weight_fraction_per_node
            ));
        }
        if !(self.subsampling_rate > 0.0 && self.subsampling_rate <= 1.0) {
            return Err(format!("{prefix}.subsamplingRate: {} is not in (0, 1]", self.subsampling_rate));
        }
        if let Some(i) = &self.impurity
            && !["variance", "gini", "entropy"].contains(&i.as_str())
        {
            return Err(format!("{prefix}.impurity: unknown impurity {i:?} (variance, gini, entropy)"));
        }
        crate::train::parse_strategy(&self.feature_subset_strategy)
            .map_err(|e| format!("{prefix}.featureSubsetStrategy: {e}"))?;
        Ok(())
    }
}
