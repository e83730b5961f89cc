//! Generates `N` ratings (first argument, default 1,000,000) and ingests them into a temp
//! warehouse, printing wall times: `cargo run --release -p reelforest-data --example synth_ingest -- 10000000`.

use reelforest_core::NoProgress;
use reelforest_data::{IngestOptions, SynthOptions, ingest, synth};
use std::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(1_000_000);
    let dir = std::env::temp_dir().join(format!("reelforest-synth-{n}"));
    let _ = std::fs::remove_dir_all(&dir);
    let t = Instant::now();
    let summary = synth(&SynthOptions { ratings: n, ..SynthOptions::default() }, &dir.join("data"))?;
    println!(
        "synth {} ratings, {} users, {} movies: {:.2?}",
        summary.ratings,
        summary.users,
        summary.movies,
        t.elapsed()
    );
    let wh = reelforest_warehouse::Warehouse::open(dir.join("wh").to_str().ok_or("path")?)?;
    let t = Instant::now();
    let report = ingest(&dir.join("data"), &IngestOptions::default(), &wh, &NoProgress).await?;
    println!("ingest {} ratings ({} rejected): {:.2?}", report.rows("ratings"), report.total_rejected, t.elapsed());
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
