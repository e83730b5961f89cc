//! `reelforest scheduler`: Ballista's scheduler library with our session builder.
//!
//! [`SchedulerOptions`] is the checked configuration (the CLI's flags convert into it);
//! [`Scheduler::bind`] opens the listening socket first, so `--port 0` works and the caller
//! learns the real address before any client or executor needs it; [`Scheduler::serve`] then
//! runs Ballista's gRPC service until the process ends.
//!
//! One port serves everything (Ballista multiplexes tonic and axum on it): the scheduler gRPC
//! API that executors and clients call, and the HTTP routes
//!
//! | route | meaning |
//! | --- | --- |
//! | `GET /healthz` | liveness: 200 `ok` while the process serves |
//! | `GET /readyz` | readiness: 200 once at least `min_ready_executors` executors are registered, else 503 |
//! | `GET /api/executors`, `/api/jobs`, `/api/state` | Ballista's REST API (the status page reads it) |
//!
//! Ballista's REST API is unauthenticated: bind it to loopback (the default) or keep it inside
//! a private network.

use crate::error::{Error, Result, listen};
use crate::object_stores::ObjectStores;
use crate::session;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The scheduler's checked configuration.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Host or IP to listen on.
    pub bind_host: String,
    /// Port for gRPC + HTTP (0: any free port; see [`Scheduler::local_addr`]).
    pub port: u16,
    /// Host name executors and clients use to reach this scheduler.
    pub external_host: String,
    /// An executor without a heartbeat for this long is declared dead and its tasks rerun.
    pub executor_timeout: Duration,
    /// How often the scheduler looks for executors past [`Self::executor_timeout`].
    pub expire_dead_executor_interval: Duration,
    /// After the last executor is lost, how long running jobs wait for one to (re)register
    /// before they fail.
    pub no_executors_grace_period: Duration,
    /// Executors needed before `/readyz` answers 200.
    pub min_ready_executors: usize,
    /// Attempts of one task before its job fails.
    pub task_max_failures: usize,
    /// Object stores of the sessions the scheduler plans in.
    pub stores: ObjectStores,
}

impl Default for SchedulerOptions {
    /// Ballista's defaults, on loopback port 50050.
    fn default() -> Self {
        SchedulerOptions {
            bind_host: "127.0.0.1".into(),
            port: 50050,
            external_host: "localhost".into(),
            executor_timeout: Duration::from_secs(180),
            expire_dead_executor_interval: Duration::from_secs(15),
            no_executors_grace_period: Duration::from_secs(180),
            min_ready_executors: 1,
            task_max_failures: 4,
            stores: ObjectStores::default(),
        }
    }
}

impl SchedulerOptions {
    /// Checks values that Ballista would accept but that cannot work.
    pub fn validate(&self) -> Result<()> {
        let bad = |what, value: String, reason: &str| Err(Error::Config { what, value, reason: reason.into() });
        if self.bind_host.trim().is_empty() {
            return bad("--bind-host", self.bind_host.clone(), "empty");
        }
        if self.external_host.trim().is_empty() {
            return bad("--external-host", self.external_host.clone(), "empty");
        }
        if self.executor_timeout.as_secs() == 0 {
            return bad("--executor-timeout-seconds", "0".into(), "must be at least 1");
        }
        if self.expire_dead_executor_interval.as_secs() == 0 {
            return bad("--expire-dead-executor-interval-seconds", "0".into(), "must be at least 1");
        }
        if self.task_max_failures == 0 {
            return bad("--task-max-failures", "0".into(), "must be at least 1");
        }
        Ok(())
    }

    /// Ballista's configuration for these options, advertising `port` (the bound one).
    fn ballista_config(&self, port: u16) -> SchedulerConfig {
        let stores = self.stores.clone();
        let mut config = SchedulerConfig {
            bind_host: self.bind_host.clone(),
            bind_port: port,
            external_host: self.external_host.clone(),
            executor_timeout_seconds: self.executor_timeout.as_secs(),
            expire_dead_executor_interval_seconds: self.expire_dead_executor_interval.as_secs(),
            no_executors_grace_period_seconds: self.no_executors_grace_period.as_secs(),
            min_ready_executors: self.min_ready_executors,
            task_max_failures: self.task_max_failures,
            scheduling_policy: crate::SCHEDULING_POLICY,
            ..SchedulerConfig::default()
        };
        config.namespace = "reelforest".into();
        config.with_override_config_producer(Arc::new(session::session_config)).with_override_session_builder(Arc::new(
            move |session_config| session::session_state(session_config, &stores),
        ))
    }
}

/// A scheduler whose socket is open; [`Scheduler::serve`] runs it.
#[derive(Debug)]
pub struct Scheduler {
    listener: TcpListener,
    addr: SocketAddr,
    options: SchedulerOptions,
}

impl Scheduler {
    /// Validates `options` and opens the listening socket.
    pub async fn bind(options: SchedulerOptions) -> Result<Self> {
        options.validate()?;
        let (listener, addr) = listen("scheduler gRPC/REST", &options.bind_host, options.port).await?;
        Ok(Scheduler { listener, addr, options })
    }

    /// The address actually bound (the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `df://` URL clients pass to `--cluster`.
    pub fn cluster_url(&self) -> String {
        format!("df://{}:{}", self.options.external_host, self.addr.port())
    }

    /// Runs Ballista's scheduler on the bound socket until the process ends.
    pub async fn serve(self) -> Result<()> {
        let config = self.options.ballista_config(self.addr.port());
        let ballista = |doing, source| Error::Ballista { role: "scheduler", doing, source };
        config.validate().map_err(|e| ballista("checking the configuration", e))?;
        let cluster =
            BallistaCluster::new_from_config(&config).await.map_err(|e| ballista("creating cluster state", e))?;
        let server = create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, Arc::new(config))
            .await
            .map_err(|e| ballista("starting", e))?;
        tracing::info!(addr = %self.addr, url = %self.cluster_url(), "Ballista scheduler listening");
        start_grpc_service_with_listener(self.listener, server).await.map_err(|e| ballista("serving", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked() {
        assert!(SchedulerOptions::default().validate().is_ok());
        let err = SchedulerOptions { task_max_failures: 0, ..Default::default() }.validate().expect_err("0");
        assert!(err.to_string().contains("--task-max-failures"), "{err}");
        let err =
            SchedulerOptions { executor_timeout: Duration::ZERO, ..Default::default() }.validate().expect_err("0");
        assert!(err.to_string().contains("--executor-timeout-seconds"), "{err}");
    }

    #[test]
    fn ballista_config_carries_the_options() {
        let options = SchedulerOptions { executor_timeout: Duration::from_secs(7), ..Default::default() };
        let config = options.ballista_config(4242);
        assert_eq!(config.bind_port, 4242);
        assert_eq!(config.scheduler_endpoint(), "localhost:4242");
        assert_eq!(config.executor_timeout_seconds, 7);
        assert!(config.override_session_builder.is_some());
    }

    #[tokio::test]
    async fn port_zero_binds_a_free_port() {
        let s = Scheduler::bind(SchedulerOptions { port: 0, ..Default::default() }).await.expect("bind");
        assert_ne!(s.local_addr().port(), 0);
        assert_eq!(s.cluster_url(), format!("df://localhost:{}", s.local_addr().port()));
    }
}
