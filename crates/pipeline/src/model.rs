//! Model artifacts in the warehouse: `models/<name>/<version>/model.pb`.
//!
//! One protobuf file per version, in the documented format of
//! `proto/reelforest/v1/model.proto` (encoded and checked by [`reelforest_proto`]): format
//! version, name, version, creation time, the feature schema (names in order), per task the
//! forest parameters, bin edges, the forest (the tree codec's bytes) and metrics (test / train
//! / CV, OOB error, importances), the serving essentials of the feature run (run name, global
//! mean / std, genre columns, good threshold, prior strength) and the job spec as TOML text.
//!
//! [`save`] writes the next version; [`load`] reads one (the newest by default) and checks
//! magic, format version, checksum, every field, feature-schema consistency, and that the file
//! is the model and version its path says. Every failure is an error naming the file and the
//! cause ([`Error::Model`]; [`Error::ModelFile`] with the decoder's error, naming the field, as
//! its source; [`Error::ModelList`] with the store's), never a panic or a model that silently
//! predicts something else.
//! Versions are integers counting up from 1.

use crate::report::TaskReport;
use crate::spec::{JobSpec, TaskKind};
use crate::{Error, Result};
use object_store::ObjectStore as _;
use reelforest_features::FeatureRun;
use reelforest_features::online::ServingFeatures;
use reelforest_proto as proto;
use reelforest_tree::{BinMapper, Forest};
use reelforest_warehouse::Warehouse;

pub use reelforest_proto::{FORMAT_VERSION, ModelArtifact};

/// File name of a model version's artifact.
pub const MODEL_FILE: &str = "model.pb";

/// A model loaded from the warehouse.
#[derive(Debug, Clone)]
pub struct Model {
    /// Where it was read from, relative to the warehouse root.
    pub path: String,
    /// Its contents.
    pub artifact: ModelArtifact,
}

impl Model {
    /// The forest of `task`, if the model has one.
    pub fn forest(&self, task: TaskKind) -> Option<&Forest> {
        self.artifact.task(task).map(|t| &t.forest)
    }

    /// Model name.
    pub fn name(&self) -> &str {
        &self.artifact.name
    }

    /// Model version.
    pub fn version(&self) -> u64 {
        self.artifact.version
    }
}

/// Path of a model version's artifact, relative to the warehouse root.
pub fn model_path(name: &str, version: u64) -> String {
    format!("models/{name}/{version}/{MODEL_FILE}")
}

/// Writes a new version of the job's model and returns its number. Takes the forests by value:
/// they move into the artifact, so the run's peak memory holds one copy of each plus the encoded
/// file, not a second copy of every tree.
pub async fn save(
    warehouse: &Warehouse,
    spec: &JobSpec,
    features: &FeatureRun,
    forests: Vec<(TaskKind, Forest, BinMapper)>,
    tasks: &[TaskReport],
) -> Result<u64> {
    let version = latest_version(warehouse, &spec.name).await?.map_or(1, |v| v + 1);
    let path = model_path(&spec.name, version);
    let bad = |reason: String| Error::Model { path: path.clone(), reason };
    let job_spec_toml = toml::to_string(spec).map_err(|source| Error::SpecToml { path: path.clone(), source })?;
    let mut task_models = Vec::with_capacity(forests.len());
    for (task, forest, bins) in forests {
        let report = tasks
            .iter()
            .find(|r| r.task == task)
            .ok_or_else(|| bad(format!("no report for task {}", task.as_str())))?;
        let cv_metric = match (&spec.tuning, &task) {
            (None, _) => String::new(),
            (Some(t), _) if t.metric.is_some() => t.metric.clone().unwrap_or_default(),
            (Some(_), TaskKind::Regression) => "rmse".into(),
            (Some(_), TaskKind::Classification) => "auc".into(),
        };
        let feature_importances = forest.feature_importances();
        task_models.push(proto::TaskModel {
            task,
            params: report.params.forest().clone(),
            bins,
            forest,
            metrics: proto::TaskMetrics {
                test: report.test.clone(),
                train: report.train.clone(),
                cv: report.cv,
                cv_metric,
                oob_error: report.oob_error,
                fit_seconds: report.fit_seconds,
                feature_importances,
            },
        });
    }
    let created_at_unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let artifact = ModelArtifact {
        name: spec.name.clone(),
        version,
        created_at_unix_ms,
        feature_names: features.feature_columns.clone(),
        serving: ServingFeatures::from(features),
        job_spec_toml,
        tasks: task_models,
    };
    let bytes = proto::encode_model(&artifact);
    drop(artifact);
    // Check what we wrote reads back: a model that cannot be loaded must fail the run, not
    // the first prediction.
    proto::decode_model(&bytes).map_err(|source| Error::ModelFile { path: path.clone(), source })?;
    warehouse.put(&path, bytes).await?;
    Ok(version)
}

/// Loads version `version` (the newest when `None`) of model `name`.
pub async fn load(warehouse: &Warehouse, name: &str, version: Option<u64>) -> Result<Model> {
    let versions = versions(warehouse, name).await?;
    let Some(&latest) = versions.last() else {
        let available = list_models(warehouse).await?;
        let available = if available.is_empty() { "none".to_string() } else { available.join(", ") };
        return Err(Error::Model {
            path: format!("models/{name}/"),
            reason: format!("no model named {name:?} in the warehouse (available: {available})"),
        });
    };
    let version = version.unwrap_or(latest);
    let path = model_path(name, version);
    if !versions.contains(&version) {
        let list: Vec<String> = versions.iter().map(u64::to_string).collect();
        return Err(Error::Model {
            path,
            reason: format!("model {name:?} has no version {version} (versions: {})", list.join(", ")),
        });
    }
    let bytes = warehouse.get(&path).await?;
    let artifact = proto::decode_model(&bytes).map_err(|source| Error::ModelFile { path: path.clone(), source })?;
    if artifact.name != name || artifact.version != version {
        return Err(Error::Model {
            reason: format!(
                "the file holds model {:?} version {}, not {name:?} version {version} (copied or renamed?)",
                artifact.name, artifact.version
            ),
            path,
        });
    }
    Ok(Model { path, artifact })
}

/// The newest version of model `name`, if any.
pub async fn latest_version(warehouse: &Warehouse, name: &str) -> Result<Option<u64>> {
    Ok(versions(warehouse, name).await?.last().copied())
}

/// The versions of model `name` that have a model file, ascending.
pub async fn versions(warehouse: &Warehouse, name: &str) -> Result<Vec<u64>> {
    if !valid_name(name) {
        return Ok(Vec::new());
    }
    let mut out: Vec<u64> = Vec::new();
    for dir in subdirs(warehouse, &format!("models/{name}")).await? {
        if let Ok(v) = dir.parse::<u64>()
            && v > 0
            && warehouse.exists(&model_path(name, v)).await?
        {
            out.push(v);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Names of the models in the warehouse (those with at least one version), sorted.
pub async fn list_models(warehouse: &Warehouse) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for name in subdirs(warehouse, "models").await? {
        if !versions(warehouse, &name).await?.is_empty() {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// Names of the directories directly under `relative`.
async fn subdirs(warehouse: &Warehouse, relative: &str) -> Result<Vec<String>> {
    // A missing bucket or refused credentials: the warehouse's own error, not "no models".
    warehouse.ready().await?;
    let prefix = warehouse.object_path(relative);
    let listing = warehouse
        .store()
        .list_with_delimiter(Some(&prefix))
        .await
        .map_err(|source| Error::ModelList { path: relative.to_string(), source })?;
    Ok(listing.common_prefixes.iter().filter_map(|p| p.filename().map(str::to_string)).collect())
}

/// Model names are path segments: letters, digits, `_`, `-`.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimator::Estimator;
    use crate::report::TaskReport;
    use crate::train::Metrics;
    use reelforest_features::{FeatureSpec, GenreColumn};
    use reelforest_tree::{BinnedMatrix, ForestParams, TrainingSet};

    fn feature_run() -> FeatureRun {
        FeatureRun {
            version: FeatureRun::VERSION,
            run: "honest".into(),
            spec: FeatureSpec::default(),
            split_table: "honest.split".into(),
            feature_columns: vec!["avg_user_rating".into(), "genre_drama".into()],
            label: "rating".into(),
            good_label: "good".into(),
            global_mean: 3.5,
            global_std: 1.0,
            genres: vec![GenreColumn { genre: "Drama".into(), column: "genre_drama".into() }],
            train_rows: 100,
            test_rows: 0,
            online_users: 0,
            online_movies: 0,
            cf_models: None,
        }
    }

    fn report(task: TaskKind, cfg: &Estimator) -> TaskReport {
        let m = match task {
            TaskKind::Regression => {
                Metrics::Regression { rows: 1, rmse: 1.0, mse: 1.0, mae: 1.0, r2: 0.0, explained_variance: 0.0 }
            }
            TaskKind::Classification => Metrics::Classification {
                rows: 1,
                accuracy: 1.0,
                precision: 1.0,
                recall: 1.0,
                f1: 1.0,
                weighted_f1: 1.0,
                roc_auc: None,
                pr_auc: None,
                log_loss: 0.1,
                confusion: vec![vec![1.0, 0.0], vec![0.0, 0.0]],
            },
        };
        TaskReport {
            task,
            params: cfg.clone(),
            test: m.clone(),
            train: m,
            cv: None,
            oob_error: 0.2,
            fit_seconds: 0.1,
            fit_cpu_seconds: None,
            total_num_nodes: 3,
            feature_importances: vec![],
            forest_sha256: String::new(),
        }
    }

    /// Saves one version of a two-task model named `demo`.
    async fn save_demo(wh: &Warehouse) -> u64 {
        let spec = JobSpec {
            name: "demo".into(),
            model: Estimator::RandomForest(ForestParams { num_trees: 3, max_depth: 3, ..ForestParams::default() }),
            ..JobSpec::embedded_default()
        };
        let x0: Vec<f64> = (0..100).map(|i| f64::from(i % 10) / 2.0).collect();
        let x1: Vec<f64> = (0..100).map(|i| f64::from(i % 2)).collect();
        let cols = vec![x0.clone(), x1];
        let mut forests = Vec::new();
        let mut tasks = Vec::new();
        for task in [TaskKind::Regression, TaskKind::Classification] {
            let p = spec.model.forest();
            let y: Vec<f64> = match task {
                TaskKind::Regression => x0.clone(),
                TaskKind::Classification => x0.iter().map(|v| f64::from(u8::from(*v >= 2.0))).collect(),
            };
            let binned = BinnedMatrix::from_columns(&cols, p.max_bins, p.seed).expect("bins");
            let data = TrainingSet::new(&binned, &y, None, reelforest_tree::Task::from(task)).expect("data");
            let forest = reelforest_tree::train(&data, p).expect("train");
            forests.push((task, forest, binned.mapper().clone()));
            tasks.push(report(task, &spec.model));
        }
        save(wh, &spec, &feature_run(), forests, &tasks).await.expect("save")
    }

    /// An error and its sources, `: `-separated.
    fn chain(e: &dyn std::error::Error) -> String {
        let mut s = e.to_string();
        let mut cur = e.source();
        while let Some(c) = cur {
            s.push_str(": ");
            s.push_str(&c.to_string());
            cur = c.source();
        }
        s
    }

    async fn load_err(wh: &Warehouse, name: &str, version: Option<u64>) -> String {
        chain(&load(wh, name, version).await.expect_err("must fail"))
    }

    #[tokio::test]
    async fn save_then_load_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wh = Warehouse::open(&dir.path().display().to_string()).expect("warehouse");
        assert_eq!(save_demo(&wh).await, 1);
        assert_eq!(save_demo(&wh).await, 2);
        let m = load(&wh, "demo", None).await.expect("loads");
        assert_eq!((m.name(), m.version(), m.path.as_str()), ("demo", 2, "models/demo/2/model.pb"));
        assert_eq!(m.artifact.feature_names, ["avg_user_rating", "genre_drama"]);
        assert_eq!(m.artifact.serving, ServingFeatures::from(&feature_run()));
        assert_eq!(m.artifact.serving.prior_strength, FeatureSpec::default().prior_strength);
        let cfg = Estimator::RandomForest(ForestParams::default());
        for task in [TaskKind::Regression, TaskKind::Classification] {
            let stored = &m.artifact.task(task).expect("task").metrics;
            assert_eq!((&stored.test, &stored.train), (&report(task, &cfg).test, &report(task, &cfg).train));
        }
        assert!(m.artifact.job_spec_toml.contains("name = \"demo\""));
        let reg = m.forest(TaskKind::Regression).expect("regression forest");
        let y = reg.predict_row(&[4.5, 0.0]).expect("predict");
        assert!((0.0..=4.5).contains(&y), "{y}");
        assert!(m.forest(TaskKind::Classification).is_some());
        assert_eq!(load(&wh, "demo", Some(1)).await.expect("v1").version(), 1);
        assert_eq!(list_models(&wh).await.expect("list"), ["demo"]);
    }

    #[tokio::test]
    async fn bad_model_files_give_clear_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wh = Warehouse::open(&dir.path().display().to_string()).expect("warehouse");
        assert_eq!(
            load_err(&wh, "demo", None).await,
            "model file models/demo/: no model named \"demo\" in the warehouse (available: none)"
        );
        save_demo(&wh).await;
        save_demo(&wh).await;
        let good = wh.get("models/demo/1/model.pb").await.expect("file");

        // Unknown name and version.
        assert_eq!(
            load_err(&wh, "nope", None).await,
            "model file models/nope/: no model named \"nope\" in the warehouse (available: demo)"
        );
        assert_eq!(
            load_err(&wh, "demo", Some(7)).await,
            "model file models/demo/7/model.pb: model \"demo\" has no version 7 (versions: 1, 2)"
        );

        // Truncated.
        wh.put("models/demo/2/model.pb", good[..good.len() / 2].to_vec()).await.expect("put");
        assert_eq!(
            load_err(&wh, "demo", None).await,
            "model file models/demo/2/model.pb: cannot decode the file (truncated or corrupt): \
             failed to decode Protobuf message: ModelFile.payload: buffer underflow"
        );
        wh.put("models/demo/2/model.pb", Vec::new()).await.expect("put");
        assert_eq!(
            load_err(&wh, "demo", Some(2)).await,
            "model file models/demo/2/model.pb: not a reelforest model file: the file is empty"
        );

        // A flipped bit in the payload.
        let mut flipped = good.clone();
        let n = flipped.len();
        flipped[n / 2] ^= 0x04;
        wh.put("models/demo/2/model.pb", flipped).await.expect("put");
        assert_eq!(
            load_err(&wh, "demo", Some(2)).await,
            "model file models/demo/2/model.pb: corrupt file: the payload's SHA-256 does not match the recorded checksum"
        );

        // Another format.
        wh.put("models/demo/2/model.pb", b"{\"format_version\": 1}".to_vec()).await.expect("put");
        assert_eq!(
            load_err(&wh, "demo", Some(2)).await,
            "model file models/demo/2/model.pb: not a reelforest model file: it does not start with the model file magic"
        );

        // A newer format version.
        let mut newer = good.clone();
        assert_eq!(newer[9], 0x10, "format_version tag");
        newer[10] = 9;
        wh.put("models/demo/2/model.pb", newer).await.expect("put");
        assert_eq!(
            load_err(&wh, "demo", Some(2)).await,
            "model file models/demo/2/model.pb: unsupported model format version 9 (this build reads version 3)"
        );

        // Version 1's file copied into version 2.
        wh.put("models/demo/2/model.pb", good.clone()).await.expect("put");
        assert_eq!(
            load_err(&wh, "demo", Some(2)).await,
            "model file models/demo/2/model.pb: the file holds model \"demo\" version 1, not \"demo\" version 2 \
             (copied or renamed?)"
        );

        // A schema that does not match the trees.
        let mut a = proto::decode_model(&good).expect("good file");
        a.version = 2;
        a.feature_names.push("movie_age".into());
        wh.put("models/demo/2/model.pb", proto::encode_model(&a)).await.expect("put");
        assert_eq!(
            load_err(&wh, "demo", Some(2)).await,
            "model file models/demo/2/model.pb: tasks[0].bins.features: 2 features, the schema has 3"
        );

        // Version 1 is untouched.
        assert_eq!(load(&wh, "demo", Some(1)).await.expect("v1").version(), 1);
    }
}
