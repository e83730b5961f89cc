//! The Predict page (a user and a movie, found by title search → rating, P(good), why) and the
//! Recommend page (a user's top-N unseen movies).

use super::charts;
use super::layout::{Table, error_box, esc, html_page, num, respond};
use crate::api::catalog::{bounded, recommend};
use crate::api::predict::{PredictItem, predict};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use std::fmt::Write as _;

/// Query of the Predict page; ids are text so a bad one is reported, not rejected.
#[derive(Debug, Default, Deserialize)]
pub struct PredictForm {
    user_id: Option<String>,
    movie_id: Option<String>,
    movie_q: Option<String>,
}

/// Parses an optional id field: `Ok(None)` when blank.
fn id(name: &str, v: &Option<String>) -> Result<Option<i64>, String> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| format!("{name} must be a whole number, not {s:?}")),
    }
}

fn user_links(state: &AppState, path: &str, extra: &str) -> String {
    let served = state.served();
    let mut s = String::from("<p class=\"muted\">Active users: ");
    for (u, n) in served.data.active_users(8) {
        let _ = write!(s, "<a href=\"{path}?user_id={u}{extra}\">{u}</a> ({n} ratings) ");
    }
    s.push_str("</p>");
    s
}

/// `GET /predict`.
pub async fn predict_page(State(state): State<AppState>, Query(f): Query<PredictForm>) -> Response {
    let served = state.served();
    let mut b = String::new();
    let mut status = StatusCode::OK;
    let user = id("user_id", &f.user_id);
    let movie = id("movie_id", &f.movie_id);
    let user_value = f.user_id.as_deref().unwrap_or("");
    let movie_value = f.movie_id.as_deref().unwrap_or("");
    let q = f.movie_q.as_deref().unwrap_or("");
    let _ = write!(
        b,
        "<form class=\"card\" method=\"get\" action=\"/predict\" id=\"search-form\">\
         <label>Find a movie <input type=\"search\" name=\"movie_q\" value=\"{q}\" placeholder=\"title contains…\"></label>\
         <input type=\"hidden\" name=\"user_id\" value=\"{u}\"><button type=\"submit\">Search</button></form>\
         <form class=\"card\" method=\"get\" action=\"/predict\" id=\"predict-form\">\
         <label>User id <input type=\"number\" name=\"user_id\" value=\"{u}\" required></label>\
         <label>Movie id <input type=\"number\" name=\"movie_id\" value=\"{m}\" required></label>\
         <button type=\"submit\">Predict</button></form>",
        q = esc(q),
        u = esc(user_value),
        m = esc(movie_value),
    );
    b.push_str(&user_links(
        &state,
        "/predict",
        &movie.as_ref().ok().and_then(|m| *m).map(|m| format!("&amp;movie_id={m}")).unwrap_or_default(),
    ));
    if !q.trim().is_empty() {
        let (hits, total) = served.data.search(q, 20);
        let _ = write!(b, "<h2>Movies matching “{}” ({total})</h2>", esc(q));
        let mut t = Table::new("search-results", &["movie", "title", "year", "ratings", ""]);
        let u = user.as_ref().ok().and_then(|u| *u);
        for m in hits {
            let link = match u {
                Some(u) => format!("<a href=\"/predict?user_id={u}&amp;movie_id={}\">predict</a>", m.movie_id),
                None => format!("<a href=\"/predict?movie_id={}\">choose</a>", m.movie_id),
            };
            t.row_html(vec![
                m.movie_id.to_string(),
                format!("<span class=\"title\">{}</span>", esc(&m.title)),
                m.year.map(|y| y.to_string()).unwrap_or_default(),
                m.ratings.to_string(),
                link,
            ]);
        }
        b.push_str(&t.html());
    }
    match (user, movie) {
        (Err(e), _) | (_, Err(e)) => {
            status = StatusCode::BAD_REQUEST;
            b.push_str(&error_box(&e));
        }
        (Ok(Some(user_id)), Ok(Some(movie_id))) => {
            let item = PredictItem { user_id, movie_id, timestamp: None };
            let p = predict(&served, &item, 10);
            let title = served.data.movie(movie_id).map_or("(unknown movie)", |m| m.title.as_str());
            let flag = |cold: bool, known: bool, what: &str| match (cold, known) {
                (false, _) => String::new(),
                (true, true) => {
                    format!("<li class=\"cold\">cold start: this {what} has no training ratings; priors used</li>")
                }
                (true, false) => format!("<li class=\"cold\">cold start: unknown {what}; priors used</li>"),
            };
            let _ = write!(
                b,
                "<section class=\"result card\" id=\"prediction\"><h2>User {user_id} × <span class=\"title\">{}</span></h2>\
                 <p class=\"big\">Predicted rating <output id=\"rating\">{}</output> · P(good) <output id=\"p-good\">{}</output></p>\
                 <ul class=\"flags\">{}{}</ul></section>",
                esc(title),
                num(p.rating, 3),
                num(p.p_good, 3),
                flag(p.cold_user, p.known_user, "user"),
                flag(p.cold_movie, p.known_movie, "movie"),
            );
            let target = if p.rating.is_some() { "rating" } else { "P(good)" };
            let bars: Vec<(String, f64)> =
                p.contributions.iter().map(|c| (c.feature.clone(), c.rating.or(c.p_good).unwrap_or(0.0))).collect();
            b.push_str(&charts::hbars(
                "contributions",
                &format!("Why: what each feature added to the {target}"),
                target,
                &bars,
            ));
            let _ = write!(
                b,
                "<p class=\"muted\">Start: {} (the forest's mean before any split); contributions add up to the prediction.</p>",
                num(p.base, 3)
            );
            let mut t = Table::new("contributions", &["feature", "value", "rating", "P(good)"]);
            for c in &p.contributions {
                t.row(&[c.feature.clone(), num(c.value, 3), num(c.rating, 4), num(c.p_good, 4)]);
            }
            b.push_str(&t.html());
        }
        _ => b.push_str("<p class=\"muted\">Enter a user and a movie id, or search a title to pick the movie.</p>"),
    }
    respond(status, html_page("Predict", "/predict", &super::served_label(&state), &b, None))
}

/// Query of the Recommend page.
#[derive(Debug, Default, Deserialize)]
pub struct RecommendForm {
    user_id: Option<String>,
    n: Option<String>,
}

/// `GET /recommend`.
pub async fn recommend_page(State(state): State<AppState>, Query(f): Query<RecommendForm>) -> Response {
    let mut b = String::new();
    let user_value = f.user_id.as_deref().unwrap_or("");
    let n_value = f.n.as_deref().unwrap_or("10");
    let _ = write!(
        b,
        "<form class=\"card\" method=\"get\" action=\"/recommend\" id=\"recommend-form\">\
         <label>User id <input type=\"number\" name=\"user_id\" value=\"{}\" required></label>\
         <label>How many <input type=\"number\" name=\"n\" value=\"{}\" min=\"1\" max=\"{}\"></label>\
         <button type=\"submit\">Recommend</button></form>",
        esc(user_value),
        esc(n_value),
        state.config().limits.max_recommendations
    );
    b.push_str(&user_links(&state, "/recommend", ""));
    let n = match n_value.trim().parse::<usize>() {
        Ok(n) => bounded("n", Some(n), 10, state.config().limits.max_recommendations).map_err(|e| e.message),
        Err(_) => Err(format!("n must be a whole number, not {n_value:?}")),
    };
    let mut status = StatusCode::OK;
    match (id("user_id", &f.user_id), n) {
        (Err(e), _) | (_, Err(e)) => {
            status = StatusCode::BAD_REQUEST;
            b.push_str(&error_box(&e));
        }
        (Ok(Some(user_id)), Ok(n)) => match recommend(state.served(), user_id, n).await {
            Err(e) => {
                status = e.code.status();
                b.push_str(&error_box(&e.message));
            }
            Ok(r) => {
                let _ = write!(
                    b,
                    "<p>User {user_id}: {} movies rated, {} candidates ranked{}.</p>",
                    r.rated,
                    r.candidates,
                    if r.cold_user {
                        " — cold start: no training ratings, so the ranking comes from priors"
                    } else {
                        ""
                    }
                );
                let bars: Vec<(String, f64)> = r
                    .recommendations
                    .iter()
                    .map(|x| (x.movie.title.clone(), x.rating.or(x.p_good).unwrap_or(0.0)))
                    .collect();
                b.push_str(&charts::hbars("recommendations", "Top recommendations", "predicted rating", &bars));
                let mut t =
                    Table::new("recommendations", &["#", "movie", "title", "year", "genres", "rating", "P(good)"]);
                for (i, x) in r.recommendations.iter().enumerate() {
                    t.row_html(vec![
                        (i + 1).to_string(),
                        format!("<a href=\"/predict?user_id={user_id}&amp;movie_id={0}\">{0}</a>", x.movie.movie_id),
                        format!("<span class=\"title\">{}</span>", esc(&x.movie.title)),
                        x.movie.year.map(|y| y.to_string()).unwrap_or_default(),
                        esc(&x.movie.genres.join(", ")),
                        num(x.rating, 3),
                        num(x.p_good, 3),
                    ]);
                }
                b.push_str(&t.html());
            }
        },
        _ => b.push_str("<p class=\"muted\">Enter a user id.</p>"),
    }
    respond(status, html_page("Recommend", "/recommend", &super::served_label(&state), &b, None))
}
