//! The test warehouse, built once per test binary: 20,000 generated ratings whose most rated
//! movie is retitled `<script>alert(1)</script> (1995)`, ingested, featurized and modelled by
//! the embedded job (10 trees, a 2-fold grid over maxDepth so tuning results exist), with the
//! run's `report.json` beside the warehouse. Plus helpers to load server state on it and to
//! talk HTTP to a running server.

use reelforest_core::NoProgress;
use reelforest_pipeline::{JobSpec, RunOptions};
use reelforest_serve::cluster::{ClusterSource, NoCluster};
use reelforest_serve::{AppState, Limits, ServeConfig};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// Name of the fixture's model.
pub const MODEL: &str = "serve-test";
/// Token of every test server.
pub const TOKEN: &str = "test-token-0123456789";
/// The hostile title given to the most rated movie.
pub const SCRIPT_TITLE: &str = "<script>alert(1)</script> (1995)";
/// Ratings generated.
pub const RATINGS: u64 = 20_000;

/// What the tests know about the warehouse.
#[derive(Debug)]
pub struct Fixture {
    /// The warehouse directory (`report.json` beside it), kept for the whole test binary.
    pub warehouse: PathBuf,
    /// The movie with the `<script>` title.
    pub script_movie: i64,
    /// A user with many ratings.
    pub active_user: i64,
    /// A movie that user has not rated and that has ratings.
    pub unseen_movie: i64,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

/// The shared fixture (built on first use, on its own thread and runtime).
pub fn fixture() -> &'static Fixture {
    FIXTURE.get_or_init(|| std::thread::spawn(build).join().expect("fixture thread"))
}

fn build() -> Fixture {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    // Under cargo's per-target scratch directory (not /tmp): kept for the whole test binary.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir").keep();
    let data = dir.join("data");
    reelforest_data::synth(
        &reelforest_data::SynthOptions { ratings: RATINGS, seed: 1, ..reelforest_data::SynthOptions::default() },
        &data,
    )
    .expect("synth");

    // Ratings per movie and per user, from the generated file.
    let ratings = std::fs::read_to_string(data.join("ratings.csv")).expect("ratings.csv");
    let mut per_movie: HashMap<i64, u32> = HashMap::new();
    let mut per_user: HashMap<i64, Vec<i64>> = HashMap::new();
    for line in ratings.lines().skip(1) {
        let mut f = line.split(',');
        let (u, m) = (f.next().and_then(|v| v.parse().ok()), f.next().and_then(|v| v.parse().ok()));
        if let (Some(u), Some(m)) = (u, m) {
            *per_movie.entry(m).or_default() += 1;
            per_user.entry(u).or_default().push(m);
        }
    }
    let mut by_count: Vec<(i64, u32)> = per_movie.iter().map(|(m, n)| (*m, *n)).collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let script_movie = by_count[0].0;
    let (active_user, seen) =
        per_user.iter().max_by_key(|(u, l)| (l.len(), -**u)).map(|(u, l)| (*u, l.clone())).expect("users");
    let unseen_movie = by_count.iter().map(|(m, _)| *m).find(|m| !seen.contains(m)).expect("an unseen movie");

    retitle(&data.join("movies.csv"), script_movie, SCRIPT_TITLE);

    let spec = JobSpec::from_toml(
        &format!(
            "name = \"{MODEL}\"\n[model]\nkind = \"random_forest\"\nnumTrees = 10\nmaxDepth = 6\n[tuning]\nnumFolds = 2\n\
             [tuning.grid]\nmaxDepth = [3, 6]\n"
        ),
        "fixture",
    )
    .expect("job spec");
    let opts = RunOptions { out: dir.clone(), data: Some(data), warehouse: None };
    rt.block_on(reelforest_pipeline::run_job(&spec, &opts, &NoProgress)).expect("embedded run");
    Fixture { warehouse: dir.join("warehouse"), script_movie, active_user, unseen_movie }
}

/// Rewrites the `movies.csv` line of `movie` with `title` (genres kept).
fn retitle(path: &Path, movie: i64, title: &str) {
    let text = std::fs::read_to_string(path).expect("movies.csv");
    let prefix = format!("{movie},");
    let mut found = false;
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with(&prefix) {
                found = true;
                let genres = l.rsplit(',').next().unwrap_or("");
                format!("{movie},\"{title}\",{genres}")
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(found, "movie {movie} not in movies.csv");
    std::fs::write(path, lines.join("\n") + "\n").expect("write movies.csv");
}

/// A config serving the fixture (or a copy of it) with `limits`.
pub fn config(warehouse: &Path, limits: Limits) -> ServeConfig {
    ServeConfig::new(warehouse.display().to_string(), MODEL, TOKEN)
        .with_bind("127.0.0.1:0".parse().expect("addr"))
        .with_limits(limits)
}

/// Loads server state on the fixture with `limits` and the given cluster source.
pub async fn state_with(limits: Limits, cluster: Arc<dyn ClusterSource>) -> AppState {
    AppState::load(config(&fixture().warehouse, limits), cluster).await.expect("state")
}

/// Loads server state on the fixture with default limits and no cluster.
pub async fn state() -> AppState {
    state_with(Limits::default(), Arc::new(NoCluster)).await
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

/// A minimal HTTP/1.1 client on one keep-alive connection (hyper), for tests against a
/// listening server.
pub struct Http {
    sender: hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>,
    host: String,
}

impl Http {
    /// Connects to `addr`.
    pub async fn connect(addr: std::net::SocketAddr) -> Self {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let io = hyper_util::rt::TokioIo::new(stream);
        let (sender, conn) = hyper::client::conn::http1::handshake(io).await.expect("handshake");
        tokio::spawn(conn);
        Http { sender, host: addr.to_string() }
    }

    /// Sends a request; returns the status and the body as JSON (`Null` when not JSON).
    pub async fn send(&mut self, method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
        use http_body_util::BodyExt as _;
        self.sender.ready().await.expect("connection ready");
        let mut req = hyper::Request::builder().method(method).uri(path).header("host", &self.host);
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        if path.starts_with("/api/sql") || path.starts_with("/api/models/reload") {
            req = req.header("authorization", format!("Bearer {TOKEN}"));
        }
        let req =
            req.body(http_body_util::Full::new(bytes::Bytes::from(body.unwrap_or("").to_string()))).expect("request");
        let res = self.sender.send_request(req).await.expect("response");
        let status = res.status().as_u16();
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
    }
}
