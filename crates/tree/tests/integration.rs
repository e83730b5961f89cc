//! End-to-end tests of the tree engine: learning, determinism, outputs, errors, and
//! linfa-trees as an oracle.
#![allow(clippy::unwrap_used)]

use linfa::prelude::*;
use reelforest_tree::histogram::LocalReducer;
use reelforest_tree::{
    BinnedMatrix, ClassificationStats, Error, FeatureSubsetStrategy, Forest, ForestParams, Impurity, MaxBins, Node,
    RegressionStats, Split, Task, TrainingSet, Tree, grow_tree, train, train_with_progress,
};

/// Deterministic uniform [0, 1) values (SplitMix64).
struct Gen(u64);
impl Gen {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() * n as f64) as usize
    }
}

fn columns(g: &mut Gen, rows: usize, features: usize) -> Vec<Vec<f64>> {
    (0..features).map(|_| (0..rows).map(|_| g.next()).collect()).collect()
}

/// y = x0 + 2·(x1 > 0.5), plus three noise features.
fn step_data(seed: u64, rows: usize) -> (Vec<Vec<f64>>, Vec<f64>) {
    let mut g = Gen(seed);
    let cols = columns(&mut g, rows, 5);
    let y = (0..rows).map(|i| cols[0][i] + if cols[1][i] > 0.5 { 2.0 } else { 0.0 }).collect();
    (cols, y)
}

fn regression_params() -> ForestParams {
    ForestParams {
        num_trees: 30,
        max_depth: 10,
        max_bins: MaxBins::MAX,
        feature_subset_strategy: FeatureSubsetStrategy::All,
        ..ForestParams::default()
    }
}

/// The checked training set of `binned` and labels `y` for `task` (no weights).
fn data<'a>(binned: &'a BinnedMatrix, y: &'a [f64], task: Task) -> TrainingSet<'a> {
    TrainingSet::new(binned, y, None, task).unwrap()
}

#[test]
fn learns_a_step_function() {
    let (cols, y) = step_data(1, 5000);
    let params = regression_params();
    let binned = params.bin(&cols).unwrap();
    let forest = train(&data(&binned, &y, Task::Regression), &params).unwrap();
    let (test_cols, test_y) = step_data(2, 2000);
    let pred = forest.predict(&test_cols).unwrap();
    let stats = RegressionStats::from_slices(&test_y, &pred);
    // With 256 quantile bins the step at x1 = 0.5 is located within about 1/512.
    assert!(stats.rmse() < 0.1, "test RMSE {}", stats.rmse());
    assert!(stats.r2() > 0.99);
    // Row-by-row prediction agrees with the batch path.
    for i in (0..2000).step_by(97) {
        let row: Vec<f64> = test_cols.iter().map(|c| c[i]).collect();
        assert!((forest.predict_row(&row).unwrap() - pred[i]).abs() < 1e-9);
    }
    // Importances: a distribution dominated by the two real features.
    let imp = forest.feature_importances();
    assert!((imp.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    assert!(imp[0] + imp[1] > 0.95, "{imp:?}");
    // Out-of-bag error is close to the held-out error.
    let oob = forest.oob_error(&binned, &y, None).unwrap();
    assert!(oob.rows_scored > 4900);
    assert!(oob.error < 4.0 * stats.mse() + 1e-3, "oob {} vs test {}", oob.error, stats.mse());
    assert!(forest.total_num_nodes() > 30);
    let dump = forest.debug_string();
    assert!(dump.starts_with("RandomForestRegressionModel: numTrees=30, numFeatures=5\n"));
    assert!(dump.contains("  Tree 0 (weight 1.0):\n    If (feature "));
}

fn blobs(seed: u64, rows: usize, classes: usize) -> (Vec<Vec<f64>>, Vec<f64>) {
    let mut g = Gen(seed);
    let labels: Vec<f64> = (0..rows).map(|_| g.below(classes) as f64).collect();
    let cols =
        (0..4).map(|f| labels.iter().map(|&c| if f < 2 { c * 3.0 + g.next() } else { g.next() }).collect()).collect();
    (cols, labels)
}

#[test]
fn classifies_separable_data() {
    for (classes, impurity) in [(2, Impurity::Gini), (3, Impurity::Entropy), (4, Impurity::Gini)] {
        let (cols, y) = blobs(7, 3000, classes);
        let task = Task::Classification { num_classes: classes as u32 };
        let params = ForestParams { num_trees: 15, impurity: Some(impurity), ..ForestParams::default() };
        let binned = params.bin(&cols).unwrap();
        let forest = train(&data(&binned, &y, task), &params).unwrap();
        let (tc, ty) = blobs(8, 1000, classes);
        let pred = forest.predict(&tc).unwrap();
        let proba = forest.predict_proba(&tc).unwrap();
        let raw = forest.predict_raw(&tc).unwrap();
        let mut stats = ClassificationStats::new(classes);
        for i in 0..ty.len() {
            let p = &proba[i * classes..(i + 1) * classes];
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            let r: f64 = raw[i * classes..(i + 1) * classes].iter().sum();
            assert!((r - 15.0).abs() < 1e-9);
            stats.add(ty[i] as usize, pred[i] as usize, p, 1.0).unwrap();
        }
        assert!(stats.accuracy() > 0.99, "{classes} classes: accuracy {}", stats.accuracy());
        if classes == 2 {
            assert!(stats.roc_auc().unwrap() > 0.99);
            assert!(stats.pr_auc().unwrap() > 0.99);
        }
        let oob = forest.oob_error(&binned, &y, None).unwrap();
        assert!(oob.error < 0.02, "oob {}", oob.error);
    }
}

#[test]
fn thresholds_shift_predictions() {
    let (cols, y) = blobs(3, 500, 2);
    let mut noisy = y.clone();
    noisy.iter_mut().step_by(3).for_each(|v| *v = 1.0 - *v);
    let params = ForestParams { num_trees: 5, max_depth: 2, ..ForestParams::default() };
    let binned = params.bin(&cols).unwrap();
    let noisy = data(&binned, &noisy, Task::Classification { num_classes: 2 });
    let plain = train(&noisy, &params).unwrap();
    let biased = ForestParams { thresholds: Some(vec![1.0, 1e-6]), ..params.clone() };
    let forest = train(&noisy, &biased).unwrap();
    let ones = |f: &Forest| f.predict(&cols).unwrap().iter().filter(|p| **p == 1.0).count();
    assert!(ones(&forest) > ones(&plain));
}

#[test]
fn missing_values_follow_the_learned_direction() {
    let mut g = Gen(11);
    let n = 2000;
    let mut x0: Vec<f64> = (0..n).map(|_| g.next()).collect();
    let y: Vec<f64> = (0..n).map(|i| if i % 4 == 0 || x0[i] > 0.5 { 1.0 } else { 0.0 }).collect();
    (0..n).step_by(4).for_each(|i| x0[i] = f64::NAN);
    let x1: Vec<f64> = (0..n).map(|_| g.next()).collect();
    let params = ForestParams { num_trees: 5, ..ForestParams::default() };
    let binned = params.bin(&[x0, x1]).unwrap();
    assert!(binned.edges(0).has_missing);
    let forest = train(&data(&binned, &y, Task::Classification { num_classes: 2 }), &params).unwrap();
    let p = forest.predict(&[vec![f64::NAN, 0.1, 0.2], vec![0.3, 0.3, 0.3]]).unwrap();
    assert_eq!(p, vec![1.0, 0.0, 0.0]);
}

#[test]
fn weights_and_progress() {
    let (cols, y) = step_data(5, 1000);
    let params = ForestParams { num_trees: 4, ..regression_params() };
    let binned = params.bin(&cols).unwrap();
    // Zero weight on every row with x1 > 0.5: the forest never sees the +2 step.
    let w: Vec<f64> = cols[1].iter().map(|x| if *x > 0.5 { 0.0 } else { 1.0 }).collect();
    let done = std::sync::Mutex::new(Vec::new());
    let weighted = TrainingSet::new(&binned, &y, Some(&w), Task::Regression).unwrap();
    let forest = train_with_progress(&weighted, &params, &|d| done.lock().unwrap().push(d)).unwrap();
    let mut d = done.into_inner().unwrap();
    d.sort_unstable();
    assert_eq!(d, vec![1, 2, 3, 4]);
    assert!(forest.predict(&cols).unwrap().iter().all(|p| *p < 1.01));
}

#[test]
fn predict_leaves_are_leaves() {
    let (cols, y) = step_data(9, 500);
    let params = ForestParams { num_trees: 3, ..regression_params() };
    let forest = train(&data(&params.bin(&cols).unwrap(), &y, Task::Regression), &params).unwrap();
    let leaves = forest.predict_leaves(&cols).unwrap();
    assert_eq!(leaves.len(), 500 * 3);
    for i in 0..500 {
        for (t, tree) in forest.trees().iter().enumerate() {
            let leaf = leaves[i * 3 + t] as usize;
            assert!(tree.nodes()[leaf].is_leaf());
            let row: Vec<f64> = cols.iter().map(|c| c[i]).collect();
            assert_eq!(tree.leaf_index(&row), leaf);
        }
    }
}

// ---------------------------------------------------------------- determinism

fn det_setup(task: Task) -> (BinnedMatrix, Vec<f64>, ForestParams) {
    let (cols, y) = step_data(21, 3000);
    let (y, params) = match task {
        Task::Regression => (y, ForestParams { num_trees: 12, max_depth: 8, seed: 99, ..ForestParams::default() }),
        Task::Classification { .. } => (
            y.iter().map(|v| (*v * 1.4).floor().min(2.0)).collect(),
            ForestParams { num_trees: 12, max_depth: 8, seed: 99, subsampling_rate: 0.7, ..ForestParams::default() },
        ),
    };
    (params.bin(&cols).unwrap(), y, params)
}

#[test]
fn forest_bytes_are_identical_across_threads_and_orders() {
    for task in [Task::Regression, Task::Classification { num_classes: 3 }] {
        let (binned, y, params) = det_setup(task);
        let set = data(&binned, &y, task);
        let bytes: Vec<Vec<u8>> = [1, 2, 8]
            .iter()
            .map(|&threads| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                pool.install(|| train(&set, &params).unwrap().to_bytes())
            })
            .collect();
        assert_eq!(bytes[0], bytes[1]);
        assert_eq!(bytes[0], bytes[2]);
        // Trees grown one by one, in a shuffled order, as cluster workers would.
        let order = [7u32, 2, 11, 0, 5, 9, 1, 3, 10, 4, 8, 6];
        let trees = order.iter().map(|&i| grow_tree(&set, &params, i, &LocalReducer).unwrap()).collect();
        let merged = Forest::from_trees(task, &params, binned.n_features(), trees).unwrap();
        assert_eq!(merged.to_bytes(), bytes[0]);
        // Round trip.
        let decoded = Forest::from_bytes(&bytes[0]).unwrap();
        assert_eq!(decoded.to_bytes(), bytes[0]);
        assert_eq!(decoded, merged);
        // A different seed gives a different forest.
        let other = train(&set, &ForestParams { seed: 100, ..params.clone() }).unwrap();
        assert_ne!(other.to_bytes(), bytes[0]);
    }
}

#[test]
fn duplicate_trees_are_rejected() {
    let (binned, y, params) = det_setup(Task::Regression);
    let t = grow_tree(&data(&binned, &y, Task::Regression), &params, 3, &LocalReducer).unwrap();
    let err = Forest::from_trees(Task::Regression, &params, binned.n_features(), vec![t.clone(), t]).unwrap_err();
    assert_eq!(err.to_string(), "tree index 3 appears more than once");
}

#[test]
fn corrupt_bytes_are_errors_not_panics() {
    let task = Task::Classification { num_classes: 3 };
    let (binned, y, params) = det_setup(task);
    let bytes = train(&data(&binned, &y, task), &ForestParams { num_trees: 2, ..params }).unwrap().to_bytes();
    for cut in [0, 7, 8, 12, 40, bytes.len() / 2, bytes.len() - 1] {
        assert!(Forest::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut long = bytes.clone();
    long.push(0);
    assert!(matches!(Forest::from_bytes(&long), Err(Error::Decode(_))));
    let mut v2 = bytes.clone();
    v2[8] = 2;
    assert_eq!(
        Forest::from_bytes(&v2).unwrap_err().to_string(),
        "unsupported forest format version 2 (this build reads version 1)"
    );
    // Flipping any single byte never panics.
    for i in (0..bytes.len()).step_by(7) {
        let mut b = bytes.clone();
        b[i] ^= 0xA5;
        let _ = Forest::from_bytes(&b);
    }
}

// ---------------------------------------------------------------- errors

#[test]
fn invalid_params_name_the_parameter() {
    let (binned, y, _) = det_setup(Task::Regression);
    // Class 0 for every row: valid labels for any class count, so the parameters are what fails.
    let zeros = vec![0.0; y.len()];
    let reg = Task::Regression;
    let cls = |num_classes| Task::Classification { num_classes };
    let base = ForestParams::default();
    let cases: Vec<(ForestParams, Task, &str)> = vec![
        (ForestParams { num_trees: 0, ..base.clone() }, reg, "numTrees"),
        (ForestParams { min_instances_per_node: 0, ..base.clone() }, reg, "minInstancesPerNode"),
        (ForestParams { min_info_gain: -1.0, ..base.clone() }, reg, "minInfoGain"),
        (ForestParams { min_weight_fraction_per_node: 0.5, ..base.clone() }, reg, "minWeightFractionPerNode"),
        (ForestParams { subsampling_rate: 0.0, ..base.clone() }, reg, "subsamplingRate"),
        (ForestParams { subsampling_rate: 1.5, ..base.clone() }, reg, "subsamplingRate"),
        (
            ForestParams { feature_subset_strategy: FeatureSubsetStrategy::Fraction(1.5), ..base.clone() },
            reg,
            "featureSubsetStrategy",
        ),
        (
            ForestParams { feature_subset_strategy: FeatureSubsetStrategy::Count(0), ..base.clone() },
            reg,
            "featureSubsetStrategy",
        ),
        (ForestParams { impurity: Some(Impurity::Variance), ..base.clone() }, cls(2), "impurity"),
        (ForestParams { thresholds: Some(vec![0.5, 0.5]), ..base.clone() }, reg, "thresholds"),
        (ForestParams { thresholds: Some(vec![0.5]), ..base.clone() }, cls(2), "thresholds"),
        (base.clone(), cls(1), "numClasses"),
    ];
    for (p, task, name) in cases {
        let labels = if task == reg { &y } else { &zeros };
        let set = data(&binned, labels, task);
        match train(&set, &p) {
            Err(Error::InvalidParam { param, .. }) => assert_eq!(param, name),
            other => panic!("{name}: expected an InvalidParam error, got {other:?}"),
        }
        // Growing one tree (as a cluster worker does) and assembling a forest check the same.
        match grow_tree(&set, &p, 0, &LocalReducer) {
            Err(Error::InvalidParam { param, .. }) => assert_eq!(param, name),
            other => panic!("{name}: expected an InvalidParam error from grow_tree, got {other:?}"),
        }
        match Forest::from_trees(task, &p, binned.n_features(), vec![]) {
            Err(Error::InvalidParam { param, .. }) => assert_eq!(param, name),
            other => panic!("{name}: expected an InvalidParam error from from_trees, got {other:?}"),
        }
    }
    // `maxBins` cannot hold a bad value: making one is where it is refused.
    for bins in [1, 257] {
        match MaxBins::new(bins) {
            Err(Error::InvalidParam { param, .. }) => assert_eq!(param, "maxBins"),
            other => panic!("maxBins {bins}: expected an InvalidParam error, got {other:?}"),
        }
    }
    assert_eq!(MaxBins::new(257).unwrap_err().to_string(), "invalid parameter maxBins: 257 is not in 2..=256");
    // Regression has one impurity, variance: a set `impurity` (gini here) is not an error but
    // ignored, so the forest is the default one to the byte.
    let set = data(&binned, &y, reg);
    let small = ForestParams { num_trees: 2, ..base.clone() };
    let gini = ForestParams { impurity: Some(Impurity::Gini), ..small.clone() };
    assert_eq!(train(&set, &gini).unwrap().to_bytes(), train(&set, &small).unwrap().to_bytes());
    let err = ForestParams { min_instances_per_node: 0, ..base.clone() }.validate().unwrap_err();
    assert_eq!(err.to_string(), "invalid parameter minInstancesPerNode: must be at least 1");
    assert_eq!(
        "bogus".parse::<FeatureSubsetStrategy>().unwrap_err().to_string(),
        "invalid parameter featureSubsetStrategy: expected auto|all|onethird|sqrt|log2|<fraction in (0,1]>|<n >= 1>, got \"bogus\""
    );
    assert_eq!("0.5".parse::<FeatureSubsetStrategy>().unwrap(), FeatureSubsetStrategy::Fraction(0.5));
    assert_eq!("1".parse::<FeatureSubsetStrategy>().unwrap(), FeatureSubsetStrategy::Count(1));
    assert_eq!("ONETHIRD".parse::<FeatureSubsetStrategy>().unwrap(), FeatureSubsetStrategy::OneThird);
    assert!("0".parse::<FeatureSubsetStrategy>().is_err());
}

#[test]
fn feature_subset_sizes_follow_spark() {
    let reg = Task::Regression;
    let cls = Task::Classification { num_classes: 2 };
    use FeatureSubsetStrategy as S;
    assert_eq!(S::Auto.resolve(30, reg, 20), 10);
    assert_eq!(S::Auto.resolve(30, cls, 20), 6);
    assert_eq!(S::Auto.resolve(30, cls, 1), 30);
    assert_eq!(S::Log2.resolve(30, reg, 5), 5);
    assert_eq!(S::Fraction(0.25).resolve(30, reg, 5), 8);
    assert_eq!(S::Count(50).resolve(30, reg, 5), 30);
}

#[test]
fn bad_data_is_rejected() {
    let (binned, y, params) = det_setup(Task::Regression);
    let reg = Task::Regression;
    let mut bad = y.clone();
    bad[5] = f64::NAN;
    assert!(matches!(TrainingSet::new(&binned, &bad, None, reg), Err(Error::InvalidLabel { row: 5, .. })));
    assert!(matches!(TrainingSet::new(&binned, &y[1..], None, reg), Err(Error::LengthMismatch { .. })));
    let mut w = vec![1.0; y.len()];
    w[2] = -1.0;
    assert!(matches!(TrainingSet::new(&binned, &y, Some(&w), reg), Err(Error::InvalidWeight { row: 2, .. })));
    assert!(matches!(TrainingSet::new(&binned, &y, Some(&w[1..]), reg), Err(Error::LengthMismatch { .. })));
    let zero = vec![0.0; y.len()];
    assert!(matches!(TrainingSet::new(&binned, &y, Some(&zero), reg), Err(Error::ZeroTotalWeight)));
    let cls = Task::Classification { num_classes: 2 };
    let err = TrainingSet::new(&binned, &y, None, cls).unwrap_err();
    assert!(err.to_string().contains("class labels must be integers in 0..numClasses"), "{err}");
    let forest = train(&data(&binned, &y, reg), &ForestParams { num_trees: 1, ..params }).unwrap();
    assert!(matches!(forest.predict(&[vec![1.0]]), Err(Error::FeatureCount { expected: 5, actual: 1 })));
    assert!(matches!(forest.predict_proba(&vec![vec![1.0]; 5]), Err(Error::WrongTask { .. })));
}

// ---------------------------------------------------------------- linfa oracle

/// Small classification sets whose features have at most `maxBins` distinct values (so our
/// binning is exact): a single unrestricted tree of ours reaches the same training accuracy as
/// linfa-trees' exact CART.
///
/// Each feature is a permutation of `0..rows` (rows <= 256 = maxBins): linfa-trees 0.8.1 only
/// evaluates a threshold where the last row (over the whole data set) holding that value is in
/// the node, so with repeated values it misses splits deeper in the tree and stops early;
/// distinct values avoid that bug.
#[test]
fn single_tree_matches_linfa_training_accuracy() {
    for (seed, rows, features, classes, noise) in
        [(1u64, 120, 4, 2, 0.0), (2, 256, 6, 3, 0.0), (3, 200, 3, 2, 0.15), (4, 256, 5, 4, 0.1), (5, 100, 8, 2, 0.3)]
    {
        let mut g = Gen(seed);
        let cols: Vec<Vec<f64>> = (0..features)
            .map(|_| {
                let mut p: Vec<f64> = (0..rows).map(|v| v as f64).collect();
                for i in (1..rows).rev() {
                    p.swap(i, g.below(i + 1));
                }
                p
            })
            .collect();
        let labels: Vec<usize> = (0..rows)
            .map(|i| {
                if g.next() < noise {
                    g.below(classes)
                } else {
                    // A linear score cut into classes.
                    let s = cols[0][i] + 2.0 * cols[1][i] - cols[2 % features][i] + rows as f64;
                    ((s * classes as f64 / (4.0 * rows as f64)) as usize).min(classes - 1)
                }
            })
            .collect();
        let y: Vec<f64> = labels.iter().map(|&c| c as f64).collect();

        // The deepest tree `maxDepth` allows (64): unrestricted here, as checked below.
        let params = ForestParams {
            num_trees: 1,
            max_depth: 64,
            max_bins: MaxBins::MAX,
            bootstrap: false,
            feature_subset_strategy: FeatureSubsetStrategy::All,
            ..ForestParams::default()
        };
        let binned = params.bin(&cols).unwrap();
        assert!((0..features).all(|f| binned.edges(f).num_value_bins() == rows), "binning must be exact");
        let set = data(&binned, &y, Task::Classification { num_classes: classes as u32 });
        let forest = train(&set, &params).unwrap();
        assert!(forest.trees()[0].depth() < 64, "seed {seed}: the depth limit was reached");
        let ours = forest.predict(&cols).unwrap().iter().zip(&y).filter(|(p, t)| p == t).count();

        let x = ndarray::Array2::from_shape_fn((rows, features), |(i, j)| cols[j][i]);
        let targets = ndarray::Array1::from(labels.clone());
        let ds = Dataset::new(x, targets);
        let model = linfa_trees::DecisionTree::params().max_depth(None).min_impurity_decrease(1e-12).fit(&ds).unwrap();
        let theirs = model.predict(&ds).iter().zip(&labels).filter(|(p, t)| p == t).count();
        assert_eq!(ours, theirs, "seed {seed}: ours {ours}/{rows}, linfa {theirs}/{rows}");

        // Depth-limited trees: the same greedy gini splits give the same accuracy.
        for depth in [1u32, 2, 3, 4] {
            let p = ForestParams { max_depth: depth, ..params.clone() };
            let f = train(&set, &p).unwrap();
            let ours = f.predict(&cols).unwrap().iter().zip(&y).filter(|(p, t)| p == t).count();
            let m = linfa_trees::DecisionTree::params()
                .max_depth(Some(depth as usize))
                .min_impurity_decrease(1e-12)
                .fit(&ds)
                .unwrap();
            let theirs = m.predict(&ds).iter().zip(&labels).filter(|(p, t)| p == t).count();
            assert_eq!(ours, theirs, "seed {seed}, depth {depth}: ours {ours}/{rows}, linfa {theirs}/{rows}");
        }
    }
}

/// The batch paths (ranked blocks for up to 256 features, raw f64 blocks beyond) and the
/// single-row path decomposition (`explain_row`) agree bit for bit with walking each tree's
/// nodes on the raw row, including missing values, infinities and values equal to a threshold.
#[test]
fn batch_prediction_matches_the_raw_tree_walk() {
    for (nf, task, bins) in [
        (3, Task::Regression, 32),
        (20, Task::Regression, 256),
        (40, Task::Classification { num_classes: 3 }, 32),
        (70, Task::Regression, 16),
        (300, Task::Regression, 32),
    ] {
        let mut g = Gen(nf as u64);
        let rows = 600;
        let mut cols = columns(&mut g, rows, nf);
        for c in cols.iter_mut() {
            for v in c.iter_mut() {
                if g.next() < 0.05 {
                    *v = f64::NAN;
                }
            }
        }
        let y: Vec<f64> = (0..rows)
            .map(|i| {
                let x = |f: usize| if cols[f][i].is_nan() { 0.3 } else { cols[f][i] };
                let v = x(0) + 2.0 * x(1) * x(2 % nf);
                match task {
                    Task::Regression => v,
                    Task::Classification { .. } => (v * 1.5).floor().min(2.0),
                }
            })
            .collect();
        let params = ForestParams {
            num_trees: 7,
            max_depth: 8,
            max_bins: MaxBins::new(bins).unwrap(),
            impurity: Some(if task == Task::Regression { Impurity::Variance } else { Impurity::Gini }),
            ..ForestParams::default()
        };
        let binned = params.bin(&cols).unwrap();
        let forest = train(&data(&binned, &y, task), &params).unwrap();
        // Test rows: fresh values, some NaN / ±inf, some exactly on a threshold.
        let thresholds: Vec<(usize, f64)> = forest
            .trees()
            .iter()
            .flat_map(|t| t.nodes().iter().filter_map(|n| n.split.as_ref()))
            .map(|s| (s.feature as usize, s.threshold))
            .collect();
        let n = 1000;
        let mut test = columns(&mut g, n, nf);
        #[allow(clippy::needless_range_loop)]
        for i in 0..n {
            match g.below(10) {
                0 => test[g.below(nf)][i] = f64::NAN,
                1 => test[g.below(nf)][i] = f64::INFINITY,
                2 => test[g.below(nf)][i] = f64::NEG_INFINITY,
                _ => {
                    for _ in 0..3 {
                        let (f, t) = thresholds[g.below(thresholds.len())];
                        test[f][i] = t;
                    }
                }
            }
        }
        let leaves = forest.predict_leaves(&test).unwrap();
        let nt = forest.num_trees();
        let pred = forest.predict(&test).unwrap();
        let proba = (task != Task::Regression).then(|| forest.predict_proba(&test).unwrap());
        for i in 0..n {
            let row: Vec<f64> = test.iter().map(|c| c[i]).collect();
            let mut sum = 0.0;
            let mut dist = [0.0; 3];
            for (t, tree) in forest.trees().iter().enumerate() {
                let leaf = tree.leaf_index(&row);
                assert_eq!(leaves[i * nt + t] as usize, leaf, "nf {nf} row {i} tree {t}");
                let node = &tree.nodes()[leaf];
                sum += node.prediction;
                if !node.class_weights.is_empty() {
                    let total: f64 = node.class_weights.iter().sum();
                    for (d, c) in dist.iter_mut().zip(&node.class_weights) {
                        *d += if total > 0.0 { c / total } else { 0.0 };
                    }
                }
            }
            // The path decomposition: same value bit for bit, and contributions equal to
            // walking the original nodes (value = mean label / class share at each node).
            let class = if task == Task::Regression { 0 } else { 1 };
            let node_value = |n: &reelforest_tree::Node| {
                if n.class_weights.is_empty() {
                    n.prediction
                } else {
                    let total: f64 = n.class_weights.iter().sum();
                    if total > 0.0 { n.class_weights[class] / total } else { 0.0 }
                }
            };
            let mut want = vec![0.0; nf];
            let mut want_bias = 0.0;
            for tree in forest.trees() {
                let nodes = tree.nodes();
                let mut at = 0usize;
                want_bias += node_value(&nodes[0]);
                while let Some(s) = &nodes[at].split {
                    let x = row[s.feature as usize];
                    let next =
                        if if x.is_nan() { s.missing_left } else { x <= s.threshold } { s.left } else { s.right };
                    want[s.feature as usize] += node_value(&nodes[next as usize]) - node_value(&nodes[at]);
                    at = next as usize;
                }
            }
            let mut contrib = vec![f64::NAN; nf];
            let (value, bias) = forest.explain_row(&row, class, &mut contrib).unwrap();
            let expected_value = match &proba {
                None => pred[i],
                Some(p) => p[i * 3 + class],
            };
            assert_eq!(value.to_bits(), expected_value.to_bits(), "nf {nf} row {i}: explained value");
            assert_eq!(bias.to_bits(), (want_bias / nt as f64).to_bits(), "nf {nf} row {i}: bias");
            for (f, (c, w)) in contrib.iter().zip(&want).enumerate() {
                assert_eq!(c.to_bits(), (w / nt as f64).to_bits(), "nf {nf} row {i} feature {f}");
            }
            let total: f64 = bias + contrib.iter().sum::<f64>();
            assert!((total - value).abs() < 1e-9, "nf {nf} row {i}: {bias} + Σ {contrib:?} != {value}");
            match &proba {
                None => assert_eq!(pred[i].to_bits(), (sum / nt as f64).to_bits()),
                Some(p) => {
                    for k in 0..3 {
                        assert_eq!(p[i * 3 + k].to_bits(), (dist[k] / nt as f64).to_bits());
                    }
                    assert_eq!(pred[i], forest.predict_row(&row).unwrap());
                }
            }
        }
    }
}

/// A hand-made tree of the given depth: a chain of splits on feature 0 (threshold `d` at depth
/// `d`, missing values alternately left and right), each with a leaf on its left; and a stump
/// on feature 1 with missing values left.
fn chain_tree(index: u32, depth: u32) -> Tree {
    let leaf =
        |p: f64| Node { split: None, impurity: 0.0, count: 1.0, weight: 1.0, prediction: p, class_weights: vec![] };
    let mut nodes = vec![leaf(0.0)];
    let mut at = 0usize;
    for d in 0..depth {
        let (l, r) = (nodes.len() as u32, nodes.len() as u32 + 1);
        nodes[at].split = Some(Split {
            feature: 0,
            threshold: f64::from(d),
            bin: 0,
            missing_left: d % 2 == 0,
            gain: 1.0,
            left: l,
            right: r,
        });
        nodes.push(leaf(f64::from(d) + 0.25 * f64::from(index)));
        nodes.push(leaf(f64::from(d + 1)));
        at = r as usize;
    }
    // Under the last right leaf, a split on feature 1 (missing left).
    let (l, r) = (nodes.len() as u32, nodes.len() as u32 + 1);
    nodes[at].split =
        Some(Split { feature: 1, threshold: 0.5, bin: 0, missing_left: true, gain: 1.0, left: l, right: r });
    nodes.push(leaf(-1.0));
    nodes.push(leaf(-2.0));
    Tree::new(index, 0, nodes).unwrap()
}

#[test]
fn shallow_and_deep_trees_predict_like_the_pointer_walk() {
    // Depths 1 to 10 get the heap layout (whose first levels are walked a block at a time,
    // the rest row by row), 21 does not: the batch paths must agree with walking the nodes,
    // bit for bit, with missing values going either way. 603 rows: the last block is not a
    // whole number of the top walk's chunks nor of the row walk's groups.
    let trees = vec![chain_tree(0, 3), chain_tree(1, 20), chain_tree(2, 8), chain_tree(3, 0), chain_tree(4, 1)];
    let nt = trees.len();
    let params = ForestParams { num_trees: nt as u32, ..ForestParams::default() };
    let forest = Forest::from_trees(Task::Regression, &params, 2, trees).unwrap();
    let n = 603;
    let mut x0: Vec<f64> = (0..n).map(|i| f64::from(i % 25) - 1.5 + f64::from(i % 3) * 0.5).collect();
    let mut x1: Vec<f64> = (0..n).map(|i| f64::from(i % 4) * 0.3).collect();
    for i in (0..n).step_by(7) {
        x0[i as usize] = f64::NAN;
    }
    for i in (0..n).step_by(5) {
        x1[i as usize] = f64::NAN;
    }
    let cols = vec![x0, x1];
    let pred = forest.predict(&cols).unwrap();
    let leaves = forest.predict_leaves(&cols).unwrap();
    for i in 0..n as usize {
        let row = [cols[0][i], cols[1][i]];
        let mut sum = 0.0;
        for (t, tree) in forest.trees().iter().enumerate() {
            let leaf = tree.leaf_index(&row);
            assert_eq!(leaves[i * nt + t] as usize, leaf, "row {i} tree {t}");
            sum += tree.nodes()[leaf].prediction;
        }
        assert_eq!(pred[i].to_bits(), (sum / nt as f64).to_bits(), "row {i}");
        assert_eq!(pred[i], forest.predict_row(&row).unwrap());
    }
}
