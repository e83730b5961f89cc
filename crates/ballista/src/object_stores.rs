//! The object stores every Ballista role can read and write: the seam where the warehouse's
//! storage is made visible to the scheduler (which lists files while planning), the executors
//! (which scan and write Parquet) and the client (which plans against table paths).
//!
//! Today the warehouse is a local directory (`file://`), which DataFusion's default registry
//! resolves on every process; a cluster on one machine (or on machines that mount the
//! warehouse at the same path) needs nothing else. Issue 6 adds S3: it adds fields to
//! [`ObjectStores`] (endpoint, bucket, credentials from the environment) and registers an
//! `s3://` store in [`ObjectStores::registry`]. Every role already builds its runtime through
//! [`ObjectStores::runtime_env`], so that is the only place to change.

use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use std::path::Path;
use std::sync::Arc;

/// Which object stores the cluster's processes register. `Default` is the local file system
/// only.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ObjectStores {}

impl ObjectStores {
    /// Local files only (`file://` URLs and plain paths).
    pub fn local() -> Self {
        ObjectStores {}
    }

    /// The registry: DataFusion's default one, which serves `file://` from the local file
    /// system.
    pub fn registry(&self) -> Arc<dyn ObjectStoreRegistry> {
        Arc::new(DefaultObjectStoreRegistry::new())
    }

    /// A runtime with [`Self::registry`]; spill files go to `temp_dir` when given (an
    /// executor's work directory), else to DataFusion's default temporary directory.
    pub fn runtime_env(&self, temp_dir: Option<&Path>) -> datafusion::error::Result<Arc<RuntimeEnv>> {
        let mut builder = RuntimeEnvBuilder::new().with_object_store_registry(self.registry());
        if let Some(dir) = temp_dir {
            builder = builder.with_temp_file_path(dir);
        }
        Ok(Arc::new(builder.build()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    #[test]
    fn local_files_resolve() {
        let runtime = ObjectStores::local().runtime_env(None).expect("runtime");
        let url = Url::parse("file:///tmp/x.parquet").expect("url");
        assert!(runtime.object_store_registry.get_store(&url).is_ok());
        let s3 = Url::parse("s3://bucket/x.parquet").expect("url");
        assert!(runtime.object_store_registry.get_store(&s3).is_err(), "S3 arrives with issue 6");
    }
}
