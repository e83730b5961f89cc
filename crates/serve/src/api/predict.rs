//! `POST /api/predict`: one `{user_id, movie_id}` object, or an array of them (a batch), →
//! predicted rating, P(good), cold-start flags and the top feature contributions of each.
//!
//! The body is read as JSON first and then checked piece by piece, so every error names where
//! it is (`[3]: unknown field "userid"`), a batch is counted before its items are read (over
//! the limit: 413 `batch_too_large`), and a single object and a batch share one route.
//! Batches larger than [`PARALLEL_BATCH`] are scored on the blocking pool with rayon.

use super::error::{ApiError, ErrorCode};
use super::extract::{ApiJson, ApiQuery};
use crate::explain::Contribution;
use crate::state::{AppState, Served};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// Batches at least this large are scored in parallel, off the request threads.
pub const PARALLEL_BATCH: usize = 64;
/// Most contributions a request may ask for.
pub const MAX_TOP: usize = 100;

/// One (user, movie) to predict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PredictItem {
    /// User id (unknown users are answered from priors and flagged `cold_user`).
    pub user_id: i64,
    /// Movie id (unknown movies are answered from priors and flagged `cold_movie`).
    pub movie_id: i64,
    /// Moment of the rating, seconds since the epoch, for time-dependent features such as
    /// `movie_age` (default: now).
    #[serde(default)]
    pub timestamp: Option<i64>,
}

/// The body of `POST /api/predict`: one pair or an array of them.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // documents the body's shape; the handler reads it piece by piece
pub enum PredictRequest {
    /// One prediction.
    One(PredictItem),
    /// A batch (at most `max_batch` pairs).
    Batch(Vec<PredictItem>),
}

/// Query parameters of `POST /api/predict`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PredictParams {
    /// Contributions per prediction (default: the server's setting, at most 100; 0 for none).
    pub top: Option<usize>,
}

/// Which model answered.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ModelRef {
    /// Model name.
    pub name: String,
    /// Version.
    pub version: u64,
}

impl ModelRef {
    /// The model of `served`.
    pub fn of(served: &Served) -> Self {
        ModelRef { name: served.model().name().to_string(), version: served.model().version() }
    }
}

/// One prediction.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Prediction {
    /// The user.
    pub user_id: i64,
    /// The movie.
    pub movie_id: i64,
    /// Predicted star rating (`null` when the model has no regression forest).
    pub rating: Option<f64>,
    /// Probability of a good rating (`null` without a classification forest).
    pub p_good: Option<f64>,
    /// The user has no training ratings: user features are priors (cold start).
    pub cold_user: bool,
    /// The movie has no training ratings: movie features are priors (cold start).
    pub cold_movie: bool,
    /// The user id is known at all (in the feature run's online tables).
    pub known_user: bool,
    /// The movie id is known at all.
    pub known_movie: bool,
    /// Rating (or P(good)) before any split: the forest's mean root value.
    pub base: Option<f64>,
    /// The features that moved this prediction most, largest first.
    pub contributions: Vec<Contribution>,
}

/// Answer to one object.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PredictOne {
    /// The model that answered.
    pub model: ModelRef,
    /// The prediction.
    #[serde(flatten)]
    pub prediction: Prediction,
}

/// Answer to a batch.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PredictBatch {
    /// The model that answered.
    pub model: ModelRef,
    /// Predictions in request order.
    pub predictions: Vec<Prediction>,
}

/// `PredictOne` for an object, `PredictBatch` for an array.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum PredictResponse {
    /// For one object.
    One(PredictOne),
    /// For an array.
    Batch(PredictBatch),
}

/// Predicts one pair with its `top` contributions.
pub fn predict(served: &Served, item: &PredictItem, top: usize) -> Prediction {
    let row = served.predictor.features(item.user_id, item.movie_id, item.timestamp);
    let x = served.explainer();
    let (rating, p_good, base, contributions) = if top == 0 {
        let (r, g) = x.predict(&row.values);
        (r, g, None, Vec::new())
    } else {
        let e = x.explain(&row.values);
        let contributions = x.top(&e, &row.values, top);
        (e.rating, e.p_good, e.rating_bias.or(e.p_good_bias), contributions)
    };
    Prediction {
        user_id: item.user_id,
        movie_id: item.movie_id,
        rating,
        p_good,
        cold_user: row.cold_user,
        cold_movie: row.cold_movie,
        known_user: row.known_user,
        known_movie: row.known_movie,
        base,
        contributions,
    }
}

fn item(v: serde_json::Value, at: &str) -> Result<PredictItem, ApiError> {
    serde_json::from_value(v).map_err(|e| ApiError::new(ErrorCode::InvalidRequest, format!("{at}{e}")))
}

/// Predict ratings, P(good) and their top feature contributions.
#[utoipa::path(
    post,
    path = "/api/predict",
    tag = "predictions",
    params(PredictParams),
    request_body = PredictRequest,
    responses(
        (status = 200, description = "Predictions", body = PredictResponse),
        (status = 400, description = "Malformed JSON or query", body = super::error::ErrorBody),
        (status = 413, description = "Body or batch too large", body = super::error::ErrorBody),
        (status = 415, description = "Not application/json", body = super::error::ErrorBody),
        (status = 422, description = "Unknown fields, wrong types, empty batch", body = super::error::ErrorBody),
    )
)]
pub async fn predict_route(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<PredictParams>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let limits = &state.config().limits;
    let top = params.top.unwrap_or(limits.top_contributions);
    if top > MAX_TOP {
        return Err(ApiError::new(ErrorCode::InvalidQuery, format!("top: {top} is more than {MAX_TOP}")));
    }
    let served = state.served();
    match body {
        serde_json::Value::Object(_) => {
            let item = item(body, "")?;
            let prediction = predict(&served, &item, top);
            Ok(axum::Json(PredictResponse::One(PredictOne { model: ModelRef::of(&served), prediction }))
                .into_response())
        }
        serde_json::Value::Array(values) => {
            if values.len() > limits.max_batch {
                return Err(ApiError::new(
                    ErrorCode::BatchTooLarge,
                    format!("the batch has {} pairs; at most {} are accepted", values.len(), limits.max_batch),
                ));
            }
            if values.is_empty() {
                return Err(ApiError::new(ErrorCode::EmptyBatch, "the batch is empty"));
            }
            let items = values
                .into_iter()
                .enumerate()
                .map(|(i, v)| item(v, &format!("[{i}]: ")))
                .collect::<Result<Vec<_>, _>>()?;
            let predictions = predict_batch(served.clone(), items, top).await?;
            Ok(axum::Json(PredictResponse::Batch(PredictBatch { model: ModelRef::of(&served), predictions }))
                .into_response())
        }
        _ => Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "expected an object {\"user_id\": .., \"movie_id\": ..} or an array of them",
        )),
    }
}

/// Scores `items` in order; large batches in parallel on the blocking pool.
pub async fn predict_batch(
    served: Arc<Served>,
    items: Vec<PredictItem>,
    top: usize,
) -> Result<Vec<Prediction>, ApiError> {
    if items.len() < PARALLEL_BATCH {
        return Ok(items.iter().map(|i| predict(&served, i, top)).collect());
    }
    tokio::task::spawn_blocking(move || items.par_iter().map(|i| predict(&served, i, top)).collect())
        .await
        .map_err(|e| ApiError::internal(&e))
}
