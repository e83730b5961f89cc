//! The SQL console: read-only queries over the warehouse tables, with limits.
//!
//! [`check_read_only`] parses the text with DataFusion's own parser and accepts exactly one
//! statement that is a query (`SELECT`, `WITH`, `VALUES`, set operations) or an `EXPLAIN` of
//! one; everything else (DDL, DML, `COPY`, `SET`, several statements) is refused with a
//! [`SqlError`] that names what was found. Planning then runs with
//! [`SQLOptions`] that disallow DDL, DML and statements, a second lock on the same door.
//!
//! [`SqlRunner`] executes on its own small tokio runtime (query work never runs on the request
//! threads), at most `sql_concurrency` queries at once (more: [`SqlError::Busy`]), in a memory
//! pool of `sql_memory_bytes`, cancelled after `sql_timeout` (dropping the plan's stream stops
//! DataFusion's tasks) and cut after the requested number of rows (the result says so).

use crate::config::Limits;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use futures::StreamExt;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use utoipa::ToSchema;

/// Why a query was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqlError {
    /// No statement at all.
    #[error("the query is empty")]
    Empty,
    /// The text is longer than the limit.
    #[error("the query is {len} bytes long; at most {max} are accepted")]
    TooLong {
        /// Length of the text.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// DataFusion's parser rejected the text.
    #[error("cannot parse the query: {0}")]
    Parse(#[source] DataFusionError),
    /// More than one statement.
    #[error("{0} statements given; the console runs exactly one query")]
    MultipleStatements(usize),
    /// A statement that is not a read-only query.
    #[error("only read-only queries (SELECT, WITH, EXPLAIN) are allowed; this is a {0} statement")]
    NotReadOnly(String),
    /// Ran longer than the limit and was cancelled.
    #[error("the query ran longer than {}s and was cancelled", .0.as_secs_f64())]
    Timeout(Duration),
    /// Too many queries running already.
    #[error("{0} queries are running already; try again when one finishes")]
    Busy(usize),
    /// Planning or execution failed (unknown table, type error, memory limit, ...).
    #[error("{0}")]
    Failed(#[source] DataFusionError),
    /// The query's task failed.
    #[error("the query's task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
}

/// A result column.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SqlColumn {
    /// Column name.
    pub name: String,
    /// Arrow type, as DataFusion prints it.
    pub data_type: String,
}

/// Rows of a query, JSON-typed: numbers, booleans, `null`, and text for everything else.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SqlResult {
    /// Columns in order.
    pub columns: Vec<SqlColumn>,
    /// Rows, each one value per column.
    #[schema(value_type = Vec<Vec<Object>>)]
    pub rows: Vec<Vec<serde_json::Value>>,
    /// The query had more rows than were returned.
    pub truncated: bool,
    /// Wall time, milliseconds.
    pub elapsed_ms: f64,
}

/// Accepts one read-only query of at most `max_len` bytes.
pub fn check_read_only(sql: &str, max_len: usize) -> Result<(), SqlError> {
    if sql.len() > max_len {
        return Err(SqlError::TooLong { len: sql.len(), max: max_len });
    }
    let statements = DFParser::parse_sql(sql).map_err(SqlError::Parse)?;
    match statements.len() {
        0 => Err(SqlError::Empty),
        1 => statements.front().map_or(Err(SqlError::Empty), read_only),
        n => Err(SqlError::MultipleStatements(n)),
    }
}

fn read_only(s: &Statement) -> Result<(), SqlError> {
    match s {
        Statement::Statement(inner) => match inner.as_ref() {
            SqlStatement::Query(_) => Ok(()),
            SqlStatement::Explain { statement, .. } => match statement.as_ref() {
                SqlStatement::Query(_) => Ok(()),
                other => Err(SqlError::NotReadOnly(keyword(&other.to_string()))),
            },
            other => Err(SqlError::NotReadOnly(keyword(&other.to_string()))),
        },
        Statement::Explain(e) => read_only(&e.statement),
        Statement::CreateExternalTable(_) => Err(SqlError::NotReadOnly("CREATE EXTERNAL TABLE".into())),
        Statement::CopyTo(_) => Err(SqlError::NotReadOnly("COPY".into())),
        Statement::Reset(_) => Err(SqlError::NotReadOnly("RESET".into())),
    }
}

/// The leading keywords of a statement's SQL text (`INSERT`, `CREATE TABLE`, ...).
fn keyword(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().take(2).collect();
    match words.as_slice() {
        [first, second] if matches!(*first, "CREATE" | "DROP" | "ALTER" | "TRUNCATE") => {
            format!("{first} {second}")
        }
        [first, ..] => (*first).to_string(),
        [] => "empty".to_string(),
    }
}

/// Runs console queries with the configured limits (see the module docs).
#[derive(Debug)]
pub struct SqlRunner {
    runtime: Option<tokio::runtime::Runtime>,
    permits: Arc<Semaphore>,
    limits: Limits,
}

impl SqlRunner {
    /// Starts the query runtime.
    pub fn new(limits: &Limits) -> crate::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(limits.sql_threads)
            .thread_name("reelforest-sql")
            .enable_all()
            .build()
            .map_err(|source| crate::Error::Io { what: "cannot start the SQL runtime", source })?;
        Ok(SqlRunner {
            runtime: Some(runtime),
            permits: Arc::new(Semaphore::new(limits.sql_concurrency)),
            limits: limits.clone(),
        })
    }

    /// Resolves once no console query holds a slot (a timed-out query keeps its slot until its
    /// work really stops): for graceful shutdown, monitors and tests.
    pub async fn idle(&self) {
        let all = u32::try_from(self.limits.sql_concurrency).unwrap_or(u32::MAX);
        // The semaphore is never closed, so acquiring can only wait.
        if let Ok(permits) = self.permits.acquire_many(all).await {
            drop(permits);
        }
    }

    /// A DataFusion context for console queries: its memory pool holds `sql_memory_bytes`.
    pub fn context(&self) -> crate::Result<SessionContext> {
        let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
            .with_memory_limit(self.limits.sql_memory_bytes, 1.0)
            .build_arc()
            .map_err(|source| crate::Error::Query { what: "the SQL console's memory pool".into(), source })?;
        Ok(SessionContext::new_with_config_rt(datafusion::prelude::SessionConfig::new(), runtime))
    }

    /// Checks and runs `sql` on `ctx`, returning at most `max_rows` rows (capped by
    /// `sql_max_rows`).
    pub async fn run(&self, ctx: &SessionContext, sql: &str, max_rows: usize) -> Result<SqlResult, SqlError> {
        check_read_only(sql, self.limits.sql_max_len)?;
        let permit =
            self.permits.clone().try_acquire_owned().map_err(|_| SqlError::Busy(self.limits.sql_concurrency))?;
        let max_rows = max_rows.clamp(1, self.limits.sql_max_rows);
        let started = Instant::now();
        let (ctx, sql) = (ctx.clone(), sql.to_string());
        let task = async move {
            let _permit = permit;
            execute(&ctx, &sql, max_rows).await
        };
        let mut handle = match &self.runtime {
            Some(rt) => rt.spawn(task),
            None => tokio::spawn(task),
        };
        let out = match tokio::time::timeout(self.limits.sql_timeout, &mut handle).await {
            Ok(joined) => joined.map_err(SqlError::Task)?,
            Err(_) => {
                handle.abort();
                return Err(SqlError::Timeout(self.limits.sql_timeout));
            }
        };
        let (columns, rows, truncated) = out?;
        Ok(SqlResult { columns, rows, truncated, elapsed_ms: started.elapsed().as_secs_f64() * 1e3 })
    }
}

impl Drop for SqlRunner {
    fn drop(&mut self) {
        // Dropping a runtime inside async code panics; this one may be dropped anywhere.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

type Rows = (Vec<SqlColumn>, Vec<Vec<serde_json::Value>>, bool);

async fn execute(ctx: &SessionContext, sql: &str, max_rows: usize) -> Result<Rows, SqlError> {
    let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
    let df = ctx.sql_with_options(sql, options).await.map_err(SqlError::Failed)?;
    let columns = df
        .schema()
        .fields()
        .iter()
        .map(|f| SqlColumn { name: f.name().clone(), data_type: f.data_type().to_string() })
        .collect();
    let mut stream = df.execute_stream().await.map_err(SqlError::Failed)?;
    let mut rows = Vec::new();
    let mut truncated = false;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(SqlError::Failed)?;
        let room = max_rows - rows.len();
        if batch.num_rows() > room {
            truncated = true;
        }
        append_rows(&batch.slice(0, batch.num_rows().min(room)), &mut rows).map_err(SqlError::Failed)?;
        if rows.len() >= max_rows {
            // One more non-empty batch means the result was cut.
            while !truncated && let Some(b) = stream.next().await {
                truncated = b.map_err(SqlError::Failed)?.num_rows() > 0;
            }
            break;
        }
    }
    Ok((columns, rows, truncated))
}

fn append_rows(batch: &RecordBatch, rows: &mut Vec<Vec<serde_json::Value>>) -> Result<(), DataFusionError> {
    let start = rows.len();
    rows.extend((0..batch.num_rows()).map(|_| Vec::with_capacity(batch.num_columns())));
    for col in batch.columns() {
        let values = json_values(col)?;
        for (r, v) in values.into_iter().enumerate() {
            rows[start + r].push(v);
        }
    }
    Ok(())
}

/// One JSON value per row of `a`.
fn json_values(a: &dyn Array) -> Result<Vec<serde_json::Value>, DataFusionError> {
    use serde_json::Value;
    let t = a.data_type();
    if t.is_integer() {
        let c = cast(a, &DataType::Int64)?;
        return Ok(c.as_primitive::<Int64Type>().iter().map(|v| v.map_or(Value::Null, Value::from)).collect());
    }
    if t.is_floating() || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..)) {
        let c = cast(a, &DataType::Float64)?;
        return Ok(c
            .as_primitive::<Float64Type>()
            .iter()
            .map(|v| v.and_then(serde_json::Number::from_f64).map_or(Value::Null, Value::Number))
            .collect());
    }
    if *t == DataType::Boolean {
        return Ok(a.as_boolean().iter().map(|v| v.map_or(Value::Null, Value::Bool)).collect());
    }
    let f = ArrayFormatter::try_new(a, &FormatOptions::default())?;
    Ok((0..a.len()).map(|i| if a.is_null(i) { Value::Null } else { Value::String(f.value(i).to_string()) }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refused(sql: &str) -> String {
        check_read_only(sql, 1000).expect_err(sql).to_string()
    }

    #[test]
    fn only_one_read_only_query_passes() {
        for ok in [
            "SELECT 1",
            "select * from ratings where rating > 4 order by 1 limit 3",
            "WITH t AS (SELECT 1 AS a) SELECT a FROM t",
            "SELECT 1 UNION ALL SELECT 2",
            "EXPLAIN SELECT 1",
            "EXPLAIN ANALYZE SELECT 1",
            "VALUES (1), (2)",
            "SELECT 1;",
        ] {
            assert!(check_read_only(ok, 1000).is_ok(), "{ok}: {:?}", check_read_only(ok, 1000));
        }
        let not_ro = |sql: &str, what: &str| {
            assert_eq!(
                refused(sql),
                format!("only read-only queries (SELECT, WITH, EXPLAIN) are allowed; this is a {what} statement"),
                "{sql}"
            );
        };
        not_ro("INSERT INTO ratings VALUES (1, 2, 3.0, 4)", "INSERT");
        not_ro("DELETE FROM ratings", "DELETE");
        not_ro("UPDATE ratings SET rating = 5", "UPDATE");
        not_ro("CREATE TABLE t AS SELECT 1", "CREATE TABLE");
        not_ro("DROP TABLE ratings", "DROP TABLE");
        not_ro("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'", "CREATE EXTERNAL TABLE");
        not_ro("COPY ratings TO '/tmp/x.csv'", "COPY");
        not_ro("SET datafusion.execution.batch_size = 1", "SET");
        not_ro("EXPLAIN INSERT INTO ratings VALUES (1, 2, 3.0, 4)", "INSERT");
        assert_eq!(refused("SELECT 1; DROP TABLE ratings"), "2 statements given; the console runs exactly one query");
        assert_eq!(refused("   "), "the query is empty");
        assert!(refused("SELEC 1").starts_with("cannot parse the query: "), "{}", refused("SELEC 1"));
        assert_eq!(
            check_read_only(&"x".repeat(1001), 1000).expect_err("long").to_string(),
            "the query is 1001 bytes long; at most 1000 are accepted"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_with_row_and_time_limits() {
        let limits = Limits { sql_timeout: Duration::from_millis(300), sql_threads: 1, ..Limits::default() };
        let runner = SqlRunner::new(&limits).expect("runner");
        let ctx = runner.context().expect("context");
        let r = runner
            .run(&ctx, "SELECT a, a * 1.5 AS b, a > 1 AS c, 'x' || a AS d FROM (VALUES (1), (2), (NULL)) t(a)", 10)
            .await
            .expect("runs");
        assert_eq!(r.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["a", "b", "c", "d"]);
        assert_eq!(r.columns[0].data_type, "Int64");
        assert_eq!(r.rows[0], vec![json!(1), json!(1.5), json!(false), json!("x1")]);
        assert_eq!(r.rows[2], vec![json!(null), json!(null), json!(null), json!(null)]);
        assert!(!r.truncated);

        let r = runner.run(&ctx, "SELECT * FROM generate_series(1, 100000)", 7).await.expect("runs");
        assert_eq!((r.rows.len(), r.truncated), (7, true));
        let r = runner.run(&ctx, "SELECT * FROM generate_series(1, 7)", 7).await.expect("runs");
        assert_eq!((r.rows.len(), r.truncated), (7, false));

        let slow = "SELECT count(*) FROM generate_series(1, 100000) a CROSS JOIN generate_series(1, 100000) b \
                    CROSS JOIN generate_series(1, 1000) c";
        let started = Instant::now();
        let e = runner.run(&ctx, slow, 10).await.expect_err("too slow");
        assert!(matches!(e, SqlError::Timeout(_)), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5), "cancelled promptly: {:?}", started.elapsed());

        let e = runner.run(&ctx, "SELECT * FROM no_such_table", 10).await.expect_err("unknown table");
        assert!(matches!(e, SqlError::Failed(_)) && e.to_string().contains("no_such_table"), "{e}");
    }
}
