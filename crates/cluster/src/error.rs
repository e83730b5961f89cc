//! Errors of the cluster library.

use std::path::PathBuf;

/// What went wrong, with the address, file or job involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The coordinator cannot be reached.
    #[error("cannot reach the coordinator at {url}: {reason}")]
    Connect {
        /// Its URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// A gRPC call failed.
    #[error("{call}: {status}")]
    Rpc {
        /// The call.
        call: &'static str,
        /// tonic's status (code and message).
        status: Box<tonic::Status>,
    },
    /// A server could not start.
    #[error("cannot serve on {addr}: {reason}")]
    Serve {
        /// Address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// A TLS file could not be read or used.
    #[error("TLS: {path}: {reason}")]
    Tls {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Invalid configuration (flag values).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The warehouse failed.
    #[error(transparent)]
    Warehouse(#[from] reelforest_warehouse::Error),
    /// The pipeline failed.
    #[error(transparent)]
    Pipeline(#[from] reelforest_pipeline::Error),
    /// A journal record is unreadable.
    #[error("job journal {path}: {reason}")]
    Journal {
        /// Object path.
        path: String,
        /// Why.
        reason: String,
    },
}

impl Error {
    /// A failed call.
    pub fn rpc(call: &'static str, status: tonic::Status) -> Self {
        Error::Rpc { call, status: Box::new(status) }
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
