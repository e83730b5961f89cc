//! Errors of a job.

use std::path::PathBuf;

/// Result with the pipeline [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in a job, and where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The job spec is invalid; the error names the key.
    #[error("invalid job spec {origin}: {error}")]
    Spec {
        /// File name or "built-in default".
        origin: String,
        /// The key and what is wrong with it.
        #[source]
        error: crate::spec::SpecError,
    },
    /// A broken invariant of the pipeline itself (a bug, not the user's input).
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// A file could not be read or written.
    #[error("i/o error on {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Ingest or the generator failed.
    #[error(transparent)]
    Data(#[from] reelforest_data::Error),
    /// The feature pipeline failed.
    #[error(transparent)]
    Features(#[from] reelforest_features::Error),
    /// The warehouse failed.
    #[error(transparent)]
    Warehouse(#[from] reelforest_warehouse::Error),
    /// The tree engine refused the data or parameters.
    #[error(transparent)]
    Tree(#[from] reelforest_tree::Error),
    /// A query over a feature table failed.
    #[error("reading {what} failed")]
    Query {
        /// The table.
        what: String,
        /// DataFusion's error.
        #[source]
        source: datafusion::error::DataFusionError,
    },
    /// A feature table column has an unexpected type.
    #[error("column {column} of {table}: {reason}")]
    Column {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// Why.
        reason: String,
    },
    /// A model file does not decode: truncated, corrupt, foreign or inconsistent. The source
    /// names the bad field.
    #[error("model file {path}")]
    ModelFile {
        /// Where.
        path: String,
        /// What the decoder found.
        #[source]
        source: reelforest_proto::Error,
    },
    /// A model is missing or unusable.
    #[error("model file {path}: {reason}")]
    Model {
        /// Where.
        path: String,
        /// Why.
        reason: String,
    },
    /// An evaluation done elsewhere (on the cluster) failed or was cancelled.
    #[error("evaluation of {table} ({task}) failed: {reason}")]
    Evaluate {
        /// Held-out table.
        table: String,
        /// Task.
        task: String,
        /// Why.
        reason: String,
    },
    /// A fit done elsewhere (on the cluster) failed or was cancelled.
    #[error("fit of {table} ({task}) failed: {reason}")]
    Fit {
        /// Training table.
        table: String,
        /// Task.
        task: String,
        /// Why.
        reason: String,
    },
}
