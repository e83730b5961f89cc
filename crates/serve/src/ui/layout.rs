//! The page shell (header, navigation, stylesheet link) and the helpers every page uses to
//! write HTML: [`esc`] for every piece of text that did not come from this file (titles,
//! genres, feature names, SQL, error messages, numbers included), [`Table`], number formats.
//!
//! Pages are plain strings built with `write!`; nothing is inserted unescaped except markup
//! produced by these helpers and by [`super::charts`], which escape their inputs in turn.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use std::fmt::Write as _;

/// The pages in the navigation bar: (path, label).
pub const NAV: [(&str, &str); 6] = [
    ("/", "Overview"),
    ("/predict", "Predict"),
    ("/recommend", "Recommend"),
    ("/model", "Model"),
    ("/cluster", "Cluster"),
    ("/sql", "SQL"),
];

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number with `digits` decimals, or `–` when missing or not finite.
pub fn num(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.digits$}"),
        _ => "–".to_string(),
    }
}

/// An integer with thin thousands separators (`1 234 567`).
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

/// A whole page: `title` (escaped) in the header, `active` highlighted in the navigation,
/// `body` (markup) inside `<main>`; `refresh` adds a `<meta refresh>` of that many seconds.
pub fn html_page(title: &str, active: &str, model: &str, body: &str, refresh: Option<u32>) -> String {
    let mut nav = String::new();
    for (href, label) in NAV {
        let current = if href == active { " aria-current=\"page\" class=\"current\"" } else { "" };
        let _ = write!(nav, "<a href=\"{href}\"{current}>{label}</a>");
    }
    let refresh = refresh.map(|s| format!("<meta http-equiv=\"refresh\" content=\"{s}\">")).unwrap_or_default();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">{refresh}\
         <title>{t} · reelforest</title>\
         <link rel=\"icon\" href=\"/assets/favicon.svg\" type=\"image/svg+xml\">\
         <link rel=\"stylesheet\" href=\"/assets/style.css\"></head>\
         <body><header><a class=\"brand\" href=\"/\">reelforest</a><nav>{nav}</nav>\
         <span class=\"served\">{model}</span></header><main><h1>{t}</h1>{body}</main>\
         <footer>Server-rendered; charts are SVG drawn on the server. API: \
         <a href=\"/api/openapi.json\">/api/openapi.json</a></footer></body></html>",
        t = esc(title),
        model = esc(model),
    )
}

/// A page as a response with `status`.
pub fn respond(status: StatusCode, html: String) -> Response {
    (status, Html(html)).into_response()
}

/// An error box (message escaped).
pub fn error_box(message: &str) -> String {
    format!("<p class=\"error\" role=\"alert\">{}</p>", esc(message))
}

/// An HTML table: headers and cells are escaped, except cells given with [`Table::row_html`].
#[derive(Debug, Default)]
pub struct Table {
    class: String,
    head: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with CSS class `class` and these column headers.
    pub fn new(class: &str, head: &[&str]) -> Self {
        Table { class: class.to_string(), head: head.iter().map(|h| esc(h)).collect(), rows: Vec::new() }
    }

    /// Adds a row of text cells.
    pub fn row<S: AsRef<str>>(&mut self, cells: &[S]) {
        self.rows.push(cells.iter().map(|c| esc(c.as_ref())).collect());
    }

    /// Adds a row of cells that are already markup (built with [`esc`]).
    pub fn row_html(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The markup.
    pub fn html(&self) -> String {
        let mut s = format!("<table class=\"{}\"><thead><tr>", esc(&self.class));
        for h in &self.head {
            let _ = write!(s, "<th>{h}</th>");
        }
        s.push_str("</tr></thead><tbody>");
        for r in &self.rows {
            s.push_str("<tr>");
            for c in r {
                let _ = write!(s, "<td>{c}</td>");
            }
            s.push_str("</tr>");
        }
        s.push_str("</tbody></table>");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(esc("Amélie (2001)"), "Amélie (2001)");
    }

    #[test]
    fn pages_escape_titles_and_tables_escape_cells() {
        let p = html_page("<b>x</b>", "/model", "m <v1>", "<p>body</p>", Some(5));
        assert!(p.contains("<h1>&lt;b&gt;x&lt;/b&gt;</h1>") && p.contains("m &lt;v1&gt;"));
        assert!(p.contains("<a href=\"/model\" aria-current=\"page\" class=\"current\">Model</a>"));
        assert!(p.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
        assert!(!p.contains("<script"), "pages carry no script");
        let mut t = Table::new("t", &["a<"]);
        t.row(&["<i>"]);
        t.row_html(vec!["<i>ok</i>".into()]);
        assert_eq!(
            t.html(),
            "<table class=\"t\"><thead><tr><th>a&lt;</th></tr></thead><tbody><tr><td>&lt;i&gt;</td></tr>\
             <tr><td><i>ok</i></td></tr></tbody></table>"
        );
    }

    #[test]
    fn numbers_format() {
        assert_eq!(num(Some(1.23456), 2), "1.23");
        assert_eq!(num(None, 2), "–");
        assert_eq!(num(Some(f64::NAN), 2), "–");
        assert_eq!(count(1_234_567), "1\u{202f}234\u{202f}567");
        assert_eq!(count(999), "999");
    }
}
