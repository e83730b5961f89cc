//! Errors of the Ballista embedding: each variant names the role (scheduler, executor, client)
//! and what it was doing, and keeps the underlying error as its source. [`listen`] opens the
//! listening sockets both roles bind before they start.

use ballista_core::error::BallistaError;
use datafusion::error::DataFusionError;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong while starting or talking to a Ballista cluster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A flag or option has a value that cannot work (the caller's fault).
    #[error("invalid {what} {value:?}: {reason}")]
    Config {
        /// The option (`--concurrent-tasks`, `cluster URL`, ...).
        what: &'static str,
        /// The value given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// A listening socket could not be opened (port taken, host not local, ...).
    #[error("{service}: cannot listen on {addr}")]
    Bind {
        /// The service (`scheduler gRPC/REST`, `executor health`).
        service: &'static str,
        /// The address asked for.
        addr: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A work directory could not be created.
    #[error("executor work directory {path}: cannot create it")]
    WorkDir {
        /// The directory.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Ballista itself failed (registration, serving, configuration it rejected).
    #[error("ballista {role}: {doing} failed")]
    Ballista {
        /// `scheduler` or `executor`.
        role: &'static str,
        /// What it was doing.
        doing: &'static str,
        /// Ballista's error.
        #[source]
        source: BallistaError,
    },
    /// DataFusion refused to build a session for the cluster.
    #[error("{doing}: DataFusion error")]
    DataFusion {
        /// What was being built.
        doing: &'static str,
        /// DataFusion's error.
        #[source]
        source: DataFusionError,
    },
    /// The scheduler named by a `df://` URL does not accept connections.
    #[error("no Ballista scheduler answers at {addr} (start one with `reelforest scheduler`)")]
    Unreachable {
        /// `host:port`.
        addr: String,
        /// The connection error (or a timeout).
        #[source]
        source: std::io::Error,
    },
    /// The executor's HTTP health server stopped with an error.
    #[error("executor health server on {addr} failed")]
    Health {
        /// Its address.
        addr: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Opens a listening socket for `service` on `host:port` (port 0: any free port) and returns it
/// with the address actually bound.
pub(crate) async fn listen(service: &'static str, host: &str, port: u16) -> Result<(TcpListener, SocketAddr)> {
    let bind_err = |source| Error::Bind { service, addr: format!("{host}:{port}"), source };
    let listener = TcpListener::bind((host, port)).await.map_err(bind_err)?;
    let addr = listener.local_addr().map_err(bind_err)?;
    Ok((listener, addr))
}
