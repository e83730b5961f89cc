//! Optional movie metadata: the IMDB-5000 `movie_metadata.csv` joined onto the dataset's movies.
//!
//! The IMDb id is parsed out of `movie_imdb_link`
//! (`http://www.imdb.com/title/tt0499549/?ref_=fn_tt_tt_1` → 499549); rows with the same id
//! collapse to the first one. Text cells are trimmed of trailing spaces and the non-breaking
//! space every title ends with. The join goes through `links.csv` (`imdbId`) when the dataset
//! has links; otherwise (ml-100k, ml-1m) on a normalised title plus release year: lower case,
//! letters and digits only, parenthesised alternative titles dropped, and a trailing article
//! (`Usual Suspects, The`) moved to the front.

use crate::error::Result;
use crate::readers::{Meta, Parsed, file_name, for_each_record, header_columns};
use crate::report::MetadataReport;
use crate::text::{Sep, decode, parse_opt_f64, title_year};
use reelforest_core::Progress;
use reelforest_core::tables::MOVIE_META;
use std::collections::HashMap;
use std::path::Path;

/// The columns read from `movie_metadata.csv`.
pub const IMDB_COLUMNS: [&str; 9] = [
    "movie_imdb_link",
    "director_name",
    "imdb_score",
    "duration",
    "budget",
    "gross",
    "content_rating",
    "movie_title",
    "title_year",
];

#[derive(Debug, Clone)]
struct Row {
    director: Option<String>,
    imdb_score: Option<f64>,
    duration: Option<f64>,
    budget: Option<f64>,
    gross: Option<f64>,
    content_rating: Option<String>,
}

/// The IMDb number in an IMDb title URL (`.../title/tt0499549/...` → 499549).
pub fn imdb_id_from_link(link: &str) -> Option<i64> {
    let b = link.as_bytes();
    let start =
        (0..b.len().saturating_sub(2)).find(|&i| b[i] == b't' && b[i + 1] == b't' && b[i + 2].is_ascii_digit())? + 2;
    let digits: String = link[start..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The title-join key: normalised title plus year.
pub fn title_key(title: &str, year: Option<i32>) -> Option<String> {
    let year = year?;
    let mut t = title.trim().to_string();
    // Drop the trailing `(1995)` and any parenthesised alternative titles.
    loop {
        let trimmed = t.trim_end();
        if let Some(open) = trimmed.strip_suffix(')').and_then(|s| s.rfind('(')) {
            t = trimmed[..open].to_string();
        } else {
            t = trimmed.to_string();
            break;
        }
    }
    let lower = t.to_lowercase();
    let mut s = lower.as_str().to_string();
    for article in ["the", "a", "an", "les", "la", "le", "il", "el", "das", "der", "die"] {
        let suffix = format!(", {article}");
        if let Some(stem) = lower.strip_suffix(&suffix) {
            s = format!("{article} {stem}");
            break;
        }
    }
    let key: String = s.chars().filter(|c| c.is_alphanumeric()).collect();
    (!key.is_empty()).then(|| format!("{key}#{year}"))
}

fn opt_text(b: &[u8]) -> Option<String> {
    let t = decode(b).trim().to_string();
    (!t.is_empty()).then_some(t)
}

/// Reads `path` and joins it onto `parsed.movies`, replacing `parsed.meta`.
pub(crate) fn join_imdb(parsed: &mut Parsed, path: &Path, progress: &dyn Progress) -> Result<()> {
    let use_links = parsed.links.imdb.iter().any(Option::is_some);
    let mut by_key: HashMap<String, Row> = HashMap::new();
    let mut cols: Option<Vec<usize>> = None;
    let (mut rows, mut dups, mut unkeyed) = (0u64, 0u64, 0u64);
    for_each_record(path, Sep::Csv, progress, |_line, raw, f| {
        let Some(c) = &cols else {
            cols = Some(header_columns(path, f, raw, &IMDB_COLUMNS)?);
            return Ok(());
        };
        rows += 1;
        let get = |i: usize| f.get(c[i]);
        let key = if use_links {
            imdb_id_from_link(&decode(get(0))).map(|id| id.to_string())
        } else {
            let year = crate::text::parse_id(get(8)).and_then(|y| i32::try_from(y).ok());
            title_key(&decode(get(7)), year)
        };
        let Some(key) = key else {
            unkeyed += 1;
            return Ok(());
        };
        if by_key.contains_key(&key) {
            dups += 1;
            return Ok(());
        }
        let row = Row {
            director: opt_text(get(1)),
            imdb_score: parse_opt_f64(get(2)),
            duration: parse_opt_f64(get(3)),
            budget: parse_opt_f64(get(4)),
            gross: parse_opt_f64(get(5)),
            content_rating: opt_text(get(6)),
        };
        by_key.insert(key, row);
        Ok(())
    })?;
    if cols.is_none() || rows == 0 {
        return Err(crate::Error::EmptyFile { file: path.to_path_buf() });
    }
    let mut meta = Meta::default();
    let mut push = |movie: i64, r: &Row| {
        meta.movie.push(movie);
        meta.director.push(r.director.clone());
        meta.imdb_score.push(r.imdb_score);
        meta.duration.push(r.duration);
        meta.budget.push(r.budget);
        meta.gross.push(r.gross);
        meta.content_rating.push(r.content_rating.clone());
    };
    let known = parsed.movie_ids();
    if use_links {
        for (movie, imdb) in parsed.links.movie.iter().zip(&parsed.links.imdb) {
            if let (true, Some(r)) = (known.contains(movie), imdb.and_then(|i| by_key.get(&i.to_string()))) {
                push(*movie, r);
            }
        }
    } else {
        for (movie, title) in parsed.movies.id.iter().zip(&parsed.movies.title) {
            if let Some(r) = title_key(title, title_year(title)).and_then(|k| by_key.get(&k)) {
                push(*movie, r);
            }
        }
    }
    let matched = meta.movie.len() as u64;
    let joined_on = if use_links { "imdb_id" } else { "title_year" };
    tracing::info!(matched, movies = parsed.movies.id.len(), joined_on, "movie metadata joined");
    if matched == 0 {
        parsed.notes.push(format!(
            "metadata {} could not be joined: no movie matched on {joined_on}; movie_meta is empty",
            file_name(path)
        ));
    }
    parsed.meta = meta;
    parsed.sources.insert(MOVIE_META, vec![file_name(path)]);
    parsed.metadata = Some(MetadataReport {
        file: file_name(path),
        rows,
        duplicates_collapsed: dups,
        unkeyed,
        joined_on: joined_on.into(),
        matched_movies: matched,
        movies: parsed.movies.id.len() as u64,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imdb_links() {
        assert_eq!(imdb_id_from_link("http://www.imdb.com/title/tt0499549/?ref_=fn_tt_tt_1"), Some(499549));
        assert_eq!(imdb_id_from_link("nothing"), None);
    }

    #[test]
    fn title_keys() {
        let a = title_key("Usual Suspects, The (1995)", Some(1995));
        let b = title_key("The Usual Suspects\u{a0} ", Some(1995));
        assert_eq!(a, b);
        assert!(a.is_some());
        assert_eq!(
            title_key("Shanghai Triad (Yao a yao yao dao waipo qiao) (1995)", Some(1995)),
            title_key("Shanghai Triad", Some(1995))
        );
        assert_eq!(title_key("X", None), None);
    }
}
