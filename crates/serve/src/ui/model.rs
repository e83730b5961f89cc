//! The Model page: the served model's metrics for both tasks, feature importances, the
//! test-split charts of [`crate::analysis::Analysis`] (predicted vs actual, residuals, ROC),
//! the confusion matrix and the tuning grid.

use super::charts::{self, LineOpts};
use super::layout::{Table, error_box, esc, html_page, num, respond};
use crate::api::models::{MetricsOut, ModelDetail, detail, load_model};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use std::fmt::Write as _;

/// Importances charted per task.
const TOP_IMPORTANCES: usize = 15;

/// Query of the Model page.
#[derive(Debug, Default, Deserialize)]
pub struct ModelForm {
    version: Option<u64>,
}

fn metrics_table(d: &ModelDetail) -> String {
    let mut t = Table::new("metrics", &["task", "split", "rows", "metric", "value"]);
    for task in &d.tasks {
        for (split, m) in [("test", &task.test), ("train", &task.train)] {
            for (name, v) in metric_values(m) {
                t.row(&[task.task.clone(), split.to_string(), m.rows.to_string(), name.to_string(), num(Some(v), 4)]);
            }
        }
        if let (Some(cv), Some(metric)) = (task.cv, &task.cv_metric) {
            t.row(&[task.task.clone(), "cross-validation".into(), String::new(), metric.clone(), num(Some(cv), 4)]);
        }
        t.row(&[task.task.clone(), "out-of-bag".into(), String::new(), "error".into(), num(Some(task.oob_error), 4)]);
    }
    t.html()
}

fn metric_values(m: &MetricsOut) -> Vec<(&'static str, f64)> {
    [
        ("rmse", m.rmse),
        ("mae", m.mae),
        ("r2", m.r2),
        ("accuracy", m.accuracy),
        ("precision", m.precision),
        ("recall", m.recall),
        ("f1", m.f1),
        ("roc_auc", m.roc_auc),
        ("log_loss", m.log_loss),
    ]
    .into_iter()
    .filter_map(|(n, v)| v.map(|v| (n, v)))
    .collect()
}

/// `GET /model`.
pub async fn page(State(state): State<AppState>, Query(f): Query<ModelForm>) -> Response {
    let served = state.served();
    let name = served.model().name().to_string();
    let label = super::served_label(&state);
    let (model, versions) = match load_model(&state, &name, f.version).await {
        Ok(x) => x,
        Err(e) => {
            return respond(e.code.status(), html_page("Model", "/model", &label, &error_box(&e.message), None));
        }
    };
    let d = detail(&state, &model, versions);
    let mut b = String::new();
    let links: Vec<String> = d
        .versions
        .iter()
        .map(|v| {
            if *v == d.version {
                format!("<strong>v{v}</strong>")
            } else {
                format!("<a href=\"/model?version={v}\">v{v}</a>")
            }
        })
        .collect();
    let _ = write!(
        b,
        "<p><strong>{}</strong> version {}{} · feature run <code>{}</code> ({}) · {} features · good = rating ≥ {} · versions: {}</p>",
        esc(&d.name),
        d.version,
        if d.served { " (serving)" } else { "" },
        esc(&d.feature_run),
        esc(&d.protocol),
        d.feature_names.len(),
        d.good_threshold,
        links.join(" ")
    );
    b.push_str("<h2>Metrics</h2>");
    b.push_str(&metrics_table(&d));
    let mut p = Table::new("params", &["task", "trees", "depth", "bins", "subset", "impurity", "nodes", "fit s"]);
    for t in &d.tasks {
        p.row(&[
            t.task.clone(),
            t.params.num_trees.to_string(),
            t.params.max_depth.to_string(),
            t.params.max_bins.to_string(),
            t.params.feature_subset_strategy.to_string(),
            t.impurity.clone(),
            t.num_nodes.to_string(),
            num(Some(t.fit_seconds), 2),
        ]);
    }
    b.push_str(&p.html());
    b.push_str("<h2>Feature importances</h2><section class=\"grid\">");
    for t in &d.tasks {
        let bars: Vec<(String, f64)> =
            t.importances.iter().take(TOP_IMPORTANCES).map(|i| (i.feature.clone(), i.importance)).collect();
        b.push_str(&charts::hbars(
            &format!("importances-{}", t.task),
            &format!("Importances ({})", t.task),
            "importance",
            &bars,
        ));
    }
    b.push_str("</section><h2>On the test split</h2>");
    let a = served.analysis(state.warehouse()).await;
    if !d.served {
        b.push_str("<p class=\"muted\">Test-split charts are drawn for the served version only.</p>");
    } else if let Some(why) = &a.unavailable {
        b.push_str(&error_box(&format!("test-split charts unavailable: {why}")));
    } else {
        let _ = write!(b, "<p class=\"muted\">{} test rows scored.</p><section class=\"grid\">", a.test_rows);
        b.push_str(&charts::scatter(
            "predicted-vs-actual",
            "Predicted vs actual rating",
            "actual",
            "predicted",
            &a.scatter,
            true,
        ));
        b.push_str(&charts::histogram(
            "residuals",
            &format!("Residuals (predicted − actual), mean {}", num(a.residual_mean, 3)),
            "residual",
            "rows",
            &a.residuals.edges,
            &a.residuals.counts,
        ));
        b.push_str(&charts::lines(
            "roc",
            &format!(
                "ROC curve of P(good), AUC {} (exact, over every threshold; the metrics table's roc_auc \
                 counts scores in {} bins and may differ in the last digits)",
                num(a.auc, 3),
                reelforest_tree::metrics::AUC_BINS
            ),
            "false positive rate",
            "true positive rate",
            &a.roc,
            &LineOpts { diagonal: true, x_domain: Some((0.0, 1.0)), y_domain: Some((0.0, 1.0)), ..LineOpts::default() },
        ));
        b.push_str("</section>");
    }
    if let Some(c) = d.tasks.iter().find_map(|t| t.test.confusion.clone()) {
        let labels: Vec<String> =
            (0..c.len()).map(|i| if i == 1 { "good".into() } else { "not good".into() }).collect();
        let rows: Vec<String> = labels.iter().map(|l| format!("actual {l}")).collect();
        let cols: Vec<String> = labels.iter().map(|l| format!("predicted {l}")).collect();
        b.push_str(&charts::heatmap("confusion", "Confusion matrix (test split)", &rows, &cols, &c));
    }
    b.push_str("<h2>Tuning</h2>");
    match &d.tuning {
        None => b.push_str("<p class=\"muted\">The job searched no grid: the forest parameters were given.</p>"),
        Some(t) => {
            let mut spec = Table::new("tuning-spec", &["setting", "value"]);
            if let Some(obj) = t.spec.as_object() {
                for (k, v) in obj {
                    spec.row(&[k.clone(), v.to_string()]);
                }
            }
            b.push_str(&spec.html());
            for task in &d.tasks {
                if let (Some(cv), Some(m)) = (task.cv, &task.cv_metric) {
                    let _ = write!(
                        b,
                        "<p>Chosen for {}: cross-validated {} {}.</p>",
                        esc(&task.task),
                        esc(m),
                        num(Some(cv), 4)
                    );
                }
            }
            if t.results.is_empty() {
                b.push_str(
                    "<p class=\"muted\">Per-point results are not in the model file; they are shown when the run's \
                     report.json sits beside the warehouse (or is given with --report).</p>",
                );
            } else {
                let mut g = Table::new("grid", &["task", "point", "metric", "mean", "folds"]);
                for r in &t.results {
                    let folds: Vec<String> = r.folds.iter().map(|f| num(Some(*f), 4)).collect();
                    g.row(&[r.task.clone(), r.label.clone(), r.metric.clone(), num(Some(r.mean), 4), folds.join(" ")]);
                }
                b.push_str(&g.html());
            }
        }
    }
    respond(StatusCode::OK, html_page("Model", "/model", &label, &b, None))
}
