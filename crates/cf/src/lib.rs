//! reelforest's collaborative-filtering learners: no I/O, no async, deterministic.
//!
//! - [`Ratings`]: the rating matrix, indexed by user and by item (the input of every learner);
//! - [`AlsModel`]: Spark MLlib's ALS (explicit and implicit feedback, nonnegative), and a
//!   biased variant `mu + b_u + b_i + p_u . q_i`;
//! - [`KnnModel`]: item-based kNN with baselines (shrunk Pearson-baseline similarity);
//! - [`BaselineModel`]: the regularised bias baseline `mu + b_u + b_i`.
//!
//! Parameters are declared once per learner in [`params`] (Spark's names where Spark has the
//! parameter; serde; one `validate` naming the key), the same way `reelforest_tree` declares
//! the forest's. Every learner sums in an order fixed by the data (CSR rows in id order) and
//! parallelises over independent rows with rayon, so a model is the same bytes for any thread
//! count.

#![deny(missing_docs)]

pub mod als;
pub mod baseline;
pub mod error;
pub mod knn;
mod linalg;
pub mod params;
pub mod ratings;

pub use als::{AlsModel, Factors, Recommendations};
pub use baseline::BaselineModel;
pub use error::{Error, Result};
pub use knn::KnnModel;
pub use params::{AlsParams, BaselineParams, ColdStartStrategy, KnnParams};
pub use ratings::Ratings;
