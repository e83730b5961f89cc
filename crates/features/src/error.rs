//! Errors of the feature pipeline.

/// Result with the features [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong while building features, and whose fault it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A field of the [`FeatureSpec`](crate::FeatureSpec) is out of range (the caller's fault).
    #[error("invalid feature spec: {field}: {reason}")]
    InvalidSpec {
        /// The offending field.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// A run, table or column name that cannot be used as an SQL identifier.
    #[error("invalid {what} {value:?}: use lowercase letters, digits and '_' (not starting with a digit)")]
    InvalidName {
        /// What kind of name (run name, table, column).
        what: &'static str,
        /// The name given.
        value: String,
    },
    /// A predefined split that the dataset does not have.
    #[error("unknown predefined split {name:?}; available: {}", if available.is_empty() { "none (table predefined_splits is empty)".to_string() } else { available.join(", ") })]
    UnknownSplit {
        /// The name asked for.
        name: String,
        /// The splits present in table `predefined_splits`.
        available: Vec<String>,
    },
    /// The split has no training rows, so no statistic can be computed.
    #[error("split {table} has no training rows")]
    EmptyTraining {
        /// The split table.
        table: String,
    },
    /// A table the pipeline reads does not have the expected columns.
    #[error("table {table} does not fit the feature pipeline: {reason}")]
    BadInput {
        /// The table.
        table: String,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing the warehouse failed in a step.
    #[error("feature step {step}: warehouse error")]
    Warehouse {
        /// The step (table) being produced.
        step: String,
        /// The warehouse error.
        #[source]
        source: reelforest_warehouse::Error,
    },
    /// DataFusion failed to plan or run a step's SQL.
    #[error("feature step {step}: query failed")]
    Query {
        /// The step (table) being produced.
        step: String,
        /// DataFusion's error (its message says what failed).
        #[source]
        source: datafusion::error::DataFusionError,
    },
    /// A collaborative-filtering fit failed (the `cf` step).
    #[error("feature step cf: collaborative filtering failed")]
    Cf {
        /// The learner's error.
        #[source]
        source: reelforest_cf::Error,
    },
    /// `features.json` could not be written or read.
    #[error("feature run file {path} is unreadable")]
    Json {
        /// The side file.
        path: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// An SQL template refers to a parameter that was not supplied (a bug in this crate).
    #[error("internal: SQL template {template} needs parameter {{{{{placeholder}}}}} that was not supplied")]
    Template {
        /// The template file.
        template: &'static str,
        /// The missing placeholder.
        placeholder: String,
    },
}
