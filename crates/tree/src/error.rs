//! Errors of the tree engine.
//!
//! One variant per cause. Parameter errors name the Spark parameter (`numTrees`, `maxBins`, …)
//! so a job-spec layer can point the user at the offending key.

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while binning, training, predicting or decoding a forest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A training parameter is out of range; `param` is Spark MLlib's name for it.
    #[error("invalid parameter {param}: {reason}")]
    InvalidParam {
        /// Spark's name of the parameter, e.g. `maxDepth`.
        param: &'static str,
        /// What is wrong with the value.
        reason: String,
    },
    /// The input has no rows or no features.
    #[error("empty input: {0}")]
    EmptyInput(&'static str),
    /// Two inputs that must have the same length do not.
    #[error("length mismatch for {what}: expected {expected}, got {actual}")]
    LengthMismatch {
        /// Which input (e.g. `labels`, `weights`, `feature column 3`).
        what: String,
        /// Expected length.
        expected: usize,
        /// Actual length.
        actual: usize,
    },
    /// A label is not usable for the task (NaN, infinite, or not a class index).
    #[error("invalid label {value} at row {row}: {reason}")]
    InvalidLabel {
        /// Row index.
        row: usize,
        /// The offending value.
        value: f64,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// A row weight is negative, NaN or infinite.
    #[error("invalid weight {value} at row {row}: weights must be finite and >= 0")]
    InvalidWeight {
        /// Row index.
        row: usize,
        /// The offending value.
        value: f64,
    },
    /// All row weights are zero.
    #[error("the total row weight is zero")]
    ZeroTotalWeight,
    /// A forest was assembled from trees with duplicate or inconsistent indices.
    #[error("tree index {0} appears more than once")]
    DuplicateTree(u32),
    /// Trees of a forest disagree with the forest's task or feature count.
    #[error("tree {tree_index} is inconsistent with the forest: {reason}")]
    InconsistentTree {
        /// The tree's index.
        tree_index: u32,
        /// What disagrees.
        reason: String,
    },
    /// A prediction input has the wrong number of features.
    #[error("expected {expected} features, got {actual}")]
    FeatureCount {
        /// Features the model was trained on.
        expected: usize,
        /// Features given.
        actual: usize,
    },
    /// Forest bytes could not be decoded.
    #[error("corrupt forest encoding: {0}")]
    Decode(String),
    /// Forest bytes were written by an unknown format version.
    #[error("unsupported forest format version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// Version in the bytes.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// An operation needs a classification model but got a regression one, or vice versa.
    #[error("operation needs a {expected} model")]
    WrongTask {
        /// The task the operation needs.
        expected: &'static str,
    },
    /// Statistics of different shapes (e.g. class counts) were merged.
    #[error("cannot merge statistics: {0}")]
    MergeMismatch(String),
}

impl Error {
    pub(crate) fn param(param: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidParam { param, reason: reason.into() }
    }
}
