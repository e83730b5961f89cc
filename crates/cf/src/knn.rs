//! Item-based kNN with baselines (Koren's neighbourhood model; Surprise's `KNNBaseline` with
//! the `pearson_baseline` similarity).
//!
//! With baselines `b_ui = mu + b_u + b_i` ([`BaselineModel`]) and residuals
//! `e_ui = r_ui - b_ui`, two items' similarity is the Pearson correlation of their residuals
//! over the users who rated both, shrunk towards 0 when those users are few:
//!
//! ```text
//! rho_ij = sum_u e_ui e_uj / sqrt(sum_u e_ui^2 . sum_u e_uj^2)
//! s_ij   = rho_ij (n_ij - 1) / (n_ij - 1 + shrinkage)
//! ```
//!
//! Each item keeps its `maxNeighbors` most similar items with `s > 0` and `n_ij >= minSupport`
//! (ordered by similarity, then id). A prediction walks `i`'s list and uses the first `k`
//! items `u` rated: `b_ui + sum s_ij e_uj / sum s_ij`; with fewer than `minK` it is the
//! baseline. Every similarity is summed over users in index order for one item at a time, so
//! the lists do not depend on the thread count.

use rayon::prelude::*;

use crate::baseline::BaselineModel;
use crate::error::Result;
use crate::params::KnnParams;
use crate::ratings::Ratings;

/// A kNN prediction and how many neighbours it used (0: the baseline).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KnnPrediction {
    /// The predicted rating.
    pub value: f64,
    /// Neighbours that entered it.
    pub neighbors: u32,
}

/// A fitted item-kNN model: baselines, neighbour lists, and each user's residuals (the
/// ratings a prediction for that user reads).
#[derive(Debug, Clone, PartialEq)]
pub struct KnnModel {
    /// The parameters it was fitted with.
    pub params: KnnParams,
    /// The baselines.
    pub baseline: BaselineModel,
    /// Item `i`'s neighbours are `neighbor_items[neighbor_ptr[i]..neighbor_ptr[i + 1]]`
    /// (item indices), most similar first.
    pub neighbor_ptr: Vec<usize>,
    /// Neighbour item indices.
    pub neighbor_items: Vec<u32>,
    /// Their similarities, in (0, 1].
    pub neighbor_sims: Vec<f32>,
    /// User `u`'s rated items are `user_items[user_ptr[u]..user_ptr[u + 1]]`, ascending.
    pub user_ptr: Vec<usize>,
    /// Rated item indices.
    pub user_items: Vec<u32>,
    /// Their residuals `r_ui - b_ui`.
    pub user_residuals: Vec<f32>,
}

/// Per-thread accumulators of one item's similarities, indexed by the other item.
struct Scratch {
    xy: Vec<f64>,
    xx: Vec<f64>,
    yy: Vec<f64>,
    n: Vec<u32>,
    touched: Vec<u32>,
}

impl KnnModel {
    /// Fits the baselines, then every item's neighbour list.
    pub fn fit(ratings: &Ratings, params: &KnnParams) -> Result<Self> {
        params.validate()?;
        let baseline = BaselineModel::fit(ratings, &params.baseline)?;
        let n_items = ratings.item_ids().len();
        let n_users = ratings.user_ids().len();
        // Residuals in the by-user layout (the layout neighbours are gathered from).
        let by_user = &ratings.by_user;
        let mut user_residuals = vec![0f32; by_user.vals.len()];
        for u in 0..n_users {
            let (a, b) = (by_user.ptr[u], by_user.ptr[u + 1]);
            let row = by_user.cols[a..b].iter().zip(&by_user.vals[a..b]);
            for (e, (&i, &r)) in user_residuals[a..b].iter_mut().zip(row) {
                *e = (f64::from(r) - baseline.predict_index(u, i as usize)) as f32;
            }
        }
        let lists: Vec<Vec<(u32, f32)>> = (0..n_items)
            .into_par_iter()
            .map_init(
                || Scratch {
                    xy: vec![0.0; n_items],
                    xx: vec![0.0; n_items],
                    yy: vec![0.0; n_items],
                    n: vec![0; n_items],
                    touched: Vec::new(),
                },
                |s, i| neighbours(ratings, &user_residuals, params, &baseline, s, i),
            )
            .collect();
        let mut neighbor_ptr = Vec::with_capacity(n_items + 1);
        neighbor_ptr.push(0);
        let (mut neighbor_items, mut neighbor_sims) = (Vec::new(), Vec::new());
        for list in lists {
            neighbor_items.extend(list.iter().map(|e| e.0));
            neighbor_sims.extend(list.iter().map(|e| e.1));
            neighbor_ptr.push(neighbor_items.len());
        }
        Ok(KnnModel {
            params: params.clone(),
            baseline,
            neighbor_ptr,
            neighbor_items,
            neighbor_sims,
            user_ptr: by_user.ptr.clone(),
            user_items: by_user.cols.clone(),
            user_residuals,
        })
    }

    /// The prediction for (user, item) by ids; unknown ids get the baseline.
    pub fn predict(&self, user: i64, item: i64) -> KnnPrediction {
        let u = self.baseline.user_ids.binary_search(&user).ok();
        let i = self.baseline.item_ids.binary_search(&item).ok();
        let base = self.baseline.predict(user, item);
        let (Some(u), Some(i)) = (u, i) else {
            return KnnPrediction { value: base, neighbors: 0 };
        };
        let (a, b) = (self.user_ptr[u], self.user_ptr[u + 1]);
        let rated = &self.user_items[a..b];
        let (mut num, mut den, mut used) = (0.0f64, 0.0f64, 0u32);
        for k in self.neighbor_ptr[i]..self.neighbor_ptr[i + 1] {
            if used == self.params.k {
                break;
            }
            if let Ok(pos) = rated.binary_search(&self.neighbor_items[k]) {
                let s = f64::from(self.neighbor_sims[k]);
                num += s * f64::from(self.user_residuals[a + pos]);
                den += s;
                used += 1;
            }
        }
        if used < self.params.min_k.max(1) || den <= 0.0 {
            return KnnPrediction { value: base, neighbors: 0 };
        }
        KnnPrediction { value: base + num / den, neighbors: used }
    }

    /// Number of neighbour entries kept (the size of the lists a model file stores).
    pub fn num_neighbor_entries(&self) -> usize {
        self.neighbor_items.len()
    }
}

/// Item `i`'s neighbour list: (item index, similarity), most similar first, ties by index.
fn neighbours(
    ratings: &Ratings,
    user_residuals: &[f32],
    params: &KnnParams,
    baseline: &BaselineModel,
    s: &mut Scratch,
    i: usize,
) -> Vec<(u32, f32)> {
    let (users, vals) = ratings.item_row(i);
    for (&u, &r) in users.iter().zip(vals) {
        let u = u as usize;
        let x = f64::from(r) - baseline.predict_index(u, i);
        let (a, b) = (ratings.by_user.ptr[u], ratings.by_user.ptr[u + 1]);
        for (&j, &y) in ratings.by_user.cols[a..b].iter().zip(&user_residuals[a..b]) {
            let j = j as usize;
            if j == i {
                continue;
            }
            let y = f64::from(y);
            if s.n[j] == 0 {
                s.touched.push(j as u32);
            }
            s.xy[j] += x * y;
            s.xx[j] += x * x;
            s.yy[j] += y * y;
            s.n[j] += 1;
        }
    }
    let mut list = Vec::new();
    for &j in &s.touched {
        let j = j as usize;
        let n = s.n[j];
        let den = (s.xx[j] * s.yy[j]).sqrt();
        if n >= params.min_support && den > 0.0 {
            let rho = s.xy[j] / den;
            let support = f64::from(n - 1);
            let sim = rho * support / (support + params.shrinkage);
            if sim > 0.0 {
                list.push((j as u32, sim as f32));
            }
        }
        s.xy[j] = 0.0;
        s.xx[j] = 0.0;
        s.yy[j] = 0.0;
        s.n[j] = 0;
    }
    s.touched.clear();
    list.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    list.truncate(params.max_neighbors as usize);
    list
}
