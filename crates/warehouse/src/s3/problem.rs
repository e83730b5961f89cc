//! Why S3 refused a warehouse: the first request a warehouse makes ([`probe`]) and the
//! classification of its failure ([`S3Problem`]: a missing bucket, refused credentials, a wrong
//! region, an unreachable endpoint), from object_store's error and S3's XML error code.

use super::S3Location;
use crate::{Error, Result};
use object_store::ObjectStore;
use object_store::client::{HttpError, HttpErrorKind};
use std::fmt;

/// Why S3 refused a warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum S3Problem {
    /// `NoSuchBucket`.
    NoSuchBucket,
    /// The credentials are wrong or expired (`InvalidAccessKeyId`, `SignatureDoesNotMatch`,
    /// `ExpiredToken`, ...; the S3 error code is kept).
    BadCredentials(String),
    /// The credentials are valid but lack permission (`AccessDenied`).
    AccessDenied,
    /// The bucket lives in another region, or the region is malformed.
    WrongRegion(String),
    /// No connection to the endpoint (refused, timed out, DNS); the cause is kept.
    Unreachable(String),
    /// No static credentials were configured and the request failed without an S3 error
    /// code: the credential chain (instance metadata, container, web identity) found none.
    NoCredentials(String),
    /// Anything else: the S3 error code when there is one.
    Other(Option<String>),
}

impl fmt::Display for S3Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            S3Problem::NoSuchBucket => write!(f, "the bucket does not exist (NoSuchBucket): create it first"),
            S3Problem::BadCredentials(code) => write!(
                f,
                "the credentials were refused ({code}): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN)"
            ),
            S3Problem::AccessDenied => {
                write!(f, "access denied (AccessDenied): the credentials may not list and write this bucket")
            }
            S3Problem::WrongRegion(code) => write!(f, "wrong region ({code}): check AWS_REGION"),
            S3Problem::Unreachable(cause) => {
                write!(f, "cannot connect to the endpoint ({cause}): check AWS_ENDPOINT_URL and that the server runs")
            }
            S3Problem::NoCredentials(cause) => write!(
                f,
                "no credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are not set and the credential chain (instance metadata, container, web identity) failed ({cause})"
            ),
            S3Problem::Other(Some(code)) => write!(f, "request refused ({code})"),
            S3Problem::Other(None) => write!(f, "request failed"),
        }
    }
}

impl S3Problem {
    /// Classifies an object_store error: by S3's machine-readable `<Code>` element in the
    /// error response (object_store keeps the response body but exposes no accessor for it
    /// outside its crate), or by the HTTP client's error kind for connection failures.
    pub fn classify(error: &object_store::Error) -> Self {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(error);
        let mut code = None;
        let mut connect = None;
        while let Some(e) = cur {
            if let Some(http) = e.downcast_ref::<HttpError>()
                && matches!(http.kind(), HttpErrorKind::Connect | HttpErrorKind::Timeout)
            {
                connect = Some(one_line(&innermost(http)));
            }
            if code.is_none() {
                code = s3_error_code(&e.to_string());
            }
            cur = e.source();
        }
        if let Some(cause) = connect {
            return S3Problem::Unreachable(cause);
        }
        match code.as_deref() {
            Some("NoSuchBucket") => S3Problem::NoSuchBucket,
            Some(
                c @ ("InvalidAccessKeyId"
                | "SignatureDoesNotMatch"
                | "ExpiredToken"
                | "InvalidToken"
                | "InvalidClientTokenId"
                | "TokenRefreshRequired"),
            ) => S3Problem::BadCredentials(c.to_string()),
            Some("AccessDenied" | "AllAccessDisabled") => S3Problem::AccessDenied,
            Some(c @ ("PermanentRedirect" | "AuthorizationHeaderMalformed" | "IllegalLocationConstraintException")) => {
                S3Problem::WrongRegion(c.to_string())
            }
            other => S3Problem::Other(other.map(str::to_string)),
        }
    }
}

/// The innermost error's message: the OS-level cause ("Connection refused (os error 111)").
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// `text` on one line (error bodies may hold newlines).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The `Code` element of an S3 XML error response quoted in `text`.
fn s3_error_code(text: &str) -> Option<String> {
    let start = text.find("<Code>")? + "<Code>".len();
    let len = text[start..].find("</Code>")?;
    let code = text[start..start + len].trim();
    (!code.is_empty() && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')).then(|| code.to_string())
}

/// The first request to a warehouse: lists one level of its prefix, which needs the bucket,
/// valid credentials and a reachable endpoint. Failure is [`Error::S3`].
pub(crate) async fn probe(
    store: &dyn ObjectStore,
    location: &S3Location,
    options_endpoint: &str,
    static_credentials: bool,
) -> Result<()> {
    let prefix = location.base();
    let prefix = (!location.prefix.is_empty()).then_some(&prefix);
    match store.list_with_delimiter(prefix).await {
        Ok(_) => Ok(()),
        Err(source) => {
            let mut problem = S3Problem::classify(&source);
            // Without static keys object_store first asks a credential service (instance
            // metadata, container, web identity); its refusals carry no S3 error code.
            if !static_credentials && problem == S3Problem::Other(None) {
                problem = S3Problem::NoCredentials(one_line(&innermost(&source)));
            }
            Err(Error::S3 {
                bucket: location.bucket.clone(),
                endpoint: options_endpoint.to_string(),
                problem,
                source: Box::new(source),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_error_codes_are_read_from_the_response() {
        let body = "Server returned non-2xx status code: 404 Not Found: <?xml version=\"1.0\"?>\n<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>";
        assert_eq!(s3_error_code(body).as_deref(), Some("NoSuchBucket"));
        assert_eq!(s3_error_code("no xml here"), None);
        assert_eq!(s3_error_code("<Code></Code>"), None);
    }

    #[test]
    fn problems_read_well() {
        assert!(S3Problem::NoSuchBucket.to_string().contains("does not exist"));
        assert!(S3Problem::BadCredentials("InvalidAccessKeyId".into()).to_string().contains("AWS_ACCESS_KEY_ID"));
        assert!(S3Problem::Unreachable("Connection refused".into()).to_string().contains("Connection refused"));
        let none = S3Problem::NoCredentials("403 Forbidden".into()).to_string();
        assert!(none.contains("AWS_ACCESS_KEY_ID") && none.contains("403 Forbidden"), "{none}");
        assert_eq!(one_line("a\n  <Code>\tb"), "a <Code> b");
    }
}
