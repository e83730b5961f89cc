//! The JSON API under `/api`, and its OpenAPI document.
//!
//! Every route is a handler annotated with `#[utoipa::path]` and registered through
//! [`utoipa_axum::router::OpenApiRouter`], so the router and `/api/openapi.json` come from the
//! same list and cannot drift apart (a test also walks both). Modules:
//! [`predict`] (`POST /api/predict`), [`catalog`] (movies, recommendations), [`models`],
//! [`system`] (health, cluster, jobs, SQL), [`error`] (JSON errors with stable codes),
//! [`extract`] (extractors that answer bad input with those errors, the token check).

pub mod catalog;
pub mod error;
pub mod extract;
pub mod models;
pub mod predict;
pub mod system;

pub use error::{ApiError, ErrorBody, ErrorCode};

use crate::state::AppState;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The document's fixed parts; paths and schemas are added by [`routes`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "reelforest serve",
        description = "Movie rating predictions from a reelforest random-forest model: predictions with \
                       feature contributions, recommendations, title search, models, the cluster, and a \
                       read-only SQL console. Errors are `{\"error\": {\"code\", \"message\"}}` with a stable code.",
    ),
    modifiers(&TokenScheme),
    components(schemas(ErrorBody, ErrorCode)),
    tags(
        (name = "predictions", description = "Ratings, P(good), contributions, recommendations"),
        (name = "catalog", description = "Movies"),
        (name = "models", description = "Models in the warehouse, hot reload"),
        (name = "cluster", description = "Workers, jobs, executors"),
        (name = "sql", description = "Read-only SQL console"),
        (name = "server", description = "Health"),
    )
)]
struct ApiDoc;

/// Declares the bearer token the SQL and reload routes need.
struct TokenScheme;

impl Modify for TokenScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The server's token (`reelforest serve --token`)"))
                    .build(),
            ),
        );
    }
}

/// Every API route, with the OpenAPI document describing them.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(system::health_route))
        .routes(routes!(predict::predict_route))
        .routes(routes!(catalog::recommendations_route))
        .routes(routes!(catalog::movies_route))
        .routes(routes!(models::models_route))
        .routes(routes!(models::reload_route))
        .routes(routes!(models::model_route))
        .routes(routes!(system::cluster_route))
        .routes(routes!(system::jobs_route))
        .routes(routes!(system::sql_route))
}
