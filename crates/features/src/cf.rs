//! Model-derived features: collaborative-filtering predictions, out-of-fold.
//!
//! The `cf` step fits the CF learners of `reelforest-cf` ([`CfSpec::models`]: the bias
//! baseline, Spark's ALS, the biased matrix factorisation, item-kNN with baselines) and writes
//! table `<run>.cf`: one row per (user, movie) of the split with the CF columns
//! ([`CfModels::columns`]). The table joins `train` / `test` as an extra feature table, under
//! the same protocol as the SQL aggregates:
//!
//! - a **training row of fold k** gets predictions from models fitted on the training rows of
//!   the other folds (the same K folds as the aggregates: `rows.sql`'s `fold` / `stat_fold`);
//! - a **test row** (fold -1) gets predictions from models fitted on every training row; those
//!   models are also the serving models ([`CfModels`], kept with the [`FeatureRun`] and stored in
//!   the model file), so `/api/predict` computes the same values for any (user, movie);
//! - under the **leaky** protocol every row is fold -1 and every rating, test rows included,
//!   enters the fit: in-sample predictions, for the leakage audit only.
//!
//! A row's value never depends on its own rating (nor on any test rating, under the honest
//! protocol). This step collects the split's ratings to the process that runs the pipeline
//! (`user_id`, `movie_id`, `rating`, folds: 26 bytes a rating) and fits there with rayon.
//!
//! [`FeatureRun`]: crate::FeatureRun

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Builder, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int32Type, Int64Type, Schema};
use reelforest_cf::{AlsModel, AlsParams, BaselineModel, BaselineParams, KnnModel, KnnParams, Ratings};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The name of the CF table of a run (`<run>.cf`).
pub const CF_TABLE: &str = "cf";

/// A CF learner whose predictions become feature columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CfKind {
    /// `cf_baseline`: `mu + b_u + b_i`.
    Baseline,
    /// `cf_als`: Spark's ALS `p_u . q_i` (NULL for a user or movie without training ratings).
    Als,
    /// `cf_mf`: biased matrix factorisation `mu + b_u + b_i + p_u . q_i`.
    Mf,
    /// `cf_knn`: item-kNN with baselines, and `cf_knn_neighbors`, how many neighbours it used.
    Knn,
    /// `cf_implicit`: Spark's ALS with `implicitPrefs`, the ratings as confidences: how likely
    /// the user is to rate (watch) the movie at all, whatever the rating. NULL when cold. Also
    /// the candidate generator of top-k lists.
    Implicit,
}

impl CfKind {
    /// Every kind, in column order.
    pub const ALL: [CfKind; 5] = [CfKind::Baseline, CfKind::Als, CfKind::Mf, CfKind::Knn, CfKind::Implicit];

    /// The feature columns of this kind.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            CfKind::Baseline => &["cf_baseline"],
            CfKind::Als => &["cf_als"],
            CfKind::Mf => &["cf_mf"],
            CfKind::Knn => &["cf_knn", "cf_knn_neighbors"],
            CfKind::Implicit => &["cf_implicit"],
        }
    }
}

/// Which CF features a run computes, and each learner's parameters (`[features.cf]` in a job
/// spec; every table takes the learner's own keys, e.g. `[features.cf.als] rank = 20`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CfSpec {
    /// The learners, in any order; columns come in [`CfKind::ALL`] order. Empty: no CF
    /// features (default: all five).
    pub models: Vec<CfKind>,
    /// The bias baseline (`cf_baseline`).
    pub baseline: BaselineParams,
    /// Spark's ALS (`cf_als`); default as Spark's but `regParam` 0.15.
    pub als: AlsParams,
    /// The biased factorisation (`cf_mf`): ALS keys, `biased` always on; default rank 20,
    /// `regParam` 0.15 (the best of a small grid on ml-100k u1 and u2).
    pub mf: AlsParams,
    /// Item-kNN with baselines (`cf_knn`).
    pub knn: KnnParams,
    /// Implicit-feedback ALS (`cf_implicit`): ALS keys, `implicitPrefs` always on; default
    /// Spark's (rank 10, regParam 0.1, alpha 1).
    pub implicit: AlsParams,
}

impl Default for CfSpec {
    fn default() -> Self {
        CfSpec {
            models: CfKind::ALL.to_vec(),
            baseline: BaselineParams::default(),
            als: AlsParams { reg_param: 0.15, ..AlsParams::default() },
            mf: AlsParams { biased: true, rank: 20, reg_param: 0.15, ..AlsParams::default() },
            knn: KnnParams::default(),
            implicit: AlsParams { implicit_prefs: true, ..AlsParams::default() },
        }
    }
}

impl CfSpec {
    /// Checks every learner's parameters; the error names the key (`cf.als.rank`).
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &'static str, e: reelforest_cf::Error| Error::InvalidSpec { field, reason: e.to_string() };
        self.baseline.validate().map_err(|e| bad("cf.baseline", e))?;
        self.als.validate().map_err(|e| bad("cf.als", e))?;
        self.mf_params().validate().map_err(|e| bad("cf.mf", e))?;
        self.knn.validate().map_err(|e| bad("cf.knn", e))?;
        self.implicit_params().validate().map_err(|e| bad("cf.implicit", e))?;
        Ok(())
    }

    /// The kinds to fit, deduplicated, in column order.
    pub fn kinds(&self) -> Vec<CfKind> {
        CfKind::ALL.into_iter().filter(|k| self.models.contains(k)).collect()
    }

    /// `implicit` with `implicitPrefs` on.
    pub fn implicit_params(&self) -> AlsParams {
        AlsParams { implicit_prefs: true, ..self.implicit.clone() }
    }

    /// `mf` with `biased` on.
    pub fn mf_params(&self) -> AlsParams {
        AlsParams { biased: true, ..self.mf.clone() }
    }
}

/// Fitted CF models: one per enabled kind. What a model file keeps to compute the CF columns
/// at serving time. Its `Debug` is a summary (kinds and sizes), not the factors.
#[derive(Clone, PartialEq, Default)]
pub struct CfModels {
    /// The bias baseline.
    pub baseline: Option<BaselineModel>,
    /// Spark's ALS.
    pub als: Option<AlsModel>,
    /// The biased factorisation.
    pub mf: Option<AlsModel>,
    /// Item-kNN.
    pub knn: Option<KnnModel>,
    /// Implicit-feedback ALS.
    pub implicit: Option<AlsModel>,
}

impl CfModels {
    /// Fits every kind `spec` enables on `ratings`.
    pub fn fit(ratings: &Ratings, spec: &CfSpec) -> Result<Self> {
        let kinds = spec.kinds();
        let on = |k| kinds.contains(&k);
        let err = |e: reelforest_cf::Error| Error::Cf { source: e };
        Ok(CfModels {
            baseline: on(CfKind::Baseline)
                .then(|| BaselineModel::fit(ratings, &spec.baseline))
                .transpose()
                .map_err(err)?,
            als: on(CfKind::Als).then(|| AlsModel::fit(ratings, &spec.als)).transpose().map_err(err)?,
            mf: on(CfKind::Mf).then(|| AlsModel::fit(ratings, &spec.mf_params())).transpose().map_err(err)?,
            knn: on(CfKind::Knn).then(|| KnnModel::fit(ratings, &spec.knn)).transpose().map_err(err)?,
            implicit: on(CfKind::Implicit)
                .then(|| AlsModel::fit(ratings, &spec.implicit_params()))
                .transpose()
                .map_err(err)?,
        })
    }

    /// The kinds present, in column order.
    pub fn kinds(&self) -> Vec<CfKind> {
        let present = [
            self.baseline.is_some(),
            self.als.is_some(),
            self.mf.is_some(),
            self.knn.is_some(),
            self.implicit.is_some(),
        ];
        CfKind::ALL.into_iter().zip(present).filter(|(_, p)| *p).map(|(k, _)| k).collect()
    }

    /// The feature columns these models give, in order.
    pub fn columns(&self) -> Vec<&'static str> {
        self.kinds().into_iter().flat_map(|k| k.columns().iter().copied()).collect()
    }

    /// Appends the CF columns' values for (user, movie) to `out`, in [`CfModels::columns`]
    /// order (`NaN`: missing). The one computation behind the `cf` table and serving.
    pub fn values(&self, user: i64, movie: i64, out: &mut Vec<f64>) {
        if let Some(m) = &self.baseline {
            out.push(m.predict(user, movie));
        }
        if let Some(m) = &self.als {
            out.push(m.predict(user, movie).unwrap_or(f64::NAN));
        }
        if let Some(m) = &self.mf {
            out.push(m.predict(user, movie).unwrap_or(f64::NAN));
        }
        if let Some(m) = &self.knn {
            let p = m.predict(user, movie);
            out.push(p.value);
            out.push(f64::from(p.neighbors));
        }
        if let Some(m) = &self.implicit {
            out.push(m.predict(user, movie).unwrap_or(f64::NAN));
        }
    }
}

impl std::fmt::Debug for CfModels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("CfModels");
        if let Some(m) = &self.baseline {
            d.field("baseline", &format_args!("{} users, {} items", m.user_ids.len(), m.item_ids.len()));
        }
        for (name, m) in [("als", &self.als), ("mf", &self.mf), ("implicit", &self.implicit)] {
            if let Some(m) = m {
                d.field(
                    name,
                    &format_args!("rank {}, {} users, {} items", m.rank(), m.users.ids.len(), m.items.ids.len()),
                );
            }
        }
        if let Some(m) = &self.knn {
            d.field("knn", &format_args!("{} neighbour entries", m.num_neighbor_entries()));
        }
        d.finish()
    }
}

/// The split's rows as the `cf` step needs them, ordered by (user, movie).
#[derive(Debug, Default)]
pub(crate) struct FoldedRows {
    user: Vec<i64>,
    movie: Vec<i64>,
    rating: Vec<f64>,
    /// The models a row's values come from: -1 = every statistics row, k = all but fold k.
    fold: Vec<i32>,
    /// The fold a row's rating is fitted under; `None` = never (an honest test row).
    stat_fold: Vec<Option<i32>>,
}

impl FoldedRows {
    /// Appends `SELECT user_id, movie_id, rating, fold, stat_fold` batches.
    pub(crate) fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        let bad =
            |c: &str| Error::BadInput { table: "cf rows".into(), reason: format!("column {c} has an unexpected type") };
        let i64s = |k: usize, c: &str| batch.column(k).as_primitive_opt::<Int64Type>().ok_or_else(|| bad(c));
        let (user, movie) = (i64s(0, "user_id")?, i64s(1, "movie_id")?);
        let rating = batch.column(2).as_primitive_opt::<Float64Type>().ok_or_else(|| bad("rating"))?;
        let fold = batch.column(3).as_primitive_opt::<Int32Type>().ok_or_else(|| bad("fold"))?;
        let stat = batch.column(4).as_primitive_opt::<Int32Type>().ok_or_else(|| bad("stat_fold"))?;
        for k in 0..batch.num_rows() {
            if user.is_null(k) || movie.is_null(k) || rating.is_null(k) || fold.is_null(k) {
                return Err(Error::BadInput {
                    table: "cf rows".into(),
                    reason: format!("row {k} has a NULL key, rating or fold"),
                });
            }
            self.user.push(user.value(k));
            self.movie.push(movie.value(k));
            self.rating.push(rating.value(k));
            self.fold.push(fold.value(k));
            self.stat_fold.push(stat.is_valid(k).then(|| stat.value(k)));
        }
        Ok(())
    }
}

/// Out-of-fold CF values of every row plus the serving models (fitted on all statistics rows).
pub(crate) struct CfOutput {
    pub(crate) batch: RecordBatch,
    pub(crate) models: CfModels,
}

/// Fits `spec`'s models on the statistics rows whose `stat_fold` passes `fits`.
fn fit_rows(rows: &FoldedRows, spec: &CfSpec, fits: impl Fn(i32) -> bool, fold: i32) -> Result<CfModels> {
    let picked: Vec<usize> = (0..rows.user.len()).filter(|&r| rows.stat_fold[r].is_some_and(&fits)).collect();
    if picked.is_empty() {
        return Err(Error::EmptyTraining { table: format!("cf fold {fold}") });
    }
    let user: Vec<i64> = picked.iter().map(|&r| rows.user[r]).collect();
    let movie: Vec<i64> = picked.iter().map(|&r| rows.movie[r]).collect();
    let rating: Vec<f64> = picked.iter().map(|&r| rows.rating[r]).collect();
    let ratings = Ratings::new(&user, &movie, &rating).map_err(|source| Error::Cf { source })?;
    tracing::debug!(fold, fitted = picked.len(), "fitting cf models");
    CfModels::fit(&ratings, spec)
}

/// Fits the models of each fold and predicts its rows (see the module doc). Rows with the same
/// (user, movie) as the row before them are left out (the table is keyed by the pair).
pub(crate) fn out_of_fold(rows: &FoldedRows, spec: &CfSpec) -> Result<CfOutput> {
    let mut folds: Vec<i32> = rows.fold.clone();
    folds.sort_unstable();
    folds.dedup();
    let n = rows.user.len();
    let columns: Vec<&'static str> = spec.kinds().into_iter().flat_map(|k| k.columns().iter().copied()).collect();
    let mut values = vec![f64::NAN; n * columns.len()];
    let mut serving = None;
    for &f in &folds {
        // Fold -1's models see every statistics row; fold k's all but fold k's.
        let models = fit_rows(rows, spec, |s| f < 0 || s != f, f)?;
        let targets: Vec<usize> = (0..n).filter(|&r| rows.fold[r] == f).collect();
        let mut row = Vec::with_capacity(columns.len());
        for &r in &targets {
            row.clear();
            models.values(rows.user[r], rows.movie[r], &mut row);
            values[r * columns.len()..(r + 1) * columns.len()].copy_from_slice(&row);
        }
        tracing::debug!(fold = f, predicted = targets.len(), "cf fold done");
        if f < 0 {
            serving = Some(models);
        }
    }
    // The serving models: fold -1's when the split has test rows (or is leaky), else a fit on
    // every training row.
    let models = match serving {
        Some(m) => m,
        None => fit_rows(rows, spec, |_| true, -1)?,
    };
    let keep: Vec<usize> =
        (0..n).filter(|&r| r == 0 || (rows.user[r], rows.movie[r]) != (rows.user[r - 1], rows.movie[r - 1])).collect();
    let mut fields =
        vec![Field::new("user_id", DataType::Int64, false), Field::new("movie_id", DataType::Int64, false)];
    fields.extend(columns.iter().map(|c| Field::new(*c, DataType::Float64, true)));
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(keep.iter().map(|&r| rows.user[r]).collect::<Vec<_>>())),
        Arc::new(Int64Array::from(keep.iter().map(|&r| rows.movie[r]).collect::<Vec<_>>())),
    ];
    for c in 0..columns.len() {
        let mut b = Float64Builder::with_capacity(keep.len());
        for &r in &keep {
            let v = values[r * columns.len() + c];
            b.append_option((!v.is_nan()).then_some(v));
        }
        arrays.push(Arc::new(b.finish()));
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map_err(|e| Error::Query { step: CF_TABLE.into(), source: e.into() })?;
    Ok(CfOutput { batch, models })
}
