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
//! Every daemon binds port 0 and prints its address (the scheduler, the executors' health and
//! Flight ports, the coordinator, the server); the tests read them. Executor registration has no
//! event: it is polled on `/readyz` with a deadline (`reelforest_e2e::start_executor`), as is
//! "a job is running midway" in the kill tests (Ballista's REST API and the work directory).

use reelforest_e2e::{
    ClosedPort, ExecutorAddrs, Proc, Run, STARTUP, Sandbox, datasets, executor_args, get, start_executor,
    start_scheduler, wait_until,
};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// How often the waits below look at a condition (see [`wait_until`]).
const POLL: Duration = Duration::from_millis(100);

/// `reelforest ARGS` in the sandbox, logging Ballista's info lines (the kill tests read them).
fn daemon(sb: &Sandbox, args: &[&str]) -> Command {
    let mut cmd = sb.command(args);
    cmd.env("REELFOREST_LOG", "info,ballista=info");
    cmd
}

/// `GET path` on `addr`: status and body; panics when nothing answers.
fn get_ok(addr: SocketAddr, path: &str) -> (u16, String) {
    let r = get(addr, path).unwrap_or_else(|e| panic!("GET {path} on {addr}: {e}"));
    (r.status, r.body)
}

/// One scheduler and its executors.
struct Cluster {
    scheduler: Proc,
    addr: SocketAddr,
    executors: Vec<Proc>,
    /// What each executor printed, in the order of `executors`.
    executor_addrs: Vec<ExecutorAddrs>,
}

impl Cluster {
    /// A scheduler that declares an executor dead after `executor_timeout` seconds of silence
    /// and fails running jobs `grace` seconds after losing the last executor, plus `n`
    /// executors heartbeating every second, each running `tasks` tasks at once.
    fn start(sb: &Sandbox, n: usize, tasks: usize, executor_timeout: u64, grace: u64) -> Cluster {
        let (executor_timeout, grace, ready) = (executor_timeout.to_string(), grace.to_string(), n.to_string());
        let (scheduler, addr) = start_scheduler(
            "scheduler",
            daemon(
                sb,
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
            ),
        );
        let mut cluster = Cluster { scheduler, addr, executors: Vec::new(), executor_addrs: Vec::new() };
        for i in 0..n {
            cluster.add_executor(sb, i, tasks);
        }
        let c = &cluster;
        wait_until(
            STARTUP,
            POLL,
            "scheduler /readyz (all executors registered)",
            || get(c.addr, "/readyz").is_ok_and(|r| r.status == 200),
            || c.logs(),
        );
        cluster
    }

    /// Starts `executor-{i}` with work directory `executor-{i}-work` and waits until it has
    /// registered.
    fn add_executor(&mut self, sb: &Sandbox, i: usize, tasks: usize) {
        let work = sb.path().join(format!("executor-{i}-work"));
        let mut args = executor_args(self.addr.port(), tasks, &work);
        args.extend(["--executor-id".to_string(), format!("executor-{i}")]);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let (exec, addrs) = start_executor(&format!("executor-{i}"), daemon(sb, &argv));
        assert_eq!(get_ok(addrs.health, "/healthz").0, 200);
        self.executors.push(exec);
        self.executor_addrs.push(addrs);
    }

    fn url(&self) -> String {
        format!("df://127.0.0.1:{}", self.addr.port())
    }

    fn logs(&self) -> String {
        std::iter::once(&self.scheduler).chain(&self.executors).map(|p| p.tail(40)).collect::<Vec<_>>().join("\n")
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
    let (status, body) = get_ok(cluster.addr, "/api/executors");
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
    let (status, body) = get_ok(cluster.addr, "/api/jobs");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Completed") || body.contains("Successful") || body.contains("completed"), "{body}");
}

#[test]
fn cluster_down_is_a_clear_error() {
    let sb = Sandbox::new();
    ingest_ml_100k(&sb);
    // A port where connections are refused for the test's lifetime.
    let closed = ClosedPort::new();
    let url = format!("df://{}", closed.addr());
    let r = sb.run(&["sql", "--cluster", &url, "SELECT 1"]).failed();
    assert!(r.stderr.contains(&format!("no Ballista scheduler answers at {}", closed.addr())), "{}", r.stderr);
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
    let Ok(r) = get(scheduler, "/api/jobs") else { return Vec::new() };
    let Ok(serde_json::Value::Array(jobs)) = serde_json::from_str::<serde_json::Value>(&r.body) else {
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
/// running tasks and finished map output. Returns the finished command (at most [`AFTER_KILL`]
/// after the kill: a job that never ends is a failure, not a hung test run).
fn kill_during_features(sb: &Sandbox, cluster: &mut Cluster, run: &str, victim: usize) -> Run {
    let url = cluster.url();
    let mut features = sb.spawn("features --cluster", &features_args(run, &["--cluster", &url]));
    let work = sb.path().join(format!("executor-{victim}-work"));
    let holds = |job: &String| std::fs::read_dir(work.join(job)).is_ok_and(|mut d| d.next().is_some());
    let mut job = None;
    // No event says "a job is midway on this executor": looked at every 20 ms (the window in
    // which a job runs midway is short), failing at once if the run ends first.
    let midway = format!("a job running midway on executor-{victim}");
    wait_until(
        Duration::from_secs(600),
        Duration::from_millis(20),
        &midway,
        || {
            job = running_jobs_midway(cluster.addr).into_iter().find(holds);
            if job.is_none()
                && let Some(status) = features.try_exit()
            {
                panic!(
                    "features ended ({status}) before a job ran midway on executor-{victim}: nothing to kill\n{}\n{}",
                    features.tail(20),
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
    features.finish(AFTER_KILL)
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
        let out = kill_during_features(&sb, &mut cluster, &run, victim);
        let (stdout, stderr) = (&out.stdout, &out.stderr);
        eprintln!("attempt {attempt}: after kill -9 of executor-{victim}: success={}\n{stdout}\n{stderr}", out.success);
        assert!(
            out.success,
            "the job should survive losing one of two executors\n{stdout}\n{stderr}\n{}",
            cluster.logs()
        );
        assert_same_rows(&sb, "local", &run);
        // Ballista noticed (its log line, not ours): within the executor timeout at the latest.
        let removed = format!("Removing executor executor-{victim}");
        cluster.scheduler.wait_for_line(&removed, Duration::from_secs(30), |l| l.contains(&removed));
        let reruns = rerun_lines(&cluster.scheduler.text(), &format!("executor-{victim}"));
        if !reruns.is_empty() {
            eprintln!("Ballista reran the lost work:\n{}", reruns.join("\n"));
            return;
        }
        eprintln!("attempt {attempt}: the kill hit no work Ballista still needed; trying again");
    }
    panic!(
        "in {KILL_ATTEMPTS} kills Ballista never reran lost work, so the test never exercised a retry\n{}",
        cluster.scheduler.tail(40)
    );
}

#[test]
fn last_executor_killed_fails_the_job_clearly() {
    let sb = Sandbox::new();
    ingest_synth(&sb, KILL_TEST_RATINGS);
    // One executor; running jobs fail 2 s after the last executor is lost.
    let mut cluster = Cluster::start(&sb, 1, 2, 3, 2);
    let out = kill_during_features(&sb, &mut cluster, "orphan", 0);
    let (stdout, stderr) = (&out.stdout, &out.stderr);
    eprintln!("after kill -9 of the only executor: success={}\n{stdout}\n{stderr}", out.success);
    assert!(!out.success, "the job cannot finish without executors\n{stdout}\n{stderr}");
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
    let mut coordinator = sb.spawn(
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
    );
    let coordinator_addr = coordinator.wait_for_addr("coordinator listening on ", STARTUP);
    let coordinator_url = format!("http://{coordinator_addr}");
    let ballista = cluster.url();
    let mut serve = sb.spawn(
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
    );
    let addr = serve.wait_for_addr("listening on http://", STARTUP);
    let (status, body) = get_ok(addr, "/api/cluster");
    assert_eq!(status, 200, "{body}\n{}", serve.tail(20));
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
        // The address Ballista lists is the Flight port the executor bound (port 0) and printed.
        let address = e["address"].as_str().unwrap_or_default();
        assert_eq!(address, format!("127.0.0.1:{}", cluster.executor_addrs[i].flight.port()), "{body}");
        // Heartbeats arrive every second at one-second resolution; the age is recent.
        let age = e["last_seen_ms"].as_u64().expect("a heartbeat age");
        assert!(age < 60_000, "last heartbeat {age} ms ago: {body}");
    }
    let (status, page) = get_ok(addr, "/cluster");
    assert_eq!(status, 200);
    assert!(page.contains("executor-0") && page.contains("executor-1"), "the Cluster page lists the executors");
}
