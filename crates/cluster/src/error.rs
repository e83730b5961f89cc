//! Errors of the cluster library. Each variant names the address, file or job involved and keeps
//! the underlying error as its source (print it with [`reelforest_core::error_chain`] or a
//! cause-by-cause report).

use std::path::PathBuf;

/// The source of an error this crate only passes on.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What went wrong, with the address, file or job involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The coordinator cannot be reached.
    #[error("cannot reach the coordinator at {url}: {step}")]
    Connect {
        /// Its URL.
        url: String,
        /// What failed: `invalid URL; expected http://HOST:PORT`, `TLS set-up` or
        /// `connection failed`.
        step: &'static str,
        /// tonic's transport error.
        #[source]
        source: tonic::transport::Error,
    },
    /// A gRPC call failed.
    #[error("{call}: {status}")]
    Rpc {
        /// The call.
        call: &'static str,
        /// tonic's status (code and message).
        status: Box<tonic::Status>,
    },
    /// A server could not start or stopped with an error.
    #[error("cannot serve on {addr}")]
    Serve {
        /// Address.
        addr: String,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// A TLS file could not be read.
    #[error("TLS: cannot read {path}")]
    Tls {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Invalid configuration (flag values).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A thread (tree pool, heartbeats) could not start.
    #[error("cannot start {what}")]
    Thread {
        /// Which threads.
        what: String,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// The warehouse failed.
    #[error(transparent)]
    Warehouse(#[from] reelforest_warehouse::Error),
    /// The pipeline failed.
    #[error(transparent)]
    Pipeline(#[from] reelforest_pipeline::Error),
    /// A journal record cannot be listed, read or written.
    #[error("job journal {path}")]
    Journal {
        /// Object path.
        path: String,
        /// Why (JSON or object store error).
        #[source]
        source: BoxError,
    },
}

impl Error {
    /// A failed call.
    pub fn rpc(call: &'static str, status: tonic::Status) -> Self {
        Error::Rpc { call, status: Box::new(status) }
    }

    /// A server error on `addr`.
    pub(crate) fn serve(addr: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Serve { addr: addr.into(), source: source.into() }
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
