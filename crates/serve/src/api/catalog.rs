//! Movies and recommendations: `GET /api/movies?q=&limit=` (title search, most rated first)
//! and `GET /api/users/{id}/recommendations?n=` (movies the user has not rated, ranked by
//! predicted rating; P(good) when the model predicts no rating). Candidates are the movies
//! with training ratings (a cold movie's prediction is only the prior); scoring runs on the
//! blocking pool with rayon.

use super::error::{ApiError, ErrorCode};
use super::extract::{ApiPath, ApiQuery};
use super::predict::ModelRef;
use crate::data::Movie;
use crate::state::{AppState, Served};
use axum::Json;
use axum::extract::State;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// Default and largest page of a title search.
pub const SEARCH_DEFAULT: usize = 20;
/// Largest page of a title search.
pub const SEARCH_MAX: usize = 100;

/// Query of `GET /api/movies`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MovieQuery {
    /// Text the title contains (case-insensitive); empty or absent: every movie.
    pub q: Option<String>,
    /// Movies to return, 1 to 100 (default 20).
    pub limit: Option<usize>,
}

/// A movie.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MovieOut {
    /// Id.
    pub movie_id: i64,
    /// Title.
    pub title: String,
    /// Release year.
    pub year: Option<i64>,
    /// Genres.
    pub genres: Vec<String>,
    /// Ratings in the warehouse.
    pub ratings: u64,
}

impl From<&Movie> for MovieOut {
    fn from(m: &Movie) -> Self {
        MovieOut {
            movie_id: m.movie_id,
            title: m.title.clone(),
            year: m.year,
            genres: m.genres.split('|').filter(|g| !g.is_empty()).map(str::to_string).collect(),
            ratings: m.ratings,
        }
    }
}

/// Answer of `GET /api/movies`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MovieList {
    /// The search text.
    pub query: String,
    /// Movies matching in all.
    pub total: usize,
    /// The first `limit` of them, most rated first.
    pub movies: Vec<MovieOut>,
}

/// Checks a `limit`-like parameter.
pub fn bounded(name: &str, value: Option<usize>, default: usize, max: usize) -> Result<usize, ApiError> {
    match value.unwrap_or(default) {
        n if (1..=max).contains(&n) => Ok(n),
        n => Err(ApiError::new(ErrorCode::InvalidQuery, format!("{name}: {n} is not between 1 and {max}"))),
    }
}

/// Search movies by title.
#[utoipa::path(
    get,
    path = "/api/movies",
    tag = "catalog",
    params(MovieQuery),
    responses(
        (status = 200, description = "Matching movies", body = MovieList),
        (status = 400, description = "Bad parameter", body = super::error::ErrorBody),
    )
)]
pub async fn movies_route(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<MovieQuery>,
) -> Result<Json<MovieList>, ApiError> {
    let limit = bounded("limit", q.limit, SEARCH_DEFAULT, SEARCH_MAX)?;
    let query = q.q.unwrap_or_default();
    let served = state.served();
    let (hits, total) = served.data.search(&query, limit);
    Ok(Json(MovieList { query, total, movies: hits.into_iter().map(MovieOut::from).collect() }))
}

/// Query of the recommendations route.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RecommendQuery {
    /// How many, 1 to the server's limit (default 10).
    pub n: Option<usize>,
}

/// One recommended movie.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Recommendation {
    /// The movie.
    #[serde(flatten)]
    pub movie: MovieOut,
    /// Predicted rating.
    pub rating: Option<f64>,
    /// P(good).
    pub p_good: Option<f64>,
}

/// Answer of the recommendations route.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Recommendations {
    /// The model that ranked.
    pub model: ModelRef,
    /// The user.
    pub user_id: i64,
    /// The user id is known to the model.
    pub known_user: bool,
    /// The user has no training ratings: the ranking comes from priors (cold start).
    pub cold_user: bool,
    /// Movies the user has rated (left out).
    pub rated: usize,
    /// Movies ranked.
    pub candidates: usize,
    /// Best first.
    pub recommendations: Vec<Recommendation>,
}

/// Ranks the unseen, non-cold movies for `user_id` and keeps the best `n`.
pub async fn recommend(served: Arc<Served>, user_id: i64, n: usize) -> Result<Recommendations, ApiError> {
    let s = served.clone();
    let scored = tokio::task::spawn_blocking(move || {
        let seen = s.data.seen(user_id);
        let mut scored: Vec<(usize, Option<f64>, Option<f64>)> = s
            .data
            .movies()
            .par_iter()
            .enumerate()
            .filter(|(_, m)| seen.binary_search(&m.movie_id).is_err())
            .filter_map(|(i, m)| {
                let row = s.predictor.features(user_id, m.movie_id, None);
                if row.cold_movie {
                    return None;
                }
                let (r, g) = s.explainer().predict(&row.values);
                Some((i, r, g))
            })
            .collect();
        let key = |x: &(usize, Option<f64>, Option<f64>)| x.1.or(x.2).unwrap_or(f64::NEG_INFINITY);
        scored.sort_by(|a, b| key(b).total_cmp(&key(a)).then(a.0.cmp(&b.0)));
        scored
    })
    .await
    .map_err(|e| ApiError::internal(&e))?;
    let probe = served.predictor.features(user_id, i64::MIN, None);
    let movies = served.data.movies();
    Ok(Recommendations {
        model: ModelRef::of(&served),
        user_id,
        known_user: probe.known_user,
        cold_user: probe.cold_user,
        rated: served.data.seen(user_id).len(),
        candidates: scored.len(),
        recommendations: scored
            .iter()
            .take(n)
            .map(|&(i, rating, p_good)| Recommendation { movie: MovieOut::from(&movies[i]), rating, p_good })
            .collect(),
    })
}

/// A user's top-N unseen movies.
#[utoipa::path(
    get,
    path = "/api/users/{id}/recommendations",
    tag = "predictions",
    params(("id" = i64, Path, description = "User id"), RecommendQuery),
    responses(
        (status = 200, description = "Ranked movies", body = Recommendations),
        (status = 400, description = "Bad id or parameter", body = super::error::ErrorBody),
    )
)]
pub async fn recommendations_route(
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<RecommendQuery>,
) -> Result<Json<Recommendations>, ApiError> {
    let n = bounded("n", q.n, 10, state.config().limits.max_recommendations)?;
    Ok(Json(recommend(state.served(), user_id, n).await?))
}
