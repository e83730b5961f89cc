//! The JSON API through the full router (layers included), without a socket: every route and
//! every bad-input case of issue 5, answered as JSON with a stable code.

use crate::fixture::{RATINGS, SCRIPT_TITLE, TOKEN, fixture, state, state_with};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use reelforest_serve::cluster::{CoordinatorSource, NoCluster, PendingCoordinator};
use reelforest_serve::{AppState, Limits, router};
use serde_json::{Value, json};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tower::ServiceExt as _;

/// Default-limits state shared by the tests of this module (loaded once).
fn shared() -> AppState {
    static STATE: OnceLock<AppState> = OnceLock::new();
    STATE
        .get_or_init(|| {
            std::thread::spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                rt.block_on(state())
            })
            .join()
            .expect("state thread")
        })
        .clone()
}

/// An answer: status, content type, JSON body (`Null` if not JSON), text body.
struct Answer {
    status: StatusCode,
    content_type: String,
    json: Value,
    text: String,
    csp: Option<String>,
}

async fn send(app: &Router, method: &str, uri: &str, body: Option<(&str, &str)>, token: Option<&str>) -> Answer {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some((content_type, _)) = body {
        req = req.header("content-type", content_type);
    }
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = req.body(body.map_or_else(Body::empty, |(_, b)| Body::from(b.to_string()))).expect("request");
    let res = app.clone().oneshot(req).await.expect("infallible");
    let status = res.status();
    let (content_type, csp) = {
        let header = |name: &str| res.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        (header("content-type").unwrap_or_default(), header("content-security-policy"))
    };
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Answer { status, content_type, json: serde_json::from_str(&text).unwrap_or(Value::Null), text, csp }
}

async fn get(app: &Router, uri: &str) -> Answer {
    send(app, "GET", uri, None, None).await
}

async fn post_json(app: &Router, uri: &str, body: &str) -> Answer {
    send(app, "POST", uri, Some(("application/json", body)), None).await
}

async fn sql(app: &Router, body: &str) -> Answer {
    send(app, "POST", "/api/sql", Some(("application/json", body)), Some(TOKEN)).await
}

/// Asserts an error answer's status and code; returns its message.
fn error(a: &Answer, status: StatusCode, code: &str) -> String {
    assert_eq!(a.status, status, "{}", a.text);
    assert!(a.content_type.starts_with("application/json"), "{}: {}", a.content_type, a.text);
    assert_eq!(a.json["error"]["code"], code, "{}", a.text);
    a.json["error"]["message"].as_str().expect("message").to_string()
}

#[tokio::test]
async fn health_names_the_served_model() {
    let app = router(shared());
    let a = get(&app, "/api/health").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json["status"], "ok");
    assert_eq!(a.json["model"], json!({"name": "serve-test", "version": 1}));
    assert_eq!(a.json["reload"]["reloads"], 0);
    assert!(a.csp.expect("csp").contains("default-src 'none'"), "every answer carries the CSP");
}

#[tokio::test]
async fn openapi_documents_exactly_the_routes() {
    let app = router(shared());
    let doc = get(&app, "/api/openapi.json").await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.json["openapi"].as_str().expect("version").starts_with("3."));
    let paths = doc.json["paths"].as_object().expect("paths");
    // Every route the issue asks for is documented with its method.
    let expected = [
        ("post", "/api/predict"),
        ("get", "/api/users/{id}/recommendations"),
        ("get", "/api/movies"),
        ("get", "/api/models"),
        ("get", "/api/models/{name}"),
        ("post", "/api/models/reload"),
        ("get", "/api/jobs"),
        ("get", "/api/cluster"),
        ("post", "/api/sql"),
        ("get", "/api/health"),
        ("get", "/api/openapi.json"),
    ];
    for (method, path) in expected {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} missing from the spec");
    }
    // And every documented operation is served: no `not_found` / `method_not_allowed`.
    let mut operations = 0;
    for (path, item) in paths {
        for method in ["get", "post", "put", "delete", "patch"] {
            if item.get(method).is_none() {
                continue;
            }
            operations += 1;
            let uri = path.replace("{id}", "1").replace("{name}", "serve-test");
            let a = send(&app, &method.to_uppercase(), &uri, Some(("application/json", "{}")), None).await;
            let code = a.json["error"]["code"].as_str().unwrap_or("");
            assert!(
                !matches!(code, "not_found" | "method_not_allowed"),
                "{method} {path} is documented but not routed: {}",
                a.text
            );
        }
    }
    assert_eq!(operations, expected.len(), "the spec documents routes the test does not know: {paths:?}");
    // The bearer scheme and the error schema are declared.
    assert_eq!(doc.json["components"]["securitySchemes"]["token"]["scheme"], "bearer");
    assert!(doc.json["components"]["schemas"]["ErrorCode"]["enum"].as_array().is_some_and(|c| c.len() > 10));
}

#[tokio::test]
async fn predict_one_with_contributions_matches_the_predictor() {
    let st = shared();
    let app = router(st.clone());
    let f = fixture();
    let (u, m, t) = (f.active_user, f.unseen_movie, 1_500_000_000i64);
    let a =
        post_json(&app, "/api/predict?top=100", &format!(r#"{{"user_id": {u}, "movie_id": {m}, "timestamp": {t}}}"#))
            .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let p = &a.json;
    assert_eq!(p["model"], json!({"name": "serve-test", "version": 1}));
    assert_eq!((p["user_id"].as_i64(), p["movie_id"].as_i64()), (Some(u), Some(m)));
    assert_eq!((p["cold_user"].as_bool(), p["known_user"].as_bool()), (Some(false), Some(true)));
    let rating = p["rating"].as_f64().expect("rating");
    let p_good = p["p_good"].as_f64().expect("p_good");
    let want = st.served().predictor.predict(u, m, Some(t)).expect("predictor");
    assert!((rating - want.rating.expect("rating")).abs() < 1e-9, "{rating} vs {want:?}");
    assert!((p_good - want.p_good.expect("p_good")).abs() < 1e-9, "{p_good} vs {want:?}");
    // All contributions: base + their sum is the rating; sorted by size.
    let c = p["contributions"].as_array().expect("contributions");
    assert!(!c.is_empty());
    let sum: f64 = c.iter().map(|x| x["rating"].as_f64().expect("rating part")).sum();
    assert!((p["base"].as_f64().expect("base") + sum - rating).abs() < 1e-9);
    let sizes: Vec<f64> = c.iter().map(|x| x["rating"].as_f64().unwrap_or(0.0).abs()).collect();
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
    let names = st.served().predictor.feature_names().to_vec();
    assert!(c.iter().all(|x| names.iter().any(|n| x["feature"] == n.as_str())));

    // Default: the server's top 5; top=0: none.
    let a = post_json(&app, "/api/predict", &format!(r#"{{"user_id": {u}, "movie_id": {m}}}"#)).await;
    assert!(a.json["contributions"].as_array().expect("c").len() <= 5);
    let a = post_json(&app, "/api/predict?top=0", &format!(r#"{{"user_id": {u}, "movie_id": {m}}}"#)).await;
    assert_eq!(a.json["contributions"], json!([]));
    assert!(a.json["rating"].is_f64());
}

#[tokio::test]
async fn predict_batch_keeps_order_and_flags_cold_starts() {
    let app = router(shared());
    let f = fixture();
    let (u, m) = (f.active_user, f.unseen_movie);
    let body = format!(
        r#"[{{"user_id": {u}, "movie_id": {m}}}, {{"user_id": 987654321, "movie_id": {m}}},
            {{"user_id": {u}, "movie_id": 987654321}}, {{"user_id": -1, "movie_id": -2}}]"#
    );
    let a = post_json(&app, "/api/predict", &body).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let p = a.json["predictions"].as_array().expect("predictions");
    assert_eq!(p.len(), 4);
    let flags: Vec<(bool, bool, bool, bool)> = p
        .iter()
        .map(|x| {
            let b = |k: &str| x[k].as_bool().expect(k);
            (b("cold_user"), b("known_user"), b("cold_movie"), b("known_movie"))
        })
        .collect();
    assert_eq!(flags[0], (false, true, false, true));
    assert_eq!(flags[1], (true, false, false, true), "unknown user: cold start");
    assert_eq!(flags[2], (false, true, true, false), "unknown movie: cold start");
    assert_eq!(flags[3], (true, false, true, false));
    assert!(p.iter().all(|x| x["rating"].as_f64().is_some_and(|r| (0.0..=5.5).contains(&r))));
    assert_eq!(p[1]["user_id"], 987654321);
    // The batch answer equals the single answers.
    let one = post_json(&app, "/api/predict", &format!(r#"{{"user_id": {u}, "movie_id": {m}}}"#)).await;
    assert_eq!(one.json["rating"], p[0]["rating"]);

    // A large batch is scored in parallel and still in order.
    let items: Vec<String> = (0..500).map(|i| format!(r#"{{"user_id": {}, "movie_id": {m}}}"#, i % 50)).collect();
    let a = post_json(&app, "/api/predict?top=2", &format!("[{}]", items.join(","))).await;
    let p = a.json["predictions"].as_array().expect("predictions");
    assert_eq!(p.len(), 500);
    assert!(p.iter().enumerate().all(|(i, x)| x["user_id"] == (i % 50) as i64));
    assert_eq!(p[7]["rating"], p[57]["rating"], "same pair, same answer");
}

#[tokio::test]
async fn predict_rejects_bad_input_clearly() {
    let app = router(shared());
    let e = error(
        &post_json(&app, "/api/predict", r#"{"user_id": 1, "movie_id": "#).await,
        StatusCode::BAD_REQUEST,
        "malformed_json",
    );
    assert!(e.contains("EOF") || e.contains("syntax"), "{e}");
    let e = error(
        &post_json(&app, "/api/predict", r#"{"user_id": 1, "movie_id": 2, "userid": 3}"#).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    );
    assert!(e.contains("unknown field `userid`"), "{e}");
    let e = error(
        &post_json(&app, "/api/predict", r#"{"user_id": "1", "movie_id": 2}"#).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    );
    assert!(e.contains("invalid type: string \"1\", expected i64"), "{e}");
    let e = error(
        &post_json(&app, "/api/predict", r#"{"user_id": 1.5, "movie_id": 2}"#).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    );
    assert!(e.contains("expected i64"), "{e}");
    let e = error(
        &post_json(&app, "/api/predict", r#"{"user_id": 1}"#).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    );
    assert!(e.contains("missing field `movie_id`"), "{e}");
    let e = error(
        &post_json(&app, "/api/predict", r#"[{"user_id": 1, "movie_id": 2}, {"user": 1}]"#).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    );
    assert!(e.starts_with("[1]: unknown field `user`"), "{e}");
    error(&post_json(&app, "/api/predict", "42").await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    error(&post_json(&app, "/api/predict", "[]").await, StatusCode::UNPROCESSABLE_ENTITY, "empty_batch");
    let a = send(&app, "POST", "/api/predict", Some(("text/plain", r#"{"user_id": 1, "movie_id": 2}"#)), None).await;
    error(&a, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let a = send(&app, "POST", "/api/predict", None, None).await;
    error(&a, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let e = error(
        &post_json(&app, "/api/predict?top=abc", r#"{"user_id": 1, "movie_id": 2}"#).await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    );
    assert!(e.contains("top"), "{e}");
    error(
        &post_json(&app, "/api/predict?top=1000", r#"{"user_id": 1, "movie_id": 2}"#).await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    );
    error(
        &post_json(&app, "/api/predict?topp=1", r#"{"user_id": 1, "movie_id": 2}"#).await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    );
    error(&get(&app, "/api/predict").await, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    error(&get(&app, "/api/nope").await, StatusCode::NOT_FOUND, "not_found");
    // The server is still fine.
    assert_eq!(get(&app, "/api/health").await.status, StatusCode::OK);
}

#[tokio::test]
async fn batch_and_body_limits_answer_413() {
    let limits = Limits { max_batch: 5, max_body_bytes: 2_000, ..Limits::default() };
    let app = router(state_with(limits, Arc::new(NoCluster)).await);
    let items = |n: usize| format!("[{}]", vec![r#"{"user_id": 1, "movie_id": 2}"#; n].join(","));
    assert_eq!(post_json(&app, "/api/predict", &items(5)).await.status, StatusCode::OK);
    let e = error(&post_json(&app, "/api/predict", &items(6)).await, StatusCode::PAYLOAD_TOO_LARGE, "batch_too_large");
    assert_eq!(e, "the batch has 6 pairs; at most 5 are accepted");
    // Over the byte limit: refused before parsing, still as JSON.
    let big = format!(r#"{{"user_id": 1, "movie_id": 2, "pad": "{}"}}"#, "x".repeat(3_000));
    error(&post_json(&app, "/api/predict", &big).await, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let a = send(&app, "POST", "/api/sql", Some(("application/json", &big)), Some(TOKEN)).await;
    error(&a, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
}

#[tokio::test]
async fn recommendations_rank_unseen_movies() {
    let st = shared();
    let app = router(st.clone());
    let u = fixture().active_user;
    let a = get(&app, &format!("/api/users/{u}/recommendations?n=7")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let r = &a.json;
    assert_eq!((r["known_user"].as_bool(), r["cold_user"].as_bool()), (Some(true), Some(false)));
    let seen = st.served().data.seen(u).to_vec();
    assert_eq!(r["rated"].as_u64(), Some(seen.len() as u64));
    let recs = r["recommendations"].as_array().expect("recommendations");
    assert_eq!(recs.len(), 7);
    let ratings: Vec<f64> = recs.iter().map(|x| x["rating"].as_f64().expect("rating")).collect();
    assert!(ratings.windows(2).all(|w| w[0] >= w[1]), "best first: {ratings:?}");
    for x in recs {
        let m = x["movie_id"].as_i64().expect("id");
        assert!(!seen.contains(&m), "movie {m} was already rated");
        assert!(x["title"].is_string() && x["genres"].is_array());
        // Each score is the prediction for that pair.
        let p = post_json(&app, "/api/predict?top=0", &format!(r#"{{"user_id": {u}, "movie_id": {m}}}"#)).await;
        assert!((p.json["rating"].as_f64().expect("r") - x["rating"].as_f64().expect("r")).abs() < 1e-9);
    }
    // A user nobody knows still gets recommendations, flagged cold.
    let a = get(&app, "/api/users/424242424/recommendations").await;
    assert_eq!(a.json["cold_user"], true);
    assert_eq!(a.json["known_user"], false);
    assert_eq!(a.json["recommendations"].as_array().expect("recs").len(), 10, "default n");
    // Bad ids and counts.
    error(&get(&app, "/api/users/abc/recommendations").await, StatusCode::BAD_REQUEST, "invalid_path");
    error(&get(&app, "/api/users/1.5/recommendations").await, StatusCode::BAD_REQUEST, "invalid_path");
    error(&get(&app, "/api/users/1/recommendations?n=0").await, StatusCode::BAD_REQUEST, "invalid_query");
    let e = error(&get(&app, "/api/users/1/recommendations?n=101").await, StatusCode::BAD_REQUEST, "invalid_query");
    assert_eq!(e, "n: 101 is not between 1 and 100");
    error(&get(&app, "/api/users/1/recommendations?n=ten").await, StatusCode::BAD_REQUEST, "invalid_query");
}

#[tokio::test]
async fn movie_search_finds_titles_verbatim() {
    let app = router(shared());
    let a = get(&app, "/api/movies?q=SCRIPT").await;
    assert_eq!(a.status, StatusCode::OK);
    let movies = a.json["movies"].as_array().expect("movies");
    assert_eq!(a.json["total"], 1);
    assert_eq!(movies[0]["movie_id"], fixture().script_movie);
    assert_eq!(movies[0]["title"], SCRIPT_TITLE, "JSON carries the title as it is");
    let a = get(&app, "/api/movies?limit=3").await;
    let movies = a.json["movies"].as_array().expect("movies");
    assert_eq!(movies.len(), 3);
    assert_eq!(movies[0]["movie_id"], fixture().script_movie, "most rated first");
    let counts: Vec<u64> = movies.iter().map(|m| m["ratings"].as_u64().expect("n")).collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]));
    assert!(a.json["total"].as_u64().expect("total") > 3);
    assert_eq!(get(&app, "/api/movies?q=no%20such%20title%20anywhere").await.json["total"], 0);
    error(&get(&app, "/api/movies?limit=0").await, StatusCode::BAD_REQUEST, "invalid_query");
    error(&get(&app, "/api/movies?limit=-1").await, StatusCode::BAD_REQUEST, "invalid_query");
    error(&get(&app, "/api/movies?title=x").await, StatusCode::BAD_REQUEST, "invalid_query");
}

#[tokio::test]
async fn models_list_detail_and_tuning() {
    let app = router(shared());
    let a = get(&app, "/api/models").await;
    assert_eq!(a.json["serving"], json!({"name": "serve-test", "version": 1}));
    assert_eq!(a.json["models"], json!([{"name": "serve-test", "versions": [1], "served": true}]));

    let d = get(&app, "/api/models/serve-test").await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.text);
    let d = d.json;
    assert_eq!((d["version"].as_u64(), d["served"].as_bool()), (Some(1), Some(true)));
    let tasks = d["tasks"].as_array().expect("tasks");
    assert_eq!(
        tasks.iter().map(|t| t["task"].as_str().unwrap_or("")).collect::<Vec<_>>(),
        ["regression", "classification"]
    );
    let n_features = d["feature_names"].as_array().expect("features").len();
    for t in tasks {
        let imp = t["importances"].as_array().expect("importances");
        assert_eq!(imp.len(), n_features);
        let total: f64 = imp.iter().map(|i| i["importance"].as_f64().expect("v")).sum();
        assert!((total - 1.0).abs() < 1e-6, "importances sum to 1: {total}");
        assert_eq!(t["params"]["numTrees"], 10);
        assert_eq!(t["params"]["maxBins"], 32);
        assert!(t["cv"].is_f64(), "tuned: the chosen point's CV metric: {t}");
    }
    assert!(tasks[0]["test"]["rmse"].is_f64() && tasks[1]["test"]["roc_auc"].is_f64());
    assert_eq!(tasks[1]["test"]["confusion"].as_array().map(Vec::len), Some(2));
    let tuning = &d["tuning"];
    let results = tuning["results"].as_array().expect("results");
    assert_eq!(results.len(), 4, "2 grid points x 2 tasks, from report.json: {tuning}");
    assert!(tuning["results_source"].as_str().expect("source").ends_with("report.json"));
    assert_eq!(tuning["spec"]["grid"]["maxDepth"], json!([3, 6]));

    assert_eq!(get(&app, "/api/models/serve-test?version=1").await.status, StatusCode::OK);
    let e = error(&get(&app, "/api/models/nope").await, StatusCode::NOT_FOUND, "model_not_found");
    assert_eq!(e, "no model named \"nope\"");
    error(&get(&app, "/api/models/serve-test?version=9").await, StatusCode::NOT_FOUND, "model_not_found");
    error(&get(&app, "/api/models/serve-test?version=x").await, StatusCode::BAD_REQUEST, "invalid_query");
    error(&get(&app, "/api/models/..%2Fetc").await, StatusCode::NOT_FOUND, "model_not_found");
}

#[tokio::test]
async fn reload_needs_the_token() {
    let app = router(shared());
    let e =
        error(&send(&app, "POST", "/api/models/reload", None, None).await, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(e.contains("Authorization: Bearer"), "{e}");
    error(
        &send(&app, "POST", "/api/models/reload", None, Some("wrong-token-1")).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    let a = send(&app, "POST", "/api/models/reload", None, Some(TOKEN)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json, json!({"outcome": "unchanged", "version": 1}));
}

#[tokio::test]
async fn cluster_and_jobs_without_and_with_a_coordinator() {
    let app = router(shared());
    let c = get(&app, "/api/cluster").await;
    assert_eq!(c.json["status"], "not_configured");
    assert_eq!((c.json["workers"].clone(), c.json["jobs"].clone()), (json!([]), json!([])));
    assert_eq!(get(&app, "/api/jobs").await.json, json!({"cluster": "not_configured", "jobs": []}));
    let pending = Arc::new(PendingCoordinator::new("http://coordinator:50051"));
    let app = router(state_with(Limits::default(), pending).await);
    let c = get(&app, "/api/cluster").await;
    assert_eq!(c.json["status"], "unavailable");
    assert_eq!(c.json["coordinator"], "http://coordinator:50051");
    assert!(c.json["message"].as_str().expect("message").contains("not wired") || c.text.contains("cannot query"));
}

/// `/api/cluster` against a real coordinator on loopback: its workers (registered over gRPC)
/// and jobs with the right token; `unavailable` with the reason for a wrong token, a stopped
/// coordinator and an unreachable Ballista scheduler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_page_data_comes_from_a_real_coordinator() {
    use reelforest_cluster::coordinator::{Coordinator, CoordinatorConfig, embedded_sessions};
    use reelforest_cluster::{client, tls::ClientTls};
    use reelforest_proto::wire;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = CoordinatorConfig {
        warehouse: dir.path().join("warehouse").display().to_string(),
        work_dir: dir.path().join("work"),
        token: Some("cluster-token".into()),
        control: Default::default(),
        max_message_bytes: client::MAX_MESSAGE_BYTES,
        sessions: embedded_sessions(),
    };
    let local = Coordinator::start_local(cfg).await.expect("coordinator");
    let url = local.url.clone();
    let mut w = client::workers(&url, Some("cluster-token"), &ClientTls::default()).await.expect("worker client");
    let reg =
        w.register(wire::RegisterRequest { name: "page-worker".into(), cpus: 2 }).await.expect("register").into_inner();

    let live = Arc::new(CoordinatorSource::new(&url, Some("cluster-token".into()), None));
    let app = router(state_with(Limits::default(), live).await);
    let c = get(&app, "/api/cluster").await;
    assert_eq!(c.json["status"], "connected", "{}", c.text);
    assert_eq!(c.json["workers"][0]["id"], reg.worker_id.as_str(), "{}", c.text);
    assert_eq!(c.json["workers"][0]["address"], "page-worker");
    assert_eq!(c.json["jobs"], json!([]));
    assert!(c.json["message"].as_str().expect("message").contains("1 workers, 0 jobs"), "{}", c.text);

    // A wrong token: unavailable, saying why; an unreachable Ballista scheduler is named too.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let wrong = Arc::new(CoordinatorSource::new(&url, Some("wrong-token".into()), Some(format!("df://{closed}"))));
    let app = router(state_with(Limits::default(), wrong).await);
    let c = get(&app, "/api/cluster").await;
    assert_eq!(c.json["status"], "unavailable", "{}", c.text);
    let msg = c.json["message"].as_str().expect("message");
    assert!(msg.contains("Unauthenticated"), "{msg}");
    assert!(msg.contains(&format!("Ballista scheduler df://{closed} did not answer")), "{msg}");

    local.stop().await.expect("stop");
    let gone = Arc::new(CoordinatorSource::new(&url, Some("cluster-token".into()), None));
    let app = router(state_with(Limits::default(), gone).await);
    let c = get(&app, "/api/cluster").await;
    assert_eq!(c.json["status"], "unavailable", "{}", c.text);
    assert!(c.json["message"].as_str().expect("message").contains("did not answer"), "{}", c.text);
}

#[tokio::test]
async fn sql_console_reads_and_refuses_writes() {
    let app = router(shared());
    let ok = sql(&app, r#"{"sql": "SELECT count(*) AS n, min(rating) AS lo FROM ratings"}"#).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(ok.json["columns"][0]["name"], "n");
    assert_eq!(ok.json["rows"][0][0], RATINGS);
    assert!(ok.json["rows"][0][1].as_f64().is_some_and(|lo| (0.5..=5.0).contains(&lo)), "{}", ok.text);
    assert_eq!(ok.json["truncated"], false);
    // Feature tables are there too, qualified by run.
    let f = sql(&app, r#"{"sql": "SELECT count(*) FROM honest.online_users"}"#).await;
    assert_eq!(f.status, StatusCode::OK, "{}", f.text);
    let cut = sql(&app, r#"{"sql": "SELECT user_id FROM ratings", "max_rows": 3}"#).await;
    assert_eq!((cut.json["rows"].as_array().map(Vec::len), cut.json["truncated"].as_bool()), (Some(3), Some(true)));

    let e = error(
        &send(&app, "POST", "/api/sql", Some(("application/json", r#"{"sql": "SELECT 1"}"#)), None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert!(e.contains("token"));
    error(
        &send(&app, "POST", "/api/sql", Some(("application/json", r#"{"sql": "SELECT 1"}"#)), Some("nope-nope-nope"))
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    for write in [
        "DROP TABLE ratings",
        "INSERT INTO ratings VALUES (1, 1, 5.0, 0)",
        "CREATE TABLE x AS SELECT * FROM ratings",
        "COPY ratings TO '/tmp/leak.csv'",
        "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/'",
        "SET datafusion.execution.batch_size = 1",
    ] {
        let e = error(&sql(&app, &json!({"sql": write}).to_string()).await, StatusCode::FORBIDDEN, "sql_not_read_only");
        assert!(e.starts_with("only read-only queries"), "{write}: {e}");
    }
    error(
        &sql(&app, r#"{"sql": "SELECT 1; DROP TABLE ratings"}"#).await,
        StatusCode::BAD_REQUEST,
        "sql_multiple_statements",
    );
    error(&sql(&app, r#"{"sql": "SELEKT 1"}"#).await, StatusCode::BAD_REQUEST, "sql_parse_error");
    error(&sql(&app, r#"{"sql": ""}"#).await, StatusCode::BAD_REQUEST, "sql_empty");
    let e = error(&sql(&app, r#"{"sql": "SELECT * FROM nope"}"#).await, StatusCode::BAD_REQUEST, "sql_error");
    assert!(e.contains("nope"), "{e}");
    let long = json!({"sql": format!("SELECT 1 {}", " ".repeat(20_001))}).to_string();
    let e = error(&sql(&app, &long).await, StatusCode::PAYLOAD_TOO_LARGE, "sql_too_long");
    assert!(e.contains("at most 20000"), "{e}");
    error(&sql(&app, r#"{"sql": "SELECT 1", "rows": 3}"#).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    error(&sql(&app, r#"{"sql": 1}"#).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    error(&sql(&app, r#"{"sql": "#).await, StatusCode::BAD_REQUEST, "malformed_json");
    // The tables are untouched.
    assert_eq!(sql(&app, r#"{"sql": "SELECT count(*) FROM ratings"}"#).await.json["rows"][0][0], RATINGS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_time_and_concurrency_limits() {
    let limits = Limits { sql_timeout: Duration::from_millis(400), sql_concurrency: 1, ..Limits::default() };
    let state = state_with(limits, Arc::new(NoCluster)).await;
    let app = router(state.clone());
    // 4·10⁹ triples to multiply, seconds even in a release build (count(*) alone would come
    // from statistics); cancelled at 0.4 s, and short enough to end soon after if the
    // cancellation only lands when DataFusion next yields.
    let slow = json!({"sql": "SELECT sum(a.rating * b.rating * c.rating) FROM ratings a CROSS JOIN ratings b \
                              CROSS JOIN (SELECT rating FROM ratings LIMIT 10) c"})
    .to_string();
    let spawn_slow = || {
        let (app, slow) = (app.clone(), slow.clone());
        tokio::spawn(async move { sql(&app, &slow).await })
    };
    // While it runs, a second query is turned away. (A probe may take the slot first; then
    // the slow query is the one refused, and it is started again.)
    let mut running = spawn_slow();
    let started = std::time::Instant::now();
    let busy = loop {
        assert!(started.elapsed() < Duration::from_secs(30), "no query was ever refused as busy");
        if running.is_finished() {
            let a = running.await.expect("task");
            assert_eq!(a.json["error"]["code"], "sql_busy", "the slow query ended early: {}", a.text);
            running = spawn_slow();
            continue;
        }
        let a = sql(&app, r#"{"sql": "SELECT 1"}"#).await;
        if a.status == StatusCode::TOO_MANY_REQUESTS {
            break a;
        }
    };
    error(&busy, StatusCode::TOO_MANY_REQUESTS, "sql_busy");
    let done = running.await.expect("task");
    let e = error(&done, StatusCode::REQUEST_TIMEOUT, "sql_timeout");
    assert_eq!(e, "the query ran longer than 0.4s and was cancelled");
    // The slot is free again once the cancelled query is gone.
    tokio::time::timeout(Duration::from_secs(10), state.sql().idle()).await.expect("the slot freed within 10 s");
    let a = sql(&app, r#"{"sql": "SELECT 1 AS one"}"#).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json["rows"], json!([[1]]));
}

#[tokio::test]
async fn pages_render_escaped_and_the_console_needs_the_token() {
    let app = router(shared());
    let f = fixture();
    for page in ["/", "/predict", "/recommend", "/model", "/cluster", "/sql"] {
        let a = get(&app, page).await;
        assert_eq!(a.status, StatusCode::OK, "{page}: {}", a.text);
        assert!(a.content_type.starts_with("text/html"), "{page}");
        assert!(!a.text.contains("<script"), "{page} has no script element");
        assert!(a.csp.as_deref().is_some_and(|c| c.contains("script-src") || c.contains("default-src 'none'")));
    }
    let a = get(&app, "/predict?movie_q=script").await;
    assert!(a.text.contains("&lt;script&gt;alert(1)&lt;/script&gt; (1995)"), "escaped title:\n{}", a.text);
    let a = get(&app, "/").await;
    assert!(a.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "the most rated movie on the overview");
    let a = get(&app, &format!("/predict?user_id={}&movie_id={}", f.active_user, f.script_movie)).await;
    assert!(a.text.contains("<output id=\"rating\">") && a.text.contains("&lt;script&gt;"));
    let a = get(&app, "/predict?user_id=abc&movie_id=1").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.text.contains("user_id must be a whole number, not &quot;abc&quot;"), "{}", a.text);
    let a = get(&app, "/recommend?user_id=1&n=0").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);

    let form = |sql: &str, token: &str| format!("sql={}&token={token}&max_rows=5", sql.replace(' ', "+"));
    let a = send(
        &app,
        "POST",
        "/sql",
        Some(("application/x-www-form-urlencoded", &form("SELECT user_id FROM ratings", TOKEN))),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert!(a.text.contains("5 rows (cut at the limit)"), "{}", a.text);
    let a =
        send(&app, "POST", "/sql", Some(("application/x-www-form-urlencoded", &form("SELECT 1", "wrong-token"))), None)
            .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(!a.text.contains("class=\"result\""));
    let a = send(
        &app,
        "POST",
        "/sql",
        Some(("application/x-www-form-urlencoded", &form("DROP TABLE ratings", TOKEN))),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.text.contains("sql_not_read_only"));
    let a = get(&app, "/no/such/page").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(a.content_type.starts_with("text/html"));
    for asset in ["/assets/style.css", "/assets/favicon.svg"] {
        assert_eq!(get(&app, asset).await.status, StatusCode::OK, "{asset}");
    }
}
