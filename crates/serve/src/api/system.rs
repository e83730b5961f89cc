//! The server and its surroundings: `GET /api/health` (served model, reload status; a
//! readiness probe), `GET /api/cluster` (workers, jobs, executors from the
//! [`crate::cluster::ClusterSource`]), `GET /api/jobs` (the cluster's jobs alone) and
//! `POST /api/sql` (token: a read-only query with limits, see [`crate::sql`]).

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Authorized};
use super::predict::ModelRef;
use crate::cluster::{ClusterSnapshot, ClusterStatus, JobInfo};
use crate::reload::ReloadStatus;
use crate::sql::SqlResult;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Answer of `GET /api/health`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the server answers.
    pub status: String,
    /// The model answering predictions.
    pub model: ModelRef,
    /// When its bundle was loaded, Unix milliseconds.
    pub loaded_at_unix_ms: i64,
    /// Seconds since the start.
    pub uptime_seconds: f64,
    /// Hot reload.
    pub reload: ReloadStatus,
}

/// Is the server up, and what does it serve?
#[utoipa::path(get, path = "/api/health", tag = "server", responses((status = 200, description = "Up", body = Health)))]
pub async fn health_route(State(state): State<AppState>) -> Json<Health> {
    let served = state.served();
    Json(Health {
        status: "ok".into(),
        model: ModelRef::of(&served),
        loaded_at_unix_ms: served.loaded_at_unix_ms,
        uptime_seconds: state.uptime_seconds(),
        reload: state.reload_status(),
    })
}

/// The cluster's workers, jobs and Ballista executors.
#[utoipa::path(
    get,
    path = "/api/cluster",
    tag = "cluster",
    responses((status = 200, description = "The cluster, or why there is none", body = ClusterSnapshot))
)]
pub async fn cluster_route(State(state): State<AppState>) -> Json<ClusterSnapshot> {
    Json(state.cluster().snapshot().await)
}

/// Answer of `GET /api/jobs`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobList {
    /// Whether a cluster is configured and answering.
    pub cluster: ClusterStatus,
    /// Jobs, newest first (empty without a cluster).
    pub jobs: Vec<JobInfo>,
}

/// The cluster's jobs with their progress.
#[utoipa::path(get, path = "/api/jobs", tag = "cluster", responses((status = 200, description = "Jobs", body = JobList)))]
pub async fn jobs_route(State(state): State<AppState>) -> Json<JobList> {
    let s = state.cluster().snapshot().await;
    Json(JobList { cluster: s.status, jobs: s.jobs })
}

/// Body of `POST /api/sql`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlRequest {
    /// One read-only query: `SELECT`, `WITH ... SELECT` or `EXPLAIN`.
    pub sql: String,
    /// Rows to return at most (default and cap: the server's limits).
    #[serde(default)]
    pub max_rows: Option<usize>,
}

/// Run a read-only SQL query over the warehouse tables (needs the token).
#[utoipa::path(
    post,
    path = "/api/sql",
    tag = "sql",
    security(("token" = [])),
    request_body = SqlRequest,
    responses(
        (status = 200, description = "Rows", body = SqlResult),
        (status = 400, description = "Malformed JSON, unparsable SQL, several statements, query error", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 403, description = "Not a read-only query (sql_not_read_only)", body = ErrorBody),
        (status = 408, description = "Ran longer than the limit (sql_timeout)", body = ErrorBody),
        (status = 413, description = "SQL text or body too long", body = ErrorBody),
        (status = 422, description = "Unknown fields, wrong types", body = ErrorBody),
        (status = 429, description = "Too many queries running (sql_busy)", body = ErrorBody),
    )
)]
pub async fn sql_route(
    State(state): State<AppState>,
    _auth: Authorized,
    ApiJson(req): ApiJson<SqlRequest>,
) -> Result<Json<SqlResult>, ApiError> {
    let served = state.served();
    let rows = req.max_rows.unwrap_or(state.config().limits.sql_default_rows);
    Ok(Json(state.sql().run(&served.sql, &req.sql, rows).await?))
}
