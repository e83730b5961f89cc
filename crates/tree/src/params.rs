//! The random forest's parameters, declared once.
//!
//! [`ForestParams`] is the one declaration of Spark MLlib's `RandomForestRegressor` /
//! `RandomForestClassifier` parameters in reelforest (LightGBM's `config.h` habit: name, type,
//! default and check side by side). It is used as it is by the job spec's `[model]` table, by
//! tuning grids (a grid key is a field's serde name), by the model file (stored as Spark's
//! `paramMap` JSON, as Spark's own model writer does), by the cluster's fit tasks and by the
//! HTTP API's model view. Nothing else restates a parameter's type, default or range.
//!
//! Serde names are Spark's (camelCase: `numTrees`, `maxBins`, ...); unknown keys are errors
//! that name the key, and missing keys take the defaults below.
//!
//! # Adding a parameter
//!
//! 1. one field in [`ForestParams`], its doc line naming Spark's parameter, its default and range;
//! 2. its default in `impl Default for ForestParams`;
//! 3. its check in [`ForestParams::validate`] (the error names the key), or a type that cannot
//!    hold a bad value (as [`MaxBins`] does);
//! 4. use it in the learner.
//!
//! The job spec, tuning, the model file and the API pick it up from there. A new estimator
//! (gradient-boosted trees, ALS) declares its own parameter type the same way and adds one
//! variant to the job spec's estimator enum.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
pub use crate::split::Impurity;

/// What the forest predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Task {
    /// A real-valued label.
    Regression,
    /// Class indices `0..num_classes` (labels are given as `f64` integers).
    Classification {
        /// Number of classes (>= 2).
        num_classes: u32,
    },
}

/// A job's task as the engine learns it: the rating (regression) or good / not good (binary
/// classification). The one place a job task becomes an engine task.
impl From<reelforest_core::TaskKind> for Task {
    fn from(kind: reelforest_core::TaskKind) -> Self {
        match kind {
            reelforest_core::TaskKind::Regression => Task::Regression,
            reelforest_core::TaskKind::Classification => Task::Classification { num_classes: 2 },
        }
    }
}

impl Task {
    /// Number of classes (0 for regression).
    pub fn num_classes(self) -> u32 {
        match self {
            Task::Regression => 0,
            Task::Classification { num_classes } => num_classes,
        }
    }
}

/// Random-forest parameters with Spark MLlib's names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ForestParams {
    /// `numTrees`: trees in the forest (default 20, at least 1).
    pub num_trees: u32,
    /// `maxDepth`: depth of each tree; 0 is a single leaf (default 5, at most 64; Spark caps it
    /// at 30).
    pub max_depth: u32,
    /// `maxBins`: bins per feature (default 32, 2..=256).
    #[cfg_attr(feature = "openapi", schema(value_type = u16, minimum = 2, maximum = 256))]
    pub max_bins: MaxBins,
    /// `minInstancesPerNode`: rows each child of a split must have (default 1, at least 1).
    pub min_instances_per_node: u32,
    /// `minInfoGain`: information gain a split must reach (default 0, finite and >= 0).
    pub min_info_gain: f64,
    /// `minWeightFractionPerNode`: share of the total row weight each child must have
    /// (default 0, in [0, 0.5)).
    pub min_weight_fraction_per_node: f64,
    /// `subsamplingRate`: share of the rows each tree sees (default 1, in (0, 1]).
    pub subsampling_rate: f64,
    /// `bootstrap`: Poisson bootstrap; without it rows are drawn once (default true).
    pub bootstrap: bool,
    /// `featureSubsetStrategy`: features each node considers: `auto`, `all`, `onethird`,
    /// `sqrt`, `log2`, a fraction in (0, 1] or a count >= 1 (default `auto`).
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "auto"))]
    pub feature_subset_strategy: FeatureSubsetStrategy,
    /// `impurity`: `variance` (regression); `gini` or `entropy` (classification). Default:
    /// `variance` for regression, `gini` for classification.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "gini"))]
    pub impurity: Option<Impurity>,
    /// `seed`: tree `i`'s randomness comes from `(seed, i)` only (default 42; Spark's default
    /// is a hash of the class name).
    pub seed: u64,
    /// `thresholds` (classification only): class `argmax(p_k / thresholds_k)` is predicted;
    /// one finite value >= 0 per class, at most one of them 0 (default: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<Vec<f64>>,
}

impl Default for ForestParams {
    fn default() -> Self {
        ForestParams {
            num_trees: 20,
            max_depth: 5,
            max_bins: MaxBins::DEFAULT,
            min_instances_per_node: 1,
            min_info_gain: 0.0,
            min_weight_fraction_per_node: 0.0,
            subsampling_rate: 1.0,
            bootstrap: true,
            feature_subset_strategy: FeatureSubsetStrategy::Auto,
            impurity: None,
            seed: 42,
            thresholds: None,
        }
    }
}

impl ForestParams {
    /// Checks every parameter that does not depend on the task; the error names the first bad
    /// key (`maxBins` cannot hold a bad value: its type checks; a [`FeatureSubsetStrategy`]
    /// written in Rust can, `Fraction(1.5)` or `Count(0)`, so it is checked here as parsing does).
    pub fn validate(&self) -> Result<()> {
        if self.num_trees == 0 {
            return Err(Error::param("numTrees", "must be at least 1"));
        }
        if self.max_depth > 64 {
            return Err(Error::param("maxDepth", format!("{} is more than 64", self.max_depth)));
        }
        if self.min_instances_per_node == 0 {
            return Err(Error::param("minInstancesPerNode", "must be at least 1"));
        }
        if !(self.min_info_gain >= 0.0 && self.min_info_gain.is_finite()) {
            return Err(Error::param("minInfoGain", format!("{} must be finite and >= 0", self.min_info_gain)));
        }
        if !(self.min_weight_fraction_per_node >= 0.0 && self.min_weight_fraction_per_node < 0.5) {
            return Err(Error::param(
                "minWeightFractionPerNode",
                format!("{} is not in [0, 0.5)", self.min_weight_fraction_per_node),
            ));
        }
        if !(self.subsampling_rate > 0.0 && self.subsampling_rate <= 1.0) {
            return Err(Error::param("subsamplingRate", format!("{} is not in (0, 1]", self.subsampling_rate)));
        }
        self.feature_subset_strategy.checked().map_err(|reason| Error::param("featureSubsetStrategy", reason))?;
        if let Some(t) = &self.thresholds {
            if t.iter().any(|v| !(*v >= 0.0 && v.is_finite())) {
                return Err(Error::param("thresholds", "values must be finite and >= 0"));
            }
            if t.iter().filter(|v| **v == 0.0).count() > 1 {
                return Err(Error::param("thresholds", "at most one value may be 0"));
            }
        }
        Ok(())
    }

    /// [`ForestParams::validate`] plus the checks that need the task: the impurity fits it,
    /// `thresholds` has one value per class, a classification has at least 2 classes.
    pub fn validate_for(&self, task: Task) -> Result<()> {
        self.validate()?;
        if let Task::Classification { num_classes } = task
            && num_classes < 2
        {
            return Err(Error::param("numClasses", format!("must be >= 2, got {num_classes}")));
        }
        self.impurity_for(task)?;
        if let Some(t) = &self.thresholds {
            let k = task.num_classes() as usize;
            if k == 0 {
                return Err(Error::param("thresholds", "only valid for classification"));
            }
            if t.len() != k {
                return Err(Error::param("thresholds", format!("expected {k} values, got {}", t.len())));
            }
        }
        Ok(())
    }

    /// The impurity a tree of `task` is grown with: regression always uses `variance` (as
    /// Spark's regressor, whose only impurity it is); classification uses the set impurity,
    /// `gini` by default, and refuses `variance`.
    pub fn impurity_for(&self, task: Task) -> Result<Impurity> {
        match (task, self.impurity) {
            (Task::Regression, _) => Ok(Impurity::Variance),
            (Task::Classification { .. }, None) => Ok(Impurity::Gini),
            (Task::Classification { .. }, Some(Impurity::Variance)) => {
                Err(Error::param("impurity", "classification needs gini or entropy, got variance"))
            }
            (Task::Classification { .. }, Some(i)) => Ok(i),
        }
    }

    /// Bins column-major features with this `maxBins` and `seed`.
    pub fn bin<C: AsRef<[f64]> + Sync>(&self, columns: &[C]) -> Result<crate::BinnedMatrix> {
        crate::BinnedMatrix::from_columns(columns, self.max_bins, self.seed)
    }

    /// Features considered per node out of `n` for `task`.
    pub fn features_per_node(&self, n: usize, task: Task) -> usize {
        self.feature_subset_strategy.resolve(n, task, self.num_trees)
    }
}

/// Spark's `maxBins`: a bin count in `2..=256` (bins are stored as bytes). The only way to make
/// one is [`MaxBins::new`] (or deserializing, which calls it), so every holder is in range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u16")]
pub struct MaxBins(u16);

impl MaxBins {
    /// Spark's default, 32.
    pub const DEFAULT: MaxBins = MaxBins(32);
    /// The most bins a feature can have (they are stored as `u8`).
    pub const MAX: MaxBins = MaxBins(256);

    /// `bins` if it is in `2..=256`: the one range check of `maxBins`.
    pub fn new(bins: i64) -> Result<Self> {
        Self::try_from(bins).map_err(|reason| Error::param("maxBins", reason))
    }

    /// The bin count.
    pub fn get(self) -> usize {
        usize::from(self.0)
    }
}

impl Default for MaxBins {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<i64> for MaxBins {
    /// Why the value is refused (the caller knows the key: serde's path, or [`MaxBins::new`]).
    type Error = String;

    fn try_from(bins: i64) -> std::result::Result<Self, String> {
        match u16::try_from(bins) {
            Ok(b) if (2..=256).contains(&b) => Ok(MaxBins(b)),
            _ => Err(format!("{bins} is not in 2..=256")),
        }
    }
}

impl From<MaxBins> for u16 {
    fn from(b: MaxBins) -> u16 {
        b.0
    }
}

impl fmt::Display for MaxBins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Spark's `featureSubsetStrategy`: how many features each node considers. Written as Spark
/// spells it (`"auto"`, `"0.5"`, `"3"`); a number is accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StrategyRepr", into = "String")]
pub enum FeatureSubsetStrategy {
    /// `all` for a single tree, `sqrt` for classification, `onethird` for regression.
    Auto,
    /// Every feature.
    All,
    /// `ceil(n / 3)`.
    OneThird,
    /// `ceil(sqrt(n))`.
    Sqrt,
    /// `max(1, ceil(log2(n)))`.
    Log2,
    /// `ceil(fraction × n)`, fraction in `(0, 1]`.
    Fraction(f64),
    /// `min(count, n)`, count >= 1.
    Count(u32),
}

/// What `featureSubsetStrategy` may be written as in a spec or grid.
#[derive(Deserialize)]
#[serde(untagged)]
enum StrategyRepr {
    Count(u32),
    Fraction(f64),
    Text(String),
}

impl TryFrom<StrategyRepr> for FeatureSubsetStrategy {
    /// Why the value is refused (serde's path names the key).
    type Error = String;

    fn try_from(r: StrategyRepr) -> std::result::Result<Self, String> {
        match r {
            StrategyRepr::Count(n) => Self::Count(n).checked(),
            StrategyRepr::Fraction(f) => Self::Fraction(f).checked(),
            StrategyRepr::Text(s) => Self::parse(&s),
        }
    }
}

impl FromStr for FeatureSubsetStrategy {
    type Err = Error;

    /// Parses Spark's spelling (`auto`, `all`, `onethird`, `sqrt`, `log2`, an integer `n`, or a
    /// fraction in `(0, 1]`); like Spark an integer is tried before a fraction, so `"1"` is one
    /// feature and `"1.0"` is all of them.
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s).map_err(|reason| Error::param("featureSubsetStrategy", reason))
    }
}

impl FeatureSubsetStrategy {
    /// The one parse and check of a strategy; the error says why, the caller names the key.
    fn parse(s: &str) -> std::result::Result<Self, String> {
        let t = s.trim().to_ascii_lowercase();
        let v = match t.as_str() {
            "auto" => Self::Auto,
            "all" => Self::All,
            "onethird" => Self::OneThird,
            "sqrt" => Self::Sqrt,
            "log2" => Self::Log2,
            _ => {
                if let Ok(n) = t.parse::<u32>() {
                    Self::Count(n)
                } else if let Ok(f) = t.parse::<f64>() {
                    Self::Fraction(f)
                } else {
                    return Err(format!(
                        "expected auto|all|onethird|sqrt|log2|<fraction in (0,1]>|<n >= 1>, got {s:?}"
                    ));
                }
            }
        };
        v.checked()
    }
}

impl fmt::Display for FeatureSubsetStrategy {
    /// Spark's spelling; parses back to the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::All => f.write_str("all"),
            Self::OneThird => f.write_str("onethird"),
            Self::Sqrt => f.write_str("sqrt"),
            Self::Log2 => f.write_str("log2"),
            // `{:?}` keeps a decimal point (1.0, not 1), so a fraction never reads back as a count.
            Self::Fraction(x) => write!(f, "{x:?}"),
            Self::Count(n) => write!(f, "{n}"),
        }
    }
}

impl From<FeatureSubsetStrategy> for String {
    fn from(s: FeatureSubsetStrategy) -> String {
        s.to_string()
    }
}

impl FeatureSubsetStrategy {
    /// The range check of a fraction or count.
    fn checked(self) -> std::result::Result<Self, String> {
        match self {
            Self::Fraction(f) if !(f > 0.0 && f <= 1.0) => Err(format!("fraction must be in (0, 1], got {f}")),
            Self::Count(0) => Err("feature count must be >= 1".to_string()),
            v => Ok(v),
        }
    }

    /// Number of features per node out of `n` for `task` and `num_trees`.
    pub fn resolve(self, n: usize, task: Task, num_trees: u32) -> usize {
        let nf = n as f64;
        let k = match self {
            Self::Auto if num_trees == 1 => n,
            Self::Auto => match task {
                Task::Regression => (nf / 3.0).ceil() as usize,
                Task::Classification { .. } => nf.sqrt().ceil() as usize,
            },
            Self::All => n,
            Self::OneThird => (nf / 3.0).ceil() as usize,
            Self::Sqrt => nf.sqrt().ceil() as usize,
            Self::Log2 => (nf.log2().ceil() as usize).max(1),
            Self::Fraction(f) => (f * nf).ceil() as usize,
            Self::Count(c) => usize::try_from(c).unwrap_or(usize::MAX),
        };
        k.clamp(1, n.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes as the job spec and the model file do: serde's path names the key.
    fn from_json(text: &str) -> std::result::Result<ForestParams, String> {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| format!("{}: {}", e.path(), e.inner()))
    }

    #[test]
    fn defaults_are_sparks() {
        let p = from_json("{}").expect("empty object");
        assert_eq!(p, ForestParams::default());
        assert_eq!((p.num_trees, p.max_depth, p.max_bins.get()), (20, 5, 32));
        assert_eq!(p.feature_subset_strategy, FeatureSubsetStrategy::Auto);
        assert_eq!(p.impurity_for(Task::Regression).expect("variance"), Impurity::Variance);
        assert_eq!(p.impurity_for(Task::Classification { num_classes: 2 }).expect("gini"), Impurity::Gini);
    }

    #[test]
    fn serde_names_are_sparks_and_round_trip() {
        let p = ForestParams {
            num_trees: 7,
            max_bins: MaxBins::new(64).expect("64"),
            feature_subset_strategy: FeatureSubsetStrategy::Fraction(1.0),
            impurity: Some(Impurity::Entropy),
            ..ForestParams::default()
        };
        let json = serde_json::to_string(&p).expect("json");
        assert!(json.contains("\"numTrees\":7"), "{json}");
        assert!(json.contains("\"maxBins\":64"), "{json}");
        assert!(json.contains("\"featureSubsetStrategy\":\"1.0\""), "{json}");
        assert!(json.contains("\"impurity\":\"entropy\""), "{json}");
        assert_eq!(from_json(&json).expect("back"), p);
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = from_json(r#"{"maxBins": 512}"#).expect_err("512 bins");
        assert!(e.starts_with("maxBins: 512 is not in 2..=256"), "{e}");
        let e = from_json(r#"{"maxBins": -3}"#).expect_err("negative");
        assert!(e.starts_with("maxBins: -3 is not in 2..=256"), "{e}");
        let e = from_json(r#"{"featureSubsetStrategy": "half"}"#).expect_err("half");
        assert!(e.starts_with("featureSubsetStrategy: expected auto|"), "{e}");
        let e = from_json(r#"{"featureSubsetStrategy": 0}"#).expect_err("zero features");
        assert!(e.starts_with("featureSubsetStrategy: feature count must be >= 1"), "{e}");
        let e = from_json(r#"{"maxBin": 16}"#).expect_err("unknown key");
        assert!(e.contains("unknown field `maxBin`"), "{e}");
        assert_eq!(MaxBins::new(1).expect_err("1 bin").to_string(), "invalid parameter maxBins: 1 is not in 2..=256");
        let e = ForestParams { num_trees: 0, ..ForestParams::default() }.validate().expect_err("0 trees");
        assert_eq!(e.to_string(), "invalid parameter numTrees: must be at least 1");
        let fraction = FeatureSubsetStrategy::Fraction(1.5);
        let e = ForestParams { feature_subset_strategy: fraction, ..ForestParams::default() }.validate();
        let e = e.expect_err("a fraction above 1, written in Rust");
        assert_eq!(e.to_string(), "invalid parameter featureSubsetStrategy: fraction must be in (0, 1], got 1.5");
    }

    #[test]
    fn strategy_spellings() {
        let parse = |s: &str| s.parse::<FeatureSubsetStrategy>().expect(s);
        assert_eq!(parse("1"), FeatureSubsetStrategy::Count(1));
        assert_eq!(parse("1.0"), FeatureSubsetStrategy::Fraction(1.0));
        assert_eq!(parse(" SQRT "), FeatureSubsetStrategy::Sqrt);
        for s in ["auto", "all", "onethird", "sqrt", "log2", "0.25", "3"] {
            assert_eq!(parse(s).to_string(), s);
        }
        let n: FeatureSubsetStrategy = serde_json::from_str("3").expect("a number");
        assert_eq!(n, FeatureSubsetStrategy::Count(3));
        let f: FeatureSubsetStrategy = serde_json::from_str("0.5").expect("a fraction");
        assert_eq!(f, FeatureSubsetStrategy::Fraction(0.5));
    }

    #[test]
    fn task_checks() {
        let gini = ForestParams { impurity: Some(Impurity::Gini), ..ForestParams::default() };
        assert_eq!(gini.impurity_for(Task::Regression).expect("regression ignores it"), Impurity::Variance);
        let variance = ForestParams { impurity: Some(Impurity::Variance), ..ForestParams::default() };
        let e = variance.validate_for(Task::Classification { num_classes: 2 }).expect_err("variance");
        assert_eq!(e.to_string(), "invalid parameter impurity: classification needs gini or entropy, got variance");
        let t = ForestParams { thresholds: Some(vec![0.5, 0.5]), ..ForestParams::default() };
        assert!(t.validate_for(Task::Regression).is_err());
        assert!(t.validate_for(Task::Classification { num_classes: 3 }).is_err());
        t.validate_for(Task::Classification { num_classes: 2 }).expect("two thresholds");
    }
}
