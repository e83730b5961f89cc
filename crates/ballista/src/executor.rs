//! `reelforest executor`: Ballista's executor library with our functions, object stores and a
//! small HTTP health server.
//!
//! [`ExecutorOptions`] is the checked configuration. [`Executor::bind`] opens the health
//! port first (so `--health-port 0` works), then [`Executor::run`] starts Ballista's executor
//! process: it connects to the scheduler (retrying for `scheduler_connect_timeout`), registers,
//! serves Arrow Flight (shuffle and result fetches) on `flight_port`, and polls the scheduler
//! for tasks (pull-staged scheduling, see the crate docs), the polls doubling as heartbeats. The
//! executor gRPC service on `grpc_port` (task launches) belongs to push-staged scheduling: the
//! port is still validated and advertised, but nothing listens on it under pull-staged.
//!
//! Health (HTTP on `health_port`, the same routes as Ballista's own executor binary):
//!
//! | route | meaning |
//! | --- | --- |
//! | `GET /healthz` | liveness: 200 `ok` while the process serves |
//! | `GET /readyz` | 200 once the last heartbeat to the scheduler succeeded (registered), else 503 |
//!
//! Two executors on one machine need distinct `flight_port`, `grpc_port` and `health_port`
//! (and work directories, which the default temporary directory already gives).

use crate::error::{Error, Result, listen};
use crate::functions;
use crate::object_stores::ObjectStores;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_executor::health::ExecutorHealth;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The executor's checked configuration.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// Host or IP its services listen on.
    pub bind_host: String,
    /// Host name the scheduler and other executors use to reach it; `None`: the address the
    /// scheduler sees the registration come from.
    pub external_host: Option<String>,
    /// Arrow Flight port (shuffle reads, result fetches).
    pub flight_port: u16,
    /// Executor gRPC port (task launches under push-staged scheduling; advertised, unused under
    /// the pull-staged scheduling reelforest runs).
    pub grpc_port: u16,
    /// HTTP health port (0: any free port; see [`Executor::health_addr`]).
    pub health_port: u16,
    /// Scheduler host.
    pub scheduler_host: String,
    /// Scheduler port.
    pub scheduler_port: u16,
    /// How long to keep retrying the first connection to the scheduler (0: try once).
    pub scheduler_connect_timeout: Duration,
    /// Tasks run at once (Ballista's vcores); 0: one per core.
    pub concurrent_tasks: usize,
    /// Directory for shuffle files and spills; `None`: a fresh temporary directory, removed
    /// when the executor exits normally.
    pub work_dir: Option<PathBuf>,
    /// Interval between heartbeats to the scheduler.
    pub heartbeat_interval: Duration,
    /// Executor id; `None`: a generated unique id.
    pub executor_id: Option<String>,
    /// Object stores of the tasks' runtimes.
    pub stores: ObjectStores,
}

impl Default for ExecutorOptions {
    /// Ballista's defaults on loopback: flight 50051, gRPC 50052, health 50053, scheduler at
    /// localhost:50050.
    fn default() -> Self {
        ExecutorOptions {
            bind_host: "127.0.0.1".into(),
            external_host: None,
            flight_port: 50051,
            grpc_port: 50052,
            health_port: 50053,
            scheduler_host: "localhost".into(),
            scheduler_port: 50050,
            scheduler_connect_timeout: Duration::from_secs(30),
            concurrent_tasks: 0,
            work_dir: None,
            heartbeat_interval: Duration::from_secs(60),
            executor_id: None,
            stores: ObjectStores::default(),
        }
    }
}

impl ExecutorOptions {
    /// Checks values that cannot work.
    pub fn validate(&self) -> Result<()> {
        let bad = |what, value: String, reason: &str| Err(Error::Config { what, value, reason: reason.into() });
        if self.flight_port == 0 {
            return bad("--port", "0".into(), "the flight port is advertised to the scheduler: give a fixed port");
        }
        if self.grpc_port == 0 {
            return bad("--grpc-port", "0".into(), "the gRPC port is advertised to the scheduler: give a fixed port");
        }
        if self.flight_port == self.grpc_port {
            return bad("--grpc-port", self.grpc_port.to_string(), "must differ from --port");
        }
        if self.health_port != 0 && (self.health_port == self.flight_port || self.health_port == self.grpc_port) {
            return bad("--health-port", self.health_port.to_string(), "must differ from --port and --grpc-port");
        }
        if self.heartbeat_interval.as_secs() == 0 {
            return bad("--heartbeat-interval-seconds", "0".into(), "must be at least 1");
        }
        if self.scheduler_host.trim().is_empty() {
            return bad("--scheduler-host", self.scheduler_host.clone(), "empty");
        }
        if self.scheduler_connect_timeout.as_secs() > u64::from(u16::MAX) {
            return bad(
                "--scheduler-connect-timeout-seconds",
                self.scheduler_connect_timeout.as_secs().to_string(),
                "at most 65535",
            );
        }
        Ok(())
    }
}

/// An executor whose health port is open; [`Executor::run`] runs it.
#[derive(Debug)]
pub struct Executor {
    health_listener: TcpListener,
    health_addr: SocketAddr,
    options: ExecutorOptions,
}

impl Executor {
    /// Validates `options` and opens the health port.
    pub async fn bind(options: ExecutorOptions) -> Result<Self> {
        options.validate()?;
        let (health_listener, health_addr) = listen("executor health", &options.bind_host, options.health_port).await?;
        Ok(Executor { health_listener, health_addr, options })
    }

    /// The health server's address.
    pub fn health_addr(&self) -> SocketAddr {
        self.health_addr
    }

    /// Serves health, then runs Ballista's executor process until SIGINT/SIGTERM, a stop
    /// request from the scheduler, or a failure (e.g. the scheduler cannot be reached).
    pub async fn run(self) -> Result<()> {
        let o = &self.options;
        // Keep the temporary work directory alive for the executor's lifetime.
        let (work_dir, _temp_guard) = match &o.work_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|source| Error::WorkDir { path: dir.display().to_string(), source })?;
                (dir.clone(), None)
            }
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("reelforest-executor-")
                    .tempdir()
                    .map_err(|source| Error::WorkDir { path: std::env::temp_dir().display().to_string(), source })?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        let work_dir_str = work_dir
            .to_str()
            .ok_or_else(|| Error::Config {
                what: "--work-dir",
                value: work_dir.display().to_string(),
                reason: "not valid UTF-8".into(),
            })?
            .to_string();

        let health = ExecutorHealth::new();
        let health_addr = self.health_addr;
        let router =
            Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).with_state(health.clone());
        let health_server = tokio::spawn(async move {
            axum::serve(self.health_listener, router)
                .await
                .map_err(|source| Error::Health { addr: health_addr.to_string(), source })
        });

        let stores = o.stores.clone();
        let runtime_dir = work_dir.clone();
        let mut config = ExecutorProcessConfig {
            bind_host: o.bind_host.clone(),
            external_host: o.external_host.clone(),
            port: o.flight_port,
            grpc_port: o.grpc_port,
            scheduler_host: o.scheduler_host.clone(),
            scheduler_port: o.scheduler_port,
            // Checked in `validate`.
            scheduler_connect_timeout_seconds: u16::try_from(o.scheduler_connect_timeout.as_secs()).unwrap_or(u16::MAX),
            vcores: o.concurrent_tasks,
            work_dir: Some(work_dir_str),
            executor_heartbeat_interval_seconds: o.heartbeat_interval.as_secs(),
            override_function_registry: Some(Arc::new(functions::function_registry())),
            override_runtime_producer: Some(Arc::new(move |_config| stores.runtime_env(Some(&runtime_dir)))),
            health,
            task_scheduling_policy: crate::SCHEDULING_POLICY,
            ..ExecutorProcessConfig::default()
        };
        if let Some(id) = &o.executor_id {
            config.executor_id = id.clone();
        }
        tracing::info!(
            health = %health_addr,
            flight_port = o.flight_port,
            grpc_port = o.grpc_port,
            scheduler = %format!("{}:{}", o.scheduler_host, o.scheduler_port),
            work_dir = %work_dir.display(),
            "starting Ballista executor"
        );
        let result = start_executor_process(Arc::new(config)).await.map_err(|source| Error::Ballista {
            role: "executor",
            doing: "running",
            source,
        });
        health_server.abort();
        result
    }
}

async fn healthz() -> (StatusCode, &'static str) {
    (StatusCode::OK, "ok\n")
}

async fn readyz(State(health): State<ExecutorHealth>) -> (StatusCode, &'static str) {
    if health.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready: no successful heartbeat to the scheduler yet\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked() {
        assert!(ExecutorOptions::default().validate().is_ok());
        let err = ExecutorOptions { flight_port: 0, ..Default::default() }.validate().expect_err("0");
        assert!(err.to_string().contains("--port"), "{err}");
        let err = ExecutorOptions { grpc_port: 50051, ..Default::default() }.validate().expect_err("same");
        assert!(err.to_string().contains("--grpc-port"), "{err}");
        let err = ExecutorOptions { health_port: 50052, ..Default::default() }.validate().expect_err("same");
        assert!(err.to_string().contains("--health-port"), "{err}");
    }

    #[tokio::test]
    async fn health_port_zero_binds_a_free_port() {
        let e = Executor::bind(ExecutorOptions { health_port: 0, ..Default::default() }).await.expect("bind");
        assert_ne!(e.health_addr().port(), 0);
    }
}
