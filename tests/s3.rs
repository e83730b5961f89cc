//! The warehouse on S3 (issue 6, deliverable 4), against a real S3-compatible server: moto's
//! server (`tests/s3/moto_server.py`, installed by `tests/s3/setup.sh`) started by each test on
//! a free loopback port, with authentication on (an IAM user allowed `s3:*`; other keys are
//! refused like real S3 refuses them). Every `reelforest` process gets the standard `AWS_*`
//! variables and nothing else about S3.
//!
//! - `warehouse_on_s3_end_to_end`: `data ingest` of ml-latest-small into `s3://BUCKET/wh`,
//!   `features` embedded, `features --cluster` on a Ballista scheduler + executor (both with
//!   the S3 environment) equal to the embedded tables, `sql` over the S3 tables (embedded and
//!   on the cluster), a training `run` writing its model to S3, `predict` and `serve` loading
//!   it from there (one `/api/predict`), and a job on the coordinator + a worker.
//! - `s3_failures_are_one_clear_line`: wrong secret, unknown key id, a missing bucket, an
//!   unreachable endpoint and a plain-HTTP endpoint without `AWS_ALLOW_HTTP` each fail with one
//!   line naming the bucket/endpoint and the cause, exit non-zero, and leave nothing behind.
//!
//! Readiness is an event wherever there is one: moto prints one JSON line once its buckets and
//! key exist, the scheduler, executor, coordinator and server print their addresses. Only
//! "all executors registered" has no event; it is polled on the scheduler's `/readyz` with a
//! deadline, as in `tests/ballista.rs`.

use reelforest_e2e::{Run, binary, datasets, executor_args, free_port, wait_until};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BUCKET: &str = "reelforest-wh";
const STARTUP: Duration = Duration::from_secs(90);

/// The Python of the venv `tests/s3/setup.sh` creates (or `$REELFOREST_S3_PYTHON`).
fn moto_python() -> PathBuf {
    let python = std::env::var_os("REELFOREST_S3_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/s3-venv/bin/python"));
    assert!(
        python.exists(),
        "the S3 tests need moto's server: {} is missing. Install it with `bash tests/s3/setup.sh` \
         (a venv at target/s3-venv with moto[server] from PyPI; `.ci/run` does this), or point \
         REELFOREST_S3_PYTHON at a Python that has `moto[server]`.",
        python.display()
    );
    python
}

/// A running moto server; stopped (stdin closed, then killed) on drop.
struct Moto {
    child: Child,
    _stdin: ChildStdin,
    endpoint: String,
    key: String,
    secret: String,
}

impl Moto {
    /// Starts moto on a free loopback port with `buckets` created, and waits for its ready line.
    fn start(dir: &Path, buckets: &[&str]) -> Moto {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("s3/moto_server.py");
        let log = dir.join("moto.log");
        let mut child = Command::new(moto_python())
            .arg(&script)
            .args(buckets)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).expect("moto log"))
            .spawn()
            .expect("spawn moto's server");
        let stdin = child.stdin.take().expect("stdin");
        let line = first_line(child.stdout.take().expect("stdout"), "{", STARTUP);
        let Some(line) = line else {
            let _ = child.kill();
            let status = child.wait().ok();
            panic!(
                "moto printed no ready line within {STARTUP:?} (exit {status:?})\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        let info: serde_json::Value = serde_json::from_str(&line).expect("moto's JSON line");
        let field = |k: &str| info[k].as_str().unwrap_or_else(|| panic!("{k} in {line}")).to_string();
        Moto {
            endpoint: field("endpoint"),
            key: field("access_key_id"),
            secret: field("secret_access_key"),
            child,
            _stdin: stdin,
        }
    }

    /// The environment of a process that may use the server.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", self.key.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret.clone()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first line of `out` starting with `prefix` (the rest is drained in the background), or
/// `None` when the stream ends or `timeout` passes first.
fn first_line(out: impl Read + Send + 'static, prefix: &str, timeout: Duration) -> Option<String> {
    let (tx, rx) = mpsc::channel();
    let prefix = prefix.to_string();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if line.starts_with(&prefix)
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(line);
            }
        }
    });
    rx.recv_timeout(timeout).ok()
}

/// `reelforest ARGS` in `dir` with `env`, and no S3 or reelforest settings inherited.
fn reelforest(dir: &Path, env: &[(&str, String)], args: &[&str]) -> Command {
    let mut cmd = Command::new(binary());
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") || key.starts_with("REELFOREST_") {
            cmd.env_remove(key);
        }
    }
    cmd.args(args).current_dir(dir).env("REELFOREST_QUIET", "true").envs(env.iter().map(|(k, v)| (k, v)));
    cmd
}

/// Runs a command to completion.
fn run(mut cmd: Command) -> Run {
    let out = cmd.stdin(Stdio::null()).output().expect("run reelforest");
    Run {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A long-running `reelforest` process (scheduler, executor, coordinator, worker, server),
/// killed on drop; its stderr goes to `<name>.log`.
struct Service {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Service {
    /// Starts `cmd` and returns it with the rest of its first stdout line starting with
    /// `prefix` (its address).
    fn start(dir: &Path, name: &str, mut cmd: Command, prefix: &str) -> (Service, String) {
        let log = dir.join(format!("{name}.log"));
        cmd.env("REELFOREST_LOG", "info").stdin(Stdio::null()).stdout(Stdio::piped());
        let mut child = cmd.stderr(File::create(&log).expect("log")).spawn().expect("spawn reelforest");
        let line = first_line(child.stdout.take().expect("stdout"), prefix, STARTUP);
        let service = Service { name: name.to_string(), child, log };
        match line {
            Some(line) => {
                let rest = line[prefix.len()..].trim().to_string();
                (service, rest)
            }
            None => panic!("{name} printed no {prefix:?} line within {STARTUP:?}\n{}", service.log_tail()),
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!("--- {} (last 30 lines)\n{}", self.name, lines[lines.len().saturating_sub(30)..].join("\n"))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.0 request (the server closes after the body): `(status, body)`, `None` when the
/// connection fails.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()))
}

/// The single value a `sql --format csv` query printed (header, then one row).
fn scalar(out: &Run) -> String {
    let lines: Vec<&str> = out.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 2, "expected a header and one row:\n{}", out.stdout);
    lines[1].trim().to_string()
}

/// The `error: ...` line of a failed command; checks there is exactly one.
fn error_line(out: &Run) -> String {
    let errors: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "one error line expected:\n{}", out.stderr);
    errors[0].to_string()
}

const JOB: &str = r#"
name = "s3-rf"
tasks = ["regression", "classification"]
[features]
split = { kind = "random", test_fraction = 0.2 }
seed = 42
[forest]
numTrees = 8
maxDepth = 6
maxBins = 16
seed = 42
[audit]
leaky = false
"#;

const CLUSTER_JOB: &str = r#"
name = "s3-cluster"
tasks = ["regression"]
[data]
source = "synth"
synth = { ratings = 15000, seed = 3 }
[forest]
numTrees = 6
maxDepth = 5
seed = 5
[audit]
leaky = false
"#;

#[test]
fn warehouse_on_s3_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let moto = Moto::start(d, &[BUCKET]);
    let env = moto.env();
    let wh = format!("s3://{BUCKET}/wh");
    let small = datasets().join("ml-latest-small");
    let cmd = |args: &[&str]| {
        let mut full: Vec<&str> = args.to_vec();
        full.extend_from_slice(&["--warehouse", &wh]);
        reelforest(d, &env, &full)
    };
    let sql = |query: &str, cluster: Option<&str>| {
        let mut args = vec!["sql", "--format", "csv"];
        if let Some(url) = cluster {
            args.extend_from_slice(&["--cluster", url]);
        }
        args.push(query);
        run(cmd(&args)).ok()
    };

    // Ingest into S3.
    let out = run(cmd(&["data", "ingest", "--source", small.to_str().expect("utf8")])).ok();
    assert!(out.stdout.contains(&format!("into s3://{BUCKET}/wh/")), "{}", out.stdout);
    assert_eq!(scalar(&sql("SELECT count(*) AS n FROM ratings", None)), "100836");
    assert!(!d.join("warehouse").exists(), "nothing may land on the local disk");

    // Features, embedded.
    run(cmd(&["features", "--out", "honest"])).ok();
    let train_rows = scalar(&sql("SELECT count(*) AS n FROM honest.train", None));
    assert!(train_rows.parse::<u64>().expect("count") > 70_000, "{train_rows}");

    // Features on Ballista: scheduler and executor read S3 with their own AWS_* environment.
    {
        let mut scheduler_cmd = reelforest(d, &env, &["scheduler", "--port", "0", "--min-ready-executors", "1"]);
        scheduler_cmd.env("REELFOREST_LOG", "info");
        let (scheduler, addr) = Service::start(d, "scheduler", scheduler_cmd, "scheduler listening on ");
        let addr: SocketAddr = addr.parse().expect("scheduler address");
        let work = d.join("executor-work");
        let args = executor_args(free_port(), free_port(), addr.port(), 2, &work);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let executor_cmd = reelforest(d, &env, &argv);
        let (executor, _health) = Service::start(d, "executor", executor_cmd, "executor health on ");
        // No event says "an executor registered": poll /readyz with a deadline.
        wait_until(
            STARTUP,
            Duration::from_millis(100),
            "an executor to register (scheduler /readyz)",
            || http(addr, "GET", "/readyz", "").is_some_and(|(status, _)| status == 200),
            || format!("{}\n{}", scheduler.log_tail(), executor.log_tail()),
        );
        let cluster = format!("df://127.0.0.1:{}", addr.port());
        let out = run(cmd(&["features", "--out", "onballista", "--cluster", &cluster]));
        assert!(
            out.success,
            "features --cluster failed: {}\n{}\n{}",
            out.stderr,
            scheduler.log_tail(),
            executor.log_tail()
        );
        // The cluster's tables, read back through the cluster, equal the embedded ones.
        let count = sql("SELECT count(*) AS n FROM onballista.train", Some(&cluster));
        assert_eq!(scalar(&count), train_rows);
        for (a, b) in [("honest", "onballista"), ("onballista", "honest")] {
            let query = format!("SELECT count(*) AS n FROM (SELECT * FROM {a}.train EXCEPT SELECT * FROM {b}.train) d");
            assert_eq!(scalar(&sql(&query, None)), "0", "rows of {a}.train missing from {b}.train");
        }
    }

    // Training: the model lands in S3; predict and serve load it from there.
    let job = d.join("job.toml");
    std::fs::write(&job, JOB).expect("job");
    let out =
        run(cmd(&["run", job.to_str().expect("utf8"), "--out", "out", "--data", small.to_str().expect("utf8")])).ok();
    assert!(out.stdout.contains(&format!("s3://{BUCKET}/wh/models/s3-rf/")), "{}", out.stdout);
    let out = run(cmd(&["predict", "--model", "s3-rf", "--user", "1", "--movie", "1"])).ok();
    assert!(!out.stdout.trim().is_empty(), "predict printed nothing");
    {
        let serve_cmd = cmd(&["serve", "--model", "s3-rf", "--bind", "127.0.0.1:0", "--token", "s3-test-token"]);
        let (server, url) = Service::start(d, "serve", serve_cmd, "listening on http://");
        let addr: SocketAddr = url.parse().expect("server address");
        let (status, body) =
            http(addr, "POST", "/api/predict", r#"{"user_id": 1, "movie_id": 1}"#).expect("the server answers");
        assert_eq!(status, 200, "{body}\n{}", server.log_tail());
        let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        let text = json.to_string();
        assert!(text.contains("rating"), "{text}");
    }

    // A job on the training cluster: the coordinator and the worker both use S3.
    {
        let coordinator_cmd =
            cmd(&["coordinator", "--bind", "127.0.0.1:0", "--work-dir", "coordinator", "--trees-per-task", "3"]);
        let (coordinator, addr) = Service::start(d, "coordinator", coordinator_cmd, "coordinator listening on ");
        let url = format!("http://{addr}");
        // A worker prints nothing when it registers; the job simply waits for it.
        let log = d.join("worker.log");
        let mut worker_cmd = reelforest(d, &env, &["worker", "--coordinator", &url, "--threads", "1", "--name", "w0"]);
        worker_cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(File::create(&log).expect("log"));
        let _worker = Service { name: "worker".into(), child: worker_cmd.spawn().expect("spawn worker"), log };
        let cjob = d.join("cluster-job.toml");
        std::fs::write(&cjob, CLUSTER_JOB).expect("job");
        let out = run(reelforest(d, &env, &["submit", cjob.to_str().expect("utf8"), "--coordinator", &url]));
        assert!(out.success, "submit failed: {}\n{}\n{}", out.stderr, out.stdout, coordinator.log_tail());
        let out = run(cmd(&["predict", "--model", "s3-cluster", "--user", "1", "--movie", "1"])).ok();
        assert!(!out.stdout.trim().is_empty(), "predict printed nothing");
    }
}

#[test]
fn s3_failures_are_one_clear_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let moto = Moto::start(d, &[BUCKET]);
    let small = datasets().join("ml-latest-small");
    let source = small.to_str().expect("utf8");
    let wh = format!("s3://{BUCKET}/wh");
    let with = |overrides: &[(&'static str, String)]| {
        let mut env = moto.env();
        env.retain(|(k, _)| !overrides.iter().any(|(o, _)| o == k));
        env.extend(overrides.iter().cloned());
        env
    };
    let ingest = |env: &[(&str, String)], location: &str| {
        run(reelforest(d, env, &["data", "ingest", "--source", source, "--warehouse", location])).failed()
    };
    let bucket_at = format!("S3 bucket \"{BUCKET}\" at {}", moto.endpoint);

    let line = error_line(&ingest(&with(&[("AWS_SECRET_ACCESS_KEY", "wrong".into())]), &wh));
    assert!(line.contains(&bucket_at) && line.contains("credentials were refused (SignatureDoesNotMatch)"), "{line}");

    let line = error_line(&ingest(&with(&[("AWS_ACCESS_KEY_ID", "AKIAUNKNOWN0000000000".into())]), &wh));
    assert!(line.contains(&bucket_at) && line.contains("credentials were refused (InvalidAccessKeyId)"), "{line}");

    let line = error_line(&ingest(&moto.env(), "s3://no-such-bucket/wh"));
    assert!(line.contains(&format!("S3 bucket \"no-such-bucket\" at {}", moto.endpoint)), "{line}");
    assert!(line.contains("does not exist (NoSuchBucket)"), "{line}");

    let closed = format!("http://127.0.0.1:{}", free_port());
    let line = error_line(&ingest(&with(&[("AWS_ENDPOINT_URL", closed.clone())]), &wh));
    assert!(line.contains(&format!("S3 bucket \"{BUCKET}\" at {closed}: cannot connect to the endpoint")), "{line}");

    let line = error_line(&ingest(&with(&[("AWS_ALLOW_HTTP", "false".into())]), &wh));
    assert!(line.contains("AWS_ENDPOINT_URL") && line.contains("AWS_ALLOW_HTTP=true"), "{line}");

    // The other entry points say the same: serving, and a Ballista executor's settings.
    let line = error_line(
        &run(reelforest(
            d,
            &moto.env(),
            &["serve", "--model", "m", "--warehouse", "s3://no-such-bucket/wh", "--bind", "127.0.0.1:0"],
        ))
        .failed(),
    );
    assert!(line.contains("no-such-bucket") && line.contains("NoSuchBucket"), "{line}");
    let line = error_line(
        &run(reelforest(d, &with(&[("AWS_ALLOW_HTTP", "maybe".into())]), &["executor", "--health-port", "0"])).failed(),
    );
    assert!(line.contains("AWS_ALLOW_HTTP") && line.contains("maybe"), "{line}");

    // Nothing was written by the failed attempts: the catalog is empty.
    let out = run(reelforest(d, &moto.env(), &["sql", "--warehouse", &wh, "SELECT count(*) FROM ratings"])).failed();
    assert!(out.stderr.contains("ratings"), "{}", out.stderr);
}
