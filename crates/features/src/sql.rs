//! The SQL of the pipeline and its parameter substitution.
//!
//! Every step's SQL is a file in `crates/features/sql/`, compiled in with `include_str!`.
//! Templates name parameters as `{{name}}`; [`Params`] renders each from a typed value, so no
//! caller string reaches the SQL text unchecked:
//!
//! - identifiers and table names are checked against `[a-z_][a-z0-9_]*` and double-quoted;
//! - numbers come from `i64`/`u32`/`f64` (finite only) and are printed exactly
//!   (`f64` as `CAST('<shortest round-trip repr>' AS DOUBLE)`);
//! - string literals are single-quoted with `'` doubled;
//! - fragments (`Params::fragment`) are SQL produced by this crate from other templates.

use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// One SQL file of `crates/features/sql/`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Template {
    /// File name, for errors and logs.
    pub name: &'static str,
    /// The SQL text with `{{name}}` placeholders.
    pub text: &'static str,
}

macro_rules! template {
    ($ident:ident, $file:literal) => {
        pub(crate) const $ident: Template = Template { name: $file, text: include_str!(concat!("../sql/", $file)) };
    };
}

template!(SPLIT_RANDOM, "split_random.sql");
template!(SPLIT_TEMPORAL, "split_temporal.sql");
template!(SPLIT_PREDEFINED, "split_predefined.sql");
template!(PREDEFINED_NAMES, "predefined_names.sql");
template!(ROWS, "rows.sql");
template!(GLOBAL_STATS, "global_stats.sql");
template!(GENRES, "genres.sql");
template!(MOVIE_STATIC, "movie_static.sql");
template!(USER_STATIC, "user_static.sql");
template!(KEYED_USER, "keyed_user.sql");
template!(KEYED_MOVIE, "keyed_movie.sql");
template!(KEYED_DIRECTOR, "keyed_director.sql");
template!(KEYED_OCCUPATION, "keyed_occupation.sql");
template!(KEYED_USER_GENRE, "keyed_user_genre.sql");
template!(OOF_STATS, "oof_stats.sql");
template!(ASSEMBLE, "assemble.sql");
template!(FINAL, "final.sql");
template!(ONLINE_USERS, "online_users.sql");
template!(ONLINE_MOVIES, "online_movies.sql");
template!(ONLINE_USER_GENRE, "online_user_genre.sql");

/// Whether `s` is a plain lowercase SQL identifier (`[a-z_][a-z0-9_]*`, at most 63 bytes).
pub(crate) fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 63
}

/// Checks an identifier; `what` names it in the error.
pub(crate) fn check_ident(what: &'static str, s: &str) -> Result<()> {
    if is_ident(s) { Ok(()) } else { Err(Error::InvalidName { what, value: s.to_string() }) }
}

/// A double-quoted identifier (checked).
pub(crate) fn quote_ident(what: &'static str, s: &str) -> Result<String> {
    check_ident(what, s)?;
    Ok(format!("\"{s}\""))
}

/// A table name, unqualified (`ratings`) or `schema.table`, each part checked and quoted.
pub(crate) fn quote_table(s: &str) -> Result<String> {
    match s.split_once('.') {
        Some((schema, table)) => Ok(format!("{}.{}", quote_ident("table", schema)?, quote_ident("table", table)?)),
        None => quote_ident("table", s),
    }
}

/// An exact SQL literal of a finite `f64`.
pub(crate) fn float_literal(field: &'static str, v: f64) -> Result<String> {
    if !v.is_finite() {
        return Err(Error::InvalidSpec { field, reason: format!("{v} is not a finite number") });
    }
    // Debug prints the shortest representation that parses back to the same bits.
    Ok(format!("CAST('{v:?}' AS DOUBLE)"))
}

/// An SQL literal of an `i64` (parenthesised, so a negative value is safe after any operator).
pub(crate) fn int_literal(v: i64) -> String {
    if v == i64::MIN { format!("({} - 1)", i64::MIN + 1) } else { format!("({v})") }
}

/// A single-quoted string literal.
pub(crate) fn string_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Rendered parameter values for one template.
#[derive(Debug, Default, Clone)]
pub(crate) struct Params {
    values: BTreeMap<&'static str, String>,
}

impl Params {
    pub fn new() -> Self {
        Self::default()
    }

    /// A table name (checked, quoted).
    pub fn table(mut self, key: &'static str, name: &str) -> Result<Self> {
        self.values.insert(key, quote_table(name)?);
        Ok(self)
    }

    /// An integer.
    pub fn int(mut self, key: &'static str, v: i64) -> Self {
        self.values.insert(key, int_literal(v));
        self
    }

    /// A finite float; `field` names the spec field in the error.
    pub fn float(mut self, key: &'static str, field: &'static str, v: f64) -> Result<Self> {
        self.values.insert(key, float_literal(field, v)?);
        Ok(self)
    }

    /// A boolean.
    pub fn bool(mut self, key: &'static str, v: bool) -> Self {
        self.values.insert(key, if v { "TRUE" } else { "FALSE" }.to_string());
        self
    }

    /// A string literal (quoted and escaped).
    pub fn string(mut self, key: &'static str, v: &str) -> Self {
        self.values.insert(key, string_literal(v));
        self
    }

    /// SQL produced by this crate (another rendered template or generated column lists).
    pub fn fragment(mut self, key: &'static str, sql: impl Into<String>) -> Self {
        self.values.insert(key, sql.into());
        self
    }

    /// Substitutes every `{{name}}` of `template`.
    pub fn render(&self, template: Template) -> Result<String> {
        let text = template.text;
        let mut out = String::with_capacity(text.len() + 256);
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or_else(|| Error::Template {
                template: template.name,
                placeholder: after.chars().take(20).collect(),
            })?;
            let key = after[..end].trim();
            let value = self
                .values
                .get(key)
                .ok_or_else(|| Error::Template { template: template.name, placeholder: key.to_string() })?;
            out.push_str(value);
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_checked() {
        assert!(is_ident("demo_1"));
        assert!(is_ident("_x"));
        assert!(!is_ident("1x"));
        assert!(!is_ident("Demo"));
        assert!(!is_ident("a-b"));
        assert!(!is_ident("x\"; DROP TABLE y; --"));
        assert!(!is_ident(""));
        assert_eq!(quote_table("run.split").expect("ok"), "\"run\".\"split\"");
        assert!(quote_table("run.sp lit").is_err());
        assert!(quote_table("a.b.c").is_err());
    }

    #[test]
    fn literals_are_exact_and_safe() {
        assert_eq!(float_literal("f", 0.1).expect("finite"), "CAST('0.1' AS DOUBLE)");
        assert_eq!(float_literal("f", 1e300).expect("finite"), "CAST('1e300' AS DOUBLE)");
        assert!(float_literal("f", f64::NAN).is_err());
        assert_eq!(int_literal(-5), "(-5)");
        assert_eq!(int_literal(i64::MIN), "(-9223372036854775807 - 1)");
        assert_eq!(string_literal("it's"), "'it''s'");
    }

    #[test]
    fn render_substitutes_and_reports_missing() {
        const T: Template = Template { name: "t.sql", text: "SELECT {{a}} FROM {{ t }} WHERE x = {{s}}" };
        let sql =
            Params::new().int("a", 3).table("t", "r.x").expect("ok").string("s", "o'k").render(T).expect("render");
        assert_eq!(sql, "SELECT (3) FROM \"r\".\"x\" WHERE x = 'o''k'");
        let err = Params::new().int("a", 3).render(T).expect_err("missing");
        assert!(err.to_string().contains("{{t}}"), "{err}");
    }

    #[test]
    fn every_template_renders_its_placeholders() {
        // Each file is non-empty and its placeholders are well-formed.
        for t in [
            SPLIT_RANDOM,
            SPLIT_TEMPORAL,
            SPLIT_PREDEFINED,
            PREDEFINED_NAMES,
            ROWS,
            GLOBAL_STATS,
            GENRES,
            MOVIE_STATIC,
            USER_STATIC,
            KEYED_USER,
            KEYED_MOVIE,
            KEYED_DIRECTOR,
            KEYED_OCCUPATION,
            KEYED_USER_GENRE,
            OOF_STATS,
            ASSEMBLE,
            FINAL,
            ONLINE_USERS,
            ONLINE_MOVIES,
            ONLINE_USER_GENRE,
        ] {
            assert!(!t.text.trim().is_empty(), "{}", t.name);
            assert_eq!(t.text.matches("{{").count(), t.text.matches("}}").count(), "{}", t.name);
        }
    }
}
