//! Errors of the collaborative-filtering learners.
//!
//! Parameter errors name the parameter by its serde (Spark) name, so the job-spec layer can
//! point at the key: `invalid parameter rank: must be at least 1`.

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while fitting or using a CF model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter is out of range; `param` is its name as the job spec writes it.
    #[error("invalid parameter {param}: {reason}")]
    InvalidParam {
        /// The parameter's name, e.g. `regParam` or `baseline.regUser`.
        param: String,
        /// What is wrong with the value.
        reason: String,
    },
    /// The ratings given to a learner are unusable.
    #[error("invalid ratings: {0}")]
    InvalidRatings(String),
    /// A normal equation could not be solved (a singular system: `regParam` 0 and fewer
    /// ratings than `rank` for one user or item).
    #[error(
        "cannot solve the least-squares system of {side} {id}: it is singular \
         (regParam is 0 and it has fewer ratings than rank); use regParam > 0"
    )]
    Singular {
        /// `user` or `item`.
        side: &'static str,
        /// The user's or item's id.
        id: i64,
    },
}

impl Error {
    pub(crate) fn param(param: &str, reason: impl Into<String>) -> Self {
        Error::InvalidParam { param: param.to_string(), reason: reason.into() }
    }

    /// The same error with its parameter named under `prefix` (`baseline.regUser`).
    pub(crate) fn under(self, prefix: &str) -> Self {
        match self {
            Error::InvalidParam { param, reason } => Error::InvalidParam { param: format!("{prefix}.{param}"), reason },
            other => other,
        }
    }
}
