//! `reelforest sql`: query every catalog table of the warehouse with DataFusion SQL.

use super::WarehouseArgs;
use super::ballista::ClusterArgs;
use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use std::io::Read;
use std::path::PathBuf;

/// Output format of query results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// An aligned table.
    Table,
    /// CSV with a header.
    Csv,
    /// One JSON object per row (JSON lines).
    Json,
}

/// Arguments of `reelforest sql`.
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The query. Omit it (and -f) to read the query from stdin.
    pub query: Option<String>,
    /// Read the query from a file.
    #[arg(short = 'f', long = "file", conflicts_with = "query")]
    pub file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Runs the query and prints the result.
pub async fn run(args: SqlArgs) -> anyhow::Result<()> {
    let query = match (&args.query, &args.file) {
        (Some(q), _) => q.clone(),
        (None, Some(f)) => std::fs::read_to_string(f).with_context(|| format!("reading query file {}", f.display()))?,
        (None, None) => {
            let mut q = String::new();
            std::io::stdin().read_to_string(&mut q).context("reading the query from stdin")?;
            q
        }
    };
    if query.trim().is_empty() {
        bail!("no query given: pass it as an argument, with -f FILE, or on stdin");
    }
    let warehouse = args.warehouse.open()?;
    // S3: a missing bucket, refused credentials or an unreachable endpoint fail here, first.
    warehouse.ready().await?;
    let ctx = args.cluster.context().await?;
    reelforest_features::register_functions(&ctx);
    let tables = warehouse.register_all(&ctx).await?;
    tracing::debug!(?tables, "registered warehouse tables");
    let batches = execute(&ctx, &query).await?;
    print!("{}", format_batches(&batches, args.format)?);
    Ok(())
}

/// Runs each `;`-separated statement, returning the last one's rows.
async fn execute(ctx: &SessionContext, query: &str) -> anyhow::Result<Vec<RecordBatch>> {
    let mut last = Vec::new();
    for statement in split_statements(query) {
        let df = ctx.sql(&statement).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        last = df.collect().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(last)
}

/// Splits on `;` outside quotes; drops empty statements.
fn split_statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in sql.chars() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c2) if c2 == q => quote = None,
            (None, ';') => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

/// Renders batches in the chosen format.
pub fn format_batches(batches: &[RecordBatch], format: OutputFormat) -> anyhow::Result<String> {
    match format {
        OutputFormat::Table => Ok(format!("{}\n", datafusion::arrow::util::pretty::pretty_format_batches(batches)?)),
        OutputFormat::Csv => {
            let mut buf = Vec::new();
            {
                let mut w = datafusion::arrow::csv::WriterBuilder::new().with_header(true).build(&mut buf);
                for b in batches {
                    w.write(b)?;
                }
            }
            Ok(String::from_utf8(buf)?)
        }
        OutputFormat::Json => {
            let mut buf = Vec::new();
            {
                let mut w = datafusion::arrow::json::LineDelimitedWriter::new(&mut buf);
                for b in batches {
                    w.write(b)?;
                }
                w.finish()?;
            }
            Ok(String::from_utf8(buf)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_outside_quotes() {
        assert_eq!(split_statements("select ';'; select 2;"), vec!["select ';'", "select 2"]);
        assert_eq!(split_statements("  ;; "), Vec::<String>::new());
    }
}
