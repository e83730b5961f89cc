//! Feature tables from the warehouse as in-memory columns for the tree engine.

use crate::{Error, Result};
use datafusion::arrow::array::{Array, Float64Array, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use reelforest_features::FeatureRun;

/// One feature table (`<run>.train` or `<run>.test`) in column-major form.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// Feature names, in column order.
    pub feature_names: Vec<String>,
    /// One vector per feature, NaN for NULL.
    pub columns: Vec<Vec<f64>>,
    /// The star rating.
    pub rating: Vec<f64>,
    /// 1.0 when good, else 0.0.
    pub good: Vec<f64>,
    /// Row keys.
    pub user_id: Vec<i64>,
    /// Row keys.
    pub movie_id: Vec<i64>,
}

impl Dataset {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rating.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rating.is_empty()
    }

    /// Reads table `sql_name` (registered in `ctx`) with the run's feature columns.
    pub async fn load(ctx: &SessionContext, sql_name: &str, run: &FeatureRun) -> Result<Self> {
        let quote = |c: &str| format!("\"{}\"", c.replace('"', "\"\""));
        let mut cols = vec!["user_id".to_string(), "movie_id".to_string(), quote(&run.label), quote(&run.good_label)];
        cols.extend(run.feature_columns.iter().map(|c| quote(c)));
        let sql = format!("SELECT {} FROM {sql_name} ORDER BY user_id, movie_id", cols.join(", "));
        // Stream the batches: each is copied into the columns and dropped, so the table is never
        // held twice (Arrow batches and f64 columns) at once.
        let mut stream = ctx
            .sql(&sql)
            .await
            .map_err(|source| Error::Query { what: sql_name.to_string(), source })?
            .execute_stream()
            .await
            .map_err(|source| Error::Query { what: sql_name.to_string(), source })?;
        let n_features = run.feature_columns.len();
        let mut ds = Dataset {
            feature_names: run.feature_columns.clone(),
            columns: vec![Vec::new(); n_features],
            ..Dataset::default()
        };
        while let Some(b) = stream.next().await {
            let b = b.map_err(|source| Error::Query { what: sql_name.to_string(), source })?;
            ds.user_id.extend(ints(b.column(0), sql_name, "user_id")?);
            ds.movie_id.extend(ints(b.column(1), sql_name, "movie_id")?);
            ds.rating.extend(floats(b.column(2), sql_name, &run.label)?);
            ds.good.extend(floats(b.column(3), sql_name, &run.good_label)?);
            for (j, col) in ds.columns.iter_mut().enumerate() {
                col.extend(floats(b.column(4 + j), sql_name, &run.feature_columns[j])?);
            }
        }
        // Growth by doubling leaves up to half of each column unused; the table stays in memory
        // through training and scoring.
        for col in &mut ds.columns {
            col.shrink_to_fit();
        }
        for v in [&mut ds.rating, &mut ds.good] {
            v.shrink_to_fit();
        }
        ds.user_id.shrink_to_fit();
        ds.movie_id.shrink_to_fit();
        Ok(ds)
    }
}

fn floats(a: &dyn Array, table: &str, column: &str) -> Result<Vec<f64>> {
    let a = cast(a, &DataType::Float64).map_err(|source| Error::Cast {
        table: table.to_string(),
        column: column.to_string(),
        source,
    })?;
    let a = a.as_any().downcast_ref::<Float64Array>().ok_or_else(|| Error::Column {
        table: table.to_string(),
        column: column.to_string(),
        reason: "not numeric".into(),
    })?;
    Ok((0..a.len()).map(|i| if a.is_null(i) { f64::NAN } else { a.value(i) }).collect())
}

fn ints(a: &dyn Array, table: &str, column: &str) -> Result<Vec<i64>> {
    let a = a.as_any().downcast_ref::<Int64Array>().ok_or_else(|| Error::Column {
        table: table.to_string(),
        column: column.to_string(),
        reason: "not BIGINT".into(),
    })?;
    Ok(a.values().to_vec())
}
