//! `reelforest executor`: Ballista's executor library with our functions, object stores and a
//! small HTTP health server.
//!
//! [`ExecutorOptions`] is the checked configuration. [`Executor::bind`] opens every port before
//! anything starts, so port 0 (any free port) works for all three and the ports are known
//! before the executor registers: the health port, the Arrow Flight port (a listening socket
//! we hand to our own Flight server, see below) and the gRPC port (reserved, see below). Then
//! [`Executor::run`] starts Ballista's executor process: it connects to the scheduler
//! (retrying for `scheduler_connect_timeout`), registers with the ports actually bound, serves
//! Arrow Flight (shuffle and result fetches), and polls the scheduler for tasks (pull-staged
//! scheduling, see the crate docs), the polls doubling as heartbeats.
//!
//! **Ports.** Ballista's own Flight server binds `bind_host:port` itself and the registration
//! advertises that same configured `port`, so with port 0 it would advertise 0. We therefore
//! give Ballista its `override_arrow_flight_service` hook: our provider serves Ballista's
//! `BallistaFlightService` on the listener [`Executor::bind`] already opened, and the
//! registration advertises that listener's real port. The executor gRPC service (task
//! launches) belongs to push-staged scheduling: nothing serves it under pull-staged, but the
//! scheduler still records the advertised port (and may try it to cancel tasks or stop the
//! executor, which then fails fast). [`Executor::bind`] **reserves** it: a socket bound to the
//! port and never listening, held for the executor's lifetime, so no other process can take the
//! advertised port and a connection to it is refused at once instead of reaching a stranger.
//!
//! Health (HTTP on `health_port`, the same routes as Ballista's own executor binary):
//!
//! | route | meaning |
//! | --- | --- |
//! | `GET /healthz` | liveness: 200 `ok` while the process serves |
//! | `GET /readyz` | 200 once the last heartbeat to the scheduler succeeded (registered), else 503 |
//!
//! Two executors on one machine need distinct ports (or port 0 for each, the simplest) and
//! distinct work directories (which the default temporary directory already gives).

use crate::error::{Error, Result, listen};
use crate::functions;
use crate::object_stores::ObjectStores;
use arrow_flight::flight_service_server::FlightServiceServer;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use ballista_core::error::BallistaError;
use ballista_core::utils::{GrpcServerConfig, create_grpc_server};
use ballista_executor::ArrowFlightServerProvider;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_executor::flight_service::BallistaFlightService;
use ballista_executor::health::ExecutorHealth;
use ballista_executor::shutdown::Shutdown;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};
use tonic::transport::server::TcpIncoming;

/// The executor's checked configuration.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// Host or IP its services listen on.
    pub bind_host: String,
    /// Host name the scheduler and other executors use to reach it; `None`: the address the
    /// scheduler sees the registration come from.
    pub external_host: Option<String>,
    /// Arrow Flight port (shuffle reads, result fetches; 0: any free port, see
    /// [`Executor::flight_addr`]).
    pub flight_port: u16,
    /// Executor gRPC port (task launches under push-staged scheduling; reserved and advertised,
    /// unused under the pull-staged scheduling reelforest runs; 0: any free port, see
    /// [`Executor::grpc_addr`]).
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
        // Port 0 means "any free port", so only fixed ports can collide.
        if self.grpc_port != 0 && self.flight_port == self.grpc_port {
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

/// An executor whose ports are open (health and Flight listening, gRPC reserved);
/// [`Executor::run`] runs it.
#[derive(Debug)]
pub struct Executor {
    health_listener: TcpListener,
    health_addr: SocketAddr,
    flight_listener: TcpListener,
    flight_addr: SocketAddr,
    /// Bound, never listening: holds the advertised gRPC port (see the module docs).
    grpc_reservation: TcpSocket,
    grpc_addr: SocketAddr,
    options: ExecutorOptions,
}

impl Executor {
    /// Validates `options`, opens the health and Flight ports and reserves the gRPC port (each
    /// port 0 becomes a free port, see the accessors).
    pub async fn bind(options: ExecutorOptions) -> Result<Self> {
        options.validate()?;
        let host = &options.bind_host;
        let (health_listener, health_addr) = listen("executor health", host, options.health_port).await?;
        let (flight_listener, flight_addr) = listen("executor Arrow Flight", host, options.flight_port).await?;
        let (grpc_reservation, grpc_addr) = reserve("executor gRPC", host, options.grpc_port).await?;
        Ok(Executor {
            health_listener,
            health_addr,
            flight_listener,
            flight_addr,
            grpc_reservation,
            grpc_addr,
            options,
        })
    }

    /// The health server's address.
    pub fn health_addr(&self) -> SocketAddr {
        self.health_addr
    }

    /// The Arrow Flight server's address (its port is the one the scheduler is told).
    pub fn flight_addr(&self) -> SocketAddr {
        self.flight_addr
    }

    /// The reserved gRPC address (advertised; nothing serves it under pull-staged scheduling).
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// Serves health, then runs Ballista's executor process until SIGINT/SIGTERM, a stop
    /// request from the scheduler, or a failure (e.g. the scheduler cannot be reached).
    pub async fn run(self) -> Result<()> {
        // Moved out one by one: the health server and the Flight provider take the listeners.
        let (health_listener, health_addr) = (self.health_listener, self.health_addr);
        let (flight_listener, flight_addr, grpc_addr) = (self.flight_listener, self.flight_addr, self.grpc_addr);
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
        let router =
            Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).with_state(health.clone());
        let health_server = tokio::spawn(async move {
            axum::serve(health_listener, router)
                .await
                .map_err(|source| Error::Health { addr: health_addr.to_string(), source })
        });

        let stores = o.stores.clone();
        let runtime_dir = work_dir.clone();
        let mut config = ExecutorProcessConfig {
            bind_host: o.bind_host.clone(),
            external_host: o.external_host.clone(),
            // The bound ports: what the registration advertises.
            port: flight_addr.port(),
            grpc_port: grpc_addr.port(),
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
        config.override_arrow_flight_service = Some(flight_server(
            flight_listener,
            config.grpc_max_encoding_message_size as usize,
            config.grpc_max_decoding_message_size as usize,
        ));
        tracing::info!(
            health = %health_addr,
            flight = %flight_addr,
            grpc = %grpc_addr,
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
        drop(self.grpc_reservation);
        result
    }
}

/// Binds (without listening) a socket on `host:port` (port 0: any free port) and returns it
/// with the address bound. While it is open no other socket can bind the port (it has no
/// `SO_REUSEADDR`), and connections to it are refused: nothing listens.
async fn reserve(service: &'static str, host: &str, port: u16) -> Result<(TcpSocket, SocketAddr)> {
    let bind_err = |source| Error::Bind { service, addr: format!("{host}:{port}"), source };
    let mut last = None;
    for addr in tokio::net::lookup_host((host, port)).await.map_err(bind_err)? {
        let socket = if addr.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }.map_err(bind_err)?;
        match socket.bind(addr).and_then(|()| socket.local_addr()) {
            Ok(bound) => return Ok((socket, bound)),
            Err(e) => last = Some(e),
        }
    }
    Err(bind_err(last.unwrap_or_else(|| std::io::Error::other("the host resolves to no address"))))
}

/// Ballista's Arrow Flight service (shuffle and result fetches) on a listener we opened
/// ourselves, in the shape of Ballista's `override_arrow_flight_service` hook. The hook's
/// address argument is ignored: the listener is already bound, to the port the executor
/// advertises. Ballista calls the provider once; a second call fails that service.
fn flight_server(listener: TcpListener, max_encoding: usize, max_decoding: usize) -> Arc<ArrowFlightServerProvider> {
    let listener = Mutex::new(Some(listener));
    Arc::new(move |work_dir: String, _addr: SocketAddr, mut shutdown: Shutdown, grpc: GrpcServerConfig| {
        let listener = listener.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        tokio::spawn(async move {
            let listener =
                listener.ok_or_else(|| BallistaError::General("the Arrow Flight server was started twice".into()))?;
            // What Ballista's own Flight server sets (`create_grpc_server_incoming`).
            let incoming = TcpIncoming::from(listener)
                .with_nodelay(Some(true))
                .with_keepalive(Some(Duration::from_secs(grpc.tcp_keepalive_seconds)));
            let service = FlightServiceServer::new(BallistaFlightService::new(work_dir))
                .max_encoding_message_size(max_encoding)
                .max_decoding_message_size(max_decoding);
            create_grpc_server(&grpc)
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, shutdown.recv())
                .await
                .map_err(BallistaError::TonicError)
        })
    })
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
        let any = ExecutorOptions { flight_port: 0, grpc_port: 0, health_port: 0, ..Default::default() };
        assert!(any.validate().is_ok(), "port 0 everywhere: free ports, no collision");
        let err = ExecutorOptions { grpc_port: 50051, ..Default::default() }.validate().expect_err("same");
        assert!(err.to_string().contains("--grpc-port"), "{err}");
        let err = ExecutorOptions { health_port: 50052, ..Default::default() }.validate().expect_err("same");
        assert!(err.to_string().contains("--health-port"), "{err}");
    }

    #[tokio::test]
    async fn port_zero_binds_free_ports_and_reserves_the_grpc_port() {
        let any = ExecutorOptions { flight_port: 0, grpc_port: 0, health_port: 0, ..Default::default() };
        let e = Executor::bind(any).await.expect("bind");
        let ports = [e.health_addr().port(), e.flight_addr().port(), e.grpc_addr().port()];
        assert!(ports.iter().all(|&p| p != 0), "{ports:?}");
        assert!(ports[0] != ports[1] && ports[1] != ports[2] && ports[0] != ports[2], "{ports:?}");
        // Flight listens; the reserved gRPC port refuses connections and cannot be taken.
        tokio::net::TcpStream::connect(e.flight_addr()).await.expect("flight listens");
        let err = tokio::net::TcpStream::connect(e.grpc_addr()).await.expect_err("nothing listens on gRPC");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
        TcpListener::bind(e.grpc_addr()).await.expect_err("the reserved port is taken");
    }
}
