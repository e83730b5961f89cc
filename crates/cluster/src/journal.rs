//! The job journal: one JSON record per job at `_jobs/<job id>.json` in the warehouse, written
//! at submission and at every state change. A coordinator that starts reads them all: finished
//! jobs are listed as they ended; a job that was queued or running when the coordinator stopped
//! is **marked failed** ("the coordinator restarted while the job was running; submit it
//! again") rather than resumed, because its in-memory progress (trees received, fits waiting)
//! is gone and re-running half a job silently would hide that.

use crate::{Error, Result};
use futures::TryStreamExt;
use reelforest_warehouse::Warehouse;
use serde::{Deserialize, Serialize};

/// Directory of the records, relative to the warehouse root.
pub const JOURNAL_DIR: &str = "_jobs";

/// A job's lasting record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Job id.
    pub job_id: String,
    /// The spec's name.
    pub name: String,
    /// State name (`queued`, `preprocess`, `train`, `evaluate`, `publish`, `succeeded`,
    /// `failed`, `cancelled`).
    pub state: String,
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
        matches!(self.state.as_str(), "succeeded" | "failed" | "cancelled")
    }
}

/// Writes (replaces) a record.
pub async fn write(wh: &Warehouse, rec: &JobRecord) -> Result<()> {
    let path = format!("{JOURNAL_DIR}/{}.json", rec.job_id);
    let bytes =
        serde_json::to_vec_pretty(rec).map_err(|e| Error::Journal { path: path.clone(), reason: e.to_string() })?;
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
        .map_err(|e| Error::Journal { path: JOURNAL_DIR.into(), reason: e.to_string() })?;
    let mut out = Vec::new();
    for m in metas {
        let loc = m.location.to_string();
        if !loc.ends_with(".json") {
            continue;
        }
        let rel = format!("{JOURNAL_DIR}/{}", loc.rsplit('/').next().unwrap_or_default());
        let bytes = wh.get(&rel).await?;
        let rec: JobRecord =
            serde_json::from_slice(&bytes).map_err(|e| Error::Journal { path: rel.clone(), reason: e.to_string() })?;
        out.push(rec);
    }
    out.sort_by(|a, b| (a.submitted_unix_ms, &a.job_id).cmp(&(b.submitted_unix_ms, &b.job_id)));
    Ok(out)
}
