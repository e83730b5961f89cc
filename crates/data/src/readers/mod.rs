//! Readers of the MovieLens layouts into in-memory columns, with validation.
//!
//! [`read_dataset`] picks the layout's reader ([`csv`], [`ml100k`], [`dat`]); each fills a
//! [`Parsed`]: one column vector per table column plus the [`Quarantine`] of rejected lines.
//! Movies are read first, so ratings can be checked against the known movie ids; a
//! (user, movie) pair seen twice keeps its first line. Everything is parsed before anything is
//! written, so a strict ingest can refuse without touching the catalog.

pub(crate) mod csv;
pub(crate) mod dat;
pub(crate) mod ml100k;

use crate::error::{Error, Result};
use crate::report::{MetadataReport, Quarantine, RejectReason};
use crate::text::{Fields, Records, Sep, parse_f64, parse_id, parse_timestamp};
use reelforest_core::{DatasetFormat, Progress, RatingScale};
use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::BufReader;
use std::path::Path;

/// A fast hasher for integer keys (ids are not attacker-chosen in a batch job).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, v: u64) {
        let mut z = v.wrapping_add(self.0).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        self.0 = z ^ (z >> 31);
    }
    fn write_i64(&mut self, v: i64) {
        self.write_u64(v as u64);
    }
}

/// A hash set of ids.
pub(crate) type IdSet = HashSet<i64, BuildHasherDefault<IdHasher>>;

/// Ratings columns.
#[derive(Debug, Default)]
pub(crate) struct Ratings {
    pub(crate) user: Vec<i64>,
    pub(crate) movie: Vec<i64>,
    pub(crate) rating: Vec<f64>,
    pub(crate) timestamp: Vec<i64>,
}

/// Movies columns.
#[derive(Debug, Default)]
pub(crate) struct Movies {
    pub(crate) id: Vec<i64>,
    pub(crate) title: Vec<String>,
    pub(crate) year: Vec<Option<i32>>,
    pub(crate) genres: Vec<String>,
}

/// Users columns.
#[derive(Debug, Default)]
pub(crate) struct Users {
    pub(crate) id: Vec<i64>,
    pub(crate) age: Vec<Option<i32>>,
    pub(crate) gender: Vec<Option<String>>,
    pub(crate) occupation: Vec<Option<String>>,
    pub(crate) zip: Vec<Option<String>>,
}

/// Tags columns.
#[derive(Debug, Default)]
pub(crate) struct Tags {
    pub(crate) user: Vec<i64>,
    pub(crate) movie: Vec<i64>,
    pub(crate) tag: Vec<String>,
    pub(crate) timestamp: Vec<i64>,
}

/// Links columns.
#[derive(Debug, Default)]
pub(crate) struct Links {
    pub(crate) movie: Vec<i64>,
    pub(crate) imdb: Vec<Option<i64>>,
    pub(crate) tmdb: Vec<Option<i64>>,
}

/// Movie metadata columns.
#[derive(Debug, Default)]
pub(crate) struct Meta {
    pub(crate) movie: Vec<i64>,
    pub(crate) director: Vec<Option<String>>,
    pub(crate) imdb_score: Vec<Option<f64>>,
    pub(crate) duration: Vec<Option<f64>>,
    pub(crate) budget: Vec<Option<f64>>,
    pub(crate) gross: Vec<Option<f64>>,
    pub(crate) content_rating: Vec<Option<String>>,
}

/// Predefined split columns.
#[derive(Debug, Default)]
pub(crate) struct Splits {
    pub(crate) split: Vec<&'static str>,
    pub(crate) user: Vec<i64>,
    pub(crate) movie: Vec<i64>,
    pub(crate) is_test: Vec<bool>,
}

/// Everything read from a dataset directory.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) format: DatasetFormat,
    pub(crate) scale: RatingScale,
    pub(crate) ratings: Ratings,
    pub(crate) movies: Movies,
    pub(crate) users: Users,
    pub(crate) tags: Tags,
    pub(crate) links: Links,
    pub(crate) meta: Meta,
    pub(crate) splits: Splits,
    /// Source file names per table.
    pub(crate) sources: BTreeMap<&'static str, Vec<String>>,
    pub(crate) quarantine: Quarantine,
    pub(crate) notes: Vec<String>,
    pub(crate) metadata: Option<MetadataReport>,
}

impl Parsed {
    pub(crate) fn new(format: DatasetFormat, scale: RatingScale) -> Self {
        Parsed {
            format,
            scale,
            ratings: Ratings::default(),
            movies: Movies::default(),
            users: Users::default(),
            tags: Tags::default(),
            links: Links::default(),
            meta: Meta::default(),
            splits: Splits::default(),
            sources: BTreeMap::new(),
            quarantine: Quarantine::default(),
            notes: Vec::new(),
            metadata: None,
        }
    }

    pub(crate) fn source(&mut self, table: &'static str, file: &Path) {
        self.sources.entry(table).or_default().push(file_name(file));
    }

    /// The accepted movie ids.
    pub(crate) fn movie_ids(&self) -> IdSet {
        self.movies.id.iter().copied().collect()
    }

    /// Fills `users` with one row per rating user (NULL demographics) when the dataset has no
    /// users file.
    pub(crate) fn synthesize_users(&mut self) {
        let mut ids: Vec<i64> = self.ratings.user.clone();
        ids.sort_unstable();
        ids.dedup();
        let n = ids.len();
        self.users =
            Users { id: ids, age: vec![None; n], gender: vec![None; n], occupation: vec![None; n], zip: vec![None; n] };
        self.notes.push(format!("no users file: {n} users derived from the ratings, demographics NULL"));
    }
}

/// The file name of a path, for reports.
pub(crate) fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// Reads every record of `path` split with `sep`, calling `f(line, raw, fields)`. Reports
/// progress in bytes. Returns the number of records (header included).
pub(crate) fn for_each_record(
    path: &Path,
    sep: Sep,
    progress: &dyn Progress,
    mut f: impl FnMut(u64, &[u8], &Fields) -> Result<()>,
) -> Result<u64> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let size = file.metadata().map(|m| m.len()).ok();
    progress.begin(&format!("reading {}", file_name(path)), size);
    let mut records = Records::new(BufReader::with_capacity(1 << 20, file), sep == Sep::Csv);
    let mut fields = Fields::default();
    let mut n = 0u64;
    let mut pending = 0u64;
    while let Some((line, raw)) = records.next_record().map_err(|e| Error::io(path, e))? {
        fields.split(raw, sep);
        f(line, raw, &fields)?;
        n += 1;
        pending += raw.len() as u64 + 1;
        if pending >= 1 << 20 {
            progress.advance(pending);
            pending = 0;
        }
    }
    progress.advance(pending);
    progress.end();
    if n == 0 {
        return Err(Error::EmptyFile { file: path.to_path_buf() });
    }
    Ok(n)
}

/// Maps a CSV header to the positions of `expected` columns (case-insensitive).
pub(crate) fn header_columns(path: &Path, header: &Fields, raw: &[u8], expected: &[&str]) -> Result<Vec<usize>> {
    let found = String::from_utf8_lossy(raw).into_owned();
    if raw.windows(2).any(|w| w == b"::") && header.len() == 1 {
        return Err(Error::FileLayout {
            file: path.to_path_buf(),
            layout: DatasetFormat::Csv,
            reason: "its lines are '::'-separated (a .dat file, layout dat)".into(),
        });
    }
    if raw.contains(&b'\t') && header.len() == 1 {
        return Err(Error::FileLayout {
            file: path.to_path_buf(),
            layout: DatasetFormat::Csv,
            reason: "its lines are tab-separated (like ml-100k's u.data)".into(),
        });
    }
    let names: Vec<String> = (0..header.len()).map(|i| header.text(i).to_ascii_lowercase()).collect();
    expected
        .iter()
        .map(|want| {
            names.iter().position(|n| n == &want.to_ascii_lowercase()).ok_or_else(|| Error::BadHeader {
                file: path.to_path_buf(),
                missing: (*want).to_string(),
                expected: expected.join(","),
                found: found.clone(),
            })
        })
        .collect()
}

/// Checks that the first record of a non-CSV file is split by its separator.
pub(crate) fn check_separator(
    path: &Path,
    layout: DatasetFormat,
    fields: &Fields,
    raw: &[u8],
    what: &str,
) -> Result<()> {
    if fields.len() == 1 {
        let reason = if raw.contains(&b',') {
            format!("its first line is comma-separated, expected {what}")
        } else {
            format!("its first line has no {what}")
        };
        return Err(Error::FileLayout { file: path.to_path_buf(), layout, reason });
    }
    Ok(())
}

/// Validates ratings: scale, known movies, first (user, movie) pair wins.
#[derive(Debug)]
pub(crate) struct RatingCheck {
    scale: RatingScale,
    movies: IdSet,
    seen: HashSet<u64, BuildHasherDefault<IdHasher>>,
    seen_wide: HashSet<(i64, i64)>,
}

impl RatingCheck {
    pub(crate) fn new(scale: RatingScale, movies: IdSet) -> Self {
        RatingCheck { scale, movies, seen: HashSet::default(), seen_wide: HashSet::new() }
    }

    /// Parses and validates one rating from its four fields.
    pub(crate) fn check(
        &mut self,
        user: &[u8],
        movie: &[u8],
        rating: &[u8],
        ts: &[u8],
    ) -> Result<(i64, i64, f64, i64), RejectReason> {
        let (Some(u), Some(m)) = (parse_id(user), parse_id(movie)) else {
            return Err(RejectReason::NonNumericId);
        };
        let r = parse_f64(rating).filter(|r| self.scale.contains(*r)).ok_or(RejectReason::RatingOutOfScale)?;
        let t = parse_timestamp(ts).ok_or(RejectReason::BadTimestamp)?;
        if !self.movies.contains(&m) {
            return Err(RejectReason::UnknownMovie);
        }
        let fresh = if (0..1 << 32).contains(&u) && (0..1 << 32).contains(&m) {
            self.seen.insert(((u as u64) << 32) | m as u64)
        } else {
            self.seen_wide.insert((u, m))
        };
        if !fresh {
            return Err(RejectReason::DuplicatePair);
        }
        Ok((u, m, r, t))
    }
}

/// Reads the dataset in `dir` with layout `format`.
pub(crate) fn read_dataset(
    dir: &Path,
    format: DatasetFormat,
    metadata: Option<&Path>,
    progress: &dyn Progress,
) -> Result<Parsed> {
    let mut parsed = match format {
        DatasetFormat::Csv => csv::read(dir, progress)?,
        DatasetFormat::Ml100k => ml100k::read(dir, progress)?,
        DatasetFormat::Dat => dat::read(dir, progress)?,
    };
    if parsed.users.id.is_empty() {
        parsed.synthesize_users();
    }
    if let Some(meta) = metadata {
        crate::metadata::join_imdb(&mut parsed, meta, progress)?;
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rating_check_reasons() {
        let movies: IdSet = [1, 2].into_iter().collect();
        let mut c = RatingCheck::new(RatingScale::HALF_STARS, movies);
        assert_eq!(c.check(b"1", b"1", b"4.0", b"100"), Ok((1, 1, 4.0, 100)));
        assert_eq!(c.check(b"1", b"1", b"3.0", b"100"), Err(RejectReason::DuplicatePair));
        assert_eq!(c.check(b"x", b"1", b"3.0", b"100"), Err(RejectReason::NonNumericId));
        assert_eq!(c.check(b"1", b"2", b"5.5", b"100"), Err(RejectReason::RatingOutOfScale));
        assert_eq!(c.check(b"1", b"2", b"4.5", b"soon"), Err(RejectReason::BadTimestamp));
        assert_eq!(c.check(b"1", b"3", b"4.5", b"100"), Err(RejectReason::UnknownMovie));
        assert_eq!(c.check(b"1", b"2", b"4.5", b"100"), Ok((1, 2, 4.5, 100)));
    }
}
