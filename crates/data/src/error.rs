//! Errors of `reelforest-data`: one variant per cause, each saying whose fault it is and
//! naming the file, layout or URL concerned.

use crate::report::IngestReport;
use reelforest_core::DatasetFormat;
use std::path::PathBuf;

/// Result with the data [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong while reading, generating or downloading a dataset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The source path is not a directory.
    #[error("dataset source {path} is not a directory")]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// No known layout matches the files in the directory.
    #[error(
        "cannot tell the dataset layout of {path}: expected ratings.csv + movies.csv (csv), u.data + u.item (ml-100k) or ratings.dat + movies.dat (dat); found {found}"
    )]
    UnknownLayout {
        /// The directory.
        path: PathBuf,
        /// The files that are there (comma-separated, truncated).
        found: String,
    },
    /// A required file of the layout is missing.
    #[error("{layout} layout: required file {file} is missing in {dir} (this layout expects {expected})")]
    MissingFile {
        /// The layout.
        layout: DatasetFormat,
        /// The missing file name.
        file: String,
        /// The directory searched.
        dir: PathBuf,
        /// The files the layout expects.
        expected: String,
    },
    /// The directory holds another layout than the one named.
    #[error("{dir} looks like a {detected} dataset, not {requested}: {requested} expects {expected}")]
    WrongLayout {
        /// The layout asked for.
        requested: DatasetFormat,
        /// The layout the files look like.
        detected: DatasetFormat,
        /// The directory.
        dir: PathBuf,
        /// The files the requested layout expects.
        expected: String,
    },
    /// A required file has no data rows.
    #[error("{file} is empty (no data rows)")]
    EmptyFile {
        /// The file.
        file: PathBuf,
    },
    /// A CSV file's header lacks a required column, so it is another file than its name says.
    #[error("{file}: header {found:?} lacks column {missing:?}; expected a header like {expected:?}")]
    BadHeader {
        /// The file.
        file: PathBuf,
        /// The column not found.
        missing: String,
        /// The expected header.
        expected: String,
        /// The header found.
        found: String,
    },
    /// A file's contents belong to another layout (e.g. `::` separated lines in a CSV file).
    #[error("{file} does not look like a {layout} file: {reason}")]
    FileLayout {
        /// The file.
        file: PathBuf,
        /// The layout it was read as.
        layout: DatasetFormat,
        /// What gave it away.
        reason: String,
    },
    /// Reading or writing a local file failed.
    #[error("I/O error on {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// `strict` ingest found rejected lines; nothing was committed to the catalog.
    #[error("{}", strict_message(report))]
    Rejected {
        /// The full report (counts, quarantine paths, first rejections).
        report: Box<IngestReport>,
    },
    /// The warehouse failed.
    #[error("warehouse error")]
    Warehouse(#[from] reelforest_warehouse::Error),
    /// Building an Arrow record batch failed (a bug: the columns are built by this crate).
    #[error("building record batch for table {table}")]
    Arrow {
        /// The table.
        table: String,
        /// Arrow's error.
        #[source]
        source: datafusion::arrow::error::ArrowError,
    },
    /// A blocking parse task panicked or was cancelled.
    #[error("parse task failed")]
    Task(#[source] tokio::task::JoinError),
    /// Generator options are inconsistent.
    #[error("invalid synth options: {0}")]
    SynthOptions(String),
    /// An HTTP request failed (connection, status, or the body was cut off).
    #[error("download of {url} failed")]
    Http {
        /// The URL.
        url: String,
        /// ureq's error.
        #[source]
        source: Box<ureq::Error>,
    },
    /// The server answered with a non-success status.
    #[error("download of {url} failed: HTTP status {status}")]
    HttpStatus {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The download ended before the announced or known size.
    #[error("download of {url} was truncated: got {got} bytes, expected {expected}")]
    Truncated {
        /// The URL.
        url: String,
        /// Bytes received.
        got: u64,
        /// Bytes expected.
        expected: u64,
    },
    /// A downloaded archive or an unpacked file does not have the known checksum.
    #[error("checksum mismatch for {what}: expected sha256 {expected}, got {actual}")]
    Checksum {
        /// The archive or file.
        what: String,
        /// The published checksum.
        expected: String,
        /// What was computed.
        actual: String,
    },
    /// The downloaded archive is not a readable zip.
    #[error("archive {path} is not a valid zip")]
    Zip {
        /// The archive.
        path: PathBuf,
        /// zip's error.
        #[source]
        source: zip::result::ZipError,
    },
    /// The archive does not hold the dataset directory expected.
    #[error("archive {archive} does not contain {expected}")]
    ArchiveContents {
        /// The archive name.
        archive: String,
        /// What was expected.
        expected: String,
    },
    /// The target directory of a download already exists.
    #[error("{path} already exists; remove it or choose another --to")]
    TargetExists {
        /// The directory.
        path: PathBuf,
    },
}

fn strict_message(report: &IngestReport) -> String {
    let mut s = format!("strict ingest rejected {} line(s); nothing was committed", report.total_rejected);
    for (table, t) in &report.tables {
        if t.rejected_total() > 0 {
            let counts: Vec<String> = t.rejected.iter().map(|(r, n)| format!("{r}: {n}")).collect();
            s.push_str(&format!("\n  {table}: {}", counts.join(", ")));
        }
    }
    if !report.first_rejections.is_empty() {
        s.push_str("\nfirst rejections:");
        for r in report.first_rejections.iter().take(10) {
            s.push_str(&format!("\n  {}:{}: {} ({})", r.file, r.line, r.reason, r.text));
        }
    }
    let paths: Vec<&str> = report.tables.values().filter_map(|t| t.quarantine.as_deref()).collect();
    if !paths.is_empty() {
        s.push_str(&format!("\nquarantined lines: {}", paths.join(", ")));
    }
    s
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}
