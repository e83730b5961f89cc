//! # reelforest-cluster
//!
//! The training half of reelforest's cluster (the SQL half is Ballista, in
//! `reelforest-ballista`): a coordinator that runs jobs and fans their trees out to workers over
//! tonic gRPC, and the workers.
//!
//! * [`coordinator`]: `JobService` (submit, watch, get, list, cancel) and `WorkerService`
//!   (register, heartbeat, poll, complete, fail) from `proto/reelforest/v1/cluster.proto`. A job
//!   runs the same [`reelforest_pipeline::run_job_with`] the embedded run does, with a
//!   [`trainer::ClusterTrainer`] that turns each fit into leased tasks of k trees; so the
//!   forests are byte-identical to the embedded ones for any number of workers.
//! * [`scheduler`]: the lease/heartbeat/retry state, pure and unit tested.
//! * [`journal`]: one JSON record per job in the warehouse (`_jobs/<id>.json`), so a restarted
//!   coordinator still lists every job it ran.
//! * [`worker`]: registers, heartbeats from its own thread, polls, loads and bins the training
//!   table once per fingerprint, grows trees with the engine on a rayon pool.
//! * [`client`]: channels with the token and TLS for the CLI and the web UI.
//! * [`auth`]: the shared-token check on every call; [`tls`]: optional rustls.

pub mod auth;
pub mod client;
pub mod coordinator;
mod error;
pub mod journal;
pub mod scheduler;
pub mod tls;
pub mod trainer;
pub mod worker;

pub use error::{Error, Result};
