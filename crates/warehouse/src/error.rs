//! Errors of the warehouse.

/// Result with the warehouse [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in the warehouse, and where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The warehouse location could not be understood or opened.
    #[error("cannot open warehouse {location:?}: {problem}")]
    Location {
        /// What the user gave.
        location: String,
        /// Why it was refused.
        problem: crate::LocationProblem,
    },
    /// S3 settings that cannot work (from the `AWS_*` environment or explicit options).
    #[error("invalid S3 setting {what}: {reason}")]
    S3Config {
        /// The variable or option (`AWS_ENDPOINT_URL`, ...).
        what: String,
        /// Why it was refused.
        reason: String,
    },
    /// An S3 warehouse's first request failed: the bucket, the endpoint and why.
    #[error("S3 bucket {bucket:?} at {endpoint}: {problem}")]
    S3 {
        /// The bucket.
        bucket: String,
        /// The endpoint requests went to.
        endpoint: String,
        /// The cause, classified.
        problem: crate::s3::S3Problem,
        /// The store's error (boxed: it is large, and every warehouse `Result` carries it).
        #[source]
        source: Box<object_store::Error>,
    },
    /// A relative path could not be joined onto the root.
    #[error("bad warehouse path {path:?}: {reason}")]
    BadPath {
        /// The relative path.
        path: String,
        /// Why.
        reason: String,
    },
    /// A table or file that does not exist.
    #[error("not found in the warehouse: {what}")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// A table or namespace name that is not a plain identifier.
    #[error("invalid table or namespace name {name:?}: use letters, digits and '_' (not starting with a digit)")]
    InvalidName {
        /// The name.
        name: String,
    },
    /// The object store failed.
    #[error("object store error at {path}")]
    Store {
        /// Where.
        path: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
    /// Writing Parquet failed.
    #[error("writing parquet for table {table}")]
    Parquet {
        /// The table.
        table: String,
        /// The parquet error.
        #[source]
        source: datafusion::parquet::errors::ParquetError,
    },
    /// A manifest could not be read or written.
    #[error("catalog manifest {path} is unreadable")]
    Manifest {
        /// Its path.
        path: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A manifest names a column type this version does not know.
    #[error("catalog manifest of {table}: unknown column type {data_type:?} for column {column}")]
    UnknownType {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The type string.
        data_type: String,
    },
    /// DataFusion failed while registering, planning or running a query.
    #[error("query on {table} failed")]
    Query {
        /// The table concerned.
        table: String,
        /// DataFusion's error (its message is the useful part).
        #[source]
        source: datafusion::error::DataFusionError,
    },
    /// A record batch does not match the table's schema.
    #[error("batch for {table} does not match its schema: {reason}")]
    SchemaMismatch {
        /// The table.
        table: String,
        /// Why.
        reason: String,
    },
}
