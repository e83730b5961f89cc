//! The cluster as the server shows it: a [`ClusterSource`] seam and the [`ClusterSnapshot`]
//! it returns (workers, jobs with progress, Ballista executors).
//!
//! * [`NoCluster`]: no `--coordinator` flag, "no cluster configured".
//! * [`CoordinatorSource`]: asks the training coordinator over gRPC (`ClusterStatus`,
//!   `ListJobs`, with its token) for workers and jobs, and, with `--ballista df://HOST:PORT`,
//!   Ballista's scheduler REST API (`/api/executors`) for the executors. A coordinator or
//!   scheduler that does not answer gives an `unavailable` snapshot with the reason.
//! * [`PendingCoordinator`]: a fixed "unavailable" snapshot, for tests of the pages.

use async_trait::async_trait;
use serde::Serialize;
use utoipa::ToSchema;

/// Whether a cluster is configured and answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClusterStatus {
    /// No coordinator configured: the server runs on its own.
    NotConfigured,
    /// A coordinator is configured but its state cannot be read.
    Unavailable,
    /// The coordinator answered.
    Connected,
}

/// A worker registered with the coordinator.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WorkerInfo {
    /// Worker id.
    pub id: String,
    /// Where it listens.
    pub address: String,
    /// State as the coordinator sees it (`alive`, `expired`, ...).
    pub state: String,
    /// Milliseconds since its last heartbeat.
    pub last_heartbeat_ms: Option<u64>,
    /// Trees it is growing now.
    pub running_tasks: u32,
}

/// A job known to the coordinator.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct JobInfo {
    /// Job id.
    pub id: String,
    /// Job (model) name.
    pub name: String,
    /// State (`queued`, `running`, `succeeded`, `failed`, ...).
    pub state: String,
    /// Work units done (trees grown).
    pub done: u64,
    /// Work units in all.
    pub total: u64,
    /// Start time, Unix milliseconds.
    pub started_at_unix_ms: Option<i64>,
}

impl JobInfo {
    /// Fraction done in `[0, 1]` (0 when the total is unknown).
    pub fn progress(&self) -> f64 {
        if self.total == 0 { 0.0 } else { (self.done as f64 / self.total as f64).clamp(0.0, 1.0) }
    }
}

/// A Ballista executor.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ExecutorInfo {
    /// Executor id.
    pub id: String,
    /// Host and port.
    pub address: String,
    /// Task slots in all.
    pub slots: u32,
    /// Milliseconds since its last heartbeat to the scheduler.
    pub last_seen_ms: Option<u64>,
}

/// The cluster at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ClusterSnapshot {
    /// Configured, reachable?
    pub status: ClusterStatus,
    /// The coordinator's URL, when configured.
    pub coordinator: Option<String>,
    /// A sentence for people: what the status means.
    pub message: String,
    /// Workers.
    pub workers: Vec<WorkerInfo>,
    /// Jobs, newest first.
    pub jobs: Vec<JobInfo>,
    /// Ballista executors.
    pub executors: Vec<ExecutorInfo>,
}

impl ClusterSnapshot {
    /// An empty snapshot with `status` and `message`.
    pub fn empty(status: ClusterStatus, coordinator: Option<String>, message: impl Into<String>) -> Self {
        ClusterSnapshot {
            status,
            coordinator,
            message: message.into(),
            workers: Vec::new(),
            jobs: Vec::new(),
            executors: Vec::new(),
        }
    }
}

/// Where the server reads the cluster's state from.
#[async_trait]
pub trait ClusterSource: Send + Sync + std::fmt::Debug {
    /// The current state. Failures to reach the cluster are a snapshot with
    /// [`ClusterStatus::Unavailable`] and the reason, not an error: the page shows them.
    async fn snapshot(&self) -> ClusterSnapshot;
}

/// No cluster: the server runs alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCluster;

#[async_trait]
impl ClusterSource for NoCluster {
    async fn snapshot(&self) -> ClusterSnapshot {
        ClusterSnapshot::empty(
            ClusterStatus::NotConfigured,
            None,
            "No cluster configured: this server predicts on its own. Start it with --coordinator URL to show \
             a cluster's workers, jobs and executors here.",
        )
    }
}

/// A fixed "unavailable" snapshot for a URL that is never queried (page and API tests).
#[derive(Debug, Clone)]
pub struct PendingCoordinator {
    url: String,
}

impl PendingCoordinator {
    /// Remembers `url`.
    pub fn new(url: impl Into<String>) -> Self {
        PendingCoordinator { url: url.into() }
    }
}

#[async_trait]
impl ClusterSource for PendingCoordinator {
    async fn snapshot(&self) -> ClusterSnapshot {
        ClusterSnapshot::empty(
            ClusterStatus::Unavailable,
            Some(self.url.clone()),
            format!(
                "Coordinator {} is configured, but this build cannot query it yet: the coordinator client is \
                 wired in when the cluster services land.",
                self.url
            ),
        )
    }
}

/// Why the coordinator or the Ballista scheduler gave no snapshot; the snapshot's message
/// says it with its causes.
#[derive(Debug, thiserror::Error)]
enum Unanswered {
    /// No connection to the coordinator.
    #[error(transparent)]
    Connect(reelforest_cluster::Error),
    /// The coordinator refused a call: the gRPC status code and message.
    #[error("{code}: {message}")]
    Rpc {
        /// The status code's name.
        code: String,
        /// The status message.
        message: String,
    },
    /// The scheduler address is not `df://HOST:PORT`.
    #[error("{0}: expected df://HOST:PORT")]
    SchedulerAddress(String),
    /// The scheduler's REST API did not answer (or its body did not read).
    #[error("{url}")]
    Http {
        /// The URL asked.
        url: String,
        /// The HTTP client's error.
        #[source]
        error: ureq::Error,
    },
    /// The thread making the request failed.
    #[error("the request's thread failed")]
    Thread(#[source] tokio::task::JoinError),
    /// The answer is not the JSON list `/api/executors` gives.
    #[error("/api/executors: not the expected JSON list ({0})")]
    NotAList(serde_json::Error),
    /// An executor entry lacks a field.
    #[error("/api/executors[{index}]{}: no {field}", id.as_ref().map(|id| format!(" ({id})")).unwrap_or_default())]
    Entry {
        /// The entry's position.
        index: usize,
        /// Its id, when it has one.
        id: Option<String>,
        /// The field: `"id" string`, `"port" number`.
        field: &'static str,
    },
}

/// How long one snapshot may wait for the coordinator or the scheduler.
const SNAPSHOT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// A live coordinator, and optionally the Ballista scheduler of its preprocessing.
#[derive(Clone)]
pub struct CoordinatorSource {
    url: String,
    token: Option<String>,
    ballista: Option<String>,
}

impl std::fmt::Debug for CoordinatorSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoordinatorSource").field("url", &self.url).field("ballista", &self.ballista).finish()
    }
}

impl CoordinatorSource {
    /// Asks the coordinator at `url` (`http://HOST:PORT`) with `token`, and the Ballista
    /// scheduler at `ballista` (`df://HOST:PORT`) when given.
    pub fn new(url: impl Into<String>, token: Option<String>, ballista: Option<String>) -> Self {
        CoordinatorSource { url: url.into(), token, ballista }
    }

    async fn coordinator(&self) -> Result<(Vec<WorkerInfo>, Vec<JobInfo>), Unanswered> {
        use reelforest_proto::wire;
        let tls = reelforest_cluster::tls::ClientTls::default();
        let mut client = reelforest_cluster::client::jobs(&self.url, self.token.as_deref(), &tls)
            .await
            .map_err(Unanswered::Connect)?;
        let answered = match client.cluster_status(wire::ClusterStatusRequest {}).await {
            Ok(status) => client.list_jobs(wire::ListJobsRequest {}).await.map(|jobs| (status, jobs)),
            Err(s) => Err(s),
        };
        let (status, jobs) = answered
            .map(|(s, j)| (s.into_inner(), j.into_inner()))
            .map_err(|s| Unanswered::Rpc { code: format!("{:?}", s.code()), message: s.message().to_string() })?;
        let workers = status
            .workers
            .into_iter()
            .map(|w| WorkerInfo {
                id: w.worker_id,
                address: w.name,
                state: "alive".into(),
                last_heartbeat_ms: Some(w.last_heartbeat_ms_ago),
                running_tasks: w.lease_ids.len() as u32,
            })
            .collect();
        let mut jobs: Vec<JobInfo> = jobs
            .jobs
            .into_iter()
            .map(|j| {
                let state = wire::JobState::try_from(j.state)
                    .map(|s| s.as_str_name().trim_start_matches("JOB_STATE_").to_lowercase())
                    .unwrap_or_else(|_| format!("unknown ({})", j.state));
                JobInfo {
                    id: j.job_id,
                    name: j.name,
                    state,
                    done: j.trees_done,
                    total: j.trees_total,
                    started_at_unix_ms: (j.submitted_unix_ms > 0).then_some(j.submitted_unix_ms),
                }
            })
            .collect();
        jobs.sort_by_key(|j| std::cmp::Reverse(j.started_at_unix_ms));
        Ok((workers, jobs))
    }
}

/// Ballista's executors from its scheduler's REST API (`df://HOST:PORT` → `/api/executors`).
async fn ballista_executors(scheduler: &str) -> Result<Vec<ExecutorInfo>, Unanswered> {
    let hostport = scheduler
        .strip_prefix("df://")
        .ok_or_else(|| Unanswered::SchedulerAddress(scheduler.to_string()))?
        .trim_end_matches('/')
        .to_string();
    let url = format!("http://{hostport}/api/executors");
    let body = tokio::task::spawn_blocking(move || -> Result<String, Unanswered> {
        let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(SNAPSHOT_TIMEOUT)).build().into();
        let failed = |error| Unanswered::Http { url: url.clone(), error };
        let mut res = agent.get(&url).call().map_err(failed)?;
        res.body_mut().read_to_string().map_err(failed)
    })
    .await
    .map_err(Unanswered::Thread)??;
    executors_from_rest(&body, u64::try_from(crate::state::now_unix_ms()).unwrap_or(0))
}

/// Maps the body of Ballista 55's `GET /api/executors` (a list of `{id, host, port, last_seen,
/// specification: {vcores}}`, `last_seen` the Unix time of the last heartbeat in milliseconds
/// at one-second resolution) to [`ExecutorInfo`]s, ages measured from `now_ms`.
fn executors_from_rest(body: &str, now_ms: u64) -> Result<Vec<ExecutorInfo>, Unanswered> {
    let list: Vec<serde_json::Value> = serde_json::from_str(body).map_err(Unanswered::NotAList)?;
    list.iter()
        .enumerate()
        .map(|(index, e)| {
            let id = e["id"].as_str().ok_or(Unanswered::Entry { index, id: None, field: "\"id\" string" })?;
            let port = e["port"].as_u64().ok_or_else(|| Unanswered::Entry {
                index,
                id: Some(id.to_string()),
                field: "\"port\" number",
            })?;
            Ok(ExecutorInfo {
                id: id.to_string(),
                address: format!("{}:{port}", e["host"].as_str().unwrap_or_default()),
                slots: e["specification"]["vcores"].as_u64().map_or(0, |v| u32::try_from(v).unwrap_or(u32::MAX)),
                last_seen_ms: e["last_seen"].as_u64().map(|at| now_ms.saturating_sub(at)),
            })
        })
        .collect()
}

#[async_trait]
impl ClusterSource for CoordinatorSource {
    async fn snapshot(&self) -> ClusterSnapshot {
        let mut snap = match tokio::time::timeout(SNAPSHOT_TIMEOUT, self.coordinator()).await {
            Ok(Ok((workers, jobs))) => ClusterSnapshot {
                status: ClusterStatus::Connected,
                coordinator: Some(self.url.clone()),
                message: format!("Coordinator {}: {} workers, {} jobs.", self.url, workers.len(), jobs.len()),
                workers,
                jobs,
                executors: Vec::new(),
            },
            Ok(Err(reason)) => ClusterSnapshot::empty(
                ClusterStatus::Unavailable,
                Some(self.url.clone()),
                format!("Coordinator {} did not answer: {}", self.url, reelforest_core::error_chain(&reason)),
            ),
            Err(_) => ClusterSnapshot::empty(
                ClusterStatus::Unavailable,
                Some(self.url.clone()),
                format!("Coordinator {} did not answer within {SNAPSHOT_TIMEOUT:?}", self.url),
            ),
        };
        if let Some(b) = &self.ballista {
            match ballista_executors(b).await {
                Ok(e) => {
                    snap.message.push_str(&format!(" Ballista scheduler {b}: {} executors.", e.len()));
                    snap.executors = e;
                }
                Err(reason) => snap.message.push_str(&format!(
                    " Ballista scheduler {b} did not answer: {}.",
                    reelforest_core::error_chain(&reason)
                )),
            }
        }
        snap
    }
}

/// The source for an optional `--coordinator` URL (with its token) and `--ballista` scheduler.
pub fn source_for(
    coordinator: Option<&str>,
    token: Option<String>,
    ballista: Option<&str>,
) -> std::sync::Arc<dyn ClusterSource> {
    match coordinator {
        None => std::sync::Arc::new(NoCluster),
        Some(url) => std::sync::Arc::new(CoordinatorSource::new(url, token, ballista.map(String::from))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sources_say_what_is_configured() {
        let none = source_for(None, None, None).snapshot().await;
        assert_eq!((none.status, none.coordinator), (ClusterStatus::NotConfigured, None));
        assert!(none.message.starts_with("No cluster configured"));
        // Nothing listens on port 1: unavailable, naming the coordinator.
        let down = source_for(Some("http://127.0.0.1:1"), None, None).snapshot().await;
        assert_eq!(down.status, ClusterStatus::Unavailable);
        assert_eq!(down.coordinator.as_deref(), Some("http://127.0.0.1:1"));
        assert!(down.message.contains("Coordinator http://127.0.0.1:1 did not answer"), "{}", down.message);
        assert!(down.workers.is_empty());
        let pending = PendingCoordinator::new("http://coord:50051").snapshot().await;
        assert_eq!(pending.status, ClusterStatus::Unavailable);
        assert!(pending.message.contains("http://coord:50051"));
    }

    #[test]
    fn ballista_executor_list_maps_and_names_bad_entries() {
        // The shape Ballista 55's scheduler answers (tests/ballista.rs checks a live one).
        let body = r#"[{"id":"executor-0","host":"10.0.0.5","port":50051,"last_seen":1700000000000,
            "specification":{"vcores":4},"metrics":[],"os_info":{}}]"#;
        let e = executors_from_rest(body, 1_700_000_002_500).expect("maps");
        assert_eq!(
            e,
            vec![ExecutorInfo {
                id: "executor-0".into(),
                address: "10.0.0.5:50051".into(),
                slots: 4,
                last_seen_ms: Some(2_500),
            }]
        );
        let err = executors_from_rest(r#"[{"id":"x","host":"h"}]"#, 0).expect_err("no port");
        assert_eq!(err.to_string(), "/api/executors[0] (x): no \"port\" number");
        let err = executors_from_rest(r#"[{"host":"h"}]"#, 0).expect_err("no id");
        assert_eq!(err.to_string(), "/api/executors[0]: no \"id\" string");
        let err = executors_from_rest("{}", 0).expect_err("not a list");
        assert!(err.to_string().contains("not the expected JSON list"), "{err}");
        let err = futures::executor::block_on(ballista_executors("http://s:1")).expect_err("not df://");
        assert_eq!(err.to_string(), "http://s:1: expected df://HOST:PORT");
    }

    #[test]
    fn progress_is_a_clamped_fraction() {
        let job = |done, total| JobInfo {
            id: "j".into(),
            name: "n".into(),
            state: "running".into(),
            done,
            total,
            started_at_unix_ms: None,
        };
        assert_eq!(job(25, 100).progress(), 0.25);
        assert_eq!(job(3, 0).progress(), 0.0);
        assert_eq!(job(7, 5).progress(), 1.0);
    }
}
