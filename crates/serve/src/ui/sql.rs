//! The SQL console page: a form (query, token, row limit) posted back to `/sql`, answered with
//! the rows as a table or the refusal as an error box. Same guard and limits as
//! `POST /api/sql`.

use super::layout::{Table, error_box, esc, html_page, respond};
use crate::api::extract::token_matches;
use crate::api::{ApiError, ErrorCode};
use crate::state::AppState;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use std::fmt::Write as _;

/// The console's example query.
const EXAMPLE: &str = "SELECT g.genre, count(*) AS n, avg(r.rating) AS mean\nFROM ratings r JOIN movie_genres g \
                       ON r.movie_id = g.movie_id\nGROUP BY g.genre ORDER BY n DESC";

/// Fields of the console form.
#[derive(Debug, Default, Deserialize)]
pub struct SqlForm {
    sql: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    max_rows: Option<String>,
}

fn form_html(state: &AppState, sql: &str, max_rows: &str) -> String {
    let served = state.served();
    let tables: Vec<String> = {
        let mut names: Vec<String> = Vec::new();
        if let Some(catalog) = served.sql.catalog("datafusion") {
            for schema in catalog.schema_names() {
                if schema == "information_schema" {
                    continue;
                }
                if let Some(s) = catalog.schema(&schema) {
                    for t in s.table_names() {
                        names.push(if schema == "public" { t } else { format!("{schema}.{t}") });
                    }
                }
            }
        }
        names.sort();
        names
    };
    format!(
        "<form class=\"card\" method=\"post\" action=\"/sql\" id=\"sql-form\">\
         <label>Query <textarea name=\"sql\" rows=\"6\" cols=\"80\" spellcheck=\"false\">{}</textarea></label>\
         <label>Token <input type=\"password\" name=\"token\" autocomplete=\"off\" required></label>\
         <label>Rows at most <input type=\"number\" name=\"max_rows\" value=\"{}\" min=\"1\" max=\"{}\"></label>\
         <button type=\"submit\">Run</button></form>\
         <p class=\"muted\">One read-only query (SELECT, WITH, EXPLAIN); at most {}s. Tables: {}</p>",
        esc(sql),
        esc(max_rows),
        state.config().limits.sql_max_rows,
        state.config().limits.sql_timeout.as_secs_f64(),
        esc(&tables.join(", "))
    )
}

/// `GET /sql`.
pub async fn form(State(state): State<AppState>) -> Response {
    let rows = state.config().limits.sql_default_rows.to_string();
    let body = form_html(&state, EXAMPLE, &rows);
    respond(StatusCode::OK, html_page("SQL", "/sql", &super::served_label(&state), &body, None))
}

/// `POST /sql`.
pub async fn run(State(state): State<AppState>, Form(f): Form<SqlForm>) -> Response {
    let limits = &state.config().limits;
    let rows_text = f.max_rows.clone().unwrap_or_else(|| limits.sql_default_rows.to_string());
    let mut b = form_html(&state, &f.sql, &rows_text);
    let outcome = if !token_matches(f.token.trim(), &state.config().token) {
        Err(ApiError::new(ErrorCode::Unauthorized, "wrong or missing token"))
    } else {
        match rows_text.trim().parse::<usize>() {
            Err(_) => {
                Err(ApiError::new(ErrorCode::InvalidQuery, format!("rows must be a whole number, not {rows_text:?}")))
            }
            Ok(n) => state.sql().run(&state.served().sql, &f.sql, n).await.map_err(ApiError::from),
        }
    };
    let status = match outcome {
        Err(e) => {
            let _ = write!(
                b,
                "{}<p class=\"muted\">code: <code>{}</code></p>",
                error_box(&e.message),
                esc(&code_name(e.code))
            );
            e.code.status()
        }
        Ok(r) => {
            let _ = write!(
                b,
                "<p id=\"sql-summary\">{} rows{} in {:.1} ms</p>",
                r.rows.len(),
                if r.truncated { " (cut at the limit)" } else { "" },
                r.elapsed_ms
            );
            let head: Vec<&str> = r.columns.iter().map(|c| c.name.as_str()).collect();
            let mut t = Table::new("result", &head);
            for row in &r.rows {
                let cells: Vec<String> = row
                    .iter()
                    .map(|v| match v {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Null => "NULL".to_string(),
                        other => other.to_string(),
                    })
                    .collect();
                t.row(&cells);
            }
            b.push_str(&t.html());
            StatusCode::OK
        }
    };
    respond(status, html_page("SQL", "/sql", &super::served_label(&state), &b, None))
}

fn code_name(code: ErrorCode) -> String {
    serde_json::to_value(code).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}
