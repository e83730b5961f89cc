//! Peak resident memory of this process, per stage of a run.
//!
//! Linux keeps a high-water mark of the resident set (`VmHWM` in `/proc/self/status`). Writing
//! `5` to `/proc/self/clear_refs` resets it to the current resident set, so the mark read at the
//! end of a stage is the peak *during* that stage (memory still held from earlier stages
//! included, since it is resident). [`StagePeaks`] does that around each stage of `run_job`, and
//! the report carries the result, so "peak memory while training" can be told apart from the
//! peak of the whole process (which `wait4`'s `ru_maxrss` gives and resetting does not change).
//!
//! Elsewhere (other systems, or a `/proc` that refuses the reset) nothing is recorded: a stage
//! peak is only reported when it was measured.

use std::path::Path;

/// The process's resident-set high-water mark in bytes, if the system exposes it.
pub fn peak_rss_bytes() -> Option<u64> {
    status_kib(Path::new("/proc/self/status"), "VmHWM:").map(|kib| kib * 1024)
}

/// Resets the high-water mark to the current resident set. `false` when that is not possible.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", b"5").is_ok() && peak_rss_bytes().is_some()
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

    /// Records the peak since the last mark under `stage` and resets the mark for the next one.
    pub fn mark(&mut self, stage: &str) {
        if !self.enabled {
            return;
        }
        if let Some(bytes) = peak_rss_bytes() {
            self.peaks.push((stage.to_string(), bytes as f64 / (1024.0 * 1024.0)));
        }
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
