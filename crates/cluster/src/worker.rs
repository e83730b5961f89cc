//! `reelforest worker`: registers with the coordinator, sends heartbeats from a thread of its
//! own (so a long tree build never makes it look dead), polls for leases, and builds the leased
//! trees with the same engine call the embedded run makes ([`reelforest_tree::grow_tree`]) on a
//! rayon pool; they go back as one tree set of the tree codec
//! ([`reelforest_tree::codec::encode_trees`]), the byte format of every forest.
//!
//! Like a Spark executor with one task slot per core, a worker holds up to `threads` leases at
//! once: each slot polls, runs its task on the shared pool and reports, so the pool never idles
//! at the tail of a task (a 5-tree task on 2 threads would otherwise leave one thread waiting
//! for the fifth tree) nor between a completion and the next poll.
//!
//! The training table is loaded with [`Dataset::load`] (the embedded run's own query, so the
//! same rows in the same order) and binned with [`reelforest_pipeline::train::bin`]; the binned
//! copy is cached by the task's fingerprint, so the tasks of one fit and of every grid point
//! sharing `(maxBins, seed)` load it once. Only the most recent tables are kept.
//!
//! Evaluation tasks carry the forest (its checked binary codec) and name blocks of a held-out
//! table: the worker loads that table the same way (cached by fingerprint too), checks its row
//! count against the coordinator's, and returns each block's mergeable statistics
//! ([`reelforest_pipeline::train::evaluate_block`], the embedded run's own scoring).

use crate::client::{self, Workers};
use crate::tls::ClientTls;
use crate::{Error, Result};
use datafusion::prelude::SessionContext;
use rayon::prelude::*;
use reelforest_features::FeatureRun;
use reelforest_pipeline::dataset::Dataset;
use reelforest_pipeline::spec::TaskKind;
use reelforest_pipeline::train;
use reelforest_proto::wire;
use reelforest_tree::codec::encode_trees;
use reelforest_tree::histogram::LocalReducer;
use reelforest_tree::{BinnedMatrix, ForestParams, TrainingSet, Tree, grow_tree};
use reelforest_warehouse::Warehouse;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Coordinator URL.
    pub coordinator: String,
    /// Shared token.
    pub token: Option<String>,
    /// TLS settings.
    pub tls: ClientTls,
    /// Name shown in status pages.
    pub name: String,
    /// Threads that build trees (default: all cores).
    pub threads: usize,
    /// Binned tables kept in memory.
    pub cache_tables: usize,
}

/// A training table ready for trees.
struct Loaded {
    fingerprint: String,
    binned: BinnedMatrix,
    rating: Vec<f64>,
    good: Vec<f64>,
}

/// A held-out table ready for scoring.
struct Held {
    fingerprint: String,
    data: Dataset,
}

/// What a finished task sends back.
enum Done {
    /// How many trees, and their tree set bytes (`reelforest_tree::codec::encode_trees`).
    Trees(usize, Vec<u8>),
    Stats(Vec<wire::EvalStats>),
}

/// The worker's caches.
#[derive(Default)]
struct Caches {
    binned: VecDeque<Arc<Loaded>>,
    held: VecDeque<Arc<Held>>,
}

/// Why a task could not be done; reported to the coordinator as fatal (would fail anywhere:
/// the job fails) or retryable (the task is queued again), see [`TaskError::is_fatal`].
#[derive(Debug, thiserror::Error)]
enum TaskError {
    /// The lease names no task.
    #[error("lease without a task")]
    NoTask,
    /// The lease names two tasks.
    #[error("lease with both a fit and an evaluation task")]
    TwoTasks,
    /// A field of the task message is missing.
    #[error("task without {0}")]
    Missing(&'static str),
    /// A field of the task message is invalid.
    #[error(transparent)]
    Message(#[from] reelforest_proto::Error),
    /// The coordinator cuts evaluation blocks of another size.
    #[error("block_rows: {got} (this worker scores blocks of {want} rows; versions differ)")]
    BlockRows {
        /// The task's.
        got: u32,
        /// This worker's.
        want: usize,
    },
    /// The forest to score does not decode.
    #[error("forest")]
    Forest(#[source] reelforest_tree::Error),
    /// The held-out table changed under the job.
    #[error("table {table} has {here} rows here but {there} on the coordinator")]
    RowCount {
        /// The table.
        table: String,
        /// Rows loaded here.
        here: usize,
        /// Rows the coordinator loaded.
        there: u64,
    },
    /// Blocks past the end of the table.
    #[error("blocks {first}..{end} of a table with {blocks} blocks")]
    Blocks {
        /// First block.
        first: usize,
        /// One past the last.
        end: usize,
        /// Blocks of the table.
        blocks: usize,
    },
    /// The task's warehouse does not open.
    #[error("cannot open the warehouse {url}")]
    Warehouse {
        /// Its URL.
        url: String,
        /// Why.
        #[source]
        source: reelforest_warehouse::Error,
    },
    /// The warehouse's tables cannot be listed (I/O: worth another try).
    #[error("cannot register the warehouse's tables")]
    Register(#[source] reelforest_warehouse::Error),
    /// The table does not load (I/O: worth another try).
    #[error(transparent)]
    Load(reelforest_pipeline::Error),
    /// The training table does not bin.
    #[error("cannot bin the training table")]
    Bin(#[source] reelforest_pipeline::Error),
    /// The engine refused to grow a tree.
    #[error(transparent)]
    Build(reelforest_tree::Error),
    /// A block does not score.
    #[error(transparent)]
    Score(reelforest_pipeline::Error),
    /// The thread running the work died.
    #[error("{0} thread")]
    Thread(&'static str, #[source] tokio::task::JoinError),
}

impl TaskError {
    /// Whether the task would fail on any worker (the job fails), rather than be worth another
    /// try (the task is queued again).
    fn is_fatal(&self) -> bool {
        !matches!(self, TaskError::Register(_) | TaskError::Load(_) | TaskError::Thread(..))
    }
}

/// Runs a worker until `stop` is set (or forever). Reconnects and registers again when the
/// coordinator forgets it.
pub async fn run(cfg: WorkerConfig, stop: Arc<AtomicBool>) -> Result<()> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.threads.max(1))
        .thread_name(|i| format!("trees-{i}"))
        .build()
        .map_err(|e| Error::Thread { what: format!("{} tree threads", cfg.threads), source: e.into() })?;
    let pool = Arc::new(pool);
    let cache = tokio::sync::Mutex::new(Caches::default());
    let slots = cfg.threads.max(1);
    let mut client = client::workers(&cfg.coordinator, cfg.token.as_deref(), &cfg.tls).await?;
    while !stop.load(Ordering::SeqCst) {
        let reg = client
            .register(wire::RegisterRequest { name: cfg.name.clone(), cpus: cfg.threads as u32 })
            .await
            .map_err(|s| Error::rpc("register", s))?
            .into_inner();
        let id = reg.worker_id.clone();
        tracing::info!(worker = %id, coordinator = %cfg.coordinator, "registered");
        let alive = Arc::new(AtomicBool::new(true));
        let beat = spawn_heartbeats(
            &cfg,
            &id,
            Duration::from_millis(u64::from(reg.heartbeat_interval_ms.max(50))),
            alive.clone(),
        )?;
        let outcome = {
            let (id, pool, cache, cfg, stop, alive) = (&id, &pool, &cache, &cfg, &stop, &alive);
            let slots = (0..slots).map(|_| {
                let mut client = client.clone();
                async move { serve_leases(&mut client, id, pool, cache, cfg, stop, alive).await }
            });
            futures::future::join_all(slots).await.into_iter().collect::<Result<Vec<()>>>().map(|_| ())
        };
        alive.store(false, Ordering::SeqCst);
        let _ = beat.join();
        match outcome {
            Ok(()) if stop.load(Ordering::SeqCst) => break,
            Ok(()) => tracing::warn!(worker = %id, "the coordinator forgot this worker; registering again"),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Heartbeats on a thread with its own small runtime. Clears `alive` when the coordinator says
/// it does not know this worker.
fn spawn_heartbeats(
    cfg: &WorkerConfig,
    id: &str,
    every: Duration,
    alive: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>> {
    let (cfg, id) = (cfg.clone(), id.to_string());
    std::thread::Builder::new()
        .name("heartbeat".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the heartbeat runtime");
                    return;
                }
            };
            rt.block_on(async move {
                let mut client = None;
                let mut tick = tokio::time::interval(every);
                while alive.load(Ordering::SeqCst) {
                    tick.tick().await;
                    if client.is_none() {
                        client = client::workers(&cfg.coordinator, cfg.token.as_deref(), &cfg.tls).await.ok();
                    }
                    let Some(c) = client.as_mut() else { continue };
                    match c.heartbeat(wire::HeartbeatRequest { worker_id: id.clone() }).await {
                        Ok(r) if !r.get_ref().known => {
                            alive.store(false, Ordering::SeqCst);
                        }
                        Ok(_) => {}
                        Err(s) => {
                            tracing::warn!(error = %s, "heartbeat failed");
                            client = None;
                        }
                    }
                }
            });
        })
        .map_err(|e| Error::Thread { what: "the heartbeat thread".into(), source: e.into() })
}

#[allow(clippy::too_many_arguments)]
async fn serve_leases(
    client: &mut Workers,
    id: &str,
    pool: &Arc<rayon::ThreadPool>,
    cache: &tokio::sync::Mutex<Caches>,
    cfg: &WorkerConfig,
    stop: &AtomicBool,
    alive: &AtomicBool,
) -> Result<()> {
    while !stop.load(Ordering::SeqCst) && alive.load(Ordering::SeqCst) {
        let poll = client.poll_task(wire::PollTaskRequest { worker_id: id.to_string(), wait_ms: 2_000 }).await;
        let lease = match poll {
            Ok(r) => r.into_inner().lease,
            Err(s) if s.code() == tonic::Code::FailedPrecondition => return Ok(()),
            Err(s) => return Err(Error::rpc("poll for a task", s)),
        };
        let Some(lease) = lease else { continue };
        let lease_id = lease.lease_id.clone();
        let result = run_task(lease, pool, cache, cfg).await;
        match result {
            Ok(done) => {
                let (n, trees, stats) = match done {
                    Done::Trees(n, t) => (n, t, Vec::new()),
                    Done::Stats(s) => (0, Vec::new(), s),
                };
                let blocks = stats.len();
                match client
                    .complete_task(wire::CompleteTaskRequest {
                        worker_id: id.to_string(),
                        lease_id: lease_id.clone(),
                        trees,
                        stats,
                    })
                    .await
                {
                    Ok(_) => tracing::info!(lease = %lease_id, trees = n, blocks, "task done"),
                    Err(s) => tracing::warn!(lease = %lease_id, error = %s, "completion refused"),
                }
            }
            Err(e) => {
                let (fatal, message) = (e.is_fatal(), client::error_chain(&e));
                tracing::warn!(lease = %lease_id, fatal, error = %message, "task failed");
                let kind = if fatal { wire::FailureKind::Fatal } else { wire::FailureKind::Retryable };
                if let Err(s) = client
                    .fail_task(wire::FailTaskRequest {
                        worker_id: id.to_string(),
                        lease_id,
                        kind: kind as i32,
                        message,
                    })
                    .await
                {
                    tracing::warn!(error = %s, "failure report refused");
                }
            }
        }
    }
    Ok(())
}

async fn run_task(
    lease: wire::TaskLease,
    pool: &Arc<rayon::ThreadPool>,
    cache: &tokio::sync::Mutex<Caches>,
    cfg: &WorkerConfig,
) -> std::result::Result<Done, TaskError> {
    match (lease.fit, lease.eval) {
        (Some(fit), None) => run_fit(fit, pool, cache, cfg).await.map(|t| Done::Trees(t.len(), encode_trees(&t))),
        (None, Some(eval)) => run_eval(eval, pool, cache, cfg).await.map(Done::Stats),
        (None, None) => Err(TaskError::NoTask),
        (Some(_), Some(_)) => Err(TaskError::TwoTasks),
    }
}

/// Scores the leased blocks of a held-out table.
async fn run_eval(
    eval: wire::EvalTask,
    pool: &Arc<rayon::ThreadPool>,
    cache: &tokio::sync::Mutex<Caches>,
    cfg: &WorkerConfig,
) -> std::result::Result<Vec<wire::EvalStats>, TaskError> {
    let task = reelforest_proto::task_kind_from_wire(eval.task, "eval.task")?;
    let run = eval.feature_run.clone().ok_or(TaskError::Missing("a feature run"))?;
    let run = reelforest_proto::feature_run_from_wire(run, "eval.feature_run")?;
    if eval.block_rows as usize != train::EVAL_BLOCK_ROWS {
        return Err(TaskError::BlockRows { got: eval.block_rows, want: train::EVAL_BLOCK_ROWS });
    }
    let forest = reelforest_tree::Forest::from_bytes(&eval.forest).map_err(TaskError::Forest)?;
    // Held while loading: another slot wanting the same table waits and then finds it here.
    let mut caches = cache.lock().await;
    let cache = &mut caches.held;
    let held = match cache.iter().find(|h| h.fingerprint == eval.fingerprint) {
        Some(h) => h.clone(),
        None => {
            let data = load_table(&eval.warehouse, &eval.table, &run).await?;
            let h = Arc::new(Held { fingerprint: eval.fingerprint.clone(), data });
            cache.push_front(h.clone());
            cache.truncate(cfg.cache_tables.max(1));
            h
        }
    };
    drop(caches);
    if held.data.len() as u64 != eval.table_rows {
        return Err(TaskError::RowCount { table: eval.table, here: held.data.len(), there: eval.table_rows });
    }
    let (first, count) = (eval.first_block as usize, eval.num_blocks as usize);
    if first + count > train::eval_blocks(held.data.len()) {
        return Err(TaskError::Blocks { first, end: first + count, blocks: train::eval_blocks(held.data.len()) });
    }
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        pool.install(|| {
            (first..first + count)
                .map(|b| {
                    let stats = train::evaluate_block(&forest, &held.data, task, b)?;
                    Ok(reelforest_proto::stats_to_wire(b as u32, &stats.into()))
                })
                .collect::<reelforest_pipeline::Result<Vec<_>>>()
        })
    })
    .await
    .map_err(|e| TaskError::Thread("scoring", e))?
    .map_err(TaskError::Score)
}

/// Builds the leased trees of a fit.
async fn run_fit(
    fit: wire::FitTask,
    pool: &Arc<rayon::ThreadPool>,
    cache: &tokio::sync::Mutex<Caches>,
    cfg: &WorkerConfig,
) -> std::result::Result<Vec<Tree>, TaskError> {
    let params_msg = fit.params.clone().ok_or(TaskError::Missing("forest parameters"))?;
    let params: ForestParams = reelforest_proto::params_from_wire(params_msg, "params")?;
    let task = reelforest_proto::task_kind_from_wire(fit.task, "fit.task")?;
    // Held while loading: the other slots' first tasks of this fit wait for this one copy.
    let mut caches = cache.lock().await;
    let cache = &mut caches.binned;
    let loaded = match cache.iter().find(|l| l.fingerprint == fit.fingerprint) {
        Some(l) => l.clone(),
        None => {
            let l = Arc::new(load(&fit, &params).await?);
            cache.push_front(l.clone());
            cache.truncate(cfg.cache_tables.max(1));
            l
        }
    };
    drop(caches);
    let (first, count) = (fit.first_tree, fit.num_trees);
    let pool = pool.clone();
    let built = tokio::task::spawn_blocking(move || {
        let labels: &[f64] = match task {
            TaskKind::Classification => &loaded.good,
            TaskKind::Regression => &loaded.rating,
        };
        let data = TrainingSet::new(&loaded.binned, labels, None, reelforest_tree::Task::from(task))?;
        pool.install(|| {
            (first..first + count)
                .into_par_iter()
                .map(|i| grow_tree(&data, &params, i, &LocalReducer))
                .collect::<std::result::Result<Vec<_>, _>>()
        })
    })
    .await
    .map_err(|e| TaskError::Thread("tree", e))?
    .map_err(TaskError::Build)?;
    Ok(built)
}

/// Loads a feature table with the embedded run's own query (same rows, same order).
async fn load_table(warehouse: &str, table: &str, run: &FeatureRun) -> std::result::Result<Dataset, TaskError> {
    let wh =
        Warehouse::open(warehouse).map_err(|source| TaskError::Warehouse { url: warehouse.to_string(), source })?;
    let ctx = SessionContext::new();
    wh.register_all(&ctx).await.map_err(TaskError::Register)?;
    Dataset::load(&ctx, table, run).await.map_err(TaskError::Load)
}

/// Loads and bins a training table (the embedded run's query and binning).
async fn load(fit: &wire::FitTask, params: &ForestParams) -> std::result::Result<Loaded, TaskError> {
    let run = fit.feature_run.clone().ok_or(TaskError::Missing("a feature run"))?;
    let run = reelforest_proto::feature_run_from_wire(run, "fit.feature_run")?;
    let ds = load_table(&fit.warehouse, &fit.table, &run).await?;
    let binned = train::bin(&ds, params.max_bins, params.seed).map_err(TaskError::Bin)?;
    tracing::info!(table = %fit.table, rows = ds.len(), fingerprint = %fit.fingerprint, "training table loaded");
    Ok(Loaded { fingerprint: fit.fingerprint.clone(), binned, rating: ds.rating, good: ds.good })
}
