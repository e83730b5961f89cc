//! Turning a user's warehouse location into a root URL, an object store and a base path.

use crate::{Error, Result};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use std::sync::Arc;
use url::Url;

/// Resolves `location` (local path or `file://` URL).
///
/// Local warehouses use an un-prefixed [`LocalFileSystem`], so object paths are absolute file
/// paths: exactly what DataFusion's built-in `file://` store resolves on every process.
pub(crate) fn resolve(location: &str) -> Result<(Url, Arc<dyn ObjectStore>, ObjectPath)> {
    let err = |reason: String| Error::Location { location: location.to_string(), reason };
    if location.trim().is_empty() {
        return Err(err("empty location (pass --warehouse or set REELFOREST_WAREHOUSE)".into()));
    }
    let path = if location.contains("://") {
        let url = Url::parse(location).map_err(|e| err(e.to_string()))?;
        match url.scheme() {
            "file" => url.to_file_path().map_err(|()| err("not a local file URL".into()))?,
            "s3" => {
                return Err(err("s3:// warehouses are not supported by this build yet (see issue 6)".into()));
            }
            other => return Err(err(format!("unsupported scheme {other:?}: use a local path or file://"))),
        }
    } else {
        std::path::PathBuf::from(location)
    };
    std::fs::create_dir_all(&path).map_err(|e| err(format!("cannot create directory: {e}")))?;
    let abs = std::fs::canonicalize(&path).map_err(|e| err(e.to_string()))?;
    let root = Url::from_directory_path(&abs).map_err(|()| err("not an absolute path".into()))?;
    let base = ObjectPath::from_absolute_path(&abs).map_err(|e| err(e.to_string()))?;
    Ok((root, Arc::new(LocalFileSystem::new()), base))
}
