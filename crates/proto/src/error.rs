//! Errors of decoding reelforest protobuf messages. Every variant says what was wrong; field
//! errors carry the path of the bad field (`tasks[1].bins.features[4].thresholds`).

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why bytes could not be turned into a model or a message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes do not start with the model file magic: another format, an empty file, or a
    /// file cut off in its first bytes.
    #[error("not a reelforest model file: {reason}")]
    NotAModel {
        /// What was found instead.
        reason: String,
    },
    /// The file was written by a format version this build does not read.
    #[error("unsupported model format version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// Version in the file.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// The payload's SHA-256 does not match the one recorded in the file.
    #[error("corrupt file: the payload's SHA-256 does not match the recorded checksum")]
    Checksum,
    /// The bytes are not a valid protobuf encoding of the expected message (for a model file:
    /// usually a truncated file).
    #[error("cannot decode {what}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// The protobuf decoder's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A field has an invalid value.
    #[error("{field}: {reason}")]
    Field {
        /// Path of the field, e.g. `tasks[1].bins.features[4].thresholds`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A field was decoded but the tree engine refuses the value it describes.
    #[error("{field} is invalid")]
    Tree {
        /// Path of the field.
        field: String,
        /// The engine's reason.
        #[source]
        source: reelforest_tree::Error,
    },
}

impl Error {
    pub(crate) fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Field { field: field.into(), reason: reason.into() }
    }

    pub(crate) fn missing(field: impl Into<String>) -> Self {
        Error::field(field, "missing")
    }

    pub(crate) fn tree(field: impl Into<String>, source: reelforest_tree::Error) -> Self {
        Error::Tree { field: field.into(), source }
    }

    pub(crate) fn decode(what: &'static str, source: prost::DecodeError) -> Self {
        Error::Decode { what, source: Box::new(source) }
    }
}
