//! Job-spec checking: every bad spec gives an error that names the key, with the exact text
//! checked, and the example jobs in `examples/jobs/` parse.

use reelforest_pipeline::{Estimator, JobSpec};
use reelforest_tree::{FeatureSubsetStrategy, ForestParams, MaxBins};

fn err(toml: &str) -> String {
    JobSpec::from_toml(toml, "job.toml").expect_err("spec must be rejected").to_string()
}

#[test]
fn unknown_keys_are_named() {
    let e = err("name = \"a\"\n[forest]\nnumTreez = 3\n");
    assert!(e.starts_with("invalid job spec job.toml: "), "{e}");
    assert!(e.contains("unknown field `numTreez`"), "{e}");
    let e = err("name = \"a\"\ncolour = 1\n");
    assert!(e.contains("unknown field `colour`"), "{e}");
    let e = err("name = \"a\"\n[features]\nfoldz = 3\n");
    assert!(e.contains("unknown field `foldz`"), "{e}");
    let e = err("name = \"a\"\n[features.cf]\nmodels = [\"svdpp\"]\n");
    assert!(e.contains("unknown variant `svdpp`, expected one of `baseline`, `als`, `mf`, `knn`, `implicit`"), "{e}");
    let e = err("name = \"a\"\n[features.cf.als]\nrnak = 3\n");
    assert!(e.contains("unknown field `rnak`"), "{e}");
    let e = err("name = \"a\"\n[ranking]\ntop = 3\n");
    assert!(e.contains("unknown field `top`"), "{e}");
}

#[test]
fn out_of_range_values_are_named() {
    let cases = [
        ("name = \"a\"\n[forest]\nmaxBins = 300\n", "invalid job spec job.toml: forest.maxBins: 300 is not in 2..=256"),
        ("name = \"a\"\n[forest]\nnumTrees = 0\n", "invalid job spec job.toml: forest.numTrees: must be at least 1"),
        (
            "name = \"a\"\n[forest]\nsubsamplingRate = 1.5\n",
            "invalid job spec job.toml: forest.subsamplingRate: 1.5 is not in (0, 1]",
        ),
        (
            "name = \"a\"\n[forest]\nimpurity = \"mse\"\n",
            "invalid job spec job.toml: forest.impurity: unknown variant `mse`, expected one of `variance`, `gini`, `entropy`",
        ),
        (
            "name = \"a\"\n[forest]\nminWeightFractionPerNode = 0.5\n",
            "invalid job spec job.toml: forest.minWeightFractionPerNode: 0.5 is not in [0, 0.5)",
        ),
        (
            "name = \"bad name\"\n",
            "invalid job spec job.toml: name: \"bad name\" must be 1-64 letters, digits, '_' or '-'",
        ),
        (
            "name = \"a\"\ntasks = []\n",
            "invalid job spec job.toml: tasks: give at least one of \"regression\", \"classification\"",
        ),
        ("name = \"a\"\n[tuning]\nnumFolds = 1\n", "invalid job spec job.toml: tuning.numFolds: 1 must be at least 2"),
        (
            "name = \"a\"\n[features.cf.als]\nrank = 0\n",
            "invalid job spec job.toml: features: invalid feature spec: cf.als: invalid parameter rank: 0 is not in 1..=1000",
        ),
        (
            "name = \"a\"\n[features.cf.knn]\nk = 50\nmaxNeighbors = 40\n",
            "invalid job spec job.toml: features: invalid feature spec: cf.knn: invalid parameter maxNeighbors: 40 is less than k = 50",
        ),
        (
            "name = \"a\"\n[features.cf.knn.baseline]\nregUser = -1.0\n",
            "invalid job spec job.toml: features: invalid feature spec: cf.knn: invalid parameter baseline.regUser: -1 must be finite and >= 0",
        ),
        ("name = \"a\"\n[ranking]\nk = 0\n", "invalid job spec job.toml: ranking.k: must be at least 1"),
        (
            "name = \"a\"\n[tuning]\nmetric = \"rsme\"\n",
            "invalid job spec job.toml: tuning.metric: unknown metric \"rsme\" (rmse, mse, mae, r2, auc, pr_auc, accuracy, f1, logloss)",
        ),
        (
            "name = \"a\"\ntasks = [\"regression\", \"classification\"]\n[tuning]\nmetric = \"rmse\"\n",
            "invalid job spec job.toml: tuning.metric: \"rmse\" does not apply to classification, which is in `tasks`; \
             drop tuning.metric to tune each task on its default (rmse for regression, auc for classification)",
        ),
        (
            "name = \"a\"\n[tuning.grid]\nmaxBins = [16, 512]\n",
            "invalid job spec job.toml: tuning.grid.maxBins: 512 is not in 2..=256",
        ),
        (
            "name = \"a\"\n[data]\nsource = \"synth\"\nsynth = { ratings = 0 }\n",
            "invalid job spec job.toml: data.synth.ratings: must be at least 1",
        ),
    ];
    for (toml, expected) in cases {
        assert_eq!(err(toml), expected, "for spec:\n{toml}");
    }
    let more = [
        (
            "name = \"a\"\n[model]\nkind = \"random_forest\"\nmaxBins = 512\n",
            "invalid job spec job.toml: model.maxBins: 512 is not in 2..=256",
        ),
        ("name = \"a\"\n[model]\nnumTrees = 0\n", "invalid job spec job.toml: model.numTrees: must be at least 1"),
        ("name = \"a\"\n[forest]\nmaxBins = 1\n", "invalid job spec job.toml: forest.maxBins: 1 is not in 2..=256"),
        (
            "name = \"a\"\n[model]\nkind = \"gbt\"\n",
            "invalid job spec job.toml: model.kind: unknown estimator \"gbt\" (random_forest)",
        ),
        (
            "name = \"a\"\n[model]\n[forest]\n",
            "invalid job spec job.toml: forest: give the estimator in [model] only ([forest] is its older name)",
        ),
        (
            "name = \"a\"\n[tuning.grid]\nkind = [\"random_forest\"]\n",
            "invalid job spec job.toml: tuning.grid.kind: the estimator is not a tunable parameter",
        ),
    ];
    for (toml, expected) in more {
        assert_eq!(err(toml), expected, "for spec:\n{toml}");
    }
    for table in ["forest", "model"] {
        let e = err(&format!("name = \"a\"\n[{table}]\nfeatureSubsetStrategy = \"half\"\n"));
        assert!(e.starts_with(&format!("invalid job spec job.toml: {table}.featureSubsetStrategy: ")), "{e}");
        assert!(e.contains("\"half\""), "{e}");
        let e = err(&format!("name = \"a\"\n[{table}]\nmaxDepth = \"deep\"\n"));
        assert!(e.starts_with(&format!("invalid job spec job.toml: {table}.maxDepth: ")), "{e}");
        let e = err(&format!("name = \"a\"\n[{table}]\nmaxDeep = 3\n"));
        assert!(e.starts_with(&format!("invalid job spec job.toml: {table}.maxDeep: unknown field `maxDeep`")), "{e}");
    }
    let e = err("name = \"a\"\n[tuning]\nnumFolds = \"three\"\n");
    assert!(e.starts_with("invalid job spec job.toml: tuning.numFolds: "), "{e}");
    let e = err("name = \"a\"\nnumTrees = 3\n");
    assert!(e.starts_with("invalid job spec job.toml: numTrees: unknown field `numTrees`"), "{e}");
    let e = err("name = \"a\"\n[features]\nsplit = { kind = \"random\", test_fraction = 1.5 }\n");
    assert!(e.contains("features: ") && e.contains("test_fraction"), "{e}");
    let e = err("name = \"a\"\n[data]\nformat = \"parquet\"\n");
    assert!(e.contains("data.format: unknown dataset format \"parquet\""), "{e}");
}

#[test]
fn example_jobs_parse() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/jobs");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/jobs") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let spec = JobSpec::from_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!spec.tasks.is_empty());
            n += 1;
        }
    }
    assert!(n >= 3, "expected the example jobs, found {n}");
}

#[test]
fn defaults_follow_spark() {
    let spec = JobSpec::from_toml("name = \"a\"\n", "job.toml").expect("minimal spec");
    let f = spec.model.forest();
    assert_eq!(f.num_trees, 20);
    assert_eq!(f.max_depth, 5);
    assert_eq!(f.max_bins.get(), 32);
    assert_eq!(f.min_instances_per_node, 1);
    assert!(f.bootstrap);
    assert_eq!(f.feature_subset_strategy, FeatureSubsetStrategy::Auto);
    assert_eq!(f.subsampling_rate, 1.0);
    assert!(spec.data.is_synth());
}

/// `[forest]` (the table's name before estimators were named) reads as `[model]` with
/// `kind = "random_forest"`; a spec written back is `[model]` and reads back the same.
#[test]
fn the_older_forest_table_still_reads_and_specs_round_trip() {
    let old = JobSpec::from_toml("name = \"a\"\n[forest]\nnumTrees = 7\nmaxBins = 64\n", "job.toml").expect("[forest]");
    let new =
        JobSpec::from_toml("name = \"a\"\n[model]\nkind = \"random_forest\"\nnumTrees = 7\nmaxBins = 64\n", "job.toml")
            .expect("[model]");
    assert_eq!(old, new);
    assert_eq!(
        new.model,
        Estimator::RandomForest(ForestParams {
            num_trees: 7,
            max_bins: MaxBins::new(64).expect("64"),
            ..ForestParams::default()
        })
    );
    let text = toml::to_string(&new).expect("toml");
    assert!(text.contains("[model]\nkind = \"random_forest\"\nnumTrees = 7\n"), "{text}");
    assert_eq!(JobSpec::from_toml(&text, "written").expect("reads back"), new);
}
