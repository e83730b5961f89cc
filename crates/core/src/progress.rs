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
}

/// Discards all progress.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _step: &str, _total: Option<u64>) {}
    fn advance(&self, _n: u64) {}
    fn end(&self) {}
}
