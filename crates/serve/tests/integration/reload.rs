//! Hot reload against a running server: a new model version appears in the warehouse while
//! clients keep predicting; the server swaps to it without failing a single request, and a
//! corrupt newer version leaves the good one serving with the error reported.

use crate::fixture::{Http, MODEL, config, copy_dir, fixture};
use reelforest_serve::cluster::NoCluster;
use reelforest_serve::{Limits, Server};
use reelforest_warehouse::Warehouse;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_versions_swap_in_without_dropping_requests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh_dir = dir.path().join("warehouse");
    copy_dir(&fixture().warehouse, &wh_dir);
    let cfg = config(&wh_dir, Limits::default()).with_poll_interval(Duration::from_millis(50));
    let server = Server::start(cfg, Arc::new(NoCluster)).await.expect("server");
    let addr = server.local_addr();

    // Four clients predict continuously, counting answers per version and failures; every
    // answer is announced on `answered` so the test waits on counts, not on time.
    let stop = Arc::new(AtomicBool::new(false));
    let (v1, v2, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (answered, _) = tokio::sync::watch::channel(());
    let answered = Arc::new(answered);
    let u = fixture().active_user;
    let mut clients = Vec::new();
    for c in 0..4 {
        let (stop, v1, v2, failed, answered) = (stop.clone(), v1.clone(), v2.clone(), failed.clone(), answered.clone());
        clients.push(tokio::spawn(async move {
            let mut http = Http::connect(addr).await;
            let mut i = 0i64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let body = format!(r#"{{"user_id": {u}, "movie_id": {}}}"#, (i * 7 + c) % 500);
                let (status, json) = http.send("POST", "/api/predict", Some(&body)).await;
                match (status, json["model"]["version"].as_u64()) {
                    (200, Some(1)) => v1.fetch_add(1, Ordering::Relaxed),
                    (200, Some(2)) => v2.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
                answered.send_replace(());
            }
        }));
    }
    let mut on_answer = answered.subscribe();
    let mut until = async |what: &str, done: &dyn Fn() -> bool| {
        tokio::time::timeout(Duration::from_secs(60), on_answer.wait_for(|()| done()))
            .await
            .unwrap_or_else(|_| panic!("timed out after 60 s waiting for {what}"))
            .expect("clients");
    };
    until("requests on version 1", &|| v1.load(Ordering::Relaxed) > 20).await;

    // Version 2: version 1's artifact under the next number (written whole, as save does).
    let wh = Warehouse::open(&wh_dir.display().to_string()).expect("warehouse");
    let bytes = wh.get(&format!("models/{MODEL}/1/model.pb")).await.expect("v1");
    let mut artifact = reelforest_proto::decode_model(&bytes).expect("decode");
    artifact.version = 2;
    wh.put(&format!("models/{MODEL}/2/model.pb"), reelforest_proto::encode_model(&artifact)).await.expect("put v2");

    until("requests answered by version 2", &|| v2.load(Ordering::Relaxed) > 20).await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("client");
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no request failed during the swap");
    let mut http = Http::connect(addr).await;
    let (_, health) = http.send("GET", "/api/health", None).await;
    assert_eq!(health["model"]["version"], 2);
    assert_eq!(health["reload"]["reloads"], 1);
    assert!(health["reload"]["last_error"].is_null());

    // Version 3 is corrupt: version 2 keeps serving, the error is reported.
    let mut reloads = server.state().subscribe_reload_status();
    wh.put(&format!("models/{MODEL}/3/model.pb"), b"not a model".to_vec()).await.expect("put v3");
    tokio::time::timeout(Duration::from_secs(30), reloads.wait_for(|s| s.last_error.is_some()))
        .await
        .expect("the failed reload reported within 30 s")
        .expect("reloader");
    let (_, health) = http.send("GET", "/api/health", None).await;
    assert_eq!(health["model"]["version"], 2);
    let err = health["reload"]["last_error"].as_str().expect("error");
    assert!(err.contains("models/serve-test/3/model.pb"), "{err}");
    let (status, p) = http.send("POST", "/api/predict", Some(&format!(r#"{{"user_id": {u}, "movie_id": 1}}"#))).await;
    assert_eq!((status, p["model"]["version"].as_u64()), (200, Some(2)));
    // An explicit reload reports the same failure as a JSON error.
    let (status, e) = http.send("POST", "/api/models/reload", None).await;
    assert_eq!(status, 500);
    assert_eq!(e["error"]["code"], "internal");
    assert!(e["error"]["message"].as_str().is_some_and(|m| m.contains("reload failed")), "{e}");
    server.shutdown().await.expect("shutdown");
}
