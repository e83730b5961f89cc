//! Load benchmark of `reelforest serve` on loopback (not a test): single predictions from 64
//! concurrent keep-alive connections (p50/p99 latency, throughput, errors), then the latency of
//! 10,000-row batches, for a 100-tree depth-10 forest per task.
//!
//! ```sh
//! cargo bench -p reelforest-serve --bench load            # defaults below
//! LOAD_SECONDS=20 LOAD_CONNECTIONS=64 cargo bench -p reelforest-serve --bench load
//! ```
//!
//! The model comes from the embedded job on generated data (`LOAD_RATINGS`, default 100,000;
//! 100 trees, maxDepth 10, both tasks) in a temporary directory. The server runs on its own
//! 2-thread runtime, the load generator on a 1-thread runtime in the same process, so both
//! share the machine as a co-located client would. Every loop is bounded in time and count.

use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1;
use reelforest_core::NoProgress;
use reelforest_pipeline::{JobSpec, RunOptions};
use reelforest_serve::cluster::NoCluster;
use reelforest_serve::{Limits, ServeConfig, Server};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

type Conn = http1::SendRequest<Full<bytes::Bytes>>;

async fn connect(addr: SocketAddr) -> Conn {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (sender, conn) = http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(conn);
    sender
}

/// One POST /api/predict; `Ok` with the body length when the answer is 200.
async fn post(conn: &mut Conn, path: &str, body: bytes::Bytes) -> Result<usize, String> {
    conn.ready().await.map_err(|e| e.to_string())?;
    let req = hyper::Request::post(path)
        .header("host", "bench")
        .header("content-type", "application/json")
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let res = conn.send_request(req).await.map_err(|e| e.to_string())?;
    let status = res.status();
    let bytes = res.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    if status == 200 { Ok(bytes.len()) } else { Err(format!("{status}: {}", String::from_utf8_lossy(&bytes))) }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let ratings = env("LOAD_RATINGS", 100_000);
    let seconds = env("LOAD_SECONDS", 10);
    let connections = env("LOAD_CONNECTIONS", 64) as usize;
    let batches = env("LOAD_BATCHES", 20) as usize;

    let dir = tempfile::tempdir().expect("tempdir");
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("server")
        .enable_all()
        .build()
        .expect("server runtime");
    eprintln!("building the model: {ratings} generated ratings, 100 trees, depth 10 ...");
    let spec = JobSpec::from_toml(
        &format!(
            "name = \"load\"\n[data]\nsource = \"synth\"\nsynth = {{ ratings = {ratings}, seed = 7 }}\n\
             [model]\nkind = \"random_forest\"\nnumTrees = 100\nmaxDepth = 10\n[audit]\nleaky = false\n"
        ),
        "bench",
    )
    .expect("spec");
    let opts = RunOptions { out: dir.path().to_path_buf(), data: None, warehouse: None };
    let started = Instant::now();
    let report = server_rt.block_on(reelforest_pipeline::run_job(&spec, &opts, &NoProgress)).expect("job");
    eprintln!("model built in {:.1}s", started.elapsed().as_secs_f64());

    let config = ServeConfig::new(dir.path().join("warehouse").display().to_string(), "load", "bench-token-123")
        .with_bind("127.0.0.1:0".parse().expect("addr"))
        .with_limits(Limits::default());
    let server = server_rt.block_on(Server::start(config, Arc::new(NoCluster))).expect("server");
    let addr = server.local_addr();
    let served = server.state().served();
    let nodes: usize = [reelforest_core::TaskKind::Regression, reelforest_core::TaskKind::Classification]
        .iter()
        .filter_map(|t| served.model().forest(*t))
        .map(|f| f.total_num_nodes())
        .sum();
    let users: Vec<i64> = served.data.active_users(usize::MAX).into_iter().map(|(u, _)| u).collect();
    let movies: Vec<i64> = served.data.movies().iter().map(|m| m.movie_id).collect();
    drop(served);

    let client_rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("client runtime");
    let (users, movies) = (Arc::new(users), Arc::new(movies));

    // Single predictions: `connections` connections, each sending back to back.
    let run = |top: u32, duration: Duration| {
        let (users, movies) = (users.clone(), movies.clone());
        client_rt.block_on(async move {
            let deadline = Instant::now() + duration;
            let mut tasks = Vec::new();
            for c in 0..connections {
                let (users, movies) = (users.clone(), movies.clone());
                tasks.push(tokio::spawn(async move {
                    let mut conn = connect(addr).await;
                    let (mut lat, mut errors) = (Vec::with_capacity(100_000), Vec::new());
                    let mut i = c * 7919;
                    while Instant::now() < deadline && lat.len() < 2_000_000 {
                        i = i.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        let (u, m) = (users[(i >> 33) % users.len()], movies[(i >> 17) % movies.len()]);
                        let body = bytes::Bytes::from(format!(r#"{{"user_id":{u},"movie_id":{m}}}"#));
                        let t = Instant::now();
                        match post(&mut conn, &format!("/api/predict?top={top}"), body).await {
                            Ok(_) => lat.push(t.elapsed()),
                            Err(e) => {
                                errors.push(e);
                                conn = connect(addr).await;
                            }
                        }
                    }
                    (lat, errors)
                }));
            }
            let (mut lat, mut errors) = (Vec::new(), Vec::new());
            for t in tasks {
                let (l, e) = t.await.expect("client task");
                lat.extend(l);
                errors.extend(e);
            }
            lat.sort_unstable();
            (lat, errors)
        })
    };
    eprintln!("warm-up ...");
    run(5, Duration::from_secs(2));
    let mut rows = Vec::new();
    for top in [5u32, 0] {
        eprintln!("single predictions, top={top}: {connections} connections for {seconds}s ...");
        let t = Instant::now();
        let (lat, errors) = run(top, Duration::from_secs(seconds));
        let elapsed = t.elapsed().as_secs_f64();
        if let Some(e) = errors.first() {
            eprintln!("first error: {e}");
        }
        rows.push(format!(
            "| single, {connections} connections, top {top} contributions | {} | {:.0}/s | {} | {} | {} | {} | {} |",
            lat.len(),
            lat.len() as f64 / elapsed,
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.9)),
            ms(percentile(&lat, 0.99)),
            ms(lat.last().copied().unwrap_or_default()),
            errors.len()
        ));
    }

    // 10,000-row batches, one at a time, with the default 5 contributions per row.
    eprintln!("10,000-row batches x {batches} ...");
    let batch_rows = client_rt.block_on(async {
        let mut conn = connect(addr).await;
        let mut lat = Vec::new();
        let mut errors = 0usize;
        for b in 0..batches {
            let items: Vec<String> = (0..10_000usize)
                .map(|i| {
                    let k = b * 10_000 + i;
                    format!(
                        r#"{{"user_id":{},"movie_id":{}}}"#,
                        users[k % users.len()],
                        movies[(k * 31) % movies.len()]
                    )
                })
                .collect();
            let body = bytes::Bytes::from(format!("[{}]", items.join(",")));
            let t = Instant::now();
            match post(&mut conn, "/api/predict", body).await {
                Ok(_) => lat.push(t.elapsed()),
                Err(e) => {
                    eprintln!("batch error: {e}");
                    errors += 1;
                }
            }
        }
        lat.sort_unstable();
        format!(
            "| batch of 10,000 pairs, top 5 contributions | {} | {:.0} pairs/s | {} | {} | {} | {} | {errors} |",
            lat.len(),
            10_000.0 / percentile(&lat, 0.5).as_secs_f64().max(1e-9),
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.9)),
            ms(percentile(&lat, 0.99)),
            ms(lat.last().copied().unwrap_or_default()),
        )
    });
    rows.push(batch_rows);

    println!(
        "\nModel: {} ratings generated, 100 trees x 2 tasks, maxDepth 10, {} nodes in all, {} features; \
         {} users, {} movies.\n",
        report.ingest_rows,
        nodes,
        report.features.feature_columns.len(),
        users.len(),
        movies.len()
    );
    println!("| load | requests | throughput | p50 | p90 | p99 | max | errors |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for r in rows {
        println!("{r}");
    }
    server_rt.block_on(server.shutdown()).expect("shutdown");
}
