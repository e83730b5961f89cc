//! What a feature run computes: [`FeatureSpec`], [`SplitSpec`], [`Protocol`].

use crate::cf::CfSpec;
use crate::error::{Error, Result};
use crate::sql;
use serde::{Deserialize, Serialize};

/// How ratings are divided into training and test rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SplitSpec {
    /// Seeded random: a rating is a test row when `rf_bucket(user, movie, seed) < test_fraction`
    /// (the seed is [`FeatureSpec::seed`]). Deterministic per seed, independent of the rating.
    Random {
        /// Expected share of test rows, in `[0, 1)`.
        test_fraction: f64,
    },
    /// Per-user temporal: each user's latest `floor(n * test_fraction)` ratings (by timestamp,
    /// ties broken by the larger movie id) are test rows.
    Temporal {
        /// Share of each user's ratings held out, in `[0, 1)`.
        test_fraction: f64,
    },
    /// A split the dataset ships (ml-100k `u1`..`u5`, `ua`, `ub`), read from table
    /// `predefined_splits`. An unknown name is an error listing the available ones.
    Predefined {
        /// The split's name.
        name: String,
    },
}

impl Default for SplitSpec {
    fn default() -> Self {
        SplitSpec::Random { test_fraction: 0.2 }
    }
}

/// Which rows the aggregate features are computed from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// Aggregates from training rows only; training rows get out-of-fold values, test rows the
    /// full-training values. The only protocol for real models.
    #[default]
    Honest,
    /// Aggregates over **all** ratings, test rows included, and no out-of-fold: the kind of
    /// pipeline that produces inflated headline numbers. Exists only for the leakage audit.
    Leaky,
}

/// Everything a feature run needs besides the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeatureSpec {
    /// How to split (ignored by [`build_features_from_split`](crate::build_features_from_split)).
    pub split: SplitSpec,
    /// Honest (default) or leaky aggregates.
    pub protocol: Protocol,
    /// Number of out-of-fold folds for training rows, at least 2 (default 5).
    pub folds: u32,
    /// Seed of the random split and of the fold assignment.
    pub seed: u64,
    /// `good = rating >= good_threshold` (default 4.0).
    pub good_threshold: f64,
    /// Prior strength `m` of the Bayesian averages `(sum + m*mu) / (n + m)` (default 10).
    pub prior_strength: f64,
    /// `datafusion.execution.target_partitions` for the pipeline's queries; the caller's
    /// context setting when `None`.
    pub target_partitions: Option<usize>,
    /// Extra per-(user, movie) feature tables, by SQL name (`run.table`), registered in the
    /// caller's context. Each has `user_id`, `movie_id` and numeric feature columns; they are
    /// left-joined onto `train` and `test` after the built-in features, in this order.
    ///
    /// This is the seam for model-derived features (factor-model or neighbourhood predictions):
    /// the producer must follow the same protocol as the SQL features, i.e. a training row's
    /// value comes from a model fitted without that row's fold, a test row's from a model
    /// fitted on all training rows.
    pub extra_feature_tables: Vec<String>,
    /// Out-of-fold collaborative-filtering features (`cf_*` columns; see [`crate::cf`]).
    pub cf: CfSpec,
}

impl Default for FeatureSpec {
    fn default() -> Self {
        FeatureSpec {
            split: SplitSpec::default(),
            protocol: Protocol::Honest,
            folds: 5,
            seed: 42,
            good_threshold: 4.0,
            prior_strength: 10.0,
            target_partitions: None,
            extra_feature_tables: Vec::new(),
            cf: CfSpec::default(),
        }
    }
}

impl FeatureSpec {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        match &self.split {
            SplitSpec::Random { test_fraction } | SplitSpec::Temporal { test_fraction } => {
                if !(test_fraction.is_finite() && (0.0..1.0).contains(test_fraction)) {
                    return Err(Error::InvalidSpec {
                        field: "split.test_fraction",
                        reason: format!("{test_fraction} is not in [0, 1)"),
                    });
                }
            }
            SplitSpec::Predefined { name } => {
                let ok = !name.is_empty()
                    && name.len() <= 64
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
                if !ok {
                    return Err(Error::InvalidSpec {
                        field: "split.name",
                        reason: format!("{name:?} is not a split name (letters, digits, '_', '-', '.')"),
                    });
                }
            }
        }
        if !(2..=1000).contains(&self.folds) {
            return Err(Error::InvalidSpec { field: "folds", reason: format!("{} is not in 2..=1000", self.folds) });
        }
        if !self.good_threshold.is_finite() {
            return Err(Error::InvalidSpec {
                field: "good_threshold",
                reason: format!("{} is not finite", self.good_threshold),
            });
        }
        if !(self.prior_strength.is_finite() && self.prior_strength >= 0.0) {
            return Err(Error::InvalidSpec {
                field: "prior_strength",
                reason: format!("{} is not a finite number >= 0", self.prior_strength),
            });
        }
        if self.target_partitions == Some(0) {
            return Err(Error::InvalidSpec { field: "target_partitions", reason: "must be at least 1".into() });
        }
        for t in &self.extra_feature_tables {
            sql::quote_table(t)?;
        }
        self.cf.validate()
    }

    /// The seed of the fold assignment, derived from [`seed`](Self::seed) so that folds are
    /// independent of the random split's buckets.
    pub fn fold_seed(&self) -> i64 {
        crate::udf::splitmix64(self.seed ^ 0x0F01_D5EE_D0F0_1D5E) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip() {
        let spec = FeatureSpec::default();
        spec.validate().expect("valid");
        let json = serde_json::to_string(&spec).expect("json");
        let back: FeatureSpec = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, spec);
        let p: FeatureSpec =
            serde_json::from_str(r#"{"split":{"kind":"predefined","name":"u1"},"protocol":"leaky"}"#).expect("parse");
        assert_eq!(p.split, SplitSpec::Predefined { name: "u1".into() });
        assert_eq!(p.protocol, Protocol::Leaky);
        assert_eq!(p.folds, 5);
        assert!(serde_json::from_str::<FeatureSpec>(r#"{"fold":3}"#).is_err());
    }

    #[test]
    fn bad_fields_are_named() {
        let bad = |f: fn(&mut FeatureSpec)| {
            let mut s = FeatureSpec::default();
            f(&mut s);
            s.validate().expect_err("invalid").to_string()
        };
        assert!(bad(|s| s.folds = 1).contains("folds"));
        assert!(bad(|s| s.split = SplitSpec::Random { test_fraction: 1.0 }).contains("split.test_fraction"));
        assert!(bad(|s| s.split = SplitSpec::Temporal { test_fraction: f64::NAN }).contains("split.test_fraction"));
        assert!(bad(|s| s.split = SplitSpec::Predefined { name: "u1'; --".into() }).contains("split.name"));
        assert!(bad(|s| s.prior_strength = -1.0).contains("prior_strength"));
        assert!(bad(|s| s.good_threshold = f64::INFINITY).contains("good_threshold"));
        assert!(bad(|s| s.target_partitions = Some(0)).contains("target_partitions"));
        assert!(bad(|s| s.extra_feature_tables = vec!["x.y z".into()]).contains("invalid table"));
    }
}
