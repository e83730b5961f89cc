//! End-to-end tests of the `reelforest` binary on the real datasets in `../shared/datasets`.
//! Each test runs in its own sandbox (temporary directory and warehouse).

use reelforest_e2e::{Sandbox, datasets, http};
use std::time::Duration;

fn ds(name: &str) -> String {
    datasets().join(name).display().to_string()
}

#[test]
fn help_lists_every_subcommand() {
    let out = Sandbox::new().run(&["--help"]).ok().stdout;
    for cmd in ["run", "data", "features", "sql", "predict", "serve"] {
        assert!(out.lines().any(|l| l.trim_start().starts_with(cmd)), "--help lacks {cmd}:\n{out}");
    }
}

#[test]
fn ml_latest_small_ingest_and_sql() {
    let sb = Sandbox::new();
    let out = sb.run(&["data", "ingest", "--source", &ds("ml-latest-small")]).ok().stdout;
    assert!(out.contains("ratings") && out.contains("100836"), "{out}");
    let out = sb.run(&["sql", "SELECT count(*) FROM ratings"]).ok().stdout;
    assert!(out.contains("| 100836"), "{out}");
    let out = sb
        .run(&[
            "sql",
            "--format",
            "csv",
            "SELECT count(DISTINCT user_id) AS users FROM ratings; SELECT count(*) AS movies FROM movies",
        ])
        .ok()
        .stdout;
    assert_eq!(out.trim(), "movies\n9742", "only the last statement's rows are printed");
    let out = sb.run(&["sql", "--format", "json", "SELECT count(DISTINCT user_id) AS users FROM ratings"]).ok().stdout;
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json line");
    assert_eq!(v["users"], 610);
    // stdin and -f
    let out = sb.run_with_stdin(&["sql", "--format", "csv"], Some("SELECT max(rating) AS m FROM ratings")).ok().stdout;
    assert_eq!(out.trim(), "m\n5.0");
    std::fs::write(sb.path().join("q.sql"), "SELECT min(rating) AS m FROM ratings").expect("write");
    let out = sb.run(&["sql", "--format", "csv", "-f", "q.sql"]).ok().stdout;
    assert_eq!(out.trim(), "m\n0.5");
}

#[test]
fn sql_errors_show_datafusion_message_and_fail() {
    let sb = Sandbox::new();
    sb.run(&["data", "ingest", "--source", &ds("ml-latest-small")]).ok();
    let r = sb.run(&["sql", "SELECT nope FROM ratings"]).failed();
    assert!(r.stderr.contains("nope"), "{}", r.stderr);
    let r = sb.run(&["sql", "SELECT * FROM no_such_table"]).failed();
    assert!(r.stderr.contains("no_such_table"), "{}", r.stderr);
    let r = sb.run_with_stdin(&["sql"], Some("   ")).failed();
    assert!(r.stderr.contains("no query given"), "{}", r.stderr);
}

#[test]
fn ml_100k_predefined_split_u1_through_the_cli() {
    let sb = Sandbox::new();
    let out = sb.run(&["data", "ingest", "--source", &ds("ml-100k"), "--format", "ml-100k"]).ok().stdout;
    assert!(out.contains("100000"), "{out}");
    let out = sb.run(&["features", "--out", "u1", "--split", "predefined", "--split-name", "u1"]).ok().stdout;
    assert!(out.contains("80000 train / 20000 test"), "{out}");
    let out = sb
        .run(&["sql", "--format", "csv", "SELECT (SELECT count(*) FROM u1.train) AS tr, (SELECT count(*) FROM u1.test) AS te, (SELECT count(*) FROM users) AS u, (SELECT count(*) FROM movies) AS m"])
        .ok()
        .stdout;
    assert_eq!(out.trim(), "tr,te,u,m\n80000,20000,943,1682");
    let r = sb.run(&["features", "--out", "bad", "--split", "predefined", "--split-name", "u9"]).failed();
    assert!(r.stderr.contains("u9") && r.stderr.contains("u1"), "unknown split must list the known ones: {}", r.stderr);
}

#[test]
fn corrupted_input_is_quarantined_and_strict_fails() {
    let sb = Sandbox::new();
    let src = sb.path().join("bad");
    std::fs::create_dir_all(&src).expect("mkdir");
    for f in ["movies.csv", "links.csv", "tags.csv"] {
        std::fs::copy(datasets().join("ml-latest-small").join(f), src.join(f)).expect("copy");
    }
    let mut ratings = std::fs::read_to_string(datasets().join("ml-latest-small/ratings.csv")).expect("read");
    let bad = [
        "1,31,2.5",                  // wrong field count
        "x,31,2.5,1260759144",       // non-numeric id
        "1,31,7.0,1260759144",       // rating outside the scale
        "1,31,2.5,yesterday",        // unparseable timestamp
        "1,99999999,2.5,1260759144", // unknown movie
        "1,1,4.0,964982703",         // duplicate (user, movie) pair
    ];
    for line in bad {
        ratings.push_str(line);
        ratings.push_str("\r\n");
    }
    std::fs::write(src.join("ratings.csv"), ratings).expect("write");
    let src = src.display().to_string();

    let r = sb.run(&["data", "ingest", "--source", &src, "--strict"]).failed();
    assert!(r.stderr.contains("ratings.csv:100838"), "strict must name file:line of the first rejection: {}", r.stderr);

    let out = sb.run(&["data", "ingest", "--source", &src, "--json"]).ok().stdout;
    let report: serde_json::Value = serde_json::from_str(&out).expect("report json");
    assert_eq!(report["tables"]["ratings"]["rows"], 100836, "every good row kept");
    assert_eq!(report["total_rejected"], 6);
    let q = std::fs::read_to_string(sb.warehouse().join("raw/ratings.quarantine.tsv")).expect("quarantine");
    for line in bad {
        assert!(q.contains(line), "quarantine lacks {line:?}:\n{q}");
    }
    let out = sb.run(&["sql", "--format", "csv", "SELECT count(*) AS n FROM ratings"]).ok().stdout;
    assert_eq!(out.trim(), "n\n100836");
}

#[test]
fn embedded_run_on_generated_data() {
    let sb = Sandbox::new();
    let job = sb.path().join("small.toml");
    std::fs::write(
        &job,
        r#"
name = "e2e-small"
[data.synth]
ratings = 20000
seed = 3
[forest]
numTrees = 10
maxDepth = 6
[tuning]
numFolds = 2
[tuning.grid]
maxDepth = [3, 6]
"#,
    )
    .expect("write job");
    let r = sb.run(&["run", job.to_str().expect("utf8"), "--out", "out"]).ok();
    assert!(r.stdout.contains("leakage audit"), "{}", r.stdout);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sb.path().join("out/report.json")).expect("report")).expect("json");
    assert_eq!(report["ingest_rows"], 20000);
    let tasks = report["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 2);
    let rmse = tasks[0]["test"]["rmse"].as_f64().expect("rmse");
    assert!(rmse > 0.2 && rmse < 1.2, "implausible RMSE {rmse}");
    assert_eq!(report["grid"].as_array().expect("grid").len(), 4, "2 grid points x 2 tasks");
    // The leaky protocol must look better than the honest one: that is what the audit shows.
    // Both RMSEs must be there: a missing one fails here, it does not compare as "smaller".
    let audit = &report["audit"][0];
    let leaky = audit["leaky"]["rmse"].as_f64().unwrap_or_else(|| panic!("no leaky RMSE in the audit: {audit}"));
    let honest = audit["honest"]["rmse"].as_f64().unwrap_or_else(|| panic!("no honest RMSE in the audit: {audit}"));
    assert!(leaky.is_finite() && honest.is_finite() && leaky > 0.0, "{audit}");
    assert!(leaky < honest, "the leaky RMSE {leaky} should be below the honest {honest}: {audit}");
    // The saved model answers predictions, known and cold-start.
    // (the harness sets REELFOREST_WAREHOUSE, which `run` honours like every command)
    let out = sb.run(&["predict", "--model", "e2e-small", "--user", "1", "--movie", "1"]).ok().stdout;
    assert!(out.contains("rating") && out.contains("P(good)"), "{out}");
    let out = sb.run(&["predict", "--model", "e2e-small", "--user", "999999", "--movie", "1"]).ok().stdout;
    assert!(out.contains("unknown id"), "a cold user is flagged: {out}");
    let r = sb.run(&["predict", "--model", "nope", "--user", "1", "--movie", "1"]).failed();
    assert!(r.stderr.contains("available: e2e-small"), "{}", r.stderr);
    // Unknown keys in a job are rejected with the key's name.
    std::fs::write(&job, "name = \"x\"\n[forest]\nnumTreez = 3\n").expect("write job");
    let r = sb.run(&["run", job.to_str().expect("utf8")]).failed();
    assert!(r.stderr.contains("numTreez"), "{}", r.stderr);
}

#[test]
fn serve_answers_over_http_and_stops_on_sigterm() {
    let sb = Sandbox::new();
    let job = sb.path().join("serve.toml");
    std::fs::write(&job, "name = \"e2e-serve\"\n[data.synth]\nratings = 5000\nseed = 5\n[forest]\nnumTrees = 5\nmaxDepth = 5\n[audit]\nleaky = false\n")
        .expect("write job");
    sb.run(&["run", job.to_str().expect("utf8"), "--out", "out"]).ok();
    let mut serve =
        sb.spawn("serve", &["serve", "--model", "e2e-serve", "--bind", "127.0.0.1:0", "--token", "e2e-token-123"]);
    // The server prints `listening on http://ADDR` once it is ready.
    let addr = serve.wait_for_addr("listening on http://", Duration::from_secs(120));
    let call = |method: &str, path: &str, body: Option<&str>| {
        http(addr, method, path, &[], body).unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", serve.tail(20)))
    };
    let r = call("GET", "/api/health", None);
    assert_eq!(r.status, 200, "{}", r.body);
    let health: serde_json::Value = serde_json::from_str(&r.body).expect("health JSON");
    assert_eq!(health["model"]["name"], "e2e-serve", "{}", r.body);
    let r = call("POST", "/api/predict", Some(r#"{"user_id": 1, "movie_id": 1}"#));
    assert_eq!(r.status, 200, "{}", r.body);
    let prediction: serde_json::Value = serde_json::from_str(&r.body).expect("prediction JSON");
    let rating = prediction["rating"].as_f64().unwrap_or_else(|| panic!("no rating: {}", r.body));
    assert!((0.5..=5.0).contains(&rating), "{rating}");
    assert!(prediction["contributions"].as_array().is_some_and(|c| !c.is_empty()), "{}", r.body);
    let r = call("POST", "/api/sql", Some(r#"{"sql": "SELECT 1"}"#));
    assert_eq!(r.status, 401, "the console needs the token: {}", r.body);
    let r =
        http(addr, "POST", "/api/sql", &[("Authorization", "Bearer e2e-token-123")], Some(r#"{"sql": "SELECT 1"}"#))
            .expect("sql with the token");
    assert_eq!(r.status, 200, "the token opens the console: {}", r.body);
    let r = call("GET", "/", None);
    assert_eq!(r.status, 200);
    assert!(r.body.contains("<svg"), "the overview has charts");
    // SIGTERM: a graceful stop with exit code 0.
    serve.terminate();
    let status = serve.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "exit status {status}\n{}", serve.tail(20));
}
