//! One CF fit and its test RMSE, as a JSON line: the reelforest side of `bench/als_vs_spark.sh`
//! (against Spark MLlib's ALS) and `bench/cf_vs_surprise.sh` (the biased factorisation and
//! item-kNN against Surprise's SVD and KNNBaseline), which alternate it with the peer.
//!
//! Usage: `als TRAIN TEST [rank maxIter regParam seed [als|mf|knn]]` with tab-separated
//! `user item rating [time]` files (ml-100k's `u1.base` / `u1.test`). Cold test rows (a user or
//! item without training ratings) are dropped, as Spark's `coldStartStrategy = "drop"` does, and
//! predictions are not clipped, so both sides compute the same RMSE. `cargo bench` runs it with
//! `--bench` and no files: it then fits the generated 100k ratings of a small synthetic matrix.

use reelforest_cf::{AlsModel, AlsParams, KnnModel, KnnParams, Ratings};
use std::time::Instant;

type Columns = (Vec<i64>, Vec<i64>, Vec<f64>);

fn read(path: &str) -> Columns {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (mut u, mut i, mut r) = (Vec::new(), Vec::new(), Vec::new());
    for (n, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split(['\t', ',']).collect();
        let field = |k: usize| f.get(k).unwrap_or_else(|| panic!("{path}:{}: too few fields", n + 1));
        u.push(field(0).parse().unwrap_or_else(|e| panic!("{path}:{}: user: {e}", n + 1)));
        i.push(field(1).parse().unwrap_or_else(|e| panic!("{path}:{}: item: {e}", n + 1)));
        r.push(field(2).parse().unwrap_or_else(|e| panic!("{path}:{}: rating: {e}", n + 1)));
    }
    (u, i, r)
}

/// A deterministic low-rank matrix with noise: 100k ratings of 1,000 users x 1,700 items.
fn generated() -> (Columns, Columns) {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    let (mut train, mut test): (Columns, Columns) = Default::default();
    for _ in 0..100_000 {
        let (u, i) = ((next() * 1000.0) as i64, (next() * 1700.0) as i64);
        let r = (3.0 + ((u % 7) as f64 - 3.0) * ((i % 5) as f64 - 2.0) / 6.0 + next()).clamp(1.0, 5.0).round();
        let side = if next() < 0.8 { &mut train } else { &mut test };
        side.0.push(u);
        side.1.push(i);
        side.2.push(r);
    }
    (train, test)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let ((tu, ti, tr), test) = match args.as_slice() {
        [train, test, ..] => (read(train), read(test)),
        _ => generated(),
    };
    let num = |k: usize, default: f64| args.get(k).map_or(default, |v| v.parse().expect("number"));
    let params = AlsParams {
        rank: num(2, 10.0) as u32,
        max_iter: num(3, 10.0) as u32,
        reg_param: num(4, 0.1),
        seed: num(5, 42.0) as u64,
        ..AlsParams::default()
    };
    let model_kind = args.get(6).map_or("als", String::as_str);
    let started = Instant::now();
    let ratings = Ratings::new(&tu, &ti, &tr).expect("ratings");
    // Cold rows (user or item without training ratings) are dropped for every model.
    let known = |u: i64, i: i64| ratings.user_index(u).is_some() && ratings.item_index(i).is_some();
    let predict: Box<dyn Fn(i64, i64) -> Option<f64> + '_> = match model_kind {
        "als" => {
            let m = AlsModel::fit(&ratings, &params).expect("fit");
            Box::new(move |u, i| m.predict(u, i))
        }
        "mf" => {
            let m = AlsModel::fit(&ratings, &AlsParams { biased: true, ..params.clone() }).expect("fit");
            Box::new(move |u, i| if known(u, i) { m.predict(u, i) } else { None })
        }
        "knn" => {
            let m = KnnModel::fit(&ratings, &KnnParams::default()).expect("fit");
            Box::new(move |u, i| known(u, i).then(|| m.predict(u, i).value))
        }
        other => panic!("unknown model {other} (als, mf, knn)"),
    };
    let fit_seconds = started.elapsed().as_secs_f64();
    let (mut se, mut rows, mut dropped) = (0.0, 0u64, 0u64);
    for k in 0..test.0.len() {
        match predict(test.0[k], test.1[k]) {
            Some(p) => {
                se += (p - test.2[k]).powi(2);
                rows += 1;
            }
            None => dropped += 1,
        }
    }
    let rmse = (se / rows.max(1) as f64).sqrt();
    let threads = rayon::current_num_threads();
    println!(
        "{{\"peer\":\"reelforest\",\"model\":\"{model_kind}\",\"fit_seconds\":{fit_seconds},\"rmse\":{rmse},\"rows\":{rows},\"dropped\":{dropped},\"threads\":{threads}}}"
    );
}
