//! Model artifacts in the warehouse: `models/<name>/<version>/`.
//!
//! Interim format (until the protobuf model file lands): `model.json` (feature schema, bin
//! edges' count, training parameters, metrics, format version) plus one
//! `<task>.forest` per task in the tree engine's versioned binary encoding
//! ([`reelforest_tree::Forest::to_bytes`]). Versions are integers counting up from 1.

use crate::report::TaskReport;
use crate::spec::{JobSpec, TaskKind};
use crate::{Error, Result};
use reelforest_features::FeatureRun;
use reelforest_tree::{BinMapper, Forest};
use reelforest_warehouse::Warehouse;
use serde::{Deserialize, Serialize};

/// Current `model.json` format version.
pub const FORMAT_VERSION: u32 = 1;

/// `model.json`: what a loader needs besides the forests.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelMeta {
    /// Format version of this file.
    pub format_version: u32,
    /// Model name.
    pub name: String,
    /// Model version.
    pub version: u64,
    /// The job that trained it.
    pub job: JobSpec,
    /// The feature run: columns in order, priors, genres.
    pub features: FeatureRun,
    /// Per task: parameters and metrics.
    pub tasks: Vec<TaskReport>,
}

/// Writes a new version of the job's model and returns its number.
pub async fn save(
    warehouse: &Warehouse,
    spec: &JobSpec,
    features: &FeatureRun,
    forests: &[(TaskKind, Forest, BinMapper)],
    tasks: &[TaskReport],
) -> Result<u64> {
    let version = latest_version(warehouse, &spec.name).await?.map_or(1, |v| v + 1);
    let dir = format!("models/{}/{version}", spec.name);
    for (task, forest, _) in forests {
        warehouse.put(&format!("{dir}/{}.forest", task.as_str()), forest.to_bytes()).await?;
    }
    let meta = ModelMeta {
        format_version: FORMAT_VERSION,
        name: spec.name.clone(),
        version,
        job: spec.clone(),
        features: features.clone(),
        tasks: tasks.to_vec(),
    };
    let json = serde_json::to_vec_pretty(&meta)
        .map_err(|e| Error::Model { path: format!("{dir}/model.json"), reason: e.to_string() })?;
    // model.json last: a version without it is incomplete and ignored by loaders.
    warehouse.put(&format!("{dir}/model.json"), json).await?;
    Ok(version)
}

/// The newest complete version of model `name`, if any.
pub async fn latest_version(warehouse: &Warehouse, name: &str) -> Result<Option<u64>> {
    let mut v = 1;
    let mut latest = None;
    while warehouse.exists(&format!("models/{name}/{v}/model.json")).await? {
        latest = Some(v);
        v += 1;
    }
    Ok(latest)
}
