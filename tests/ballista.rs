//! Cluster tests of the feature SQL on Ballista (issue 4): the real `reelforest scheduler` and
//! `reelforest executor` binaries as separate processes over TCP on loopback.
//!
//! - `cluster_features_equal_embedded_row_for_row`: `features --cluster` writes the same tables
//!   as the embedded run (every table of the run, sorted by all columns, every column compared).
//! - `sql_through_the_cluster`: `sql --cluster` answers like the embedded `sql`, our UDF included.
//! - `executor_killed_during_feature_sql_is_retried`: `kill -9` of one of two executors in the
//!   middle of a `features --cluster` job (500k generated ratings): Ballista removes it, resets its
//!   running tasks and the finished stages whose shuffle output it held, reruns them on the
//!   survivor, and the tables still equal the embedded ones. A kill that happens to hit no work
//!   still needed is repeated (up to three times) with a fresh executor.
//! - `last_executor_killed_fails_the_job_clearly`: with no executor left the job fails after the
//!   scheduler's grace period, with a message saying so.
//! - `cluster_down_is_a_clear_error`.
//! - `serve_shows_the_ballista_executors`: `serve --coordinator .. --ballista df://..` lists the
//!   live scheduler's executors (ids, addresses, slots, heartbeat age) in `/api/cluster` and on
//!   the Cluster page.
//!
//! Readiness is polled (scheduler and executor `/readyz`, warehouse files) with deadlines; the
//! scheduler listens on port 0 and prints its address, executors get free ports.

use reelforest_e2e::{Sandbox, binary, datasets, executor_args, free_port, wait_until};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const STARTUP: Duration = Duration::from_secs(60);

/// A child process killed (and reaped) on drop; its stderr goes to a log file.
struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Spawns `reelforest ARGS`; returns it and the first stdout line that starts with `prefix`.
    fn spawn(sb: &Sandbox, name: &str, args: &[&str], prefix: &str) -> (Proc, String) {
        let log = sb.path().join(format!("{name}.log"));
        let mut child = Command::new(binary())
            .args(args)
            .current_dir(sb.path())
            .env("REELFOREST_LOG", "info,ballista=info")
            .env("REELFOREST_QUIET", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn reelforest");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        let prefix_owned = prefix.to_string();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent && line.starts_with(&prefix_owned) {
                    let _ = tx.send(line[prefix_owned.len()..].trim().to_string());
                    sent = true;
                }
            }
        });
        let mut proc = Proc { name: name.to_string(), child, log };
        let line = match rx.recv_timeout(STARTUP) {
            Ok(line) => line,
            Err(_) => {
                let status = proc.child.try_wait().ok().flatten();
                panic!("{name} printed no {prefix:?} line within {STARTUP:?} (exit: {status:?})\n{}", proc.log_tail());
            }
        };
        (proc, line)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!("--- {} log (last 40 lines)\n{}", self.name, lines[lines.len().saturating_sub(40)..].join("\n"))
    }

    /// SIGKILL, like `kill -9`.
    fn kill9(&mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path`; `None` when the connection fails.
fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    // HTTP/1.0: the body is never chunked and the server closes the connection after it.
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}

/// How often the waits below look at a condition (see [`wait_until`]).
const POLL: Duration = Duration::from_millis(100);

/// One scheduler and its executors.
struct Cluster {
    scheduler: Proc,
    addr: SocketAddr,
    executors: Vec<Proc>,
}

impl Cluster {
    /// A scheduler that declares an executor dead after `executor_timeout` seconds of silence
    /// and fails running jobs `grace` seconds after losing the last executor, plus `n`
    /// executors heartbeating every second, each running `tasks` tasks at once.
    fn start(sb: &Sandbox, n: usize, tasks: usize, executor_timeout: u64, grace: u64) -> Cluster {
        let (executor_timeout, grace, ready) = (executor_timeout.to_string(), grace.to_string(), n.to_string());
        let (scheduler, addr) = Proc::spawn(
            sb,
            "scheduler",
            &[
                "scheduler",
                "--port",
                "0",
                "--executor-timeout-seconds",
                &executor_timeout,
                "--expire-dead-executor-interval-seconds",
                "1",
                "--no-executors-grace-period-seconds",
                &grace,
                "--min-ready-executors",
                &ready,
            ],
            "scheduler listening on ",
        );
        let addr: SocketAddr = addr.parse().expect("scheduler address");
        wait_until(
            STARTUP,
            POLL,
            "scheduler /healthz",
            || http_get(addr, "/healthz").is_some_and(|(s, _)| s == 200),
            || scheduler.log_tail(),
        );
        let mut cluster = Cluster { scheduler, addr, executors: Vec::new() };
        for i in 0..n {
            cluster.add_executor(sb, i, tasks);
        }
        let c = &cluster;
        wait_until(
            STARTUP,
            POLL,
            "scheduler /readyz (all executors registered)",
            || http_get(c.addr, "/readyz").is_some_and(|(s, _)| s == 200),
            || c.logs(),
        );
        cluster
    }

    fn add_executor(&mut self, sb: &Sandbox, i: usize, tasks: usize) {
        let work = sb.path().join(format!("executor-{i}-work"));
        let mut args = executor_args(free_port(), free_port(), self.addr.port(), tasks, &work);
        args.extend(["--executor-id".to_string(), format!("executor-{i}")]);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let (exec, health) = Proc::spawn(sb, &format!("executor-{i}"), &argv, "executor health on ");
        let health: SocketAddr = health.parse().expect("health address");
        wait_until(
            STARTUP,
            POLL,
            "executor /readyz (registered, heartbeating)",
            || http_get(health, "/readyz").is_some_and(|(s, _)| s == 200),
            || exec.log_tail(),
        );
        assert_eq!(http_get(health, "/healthz").map(|(s, _)| s), Some(200));
        self.executors.push(exec);
    }

    fn url(&self) -> String {
        format!("df://127.0.0.1:{}", self.addr.port())
    }

    fn logs(&self) -> String {
        std::iter::once(&self.scheduler).chain(&self.executors).map(Proc::log_tail).collect::<Vec<_>>().join("\n")
    }
}

fn ingest_ml_100k(sb: &Sandbox) {
    let src = datasets().join("ml-100k");
    sb.run(&["data", "ingest", "--source", src.to_str().expect("utf-8"), "--format", "ml-100k"]).ok();
}

/// The feature arguments both paths use: a random split (so `rf_bucket` runs on the cluster),
/// out-of-fold statistics, 4 target partitions (so stages really shuffle).
const FEATURE_ARGS: [&str; 8] = ["features", "--split", "random", "--seed", "7", "--folds", "5", "--partitions=4"];

fn features_args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args: Vec<&str> = FEATURE_ARGS.to_vec();
    args.extend(["--out", out]);
    args.extend(extra);
    args
}

/// Table name -> manifest JSON of every table of feature run `run`.
fn run_tables(warehouse: &Path, run: &str) -> BTreeMap<String, serde_json::Value> {
    let dir = warehouse.join("_catalog").join(run);
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read manifest")).expect("manifest json");
        out.insert(manifest["name"].as_str().expect("name").to_string(), manifest);
    }
    out
}

/// Every row of `run.table` as CSV, sorted by all columns (embedded DataFusion reads it).
fn sorted_csv(sb: &Sandbox, run: &str, table: &str, columns: usize) -> String {
    let order: Vec<String> = (1..=columns).map(|i| i.to_string()).collect();
    let query = format!("SELECT * FROM \"{run}\".\"{table}\" ORDER BY {}", order.join(", "));
    sb.run(&["sql", "--format", "csv", &query]).ok().stdout
}

/// Asserts that run `b` has the same tables as run `a`: same columns (name, type,
/// nullability), same row counts, and the same rows, every column compared after sorting both
/// by all columns (floats print in their shortest round-trip form, so equal text is equal bits).
fn assert_same_tables(sb: &Sandbox, a: &str, b: &str) {
    let (ta, tb) = (run_tables(&sb.warehouse(), a), run_tables(&sb.warehouse(), b));
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>(), "the runs have different tables");
    assert!(ta.len() >= 12 && ta.contains_key("train") && ta.contains_key("online_users"), "{:?}", ta.keys());
    for (name, ma) in &ta {
        let mb = &tb[name];
        assert_eq!(ma["columns"], mb["columns"], "{name}: columns differ");
        assert_eq!(ma["row_count"], mb["row_count"], "{name}: row counts differ");
        let columns = ma["columns"].as_array().expect("columns").len();
        let (ca, cb) = (sorted_csv(sb, a, name, columns), sorted_csv(sb, b, name, columns));
        // An empty table prints nothing, not even a header.
        let rows = ca.lines().count().saturating_sub(1);
        assert_eq!(rows as u64, ma["row_count"].as_u64().expect("count"), "{name}: manifest count vs rows");
        if let Some((i, (la, lb))) = ca.lines().zip(cb.lines()).enumerate().find(|(_, (la, lb))| la != lb) {
            panic!("{name}: line {i} differs\n{a}: {la}\n{b}: {lb}\nheader: {}", ca.lines().next().unwrap_or(""));
        }
        assert_eq!(ca.lines().count(), cb.lines().count(), "{name}: line counts differ");
    }
    // The runs' descriptions agree on everything but their names.
    let load = |run: &str| -> serde_json::Value {
        let p = sb.warehouse().join("features").join(run).join("features.json");
        serde_json::from_slice(&std::fs::read(p).expect("features.json")).expect("json")
    };
    let (ja, jb) = (load(a), load(b));
    for key in [
        "feature_columns",
        "global_mean",
        "global_std",
        "genres",
        "train_rows",
        "test_rows",
        "online_users",
        "online_movies",
    ] {
        assert_eq!(ja[key], jb[key], "features.json: {key} differs");
    }
}

#[test]
fn cluster_features_equal_embedded_row_for_row() {
    let sb = Sandbox::new();
    ingest_ml_100k(&sb);
    sb.run(&features_args("local", &[])).ok();
    let cluster = Cluster::start(&sb, 2, 2, 180, 180);
    let url = cluster.url();
    let run = sb.run(&features_args("remote", &["--cluster", &url]));
    assert!(run.success, "features --cluster failed\n{}\n{}\n{}", run.stdout, run.stderr, cluster.logs());
    assert!(run.stdout.contains("feature run remote:"), "{}", run.stdout);
    // Both executors ran tasks: the work was really distributed (Ballista's REST API).
    let (status, body) = http_get(cluster.addr, "/api/executors").expect("REST API");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("executor-0") && body.contains("executor-1"), "{body}");
    assert_same_tables(&sb, "local", "remote");
}

#[test]
fn sql_through_the_cluster() {
    let sb = Sandbox::new();
    ingest_ml_100k(&sb);
    let cluster = Cluster::start(&sb, 1, 2, 180, 180);
    let url = cluster.url();
    // Exact aggregates only (counts, integer sums): a float sum depends on the order of addition.
    let query = "SELECT r.user_id, count(*) AS n, sum(CASE WHEN rf_bucket(r.user_id, r.movie_id, 7) < 0.2 THEN 1 ELSE 0 END) AS test_rows, avg(u.age) AS age \
                 FROM ratings r JOIN users u USING (user_id) GROUP BY r.user_id ORDER BY r.user_id LIMIT 20";
    let remote = sb.run(&["sql", "--cluster", &url, "--format", "csv", query]);
    assert!(remote.success, "sql --cluster failed\n{}\n{}", remote.stderr, cluster.logs());
    let local = sb.run(&["sql", "--format", "csv", query]).ok();
    assert_eq!(remote.stdout.lines().count(), 21, "{}", remote.stdout);
    assert_eq!(remote.stdout, local.stdout);
    // The cluster really ran it: the scheduler lists a finished job.
    let (status, body) = http_get(cluster.addr, "/api/jobs").expect("REST API");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Completed") || body.contains("Successful") || body.contains("completed"), "{body}");
}

#[test]
fn cluster_down_is_a_clear_error() {
    let sb = Sandbox::new();
    ingest_ml_100k(&sb);
    let url = format!("df://127.0.0.1:{}", free_port());
    let r = sb.run(&["sql", "--cluster", &url, "SELECT 1"]).failed();
    assert!(r.stderr.contains("no Ballista scheduler answers at 127.0.0.1:"), "{}", r.stderr);
    let r = sb.run(&features_args("x", &["--cluster", "http://localhost:50050"])).failed();
    assert!(r.stderr.contains("invalid cluster URL") && r.stderr.contains("df://"), "{}", r.stderr);
}

/// Generated ratings for the kill tests: enough that several feature jobs run for seconds in a
/// debug build, so the kill lands inside one.
fn ingest_synth(sb: &Sandbox, ratings: &str) {
    let data = sb.path().join("synth");
    let data = data.to_str().expect("utf-8");
    sb.run(&["data", "synth", "--ratings", ratings, "--seed", "3", "--out", data]).ok();
    sb.run(&["data", "ingest", "--source", data]).ok();
}

/// Running jobs (Ballista's REST API) with at least one finished stage and more than one to go.
fn running_jobs_midway(scheduler: SocketAddr) -> Vec<String> {
    let Some((200, body)) = http_get(scheduler, "/api/jobs") else { return Vec::new() };
    let Ok(serde_json::Value::Array(jobs)) = serde_json::from_str::<serde_json::Value>(&body) else {
        return Vec::new();
    };
    jobs.iter()
        .filter(|j| {
            let (done, all) = (j["completed_stages"].as_u64().unwrap_or(0), j["num_stages"].as_u64().unwrap_or(0));
            j["status"] == "Running" && done >= 1 && all > done + 1
        })
        .filter_map(|j| j["job_id"].as_str().map(str::to_string))
        .collect()
}

/// How long a feature run may take after an executor is killed.
const AFTER_KILL: Duration = Duration::from_secs(300);

/// Starts `features --cluster` in the background and SIGKILLs executor `victim` in the middle of
/// a job: one that is running, has finished stages, and whose shuffle output the victim holds
/// (a directory named after the job with files in its work directory), so the kill loses both
/// running tasks and finished map output. Returns the finished command's (success, stdout, stderr).
fn kill_during_features(sb: &Sandbox, cluster: &mut Cluster, run: &str, victim: usize) -> (bool, String, String) {
    let url = cluster.url();
    let mut child = Command::new(binary())
        .args(features_args(run, &["--cluster", &url]))
        .current_dir(sb.path())
        .env("REELFOREST_WAREHOUSE", sb.warehouse())
        .env("REELFOREST_QUIET", "true")
        .env_remove("REELFOREST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn features");
    let work = sb.path().join(format!("executor-{victim}-work"));
    let holds = |job: &String| std::fs::read_dir(work.join(job)).is_ok_and(|mut d| d.next().is_some());
    let mut job = None;
    // Looked at every 20 ms: the window in which a job runs midway is short.
    let midway = format!("a job running midway on executor-{victim}");
    wait_until(
        Duration::from_secs(600),
        Duration::from_millis(20),
        &midway,
        || {
            job = running_jobs_midway(cluster.addr).into_iter().find(holds);
            if job.is_none()
                && let Some(status) = child.try_wait().expect("poll features")
            {
                panic!(
                    "features ended ({status}) before a job ran midway on executor-{victim}: nothing to kill\n{}",
                    cluster.logs()
                );
            }
            job.is_some()
        },
        || cluster.logs(),
    );
    let job = job.expect("the wait returned, so a job was found");
    cluster.executors[victim].kill9();
    eprintln!("killed executor-{victim} (kill -9) while job {job} was running");
    // A job that never ends after the kill is a failure, not a hung test run: a thread waits for
    // the exit, this one for the thread's message or the deadline.
    let pid = child.id().to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let Ok(out) = rx.recv_timeout(AFTER_KILL) else {
        let _ = Command::new("kill").args(["-9", &pid]).status();
        panic!("features --cluster did not finish within {AFTER_KILL:?} of the kill\n{}", cluster.logs());
    };
    let out = out.expect("wait features");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts that runs `a` and `b` hold the same multiset of rows in every table (all columns,
/// `EXCEPT ALL` both ways in embedded DataFusion), with equal columns and row counts. Used where
/// the tables are too large to print sorted.
fn assert_same_rows(sb: &Sandbox, a: &str, b: &str) {
    let (ta, tb) = (run_tables(&sb.warehouse(), a), run_tables(&sb.warehouse(), b));
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>(), "the runs have different tables");
    for (name, ma) in &ta {
        assert_eq!(ma["columns"], tb[name]["columns"], "{name}: columns differ");
        assert_eq!(ma["row_count"], tb[name]["row_count"], "{name}: row counts differ");
        let (qa, qb) = (format!("\"{a}\".\"{name}\""), format!("\"{b}\".\"{name}\""));
        let query = format!(
            "SELECT (SELECT count(*) FROM (SELECT * FROM {qa} EXCEPT ALL SELECT * FROM {qb})) AS only_a, \
                    (SELECT count(*) FROM (SELECT * FROM {qb} EXCEPT ALL SELECT * FROM {qa})) AS only_b"
        );
        let out = sb.run(&["sql", "--format", "csv", &query]).ok().stdout;
        assert_eq!(out.trim(), "only_a,only_b\n0,0", "{name}: rows differ between {a} and {b}");
    }
}

/// A generated dataset large enough for the kill tests.
const KILL_TEST_RATINGS: &str = "500000";

/// Ballista's own log lines saying it reran work lost with `executor`: tasks of a running stage
/// reset, finished map output rerun, or a stage resubmitted after a failed shuffle fetch.
fn rerun_lines(log: &str, executor: &str) -> Vec<String> {
    let lost = format!("on lost Executor {executor}");
    log.lines()
        .filter(|l| (l.contains("Reset") && l.contains(&lost)) || l.contains("due to FetchPartitionError"))
        .map(str::to_string)
        .collect()
}

/// How many times the kill is tried before the test gives up on hitting work Ballista needs.
const KILL_ATTEMPTS: usize = 3;

#[test]
fn executor_killed_during_feature_sql_is_retried() {
    let sb = Sandbox::new();
    ingest_synth(&sb, KILL_TEST_RATINGS);
    sb.run(&features_args("local", &[])).ok();
    // Executors silent for 10 s are declared dead (executors poll for work: pull-staged).
    let mut cluster = Cluster::start(&sb, 2, 2, 10, 180);
    // The kill lands while the victim holds shuffle output of a running job, but whether Ballista
    // still needs that work is a race: if the survivor has already fetched it and the victim runs
    // nothing, the job ends before the loss is noticed and nothing is rerun. Such an attempt still
    // has to succeed with equal rows; then a fresh executor joins and the kill is repeated, until
    // one kill makes Ballista rerun work.
    for attempt in 0..KILL_ATTEMPTS {
        let victim = attempt + 1;
        if attempt > 0 {
            cluster.add_executor(&sb, victim, 2);
        }
        let run = format!("survived{attempt}");
        let (ok, stdout, stderr) = kill_during_features(&sb, &mut cluster, &run, victim);
        eprintln!("attempt {attempt}: after kill -9 of executor-{victim}: success={ok}\n{stdout}\n{stderr}");
        assert!(ok, "the job should survive losing one of two executors\n{stdout}\n{stderr}\n{}", cluster.logs());
        assert_same_rows(&sb, "local", &run);
        // Ballista noticed (its log lines, not ours): within the executor timeout at the latest.
        let removed = format!("Removing executor executor-{victim}");
        let log = || std::fs::read_to_string(&cluster.scheduler.log).expect("scheduler log");
        wait_until(
            Duration::from_secs(30),
            POLL,
            &removed,
            || log().contains(&removed),
            || cluster.scheduler.log_tail(),
        );
        let reruns = rerun_lines(&log(), &format!("executor-{victim}"));
        if !reruns.is_empty() {
            eprintln!("Ballista reran the lost work:\n{}", reruns.join("\n"));
            return;
        }
        eprintln!("attempt {attempt}: the kill hit no work Ballista still needed; trying again");
    }
    panic!(
        "in {KILL_ATTEMPTS} kills Ballista never reran lost work, so the test never exercised a retry\n{}",
        cluster.scheduler.log_tail()
    );
}

#[test]
fn last_executor_killed_fails_the_job_clearly() {
    let sb = Sandbox::new();
    ingest_synth(&sb, KILL_TEST_RATINGS);
    // One executor; running jobs fail 2 s after the last executor is lost.
    let mut cluster = Cluster::start(&sb, 1, 2, 3, 2);
    let (ok, stdout, stderr) = kill_during_features(&sb, &mut cluster, "orphan", 0);
    eprintln!("after kill -9 of the only executor: success={ok}\n{stdout}\n{stderr}");
    assert!(!ok, "the job cannot finish without executors\n{stdout}\n{stderr}");
    assert!(stderr.contains("error: feature step"), "the error names the step: {stderr}");
    assert!(
        stderr.contains("all executors were lost and no executor re-registered within 2s"),
        "the error says why: {stderr}\n{}",
        cluster.logs()
    );
    // Nothing half-written is in the catalog: only steps that finished have manifests.
    let tables = run_tables(&sb.warehouse(), "orphan");
    assert!(!tables.contains_key("train") && tables.contains_key("split"), "{:?}", tables.keys());
}

#[test]
fn serve_shows_the_ballista_executors() {
    let sb = Sandbox::new();
    let job = sb.path().join("tiny.toml");
    std::fs::write(
        &job,
        "name = \"tiny\"\n[data.synth]\nratings = 5000\nseed = 5\n[forest]\nnumTrees = 3\nmaxDepth = 4\n[audit]\nleaky = false\n",
    )
    .expect("write job");
    sb.run(&["run", job.to_str().expect("utf-8"), "--out", "out"]).ok();
    let cluster = Cluster::start(&sb, 2, 3, 180, 180);
    let warehouse = sb.warehouse();
    let warehouse = warehouse.to_str().expect("utf-8");
    let work = sb.path().join("coordinator-work");
    let (_coordinator, coordinator_addr) = Proc::spawn(
        &sb,
        "coordinator",
        &[
            "coordinator",
            "--bind",
            "127.0.0.1:0",
            "--warehouse",
            warehouse,
            "--work-dir",
            work.to_str().expect("utf-8"),
        ],
        "coordinator listening on ",
    );
    let coordinator_url = format!("http://{coordinator_addr}");
    let ballista = cluster.url();
    let (serve, addr) = Proc::spawn(
        &sb,
        "serve",
        &[
            "serve",
            "--model",
            "tiny",
            "--bind",
            "127.0.0.1:0",
            "--warehouse",
            warehouse,
            "--coordinator",
            &coordinator_url,
            "--ballista",
            &ballista,
        ],
        "listening on http://",
    );
    let addr: SocketAddr = addr.parse().expect("serve address");
    let (status, body) = http_get(addr, "/api/cluster").expect("serve answers");
    assert_eq!(status, 200, "{body}\n{}", serve.log_tail());
    let snap: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(snap["status"], "connected", "{body}");
    let message = snap["message"].as_str().unwrap_or_default();
    assert!(message.contains(&format!("Ballista scheduler {ballista}: 2 executors")), "{body}");
    let mut executors: Vec<&serde_json::Value> = snap["executors"].as_array().expect("executors").iter().collect();
    executors.sort_by_key(|e| e["id"].as_str().unwrap_or_default().to_string());
    assert_eq!(executors.len(), 2, "{body}");
    for (i, e) in executors.iter().enumerate() {
        assert_eq!(e["id"], format!("executor-{i}"), "{body}");
        assert_eq!(e["slots"], 3, "the executors run 3 tasks at once: {body}");
        let address = e["address"].as_str().unwrap_or_default();
        assert!(address.starts_with("127.0.0.1:") && !address.ends_with(":0"), "{body}");
        // Heartbeats arrive every second at one-second resolution; the age is recent.
        let age = e["last_seen_ms"].as_u64().expect("a heartbeat age");
        assert!(age < 60_000, "last heartbeat {age} ms ago: {body}");
    }
    let (status, page) = http_get(addr, "/cluster").expect("cluster page");
    assert_eq!(status, 200);
    assert!(page.contains("executor-0") && page.contains("executor-1"), "the Cluster page lists the executors");
}
