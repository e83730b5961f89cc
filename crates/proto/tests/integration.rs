//! Model files end to end: round trip, and every kind of damaged file gives an error (checked
//! text), never a panic or a model that predicts something else.

use reelforest_features::GenreColumn;
use reelforest_features::online::ServingFeatures;
use reelforest_proto::{Error, ModelArtifact, TaskKind, TaskMetrics, TaskModel, decode_model, encode_model};
use reelforest_tree::metrics::Metrics;
use reelforest_tree::{BinnedMatrix, ForestParams, Task, TrainingSet, train};

fn columns() -> Vec<Vec<f64>> {
    let x0: Vec<f64> = (0..300).map(|i| f64::from(i % 17) / 17.0).collect();
    let x1: Vec<f64> = (0..300).map(|i| if i % 11 == 0 { f64::NAN } else { f64::from(i % 5) }).collect();
    vec![x0, x1]
}

fn task_model(task: TaskKind) -> TaskModel {
    let cols = columns();
    let (engine_task, params, y): (Task, ForestParams, Vec<f64>) = match task {
        TaskKind::Regression => (
            Task::Regression,
            ForestParams { num_trees: 4, max_depth: 4, ..ForestParams::default() },
            cols[0].iter().zip(&cols[1]).map(|(a, b)| a * 3.0 + if b.is_nan() { 1.0 } else { *b }).collect(),
        ),
        TaskKind::Classification => (
            Task::Classification { num_classes: 2 },
            ForestParams { num_trees: 3, max_depth: 3, ..ForestParams::default() },
            cols[0].iter().map(|a| f64::from(u8::from(*a > 0.5))).collect(),
        ),
    };
    let binned = BinnedMatrix::from_columns(&cols, params.max_bins, params.seed).expect("bins");
    let data = TrainingSet::new(&binned, &y, None, engine_task).expect("data");
    let forest = train(&data, &params).expect("trains");
    let test = match task {
        TaskKind::Regression => {
            Metrics::Regression { rows: 10, rmse: 0.9, mse: 0.81, mae: 0.7, r2: 0.3, explained_variance: 0.31 }
        }
        TaskKind::Classification => Metrics::Classification {
            rows: 10,
            accuracy: 0.8,
            precision: 0.7,
            recall: 0.6,
            f1: 0.65,
            weighted_f1: 0.79,
            roc_auc: Some(0.85),
            pr_auc: None,
            log_loss: 0.4,
            confusion: vec![vec![5.0, 1.0], vec![1.0, 3.0]],
        },
    };
    TaskModel {
        task,
        metrics: TaskMetrics {
            train: test.clone(),
            test,
            cv: Some(0.91),
            cv_metric: "rmse".into(),
            oob_error: 0.5,
            fit_seconds: 0.01,
            feature_importances: forest.feature_importances(),
        },
        params,
        bins: binned.mapper().clone(),
        forest,
    }
}

fn artifact() -> ModelArtifact {
    ModelArtifact {
        name: "demo".into(),
        version: 3,
        created_at_unix_ms: 1_700_000_000_000,
        feature_names: vec!["avg_user_rating".into(), "genre_drama".into()],
        serving: ServingFeatures {
            run: "honest".into(),
            global_mean: 3.5,
            global_std: 1.1,
            prior_strength: 10.0,
            good_threshold: 4.0,
            genres: vec![GenreColumn { genre: "Drama".into(), column: "genre_drama".into() }],
            protocol: "honest".into(),
            cf: None,
        },
        job_spec_toml: "name = \"demo\"\n".into(),
        tasks: vec![task_model(TaskKind::Regression), task_model(TaskKind::Classification)],
    }
}

fn err_text(bytes: &[u8]) -> String {
    decode_model(bytes).expect_err("must be rejected").to_string()
}

#[test]
fn model_round_trips_and_predicts_the_same() {
    let a = artifact();
    let b = decode_model(&encode_model(&a)).expect("decodes");
    assert_eq!(a, b);
    let rows = [vec![0.3, 2.0], vec![0.9, f64::NAN]];
    for (x, y) in a.tasks.iter().zip(&b.tasks) {
        for r in &rows {
            assert_eq!(x.forest.predict_row(r).expect("row"), y.forest.predict_row(r).expect("row"));
        }
    }
    // Deterministic bytes.
    assert_eq!(encode_model(&a), encode_model(&b));
}

#[test]
fn empty_and_foreign_files_are_not_models() {
    assert_eq!(err_text(b""), "not a reelforest model file: the file is empty");
    assert_eq!(
        err_text(b"{\"format_version\": 1}"),
        "not a reelforest model file: it does not start with the model file magic"
    );
    let bytes = encode_model(&artifact());
    assert_eq!(err_text(&bytes[..5]), "not a reelforest model file: only 5 bytes (truncated)");
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = encode_model(&artifact());
    for len in 0..bytes.len() {
        let e = decode_model(&bytes[..len]).expect_err("truncated file accepted");
        assert!(
            matches!(e, Error::NotAModel { .. } | Error::Decode { .. } | Error::Field { .. } | Error::Checksum),
            "{len}: {e}"
        );
    }
    assert_eq!(err_text(&bytes[..9]), "format_version: missing (truncated file?)");
    // Cut inside the payload: the protobuf decoder sees the missing bytes.
    assert_eq!(err_text(&bytes[..bytes.len() - 10]), "cannot decode the file (truncated or corrupt)");
}

#[test]
fn every_bit_flip_is_an_error() {
    let bytes = encode_model(&artifact());
    let mut flipped = bytes.clone();
    for i in 0..bytes.len() {
        for bit in 0..8 {
            flipped[i] ^= 1 << bit;
            assert!(decode_model(&flipped).is_err(), "flip of bit {bit} of byte {i} accepted");
            flipped[i] ^= 1 << bit;
        }
    }
    // A flip inside the payload is caught by the checksum.
    let mut b = bytes.clone();
    let n = b.len();
    b[n - 100] ^= 0x10;
    assert_eq!(err_text(&b), "corrupt file: the payload's SHA-256 does not match the recorded checksum");
}

#[test]
fn wrong_format_version_is_rejected() {
    let mut bytes = encode_model(&artifact());
    // Byte 9 is the tag of field 2 (format_version, varint), byte 10 its value.
    assert_eq!(bytes[9], 0x10);
    // Versions 1 and 2 (forests as `Forest` messages) are refused by their number.
    for old in [1u8, 2] {
        bytes[10] = old;
        assert_eq!(err_text(&bytes), format!("unsupported model format version {old} (this build reads version 3)"));
    }
}

#[test]
fn schema_mismatches_name_the_field() {
    let mut a = artifact();
    a.feature_names.push("extra".into());
    assert_eq!(err_text(&encode_model(&a)), "tasks[0].bins.features: 2 features, the schema has 3");

    let mut a = artifact();
    a.tasks[1].bins = a.tasks[0].bins.clone();
    a.tasks[1].metrics.feature_importances.pop();
    assert_eq!(
        err_text(&encode_model(&a)),
        "tasks[1].metrics.feature_importances: 1 values, the schema has 2 features"
    );

    let mut a = artifact();
    a.serving.genres[0].column = "genre_comedy".into();
    assert_eq!(err_text(&encode_model(&a)), "serving.genres[0].column: \"genre_comedy\" is not in the feature schema");

    let mut a = artifact();
    a.feature_names[1] = a.feature_names[0].clone();
    assert_eq!(err_text(&encode_model(&a)), "feature_schema.names[1]: duplicate name \"avg_user_rating\"");

    let mut a = artifact();
    a.tasks[1].task = TaskKind::Regression;
    assert_eq!(err_text(&encode_model(&a)), "tasks[1].task: regression appears twice");

    let mut a = artifact();
    a.tasks[0].params.num_trees = 5;
    assert_eq!(err_text(&encode_model(&a)), "tasks[0].forest: 4 trees, the parameters say numTrees = 5");
}
