//! Fit and batch-prediction timing on a real feature matrix, for working on the engine without
//! rebuilding the CLI.
//!
//! `cargo run --release -p reelforest-tree --example fit_matrix -- TRAIN.f64 TEST.f64 COLS
//! [TREES DEPTH PASSES]`
//!
//! The matrices are what `bench/lib/export_matrix.py` writes (little-endian f64, column-major,
//! COLS feature columns then the `rating` and `good` labels; NULL as NaN). For each task it bins
//! the training columns as `reelforest run` does (`maxBins` 32, seed 42), fits `TREES` trees of
//! depth `DEPTH` (defaults 100 and 10, `featureSubsetStrategy` auto), then predicts the test rows
//! `PASSES` times (default 25) and prints the fit time, the median prediction time and the test
//! RMSE / accuracy, plus a checksum of the predictions so a change to the engine that alters
//! results is noticed.

use std::time::Instant;

use reelforest_tree::{ForestParams, MaxBins, Task, TrainingSet, train};

fn read(path: &str, cols: usize) -> (usize, Vec<f64>) {
    let raw = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let values: Vec<f64> = raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect();
    assert_eq!(values.len() % (cols + 2), 0, "{path}: not a multiple of {} columns", cols + 2);
    (values.len() / (cols + 2), values)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    assert!(args.len() >= 4, "usage: fit_matrix TRAIN.f64 TEST.f64 COLS [TREES DEPTH PASSES]");
    let cols: usize = args[3].parse().expect("COLS");
    let arg = |i: usize, d: usize| args.get(i).map_or(d, |s| s.parse().expect("a number"));
    let (trees, depth, passes) = (arg(4, 100) as u32, arg(5, 10) as u32, arg(6, 25));
    let (n_train, train_v) = read(&args[1], cols);
    let (n_test, test_v) = read(&args[2], cols);
    let train_cols: Vec<&[f64]> = train_v.chunks_exact(n_train).take(cols).collect();
    let test_cols: Vec<&[f64]> = test_v.chunks_exact(n_test).take(cols).collect();
    let label = |v: &[f64], n: usize, k: usize| v[(cols + k) * n..(cols + k + 1) * n].to_vec();
    for task in ["regression", "classification"] {
        let k = usize::from(task == "classification");
        let kind = if k == 0 { Task::Regression } else { Task::Classification { num_classes: 2 } };
        let p = ForestParams {
            num_trees: trees,
            max_depth: depth,
            max_bins: MaxBins::new(32).expect("32 bins"),
            seed: 42,
            ..ForestParams::default()
        };
        let y = label(&train_v, n_train, k);
        let y_test = label(&test_v, n_test, k);
        let t0 = Instant::now();
        let binned = p.bin(&train_cols).expect("bin");
        let bin_s = t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        let forest = train(&TrainingSet::new(&binned, &y, None, kind).expect("training set"), &p).expect("train");
        let fit_s = t0.elapsed().as_secs_f64();
        let predict = || {
            if k == 0 {
                forest.predict(&test_cols).expect("predict")
            } else {
                forest.predict_proba(&test_cols).expect("predict_proba")
            }
        };
        let out = predict();
        let times: Vec<f64> = (0..passes)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(predict());
                t.elapsed().as_secs_f64()
            })
            .collect();
        let pred_s = median(times);
        let metric = if k == 0 {
            let se: f64 = out.iter().zip(&y_test).map(|(p, y)| (p - y) * (p - y)).sum();
            (se / n_test as f64).sqrt()
        } else {
            let hits =
                out.chunks_exact(2).zip(&y_test).filter(|(p, y)| f64::from(u8::from(p[1] > p[0])) == **y).count();
            hits as f64 / n_test as f64
        };
        let checksum: f64 = out.iter().enumerate().map(|(i, v)| v * (1.0 + (i % 7) as f64)).sum();
        println!(
            "{task:<14} bin {bin_s:.3}s fit {fit_s:.3}s nodes {} predict {:.2}ms ({:.2}M rows/s) metric {metric:.6} checksum {checksum:.9}",
            forest.total_num_nodes(),
            pred_s * 1e3,
            n_test as f64 / pred_s / 1e6
        );
    }
}
