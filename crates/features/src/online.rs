//! The online feature lookup: the feature row of any (user, movie), built at serving time from
//! a run's online tables exactly as `assemble.sql` builds a test row.
//!
//! `online_users.sql`, `online_movies.sql` and `online_user_genre.sql` write each key's
//! **full-training** statistics (fold -1: the values a test row is joined with).
//! [`OnlineFeatures::load`] reads those three tables once (`<run>.online_users`,
//! `<run>.online_movies`, `<run>.online_user_genre`, through a DataFusion context with every
//! warehouse table registered) into hash maps, and [`OnlineFeatures::row`] then mirrors
//! `assemble.sql` column by column:
//!
//! - user columns (`avg_user_rating`, `user_rating_count`, `user_rating_std`, `user_age`,
//!   `user_gender`, `occupation_index`, `occupation_mean`, `user_tag_count`) from
//!   `online_users`; an unknown user gets the SQL's `coalesce` priors (mean `global_mean`,
//!   spread `global_std`, count 0, occupation mean `global_mean`, tag count 0, demographics
//!   missing);
//! - movie columns (`avg_movie_rating`, `rating_count`, `movie_rating_std`, `release_year`,
//!   `director_mean`, `director_count`, `movie_tag_count`, the `genre_*` flags) from
//!   `online_movies`; an unknown movie gets the priors, no year and no genres;
//! - `user_genre_affinity = (S + m*u) / (N + m) - u` (the SQL's `aff` step) with S, N the
//!   user's rating sum and count summed over the movie's genres (`online_user_genre`), u the
//!   user's `avg_user_rating`, m the prior strength, and 0 when `N + m = 0`, as in the SQL;
//! - **time-dependent** `movie_age = t / 31556952 + 1970 - release_year` (years): `t` is the
//!   rating's timestamp (seconds) when the caller gives one, so a test row is rebuilt exactly,
//!   and the current time otherwise (a prediction "now").
//!
//! [`FeatureRow::cold_user`] / [`FeatureRow::cold_movie`] flag a user or movie without training
//! ratings (unknown ids included): their statistics are the priors. What the lookup needs
//! besides the tables is the run's [`ServingFeatures`] (stored in every model file), which
//! also carries the run's CF models fitted on every training row: the `cf_*` columns come from
//! [`CfModels::values`], the computation that wrote the test rows' values in `<run>.cf`.
//! Feature columns neither can provide (the spec's `extra_feature_tables`; see
//! [`unservable_feature`]) make [`OnlineFeatures::load`] fail rather than build rows from
//! made-up values. The tests below rebuild every test row of a run, CF columns included.

use crate::cf::CfModels;
use crate::error::{Error, Result};
use crate::run::{FeatureRun, GenreColumn};
use crate::spec::Protocol;
use datafusion::arrow::array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;
use reelforest_warehouse::Warehouse;
use std::collections::HashMap;

/// Seconds per (Gregorian mean) year, as in `assemble.sql`.
const SECONDS_PER_YEAR: f64 = 31_556_952.0;

/// A feature run's essentials for serving: what a model file keeps of its [`FeatureRun`] so
/// that rows can be built without the run's description.
#[derive(Debug, Clone, PartialEq)]
pub struct ServingFeatures {
    /// Feature run name: the namespace of its online tables.
    pub run: String,
    /// Mean training rating (the prior mean).
    pub global_mean: f64,
    /// Standard deviation of the training ratings (the prior spread).
    pub global_std: f64,
    /// Prior strength `m`.
    pub prior_strength: f64,
    /// `good = rating >= good_threshold`.
    pub good_threshold: f64,
    /// The genre columns, in order.
    pub genres: Vec<GenreColumn>,
    /// `honest` or `leaky`.
    pub protocol: String,
    /// The run's CF models fitted on every training row (the `cf_*` columns), if it has any.
    pub cf: Option<std::sync::Arc<CfModels>>,
}

impl From<&FeatureRun> for ServingFeatures {
    fn from(run: &FeatureRun) -> Self {
        ServingFeatures {
            run: run.run.clone(),
            global_mean: run.global_mean,
            global_std: run.global_std,
            prior_strength: run.spec.prior_strength,
            good_threshold: run.spec.good_threshold,
            genres: run.genres.clone(),
            protocol: match run.spec.protocol {
                Protocol::Honest => "honest",
                Protocol::Leaky => "leaky",
            }
            .to_string(),
            cf: run.cf_models.clone(),
        }
    }
}

/// The feature row of one (user, movie), in the schema's order (`NaN` = missing).
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureRow {
    /// Values, one per feature of the schema.
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

/// One movie's serving values (`online_movies`); `genres` holds one flag per genre column.
#[derive(Debug, Clone)]
struct MovieRow {
    avg: f64,
    count: f64,
    std: f64,
    release_year: f64,
    director_mean: f64,
    director_count: f64,
    tag_count: f64,
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
    /// CF column `i` of [`CfModels::columns`].
    Cf(usize),
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
            other => {
                if let Some(g) = serving.genres.iter().position(|g| g.column == other) {
                    return Some(Source::Genre(g));
                }
                let cf = serving.cf.as_ref()?.columns();
                return cf.iter().position(|c| *c == other).map(Source::Cf);
            }
        })
    }
}

/// The first of `feature_names` that the online tables cannot provide, if any.
pub fn unservable_feature<'a>(serving: &ServingFeatures, feature_names: &'a [String]) -> Option<&'a str> {
    feature_names.iter().find(|n| Source::of(n, serving).is_none()).map(String::as_str)
}

/// A feature run's online tables in memory, ready to build the rows of one feature schema.
#[derive(Debug)]
pub struct OnlineFeatures {
    serving: ServingFeatures,
    sources: Vec<Source>,
    users: HashMap<i64, UserRow>,
    movies: HashMap<i64, MovieRow>,
    /// Per user: genre -> (rating sum, rating count).
    user_genre: HashMap<i64, HashMap<String, (f64, f64)>>,
}

const USER_COLUMNS: [&str; 8] = [
    "avg_user_rating",
    "user_rating_count",
    "user_rating_std",
    "user_age",
    "user_gender",
    "occupation_index",
    "occupation_mean",
    "user_tag_count",
];
const MOVIE_COLUMNS: [&str; 7] = [
    "avg_movie_rating",
    "rating_count",
    "movie_rating_std",
    "release_year",
    "director_mean",
    "director_count",
    "movie_tag_count",
];

impl OnlineFeatures {
    /// Reads the online tables of `serving.run` from `warehouse`, to build rows with the
    /// columns `feature_names` (in that order).
    pub async fn load(warehouse: &Warehouse, serving: &ServingFeatures, feature_names: &[String]) -> Result<Self> {
        let run = &serving.run;
        let sources = feature_names
            .iter()
            .map(|n| {
                Source::of(n, serving).ok_or_else(|| Error::BadInput {
                    table: format!("{run}.online_movies"),
                    reason: format!(
                        "feature {n:?} cannot be built at serving time (not a column of the online tables)"
                    ),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let ctx = SessionContext::new();
        warehouse
            .register_all(&ctx)
            .await
            .map_err(|source| Error::Warehouse { step: format!("{run}.online_*"), source })?;
        let (mu, sigma) = (serving.global_mean, serving.global_std);

        let mut users = HashMap::new();
        for (id, f) in keyed_floats(&ctx, &format!("{run}.online_users"), "user_id", &USER_COLUMNS).await? {
            let user = UserRow {
                avg: or(f[0], mu),
                count: or(f[1], 0.0),
                std: or(f[2], sigma),
                age: f[3],
                gender: f[4],
                occupation_index: f[5],
                occupation_mean: or(f[6], mu),
                tag_count: or(f[7], 0.0),
            };
            users.insert(id, user);
        }

        let mut cols: Vec<&str> = MOVIE_COLUMNS.to_vec();
        cols.extend(serving.genres.iter().map(|g| g.column.as_str()));
        let mut movies = HashMap::new();
        for (id, f) in keyed_floats(&ctx, &format!("{run}.online_movies"), "movie_id", &cols).await? {
            let movie = MovieRow {
                avg: or(f[0], mu),
                count: or(f[1], 0.0),
                std: or(f[2], sigma),
                release_year: f[3],
                director_mean: or(f[4], mu),
                director_count: or(f[5], 0.0),
                tag_count: or(f[6], 0.0),
                genres: f[MOVIE_COLUMNS.len()..].iter().map(|g| or(*g, 0.0)).collect(),
            };
            movies.insert(id, movie);
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
        Ok(OnlineFeatures { serving: serving.clone(), sources, users, movies, user_genre })
    }

    /// The serving essentials the rows are built with.
    pub fn serving(&self) -> &ServingFeatures {
        &self.serving
    }

    /// Users in `online_users`.
    pub fn num_users(&self) -> usize {
        self.users.len()
    }

    /// Movies in `online_movies`.
    pub fn num_movies(&self) -> usize {
        self.movies.len()
    }

    /// The feature row of (`user_id`, `movie_id`); `timestamp` (seconds since the epoch) is
    /// the moment of the rating for `movie_age`, the current time when `None`.
    pub fn row(&self, user_id: i64, movie_id: i64, timestamp: Option<i64>) -> FeatureRow {
        let s = &self.serving;
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
        let mv = match movie {
            Some(mv) => mv,
            None => {
                no_genres = MovieRow {
                    avg: mu,
                    count: 0.0,
                    std: sigma,
                    release_year: f64::NAN,
                    director_mean: mu,
                    director_count: 0.0,
                    tag_count: 0.0,
                    genres: vec![0.0; s.genres.len()],
                };
                &no_genres
            }
        };
        // Affinity: the user's sums over the movie's genres (assemble.sql, `aff`).
        let (mut aff_s, mut aff_n) = (0.0, 0.0);
        if let Some(per_genre) = self.user_genre.get(&user_id) {
            for (g, flag) in s.genres.iter().zip(&mv.genres) {
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
        let movie_age = t / SECONDS_PER_YEAR + 1970.0 - mv.release_year;
        let mut cf = Vec::new();
        if let Some(models) = s.cf.as_deref()
            && self.sources.iter().any(|src| matches!(src, Source::Cf(_)))
        {
            models.values(user_id, movie_id, &mut cf);
        }
        let values = self
            .sources
            .iter()
            .map(|src| match src {
                Source::AvgUserRating => u.avg,
                Source::UserRatingCount => u.count,
                Source::UserRatingStd => u.std,
                Source::AvgMovieRating => mv.avg,
                Source::RatingCount => mv.count,
                Source::MovieRatingStd => mv.std,
                Source::UserGenreAffinity => affinity,
                Source::ReleaseYear => mv.release_year,
                Source::MovieAge => movie_age,
                Source::UserAge => u.age,
                Source::UserGender => u.gender,
                Source::OccupationIndex => u.occupation_index,
                Source::OccupationMean => u.occupation_mean,
                Source::DirectorMean => mv.director_mean,
                Source::DirectorCount => mv.director_count,
                Source::MovieTagCount => mv.tag_count,
                Source::UserTagCount => u.tag_count,
                Source::Genre(i) => mv.genres.get(*i).copied().unwrap_or(0.0),
                Source::Cf(i) => cf.get(*i).copied().unwrap_or(f64::NAN),
            })
            .collect();
        FeatureRow {
            values,
            cold_user: u.count == 0.0,
            cold_movie: mv.count == 0.0,
            known_user: user.is_some(),
            known_movie: movie.is_some(),
        }
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
    let q = |source| Error::Query { step: table.to_string(), source };
    ctx.sql(&sql).await.map_err(q)?.collect().await.map_err(q)
}

/// Every row of `table` as its integer `key` and the `values` columns (NULL as NaN).
async fn keyed_floats(ctx: &SessionContext, table: &str, key: &str, values: &[&str]) -> Result<Vec<(i64, Vec<f64>)>> {
    let cols: Vec<&str> = std::iter::once(key).chain(values.iter().copied()).collect();
    let mut out = Vec::new();
    for b in &query(ctx, table, &cols).await? {
        let ids = ints(b, 0, table, key)?;
        let f: Vec<Vec<f64>> = (1..cols.len()).map(|i| floats(b, i, table, cols[i])).collect::<Result<_>>()?;
        out.extend(ids.into_iter().enumerate().map(|(r, id)| (id, f.iter().map(|c| c[r]).collect())));
    }
    Ok(out)
}

fn column_err(table: &str, column: &str, reason: impl std::fmt::Display) -> Error {
    Error::BadInput { table: table.to_string(), reason: format!("column {column}: {reason}") }
}

fn floats(b: &RecordBatch, i: usize, table: &str, column: &str) -> Result<Vec<f64>> {
    let a = cast(b.column(i), &DataType::Float64).map_err(|e| column_err(table, column, e))?;
    let a = a.as_any().downcast_ref::<Float64Array>().ok_or_else(|| column_err(table, column, "not numeric"))?;
    Ok((0..a.len()).map(|r| if a.is_null(r) { f64::NAN } else { a.value(r) }).collect())
}

fn ints(b: &RecordBatch, i: usize, table: &str, column: &str) -> Result<Vec<i64>> {
    let a = cast(b.column(i), &DataType::Int64).map_err(|e| column_err(table, column, e))?;
    let a = a.as_any().downcast_ref::<Int64Array>().ok_or_else(|| column_err(table, column, "not an integer"))?;
    if a.null_count() > 0 {
        return Err(column_err(table, column, "NULL id"));
    }
    Ok(a.values().to_vec())
}

fn strings(b: &RecordBatch, i: usize, table: &str, column: &str) -> Result<Vec<Option<String>>> {
    let a = cast(b.column(i), &DataType::Utf8).map_err(|e| column_err(table, column, e))?;
    let a = a.as_any().downcast_ref::<StringArray>().ok_or_else(|| column_err(table, column, "not a string"))?;
    Ok((0..a.len()).map(|r| (!a.is_null(r)).then(|| a.value(r).to_string())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FeatureSpec;
    use reelforest_core::NoProgress;
    use reelforest_data::{IngestOptions, SynthOptions};

    /// Synthetic ratings → ingest → honest features, in a tempdir; every table registered.
    async fn honest_run(dir: &std::path::Path) -> (Warehouse, SessionContext, FeatureRun) {
        let data = dir.join("data");
        reelforest_data::synth(&SynthOptions { ratings: 4000, seed: 7, ..SynthOptions::default() }, &data)
            .expect("synth");
        let wh = Warehouse::open(&dir.join("warehouse").display().to_string()).expect("warehouse");
        reelforest_data::ingest(&data, &IngestOptions::default(), &wh, &NoProgress).await.expect("ingest");
        let ctx = SessionContext::new();
        wh.register_all(&ctx).await.expect("register");
        let run =
            crate::build_features(&ctx, &wh, "honest", &FeatureSpec::default(), &NoProgress).await.expect("features");
        wh.register_all(&ctx).await.expect("register");
        (wh, ctx, run)
    }

    /// The key correctness proof: every test row the SQL built is rebuilt from the online
    /// tables, feature by feature (movie_age from the rating's timestamp).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn online_rows_rebuild_every_test_row() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (wh, ctx, run) = honest_run(dir.path()).await;
        let online = OnlineFeatures::load(&wh, &ServingFeatures::from(&run), &run.feature_columns).await.expect("load");
        let features: Vec<String> = run.feature_columns.iter().map(|c| format!("t.\"{c}\"")).collect();
        let sql = format!(
            "SELECT t.user_id, t.movie_id, s.\"timestamp\", {} FROM honest.test t \
             JOIN honest.split s ON s.user_id = t.user_id AND s.movie_id = t.movie_id",
            features.join(", ")
        );
        let batches = ctx.sql(&sql).await.expect("sql").collect().await.expect("collect");
        let (mut rows, mut cold_users, mut cold_movies) = (0, 0, 0);
        for b in &batches {
            let (u, m, t) = (ints(b, 0, "t", "u").expect("u"), ints(b, 1, "t", "m").expect("m"), ints(b, 2, "t", "t"));
            let t = t.expect("timestamp");
            let want: Vec<Vec<f64>> =
                (0..features.len()).map(|j| floats(b, j + 3, "t", &features[j]).expect("feature")).collect();
            for r in 0..u.len() {
                let row = online.row(u[r], m[r], Some(t[r]));
                for (j, name) in run.feature_columns.iter().enumerate() {
                    let (want, got) = (want[j][r], row.values[j]);
                    assert!(
                        (want.is_nan() && got.is_nan()) || (want - got).abs() <= 1e-9,
                        "user {}, movie {} feature {name}: SQL {want}, online {got}",
                        u[r],
                        m[r]
                    );
                }
                rows += 1;
                cold_users += usize::from(row.cold_user);
                cold_movies += usize::from(row.cold_movie);
            }
        }
        assert!(rows > 100 && rows as u64 == run.test_rows, "{rows} test rows rebuilt of {}", run.test_rows);
        eprintln!("{rows} test rows checked, {cold_users} cold users, {cold_movies} cold movies");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unknown_ids_get_priors_and_flags() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (wh, _ctx, run) = honest_run(dir.path()).await;
        let serving = ServingFeatures::from(&run);
        assert_eq!((serving.protocol.as_str(), serving.genres.len()), ("honest", run.genres.len()));
        let online = OnlineFeatures::load(&wh, &serving, &run.feature_columns).await.expect("load");
        let row = online.row(-5, -7, None);
        assert!(row.cold_user && row.cold_movie && !row.known_user && !row.known_movie);
        let col = |name: &str| run.feature_columns.iter().position(|c| c == name).expect(name);
        let get = |name: &str| row.values[col(name)];
        assert_eq!(get("avg_user_rating"), run.global_mean);
        assert_eq!(get("avg_movie_rating"), run.global_mean);
        assert_eq!(get("user_rating_std"), run.global_std);
        assert_eq!(get("user_rating_count"), 0.0);
        assert_eq!(get("director_mean"), run.global_mean);
        assert!(get("movie_age").is_nan() && get("release_year").is_nan());
        assert!(get("user_genre_affinity").abs() < 1e-12);

        // movie_age without a timestamp uses the current time.
        let known = online.movies.iter().find(|(_, m)| !m.release_year.is_nan()).map(|(id, m)| (*id, m.release_year));
        let (movie, year) = known.expect("a movie with a year");
        let age = online.row(1, movie, None).values[col("movie_age")];
        let expected = now_seconds() / SECONDS_PER_YEAR + 1970.0 - year;
        assert!((age - expected).abs() < 1e-3, "{age} vs {expected}");

        // A column the online tables do not have is refused, by name.
        let names = vec!["avg_user_rating".to_string(), "als_score".to_string()];
        assert_eq!(unservable_feature(&serving, &names), Some("als_score"));
        let e = OnlineFeatures::load(&wh, &serving, &names).await.expect_err("unservable feature").to_string();
        assert!(e.contains("feature \"als_score\" cannot be built at serving time"), "{e}");
    }
}
