//! Model hot reload: [`spawn`] polls the warehouse every `poll_interval` for a newer version of
//! the served model; [`check_now`] does one check (also behind `POST /api/models/reload`).
//!
//! A newer version is loaded into a complete new [`crate::state::Served`] bundle while the old
//! one keeps answering, then swapped in with one atomic pointer store. A version that fails to
//! load (half-copied, corrupt, missing online tables) is not swapped in: the old version keeps
//! serving, the error is logged and shown in [`ReloadStatus`] (and `/api/health`), and the
//! next poll tries again. One check runs at a time.

use crate::Result;
use crate::state::{AppState, now_unix_ms};
use serde::Serialize;
use utoipa::ToSchema;

/// What the reloader has done.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct ReloadStatus {
    /// Last check for a newer version, Unix milliseconds.
    pub last_check_unix_ms: Option<i64>,
    /// Versions swapped in since the start.
    pub reloads: u64,
    /// Why the newest version could not be served, if it could not.
    pub last_error: Option<String>,
}

/// Result of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReloadOutcome {
    /// The served version is the newest.
    Unchanged {
        /// The served version.
        version: u64,
    },
    /// A newer version was swapped in.
    Reloaded {
        /// The version served before.
        from: u64,
        /// The version served now.
        to: u64,
    },
}

/// Checks once for a newer version and swaps it in.
pub async fn check_now(state: &AppState) -> Result<ReloadOutcome> {
    let _one_at_a_time = state.reload_lock().lock().await;
    let current = state.served().model().version();
    let latest = reelforest_pipeline::model::latest_version(state.warehouse(), &state.config().model).await;
    let loaded = match latest {
        Err(e) => Err(e.into()),
        Ok(Some(latest)) if latest > current => state.load_version(latest).await.map(Some),
        Ok(_) => Ok(None),
    };
    let now = Some(now_unix_ms());
    let outcome = match loaded {
        Ok(Some(served)) => {
            let to = served.model().version();
            state.swap_in(served, |s| {
                s.last_check_unix_ms = now;
                s.reloads += 1;
                s.last_error = None;
            });
            Ok(ReloadOutcome::Reloaded { from: current, to })
        }
        Ok(None) => {
            state.update_status(|s| s.last_check_unix_ms = now);
            Ok(ReloadOutcome::Unchanged { version: current })
        }
        Err(e) => {
            state.update_status(|s| {
                s.last_check_unix_ms = now;
                s.last_error = Some(error_chain(&e));
            });
            Err(e)
        }
    };
    match &outcome {
        Ok(ReloadOutcome::Reloaded { from, to }) => {
            tracing::info!(model = state.config().model, from, to, "new model version swapped in");
        }
        Ok(ReloadOutcome::Unchanged { .. }) => {}
        Err(e) => tracing::warn!(model = state.config().model, error = error_chain(e), "model reload failed"),
    }
    outcome
}

/// Polls for new versions until the returned task is aborted.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(state.config().poll_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // the first tick is immediate; the model was just loaded
        loop {
            tick.tick().await;
            // Failures are recorded in the status; the loop goes on.
            let _ = check_now(&state).await;
        }
    })
}

pub use reelforest_core::error_chain;
