//! # reelforest-ballista
//!
//! Runs reelforest's feature SQL on an Apache DataFusion Ballista cluster. Ballista's shipped
//! `ballista-scheduler` / `ballista-executor` binaries cannot load our scalar functions or our
//! object-store setup, so reelforest embeds the two libraries (the hooks of Ballista's
//! `examples/custom-scheduler.rs` and `custom-executor.rs`) behind its own subcommands:
//!
//! - [`scheduler`]: `reelforest scheduler` ([`Scheduler`], [`SchedulerOptions`]): plans jobs,
//!   splits them into stages, hands tasks to executors, retries lost work; gRPC, health and
//!   Ballista's REST API on one port (50050).
//! - [`executor`]: `reelforest executor` ([`Executor`], [`ExecutorOptions`]): runs tasks,
//!   keeps shuffle files in its work directory, serves them over Arrow Flight; HTTP health on
//!   its own port (50053).
//! - [`client`]: [`client::connect`] gives the `SessionContext` that `reelforest features
//!   --cluster df://HOST:PORT` and `reelforest sql --cluster ...` run on.
//! - [`functions`]: our UDFs on all three roles (they travel by name).
//! - [`session`]: the session configuration (static planner: Ballista 55's adaptive planner
//!   loops on our SQL) and the scheduler's session builder.
//! - [`object_stores`]: the stores all three roles register: local files, and `s3://` buckets
//!   configured from each process's own `AWS_*` environment.
//!
//! **Scheduling policy: pull-staged** on both roles ([`SCHEDULING_POLICY`]). Ballista 55's
//! default, push-staged, books executor slots in the scheduler and refunds them from task
//! status updates; when an executor is lost and a running stage is rolled back, the survivors'
//! updates for that stage are ignored and their slots are never refunded, so the job can wait
//! forever with idle executors (seen in `tests/ballista.rs`'s executor-kill test: a job stuck for
//! 12 minutes after "Ignore TaskStatus update ... Stage ... is in UnResolved status"). With
//! pull-staged, executors ask for work whenever they have a free slot, so lost bookkeeping cannot
//! starve them; the price is up to 50 ms of idle polling before a stage's tasks start.
//!
//! Versions follow DataFusion: Ballista 55.0 on DataFusion 55, arrow 59, object_store 0.13.
//!
//! ## Executor loss
//! A killed executor stops heartbeating; after the scheduler's `executor_timeout` (or at once,
//! when launching a task on it or fetching its shuffle output fails) the scheduler removes it,
//! resets its running tasks and the stages whose shuffle output lived on it, and reruns them
//! on the remaining executors: the job completes. When the *last* executor is lost, running
//! jobs fail after `no_executors_grace_period` unless an executor (re)registers in time. The
//! cluster tests in `tests/ballista.rs` check both.
#![deny(missing_docs)]

/// The task scheduling policy of every reelforest scheduler and executor (they must agree):
/// pull-staged, see the crate docs.
pub const SCHEDULING_POLICY: ballista_core::config::TaskSchedulingPolicy =
    ballista_core::config::TaskSchedulingPolicy::PullStaged;

pub mod client;
mod error;
pub mod executor;
pub mod functions;
pub mod object_stores;
pub mod scheduler;
pub mod session;

pub use error::{Error, Result};
pub use executor::{Executor, ExecutorOptions};
pub use object_stores::ObjectStores;
pub use scheduler::{Scheduler, SchedulerOptions};
