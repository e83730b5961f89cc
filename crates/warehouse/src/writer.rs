//! Streaming writer of one warehouse table: batches in, one Parquet file plus manifest out.

use crate::catalog::TableManifest;
use crate::{Error, Result, Warehouse};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::AsyncArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use object_store::buffered::BufWriter;
use std::fmt;

/// Writes one table. Created by [`Warehouse::writer`]; nothing is visible in the catalog until
/// [`TableWriter::finish`] succeeds.
pub struct TableWriter {
    warehouse: Warehouse,
    namespace: String,
    name: String,
    dir: String,
    schema: SchemaRef,
    writer: AsyncArrowWriter<BufWriter>,
    rows: u64,
}

impl fmt::Debug for TableWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TableWriter")
            .field("table", &format!("{}.{}", self.namespace, self.name))
            .field("rows", &self.rows)
            .finish()
    }
}

impl TableWriter {
    pub(crate) fn new(
        warehouse: Warehouse,
        namespace: &str,
        name: &str,
        dir: String,
        schema: SchemaRef,
    ) -> Result<Self> {
        let path = warehouse.object_path(&format!("{dir}part-00000.parquet"));
        let object_writer = BufWriter::new(warehouse.store().clone(), path);
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_max_row_group_row_count(Some(1 << 20))
            .build();
        let writer = AsyncArrowWriter::try_new(object_writer, schema.clone(), Some(props))
            .map_err(|source| Error::Parquet { table: format!("{namespace}.{name}"), source })?;
        Ok(TableWriter {
            warehouse,
            namespace: namespace.to_string(),
            name: name.to_string(),
            dir,
            schema,
            writer,
            rows: 0,
        })
    }

    /// The table's schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Appends a batch; its schema must equal the table's.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.schema().fields() != self.schema.fields() {
            return Err(Error::SchemaMismatch {
                table: format!("{}.{}", self.namespace, self.name),
                reason: format!("expected {:?}, got {:?}", self.schema.fields(), batch.schema().fields()),
            });
        }
        self.writer
            .write(batch)
            .await
            .map_err(|source| Error::Parquet { table: format!("{}.{}", self.namespace, self.name), source })?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Closes the Parquet file and records the manifest.
    pub async fn finish(self, description: &str) -> Result<TableManifest> {
        let table = format!("{}.{}", self.namespace, self.name);
        self.writer.close().await.map_err(|source| Error::Parquet { table, source })?;
        let manifest = TableManifest::new(&self.namespace, &self.name, &self.dir, &self.schema, self.rows, description);
        self.warehouse.commit(&manifest).await?;
        Ok(manifest)
    }
}
