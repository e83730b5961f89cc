//! Catalog manifests: one small JSON file per table under `_catalog/<namespace>/<name>.json`.
//!
//! A manifest is written *after* a table's data, so a reader never finds a manifest that points
//! at a half-written table; a crash mid-write leaves the previous manifest (or none).

use crate::{Error, Result};
use datafusion::arrow::array::{Array, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use reelforest_core::tables::RAW_NAMESPACE;
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use std::sync::Arc;

/// One column of a table: name, Arrow type (as Arrow prints it) and nullability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnInfo {
    /// Column name.
    pub name: String,
    /// Arrow data type, e.g. `Int64`, `Float64`, `Utf8`.
    pub data_type: String,
    /// Whether NULLs may occur.
    pub nullable: bool,
}

/// A catalog entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableManifest {
    /// Format version of this manifest.
    pub version: u32,
    /// `raw` for ingested tables, the run name for feature tables.
    pub namespace: String,
    /// Table name.
    pub name: String,
    /// Directory of the table's Parquet files, relative to the warehouse root, ending in `/`.
    pub location: String,
    /// Columns in order.
    pub columns: Vec<ColumnInfo>,
    /// Number of rows.
    pub row_count: u64,
    /// When the table was written (RFC 3339, UTC).
    pub created_at: String,
    /// Where the table came from, in words (source files, SQL step, ...).
    pub description: String,
}

impl TableManifest {
    /// Current manifest format version.
    pub const VERSION: u32 = 1;

    /// A manifest for a freshly written table.
    pub fn new(
        namespace: &str,
        name: &str,
        location: &str,
        schema: &Schema,
        row_count: u64,
        description: &str,
    ) -> Self {
        TableManifest {
            version: Self::VERSION,
            namespace: namespace.to_string(),
            name: name.to_string(),
            location: location.to_string(),
            columns: schema
                .fields()
                .iter()
                .map(|f| ColumnInfo {
                    name: f.name().clone(),
                    data_type: f.data_type().to_string(),
                    nullable: f.is_nullable(),
                })
                .collect(),
            row_count,
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            description: description.to_string(),
        }
    }

    /// The path of this manifest relative to the warehouse root.
    pub fn catalog_path(&self) -> String {
        Self::catalog_path_of(&self.namespace, &self.name)
    }

    /// The path of the manifest of `namespace.name`.
    pub fn catalog_path_of(namespace: &str, name: &str) -> String {
        format!("_catalog/{namespace}/{name}.json")
    }

    /// The name SQL sees: `name` for raw tables, `namespace.name` otherwise.
    pub fn sql_name(&self) -> String {
        if self.namespace == RAW_NAMESPACE { self.name.clone() } else { format!("{}.{}", self.namespace, self.name) }
    }

    /// The Arrow schema the manifest describes.
    pub fn arrow_schema(&self) -> Result<SchemaRef> {
        let fields = self
            .columns
            .iter()
            .map(|c| {
                DataType::from_str(&c.data_type).map(|t| Field::new(&c.name, t, c.nullable)).map_err(|_| {
                    Error::UnknownType {
                        table: self.sql_name(),
                        column: c.name.clone(),
                        data_type: c.data_type.clone(),
                    }
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Arc::new(Schema::new(fields)))
    }
}

/// Checks that a namespace or table name is a plain SQL identifier.
pub(crate) fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = match chars.next() {
        Some(c) if c.is_ascii_lowercase() || c == '_' || c.is_ascii_uppercase() => {
            chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        _ => false,
    };
    if ok { Ok(()) } else { Err(Error::InvalidName { name: name.to_string() }) }
}

/// DataFusion's `COPY`/`write_parquet` returns one batch with a `count` column.
pub(crate) fn count_from_write_result(batches: &[RecordBatch]) -> u64 {
    batches
        .iter()
        .filter_map(|b| {
            b.column(0).as_any().downcast_ref::<UInt64Array>().map(|a| (0..a.len()).map(|i| a.value(i)).sum::<u64>())
        })
        .sum()
}
