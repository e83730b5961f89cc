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
    let err = |reason: String| Error::Location { location: location.to_string(), reason };
    if location.trim().is_empty() {
        return Err(err("empty location (pass --warehouse or set REELFOREST_WAREHOUSE)".into()));
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
        let url = Url::parse(location).map_err(|e| err(e.to_string()))?;
        match url.scheme() {
            "file" => url.to_file_path().map_err(|()| err("not a local file URL".into()))?,
            other => {
                return Err(err(format!(
                    "unsupported scheme {other:?}: use a local path, file:// or s3://BUCKET/PREFIX"
                )));
            }
        }
    } else {
        std::path::PathBuf::from(location)
    };
    std::fs::create_dir_all(&path).map_err(|e| err(format!("cannot create directory: {e}")))?;
    let abs = std::fs::canonicalize(&path).map_err(|e| err(e.to_string()))?;
    let root = Url::from_directory_path(&abs).map_err(|()| err("not an absolute path".into()))?;
    let base = ObjectPath::from_absolute_path(&abs).map_err(|e| err(e.to_string()))?;
    Ok(Resolved { root, store: Arc::new(LocalFileSystem::new()), base, backend: Backend::Local })
}
