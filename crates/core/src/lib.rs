//! # reelforest-core
//!
//! The shared vocabulary of reelforest. Every other crate speaks in these terms:
//!
//! - [`tables`]: the names and column layouts of the raw warehouse tables that ingest writes
//!   and the feature SQL reads. They are the contract between `reelforest-data` (producer) and
//!   `reelforest-features` (consumer), so they live here, below both.
//! - [`DatasetFormat`]: the MovieLens layouts reelforest understands.
//! - [`RatingScale`]: the range and step of a dataset's ratings, used by validation.
//! - [`TaskKind`]: regression (the rating) or classification (good or not).
//! - [`Progress`]: how libraries report long work without knowing who draws it.
//! - [`error_chain`]: an error and its causes on one line, for messages that cross a process
//!   boundary (gRPC statuses, JSON errors, job records).
//!
//! This crate has no I/O and almost no dependencies, so anything may depend on it.
#![deny(missing_docs)]

pub mod progress;
pub mod tables;

pub use progress::{NoProgress, Progress, Stage};

/// An error and its causes, `: `-separated; a cause whose text the message already contains is
/// not repeated.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
}

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A user id as MovieLens writes it (positive integer).
pub type UserId = i64;
/// A movie id as MovieLens writes it (positive integer).
pub type MovieId = i64;

/// The on-disk layouts of MovieLens-style datasets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetFormat {
    /// `ml-latest-small`, `ml-latest`, `ml-25m`, `ml-32m` and reelforest's generator:
    /// `ratings.csv`, `movies.csv`, optional `tags.csv`, `links.csv` (comma-separated, header).
    Csv,
    /// `ml-100k`: `u.data` (tab-separated), `u.item` (`|`, latin-1, 19 genre flags), `u.user`,
    /// and the predefined `u1..u5`, `ua`, `ub` splits.
    Ml100k,
    /// `ml-1m` and `ml-10m`: `ratings.dat`, `movies.dat`, optional `users.dat` / `tags.dat`
    /// (`::`-separated, no header).
    Dat,
}

impl DatasetFormat {
    /// Every format, in detection order.
    pub const ALL: [DatasetFormat; 3] = [DatasetFormat::Csv, DatasetFormat::Ml100k, DatasetFormat::Dat];

    /// The name used on the command line and in job specs.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetFormat::Csv => "csv",
            DatasetFormat::Ml100k => "ml-100k",
            DatasetFormat::Dat => "dat",
        }
    }
}

impl fmt::Display for DatasetFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A format name that is not one of [`DatasetFormat::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown dataset format {0:?}: expected one of csv, ml-100k, dat")]
pub struct UnknownFormat(pub String);

impl FromStr for DatasetFormat {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "csv" | "ml-latest" | "ml-latest-small" | "ml-25m" | "ml-32m" => Ok(DatasetFormat::Csv),
            "ml-100k" | "100k" => Ok(DatasetFormat::Ml100k),
            "dat" | "ml-1m" | "ml-10m" => Ok(DatasetFormat::Dat),
            other => Err(UnknownFormat(other.to_string())),
        }
    }
}

/// What a model predicts: the two tasks of every reelforest job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// The star rating (label `rating`).
    Regression,
    /// Good (rating >= the threshold) or not (label `good`, class 1 = good).
    Classification,
}

impl TaskKind {
    /// `regression` / `classification`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Regression => "regression",
            TaskKind::Classification => "classification",
        }
    }
}

/// The valid ratings of a dataset: `min..=max` in multiples of `step`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RatingScale {
    /// Smallest valid rating.
    pub min: f64,
    /// Largest valid rating.
    pub max: f64,
    /// Granularity: 0.5 for half stars, 1.0 for whole stars.
    pub step: f64,
}

impl RatingScale {
    /// Half stars from 0.5 to 5.0 (`ml-latest*`, `ml-10m`, `ml-25m`, generated data).
    pub const HALF_STARS: RatingScale = RatingScale { min: 0.5, max: 5.0, step: 0.5 };
    /// Whole stars from 1 to 5 (`ml-100k`, `ml-1m`).
    pub const WHOLE_STARS: RatingScale = RatingScale { min: 1.0, max: 5.0, step: 1.0 };

    /// Whether `r` is on this scale.
    pub fn contains(&self, r: f64) -> bool {
        if !r.is_finite() || r < self.min - 1e-9 || r > self.max + 1e-9 {
            return false;
        }
        let k = (r - self.min) / self.step;
        (k - k.round()).abs() < 1e-9
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales() {
        assert!(RatingScale::HALF_STARS.contains(0.5));
        assert!(RatingScale::HALF_STARS.contains(3.5));
        assert!(!RatingScale::HALF_STARS.contains(3.25));
        assert!(!RatingScale::HALF_STARS.contains(0.0));
        assert!(!RatingScale::WHOLE_STARS.contains(3.5));
        assert!(!RatingScale::WHOLE_STARS.contains(6.0));
        assert!(!RatingScale::WHOLE_STARS.contains(f64::NAN));
    }

    #[test]
    fn format_names_round_trip() {
        for f in DatasetFormat::ALL {
            assert_eq!(f.as_str().parse::<DatasetFormat>().ok(), Some(f));
        }
        assert!("parquet".parse::<DatasetFormat>().is_err());
    }
}
