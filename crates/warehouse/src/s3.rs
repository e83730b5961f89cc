//! Warehouses on S3 (or any S3-compatible server: MinIO, Ceph, moto, ...).
//!
//! - [`S3Location`]: a parsed `s3://bucket/prefix` location (`s3a://` is accepted as Spark
//!   users write it, and normalised to `s3://`).
//! - [`S3Options`]: how to reach S3, read from the standard AWS environment variables
//!   ([`S3Options::from_env`]) like the AWS SDKs, Spark and Hadoop do, or set explicitly:
//!
//!   | variable | meaning |
//!   | --- | --- |
//!   | `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` | static credentials (without them: object_store's chain, e.g. web identity, ECS or EC2 instance metadata) |
//!   | `AWS_REGION` (or `AWS_DEFAULT_REGION`) | region, default `us-east-1` |
//!   | `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL` or `AWS_ENDPOINT` | an S3-compatible server, e.g. `http://127.0.0.1:9000` (path-style requests) |
//!   | `AWS_ALLOW_HTTP` | `true` to allow a plain `http://` endpoint |
//!   | any other `AWS_*` key object_store knows | passed through (`AWS_VIRTUAL_HOSTED_STYLE_REQUEST`, `AWS_WEB_IDENTITY_TOKEN_FILE`, ...) |
//!
//! - [`S3Options::build`]: object_store's `AmazonS3` for one bucket, with bounded retries so an
//!   unreachable endpoint fails in seconds, not minutes.
//! - [`S3Registry`]: a DataFusion [`ObjectStoreRegistry`] that builds the store of any
//!   `s3://bucket` URL on first use. Ballista's scheduler and executors use it: they learn
//!   which buckets exist only from the table URLs in the plans they receive.
//! - [`probe`]: the first request a warehouse makes (a one-level listing of its prefix). Its
//!   failure becomes [`crate::Error::S3`], which names the bucket, the endpoint and the cause
//!   ([`S3Problem`]): a missing bucket, refused credentials, an unreachable endpoint.
//!
//! Credentials never travel: every process (client, Ballista scheduler and executors,
//! coordinator, workers, server) reads its own environment, as Spark executors do.

use crate::{Error, LocationProblem, Result};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

mod problem;
pub use problem::S3Problem;
pub(crate) use problem::probe;

/// Region used when none is configured (object_store's and the AWS CLI's default).
pub const DEFAULT_REGION: &str = "us-east-1";

/// How long to wait for a TCP connection to the endpoint.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A parsed `s3://bucket/prefix` location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// The bucket.
    pub bucket: String,
    /// The key prefix inside the bucket, without leading or trailing `/` (may be empty).
    pub prefix: String,
}

impl S3Location {
    /// Parses `s3://bucket[/prefix]` (or `s3a://`); the problem is returned on failure.
    pub fn parse(location: &str) -> std::result::Result<Self, LocationProblem> {
        let url = Url::parse(location).map_err(LocationProblem::NotAUrl)?;
        if !matches!(url.scheme(), "s3" | "s3a") {
            return Err(LocationProblem::NotS3(url.scheme().to_string()));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(LocationProblem::QueryOrFragment);
        }
        if !url.username().is_empty() || url.password().is_some() || url.port().is_some() {
            return Err(LocationProblem::CredentialsOrPort);
        }
        let bucket = url.host_str().unwrap_or_default().to_string();
        check_bucket(&bucket)?;
        let prefix = url.path().trim_matches('/').to_string();
        if prefix.split('/').any(|part| part.is_empty() || part == "." || part == "..") && !prefix.is_empty() {
            return Err(LocationProblem::BadPrefix(prefix));
        }
        Ok(S3Location { bucket, prefix })
    }

    /// `s3://bucket/prefix/` (always ending in `/`).
    pub fn root_url(&self) -> Url {
        let text = if self.prefix.is_empty() {
            format!("s3://{}/", self.bucket)
        } else {
            format!("s3://{}/{}/", self.bucket, self.prefix)
        };
        // Bucket and prefix were checked in `parse`.
        Url::parse(&text).unwrap_or_else(|_| self.bucket_url())
    }

    /// `s3://bucket`: the key DataFusion registers the bucket's store under.
    pub fn bucket_url(&self) -> Url {
        bucket_url(&self.bucket)
    }

    /// The prefix as an object-store path.
    pub fn base(&self) -> ObjectPath {
        ObjectPath::from(self.prefix.as_str())
    }
}

fn bucket_url(bucket: &str) -> Url {
    Url::parse(&format!("s3://{bucket}")).expect("a checked bucket name is a valid URL host")
}

/// S3's bucket naming rules (3-63 characters: lowercase letters, digits, `.` and `-`, starting
/// and ending with a letter or digit).
fn check_bucket(bucket: &str) -> std::result::Result<(), LocationProblem> {
    if bucket.is_empty() {
        return Err(LocationProblem::NoBucket);
    }
    let valid_chars = bucket.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !(3..=63).contains(&bucket.len())
        || !valid_chars
        || !ends_ok(bucket.chars().next())
        || !ends_ok(bucket.chars().last())
    {
        return Err(LocationProblem::InvalidBucket(bucket.to_string()));
    }
    Ok(())
}

/// How to reach S3. `Default` is AWS itself with object_store's credential chain.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct S3Options {
    /// An S3-compatible endpoint (`http://127.0.0.1:9000`); `None`: AWS.
    pub endpoint: Option<String>,
    /// The region; `None`: [`DEFAULT_REGION`].
    pub region: Option<String>,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key (never printed).
    pub secret_access_key: Option<String>,
    /// Session token of temporary credentials (never printed).
    pub session_token: Option<String>,
    /// Whether a plain `http://` endpoint is allowed.
    pub allow_http: bool,
    /// Other object_store S3 settings, from `AWS_*` variables (virtual-hosted style, web
    /// identity, ...).
    pub extra: Vec<(AmazonS3ConfigKey, String)>,
}

impl fmt::Debug for S3Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("S3Options")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redacted(&self.secret_access_key))
            .field("session_token", &redacted(&self.session_token))
            .field("allow_http", &self.allow_http)
            .field("extra", &self.extra.iter().map(|(k, _)| k.as_ref()).collect::<Vec<_>>())
            .finish()
    }
}

impl S3Options {
    /// Reads the standard AWS environment variables (see the module docs).
    pub fn from_env() -> Result<Self> {
        Self::from_vars(std::env::vars())
    }

    /// [`Self::from_env`] over given `(name, value)` pairs; names not starting with `AWS_`
    /// are ignored. Fails on a value that cannot work (e.g. `AWS_ALLOW_HTTP=maybe`).
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self> {
        let vars: HashMap<String, String> =
            vars.into_iter().filter(|(k, v)| k.starts_with("AWS_") && !v.trim().is_empty()).collect();
        let get = |names: &[&str]| names.iter().find_map(|n| vars.get(*n).cloned());
        let allow_http = match get(&["AWS_ALLOW_HTTP"]) {
            None => false,
            Some(v) => parse_bool(&v).ok_or_else(|| Error::S3Config {
                what: "AWS_ALLOW_HTTP".into(),
                reason: format!("{v:?} is not true or false"),
            })?,
        };
        const TYPED: &[&str] = &[
            "AWS_ENDPOINT_URL_S3",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_ALLOW_HTTP",
            // The bucket comes from the warehouse URL, never from the environment.
            "AWS_BUCKET",
            "AWS_BUCKET_NAME",
        ];
        let mut extra: Vec<(AmazonS3ConfigKey, String)> = vars
            .iter()
            .filter(|(k, _)| !TYPED.contains(&k.as_str()))
            .filter_map(|(k, v)| k.to_ascii_lowercase().parse::<AmazonS3ConfigKey>().ok().map(|key| (key, v.clone())))
            .collect();
        extra.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        let options = S3Options {
            endpoint: get(&["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"]),
            region: get(&["AWS_REGION", "AWS_DEFAULT_REGION"]),
            access_key_id: get(&["AWS_ACCESS_KEY_ID"]),
            secret_access_key: get(&["AWS_SECRET_ACCESS_KEY"]),
            session_token: get(&["AWS_SESSION_TOKEN"]),
            allow_http,
            extra,
        };
        options.check()?;
        Ok(options)
    }

    /// An S3-compatible server at `endpoint` with static credentials (tests, MinIO).
    pub fn with_endpoint(endpoint: &str, access_key_id: &str, secret_access_key: &str) -> Self {
        S3Options {
            endpoint: Some(endpoint.to_string()),
            access_key_id: Some(access_key_id.to_string()),
            secret_access_key: Some(secret_access_key.to_string()),
            allow_http: endpoint.starts_with("http://"),
            ..S3Options::default()
        }
    }

    /// Checks settings that cannot work, naming the variable to fix.
    pub fn check(&self) -> Result<()> {
        let bad = |what: &str, reason: String| Err(Error::S3Config { what: what.into(), reason });
        if let Some(endpoint) = &self.endpoint {
            let url = match Url::parse(endpoint) {
                Ok(url) => url,
                Err(e) => return bad("AWS_ENDPOINT_URL", format!("{endpoint:?} is not a URL: {e}")),
            };
            match url.scheme() {
                "https" => {}
                "http" if self.allow_http => {}
                "http" => {
                    return bad(
                        "AWS_ENDPOINT_URL",
                        format!("{endpoint} is plain HTTP: set AWS_ALLOW_HTTP=true to allow it"),
                    );
                }
                other => {
                    return bad("AWS_ENDPOINT_URL", format!("{endpoint}: scheme {other:?}, expected http or https"));
                }
            }
            if url.host_str().is_none_or(str::is_empty) {
                return bad("AWS_ENDPOINT_URL", format!("{endpoint} has no host"));
            }
        }
        match (&self.access_key_id, &self.secret_access_key) {
            (Some(_), None) => bad("AWS_SECRET_ACCESS_KEY", "not set, but AWS_ACCESS_KEY_ID is".into()),
            (None, Some(_)) => bad("AWS_ACCESS_KEY_ID", "not set, but AWS_SECRET_ACCESS_KEY is".into()),
            _ => Ok(()),
        }
    }

    /// Where requests go, for messages: the endpoint, or AWS's regional one.
    pub fn endpoint_display(&self) -> String {
        match &self.endpoint {
            Some(e) => e.trim_end_matches('/').to_string(),
            None => format!("https://s3.{}.amazonaws.com", self.region.as_deref().unwrap_or(DEFAULT_REGION)),
        }
    }

    /// object_store's `AmazonS3` for `bucket`.
    pub fn build(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>> {
        self.check()?;
        check_bucket(bucket).map_err(|p| Error::S3Config { what: "bucket".into(), reason: p.to_string() })?;
        let mut builder = AmazonS3Builder::new();
        for (key, value) in &self.extra {
            builder = builder.with_config(*key, value);
        }
        builder = builder
            .with_bucket_name(bucket)
            .with_region(self.region.as_deref().unwrap_or(DEFAULT_REGION))
            .with_allow_http(self.allow_http)
            .with_client_options(
                ClientOptions::new().with_connect_timeout(CONNECT_TIMEOUT).with_allow_http(self.allow_http),
            )
            .with_retry(RetryConfig {
                // Connection failures are retried too: ~3 s of backoff, then the error.
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(2),
                    base: 2.0,
                },
                max_retries: 5,
                retry_timeout: Duration::from_secs(60),
            });
        if let Some(endpoint) = &self.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(key) = &self.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &self.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        if let Some(token) = &self.session_token {
            builder = builder.with_token(token);
        }
        let store = builder.build().map_err(|source| Error::S3Config {
            what: format!("the S3 client for bucket {bucket}"),
            reason: source.to_string(),
        })?;
        Ok(Arc::new(store))
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// A DataFusion object-store registry that also serves every `s3://bucket` URL, building the
/// bucket's store from [`S3Options`] on first use (then reusing it). Other URLs go to
/// DataFusion's default registry (`file://`).
pub struct S3Registry {
    inner: DefaultObjectStoreRegistry,
    options: S3Options,
}

impl fmt::Debug for S3Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Registry").field("options", &self.options).finish()
    }
}

impl S3Registry {
    /// A registry building S3 stores with `options`.
    pub fn new(options: S3Options) -> Self {
        S3Registry { inner: DefaultObjectStoreRegistry::new(), options }
    }

    /// The options stores are built with.
    pub fn options(&self) -> &S3Options {
        &self.options
    }
}

impl ObjectStoreRegistry for S3Registry {
    fn register_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        self.inner.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        self.inner.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        match self.inner.get_store(url) {
            Ok(store) => Ok(store),
            Err(_) if matches!(url.scheme(), "s3" | "s3a") && url.host_str().is_some() => {
                let bucket = url.host_str().unwrap_or_default().to_string();
                let store = self
                    .options
                    .build(&bucket)
                    .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
                self.inner.register_store(&bucket_url(&bucket), store.clone());
                tracing::debug!(bucket, endpoint = %self.options.endpoint_display(), "S3 store built");
                Ok(store)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn locations_parse() {
        let l = S3Location::parse("s3://reelforest-wh/team/prod").expect("ok");
        assert_eq!((l.bucket.as_str(), l.prefix.as_str()), ("reelforest-wh", "team/prod"));
        assert_eq!(l.root_url().as_str(), "s3://reelforest-wh/team/prod/");
        assert_eq!(l.bucket_url().as_str(), "s3://reelforest-wh");
        let l = S3Location::parse("s3a://bucket/").expect("s3a");
        assert_eq!((l.bucket.as_str(), l.prefix.as_str()), ("bucket", ""));
        assert_eq!(l.root_url().as_str(), "s3://bucket/");
        assert_eq!(l.base().as_ref(), "");
    }

    #[test]
    fn bad_locations_say_why() {
        for (location, why) in [
            ("s3:///prefix", "no bucket"),
            ("s3://Bad_Bucket/x", "invalid bucket name"),
            ("s3://ab/x", "invalid bucket name"),
            ("s3://-bucket/x", "invalid bucket name"),
            ("s3://bucket/a//b", "bad prefix"),
            ("s3://key:secret@bucket/x", "no credentials"),
            ("s3://bucket:9000/x", "no credentials or port"),
            ("s3://bucket/x?endpoint=y", "no query"),
        ] {
            let err = S3Location::parse(location).expect_err(location).to_string();
            assert!(err.contains(why), "{location}: {err}");
        }
        assert!(matches!(S3Location::parse("s3:///prefix"), Err(LocationProblem::NoBucket)));
        assert!(matches!(S3Location::parse("http://bucket/x"), Err(LocationProblem::NotS3(s)) if s == "http"));
        assert!(matches!(S3Location::parse("s3://ab/x"), Err(LocationProblem::InvalidBucket(b)) if b == "ab"));
    }

    #[test]
    fn environment_is_read_like_the_aws_tools() {
        let o = S3Options::from_vars(vars(&[
            ("AWS_ACCESS_KEY_ID", "AKIA1"),
            ("AWS_SECRET_ACCESS_KEY", "s3cr3t"),
            ("AWS_DEFAULT_REGION", "eu-west-1"),
            ("AWS_ENDPOINT", "http://127.0.0.1:9000"),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "false"),
            ("AWS_PROFILE", "ignored: not an object_store key"),
            ("PATH", "/bin"),
        ]))
        .expect("valid");
        assert_eq!(o.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(o.region.as_deref(), Some("eu-west-1"));
        assert_eq!(o.access_key_id.as_deref(), Some("AKIA1"));
        assert!(o.allow_http);
        assert_eq!(o.extra, vec![(AmazonS3ConfigKey::VirtualHostedStyleRequest, "false".to_string())]);
        // AWS_ENDPOINT_URL wins over AWS_ENDPOINT, AWS_REGION over AWS_DEFAULT_REGION.
        let o = S3Options::from_vars(vars(&[
            ("AWS_ENDPOINT", "https://old"),
            ("AWS_ENDPOINT_URL", "https://new"),
            ("AWS_REGION", "us-west-2"),
            ("AWS_DEFAULT_REGION", "eu-west-1"),
        ]))
        .expect("valid");
        assert_eq!(o.endpoint.as_deref(), Some("https://new"));
        assert_eq!(o.endpoint_display(), "https://new");
        assert_eq!(o.region.as_deref(), Some("us-west-2"));
        let none = S3Options::from_vars(vars(&[])).expect("empty is fine");
        assert_eq!(none.endpoint_display(), "https://s3.us-east-1.amazonaws.com");
    }

    #[test]
    fn settings_that_cannot_work_name_the_variable() {
        for (pairs, what) in [
            (vec![("AWS_ALLOW_HTTP", "maybe")], "AWS_ALLOW_HTTP"),
            (vec![("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")], "AWS_ALLOW_HTTP=true"),
            (vec![("AWS_ENDPOINT_URL", "ftp://host")], "expected http or https"),
            (vec![("AWS_ENDPOINT_URL", "not a url")], "is not a URL"),
            (vec![("AWS_ACCESS_KEY_ID", "AKIA1")], "AWS_SECRET_ACCESS_KEY"),
            (vec![("AWS_SECRET_ACCESS_KEY", "x")], "AWS_ACCESS_KEY_ID"),
        ] {
            let err = S3Options::from_vars(vars(&pairs)).expect_err(what);
            assert!(matches!(err, Error::S3Config { .. }), "{err}");
            assert!(err.to_string().contains(what), "{pairs:?}: {err}");
        }
    }

    #[test]
    fn secrets_are_not_printed() {
        let o = S3Options::with_endpoint("http://127.0.0.1:1", "AKIA1", "very-secret");
        let text = format!("{o:?}");
        assert!(!text.contains("very-secret"), "{text}");
        assert!(text.contains("AKIA1"), "{text}");
    }

    #[test]
    fn registry_builds_s3_stores_on_demand_and_keeps_files() {
        let registry = S3Registry::new(S3Options::with_endpoint("http://127.0.0.1:1", "k", "s"));
        let a = registry.get_store(&Url::parse("s3://bucket-a/x/y.parquet").expect("url")).expect("built");
        let again = registry.get_store(&Url::parse("s3://bucket-a/other").expect("url")).expect("cached");
        assert!(Arc::ptr_eq(&a, &again), "one store per bucket");
        assert!(registry.get_store(&Url::parse("file:///tmp/x").expect("url")).is_ok());
        assert!(registry.get_store(&Url::parse("s3://Bad_Bucket/x").expect("url")).is_err());
        assert!(registry.get_store(&Url::parse("gs://bucket/x").expect("url")).is_err());
    }
}
