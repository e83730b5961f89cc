//! The ingest report and the quarantine of rejected lines.
//!
//! Every line ingest does not accept is counted under a [`RejectReason`] and kept verbatim in a
//! per-table quarantine (`raw/<table>.quarantine.tsv` in the warehouse, columns `file`, `line`,
//! `reason`, `text`; `text` is the last column and holds the line's original bytes without its
//! line terminator, so tabs inside it stay as they were). [`IngestReport`] sums it up.

use reelforest_core::{DatasetFormat, RatingScale};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// Why a line was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RejectReason {
    /// The line does not have the number of fields the file's layout has.
    FieldCount,
    /// A user or movie id is not a non-negative integer.
    NonNumericId,
    /// The rating is not a number on the dataset's [`RatingScale`].
    RatingOutOfScale,
    /// The timestamp is not a non-negative integer (unix seconds).
    BadTimestamp,
    /// The rating's movie id is not in the movies file.
    UnknownMovie,
    /// The (user, movie) pair was already rated earlier in the file (the first one is kept).
    DuplicatePair,
    /// A movie, user or link id that appeared earlier in the file (the first one is kept).
    DuplicateId,
    /// Another field (age, genre flag, ...) cannot be parsed.
    BadValue,
}

impl RejectReason {
    /// Every reason, in report order.
    pub const ALL: [RejectReason; 8] = [
        RejectReason::FieldCount,
        RejectReason::NonNumericId,
        RejectReason::RatingOutOfScale,
        RejectReason::BadTimestamp,
        RejectReason::UnknownMovie,
        RejectReason::DuplicatePair,
        RejectReason::DuplicateId,
        RejectReason::BadValue,
    ];

    /// The name used in reports and quarantine files.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::FieldCount => "field_count",
            RejectReason::NonNumericId => "non_numeric_id",
            RejectReason::RatingOutOfScale => "rating_out_of_scale",
            RejectReason::BadTimestamp => "bad_timestamp",
            RejectReason::UnknownMovie => "unknown_movie",
            RejectReason::DuplicatePair => "duplicate_pair",
            RejectReason::DuplicateId => "duplicate_id",
            RejectReason::BadValue => "bad_value",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rejected line, as shown in the report (the quarantine file keeps the exact bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// The table the line was meant for.
    pub table: String,
    /// The source file name.
    pub file: String,
    /// 1-based line number in the source file.
    pub line: u64,
    /// Why it was rejected.
    pub reason: RejectReason,
    /// The line's text (lossily decoded for display).
    pub text: String,
}

/// What ingest did for one table.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TableReport {
    /// Rows accepted (and written, unless strict ingest failed).
    pub rows: u64,
    /// Rejected lines by reason.
    pub rejected: BTreeMap<RejectReason, u64>,
    /// Warehouse-relative path of the quarantine file, when lines were rejected.
    pub quarantine: Option<String>,
    /// The source files read for this table (empty when the dataset lacks it or it was derived).
    pub sources: Vec<String>,
}

impl TableReport {
    /// All rejected lines of this table.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

/// How the optional movie metadata was joined.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetadataReport {
    /// The metadata file (or the generator's `directors.csv`).
    pub file: String,
    /// Data rows read.
    pub rows: u64,
    /// Rows dropped because an earlier row had the same IMDb id (or title + year).
    pub duplicates_collapsed: u64,
    /// Rows without a usable IMDb link or key.
    pub unkeyed: u64,
    /// What the join used: `imdb_id` (through links), `title_year`, or `movie_id`.
    pub joined_on: String,
    /// Movies of the dataset that received metadata.
    pub matched_movies: u64,
    /// Movies in the dataset.
    pub movies: u64,
}

/// The result of an ingest: per-table counts, rejections and where the quarantines are.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IngestReport {
    /// The source directory.
    pub source: String,
    /// The layout read.
    pub format: DatasetFormat,
    /// The rating scale ratings were validated against.
    pub rating_scale: RatingScale,
    /// Per raw table (every table of `reelforest_core::tables::RAW_TABLES`).
    pub tables: BTreeMap<String, TableReport>,
    /// Sum of rejected lines over all tables.
    pub total_rejected: u64,
    /// The first rejected lines (up to [`IngestReport::FIRST_REJECTIONS`]).
    pub first_rejections: Vec<Rejection>,
    /// Movie metadata join, when metadata was given or generated.
    pub metadata: Option<MetadataReport>,
    /// Notes for the user (a file that was absent, a join that was not possible, ...).
    pub notes: Vec<String>,
    /// Whether the tables were written and committed to the catalog.
    pub committed: bool,
}

impl IngestReport {
    /// How many rejections the report lists individually.
    pub const FIRST_REJECTIONS: usize = 20;

    /// Accepted rows of `table` (0 when unknown).
    pub fn rows(&self, table: &str) -> u64 {
        self.tables.get(table).map_or(0, |t| t.rows)
    }

    /// Rejected lines of `table` for `reason`.
    pub fn rejected(&self, table: &str, reason: RejectReason) -> u64 {
        self.tables.get(table).and_then(|t| t.rejected.get(&reason)).copied().unwrap_or(0)
    }

    /// Rejected lines for `reason`, over all tables.
    pub fn rejected_by_reason(&self, reason: RejectReason) -> u64 {
        self.tables.values().filter_map(|t| t.rejected.get(&reason)).sum()
    }
}

/// Collects rejected lines while parsing: counts, the quarantine TSV bytes and the first few.
#[derive(Debug, Default)]
pub(crate) struct Quarantine {
    pub(crate) tables: BTreeMap<&'static str, TableQuarantine>,
    pub(crate) first: Vec<Rejection>,
}

/// The rejections of one table.
#[derive(Debug, Default)]
pub(crate) struct TableQuarantine {
    pub(crate) counts: BTreeMap<RejectReason, u64>,
    pub(crate) tsv: Vec<u8>,
}

impl Quarantine {
    /// The quarantine header line.
    pub(crate) const HEADER: &'static [u8] = b"file\tline\treason\ttext\n";

    /// Records a rejected line: `raw` is the line's original bytes without its terminator.
    pub(crate) fn reject(&mut self, table: &'static str, file: &str, line: u64, reason: RejectReason, raw: &[u8]) {
        let t = self.tables.entry(table).or_default();
        *t.counts.entry(reason).or_insert(0) += 1;
        if t.tsv.is_empty() {
            t.tsv.extend_from_slice(Self::HEADER);
        }
        t.tsv.extend_from_slice(file.as_bytes());
        t.tsv.push(b'\t');
        t.tsv.extend_from_slice(line.to_string().as_bytes());
        t.tsv.push(b'\t');
        t.tsv.extend_from_slice(reason.as_str().as_bytes());
        t.tsv.push(b'\t');
        t.tsv.extend_from_slice(raw);
        t.tsv.push(b'\n');
        tracing::debug!(table, file, line, %reason, "rejected line");
        if self.first.len() < IngestReport::FIRST_REJECTIONS {
            self.first.push(Rejection {
                table: table.to_string(),
                file: file.to_string(),
                line,
                reason,
                text: String::from_utf8_lossy(raw).into_owned(),
            });
        }
    }

    /// Total rejected lines.
    pub(crate) fn total(&self) -> u64 {
        self.tables.values().flat_map(|t| t.counts.values()).sum()
    }
}

/// The warehouse-relative path of a table's quarantine file.
pub fn quarantine_path(table: &str) -> String {
    format!("raw/{table}.quarantine.tsv")
}
