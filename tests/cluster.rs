//! The training cluster end to end: real `reelforest coordinator` and `reelforest worker`
//! processes talking gRPC over TCP on loopback, driven by the real CLI (`submit`, `jobs`) and,
//! where a misbehaving worker is needed, by a hand-driven gRPC worker client.
//!
//! Waits are on events with deadlines, never sleeps: a line a process prints, the job's status
//! stream (`WatchJob` sends every change), a worker's long poll.

use reelforest_e2e::{ClosedPort, Proc, Run, reelforest, run};
use reelforest_proto::wire;
use reelforest_proto::wire::job_service_client::JobServiceClient;
use reelforest_proto::wire::worker_service_client::WorkerServiceClient;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Heavy tests (whole jobs) run one at a time: the machine has two cores.
static HEAVY: Mutex<()> = Mutex::new(());

fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How long a coordinator may take to print its address.
const STARTUP: Duration = Duration::from_secs(120);

/// Runs `reelforest ARGS` in `dir` to the end.
fn cli(args: &[&str], dir: &Path) -> Run {
    run(reelforest(dir, args))
}

/// Starts a coordinator on port 0 (its log as JSON lines, see [`took_back_leases`]); returns it
/// and the `http://` URL of the address it printed.
fn coordinator(dir: &Path, extra: &[&str]) -> (Proc, String) {
    let wh = dir.join("warehouse").display().to_string();
    let work = dir.join("coordinator").display().to_string();
    let mut args = vec!["coordinator", "--bind", "127.0.0.1:0", "--warehouse", &wh, "--work-dir", &work];
    args.extend_from_slice(extra);
    let mut cmd = reelforest(dir, &args);
    cmd.env("REELFOREST_LOG_FORMAT", "json");
    let mut c = Proc::spawn("coordinator", cmd);
    // `coordinator listening on ADDR[ (TLS)]`: the first word after the prefix.
    let addr = c.wait_for_addr("coordinator listening on ", STARTUP);
    (c, format!("http://{addr}"))
}

/// Whether `line` is the coordinator's `took back leases` log line (JSON) declaring worker
/// `worker_id` dead: its leases were taken back because it stopped heartbeating.
fn took_back_leases(line: &str, worker_id: &str) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { return false };
    let fields = &v["fields"];
    fields["message"] == "took back leases" && fields["dead"].as_str().is_some_and(|dead| dead.contains(worker_id))
}

fn worker(dir: &Path, url: &str, name: &str, extra: &[&str]) -> Proc {
    let mut args = vec!["worker", "--coordinator", url, "--threads", "1", "--name", name];
    args.extend_from_slice(extra);
    Proc::spawn(name, reelforest(dir, &args))
}

/// Starts `reelforest submit JOB --coordinator URL` (waiting for the job's end) and returns it
/// with the job id it prints first.
fn submit(dir: &Path, job: &Path, url: &str) -> (Proc, String) {
    let mut submit =
        Proc::spawn("submit", reelforest(dir, &["submit", job.to_str().expect("utf8"), "--coordinator", url]));
    let id = submit.wait_for_prefix("submitted ", STARTUP);
    (submit, id)
}

fn write_job(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("job.toml");
    std::fs::write(&p, body).expect("write job");
    p
}

/// A job with tuning (grid × folds) and both tasks, small enough for debug builds.
const TUNED_JOB: &str = r#"
name = "clusterjob"
tasks = ["regression", "classification"]
[data]
source = "synth"
synth = { ratings = 15000, seed = 3 }
[forest]
numTrees = 12
maxDepth = 6
[tuning]
method = "cross_validation"
numFolds = 2
parallelism = 2
[tuning.grid]
maxDepth = [4, 6]
[audit]
leaky = false
"#;

/// A job whose training takes long enough to kill a worker in the middle.
const LONG_JOB: &str = r#"
name = "longjob"
tasks = ["regression"]
[data]
source = "synth"
synth = { ratings = 30000, seed = 4 }
[forest]
numTrees = 300
maxDepth = 12
[audit]
leaky = false
"#;

fn report(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("report json")
}

/// Forest and metric fingerprints of a report (see [`fingerprints`]).
type Fingerprints = (Vec<(String, String)>, Vec<(String, Vec<u64>)>);

/// (task, forest sha256 + test and train metrics) of every final model, and every grid point's
/// fold metrics (as bits). JSON numbers print round-trip exact, so equal text is equal bits.
fn fingerprints(r: &serde_json::Value) -> Fingerprints {
    let tasks = r["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| {
            let sha = t["forest_sha256"].as_str().expect("sha");
            (t["task"].to_string(), format!("{sha} test {} train {}", t["test"], t["train"]))
        })
        .collect();
    let grid = r["grid"]
        .as_array()
        .expect("grid")
        .iter()
        .map(|g| {
            let folds =
                g["folds"].as_array().expect("folds").iter().map(|v| v.as_f64().expect("f64").to_bits()).collect();
            (format!("{} {}", g["task"], g["label"]), folds)
        })
        .collect();
    (tasks, grid)
}

fn job_id(submit_stdout: &str) -> String {
    submit_stdout
        .lines()
        .find_map(|l| l.strip_prefix("submitted "))
        .unwrap_or_else(|| panic!("no job id in {submit_stdout:?}"))
        .trim()
        .to_string()
}

fn embedded(dir: &Path, job: &Path) -> serde_json::Value {
    let out = dir.join("embedded");
    let out_s = out.display().to_string();
    cli(&["run", job.to_str().expect("utf8"), "--out", &out_s], dir).ok();
    report(&out.join("report.json"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// Follows job `id`'s status stream until `pred` returns `Some` (checked on the current status
/// and on every change), at most `limit`.
fn watch_until<T>(
    rt: &tokio::runtime::Runtime,
    url: &str,
    id: &str,
    limit: Duration,
    mut pred: impl FnMut(&wire::JobStatus) -> Option<T>,
) -> T {
    let end = tokio::time::Instant::now() + limit;
    let mut jobs = rt.block_on(JobServiceClient::connect(url.to_string())).expect("connect");
    let mut stream =
        rt.block_on(jobs.watch_job(wire::WatchJobRequest { job_id: id.to_string() })).expect("watch").into_inner();
    loop {
        let status = match rt.block_on(async { tokio::time::timeout_at(end, stream.message()).await }) {
            Ok(Ok(Some(s))) => s,
            Ok(Ok(None)) => panic!("job {id}'s status stream ended before the condition held"),
            Ok(Err(e)) => panic!("watching job {id}: {e}"),
            Err(_) => panic!("timed out after {limit:?} watching job {id}"),
        };
        if let Some(v) = pred(&status) {
            return v;
        }
    }
}

#[test]
fn forests_are_byte_identical_embedded_and_on_one_and_three_workers() {
    let _g = heavy();
    let dir = tempfile::tempdir().expect("tempdir");
    let job = write_job(dir.path(), TUNED_JOB);
    let local = embedded(dir.path(), &job);
    let want = fingerprints(&local);
    assert_eq!(want.0.len(), 2, "two tasks");
    assert_eq!(want.1.len(), 4, "2 grid points × 2 tasks");
    // The embedded run measured its fits' CPU time; a cluster's fits run elsewhere, so it has none.
    for t in local["tasks"].as_array().expect("tasks") {
        let cpu = t["fit_cpu_seconds"].as_f64().expect("embedded fit_cpu_seconds");
        assert!(cpu > 0.0 && cpu.is_finite(), "{cpu}");
    }
    for workers in [1usize, 3] {
        let cdir = dir.path().join(format!("cluster{workers}"));
        std::fs::create_dir_all(&cdir).expect("mkdir");
        let (_c, url) = coordinator(&cdir, &["--trees-per-task", "5"]);
        let _ws: Vec<Proc> = (0..workers).map(|i| worker(&cdir, &url, &format!("w{i}"), &[])).collect();
        let out = cli(&["submit", job.to_str().expect("utf8"), "--coordinator", &url], &cdir).ok();
        assert!(out.stdout.contains("reelforest run: clusterjob"), "{}", out.stdout);
        let id = job_id(&out.stdout);
        let cluster_report = report(&cdir.join("coordinator/jobs").join(&id).join("report.json"));
        assert!(cluster_report["tasks"][0].get("fit_cpu_seconds").is_none(), "{cluster_report}");
        let got = fingerprints(&cluster_report);
        assert_eq!(got, want, "{workers} worker(s) vs embedded");
        // The metrics above were computed on the workers (blocks of held-out rows).
        let rt = runtime();
        let mut jobs = rt.block_on(JobServiceClient::connect(url.clone())).expect("connect");
        let st = rt.block_on(jobs.cluster_status(wire::ClusterStatusRequest {})).expect("status").into_inner();
        let blocks: u64 = st.workers.iter().map(|w| w.blocks_evaluated).sum();
        // Per fold: 2 grid points × 2 tasks validation scores; then test + train for 2 tasks.
        assert!(blocks >= 2 * 2 * 2 + 4, "blocks evaluated on workers: {blocks}");
        let list = cli(&["jobs", "list", "--coordinator", &url], &cdir).ok();
        assert!(list.stdout.contains(&id) && list.stdout.contains("succeeded"), "{}", list.stdout);
    }
}

#[test]
fn a_worker_killed_mid_training_loses_nothing() {
    let _g = heavy();
    let dir = tempfile::tempdir().expect("tempdir");
    let job = write_job(dir.path(), LONG_JOB);
    let want = fingerprints(&embedded(dir.path(), &job));
    let cdir = dir.path().join("cluster");
    std::fs::create_dir_all(&cdir).expect("mkdir");
    let (mut coord, url) = coordinator(
        &cdir,
        &[
            "--trees-per-task",
            "2",
            "--heartbeat-ms",
            "100",
            "--heartbeat-timeout-ms",
            "1000",
            "--lease-timeout-ms",
            "30000",
        ],
    );
    let mut victim = worker(&cdir, &url, "victim", &[]);
    let _survivor = worker(&cdir, &url, "survivor", &[]);
    let (submit, id) = submit(&cdir, &job, &url);
    let rt = runtime();
    let mut jobs = rt.block_on(JobServiceClient::connect(url.clone())).expect("connect");
    // On each status change: does the victim hold a lease, with some trees done?
    let victim_id = watch_until(&rt, &url, &id, Duration::from_secs(300), |s| {
        if s.trees_done < 4 {
            return None;
        }
        let st = rt.block_on(jobs.cluster_status(wire::ClusterStatusRequest {})).ok()?.into_inner();
        st.workers.into_iter().find(|w| w.name == "victim" && !w.lease_ids.is_empty()).map(|w| w.worker_id)
    });
    // SIGKILL: no goodbye. Its leases must come back because the coordinator declares it dead
    // (no heartbeat for 1 s), not because a lease runs out (30 s): the event is the reaper's
    // `took back leases` line naming the victim among the dead workers. No wall-clock bound:
    // on a loaded machine the reaper may run late, but only the heartbeat path lists a worker
    // as dead.
    victim.kill9();
    coord.wait_for_line(
        "the coordinator declaring the victim dead and taking back its leases",
        Duration::from_secs(60),
        |l| took_back_leases(l, &victim_id),
    );
    let st = rt.block_on(jobs.cluster_status(wire::ClusterStatusRequest {})).expect("status").into_inner();
    assert!(st.workers.iter().all(|w| w.name != "victim"), "the victim was dropped");
    let out = submit.finish(Duration::from_secs(600));
    assert!(out.success, "{}\n{}\n{}", out.stdout, out.stderr, coord.tail(20));
    assert!(out.stdout.contains("reelforest run: longjob"), "{}", out.stdout);
    let r = report(&cdir.join("coordinator/jobs").join(&id).join("report.json"));
    assert_eq!(fingerprints(&r), want, "same forest after the kill");
    // Exactly numTrees trees: the model's node count equals the embedded one too.
    assert_eq!(r["tasks"][0]["total_num_nodes"], embedded_nodes(dir.path()));
}

fn embedded_nodes(dir: &Path) -> serde_json::Value {
    report(&dir.join("embedded/report.json"))["tasks"][0]["total_num_nodes"].clone()
}

/// A worker client that sends the token.
type RawWorker = WorkerServiceClient<tonic::transport::Channel>;

#[test]
fn misbehaving_workers_cannot_spoil_a_job() {
    let _g = heavy();
    let dir = tempfile::tempdir().expect("tempdir");
    let job = write_job(
        dir.path(),
        &LONG_JOB.replace("numTrees = 300", "numTrees = 6").replace("maxDepth = 12", "maxDepth = 5"),
    );
    let (_c, url) = coordinator(
        dir.path(),
        &[
            "--trees-per-task",
            "3",
            "--heartbeat-ms",
            "100",
            "--heartbeat-timeout-ms",
            "3000",
            "--lease-timeout-ms",
            "60000",
            "--max-message-bytes",
            "200000",
        ],
    );
    let out = cli(&["submit", job.to_str().expect("utf8"), "--coordinator", &url, "--detach"], dir.path()).ok();
    let id = job_id(&out.stdout);
    let rt = runtime();
    // Register only once there is work: a silent worker is dead after 3 s.
    watch_until(&rt, &url, &id, Duration::from_secs(300), |s| {
        (s.state == wire::JobState::Train as i32 && s.trees_total > 0).then_some(())
    });
    let mut w: RawWorker = rt.block_on(WorkerServiceClient::connect(url.clone())).expect("connect");
    let reg = rt
        .block_on(w.register(wire::RegisterRequest { name: "rogue".into(), cpus: 1 }))
        .expect("register")
        .into_inner();
    // Long polls: the coordinator answers as soon as a task is queued.
    let poll = |w: &mut RawWorker| {
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            let r = rt.block_on(w.poll_task(wire::PollTaskRequest { worker_id: reg.worker_id.clone(), wait_ms: 1000 }));
            if let Some(lease) = r.expect("poll").into_inner().lease {
                return lease;
            }
            assert!(Instant::now() < end, "no lease within 60 s");
        }
    };
    let beat = |w: &mut RawWorker| {
        assert!(
            rt.block_on(w.heartbeat(wire::HeartbeatRequest { worker_id: reg.worker_id.clone() }))
                .expect("beat")
                .into_inner()
                .known
        );
    };
    let lease = poll(&mut w);
    beat(&mut w);
    let fit = lease.fit.clone().expect("fit");
    assert_eq!(lease.job_id, id);
    assert_eq!(fit.num_trees, 3);
    // 1. Corrupt trees: refused, naming the field; the task is queued again.
    let err = rt
        .block_on(w.complete_task(wire::CompleteTaskRequest {
            worker_id: reg.worker_id.clone(),
            lease_id: lease.lease_id.clone(),
            trees: b"three trees".to_vec(),
            ..Default::default()
        }))
        .expect_err("corrupt trees");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        err.message(),
        format!(
            "rejected result for lease {}: trees: cannot decode: corrupt forest encoding: not a reelforest tree set \
             (bad magic)",
            lease.lease_id
        )
    );
    // 2. A lease it does not hold (the old one): refused.
    let err = rt
        .block_on(w.complete_task(wire::CompleteTaskRequest {
            worker_id: reg.worker_id.clone(),
            lease_id: lease.lease_id.clone(),
            trees: Vec::new(),
            ..Default::default()
        }))
        .expect_err("stale lease");
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err}");
    assert_eq!(err.message(), format!("lease {} is not held by worker {}", lease.lease_id, reg.worker_id));
    // 3. An oversized result: refused by the message limit before any handler runs.
    beat(&mut w);
    let again = poll(&mut w);
    let again_fit = again.fit.clone().expect("fit");
    assert_eq!((again_fit.first_tree, again_fit.num_trees), (fit.first_tree, 3), "the refused task comes back first");
    // Over the coordinator's 200,000-byte limit.
    let big = vec![0u8; 300_000];
    let err = rt
        .block_on(w.complete_task(wire::CompleteTaskRequest {
            worker_id: reg.worker_id.clone(),
            lease_id: again.lease_id.clone(),
            trees: big,
            ..Default::default()
        }))
        .expect_err("oversized");
    assert_eq!(err.code(), tonic::Code::OutOfRange, "{err}");
    assert!(err.message().contains("message length too large"), "{err}");
    // 4. Then it goes silent holding the lease: declared dead, the lease moves to a real worker.
    let cancel_check = cli(&["jobs", "status", &id, "--coordinator", &url], dir.path()).ok();
    assert!(cancel_check.stdout.contains("[train]"), "{}", cancel_check.stdout);
    let _real = worker(dir.path(), &url, "real", &[]);
    let done = watch_until(&rt, &url, &id, Duration::from_secs(300), |s| (s.finished_unix_ms > 0).then(|| s.clone()));
    assert_eq!(done.state, wire::JobState::Succeeded as i32, "{}", done.error);
    assert_eq!(done.trees_done, 6);
    let mut jobs = rt.block_on(JobServiceClient::connect(url.clone())).expect("connect");
    let st = rt.block_on(jobs.cluster_status(wire::ClusterStatusRequest {})).expect("status").into_inner();
    assert!(st.workers.iter().all(|w| w.name != "rogue"), "the silent worker was dropped");
    // The rogue's worker id is gone: its calls are refused.
    let err = rt
        .block_on(w.poll_task(wire::PollTaskRequest { worker_id: reg.worker_id.clone(), wait_ms: 0 }))
        .expect_err("dead worker");
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
}

#[test]
fn a_cancelled_job_ends_its_watch_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let job = write_job(dir.path(), &LONG_JOB.replace("ratings = 30000", "ratings = 3000"));
    let (_c, url) = coordinator(dir.path(), &[]);
    // No worker: the job waits in `train` with its tasks queued.
    let (submit, id) = submit(dir.path(), &job, &url);
    let rt = runtime();
    watch_until(&rt, &url, &id, Duration::from_secs(300), |s| {
        (s.state == wire::JobState::Train as i32 && s.trees_total > 0).then_some(())
    });
    let c = cli(&["jobs", "cancel", &id, "--coordinator", &url], dir.path()).ok();
    assert!(c.stdout.contains("cancel requested"), "{}", c.stdout);
    let out = submit.finish(Duration::from_secs(120));
    assert!(!out.success, "{}", out.stdout);
    assert!(out.stderr.contains(&format!("job {id} was cancelled: cancelled by a client")), "{}", out.stderr);
    let s = cli(&["jobs", "status", &id, "--coordinator", &url], dir.path()).failed();
    assert!(s.stdout.contains("[cancelled]"), "{}", s.stdout);
}

#[test]
fn unreachable_coordinator_and_wrong_tokens_are_clear() {
    let dir = tempfile::tempdir().expect("tempdir");
    let job = write_job(dir.path(), TUNED_JOB);
    // Nothing listens there (a port held closed for the test's lifetime).
    let closed = ClosedPort::new();
    let nowhere = format!("http://{}", closed.addr());
    let r = cli(&["submit", job.to_str().expect("utf8"), "--coordinator", &nowhere], dir.path()).failed();
    assert!(r.stderr.contains(&format!("error: cannot reach the coordinator at {nowhere}: ")), "{}", r.stderr);
    assert!(r.stderr.contains("Connection refused"), "{}", r.stderr);
    // A bad spec is refused before connecting.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "name = \"x\"\n[forest]\nnumTreez = 3\n").expect("write");
    let r = cli(&["submit", bad.to_str().expect("utf8"), "--coordinator", &nowhere], dir.path()).failed();
    assert!(r.stderr.contains("unknown field `numTreez`"), "{}", r.stderr);

    let (_c, url) = coordinator(dir.path(), &["--token", "s3cret"]);
    let r = cli(&["jobs", "list", "--coordinator", &url], dir.path()).failed();
    assert!(
        r.stderr.contains("error: list: missing token: pass --token or set REELFOREST_TOKEN (Unauthenticated)"),
        "{}",
        r.stderr
    );
    let r =
        cli(&["submit", job.to_str().expect("utf8"), "--coordinator", &url, "--token", "guess"], dir.path()).failed();
    assert!(r.stderr.contains("error: submit: wrong token (Unauthenticated)"), "{}", r.stderr);
    // Workers are checked too.
    let rt = runtime();
    let mut w: RawWorker = rt.block_on(WorkerServiceClient::connect(url.clone())).expect("connect");
    let err = rt.block_on(w.register(wire::RegisterRequest { name: "x".into(), cpus: 1 })).expect_err("no token");
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    // Nothing changed: with the right token, no job and no worker.
    let r = cli(&["jobs", "list", "--coordinator", &url, "--token", "s3cret"], dir.path()).ok();
    assert_eq!(r.stdout.lines().count(), 1, "only the header: {}", r.stdout);
}

#[test]
fn tls_with_a_trusted_ca_and_refused_without() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    let cert = params.self_signed(&key).expect("cert");
    let (cert_p, key_p) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_p, cert.pem()).expect("write cert");
    std::fs::write(&key_p, key.serialize_pem()).expect("write key");
    let (_c, url) = coordinator(
        dir.path(),
        &["--tls-cert", cert_p.to_str().expect("utf8"), "--tls-key", key_p.to_str().expect("utf8"), "--token", "t"],
    );
    let port = url.rsplit(':').next().expect("port");
    let https = format!("https://localhost:{port}");
    let r = cli(
        &["jobs", "list", "--coordinator", &https, "--tls-ca", cert_p.to_str().expect("utf8"), "--token", "t"],
        dir.path(),
    )
    .ok();
    assert!(r.stdout.starts_with("job "), "{}", r.stdout);
    // Plain HTTP/2 against the TLS port fails.
    let r = cli(&["jobs", "list", "--coordinator", &url, "--token", "t"], dir.path()).failed();
    assert!(r.stderr.contains("error: list: "), "{}", r.stderr);
}
