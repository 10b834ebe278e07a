//! Plain HTTP(S) servers that accept PUT (WebDAV: nginx's dav module,
//! Apache's mod_dav, ...) as a store target, through `object_store`'s
//! `HttpStore`, with its quirks handled here (GEO.md §6):
//!
//! - the store is built on the server's origin and the URL's path becomes
//!   the object prefix, so a base URL with or without a trailing `/` never
//!   yields `//` in a request path;
//! - `user:password@` in the URL is taken out of every URL the client
//!   builds (object_store puts full URLs in its errors) and sent as a Basic
//!   `Authorization` header instead, marked sensitive; the password is also
//!   scrubbed from every message;
//! - `HttpStore` has no multipart upload: every object is one PUT, and an
//!   object above the multipart threshold gets a client whose whole-request
//!   timeout fits its size (object_store's timeout covers the whole body);
//! - `HttpStore` answers a PUT's 404 or 409 with `MKCOL` on the parent
//!   folders: when the server refuses that too (a plain HTTP server without
//!   WebDAV), [`folder_refused`] turns object_store's MKCOL error into a
//!   message that says so.
//!
//! - `HttpStore::list` asks `PROPFIND` with `Depth: infinity`, which nginx
//!   refuses (403): [`DavStore`] lists folder by folder with `Depth: 1`
//!   instead, so reading a store back (`fetch`, `verify`) works there too.
//!
//! A HEAD on such a server gives no checksum (nginx's ETag is the
//! modification time and size in hex), so a store through HTTP never skips
//! an object already there: it uploads it again.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use object_store::path::{Path as ObjPath, PathPart};
use object_store::{
    ClientOptions, CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use sink_api::{Error, Result, is_safe_store_path};

use crate::{ObjStoreOptions, request_timeout, retry_config};

/// Where a `http(s)://` store goes, without its credentials in any URL.
#[derive(Clone)]
pub(crate) struct HttpTarget {
    /// `scheme://host[:port]/`: the store's base URL.
    origin: String,
    /// The Basic `Authorization` header from `user:password@`, if any.
    auth: Option<HeaderValue>,
    /// The password, scrubbed from every message.
    pub(crate) password: String,
    opts: ObjStoreOptions,
}

impl fmt::Debug for HttpTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "HttpTarget({}{})",
            self.origin,
            if self.auth.is_some() {
                " with credentials"
            } else {
                ""
            }
        )
    }
}

/// A parsed `http(s)://` URL: the target, the object prefix under the
/// origin, and the URL to show (no credentials).
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) target: HttpTarget,
    pub(crate) prefix: ObjPath,
    pub(crate) shown: String,
}

/// Masks the password of a URL's `user:password@`, even in text that does
/// not parse as a URL.
pub(crate) fn mask_userinfo(s: &str) -> String {
    let Some(start) = s.find("://").map(|i| i + 3) else {
        return s.to_owned();
    };
    let rest = &s[start..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..end].rfind('@') else {
        return s.to_owned();
    };
    let Some(colon) = rest[..at].find(':') else {
        return s.to_owned();
    };
    format!("{}{}:<secret>{}", &s[..start], &rest[..colon], &rest[at..])
}

/// `%XX` escapes decoded; `None` when the result is not UTF-8 or an escape
/// is broken.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Parses a `http://` or `https://` target. A bad URL or option is refused
/// (exit status 2), its password masked.
pub(crate) fn parse(url: &str, opts: &ObjStoreOptions) -> Result<Parsed> {
    let refuse = |why: &str| -> Result<Parsed> {
        Err(Error::Refused(format!(
            "bad --url {:?}: {why}",
            mask_userinfo(url)
        )))
    };
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return refuse("not a URL");
    };
    if parsed.host_str().is_none_or(str::is_empty) {
        return refuse("no host");
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return refuse("a store URL takes no query or fragment");
    }
    if opts.endpoint.is_some() || opts.region.is_some() {
        return refuse("--endpoint and --region apply to s3:// URLs only");
    }
    if !opts.config.is_empty() {
        let keys: Vec<&str> = opts.config.iter().map(|(k, _)| k.as_str()).collect();
        return refuse(&format!("no options apply to http(s) URLs ({keys:?})"));
    }
    let mut segments = Vec::new();
    for raw in parsed.path().split('/').filter(|s| !s.is_empty()) {
        let Some(seg) = percent_decode(raw) else {
            return refuse("the path has a broken %-escape or is not UTF-8");
        };
        if PathPart::from(seg.as_str()).as_ref() != seg {
            return refuse(&format!(
                "the path segment {seg:?} has characters object names cannot hold"
            ));
        }
        segments.push(seg);
    }
    let joined = segments.join("/");
    if parsed.path().trim_matches('/').contains("//")
        || (!joined.is_empty() && !is_safe_store_path(&joined))
    {
        return refuse("the path has an empty, '.' or '..' segment");
    }
    let auth = if parsed.username().is_empty() && parsed.password().is_none() {
        None
    } else {
        let (Some(user), Some(password)) = (
            percent_decode(parsed.username()),
            percent_decode(parsed.password().unwrap_or("")),
        ) else {
            return refuse("the user name or password has a broken %-escape");
        };
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let Ok(mut value) = HeaderValue::from_str(&format!("Basic {token}")) else {
            return refuse("the credentials cannot go in a header");
        };
        value.set_sensitive(true);
        Some((value, password))
    };
    let origin = format!(
        "{}://{}/",
        parsed.scheme(),
        match parsed.port() {
            Some(p) => format!("{}:{p}", parsed.host_str().unwrap_or_default()),
            None => parsed.host_str().unwrap_or_default().to_owned(),
        }
    );
    let shown = if joined.is_empty() {
        origin.clone()
    } else {
        format!("{origin}{joined}/")
    };
    let (auth, password) = match auth {
        Some((v, p)) => (Some(v), p),
        None => (None, String::new()),
    };
    let target = HttpTarget {
        origin,
        auth,
        password,
        opts: opts.clone(),
    };
    Ok(Parsed {
        target,
        prefix: ObjPath::from_iter(segments.iter().map(|s| PathPart::from(s.as_str()))),
        shown,
    })
}

impl HttpTarget {
    /// The whole-request timeout for an object of `len` bytes: at least
    /// the one for an object at the multipart threshold.
    pub(crate) fn timeout(&self, len: u64) -> Duration {
        request_timeout(
            len.max(self.opts.multipart_threshold.max(self.opts.part_size)),
            &self.opts,
        )
    }

    /// An `HttpStore` on the origin with this whole-request timeout.
    pub(crate) fn store(
        &self,
        timeout: Duration,
    ) -> std::result::Result<Arc<dyn ObjectStore>, object_store::Error> {
        let mut headers = HeaderMap::new();
        if let Some(v) = &self.auth {
            headers.insert(AUTHORIZATION, v.clone());
        }
        let client = ClientOptions::new()
            .with_timeout(timeout)
            .with_connect_timeout(Duration::from_secs(10))
            .with_allow_http(self.origin.starts_with("http://"))
            .with_default_headers(headers);
        let store = object_store::http::HttpBuilder::new()
            .with_url(&self.origin)
            .with_client_options(client)
            .with_retry(retry_config(&self.opts))
            .build()?;
        Ok(Arc::new(DavStore {
            inner: Arc::new(store),
        }))
    }
}

/// `HttpStore` with a listing that walks folders with `PROPFIND Depth: 1`
/// (WebDAV servers such as nginx refuse `Depth: infinity`); everything else
/// is forwarded.
#[derive(Debug)]
pub(crate) struct DavStore {
    inner: Arc<object_store::http::HttpStore>,
}

impl fmt::Display for DavStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebDAV({})", self.inner)
    }
}

type StoreResult<T> = object_store::Result<T>;

#[async_trait::async_trait]
impl ObjectStore for DavStore {
    async fn put_opts(
        &self,
        location: &ObjPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> StoreResult<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjPath,
        opts: PutMultipartOptions,
    ) -> StoreResult<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &ObjPath, options: GetOptions) -> StoreResult<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &ObjPath,
        ranges: &[std::ops::Range<u64>],
    ) -> StoreResult<Vec<bytes::Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, StoreResult<ObjPath>>,
    ) -> BoxStream<'static, StoreResult<ObjPath>> {
        self.inner.delete_stream(locations)
    }

    /// Every object under `prefix`, one folder (one `Depth: 1` PROPFIND)
    /// at a time; a missing folder lists as empty.
    fn list(&self, prefix: Option<&ObjPath>) -> BoxStream<'static, StoreResult<ObjectMeta>> {
        struct Walk {
            store: Arc<object_store::http::HttpStore>,
            folders: Vec<ObjPath>,
            ready: std::collections::VecDeque<ObjectMeta>,
            failed: bool,
        }
        let walk = Walk {
            store: self.inner.clone(),
            folders: vec![prefix.cloned().unwrap_or_default()],
            ready: Default::default(),
            failed: false,
        };
        futures_util::stream::unfold(walk, |mut w| async move {
            loop {
                if w.failed {
                    return None;
                }
                if let Some(meta) = w.ready.pop_front() {
                    return Some((Ok(meta), w));
                }
                let folder = w.folders.pop()?;
                match w.store.list_with_delimiter(Some(&folder)).await {
                    Ok(r) => {
                        w.ready.extend(r.objects);
                        w.folders.extend(r.common_prefixes.into_iter().rev());
                    }
                    Err(e) => {
                        w.failed = true;
                        return Some((Err(e), w));
                    }
                }
            }
        })
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&ObjPath>) -> StoreResult<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &ObjPath,
        to: &ObjPath,
        options: CopyOptions,
    ) -> StoreResult<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// When `text` (an object_store error, with its sources) is HttpStore's
/// MKCOL failing after a PUT answered 404 or 409: a message saying the
/// server refused both, with the status it gave.
pub(crate) fn folder_refused(text: &str) -> Option<String> {
    if !text.contains("Error performing MKCOL") {
        return None;
    }
    let status = text
        .split_once("status code: ")
        .map(|(_, rest)| rest.split(':').next().unwrap_or(rest).trim().to_owned())
        .unwrap_or_else(|| "an error".to_owned());
    Some(format!(
        "the server refused the PUT (404 or 409) and answered {status} when asked to create \
         the folder for it (WebDAV MKCOL): --url must name a folder of a WebDAV server that \
         accepts PUT and MKCOL (nginx: dav_methods PUT DELETE MKCOL; create_full_put_path on)"
    ))
}

/// An object_store error's text without the HTML page an HTTP server
/// sends with an error status: it ends at the status and its reason.
pub(crate) fn tidy(text: &str) -> String {
    const MARK: &str = "status code: ";
    let Some(i) = text.find(MARK) else {
        return text.to_owned();
    };
    let rest = &text[i + MARK.len()..];
    let end = rest.find([':', '\n']).unwrap_or(rest.len());
    format!("{}{}", &text[..i + MARK.len()], rest[..end].trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            mask_userinfo("http://u:pw@h:1/a/b"),
            "http://u:<secret>@h:1/a/b"
        );
        assert_eq!(mask_userinfo("http://u@h/a"), "http://u@h/a");
        assert_eq!(mask_userinfo("http://h/a@b:c"), "http://h/a@b:c");
        assert_eq!(
            mask_userinfo("https://u:p:w@h:notaport/"),
            "https://u:<secret>@h:notaport/"
        );
        let e = parse("http://u:TopSecret@h:99999/x", &ObjStoreOptions::default()).unwrap_err();
        assert!(e.is_usage());
        assert!(!e.to_string().contains("TopSecret"), "{e}");
    }

    #[test]
    fn prefixes_with_and_without_slash_agree() {
        let o = ObjStoreOptions::default();
        let a = parse("http://u:pw@127.0.0.1:8080/dav/x", &o).unwrap();
        let b = parse("http://u:pw@127.0.0.1:8080/dav/x/", &o).unwrap();
        assert_eq!(a.prefix, b.prefix);
        assert_eq!(a.prefix.as_ref(), "dav/x");
        assert_eq!(a.shown, "http://127.0.0.1:8080/dav/x/");
        assert_eq!(a.target.origin, "http://127.0.0.1:8080/");
        assert!(!format!("{:?}", a.target).contains("pw"));
        assert_eq!(a.target.password, "pw");
        let root = parse("https://h", &o).unwrap();
        assert_eq!(root.prefix.as_ref(), "");
        assert_eq!(root.shown, "https://h/");
        let spaced = parse("http://h/my%20dir/", &o).unwrap();
        assert_eq!(spaced.prefix.as_ref(), "my dir");
    }

    #[test]
    fn bad_paths_are_refused() {
        let o = ObjStoreOptions::default();
        for u in [
            "http://h/a//b",
            "http://h/a%2F/b",
            "http://h/%zz",
            "http://h/a?x=1",
            "http://h/a#f",
            "http://h/tile%23",
        ] {
            assert!(parse(u, &o).unwrap_err().is_usage(), "{u}");
        }
        let with_endpoint = ObjStoreOptions {
            endpoint: Some("http://x".into()),
            ..ObjStoreOptions::default()
        };
        assert!(parse("http://h/a", &with_endpoint).unwrap_err().is_usage());
    }

    #[test]
    fn mkcol_errors_are_explained() {
        let t = "Object at location dav/x not found: Error performing MKCOL http://h/dav/x \
                 in 2ms - Server returned non-2xx status code: 404 Not Found: <html>";
        let m = folder_refused(t).unwrap();
        assert!(m.contains("answered 404 Not Found"), "{m}");
        assert!(folder_refused("Error performing PUT http://h/x").is_none());
        assert_eq!(
            tidy(
                "Error performing PUT http://h/x - Server returned non-2xx status code: 500 Internal Server Error: <html>\n<body>"
            ),
            "Error performing PUT http://h/x - Server returned non-2xx status code: 500 Internal Server Error"
        );
        assert_eq!(tidy("connection refused"), "connection refused");
    }
}
