//! Shared server state: [`AppState`] (cheap to clone, one per request) and the swappable
//! [`Served`] bundle of everything derived from one model version.
//!
//! A handler calls [`AppState::served`] once and uses that `Arc` to the end, so a model swap
//! in the middle of a request never mixes two versions and never drops the request.

use crate::analysis::Analysis;
use crate::cluster::ClusterSource;
use crate::config::ServeConfig;
use crate::data::DataSnapshot;
use crate::explain::Explainer;
use crate::reload::ReloadStatus;
use crate::sql::SqlRunner;
use crate::{Error, Result};
use arc_swap::ArcSwap;
use datafusion::prelude::SessionContext;
use reelforest_pipeline::model::Model;
use reelforest_pipeline::predict::Predictor;
use reelforest_warehouse::Warehouse;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::OnceCell;

/// Everything served from one model version; replaced whole by a reload.
pub struct Served {
    /// Feature rows (and the model).
    pub predictor: Predictor,
    /// Titles, seen movies, overview statistics.
    pub data: DataSnapshot,
    /// The SQL console's context: every catalog table plus reelforest's functions.
    pub sql: SessionContext,
    /// When the bundle was loaded, Unix milliseconds.
    pub loaded_at_unix_ms: i64,
    analysis: OnceCell<Arc<Analysis>>,
}

impl std::fmt::Debug for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Served")
            .field("model", &self.model().path)
            .field("movies", &self.data.movies().len())
            .field("loaded_at_unix_ms", &self.loaded_at_unix_ms)
            .finish_non_exhaustive()
    }
}

impl Served {
    /// Loads version `version` (newest when `None`) of `model`, its online tables, the raw
    /// tables' snapshot, and registers every table in `sql` (a context from
    /// [`SqlRunner::context`]).
    pub async fn load(warehouse: &Warehouse, model: &str, version: Option<u64>, sql: SessionContext) -> Result<Self> {
        let predictor = Predictor::load(warehouse, model, version).await?;
        reelforest_features::register_functions(&sql);
        warehouse.register_all(&sql).await?;
        let data = DataSnapshot::load(&sql).await?;
        Ok(Served { predictor, data, sql, loaded_at_unix_ms: now_unix_ms(), analysis: OnceCell::new() })
    }

    /// The served model.
    pub fn model(&self) -> &Model {
        self.predictor.model()
    }

    /// Predictions with contributions from the model's forests.
    pub fn explainer(&self) -> Explainer<'_> {
        Explainer::new(self.predictor.model())
    }

    /// The test-split evaluation of the model, computed on first use.
    pub async fn analysis(&self, warehouse: &Warehouse) -> Arc<Analysis> {
        self.analysis
            .get_or_init(|| async {
                let model = self.model().clone();
                Arc::new(Analysis::compute(warehouse, &model).await.unwrap_or_else(|e| Analysis::unavailable(&e)))
            })
            .await
            .clone()
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[derive(Debug)]
struct Inner {
    config: ServeConfig,
    warehouse: Warehouse,
    served: ArcSwap<Served>,
    status: tokio::sync::watch::Sender<ReloadStatus>,
    reload_lock: tokio::sync::Mutex<()>,
    sql: SqlRunner,
    cluster: Arc<dyn ClusterSource>,
    started: Instant,
}

/// The server's state, shared by every request.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

impl AppState {
    /// Checks `config`, opens the warehouse and loads the newest version of the model.
    pub async fn load(config: ServeConfig, cluster: Arc<dyn ClusterSource>) -> Result<Self> {
        config.validate()?;
        let warehouse = Warehouse::open(&config.warehouse)?;
        let sql = SqlRunner::new(&config.limits)?;
        let served = Served::load(&warehouse, &config.model, None, sql.context()?).await?;
        Ok(AppState {
            inner: Arc::new(Inner {
                config,
                warehouse,
                served: ArcSwap::from_pointee(served),
                status: tokio::sync::watch::Sender::new(ReloadStatus::default()),
                reload_lock: tokio::sync::Mutex::new(()),
                sql,
                cluster,
                started: Instant::now(),
            }),
        })
    }

    /// The bundle to answer one request with.
    pub fn served(&self) -> Arc<Served> {
        self.inner.served.load_full()
    }

    /// The configuration.
    pub fn config(&self) -> &ServeConfig {
        &self.inner.config
    }

    /// The warehouse.
    pub fn warehouse(&self) -> &Warehouse {
        &self.inner.warehouse
    }

    /// The SQL console's runner.
    pub fn sql(&self) -> &SqlRunner {
        &self.inner.sql
    }

    /// Where the cluster's state comes from.
    pub fn cluster(&self) -> &Arc<dyn ClusterSource> {
        &self.inner.cluster
    }

    /// Seconds since the server started.
    pub fn uptime_seconds(&self) -> f64 {
        self.inner.started.elapsed().as_secs_f64()
    }

    /// What the reloader did last.
    pub fn reload_status(&self) -> ReloadStatus {
        self.inner.status.borrow().clone()
    }

    /// The reload status now and after every check (for tests and monitors that wait on it).
    pub fn subscribe_reload_status(&self) -> tokio::sync::watch::Receiver<ReloadStatus> {
        self.inner.status.subscribe()
    }

    pub(crate) fn update_status(&self, f: impl FnOnce(&mut ReloadStatus)) {
        self.inner.status.send_modify(f);
    }

    pub(crate) fn reload_lock(&self) -> &tokio::sync::Mutex<()> {
        &self.inner.reload_lock
    }

    /// Loads `version` of the served model into a new bundle, without serving it yet.
    pub(crate) async fn load_version(&self, version: u64) -> Result<Served> {
        let ctx = self.inner.sql.context()?;
        let served = Served::load(&self.inner.warehouse, &self.inner.config.model, Some(version), ctx).await?;
        if served.model().version() != version {
            return Err(Error::Config { field: "model", reason: format!("asked for version {version}") });
        }
        Ok(served)
    }

    /// Serves `served` from now on and records it in the reload status, as one step for anyone
    /// who reads the model and then the status (as `/api/health` does): the pointer is stored
    /// while the status is locked for writing, so a reader that saw the new model and then asks
    /// for the status waits for the update and sees it counted.
    pub(crate) fn swap_in(&self, served: Served, f: impl FnOnce(&mut ReloadStatus)) {
        self.inner.status.send_modify(|s| {
            self.inner.served.store(Arc::new(served));
            f(s);
        });
    }
}
