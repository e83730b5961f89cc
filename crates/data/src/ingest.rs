//! The ingest entry point: read and validate a dataset directory, then write the eight raw
//! tables of [`reelforest_core::tables`] and the quarantine files to the warehouse.
//!
//! Parsing runs on a blocking thread ([`tokio::task::spawn_blocking`]) and reports progress
//! through a channel; writing streams record batches of [`BATCH_ROWS`] rows through
//! [`reelforest_warehouse::TableWriter`]. Everything is parsed and validated before the first
//! table is written, so `strict` ingest that finds a rejected line returns
//! [`Error::Rejected`] without touching any table or catalog entry (the quarantine files are
//! still written, so the user can look at the lines).

use crate::error::{Error, Result};
use crate::layout;
use crate::readers::{self, Parsed};
use crate::report::{IngestReport, Quarantine, TableReport, quarantine_path};
use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use reelforest_core::tables::{
    LINKS, MOVIE_GENRES, MOVIE_META, MOVIES, PREDEFINED_SPLITS, RATINGS, RAW_NAMESPACE, RAW_TABLES, TAGS, USERS,
};
use reelforest_core::{DatasetFormat, Progress};
use reelforest_warehouse::Warehouse;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Rows per record batch written.
pub const BATCH_ROWS: usize = 64 * 1024;

/// How to ingest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestOptions {
    /// The layout; detected from the files present when `None`.
    pub format: Option<DatasetFormat>,
    /// An IMDB-5000 style `movie_metadata.csv` to join into `movie_meta`.
    pub metadata: Option<PathBuf>,
    /// Refuse (and commit nothing) when any line is rejected.
    pub strict: bool,
}

/// The Arrow schema of raw table `table` (see [`reelforest_core::tables`]); `None` for an
/// unknown name.
pub fn raw_schema(table: &str) -> Option<SchemaRef> {
    use DataType::{Boolean, Float64, Int32, Int64, Utf8};
    let f = |name: &str, t: DataType, nullable: bool| Field::new(name, t, nullable);
    let fields = match table {
        RATINGS => vec![
            f("user_id", Int64, false),
            f("movie_id", Int64, false),
            f("rating", Float64, false),
            f("timestamp", Int64, false),
        ],
        MOVIES => {
            vec![f("movie_id", Int64, false), f("title", Utf8, false), f("year", Int32, true), f("genres", Utf8, false)]
        }
        MOVIE_GENRES => vec![f("movie_id", Int64, false), f("genre", Utf8, false)],
        USERS => vec![
            f("user_id", Int64, false),
            f("age", Int32, true),
            f("gender", Utf8, true),
            f("occupation", Utf8, true),
            f("zip", Utf8, true),
        ],
        TAGS => vec![
            f("user_id", Int64, false),
            f("movie_id", Int64, false),
            f("tag", Utf8, false),
            f("timestamp", Int64, false),
        ],
        LINKS => vec![f("movie_id", Int64, false), f("imdb_id", Int64, true), f("tmdb_id", Int64, true)],
        MOVIE_META => vec![
            f("movie_id", Int64, false),
            f("director", Utf8, true),
            f("imdb_score", Float64, true),
            f("duration", Float64, true),
            f("budget", Float64, true),
            f("gross", Float64, true),
            f("content_rating", Utf8, true),
        ],
        PREDEFINED_SPLITS => vec![
            f("split", Utf8, false),
            f("user_id", Int64, false),
            f("movie_id", Int64, false),
            f("is_test", Boolean, false),
        ],
        _ => return None,
    };
    Some(Arc::new(Schema::new(fields)))
}

/// Progress events sent from the parse thread to the async caller.
enum Event {
    Begin(String, Option<u64>),
    Advance(u64),
    End,
}

struct ChannelProgress(tokio::sync::mpsc::UnboundedSender<Event>);

impl Progress for ChannelProgress {
    fn begin(&self, step: &str, total: Option<u64>) {
        let _ = self.0.send(Event::Begin(step.to_string(), total));
    }
    fn advance(&self, n: u64) {
        let _ = self.0.send(Event::Advance(n));
    }
    fn end(&self) {
        let _ = self.0.send(Event::End);
    }
}

/// Reads `source` (a MovieLens directory), validates every line and writes all raw tables to
/// `warehouse`. See the [module docs](self).
pub async fn ingest(
    source: &Path,
    options: &IngestOptions,
    warehouse: &Warehouse,
    progress: &dyn Progress,
) -> Result<IngestReport> {
    let format = layout::resolve(source, options.format)?;
    tracing::info!(source = %source.display(), %format, "ingesting dataset");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let dir = source.to_path_buf();
    let metadata = options.metadata.clone();
    let task = tokio::task::spawn_blocking(move || {
        let progress = ChannelProgress(tx);
        readers::read_dataset(&dir, format, metadata.as_deref(), &progress)
    });
    while let Some(ev) = rx.recv().await {
        match ev {
            Event::Begin(step, total) => progress.begin(&step, total),
            Event::Advance(n) => progress.advance(n),
            Event::End => progress.end(),
        }
    }
    let parsed = task.await.map_err(Error::Task)??;
    write_parsed(source, parsed, options.strict, warehouse, progress).await
}

async fn write_parsed(
    source: &Path,
    mut parsed: Parsed,
    strict: bool,
    warehouse: &Warehouse,
    progress: &dyn Progress,
) -> Result<IngestReport> {
    let quarantine = std::mem::take(&mut parsed.quarantine);
    let mut report = IngestReport {
        source: source.display().to_string(),
        format: parsed.format,
        rating_scale: parsed.scale,
        tables: BTreeMap::new(),
        total_rejected: quarantine.total(),
        first_rejections: quarantine.first.clone(),
        metadata: parsed.metadata.clone(),
        notes: std::mem::take(&mut parsed.notes),
        committed: false,
    };
    write_quarantines(&quarantine, warehouse, &mut report).await?;
    let batches = build_tables(&mut parsed)?;
    for table in RAW_TABLES {
        let entry = report.tables.entry(table.to_string()).or_default();
        entry.rows = batches.get(table).map_or(0, |b| b.num_rows() as u64);
        entry.sources = parsed.sources.get(table).cloned().unwrap_or_default();
    }
    if strict && report.total_rejected > 0 {
        return Err(Error::Rejected { report: Box::new(report) });
    }
    for table in RAW_TABLES {
        let Some(batch) = batches.get(table) else { continue };
        write_table(warehouse, table, batch, &report.tables[table], progress).await?;
    }
    report.committed = true;
    for (table, t) in &report.tables {
        tracing::info!(table, rows = t.rows, rejected = t.rejected_total(), "raw table written");
    }
    Ok(report)
}

async fn write_quarantines(q: &Quarantine, warehouse: &Warehouse, report: &mut IngestReport) -> Result<()> {
    for table in RAW_TABLES {
        let path = quarantine_path(table);
        let entry: &mut TableReport = report.tables.entry(table.to_string()).or_default();
        match q.tables.get(table) {
            Some(t) => {
                entry.rejected = t.counts.clone();
                warehouse.put(&path, t.tsv.clone()).await?;
                tracing::warn!(table, rejected = entry.rejected_total(), path, "lines quarantined");
                entry.quarantine = Some(path);
            }
            None => {
                // Don't leave a stale quarantine from an earlier ingest next to the new table.
                if warehouse.exists(&path).await? {
                    warehouse.put(&path, Quarantine::HEADER.to_vec()).await?;
                }
            }
        }
    }
    Ok(())
}

async fn write_table(
    warehouse: &Warehouse,
    table: &str,
    batch: &RecordBatch,
    t: &TableReport,
    progress: &dyn Progress,
) -> Result<()> {
    let mut writer = warehouse.writer(RAW_NAMESPACE, table, batch.schema()).await?;
    progress.begin(&format!("writing {table}"), Some(batch.num_rows() as u64));
    let mut offset = 0;
    while offset < batch.num_rows() {
        let len = BATCH_ROWS.min(batch.num_rows() - offset);
        writer.write(&batch.slice(offset, len)).await?;
        progress.advance(len as u64);
        offset += len;
    }
    progress.end();
    let description = if t.sources.is_empty() {
        "derived or absent in the source dataset".to_string()
    } else {
        format!("ingested from {}", t.sources.join(", "))
    };
    writer.finish(&description).await?;
    Ok(())
}

fn arr<A: datafusion::arrow::array::Array + 'static>(a: A) -> ArrayRef {
    Arc::new(a)
}

fn batch(table: &str, columns: Vec<ArrayRef>) -> Result<RecordBatch> {
    let schema = raw_schema(table).ok_or_else(|| Error::Arrow {
        table: table.to_string(),
        source: datafusion::arrow::error::ArrowError::SchemaError("unknown raw table".into()),
    })?;
    RecordBatch::try_new(schema, columns).map_err(|source| Error::Arrow { table: table.to_string(), source })
}

/// One record batch per raw table (sliced into [`BATCH_ROWS`] when written).
fn build_tables(p: &mut Parsed) -> Result<BTreeMap<&'static str, RecordBatch>> {
    let mut out = BTreeMap::new();
    let r = std::mem::take(&mut p.ratings);
    out.insert(
        RATINGS,
        batch(
            RATINGS,
            vec![
                arr(Int64Array::from(r.user)),
                arr(Int64Array::from(r.movie)),
                arr(Float64Array::from(r.rating)),
                arr(Int64Array::from(r.timestamp)),
            ],
        )?,
    );
    let m = &p.movies;
    out.insert(
        MOVIES,
        batch(
            MOVIES,
            vec![
                arr(Int64Array::from(m.id.clone())),
                arr(StringArray::from_iter_values(&m.title)),
                arr(Int32Array::from(m.year.clone())),
                arr(StringArray::from_iter_values(&m.genres)),
            ],
        )?,
    );
    let (mut gm, mut gg) = (Vec::new(), Vec::new());
    for (id, genres) in m.id.iter().zip(&m.genres) {
        for g in genres.split('|').filter(|g| !g.is_empty()) {
            gm.push(*id);
            gg.push(g);
        }
    }
    out.insert(
        MOVIE_GENRES,
        batch(MOVIE_GENRES, vec![arr(Int64Array::from(gm)), arr(StringArray::from_iter_values(gg))])?,
    );
    let u = std::mem::take(&mut p.users);
    out.insert(
        USERS,
        batch(
            USERS,
            vec![
                arr(Int64Array::from(u.id)),
                arr(Int32Array::from(u.age)),
                arr(StringArray::from(u.gender)),
                arr(StringArray::from(u.occupation)),
                arr(StringArray::from(u.zip)),
            ],
        )?,
    );
    let t = std::mem::take(&mut p.tags);
    out.insert(
        TAGS,
        batch(
            TAGS,
            vec![
                arr(Int64Array::from(t.user)),
                arr(Int64Array::from(t.movie)),
                arr(StringArray::from_iter_values(t.tag)),
                arr(Int64Array::from(t.timestamp)),
            ],
        )?,
    );
    let l = std::mem::take(&mut p.links);
    out.insert(
        LINKS,
        batch(
            LINKS,
            vec![arr(Int64Array::from(l.movie)), arr(Int64Array::from(l.imdb)), arr(Int64Array::from(l.tmdb))],
        )?,
    );
    let mm = std::mem::take(&mut p.meta);
    out.insert(
        MOVIE_META,
        batch(
            MOVIE_META,
            vec![
                arr(Int64Array::from(mm.movie)),
                arr(StringArray::from(mm.director)),
                arr(Float64Array::from(mm.imdb_score)),
                arr(Float64Array::from(mm.duration)),
                arr(Float64Array::from(mm.budget)),
                arr(Float64Array::from(mm.gross)),
                arr(StringArray::from(mm.content_rating)),
            ],
        )?,
    );
    let s = std::mem::take(&mut p.splits);
    out.insert(
        PREDEFINED_SPLITS,
        batch(
            PREDEFINED_SPLITS,
            vec![
                arr(StringArray::from_iter_values(s.split)),
                arr(Int64Array::from(s.user)),
                arr(Int64Array::from(s.movie)),
                arr(BooleanArray::from(s.is_test)),
            ],
        )?,
    );
    Ok(out)
}
