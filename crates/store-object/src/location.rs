//! Where a blob store on object storage lives, and how it reaches the service:
//! `s3://bucket/prefix`, with the rest from the environment as the AWS tools take it.

use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::{ClientOptions, RetryConfig};
use store_core::{StoreError, StoreResult};

/// How long a collector's lease on a blob counts unless the options say otherwise
/// ([`ObjectOptions::lease`]): a writer that finds an older one takes its collector for
/// dead, and a collector removes nothing once half of it has passed.
pub const LEASE: Duration = Duration::from_secs(120);

/// How an [`ObjectBlobStore`](crate::ObjectBlobStore) is opened: where (`s3://bucket/prefix`)
/// and how the service is reached. [`ObjectOptions::from_location`] takes the credentials,
/// region and endpoint from the environment as the AWS command line does; the builder
/// methods set them explicitly (a test's server, a daemon's own configuration).
///
/// `Debug` never shows the secret key.
#[derive(Clone)]
#[non_exhaustive]
pub struct ObjectOptions {
    /// The bucket.
    pub bucket: String,
    /// The prefix inside the bucket every object of the store is under (no leading or
    /// trailing `/`; empty for the bucket's root).
    pub prefix: String,
    /// Open for reading only: nothing is created, every write and delete is refused with
    /// [`StoreError::OpenedReadOnly`]. `false` by default.
    pub read_only: bool,
    /// Create the store (its marker object) when there is none. `true` by default; without
    /// it, or when read-only, a prefix with no store is [`StoreError::NoStore`].
    pub create_if_missing: bool,
    /// How many times a request that failed transiently (a timeout, a dropped connection,
    /// a 5xx or a 429 answer) is sent again, with exponential backoff: 10 by default.
    pub max_retries: usize,
    /// How long one request may take before it counts as failed (and is retried): 30 s by
    /// default.
    pub request_timeout: Duration,
    /// How long a collector's lease on a blob counts ([`LEASE`], 2 minutes, by
    /// default): a writer that finds an older one takes its collector for dead, and a
    /// collector removes nothing once half of it has passed since it took its leases. Every
    /// handle of a store must use the same.
    pub lease: Duration,
    /// Whether the endpoint is plain `http://` (a local server).
    allow_http: bool,
    builder: AmazonS3Builder,
}

impl std::fmt::Debug for ObjectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectOptions")
            .field("location", &self.location())
            .field("read_only", &self.read_only)
            .field("create_if_missing", &self.create_if_missing)
            .finish_non_exhaustive()
    }
}

/// Equal when they open the same store the same way: location, flags, retries, and the
/// endpoint, region and access key they reach it with.
impl PartialEq for ObjectOptions {
    fn eq(&self, other: &Self) -> bool {
        use object_store::aws::AmazonS3ConfigKey as Key;
        let reach = |options: &ObjectOptions| {
            [Key::Endpoint, Key::Region, Key::AccessKeyId]
                .map(|key| options.builder.get_config_value(&key))
        };
        self.bucket == other.bucket
            && self.prefix == other.prefix
            && self.read_only == other.read_only
            && self.create_if_missing == other.create_if_missing
            && self.max_retries == other.max_retries
            && self.request_timeout == other.request_timeout
            && self.lease == other.lease
            && self.allow_http == other.allow_http
            && reach(self) == reach(other)
    }
}

impl Eq for ObjectOptions {}

impl ObjectOptions {
    /// The options of the store at `location` (`s3://bucket` or `s3://bucket/prefix`),
    /// reaching the service as the AWS tools do from the environment: `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` (or the instance's or container's
    /// role), `AWS_REGION` or `AWS_DEFAULT_REGION`, and `AWS_ENDPOINT_URL_S3` or
    /// `AWS_ENDPOINT_URL` for an S3-compatible service other than AWS (plain `http://`
    /// allowed only when the endpoint says so).
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] (field `location`) for anything but `s3://BUCKET[/PREFIX]`
    /// (credentials in the URL included: they belong in the environment).
    pub fn from_location(location: &str) -> StoreResult<Self> {
        let mut options = Self::parse(location)?;
        // The endpoint variables as the AWS command line reads them (object_store reads
        // `AWS_ENDPOINT` and `AWS_ENDPOINT_URL_S3`; the CLI's general one is added here).
        let endpoint = std::env::var("AWS_ENDPOINT_URL_S3")
            .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
            .ok();
        options.builder = AmazonS3Builder::from_env();
        if let Ok(region) = std::env::var("AWS_REGION") {
            options.builder = options.builder.with_region(region);
        }
        if let Some(endpoint) = endpoint {
            options = options.endpoint(&endpoint);
        }
        Ok(options)
    }

    /// The bucket and prefix of `location`, with nothing from the environment.
    fn parse(location: &str) -> StoreResult<Self> {
        let bad = |reason: &str| {
            StoreError::invalid(
                "location",
                format!(
                    "{:?} is not an s3://BUCKET/PREFIX location: {reason}",
                    store_core::redact_location(location)
                ),
            )
        };
        let url = url::Url::parse(location).map_err(|_| bad("not a URL"))?;
        if url.scheme() != "s3" {
            return Err(bad("the scheme is not s3"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "credentials go in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), \
                 not in the location",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("a location has no query or fragment"));
        }
        let bucket = url
            .host_str()
            .filter(|host| !host.is_empty())
            .ok_or_else(|| bad("no bucket"))?
            .to_owned();
        let prefix = url.path().trim_matches('/').to_owned();
        // As written, before the URL parser folds `.` and `..` away.
        let written = location
            .split_once("://")
            .map_or("", |(_, rest)| {
                rest.split_once('/').map_or("", |(_, path)| path)
            })
            .trim_end_matches('/');
        if !written.is_empty()
            && written
                .split('/')
                .any(|part| part == "." || part == ".." || part.is_empty())
        {
            return Err(bad("the prefix has an empty, `.` or `..` part"));
        }
        Ok(ObjectOptions {
            bucket,
            prefix,
            read_only: false,
            create_if_missing: true,
            max_retries: 10,
            request_timeout: Duration::from_secs(30),
            lease: LEASE,
            allow_http: false,
            builder: AmazonS3Builder::new(),
        })
    }

    /// These options with nothing taken from the environment: for a test's server, or a
    /// daemon configured otherwise. Set the endpoint, region and credentials with the
    /// builder methods.
    ///
    /// # Errors
    /// As [`ObjectOptions::from_location`].
    pub fn from_location_only(location: &str) -> StoreResult<Self> {
        Self::parse(location)
    }

    /// These options reaching an S3-compatible service at `endpoint` (`http://127.0.0.1:9000`)
    /// with path-style requests; plain HTTP is allowed when the endpoint is `http://`.
    pub fn endpoint(mut self, endpoint: &str) -> Self {
        self.builder = self
            .builder
            .with_endpoint(endpoint)
            .with_virtual_hosted_style_request(false);
        self.allow_http = endpoint.starts_with("http://");
        self
    }

    /// These options signing requests with this access key.
    pub fn credentials(mut self, access_key_id: &str, secret_access_key: &str) -> Self {
        self.builder = self
            .builder
            .with_access_key_id(access_key_id)
            .with_secret_access_key(secret_access_key);
        self
    }

    /// These options in this region.
    pub fn region(mut self, region: &str) -> Self {
        self.builder = self.builder.with_region(region);
        self
    }

    /// These options opening read-only, or not.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// These options creating a missing store, or not.
    pub fn create_if_missing(mut self, create: bool) -> Self {
        self.create_if_missing = create;
        self
    }

    /// These options retrying a transiently failed request this many times.
    pub fn max_retries(mut self, retries: usize) -> Self {
        self.max_retries = retries;
        self
    }

    /// These options with collectors' leases counting `lease`.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The location as it is shown: `s3://bucket/prefix` (it never holds a credential).
    pub fn location(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    /// The client of the bucket.
    pub(crate) fn client(&self) -> StoreResult<AmazonS3> {
        let retry = RetryConfig {
            max_retries: self.max_retries,
            ..RetryConfig::default()
        };
        self.builder
            .clone()
            .with_bucket_name(&self.bucket)
            .with_retry(retry)
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(self.allow_http)
                    .with_timeout(self.request_timeout)
                    .with_connect_timeout(Duration::from_secs(5)),
            )
            .build()
            .map_err(|err| {
                StoreError::invalid(
                    "location",
                    format!("{}: {}", self.location(), crate::error::shown(&err)),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_is_a_bucket_and_a_prefix() {
        let options = ObjectOptions::from_location_only("s3://blobs/daemon/one/").expect("parses");
        assert_eq!(options.bucket, "blobs");
        assert_eq!(options.prefix, "daemon/one");
        assert_eq!(options.location(), "s3://blobs/daemon/one");
        let root = ObjectOptions::from_location_only("s3://blobs").expect("parses");
        assert_eq!(root.prefix, "");
        assert_eq!(root.location(), "s3://blobs");
    }

    #[test]
    fn every_other_form_is_refused_by_name_and_never_shows_a_secret() {
        for (text, why) in [
            ("https://blobs/x", "scheme"),
            ("s3:///x", "no bucket"),
            ("s3://key:hunter2@blobs/x", "credentials"),
            ("s3://blobs/a/../b", "`..`"),
            ("s3://blobs/a//b", "empty"),
            ("s3://blobs/x?versionId=1", "query"),
            ("not a url", "not a URL"),
        ] {
            let err = ObjectOptions::from_location_only(text).expect_err(text);
            let shown = err.to_string();
            assert!(
                matches!(
                    err,
                    StoreError::InvalidInput {
                        field: "location",
                        ..
                    }
                ),
                "{text}: {shown}"
            );
            assert!(shown.contains(why), "{text}: {shown}");
            assert!(!shown.contains("hunter2"), "{shown}");
        }
    }
}
