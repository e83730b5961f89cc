//! The steps of a feature run, in order, each one SQL file materialised to the warehouse.
//!
//! Every step goes through [`Session::materialise`]: plan the SQL on the caller's context,
//! write the result with [`Warehouse::write_dataframe`] (executed by the context itself, local
//! or Ballista) and register the written table back as `<run>.<step>` for the next steps.
//! Three small results are collected to the driver (the global statistics, one row; the genre
//! vocabulary; the names of the predefined splits), and one large one: the split's ratings with
//! their folds, which the `cf` step fits its collaborative-filtering models on in this process
//! ([`crate::cf`]).

use crate::error::{Error, Result};
use crate::run::{BASE_FEATURES, FeatureRun, GOOD_LABEL, GenreColumn, KEY_COLUMNS, LABEL, genre_columns};
use crate::spec::{FeatureSpec, Protocol, SplitSpec};
use crate::sql::{self, Params, Template};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Float64Type, Int64Type};
use datafusion::prelude::SessionContext;
use reelforest_core::Progress;
use reelforest_core::tables::{
    MOVIE_GENRES, MOVIE_META, MOVIES, PREDEFINED_SPLITS, RATINGS, RAW_NAMESPACE, TAGS, USERS,
};
use reelforest_warehouse::{TableManifest, Warehouse};
use std::time::Instant;

/// Steps of [`features`], for progress totals.
pub(crate) const FEATURE_STEPS: u64 = 16;

/// The caller's context, prepared for the pipeline, plus where results go.
pub(crate) struct Session<'a> {
    ctx: SessionContext,
    warehouse: &'a Warehouse,
    run: &'a str,
    progress: &'a dyn Progress,
}

impl<'a> Session<'a> {
    /// Derives the pipeline's context from the caller's: same catalog, functions, object
    /// stores and query planner (so a Ballista context stays a Ballista context), with output
    /// settings that keep each table in one ordered file and the spec's target partitions.
    pub(crate) fn new(
        ctx: &SessionContext,
        warehouse: &'a Warehouse,
        run: &'a str,
        spec: &FeatureSpec,
        progress: &'a dyn Progress,
    ) -> Result<Self> {
        let mut state = ctx.state();
        let options = state.config_mut().options_mut();
        let set = |options: &mut datafusion::config::ConfigOptions, key: &str, value: &str| {
            options.set(key, value).map_err(|source| Error::Query { step: "configure session".into(), source })
        };
        // One output file per table: with several, DataFusion deals batches round-robin over
        // the files and the stored row order would no longer be the query's ORDER BY.
        set(options, "datafusion.execution.minimum_parallel_output_files", "1")?;
        set(options, "datafusion.execution.soft_max_rows_per_output_file", &usize::MAX.to_string())?;
        if let Some(n) = spec.target_partitions {
            set(options, "datafusion.execution.target_partitions", &n.to_string())?;
        }
        Ok(Session { ctx: SessionContext::new_with_state(state), warehouse, run, progress })
    }

    /// `<run>.<step>`.
    pub(crate) fn qualified(&self, step: &str) -> String {
        format!("{}.{}", self.run, step)
    }

    /// Registers raw tables (unqualified) from the catalog.
    pub(crate) async fn register_raw(&self, tables: &[&str]) -> Result<()> {
        for table in tables {
            let step = format!("register {table}");
            let manifest = self
                .warehouse
                .manifest(RAW_NAMESPACE, table)
                .await
                .map_err(|source| Error::Warehouse { step: step.clone(), source })?;
            self.warehouse
                .register(&self.ctx, &manifest, table)
                .await
                .map_err(|source| Error::Warehouse { step, source })?;
        }
        Ok(())
    }

    /// Runs `sql`, writes the result as table `<run>.<step>` and registers it.
    pub(crate) async fn materialise(&self, step: &str, sql: String, description: &str) -> Result<TableManifest> {
        let started = Instant::now();
        tracing::debug!(run = self.run, step, %sql, "planning feature step");
        let df = self.ctx.sql(&sql).await.map_err(|source| Error::Query { step: step.to_string(), source })?;
        let manifest = self
            .warehouse
            .write_dataframe(self.run, step, df, description)
            .await
            .map_err(|source| Error::Warehouse { step: step.to_string(), source })?;
        // A previous run of the same name may be registered already.
        if let Some(schema) = self.ctx.catalog("datafusion").and_then(|c| c.schema(self.run)) {
            schema.deregister_table(step).map_err(|source| Error::Query { step: step.to_string(), source })?;
        }
        self.warehouse
            .register(&self.ctx, &manifest, &self.qualified(step))
            .await
            .map_err(|source| Error::Warehouse { step: step.to_string(), source })?;
        tracing::info!(
            run = self.run,
            step,
            rows = manifest.row_count,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "feature step written"
        );
        self.progress.advance(1);
        Ok(manifest)
    }

    /// Writes `batch`, computed in this process, as table `<run>.<step>` and registers it.
    pub(crate) async fn store(&self, step: &str, batch: &RecordBatch, description: &str) -> Result<TableManifest> {
        let wh = |source| Error::Warehouse { step: step.to_string(), source };
        let mut writer = self.warehouse.writer(self.run, step, batch.schema()).await.map_err(wh)?;
        writer.write(batch).await.map_err(wh)?;
        let manifest = writer.finish(description).await.map_err(wh)?;
        if let Some(schema) = self.ctx.catalog("datafusion").and_then(|c| c.schema(self.run)) {
            schema.deregister_table(step).map_err(|source| Error::Query { step: step.to_string(), source })?;
        }
        self.warehouse.register(&self.ctx, &manifest, &self.qualified(step)).await.map_err(wh)?;
        tracing::info!(run = self.run, step, rows = manifest.row_count, "feature step written");
        self.progress.advance(1);
        Ok(manifest)
    }

    /// Runs a query whose result is a handful of rows and collects it.
    pub(crate) async fn collect(&self, step: &str, sql: &str) -> Result<Vec<RecordBatch>> {
        let err = |source| Error::Query { step: step.to_string(), source };
        self.ctx.sql(sql).await.map_err(err)?.collect().await.map_err(err)
    }
}

/// Writes `<run>.split` according to `spec.split`. Returns its SQL name.
pub(crate) async fn make_split(s: &Session<'_>, spec: &FeatureSpec) -> Result<String> {
    let (sql, description) = match &spec.split {
        SplitSpec::Random { test_fraction } => {
            s.register_raw(&[RATINGS]).await?;
            let sql = Params::new()
                .int("seed", spec.seed as i64)
                .float("test_fraction", "split.test_fraction", *test_fraction)?
                .render(sql::SPLIT_RANDOM)?;
            (sql, format!("random split of ratings, test fraction {test_fraction}, seed {}", spec.seed))
        }
        SplitSpec::Temporal { test_fraction } => {
            s.register_raw(&[RATINGS]).await?;
            let sql = Params::new()
                .float("test_fraction", "split.test_fraction", *test_fraction)?
                .render(sql::SPLIT_TEMPORAL)?;
            (sql, format!("per-user temporal split of ratings, test fraction {test_fraction}"))
        }
        SplitSpec::Predefined { name } => {
            s.register_raw(&[RATINGS, PREDEFINED_SPLITS]).await?;
            let batches = s.collect("predefined split names", sql::PREDEFINED_NAMES.text).await?;
            let mut available = Vec::new();
            for b in &batches {
                let col = b.column(0).as_string_opt::<i32>().ok_or_else(|| Error::BadInput {
                    table: PREDEFINED_SPLITS.into(),
                    reason: "column split is not a string".into(),
                })?;
                available.extend((0..col.len()).filter(|&i| col.is_valid(i)).map(|i| col.value(i).to_string()));
            }
            if !available.iter().any(|a| a == name) {
                return Err(Error::UnknownSplit { name: name.clone(), available });
            }
            let sql = Params::new().string("name", name).render(sql::SPLIT_PREDEFINED)?;
            (sql, format!("predefined split {name} of the dataset"))
        }
    };
    s.materialise("split", sql, &description).await?;
    Ok(s.qualified("split"))
}

/// The global statistics of the rows that enter statistics.
struct Globals {
    mean: f64,
    var: f64,
}

/// Builds every feature table of a run from split table `split` (SQL name).
pub(crate) async fn features(s: &Session<'_>, split: &str, spec: &FeatureSpec) -> Result<FeatureRun> {
    check_split_schema(s, split).await?;
    s.register_raw(&[MOVIES, MOVIE_GENRES, USERS, TAGS, MOVIE_META]).await?;
    let honest = spec.protocol == Protocol::Honest;
    let rows = Params::new()
        .table("split", split)?
        .bool("honest", honest)
        .int("fold_seed", spec.fold_seed())
        .int("folds", i64::from(spec.folds))
        .render(sql::ROWS)?;
    let m = spec.prior_strength;
    let protocol = match spec.protocol {
        Protocol::Honest => format!("honest, {} out-of-fold folds", spec.folds),
        Protocol::Leaky => "LEAKY (all ratings, no out-of-fold)".to_string(),
    };

    // 1. Global statistics: the priors.
    let globals = global_stats(s, split, &rows).await?;
    s.progress.advance(1);
    let stats = |p: Params| -> Result<Params> {
        p.float("m", "prior_strength", m)?.float("mu", "global mean", globals.mean)?.float(
            "sigma",
            "global std",
            globals.var.sqrt(),
        )
    };

    // 2. Genre vocabulary and the per-movie / per-user static tables.
    s.materialise("genres", sql::GENRES.text.to_string(), "genre vocabulary of movie_genres").await?;
    let genres = genre_list(s).await?;
    let pivot: String = genres
        .iter()
        .enumerate()
        .map(|(i, g)| format!(",\n           max(CASE WHEN gl.idx = {i} THEN 1.0 ELSE 0.0 END) AS \"{}\"", g.column))
        .collect();
    let sql = Params::new()
        .table("genres", &s.qualified("genres"))?
        .fragment("genre_pivot", pivot)
        .fragment("genre_select", genre_select(&genres, "f"))
        .render(sql::MOVIE_STATIC)?;
    s.materialise("movie_static", sql, "per-movie year, director, tag count, genre flags").await?;
    s.materialise("user_static", sql::USER_STATIC.text.to_string(), "per-user demographics and tag count").await?;

    // 3. Out-of-fold statistics per entity.
    let oof: [(&str, Template, &[&str]); 5] = [
        ("user_oof", sql::KEYED_USER, &["user_id"]),
        ("movie_oof", sql::KEYED_MOVIE, &["movie_id"]),
        ("director_oof", sql::KEYED_DIRECTOR, &["director"]),
        ("occupation_oof", sql::KEYED_OCCUPATION, &["occupation"]),
        ("user_genre_oof", sql::KEYED_USER_GENRE, &["user_id", "genre"]),
    ];
    for (step, keyed, keys) in oof {
        let keyed_sql = Params::new()
            .fragment("rows", rows.clone())
            .table("movie_static", &s.qualified("movie_static"))?
            .table("user_static", &s.qualified("user_static"))?
            .render(keyed)?;
        let sql = Params::new()
            .fragment("keyed", keyed_sql)
            .fragment("keys", keys.join(", "))
            .fragment("p_keys", keys.iter().map(|k| format!("p.{k}")).collect::<Vec<_>>().join(", "))
            .fragment("key_join", keys.iter().map(|k| format!("p.{k} = t.{k}")).collect::<Vec<_>>().join(" AND "))
            .float("m", "prior_strength", m)?
            .float("mu", "global mean", globals.mean)?
            .float("var", "global variance", globals.var)?
            .render(sql::OOF_STATS)?;
        let description = format!("{} statistics by {} from {split}, {protocol}", step, keys.join(", "));
        s.materialise(step, sql, &description).await?;
    }

    // 4. Out-of-fold collaborative-filtering predictions (`<run>.cf`), joined like an extra table.
    let mut extra = spec.extra_feature_tables.clone();
    let cf_models = if spec.cf.kinds().is_empty() {
        s.progress.advance(1);
        None
    } else {
        let models = cf_step(s, &rows, spec, &protocol).await?;
        extra.insert(0, s.qualified(crate::cf::CF_TABLE));
        Some(std::sync::Arc::new(models))
    };

    // 5. The train and test tables.
    let (extra_columns, extra_joins, extra_names) = extra_tables(s, &extra, &genres).await?;
    let mut counts = [0u64; 2];
    for (i, (step, test_part)) in [("train", false), ("test", true)].into_iter().enumerate() {
        let mut p = Params::new()
            .fragment("rows", rows.clone())
            .bool("test_part", test_part)
            .float("good_threshold", "good_threshold", spec.good_threshold)?
            .fragment("genre_select", genre_select(&genres, "ms"))
            .fragment(
                "genre_columns",
                genres.iter().map(|g| format!(",\n       \"{}\"", g.column)).collect::<String>(),
            );
        for t in
            ["user_oof", "movie_oof", "director_oof", "occupation_oof", "user_genre_oof", "movie_static", "user_static"]
        {
            p = p.table(t, &s.qualified(t))?;
        }
        let core = stats(p)?.render(sql::ASSEMBLE)?;
        let sql = Params::new()
            .fragment("core", core)
            .fragment("extra_columns", extra_columns.clone())
            .fragment("extra_joins", extra_joins.clone())
            .render(sql::FINAL)?;
        let description = format!("{step} rows of {split} with features, {protocol}");
        counts[i] = s.materialise(step, sql, &description).await?.row_count;
    }

    // 6. Serving lookups (full-training values).
    let tables = |mut p: Params| -> Result<Params> {
        for t in
            ["user_oof", "movie_oof", "director_oof", "occupation_oof", "user_genre_oof", "movie_static", "user_static"]
        {
            p = p.table(t, &s.qualified(t))?;
        }
        Ok(p)
    };
    let online_users = s
        .materialise(
            "online_users",
            stats(tables(Params::new())?)?.render(sql::ONLINE_USERS)?,
            "per-user serving lookup",
        )
        .await?
        .row_count;
    let sql = stats(tables(Params::new().fragment("genre_select", genre_select(&genres, "ms")))?)?
        .render(sql::ONLINE_MOVIES)?;
    let online_movies = s.materialise("online_movies", sql, "per-movie serving lookup").await?.row_count;
    s.materialise(
        "online_user_genre",
        tables(Params::new())?.render(sql::ONLINE_USER_GENRE)?,
        "per-(user, genre) rating sums for the affinity feature",
    )
    .await?;

    // 7. The run's description.
    let mut feature_columns: Vec<String> = BASE_FEATURES.iter().map(|c| c.to_string()).collect();
    feature_columns.extend(genres.iter().map(|g| g.column.clone()));
    feature_columns.extend(extra_names);
    let run = FeatureRun {
        version: FeatureRun::VERSION,
        run: s.run.to_string(),
        spec: spec.clone(),
        split_table: split.to_string(),
        feature_columns,
        label: LABEL.to_string(),
        good_label: GOOD_LABEL.to_string(),
        global_mean: globals.mean,
        global_std: globals.var.sqrt(),
        genres,
        train_rows: counts[0],
        test_rows: counts[1],
        online_users,
        online_movies,
        cf_models,
    };
    run.save(s.warehouse).await?;
    s.progress.advance(1);
    tracing::info!(run = s.run, train = run.train_rows, test = run.test_rows, mu = run.global_mean, "feature run done");
    Ok(run)
}

/// Fits the CF models of every fold in this process and writes `<run>.cf` (see [`crate::cf`]).
/// Returns the serving models.
async fn cf_step(s: &Session<'_>, rows: &str, spec: &FeatureSpec, protocol: &str) -> Result<crate::cf::CfModels> {
    let started = Instant::now();
    let sql = format!("SELECT user_id, movie_id, rating, fold, stat_fold FROM ({rows}) r ORDER BY user_id, movie_id");
    let mut folded = crate::cf::FoldedRows::default();
    for batch in s.collect("cf rows", &sql).await? {
        folded.push(&batch)?;
    }
    let cf = spec.cf.clone();
    let out = tokio::task::spawn_blocking(move || crate::cf::out_of_fold(&folded, &cf)).await.map_err(|e| {
        Error::Query { step: "cf".into(), source: datafusion::error::DataFusionError::External(Box::new(e)) }
    })??;
    tracing::info!(run = s.run, elapsed_ms = started.elapsed().as_millis() as u64, "cf models fitted");
    let kinds: Vec<String> = spec.cf.kinds().iter().map(|k| format!("{k:?}").to_lowercase()).collect();
    let description = format!("out-of-fold collaborative-filtering predictions ({}), {protocol}", kinds.join(", "));
    s.store(crate::cf::CF_TABLE, &out.batch, &description).await?;
    Ok(out.models)
}

/// `, coalesce(<alias>."genre_x", 0.0) AS "genre_x"` for every genre.
fn genre_select(genres: &[GenreColumn], alias: &str) -> String {
    genres.iter().map(|g| format!(",\n           coalesce({alias}.\"{c}\", 0.0) AS \"{c}\"", c = g.column)).collect()
}

async fn check_split_schema(s: &Session<'_>, split: &str) -> Result<()> {
    let df = s.ctx.table(split).await.map_err(|source| Error::Query { step: format!("read {split}"), source })?;
    let schema = df.schema();
    let missing: Vec<&str> = ["user_id", "movie_id", "rating", "timestamp", "is_test"]
        .into_iter()
        .filter(|c| schema.field_with_unqualified_name(c).is_err())
        .collect();
    if !missing.is_empty() {
        return Err(Error::BadInput {
            table: split.to_string(),
            reason: format!(
                "missing column(s) {} (a split has user_id, movie_id, rating, timestamp, is_test)",
                missing.join(", ")
            ),
        });
    }
    Ok(())
}

async fn global_stats(s: &Session<'_>, split: &str, rows: &str) -> Result<Globals> {
    let sql = Params::new().fragment("rows", rows.to_string()).render(sql::GLOBAL_STATS)?;
    let batches = s.collect("global statistics", &sql).await?;
    let batch =
        batches.iter().find(|b| b.num_rows() > 0).ok_or_else(|| Error::EmptyTraining { table: split.into() })?;
    let f = |i: usize| batch.column(i).as_primitive_opt::<Float64Type>().filter(|a| a.is_valid(0)).map(|a| a.value(0));
    let n = |i: usize| batch.column(i).as_primitive_opt::<Int64Type>().map_or(0, |a| a.value(0));
    let n_stat = n(2);
    let (Some(sum), Some(sum_sq)) = (f(0), f(1)) else {
        return Err(Error::EmptyTraining { table: split.into() });
    };
    if n_stat == 0 {
        return Err(Error::EmptyTraining { table: split.into() });
    }
    let mean = sum / n_stat as f64;
    let var = (sum_sq / n_stat as f64 - mean * mean).max(0.0);
    tracing::info!(split, mean, std = var.sqrt(), n_stat, n_train = n(3), n_test = n(4), "global statistics");
    Ok(Globals { mean, var })
}

async fn genre_list(s: &Session<'_>) -> Result<Vec<GenreColumn>> {
    let sql = format!("SELECT genre FROM {} ORDER BY idx", sql::quote_table(&s.qualified("genres"))?);
    let mut genres = Vec::new();
    for b in s.collect("genres", &sql).await? {
        let col = b.column(0).as_string_opt::<i32>().ok_or_else(|| Error::BadInput {
            table: MOVIE_GENRES.into(),
            reason: "column genre is not a string".into(),
        })?;
        genres.extend((0..col.len()).filter(|&i| col.is_valid(i)).map(|i| col.value(i).to_string()));
    }
    Ok(genre_columns(&genres))
}

/// Column list, join clauses and feature names of the spec's extra feature tables.
async fn extra_tables(
    s: &Session<'_>,
    tables: &[String],
    genres: &[GenreColumn],
) -> Result<(String, String, Vec<String>)> {
    let mut taken: Vec<String> = KEY_COLUMNS.iter().chain(BASE_FEATURES.iter()).map(|c| c.to_string()).collect();
    taken.push(LABEL.into());
    taken.push(GOOD_LABEL.into());
    taken.extend(genres.iter().map(|g| g.column.clone()));
    let (mut columns, mut joins, mut names) = (String::new(), String::new(), Vec::new());
    for (i, table) in tables.iter().enumerate() {
        let df = s
            .ctx
            .table(table.as_str())
            .await
            .map_err(|source| Error::Query { step: format!("read {table}"), source })?;
        let fields: Vec<String> = df.schema().fields().iter().map(|f| f.name().clone()).collect();
        for key in KEY_COLUMNS {
            if !fields.iter().any(|f| f == key) {
                return Err(Error::BadInput {
                    table: table.clone(),
                    reason: format!("extra feature table has no {key} column"),
                });
            }
        }
        for f in fields.iter().filter(|f| !KEY_COLUMNS.contains(&f.as_str())) {
            let quoted = sql::quote_ident("extra feature column", f)?;
            if taken.contains(f) {
                return Err(Error::BadInput {
                    table: table.clone(),
                    reason: format!("column {f} is already a feature"),
                });
            }
            taken.push(f.clone());
            names.push(f.clone());
            columns.push_str(&format!(",\n       CAST(x{i}.{quoted} AS DOUBLE) AS {quoted}"));
        }
        joins.push_str(&format!(
            "\nLEFT JOIN {} x{i} ON x{i}.user_id = c.user_id AND x{i}.movie_id = c.movie_id",
            sql::quote_table(table)?
        ));
    }
    Ok((columns, joins, names))
}
