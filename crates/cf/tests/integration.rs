//! The CF learners on real data (ml-100k's u1 split from `../shared`), their determinism across
//! thread counts, and the exact texts of every parameter error.

use reelforest_cf::{AlsModel, AlsParams, BaselineModel, BaselineParams, KnnModel, KnnParams, Ratings};
use std::path::PathBuf;

/// `(user, item, rating)` columns.
type Columns = (Vec<i64>, Vec<i64>, Vec<f64>);

/// The columns of an ml-100k file (`user \t item \t rating \t time`).
fn read_100k(name: &str) -> Columns {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/ml-100k").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{}: {e} (the tests need ../shared/datasets beside the repository)", path.display())
    });
    let (mut u, mut i, mut r) = (Vec::new(), Vec::new(), Vec::new());
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        u.push(f[0].parse().expect("user"));
        i.push(f[1].parse().expect("item"));
        r.push(f[2].parse().expect("rating"));
    }
    (u, i, r)
}

fn u1() -> (Ratings, Columns) {
    let (u, i, r) = read_100k("u1.base");
    (Ratings::new(&u, &i, &r).expect("ratings"), read_100k("u1.test"))
}

fn rmse(test: &Columns, predict: impl Fn(i64, i64) -> f64) -> f64 {
    let (u, i, r) = test;
    let se: f64 = (0..u.len()).map(|k| (predict(u[k], i[k]).clamp(1.0, 5.0) - r[k]).powi(2)).sum();
    (se / u.len() as f64).sqrt()
}

#[test]
fn learners_beat_the_global_mean_on_u1_in_the_expected_order() {
    let (train, test) = u1();
    let mean = rmse(&test, |_, _| train.mean());
    let baseline = BaselineModel::fit(&train, &BaselineParams::default()).expect("baseline");
    let base = rmse(&test, |u, i| baseline.predict(u, i));
    let als = AlsModel::fit(&train, &AlsParams { reg_param: 0.15, ..AlsParams::default() }).expect("als");
    let als_rmse = rmse(&test, |u, i| als.predict(u, i).unwrap_or(train.mean()));
    let mf = AlsModel::fit(&train, &AlsParams { biased: true, reg_param: 0.1, ..AlsParams::default() }).expect("mf");
    let mf_rmse = rmse(&test, |u, i| mf.predict(u, i).expect("biased always predicts"));
    let knn = KnnModel::fit(&train, &KnnParams::default()).expect("knn");
    let knn_rmse = rmse(&test, |u, i| knn.predict(u, i).value);
    eprintln!(
        "u1 RMSE: mean {mean:.4}, baseline {base:.4}, ALS {als_rmse:.4}, biased MF {mf_rmse:.4}, kNN {knn_rmse:.4}"
    );
    // Published ml-100k u1 figures: global mean ~1.15, baseline ~0.945, kNN-baseline ~0.92-0.93.
    assert!(mean > 1.1 && mean < 1.2, "mean {mean}");
    assert!(base < 0.96, "baseline {base}");
    assert!(als_rmse < 0.96, "ALS {als_rmse}");
    assert!(knn_rmse < base - 0.01, "kNN {knn_rmse} vs baseline {base}");
    assert!(mf_rmse < base, "biased MF {mf_rmse} vs baseline {base}");
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool").install(f)
}

#[test]
fn models_are_identical_for_1_2_and_8_threads_and_any_block_count() {
    let (train, _) = u1();
    let als = |threads: usize, blocks: u32| {
        let p = AlsParams { max_iter: 3, num_user_blocks: blocks, num_item_blocks: blocks, ..AlsParams::default() };
        in_pool(threads, || AlsModel::fit(&train, &p).expect("als"))
    };
    let one = als(1, 10);
    assert_eq!(one, als(2, 10));
    assert_eq!(one.users.factors, als(8, 3).users.factors);
    assert_eq!(one.items.factors, als(8, 1).items.factors);
    let mf = |threads| {
        in_pool(threads, || AlsModel::fit(&train, &AlsParams { biased: true, max_iter: 3, ..AlsParams::default() }))
            .expect("mf")
    };
    assert_eq!(mf(1), mf(8));
    let knn = |threads| in_pool(threads, || KnnModel::fit(&train, &KnnParams::default()).expect("knn"));
    let k1 = knn(1);
    assert_eq!(k1, knn(2));
    assert_eq!(k1, knn(8));
    assert!(k1.num_neighbor_entries() > 100_000, "{}", k1.num_neighbor_entries());
}

#[test]
fn implicit_and_nonnegative_fit() {
    let (train, _) = u1();
    let p = AlsParams { implicit_prefs: true, alpha: 2.0, max_iter: 3, ..AlsParams::default() };
    let m = AlsModel::fit(&train, &p).expect("implicit");
    assert!(m.users.factors.iter().all(|v| v.is_finite()));
    let p = AlsParams { nonnegative: true, max_iter: 3, ..AlsParams::default() };
    let m = AlsModel::fit(&train, &p).expect("nonnegative");
    assert!(m.users.factors.iter().chain(&m.items.factors).all(|v| *v >= 0.0));
    assert!(m.predict(1, 1).expect("known") > 0.0);
}

#[test]
fn every_bad_parameter_has_an_exact_error() {
    let als = |f: fn(&mut AlsParams)| {
        let mut p = AlsParams::default();
        f(&mut p);
        p.validate().expect_err("invalid").to_string()
    };
    assert_eq!(als(|p| p.rank = 0), "invalid parameter rank: 0 is not in 1..=1000");
    assert_eq!(als(|p| p.max_iter = 0), "invalid parameter maxIter: must be at least 1");
    assert_eq!(als(|p| p.reg_param = -0.1), "invalid parameter regParam: -0.1 must be finite and >= 0");
    assert_eq!(als(|p| p.reg_param = f64::NAN), "invalid parameter regParam: NaN must be finite and >= 0");
    assert_eq!(als(|p| p.alpha = f64::INFINITY), "invalid parameter alpha: inf must be finite and >= 0");
    assert_eq!(als(|p| p.num_user_blocks = 0), "invalid parameter numUserBlocks: must be at least 1");
    assert_eq!(als(|p| p.num_item_blocks = 0), "invalid parameter numItemBlocks: must be at least 1");
    assert_eq!(
        als(|p| {
            p.biased = true;
            p.implicit_prefs = true;
        }),
        "invalid parameter biased: the biased variant is for explicit ratings (implicitPrefs false)"
    );
    assert_eq!(
        als(|p| {
            p.biased = true;
            p.nonnegative = true;
        }),
        "invalid parameter biased: the biased variant cannot be nonnegative (biases are signed)"
    );
    let knn = |f: fn(&mut KnnParams)| {
        let mut p = KnnParams::default();
        f(&mut p);
        p.validate().expect_err("invalid").to_string()
    };
    assert_eq!(knn(|p| p.k = 0), "invalid parameter k: must be at least 1");
    assert_eq!(knn(|p| p.min_k = 41), "invalid parameter minK: 41 is more than k = 40");
    assert_eq!(knn(|p| p.shrinkage = -1.0), "invalid parameter shrinkage: -1 must be finite and >= 0");
    assert_eq!(knn(|p| p.min_support = 1), "invalid parameter minSupport: 1 is less than 2");
    assert_eq!(knn(|p| p.max_neighbors = 39), "invalid parameter maxNeighbors: 39 is less than k = 40");
    assert_eq!(knn(|p| p.baseline.reg_user = -1.0), "invalid parameter baseline.regUser: -1 must be finite and >= 0");
    assert_eq!(
        knn(|p| p.baseline.reg_item = f64::NAN),
        "invalid parameter baseline.regItem: NaN must be finite and >= 0"
    );
    assert_eq!(knn(|p| p.baseline.max_iter = 0), "invalid parameter baseline.maxIter: must be at least 1");
    // Unknown keys are refused by name, as the job spec reads them.
    let err = serde_json::from_str::<AlsParams>(r#"{"rnak": 3}"#).expect_err("unknown").to_string();
    assert!(err.starts_with("unknown field `rnak`"), "{err}");
    let p: AlsParams = serde_json::from_str(r#"{"coldStartStrategy": "drop", "regParam": 0.2}"#).expect("parse");
    assert_eq!((p.cold_start_strategy, p.reg_param, p.rank), (reelforest_cf::ColdStartStrategy::Drop, 0.2, 10));
}

#[test]
fn a_singular_system_is_an_error_naming_the_row() {
    // regParam 0 and rank 2: item 10's system sums two independent random starts (solvable),
    // then each user's has one rating, rank 1: user 1 is the first that cannot be solved.
    let r = Ratings::new(&[1, 2], &[10, 10], &[4.0, 3.0]).expect("ratings");
    let err = AlsModel::fit(&r, &AlsParams { rank: 2, reg_param: 0.0, ..AlsParams::default() }).expect_err("singular");
    assert_eq!(
        err.to_string(),
        "cannot solve the least-squares system of user 1: it is singular (regParam is 0 and it has fewer ratings \
         than rank); use regParam > 0"
    );
}
