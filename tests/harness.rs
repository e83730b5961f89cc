//! Test harness for the end-to-end tests: finds the `reelforest` binary that `cargo test
//! --workspace` built beside the test executable, runs it with a private warehouse, and
//! returns its output for assertions with readable failure messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `../shared/datasets` beside the repository.
pub fn datasets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets")
}

/// Polls `cond` every `every` until it holds; panics with `what` and `context()` once
/// `timeout` has passed. For conditions no event announces (an HTTP endpoint turning ready, a
/// job showing up in another process's status or work directory): the interval only says how
/// often to look, the condition is what the caller waits for.
pub fn wait_until(
    timeout: Duration,
    every: Duration,
    what: &str,
    mut cond: impl FnMut() -> bool,
    context: impl Fn() -> String,
) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}\n{}", context());
        std::thread::sleep(every);
    }
}

/// A loopback port nobody listens on right now (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Arguments of `reelforest executor` for a test cluster on loopback: Flight and gRPC ports,
/// the scheduler's port, task slots, a 1 s heartbeat and a private work directory (health on
/// any free port, announced in its log).
pub fn executor_args(flight: u16, grpc: u16, scheduler_port: u16, slots: usize, work: &Path) -> Vec<String> {
    let work = work.to_str().expect("utf-8 path");
    [
        "executor",
        "--port",
        &flight.to_string(),
        "--grpc-port",
        &grpc.to_string(),
        "--health-port",
        "0",
        "--scheduler-host",
        "127.0.0.1",
        "--scheduler-port",
        &scheduler_port.to_string(),
        "--concurrent-tasks",
        &slots.to_string(),
        "--heartbeat-interval-seconds",
        "1",
        "--work-dir",
        work,
    ]
    .iter()
    .map(|a| a.to_string())
    .collect()
}

/// The `reelforest` binary of the current build profile.
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/e2e-<hash> -> target/<profile>/reelforest
    let dir = exe.parent().and_then(Path::parent).expect("target profile dir");
    let bin = dir.join("reelforest");
    assert!(
        bin.exists(),
        "{} not found: run the tests with `cargo test --workspace` (which builds the binary) or `cargo build -p reelforest` first",
        bin.display()
    );
    bin
}

/// A finished command: exit status and text output.
#[derive(Debug)]
pub struct Run {
    /// Whether it exited 0.
    pub success: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Panics with both streams unless the command succeeded.
    pub fn ok(self) -> Self {
        assert!(self.success, "command failed\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }

    /// Panics with both streams unless the command failed.
    pub fn failed(self) -> Self {
        assert!(
            !self.success,
            "command unexpectedly succeeded\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// A scratch directory with its own warehouse.
#[derive(Debug)]
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// A new empty sandbox.
    pub fn new() -> Self {
        Sandbox { dir: tempfile::tempdir().expect("tempdir") }
    }

    /// Its directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Its warehouse directory.
    pub fn warehouse(&self) -> PathBuf {
        self.dir.path().join("warehouse")
    }

    /// Runs `reelforest ARGS` with this sandbox's warehouse and as working directory.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, None)
    }

    /// Same, feeding `stdin`.
    pub fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Run {
        use std::io::Write;
        let mut cmd = Command::new(binary());
        cmd.args(args)
            .current_dir(self.path())
            .env("REELFOREST_WAREHOUSE", self.warehouse())
            .env("REELFOREST_QUIET", "true")
            .env_remove("REELFOREST_LOG")
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn reelforest");
        if let Some(text) = stdin {
            child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write stdin");
        }
        let Output { status, stdout, stderr } = child.wait_with_output().expect("wait");
        Run {
            success: status.success(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }
}
