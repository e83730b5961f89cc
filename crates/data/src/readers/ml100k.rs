//! The `ml-100k` layout: `u.data` (tab-separated ratings), `u.item` (`|`-separated, Latin-1,
//! 5 fields then 19 genre flags named by `u.genre`), `u.user`, and the predefined splits
//! `u1..u5`, `ua`, `ub` (`.base` = train, `.test` = test) into `predefined_splits`.
//!
//! The genre `unknown` (flag 0) is MovieLens 100K's "no genre" and becomes no genre, like
//! `(no genres listed)` in the csv layout.

use super::{IdSet, Parsed, RatingCheck, check_separator, file_name, for_each_record};
use crate::error::{Error, Result};
use crate::layout::{ML100K_SPLITS, optional};
use crate::report::RejectReason;
use crate::text::{Sep, decode, parse_id, title_year};
use reelforest_core::tables::{MOVIES, PREDEFINED_SPLITS, RATINGS, USERS};
use reelforest_core::{DatasetFormat, Progress, RatingScale};
use std::path::Path;

/// The genres of `u.genre`, used when that file is absent.
pub const ML100K_GENRES: [&str; 19] = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
];

const LAYOUT: DatasetFormat = DatasetFormat::Ml100k;

/// Reads an ml-100k directory.
pub(crate) fn read(dir: &Path, progress: &dyn Progress) -> Result<Parsed> {
    let mut p = Parsed::new(LAYOUT, RatingScale::WHOLE_STARS);
    let genres = match optional(dir, "u.genre") {
        Some(path) => read_genres(&path, progress)?,
        None => ML100K_GENRES.iter().map(|s| (*s).to_string()).collect(),
    };
    read_items(&mut p, &dir.join("u.item"), &genres, progress)?;
    let movies = p.movie_ids();
    read_data(&mut p, &dir.join("u.data"), movies, progress)?;
    if let Some(path) = optional(dir, "u.user") {
        read_users(&mut p, &path, progress)?;
    }
    let mut found = 0;
    for split in ML100K_SPLITS {
        for (suffix, is_test) in [("base", false), ("test", true)] {
            if let Some(path) = optional(dir, &format!("{split}.{suffix}")) {
                read_split(&mut p, &path, split, is_test, progress)?;
                found += 1;
            }
        }
    }
    if found == 0 {
        p.notes.push("no predefined split files (u1.base ...) found".into());
    }
    Ok(p)
}

fn read_genres(path: &Path, progress: &dyn Progress) -> Result<Vec<String>> {
    let mut names: Vec<(usize, String)> = Vec::new();
    for_each_record(path, Sep::Byte(b'|'), progress, |_, _, f| {
        if let (2, Some(i)) = (f.len(), parse_id(f.get(1))) {
            names.push((i as usize, f.text(0)));
        }
        Ok(())
    })?;
    names.sort();
    let out: Vec<String> = names.into_iter().map(|(_, n)| n).collect();
    if out.len() != 19 {
        return Err(Error::FileLayout {
            file: path.to_path_buf(),
            layout: LAYOUT,
            reason: format!("expected 19 genres `name|index`, found {}", out.len()),
        });
    }
    Ok(out)
}

fn read_items(p: &mut Parsed, path: &Path, genres: &[String], progress: &dyn Progress) -> Result<()> {
    p.source(MOVIES, path);
    let name = file_name(path);
    let mut seen = IdSet::default();
    let mut first = true;
    for_each_record(path, Sep::Byte(b'|'), progress, |line, raw, f| {
        if first {
            first = false;
            check_separator(path, LAYOUT, f, raw, "'|' separators")?;
        }
        let mut reject = |reason| p.quarantine.reject(MOVIES, &name, line, reason, raw);
        if f.len() != 5 + genres.len() {
            reject(RejectReason::FieldCount);
            return Ok(());
        }
        let Some(id) = parse_id(f.get(0)) else {
            reject(RejectReason::NonNumericId);
            return Ok(());
        };
        let mut gs = Vec::new();
        for (k, g) in genres.iter().enumerate() {
            match f.get(5 + k).trim_ascii() {
                b"1" if g != "unknown" => gs.push(g.as_str()),
                b"0" | b"1" => {}
                _ => {
                    reject(RejectReason::BadValue);
                    return Ok(());
                }
            }
        }
        if !seen.insert(id) {
            reject(RejectReason::DuplicateId);
            return Ok(());
        }
        let title = f.text(1);
        // Year from the title, else from the release date `01-Jan-1995`.
        let year = title_year(&title).or_else(|| {
            let d = decode(f.get(2));
            let d = d.trim();
            d.get(d.len().saturating_sub(4)..).and_then(|y| y.parse().ok())
        });
        p.movies.id.push(id);
        p.movies.title.push(title);
        p.movies.year.push(year);
        p.movies.genres.push(gs.join("|"));
        Ok(())
    })?;
    Ok(())
}

fn read_data(p: &mut Parsed, path: &Path, movies: IdSet, progress: &dyn Progress) -> Result<()> {
    p.source(RATINGS, path);
    let name = file_name(path);
    let mut check = RatingCheck::new(p.scale, movies);
    let mut first = true;
    for_each_record(path, Sep::Byte(b'\t'), progress, |line, raw, f| {
        if first {
            first = false;
            check_separator(path, LAYOUT, f, raw, "tab separators")?;
        }
        if f.len() != 4 {
            p.quarantine.reject(RATINGS, &name, line, RejectReason::FieldCount, raw);
            return Ok(());
        }
        match check.check(f.get(0), f.get(1), f.get(2), f.get(3)) {
            Ok((u, m, r, t)) => {
                p.ratings.user.push(u);
                p.ratings.movie.push(m);
                p.ratings.rating.push(r);
                p.ratings.timestamp.push(t);
            }
            Err(reason) => p.quarantine.reject(RATINGS, &name, line, reason, raw),
        }
        Ok(())
    })?;
    Ok(())
}

fn read_users(p: &mut Parsed, path: &Path, progress: &dyn Progress) -> Result<()> {
    p.source(USERS, path);
    let name = file_name(path);
    let mut seen = IdSet::default();
    for_each_record(path, Sep::Byte(b'|'), progress, |line, raw, f| {
        let mut reject = |reason| p.quarantine.reject(USERS, &name, line, reason, raw);
        if f.len() != 5 {
            reject(RejectReason::FieldCount);
            return Ok(());
        }
        let Some(id) = parse_id(f.get(0)) else {
            reject(RejectReason::NonNumericId);
            return Ok(());
        };
        let Some(age) = parse_id(f.get(1)).and_then(|a| i32::try_from(a).ok()) else {
            reject(RejectReason::BadValue);
            return Ok(());
        };
        if !seen.insert(id) {
            reject(RejectReason::DuplicateId);
            return Ok(());
        }
        let opt = |i: usize| Some(f.text(i)).filter(|s| !s.is_empty());
        p.users.id.push(id);
        p.users.age.push(Some(age));
        p.users.gender.push(opt(2));
        p.users.occupation.push(opt(3));
        p.users.zip.push(opt(4));
        Ok(())
    })?;
    Ok(())
}

fn read_split(p: &mut Parsed, path: &Path, split: &'static str, is_test: bool, progress: &dyn Progress) -> Result<()> {
    p.source(PREDEFINED_SPLITS, path);
    let name = file_name(path);
    for_each_record(path, Sep::Byte(b'\t'), progress, |line, raw, f| {
        if f.len() != 4 {
            p.quarantine.reject(PREDEFINED_SPLITS, &name, line, RejectReason::FieldCount, raw);
            return Ok(());
        }
        let (Some(u), Some(m)) = (parse_id(f.get(0)), parse_id(f.get(1))) else {
            p.quarantine.reject(PREDEFINED_SPLITS, &name, line, RejectReason::NonNumericId, raw);
            return Ok(());
        };
        p.splits.split.push(split);
        p.splits.user.push(u);
        p.splits.movie.push(m);
        p.splits.is_test.push(is_test);
        Ok(())
    })?;
    Ok(())
}
