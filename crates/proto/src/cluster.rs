//! Checked conversions of the cluster's task messages (`cluster.proto`): the feature run a
//! task's table belongs to ([`FeatureRun`]) and the task kind. Incoming messages are checked
//! field by field; errors name the field by its path under the caller's prefix
//! (`fit.feature_run.spec.split`).

use crate::convert::path;
use crate::error::{Error, Result};
use crate::pb;
use reelforest_core::TaskKind;
use reelforest_features::{FeatureRun, FeatureSpec, GenreColumn, Protocol, SplitSpec};

/// A task kind as its wire enum value.
pub fn task_kind_to_wire(task: TaskKind) -> i32 {
    match task {
        TaskKind::Regression => pb::TaskKind::Regression as i32,
        TaskKind::Classification => pb::TaskKind::Classification as i32,
    }
}

/// Checks a task kind's wire value; `field` names it in the error (`fit.task`).
pub fn task_kind_from_wire(value: i32, field: &str) -> Result<TaskKind> {
    match pb::TaskKind::try_from(value) {
        Ok(pb::TaskKind::Regression) => Ok(TaskKind::Regression),
        Ok(pb::TaskKind::Classification) => Ok(TaskKind::Classification),
        Ok(pb::TaskKind::Unspecified) | Err(_) => Err(Error::field(field, format!("unknown task kind {value}"))),
    }
}

/// A feature run as its wire message.
pub fn feature_run_to_wire(run: &FeatureRun) -> pb::FeatureRun {
    pb::FeatureRun {
        version: run.version,
        run: run.run.clone(),
        spec: Some(spec_to_wire(&run.spec)),
        split_table: run.split_table.clone(),
        feature_columns: run.feature_columns.clone(),
        label: run.label.clone(),
        good_label: run.good_label.clone(),
        global_mean: run.global_mean,
        global_std: run.global_std,
        genres: run
            .genres
            .iter()
            .map(|g| pb::GenreColumn { genre: g.genre.clone(), column: g.column.clone() })
            .collect(),
        train_rows: run.train_rows,
        test_rows: run.test_rows,
        online_users: run.online_users,
        online_movies: run.online_movies,
    }
}

fn spec_to_wire(spec: &FeatureSpec) -> pb::FeatureSpec {
    let split = match &spec.split {
        SplitSpec::Random { test_fraction } => {
            pb::feature_spec::Split::Random(pb::FractionSplit { test_fraction: *test_fraction })
        }
        SplitSpec::Temporal { test_fraction } => {
            pb::feature_spec::Split::Temporal(pb::FractionSplit { test_fraction: *test_fraction })
        }
        SplitSpec::Predefined { name } => pb::feature_spec::Split::Predefined(name.clone()),
    };
    let protocol = match spec.protocol {
        Protocol::Honest => pb::FeatureProtocol::Honest,
        Protocol::Leaky => pb::FeatureProtocol::Leaky,
    };
    pb::FeatureSpec {
        split: Some(split),
        protocol: protocol as i32,
        folds: spec.folds,
        seed: spec.seed,
        good_threshold: spec.good_threshold,
        prior_strength: spec.prior_strength,
        target_partitions: spec.target_partitions.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)),
        extra_feature_tables: spec.extra_feature_tables.clone(),
        cf_json: serde_json::to_string(&spec.cf).unwrap_or_default(),
    }
}

/// Checks and converts a feature run; errors name the field under `prefix`
/// (`fit.feature_run`).
pub fn feature_run_from_wire(msg: pb::FeatureRun, prefix: &str) -> Result<FeatureRun> {
    if msg.version != FeatureRun::VERSION {
        return Err(Error::field(
            path(prefix, "version"),
            format!("{} (this build reads version {})", msg.version, FeatureRun::VERSION),
        ));
    }
    if msg.run.is_empty() {
        return Err(Error::field(path(prefix, "run"), "empty"));
    }
    for (name, v) in [("global_mean", msg.global_mean), ("global_std", msg.global_std)] {
        if !v.is_finite() {
            return Err(Error::field(path(prefix, name), format!("{v} is not finite")));
        }
    }
    let spec = msg.spec.ok_or_else(|| Error::missing(path(prefix, "spec")))?;
    let spec = spec_from_wire(spec, &path(prefix, "spec"))?;
    Ok(FeatureRun {
        version: msg.version,
        run: msg.run,
        spec,
        split_table: msg.split_table,
        feature_columns: msg.feature_columns,
        label: msg.label,
        good_label: msg.good_label,
        global_mean: msg.global_mean,
        global_std: msg.global_std,
        genres: msg.genres.into_iter().map(|g| GenreColumn { genre: g.genre, column: g.column }).collect(),
        train_rows: msg.train_rows,
        test_rows: msg.test_rows,
        online_users: msg.online_users,
        online_movies: msg.online_movies,
        cf_models: None,
    })
}

fn spec_from_wire(msg: pb::FeatureSpec, prefix: &str) -> Result<FeatureSpec> {
    let split = match msg.split {
        Some(pb::feature_spec::Split::Random(f)) => SplitSpec::Random { test_fraction: f.test_fraction },
        Some(pb::feature_spec::Split::Temporal(f)) => SplitSpec::Temporal { test_fraction: f.test_fraction },
        Some(pb::feature_spec::Split::Predefined(name)) => SplitSpec::Predefined { name },
        None => return Err(Error::missing(path(prefix, "split"))),
    };
    let protocol = match pb::FeatureProtocol::try_from(msg.protocol) {
        Ok(pb::FeatureProtocol::Honest) => Protocol::Honest,
        Ok(pb::FeatureProtocol::Leaky) => Protocol::Leaky,
        Ok(pb::FeatureProtocol::Unspecified) | Err(_) => {
            return Err(Error::field(path(prefix, "protocol"), format!("unknown value {}", msg.protocol)));
        }
    };
    let spec = FeatureSpec {
        split,
        protocol,
        folds: msg.folds,
        seed: msg.seed,
        good_threshold: msg.good_threshold,
        prior_strength: msg.prior_strength,
        target_partitions: (msg.target_partitions > 0).then_some(msg.target_partitions as usize),
        extra_feature_tables: msg.extra_feature_tables,
        cf: {
            let mut de = serde_json::Deserializer::from_str(&msg.cf_json);
            serde_path_to_error::deserialize(&mut de)
                .map_err(|e| Error::field(path(prefix, "cf_json"), e.to_string()))?
        },
    };
    // The spec's own check names the bad field relative to the spec.
    spec.validate().map_err(|e| Error::field(prefix, e.to_string()))?;
    Ok(spec)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn run() -> FeatureRun {
        FeatureRun {
            version: FeatureRun::VERSION,
            run: "cv0".into(),
            spec: FeatureSpec {
                split: SplitSpec::Temporal { test_fraction: 0.25 },
                protocol: Protocol::Leaky,
                target_partitions: Some(3),
                extra_feature_tables: vec!["mf.preds".into()],
                cf: reelforest_features::CfSpec {
                    models: vec![reelforest_features::CfKind::Als],
                    ..reelforest_features::CfSpec::default()
                },
                ..FeatureSpec::default()
            },
            split_table: "cv0.split".into(),
            feature_columns: vec!["avg_user_rating".into(), "genre_drama".into()],
            label: "rating".into(),
            good_label: "good".into(),
            global_mean: 3.5,
            global_std: 1.25,
            genres: vec![GenreColumn { genre: "Drama".into(), column: "genre_drama".into() }],
            train_rows: 80,
            test_rows: 20,
            online_users: 7,
            online_movies: 9,
            cf_models: None,
        }
    }

    #[test]
    fn feature_runs_round_trip() {
        for r in [run(), FeatureRun { spec: FeatureSpec::default(), ..run() }] {
            assert_eq!(feature_run_from_wire(feature_run_to_wire(&r), "fit.feature_run").unwrap(), r);
        }
        let mut predefined = run();
        predefined.spec.split = SplitSpec::Predefined { name: "u1".into() };
        predefined.spec.target_partitions = None;
        assert_eq!(feature_run_from_wire(feature_run_to_wire(&predefined), "").unwrap(), predefined);
    }

    #[test]
    fn bad_feature_runs_name_the_field() {
        let bad = |f: fn(&mut pb::FeatureRun)| {
            let mut m = feature_run_to_wire(&run());
            f(&mut m);
            feature_run_from_wire(m, "fit.feature_run").unwrap_err().to_string()
        };
        assert_eq!(bad(|m| m.version = 9), "fit.feature_run.version: 9 (this build reads version 1)");
        assert_eq!(bad(|m| m.global_std = f64::NAN), "fit.feature_run.global_std: NaN is not finite");
        assert_eq!(bad(|m| m.spec = None), "fit.feature_run.spec: missing");
        assert_eq!(bad(|m| m.spec.as_mut().unwrap().split = None), "fit.feature_run.spec.split: missing");
        assert_eq!(bad(|m| m.spec.as_mut().unwrap().protocol = 7), "fit.feature_run.spec.protocol: unknown value 7");
        let e = bad(|m| m.spec.as_mut().unwrap().folds = 1);
        assert!(e.starts_with("fit.feature_run.spec: ") && e.contains("folds"), "{e}");
    }

    #[test]
    fn task_kinds() {
        for t in [TaskKind::Regression, TaskKind::Classification] {
            assert_eq!(task_kind_from_wire(task_kind_to_wire(t), "fit.task").unwrap(), t);
        }
        assert_eq!(task_kind_from_wire(0, "fit.task").unwrap_err().to_string(), "fit.task: unknown task kind 0");
    }
}
