//! Turning a user's warehouse location into a root URL, an object store and a base path.
//!
//! | location | store | object paths |
//! | --- | --- | --- |
//! | `./warehouse`, `/abs/dir`, `file:///abs/dir` | an un-prefixed [`LocalFileSystem`] (the directory is created) | absolute file paths: exactly what DataFusion's built-in `file://` store resolves on every process |
//! | `s3://bucket/prefix` (`s3a://` too) | object_store's `AmazonS3` for the bucket, configured by [`S3Options`] | keys under `prefix/` |

use crate::s3::{S3Location, S3Options};
use crate::{Error, Result};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use std::sync::Arc;
use url::Url;

/// Why a warehouse location was refused: the `problem` of [`Error::Location`], and the error
/// of [`S3Location::parse`]. Each variant keeps what it found (the scheme, the bucket, the
/// underlying error), and its text says how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocationProblem {
    /// No location at all.
    #[error("empty location (pass --warehouse or set REELFOREST_WAREHOUSE)")]
    Empty,
    /// It has a `://` but does not parse as a URL.
    #[error("not a URL: {0}")]
    NotAUrl(url::ParseError),
    /// A URL scheme other than `file`, `s3` and `s3a`.
    #[error("unsupported scheme {0:?}: use a local path, file:// or s3://BUCKET/PREFIX")]
    UnsupportedScheme(String),
    /// A `file://` URL that names no local path (a host, say).
    #[error("not a local file URL")]
    NotLocalFile,
    /// The local directory could not be created.
    #[error("cannot create directory: {0}")]
    CreateDir(std::io::Error),
    /// The local directory could not be resolved to an absolute path.
    #[error("cannot resolve the directory: {0}")]
    Resolve(std::io::Error),
    /// The resolved directory is not an absolute path.
    #[error("not an absolute path")]
    NotAbsolute,
    /// The resolved directory is not a valid object store path (boxed: the error is large, and
    /// every warehouse `Result` carries this type).
    #[error("not a valid object store path: {0}")]
    ObjectPath(Box<object_store::path::Error>),
    /// [`S3Location::parse`] was given another scheme.
    #[error("not an s3:// URL (scheme {0:?})")]
    NotS3(String),
    /// An S3 URL with a query or a fragment.
    #[error("no query or fragment allowed: configure S3 through AWS_* environment variables")]
    QueryOrFragment,
    /// An S3 URL with a user, password or port.
    #[error("no credentials or port in the URL: use AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and AWS_ENDPOINT_URL")]
    CredentialsOrPort,
    /// An S3 URL without a bucket.
    #[error("no bucket: use s3://BUCKET/PREFIX")]
    NoBucket,
    /// A bucket name S3 does not allow.
    #[error(
        "invalid bucket name {0:?}: 3 to 63 lowercase letters, digits, '.' or '-', starting and ending with a letter or digit"
    )]
    InvalidBucket(String),
    /// A key prefix with empty, `.` or `..` segments.
    #[error("bad prefix {0:?}: empty, '.' or '..' path segments")]
    BadPrefix(String),
}

/// What backs a warehouse.
#[derive(Debug, Clone)]
pub(crate) enum Backend {
    /// A local directory.
    Local,
    /// An S3 bucket, with the endpoint for messages.
    S3 {
        location: S3Location,
        endpoint: String,
        /// Whether `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` were given (else object_store's
        /// credential chain is used).
        static_credentials: bool,
    },
}

/// A resolved location.
pub(crate) struct Resolved {
    pub(crate) root: Url,
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) base: ObjectPath,
    pub(crate) backend: Backend,
}

/// Whether `location` names an S3 warehouse (`s3://` or `s3a://`).
pub fn is_s3(location: &str) -> bool {
    let lower = location.trim_start().to_ascii_lowercase();
    lower.starts_with("s3://") || lower.starts_with("s3a://")
}

/// Resolves `location`: a local path or `file://` URL, or an `s3://bucket/prefix` URL whose
/// store is built from `s3` (read lazily: only S3 locations need it).
pub(crate) fn resolve(location: &str, s3: impl FnOnce() -> Result<S3Options>) -> Result<Resolved> {
    let err = |problem: LocationProblem| Error::Location { location: location.to_string(), problem };
    if location.trim().is_empty() {
        return Err(err(LocationProblem::Empty));
    }
    if is_s3(location) {
        let parsed = S3Location::parse(location).map_err(err)?;
        let options = s3()?;
        let store = options.build(&parsed.bucket)?;
        return Ok(Resolved {
            root: parsed.root_url(),
            store,
            base: parsed.base(),
            backend: Backend::S3 {
                endpoint: options.endpoint_display(),
                static_credentials: options.access_key_id.is_some(),
                location: parsed,
            },
        });
    }
    let path = if location.contains("://") {
        let url = Url::parse(location).map_err(|e| err(LocationProblem::NotAUrl(e)))?;
        match url.scheme() {
            "file" => url.to_file_path().map_err(|()| err(LocationProblem::NotLocalFile))?,
            other => return Err(err(LocationProblem::UnsupportedScheme(other.to_string()))),
        }
    } else {
        std::path::PathBuf::from(location)
    };
    std::fs::create_dir_all(&path).map_err(|e| err(LocationProblem::CreateDir(e)))?;
    let abs = std::fs::canonicalize(&path).map_err(|e| err(LocationProblem::Resolve(e)))?;
    let root = Url::from_directory_path(&abs).map_err(|()| err(LocationProblem::NotAbsolute))?;
    let base = ObjectPath::from_absolute_path(&abs).map_err(|e| err(LocationProblem::ObjectPath(Box::new(e))))?;
    Ok(Resolved { root, store: Arc::new(LocalFileSystem::new()), base, backend: Backend::Local })
}
