//! The object stores every Ballista role can read and write: the seam where the warehouse's
//! storage is made visible to the scheduler (which lists files while planning), the executors
//! (which scan and write Parquet) and the client (which plans against table paths).
//!
//! - Local warehouses (`file://`): DataFusion's default registry resolves them on every
//!   process; a cluster on one machine (or on machines that mount the warehouse at the same
//!   path) needs nothing else.
//! - S3 warehouses (`s3://bucket/prefix`): [`ObjectStores::from_env`] reads the standard
//!   `AWS_*` variables of *this* process (see `reelforest_warehouse::s3`), and the registry
//!   ([`reelforest_warehouse::S3Registry`]) builds the store of any `s3://bucket` URL a plan
//!   names on first use. The scheduler and the executors learn the buckets only from the
//!   table URLs in the plans, and credentials never travel in plans or session options:
//!   give every process the same `AWS_*` environment.
//!
//! Every role builds its runtime through [`ObjectStores::runtime_env`]; the registry is shared
//! by all runtimes built from one `ObjectStores` (and its clones), so each bucket's client,
//! with its connection pool, is built once per process.

use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use reelforest_warehouse::{S3Options, S3Registry};
use std::path::Path;
use std::sync::Arc;

/// Which object stores the cluster's processes register. `Default` is the local file system
/// only.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ObjectStores {
    registry: Arc<dyn ObjectStoreRegistry>,
    s3: Option<S3Options>,
}

impl Default for ObjectStores {
    fn default() -> Self {
        Self::local()
    }
}

impl ObjectStores {
    /// Local files only (`file://` URLs and plain paths).
    pub fn local() -> Self {
        ObjectStores { registry: Arc::new(DefaultObjectStoreRegistry::new()), s3: None }
    }

    /// Local files and any `s3://bucket` URL, reached with `options`.
    pub fn with_s3(options: S3Options) -> Self {
        ObjectStores { registry: Arc::new(S3Registry::new(options.clone())), s3: Some(options) }
    }

    /// Local files and S3 configured from this process's `AWS_*` environment variables.
    /// Fails on settings that cannot work (e.g. a plain-HTTP endpoint without
    /// `AWS_ALLOW_HTTP=true`), naming the variable.
    pub fn from_env() -> reelforest_warehouse::Result<Self> {
        Ok(Self::with_s3(S3Options::from_env()?))
    }

    /// The S3 settings, when S3 is enabled.
    pub fn s3(&self) -> Option<&S3Options> {
        self.s3.as_ref()
    }

    /// The registry shared by every runtime built from these stores.
    pub fn registry(&self) -> Arc<dyn ObjectStoreRegistry> {
        self.registry.clone()
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
        assert!(runtime.object_store_registry.get_store(&s3).is_err(), "local() has no S3");
    }

    #[test]
    fn s3_buckets_resolve_on_every_runtime_of_one_stores() {
        let stores = ObjectStores::with_s3(S3Options::with_endpoint("http://127.0.0.1:1", "k", "s"));
        let a = stores.runtime_env(None).expect("runtime");
        let b = stores.clone().runtime_env(Some(Path::new("/tmp"))).expect("runtime");
        let url = Url::parse("s3://reelforest-wh/raw/ratings/").expect("url");
        let sa = a.object_store_registry.get_store(&url).expect("built on first use");
        let sb = b.object_store_registry.get_store(&url).expect("shared");
        assert!(Arc::ptr_eq(&sa, &sb), "one client per bucket per process");
        assert!(a.object_store_registry.get_store(&Url::parse("file:///tmp/x").expect("url")).is_ok());
    }
}
