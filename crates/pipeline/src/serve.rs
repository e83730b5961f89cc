//! Serving: answer "what would user U rate movie M?" from a saved model.
//!
//! A [`Predictor`] loads a model version ([`crate::model::load`]) and the online tables of the
//! feature run it was trained on (`<run>.online_users`, `<run>.online_movies`,
//! `<run>.online_user_genre`, read once through a DataFusion [`SessionContext`] with
//! [`Warehouse::register_all`]) into hash maps. [`Predictor::features`] then builds the feature
//! row of any (user, movie) **exactly as the feature SQL builds a test row** (`assemble.sql`
//! with fold -1, i.e. full-training statistics):
//!
//! - user columns (`avg_user_rating`, `user_rating_count`, `user_rating_std`, `user_age`,
//!   `user_gender`, `occupation_index`, `occupation_mean`, `user_tag_count`) from
//!   `online_users`; an unknown user gets the priors (mean `global_mean`, spread `global_std`,
//!   count 0, occupation mean `global_mean`, tag count 0, demographics missing);
//! - movie columns (`avg_movie_rating`, `rating_count`, `movie_rating_std`, `release_year`,
//!   `director_mean`, `director_count`, `movie_tag_count`, the `genre_*` flags) from
//!   `online_movies`; an unknown movie gets the priors, no year and no genres;
//! - `user_genre_affinity = (S + m*u) / (N + m) - u` with S, N the user's rating sum and count
//!   summed over the movie's genres (`online_user_genre`), u the user's `avg_user_rating`,
//!   m the prior strength (0 when `N + m = 0`, as in the SQL);
//! - **time-dependent** `movie_age = t / 31556952 + 1970 - release_year` (years): `t` is the
//!   rating's timestamp (seconds) when the caller gives one (so a test row is rebuilt exactly)
//!   and the current time otherwise (a prediction "now").
//!
//! `cold_user` / `cold_movie` flag a user or movie without training ratings (unknown ids
//! included): their statistics are the priors. Feature columns the online tables cannot
//! provide (the spec's `extra_feature_tables`, model-derived features) make
//! [`Predictor::from_model`] fail rather than predict from made-up values.

use crate::model::{self, Model};
use crate::spec::TaskKind;
use crate::{Error, Result};
use datafusion::arrow::array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;
use reelforest_proto::ServingFeatures;
use reelforest_warehouse::Warehouse;
use std::collections::HashMap;

/// Seconds per (Gregorian mean) year, as in `assemble.sql`.
const SECONDS_PER_YEAR: f64 = 31_556_952.0;

/// One user's serving values (`online_users`).
#[derive(Debug, Clone, Copy)]
struct UserRow {
    avg: f64,
    count: f64,
    std: f64,
    age: f64,
    gender: f64,
    occupation_index: f64,
    occupation_mean: f64,
    tag_count: f64,
}

/// One movie's serving values (`online_movies`).
#[derive(Debug, Clone)]
struct MovieRow {
    avg: f64,
    count: f64,
    std: f64,
    release_year: f64,
    director_mean: f64,
    director_count: f64,
    tag_count: f64,
    /// The movie's genre flags, one per genre column of the run.
    genres: Vec<f64>,
}

/// Where each feature of the schema comes from.
#[derive(Debug, Clone, Copy)]
enum Source {
    AvgUserRating,
    UserRatingCount,
    UserRatingStd,
    AvgMovieRating,
    RatingCount,
    MovieRatingStd,
    UserGenreAffinity,
    ReleaseYear,
    MovieAge,
    UserAge,
    UserGender,
    OccupationIndex,
    OccupationMean,
    DirectorMean,
    DirectorCount,
    MovieTagCount,
    UserTagCount,
    /// Genre flag `i` of [`ServingFeatures::genres`].
    Genre(usize),
}

impl Source {
    fn of(name: &str, serving: &ServingFeatures) -> Option<Source> {
        Some(match name {
            "avg_user_rating" => Source::AvgUserRating,
            "user_rating_count" => Source::UserRatingCount,
            "user_rating_std" => Source::UserRatingStd,
            "avg_movie_rating" => Source::AvgMovieRating,
            "rating_count" => Source::RatingCount,
            "movie_rating_std" => Source::MovieRatingStd,
            "user_genre_affinity" => Source::UserGenreAffinity,
            "release_year" => Source::ReleaseYear,
            "movie_age" => Source::MovieAge,
            "user_age" => Source::UserAge,
            "user_gender" => Source::UserGender,
            "occupation_index" => Source::OccupationIndex,
            "occupation_mean" => Source::OccupationMean,
            "director_mean" => Source::DirectorMean,
            "director_count" => Source::DirectorCount,
            "movie_tag_count" => Source::MovieTagCount,
            "user_tag_count" => Source::UserTagCount,
            other => return serving.genres.iter().position(|g| g.column == other).map(Source::Genre),
        })
    }
}

/// The feature row of one (user, movie), in the model's feature order (`NaN` = missing).
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureRow {
    /// Values, one per feature of the model's schema.
    pub values: Vec<f64>,
    /// The user has no training ratings (unknown users included): user statistics are priors.
    pub cold_user: bool,
    /// The movie has no training ratings (unknown movies included).
    pub cold_movie: bool,
    /// The user is in `online_users` at all.
    pub known_user: bool,
    /// The movie is in `online_movies` at all.
    pub known_movie: bool,
}

/// A prediction for one (user, movie).
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The user.
    pub user_id: i64,
    /// The movie.
    pub movie_id: i64,
    /// Predicted star rating (the regression forest), when the model has one.
    pub rating: Option<f64>,
    /// Probability that the rating is good (the classification forest), when the model has one.
    pub p_good: Option<f64>,
    /// The feature row the forests saw.
    pub features: FeatureRow,
}

/// A model plus its feature run's online tables, in memory.
#[derive(Debug)]
pub struct Predictor {
    model: Model,
    sources: Vec<Source>,
    users: HashMap<i64, UserRow>,
    movies: HashMap<i64, MovieRow>,
    /// Per user: genre -> (rating sum, rating count).
    user_genre: HashMap<i64, HashMap<String, (f64, f64)>>,
}

impl Predictor {
    /// Loads version `version` (the newest when `None`) of model `name` and its online tables.
    pub async fn load(warehouse: &Warehouse, name: &str, version: Option<u64>) -> Result<Self> {
        let model = model::load(warehouse, name, version).await?;
        Self::from_model(warehouse, model).await
    }

    /// Reads the online tables of `model`'s feature run from `warehouse`.
    pub async fn from_model(warehouse: &Warehouse, model: Model) -> Result<Self> {
        let serving = &model.artifact.serving;
        let sources = model
            .artifact
            .feature_names
            .iter()
            .map(|n| {
                Source::of(n, serving).ok_or_else(|| Error::Model {
                    path: model.path.clone(),
                    reason: format!(
                        "feature {n:?} cannot be built at serving time (not a column of the online tables)"
                    ),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let ctx = SessionContext::new();
        warehouse.register_all(&ctx).await?;
        let run = &serving.run;
        let (mu, sigma) = (serving.global_mean, serving.global_std);

        let table = format!("{run}.online_users");
        let cols = [
            "user_id",
            "avg_user_rating",
            "user_rating_count",
            "user_rating_std",
            "user_age",
            "user_gender",
            "occupation_index",
            "occupation_mean",
            "user_tag_count",
        ];
        let mut users = HashMap::new();
        for b in &query(&ctx, &table, &cols).await? {
            let ids = ints(b, 0, &table, cols[0])?;
            let f: Vec<Vec<f64>> = (1..cols.len()).map(|i| floats(b, i, &table, cols[i])).collect::<Result<_>>()?;
            for (r, id) in ids.into_iter().enumerate() {
                users.insert(
                    id,
                    UserRow {
                        avg: or(f[0][r], mu),
                        count: or(f[1][r], 0.0),
                        std: or(f[2][r], sigma),
                        age: f[3][r],
                        gender: f[4][r],
                        occupation_index: f[5][r],
                        occupation_mean: or(f[6][r], mu),
                        tag_count: or(f[7][r], 0.0),
                    },
                );
            }
        }

        let table = format!("{run}.online_movies");
        let mut cols: Vec<String> = [
            "movie_id",
            "avg_movie_rating",
            "rating_count",
            "movie_rating_std",
            "release_year",
            "director_mean",
            "director_count",
            "movie_tag_count",
        ]
        .iter()
        .map(|c| c.to_string())
        .collect();
        cols.extend(serving.genres.iter().map(|g| g.column.clone()));
        let col_refs: Vec<&str> = cols.iter().map(String::as_str).collect();
        let mut movies = HashMap::new();
        for b in &query(&ctx, &table, &col_refs).await? {
            let ids = ints(b, 0, &table, &cols[0])?;
            let f: Vec<Vec<f64>> = (1..cols.len()).map(|i| floats(b, i, &table, &cols[i])).collect::<Result<_>>()?;
            for (r, id) in ids.into_iter().enumerate() {
                movies.insert(
                    id,
                    MovieRow {
                        avg: or(f[0][r], mu),
                        count: or(f[1][r], 0.0),
                        std: or(f[2][r], sigma),
                        release_year: f[3][r],
                        director_mean: or(f[4][r], mu),
                        director_count: or(f[5][r], 0.0),
                        tag_count: or(f[6][r], 0.0),
                        genres: f[7..].iter().map(|g| or(g[r], 0.0)).collect(),
                    },
                );
            }
        }

        let table = format!("{run}.online_user_genre");
        let cols = ["user_id", "genre", "rating_sum", "rating_count"];
        let mut user_genre: HashMap<i64, HashMap<String, (f64, f64)>> = HashMap::new();
        for b in &query(&ctx, &table, &cols).await? {
            let ids = ints(b, 0, &table, cols[0])?;
            let genres = strings(b, 1, &table, cols[1])?;
            let s = floats(b, 2, &table, cols[2])?;
            let n = floats(b, 3, &table, cols[3])?;
            for (r, id) in ids.into_iter().enumerate() {
                if let Some(g) = &genres[r] {
                    user_genre.entry(id).or_default().insert(g.clone(), (s[r], n[r]));
                }
            }
        }
        tracing::info!(
            model = model.artifact.name,
            version = model.artifact.version,
            users = users.len(),
            movies = movies.len(),
            "predictor loaded"
        );
        Ok(Predictor { model, sources, users, movies, user_genre })
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Feature names, in row order.
    pub fn feature_names(&self) -> &[String] {
        &self.model.artifact.feature_names
    }

    /// The feature row of (`user_id`, `movie_id`); `timestamp` (seconds since the epoch) is
    /// the moment of the rating for `movie_age`, the current time when `None`.
    pub fn features(&self, user_id: i64, movie_id: i64, timestamp: Option<i64>) -> FeatureRow {
        let s = &self.model.artifact.serving;
        let (mu, sigma, m) = (s.global_mean, s.global_std, s.prior_strength);
        let user = self.users.get(&user_id).copied();
        let movie = self.movies.get(&movie_id);
        let u = user.unwrap_or(UserRow {
            avg: mu,
            count: 0.0,
            std: sigma,
            age: f64::NAN,
            gender: f64::NAN,
            occupation_index: f64::NAN,
            occupation_mean: mu,
            tag_count: 0.0,
        });
        let no_genres;
        let (mv_avg, mv_count, mv_std, year, dir_mean, dir_count, mv_tags, genres) = match movie {
            Some(mv) => (
                mv.avg,
                mv.count,
                mv.std,
                mv.release_year,
                mv.director_mean,
                mv.director_count,
                mv.tag_count,
                mv.genres.as_slice(),
            ),
            None => {
                no_genres = vec![0.0; s.genres.len()];
                (mu, 0.0, sigma, f64::NAN, mu, 0.0, 0.0, no_genres.as_slice())
            }
        };
        // Affinity: the user's sums over the movie's genres (assemble.sql, `aff`).
        let (mut aff_s, mut aff_n) = (0.0, 0.0);
        if let Some(per_genre) = self.user_genre.get(&user_id) {
            for (g, flag) in s.genres.iter().zip(genres) {
                if *flag == 1.0
                    && let Some((gs, gn)) = per_genre.get(&g.genre)
                {
                    aff_s += gs;
                    aff_n += gn;
                }
            }
        }
        let affinity = if aff_n + m > 0.0 { (aff_s + m * u.avg) / (aff_n + m) - u.avg } else { 0.0 };
        let t = timestamp.map_or_else(now_seconds, |t| t as f64);
        let movie_age = t / SECONDS_PER_YEAR + 1970.0 - year;
        let values = self
            .sources
            .iter()
            .map(|src| match src {
                Source::AvgUserRating => u.avg,
                Source::UserRatingCount => u.count,
                Source::UserRatingStd => u.std,
                Source::AvgMovieRating => mv_avg,
                Source::RatingCount => mv_count,
                Source::MovieRatingStd => mv_std,
                Source::UserGenreAffinity => affinity,
                Source::ReleaseYear => year,
                Source::MovieAge => movie_age,
                Source::UserAge => u.age,
                Source::UserGender => u.gender,
                Source::OccupationIndex => u.occupation_index,
                Source::OccupationMean => u.occupation_mean,
                Source::DirectorMean => dir_mean,
                Source::DirectorCount => dir_count,
                Source::MovieTagCount => mv_tags,
                Source::UserTagCount => u.tag_count,
                Source::Genre(i) => genres.get(*i).copied().unwrap_or(0.0),
            })
            .collect();
        FeatureRow {
            values,
            cold_user: u.count == 0.0,
            cold_movie: mv_count == 0.0,
            known_user: user.is_some(),
            known_movie: movie.is_some(),
        }
    }

    /// Predicts the rating and P(good) of (`user_id`, `movie_id`) at `timestamp` (now when
    /// `None`).
    pub fn predict(&self, user_id: i64, movie_id: i64, timestamp: Option<i64>) -> Result<Prediction> {
        let features = self.features(user_id, movie_id, timestamp);
        let rating = self.model.forest(TaskKind::Regression).map(|f| f.predict_row(&features.values)).transpose()?;
        let p_good = match self.model.forest(TaskKind::Classification) {
            None => None,
            Some(f) => f.predict_proba_row(&features.values)?.get(1).copied(),
        };
        Ok(Prediction { user_id, movie_id, rating, p_good, features })
    }
}

fn or(v: f64, default: f64) -> f64 {
    if v.is_nan() { default } else { v }
}

fn now_seconds() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64().floor())
}

async fn query(ctx: &SessionContext, table: &str, cols: &[&str]) -> Result<Vec<RecordBatch>> {
    let list: Vec<String> = cols.iter().map(|c| format!("\"{}\"", c.replace('"', "\"\""))).collect();
    let quoted = table.split('.').map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join(".");
    let sql = format!("SELECT {} FROM {quoted}", list.join(", "));
    let q = |source| Error::Query { what: table.to_string(), source };
    ctx.sql(&sql).await.map_err(q)?.collect().await.map_err(q)
}

fn column_err(table: &str, column: &str, reason: impl Into<String>) -> Error {
    Error::Column { table: table.to_string(), column: column.to_string(), reason: reason.into() }
}

fn floats(b: &RecordBatch, i: usize, table: &str, column: &str) -> Result<Vec<f64>> {
    let a = cast(b.column(i), &DataType::Float64).map_err(|e| column_err(table, column, e.to_string()))?;
    let a = a.as_any().downcast_ref::<Float64Array>().ok_or_else(|| column_err(table, column, "not numeric"))?;
    Ok((0..a.len()).map(|r| if a.is_null(r) { f64::NAN } else { a.value(r) }).collect())
}

fn ints(b: &RecordBatch, i: usize, table: &str, column: &str) -> Result<Vec<i64>> {
    let a = cast(b.column(i), &DataType::Int64).map_err(|e| column_err(table, column, e.to_string()))?;
    let a = a.as_any().downcast_ref::<Int64Array>().ok_or_else(|| column_err(table, column, "not an integer"))?;
    if a.null_count() > 0 {
        return Err(column_err(table, column, "NULL id"));
    }
    Ok(a.values().to_vec())
}

fn strings(b: &RecordBatch, i: usize, table: &str, column: &str) -> Result<Vec<Option<String>>> {
    let a = cast(b.column(i), &DataType::Utf8).map_err(|e| column_err(table, column, e.to_string()))?;
    let a = a.as_any().downcast_ref::<StringArray>().ok_or_else(|| column_err(table, column, "not a string"))?;
    Ok((0..a.len()).map(|r| (!a.is_null(r)).then(|| a.value(r).to_string())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Dataset;
    use crate::report::TaskReport;
    use crate::estimator::Estimator;
    use crate::spec::JobSpec;
    use reelforest_tree::ForestParams;
    use crate::train;
    use reelforest_core::NoProgress;
    use reelforest_data::{IngestOptions, SynthOptions};
    use reelforest_features::FeatureSpec;

    /// Synthetic ratings → ingest → honest features → a small two-task model, in a tempdir.
    async fn fixture(dir: &std::path::Path) -> (Warehouse, SessionContext, Dataset, reelforest_features::FeatureRun) {
        let data = dir.join("data");
        reelforest_data::synth(&SynthOptions { ratings: 4000, seed: 7, ..SynthOptions::default() }, &data)
            .expect("synth");
        let wh = Warehouse::open(&dir.join("warehouse").display().to_string()).expect("warehouse");
        reelforest_data::ingest(&data, &IngestOptions::default(), &wh, &NoProgress).await.expect("ingest");
        let ctx = SessionContext::new();
        wh.register_all(&ctx).await.expect("register");
        let run = reelforest_features::build_features(&ctx, &wh, "honest", &FeatureSpec::default(), &NoProgress)
            .await
            .expect("features");
        wh.register_all(&ctx).await.expect("register");
        let train_ds = Dataset::load(&ctx, "honest.train", &run).await.expect("train rows");
        let spec = JobSpec {
            name: "serve-test".into(),
            model: Estimator::RandomForest(ForestParams { num_trees: 5, max_depth: 5, ..ForestParams::default() }),
            ..JobSpec::embedded_default()
        };
        let mut forests = Vec::new();
        let mut reports = Vec::new();
        for task in [TaskKind::Regression, TaskKind::Classification] {
            let p = spec.model.forest();
            let binned = train::bin(&train_ds, p.max_bins, p.seed).expect("bin");
            let forest = train::fit(&binned, &train_ds, &spec.model, task, &NoProgress).expect("fit");
            let m = train::evaluate(&forest, &train_ds, task).expect("evaluate").metrics();
            reports.push(TaskReport {
                task,
                params: spec.model.clone(),
                test: m.clone(),
                train: m,
                cv: None,
                oob_error: 0.0,
                fit_seconds: 0.0,
                fit_cpu_seconds: None,
                total_num_nodes: forest.total_num_nodes() as u64,
                feature_importances: vec![],
                forest_sha256: String::new(),
            });
            forests.push((task, forest, binned.mapper().clone()));
        }
        model::save(&wh, &spec, &run, forests, &reports).await.expect("save");
        let test_ds = Dataset::load(&ctx, "honest.test", &run).await.expect("test rows");
        (wh, ctx, test_ds, run)
    }

    /// The key correctness proof: every test row the SQL built is rebuilt by the predictor
    /// from the online tables, feature by feature (movie_age from the rating's timestamp).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn predictor_rebuilds_every_test_row() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (wh, ctx, test, run) = fixture(dir.path()).await;
        assert!(test.len() > 100, "only {} test rows", test.len());
        let p = Predictor::load(&wh, "serve-test", None).await.expect("predictor");
        assert_eq!(p.feature_names(), run.feature_columns.as_slice());

        // Timestamps of the test rows, from the split.
        let batches = ctx
            .sql("SELECT user_id, movie_id, \"timestamp\" FROM honest.split WHERE is_test")
            .await
            .expect("sql")
            .collect()
            .await
            .expect("collect");
        let mut ts = HashMap::new();
        for b in &batches {
            let (u, m, t) =
                (ints(b, 0, "s", "u").expect("u"), ints(b, 1, "s", "m").expect("m"), ints(b, 2, "s", "t").expect("t"));
            for r in 0..u.len() {
                ts.insert((u[r], m[r]), t[r]);
            }
        }

        let reg = p.model().forest(TaskKind::Regression).expect("regression forest");
        let (mut cold_users, mut cold_movies) = (0, 0);
        for r in 0..test.len() {
            let (u, m) = (test.user_id[r], test.movie_id[r]);
            let row = p.features(u, m, Some(ts[&(u, m)]));
            for (j, name) in run.feature_columns.iter().enumerate() {
                let (want, got) = (test.columns[j][r], row.values[j]);
                assert!(
                    (want.is_nan() && got.is_nan()) || (want - got).abs() <= 1e-9,
                    "row {r} (user {u}, movie {m}) feature {name}: SQL {want}, predictor {got}"
                );
            }
            cold_users += usize::from(row.cold_user);
            cold_movies += usize::from(row.cold_movie);
            let sql_row: Vec<f64> = test.columns.iter().map(|c| c[r]).collect();
            let pred = p.predict(u, m, Some(ts[&(u, m)])).expect("predict");
            assert_eq!(pred.rating, Some(reg.predict_row(&sql_row).expect("row")));
            let pg = pred.p_good.expect("p_good");
            assert!((0.0..=1.0).contains(&pg));
        }
        eprintln!("{} test rows checked, {cold_users} cold users, {cold_movies} cold movies", test.len());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unknown_ids_get_priors_and_flags() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (wh, _ctx, _test, run) = fixture(dir.path()).await;
        let p = Predictor::load(&wh, "serve-test", Some(1)).await.expect("predictor");
        let row = p.features(-5, -7, None);
        assert!(row.cold_user && row.cold_movie && !row.known_user && !row.known_movie);
        let get = |name: &str| row.values[run.feature_columns.iter().position(|c| c == name).expect(name)];
        assert_eq!(get("avg_user_rating"), run.global_mean);
        assert_eq!(get("avg_movie_rating"), run.global_mean);
        assert_eq!(get("user_rating_std"), run.global_std);
        assert_eq!(get("user_rating_count"), 0.0);
        assert_eq!(get("director_mean"), run.global_mean);
        assert!(get("movie_age").is_nan() && get("release_year").is_nan());
        assert!(get("user_genre_affinity").abs() < 1e-12);
        let pred = p.predict(-5, -7, None).expect("predict");
        assert!(pred.rating.is_some_and(f64::is_finite) && pred.p_good.is_some());

        // movie_age without a timestamp uses the current time.
        let known = p.movies.iter().find(|(_, m)| !m.release_year.is_nan()).map(|(id, m)| (*id, m.release_year));
        let (movie, year) = known.expect("a movie with a year");
        let age =
            p.features(1, movie, None).values[run.feature_columns.iter().position(|c| c == "movie_age").expect("col")];
        let expected = now_seconds() / SECONDS_PER_YEAR + 1970.0 - year;
        assert!((age - expected).abs() < 1e-3, "{age} vs {expected}");
    }
}
