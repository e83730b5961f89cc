//! `reelforest health TARGET`: a health probe for containers whose image has no curl (the
//! compose file's healthchecks call it). Exits 0 when the target is healthy, non-zero with one
//! line saying why otherwise.
//!
//! | target | healthy when |
//! | --- | --- |
//! | `http://HOST:PORT/PATH` | a GET answers 2xx (scheduler `/readyz`, executor `/readyz`, serve `/api/health`) |
//! | `grpc://HOST:PORT` or `--coordinator URL` | the coordinator answers `ClusterStatus` (with `--token`) |
//! | the above plus `--worker PREFIX` | also: a worker whose name starts with PREFIX is registered |
//!
//! A worker's default name is `HOSTNAME:pid`, so a worker container checks itself with
//! `reelforest health --coordinator http://coordinator:50070 --worker "$HOSTNAME:"`.

use anyhow::{Context, bail};
use clap::Args;
use reelforest_cluster::client;
use reelforest_cluster::tls::ClientTls;
use reelforest_proto::wire;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `reelforest health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// What to check: an http(s):// URL (GET, healthy on 2xx) or grpc://HOST:PORT (a coordinator).
    #[arg(required_unless_present = "coordinator")]
    pub target: Option<String>,
    /// Check the coordinator at this gRPC URL (http://HOST:PORT, or https:// with --tls-ca).
    #[arg(long, conflicts_with = "target")]
    pub coordinator: Option<String>,
    /// The coordinator's token.
    #[arg(long, env = "REELFOREST_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// CA certificate (PEM) to trust the coordinator's TLS certificate.
    #[arg(long, value_name = "PEM")]
    pub tls_ca: Option<PathBuf>,
    /// With a coordinator: also require a registered worker whose name starts with this.
    #[arg(long, value_name = "PREFIX")]
    pub worker: Option<String>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 5.0)]
    pub timeout_seconds: f64,
}

/// What a [`HealthArgs`] asks to check.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Probe {
    /// GET this URL.
    Http(String),
    /// Call the coordinator at this URL, optionally looking for a worker.
    Coordinator { url: String, worker: Option<String> },
}

impl TryFrom<&HealthArgs> for Probe {
    type Error = anyhow::Error;

    fn try_from(a: &HealthArgs) -> anyhow::Result<Probe> {
        let coordinator = match (&a.coordinator, a.target.as_deref()) {
            (Some(url), _) => url.clone(),
            (None, Some(t)) => match t.strip_prefix("grpc://") {
                Some(rest) => format!("http://{rest}"),
                None if t.starts_with("http://") || t.starts_with("https://") => {
                    if a.worker.is_some() {
                        bail!("--worker needs a coordinator target (grpc://HOST:PORT or --coordinator URL)");
                    }
                    return Ok(Probe::Http(t.to_string()));
                }
                None => bail!("unsupported target {t:?}: expected http://, https:// or grpc://HOST:PORT"),
            },
            (None, None) => bail!("nothing to check: give a TARGET or --coordinator URL"),
        };
        Ok(Probe::Coordinator { url: coordinator, worker: a.worker.clone() })
    }
}

/// Runs the probe; an error means unhealthy.
pub async fn run(args: HealthArgs) -> anyhow::Result<()> {
    let probe = Probe::try_from(&args)?;
    let timeout = Duration::try_from_secs_f64(args.timeout_seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| format!("--timeout-seconds: {} is not a positive number", args.timeout_seconds))?;
    let tls = ClientTls { ca: args.tls_ca.clone(), domain: None };
    let checked = async {
        match &probe {
            Probe::Http(url) => check_http(url.clone(), timeout).await,
            Probe::Coordinator { url, worker } => {
                check_coordinator(url, args.token.as_deref(), &tls, worker.as_deref()).await
            }
        }
    };
    let line = tokio::time::timeout(timeout, checked)
        .await
        .map_err(|_| anyhow::anyhow!("unhealthy: no answer within {timeout:?}"))??;
    println!("healthy: {line}");
    Ok(())
}

/// GET `url`: Ok with the status line on 2xx, an error naming the status (and the body's first
/// line) or the connection failure otherwise.
async fn check_http(url: String, timeout: Duration) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent =
            ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(false).build().into();
        let mut response = agent.get(&url).call().with_context(|| format!("unhealthy: GET {url}"))?;
        let status = response.status();
        let body = response.body_mut().with_config().limit(4096).read_to_string().unwrap_or_default();
        let first = body.lines().next().unwrap_or("").trim().to_string();
        if status.is_success() {
            Ok(format!("GET {url}: {status}"))
        } else {
            bail!("unhealthy: GET {url} answered {status} {first}")
        }
    })
    .await
    .context("the HTTP probe panicked")?
}

/// Calls `ClusterStatus`; with `worker`, also requires a registered worker named `worker*`.
async fn check_coordinator(
    url: &str,
    token: Option<&str>,
    tls: &ClientTls,
    worker: Option<&str>,
) -> anyhow::Result<String> {
    let mut jobs = client::jobs(url, token, tls).await.context("unhealthy")?;
    let status = jobs
        .cluster_status(wire::ClusterStatusRequest {})
        .await
        .map_err(|s| anyhow::anyhow!("unhealthy: coordinator {url}: {} ({:?})", s.message(), s.code()))?
        .into_inner();
    let Some(prefix) = worker else {
        return Ok(format!(
            "coordinator {url}: {} workers, {} queued tasks",
            status.workers.len(),
            status.queued_tasks
        ));
    };
    match status.workers.iter().find(|w| w.name.starts_with(prefix)) {
        Some(w) => {
            Ok(format!("worker {} registered with {url} (last heartbeat {} ms ago)", w.name, w.last_heartbeat_ms_ago))
        }
        None => {
            let names: Vec<&str> = status.workers.iter().map(|w| w.name.as_str()).collect();
            bail!("unhealthy: no worker named {prefix:?}* registered with {url} (registered: {names:?})")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reelforest_cluster::coordinator::{Coordinator, CoordinatorConfig, embedded_sessions};
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    fn args(target: Option<&str>, coordinator: Option<&str>, worker: Option<&str>) -> HealthArgs {
        HealthArgs {
            target: target.map(String::from),
            coordinator: coordinator.map(String::from),
            token: None,
            tls_ca: None,
            worker: worker.map(String::from),
            timeout_seconds: 5.0,
        }
    }

    #[test]
    fn targets_map_to_probes() {
        assert_eq!(
            Probe::try_from(&args(Some("http://h:1/readyz"), None, None)).expect("http"),
            Probe::Http("http://h:1/readyz".into())
        );
        assert_eq!(
            Probe::try_from(&args(Some("grpc://c:50070"), None, Some("w:"))).expect("grpc"),
            Probe::Coordinator { url: "http://c:50070".into(), worker: Some("w:".into()) }
        );
        assert_eq!(
            Probe::try_from(&args(None, Some("http://c:1"), None)).expect("flag"),
            Probe::Coordinator { url: "http://c:1".into(), worker: None }
        );
        let e = Probe::try_from(&args(Some("ftp://x"), None, None)).expect_err("scheme");
        assert!(e.to_string().contains("unsupported target"), "{e}");
        let e = Probe::try_from(&args(Some("http://h/"), None, Some("w"))).expect_err("worker on http");
        assert!(e.to_string().contains("--worker needs a coordinator"), "{e}");
    }

    /// A one-request HTTP server on loopback answering `status`; returns its URL.
    fn http_once(status: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().expect("accept");
            let mut reader = BufReader::new(conn.try_clone().expect("clone"));
            let mut line = String::new();
            while reader.read_line(&mut line).expect("read") > 2 {
                line.clear();
            }
            let body = format!("{status} body\n");
            write!(conn, "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
                .expect("write");
        });
        format!("http://{addr}/readyz")
    }

    #[tokio::test]
    async fn http_2xx_is_healthy_and_anything_else_is_not() {
        let ok = check_http(http_once("200 OK"), Duration::from_secs(5)).await.expect("200 is healthy");
        assert!(ok.contains("200"), "{ok}");
        let err = check_http(http_once("503 Service Unavailable"), Duration::from_secs(5)).await.expect_err("503");
        assert!(err.to_string().contains("answered 503"), "{err:#}");
        // A port nobody listens on: the connection error, not a panic.
        let closed = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
        let err = check_http(format!("http://{closed}/"), Duration::from_secs(5)).await.expect_err("refused");
        assert!(format!("{err:#}").contains("unhealthy: GET"), "{err:#}");
    }

    #[tokio::test]
    async fn a_real_coordinator_is_healthy_with_its_token_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = CoordinatorConfig {
            warehouse: dir.path().join("warehouse").display().to_string(),
            work_dir: dir.path().join("work"),
            token: Some("s3cret-token".into()),
            control: Default::default(),
            max_message_bytes: client::MAX_MESSAGE_BYTES,
            sessions: embedded_sessions(),
        };
        let local = Coordinator::start_local(cfg).await.expect("coordinator");
        let url = local.url.clone();
        let tls = ClientTls::default();
        let ok = check_coordinator(&url, Some("s3cret-token"), &tls, None).await.expect("healthy");
        assert!(ok.contains("0 workers"), "{ok}");
        let err = check_coordinator(&url, Some("wrong-token"), &tls, None).await.expect_err("wrong token");
        assert!(err.to_string().contains("Unauthenticated"), "{err:#}");
        let err = check_coordinator(&url, Some("s3cret-token"), &tls, Some("nobody:")).await.expect_err("no worker");
        assert!(err.to_string().contains("no worker named \"nobody:\"*"), "{err:#}");
        local.stop().await.expect("stop");
        let err = check_coordinator(&url, Some("s3cret-token"), &tls, None).await.expect_err("stopped");
        assert!(format!("{err:#}").contains("cannot reach the coordinator"), "{err:#}");
    }
}
