//! Connections to the coordinator, with the token and optional TLS, for the CLI (`submit`,
//! `jobs`), workers and the web UI.

use crate::auth::TokenAdd;
use crate::tls::ClientTls;
use crate::{Error, Result};
use reelforest_proto::wire::job_service_client::JobServiceClient;
use reelforest_proto::wire::worker_service_client::WorkerServiceClient;
use std::time::Duration;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

/// Largest message a client accepts or sends (trees of a task, a report).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// A job client with the token attached.
pub type Jobs = JobServiceClient<InterceptedService<Channel, TokenAdd>>;
/// A worker client with the token attached.
pub type Workers = WorkerServiceClient<InterceptedService<Channel, TokenAdd>>;

/// Opens a channel to `url` (`http://host:port`, or `https://` with TLS).
pub async fn channel(url: &str, tls: &ClientTls) -> Result<Channel> {
    let connect_err = |step: &'static str| {
        move |source: tonic::transport::Error| Error::Connect { url: url.to_string(), step, source }
    };
    let mut ep = Endpoint::from_shared(url.to_string())
        .map_err(connect_err("invalid URL; expected http://HOST:PORT"))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true);
    if let Some(ca) = &tls.ca {
        ep = ep.tls_config(crate::tls::client(ca, tls.domain.as_deref())?).map_err(connect_err("TLS set-up"))?;
    }
    ep.connect().await.map_err(connect_err("connection failed"))
}

/// A job client.
pub async fn jobs(url: &str, token: Option<&str>, tls: &ClientTls) -> Result<Jobs> {
    let ch = channel(url, tls).await?;
    Ok(JobServiceClient::with_interceptor(ch, TokenAdd::new(token)?)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES))
}

/// A worker client.
pub async fn workers(url: &str, token: Option<&str>, tls: &ClientTls) -> Result<Workers> {
    let ch = channel(url, tls).await?;
    Ok(WorkerServiceClient::with_interceptor(ch, TokenAdd::new(token)?)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES))
}

pub use reelforest_core::error_chain;
