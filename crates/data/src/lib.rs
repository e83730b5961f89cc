//! # reelforest-data
//!
//! Getting MovieLens-style data into the warehouse, losing nothing on the way:
//!
//! - [`ingest()`]: reads a dataset directory in any MovieLens layout ([`DatasetFormat`]:
//!   `csv` for ml-latest-small / ml-latest / ml-25m and the generator, `ml-100k`, `dat` for
//!   ml-1m / ml-10m), validates every line and writes the eight raw tables of
//!   [`reelforest_core::tables`] as Parquet through [`reelforest_warehouse::Warehouse`].
//!   Rejected lines go verbatim to `raw/<table>.quarantine.tsv`; the [`IngestReport`] counts
//!   them by [`RejectReason`]. Optional IMDB-5000 metadata is joined into `movie_meta`.
//! - [`synth()`]: a deterministic generator of MovieLens-shaped files with structure a model
//!   can learn (biases, genre tastes, directors, long tails) and, on request, bad lines of
//!   every kind validation rejects.
//! - [`download()`]: fetches a GroupLens archive with progress, checks its size and checksums,
//!   and unpacks it, leaving nothing behind on failure.
//!
//! Modules: [`layout`] (which files a layout has, detection), [`report`] (report and
//! quarantine), [`ingest`](mod@ingest), [`synth`](mod@synth), [`download`](mod@download),
//! [`metadata`] (IMDB join helpers); `readers` and `text` hold the byte-level parsers.
#![deny(missing_docs)]

pub mod download;
mod error;
pub mod ingest;
pub mod layout;
pub mod metadata;
mod readers;
pub mod report;
pub mod synth;
mod text;

pub use download::{ArchiveSpec, KnownDataset, download, download_with};
pub use error::{Error, Result};
pub use ingest::{IngestOptions, ingest, raw_schema};
pub use report::{IngestReport, MetadataReport, RejectReason, Rejection, TableReport};
pub use synth::{SynthOptions, SynthSummary, synth};

pub use reelforest_core::{DatasetFormat, RatingScale};
