//! The job journal: one JSON record per job at `_jobs/<job id>.json` in the warehouse, written
//! at submission and at every state change. A coordinator that starts reads them all: finished
//! jobs are listed as they ended; a job that was queued or running when the coordinator stopped
//! is **marked failed** ("the coordinator restarted while the job was running; submit it
//! again") rather than resumed, because its in-memory progress (trees received, fits waiting)
//! is gone and re-running half a job silently would hide that.

use crate::{Error, Result};
use futures::TryStreamExt;
use reelforest_core::Stage;
use reelforest_warehouse::Warehouse;
use serde::{Deserialize, Serialize};

/// Directory of the records, relative to the warehouse root.
pub const JOURNAL_DIR: &str = "_jobs";

/// Where a job is in its life: `Queued → Preprocess → Train → Evaluate → Publish →
/// Succeeded | Failed | Cancelled`. Stored by its snake-case name (`"queued"`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for the jobs before it.
    Queued,
    /// Ingest and feature SQL.
    Preprocess,
    /// Tuning and final fits, as tree tasks on workers.
    Train,
    /// Scoring the final models.
    Evaluate,
    /// Writing the model and the report.
    Publish,
    /// Ended with a model and a report.
    Succeeded,
    /// Ended with an error.
    Failed,
    /// Cancelled by a client.
    Cancelled,
}

impl JobState {
    /// Whether the job has ended.
    pub fn is_finished(self) -> bool {
        matches!(self, JobState::Succeeded | JobState::Failed | JobState::Cancelled)
    }

    /// The state a pipeline stage runs in.
    pub fn of_stage(stage: Stage) -> Self {
        match stage {
            Stage::Preprocess => JobState::Preprocess,
            Stage::Train => JobState::Train,
            Stage::Evaluate => JobState::Evaluate,
            Stage::Publish => JobState::Publish,
        }
    }

    /// Its name (`queued`, `preprocess`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Preprocess => "preprocess",
            JobState::Train => "train",
            JobState::Evaluate => "evaluate",
            JobState::Publish => "publish",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job's lasting record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Job id.
    pub job_id: String,
    /// The spec's name.
    pub name: String,
    /// Where the job is.
    pub state: JobState,
    /// Why it failed or was cancelled.
    pub error: String,
    /// The report (JSON) of a succeeded job.
    pub report_json: String,
    /// The spec (TOML).
    pub spec_toml: String,
    /// Data directory override.
    pub data_dir: String,
    /// Submission time (Unix ms).
    pub submitted_unix_ms: i64,
    /// End time (Unix ms; 0 while running).
    pub finished_unix_ms: i64,
}

impl JobRecord {
    /// Whether the job has ended.
    pub fn is_finished(&self) -> bool {
        self.state.is_finished()
    }
}

/// Writes (replaces) a record.
pub async fn write(wh: &Warehouse, rec: &JobRecord) -> Result<()> {
    let path = format!("{JOURNAL_DIR}/{}.json", rec.job_id);
    let bytes = serde_json::to_vec_pretty(rec)
        .map_err(|source| Error::Journal { path: path.clone(), source: source.into() })?;
    wh.put(&path, bytes).await?;
    Ok(())
}

/// Reads every record, oldest submission first.
pub async fn read_all(wh: &Warehouse) -> Result<Vec<JobRecord>> {
    let prefix = wh.object_path(JOURNAL_DIR);
    let metas: Vec<_> = wh
        .store()
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|source| Error::Journal { path: JOURNAL_DIR.into(), source: source.into() })?;
    let mut out = Vec::new();
    for m in metas {
        let loc = m.location.to_string();
        if !loc.ends_with(".json") {
            continue;
        }
        let rel = format!("{JOURNAL_DIR}/{}", loc.rsplit('/').next().unwrap_or_default());
        let bytes = wh.get(&rel).await?;
        let rec: JobRecord = serde_json::from_slice(&bytes)
            .map_err(|source| Error::Journal { path: rel.clone(), source: source.into() })?;
        out.push(rec);
    }
    out.sort_by(|a, b| (a.submitted_unix_ms, &a.job_id).cmp(&(b.submitted_unix_ms, &b.job_id)));
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn states_are_stored_by_name() {
        let all = [
            JobState::Queued,
            JobState::Preprocess,
            JobState::Train,
            JobState::Evaluate,
            JobState::Publish,
            JobState::Succeeded,
            JobState::Failed,
            JobState::Cancelled,
        ];
        for s in all {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
            assert_eq!(s.is_finished(), matches!(s.as_str(), "succeeded" | "failed" | "cancelled"));
        }
        assert!(serde_json::from_str::<JobState>("\"sleeping\"").is_err());
    }
}
