//! The `csv` layout: `ml-latest-small`, `ml-latest`, `ml-25m` and the generator.
//!
//! `ratings.csv` and `movies.csv` are required; `tags.csv`, `links.csv`, and the generator's
//! `users.csv` (`userId,age,gender,occupation,zip`) and `directors.csv` (`movieId,director`,
//! read into `movie_meta`) are read when present. Columns are found by header name.

use super::{IdSet, Parsed, RatingCheck, file_name, for_each_record, header_columns};
use crate::error::Result;
use crate::layout::optional;
use crate::report::RejectReason;
use crate::text::{Sep, normalize_genres, parse_id, parse_timestamp, title_year};
use reelforest_core::tables::{LINKS, MOVIE_META, MOVIES, RATINGS, TAGS, USERS};
use reelforest_core::{DatasetFormat, Progress, RatingScale};
use std::path::Path;

/// Header of `ratings.csv`.
pub const RATINGS_HEADER: [&str; 4] = ["userId", "movieId", "rating", "timestamp"];
/// Header of `movies.csv`.
pub const MOVIES_HEADER: [&str; 3] = ["movieId", "title", "genres"];
/// Header of `tags.csv`.
pub const TAGS_HEADER: [&str; 4] = ["userId", "movieId", "tag", "timestamp"];
/// Header of `links.csv`.
pub const LINKS_HEADER: [&str; 3] = ["movieId", "imdbId", "tmdbId"];
/// Header of the generator's `users.csv`.
pub const USERS_HEADER: [&str; 5] = ["userId", "age", "gender", "occupation", "zip"];
/// Header of the generator's `directors.csv`.
pub const DIRECTORS_HEADER: [&str; 2] = ["movieId", "director"];

/// Reads a csv-layout directory.
pub(crate) fn read(dir: &Path, progress: &dyn Progress) -> Result<Parsed> {
    let mut p = Parsed::new(DatasetFormat::Csv, RatingScale::HALF_STARS);
    read_movies(&mut p, &dir.join("movies.csv"), progress)?;
    let movies = p.movie_ids();
    read_ratings(&mut p, &dir.join("ratings.csv"), movies, progress)?;
    if let Some(path) = optional(dir, "tags.csv") {
        read_tags(&mut p, &path, progress)?;
    }
    if let Some(path) = optional(dir, "links.csv") {
        read_links(&mut p, &path, progress)?;
    }
    if let Some(path) = optional(dir, "users.csv") {
        read_users(&mut p, &path, progress)?;
    }
    if let Some(path) = optional(dir, "directors.csv") {
        read_directors(&mut p, &path, progress)?;
    }
    Ok(p)
}

/// Calls `row(line, raw, fields-by-expected-position)` for every data row; rows whose field
/// count differs from the header's are quarantined.
fn read_table(
    p: &mut Parsed,
    table: &'static str,
    path: &Path,
    expected: &[&str],
    progress: &dyn Progress,
    mut row: impl FnMut(&mut Parsed, &[&[u8]]) -> Result<(), RejectReason>,
) -> Result<()> {
    p.source(table, path);
    let name = file_name(path);
    let mut cols: Option<(Vec<usize>, usize)> = None;
    let mut data_rows = 0u64;
    for_each_record(path, Sep::Csv, progress, |line, raw, fields| {
        let Some((idx, width)) = &cols else {
            cols = Some((header_columns(path, fields, raw, expected)?, fields.len()));
            return Ok(());
        };
        data_rows += 1;
        if fields.len() != *width {
            p.quarantine.reject(table, &name, line, RejectReason::FieldCount, raw);
            return Ok(());
        }
        let mut vals: [&[u8]; 8] = [&[]; 8];
        for (k, &i) in idx.iter().enumerate() {
            vals[k] = fields.get(i);
        }
        if let Err(reason) = row(p, &vals[..idx.len()]) {
            p.quarantine.reject(table, &name, line, reason, raw);
        }
        Ok(())
    })?;
    if data_rows == 0 {
        return Err(crate::Error::EmptyFile { file: path.to_path_buf() });
    }
    Ok(())
}

fn text(b: &[u8]) -> String {
    crate::text::decode(b).trim().to_string()
}

fn opt_text(b: &[u8]) -> Option<String> {
    let t = text(b);
    (!t.is_empty()).then_some(t)
}

/// An optional id: empty → NULL, garbage → rejected.
pub(crate) fn opt_id(b: &[u8]) -> Result<Option<i64>, RejectReason> {
    if b.trim_ascii().is_empty() { Ok(None) } else { parse_id(b).map(Some).ok_or(RejectReason::BadValue) }
}

fn read_movies(p: &mut Parsed, path: &Path, progress: &dyn Progress) -> Result<()> {
    let mut seen = IdSet::default();
    read_table(p, MOVIES, path, &MOVIES_HEADER, progress, |p, v| {
        let id = parse_id(v[0]).ok_or(RejectReason::NonNumericId)?;
        if !seen.insert(id) {
            return Err(RejectReason::DuplicateId);
        }
        let title = text(v[1]);
        p.movies.year.push(title_year(&title));
        p.movies.id.push(id);
        p.movies.title.push(title);
        p.movies.genres.push(normalize_genres(&text(v[2])));
        Ok(())
    })
}

fn read_ratings(p: &mut Parsed, path: &Path, movies: IdSet, progress: &dyn Progress) -> Result<()> {
    let mut check = RatingCheck::new(p.scale, movies);
    read_table(p, RATINGS, path, &RATINGS_HEADER, progress, |p, v| {
        let (u, m, r, t) = check.check(v[0], v[1], v[2], v[3])?;
        p.ratings.user.push(u);
        p.ratings.movie.push(m);
        p.ratings.rating.push(r);
        p.ratings.timestamp.push(t);
        Ok(())
    })
}

fn read_tags(p: &mut Parsed, path: &Path, progress: &dyn Progress) -> Result<()> {
    read_table(p, TAGS, path, &TAGS_HEADER, progress, |p, v| {
        let (Some(u), Some(m)) = (parse_id(v[0]), parse_id(v[1])) else {
            return Err(RejectReason::NonNumericId);
        };
        let t = parse_timestamp(v[3]).ok_or(RejectReason::BadTimestamp)?;
        p.tags.user.push(u);
        p.tags.movie.push(m);
        p.tags.tag.push(text(v[2]));
        p.tags.timestamp.push(t);
        Ok(())
    })
}

fn read_links(p: &mut Parsed, path: &Path, progress: &dyn Progress) -> Result<()> {
    let mut seen = IdSet::default();
    read_table(p, LINKS, path, &LINKS_HEADER, progress, |p, v| {
        let m = parse_id(v[0]).ok_or(RejectReason::NonNumericId)?;
        let imdb = opt_id(v[1])?;
        let tmdb = opt_id(v[2])?;
        if !seen.insert(m) {
            return Err(RejectReason::DuplicateId);
        }
        p.links.movie.push(m);
        p.links.imdb.push(imdb);
        p.links.tmdb.push(tmdb);
        Ok(())
    })
}

fn read_users(p: &mut Parsed, path: &Path, progress: &dyn Progress) -> Result<()> {
    let mut seen = IdSet::default();
    read_table(p, USERS, path, &USERS_HEADER, progress, |p, v| {
        let id = parse_id(v[0]).ok_or(RejectReason::NonNumericId)?;
        let age = opt_id(v[1])?.and_then(|a| i32::try_from(a).ok());
        if !seen.insert(id) {
            return Err(RejectReason::DuplicateId);
        }
        p.users.id.push(id);
        p.users.age.push(age);
        p.users.gender.push(opt_text(v[2]));
        p.users.occupation.push(opt_text(v[3]));
        p.users.zip.push(opt_text(v[4]));
        Ok(())
    })
}

fn read_directors(p: &mut Parsed, path: &Path, progress: &dyn Progress) -> Result<()> {
    let mut seen = IdSet::default();
    let mut rows = 0u64;
    read_table(p, MOVIE_META, path, &DIRECTORS_HEADER, progress, |p, v| {
        let id = parse_id(v[0]).ok_or(RejectReason::NonNumericId)?;
        if !seen.insert(id) {
            return Err(RejectReason::DuplicateId);
        }
        rows += 1;
        let m = &mut p.meta;
        m.movie.push(id);
        m.director.push(opt_text(v[1]));
        m.imdb_score.push(None);
        m.duration.push(None);
        m.budget.push(None);
        m.gross.push(None);
        m.content_rating.push(None);
        Ok(())
    })?;
    let movies = p.movie_ids();
    let matched = p.meta.movie.iter().filter(|m| movies.contains(m)).count() as u64;
    p.metadata = Some(crate::report::MetadataReport {
        file: file_name(path),
        rows,
        duplicates_collapsed: 0,
        unkeyed: 0,
        joined_on: "movie_id".into(),
        matched_movies: matched,
        movies: p.movies.id.len() as u64,
    });
    Ok(())
}
