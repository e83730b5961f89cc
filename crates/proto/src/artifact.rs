//! The model file, `models/<name>/<version>/model.pb` (messages `ModelFile` and `Model` in
//! `proto/reelforest/v1/model.proto`, which documents every field).
//!
//! [`ModelArtifact`] is its domain form: feature schema, serving essentials of the feature
//! run, the job spec (TOML text), and per task the parameters, bin edges, forest and metrics.
//! Those parts are their owners' types ([`ServingFeatures`] and [`GenreColumn`] of
//! `reelforest-features`, [`Metrics`] and the forest types of `reelforest-tree`); this module
//! converts them to and from their messages, except the forest, which is stored as the bytes
//! of `reelforest-tree`'s codec ([`Forest::to_bytes`], whose SHA-256 is the report's
//! `forest_sha256`) and checked against its parameters on load.
//! [`encode_model`] writes the envelope (magic, [`FORMAT_VERSION`], SHA-256 of the payload,
//! payload); [`decode_model`] checks them in that order, then checks every field of the
//! payload, so that a truncated, bit-flipped, foreign or inconsistent file is an [`Error`]
//! naming what is wrong, never a model that predicts something else.

use crate::convert::{self, path};
use crate::error::{Error, Result};
use crate::pb;
use prost::Message;
use reelforest_features::GenreColumn;
use reelforest_features::online::ServingFeatures;
use reelforest_tree::metrics::Metrics;
use reelforest_tree::{BinMapper, Forest, ForestParams, Task};
use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// The `ModelFile.magic` value: the ASCII bytes `RLRFMODL` read as a little-endian `u64`.
pub const MAGIC: u64 = 0x4c44_4f4d_4652_4c52;

/// The `Model` layout version this build writes and reads.
pub const FORMAT_VERSION: u32 = 3;

/// A trained model: what `model.pb` holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelArtifact {
    /// Model name (the job name).
    pub name: String,
    /// Version number, from 1.
    pub version: u64,
    /// When it was written, milliseconds since the Unix epoch.
    pub created_at_unix_ms: i64,
    /// Feature column names in the order the forests index them.
    pub feature_names: Vec<String>,
    /// How to build feature rows at serving time.
    pub serving: ServingFeatures,
    /// The job spec as TOML text.
    pub job_spec_toml: String,
    /// One model per task.
    pub tasks: Vec<TaskModel>,
}

pub use reelforest_core::TaskKind;

/// The model of one task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskModel {
    /// The task.
    pub task: TaskKind,
    /// Training parameters.
    pub params: ForestParams,
    /// Bin edges of every feature.
    pub bins: BinMapper,
    /// The trees.
    pub forest: Forest,
    /// What it scored.
    pub metrics: TaskMetrics,
}

/// Metrics of a task's final forest.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskMetrics {
    /// Test split.
    pub test: Metrics,
    /// Training split.
    pub train: Metrics,
    /// Cross-validated tuning metric of the chosen parameters, when tuned.
    pub cv: Option<f64>,
    /// Name of the tuning metric (empty when not tuned).
    pub cv_metric: String,
    /// Out-of-bag error.
    pub oob_error: f64,
    /// Seconds of the final fit.
    pub fit_seconds: f64,
    /// Feature importances in schema order.
    pub feature_importances: Vec<f64>,
}

impl ModelArtifact {
    /// The model of `task`, if the artifact has one.
    pub fn task(&self, task: TaskKind) -> Option<&TaskModel> {
        self.tasks.iter().find(|t| t.task == task)
    }
}

/// Encodes a model file (envelope + payload).
pub fn encode_model(model: &ModelArtifact) -> Vec<u8> {
    let payload = model_to_pb(model).encode_to_vec();
    let sha256 = Sha256::digest(&payload).to_vec();
    pb::ModelFile { magic: MAGIC, format_version: FORMAT_VERSION, sha256, payload }.encode_to_vec()
}

/// Decodes and checks a model file: magic, format version, checksum, then every field.
pub fn decode_model(bytes: &[u8]) -> Result<ModelArtifact> {
    // Field 1, wire type fixed64 (tag byte 0x09), then the magic: prost writes fields in
    // number order, so every model file starts with these 9 bytes.
    let mut head = [0u8; 9];
    head[0] = 0x09;
    head[1..].copy_from_slice(&MAGIC.to_le_bytes());
    if !bytes.starts_with(&head) {
        let reason = if bytes.is_empty() {
            "the file is empty".to_string()
        } else if head.starts_with(bytes) {
            format!("only {} bytes (truncated)", bytes.len())
        } else {
            "it does not start with the model file magic".to_string()
        };
        return Err(Error::NotAModel { reason });
    }
    let file = pb::ModelFile::decode(bytes).map_err(|e| Error::decode("the file (truncated or corrupt)", e))?;
    if file.format_version == 0 {
        return Err(Error::field("format_version", "missing (truncated file?)"));
    }
    if file.format_version != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion { found: file.format_version, supported: FORMAT_VERSION });
    }
    if file.sha256.len() != 32 {
        return Err(Error::field("sha256", format!("{} bytes, expected 32 (truncated file?)", file.sha256.len())));
    }
    if Sha256::digest(&file.payload).as_slice() != file.sha256.as_slice() {
        return Err(Error::Checksum);
    }
    let model = pb::Model::decode(file.payload.as_slice()).map_err(|e| Error::decode("model payload", e))?;
    model_from_pb(model)
}

fn model_to_pb(m: &ModelArtifact) -> pb::Model {
    pb::Model {
        name: m.name.clone(),
        version: m.version,
        created_at_unix_ms: m.created_at_unix_ms,
        feature_schema: Some(pb::FeatureSchema { names: m.feature_names.clone() }),
        serving: Some(serving_to_pb(&m.serving)),
        job_spec_toml: m.job_spec_toml.clone(),
        tasks: m
            .tasks
            .iter()
            .map(|t| pb::TaskModel {
                task: match t.task {
                    TaskKind::Regression => pb::TaskKind::Regression,
                    TaskKind::Classification => pb::TaskKind::Classification,
                } as i32,
                params: Some(convert::params_to_pb(&t.params)),
                bins: Some(convert::bins_to_pb(&t.bins)),
                forest: t.forest.to_bytes(),
                metrics: Some(pb::TaskMetrics {
                    test: Some(metrics_to_pb(&t.metrics.test)),
                    train: Some(metrics_to_pb(&t.metrics.train)),
                    cv: t.metrics.cv,
                    cv_metric: t.metrics.cv_metric.clone(),
                    oob_error: t.metrics.oob_error,
                    fit_seconds: t.metrics.fit_seconds,
                    feature_importances: t.metrics.feature_importances.clone(),
                }),
            })
            .collect(),
    }
}

fn serving_to_pb(s: &ServingFeatures) -> pb::ServingFeatures {
    pb::ServingFeatures {
        run: s.run.clone(),
        global_mean: s.global_mean,
        global_std: s.global_std,
        prior_strength: s.prior_strength,
        good_threshold: s.good_threshold,
        genres: s.genres.iter().map(|g| pb::GenreColumn { genre: g.genre.clone(), column: g.column.clone() }).collect(),
        protocol: s.protocol.clone(),
        cf: s.cf.as_deref().map(crate::cf::cf_to_pb),
    }
}

/// Checks the serving essentials; every genre column must be one of `schema`'s features.
fn serving_from_pb(s: Option<pb::ServingFeatures>, schema: &HashSet<&str>) -> Result<ServingFeatures> {
    let s = s.ok_or_else(|| Error::missing("serving"))?;
    if s.run.is_empty() {
        return Err(Error::missing("serving.run"));
    }
    for (field, v, min) in [
        ("serving.global_mean", s.global_mean, f64::NEG_INFINITY),
        ("serving.global_std", s.global_std, 0.0),
        ("serving.prior_strength", s.prior_strength, 0.0),
        ("serving.good_threshold", s.good_threshold, f64::NEG_INFINITY),
    ] {
        if !(v.is_finite() && v >= min) {
            return Err(Error::field(field, format!("{v} is out of range")));
        }
    }
    for (i, g) in s.genres.iter().enumerate() {
        if !schema.contains(g.column.as_str()) {
            return Err(Error::field(
                format!("serving.genres[{i}].column"),
                format!("{:?} is not in the feature schema", g.column),
            ));
        }
    }
    Ok(ServingFeatures {
        run: s.run,
        global_mean: s.global_mean,
        global_std: s.global_std,
        prior_strength: s.prior_strength,
        good_threshold: s.good_threshold,
        genres: s.genres.into_iter().map(|g| GenreColumn { genre: g.genre, column: g.column }).collect(),
        protocol: s.protocol,
        cf: s.cf.map(|m| crate::cf::cf_from_pb(m, "serving.cf").map(std::sync::Arc::new)).transpose()?,
    })
}

fn metrics_to_pb(m: &Metrics) -> pb::Metrics {
    use pb::metrics::Kind;
    let kind = match m {
        Metrics::Regression { rows, rmse, mse, mae, r2, explained_variance } => {
            Kind::Regression(pb::RegressionMetrics {
                rows: *rows,
                rmse: *rmse,
                mse: *mse,
                mae: *mae,
                r2: *r2,
                explained_variance: *explained_variance,
            })
        }
        Metrics::Classification {
            rows,
            accuracy,
            precision,
            recall,
            f1,
            weighted_f1,
            roc_auc,
            pr_auc,
            log_loss,
            confusion,
        } => Kind::Classification(pb::ClassificationMetrics {
            rows: *rows,
            accuracy: *accuracy,
            precision: *precision,
            recall: *recall,
            f1: *f1,
            weighted_f1: *weighted_f1,
            roc_auc: *roc_auc,
            pr_auc: *pr_auc,
            log_loss: *log_loss,
            num_classes: u32::try_from(confusion.len()).unwrap_or(u32::MAX),
            confusion: confusion.iter().flatten().copied().collect(),
        }),
    };
    pb::Metrics { kind: Some(kind) }
}

fn metrics_from_pb(m: Option<pb::Metrics>, at: &str) -> Result<Metrics> {
    use pb::metrics::Kind;
    match m.and_then(|m| m.kind) {
        None => Err(Error::missing(at)),
        Some(Kind::Regression(r)) => Ok(Metrics::Regression {
            rows: r.rows,
            rmse: r.rmse,
            mse: r.mse,
            mae: r.mae,
            r2: r.r2,
            explained_variance: r.explained_variance,
        }),
        Some(Kind::Classification(c)) => {
            let k = c.num_classes as usize;
            if k.checked_mul(k) != Some(c.confusion.len()) {
                return Err(Error::field(
                    format!("{at}.classification.confusion"),
                    format!("{} values for {k} classes", c.confusion.len()),
                ));
            }
            Ok(Metrics::Classification {
                rows: c.rows,
                accuracy: c.accuracy,
                precision: c.precision,
                recall: c.recall,
                f1: c.f1,
                weighted_f1: c.weighted_f1,
                roc_auc: c.roc_auc,
                pr_auc: c.pr_auc,
                log_loss: c.log_loss,
                confusion: c.confusion.chunks(k.max(1)).map(<[f64]>::to_vec).collect(),
            })
        }
    }
}

fn model_from_pb(m: pb::Model) -> Result<ModelArtifact> {
    if m.name.is_empty() {
        return Err(Error::missing("name"));
    }
    if m.version == 0 {
        return Err(Error::field("version", "0 (versions count from 1)"));
    }
    let names = m.feature_schema.ok_or_else(|| Error::missing("feature_schema"))?.names;
    if names.is_empty() {
        return Err(Error::field("feature_schema.names", "empty"));
    }
    let mut seen = HashSet::new();
    for (i, n) in names.iter().enumerate() {
        if n.is_empty() {
            return Err(Error::field(format!("feature_schema.names[{i}]"), "empty"));
        }
        if !seen.insert(n.as_str()) {
            return Err(Error::field(format!("feature_schema.names[{i}]"), format!("duplicate name {n:?}")));
        }
    }
    let nf = names.len();
    let serving = serving_from_pb(m.serving, &seen)?;
    if m.tasks.is_empty() {
        return Err(Error::field("tasks", "empty (a model has at least one task)"));
    }
    let mut tasks: Vec<TaskModel> = Vec::with_capacity(m.tasks.len());
    for (i, t) in m.tasks.into_iter().enumerate() {
        let at = format!("tasks[{i}]");
        let task = match pb::TaskKind::try_from(t.task) {
            Ok(pb::TaskKind::Regression) => TaskKind::Regression,
            Ok(pb::TaskKind::Classification) => TaskKind::Classification,
            Ok(pb::TaskKind::Unspecified) | Err(_) => {
                return Err(Error::field(path(&at, "task"), format!("unknown value {}", t.task)));
            }
        };
        if tasks.iter().any(|x| x.task == task) {
            return Err(Error::field(path(&at, "task"), format!("{} appears twice", task.as_str())));
        }
        let params = convert::params_from_pb(
            t.params.ok_or_else(|| Error::missing(path(&at, "params")))?,
            &path(&at, "params"),
        )?;
        let engine_task = Task::from(task);
        params.validate_for(engine_task).map_err(|e| Error::tree(path(&at, "params"), e))?;
        let bins = convert::bins_from_pb(t.bins.ok_or_else(|| Error::missing(path(&at, "bins")))?, &path(&at, "bins"))?;
        if bins.num_features() != nf {
            return Err(Error::field(
                path(&at, "bins.features"),
                format!("{} features, the schema has {nf}", bins.num_features()),
            ));
        }
        let forest = convert::forest_from_codec(&t.forest, engine_task, &params, nf, &path(&at, "forest"))?;
        let mt = t.metrics.ok_or_else(|| Error::missing(path(&at, "metrics")))?;
        if mt.feature_importances.len() != nf {
            return Err(Error::field(
                path(&at, "metrics.feature_importances"),
                format!("{} values, the schema has {nf} features", mt.feature_importances.len()),
            ));
        }
        let metrics = TaskMetrics {
            test: metrics_from_pb(mt.test, &path(&at, "metrics.test"))?,
            train: metrics_from_pb(mt.train, &path(&at, "metrics.train"))?,
            cv: mt.cv,
            cv_metric: mt.cv_metric,
            oob_error: mt.oob_error,
            fit_seconds: mt.fit_seconds,
            feature_importances: mt.feature_importances,
        };
        tasks.push(TaskModel { task, params, bins, forest, metrics });
    }
    Ok(ModelArtifact {
        name: m.name,
        version: m.version,
        created_at_unix_ms: m.created_at_unix_ms,
        feature_names: names,
        serving,
        job_spec_toml: m.job_spec_toml,
        tasks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reelforest_tree::{BinnedMatrix, TrainingSet, train};

    /// A valid one-task payload (regression on 2 features, 3 trees).
    fn payload() -> pb::Model {
        let x0: Vec<f64> = (0..200).map(|i| f64::from(i % 13)).collect();
        let x1: Vec<f64> = (0..200).map(|i| f64::from(i % 7)).collect();
        let y: Vec<f64> = x0.iter().zip(&x1).map(|(a, b)| a + 2.0 * b).collect();
        let params = ForestParams { num_trees: 3, max_depth: 4, ..ForestParams::default() };
        let binned = BinnedMatrix::from_columns(&[x0, x1], params.max_bins, params.seed).expect("bins");
        let data = TrainingSet::new(&binned, &y, None, Task::Regression).expect("data");
        let forest = train(&data, &params).expect("trains");
        let m = Metrics::Regression { rows: 1, rmse: 0.0, mse: 0.0, mae: 0.0, r2: 1.0, explained_variance: 1.0 };
        model_to_pb(&ModelArtifact {
            name: "m".into(),
            version: 1,
            created_at_unix_ms: 0,
            feature_names: vec!["a".into(), "b".into()],
            serving: ServingFeatures {
                run: "honest".into(),
                global_mean: 3.0,
                global_std: 1.0,
                prior_strength: 10.0,
                good_threshold: 4.0,
                genres: vec![],
                protocol: "honest".into(),
                cf: None,
            },
            job_spec_toml: String::new(),
            tasks: vec![TaskModel {
                task: TaskKind::Regression,
                metrics: TaskMetrics {
                    test: m.clone(),
                    train: m,
                    cv: None,
                    cv_metric: String::new(),
                    oob_error: 0.0,
                    fit_seconds: 0.0,
                    feature_importances: forest.feature_importances(),
                },
                params,
                bins: binned.mapper().clone(),
                forest,
            }],
        })
    }

    /// Wraps a (possibly damaged) payload in a valid envelope, as a buggy writer would.
    fn file(m: &pb::Model) -> Vec<u8> {
        let payload = m.encode_to_vec();
        let sha256 = Sha256::digest(&payload).to_vec();
        pb::ModelFile { magic: MAGIC, format_version: FORMAT_VERSION, sha256, payload }.encode_to_vec()
    }

    fn damaged(f: impl FnOnce(&mut pb::Model)) -> String {
        let mut m = payload();
        f(&mut m);
        decode_model(&file(&m)).expect_err("damaged payload accepted").to_string()
    }

    /// The damaged payload's error with its sources, as `error_chain` prints it.
    fn damaged_chain(f: impl FnOnce(&mut pb::Model)) -> String {
        let mut m = payload();
        f(&mut m);
        let e = decode_model(&file(&m)).expect_err("damaged payload accepted");
        let mut text = e.to_string();
        let mut cur = std::error::Error::source(&e);
        while let Some(c) = cur {
            text = format!("{text}: {c}");
            cur = c.source();
        }
        text
    }

    /// Overwrites bytes of the first task's forest at `at`.
    fn patch_forest(at: usize, v: &[u8]) -> impl FnOnce(&mut pb::Model) {
        let v = v.to_vec();
        move |m: &mut pb::Model| m.tasks[0].forest[at..at + v.len()].copy_from_slice(&v)
    }

    /// Offsets in the payload's forest (regression, no thresholds; see `TaskModel.forest` in
    /// model.proto): the header is 39 bytes, then numTrees and tree 0's index and node count.
    const NUM_FEATURES: usize = 8 + 4 + 1 + 4;
    const SEED: usize = NUM_FEATURES + 4;
    const TREE0_INDEX: usize = 39 + 4;
    const TREE0_ROOT_PREDICTION: usize = TREE0_INDEX + 8 + 3 * 8;

    #[test]
    fn valid_payload_decodes() {
        assert!(decode_model(&file(&payload())).is_ok());
    }

    #[test]
    fn corrupt_forest_is_named() {
        assert_eq!(damaged(|m| m.tasks[0].forest.clear()), "tasks[0].forest: missing");
        assert_eq!(
            damaged_chain(|m| m.tasks[0].forest.truncate(20)),
            "tasks[0].forest is invalid: corrupt forest encoding: truncated while reading numFeatures at byte 17"
        );
        assert_eq!(
            damaged_chain(|m| m.tasks[0].forest = b"not a forest".to_vec()),
            "tasks[0].forest is invalid: corrupt forest encoding: not a reelforest forest (bad magic)"
        );
        assert_eq!(
            damaged_chain(|m| m.tasks[0].forest.push(0)),
            "tasks[0].forest is invalid: corrupt forest encoding: 1 trailing bytes"
        );
        assert_eq!(
            damaged_chain(patch_forest(TREE0_ROOT_PREDICTION, &f64::INFINITY.to_le_bytes())),
            "tasks[0].forest is invalid: corrupt forest encoding: tree 0 node 0: prediction inf is not finite"
        );
        assert_eq!(
            damaged_chain(patch_forest(TREE0_INDEX, &1u32.to_le_bytes())),
            "tasks[0].forest is invalid: tree index 1 appears more than once"
        );
    }

    #[test]
    fn forest_disagreeing_with_the_task_is_named() {
        assert_eq!(
            damaged(patch_forest(NUM_FEATURES, &3u32.to_le_bytes())),
            "tasks[0].forest: 3 features, the schema has 2"
        );
        let seed = ForestParams::default().seed;
        assert_eq!(
            damaged(patch_forest(SEED, &(seed + 1).to_le_bytes())),
            format!("tasks[0].forest: seed {}, the parameters say seed = {seed}", seed + 1)
        );
        let json = r#"{"numTrees": 4, "maxDepth": 4}"#.to_string();
        assert_eq!(
            damaged(move |m| m.tasks[0].params.as_mut().expect("params").json = json),
            "tasks[0].forest: 3 trees, the parameters say numTrees = 4"
        );
        let classifier = |m: &mut pb::Model| m.tasks[0].task = pb::TaskKind::Classification as i32;
        assert_eq!(damaged(classifier), "tasks[0].forest: 0 classes, the task has 2");
    }

    #[test]
    fn envelope_and_payload_fields_are_named() {
        assert_eq!(damaged(|m| m.tasks[0].params = None), "tasks[0].params: missing");
        assert_eq!(damaged(|m| m.tasks[0].task = 9), "tasks[0].task: unknown value 9");
        let set_json = |json: &str| {
            let json = json.to_string();
            damaged(move |m| m.tasks[0].params.as_mut().expect("params").json = json)
        };
        assert_eq!(set_json(r#"{"maxBins": 1}"#), "tasks[0].params.maxBins: 1 is not in 2..=256");
        assert_eq!(set_json(r#"{"subsamplingRate": 0.0}"#), "tasks[0].params is invalid");
        assert!(set_json(r#"{"numTree": 3}"#).starts_with("tasks[0].params.numTree: unknown field `numTree`"));
        let eof = set_json("{");
        assert!(eof.starts_with("tasks[0].params.json: EOF while parsing"), "{eof}");
        assert_eq!(
            damaged(|m| m.tasks[0].params.as_mut().expect("params").kind = "als".into()),
            "tasks[0].params.kind: \"als\", expected \"random_forest\""
        );
        assert_eq!(
            damaged(|m| m.tasks[0].bins.as_mut().expect("bins").features[0].thresholds.reverse()),
            "tasks[0].bins.features[0].thresholds: not strictly increasing at value 1"
        );
        assert_eq!(damaged(|m| m.feature_schema = None), "feature_schema: missing");
        assert_eq!(damaged(|m| m.version = 0), "version: 0 (versions count from 1)");
        assert_eq!(damaged(|m| m.tasks.clear()), "tasks: empty (a model has at least one task)");
        assert_eq!(
            damaged(|m| m.serving.as_mut().expect("serving").global_std = f64::NAN),
            "serving.global_std: NaN is out of range"
        );
        // Sources stay attached.
        let mut m = payload();
        m.tasks[0].forest.truncate(20);
        let e = decode_model(&file(&m)).expect_err("truncated forest");
        let src = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(src.as_deref(), Some("corrupt forest encoding: truncated while reading numFeatures at byte 17"));
    }

    #[test]
    fn missing_checksum_is_named() {
        let m = payload();
        let bytes =
            pb::ModelFile { magic: MAGIC, format_version: FORMAT_VERSION, sha256: vec![], payload: m.encode_to_vec() }
                .encode_to_vec();
        assert_eq!(
            decode_model(&bytes).expect_err("no checksum").to_string(),
            "sha256: 0 bytes, expected 32 (truncated file?)"
        );
    }
}
