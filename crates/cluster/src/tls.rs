//! Optional TLS (rustls, through tonic): the coordinator serves with a certificate and key (PEM
//! files); clients and workers trust a CA certificate (PEM) and check the server's name.

use crate::{Error, Result};
use std::path::{Path, PathBuf};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Tls { path: path.to_path_buf(), source })
}

/// Server TLS from a certificate chain and a private key.
pub fn server(cert: &Path, key: &Path) -> Result<ServerTlsConfig> {
    Ok(ServerTlsConfig::new().identity(Identity::from_pem(read(cert)?, read(key)?)))
}

/// Client TLS trusting `ca`; `domain` overrides the name checked (default: the URL's host).
pub fn client(ca: &Path, domain: Option<&str>) -> Result<ClientTlsConfig> {
    let mut cfg = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(ca)?));
    if let Some(d) = domain {
        cfg = cfg.domain_name(d);
    }
    Ok(cfg)
}

/// Where a client finds its TLS settings.
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    /// CA certificate (PEM); `None`: plain TCP unless the URL is `https://`.
    pub ca: Option<PathBuf>,
    /// Name to check in the server's certificate.
    pub domain: Option<String>,
}
