//! The embedded run: the whole job in one process, with the same library code the cluster
//! runs: generate (optional) → ingest → features → tuning → training → evaluation → leakage
//! audit → model + report.

use crate::dataset::Dataset;
use crate::estimator::Estimator;
use crate::report::{AuditEntry, CfAlone, GridResult, Report, TaskReport};
use crate::spec::{JobSpec, SpecError, TaskKind, TuningMethod};
use crate::train::{self, EvalRequest, FitRequest, LocalTrainer, TableRef, Trainer};
use crate::{Error, Result, model, tuning};
use datafusion::prelude::SessionContext;
use reelforest_core::{Progress, Stage};
use reelforest_data::{IngestOptions, SynthOptions};
use reelforest_features::{FeatureRun, FeatureSpec, Protocol};
use reelforest_tree::Forest;
use reelforest_warehouse::Warehouse;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where an embedded run reads and writes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Output directory: `report.json`, generated data, and the default warehouse.
    pub out: PathBuf,
    /// Overrides the job's data source with this directory.
    pub data: Option<PathBuf>,
    /// Warehouse location; `<out>/warehouse` when `None`.
    pub warehouse: Option<String>,
}

/// Runs `spec` end to end and returns the report (also written to `<out>/report.json`).
pub async fn run_job(spec: &JobSpec, opts: &RunOptions, progress: &dyn Progress) -> Result<Report> {
    run_job_with(spec, opts, progress, &LocalTrainer, SessionContext::new()).await
}

/// [`run_job`] with the fits done by `trainer` and the SQL run in `ctx` (the cluster passes
/// its coordinator's trainer and, when configured, a Ballista context).
pub async fn run_job_with(
    spec: &JobSpec,
    opts: &RunOptions,
    progress: &dyn Progress,
    trainer: &dyn Trainer,
    ctx: SessionContext,
) -> Result<Report> {
    let started = Instant::now();
    progress.stage(Stage::Preprocess);
    std::fs::create_dir_all(&opts.out).map_err(|source| Error::Io { path: opts.out.clone(), source })?;
    let wh_location = opts.warehouse.clone().unwrap_or_else(|| opts.out.join("warehouse").display().to_string());
    let warehouse = Warehouse::open(&wh_location)?;
    let mut timings = Vec::new();
    let mut peaks = crate::memory::StagePeaks::start();

    // 1. Data: generated or given, then ingested.
    let t = Instant::now();
    let data_dir = match (&opts.data, spec.data.is_synth()) {
        (Some(d), _) => d.clone(),
        (None, false) => PathBuf::from(&spec.data.source),
        (None, true) => {
            let dir = opts.out.join("data");
            progress.begin("generate data", None);
            let summary = reelforest_data::synth(
                &SynthOptions {
                    ratings: spec.data.synth.ratings,
                    seed: spec.data.synth.seed,
                    ..SynthOptions::default()
                },
                &dir,
            );
            progress.end();
            tracing::info!(?summary, "generated data");
            summary?;
            dir
        }
    };
    let ingest_opts = IngestOptions {
        format: spec.data.format.as_deref().map(str::parse).transpose().map_err(
            |e: reelforest_core::UnknownFormat| Error::Spec {
                origin: "job".into(),
                error: SpecError::new("data.format", e.to_string()),
            },
        )?,
        metadata: spec.data.metadata.clone(),
        strict: false,
    };
    let ingest = reelforest_data::ingest(&data_dir, &ingest_opts, &warehouse, progress).await?;
    timings.push(("ingest".to_string(), t.elapsed().as_secs_f64()));
    peaks.mark("ingest");

    // 2. Honest features.
    let t = Instant::now();
    warehouse.register_all(&ctx).await?;
    let honest = reelforest_features::build_features(&ctx, &warehouse, "honest", &spec.features, progress).await?;
    warehouse.register_all(&ctx).await?;
    let recommendations =
        crate::ranking::write_recommendations(&warehouse, &honest, spec.ranking.recommend as usize).await?;
    if !recommendations.is_empty() {
        tracing::info!(tables = ?recommendations, "ALS recommendations written");
    }
    let train_ds = Dataset::load(&ctx, "honest.train", &honest).await?;
    let test_ds = Dataset::load(&ctx, "honest.test", &honest).await?;
    timings.push(("features".to_string(), t.elapsed().as_secs_f64()));
    peaks.mark("features");

    // 3. Tuning (fold-honest), one best configuration per task.
    let t = Instant::now();
    progress.stage(Stage::Train);
    let (best, grid_results) = match &spec.tuning {
        None => (spec.tasks.iter().map(|t| (*t, spec.model.clone())).collect::<Vec<_>>(), Vec::new()),
        Some(_) => tune(&ctx, &warehouse, spec, &honest, progress, trainer).await?,
    };
    timings.push(("tuning".to_string(), t.elapsed().as_secs_f64()));
    peaks.mark("tuning");

    // 4. Final fits on the whole training split, scored on the test split.
    let t = Instant::now();
    let mut tasks = Vec::new();
    let mut forests = Vec::new();
    let mut bins = train::BinCache::new(&train_ds);
    let honest_table = TableRef { sql_name: "honest.train".into(), run: honest.clone() };
    let mut fitted = Vec::new();
    for (task, cfg) in &best {
        let binned = bins.get(cfg)?;
        let fit_started = Instant::now();
        let cpu_started = cpu_time::ProcessTime::try_now().ok();
        let req = FitRequest { binned, data: &train_ds, table: &honest_table, cfg, task: *task };
        let forest = fit_step(trainer, req, progress, &format!("train {}", task.as_str()))?;
        let cpu = cpu_started
            .filter(|_| trainer.builds_in_process())
            .and_then(|c| c.try_elapsed().ok())
            .map(|d| d.as_secs_f64());
        fitted.push((*task, cfg, forest, fit_started.elapsed().as_secs_f64(), cpu));
    }
    progress.stage(Stage::Evaluate);
    let honest_test = TableRef { sql_name: "honest.test".into(), run: honest.clone() };
    let cf_alone = CfAlone::score_all(&test_ds);
    for (task, cfg, forest, fit_seconds, fit_cpu_seconds) in fitted {
        let binned = bins.get(cfg)?;
        let test = trainer.evaluate(&forest, EvalRequest { data: &test_ds, table: &honest_test, task })?.metrics();
        let train_metrics =
            trainer.evaluate(&forest, EvalRequest { data: &train_ds, table: &honest_table, task })?.metrics();
        let oob = forest.oob_error(binned, train::labels(&train_ds, task), None)?;
        let mut importances: Vec<(String, f64)> =
            honest.feature_columns.iter().cloned().zip(forest.feature_importances()).collect();
        importances.sort_by(|a, b| b.1.total_cmp(&a.1));
        tasks.push(TaskReport {
            task,
            params: cfg.clone(),
            test,
            train: train_metrics,
            cv: grid_results.iter().filter(|g| g.task == task && g.params == *cfg).map(|g| g.mean).next(),
            oob_error: oob.error,
            fit_seconds,
            fit_cpu_seconds,
            total_num_nodes: forest.total_num_nodes() as u64,
            feature_importances: importances,
            forest_sha256: hex_sha256(&forest.to_bytes()),
        });
        forests.push((task, forest, binned.mapper().clone()));
    }
    timings.push(("train+evaluate".to_string(), t.elapsed().as_secs_f64()));
    peaks.mark("train+evaluate");
    // The tables and bins are done with: free them before the audit and the model file.
    drop(bins);
    drop((train_ds, test_ds));

    // 5. Leakage audit: the same parameters on leaky features.
    let t = Instant::now();
    let mut audit = Vec::new();
    if spec.audit.leaky {
        let leaky_spec = FeatureSpec { protocol: Protocol::Leaky, ..spec.features.clone() };
        let leaky = reelforest_features::build_features(&ctx, &warehouse, "leaky", &leaky_spec, progress).await?;
        warehouse.register_all(&ctx).await?;
        let ltrain = Dataset::load(&ctx, "leaky.train", &leaky).await?;
        let ltest = Dataset::load(&ctx, "leaky.test", &leaky).await?;
        let mut bins = train::BinCache::new(&ltrain);
        let leaky_table = TableRef { sql_name: "leaky.train".into(), run: leaky.clone() };
        let leaky_test = TableRef { sql_name: "leaky.test".into(), run: leaky.clone() };
        for (task, cfg) in &best {
            let req = FitRequest { binned: bins.get(cfg)?, data: &ltrain, table: &leaky_table, cfg, task: *task };
            let forest = fit_step(trainer, req, progress, &format!("audit {}", task.as_str()))?;
            let leaky_metrics =
                trainer.evaluate(&forest, EvalRequest { data: &ltest, table: &leaky_test, task: *task })?.metrics();
            let honest_metrics = tasks
                .iter()
                .find(|r| r.task == *task)
                .map(|r| r.test.clone())
                .ok_or_else(|| Error::Internal("audit task without honest model"))?;
            audit.push(AuditEntry { task: *task, honest: honest_metrics, leaky: leaky_metrics });
        }
    }
    timings.push(("leakage audit".to_string(), t.elapsed().as_secs_f64()));
    peaks.mark("leakage audit");

    // 6. Model and report.
    progress.stage(Stage::Publish);
    let version = model::save(&warehouse, spec, &honest, forests, &tasks).await?;
    let ranking = if spec.ranking.users > 0 {
        let t = Instant::now();
        let data = ranking_data(&ctx, &honest).await?;
        let predictor = crate::predict::Predictor::load(&warehouse, &spec.name, Some(version)).await?;
        let cfg = spec.ranking.clone();
        let seed = honest.spec.seed;
        let out = tokio::task::spawn_blocking(move || crate::ranking::evaluate(&predictor, &data, &cfg, seed))
            .await
            .map_err(|_| Error::Internal("ranking evaluation panicked"))??;
        timings.push(("ranking".to_string(), t.elapsed().as_secs_f64()));
        out
    } else {
        Vec::new()
    };
    let report = Report {
        job: spec.name.clone(),
        model_version: version,
        warehouse: warehouse.root().to_string(),
        data: data_dir.display().to_string(),
        ingest_rows: ingest.rows(reelforest_core::tables::RATINGS),
        ingest_rejected: ingest.total_rejected,
        features: honest.clone(),
        tasks,
        grid: grid_results,
        audit,
        cf_alone,
        ranking,
        timings,
        stage_peak_rss_mib: peaks.into_peaks(),
        total_seconds: started.elapsed().as_secs_f64(),
    };
    write_report(&opts.out, &report)?;
    Ok(report)
}

/// The split's ratings as the ranking evaluation reads them.
async fn ranking_data(ctx: &SessionContext, run: &FeatureRun) -> Result<crate::ranking::RankingData> {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::{Float64Type, Int64Type};
    let table = &run.split_table;
    let sql = format!(
        "SELECT CAST(user_id AS BIGINT), CAST(movie_id AS BIGINT), CAST(rating AS DOUBLE), is_test, \
         CAST(\"timestamp\" AS BIGINT) FROM {table}"
    );
    let err = |source| Error::Query { what: table.clone(), source };
    let batches = ctx.sql(&sql).await.map_err(err)?.collect().await.map_err(err)?;
    let mut data = crate::ranking::RankingData::default();
    for b in &batches {
        let bad = || Error::Internal("split table columns have unexpected types");
        let (u, m) = (
            b.column(0).as_primitive_opt::<Int64Type>().ok_or_else(bad)?,
            b.column(1).as_primitive_opt::<Int64Type>().ok_or_else(bad)?,
        );
        let r = b.column(2).as_primitive_opt::<Float64Type>().ok_or_else(bad)?;
        let test = b.column(3).as_boolean_opt().ok_or_else(bad)?;
        let ts = b.column(4).as_primitive_opt::<Int64Type>().ok_or_else(bad)?;
        for i in 0..b.num_rows() {
            data.add(u.value(i), m.value(i), r.value(i), test.value(i), ts.value(i), run.spec.good_threshold);
        }
    }
    Ok(data)
}

/// One fit as its own progress step (trees as units).
fn fit_step(trainer: &dyn Trainer, req: FitRequest<'_>, progress: &dyn Progress, label: &str) -> Result<Forest> {
    progress.begin(label, Some(req.cfg.work_units()));
    let forest = trainer.fit(req, progress);
    progress.end();
    forest
}

/// Lowercase hex SHA-256 (the report's forest fingerprints).
fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn write_report(out: &Path, report: &Report) -> Result<()> {
    let path = out.join("report.json");
    let json = serde_json::to_vec_pretty(report)
        .map_err(|e| Error::Io { path: path.clone(), source: std::io::Error::other(e) })?;
    std::fs::write(&path, json).map_err(|source| Error::Io { path, source })
}

/// Fold-honest search: each fold is a new split of the honest training rows and the feature
/// pipeline runs again on it (once per fold, shared by both tasks); every grid point is fitted
/// on the fold's training features and scored on its validation features. Returns the best
/// configuration per task and every grid point's mean metric.
async fn tune(
    ctx: &SessionContext,
    warehouse: &Warehouse,
    spec: &JobSpec,
    honest: &FeatureRun,
    progress: &dyn Progress,
    trainer: &dyn Trainer,
) -> Result<(Vec<(TaskKind, Estimator)>, Vec<GridResult>)> {
    let Some(tc) = &spec.tuning else {
        return Ok((spec.tasks.iter().map(|t| (*t, spec.model.clone())).collect(), Vec::new()));
    };
    let metric_of = |task: TaskKind| {
        tc.metric.clone().unwrap_or_else(|| match task {
            TaskKind::Regression => "rmse".into(),
            TaskKind::Classification => "auc".into(),
        })
    };
    let points =
        tuning::expand_grid(&spec.model, &tc.grid).map_err(|error| Error::Spec { origin: "job".into(), error })?;
    let folds = match tc.method {
        TuningMethod::CrossValidation => tc.num_folds,
        TuningMethod::TrainValidationSplit => 1,
    };
    // scores[task][point] = one value per fold
    let mut scores = vec![vec![Vec::new(); points.len()]; spec.tasks.len()];
    for k in 0..folds {
        let run = format!("cv{k}");
        let fold = fold_features(ctx, warehouse, spec, honest, &run, k, progress).await?;
        let ftrain = Dataset::load(ctx, &format!("{run}.train"), &fold).await?;
        let fvalid = Dataset::load(ctx, &format!("{run}.test"), &fold).await?;
        let mut bins = train::BinCache::new(&ftrain);
        let table = TableRef { sql_name: format!("{run}.train"), run: fold.clone() };
        let table = &table;
        let valid_table = TableRef { sql_name: format!("{run}.test"), run: fold.clone() };
        for cfg in &points {
            bins.get(cfg)?;
        }
        let bins = &bins;
        // Spark's `parallelism`: up to that many grid points are fitted at once (each fit's trees
        // still spread over the whole thread pool); results do not depend on it.
        let batch = tc.parallelism.max(1) as usize;
        for (ti, &task) in spec.tasks.iter().enumerate() {
            let metric = metric_of(task);
            for (bi, chunk) in points.chunks(batch).enumerate() {
                let first = bi * batch;
                let label = if chunk.len() == 1 {
                    format!("cv {} fold {}/{folds} point {}/{}", task.as_str(), k + 1, first + 1, points.len())
                } else {
                    let last = first + chunk.len();
                    format!("cv {} fold {}/{folds} points {}-{last}/{}", task.as_str(), k + 1, first + 1, points.len())
                };
                progress.begin(&label, Some(chunk.iter().map(Estimator::work_units).sum()));
                let fitted: Vec<Result<Forest>> = std::thread::scope(|s| {
                    let handles: Vec<_> = chunk
                        .iter()
                        .map(|cfg| {
                            let ftrain = &ftrain;
                            s.spawn(move || {
                                let binned = bins.cached(cfg).ok_or(Error::Internal("grid point was not binned"))?;
                                trainer.fit(FitRequest { binned, data: ftrain, table, cfg, task }, progress)
                            })
                        })
                        .collect();
                    handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
                });
                progress.end();
                for (j, forest) in fitted.into_iter().enumerate() {
                    let req = EvalRequest { data: &fvalid, table: &valid_table, task };
                    let m = trainer.evaluate(&forest?, req)?.metrics();
                    let (v, _) = m.get(&metric).ok_or_else(|| Error::Spec {
                        origin: "job".into(),
                        error: SpecError::new(
                            "tuning.metric",
                            format!("{metric:?} does not apply to {}", task.as_str()),
                        ),
                    })?;
                    scores[ti][first + j].push(v);
                }
            }
        }
    }
    let mut results = Vec::new();
    let mut best = Vec::new();
    for (ti, &task) in spec.tasks.iter().enumerate() {
        let metric = metric_of(task);
        let larger_better = matches!(metric.as_str(), "r2" | "auc" | "pr_auc" | "accuracy" | "f1");
        let mut chosen: Option<(usize, f64)> = None;
        for (i, cfg) in points.iter().enumerate() {
            let vals = &scores[ti][i];
            let mean = vals.iter().sum::<f64>() / vals.len() as f64;
            let better = match chosen {
                None => true,
                Some((_, b)) => {
                    if larger_better {
                        mean > b
                    } else {
                        mean < b
                    }
                }
            };
            if better {
                chosen = Some((i, mean));
            }
            results.push(GridResult {
                task,
                params: cfg.clone(),
                label: tuning::describe(cfg, &tc.grid),
                metric: metric.clone(),
                mean,
                folds: vals.clone(),
            });
        }
        let (bi, _) = chosen
            .ok_or_else(|| Error::Spec { origin: "job".into(), error: SpecError::new("tuning.grid", "empty") })?;
        best.push((task, points[bi].clone()));
    }
    Ok((best, results))
}

/// Features of tuning fold `k`: the honest training rows re-split (by hash of user, movie and
/// the tuning seed) into the fold's training and validation parts; aggregates recomputed from
/// the fold's training part only.
async fn fold_features(
    ctx: &SessionContext,
    warehouse: &Warehouse,
    spec: &JobSpec,
    honest: &FeatureRun,
    run: &str,
    k: u32,
    progress: &dyn Progress,
) -> Result<FeatureRun> {
    let Some(tc) = &spec.tuning else { return Ok(honest.clone()) };
    let is_valid = match tc.method {
        TuningMethod::CrossValidation => {
            format!("floor(rf_bucket(user_id, movie_id, {}) * {}) = {k}", tc.seed as i64, tc.num_folds)
        }
        TuningMethod::TrainValidationSplit => {
            format!("rf_bucket(user_id, movie_id, {}) >= {:?}", tc.seed as i64, tc.train_ratio)
        }
    };
    let sql = format!(
        "SELECT user_id, movie_id, rating, \"timestamp\", {is_valid} AS is_test FROM {}.split WHERE NOT is_test",
        honest.run
    );
    let df = ctx.sql(&sql).await.map_err(|source| Error::Query { what: format!("{run}.split"), source })?;
    let m = warehouse.write_dataframe(run, "split", df, "tuning fold of the honest training rows").await?;
    warehouse.register(ctx, &m, &m.sql_name()).await?;
    let fold =
        reelforest_features::build_features_from_split(ctx, warehouse, run, &m.sql_name(), &spec.features, progress)
            .await?;
    warehouse.register_all(ctx).await?;
    Ok(fold)
}
