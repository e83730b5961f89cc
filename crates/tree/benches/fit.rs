//! Fit and prediction benchmark of the forest engine (a plain `harness = false` binary: one fit
//! of this size takes seconds, too long for criterion's repeated sampling).
//!
//! `cargo bench -p reelforest-tree` runs: binning + fit of 100 trees of depth 10 on 1M rows × 30
//! synthetic features (regression, Spark defaults otherwise), batch prediction throughput, the
//! out-of-bag error, and a single-tree classification fit beside linfa-trees' `DecisionTree`.
//! Sizes can be changed with `BENCH_ROWS`, `BENCH_FEATURES`, `BENCH_TREES`, `BENCH_DEPTH`.

use std::time::Instant;

use linfa::prelude::*;
use reelforest_tree::{
    BinnedMatrix, FeatureSubsetStrategy, ForestParams, MaxBins, RegressionStats, Task, TrainingSet, train,
};

/// CPU seconds (user + system) used by this process so far, from `/proc/self/stat` (Linux;
/// assumes 100 clock ticks per second). Reported beside wall time because the benchmark
/// machine is often shared with other builds.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(f64::NAN)
}

/// Peak resident set size so far (`VmHWM` from `/proc/self/status`, Linux), in MB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let l = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            l.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(f64::NAN, |kb| kb / 1000.0)
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

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
}

fn synth(rows: usize, features: usize, seed: u64) -> (Vec<Vec<f64>>, Vec<f64>) {
    let mut g = Gen(seed);
    let cols: Vec<Vec<f64>> = (0..features).map(|_| (0..rows).map(|_| g.next()).collect()).collect();
    let y = (0..rows)
        .map(|i| {
            let x = |f: usize| cols[f % features][i];
            x(0) + 2.0 * f64::from(u8::from(x(1) > 0.5))
                + (3.0 * x(2)).sin()
                + 0.5 * x(3) * x(4)
                + 0.1 * (g.next() - 0.5)
        })
        .collect();
    (cols, y)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let rows = env("BENCH_ROWS", 1_000_000);
    let features = env("BENCH_FEATURES", 30);
    let trees = u32::try_from(env("BENCH_TREES", 100)).expect("BENCH_TREES fits u32");
    let depth = env("BENCH_DEPTH", 10) as u32;
    println!("threads: {}", rayon::current_num_threads());
    let (cols, y) = synth(rows, features, 1);
    let params = ForestParams { num_trees: trees, max_depth: depth, ..ForestParams::default() };

    let t = Instant::now();
    let binned = BinnedMatrix::from_columns(&cols, params.max_bins, params.seed).expect("bin");
    let bin_s = t.elapsed().as_secs_f64();
    println!("binning {rows} x {features}: {bin_s:.2} s ({} MB of bins)", binned.heap_bytes() / 1_000_000);

    let rss_before_fit = peak_rss_mb();
    let t = Instant::now();
    let cpu = cpu_seconds();
    let data = TrainingSet::new(&binned, &y, None, Task::Regression).expect("training set");
    let forest = train(&data, &params).expect("train");
    let fit_s = t.elapsed().as_secs_f64();
    let fit_cpu = cpu_seconds() - cpu;
    let rss_after_fit = peak_rss_mb();
    println!(
        "fit {trees} trees, depth {depth}, {rows} x {features}: {fit_s:.2} s wall, {fit_cpu:.2} s CPU ({} nodes, {:.1} MB encoded)",
        forest.total_num_nodes(),
        forest.to_bytes().len() as f64 / 1e6
    );
    let (gained, bins_mb, model_mb) =
        (rss_after_fit - rss_before_fit, binned.heap_bytes() as f64 / 1e6, forest.heap_bytes() as f64 / 1e6);
    println!(
        "peak RSS: {rss_before_fit:.0} MB before fit (raw columns + labels + bins), {rss_after_fit:.0} MB after fit (+{gained:.0} MB for training; bins {bins_mb:.0} MB, model in memory {model_mb:.0} MB)"
    );
    // Budget (issue 3): training memory under 2× the binned matrix plus the trees, i.e. what
    // the fit adds on top of the bins stays under one more binned matrix plus the model.
    println!(
        "training memory: bins + gained = {:.0} MB vs budget 2 × bins + model = {:.0} MB ({})",
        bins_mb + gained,
        2.0 * bins_mb + model_mb,
        if bins_mb + gained <= 2.0 * bins_mb + model_mb { "within" } else { "over" }
    );

    // Best of `BENCH_PREDICT_REPS` runs (default 1).
    let (mut pred_s, mut pred_cpu, mut pred) = (f64::INFINITY, f64::INFINITY, Vec::new());
    for _ in 0..env("BENCH_PREDICT_REPS", 1).max(1) {
        let t = Instant::now();
        let cpu = cpu_seconds();
        pred = forest.predict(&cols).expect("predict");
        pred_s = pred_s.min(t.elapsed().as_secs_f64());
        pred_cpu = pred_cpu.min(cpu_seconds() - cpu);
    }
    // FNV-1a of the encoded forest and of the prediction bits, to check that engine changes
    // keep forests and predictions bit-identical.
    let fnv = |bytes: &mut dyn Iterator<Item = u8>| {
        bytes.fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
    };
    println!(
        "forest hash {:016x}, prediction hash {:016x}",
        fnv(&mut forest.to_bytes().into_iter()),
        fnv(&mut pred.iter().flat_map(|v| v.to_bits().to_le_bytes()))
    );
    let stats = RegressionStats::from_slices(&y, &pred);
    println!(
        "predict {rows} rows x {trees} trees: {pred_s:.2} s wall = {:.2} M rows/s, {pred_cpu:.2} s CPU = {:.2} M rows/s per core (train RMSE {:.4}, R2 {:.4})",
        rows as f64 / pred_s / 1e6,
        rows as f64 / pred_cpu / 1e6,
        stats.rmse(),
        stats.r2()
    );

    let t = Instant::now();
    let oob = forest.oob_error(&binned, &y, None).expect("oob");
    println!("oob MSE {:.5} over {} rows in {:.2} s", oob.error, oob.rows_scored, t.elapsed().as_secs_f64());

    // Single unrestricted classification tree: ours vs linfa-trees (exact CART).
    let n = env("BENCH_LINFA_ROWS", 20_000);
    let (ccols, cy) = synth(n, 10, 2);
    let labels: Vec<f64> = cy.iter().map(|v| f64::from(u8::from(*v > 2.0))).collect();
    let p = ForestParams {
        num_trees: 1,
        max_depth: 64,
        bootstrap: false,
        feature_subset_strategy: FeatureSubsetStrategy::All,
        ..ForestParams::default()
    };
    let t = Instant::now();
    let b = BinnedMatrix::from_columns(&ccols, MaxBins::MAX, 0).expect("bin");
    let set = TrainingSet::new(&b, &labels, None, Task::Classification { num_classes: 2 }).expect("training set");
    let f = train(&set, &p).expect("train");
    let ours = t.elapsed().as_secs_f64();
    let acc = f.predict(&ccols).expect("predict").iter().zip(&labels).filter(|(a, b)| a == b).count() as f64 / n as f64;
    let x = ndarray::Array2::from_shape_fn((n, 10), |(i, j)| ccols[j][i]);
    let yl = ndarray::Array1::from_iter(labels.iter().map(|v| *v as usize));
    let ds = Dataset::new(x, yl.clone());
    let t = Instant::now();
    let model = linfa_trees::DecisionTree::params().max_depth(Some(64)).fit(&ds).expect("linfa");
    let theirs = t.elapsed().as_secs_f64();
    let lp = model.predict(&ds);
    let lacc = lp.iter().zip(yl.iter()).filter(|(a, b)| a == b).count() as f64 / n as f64;
    println!(
        "single tree {n} x 10 (256 bins): ours {ours:.3} s (train acc {acc:.4}), linfa-trees {theirs:.3} s (train acc {lacc:.4})"
    );
}
