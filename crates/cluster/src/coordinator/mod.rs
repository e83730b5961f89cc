//! `reelforest coordinator`: a running coordinator, its configuration and the state its parts
//! share. The parts:
//!
//! * `jobs`: job state (record, status, watchers) and the job runner. Jobs run one at a
//!   time in submission order (the warehouse's feature runs are named per stage, `honest`,
//!   `cv0`, ..., so two jobs at once would overwrite each other's tables).
//! * `job_service`: the client-facing gRPC `JobService` (submit, watch, get, list, cancel,
//!   cluster status).
//! * `worker_service`: the workers' gRPC `WorkerService` (register, heartbeat, poll,
//!   complete, fail) over the [`Control`] state.
//! * [`trainer`]: the pipeline's `Trainer` seam, implemented by turning each fit (evaluation)
//!   into leased tasks and waiting for the workers' results.
//!
//! A reaper runs every half heartbeat interval: workers silent for the heartbeat timeout are
//! dropped and their leases queued again, as are leases past their deadline.

mod job_service;
mod jobs;
pub mod trainer;
mod worker_service;

pub(crate) use jobs::JobEntry;

use crate::auth::TokenCheck;
use crate::control::{Control, ControlConfig};
use crate::error::BoxError;
use crate::journal::{self, JobState};
use crate::{Error, Result};
use datafusion::prelude::SessionContext;
use futures::future::BoxFuture;
use reelforest_proto::wire::{job_service_server, worker_service_server};
use reelforest_warehouse::Warehouse;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;
use tonic::service::interceptor::InterceptedService;

/// Why a SQL context could not be made.
pub type SessionError = BoxError;

/// Makes the SQL context a job's preprocessing runs in (embedded DataFusion or Ballista).
pub type SessionFactory = Arc<dyn Fn() -> BoxFuture<'static, Result<SessionContext, SessionError>> + Send + Sync>;

/// The embedded DataFusion context.
pub fn embedded_sessions() -> SessionFactory {
    Arc::new(|| Box::pin(async { Ok(SessionContext::new()) }))
}

/// How the coordinator runs.
#[derive(Clone)]
pub struct CoordinatorConfig {
    /// Warehouse URL, shared with the workers.
    pub warehouse: String,
    /// Where each job's report and generated data go (`<work_dir>/jobs/<id>/`).
    pub work_dir: PathBuf,
    /// Shared token (`None`: no check).
    pub token: Option<String>,
    /// Task, lease and heartbeat tunables.
    pub control: ControlConfig,
    /// Largest message accepted (a task's trees, a job spec).
    pub max_message_bytes: usize,
    /// SQL contexts for preprocessing.
    pub sessions: SessionFactory,
}

impl std::fmt::Debug for CoordinatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoordinatorConfig")
            .field("warehouse", &self.warehouse)
            .field("work_dir", &self.work_dir)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("control", &self.control)
            .field("max_message_bytes", &self.max_message_bytes)
            .finish()
    }
}

/// What the services, the job runner, the reaper and the trainers share.
pub(crate) struct Shared {
    cfg: CoordinatorConfig,
    warehouse: Warehouse,
    control: Mutex<Control>,
    /// Woken when tasks are queued.
    pub(crate) work: Notify,
    jobs: Mutex<BTreeMap<String, JobEntry>>,
    /// Woken when a job is submitted.
    submitted: Notify,
    runtime: tokio::runtime::Handle,
}

impl Shared {
    /// The control state.
    pub(crate) fn control(&self) -> MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The jobs, by id.
    fn jobs(&self) -> MutexGuard<'_, BTreeMap<String, JobEntry>> {
        self.jobs.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Now, in Unix milliseconds.
fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A running coordinator (its job runner and reaper run on the current tokio runtime).
#[derive(Clone)]
pub struct Coordinator {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator").field("cfg", &self.shared.cfg).finish()
    }
}

impl Coordinator {
    /// Opens the warehouse, reloads the journal (unfinished jobs are marked failed), and starts
    /// the job runner and the reaper. Must be called inside a multi-threaded tokio runtime.
    pub async fn start(cfg: CoordinatorConfig) -> Result<Self> {
        let warehouse = Warehouse::open(&cfg.warehouse)?;
        let mut jobs = BTreeMap::new();
        for mut rec in journal::read_all(&warehouse).await? {
            if !rec.is_finished() {
                rec.error = format!(
                    "the coordinator restarted while the job was {}; its progress was lost: submit it again",
                    rec.state
                );
                rec.state = JobState::Failed;
                rec.finished_unix_ms = now_ms();
                journal::write(&warehouse, &rec).await?;
                tracing::warn!(job = %rec.job_id, "marked failed: the coordinator restarted while it ran");
            }
            jobs.insert(rec.job_id.clone(), JobEntry::new(rec));
        }
        tracing::info!(jobs = jobs.len(), "job journal loaded");
        let shared = Arc::new(Shared {
            control: Mutex::new(Control::new(cfg.control.clone())),
            cfg,
            warehouse,
            work: Notify::new(),
            jobs: Mutex::new(jobs),
            submitted: Notify::new(),
            runtime: tokio::runtime::Handle::current(),
        });
        tokio::spawn(jobs::run_jobs(shared.clone()));
        tokio::spawn(reap(shared.clone()));
        Ok(Coordinator { shared })
    }

    /// Serves both services on `listener` until `shutdown` resolves. `tls`: optional server TLS.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        tls: Option<tonic::transport::ServerTlsConfig>,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> Result<()> {
        let addr = listener.local_addr().map_or_else(|_| "?".to_string(), |a| a.to_string());
        let limit = self.shared.cfg.max_message_bytes;
        let check = TokenCheck::new(self.shared.cfg.token.as_deref());
        let jobs = job_service_server::JobServiceServer::new(job_service::JobSvc(self.shared.clone()))
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit);
        let workers = worker_service_server::WorkerServiceServer::new(worker_service::WorkerSvc(self.shared.clone()))
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit);
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = tls {
            builder = builder.tls_config(tls).map_err(|e| Error::serve(addr.clone(), e))?;
        }
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        builder
            .add_service(InterceptedService::new(jobs, check.clone()))
            .add_service(InterceptedService::new(workers, check))
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
            .map_err(|e| Error::serve(addr, e))
    }

    /// Binds `addr` for [`Coordinator::serve`] (port 0: any free port; see `local_addr`).
    pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
        tokio::net::TcpListener::bind(addr).await.map_err(|e| Error::serve(addr.to_string(), e))
    }

    /// Starts a coordinator with `cfg` on a free loopback port, served (without TLS) by a task
    /// of the current runtime until [`LocalCoordinator::stop`]: for embedding it in another
    /// program or a test.
    pub async fn start_local(cfg: CoordinatorConfig) -> Result<LocalCoordinator> {
        let coordinator = Coordinator::start(cfg).await?;
        let listener = Coordinator::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr().map_err(|e| Error::serve("127.0.0.1:0", e))?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            coordinator
                .serve(listener, None, async {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(LocalCoordinator { url: format!("http://{addr}"), stop, server })
    }
}

/// A coordinator served on loopback by [`Coordinator::start_local`].
#[derive(Debug)]
pub struct LocalCoordinator {
    /// Its URL (`http://127.0.0.1:PORT`).
    pub url: String,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<()>>,
}

impl LocalCoordinator {
    /// Stops serving and waits for the server to end.
    pub async fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        self.server.await.map_err(|e| Error::serve(self.url.clone(), e))?
    }
}

/// Takes back the leases of silent workers and expired leases, every half heartbeat interval.
async fn reap(shared: Arc<Shared>) {
    let every = (shared.cfg.control.heartbeat_interval / 2).max(Duration::from_millis(50));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let reaped = shared.control().reap(Instant::now());
        if !reaped.dead_workers.is_empty() || !reaped.requeued_leases.is_empty() {
            tracing::warn!(dead = ?reaped.dead_workers, requeued = ?reaped.requeued_leases, "took back leases");
            shared.work.notify_waiters();
        }
    }
}
