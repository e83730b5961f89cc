//! # reelforest-proto
//!
//! The one crate that owns reelforest's protobuf formats (`proto/reelforest/v1/*.proto` at the
//! workspace root, compiled into `OUT_DIR` by `build.rs` with the pure-Rust `protox`
//! compiler). Prost types never leave this crate: callers hand in and get back domain types,
//! and every incoming message is checked by a `TryFrom`-style conversion whose errors name the
//! bad field (`tasks[0].bins.features[4].thresholds: not strictly increasing at value 3`).
//! The domain types are their owners': this crate converts, it keeps no copies (forests,
//! parameters, statistics and metrics are `reelforest-tree`'s, the serving essentials of a
//! feature run `reelforest-features`'). Trees are not messages: a forest is stored and shipped
//! as the bytes of `reelforest-tree`'s codec (`Forest::to_bytes`, and `codec::encode_trees` for
//! the trees a worker returns), the one byte format of a forest.
//!
//! Main items:
//! - [`artifact`]: the model file (`models/<name>/<version>/model.pb`) as a domain type,
//!   [`ModelArtifact`], with [`encode_model`] / [`decode_model`]. The file is an envelope
//!   (magic, format version, SHA-256) around the `Model` payload, so truncated, corrupt and
//!   foreign files are rejected before any tree is read.
//! - [`wire`]: the cluster's gRPC services (`JobService`, `WorkerService` in
//!   `cluster.proto`), whose generated clients and servers necessarily speak prost types. This is
//!   the one place they are public; [`params_to_wire`] / [`params_from_wire`] are the checked
//!   conversions of forest parameters at that boundary.
//! - [`stats`]: evaluation statistics per block of held-out rows, for workers that score a
//!   forest ([`stats_to_wire`] / [`stats_from_wire`]).
//! - [`Error`]: what was wrong with the bytes, naming the field.
#![deny(missing_docs)]

pub mod artifact;
mod cf;
pub mod cluster;
mod convert;
mod error;
pub mod stats;

pub use artifact::{
    FORMAT_VERSION, MAGIC, ModelArtifact, TaskKind, TaskMetrics, TaskModel, decode_model, encode_model,
};
pub use cluster::{feature_run_from_wire, feature_run_to_wire, task_kind_from_wire, task_kind_to_wire};
pub use error::{Error, Result};
pub use stats::{BlockStats, stats_from_wire, stats_to_wire};

/// The prost/tonic-generated messages and services of package `reelforest.v1`.
#[allow(missing_docs, clippy::all, clippy::pedantic, missing_debug_implementations, unreachable_pub)]
pub mod wire {
    include!(concat!(env!("OUT_DIR"), "/reelforest.v1.rs"));
}
pub(crate) use wire as pb;

/// Forest parameters as their wire message (Spark's `paramMap` JSON of the one declaration).
pub fn params_to_wire(p: &reelforest_tree::ForestParams) -> wire::EstimatorParams {
    convert::params_to_pb(p)
}

/// Decodes forest parameters with their own type; errors name the key under `prefix`.
pub fn params_from_wire(msg: wire::EstimatorParams, prefix: &str) -> Result<reelforest_tree::ForestParams> {
    convert::params_from_pb(msg, prefix)
}
