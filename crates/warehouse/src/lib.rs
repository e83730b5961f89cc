//! # reelforest-warehouse
//!
//! The warehouse is where every reelforest stage hands data to the next: typed Parquet tables
//! on an [`object_store`] (a local directory by default; S3 for real clusters), plus a small
//! **catalog** of JSON manifests so that later commands find tables by name.
//!
//! Layout under the warehouse root:
//!
//! ```text
//! _catalog/<namespace>/<table>.json   manifest: columns, row count, location, provenance
//! raw/<table>/part-*.parquet          ingested tables (namespace "raw")
//! raw/<table>.quarantine.tsv          rejected input lines, verbatim, next to their table
//! features/<run>/<table>/*.parquet    feature tables of one run (namespace = run name)
//! ```
//!
//! Main types:
//! - [`Warehouse`]: opens a location, writes tables ([`Warehouse::writer`],
//!   [`Warehouse::write_dataframe`]), reads and writes side files, lists the catalog.
//! - [`TableManifest`]: one catalog entry.
//! - [`Warehouse::register_all`]: makes every catalog table queryable in a DataFusion
//!   `SessionContext` (local or a Ballista remote one: only table *paths* are registered, so
//!   the same names resolve on every executor that mounts the same warehouse).
//!
//! Locations: a local directory (or `file://` URL), or `s3://bucket/prefix` on S3 or any
//! S3-compatible server, configured by the standard `AWS_*` environment variables (see [`s3`]).
//! An S3 warehouse's first operation lists its prefix once ([`Warehouse::ready`]), so a missing
//! bucket, refused credentials or an unreachable endpoint fail up front with
//! [`Error::S3`], naming the bucket, the endpoint and the cause, before anything is written.
//! Whatever registers a warehouse's tables in a DataFusion context also registers its object
//! store there ([`Warehouse::register_store`]), so `ListingTable` scans and Parquet writes
//! resolve `s3://bucket/...` URLs.
//!
//! Raw tables are registered unqualified (`SELECT ... FROM ratings`); a feature run's tables
//! live in a schema named after the run (`SELECT ... FROM demo.train`), like Spark's
//! `database.table`.
#![deny(missing_docs)]

mod catalog;
mod error;
mod location;
pub mod s3;
mod writer;

pub use catalog::{ColumnInfo, TableManifest};
pub use error::{Error, Result};
pub use location::{LocationProblem, is_s3};
pub use s3::{S3Options, S3Problem, S3Registry};
pub use writer::TableWriter;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider};
use datafusion::dataframe::{DataFrame, DataFrameWriteOptions};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use location::Backend;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use reelforest_core::tables::RAW_NAMESPACE;
use std::fmt;
use std::sync::Arc;
use url::Url;

/// A warehouse: an object store plus a root prefix in it.
#[derive(Clone)]
pub struct Warehouse {
    root: Url,
    store: Arc<dyn ObjectStore>,
    base: ObjectPath,
    backend: Backend,
    /// Set once the first request succeeded (S3 only; shared by clones).
    ready: Arc<tokio::sync::OnceCell<()>>,
}

impl fmt::Debug for Warehouse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Warehouse").field("root", &self.root.as_str()).finish()
    }
}

impl Warehouse {
    /// Opens a warehouse at `location`: a local path (created if missing), a `file://` URL,
    /// or `s3://bucket/prefix` configured from the `AWS_*` environment
    /// ([`S3Options::from_env`]). No request is made yet: see [`Self::ready`].
    pub fn open(location: &str) -> Result<Self> {
        Self::from_resolved(location::resolve(location, S3Options::from_env)?)
    }

    /// [`Self::open`] with explicit S3 settings instead of the environment's.
    pub fn open_with(location: &str, s3: &S3Options) -> Result<Self> {
        Self::from_resolved(location::resolve(location, || Ok(s3.clone()))?)
    }

    fn from_resolved(r: location::Resolved) -> Result<Self> {
        Ok(Warehouse {
            root: r.root,
            store: r.store,
            base: r.base,
            backend: r.backend,
            ready: Arc::new(tokio::sync::OnceCell::new()),
        })
    }

    /// Whether the warehouse is on S3.
    pub fn is_s3(&self) -> bool {
        matches!(self.backend, Backend::S3 { .. })
    }

    /// Checks, once, that the warehouse answers: for S3, lists one level of the prefix, so
    /// a missing bucket, refused credentials or an unreachable endpoint are an [`Error::S3`]
    /// naming the bucket, the endpoint and the cause. Every operation calls it first; a
    /// success is remembered, a failure is retried on the next call. Local: nothing to check.
    pub async fn ready(&self) -> Result<()> {
        let Backend::S3 { location, endpoint, static_credentials } = &self.backend else { return Ok(()) };
        self.ready
            .get_or_try_init(|| async {
                s3::probe(self.store.as_ref(), location, endpoint, *static_credentials).await?;
                tracing::debug!(root = %self.root, endpoint, "S3 warehouse reachable");
                Ok::<(), Error>(())
            })
            .await?;
        Ok(())
    }

    /// Makes the warehouse's object store known to `ctx` (for S3: under `s3://bucket`), so
    /// its table URLs resolve in scans and writes. Local warehouses need nothing: DataFusion
    /// serves `file://` itself.
    pub fn register_store(&self, ctx: &SessionContext) {
        register_store_in(&self.backend, &self.store, ctx.runtime_env().as_ref());
    }

    /// The root URL, always ending in `/`.
    pub fn root(&self) -> &Url {
        &self.root
    }

    /// The object store behind the warehouse.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The URL of a path relative to the root (`raw/ratings/`).
    pub fn url(&self, relative: &str) -> Result<Url> {
        self.root
            .join(relative.trim_start_matches('/'))
            .map_err(|source| Error::BadPath { path: relative.to_string(), reason: source.to_string() })
    }

    /// The object-store path of a path relative to the root.
    pub fn object_path(&self, relative: &str) -> ObjectPath {
        let rel = relative.trim_matches('/');
        if self.base.as_ref().is_empty() {
            ObjectPath::from(rel)
        } else if rel.is_empty() {
            self.base.clone()
        } else {
            ObjectPath::from(format!("{}/{}", self.base, rel))
        }
    }

    /// The directory (relative to the root) that holds table `name` of `namespace`.
    pub fn table_dir(namespace: &str, name: &str) -> String {
        if namespace == RAW_NAMESPACE { format!("raw/{name}/") } else { format!("features/{namespace}/{name}/") }
    }

    /// Writes `bytes` to a side file (quarantine, report, model) at `relative`.
    pub async fn put(&self, relative: &str, bytes: Vec<u8>) -> Result<()> {
        self.ready().await?;
        let path = self.object_path(relative);
        self.store
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(|source| Error::Store { path: relative.to_string(), source })?;
        Ok(())
    }

    /// Reads a side file; [`Error::NotFound`] when it does not exist.
    pub async fn get(&self, relative: &str) -> Result<Vec<u8>> {
        self.ready().await?;
        let path = self.object_path(relative);
        match self.store.get(&path).await {
            Ok(r) => {
                Ok(r.bytes().await.map_err(|source| Error::Store { path: relative.to_string(), source })?.to_vec())
            }
            Err(object_store::Error::NotFound { .. }) => Err(Error::NotFound { what: relative.to_string() }),
            Err(source) => Err(Error::Store { path: relative.to_string(), source }),
        }
    }

    /// Whether a side file exists.
    pub async fn exists(&self, relative: &str) -> Result<bool> {
        self.ready().await?;
        match self.store.head(&self.object_path(relative)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(source) => Err(Error::Store { path: relative.to_string(), source }),
        }
    }

    /// Deletes everything under a directory (relative to the root). Missing is fine.
    pub async fn delete_dir(&self, relative: &str) -> Result<()> {
        self.ready().await?;
        let prefix = self.object_path(relative);
        let objects: Vec<_> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|source| Error::Store { path: relative.to_string(), source })?;
        for meta in objects {
            match self.store.delete(&meta.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(source) => return Err(Error::Store { path: meta.location.to_string(), source }),
            }
        }
        Ok(())
    }

    /// Starts writing table `name` in `namespace` (replacing any previous version). Push
    /// record batches with [`TableWriter::write`], then [`TableWriter::finish`] writes the
    /// manifest.
    pub async fn writer(&self, namespace: &str, name: &str, schema: SchemaRef) -> Result<TableWriter> {
        catalog::check_name(namespace)?;
        catalog::check_name(name)?;
        let dir = Self::table_dir(namespace, name);
        self.delete_dir(&dir).await?;
        TableWriter::new(self.clone(), namespace, name, dir, schema)
    }

    /// Runs `df` and writes its result as table `name` in `namespace` through the DataFrame's
    /// own session (local DataFusion or Ballista), then records the manifest. Returns it.
    pub async fn write_dataframe(
        &self,
        namespace: &str,
        name: &str,
        df: DataFrame,
        description: &str,
    ) -> Result<TableManifest> {
        catalog::check_name(namespace)?;
        catalog::check_name(name)?;
        let dir = Self::table_dir(namespace, name);
        self.delete_dir(&dir).await?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let url = self.url(&dir)?;
        // The DataFrame's own session writes the files: it must resolve the warehouse URL.
        let (state, plan) = df.into_parts();
        register_store_in(&self.backend, &self.store, state.runtime_env().as_ref());
        let df = DataFrame::new(state, plan);
        let written = df
            .write_parquet(url.as_str(), DataFrameWriteOptions::new(), None)
            .await
            .map_err(|source| Error::Query { table: format!("{namespace}.{name}"), source })?;
        let rows = catalog::count_from_write_result(&written);
        let manifest = TableManifest::new(namespace, name, &dir, &schema, rows, description);
        self.commit(&manifest).await?;
        Ok(manifest)
    }

    /// Records (or replaces) a manifest in the catalog.
    pub async fn commit(&self, manifest: &TableManifest) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(manifest)
            .map_err(|source| Error::Manifest { path: manifest.catalog_path(), source })?;
        self.put(&manifest.catalog_path(), bytes).await
    }

    /// Every manifest in the catalog, sorted by (namespace, name).
    pub async fn catalog(&self) -> Result<Vec<TableManifest>> {
        self.ready().await?;
        let prefix = self.object_path("_catalog");
        let objects: Vec<_> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|source| Error::Store { path: "_catalog".into(), source })?;
        let mut out = Vec::new();
        for meta in objects {
            if !meta.location.as_ref().ends_with(".json") {
                continue;
            }
            let bytes = self
                .store
                .get(&meta.location)
                .await
                .map_err(|source| Error::Store { path: meta.location.to_string(), source })?
                .bytes()
                .await
                .map_err(|source| Error::Store { path: meta.location.to_string(), source })?;
            let m: TableManifest = serde_json::from_slice(&bytes)
                .map_err(|source| Error::Manifest { path: meta.location.to_string(), source })?;
            out.push(m);
        }
        out.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        Ok(out)
    }

    /// The manifest of one table; [`Error::NotFound`] names what is missing.
    pub async fn manifest(&self, namespace: &str, name: &str) -> Result<TableManifest> {
        let path = TableManifest::catalog_path_of(namespace, name);
        let bytes = self.get(&path).await.map_err(|e| match e {
            Error::NotFound { .. } => Error::NotFound {
                what: format!("table {namespace}.{name} (no catalog entry at {path}; run `reelforest data ingest` or `reelforest features` first)"),
            },
            other => other,
        })?;
        serde_json::from_slice(&bytes).map_err(|source| Error::Manifest { path, source })
    }

    /// Registers one table in `ctx` under `sql_name` (unqualified, or `schema.table`).
    pub async fn register(&self, ctx: &SessionContext, manifest: &TableManifest, sql_name: &str) -> Result<()> {
        self.ready().await?;
        self.register_store(ctx);
        let url = self.url(&manifest.location)?;
        let table_url = ListingTableUrl::parse(url.as_str())
            .map_err(|source| Error::Query { table: sql_name.to_string(), source })?;
        let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let schema = manifest.arrow_schema()?;
        let config = ListingTableConfig::new(table_url).with_listing_options(options).with_schema(schema);
        let table =
            ListingTable::try_new(config).map_err(|source| Error::Query { table: sql_name.to_string(), source })?;
        if let Some((schema_name, table_name)) = sql_name.split_once('.') {
            ensure_schema(ctx, schema_name)?;
            let provider = ctx
                .catalog("datafusion")
                .and_then(|c| c.schema(schema_name))
                .ok_or_else(|| Error::NotFound { what: format!("schema {schema_name}") })?;
            provider
                .deregister_table(table_name)
                .map_err(|source| Error::Query { table: sql_name.to_string(), source })?;
            provider
                .register_table(table_name.to_string(), Arc::new(table))
                .map_err(|source| Error::Query { table: sql_name.to_string(), source })?;
        } else {
            ctx.deregister_table(sql_name).map_err(|source| Error::Query { table: sql_name.to_string(), source })?;
            ctx.register_table(sql_name, Arc::new(table))
                .map_err(|source| Error::Query { table: sql_name.to_string(), source })?;
        }
        Ok(())
    }

    /// Registers every catalog table in `ctx`: raw tables unqualified, the tables of feature
    /// run `R` as `R.<table>`. Returns the SQL names registered.
    pub async fn register_all(&self, ctx: &SessionContext) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for m in self.catalog().await? {
            let sql_name = m.sql_name();
            self.register(ctx, &m, &sql_name).await?;
            names.push(sql_name);
        }
        Ok(names)
    }
}

/// Registers an S3 warehouse's store in `runtime` under `s3://bucket` (local: nothing).
fn register_store_in(
    backend: &Backend,
    store: &Arc<dyn ObjectStore>,
    runtime: &datafusion::execution::runtime_env::RuntimeEnv,
) {
    if let Backend::S3 { location, .. } = backend {
        runtime.register_object_store(&location.bucket_url(), store.clone());
    }
}

fn ensure_schema(ctx: &SessionContext, schema_name: &str) -> Result<()> {
    let catalog =
        ctx.catalog("datafusion").ok_or_else(|| Error::NotFound { what: "the default catalog `datafusion`".into() })?;
    if catalog.schema(schema_name).is_none() {
        let provider: Arc<dyn SchemaProvider> = Arc::new(MemorySchemaProvider::new());
        catalog
            .register_schema(schema_name, provider)
            .map_err(|source| Error::Query { table: schema_name.to_string(), source })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
