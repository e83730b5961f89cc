//! The `dat` layout of ml-1m and ml-10m: `::`-separated `ratings.dat`, `movies.dat` (Latin-1 in
//! ml-1m, UTF-8 in ml-10m: both decode), optional `users.dat` (ml-1m:
//! `UserID::Gender::Age::Occupation::Zip`, occupation codes mapped to their names) and
//! `tags.dat` (ml-10m).
//!
//! The rating scale is whole stars when `users.dat` is present (ml-1m) and half stars
//! otherwise (ml-10m).

use super::{IdSet, Parsed, RatingCheck, check_separator, file_name, for_each_record};
use crate::error::Result;
use crate::layout::optional;
use crate::report::RejectReason;
use crate::text::{Sep, normalize_genres, parse_id, parse_timestamp, title_year};
use reelforest_core::tables::{MOVIES, RATINGS, TAGS, USERS};
use reelforest_core::{DatasetFormat, Progress, RatingScale};
use std::path::Path;

const LAYOUT: DatasetFormat = DatasetFormat::Dat;

/// ml-1m occupation codes (README of ml-1m).
pub const ML1M_OCCUPATIONS: [&str; 21] = [
    "other",
    "academic/educator",
    "artist",
    "clerical/admin",
    "college/grad student",
    "customer service",
    "doctor/health care",
    "executive/managerial",
    "farmer",
    "homemaker",
    "K-12 student",
    "lawyer",
    "programmer",
    "retired",
    "sales/marketing",
    "scientist",
    "self-employed",
    "technician/engineer",
    "tradesman/craftsman",
    "unemployed",
    "writer",
];

/// Reads a dat-layout directory.
pub(crate) fn read(dir: &Path, progress: &dyn Progress) -> Result<Parsed> {
    let users = optional(dir, "users.dat");
    let scale = if users.is_some() { RatingScale::WHOLE_STARS } else { RatingScale::HALF_STARS };
    let mut p = Parsed::new(LAYOUT, scale);
    p.notes.push(format!(
        "dat layout: rating scale {} ({})",
        if users.is_some() { "whole stars" } else { "half stars" },
        if users.is_some() { "users.dat present: ml-1m" } else { "no users.dat: ml-10m" }
    ));
    read_movies(&mut p, &dir.join("movies.dat"), progress)?;
    let movies = p.movie_ids();
    read_ratings(&mut p, &dir.join("ratings.dat"), movies, progress)?;
    if let Some(path) = users {
        read_users(&mut p, &path, progress)?;
    }
    if let Some(path) = optional(dir, "tags.dat") {
        read_tags(&mut p, &path, progress)?;
    }
    Ok(p)
}

/// Runs `row` over every record of a `::` file with `width` fields, quarantining the rest.
fn read_file(
    p: &mut Parsed,
    table: &'static str,
    path: &Path,
    width: usize,
    progress: &dyn Progress,
    mut row: impl FnMut(&mut Parsed, &crate::text::Fields) -> Result<(), RejectReason>,
) -> Result<()> {
    p.source(table, path);
    let name = file_name(path);
    let mut first = true;
    for_each_record(path, Sep::DoubleColon, progress, |line, raw, f| {
        if first {
            first = false;
            check_separator(path, LAYOUT, f, raw, "'::' separators")?;
        }
        let r = if f.len() != width { Err(RejectReason::FieldCount) } else { row(p, f) };
        if let Err(reason) = r {
            p.quarantine.reject(table, &name, line, reason, raw);
        }
        Ok(())
    })?;
    Ok(())
}

fn read_movies(p: &mut Parsed, path: &Path, progress: &dyn Progress) -> Result<()> {
    let mut seen = IdSet::default();
    read_file(p, MOVIES, path, 3, progress, |p, f| {
        let id = parse_id(f.get(0)).ok_or(RejectReason::NonNumericId)?;
        if !seen.insert(id) {
            return Err(RejectReason::DuplicateId);
        }
        let title = f.text(1);
        p.movies.year.push(title_year(&title));
        p.movies.id.push(id);
        p.movies.title.push(title);
        p.movies.genres.push(normalize_genres(&f.text(2)));
        Ok(())
    })
}

fn read_ratings(p: &mut Parsed, path: &Path, movies: IdSet, progress: &dyn Progress) -> Result<()> {
    let mut check = RatingCheck::new(p.scale, movies);
    read_file(p, RATINGS, path, 4, progress, |p, f| {
        let (u, m, r, t) = check.check(f.get(0), f.get(1), f.get(2), f.get(3))?;
        p.ratings.user.push(u);
        p.ratings.movie.push(m);
        p.ratings.rating.push(r);
        p.ratings.timestamp.push(t);
        Ok(())
    })
}

fn read_users(p: &mut Parsed, path: &Path, progress: &dyn Progress) -> Result<()> {
    let mut seen = IdSet::default();
    read_file(p, USERS, path, 5, progress, |p, f| {
        let id = parse_id(f.get(0)).ok_or(RejectReason::NonNumericId)?;
        let age = parse_id(f.get(2)).and_then(|a| i32::try_from(a).ok()).ok_or(RejectReason::BadValue)?;
        let occupation = match parse_id(f.get(3)) {
            Some(code) => Some(ML1M_OCCUPATIONS.get(code as usize).ok_or(RejectReason::BadValue)?.to_string()),
            None => Some(f.text(3)).filter(|s| !s.is_empty()),
        };
        if !seen.insert(id) {
            return Err(RejectReason::DuplicateId);
        }
        p.users.id.push(id);
        p.users.age.push(Some(age));
        p.users.gender.push(Some(f.text(1)).filter(|s| !s.is_empty()));
        p.users.occupation.push(occupation);
        p.users.zip.push(Some(f.text(4)).filter(|s| !s.is_empty()));
        Ok(())
    })
}

fn read_tags(p: &mut Parsed, path: &Path, progress: &dyn Progress) -> Result<()> {
    read_file(p, TAGS, path, 4, progress, |p, f| {
        let (Some(u), Some(m)) = (parse_id(f.get(0)), parse_id(f.get(1))) else {
            return Err(RejectReason::NonNumericId);
        };
        let t = parse_timestamp(f.get(3)).ok_or(RejectReason::BadTimestamp)?;
        p.tags.user.push(u);
        p.tags.movie.push(m);
        p.tags.tag.push(f.text(2));
        p.tags.timestamp.push(t);
        Ok(())
    })
}
