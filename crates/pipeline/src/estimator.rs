//! Which estimator a job trains, and its parameters as the estimator declares them.
//!
//! The job spec's `[model]` table names the estimator with `kind` and sets its parameters by
//! Spark's names beside it:
//!
//! ```toml
//! [model]
//! kind = "random_forest"      # the only kind today
//! numTrees = 100
//! maxDepth = 10
//! ```
//!
//! Each estimator's parameters are declared once, in the crate that learns it
//! ([`reelforest_tree::ForestParams`] for the forest): type, default and check. This module only
//! dispatches on `kind`, so an estimator plugs in by adding one variant to [`Estimator`] and one
//! arm to [`Estimator::from_table`] and [`Estimator::validate`]. Tuning sets a grid key through
//! the same deserialization ([`Estimator::with_param`]), so a grid key is a typed field and a
//! misspelt one is an unknown-field error.

use crate::spec::SpecError;
use reelforest_tree::ForestParams;
use serde::{Deserialize, Deserializer, Serialize};

/// The estimator of a job, with its parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Estimator {
    /// `kind = "random_forest"`: Spark MLlib's `RandomForestRegressor` / `RandomForestClassifier`.
    RandomForest(ForestParams),
}

impl Default for Estimator {
    fn default() -> Self {
        Estimator::RandomForest(ForestParams::default())
    }
}

impl Estimator {
    /// The `kind` names, for messages.
    pub const KINDS: &'static str = "random_forest";

    /// The estimator of a `[model]` table: `kind` (default `random_forest`) picks the parameter
    /// type, the other keys are its parameters. The error names the key (`maxBins`, `kind`).
    pub fn from_table(mut table: toml::Table) -> Result<Self, SpecError> {
        let kind = match table.remove("kind") {
            None => "random_forest".to_string(),
            Some(toml::Value::String(s)) => s,
            Some(other) => return Err(SpecError::new("kind", format!("expected a string, got {other}"))),
        };
        let params = toml::Value::Table(table);
        match kind.as_str() {
            "random_forest" => decode(params).map(Estimator::RandomForest),
            other => Err(SpecError::new("kind", format!("unknown estimator {other:?} ({})", Self::KINDS))),
        }
    }

    /// The parameters as a table (with `kind`), as the job spec writes them.
    pub fn to_table(&self) -> toml::Table {
        // An estimator's parameters are plain numbers, strings, booleans and arrays: they
        // always serialize.
        toml::Table::try_from(self).unwrap_or_default()
    }

    /// A copy with parameter `key` set to `value` (a tuning grid point). The value goes through
    /// the parameter's own deserialization, so its type and range checks apply; the error names
    /// the key.
    pub fn with_param(&self, key: &str, value: &toml::Value) -> Result<Self, SpecError> {
        if key == "kind" {
            return Err(SpecError::new("kind", "the estimator is not a tunable parameter"));
        }
        let mut table = self.to_table();
        table.insert(key.to_string(), value.clone());
        Self::from_table(table).map_err(|e| if e.key.is_empty() { SpecError::new(key, e.reason) } else { e })
    }

    /// The value of parameter `key` as the spec would write it (`None` for an unknown key).
    pub fn param(&self, key: &str) -> Option<toml::Value> {
        self.to_table().remove(key)
    }

    /// Checks the parameters; the error names the key.
    pub fn validate(&self) -> Result<(), SpecError> {
        match self {
            Estimator::RandomForest(p) => p.validate().map_err(SpecError::from_param),
        }
    }

    /// The forest parameters (every estimator is a random forest today).
    pub fn forest(&self) -> &ForestParams {
        match self {
            Estimator::RandomForest(p) => p,
        }
    }

    /// Number of trees a fit builds (progress bars count them).
    pub fn work_units(&self) -> u64 {
        match self {
            Estimator::RandomForest(p) => u64::from(p.num_trees),
        }
    }
}

impl<'de> Deserialize<'de> for Estimator {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let table = toml::Table::deserialize(d)?;
        Self::from_table(table).map_err(serde::de::Error::custom)
    }
}

/// Deserializes `T` from a TOML value; the error names the key path (`maxBins`, `a.b[2]`).
pub(crate) fn decode<T: serde::de::DeserializeOwned>(value: toml::Value) -> Result<T, SpecError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let key = e.path().to_string();
        let key = if key == "." { String::new() } else { key };
        SpecError::new(key, e.into_inner().message().trim().to_string())
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn kind_picks_the_parameter_type() {
        let e = Estimator::from_table(table("kind = \"random_forest\"\nnumTrees = 7\n")).unwrap();
        assert_eq!(e.forest().num_trees, 7);
        assert_eq!(Estimator::from_table(toml::Table::new()).unwrap(), Estimator::default());
        let err = Estimator::from_table(table("kind = \"als\"\n")).unwrap_err();
        assert_eq!(err.to_string(), "kind: unknown estimator \"als\" (random_forest)");
    }

    #[test]
    fn errors_name_the_key() {
        let err = Estimator::from_table(table("maxBins = 512\n")).unwrap_err();
        assert_eq!(err.to_string(), "maxBins: 512 is not in 2..=256");
        let err = Estimator::from_table(table("maxDepth = \"deep\"\n")).unwrap_err();
        assert_eq!(err.key, "maxDepth");
        let err = Estimator::from_table(table("maxBin = 16\n")).unwrap_err();
        assert!(err.to_string().contains("unknown field `maxBin`"), "{err}");
    }

    #[test]
    fn a_table_round_trips_and_a_param_can_be_set() {
        let e = Estimator::from_table(table("numTrees = 7\nfeatureSubsetStrategy = \"sqrt\"\n")).unwrap();
        let t = e.to_table();
        assert_eq!(t["kind"].as_str(), Some("random_forest"));
        assert_eq!(Estimator::from_table(t).unwrap(), e);
        let deeper = e.with_param("maxDepth", &toml::Value::Integer(12)).unwrap();
        assert_eq!(deeper.forest().max_depth, 12);
        assert_eq!(deeper.param("maxDepth"), Some(toml::Value::Integer(12)));
        let err = e.with_param("maxBins", &toml::Value::Integer(1)).unwrap_err();
        assert_eq!(err.to_string(), "maxBins: 1 is not in 2..=256");
        let err = e.with_param("kind", &toml::Value::String("x".into())).unwrap_err();
        assert_eq!(err.key, "kind");
    }
}
