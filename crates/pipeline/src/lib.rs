//! # reelforest-pipeline
//!
//! A reelforest **job**: the TOML [`JobSpec`] and the embedded [`run_job`] that takes it from raw
//! files to a saved model and a report, in one process, through the same library code the
//! cluster runs (`reelforest-data` ingest, `reelforest-features` SQL on a DataFusion context,
//! `reelforest-tree` forests).
//!
//! Modules:
//! - [`spec`]: the job file (data, split/features, tasks, estimator, tuning grid, audit),
//!   strictly checked; [`estimator`]: `[model] kind = ...` and the estimator's own parameter
//!   type (declared once, in the crate that learns it).
//! - [`dataset`]: feature tables as columns for the tree engine.
//! - [`train`]: fitting, mergeable evaluation statistics and metrics.
//! - [`tuning`]: ParamGridBuilder / CrossValidator / TrainValidationSplit, fold-honest.
//! - [`run`]: the embedded run; [`report`]: what it measured; [`model`]: model files
//!   (`model.pb`, save / load).
//! - [`predict`]: [`predict::Predictor`], a model plus its feature run's online lookup
//!   ([`reelforest_features::online`]): rating, P(good) and cold-start flags of any (user, movie).
//! - [`ranking`]: top-k lists judged as rankings (Spark's `RankingEvaluator` metrics) for the
//!   forest, ALS alone and popularity.
//! - [`memory`]: peak resident memory per stage of a run (Linux).
#![deny(missing_docs)]

pub mod dataset;
mod error;
pub mod estimator;
pub mod memory;
pub mod model;
pub mod predict;
pub mod ranking;
pub mod report;
pub mod run;
pub mod spec;
pub mod train;
pub mod tuning;

pub use error::{Error, RemoteError, Result};
pub use estimator::Estimator;
pub use report::Report;
pub use run::{RunOptions, run_job, run_job_with};
pub use spec::{JobSpec, SpecError};
pub use train::{EvalRequest, FitRequest, LocalTrainer, Stats, TableRef, Trainer};
