//! # reelforest-cluster
//!
//! The training half of reelforest's cluster (the SQL half is Ballista, in
//! `reelforest-ballista`): a coordinator that runs jobs and fans their trees out to workers over
//! tonic gRPC, and the workers.
//!
//! * [`coordinator`]: a running coordinator: its job state and runner, `JobService` (submit,
//!   watch, get, list, cancel) and `WorkerService` (register, heartbeat, poll, complete, fail)
//!   from `proto/reelforest/v1/cluster.proto`. A job runs the same
//!   [`reelforest_pipeline::run_job_with`] the embedded run does, with a
//!   [`coordinator::trainer::ClusterTrainer`] that turns each fit into leased tasks of k trees; so the
//!   forests are byte-identical to the embedded ones for any number of workers.
//! * [`control`]: which worker does which task (worker registry, task leases, fit and
//!   evaluation assembly), pure and unit tested.
//! * [`journal`]: one JSON record per job in the warehouse (`_jobs/<id>.json`), so a restarted
//!   coordinator still lists every job it ran.
//! * [`worker`]: registers, heartbeats from its own thread, polls, loads and bins the training
//!   table once per fingerprint, grows trees with the engine on a rayon pool.
//! * [`client`]: channels with the token and TLS for the CLI and the web UI.
//! * [`auth`]: the shared-token check on every call; [`tls`]: optional rustls.
#![deny(missing_docs)]

pub mod auth;
pub mod client;
pub mod control;
pub mod coordinator;
mod error;
pub mod journal;
pub mod tls;
pub mod worker;

pub use error::{BoxError, Error, Result};
