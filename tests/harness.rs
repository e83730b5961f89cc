//! The one test harness of the end-to-end tests (`tests/e2e.rs`, `cluster.rs`, `ballista.rs`,
//! `s3.rs`): they drive the real `reelforest` binary that `cargo test --workspace` builds beside
//! the test executables, on the real datasets in `../shared/datasets`.
//!
//! | piece | what it is for |
//! | --- | --- |
//! | [`binary`], [`datasets`] | where the binary and the datasets are |
//! | [`reelforest`], [`run`], [`Run`] | a `reelforest` command with a clean environment; run it to the end and assert on its exit status and output |
//! | [`Sandbox`] | a scratch directory with its own warehouse, to run commands in |
//! | [`Proc`] | a long-running child process (coordinator, worker, scheduler, executor, server, moto), killed when dropped; its stdout and stderr lines as they come; wait for a line, read the address it prints |
//! | [`http`], [`get`], [`Response`] | a raw-TCP HTTP/1.1 client: method, path, headers, body in; status, headers, body out |
//! | [`ClosedPort`] | a loopback port where connections are refused, for "nothing answers there" tests |
//! | [`wait_until`] | a deadline-bounded poll, for the few conditions no event announces |
//! | [`executor_args`], [`start_scheduler`], [`start_executor`] | a Ballista test cluster on loopback |
//!
//! **Ports.** No test picks a port: every daemon binds port 0 and prints the address it got
//! (`coordinator listening on ADDR`, `scheduler listening on ADDR`, `listening on http://ADDR`,
//! `executor health on ADDR` / `executor flight on ADDR`), and the tests read it with
//! [`Proc::wait_for_addr`]. A port that must refuse connections is a [`ClosedPort`], held for
//! the test's lifetime. There is no "free port" helper: a port found free and released is a
//! race with every other process on the machine.
//!
//! **Waiting.** Waits are on events, each with a deadline that fails the test loudly with the
//! process's recent output: a line a process prints ([`Proc::wait_for_line`]), a process's exit
//! ([`Proc::wait_exit`]), a job's status stream (in `cluster.rs`). Where no event exists (an
//! executor registering with Ballista, a job showing up in Ballista's REST API), [`wait_until`]
//! polls the condition until a deadline. Nothing sleeps to synchronise.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// `../shared/datasets` beside the repository.
pub fn datasets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets")
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

/// Polls `cond` every `every` until it holds; panics with `what` and `context()` once
/// `timeout` has passed. Only for conditions no event announces (an executor registering with
/// Ballista, a job showing up in another process's status or work directory): the interval only
/// says how often to look, the condition is what the caller waits for.
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

// ---------------------------------------------------------------------------------------------
// Commands run to the end
// ---------------------------------------------------------------------------------------------

/// `reelforest ARGS` in `dir`, quiet (no progress bars), with no `REELFOREST_*` or `AWS_*`
/// variable inherited from the test's environment: every setting a test relies on is explicit.
pub fn reelforest(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(binary());
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("REELFOREST_") || key.starts_with("AWS_") {
            cmd.env_remove(&*key);
        }
    }
    cmd.args(args).current_dir(dir).env("REELFOREST_QUIET", "true");
    cmd
}

/// Runs `cmd` to the end with no standard input.
pub fn run(mut cmd: Command) -> Run {
    let out = cmd.stdin(Stdio::null()).output().expect("run the command");
    Run::from(out)
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

impl From<Output> for Run {
    fn from(out: Output) -> Self {
        Run {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
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

    /// `reelforest ARGS` (see [`reelforest`]) in this sandbox, with its warehouse.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = reelforest(self.path(), args);
        cmd.env("REELFOREST_WAREHOUSE", self.warehouse());
        cmd
    }

    /// Runs `reelforest ARGS` with this sandbox's warehouse and as working directory.
    pub fn run(&self, args: &[&str]) -> Run {
        run(self.command(args))
    }

    /// Same, feeding `stdin`.
    pub fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let Some(text) = stdin else { return self.run(args) };
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn reelforest");
        child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write stdin");
        Run::from(child.wait_with_output().expect("wait"))
    }

    /// Starts `reelforest ARGS` in this sandbox as a long-running [`Proc`] named `name`.
    pub fn spawn(&self, name: &str, args: &[&str]) -> Proc {
        Proc::spawn(name, self.command(args))
    }
}

// ---------------------------------------------------------------------------------------------
// Long-running processes
// ---------------------------------------------------------------------------------------------

/// Which output stream a [`Line`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output (where the binaries print their addresses and results).
    Stdout,
    /// Standard error (logs, errors).
    Stderr,
}

/// One line a [`Proc`] printed.
#[derive(Debug, Clone)]
pub struct Line {
    /// Its stream.
    pub stream: Stream,
    /// The text, without the line end (invalid UTF-8 replaced).
    pub text: String,
}

/// Everything a process printed so far, and how many of its streams are still open.
#[derive(Debug, Default)]
struct Transcript {
    lines: Vec<Line>,
    open: usize,
}

/// A transcript shared with the reader threads; `changed` is notified on every line and at
/// the end of each stream.
#[derive(Debug, Default)]
struct Shared {
    transcript: Mutex<Transcript>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Transcript> {
        self.transcript.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A child process killed (SIGKILL) and reaped when dropped, with its stdout and stderr read
/// line by line as they come (two reader threads drain the pipes to the end, so the child never
/// blocks on a full pipe). The lines are kept for [`Proc::wait_for_line`], [`Proc::text`] and
/// the failure messages ([`Proc::tail`]).
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    shared: Arc<Shared>,
}

impl Proc {
    /// Spawns `cmd` (standard input empty, output piped) as `name` (used in messages).
    pub fn spawn(name: &str, mut cmd: Command) -> Proc {
        cmd.stdin(Stdio::null());
        Self::start(name, cmd)
    }

    /// Same, but standard input is a pipe the fixture holds open until it is dropped (for
    /// servers that run until their stdin closes, like `tests/s3/moto_server.py`).
    pub fn spawn_holding_stdin(name: &str, mut cmd: Command) -> Proc {
        cmd.stdin(Stdio::piped());
        Self::start(name, cmd)
    }

    fn start(name: &str, mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name} ({:?}): {e}", cmd.get_program()));
        let shared = Arc::new(Shared::default());
        shared.lock().open = 2;
        let stdout = child.stdout.take().expect("stdout piped");
        let stderr = child.stderr.take().expect("stderr piped");
        read_lines(stdout, Stream::Stdout, shared.clone());
        read_lines(stderr, Stream::Stderr, shared.clone());
        Proc { name: name.to_string(), stdin: child.stdin.take(), child, shared }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until it has printed a line (on either stream) for which `pred` holds, and returns
    /// the first such line. Panics, with the recent output, when `timeout` passes first or when
    /// both streams end (the process exited) without one.
    pub fn wait_for_line(&mut self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        let mut scanned = 0;
        let mut t = self.shared.lock();
        loop {
            if let Some(line) = t.lines[scanned..].iter().find(|l| pred(&l.text)) {
                return line.text.clone();
            }
            scanned = t.lines.len();
            let now = Instant::now();
            if t.open == 0 || now >= deadline {
                let ended = t.open == 0;
                drop(t);
                let why = if ended {
                    format!("its output ended (exit status {:?})", self.child.try_wait().ok().flatten())
                } else {
                    format!("timed out after {timeout:?}")
                };
                panic!("{} never printed {what}: {why}\n{}", self.name, self.tail(40));
            }
            t = self.shared.changed.wait_timeout(t, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// Waits for a line starting with `prefix` and returns the rest of it, trimmed.
    pub fn wait_for_prefix(&mut self, prefix: &str, timeout: Duration) -> String {
        let line = self.wait_for_line(&format!("a line starting with {prefix:?}"), timeout, |l| l.starts_with(prefix));
        line[prefix.len()..].trim().to_string()
    }

    /// Waits for the line `PREFIX HOST:PORT[ ...]` a daemon prints once it listens, and returns
    /// the address (the first word after the prefix).
    pub fn wait_for_addr(&mut self, prefix: &str, timeout: Duration) -> SocketAddr {
        let rest = self.wait_for_prefix(prefix, timeout);
        let word = rest.split_whitespace().next().unwrap_or_default();
        word.parse().unwrap_or_else(|e| panic!("{}: {word:?} after {prefix:?} is no address: {e}", self.name))
    }

    /// Everything it printed so far, both streams interleaved in arrival order.
    pub fn text(&self) -> String {
        self.joined(|_| true)
    }

    /// What it printed on `stream` so far.
    pub fn stream_text(&self, stream: Stream) -> String {
        self.joined(|l| l.stream == stream)
    }

    fn joined(&self, keep: impl Fn(&Line) -> bool) -> String {
        let t = self.shared.lock();
        t.lines.iter().filter(|l| keep(l)).flat_map(|l| [l.text.as_str(), "\n"]).collect()
    }

    /// Its last `n` lines, headed by its name: the context of a failure message.
    pub fn tail(&self, n: usize) -> String {
        let t = self.shared.lock();
        let from = t.lines.len().saturating_sub(n);
        let lines: Vec<&str> = t.lines[from..].iter().map(|l| l.text.as_str()).collect();
        format!("--- {} (last {} lines)\n{}", self.name, lines.len(), lines.join("\n"))
    }

    /// Its exit status if it has exited.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// Sends SIGTERM (a graceful stop request).
    pub fn terminate(&self) {
        let pid = self.pid().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
        assert!(status.success(), "kill -TERM {pid} ({}) failed", self.name);
    }

    /// SIGKILL, like `kill -9`, and reaps it.
    pub fn kill9(&mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
    }

    /// Waits for it to exit, at most `timeout`, and returns its exit status; on the deadline it
    /// is killed and the test fails. The event waited for is the end of both output streams
    /// (the process closing them by exiting), then the exit status is collected.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let mut t = self.shared.lock();
        while t.open > 0 {
            let now = Instant::now();
            if now >= deadline {
                drop(t);
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("{} did not exit within {timeout:?}\n{}", self.name, self.tail(40));
            }
            t = self.shared.changed.wait_timeout(t, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
        }
        drop(t);
        self.child.wait().expect("wait")
    }

    /// Waits for it to exit (see [`Proc::wait_exit`]) and returns what it printed.
    pub fn finish(mut self, timeout: Duration) -> Run {
        let status = self.wait_exit(timeout);
        Run {
            success: status.success(),
            stdout: self.stream_text(Stream::Stdout),
            stderr: self.stream_text(Stream::Stderr),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stdin.take();
    }
}

/// Reads `pipe` line by line into `shared` on a thread of its own, to the end.
fn read_lines(pipe: impl Read + Send + 'static, stream: Stream, shared: Arc<Shared>) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&buf).trim_end_matches(['\n', '\r']).to_string();
                    shared.lock().lines.push(Line { stream, text });
                    shared.changed.notify_all();
                }
            }
        }
        shared.lock().open -= 1;
        shared.changed.notify_all();
    });
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

/// An HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header fields, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked), as text.
    pub body: String,
}

impl Response {
    /// The first header field named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request over a fresh connection (`Connection: close`) to `addr`: `method`,
/// `path`, extra `headers` and an optional `body` (sent as `application/json` unless `headers`
/// name a `Content-Type`). Returns the status, headers and body (chunked bodies are decoded), or
/// the I/O error when nothing answers, for waits that poll. Connecting gives up after 5 s, a
/// silent server after 60 s.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> std::io::Result<Response> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    s.set_write_timeout(Some(Duration::from_secs(60)))?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() && !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-type")) {
        request.push_str("Content-Type: application/json\r\n");
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_response(&raw)
}

/// `GET path` with no extra headers (see [`http`]).
pub fn get(addr: SocketAddr, path: &str) -> std::io::Result<Response> {
    http(addr, "GET", path, &[], None)
}

fn invalid(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

/// Parses a whole HTTP/1.x response (the server closed the connection after it).
fn parse_response(raw: &[u8]) -> std::io::Result<Response> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid(format!("no end of headers in {:?}", String::from_utf8_lossy(raw))))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .filter(|_| status_line.starts_with("HTTP/1."))
        .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let field = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let body = if field("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)?
    } else if let Some(len) = field("content-length") {
        let len: usize = len.parse().map_err(|_| invalid(format!("bad Content-Length {len:?}")))?;
        rest.get(..len)
            .ok_or_else(|| invalid(format!("body has {} bytes, Content-Length says {len}", rest.len())))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response { status, headers, body: String::from_utf8_lossy(&body).into_owned() })
}

/// Decodes a chunked body (`SIZE\r\nDATA\r\n ... 0\r\n\r\n`).
fn dechunk(mut rest: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n").ok_or_else(|| invalid("truncated chunk size".into()))?;
        let size_field = String::from_utf8_lossy(&rest[..eol]);
        let size_hex = size_field.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| invalid(format!("bad chunk size {size_hex:?}")))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = rest.get(..size).ok_or_else(|| invalid("truncated chunk".into()))?;
        body.extend_from_slice(chunk);
        rest = rest.get(size + 2..).ok_or_else(|| invalid("truncated chunk end".into()))?;
    }
}

/// A loopback port where nothing listens, for as long as this value lives: a TCP socket bound
/// to `127.0.0.1:0` and never put in the listening state. Connections to it are refused (the
/// kernel answers RST: no listener), and no other process can take the port meanwhile (the
/// socket has no `SO_REUSEADDR`, so any later `bind` of the port fails). Unlike a port found
/// free and released, this cannot race with other processes.
#[derive(Debug)]
pub struct ClosedPort {
    _socket: tokio::net::TcpSocket,
    addr: SocketAddr,
}

impl Default for ClosedPort {
    fn default() -> Self {
        Self::new()
    }
}

impl ClosedPort {
    /// Reserves a port.
    pub fn new() -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind 127.0.0.1:0");
        let addr = socket.local_addr().expect("local address");
        ClosedPort { _socket: socket, addr }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

// ---------------------------------------------------------------------------------------------
// A Ballista test cluster
// ---------------------------------------------------------------------------------------------

/// How long a daemon may take to print its address or become ready.
pub const STARTUP: Duration = Duration::from_secs(90);

/// Arguments of `reelforest executor` for a test cluster on loopback: every port 0 (the
/// executor prints what it bound), the scheduler's port, task slots, a 1 s heartbeat and a
/// private work directory.
pub fn executor_args(scheduler_port: u16, slots: usize, work: &Path) -> Vec<String> {
    let work = work.to_str().expect("utf-8 path");
    let scheduler_port = scheduler_port.to_string();
    let slots = slots.to_string();
    [
        "executor",
        "--port",
        "0",
        "--grpc-port",
        "0",
        "--health-port",
        "0",
        "--scheduler-host",
        "127.0.0.1",
        "--scheduler-port",
        &scheduler_port,
        "--concurrent-tasks",
        &slots,
        "--heartbeat-interval-seconds",
        "1",
        "--work-dir",
        work,
    ]
    .iter()
    .map(|a| a.to_string())
    .collect()
}

/// Starts a `reelforest scheduler` command (give it `--port 0`) and returns it with the
/// address it printed.
pub fn start_scheduler(name: &str, cmd: Command) -> (Proc, SocketAddr) {
    let mut scheduler = Proc::spawn(name, cmd);
    let addr = scheduler.wait_for_addr("scheduler listening on ", STARTUP);
    (scheduler, addr)
}

/// The addresses a `reelforest executor` printed.
#[derive(Debug, Clone, Copy)]
pub struct ExecutorAddrs {
    /// Its HTTP health server (`/healthz`, `/readyz`).
    pub health: SocketAddr,
    /// Its Arrow Flight server: the port it advertises to the scheduler.
    pub flight: SocketAddr,
}

/// Starts a `reelforest executor` command (see [`executor_args`]), reads the health and Flight
/// addresses it prints, and waits until it is registered with its scheduler: its `/readyz`
/// turns 200 after the first successful heartbeat. No event announces that, so it is polled
/// with a deadline.
pub fn start_executor(name: &str, cmd: Command) -> (Proc, ExecutorAddrs) {
    let mut executor = Proc::spawn(name, cmd);
    let health = executor.wait_for_addr("executor health on ", STARTUP);
    let flight = executor.wait_for_addr("executor flight on ", STARTUP);
    assert!(flight.port() != 0 && flight.port() != health.port(), "{name}: flight {flight}, health {health}");
    wait_until(
        STARTUP,
        Duration::from_millis(100),
        &format!("{name} to register with the scheduler (its /readyz)"),
        || get(health, "/readyz").is_ok_and(|r| r.status == 200),
        || executor.tail(40),
    );
    (executor, ExecutorAddrs { health, flight })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_parse_with_length_chunks_or_close() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello").expect("length");
        assert_eq!((r.status, r.body.as_str(), r.header("x-a")), (200, "hello", Some("b")));
        let r = parse_response(
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        )
        .expect("chunked");
        assert_eq!((r.status, r.body.as_str()), (404, "abcde"));
        let r = parse_response(b"HTTP/1.0 503 Service Unavailable\r\n\r\nnot ready\n").expect("close");
        assert_eq!((r.status, r.body.as_str()), (503, "not ready\n"));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort").is_err());
        assert!(parse_response(b"garbage").is_err());
        assert!(parse_response(b"SSH-2.0 x\r\n\r\n").is_err());
    }

    #[test]
    fn a_closed_port_refuses_and_cannot_be_taken() {
        let closed = ClosedPort::new();
        let err = TcpStream::connect(closed.addr()).expect_err("nothing listens");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
        std::net::TcpListener::bind(closed.addr()).expect_err("the port is held");
        assert!(get(closed.addr(), "/").is_err());
    }

    #[test]
    fn a_proc_reports_lines_exit_and_output() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo 'listening on 127.0.0.1:4242 now'; echo oops >&2; read x; echo \"got $x\"; exit 3"]);
        let mut p = Proc::spawn_holding_stdin("sh", cmd);
        assert_eq!(p.wait_for_addr("listening on ", Duration::from_secs(30)).port(), 4242);
        p.wait_for_line("the error line", Duration::from_secs(30), |l| l == "oops");
        // stdin is held open: `read` waits until the fixture closes it.
        assert!(p.try_exit().is_none());
        p.stdin.take();
        let run = p.finish(Duration::from_secs(30));
        assert!(!run.success);
        assert_eq!(run.stdout, "listening on 127.0.0.1:4242 now\ngot \n");
        assert_eq!(run.stderr, "oops\n");
    }

    #[test]
    #[should_panic(expected = "its output ended")]
    fn waiting_for_a_line_that_never_comes_fails_at_the_exit() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo something else"]);
        Proc::spawn("sh", cmd).wait_for_line("the ready line", Duration::from_secs(600), |l| l == "ready");
    }
}
