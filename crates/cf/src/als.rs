//! Alternating least squares, as Spark MLlib's `ALS`, plus a biased variant.
//!
//! Each iteration solves every item's factor from the users' (items first, as Spark does),
//! then every user's from the items'. A row's normal equation is summed over its CSR row in
//! index order and solved on its own, so the factors depend only on the ratings and the
//! parameters: not on the thread count, nor on `numUserBlocks` / `numItemBlocks`, which only cut
//! the rows into units of parallel work (on the cluster, tasks). This differs from Spark, whose
//! random start depends on the blocks; here a factor starts from a unit Gaussian vector drawn
//! from `(seed, side, id)`, so the same user starts the same in every fold.
//!
//! - **Explicit** (`implicitPrefs` false): minimises
//!   `sum (r_ui - p_u . q_i)^2 + regParam (n_u |p_u|^2 + n_i |q_i|^2)`: each row solves
//!   `(sum q q^T + regParam n_u I) p_u = sum r q` (ALS-WR, the scaling Spark applies).
//! - **Implicit** (`implicitPrefs` true): Hu, Koren and Volinsky's confidence-weighted model as
//!   Spark builds it: `(Y^T Y + sum alpha |r| q q^T + regParam n+ I) p_u = sum_{r > 0} (1 + alpha
//!   r) q`, where `n+` counts the positive ratings.
//! - **Nonnegative**: the same systems with `p >= 0`, by projected coordinate descent.
//! - **Biased** (reelforest): `mu + b_u + b_i + p_u . q_i`; each row solves for `[p_u, b_u]`
//!   against `[q_i, 1]` and targets `r - mu - b_i`, with the same `regParam n_u` on the bias.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::linalg::{NormalEquation, dot};
use crate::params::{AlsParams, ColdStartStrategy};
use crate::ratings::{Csr, Ratings};

/// One side's factors (users or items).
#[derive(Debug, Clone, PartialEq)]
pub struct Factors {
    /// Ids, ascending; row `k` belongs to `ids[k]`.
    pub ids: Vec<i64>,
    /// Row-major `ids.len() x rank`.
    pub factors: Vec<f32>,
    /// Biases by row (biased variant only; empty otherwise).
    pub bias: Vec<f32>,
}

impl Factors {
    /// Row `k`'s factor.
    pub fn row(&self, k: usize, rank: usize) -> &[f32] {
        &self.factors[k * rank..(k + 1) * rank]
    }

    /// Row of `id`, if known.
    pub fn index(&self, id: i64) -> Option<usize> {
        self.ids.binary_search(&id).ok()
    }

    fn bias_of(&self, k: Option<usize>) -> f64 {
        k.and_then(|k| self.bias.get(k)).map_or(0.0, |&b| f64::from(b))
    }
}

/// A fitted ALS model.
#[derive(Debug, Clone, PartialEq)]
pub struct AlsModel {
    /// The parameters it was fitted with.
    pub params: AlsParams,
    /// The global mean of the biased variant (0 for Spark's model).
    pub mean: f64,
    /// User factors.
    pub users: Factors,
    /// Item factors.
    pub items: Factors,
}

const USER: u64 = 0x5553_4552;
const ITEM: u64 = 0x4954_454D;

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A unit Gaussian start for `id` on `side` (absolute values when nonnegative), as Spark draws.
fn initial(ids: &[i64], rank: usize, seed: u64, side: u64, nonnegative: bool) -> Vec<f32> {
    let mut out = vec![0f32; ids.len() * rank];
    out.par_chunks_mut(rank).zip(ids.par_iter()).for_each(|(row, &id)| {
        let mut rng = ChaCha8Rng::seed_from_u64(splitmix64(seed ^ splitmix64(side ^ splitmix64(id as u64))));
        let v: Vec<f64> = (0..rank).map(|_| StandardNormal.sample(&mut rng)).collect();
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(f64::MIN_POSITIVE);
        for (o, x) in row.iter_mut().zip(&v) {
            let x = x / norm;
            *o = (if nonnegative { x.abs() } else { x }) as f32;
        }
    });
    out
}

/// What one half-iteration solves against.
struct Side<'a> {
    csr: &'a Csr,
    dst_ids: &'a [i64],
    dst_name: &'static str,
    blocks: u32,
    src: &'a [f32],
    src_bias: &'a [f32],
}

impl AlsModel {
    /// Fits ALS to `ratings`.
    pub fn fit(ratings: &Ratings, params: &AlsParams) -> Result<Self> {
        params.validate()?;
        let rank = params.rank as usize;
        let mean = if params.biased { ratings.mean() } else { 0.0 };
        let (user_ids, item_ids) = (ratings.user_ids(), ratings.item_ids());
        let mut user_factors = initial(user_ids, rank, params.seed, USER, params.nonnegative);
        let mut item_factors = initial(item_ids, rank, params.seed, ITEM, params.nonnegative);
        let zeros = |n: usize| if params.biased { vec![0f32; n] } else { Vec::new() };
        let (mut user_bias, mut item_bias) = (zeros(user_ids.len()), zeros(item_ids.len()));
        for _ in 0..params.max_iter {
            let side = Side {
                csr: &ratings.by_item,
                dst_ids: item_ids,
                dst_name: "item",
                blocks: params.num_item_blocks,
                src: &user_factors,
                src_bias: &user_bias,
            };
            (item_factors, item_bias) = solve_side(&side, params, mean)?;
            let side = Side {
                csr: &ratings.by_user,
                dst_ids: user_ids,
                dst_name: "user",
                blocks: params.num_user_blocks,
                src: &item_factors,
                src_bias: &item_bias,
            };
            (user_factors, user_bias) = solve_side(&side, params, mean)?;
        }
        Ok(AlsModel {
            params: params.clone(),
            mean,
            users: Factors { ids: user_ids.to_vec(), factors: user_factors, bias: user_bias },
            items: Factors { ids: item_ids.to_vec(), factors: item_factors, bias: item_bias },
        })
    }

    /// The rank.
    pub fn rank(&self) -> usize {
        self.params.rank as usize
    }

    /// The prediction for (user, item). Spark's model has none for an unknown user or item
    /// (`None`: NaN or a dropped row, per `coldStartStrategy`); the biased variant falls back
    /// to the biases it knows (`mu + b_i` for an unknown user, `mu` for both unknown).
    pub fn predict(&self, user: i64, item: i64) -> Option<f64> {
        self.predict_index(self.users.index(user), self.items.index(item))
    }

    /// [`AlsModel::predict`] by row indices.
    pub fn predict_index(&self, u: Option<usize>, i: Option<usize>) -> Option<f64> {
        let rank = self.rank();
        let interaction = match (u, i) {
            (Some(u), Some(i)) => Some(dot(self.users.row(u, rank), self.items.row(i, rank))),
            _ => None,
        };
        if self.params.biased {
            Some(self.mean + self.users.bias_of(u) + self.items.bias_of(i) + interaction.unwrap_or(0.0))
        } else {
            interaction
        }
    }

    /// [`AlsModel::predict`] with the cold-start strategy applied: NaN for `nan`, `None` (drop
    /// the row) for `drop`.
    pub fn transform(&self, user: i64, item: i64) -> Option<f64> {
        match (self.predict(user, item), self.params.cold_start_strategy) {
            (Some(p), _) => Some(p),
            (None, ColdStartStrategy::Nan) => Some(f64::NAN),
            (None, ColdStartStrategy::Drop) => None,
        }
    }
}

/// One recommendation list: the target's id and its `(id, score)` top entries, best first.
pub type Recommendations = (i64, Vec<(i64, f64)>);

impl AlsModel {
    /// Spark's `recommendForAllUsers(n)`: every user's `n` items with the highest predicted
    /// score (rated items included, as Spark does), best first, ties by smaller id.
    pub fn recommend_for_all_users(&self, n: usize) -> Vec<Recommendations> {
        self.recommend(&self.users, &self.items, n)
    }

    /// Spark's `recommendForAllItems(n)`: every item's `n` users with the highest score.
    pub fn recommend_for_all_items(&self, n: usize) -> Vec<Recommendations> {
        self.recommend(&self.items, &self.users, n)
    }

    fn recommend(&self, from: &Factors, to: &Factors, n: usize) -> Vec<Recommendations> {
        let rank = self.rank();
        (0..from.ids.len())
            .into_par_iter()
            .map(|a| {
                let row = from.row(a, rank);
                let score = |b: usize| {
                    dot(row, to.row(b, rank))
                        + if self.params.biased { self.mean + from.bias_of(Some(a)) + to.bias_of(Some(b)) } else { 0.0 }
                };
                let mut scored: Vec<(f64, i64)> = (0..to.ids.len()).map(|b| (score(b), to.ids[b])).collect();
                let by = |x: &(f64, i64), y: &(f64, i64)| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1));
                if scored.len() > n {
                    scored.select_nth_unstable_by(n, by);
                    scored.truncate(n);
                }
                scored.sort_unstable_by(by);
                (from.ids[a], scored.into_iter().map(|(s, id)| (id, s)).collect())
            })
            .collect()
    }
}

/// `sum_k a_k a_k^T` over every row of `src` (lower triangle), in row order.
fn gram(src: &[f32], rank: usize) -> Vec<f64> {
    let mut ne = NormalEquation::new(rank);
    let mut a = vec![0f64; rank];
    for row in src.chunks_exact(rank) {
        for (x, &y) in a.iter_mut().zip(row) {
            *x = f64::from(y);
        }
        ne.add(&a, 0.0, 1.0);
    }
    ne.ata
}

/// Solves every destination row of `side` from the source factors: (factors, biases).
fn solve_side(side: &Side<'_>, params: &AlsParams, mean: f64) -> Result<(Vec<f32>, Vec<f32>)> {
    let rank = params.rank as usize;
    let biased = params.biased;
    let dim = rank + usize::from(biased);
    let n = side.csr.rows();
    let yty = params.implicit_prefs.then(|| gram(side.src, rank));
    let per_block = n.div_ceil(side.blocks as usize).max(1);
    let mut factors = vec![0f32; n * rank];
    // Zero biases for Spark's model too, so both variants share one loop; dropped at the end.
    let mut bias = vec![0f32; n];
    factors.par_chunks_mut(per_block * rank).zip(bias.par_chunks_mut(per_block)).enumerate().try_for_each(
        |(block, (out, out_bias))| {
            let mut ne = NormalEquation::new(dim);
            let (mut a, mut x) = (vec![0f64; dim], vec![0f64; dim]);
            for (k, out_row) in out.chunks_exact_mut(rank).enumerate() {
                let row = block * per_block + k;
                let (cols, vals) = side.csr.row(row);
                ne.reset();
                if let Some(g) = &yty {
                    ne.add_ata(g);
                }
                let mut count = 0usize;
                for (&c, &v) in cols.iter().zip(vals) {
                    let c = c as usize;
                    for (dst, &s) in a.iter_mut().zip(&side.src[c * rank..(c + 1) * rank]) {
                        *dst = f64::from(s);
                    }
                    let v = f64::from(v);
                    if params.implicit_prefs {
                        let c1 = params.alpha * v.abs();
                        if v > 0.0 {
                            count += 1;
                        }
                        ne.add(&a, if v > 0.0 { 1.0 + c1 } else { 0.0 }, c1);
                    } else if biased {
                        a[rank] = 1.0;
                        ne.add(&a, v - mean - f64::from(side.src_bias[c]), 1.0);
                        count += 1;
                    } else {
                        ne.add(&a, v, 1.0);
                        count += 1;
                    }
                }
                ne.add_diagonal(params.reg_param * count as f64);
                let solved = if params.nonnegative { ne.solve_nonnegative(&mut x) } else { ne.solve_cholesky(&mut x) };
                if !solved {
                    return Err(Error::Singular { side: side.dst_name, id: side.dst_ids[row] });
                }
                for (o, &v) in out_row.iter_mut().zip(&x[..rank]) {
                    *o = v as f32;
                }
                if biased {
                    out_bias[k] = x[rank] as f32;
                }
            }
            Ok(())
        },
    )?;
    if !biased {
        bias = Vec::new();
    }
    Ok((factors, bias))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_user_solve_matches_the_closed_form() {
        // rank 1, one iteration: the items' solve is from the users' random start, the users'
        // from those items. Check the users' step by hand from the returned item factors:
        // p_u = sum_i r_ui q_i / (sum_i q_i^2 + regParam n_u).
        let r = Ratings::new(&[1, 1, 2], &[10, 20, 10], &[4.0, 2.0, 5.0]).expect("ratings");
        let params = AlsParams { rank: 1, max_iter: 1, reg_param: 0.5, ..AlsParams::default() };
        let m = AlsModel::fit(&r, &params).expect("fit");
        let q = |k: usize| f64::from(m.items.factors[k]);
        let p1 = (4.0 * q(0) + 2.0 * q(1)) / (q(0) * q(0) + q(1) * q(1) + 0.5 * 2.0);
        let p2 = 5.0 * q(0) / (q(0) * q(0) + 0.5);
        assert!((f64::from(m.users.factors[0]) - p1).abs() < 1e-6, "{} vs {p1}", m.users.factors[0]);
        assert!((f64::from(m.users.factors[1]) - p2).abs() < 1e-6);
        assert_eq!(m.predict(3, 10), None);
        assert!(m.transform(3, 10).expect("nan").is_nan());
        let dropped = AlsModel { params: AlsParams { cold_start_strategy: ColdStartStrategy::Drop, ..params }, ..m };
        assert_eq!(dropped.transform(3, 10), None);
    }

    #[test]
    fn recommendations_are_the_best_scores_in_order() {
        let r = Ratings::new(&[1, 1, 2, 2, 3], &[10, 20, 10, 30, 20], &[4.0, 2.0, 5.0, 1.0, 3.0]).expect("ratings");
        let m = AlsModel::fit(&r, &AlsParams { rank: 2, ..AlsParams::default() }).expect("fit");
        let users = m.recommend_for_all_users(2);
        assert_eq!(users.iter().map(|u| u.0).collect::<Vec<_>>(), vec![1, 2, 3]);
        for (user, list) in &users {
            let mut all: Vec<(f64, i64)> =
                [10, 20, 30].iter().map(|&i| (m.predict(*user, i).expect("known"), i)).collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let want: Vec<(i64, f64)> = all.iter().take(2).map(|&(s, i)| (i, s)).collect();
            assert_eq!(list, &want, "user {user}");
        }
        let items = m.recommend_for_all_items(5);
        assert_eq!(items.len(), 3);
        assert!(items.iter().all(|(_, l)| l.len() == 3), "n above the user count gives every user");
    }
}
