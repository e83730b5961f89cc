//! The Cluster page: workers, jobs with progress bars and Ballista executors from the
//! [`crate::cluster::ClusterSource`], refreshing every few seconds while a cluster is
//! configured; without one, a clear "no cluster configured" state.

use super::layout::{Table, count, esc, html_page};
use crate::cluster::ClusterStatus;
use crate::state::AppState;
use axum::extract::State;
use axum::response::Html;
use std::fmt::Write as _;

/// Seconds between refreshes while a cluster is configured.
const REFRESH_SECONDS: u32 = 5;

/// `GET /cluster`.
pub async fn page(State(state): State<AppState>) -> Html<String> {
    let s = state.cluster().snapshot().await;
    let mut b = String::new();
    let (class, label) = match s.status {
        ClusterStatus::NotConfigured => ("status none", "no cluster configured"),
        ClusterStatus::Unavailable => ("status down", "cluster unavailable"),
        ClusterStatus::Connected => ("status up", "connected"),
    };
    let _ = write!(
        b,
        "<section class=\"card\" id=\"cluster-status\"><p><span class=\"{class}\">{label}</span>{}</p><p>{}</p></section>",
        s.coordinator.as_deref().map(|c| format!(" · coordinator <code>{}</code>", esc(c))).unwrap_or_default(),
        esc(&s.message)
    );
    if s.status != ClusterStatus::NotConfigured {
        b.push_str("<h2>Jobs</h2>");
        let mut jobs = Table::new("jobs", &["job", "name", "state", "progress", "done / total"]);
        for j in &s.jobs {
            jobs.row_html(vec![
                esc(&j.id),
                esc(&j.name),
                esc(&j.state),
                format!("<progress max=\"1\" value=\"{:.3}\">{:.0}%</progress>", j.progress(), j.progress() * 100.0),
                format!("{} / {}", count(j.done), count(j.total)),
            ]);
        }
        b.push_str(if jobs.is_empty() { "<p class=\"muted\">No jobs.</p>" } else { "" });
        b.push_str(&jobs.html());
        b.push_str("<h2>Workers</h2>");
        let mut workers = Table::new("workers", &["worker", "address", "state", "last heartbeat", "running"]);
        for w in &s.workers {
            workers.row(&[
                w.id.clone(),
                w.address.clone(),
                w.state.clone(),
                w.last_heartbeat_ms.map(|ms| format!("{:.1}s ago", ms as f64 / 1e3)).unwrap_or_default(),
                w.running_tasks.to_string(),
            ]);
        }
        b.push_str(&workers.html());
        b.push_str("<h2>Ballista executors</h2>");
        let mut ex = Table::new("executors", &["executor", "address", "slots", "last seen"]);
        for e in &s.executors {
            ex.row(&[
                e.id.clone(),
                e.address.clone(),
                e.slots.to_string(),
                e.last_seen_ms.map(|ms| format!("{:.1}s ago", ms as f64 / 1e3)).unwrap_or_default(),
            ]);
        }
        b.push_str(&ex.html());
    }
    let refresh = (s.status != ClusterStatus::NotConfigured).then_some(REFRESH_SECONDS);
    Html(html_page("Cluster", "/cluster", &super::served_label(&state), &b, refresh))
}
