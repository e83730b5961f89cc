//! # reelforest-features
//!
//! Leak-free feature engineering in SQL: from the raw ratings to the numeric `train` / `test`
//! tables a forest learns from and the `online_*` tables a server predicts with.
//!
//! ## Where it fits
//! Ingest (`reelforest-data`) writes the raw tables of [`reelforest_core::tables`]; this crate
//! reads them through a DataFusion [`SessionContext`] **supplied by the caller** (local now, a
//! Ballista remote context in the cluster) and writes every step back to the
//! [`Warehouse`] under the run's namespace (`features/<run>/<table>/`, SQL name
//! `<run>.<table>`). The SQL steps run wherever the context runs and only a few scalars of them
//! are collected to the driver; the `cf` step ([`cf`]) collects the split's ratings and fits
//! its collaborative-filtering models in this process.
//!
//! ## Entry points
//! - [`build_features`]: split the ratings ([`SplitSpec`]), then [`build_features_from_split`].
//! - [`build_features_from_split`]: features for any split table, e.g. one cross-validation
//!   fold of the training rows (fold-honest CV reuses the whole pipeline this way).
//! - [`register_functions`] / [`udf::all`]: the scalar functions the SQL needs (`rf_bucket`).
//! - [`FeatureRun`]: what a run produced (also stored as `features/<run>/features.json`).
//! - [`online::OnlineFeatures`]: the online tables in memory, feature rows at serving time.
//!
//! ## Steps (`crates/features/sql/*.sql`)
//! | table | SQL | contents |
//! | --- | --- | --- |
//! | `split` | `split_random` / `split_temporal` / `split_predefined` | user_id, movie_id, rating, timestamp, is_test |
//! | — | `rows` (fragment) | the split plus each row's `fold` / `stat_fold` |
//! | — | `global_stats` (collected) | mean and variance of the statistics' ratings: the priors |
//! | `genres` | `genres` | genre vocabulary, numbered in name order |
//! | `movie_static`, `user_static` | same names | rating-free per-movie / per-user columns |
//! | `user_oof`, `movie_oof`, `director_oof`, `occupation_oof`, `user_genre_oof` | `oof_stats` + `keyed_*` | per key and fold: sums, count, shrunk mean, shrunk spread |
//! | `cf` | — (Rust, [`cf`]) | per (user, movie): out-of-fold CF predictions `cf_baseline`, `cf_als`, `cf_mf`, `cf_knn`, `cf_knn_neighbors` |
//! | `train`, `test` | `assemble` + `final` | keys, labels, features, ordered by (user_id, movie_id) |
//! | `online_users`, `online_movies`, `online_user_genre` | same names | full-training lookups for serving |
//!
//! ## No leakage, by construction
//! Under [`Protocol::Honest`] only training rows enter a statistic. Each training row is in one
//! of K folds (hash of (user, movie, fold seed)); its user / movie / director / occupation /
//! user-genre statistics are the training totals **minus its own fold's sums**, so its own
//! rating (and its fold-mates') never reaches its features. Test rows (and serving) use the
//! full training totals. Every mean is a Bayesian average `(sum + m*mu) / (n + m)` toward the
//! training mean `mu` (prior strength `m`), every spread `sqrt((SSD + m*var) / (n + m))`; a
//! user or movie without training ratings gets exactly the prior and count 0.
//! [`Protocol::Leaky`] computes everything over all ratings, test rows included, without
//! out-of-fold: it exists only for the leakage audit.
//!
//! ## Feature columns (all `DOUBLE`)
//! [`run::BASE_FEATURES`] in order, then one 0/1 `genre_<name>` column per genre
//! ([`run::genre_column_name`]), then the CF columns ([`CfModels::columns`], out-of-fold like
//! the aggregates), then the columns of the spec's
//! [`extra_feature_tables`](FeatureSpec::extra_feature_tables), the seam where model-derived
//! (out-of-fold) collaborative features join in. Labels: `rating` and `good`.
//!
//! ## Serving
//! [`online`] builds the row of any (user, movie) from `online_users` and `online_movies`
//! (unknown ids: mean `global_mean`, spread `global_std`, counts 0), `movie_age` from the
//! rating's or the current time and `release_year`, and `user_genre_affinity` from
//! `online_user_genre`: `(S + m*u) / (N + m) - u`, S and N summed over the movie's genres,
//! u = `avg_user_rating`; a mirror of `assemble.sql` for one row, checked against every test
//! row. [`online::ServingFeatures`] is what a model file keeps of the run to do so.
//!
//! ## Determinism
//! Row order is fixed by `ORDER BY`, each table is written as one file, and the sums are exact
//! for ratings on a half-star grid, so the tables are bit-identical for any number of target
//! partitions.
#![deny(missing_docs)]

pub mod cf;
mod error;
pub mod online;
mod pipeline;
pub mod run;
mod spec;
mod sql;
pub mod udf;

pub use cf::{CfKind, CfModels, CfSpec};
pub use error::{Error, Result};
pub use run::{FeatureRun, GenreColumn};
pub use spec::{FeatureSpec, Protocol, SplitSpec};

use datafusion::prelude::SessionContext;
use reelforest_core::Progress;
use reelforest_warehouse::Warehouse;

/// Registers this crate's scalar functions ([`udf::all`]) in `ctx`. The cluster registers the
/// same list on every Ballista executor.
pub fn register_functions(ctx: &SessionContext) {
    for f in udf::all() {
        ctx.register_udf(f);
    }
}

/// Splits the raw ratings according to `spec.split` into table `<run>.split`, then builds
/// every feature table of the run (see [`build_features_from_split`]).
///
/// `run` names the tables' namespace: lowercase letters, digits and `_`. The raw tables are
/// read from `warehouse`'s catalog and registered in `ctx`; `ctx` must be able to read the
/// warehouse's paths.
pub async fn build_features(
    ctx: &SessionContext,
    warehouse: &Warehouse,
    run: &str,
    spec: &FeatureSpec,
    progress: &dyn Progress,
) -> Result<FeatureRun> {
    spec.validate()?;
    sql::check_ident("run name", run)?;
    register_functions(ctx);
    let session = pipeline::Session::new(ctx, warehouse, run, spec, progress)?;
    tracing::info!(run, split = ?spec.split, protocol = ?spec.protocol, "building features");
    progress.begin(&format!("features {run}"), Some(pipeline::FEATURE_STEPS + 1));
    let result = async {
        let split = pipeline::make_split(&session, spec).await?;
        pipeline::features(&session, &split, spec).await
    }
    .await;
    progress.end();
    result
}

/// Builds every feature table of run `run` from an existing split table.
///
/// `split_sql_name` is a table registered in `ctx` (e.g. `cv_fold_2.split`) with columns
/// `user_id BIGINT`, `movie_id BIGINT`, `rating DOUBLE`, `timestamp BIGINT`, `is_test BOOLEAN`
/// and unique (user_id, movie_id); `spec.split` is ignored. Writes `<run>.train`, `<run>.test`,
/// the `online_*` lookups, the intermediate steps and `features/<run>/features.json`.
pub async fn build_features_from_split(
    ctx: &SessionContext,
    warehouse: &Warehouse,
    run: &str,
    split_sql_name: &str,
    spec: &FeatureSpec,
    progress: &dyn Progress,
) -> Result<FeatureRun> {
    spec.validate()?;
    sql::check_ident("run name", run)?;
    sql::quote_table(split_sql_name)?;
    register_functions(ctx);
    let session = pipeline::Session::new(ctx, warehouse, run, spec, progress)?;
    tracing::info!(run, split = split_sql_name, protocol = ?spec.protocol, "building features from split");
    progress.begin(&format!("features {run}"), Some(pipeline::FEATURE_STEPS));
    let result = pipeline::features(&session, split_sql_name, spec).await;
    progress.end();
    result
}
