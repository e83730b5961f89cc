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
//! key exist (on the port 0 it bound), the scheduler, executor, coordinator and server print
//! their addresses. Only "the executor registered" has no event; it is polled on the executor's
//! `/readyz` with a deadline (`reelforest_e2e::start_executor`).

use reelforest_e2e::{
    ClosedPort, Proc, Run, STARTUP, datasets, executor_args, http, reelforest as bare, run, start_executor,
    start_scheduler,
};
use std::path::{Path, PathBuf};
use std::process::Command;

const BUCKET: &str = "reelforest-wh";

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
    _server: Proc,
    endpoint: String,
    key: String,
    secret: String,
}

impl Moto {
    /// Starts moto on a free loopback port with `buckets` created, and waits for its ready line.
    fn start(buckets: &[&str]) -> Moto {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("s3/moto_server.py");
        let mut cmd = Command::new(moto_python());
        cmd.arg(&script).args(buckets);
        // It serves until its stdin closes: the fixture holds the pipe.
        let mut server = Proc::spawn_holding_stdin("moto", cmd);
        let line = server.wait_for_line("its ready line (JSON)", STARTUP, |l| l.starts_with('{'));
        let info: serde_json::Value = serde_json::from_str(&line).expect("moto's JSON line");
        let field = |k: &str| info[k].as_str().unwrap_or_else(|| panic!("{k} in {line}")).to_string();
        Moto {
            endpoint: field("endpoint"),
            key: field("access_key_id"),
            secret: field("secret_access_key"),
            _server: server,
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

/// `reelforest ARGS` in `dir` with `env`, and no S3 or reelforest settings inherited.
fn reelforest(dir: &Path, env: &[(&str, String)], args: &[&str]) -> Command {
    let mut cmd = bare(dir, args);
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    cmd
}

/// A long-running `reelforest` process (scheduler, executor, coordinator, worker, server)
/// logging at info level.
fn service(name: &str, mut cmd: Command) -> Proc {
    cmd.env("REELFOREST_LOG", "info");
    Proc::spawn(name, cmd)
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
    let moto = Moto::start(&[BUCKET]);
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
        let (scheduler, addr) = start_scheduler("scheduler", scheduler_cmd);
        let work = d.join("executor-work");
        let args = executor_args(addr.port(), 2, &work);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut executor_cmd = reelforest(d, &env, &argv);
        executor_cmd.env("REELFOREST_LOG", "info");
        // Returns once the executor has registered (its /readyz).
        let (executor, _) = start_executor("executor", executor_cmd);
        let cluster = format!("df://127.0.0.1:{}", addr.port());
        let out = run(cmd(&["features", "--out", "onballista", "--cluster", &cluster]));
        assert!(
            out.success,
            "features --cluster failed: {}\n{}\n{}",
            out.stderr,
            scheduler.tail(30),
            executor.tail(30)
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
    assert!(out.stdout.contains("rating") && out.stdout.contains("P(good)"), "{}", out.stdout);
    {
        let serve_cmd = cmd(&["serve", "--model", "s3-rf", "--bind", "127.0.0.1:0", "--token", "s3-test-token"]);
        let mut server = service("serve", serve_cmd);
        let addr = server.wait_for_addr("listening on http://", STARTUP);
        let r = http(addr, "POST", "/api/predict", &[], Some(r#"{"user_id": 1, "movie_id": 1}"#))
            .unwrap_or_else(|e| panic!("the server answers: {e}\n{}", server.tail(30)));
        let body = r.body;
        assert_eq!(r.status, 200, "{body}\n{}", server.tail(30));
        let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        let rating = json["rating"].as_f64().unwrap_or_else(|| panic!("no rating in {body}"));
        assert!((0.5..=5.0).contains(&rating), "{body}");
        assert_eq!(json["model"]["name"], "s3-rf", "{body}");
    }

    // A job on the training cluster: the coordinator and the worker both use S3.
    {
        let coordinator_cmd =
            cmd(&["coordinator", "--bind", "127.0.0.1:0", "--work-dir", "coordinator", "--trees-per-task", "3"]);
        let mut coordinator = service("coordinator", coordinator_cmd);
        let addr = coordinator.wait_for_addr("coordinator listening on ", STARTUP);
        let url = format!("http://{addr}");
        // A worker prints nothing when it registers; the job simply waits for it.
        let worker_cmd = reelforest(d, &env, &["worker", "--coordinator", &url, "--threads", "1", "--name", "w0"]);
        let worker = service("worker", worker_cmd);
        let cjob = d.join("cluster-job.toml");
        std::fs::write(&cjob, CLUSTER_JOB).expect("job");
        let out = run(reelforest(d, &env, &["submit", cjob.to_str().expect("utf8"), "--coordinator", &url]));
        assert!(
            out.success,
            "submit failed: {}\n{}\n{}\n{}",
            out.stderr,
            out.stdout,
            coordinator.tail(30),
            worker.tail(30)
        );
        let out = run(cmd(&["predict", "--model", "s3-cluster", "--user", "1", "--movie", "1"])).ok();
        assert!(out.stdout.contains("rating"), "{}", out.stdout);
    }
}

#[test]
fn s3_failures_are_one_clear_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let moto = Moto::start(&[BUCKET]);
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

    // A port where connections are refused for the test's lifetime.
    let closed_port = ClosedPort::new();
    let closed = format!("http://{}", closed_port.addr());
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
        &run(reelforest(
            d,
            &with(&[("AWS_ALLOW_HTTP", "maybe".into())]),
            &["executor", "--port", "0", "--grpc-port", "0", "--health-port", "0"],
        ))
        .failed(),
    );
    assert!(line.contains("AWS_ALLOW_HTTP") && line.contains("maybe"), "{line}");

    // Nothing was written by the failed attempts: the catalog is empty.
    let out = run(reelforest(d, &moto.env(), &["sql", "--warehouse", &wh, "SELECT count(*) FROM ratings"])).failed();
    assert!(out.stderr.contains("ratings"), "{}", out.stderr);
}
