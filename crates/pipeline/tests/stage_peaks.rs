//! Stage peaks measure memory touched within a stage (Linux `/proc/self/clear_refs`).
//!
//! Its own test binary, with one test, so no other test allocates or resets the high-water
//! mark in this process while it measures.

use reelforest_pipeline::memory::{StagePeaks, reset_peak_rss};

#[test]
fn a_stage_peak_sees_memory_touched_in_that_stage_only() {
    if !reset_peak_rss() {
        // No /proc (or a sandbox refusing the reset): nothing is measured, nothing reported.
        let mut peaks = StagePeaks::start();
        peaks.mark("quiet");
        assert!(peaks.into_peaks().is_empty());
        return;
    }
    let mut peaks = StagePeaks::start();
    peaks.mark("quiet");
    let big = vec![1u8; 64 << 20];
    let touched: u64 = big.iter().step_by(4096).map(|&b| b as u64).sum();
    assert_eq!(touched, (64 << 20) / 4096);
    // Freed before the mark: the mark is the peak *during* the stage, and the reset at the mark
    // starts the next stage from what is resident then (memory still held would count again).
    drop(big);
    peaks.mark("64 MiB");
    peaks.mark("after");
    let p = peaks.into_peaks();
    let names: Vec<&str> = p.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["quiet", "64 MiB", "after"]);
    assert!(p[1].1 >= p[0].1 + 60.0, "the 64 MiB stage's peak must exceed the quiet one: {p:?}");
    assert!(p[2].1 + 60.0 <= p[1].1, "the mark must be reset after the 64 MiB stage: {p:?}");
}
