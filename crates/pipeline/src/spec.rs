//! The job spec: one TOML file says what data, which split and features, which task, which
//! estimator with which parameters, which tuning grid, and where the model goes.
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
//! [model]                                 # crate::estimator: Spark MLlib's names and defaults
//! kind = "random_forest"
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
//!
//! [ranking]                               # top-k lists on the test split (crate::ranking)
//! k = 10
//! users = 200                             # 0: no ranking evaluation
//! ```
//!
//! Every table uses `deny_unknown_fields`, so a misspelt key is an error that names it, and
//! [`JobSpec::validate`] names the first out-of-range value ([`SpecError`]: the key and why).
//! Files written before `[model]` existed name the forest's table `[forest]` (no `kind`); it is
//! still read, as `[model] kind = "random_forest"`.

use crate::estimator::{Estimator, decode};
use crate::{Error, Result};
use reelforest_features::FeatureSpec;
use reelforest_tree::ForestParams;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A whole job. Read with [`JobSpec::from_toml`] / [`JobSpec::from_file`]; written as TOML
/// with serde (the model file keeps it).
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    /// The estimator and its parameters (`[model]`).
    pub model: Estimator,
    /// Optional hyper-parameter search.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tuning: Option<TuningConfig>,
    /// Leakage audit.
    pub audit: AuditConfig,
    /// Top-k ranking evaluation (`[ranking]`: `k`, `users`).
    pub ranking: crate::ranking::RankingConfig,
}

/// A job file as written: [`JobSpec`] with the estimator's table still raw (its keys depend on
/// `kind`), and the older `[forest]` name for it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobFile {
    name: String,
    #[serde(default = "default_tasks")]
    tasks: Vec<TaskKind>,
    #[serde(default)]
    data: DataSpec,
    #[serde(default)]
    features: FeatureSpec,
    #[serde(default)]
    model: Option<toml::Table>,
    #[serde(default)]
    forest: Option<toml::Table>,
    #[serde(default)]
    tuning: Option<TuningConfig>,
    #[serde(default)]
    audit: AuditConfig,
    #[serde(default)]
    ranking: crate::ranking::RankingConfig,
}

/// What is wrong with a job spec: the key (`model.maxBins`, `tuning.numFolds`; empty when the
/// file is not TOML at all) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{reason}", if key.is_empty() { String::new() } else { format!("{key}: ") })]
pub struct SpecError {
    /// The key's path, as the file spells it.
    pub key: String,
    /// Why the value is refused.
    pub reason: String,
}

impl SpecError {
    /// An error at `key`.
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        SpecError { key: key.into(), reason: reason.into() }
    }

    /// The same error with its key under the table `prefix` (`model` + `maxBins`).
    pub fn under(self, prefix: &str) -> Self {
        let key = if self.key.is_empty() { prefix.to_string() } else { format!("{prefix}.{}", self.key) };
        SpecError { key, reason: self.reason }
    }

    /// A parameter error of an estimator (its key is the Spark name).
    pub fn from_param(e: reelforest_tree::Error) -> Self {
        match e {
            reelforest_tree::Error::InvalidParam { param, reason } => SpecError::new(param, reason),
            other => SpecError::new("", other.to_string()),
        }
    }
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

fn d_one() -> u32 {
    1
}
fn d_true() -> bool {
    true
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
    /// Parameter name (Spark's, any key of the `[model]` table but `kind`) → candidate values.
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
            model: Estimator::RandomForest(ForestParams { num_trees: 50, max_depth: 8, ..ForestParams::default() }),
            tuning: None,
            audit: AuditConfig::default(),
            ranking: crate::ranking::RankingConfig::default(),
        }
    }

    /// Parses TOML; unknown keys, bad types and out-of-range values are errors naming the key.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        let spec = Self::parse(text).map_err(|error| Error::Spec { origin: origin.to_string(), error })?;
        spec.validate().map_err(|error| Error::Spec { origin: origin.to_string(), error })?;
        Ok(spec)
    }

    fn parse(text: &str) -> std::result::Result<Self, SpecError> {
        let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| SpecError::new("", e.to_string()))?;
        let file: JobFile = decode(toml::Value::Table(doc))?;
        let model = match (file.model, file.forest) {
            (Some(_), Some(_)) => {
                return Err(SpecError::new(
                    "forest",
                    "give the estimator in [model] only ([forest] is its older name)",
                ));
            }
            (Some(t), None) => Self::estimator(t, "model")?,
            (None, Some(mut t)) => {
                if t.contains_key("kind") {
                    return Err(SpecError::new("forest.kind", "[forest] is always a random forest; use [model]"));
                }
                t.insert("kind".into(), "random_forest".into());
                Self::estimator(t, "forest")?
            }
            (None, None) => Estimator::default(),
        };
        Ok(JobSpec {
            name: file.name,
            tasks: file.tasks,
            data: file.data,
            features: file.features,
            model,
            tuning: file.tuning,
            audit: file.audit,
            ranking: file.ranking,
        })
    }

    /// The estimator of table `name`, checked; errors name the key under the table.
    fn estimator(table: toml::Table, name: &str) -> std::result::Result<Estimator, SpecError> {
        let e = Estimator::from_table(table).map_err(|e| e.under(name))?;
        e.validate().map_err(|e| e.under(name))?;
        Ok(e)
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

    /// Checks ranges; the error names the key.
    pub fn validate(&self) -> std::result::Result<(), SpecError> {
        let ok_name = !self.name.is_empty()
            && self.name.len() <= 64
            && self.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok_name {
            return Err(SpecError::new("name", format!("{:?} must be 1-64 letters, digits, '_' or '-'", self.name)));
        }
        if self.tasks.is_empty() {
            return Err(SpecError::new("tasks", "give at least one of \"regression\", \"classification\""));
        }
        if let Some(f) = &self.data.format {
            f.parse::<reelforest_core::DatasetFormat>().map_err(|e| SpecError::new("data.format", e.to_string()))?;
        }
        if self.data.is_synth() && self.data.synth.ratings == 0 {
            return Err(SpecError::new("data.synth.ratings", "must be at least 1"));
        }
        self.features.validate().map_err(|e| SpecError::new("features", e.to_string()))?;
        if self.ranking.k == 0 {
            return Err(SpecError::new("ranking.k", "must be at least 1"));
        }
        self.model.validate().map_err(|e| e.under("model"))?;
        if let Some(t) = &self.tuning {
            t.validate(&self.tasks)?;
            for point in crate::tuning::expand_grid(&self.model, &t.grid)? {
                point.validate().map_err(|e| e.under("tuning.grid"))?;
            }
        }
        Ok(())
    }
}

impl TuningConfig {
    /// Checks the search settings against the job's tasks.
    fn validate(&self, tasks: &[TaskKind]) -> std::result::Result<(), SpecError> {
        if self.num_folds < 2 {
            return Err(SpecError::new("tuning.numFolds", format!("{} must be at least 2", self.num_folds)));
        }
        if !(self.train_ratio > 0.0 && self.train_ratio < 1.0) {
            return Err(SpecError::new("tuning.trainRatio", format!("{} must be in (0, 1)", self.train_ratio)));
        }
        if self.parallelism == 0 {
            return Err(SpecError::new("tuning.parallelism", "must be at least 1"));
        }
        if let Some(m) = &self.metric {
            if !["rmse", "mae", "r2", "mse", "auc", "pr_auc", "accuracy", "f1", "logloss"].contains(&m.as_str()) {
                return Err(SpecError::new(
                    "tuning.metric",
                    format!("unknown metric {m:?} (rmse, mse, mae, r2, auc, pr_auc, accuracy, f1, logloss)"),
                ));
            }
            let regression = ["rmse", "mae", "r2", "mse"].contains(&m.as_str());
            let (fits, other) = if regression {
                (TaskKind::Regression, "classification")
            } else {
                (TaskKind::Classification, "regression")
            };
            if tasks.iter().any(|task| *task != fits) {
                return Err(SpecError::new(
                    "tuning.metric",
                    format!(
                        "{m:?} does not apply to {other}, which is in `tasks`; drop tuning.metric to tune each task \
                         on its default (rmse for regression, auc for classification)"
                    ),
                ));
            }
        }
        Ok(())
    }
}
