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
    /// A numeric feature table column could not be read as `DOUBLE`.
    #[error("column {column} of {table}: cannot read it as DOUBLE")]
    Cast {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// Arrow's cast error.
        #[source]
        source: datafusion::arrow::error::ArrowError,
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
    /// The models directory (or a model's) could not be listed.
    #[error("model file {path}: cannot list the directory")]
    ModelList {
        /// The directory, relative to the warehouse.
        path: String,
        /// The object store's error.
        #[source]
        source: object_store::Error,
    },
    /// The job spec could not be written as TOML into a new model file.
    #[error("model file {path}: cannot write the job spec as TOML")]
    SpecToml {
        /// The model file.
        path: String,
        /// The TOML writer's error.
        #[source]
        source: toml::ser::Error,
    },
    /// An evaluation done elsewhere (on the cluster) failed or was cancelled.
    #[error("evaluation of {table} ({task}) failed")]
    Evaluate {
        /// Held-out table.
        table: String,
        /// Task.
        task: String,
        /// Why: the executor's error (for the cluster, its `WorkFailure`, whose sources name
        /// the worker and the refused field).
        #[source]
        source: RemoteError,
    },
    /// A fit done elsewhere (on the cluster) failed or was cancelled.
    #[error("fit of {table} ({task}) failed")]
    Fit {
        /// Training table.
        table: String,
        /// Task.
        task: String,
        /// Why: the executor's error, as for [`Error::Evaluate`].
        #[source]
        source: RemoteError,
    },
}

/// The error of a fit or an evaluation run by another executor (the cluster's coordinator and
/// workers): whatever that executor reports, kept with its own sources. The pipeline does not
/// know its type (the executor depends on the pipeline, not the reverse); a caller that does can
/// downcast it.
pub type RemoteError = Box<dyn std::error::Error + Send + Sync + 'static>;
