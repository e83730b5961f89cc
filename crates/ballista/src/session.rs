//! The DataFusion sessions of the cluster's processes.
//!
//! - [`session_config`]: the configuration every role starts from (the scheduler's config
//!   producer, the client's remote context).
//! - [`session_state`]: the scheduler's session builder, called for every client session:
//!   Ballista's default scheduler session plus our functions and object stores.

use crate::functions::scalar_udfs;
use crate::object_stores::ObjectStores;
use ballista_core::extension::SessionConfigExt;
use datafusion::execution::session_state::SessionState;
use datafusion::execution::{FunctionRegistry, SessionStateBuilder};
use datafusion::prelude::SessionConfig;

/// The session configuration every role starts from: Ballista's, with the **static**
/// distributed planner.
///
/// Ballista 55 turns its experimental adaptive planner (AQE) on by default, and on our
/// feature SQL it never finishes: a join with an empty side (`tags` is empty for ml-100k)
/// makes a replan cancel a running stage, which AQE does not implement ("there are stages to
/// be cancelled but its not implemented"), and the job keeps spawning new stages
/// (apache/datafusion-ballista#2150, still open). The static planner runs every step.
pub fn session_config() -> SessionConfig {
    SessionConfig::new_with_ballista().with_ballista_adaptive_query_planner(false)
}

/// The scheduler's session: Ballista's default scheduler session (built-in functions,
/// Ballista's optimizer rules) with [`scalar_udfs`] added and the runtime's object stores
/// taken from `stores`.
pub fn session_state(config: SessionConfig, stores: &ObjectStores) -> datafusion::error::Result<SessionState> {
    let base = ballista_core::utils::default_session_builder(config)?;
    let mut state = SessionStateBuilder::new_from_existing(base).with_runtime_env(stores.runtime_env(None)?).build();
    for f in scalar_udfs() {
        state.register_udf(f)?;
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_sessions_know_rf_bucket_and_plan_statically() {
        let state = session_state(session_config(), &ObjectStores::default()).expect("state");
        assert!(state.udf(reelforest_features::udf::RF_BUCKET).is_ok());
        assert!(state.udf("abs").is_ok());
        assert!(!state.config().ballista_adaptive_query_planner_enabled());
    }
}
