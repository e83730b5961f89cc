//! The regularised bias baseline `mu + b_u + b_i` (Koren's baseline estimates).
//!
//! Alternating closed-form passes, as Surprise's `BaselineOnly(method = "als")`:
//! `b_i = sum_u (r_ui - mu - b_u) / (regItem + n_i)`, then
//! `b_u = sum_i (r_ui - mu - b_i) / (regUser + n_u)`, `maxIter` times. Each bias is a sum over
//! its CSR row in index order, so the result does not depend on the thread count.

use rayon::prelude::*;

use crate::error::Result;
use crate::params::BaselineParams;
use crate::ratings::{Csr, Ratings};

/// A fitted bias baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineModel {
    /// The parameters it was fitted with.
    pub params: BaselineParams,
    /// The mean training rating.
    pub mean: f64,
    /// User ids, ascending.
    pub user_ids: Vec<i64>,
    /// `b_u`, by user index.
    pub user_bias: Vec<f64>,
    /// Item ids, ascending.
    pub item_ids: Vec<i64>,
    /// `b_i`, by item index.
    pub item_bias: Vec<f64>,
}

/// One pass over one side: `bias[r] = sum (v - mu - other[c]) / (reg + n_r)`.
fn pass(csr: &Csr, other: &[f64], mu: f64, reg: f64) -> Vec<f64> {
    (0..csr.rows())
        .into_par_iter()
        .map(|r| {
            let (cols, vals) = csr.row(r);
            let sum: f64 = cols.iter().zip(vals).map(|(&c, &v)| f64::from(v) - mu - other[c as usize]).sum();
            let denom = reg + cols.len() as f64;
            if denom > 0.0 { sum / denom } else { 0.0 }
        })
        .collect()
}

impl BaselineModel {
    /// Fits the baseline to `ratings`.
    pub fn fit(ratings: &Ratings, params: &BaselineParams) -> Result<Self> {
        params.validate()?;
        let mu = ratings.mean();
        let mut user_bias = vec![0.0; ratings.user_ids().len()];
        let mut item_bias = vec![0.0; ratings.item_ids().len()];
        for _ in 0..params.max_iter {
            item_bias = pass(&ratings.by_item, &user_bias, mu, params.reg_item);
            user_bias = pass(&ratings.by_user, &item_bias, mu, params.reg_user);
        }
        Ok(BaselineModel {
            params: params.clone(),
            mean: mu,
            user_ids: ratings.user_ids().to_vec(),
            user_bias,
            item_ids: ratings.item_ids().to_vec(),
            item_bias,
        })
    }

    /// `b_u` of user `id` (0 for an unknown user).
    pub fn user_bias_of(&self, id: i64) -> f64 {
        self.user_ids.binary_search(&id).map_or(0.0, |u| self.user_bias[u])
    }

    /// `b_i` of item `id` (0 for an unknown item).
    pub fn item_bias_of(&self, id: i64) -> f64 {
        self.item_ids.binary_search(&id).map_or(0.0, |i| self.item_bias[i])
    }

    /// `mu + b_u + b_i`; an unknown user or item contributes no bias.
    pub fn predict(&self, user: i64, item: i64) -> f64 {
        self.mean + self.user_bias_of(user) + self.item_bias_of(item)
    }

    /// `mu + b_u + b_i` by indices of the ratings the model was fitted on.
    pub(crate) fn predict_index(&self, u: usize, i: usize) -> f64 {
        self.mean + self.user_bias[u] + self.item_bias[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pass_matches_hand_computation() {
        // Ratings: (u1, i1) 5, (u1, i2) 3, (u2, i1) 4. mu = 4.
        let r = Ratings::new(&[1, 1, 2], &[1, 2, 1], &[5.0, 3.0, 4.0]).expect("ratings");
        let m = BaselineModel::fit(&r, &BaselineParams { reg_user: 1.0, reg_item: 1.0, max_iter: 1 }).expect("fit");
        // Items first with b_u = 0: b_i1 = (1 + 0) / (1 + 2) = 1/3, b_i2 = -1 / (1 + 1) = -1/2.
        assert!((m.item_bias[0] - 1.0 / 3.0).abs() < 1e-15);
        assert!((m.item_bias[1] + 0.5).abs() < 1e-15);
        // Users: b_u1 = ((5 - 4 - 1/3) + (3 - 4 + 1/2)) / 3 = (1/6) / 3; b_u2 = (0 - 1/3) / 2.
        assert!((m.user_bias[0] - 1.0 / 18.0).abs() < 1e-15);
        assert!((m.user_bias[1] + 1.0 / 6.0).abs() < 1e-15);
        assert!((m.predict(2, 2) - (4.0 - 1.0 / 6.0 - 0.5)).abs() < 1e-15);
        assert_eq!(m.predict(99, 98), 4.0);
    }
}
