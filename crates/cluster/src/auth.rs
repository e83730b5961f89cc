//! The shared token: every coordinator call must carry `authorization: Bearer <token>` when the
//! coordinator has one. A missing or wrong token is `UNAUTHENTICATED` before any handler runs,
//! so nothing changes.

use tonic::metadata::MetadataValue;
use tonic::{Request, Status};

/// Server side: checks the token of each request (no token configured: every call passes).
#[derive(Clone, Default)]
pub struct TokenCheck {
    expected: Option<String>,
}

impl std::fmt::Debug for TokenCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCheck").field("enabled", &self.expected.is_some()).finish()
    }
}

impl TokenCheck {
    /// Checks against `token` (`None` or empty: no check).
    pub fn new(token: Option<&str>) -> Self {
        TokenCheck { expected: token.filter(|t| !t.is_empty()).map(|t| format!("Bearer {t}")) }
    }
}

impl tonic::service::Interceptor for TokenCheck {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = &self.expected else { return Ok(req) };
        match req.metadata().get("authorization").map(|v| v.as_bytes()) {
            None => Err(Status::unauthenticated("missing token: pass --token or set REELFOREST_TOKEN")),
            Some(got) if constant_time_eq(got, expected.as_bytes()) => Ok(req),
            Some(_) => Err(Status::unauthenticated("wrong token")),
        }
    }
}

/// Equality whose time does not depend on where the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Client side: adds the token to each request.
#[derive(Clone, Default)]
pub struct TokenAdd {
    header: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl std::fmt::Debug for TokenAdd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenAdd").field("enabled", &self.header.is_some()).finish()
    }
}

impl TokenAdd {
    /// Adds `token` (`None` or empty: nothing). Errors when it cannot be a header value.
    pub fn new(token: Option<&str>) -> crate::Result<Self> {
        let header = match token.filter(|t| !t.is_empty()) {
            None => None,
            Some(t) => Some(
                format!("Bearer {t}")
                    .parse()
                    .map_err(|_| crate::Error::Config("the token must be printable ASCII".into()))?,
            ),
        };
        Ok(TokenAdd { header })
    }
}

impl tonic::service::Interceptor for TokenAdd {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(h) = &self.header {
            req.metadata_mut().insert("authorization", h.clone());
        }
        Ok(req)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tonic::service::Interceptor;

    #[test]
    fn token_check() {
        let mut check = TokenCheck::new(Some("s3cret"));
        let e = check.call(Request::new(())).unwrap_err();
        assert_eq!(
            (e.code(), e.message()),
            (tonic::Code::Unauthenticated, "missing token: pass --token or set REELFOREST_TOKEN")
        );
        let mut add = TokenAdd::new(Some("wrong")).unwrap();
        let e = check.call(add.call(Request::new(())).unwrap()).unwrap_err();
        assert_eq!(e.message(), "wrong token");
        let mut add = TokenAdd::new(Some("s3cret")).unwrap();
        assert!(check.call(add.call(Request::new(())).unwrap()).is_ok());
        assert!(TokenCheck::new(None).call(Request::new(())).is_ok());
        assert!(TokenAdd::new(Some("bad\nvalue")).is_err());
    }
}
