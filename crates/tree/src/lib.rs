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
//! * [`params`]: Spark MLlib's forest parameters, declared once ([`ForestParams`]; its docs say
//!   how to add one).
//! * [`forest`]: [`train`] (rayon) and the trained [`Forest`] with its outputs (batch
//!   prediction on parallel blocks of rows, single rows, the path decomposition, out-of-bag
//!   error) and byte encoding; [`grow_tree`] grows one tree, as a cluster worker does.
//! * [`model`]: plain public [`Tree`] / [`Node`] / [`Split`] structs.
//! * [`codec`]: the one byte format of trees: a forest ([`Forest::to_bytes`]; model files and
//!   the cluster's evaluation tasks carry it) and a set of trees ([`codec::encode_trees`]; a
//!   cluster worker returns the trees it grew in it).
//! * `layout` (crate-private): the arrays a trained tree is re-laid into to predict (flat `f64`
//!   nodes, the forest on byte ranks, complete binary trees) and their walks.
//! * [`metrics`]: mergeable evaluation statistics and the final [`Metrics`] read off them.
//!
//! **Determinism.** Tree `i` uses randomness from `(seed, i)` only and is grown on one thread,
//! so [`train`] on any number of threads, [`grow_tree`] on any worker in any order, and
//! [`Forest::from_trees`] all give byte-identical [`Forest::to_bytes`].
//!
//! ```
//! use reelforest_tree::{BinnedMatrix, ForestParams, Task, TrainingSet, train};
//! let x0: Vec<f64> = (0..200).map(|i| f64::from(i) / 200.0).collect();
//! let y: Vec<f64> = x0.iter().map(|x| if *x > 0.5 { 2.0 } else { 0.0 }).collect();
//! let params = ForestParams { num_trees: 5, ..ForestParams::default() };
//! let binned = BinnedMatrix::from_columns(&[x0.clone()], params.max_bins, params.seed)?;
//! let forest = train(&TrainingSet::new(&binned, &y, None, Task::Regression)?, &params)?;
//! assert!((forest.predict(&[vec![0.9]])?[0] - 2.0).abs() < 1e-9);
//! # Ok::<(), reelforest_tree::Error>(())
//! ```
#![deny(missing_docs)]

pub mod binning;
pub mod codec;
pub mod error;
pub mod forest;
pub mod histogram;
mod layout;
pub mod learner;
pub mod metrics;
pub mod model;
pub mod params;
pub mod partition;
pub mod sampler;
pub mod split;

pub use binning::{BinEdges, BinMapper, BinnedMatrix};
pub use error::{Error, Result};
pub use forest::{Forest, OobError, train, train_with_progress};
pub use learner::{TrainingSet, grow_tree};
pub use metrics::{ClassificationStats, Metrics, RegressionStats};
pub use model::{Node, Split, Tree};
pub use params::{FeatureSubsetStrategy, ForestParams, Impurity, MaxBins, Task};
