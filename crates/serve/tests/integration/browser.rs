//! End-to-end in a real headless Chromium against a server started on a free port: every page
//! loads without console errors (the strict CSP would report any inline script or style),
//! charts carry one SVG mark per datum, the Predict form returns a number, the SQL console
//! shows rows, and a movie title containing `<script>` shows as text.

use crate::cdp::Browser;
use crate::fixture::{Http, SCRIPT_TITLE, TOKEN, config, fixture};
use reelforest_serve::cluster::NoCluster;
use reelforest_serve::{Limits, Server};
use serde_json::json;
use std::sync::Arc;

async fn server() -> Server {
    Server::start(config(&fixture().warehouse, Limits::default()), Arc::new(NoCluster)).await.expect("server")
}

/// Number of `.mark` elements in chart `id`, checked against the `data-marks` the server wrote.
async fn marks(b: &mut Browser, id: &str) -> u64 {
    let v = b
        .eval(&format!(
            "(() => {{ const f = document.getElementById('chart-{id}'); if (!f) return -1; \
             const svg = f.querySelector('svg'); const n = f.querySelectorAll('.mark').length; \
             return svg && Number(svg.dataset.marks) === n ? n : -2; }})()"
        ))
        .await;
    let n = v.as_i64().expect("count");
    assert!(n >= 0, "chart {id}: {}", if n == -1 { "missing" } else { "data-marks disagrees with the marks drawn" });
    n as u64
}

/// A one-row, one-column SQL answer over the API.
async fn scalar(http: &mut Http, sql: &str) -> u64 {
    let (status, body) = http.send("POST", "/api/sql", Some(&json!({"sql": sql}).to_string())).await;
    assert_eq!(status, 200, "{body}");
    body["rows"][0][0].as_u64().expect("a count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_loads_cleanly_and_charts_have_a_mark_per_datum() {
    let server = server().await;
    let base = format!("http://{}", server.local_addr());
    let mut http = Http::connect(server.local_addr()).await;
    let mut b = Browser::launch().await;
    for path in ["/", "/predict", "/recommend", "/model", "/cluster", "/sql"] {
        b.goto(&format!("{base}{path}")).await;
        let errors = b.errors().await;
        assert!(errors.is_empty(), "{path}: console errors: {errors:#?}");
        let title = b.eval("document.querySelector('h1').textContent").await;
        assert!(title.as_str().is_some_and(|t| !t.is_empty()), "{path}: no heading");
        // The stylesheet applied: the header is laid out as a flex row.
        assert_eq!(b.eval("getComputedStyle(document.querySelector('header')).display").await, "flex", "{path}");
        assert_eq!(b.eval("document.scripts.length").await, 0, "{path}");
    }

    // Overview: bars per rating value and per genre, a dot per period.
    b.goto(&format!("{base}/")).await;
    let ratings = scalar(&mut http, "SELECT count(DISTINCT rating) FROM ratings").await;
    assert_eq!(marks(&mut b, "rating-histogram").await, ratings);
    let genres = scalar(
        &mut http,
        "SELECT count(DISTINCT g.genre) FROM ratings r JOIN movie_genres g ON r.movie_id = g.movie_id",
    )
    .await;
    assert!(genres > 3);
    assert_eq!(marks(&mut b, "genre-ratings").await, genres);
    assert_eq!(marks(&mut b, "genre-mean").await, genres);
    let periods = server.state().served().data.overview.over_time.len() as u64;
    assert!(periods > 1);
    assert_eq!(marks(&mut b, "ratings-over-time").await, periods + 1, "one dot per period and the line");
    assert_eq!(marks(&mut b, "activity").await, 1);
    // The bars are really drawn: the tallest one has a visible height on screen.
    let tallest = b
        .eval("Math.max(...[...document.querySelectorAll('#chart-rating-histogram rect.mark')].map(r => r.getBoundingClientRect().height))")
        .await;
    assert!(tallest.as_f64().is_some_and(|h| h > 50.0), "tallest bar {tallest}");
    let points = b.eval("document.querySelector('#chart-activity polyline').points.length").await;
    assert!(points.as_u64().is_some_and(|n| n > 10), "long tail points {points}");

    // Model: importances of every feature (up to 15), residual bins, ROC, confusion cells.
    b.goto(&format!("{base}/model")).await;
    let features = server.state().served().predictor.feature_names().len() as u64;
    assert_eq!(marks(&mut b, "importances-regression").await, features.min(15));
    assert_eq!(marks(&mut b, "importances-classification").await, features.min(15));
    assert_eq!(marks(&mut b, "residuals").await, 24);
    assert_eq!(marks(&mut b, "roc").await, 1);
    assert_eq!(marks(&mut b, "confusion").await, 4);
    let test_rows = scalar(&mut http, "SELECT count(*) FROM honest.test").await;
    let scatter = marks(&mut b, "predicted-vs-actual").await;
    assert!(scatter > 100 && scatter <= test_rows.min(1500), "{scatter} points of {test_rows} test rows");
    assert_eq!(b.eval("document.querySelectorAll('table.grid tbody tr').length").await, 4, "tuning grid rows");
    let errors = b.errors().await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predict_form_returns_a_number_and_explains_it() {
    let server = server().await;
    let base = format!("http://{}", server.local_addr());
    let f = fixture();
    let mut b = Browser::launch().await;
    b.goto(&format!("{base}/predict")).await;
    b.eval(&format!(
        "document.querySelector('#predict-form input[name=user_id]').value = '{}'; \
         document.querySelector('#predict-form input[name=movie_id]').value = '{}'",
        f.active_user, f.unseen_movie
    ))
    .await;
    b.submit("#predict-form button", "document.getElementById('rating')").await;
    let rating = b.eval("Number(document.getElementById('rating').textContent)").await;
    let rating = rating.as_f64().expect("a number");
    assert!((0.5..=5.0).contains(&rating), "rating {rating}");
    let p_good = b.eval("Number(document.getElementById('p-good').textContent)").await.as_f64().expect("number");
    assert!((0.0..=1.0).contains(&p_good));
    // The page shows what the API answers for the same pair (3 decimals).
    let mut http = Http::connect(server.local_addr()).await;
    let (_, api) = http
        .send(
            "POST",
            "/api/predict?top=10",
            Some(&format!(r#"{{"user_id": {}, "movie_id": {}}}"#, f.active_user, f.unseen_movie)),
        )
        .await;
    assert!((api["rating"].as_f64().expect("api rating") - rating).abs() < 6e-4, "page {rating}, API {api}");
    let n = api["contributions"].as_array().expect("contributions").len() as u64;
    assert!(n > 0);
    assert_eq!(marks(&mut b, "contributions").await, n, "one bar per contribution");
    let errors = b.errors().await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");

    // Recommend form: rows with links back to Predict.
    b.goto(&format!("{base}/recommend")).await;
    b.eval(&format!("document.querySelector('#recommend-form input[name=user_id]').value = '{}'", f.active_user)).await;
    b.submit("#recommend-form button", "document.querySelector('table.recommendations tbody tr')").await;
    assert_eq!(b.eval("document.querySelectorAll('table.recommendations tbody tr').length").await, 10);
    assert_eq!(marks(&mut b, "recommendations").await, 10);
    assert!(b.errors().await.is_empty());
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_console_shows_rows() {
    let server = server().await;
    let base = format!("http://{}", server.local_addr());
    let mut b = Browser::launch().await;
    b.goto(&format!("{base}/sql")).await;
    b.eval(&format!(
        "document.querySelector('#sql-form textarea').value = 'SELECT rating, count(*) AS n FROM ratings GROUP BY rating ORDER BY rating'; \
         document.querySelector('#sql-form input[name=token]').value = '{TOKEN}'"
    ))
    .await;
    b.submit("#sql-form button", "document.getElementById('sql-summary')").await;
    let mut http = Http::connect(server.local_addr()).await;
    let distinct = scalar(&mut http, "SELECT count(DISTINCT rating) FROM ratings").await;
    assert_eq!(b.eval("document.querySelectorAll('table.result tbody tr').length").await, distinct);
    let head = b.eval("[...document.querySelectorAll('table.result th')].map(t => t.textContent)").await;
    assert_eq!(head, json!(["rating", "n"]));
    // The counts on the page add up to every rating.
    let total = b.eval("[...document.querySelectorAll('table.result tbody tr')].reduce((s, r) => s + Number(r.cells[1].textContent), 0)").await;
    assert_eq!(total.as_u64(), Some(crate::fixture::RATINGS));
    assert!(b.errors().await.is_empty());

    // A wrong token shows an error, no rows.
    b.eval("document.querySelector('#sql-form input[name=token]').value = 'not-the-token'").await;
    b.submit("#sql-form button", "document.querySelector('.error')").await;
    assert_eq!(b.eval("document.querySelectorAll('table.result').length").await, 0);
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_title_shows_as_text() {
    let server = server().await;
    let base = format!("http://{}", server.local_addr());
    let f = fixture();
    let mut b = Browser::launch().await;
    for path in [
        "/".to_string(),
        "/predict?movie_q=script".to_string(),
        format!("/predict?user_id={}&movie_id={}", f.active_user, f.script_movie),
    ] {
        b.goto(&format!("{base}{path}")).await;
        let shown = b
            .eval(&format!(
                "[...document.querySelectorAll('.title')].some(e => e.textContent.includes({}))",
                json!(SCRIPT_TITLE)
            ))
            .await;
        assert_eq!(shown, true, "{path}: the title is visible as text");
        assert_eq!(b.eval("document.scripts.length").await, 0, "{path}: no script element was created");
        let errors = b.errors().await;
        assert!(errors.is_empty(), "{path}: {errors:#?}");
    }
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_harness_sees_console_errors_and_csp_violations() {
    // Proof that "no console errors" above can fail: errors raised on a served page are seen.
    let server = server().await;
    let mut b = Browser::launch().await;
    b.goto(&format!("http://{}/cluster", server.local_addr())).await;
    assert!(b.errors().await.is_empty());
    b.eval("console.error('probe')").await;
    let errors = b.errors().await;
    assert!(errors.iter().any(|e| e.contains("probe")), "{errors:#?}");
    // An inline style is refused by the page's Content-Security-Policy, and reported.
    b.eval("document.body.setAttribute('style', 'color: red')").await;
    let errors = b.wait_until_errors(2).await;
    assert!(errors.iter().any(|e| e.contains("Content Security Policy")), "{errors:#?}");
    server.shutdown().await.expect("shutdown");
}
