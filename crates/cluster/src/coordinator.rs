//! `reelforest coordinator`: the job state machine and the two gRPC services.
//!
//! Jobs run one at a time in submission order (the warehouse's feature runs are named per
//! stage, `honest`, `cv0`, ..., so two jobs at once would overwrite each other's tables). A job
//! is [`reelforest_pipeline::run_job_with`] on a thread of its own, with a
//! [`ClusterTrainer`] for the fits and a SQL context from the configured [`SessionFactory`]
//! (embedded DataFusion, or Ballista): `Queued → Preprocess → Train → Evaluate → Publish →
//! Succeeded | Failed | Cancelled`. Evaluation of the final models (test metrics, OOB error)
//! runs in the coordinator on the assembled forests.
//!
//! A reaper runs every half heartbeat interval: workers silent for the heartbeat timeout are
//! dropped and their leases queued again, as are leases past their deadline.

use crate::auth::TokenCheck;
use crate::journal::{self, JobRecord};
use crate::scheduler::{Assignment, Refusal, Scheduler, SchedulerConfig};
use crate::trainer::{ClusterTrainer, JobCounters};
use crate::{Error, Result};
use datafusion::prelude::SessionContext;
use futures::Stream;
use futures::future::BoxFuture;
use reelforest_core::{Progress, Stage};
use reelforest_pipeline::{JobSpec, RunOptions};
use reelforest_proto::wire::{self, job_service_server, worker_service_server};
use reelforest_warehouse::Warehouse;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, watch};
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Response, Status};

/// Makes the SQL context a job's preprocessing runs in (embedded DataFusion or Ballista).
pub type SessionFactory =
    Arc<dyn Fn() -> BoxFuture<'static, std::result::Result<SessionContext, String>> + Send + Sync>;

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
    /// Scheduling tunables.
    pub scheduler: SchedulerConfig,
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
            .field("scheduler", &self.scheduler)
            .field("max_message_bytes", &self.max_message_bytes)
            .finish()
    }
}

pub(crate) struct JobEntry {
    record: JobRecord,
    status: watch::Sender<wire::JobStatus>,
    cancelled: Arc<AtomicBool>,
    cancel: Arc<Notify>,
    counters: Arc<JobCounters>,
    step_started: Instant,
}

pub(crate) struct Shared {
    cfg: CoordinatorConfig,
    warehouse: Warehouse,
    pub(crate) sched: Mutex<Scheduler>,
    /// Woken when tasks are queued.
    pub(crate) work: Notify,
    jobs: Mutex<BTreeMap<String, JobEntry>>,
    /// Woken when a job is submitted.
    submitted: Notify,
    runtime: tokio::runtime::Handle,
}

impl Shared {
    pub(crate) fn sched(&self) -> MutexGuard<'_, Scheduler> {
        self.sched.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn jobs(&self) -> MutexGuard<'_, BTreeMap<String, JobEntry>> {
        self.jobs.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Updates a job's status and tells its watchers.
    pub(crate) fn update(&self, job: &str, f: impl FnOnce(&mut JobEntry)) {
        let busy = self.sched().workers_busy(job);
        let mut jobs = self.jobs();
        if let Some(e) = jobs.get_mut(job) {
            f(e);
            let s = status_of(e, busy);
            e.status.send_replace(s);
        }
    }

    /// Writes a job's journal record (in the background: progress callbacks cannot wait).
    fn journal_later(&self, job: &str) {
        let rec = self.jobs().get(job).map(|e| e.record.clone());
        if let Some(rec) = rec {
            let wh = self.warehouse.clone();
            self.runtime.spawn(async move {
                if let Err(e) = journal::write(&wh, &rec).await {
                    tracing::error!(job = %rec.job_id, error = %e, "cannot write the job journal");
                }
            });
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn state_of(name: &str) -> wire::JobState {
    match name {
        "queued" => wire::JobState::Queued,
        "preprocess" => wire::JobState::Preprocess,
        "train" => wire::JobState::Train,
        "evaluate" => wire::JobState::Evaluate,
        "publish" => wire::JobState::Publish,
        "succeeded" => wire::JobState::Succeeded,
        "failed" => wire::JobState::Failed,
        "cancelled" => wire::JobState::Cancelled,
        _ => wire::JobState::Unspecified,
    }
}

fn status_of(e: &JobEntry, workers_busy: u32) -> wire::JobStatus {
    let prev = e.status.borrow();
    let (done, total) = (prev.step_done, prev.step_total);
    let elapsed = e.step_started.elapsed().as_secs_f64();
    let eta = if done > 0 && total >= done { elapsed * (total - done) as f64 / done as f64 } else { -1.0 };
    wire::JobStatus {
        job_id: e.record.job_id.clone(),
        name: e.record.name.clone(),
        state: state_of(&e.record.state) as i32,
        step: prev.step.clone(),
        step_done: done,
        step_total: total,
        trees_done: e.counters.trees_done(),
        trees_total: e.counters.trees_total(),
        workers_busy,
        eta_seconds: if e.record.is_finished() { 0.0 } else { eta },
        error: e.record.error.clone(),
        report_json: e.record.report_json.clone(),
        submitted_unix_ms: e.record.submitted_unix_ms,
        finished_unix_ms: e.record.finished_unix_ms,
    }
}

fn entry(record: JobRecord) -> JobEntry {
    let initial = wire::JobStatus {
        job_id: record.job_id.clone(),
        name: record.name.clone(),
        state: state_of(&record.state) as i32,
        error: record.error.clone(),
        report_json: record.report_json.clone(),
        submitted_unix_ms: record.submitted_unix_ms,
        finished_unix_ms: record.finished_unix_ms,
        eta_seconds: -1.0,
        ..Default::default()
    };
    JobEntry {
        record,
        status: watch::Sender::new(initial),
        cancelled: Arc::new(AtomicBool::new(false)),
        cancel: Arc::new(Notify::new()),
        counters: Arc::new(JobCounters::default()),
        step_started: Instant::now(),
    }
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
                rec.state = "failed".into();
                rec.finished_unix_ms = now_ms();
                journal::write(&warehouse, &rec).await?;
                tracing::warn!(job = %rec.job_id, "marked failed: the coordinator restarted while it ran");
            }
            jobs.insert(rec.job_id.clone(), entry(rec));
        }
        tracing::info!(jobs = jobs.len(), "job journal loaded");
        let shared = Arc::new(Shared {
            sched: Mutex::new(Scheduler::new(cfg.scheduler.clone())),
            cfg,
            warehouse,
            work: Notify::new(),
            jobs: Mutex::new(jobs),
            submitted: Notify::new(),
            runtime: tokio::runtime::Handle::current(),
        });
        tokio::spawn(run_jobs(shared.clone()));
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
        let serve_err = |reason: String| Error::Serve { addr: addr.clone(), reason };
        let limit = self.shared.cfg.max_message_bytes;
        let check = TokenCheck::new(self.shared.cfg.token.as_deref());
        let jobs = job_service_server::JobServiceServer::new(JobSvc(self.shared.clone()))
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit);
        let workers = worker_service_server::WorkerServiceServer::new(WorkerSvc(self.shared.clone()))
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit);
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = tls {
            builder = builder.tls_config(tls).map_err(|e| serve_err(e.to_string()))?;
        }
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        builder
            .add_service(InterceptedService::new(jobs, check.clone()))
            .add_service(InterceptedService::new(workers, check))
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
            .map_err(|e| serve_err(crate::client::error_chain(&e)))
    }

    /// Binds `addr` for [`Coordinator::serve`] (port 0: any free port; see `local_addr`).
    pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
        tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Error::Serve { addr: addr.to_string(), reason: e.to_string() })
    }

    /// Starts a coordinator with `cfg` on a free loopback port, served (without TLS) by a task
    /// of the current runtime until [`LocalCoordinator::stop`]: for embedding it in another
    /// program or a test.
    pub async fn start_local(cfg: CoordinatorConfig) -> Result<LocalCoordinator> {
        let coordinator = Coordinator::start(cfg).await?;
        let listener = Coordinator::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr =
            listener.local_addr().map_err(|e| Error::Serve { addr: "127.0.0.1:0".into(), reason: e.to_string() })?;
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
        self.server.await.map_err(|e| Error::Serve { addr: self.url.clone(), reason: e.to_string() })?
    }
}

/// Takes queued jobs in order and runs them, one at a time.
async fn run_jobs(shared: Arc<Shared>) {
    loop {
        let notified = shared.submitted.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let next = shared
            .jobs()
            .values()
            .filter(|e| e.record.state == "queued")
            .min_by_key(|e| e.record.submitted_unix_ms)
            .map(|e| e.record.job_id.clone());
        match next {
            Some(id) => run_one(&shared, &id).await,
            None => notified.await,
        }
    }
}

/// Reports a job's progress into its status.
struct JobProgress {
    shared: Arc<Shared>,
    job: String,
}

impl Progress for JobProgress {
    fn begin(&self, step: &str, total: Option<u64>) {
        self.shared.update(&self.job, |e| {
            e.step_started = Instant::now();
            e.status.send_modify(|s| {
                s.step = step.to_string();
                s.step_done = 0;
                s.step_total = total.unwrap_or(0);
            });
        });
    }

    fn advance(&self, n: u64) {
        self.shared.update(&self.job, |e| e.status.send_modify(|s| s.step_done += n));
    }

    fn end(&self) {}

    fn stage(&self, stage: Stage) {
        let name = match stage {
            Stage::Preprocess => "preprocess",
            Stage::Train => "train",
            Stage::Evaluate => "evaluate",
            Stage::Publish => "publish",
        };
        self.shared.update(&self.job, |e| e.record.state = name.to_string());
        self.shared.journal_later(&self.job);
    }
}

async fn run_one(shared: &Arc<Shared>, job: &str) {
    let Some((record, cancelled, cancel, counters)) =
        shared.jobs().get(job).map(|e| (e.record.clone(), e.cancelled.clone(), e.cancel.clone(), e.counters.clone()))
    else {
        return;
    };
    tracing::info!(job, name = %record.name, "job starts");
    shared.update(job, |e| e.record.state = "preprocess".into());
    shared.journal_later(job);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let sh = shared.clone();
    let job_id = job.to_string();
    let spawned = std::thread::Builder::new().name(format!("job-{job}")).spawn(move || {
        let outcome = run_in_thread(&sh, &job_id, &record, &cancelled, &cancel, counters);
        let _ = tx.send(outcome);
    });
    let outcome = match spawned {
        Ok(_) => rx.await.unwrap_or_else(|_| Err("the job thread panicked".into())),
        Err(e) => Err(format!("cannot start the job thread: {e}")),
    };
    let was_cancelled = shared.jobs().get(job).is_some_and(|e| e.cancelled.load(Ordering::SeqCst));
    shared.update(job, |e| {
        e.record.finished_unix_ms = now_ms();
        match outcome {
            Ok(report_json) => {
                e.record.state = "succeeded".into();
                e.record.report_json = report_json;
            }
            Err(_) if was_cancelled => {
                e.record.state = "cancelled".into();
                e.record.error = "cancelled by a client".into();
            }
            Err(reason) => {
                e.record.state = "failed".into();
                e.record.error = reason;
            }
        }
        e.status.send_modify(|s| s.step.clear());
    });
    // Nothing of this job may stay queued (a failed job's other fits).
    shared.sched().cancel_job(job, "the job ended");
    let rec = shared.jobs().get(job).map(|e| e.record.clone());
    if let Some(rec) = rec {
        tracing::info!(job, state = %rec.state, error = %rec.error, "job ends");
        if let Err(e) = journal::write(&shared.warehouse, &rec).await {
            tracing::error!(job, error = %e, "cannot write the job journal");
        }
    }
}

/// Runs the job on this (dedicated) thread with its own runtime, so fits that block waiting for
/// workers never stall the gRPC server's runtime. Returns the report as JSON.
fn run_in_thread(
    shared: &Arc<Shared>,
    job: &str,
    record: &JobRecord,
    cancelled: &Arc<AtomicBool>,
    cancel: &Arc<Notify>,
    counters: Arc<JobCounters>,
) -> std::result::Result<String, String> {
    let spec = JobSpec::from_toml(&record.spec_toml, &format!("job {job}")).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the job's runtime: {e}"))?;
    let opts = RunOptions {
        out: shared.cfg.work_dir.join("jobs").join(job),
        data: (!record.data_dir.is_empty()).then(|| PathBuf::from(&record.data_dir)),
        warehouse: Some(shared.cfg.warehouse.clone()),
    };
    let trainer = ClusterTrainer::new(shared.clone(), job, &shared.cfg.warehouse, cancelled.clone(), counters);
    let progress = JobProgress { shared: shared.clone(), job: job.to_string() };
    let sessions = shared.cfg.sessions.clone();
    rt.block_on(async {
        let ctx = sessions().await.map_err(|e| format!("cannot open the SQL session: {e}"))?;
        let run = reelforest_pipeline::run_job_with(&spec, &opts, &progress, &trainer, ctx);
        tokio::select! {
            r = run => {
                let report = r.map_err(|e| reelforest_core::error_chain(&e))?;
                serde_json::to_string(&report).map_err(|e| e.to_string())
            }
            () = cancel.notified() => Err("cancelled".to_string()),
        }
    })
}

async fn reap(shared: Arc<Shared>) {
    let every = (shared.cfg.scheduler.heartbeat_interval / 2).max(Duration::from_millis(50));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let reaped = shared.sched().reap(Instant::now());
        if !reaped.dead_workers.is_empty() || !reaped.requeued_leases.is_empty() {
            tracing::warn!(dead = ?reaped.dead_workers, requeued = ?reaped.requeued_leases, "took back leases");
            shared.work.notify_waiters();
        }
    }
}

fn job_not_found(id: &str) -> Status {
    Status::not_found(format!("no job {id:?} (see `reelforest jobs list`)"))
}

struct JobSvc(Arc<Shared>);

type StatusStream = Pin<Box<dyn Stream<Item = std::result::Result<wire::JobStatus, Status>> + Send>>;

#[tonic::async_trait]
impl job_service_server::JobService for JobSvc {
    async fn submit_job(
        &self,
        req: Request<wire::SubmitJobRequest>,
    ) -> std::result::Result<Response<wire::SubmitJobResponse>, Status> {
        let r = req.into_inner();
        let origin = if r.origin.is_empty() { "submitted spec".to_string() } else { r.origin.clone() };
        let spec = JobSpec::from_toml(&r.spec_toml, &origin).map_err(|e| Status::invalid_argument(e.to_string()))?;
        if !r.data_dir.is_empty() && !std::path::Path::new(&r.data_dir).is_dir() {
            return Err(Status::invalid_argument(format!(
                "data_dir {:?} is not a directory the coordinator can read",
                r.data_dir
            )));
        }
        let job_id = format!("job-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let rec = JobRecord {
            job_id: job_id.clone(),
            name: spec.name.clone(),
            state: "queued".into(),
            error: String::new(),
            report_json: String::new(),
            spec_toml: r.spec_toml,
            data_dir: r.data_dir,
            submitted_unix_ms: now_ms(),
            finished_unix_ms: 0,
        };
        journal::write(&self.0.warehouse, &rec).await.map_err(|e| Status::unavailable(e.to_string()))?;
        self.0.jobs().insert(job_id.clone(), entry(rec));
        self.0.submitted.notify_one();
        tracing::info!(job = %job_id, name = %spec.name, "job submitted");
        Ok(Response::new(wire::SubmitJobResponse { job_id }))
    }

    type WatchJobStream = StatusStream;

    async fn watch_job(
        &self,
        req: Request<wire::WatchJobRequest>,
    ) -> std::result::Result<Response<Self::WatchJobStream>, Status> {
        let id = req.into_inner().job_id;
        let rx = self.0.jobs().get(&id).map(|e| e.status.subscribe()).ok_or_else(|| job_not_found(&id))?;
        let terminal = |s: &wire::JobStatus| {
            matches!(
                wire::JobState::try_from(s.state),
                Ok(wire::JobState::Succeeded | wire::JobState::Failed | wire::JobState::Cancelled)
            )
        };
        let stream = futures::stream::unfold((rx, false, true), move |(mut rx, done, first)| async move {
            if done {
                return None;
            }
            if !first && rx.changed().await.is_err() {
                return None;
            }
            let s = rx.borrow_and_update().clone();
            let end = terminal(&s);
            Some((Ok(s), (rx, end, false)))
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_job(
        &self,
        req: Request<wire::GetJobRequest>,
    ) -> std::result::Result<Response<wire::JobStatus>, Status> {
        let id = req.into_inner().job_id;
        self.0.jobs().get(&id).map(|e| Response::new(e.status.borrow().clone())).ok_or_else(|| job_not_found(&id))
    }

    async fn list_jobs(
        &self,
        _req: Request<wire::ListJobsRequest>,
    ) -> std::result::Result<Response<wire::ListJobsResponse>, Status> {
        let mut jobs: Vec<wire::JobStatus> = self.0.jobs().values().map(|e| e.status.borrow().clone()).collect();
        jobs.sort_by(|a, b| (a.submitted_unix_ms, &a.job_id).cmp(&(b.submitted_unix_ms, &b.job_id)));
        for j in &mut jobs {
            j.report_json.clear();
        }
        Ok(Response::new(wire::ListJobsResponse { jobs }))
    }

    async fn cancel_job(
        &self,
        req: Request<wire::CancelJobRequest>,
    ) -> std::result::Result<Response<wire::JobStatus>, Status> {
        let id = req.into_inner().job_id;
        let (finished, queued) = {
            let jobs = self.0.jobs();
            let e = jobs.get(&id).ok_or_else(|| job_not_found(&id))?;
            (e.record.is_finished(), e.record.state == "queued")
        };
        if !finished {
            if queued {
                self.0.update(&id, |e| {
                    e.cancelled.store(true, Ordering::SeqCst);
                    e.record.state = "cancelled".into();
                    e.record.error = "cancelled by a client before it started".into();
                    e.record.finished_unix_ms = now_ms();
                });
                let rec = self.0.jobs().get(&id).map(|e| e.record.clone());
                if let Some(rec) = rec {
                    journal::write(&self.0.warehouse, &rec).await.map_err(|e| Status::unavailable(e.to_string()))?;
                }
            } else {
                let cancel = self.0.jobs().get(&id).map(|e| {
                    e.cancelled.store(true, Ordering::SeqCst);
                    e.cancel.clone()
                });
                self.0.sched().cancel_job(&id, "job cancelled by a client");
                if let Some(c) = cancel {
                    c.notify_one();
                }
                tracing::info!(job = %id, "cancel requested");
            }
        }
        let s = self.0.jobs().get(&id).map(|e| e.status.borrow().clone()).ok_or_else(|| job_not_found(&id))?;
        Ok(Response::new(s))
    }

    async fn cluster_status(
        &self,
        _req: Request<wire::ClusterStatusRequest>,
    ) -> std::result::Result<Response<wire::ClusterStatusResponse>, Status> {
        let sched = self.0.sched();
        let workers = sched
            .workers(Instant::now())
            .into_iter()
            .map(|w| wire::WorkerStatus {
                worker_id: w.id,
                name: w.name,
                cpus: w.cpus,
                last_heartbeat_ms_ago: w.since_heartbeat.as_millis() as u64,
                lease_ids: w.leases,
                trees_built: w.trees_built,
                blocks_evaluated: w.blocks_evaluated,
            })
            .collect();
        Ok(Response::new(wire::ClusterStatusResponse { workers, queued_tasks: sched.queued() as u32 }))
    }
}

struct WorkerSvc(Arc<Shared>);

fn refusal(r: Refusal) -> Status {
    match r {
        Refusal::UnknownWorker(_) | Refusal::NotHolder { .. } => Status::failed_precondition(r.to_string()),
        Refusal::BadResult { .. } => Status::invalid_argument(r.to_string()),
    }
}

#[tonic::async_trait]
impl worker_service_server::WorkerService for WorkerSvc {
    async fn register(
        &self,
        req: Request<wire::RegisterRequest>,
    ) -> std::result::Result<Response<wire::RegisterResponse>, Status> {
        let r = req.into_inner();
        let mut sched = self.0.sched();
        let id = sched.register(&r.name, r.cpus, Instant::now());
        let cfg = sched.config();
        tracing::info!(worker = %id, name = %r.name, cpus = r.cpus, "worker registered");
        Ok(Response::new(wire::RegisterResponse {
            worker_id: id,
            heartbeat_interval_ms: cfg.heartbeat_interval.as_millis() as u32,
            heartbeat_timeout_ms: cfg.heartbeat_timeout.as_millis() as u32,
        }))
    }

    async fn heartbeat(
        &self,
        req: Request<wire::HeartbeatRequest>,
    ) -> std::result::Result<Response<wire::HeartbeatResponse>, Status> {
        let known = self.0.sched().heartbeat(&req.into_inner().worker_id, Instant::now());
        Ok(Response::new(wire::HeartbeatResponse { known }))
    }

    async fn poll_task(
        &self,
        req: Request<wire::PollTaskRequest>,
    ) -> std::result::Result<Response<wire::PollTaskResponse>, Status> {
        let r = req.into_inner();
        let wait = Duration::from_millis(u64::from(r.wait_ms).min(30_000));
        let until = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.0.work.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let granted = {
                let mut sched = self.0.sched();
                if !sched.is_registered(&r.worker_id) {
                    return Err(Status::failed_precondition(format!(
                        "worker {} is not registered (register again)",
                        r.worker_id
                    )));
                }
                sched.poll(&r.worker_id, Instant::now())
            };
            if let Some(g) = granted {
                let left = g.deadline.saturating_duration_since(Instant::now());
                let (fit, eval) = match g.task {
                    Assignment::Fit(f) => (Some(f), None),
                    Assignment::Eval(e) => (None, Some(e)),
                };
                let lease = wire::TaskLease {
                    lease_id: g.lease_id,
                    job_id: g.job_id.clone(),
                    fit,
                    eval,
                    deadline_unix_ms: now_ms() + left.as_millis() as i64,
                };
                self.0.update(&g.job_id, |_| {});
                return Ok(Response::new(wire::PollTaskResponse { lease: Some(lease) }));
            }
            if tokio::time::timeout_at(until, notified).await.is_err() {
                return Ok(Response::new(wire::PollTaskResponse { lease: None }));
            }
        }
    }

    async fn complete_task(
        &self,
        req: Request<wire::CompleteTaskRequest>,
    ) -> std::result::Result<Response<wire::CompleteTaskResponse>, Status> {
        let r = req.into_inner();
        let result = self.0.sched().complete(&r.worker_id, &r.lease_id, r.trees, r.stats);
        if let Err(e) = &result {
            tracing::warn!(worker = %r.worker_id, lease = %r.lease_id, error = %e, "completion refused");
            // A refused result may have put the task back.
            self.0.work.notify_waiters();
        }
        result.map_err(refusal)?;
        Ok(Response::new(wire::CompleteTaskResponse {}))
    }

    async fn fail_task(
        &self,
        req: Request<wire::FailTaskRequest>,
    ) -> std::result::Result<Response<wire::FailTaskResponse>, Status> {
        let r = req.into_inner();
        let fatal = r.kind == wire::FailureKind::Fatal as i32;
        tracing::warn!(worker = %r.worker_id, lease = %r.lease_id, fatal, message = %r.message, "task failed");
        self.0.sched().fail(&r.worker_id, &r.lease_id, fatal, &r.message).map_err(refusal)?;
        self.0.work.notify_waiters();
        Ok(Response::new(wire::FailTaskResponse {}))
    }
}
