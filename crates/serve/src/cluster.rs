//! The cluster as the server shows it: a [`ClusterSource`] seam and the [`ClusterSnapshot`]
//! it returns (workers, jobs with progress, Ballista executors).
//!
//! The gRPC coordinator is being built in parallel; until it lands, `reelforest serve` uses
//! [`NoCluster`] (no `--coordinator` flag: "no cluster configured") or [`PendingCoordinator`]
//! (the flag is accepted and shown, and the page says the client is not wired yet). Wiring the
//! coordinator means one more implementation of [`ClusterSource`] that asks it for its state;
//! the routes (`GET /api/cluster`, `GET /api/jobs`) and the Cluster page stay as they are.

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
    /// Task slots free.
    pub free_slots: u32,
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

/// A coordinator URL was given, but this build has no coordinator client yet.
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

/// The source for an optional `--coordinator` URL.
pub fn source_for(coordinator: Option<&str>) -> std::sync::Arc<dyn ClusterSource> {
    match coordinator {
        None => std::sync::Arc::new(NoCluster),
        Some(url) => std::sync::Arc::new(PendingCoordinator::new(url)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sources_say_what_is_configured() {
        let none = source_for(None).snapshot().await;
        assert_eq!((none.status, none.coordinator), (ClusterStatus::NotConfigured, None));
        assert!(none.message.starts_with("No cluster configured"));
        let pending = source_for(Some("http://coord:50051")).snapshot().await;
        assert_eq!(pending.status, ClusterStatus::Unavailable);
        assert_eq!(pending.coordinator.as_deref(), Some("http://coord:50051"));
        assert!(pending.message.contains("http://coord:50051") && pending.workers.is_empty());
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
