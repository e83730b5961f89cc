//! The router with its limits, and [`Server`], which binds, serves and stops.
//!
//! Layers, outermost first: panics become a JSON `internal` 500; a global concurrency limit
//! (requests beyond `max_concurrency` wait for a slot); a request body limit of
//! `max_body_bytes` (larger: 413, as JSON `payload_too_large`); security headers on every
//! answer (a Content-Security-Policy that allows no script and no inline style, `nosniff`,
//! no framing, no referrer); request tracing at debug level.
//!
//! Unknown `/api/...` routes answer JSON `not_found` / `method_not_allowed`; unknown pages an
//! HTML 404.

use crate::api::{self, ApiError, ErrorCode};
use crate::cluster::ClusterSource;
use crate::config::ServeConfig;
use crate::state::AppState;
use crate::ui;
use crate::{Error, Result, reload};
use axum::Router;
use axum::extract::Request;
use axum::http::header::{
    CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::any::Any;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;

/// The pages' policy: no scripts at all, styles and images from this server only.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
                       base-uri 'none'; frame-ancestors 'none'";

/// The OpenAPI document of [`api::routes`] (built once).
pub fn openapi() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = api::routes().into_openapi();
        let mut item = utoipa::openapi::PathItem::new(
            utoipa::openapi::HttpMethod::Get,
            utoipa::openapi::path::OperationBuilder::new()
                .tag("server")
                .summary(Some("This document"))
                .response("200", utoipa::openapi::Response::new("The OpenAPI document")),
        );
        item.summary = Some("OpenAPI document".into());
        doc.paths.paths.insert("/api/openapi.json".into(), item);
        doc
    })
}

/// The whole application: API, OpenAPI document, pages, assets, fallbacks and layers.
pub fn router(state: AppState) -> Router {
    let limits = state.config().limits.clone();
    let (api, _) = api::routes().split_for_parts();
    Router::new()
        .merge(api)
        .route("/api/openapi.json", get(|| async { axum::Json(openapi()) }))
        .merge(ui::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(middleware::from_fn(json_413))
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(limits.max_concurrency))
        .layer(SetResponseHeaderLayer::overriding(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)))
        .layer(SetResponseHeaderLayer::overriding(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::overriding(REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(panic_response))
}

async fn not_found(req: Request) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with("/api/") || path == "/api" {
        return ApiError::new(ErrorCode::NotFound, format!("no route {path}")).into_response();
    }
    let body = format!(
        "{}<p><a href=\"/\">Back to the overview</a></p>",
        ui::layout::error_box(&format!("No page at {path}"))
    );
    ui::layout::respond(StatusCode::NOT_FOUND, ui::layout::html_page("Not found", "", "", &body, None))
}

async fn method_not_allowed(req: Request) -> Response {
    let msg = format!("{} is not allowed on {}", req.method(), req.uri().path());
    ApiError::new(ErrorCode::MethodNotAllowed, msg).into_response()
}

/// The body limit layer answers 413 in plain text before any handler runs; say it in JSON.
async fn json_413(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let is_json = res.headers().get(CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if res.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        return ApiError::new(ErrorCode::PayloadTooLarge, "the request body is larger than the server accepts")
            .into_response();
    }
    res
}

fn panic_response(err: Box<dyn Any + Send + 'static>) -> Response {
    let what = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into());
    tracing::error!(panic = what, "request handler panicked");
    ApiError::new(ErrorCode::Internal, "internal error; see the server log").into_response()
}

/// A running server: the listener's task and the model reloader.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    state: AppState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    serve: tokio::task::JoinHandle<std::io::Result<()>>,
    reloader: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Loads the model and data, binds `config.bind` and starts serving and polling for new
    /// versions.
    pub async fn start(config: ServeConfig, cluster: Arc<dyn ClusterSource>) -> Result<Server> {
        let bind = config.bind;
        let state = AppState::load(config, cluster).await?;
        Self::start_with_state(state, bind).await
    }

    /// Serves an already loaded state on `bind`.
    pub async fn start_with_state(state: AppState, bind: SocketAddr) -> Result<Server> {
        let listener = TcpListener::bind(bind).await.map_err(|source| Error::Bind { addr: bind, source })?;
        let addr =
            listener.local_addr().map_err(|source| Error::Io { what: "cannot read the bound address", source })?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = router(state.clone());
        let serve = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
        });
        let reloader = reload::spawn(state.clone());
        tracing::info!(%addr, model = state.config().model, "serving");
        Ok(Server { addr, state, shutdown: Some(tx), serve, reloader })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `signal` completes, then stops gracefully.
    pub async fn run_until(mut self, signal: impl Future<Output = ()>) -> Result<()> {
        let ended = tokio::select! {
            () = signal => None,
            r = &mut self.serve => Some(r),
        };
        match ended {
            None => self.shutdown().await,
            Some(r) => {
                self.reloader.abort();
                r?.map_err(|source| Error::Io { what: "the server failed", source })
            }
        }
    }

    /// Stops accepting connections, lets requests in flight finish, and stops the reloader.
    pub async fn shutdown(mut self) -> Result<()> {
        self.reloader.abort();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.serve).await?.map_err(|source| Error::Io { what: "the server failed", source })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.reloader.abort();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
