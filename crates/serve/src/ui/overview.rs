//! The Overview page: what is in the warehouse, charted from [`crate::data::Overview`].

use super::charts::{self, LineOpts};
use super::layout::{Table, count, esc, html_page, num};
use crate::state::AppState;
use axum::extract::State;
use axum::response::Html;
use std::fmt::Write as _;

/// Most points of the long-tail line (an evenly spaced sample of the ranks).
const TAIL_POINTS: usize = 400;

/// `GET /`.
pub fn page_html(state: &AppState) -> String {
    let served = state.served();
    let o = &served.data.overview;
    let mut b = String::new();
    let _ = write!(
        b,
        "<section class=\"tiles\">\
         <div class=\"tile\"><span class=\"value\" id=\"total-ratings\">{}</span><span class=\"label\">ratings</span></div>\
         <div class=\"tile\"><span class=\"value\">{}</span><span class=\"label\">users</span></div>\
         <div class=\"tile\"><span class=\"value\">{}</span><span class=\"label\">movies</span></div>\
         <div class=\"tile\"><span class=\"value\">{}</span><span class=\"label\">mean rating</span></div></section>",
        count(o.ratings),
        count(o.users),
        count(o.movies),
        num(o.mean_rating, 2)
    );
    b.push_str("<section class=\"grid\">");
    let hist: Vec<(String, f64)> = o.rating_histogram.iter().map(|(v, n)| (trim(*v), *n as f64)).collect();
    b.push_str(&charts::bars("rating-histogram", "Rating distribution", "rating", "ratings", &hist));
    let over_time: Vec<(f64, f64)> = o.over_time.iter().enumerate().map(|(i, (_, n))| (i as f64, *n as f64)).collect();
    let every = o.over_time.len().div_ceil(8).max(1);
    let labels = o
        .over_time
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0)
        .map(|(i, (p, _))| (i as f64, p.clone()))
        .collect();
    b.push_str(&charts::lines(
        "ratings-over-time",
        "Ratings over time",
        "period",
        "ratings",
        &over_time,
        &LineOpts { x_labels: labels, dots: true, ..LineOpts::default() },
    ));
    let per_genre: Vec<(String, f64)> = o.genres.iter().map(|g| (g.genre.clone(), g.ratings as f64)).collect();
    b.push_str(&charts::hbars("genre-ratings", "Ratings per genre", "ratings", &per_genre));
    let mean: Vec<(String, f64)> = o.genres.iter().map(|g| (g.genre.clone(), g.mean)).collect();
    b.push_str(&charts::hbars("genre-mean", "Mean rating per genre", "mean rating", &mean));
    let step = o.activity.len().div_ceil(TAIL_POINTS).max(1);
    let mut tail: Vec<(f64, f64)> =
        o.activity.iter().enumerate().step_by(step).map(|(i, n)| ((i + 1) as f64, *n as f64)).collect();
    if let Some(last) = o.activity.last()
        && tail.last().map(|p| p.0) != Some(o.activity.len() as f64)
    {
        tail.push((o.activity.len() as f64, *last as f64));
    }
    b.push_str(&charts::lines(
        "activity",
        "Activity long tail: ratings per user, most active first",
        "user rank",
        "ratings (log scale)",
        &tail,
        &LineOpts { log_y: true, ..LineOpts::default() },
    ));
    b.push_str("</section><h2>Most rated movies</h2>");
    let mut t = Table::new("movies", &["movie", "title", "year", "genres", "ratings"]);
    for m in served.data.movies().iter().take(10) {
        t.row_html(vec![
            format!("<a href=\"/predict?movie_id={}\">{}</a>", m.movie_id, m.movie_id),
            format!("<span class=\"title\">{}</span>", esc(&m.title)),
            m.year.map(|y| y.to_string()).unwrap_or_default(),
            esc(&m.genres.replace('|', ", ")),
            count(m.ratings),
        ]);
    }
    b.push_str(&t.html());
    html_page("Overview", "/", &super::served_label(state), &b, None)
}

/// Handler of `GET /`.
pub async fn page(State(state): State<AppState>) -> Html<String> {
    Html(page_html(&state))
}

/// A rating value without trailing zeros (`4`, `3.5`).
fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}
