//! # reelforest-serve
//!
//! `reelforest serve`: one axum server that answers predictions as JSON and shows the data, the
//! model and the cluster as server-rendered HTML pages with SVG charts drawn on the server (no
//! JavaScript at all: the pages are forms and links, and the Content-Security-Policy forbids
//! scripts).
//!
//! How a request is served:
//! - [`state::AppState`] holds the **served bundle** ([`state::Served`]: the
//!   [`reelforest_pipeline::predict::Predictor`] with its [`explain::Explainer`], the
//!   [`data::DataSnapshot`] of titles / seen movies / overview statistics, and a read-only
//!   DataFusion context for the SQL console) behind an [`arc_swap::ArcSwap`]. A request takes
//!   one `Arc` of the bundle at its start and keeps it to the end.
//! - [`reload`] polls the warehouse for a newer model version, builds a complete new bundle off
//!   to the side and swaps it in atomically: requests in flight finish on the old one, none is
//!   dropped, and a version that fails to load leaves the old one serving (the error shows in
//!   `/api/health`).
//! - [`api`]: the JSON routes, their OpenAPI document (`/api/openapi.json`, generated from the
//!   same handler annotations that register the routes) and errors as JSON with a stable
//!   [`api::ErrorCode`]. [`ui`]: the pages and the [`ui::charts`] SVG module.
//! - [`sql`]: the console's guard (one `SELECT` / `WITH` / `EXPLAIN` statement, checked with
//!   DataFusion's parser and [`datafusion::execution::context::SQLOptions`]) and execution on
//!   its own runtime with row, time, memory and concurrency limits.
//! - [`cluster`]: the [`cluster::ClusterSource`] seam the cluster page reads; until the
//!   coordinator lands it reports "no cluster configured" (or, with `--coordinator`, that the
//!   client is not wired yet).
//! - [`server`]: the router with its limits (request body size, concurrency, security
//!   headers) and [`server::Server`], which binds, serves and shuts down.
//!
//! Tokens: the SQL console and anything that starts work (`POST /api/sql`,
//! `POST /api/models/reload`, the console form) need [`config::ServeConfig::token`];
//! read-only pages and routes do not.
#![deny(missing_docs)]

pub mod analysis;
pub mod api;
pub mod cluster;
pub mod config;
pub mod data;
mod error;
pub mod explain;
pub mod reload;
pub mod server;
pub mod sql;
pub mod state;
pub mod ui;

pub use config::{Limits, ServeConfig};
pub use error::{Error, Result};
pub use server::{Server, router};
pub use state::AppState;
