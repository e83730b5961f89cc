//! A progress seam: libraries report long work through [`Progress`]; the binary draws bars
//! (`reelforest-telemetry`), the cluster turns it into progress events, tests ignore it.

/// Receives progress of a long step. Implementations must be cheap and thread-safe.
pub trait Progress: Send + Sync {
    /// A step starts; `total` units are expected when known (rows, bytes, trees).
    fn begin(&self, step: &str, total: Option<u64>);
    /// `n` more units are done.
    fn advance(&self, n: u64);
    /// The current step is over.
    fn end(&self);
    /// The job enters a new stage (the cluster reports it; bars ignore it).
    fn stage(&self, _stage: Stage) {}
}

/// The stages of a job, in order (`Preprocess → Train → Evaluate → Publish`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Data generation, ingest, feature SQL.
    Preprocess,
    /// Tuning and the final fits.
    Train,
    /// Scoring the final models; the leakage audit.
    Evaluate,
    /// Writing the model and the report.
    Publish,
}

/// Discards all progress.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _step: &str, _total: Option<u64>) {}
    fn advance(&self, _n: u64) {}
    fn end(&self) {}
}
