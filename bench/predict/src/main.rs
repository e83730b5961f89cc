//! `reelforest-bench-predict MODEL.pb MATRIX.f64 ROWS COLS [REPS]`
//!
//! Loads a reelforest model file (`<warehouse>/models/<name>/<version>/model.pb`) and a test matrix
//! written by `bench/lib/export_matrix.py` (little-endian f64, column-major, the columns in the
//! model's feature order, NULL as NaN; then the `rating` and `good` labels as two more columns),
//! and times batch prediction the way `reelforest run` scores a test split (`Forest::predict` for
//! regression, `Forest::predict_proba` for classification, all threads of the rayon pool). Three
//! warm-up passes per task, then REPS timed passes each (default 5), the tasks alternating;
//! prints one JSON object with the median and every pass, plus RMSE / accuracy of the
//! predictions so the driver can check they reproduce the run's report bit for bit.
use std::time::Instant;

fn die(msg: &str) -> ! {
    eprintln!("reelforest-bench-predict: {msg}");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        die("usage: reelforest-bench-predict MODEL.pb MATRIX.f64 ROWS COLS [REPS]");
    }
    let rows: usize = args[3].parse().unwrap_or_else(|_| die("ROWS: not a number"));
    let cols: usize = args[4].parse().unwrap_or_else(|_| die("COLS: not a number"));
    let reps: usize = args.get(5).map_or(5, |s| s.parse().unwrap_or_else(|_| die("REPS: not a number")));
    let bytes = std::fs::read(&args[1]).unwrap_or_else(|e| die(&format!("{}: {e}", args[1])));
    let model = reelforest_proto::decode_model(&bytes).unwrap_or_else(|e| die(&format!("{}: {e}", args[1])));
    let raw = std::fs::read(&args[2]).unwrap_or_else(|e| die(&format!("{}: {e}", args[2])));
    if raw.len() != rows * (cols + 2) * 8 {
        die(&format!(
            "{}: {} bytes, expected {} ({} rows x ({} + 2) columns)",
            args[2],
            raw.len(),
            rows * (cols + 2) * 8,
            rows,
            cols
        ));
    }
    if model.feature_names.len() != cols {
        die(&format!("the model has {} features, the matrix {cols}", model.feature_names.len()));
    }
    let values: Vec<f64> = raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect();
    let columns: Vec<&[f64]> = values.chunks_exact(rows).take(cols).collect();
    let rating = &values[cols * rows..(cols + 1) * rows];
    let good = &values[(cols + 1) * rows..];

    // Every task's passes alternate (regression, classification, regression, ...), after a
    // warm-up of WARMUP passes each: the first task timed right after a heavy process exits
    // (the `reelforest run` before this) ran up to 2x slower than the second when the tasks
    // were timed one after the other, which alternation spreads over both.
    const WARMUP: usize = 3;
    let regression: Vec<bool> = model.tasks.iter().map(|t| t.forest.task().num_classes() == 0).collect();
    let run = |i: usize| -> Vec<f64> {
        let f = &model.tasks[i].forest;
        if regression[i] {
            f.predict(&columns).unwrap_or_else(|e| die(&format!("predict: {e}")))
        } else {
            f.predict_proba(&columns).unwrap_or_else(|e| die(&format!("predict_proba: {e}")))
        }
    };
    let firsts: Vec<Vec<f64>> = (0..model.tasks.len()).map(run).collect();
    for _ in 1..WARMUP {
        (0..model.tasks.len()).for_each(|i| drop(run(i)));
    }
    let mut secs = vec![Vec::with_capacity(reps); model.tasks.len()];
    for _ in 0..reps {
        for (i, s) in secs.iter_mut().enumerate() {
            let started = Instant::now();
            let p = run(i);
            s.push(started.elapsed().as_secs_f64());
            assert_eq!(p.len(), firsts[i].len());
        }
    }
    let mut tasks = Vec::new();
    for (i, t) in model.tasks.iter().enumerate() {
        let (first, secs) = (&firsts[i], &secs[i]);
        let mut sorted = secs.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        let check = if regression[i] {
            let mse = first.iter().zip(rating).map(|(p, y)| (p - y) * (p - y)).sum::<f64>() / rows as f64;
            format!("\"rmse\": {}", mse.sqrt())
        } else {
            let k = first.len() / rows;
            let correct = (0..rows)
                .filter(|&i| {
                    let p = &first[i * k..(i + 1) * k];
                    (t.forest.class_from_proba(p) as f64 - good[i]).abs() < 0.5
                })
                .count();
            format!("\"accuracy\": {}", correct as f64 / rows as f64)
        };
        tasks.push(format!(
            "{{\"task\": \"{}\", \"trees\": {}, \"rows\": {rows}, \"predict_seconds\": {median}, \"predict_rows_per_second\": {}, \"passes\": {:?}, {check}}}",
            if regression[i] { "regression" } else { "classification" },
            t.forest.num_trees(),
            rows as f64 / median,
            secs
        ));
    }
    println!(
        "{{\"threads\": {}, \"features\": {cols}, \"tasks\": [{}]}}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        tasks.join(", ")
    );
}
