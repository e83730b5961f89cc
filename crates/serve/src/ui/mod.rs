//! The web pages: server-rendered HTML with SVG charts ([`charts`]), no JavaScript.
//!
//! | page | what |
//! | --- | --- |
//! | `/` Overview | totals, rating distribution, ratings and mean per genre, activity long tail, ratings over time, most rated movies |
//! | `/predict` | pick a user and a movie (title search), see the rating, P(good) and the contributions that explain it |
//! | `/recommend` | a user's top-N unseen movies |
//! | `/model` | metrics of both tasks, importances, predicted vs actual, residuals, confusion matrix, ROC, tuning grid |
//! | `/cluster` | workers, jobs with progress (refreshing), executors; or why there is no cluster |
//! | `/sql` | the read-only SQL console (needs the token) |
//!
//! Pages use the same functions as the API ([`crate::api::predict::predict`],
//! [`crate::api::catalog::recommend`], [`crate::api::models::detail`]) so the two always agree.
//! Forms submit with GET (predict, recommend) or POST (SQL, which carries the token).

pub mod charts;
mod cluster;
pub mod layout;
mod model;
mod overview;
mod predict;
mod sql;

use crate::state::AppState;
use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::routing::get;

/// The stylesheet (served at `/assets/style.css`).
const STYLE: &str = include_str!("../../assets/style.css");
/// The icon (served at `/assets/favicon.svg`).
const FAVICON: &str = include_str!("../../assets/favicon.svg");

/// Every page and asset route.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(overview::page))
        .route("/predict", get(predict::predict_page))
        .route("/recommend", get(predict::recommend_page))
        .route("/model", get(model::page))
        .route("/cluster", get(cluster::page))
        .route("/sql", get(sql::form).post(sql::run))
        .route("/assets/style.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
        .route("/assets/favicon.svg", get(|| async { asset("image/svg+xml", FAVICON) }))
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    ([(CONTENT_TYPE, content_type), (CACHE_CONTROL, "public, max-age=3600")], body)
}

/// "name vN" of the served model, for the header.
fn served_label(state: &AppState) -> String {
    let s = state.served();
    format!("{} v{}", s.model().name(), s.model().version())
}
