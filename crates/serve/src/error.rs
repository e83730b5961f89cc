//! Errors of starting and reloading the server (HTTP answers have their own type,
//! [`crate::api::ApiError`]).

use std::net::SocketAddr;

/// What went wrong while loading what the server serves, or while binding and serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The warehouse could not be opened or read.
    #[error(transparent)]
    Warehouse(#[from] reelforest_warehouse::Error),
    /// The model or its online tables could not be loaded.
    #[error(transparent)]
    Pipeline(#[from] reelforest_pipeline::Error),
    /// A feature run's description could not be read.
    #[error(transparent)]
    Features(#[from] reelforest_features::Error),
    /// A query over the warehouse tables failed.
    #[error("query for {what} failed")]
    Query {
        /// What the query was for.
        what: String,
        /// DataFusion's error.
        #[source]
        source: datafusion::error::DataFusionError,
    },
    /// A column did not have the expected type.
    #[error("table {table}, column {column}: {reason}")]
    Column {
        /// SQL name of the table.
        table: String,
        /// Column name.
        column: String,
        /// What was wrong.
        reason: String,
    },
    /// A configuration value is out of range.
    #[error("invalid configuration: {field}: {reason}")]
    Config {
        /// The setting.
        field: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The server (or a runtime it needs) failed.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A background task panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
