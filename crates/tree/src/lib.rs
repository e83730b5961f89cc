//! reelforest's histogram decision-tree engine and random forest. No I/O, no async.
//!
//! The engine follows LightGBM's layout, configured as a random forest:
//!
//! * [`binning`]: features are quantile-binned **once** into a column-major `u8`
//!   [`BinnedMatrix`] (Spark's `maxBins`, missing values get their own bin).
//! * [`histogram`]: per node, per feature, per bin sums; the smaller child's histogram is built
//!   and the sibling is the parent minus it. [`histogram::HistogramReducer`] is the seam for a
//!   future data-parallel learner.
//! * [`split`]: variance / gini / entropy split search with Spark's rules.
//! * [`partition`]: the rows of each node, with their statistics in node order.
//! * [`sampler`]: seeds, Poisson/Bernoulli bagging and per-node feature subsets.
//! * [`learner`]: grows one tree from those parts.
//! * [`forest`]: Spark MLlib's parameters, [`train`] (rayon), [`train_tree`] (one tree, as a
//!   cluster worker grows it) and the trained [`Forest`] with its outputs and byte encoding.
//! * [`model`]: plain public [`Tree`] / [`Node`] structs and the flat arrays used to predict.
//! * [`metrics`]: mergeable evaluation statistics.
//!
//! **Determinism.** Tree `i` uses randomness from `(seed, i)` only and is grown on one thread,
//! so [`train`] on any number of threads, [`train_tree`] on any worker in any order, and
//! [`Forest::from_trees`] all give byte-identical [`Forest::to_bytes`].
//!
//! ```
//! use reelforest_tree::{BinnedMatrix, ForestParams, train};
//! let x0: Vec<f64> = (0..200).map(|i| f64::from(i) / 200.0).collect();
//! let y: Vec<f64> = x0.iter().map(|x| if *x > 0.5 { 2.0 } else { 0.0 }).collect();
//! let params = ForestParams { num_trees: 5, ..ForestParams::regression() };
//! let binned = BinnedMatrix::from_columns(&[x0.clone()], params.max_bins, params.seed)?;
//! let forest = train(&binned, &y, None, &params)?;
//! assert!((forest.predict(&[vec![0.9]])?[0] - 2.0).abs() < 1e-9);
//! # Ok::<(), reelforest_tree::Error>(())
//! ```
#![deny(missing_docs)]

pub mod binning;
pub mod codec;
pub mod error;
pub mod forest;
pub mod histogram;
pub mod learner;
pub mod metrics;
pub mod model;
pub mod partition;
pub mod sampler;
pub mod split;

pub use binning::{BinEdges, BinMapper, BinnedMatrix};
pub use error::{Error, Result};
pub use forest::{
    FeatureSubsetStrategy, Forest, ForestParams, Impurity, OobError, Task, train, train_tree, train_with_progress,
};
pub use metrics::{ClassificationStats, RegressionStats};
pub use model::{Node, Split, Tree};
