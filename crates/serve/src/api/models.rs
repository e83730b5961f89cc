//! Models: `GET /api/models` (every model in the warehouse and which one is served),
//! `GET /api/models/{name}?version=` (metrics of both tasks, parameters, feature importances,
//! tuning: the job's grid, the chosen point's cross-validated metric and, when the run's
//! `report.json` is found, every grid point's result) and `POST /api/models/reload` (token:
//! check for a newer version now).

use super::error::{ApiError, ErrorCode};
use super::extract::{ApiPath, ApiQuery, Authorized};
use super::predict::ModelRef;
use crate::reload::{ReloadOutcome, check_now};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use reelforest_pipeline::model::{self, Model};
use reelforest_pipeline::{JobSpec, Report};
use reelforest_proto::TaskModel;
use reelforest_tree::ForestParams;
use reelforest_tree::metrics::Metrics;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// One model in the warehouse.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ModelSummary {
    /// Name.
    pub name: String,
    /// Versions with a model file, ascending.
    pub versions: Vec<u64>,
    /// This model is the one served.
    pub served: bool,
}

/// Answer of `GET /api/models`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModelList {
    /// The model and version answering predictions.
    pub serving: ModelRef,
    /// Every model, by name.
    pub models: Vec<ModelSummary>,
}

/// Evaluation metrics; the fields of the task's kind are set.
#[derive(Debug, Clone, PartialEq, Default, Serialize, ToSchema)]
pub struct MetricsOut {
    /// Rows evaluated.
    pub rows: u64,
    /// Root mean squared error (regression).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rmse: Option<f64>,
    /// Mean squared error (regression).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mse: Option<f64>,
    /// Mean absolute error (regression).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mae: Option<f64>,
    /// R² (regression).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r2: Option<f64>,
    /// Explained variance (regression).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explained_variance: Option<f64>,
    /// Accuracy (classification).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// Precision of class good (classification).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precision: Option<f64>,
    /// Recall of class good (classification).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recall: Option<f64>,
    /// F1 of class good (classification).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub f1: Option<f64>,
    /// Weighted F1 (classification).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weighted_f1: Option<f64>,
    /// Area under the ROC curve (classification).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roc_auc: Option<f64>,
    /// Area under the precision-recall curve (classification).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pr_auc: Option<f64>,
    /// Log loss (classification).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_loss: Option<f64>,
    /// Confusion matrix, rows = actual class, columns = predicted (classification).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confusion: Option<Vec<Vec<f64>>>,
}

impl From<&Metrics> for MetricsOut {
    fn from(m: &Metrics) -> Self {
        match m {
            Metrics::Regression { rows, rmse, mse, mae, r2, explained_variance } => MetricsOut {
                rows: *rows,
                rmse: Some(*rmse),
                mse: Some(*mse),
                mae: Some(*mae),
                r2: Some(*r2),
                explained_variance: Some(*explained_variance),
                ..MetricsOut::default()
            },
            Metrics::Classification {
                rows,
                accuracy,
                precision,
                recall,
                f1,
                weighted_f1,
                roc_auc,
                pr_auc,
                log_loss,
                confusion,
            } => MetricsOut {
                rows: *rows,
                accuracy: Some(*accuracy),
                precision: Some(*precision),
                recall: Some(*recall),
                f1: Some(*f1),
                weighted_f1: Some(*weighted_f1),
                roc_auc: *roc_auc,
                pr_auc: *pr_auc,
                log_loss: Some(*log_loss),
                confusion: Some(confusion.clone()),
                ..MetricsOut::default()
            },
        }
    }
}

/// A feature's importance.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Importance {
    /// Feature name.
    pub feature: String,
    /// Spark's featureImportances value (they sum to 1).
    pub importance: f64,
}

/// One task's forest.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TaskDetail {
    /// `regression` or `classification`.
    pub task: String,
    /// The parameters the forest was trained with, by Spark's names (the tree engine's one
    /// declaration, `reelforest_tree::ForestParams`).
    pub params: ForestParams,
    /// The impurity the trees were grown with (`params.impurity` resolved for the task).
    pub impurity: String,
    /// Test-split metrics.
    pub test: MetricsOut,
    /// Training-split metrics.
    pub train: MetricsOut,
    /// Cross-validated metric of the chosen grid point, when tuned.
    pub cv: Option<f64>,
    /// Its name.
    pub cv_metric: Option<String>,
    /// Out-of-bag error.
    pub oob_error: f64,
    /// Seconds to fit.
    pub fit_seconds: f64,
    /// Nodes over all trees.
    pub num_nodes: usize,
    /// Importances, largest first.
    pub importances: Vec<Importance>,
}

/// One grid point's cross-validated result.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct GridPoint {
    /// Task.
    pub task: String,
    /// The tuned values, e.g. `maxDepth=5 numTrees=20`.
    pub label: String,
    /// Metric.
    pub metric: String,
    /// Mean over folds.
    pub mean: f64,
    /// Per fold.
    pub folds: Vec<f64>,
}

/// How the model was tuned.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Tuning {
    /// The job's `[tuning]` section (method, folds or ratio, metric, grid).
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
    /// Every grid point's result, when the run's report was found.
    pub results: Vec<GridPoint>,
    /// Where the results come from (`null`: not found; the model file records only the
    /// chosen point's metric, shown as `cv` per task).
    pub results_source: Option<String>,
}

/// Answer of `GET /api/models/{name}`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ModelDetail {
    /// Name.
    pub name: String,
    /// Version described.
    pub version: u64,
    /// Every version.
    pub versions: Vec<u64>,
    /// This version answers predictions.
    pub served: bool,
    /// Creation time, Unix milliseconds.
    pub created_at_unix_ms: i64,
    /// Feature run the model was trained on.
    pub feature_run: String,
    /// Its protocol (`honest`, `leaky`).
    pub protocol: String,
    /// A rating at least this is good.
    pub good_threshold: f64,
    /// Features in row order.
    pub feature_names: Vec<String>,
    /// One entry per task.
    pub tasks: Vec<TaskDetail>,
    /// Tuning, when the job searched a grid.
    pub tuning: Option<Tuning>,
}

fn task_detail(model: &Model, t: &TaskModel) -> TaskDetail {
    let mut importances: Vec<Importance> = model
        .artifact
        .feature_names
        .iter()
        .zip(&t.metrics.feature_importances)
        .map(|(f, v)| Importance { feature: f.clone(), importance: *v })
        .collect();
    importances.sort_by(|a, b| b.importance.total_cmp(&a.importance).then(a.feature.cmp(&b.feature)));
    TaskDetail {
        task: t.task.as_str().to_string(),
        params: t.params.clone(),
        impurity: t
            .params
            .impurity_for(reelforest_tree::Task::from(t.task))
            .map_or_else(|e| e.to_string(), |i| i.name().to_string()),
        test: MetricsOut::from(&t.metrics.test),
        train: MetricsOut::from(&t.metrics.train),
        cv: t.metrics.cv,
        cv_metric: Some(t.metrics.cv_metric.clone()).filter(|m| !m.is_empty()),
        oob_error: t.metrics.oob_error,
        fit_seconds: t.metrics.fit_seconds,
        num_nodes: t.forest.total_num_nodes(),
        importances,
    }
}

/// Describes `model` (of which `versions` exist).
pub fn detail(state: &AppState, model: &Model, versions: Vec<u64>) -> ModelDetail {
    let served = state.served();
    let a = &model.artifact;
    let tuning = JobSpec::from_toml(&a.job_spec_toml, &model.path).ok().and_then(|spec| spec.tuning).map(|t| {
        let (results, results_source) = match grid_results(state, model) {
            Some((r, source)) => (r, Some(source)),
            None => (Vec::new(), None),
        };
        Tuning { spec: serde_json::to_value(&t).unwrap_or(serde_json::Value::Null), results, results_source }
    });
    ModelDetail {
        name: a.name.clone(),
        version: a.version,
        versions,
        served: served.model().name() == a.name && served.model().version() == a.version,
        created_at_unix_ms: a.created_at_unix_ms,
        feature_run: a.serving.run.clone(),
        protocol: a.serving.protocol.clone(),
        good_threshold: a.serving.good_threshold,
        feature_names: a.feature_names.clone(),
        tasks: a.tasks.iter().map(|t| task_detail(model, t)).collect(),
        tuning,
    }
}

/// The grid results of the run that wrote `model`, from its `report.json`.
fn grid_results(state: &AppState, model: &Model) -> Option<(Vec<GridPoint>, String)> {
    let path = state.config().report_path()?;
    let text = std::fs::read(&path).ok()?;
    let report: Report = serde_json::from_slice(&text).ok()?;
    if report.job != model.name() || report.model_version != model.version() {
        return None;
    }
    let points = report
        .grid
        .iter()
        .map(|g| GridPoint {
            task: g.task.as_str().to_string(),
            label: g.label.clone(),
            metric: g.metric.clone(),
            mean: g.mean,
            folds: g.folds.clone(),
        })
        .collect();
    Some((points, path.display().to_string()))
}

/// Loads `name` (`version`, or the newest), answering 404 when there is no such model or
/// version; an unreadable file is a 500 (logged).
pub async fn load_model(state: &AppState, name: &str, version: Option<u64>) -> Result<(Model, Vec<u64>), ApiError> {
    let served = state.served();
    let versions = model::versions(state.warehouse(), name).await.map_err(|e| ApiError::internal(&e))?;
    let Some(&latest) = versions.last() else {
        return Err(ApiError::new(ErrorCode::ModelNotFound, format!("no model named {name:?}")));
    };
    let version = version.unwrap_or(latest);
    if !versions.contains(&version) {
        return Err(ApiError::new(ErrorCode::ModelNotFound, format!("model {name:?} has no version {version}")));
    }
    if served.model().name() == name && served.model().version() == version {
        return Ok((served.model().clone(), versions));
    }
    let m = model::load(state.warehouse(), name, Some(version)).await.map_err(|e| ApiError::internal(&e))?;
    Ok((m, versions))
}

/// List the models in the warehouse.
#[utoipa::path(
    get,
    path = "/api/models",
    tag = "models",
    responses((status = 200, description = "Models", body = ModelList))
)]
pub async fn models_route(State(state): State<AppState>) -> Result<Json<ModelList>, ApiError> {
    let served = state.served();
    let wh = state.warehouse();
    let mut models = Vec::new();
    for name in model::list_models(wh).await.map_err(|e| ApiError::internal(&e))? {
        let versions = model::versions(wh, &name).await.map_err(|e| ApiError::internal(&e))?;
        models.push(ModelSummary { served: name == served.model().name(), name, versions });
    }
    Ok(Json(ModelList { serving: ModelRef::of(&served), models }))
}

/// Query of `GET /api/models/{name}`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// Version (default: the newest).
    pub version: Option<u64>,
}

/// Metrics, importances and tuning results of a model version.
#[utoipa::path(
    get,
    path = "/api/models/{name}",
    tag = "models",
    params(("name" = String, Path, description = "Model name"), VersionQuery),
    responses(
        (status = 200, description = "The model", body = ModelDetail),
        (status = 400, description = "Bad version", body = super::error::ErrorBody),
        (status = 404, description = "No such model or version", body = super::error::ErrorBody),
    )
)]
pub async fn model_route(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> Result<Json<ModelDetail>, ApiError> {
    let (m, versions) = load_model(&state, &name, q.version).await?;
    Ok(Json(detail(&state, &m, versions)))
}

/// Check for a newer version of the served model now (needs the token).
#[utoipa::path(
    post,
    path = "/api/models/reload",
    tag = "models",
    security(("token" = [])),
    responses(
        (status = 200, description = "What the check did", body = ReloadOutcome),
        (status = 401, description = "Missing or wrong token", body = super::error::ErrorBody),
        (status = 500, description = "The newer version could not be loaded", body = super::error::ErrorBody),
    )
)]
pub async fn reload_route(State(state): State<AppState>, _auth: Authorized) -> Result<Json<ReloadOutcome>, ApiError> {
    check_now(&state).await.map(Json).map_err(|e| {
        let message = crate::reload::error_chain(&e);
        tracing::warn!(error = message, "reload requested over the API failed");
        ApiError::new(ErrorCode::Internal, format!("reload failed: {message}"))
    })
}
