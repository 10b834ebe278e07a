//! The object-store destination of labelstore (SPEC §5).
//!
//! [`ObjStoreDestination`] writes a store as objects under a prefix, laid out
//! exactly as a local store: the object `<prefix><path>` for every store path.
//! Two kinds of target:
//!
//! - an OCI Object Storage pre-authenticated request URL ([`ParUrl`]) and a
//!   prefix: objects are PUT to `<par-url><prefix><path>` with a plain HTTP
//!   client; objects above [`ObjStoreOptions::multipart_threshold`] go through
//!   the PAR multipart flow;
//! - any URL `object_store` speaks: `s3://bucket/prefix` (with `--endpoint`
//!   and `--region` for S3-compatible services), `gs://`, `az://`, with each
//!   cloud's usual environment variables for credentials (for `s3://`,
//!   else the AWS CLI's profile files, else a refusal naming where it
//!   looked: see `aws_profile.rs`);
//! - a plain HTTP(S) server that accepts PUT (WebDAV, such as nginx's dav
//!   module): `http(s)://[user:password@]host[:port]/path/`, through
//!   `object_store`'s `HttpStore` (see the `webdav` module for its quirks).
//!
//! Uploads run in the background, up to [`ObjStoreOptions::concurrency`] at
//! a time and, with [`ObjStoreOptions::bytes_in_flight`], only while the
//! objects in flight stay within that many bytes: small objects go up many
//! at once, large ones few, so each keeps its share of the bandwidth. Each is retried on 408, 429, 5xx and connection errors with
//! exponential backoff, under a timeout that grows with the object's size.
//!
//! **Whole or nothing.** Objects appear as they are uploaded, so completeness
//! is marked by the store manifest (`labelstore-manifest.json`), which
//! [`commit`](Destination::commit) uploads after waiting for every other
//! upload; a store without the manifest is incomplete. On S3,
//! GCS and Azure, the manifest of an earlier store under the same prefix is
//! deleted before the first upload, and [`abort`](Destination::abort) (or a
//! failed commit) deletes every object this store uploaded. Through a PAR,
//! deleting objects is not part of the documented protocol: an aborted store
//! leaves its uploaded objects behind without a manifest (and an earlier
//! store's manifest, if any, stays: store to a new prefix to tell them apart).
//! An HTTP server deletes with `DELETE` (folders it created stay).
//!
//! **Replacing.** A store into a prefix that holds an earlier, complete
//! store replaces it: the files the earlier manifest lists are read before
//! that manifest is deleted, and once the new manifest is up, those this
//! store did not put (other chips, other formats) are deleted, so the
//! prefix holds what a local store of the new scope writes. Nothing that
//! no labelstore manifest listed is ever deleted. Through a PAR nothing
//! can be deleted: the earlier store's other files stay there.
//!
//! **Resuming.** Re-running a store skips objects already there with the
//! same size and MD5 (the S3 ETag of a single-part object, OCI's
//! `opc-content-md5`). An HTTP server gives no checksum, so through HTTP
//! every object is uploaded again: size alone is not trusted.
//!
//! **Secrets.** The PAR token is a bearer credential. [`ParUrl`] masks it as
//! `/p/<secret>/` in `Debug` and `Display`, and every error message is
//! scrubbed of it (and of any `/p/<token>/` a library puts in a message)
//! before it leaves this crate. The password of an HTTP URL's
//! `user:password@` is never in a URL the client builds, and is scrubbed
//! from every message too.

use std::collections::HashSet;
use std::fmt;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use object_store::path::{Path as ObjPath, PathPart};
use object_store::{
    Attribute, Attributes, ClientOptions, ObjectStore, ObjectStoreExt, PutMultipartOptions,
    PutOptions, PutPayload, RetryConfig, WriteMultipart,
};
use sink_api::{Body, ChipRecord, Destination, Error, Result, is_safe_store_path};
use tokio::task::JoinSet;

mod aws_profile;
mod par;
mod read;
mod webdav;

pub use par::{ParUrl, mask_par_url};
pub use read::{ByteSink, Lister, ObjStoreReader};

/// The store manifest's path: uploaded at commit, last.
pub use sink_api::STORE_MANIFEST;

/// Tuning of an object-store destination.
#[derive(Debug, Clone)]
pub struct ObjStoreOptions {
    /// Uploads in flight at once (at least 1). Default 8.
    pub concurrency: usize,
    /// When set, an upload starts only while the objects in flight, itself
    /// included, total at most this many bytes (one upload may always
    /// start, whatever its size): the number of uploads in flight follows
    /// the objects' sizes, up to [`ObjStoreOptions::concurrency`]. Default
    /// `None` (the count alone). See [`ObjStoreOptions::by_size`].
    pub bytes_in_flight: Option<u64>,
    /// For S3-compatible services: the endpoint URL (`http://` allowed).
    pub endpoint: Option<String>,
    /// For S3-compatible services: the signing region (for OCI, the OCI
    /// region id such as `eu-frankfurt-1`).
    pub region: Option<String>,
    /// Further `object_store` configuration keys for `--url` stores
    /// (`aws_access_key_id`, `google_service_account`, `azure_storage_account_key`...),
    /// applied over the environment's. Unknown keys are refused.
    pub config: Vec<(String, String)>,
    /// Retries of one request after the first attempt. Default 5.
    pub max_retries: usize,
    /// Objects larger than this go up in parts. Default 64 MiB.
    pub multipart_threshold: u64,
    /// The size of one part. Default 16 MiB.
    pub part_size: u64,
    /// The timeout of a request with no body; a request with a body gets
    /// this plus its size at [`ObjStoreOptions::min_rate`] bytes a second.
    /// Default 30 s.
    pub base_timeout: Duration,
    /// The slowest upload rate tolerated, in bytes a second. Default 256 KiB/s.
    pub min_rate: u64,
    /// The first backoff after a transient failure (doubled each time, at
    /// most 15 s). Default 200 ms.
    pub first_backoff: Duration,
}

impl Default for ObjStoreOptions {
    fn default() -> Self {
        ObjStoreOptions {
            concurrency: 8,
            bytes_in_flight: None,
            endpoint: None,
            region: None,
            config: Vec::new(),
            max_retries: 5,
            multipart_threshold: 64 << 20,
            part_size: 16 << 20,
            base_timeout: Duration::from_secs(30),
            min_rate: 256 << 10,
            first_backoff: Duration::from_millis(200),
        }
    }
}

impl ObjStoreOptions {
    /// Uploads in flight picked from the objects' sizes: up to 32 at once
    /// while they total at most 64 MiB. Chips of 100 KB go up 32 at a
    /// time (a request's latency dominates a small object), chips of 8 MiB
    /// 8 at a time, objects of 64 MiB and more one at a time, so no upload
    /// is slowed below [`ObjStoreOptions::min_rate`] by its neighbours
    /// sooner than the count alone would make it.
    pub fn by_size() -> ObjStoreOptions {
        ObjStoreOptions {
            concurrency: 32,
            bytes_in_flight: Some(64 << 20),
            ..ObjStoreOptions::default()
        }
    }
}

/// Whether one more upload of `size` bytes may start beside `count`
/// uploads of `bytes` in all: at most `max` at once and, with a budget,
/// within it; one may always start when none is in flight.
fn may_start(count: usize, bytes: u64, size: u64, max: usize, budget: Option<u64>) -> bool {
    count == 0 || (count < max && budget.is_none_or(|b| bytes.saturating_add(size) <= b))
}

/// Counts an upload's bytes as in flight until it is dropped (done,
/// failed or aborted).
struct InFlight {
    bytes: Arc<std::sync::atomic::AtomicU64>,
    size: u64,
}

impl InFlight {
    fn new(bytes: &Arc<std::sync::atomic::AtomicU64>, size: u64) -> InFlight {
        bytes.fetch_add(size, std::sync::atomic::Ordering::Relaxed);
        InFlight {
            bytes: bytes.clone(),
            size,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.bytes
            .fetch_sub(self.size, std::sync::atomic::Ordering::Relaxed);
    }
}

pub(crate) type UploadOptions = ObjStoreOptions;

/// The timeout of one request carrying `len` bytes.
pub(crate) fn request_timeout(len: u64, o: &UploadOptions) -> Duration {
    o.base_timeout + Duration::from_secs(len / o.min_rate.max(1))
}

/// object_store's retry settings from ours.
pub(crate) fn retry_config(opts: &UploadOptions) -> RetryConfig {
    RetryConfig {
        backoff: object_store::BackoffConfig {
            init_backoff: opts.first_backoff,
            max_backoff: Duration::from_secs(15),
            base: 2.0,
        },
        max_retries: opts.max_retries,
        retry_timeout: Duration::from_secs(180),
    }
}

/// The wait before retry number `attempt + 1`.
pub(crate) fn backoff(attempt: usize, o: &UploadOptions) -> Duration {
    let d = o.first_backoff.saturating_mul(1 << attempt.min(16));
    d.min(Duration::from_secs(15))
}

/// Removes `secret` and any `/p/<token>/` from a message.
pub(crate) fn scrub(s: &str, secret: &str) -> String {
    let s = if secret.is_empty() {
        s.to_owned()
    } else {
        s.replace(secret, "<secret>")
    };
    par::mask_str(&s)
}

/// The text of a library error with its sources (not scrubbed).
fn error_text(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let t = s.to_string();
        if !msg.contains(&t) {
            msg = format!("{msg}: {t}");
        }
        source = s.source();
    }
    msg
}

/// The text between `<tag>` and `</tag>` in `xml`, if any.
fn xml_element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let len = xml[start..].find(&format!("</{tag}>"))?;
    Some(xml[start..start + len].trim())
}

/// An error text with a cloud's XML error document in it (S3, GCS and
/// Azure answer `<Error><Code>…</Code><Message>…</Message>…</Error>`)
/// cut down to its code and message, and the bucket a `NoSuchBucket`
/// names; other texts unchanged.
fn tidy_xml_error(text: &str) -> String {
    let Some(at) = text.find("<?xml").or_else(|| text.find("<Error>")) else {
        return text.to_owned();
    };
    let xml = &text[at..];
    let Some(code) = xml_element(xml, "Code") else {
        return text.to_owned();
    };
    let mut summary = match xml_element(xml, "Message") {
        Some(message) => format!("{code}: {message}"),
        None => code.to_owned(),
    };
    if code == "NoSuchBucket"
        && let Some(bucket) = xml_element(xml, "BucketName")
    {
        summary = format!("{summary} (bucket {bucket}: create it first, or check the URL)");
    }
    format!("{}{summary}", &text[..at])
}

/// Adds the path of `line`, when it is a store manifest's file entry
/// with a safe path, to `files`.
fn manifest_file(line: &[u8], files: &mut HashSet<String>) {
    if let Some(Ok(entry)) = sink_api::manifest_entries(line).next()
        && is_safe_store_path(&entry.path)
    {
        files.insert(entry.path);
    }
}

/// An `object_store` client, or why it could not be built.
type Built = object_store::Result<Arc<dyn ObjectStore>>;

/// Why a `--url` store is refused before any request.
enum Refusal {
    /// The URL or an option is wrong (the message names the URL).
    Url(String),
    /// No credentials, or a profile that is nowhere (a message of its own).
    Credentials(String),
}

impl From<String> for Refusal {
    fn from(why: String) -> Refusal {
        Refusal::Url(why)
    }
}

/// The `object_store` client of an `s3`, `gs` or `az` URL's bucket, from
/// the environment and `opts`; `Err` is why the request is refused.
fn cloud_store(
    scheme: &str,
    bucket_url: &str,
    client: ClientOptions,
    http: bool,
    opts: &ObjStoreOptions,
) -> std::result::Result<Built, Refusal> {
    let retry = retry_config(opts);
    if scheme.starts_with("s3") {
        s3_store(bucket_url, client, http, retry, opts)
    } else if scheme == "gs" {
        let b = object_store::gcp::GoogleCloudStorageBuilder::from_env()
            .with_url(bucket_url)
            .with_client_options(client)
            .with_retry(retry);
        let b = with_options(b, opts, "GCS", |b, k, v| b.with_config(k, v))?;
        Ok(b.build().map(|s| Arc::new(s) as _))
    } else {
        let b = object_store::azure::MicrosoftAzureBuilder::from_env()
            .with_url(bucket_url)
            .with_client_options(client)
            .with_retry(retry);
        let b = with_options(b, opts, "Azure", |b, k, v| b.with_config(k, v))?;
        Ok(b.build().map(|s| Arc::new(s) as _))
    }
}

/// `--config` options set on a builder; an unknown key refuses the
/// request.
fn with_options<B, K: std::str::FromStr>(
    mut b: B,
    opts: &ObjStoreOptions,
    kind: &str,
    set: impl Fn(B, K, &str) -> B,
) -> std::result::Result<B, String> {
    for (k, v) in &opts.config {
        let Ok(key) = k.to_ascii_lowercase().parse() else {
            return Err(format!("unknown {kind} option {k:?}"));
        };
        b = set(b, key, v);
    }
    Ok(b)
}

/// The S3 client of `bucket_url`.
fn s3_store(
    bucket_url: &str,
    client: ClientOptions,
    http: bool,
    retry: object_store::RetryConfig,
    opts: &ObjStoreOptions,
) -> std::result::Result<Built, Refusal> {
    use object_store::aws::AmazonS3ConfigKey as Key;
    // The environment's endpoint and AWS_ALLOW_HTTP (the MinIO
    // and localstack convention) stand unless a flag says
    // otherwise; the client options set here would replace them.
    let env = object_store::aws::AmazonS3Builder::from_env();
    let env_endpoint = env
        .get_config_value(&Key::S3Endpoint)
        .or_else(|| env.get_config_value(&Key::Endpoint));
    let env_http = env
        .get_config_value(&Key::Client(object_store::ClientConfigKey::AllowHttp))
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    // Keys from the environment or the options, or no signing at all;
    // else the AWS CLI's files (aws_profile.rs), else a refusal.
    let keys_given = env.get_config_value(&Key::AccessKeyId).is_some()
        || env
            .get_config_value(&Key::SkipSignature)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        || opts.config.iter().any(|(k, _)| {
            matches!(
                k.to_ascii_lowercase().as_str(),
                "aws_access_key_id" | "access_key_id" | "aws_skip_signature" | "skip_signature"
            )
        });
    let (profile, file_keys) = match aws_profile::resolve(&aws_profile::process_env, keys_given)
        .map_err(Refusal::Credentials)?
    {
        aws_profile::Resolved::Environment(p) => (p, false),
        aws_profile::Resolved::Files(p) => (Some(p), true),
    };
    let profile_endpoint = profile
        .as_ref()
        .and_then(|p| p.endpoint_url.clone())
        .filter(|_| opts.endpoint.is_none() && env_endpoint.is_none());
    let plain_http = http
        || env_http
        || (opts.endpoint.is_none()
            && env_endpoint
                .as_deref()
                .or(profile_endpoint.as_deref())
                .is_some_and(|e| e.starts_with("http://")));
    let env_region = env.get_config_value(&Key::Region).is_some()
        || env.get_config_value(&Key::DefaultRegion).is_some();
    let mut b = env
        .with_url(bucket_url)
        .with_client_options(client.with_allow_http(plain_http))
        .with_retry(retry);
    if let Some(p) = &profile {
        if let Some(e) = &profile_endpoint {
            b = b.with_endpoint(e);
        }
        if let Some(r) = p.region.as_deref().filter(|_| !env_region) {
            b = b.with_region(r);
        }
        if file_keys {
            if let Some(k) = &p.access_key_id {
                b = b.with_access_key_id(k);
            }
            if let Some(k) = &p.secret_access_key {
                b = b.with_secret_access_key(k);
            }
            if let Some(t) = &p.session_token {
                b = b.with_token(t);
            }
        }
    }
    if let Some(e) = &opts.endpoint {
        // The flag wins over AWS_ENDPOINT_URL_S3, which the
        // builder would otherwise prefer to any endpoint.
        b = b.with_endpoint(e).with_config(Key::S3Endpoint, e);
    }
    if let Some(r) = &opts.region {
        b = b.with_region(r);
    }
    let b = with_options(b, opts, "S3", |b, k: Key, v| b.with_config(k, v))?;
    Ok(b.build().map(|s| Arc::new(s) as _))
}

/// A destination error from a library error, its text scrubbed.
pub(crate) fn destination_error(context: &str, e: &dyn std::error::Error) -> Error {
    Error::io(
        par::mask_str(context),
        std::io::Error::other(par::mask_str(&error_text(e))),
    )
}

/// The bytes of one object: in memory, or an open local file (open, so a
/// spooled file removed after its put is still readable).
#[derive(Debug, Clone)]
pub(crate) enum Source {
    Bytes(Bytes),
    File { file: Arc<std::fs::File>, len: u64 },
}

/// Objects already at the destination: store path -> (size, MD5 when the
/// store tells it for a single-part object).
pub(crate) type Listing = std::collections::HashMap<String, (u64, Option<[u8; 16]>)>;

pub(crate) fn md5_from_base64(s: &str) -> Option<[u8; 16]> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .ok()?
        .try_into()
        .ok()
}

/// The MD5 of a single-part S3 ETag (`"<32 hex digits>"`).
fn md5_from_etag(e: &str) -> Option<[u8; 16]> {
    let h = e.trim_matches('"');
    if h.len() != 32 {
        return None;
    }
    let mut out = [0; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Up to this size a file is read into memory for one request; above, it
/// is streamed.
const READ_WHOLE: u64 = 8 << 20;
/// The chunk of a streamed file.
const CHUNK: u64 = 1 << 20;

impl Source {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Source::Bytes(b) => b.len() as u64,
            Source::File { len, .. } => *len,
        }
    }

    /// The MD5 of the whole content.
    fn md5(&self) -> Result<[u8; 16]> {
        use md5::Digest as _;
        let mut h = md5::Md5::new();
        let mut offset = 0;
        while offset < self.len() {
            let n = CHUNK.min(self.len() - offset);
            h.update(self.read(offset, n)?);
            offset += n;
        }
        Ok(h.finalize().into())
    }

    /// `len` bytes from `offset`, in memory.
    fn read(&self, offset: u64, len: u64) -> Result<Bytes> {
        match self {
            Source::Bytes(b) => Ok(b.slice(offset as usize..(offset + len) as usize)),
            Source::File { file, .. } => {
                let mut buf = vec![0; len as usize];
                file.read_exact_at(&mut buf, offset)
                    .map_err(|e| Error::io("cannot read a local file to upload", e))?;
                Ok(Bytes::from(buf))
            }
        }
    }

    /// `len` bytes from `offset` as a request body (streamed when large).
    pub(crate) fn body(&self, offset: u64, len: u64) -> Result<reqwest::Body> {
        match self {
            Source::File { file, .. } if len > READ_WHOLE => {
                let file = file.clone();
                let end = offset + len;
                let stream = futures_util::stream::unfold(offset, move |at| {
                    let file = file.clone();
                    async move {
                        if at >= end {
                            return None;
                        }
                        let n = CHUNK.min(end - at);
                        let mut buf = vec![0; n as usize];
                        let r = file.read_exact_at(&mut buf, at).map(|()| Bytes::from(buf));
                        Some((r, at + n))
                    }
                });
                Ok(reqwest::Body::wrap_stream(stream))
            }
            _ => Ok(reqwest::Body::from(self.read(offset, len)?)),
        }
    }
}

/// The Content-Type of a stored file, from its extension.
pub fn content_type(path: &str) -> &'static str {
    let ext = path
        .rsplit('/')
        .next()
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "json" => "application/json",
        "geojson" => "application/geo+json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "tif" | "tiff" => "image/tiff",
        "gif" => "image/gif",
        "bmp" => "image/bmp",
        "xml" => "application/xml",
        "yaml" | "yml" => "application/yaml",
        "csv" => "text/csv",
        "txt" | "prj" | "names" | "data" => "text/plain",
        "shp" | "shx" => "application/vnd.shp",
        "dbf" => "application/dbase",
        _ => "application/octet-stream",
    }
}

/// Where the objects go.
#[derive(Clone)]
enum Backend {
    Store {
        store: Arc<dyn ObjectStore>,
        prefix: ObjPath,
        shown: String,
        opts: UploadOptions,
        /// Set for a plain HTTP(S) server (`HttpStore`): no multipart, no
        /// checksums, no server-side copy.
        http: Option<Arc<webdav::HttpTarget>>,
    },
    Par {
        client: par::ParClient,
        prefix: String,
    },
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backend::Store { shown, .. } => write!(f, "Store({shown})"),
            Backend::Par { client, prefix } => write!(f, "Par({}, {prefix:?})", client.url),
        }
    }
}

impl Backend {
    fn secret(&self) -> &str {
        match self {
            Backend::Store { http, .. } => http.as_ref().map_or("", |h| h.password.as_str()),
            Backend::Par { client, .. } => client.url.token(),
        }
    }

    fn key(&self, path: &str) -> ObjPath {
        match self {
            Backend::Store { prefix, .. } => prefix
                .parts()
                .chain(path.split('/').map(PathPart::from))
                .collect(),
            Backend::Par { .. } => ObjPath::default(),
        }
    }

    fn store_error(&self, what: &str, path: &str, e: &object_store::Error) -> Error {
        let context = format!("cannot {what} {path}");
        let denied = matches!(
            e,
            object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }
        );
        let mut text = if denied {
            e.to_string()
        } else {
            tidy_xml_error(&error_text(e))
        };
        if let Backend::Store { http: Some(_), .. } = self {
            if let Some(why) = webdav::folder_refused(&text) {
                return Error::io(context, std::io::Error::other(why));
            }
            text = webdav::tidy(&text);
        }
        if denied {
            text = format!("access denied (check the credentials): {text}");
        }
        Error::io(
            par::mask_str(&context),
            std::io::Error::other(scrub(&text, self.secret())),
        )
    }

    async fn put(&self, path: &str, src: &Source) -> Result<()> {
        let ctype = content_type(path);
        match self {
            Backend::Par { client, prefix } => {
                client.put(&format!("{prefix}{path}"), src, ctype).await
            }
            Backend::Store {
                store,
                opts,
                http: Some(http),
                ..
            } => {
                // One PUT whatever the size (HttpStore has no multipart),
                // under a whole-request timeout that fits it.
                let fail = |e: object_store::Error| self.store_error("upload", path, &e);
                let store = if src.len() > opts.multipart_threshold {
                    http.store(http.timeout(src.len())).map_err(fail)?
                } else {
                    store.clone()
                };
                let mut chunks = Vec::new();
                let mut offset = 0;
                while offset < src.len() {
                    let n = CHUNK.max(READ_WHOLE).min(src.len() - offset);
                    chunks.push(src.read(offset, n)?);
                    offset += n;
                }
                let put = PutOptions {
                    attributes: Attributes::from_iter([(Attribute::ContentType, ctype)]),
                    ..PutOptions::default()
                };
                store
                    .put_opts(&self.key(path), PutPayload::from_iter(chunks), put)
                    .await
                    .map_err(fail)?;
                Ok(())
            }
            Backend::Store { store, opts, .. } => {
                let key = self.key(path);
                let attributes = Attributes::from_iter([(Attribute::ContentType, ctype)]);
                let fail = |e: object_store::Error| self.store_error("upload", path, &e);
                if src.len() <= opts.multipart_threshold {
                    let payload = PutPayload::from(src.read(0, src.len())?);
                    let put = PutOptions {
                        attributes,
                        ..PutOptions::default()
                    };
                    store.put_opts(&key, payload, put).await.map_err(fail)?;
                    return Ok(());
                }
                let upload = store
                    .put_multipart_opts(
                        &key,
                        PutMultipartOptions {
                            attributes,
                            ..PutMultipartOptions::default()
                        },
                    )
                    .await
                    .map_err(fail)?;
                let mut w = WriteMultipart::new_with_chunk_size(upload, opts.part_size as usize);
                let mut offset = 0;
                while offset < src.len() {
                    let n = opts.part_size.min(src.len() - offset);
                    if let Err(e) = w.wait_for_capacity(2).await {
                        return Err(fail(e));
                    }
                    w.put(src.read(offset, n)?);
                    offset += n;
                }
                w.finish().await.map_err(fail)?;
                Ok(())
            }
        }
    }

    /// What is already under the prefix; empty when the store will not say.
    async fn list(&self) -> Listing {
        self.try_list().await.unwrap_or_default()
    }

    /// What is already under the prefix, or why the store would not say
    /// (a missing bucket, refused credentials); through a PAR, `None` when
    /// the listing fails.
    async fn try_list(&self) -> Result<Listing> {
        match self {
            Backend::Par { client, prefix } => Ok(client.list(prefix).await.unwrap_or_default()),
            // No checksums to compare: nothing is skipped.
            Backend::Store { http: Some(_), .. } => Ok(Listing::new()),
            Backend::Store { store, prefix, .. } => {
                use futures_util::StreamExt as _;
                let mut out = Listing::new();
                let mut stream = store.list(Some(prefix));
                let skip = prefix.parts().count();
                while let Some(item) = stream.next().await {
                    let meta = item.map_err(|e| self.store_error("list", prefix.as_ref(), &e))?;
                    let parts: Vec<_> = meta.location.parts().skip(skip).collect();
                    let path = parts
                        .iter()
                        .map(|p| p.as_ref())
                        .collect::<Vec<_>>()
                        .join("/");
                    let md5 = meta.e_tag.as_deref().and_then(md5_from_etag);
                    out.insert(path, (meta.size, md5));
                }
                Ok(out)
            }
        }
    }

    /// The files an earlier store's manifest under the prefix lists, read
    /// line by line (the pipeline writes one file entry a line). Empty when
    /// there is no manifest, or nothing can be deleted (through a PAR); a
    /// server that fails to answer fails the store.
    async fn earlier_files(&self) -> Result<HashSet<String>> {
        use futures_util::StreamExt as _;
        let Backend::Store { store, .. } = self else {
            return Ok(HashSet::new());
        };
        let got = match store.get(&self.key(STORE_MANIFEST)).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(HashSet::new()),
            Err(e) => return Err(self.store_error("read", STORE_MANIFEST, &e)),
        };
        let mut files = HashSet::new();
        let mut pending = Vec::new();
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.store_error("read", STORE_MANIFEST, &e))?;
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                manifest_file(&line, &mut files);
            }
        }
        manifest_file(&pending, &mut files);
        files.remove(STORE_MANIFEST);
        Ok(files)
    }

    async fn delete(&self, path: &str) -> Result<()> {
        match self {
            Backend::Par { .. } => Ok(()),
            Backend::Store { store, .. } => match store.delete(&self.key(path)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(self.store_error("delete", path, &e)),
            },
        }
    }

    /// The MD5 of an object, from the ETag its HEAD answers; `None` when
    /// unknown (through a PAR, the listing tells it).
    async fn head_md5(&self, path: &str) -> Option<[u8; 16]> {
        match self {
            // An HTTP server's ETag is no MD5 (nginx: mtime and size).
            Backend::Par { .. } | Backend::Store { http: Some(_), .. } => None,
            Backend::Store { store, .. } => {
                let meta = store.head(&self.key(path)).await.ok()?;
                meta.e_tag.as_deref().and_then(md5_from_etag)
            }
        }
    }

    /// A server-side copy where there is one (S3, GCS, Azure; not WebDAV
    /// COPY, which nginx answers with 500 when the target folder is missing).
    async fn copy(&self, from: &str, to: &str) -> Result<bool> {
        match self {
            Backend::Par { .. } | Backend::Store { http: Some(_), .. } => Ok(false),
            Backend::Store { store, .. } => {
                store
                    .copy(&self.key(from), &self.key(to))
                    .await
                    .map_err(|e| self.store_error("copy to", to, &e))?;
                Ok(true)
            }
        }
    }
}

/// An object store (or OCI PAR) as a store destination. See the crate docs.
#[derive(Debug)]
pub struct ObjStoreDestination {
    backend: Backend,
    concurrency: usize,
    /// [`ObjStoreOptions::bytes_in_flight`].
    budget: Option<u64>,
    /// The bytes of the uploads in flight.
    in_flight: Arc<std::sync::atomic::AtomicU64>,
    tasks: JoinSet<Result<()>>,
    /// The sources of the current chip's files, for `Body::Copy`.
    recent: std::collections::HashMap<String, Source>,
    /// Paths uploaded (or being uploaded), deleted on abort where possible.
    uploaded: Arc<Mutex<Vec<String>>>,
    started: bool,
    /// What an earlier, interrupted store left (for resuming).
    existing: Listing,
    skipped: usize,
    /// The files an earlier, complete store's manifest under this prefix
    /// listed that this store has not put (yet): removed after commit.
    earlier: HashSet<String>,
    removed: usize,
    /// A dry run ([`ObjStoreDestination::dry_run`]): lists, reads, writes
    /// nothing.
    dry_run: bool,
    /// In a dry run, the objects already there that would be skipped.
    would_skip: sink_api::Tally,
}

impl ObjStoreDestination {
    /// A store to `url` (`s3://bucket/prefix`, `gs://…`, `az://…`, or
    /// `http(s)://[user:password@]host[:port]/path/` for a WebDAV server),
    /// through `object_store`. A bad URL or option is refused (exit status
    /// 2); a password in the URL never appears in a message.
    pub fn open_url(url: &str, opts: ObjStoreOptions) -> Result<ObjStoreDestination> {
        let refuse = |why: String| {
            Err(Error::Refused(format!(
                "bad --url {:?}: {why}",
                webdav::mask_userinfo(url)
            )))
        };
        let parsed = match reqwest::Url::parse(url) {
            Ok(u) => u,
            Err(e) => return refuse(e.to_string()),
        };
        let scheme = parsed.scheme().to_owned();
        if matches!(scheme.as_str(), "http" | "https") {
            let p = webdav::parse(url, &opts)?;
            let store = p
                .target
                .store(p.target.timeout(0))
                .map_err(|e| Error::Refused(scrub(&e.to_string(), &p.target.password)))?;
            return Ok(Self::with_backend(
                Backend::Store {
                    store,
                    prefix: p.prefix,
                    shown: p.shown,
                    opts: opts.clone(),
                    http: Some(Arc::new(p.target)),
                },
                &opts,
            ));
        }
        if !matches!(
            scheme.as_str(),
            "s3" | "s3a" | "gs" | "az" | "abfs" | "abfss"
        ) {
            return refuse(
                "use s3://bucket/prefix, gs://bucket/prefix, az://container/prefix or \
                 http(s)://host/path/ for a WebDAV server \
                 (for an OCI PAR URL use --par-url and --prefix)"
                    .into(),
            );
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return refuse("no bucket".into());
        }
        if !scheme.starts_with("s3") && (opts.endpoint.is_some() || opts.region.is_some()) {
            return refuse("--endpoint and --region apply to s3:// URLs only".into());
        }
        let prefix = parsed.path().trim_matches('/');
        if !prefix.is_empty() && !is_safe_store_path(prefix) {
            return refuse("the prefix has an empty, '.' or '..' segment".into());
        }
        let prefix = ObjPath::from_iter(prefix.split('/').filter(|s| !s.is_empty()));
        let mut client = ClientOptions::new()
            .with_timeout(request_timeout(
                opts.multipart_threshold.max(opts.part_size),
                &opts,
            ))
            .with_connect_timeout(Duration::from_secs(10));
        let http = opts
            .endpoint
            .as_deref()
            .is_some_and(|e| e.starts_with("http://"));
        if http {
            client = client.with_allow_http(true);
        }
        let bucket_url = format!("{scheme}://{}", parsed.host_str().unwrap_or_default());
        let built = match cloud_store(&scheme, &bucket_url, client, http, &opts) {
            Ok(built) => built,
            Err(Refusal::Url(why)) => return refuse(why),
            Err(Refusal::Credentials(why)) => return Err(Error::Refused(why)),
        };
        let store = match built {
            Ok(s) => s,
            Err(e) => return refuse(par::mask_str(&e.to_string())),
        };
        let shown = format!("{bucket_url}/{prefix}");
        Ok(Self::with_backend(
            Backend::Store {
                store,
                prefix,
                shown,
                opts: opts.clone(),
                http: None,
            },
            &opts,
        ))
    }

    /// A store through an OCI PAR URL, under `prefix` (a `/` is added when
    /// missing; an empty prefix stores at the PAR's root). A bad URL or
    /// prefix is refused (exit status 2); the token never appears in the
    /// message.
    pub fn open_par(
        par_url: &str,
        prefix: &str,
        opts: ObjStoreOptions,
    ) -> Result<ObjStoreDestination> {
        let url = ParUrl::parse(par_url)?;
        let trimmed = prefix.trim_start_matches('/').trim_end_matches('/');
        if !trimmed.is_empty() && !is_safe_store_path(trimmed) {
            return Err(Error::Refused(format!(
                "bad --prefix {prefix:?}: it has an empty, '.' or '..' segment"
            )));
        }
        let prefix = if trimmed.is_empty() {
            String::new()
        } else {
            format!("{trimmed}/")
        };
        let client = par::ParClient::new(url, opts.clone())?;
        Ok(Self::with_backend(Backend::Par { client, prefix }, &opts))
    }

    fn with_backend(backend: Backend, opts: &ObjStoreOptions) -> ObjStoreDestination {
        ObjStoreDestination {
            backend,
            concurrency: opts.concurrency.max(1),
            budget: opts.bytes_in_flight,
            in_flight: Arc::default(),
            tasks: JoinSet::new(),
            recent: Default::default(),
            uploaded: Arc::default(),
            started: false,
            existing: Listing::new(),
            skipped: 0,
            earlier: HashSet::new(),
            removed: 0,
            dry_run: false,
            would_skip: sink_api::Tally::default(),
        }
    }

    /// Waits for one upload to end; its error, if any.
    async fn join_one(&mut self) -> Result<()> {
        match self.tasks.join_next().await {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(e),
            Some(Err(e)) => Err(Error::io(
                "an upload task failed",
                std::io::Error::other(e.to_string()),
            )),
        }
    }

    /// Waits for every upload in flight; the first error.
    async fn drain(&mut self) -> Result<()> {
        let mut first = Ok(());
        while !self.tasks.is_empty() {
            let r = self.join_one().await;
            if first.is_ok() {
                first = r;
            }
        }
        first
    }

    /// Deletes every object uploaded so far (where the store allows).
    async fn remove_uploaded(&mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        let paths = std::mem::take(&mut *self.uploaded.lock().unwrap_or_else(|e| e.into_inner()));
        let mut set = JoinSet::new();
        for path in paths {
            let backend = self.backend.clone();
            set.spawn(async move { backend.delete(&path).await });
            if set.len() >= self.concurrency
                && let Some(Ok(Err(_))) = set.join_next().await
            {
                // A delete failed after its retries: the server is down or
                // refuses. The others would fail alike, each after its own
                // retries; they stay behind, without a manifest.
                break;
            }
        }
        while set.join_next().await.is_some() {}
    }

    /// What the first put (or the commit of an empty store) does: look at
    /// what the prefix holds, and delete an earlier store's manifest, which
    /// must not mark this one complete.
    async fn start(&mut self) -> Result<()> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        if self.dry_run {
            // A dry run says why the store would fail to start here.
            self.existing = self.backend.try_list().await?;
            self.earlier = self.backend.earlier_files().await?;
            return Ok(());
        }
        self.existing = self.backend.list().await;
        self.earlier = self.backend.earlier_files().await?;
        self.backend.delete(STORE_MANIFEST).await.map_err(|e| {
            Error::io(
                "cannot remove the manifest of an earlier store under this prefix",
                std::io::Error::other(e.to_string()),
            )
        })
    }

    fn source(body: Body) -> Result<std::result::Result<Source, String>> {
        Ok(Ok(match body {
            Body::Bytes(b) => Source::Bytes(Bytes::from(b)),
            Body::File(p) => {
                let file = std::fs::File::open(&p)
                    .map_err(|e| Error::io(format_args!("cannot open {}", p.display()), e))?;
                let len = file
                    .metadata()
                    .map_err(|e| Error::io(format_args!("cannot read {}", p.display()), e))?
                    .len();
                Source::File {
                    file: Arc::new(file),
                    len,
                }
            }
            Body::Copy(existing) => return Ok(Err(existing)),
        }))
    }
}

impl Destination for ObjStoreDestination {
    fn describe(&self) -> String {
        match &self.backend {
            Backend::Store { shown, .. } => format!("object store {shown}"),
            Backend::Par { client, prefix } => {
                format!(
                    "OCI pre-authenticated request {} prefix {prefix:?}",
                    client.url
                )
            }
        }
    }

    async fn put(&mut self, path: &str, body: Body) -> Result<()> {
        if !is_safe_store_path(path) {
            return Err(Error::Refused(format!("unsafe store path {path:?}")));
        }
        self.start().await?;
        let src = match Self::source(body)? {
            Ok(src) => src,
            Err(existing) => match self.recent.get(&existing) {
                Some(src) => src.clone(),
                None if self.dry_run => {
                    // A copy on the server: nothing to compare.
                    self.earlier.remove(path);
                    return Ok(());
                }
                None => {
                    // Not among the current chip's files: copy on the server
                    // once the original is up.
                    self.drain().await?;
                    if self.backend.copy(&existing, path).await? {
                        self.earlier.remove(path);
                        self.lock_uploaded().push(path.to_owned());
                        return Ok(());
                    }
                    return Err(Error::io(
                        format_args!("cannot put {path}"),
                        std::io::Error::other(format!(
                            "{existing} is no longer at hand to upload again"
                        )),
                    ));
                }
            },
        };
        self.earlier.remove(path);
        self.recent.insert(path.to_owned(), src.clone());
        if let Some(&(size, listed)) = self.existing.get(path)
            && size == src.len()
        {
            // Some servers (s3s-fs) list objects without their ETag: then
            // the object's own HEAD tells it.
            let md5 = match listed {
                Some(md5) => Some(md5),
                None => self.backend.head_md5(path).await,
            };
            if let Some(md5) = md5
                && src.md5()? == md5
            {
                // Already there from an interrupted run of the same store.
                self.skipped += 1;
                self.would_skip.add(size);
                return Ok(());
            }
        }
        if self.dry_run {
            return Ok(());
        }
        while !may_start(
            self.tasks.len(),
            self.in_flight.load(std::sync::atomic::Ordering::Relaxed),
            src.len(),
            self.concurrency,
            self.budget,
        ) {
            self.join_one().await?;
        }
        let backend = self.backend.clone();
        let uploaded = self.uploaded.clone();
        let path = path.to_owned();
        let in_flight = InFlight::new(&self.in_flight, src.len());
        self.tasks.spawn(async move {
            let _in_flight = in_flight;
            uploaded
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(path.clone());
            backend.put(&path, &src).await
        });
        Ok(())
    }

    async fn chip_stored(&mut self, _record: &ChipRecord<'_>) -> Result<()> {
        self.recent.clear();
        Ok(())
    }

    async fn commit(mut self, manifest: Body) -> Result<()> {
        if self.dry_run {
            return Ok(());
        }
        let manifest = match self.start().await.and_then(|()| Self::source(manifest)) {
            Ok(Ok(src)) => src,
            Ok(Err(existing)) => {
                return Err(Error::Refused(format!(
                    "the store manifest cannot be a copy of {existing}"
                )));
            }
            Err(e) => {
                self.remove_uploaded().await;
                return Err(e);
            }
        };
        if let Err(e) = self.drain().await {
            self.remove_uploaded().await;
            return Err(e);
        }
        if let Err(e) = self.backend.put(STORE_MANIFEST, &manifest).await {
            self.remove_uploaded().await;
            return Err(e);
        }
        self.remove_earlier().await;
        Ok(())
    }

    async fn abort(mut self) -> Result<()> {
        self.remove_uploaded().await;
        Ok(())
    }

    /// The objects already there that the store would skip, and the files
    /// of an earlier store under the prefix (listed by its manifest) it
    /// would delete; the store manifest is always uploaded. Writes nothing.
    async fn preview(mut self, manifest: Body) -> Result<sink_api::Preview> {
        drop(manifest);
        if !self.dry_run {
            self.remove_uploaded().await;
            return Err(Error::Refused(
                "a preview needs a destination opened for a dry run".into(),
            ));
        }
        self.start().await?;
        Ok(sink_api::Preview {
            skip: self.would_skip,
            delete: self.earlier.len(),
            ..Default::default()
        })
    }
}

impl ObjStoreDestination {
    /// This destination for a dry run: every put and the commit write
    /// nothing (no upload, no delete, not even the earlier manifest's);
    /// the prefix is only listed and an earlier store manifest read, to
    /// tell in [`preview`](Destination::preview) which objects the store
    /// would skip and which it would delete.
    pub fn dry_run(mut self) -> ObjStoreDestination {
        self.dry_run = true;
        self
    }

    /// How many objects were already at the destination with the same size
    /// and MD5, and not uploaded again.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// How many objects of an earlier store under the same prefix, listed
    /// by its manifest and not part of this store, were removed after the
    /// commit.
    pub fn removed(&self) -> usize {
        self.removed
    }

    /// Removes what [`Self::earlier`] still holds: files of the earlier
    /// store this one replaced, now that this store is complete. Only
    /// objects that earlier labelstore manifest listed are touched, never
    /// anything else under the prefix. A delete that fails leaves its
    /// object behind (`verify` names it as extra); the store stays whole.
    async fn remove_earlier(&mut self) {
        use futures_util::StreamExt as _;
        let stale: Vec<String> = self.earlier.drain().collect();
        let backend = &self.backend;
        let removed = futures_util::stream::iter(stale)
            .map(|path| async move { backend.delete(&path).await.is_ok() })
            .buffer_unordered(self.concurrency)
            .filter(|ok| std::future::ready(*ok))
            .count()
            .await;
        self.removed += removed;
    }

    fn lock_uploaded(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.uploaded.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many uploads of `size` bytes each `by_size` lets start at once.
    fn at_once(size: u64) -> usize {
        let o = ObjStoreOptions::by_size();
        let mut count = 0;
        while may_start(
            count,
            count as u64 * size,
            size,
            o.concurrency,
            o.bytes_in_flight,
        ) {
            count += 1;
        }
        count
    }

    #[test]
    fn uploads_in_flight_follow_the_objects_sizes() {
        assert_eq!(at_once(100_000), 32);
        assert_eq!(at_once(2 << 20), 32);
        assert_eq!(at_once(3 << 20), 21);
        assert_eq!(at_once(8 << 20), 8);
        assert_eq!(at_once(40 << 20), 1);
        // One always starts, however large.
        assert_eq!(at_once(1 << 40), 1);
        // A small object starts beside large ones while the budget allows.
        assert!(may_start(1, 60 << 20, 4 << 20, 32, Some(64 << 20)));
        assert!(!may_start(1, 60 << 20, (4 << 20) + 1, 32, Some(64 << 20)));
        // Without a budget, the count alone.
        assert!(may_start(7, u64::MAX, 1 << 30, 8, None));
        assert!(!may_start(8, 0, 1, 8, None));
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("chips/a.PNG"), "image/png");
        assert_eq!(
            content_type("coco/annotations/instances_train.json"),
            "application/json"
        );
        assert_eq!(content_type("yolo/labels/train/a.txt"), "text/plain");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }

    #[test]
    fn cloud_xml_errors_come_down_to_code_and_message() {
        let moto = "Object at location x/a.txt not found: Error performing PUT \
                    http://127.0.0.1:1/nobucket/x/a.txt in 5ms - Server returned non-2xx \
                    status code: 404 Not Found: <?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
                    <Error><Code>NoSuchBucket</Code><Message>The specified bucket does not \
                    exist</Message><BucketName>nobucket</BucketName><RequestId>78u</RequestId>\
                    </Error>";
        assert_eq!(
            tidy_xml_error(moto),
            "Object at location x/a.txt not found: Error performing PUT \
             http://127.0.0.1:1/nobucket/x/a.txt in 5ms - Server returned non-2xx status code: \
             404 Not Found: NoSuchBucket: The specified bucket does not exist (bucket nobucket: \
             create it first, or check the URL)"
        );
        let denied = "403 Forbidden: <Error><Code>AccessDenied</Code><Message>Access Denied\
                      </Message></Error>";
        assert_eq!(
            tidy_xml_error(denied),
            "403 Forbidden: AccessDenied: Access Denied"
        );
        for plain in ["connection refused", "bad <Error> without a code", ""] {
            assert_eq!(tidy_xml_error(plain), plain);
        }
    }

    #[test]
    fn an_earlier_manifest_gives_its_safe_file_paths() {
        let manifest = "{\n  \"labelstore_manifest\": 1,\n  \"files\": [\n\
            {\"path\":\"chips/a.tif\",\"size\":3,\"sha256\":\"ab\"},\n\
            {\"path\":\"../outside\",\"size\":1,\"sha256\":\"cd\"},\n\
            {\"path\": broken\n\
            {\"path\":\"voc/Annotations/a.xml\",\"size\":9,\"sha256\":\"ef\"}\n  ]\n}\n";
        let mut files = HashSet::new();
        for line in manifest.lines() {
            manifest_file(line.as_bytes(), &mut files);
        }
        let mut got: Vec<_> = files.into_iter().collect();
        got.sort();
        assert_eq!(got, ["chips/a.tif", "voc/Annotations/a.xml"]);
    }

    #[test]
    fn timeouts_grow() {
        let o = ObjStoreOptions::default();
        assert!(request_timeout(200 << 20, &o) > request_timeout(1 << 10, &o));
        assert_eq!(backoff(40, &o), Duration::from_secs(15));
    }

    #[test]
    fn bad_urls_are_usage_errors() {
        for u in [
            "ftp://x/y",
            "s3://",
            "nonsense",
            "http://x/a//b",
            "http://u:pw@x:99999/",
        ] {
            assert!(
                ObjStoreDestination::open_url(u, ObjStoreOptions::default())
                    .unwrap_err()
                    .is_usage()
            );
        }
    }
}
