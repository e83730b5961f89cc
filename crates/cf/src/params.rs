//! The CF learners' parameters, declared once each (as `reelforest_tree::ForestParams` is for
//! the forest): serde with Spark MLlib's camelCase names where Spark has the parameter, one
//! `Default`, one `validate` whose error names the key. Unknown keys are errors.
//!
//! - [`AlsParams`]: Spark's `ALS` (`rank`, `maxIter`, `regParam`, `implicitPrefs`, `alpha`,
//!   `nonnegative`, `coldStartStrategy`, `seed`, `numUserBlocks`, `numItemBlocks`) plus
//!   `biased`, reelforest's biased variant (global mean + user and item biases + factors).
//! - [`KnnParams`]: item-based kNN with baselines (Surprise's `KNNBaseline` with the shrunk
//!   `pearson_baseline` similarity).
//! - [`BaselineParams`]: the regularised bias baseline `mu + b_u + b_i`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What a prediction for an unknown user or item is (Spark's `coldStartStrategy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColdStartStrategy {
    /// Predict NaN (Spark's default).
    #[default]
    Nan,
    /// Leave the row out of predictions and evaluation.
    Drop,
}

/// Spark MLlib `ALS` parameters with Spark's names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct AlsParams {
    /// `rank`: number of latent factors (default 10, 1..=1000).
    pub rank: u32,
    /// `maxIter`: alternating iterations, each solving items then users (default 10, >= 1).
    pub max_iter: u32,
    /// `regParam`: L2 weight, scaled per user / item by its number of ratings as Spark does
    /// (ALS-WR; default 0.1, finite and >= 0).
    pub reg_param: f64,
    /// `implicitPrefs`: treat ratings as implicit-feedback strengths (Hu, Koren, Volinsky;
    /// default false).
    pub implicit_prefs: bool,
    /// `alpha`: confidence per unit of implicit feedback (default 1.0, finite and >= 0).
    pub alpha: f64,
    /// `nonnegative`: constrain factors to be >= 0 (default false).
    pub nonnegative: bool,
    /// `coldStartStrategy`: `nan` (default) or `drop` for unknown users and items.
    pub cold_start_strategy: ColdStartStrategy,
    /// `seed`: factors start from a Gaussian drawn from `(seed, user or item id)` (default 42).
    pub seed: u64,
    /// `numUserBlocks`: user blocks, the units of parallel work (default 10, >= 1). Unlike
    /// Spark, the factors do not depend on it.
    pub num_user_blocks: u32,
    /// `numItemBlocks`: item blocks (default 10, >= 1); the factors do not depend on it.
    pub num_item_blocks: u32,
    /// `biased` (reelforest): fit `mu + b_u + b_i + p_u . q_i` with the biases regularised like
    /// the factors (default false: Spark's model `p_u . q_i`). Explicit feedback only.
    pub biased: bool,
}

impl Default for AlsParams {
    fn default() -> Self {
        AlsParams {
            rank: 10,
            max_iter: 10,
            reg_param: 0.1,
            implicit_prefs: false,
            alpha: 1.0,
            nonnegative: false,
            cold_start_strategy: ColdStartStrategy::Nan,
            seed: 42,
            num_user_blocks: 10,
            num_item_blocks: 10,
            biased: false,
        }
    }
}

impl AlsParams {
    /// Checks every parameter; the error names the first bad key.
    pub fn validate(&self) -> Result<()> {
        if !(1..=1000).contains(&self.rank) {
            return Err(Error::param("rank", format!("{} is not in 1..=1000", self.rank)));
        }
        if self.max_iter == 0 {
            return Err(Error::param("maxIter", "must be at least 1"));
        }
        if !(self.reg_param >= 0.0 && self.reg_param.is_finite()) {
            return Err(Error::param("regParam", format!("{} must be finite and >= 0", self.reg_param)));
        }
        if !(self.alpha >= 0.0 && self.alpha.is_finite()) {
            return Err(Error::param("alpha", format!("{} must be finite and >= 0", self.alpha)));
        }
        if self.num_user_blocks == 0 {
            return Err(Error::param("numUserBlocks", "must be at least 1"));
        }
        if self.num_item_blocks == 0 {
            return Err(Error::param("numItemBlocks", "must be at least 1"));
        }
        if self.biased && self.implicit_prefs {
            return Err(Error::param("biased", "the biased variant is for explicit ratings (implicitPrefs false)"));
        }
        if self.biased && self.nonnegative {
            return Err(Error::param("biased", "the biased variant cannot be nonnegative (biases are signed)"));
        }
        Ok(())
    }
}

/// The regularised bias baseline `mu + b_u + b_i`, fitted by alternating least squares
/// (Koren's baseline estimates; Surprise's `BaselineOnly` with `method = als`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct BaselineParams {
    /// `regUser`: shrinkage of a user bias towards 0, in ratings (default 15, finite, >= 0).
    pub reg_user: f64,
    /// `regItem`: shrinkage of an item bias towards 0, in ratings (default 10, finite, >= 0).
    pub reg_item: f64,
    /// `maxIter`: alternating passes, items then users (default 10, >= 1).
    pub max_iter: u32,
}

impl Default for BaselineParams {
    fn default() -> Self {
        BaselineParams { reg_user: 15.0, reg_item: 10.0, max_iter: 10 }
    }
}

impl BaselineParams {
    /// Checks every parameter; the error names the first bad key.
    pub fn validate(&self) -> Result<()> {
        if !(self.reg_user >= 0.0 && self.reg_user.is_finite()) {
            return Err(Error::param("regUser", format!("{} must be finite and >= 0", self.reg_user)));
        }
        if !(self.reg_item >= 0.0 && self.reg_item.is_finite()) {
            return Err(Error::param("regItem", format!("{} must be finite and >= 0", self.reg_item)));
        }
        if self.max_iter == 0 {
            return Err(Error::param("maxIter", "must be at least 1"));
        }
        Ok(())
    }
}

/// Item-based kNN with baselines: `b_ui + sum_j s_ij (r_uj - b_uj) / sum_j s_ij` over the `k`
/// items most similar to `i` that `u` rated, with the shrunk Pearson-baseline similarity
/// `s_ij = rho_ij (n_ij - 1) / (n_ij - 1 + shrinkage)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct KnnParams {
    /// `k`: most neighbours a prediction uses (default 40, >= 1).
    pub k: u32,
    /// `minK`: fewest neighbours for a neighbourhood prediction; with fewer the baseline is
    /// predicted (default 1, <= k).
    pub min_k: u32,
    /// `shrinkage`: shrinks similarities computed from few common users (default 100,
    /// finite and >= 0).
    pub shrinkage: f64,
    /// `minSupport`: common users two items need for a similarity (default 2, >= 2: one
    /// common user gives no correlation).
    pub min_support: u32,
    /// `maxNeighbors`: most-similar items kept per item, the lists served predictions walk
    /// (default 400, >= k; on ml-100k u1 that keeps 82% of the positive similarities and costs
    /// 0.0005 RMSE against keeping all of them).
    pub max_neighbors: u32,
    /// The baselines the similarities and predictions are centred on.
    pub baseline: BaselineParams,
}

impl Default for KnnParams {
    fn default() -> Self {
        KnnParams {
            k: 40,
            min_k: 1,
            shrinkage: 100.0,
            min_support: 2,
            max_neighbors: 400,
            baseline: BaselineParams::default(),
        }
    }
}

impl KnnParams {
    /// Checks every parameter; the error names the first bad key.
    pub fn validate(&self) -> Result<()> {
        if self.k == 0 {
            return Err(Error::param("k", "must be at least 1"));
        }
        if self.min_k > self.k {
            return Err(Error::param("minK", format!("{} is more than k = {}", self.min_k, self.k)));
        }
        if !(self.shrinkage >= 0.0 && self.shrinkage.is_finite()) {
            return Err(Error::param("shrinkage", format!("{} must be finite and >= 0", self.shrinkage)));
        }
        if self.min_support < 2 {
            return Err(Error::param("minSupport", format!("{} is less than 2", self.min_support)));
        }
        if self.max_neighbors < self.k {
            return Err(Error::param("maxNeighbors", format!("{} is less than k = {}", self.max_neighbors, self.k)));
        }
        self.baseline.validate().map_err(|e| e.under("baseline"))
    }
}
