//! # reelforest-telemetry
//!
//! The one place that sets up logging and draws progress, so every subcommand behaves alike:
//!
//! - [`LogArgs`]: `--log-level` / `--log-format` (env `REELFOREST_LOG`, `REELFOREST_LOG_FORMAT`),
//!   flattened into every subcommand's clap struct.
//! - [`init`]: installs the tracing subscriber (logs go to stderr, so stdout stays clean for
//!   query results and reports).
//! - [`Bars`]: an [`indicatif`] implementation of [`reelforest_core::Progress`]. On a terminal
//!   it draws bars; otherwise (CI logs, pipes) it logs one line when each step ends.
#![deny(missing_docs)]

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use reelforest_core::Progress;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Instant;
use tracing_subscriber::EnvFilter;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging flags shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log filter: a level (error, warn, info, debug, trace) or a tracing directive list.
    #[arg(long, global = true, env = "REELFOREST_LOG", default_value = "warn")]
    pub log_level: String,
    /// Log format.
    #[arg(long, global = true, env = "REELFOREST_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Hide progress bars.
    #[arg(long, global = true, env = "REELFOREST_QUIET")]
    pub quiet: bool,
}

/// Installs the global tracing subscriber. Call once, first thing in `main`.
pub fn init(args: &LogArgs) {
    let filter = EnvFilter::try_new(&args.log_level).unwrap_or_else(|_| EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second init (tests calling main twice) is harmless: keep the first subscriber.
    let _ = match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Progress bars on stderr, one at a time, implementing [`Progress`].
#[derive(Debug)]
pub struct Bars {
    enabled: bool,
    current: Mutex<Option<(ProgressBar, String, Instant)>>,
}

impl Bars {
    /// Bars drawn when stderr is a terminal and `quiet` is false; plain step lines otherwise.
    pub fn new(quiet: bool) -> Self {
        Bars { enabled: !quiet, current: Mutex::new(None) }
    }
}

impl Progress for Bars {
    fn begin(&self, step: &str, total: Option<u64>) {
        self.end();
        let bar = match total {
            Some(n) => ProgressBar::new(n).with_style(
                ProgressStyle::with_template("{spinner} {msg:<28} [{bar:30}] {pos}/{len} ({eta} left)")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {msg:<28} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        let target = if self.enabled && std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        bar.set_draw_target(target);
        bar.set_message(step.to_string());
        if let Ok(mut cur) = self.current.lock() {
            *cur = Some((bar, step.to_string(), Instant::now()));
        }
    }

    fn advance(&self, n: u64) {
        if let Ok(cur) = self.current.lock()
            && let Some((bar, _, _)) = cur.as_ref()
        {
            bar.inc(n);
        }
    }

    fn end(&self) {
        let Ok(mut cur) = self.current.lock() else { return };
        if let Some((bar, step, started)) = cur.take() {
            let secs = started.elapsed().as_secs_f64();
            bar.finish_and_clear();
            if self.enabled {
                eprintln!("  ✓ {step} ({secs:.2}s)");
            }
            tracing::info!(step = %step, seconds = secs, "step done");
        }
    }
}
