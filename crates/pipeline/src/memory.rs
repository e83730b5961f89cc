//! Peak resident memory of this process, per stage of a run.
//!
//! Linux keeps a high-water mark of the resident set (`VmHWM` in `/proc/self/status`). Writing
//! `5` to `/proc/self/clear_refs` resets it to the current resident set, so the mark read at the
//! end of a stage is the peak *during* that stage (memory still held from earlier stages
//! included, since it is resident). [`StagePeaks`] does that around each stage of `run_job`, and
//! the report carries the result, so "peak memory while training" can be told apart from the
//! peak of the whole process, the highest stage peak. (`wait4`'s `ru_maxrss` is not a safe
//! substitute for the latter: the kernel takes it from the same mark at exit, so the resets can
//! hide an earlier stage's peak from it.)
//!
//! Elsewhere (other systems, or a `/proc` that refuses the reset) nothing is recorded: a stage
//! peak is only reported when it was measured.
//!
//! Between stages [`StagePeaks::mark`] also hands the allocator's free pages back to the system
//! ([`release_free_memory`]). glibc keeps what a thread freed in that thread's arena, so what
//! DataFusion's threads allocated and freed while building the feature tables stayed resident
//! through training, and the training stage's peak included it although nothing used it any
//! more. Measured on ml-latest-small (`bench/run.sh`, median of 3): resident memory entering
//! the stages after the features fell from 184 to 131 MiB, the train+evaluate peak from 198 to
//! 149 MiB.

use std::path::Path;

/// The process's resident-set high-water mark in bytes, if the system exposes it.
pub fn peak_rss_bytes() -> Option<u64> {
    status_kib(Path::new("/proc/self/status"), "VmHWM:").map(|kib| kib * 1024)
}

/// Resets the high-water mark to the current resident set. `false` when that is not possible.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", b"5").is_ok() && peak_rss_bytes().is_some()
}

/// Asks the C allocator to return the free pages of all its arenas to the system (glibc's
/// `malloc_trim(0)`, which also releases whole free pages inside an arena, not only at its
/// top). Returns whether anything was released. Live allocations are untouched; elsewhere than
/// glibc this does nothing and returns `false`. Call it between pieces of work: it locks each
/// arena in turn while it walks it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // the workspace's one FFI call, see the SAFETY note
pub fn release_free_memory() -> bool {
    unsafe extern "C" {
        fn malloc_trim(pad: usize) -> i32;
    }
    // SAFETY: `malloc_trim` takes no pointer and has no precondition; glibc serialises it with
    // every other allocator call (it is MT-Safe, malloc_trim(3)).
    unsafe { malloc_trim(0) == 1 }
}

/// Not glibc: nothing to release (see the glibc version).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_memory() -> bool {
    false
}

fn status_kib(path: &Path, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    parse_status_kib(&text, key)
}

/// The value of a `Key:   1234 kB` line of a `/proc/<pid>/status` text, in KiB.
fn parse_status_kib(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    let mut parts = line[key.len()..].split_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") | None => Some(value),
        Some(_) => None,
    }
}

/// Peak resident memory per stage, in MiB, measured by resetting the high-water mark at the
/// start of each stage.
#[derive(Debug, Default)]
pub struct StagePeaks {
    enabled: bool,
    peaks: Vec<(String, f64)>,
}

impl StagePeaks {
    /// Starts measuring (resets the mark); disabled when the system cannot reset it.
    pub fn start() -> Self {
        Self { enabled: reset_peak_rss(), peaks: Vec::new() }
    }

    /// Records the peak since the last mark under `stage`, returns the allocator's free pages
    /// to the system ([`release_free_memory`]) and resets the mark for the next stage.
    pub fn mark(&mut self, stage: &str) {
        if !self.enabled {
            release_free_memory();
            return;
        }
        if let Some(bytes) = peak_rss_bytes() {
            self.peaks.push((stage.to_string(), bytes as f64 / (1024.0 * 1024.0)));
        }
        let released = release_free_memory();
        tracing::debug!(stage, released, "returned free allocator pages to the system");
        self.enabled = reset_peak_rss();
    }

    /// The recorded peaks, in stage order (empty when the system could not measure them).
    pub fn into_peaks(self) -> Vec<(String, f64)> {
        self.peaks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_lines() {
        let text = "Name:\tx\nVmPeak:\t  200 kB\nVmHWM:\t   1234 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(parse_status_kib(text, "VmHWM:"), Some(1234));
        assert_eq!(parse_status_kib(text, "VmRSS:"), Some(1000));
        assert_eq!(parse_status_kib(text, "VmSwap:"), None);
        assert_eq!(parse_status_kib("VmHWM:\t12 MB\n", "VmHWM:"), None);
    }
}
