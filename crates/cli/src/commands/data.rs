//! `reelforest data ingest | synth | download`.

use super::WarehouseArgs;
use anyhow::Context;
use clap::{Args, Subcommand};
use reelforest_core::DatasetFormat;
use reelforest_data::{IngestOptions, KnownDataset, SynthOptions};
use reelforest_telemetry::{Bars, LogArgs};
use std::path::PathBuf;

/// The `data` subcommands.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Validate MovieLens files and write them as typed Parquet tables to the warehouse.
    Ingest(IngestArgs),
    /// Generate a MovieLens-shaped dataset with learnable structure (deterministic per seed).
    Synth(SynthArgs),
    /// Download a GroupLens MovieLens archive, verify its checksums and unpack it.
    Download(DownloadArgs),
}

/// Arguments of `data ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Directory holding the dataset's files.
    #[arg(long)]
    pub source: PathBuf,
    /// Layout (csv, ml-100k, dat; also ml-latest-small, ml-1m, ...); detected when omitted.
    #[arg(long)]
    pub format: Option<DatasetFormat>,
    /// IMDB-5000 style movie_metadata.csv to join (directors, scores).
    #[arg(long)]
    pub metadata: Option<PathBuf>,
    /// Fail (and commit nothing) if any line is rejected.
    #[arg(long)]
    pub strict: bool,
    /// Print the full report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
}

/// Arguments of `data synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Number of ratings.
    #[arg(long, default_value_t = 100_000)]
    pub ratings: u64,
    /// Seed: the same seed gives byte-identical files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Users (default: derived from the number of ratings, MovieLens-like).
    #[arg(long)]
    pub users: Option<u64>,
    /// Movies (default: derived from the number of ratings).
    #[arg(long)]
    pub movies: Option<u64>,
    /// Standard deviation of extra gaussian rating noise.
    #[arg(long, default_value_t = 0.0)]
    pub noise: f64,
    /// Fraction of deliberately bad lines (for testing validation).
    #[arg(long, default_value_t = 0.0)]
    pub bad_rows: f64,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
}

/// Arguments of `data download`.
#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// ml-latest-small, ml-100k, ml-1m or ml-25m.
    pub dataset: String,
    /// Directory to unpack into (the dataset lands in DIR/<name>/).
    #[arg(long, default_value = "./data")]
    pub to: PathBuf,
    /// Base URL of the archives.
    #[arg(long, env = "REELFOREST_DOWNLOAD_BASE", default_value = reelforest_data::download::GROUPLENS_BASE_URL)]
    pub base_url: String,
}

/// Runs a `data` subcommand.
pub async fn run(cmd: DataCommand, log: &LogArgs) -> anyhow::Result<()> {
    let bars = Bars::new(log.quiet);
    match cmd {
        DataCommand::Ingest(args) => {
            let warehouse = args.warehouse.open()?;
            // S3: a missing bucket, refused credentials or an unreachable endpoint fail here, first.
            warehouse.ready().await?;
            let options = IngestOptions { format: args.format, metadata: args.metadata, strict: args.strict };
            let report = reelforest_data::ingest(&args.source, &options, &warehouse, &bars).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("ingested {} ({}) into {}", report.source, report.format, warehouse.root());
                for (table, t) in &report.tables {
                    let rejected = t.rejected_total();
                    let q =
                        if rejected > 0 { format!("  ({rejected} rejected, see quarantine)") } else { String::new() };
                    println!("  {table:<18} {:>10} rows{q}", t.rows);
                }
                if report.total_rejected > 0 {
                    println!("rejected lines: {}; first ones:", report.total_rejected);
                    for r in report.first_rejections.iter().take(5) {
                        println!("  {}:{}: {} ({})", r.file, r.line, r.reason.as_str(), r.text);
                    }
                }
                for n in &report.notes {
                    println!("note: {n}");
                }
            }
            Ok(())
        }
        DataCommand::Synth(args) => {
            let options = SynthOptions {
                ratings: args.ratings,
                seed: args.seed,
                users: args.users,
                movies: args.movies,
                noise: args.noise,
                bad_rows: args.bad_rows,
            };
            let summary = tokio::task::spawn_blocking(move || reelforest_data::synth(&options, &args.out))
                .await
                .context("generator thread")??;
            println!("{}", serde_json::to_string_pretty(&summary)?);
            Ok(())
        }
        DataCommand::Download(args) => {
            let dataset = KnownDataset::ALL.into_iter().find(|d| d.name() == args.dataset).ok_or_else(|| {
                let names: Vec<&str> = KnownDataset::ALL.iter().map(|d| d.name()).collect();
                anyhow::anyhow!("unknown dataset {:?}: choose one of {}", args.dataset, names.join(", "))
            })?;
            let path = tokio::task::spawn_blocking(move || {
                let bars = Bars::new(false);
                reelforest_data::download(dataset, &args.to, &args.base_url, &bars)
            })
            .await
            .context("download thread")??;
            println!("{}", path.display());
            Ok(())
        }
    }
}
