//! OCI Object Storage pre-authenticated request (PAR) URLs: parsing, the
//! masked form, and uploads through a plain HTTP client (GEO.md §5).

use std::fmt;
use std::time::Duration;

use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use sink_api::{Error, Result};

use crate::{Source, UploadOptions, backoff, destination_error, request_timeout, scrub};

/// An OCI PAR URL (`https://<host>/p/<token>/n/<ns>/b/<bucket>/o/`). The token
/// is a bearer credential: [`fmt::Display`] and [`fmt::Debug`] show
/// `/p/<secret>/` in its place, and no method hands it out except to build
/// request URLs.
#[derive(Clone)]
pub struct ParUrl {
    /// `scheme://host[:port]` (no trailing slash).
    origin: String,
    /// Anything before `/p/` in the path (a proxy's path), no trailing slash.
    before: String,
    token: String,
    namespace: String,
    bucket: String,
}

impl ParUrl {
    /// Parses a PAR URL in either host form (`objectstorage.<region>.oraclecloud.com`,
    /// `<ns>.objectstorage.<region>.oci.customer-oci.com`) or any host with
    /// the PAR path shape. `https` is required except on a loopback host (tests).
    /// The URL must end in `/o/` (a bucket or prefix PAR): the objects' names
    /// come after it.
    pub fn parse(s: &str) -> Result<ParUrl> {
        let refuse = |why: &str| {
            Err(Error::Refused(format!(
                "bad PAR URL {}: {why}; expected https://objectstorage.<region>.oraclecloud.com/p/<token>/n/<namespace>/b/<bucket>/o/",
                mask_par_url(s)
            )))
        };
        let Ok(url) = Url::parse(s.trim()) else {
            return refuse("not a URL");
        };
        let Some(host) = url.host_str() else {
            return refuse("no host");
        };
        let loopback = matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1");
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => return refuse("the scheme must be https"),
        }
        if url.query().is_some() || url.fragment().is_some() {
            return refuse("a PAR URL has no query or fragment");
        }
        let path = url.path();
        let Some(at) = path.find("/p/") else {
            return refuse("no /p/<token>/ in the path");
        };
        let before = path[..at].to_owned();
        let rest = &path[at + 3..];
        let parts: Vec<&str> = rest.split('/').collect();
        // token, "n", ns, "b", bucket, "o", "" (trailing slash)
        let ok = parts.len() >= 6
            && parts[1] == "n"
            && parts[3] == "b"
            && parts[5] == "o"
            && parts[6..].iter().all(|p| p.is_empty())
            && [parts[0], parts[2], parts[4]].iter().all(|p| !p.is_empty());
        if !ok {
            return refuse("the path is not /p/<token>/n/<namespace>/b/<bucket>/o/");
        }
        let origin = match url.port() {
            Some(p) => format!("{}://{host}:{p}", url.scheme()),
            None => format!("{}://{host}", url.scheme()),
        };
        Ok(ParUrl {
            origin,
            before,
            token: parts[0].to_owned(),
            namespace: parts[2].to_owned(),
            bucket: parts[4].to_owned(),
        })
    }

    /// The secret token (for scrubbing only).
    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// The URL of an object (`name` percent-encoded segment by segment).
    /// Holds the token: never shown.
    pub(crate) fn object_url(&self, name: &str) -> String {
        format!(
            "{}{}/p/{}/n/{}/b/{}/o/{}",
            self.origin,
            self.before,
            self.token,
            self.namespace,
            self.bucket,
            encode_name(name)
        )
    }

    /// `origin` + a server-given path (a multipart access URI).
    fn at(&self, path: &str) -> String {
        format!("{}{}{path}", self.origin, self.before)
    }
}

impl fmt::Display for ParUrl {
    /// As [`mask_par_url`] shows it: a path before `/p/` (a proxy's) is
    /// shown as `…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}/p/<secret>/n/{}/b/{}/o/",
            self.origin,
            if self.before.is_empty() { "" } else { "/…" },
            self.namespace,
            self.bucket
        )
    }
}

/// What may be shown of a string given as a PAR URL, whatever its shape,
/// by its structure: the scheme, the host (and port) and the
/// `/n/<namespace>/b/<bucket>/o/` part; whatever comes before that part
/// (the token, a proxy's path) becomes `/p/<secret>` or `/…`; what comes
/// after it, a query, a fragment and user information are never shown. A
/// URL without that part shows its scheme and host only; a string that is
/// not a URL, nothing.
pub fn mask_par_url(s: &str) -> String {
    let Ok(url) = Url::parse(s.trim()) else {
        return "(not a URL)".to_owned();
    };
    let Some(host) = url.host_str() else {
        return format!("{}:<secret>", url.scheme());
    };
    let origin = match url.port() {
        Some(p) => format!("{}://{host}:{p}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    };
    let segs: Vec<&str> = url.path().split('/').skip(1).collect();
    let at = (0..segs.len()).find(|&i| {
        segs.get(i) == Some(&"n")
            && segs.get(i + 2) == Some(&"b")
            && segs.get(i + 4) == Some(&"o")
            && !segs[i + 1].is_empty()
            && !segs[i + 3].is_empty()
    });
    match at {
        Some(i) => {
            let before = match segs[..i] {
                [] => "",
                ["p", _] => "/p/<secret>",
                _ => "/…",
            };
            format!("{origin}{before}/n/{}/b/{}/o/", segs[i + 1], segs[i + 3])
        }
        None if segs.iter().all(|p| p.is_empty())
            && url.query().is_none()
            && url.fragment().is_none() =>
        {
            format!("{origin}/")
        }
        None => format!("{origin}/…"),
    }
}

impl fmt::Debug for ParUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ParUrl({self})")
    }
}

/// A string that may hold a PAR URL, with every `/p/<token>/` masked.
pub(crate) fn mask_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("/p/") {
        out.push_str(&rest[..i + 3]);
        rest = &rest[i + 3..];
        if let Some(r) = rest.strip_prefix("<secret>") {
            out.push_str("<secret>");
            rest = r;
            continue;
        }
        let end = rest
            .find(['/', ' ', '"', '\'', '\n', '?', '#', ')', '>'])
            .unwrap_or(rest.len());
        if end > 0 {
            out.push_str("<secret>");
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Percent-encodes an object name for a URL path, keeping `/` and
/// `[A-Za-z0-9._-~]` literal.
fn encode_name(name: &str) -> String {
    let mut s = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-' | b'~') {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// Uploads through a PAR.
#[derive(Debug, Clone)]
pub(crate) struct ParClient {
    pub(crate) url: ParUrl,
    client: reqwest::Client,
    opts: UploadOptions,
}

/// What a failed request answered.
struct Refusal {
    status: StatusCode,
    code: String,
}

impl ParClient {
    pub(crate) fn new(url: ParUrl, opts: UploadOptions) -> Result<ParClient> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| destination_error("cannot build the HTTP client", &e.without_url()))?;
        Ok(ParClient { url, client, opts })
    }

    /// The objects under `prefix` (names less the prefix) with their size
    /// and MD5, when the PAR allows listing; `None` when it does not.
    pub(crate) async fn list(&self, prefix: &str) -> Option<crate::Listing> {
        let base = self.url.object_url("");
        let mut out = crate::Listing::new();
        let mut start: Option<String> = None;
        loop {
            let mut req = self
                .client
                .get(&base)
                .query(&[("prefix", prefix), ("fields", "name,size,md5")])
                .timeout(self.opts.base_timeout);
            if let Some(s) = &start {
                req = req.query(&[("start", s.as_str())]);
            }
            let resp = req.send().await.ok()?;
            if !resp.status().is_success() {
                return None;
            }
            let v: serde_json::Value = serde_json::from_slice(&resp.bytes().await.ok()?).ok()?;
            for o in v.get("objects")?.as_array()? {
                let Some(name) = o.get("name").and_then(|n| n.as_str()) else {
                    continue;
                };
                let Some(rest) = name.strip_prefix(prefix) else {
                    continue;
                };
                let size = o.get("size").and_then(serde_json::Value::as_u64);
                let md5 = o
                    .get("md5")
                    .and_then(|m| m.as_str())
                    .and_then(crate::md5_from_base64);
                if let Some(size) = size {
                    out.insert(rest.to_owned(), (size, md5));
                }
            }
            match v.get("nextStartWith").and_then(|n| n.as_str()) {
                Some(n) if !n.is_empty() => start = Some(n.to_owned()),
                _ => return Some(out),
            }
        }
    }

    /// PUTs one object, through the multipart flow above the threshold.
    pub(crate) async fn put(
        &self,
        name: &str,
        src: &Source,
        content_type: &'static str,
    ) -> Result<()> {
        if src.len() > self.opts.multipart_threshold {
            return self.put_multipart(name, src, content_type).await;
        }
        let url = self.url.object_url(name);
        self.send(Method::PUT, &url, name, "PUT", src.len(), || {
            Ok(Some((src.body(0, src.len())?, content_type)))
        })
        .await
        .map(drop)
    }

    /// The multipart flow of GEO.md §5: create (`opc-multipart: true`), PUT
    /// the parts to the returned access URI, POST to commit; DELETE aborts.
    async fn put_multipart(
        &self,
        name: &str,
        src: &Source,
        content_type: &'static str,
    ) -> Result<()> {
        let url = self.url.object_url(name);
        let client = self.client.clone();
        let created = self
            .send_with(
                Method::PUT,
                &url,
                name,
                "start a multipart upload of",
                0,
                |r| {
                    r.header("opc-multipart", "true")
                        .header(CONTENT_TYPE, content_type)
                },
                || Ok(None),
            )
            .await?;
        let body: serde_json::Value = serde_json::from_slice(&created).map_err(|_| {
            Error::io(
                format_args!("starting a multipart upload of {name}"),
                std::io::Error::other("the answer has no JSON accessUri"),
            )
        })?;
        let Some(access) = body.get("accessUri").and_then(|v| v.as_str()) else {
            return Err(Error::io(
                format_args!("starting a multipart upload of {name}"),
                std::io::Error::other("the answer has no accessUri"),
            ));
        };
        let access = self.url.at(access);
        let access = if access.ends_with('/') {
            access
        } else {
            access + "/"
        };
        let part = self.opts.part_size.max(1);
        let mut result = Ok(());
        let mut offset = 0;
        let mut number = 1u32;
        while offset < src.len() {
            let len = part.min(src.len() - offset);
            let part_url = format!("{access}{number}");
            if let Err(e) = self
                .send(Method::PUT, &part_url, name, "PUT a part of", len, || {
                    Ok(Some((src.body(offset, len)?, "application/octet-stream")))
                })
                .await
            {
                result = Err(e);
                break;
            }
            offset += len;
            number += 1;
        }
        if result.is_ok() {
            result = self
                .send(
                    Method::POST,
                    &access,
                    name,
                    "commit the multipart upload of",
                    0,
                    || Ok(None),
                )
                .await
                .map(drop);
        }
        if result.is_err() {
            // Drop the parts; the original error matters more.
            let _ = client.delete(&access).send().await;
        }
        result
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        name: &str,
        what: &str,
        len: u64,
        body: impl Fn() -> Result<Option<(reqwest::Body, &'static str)>>,
    ) -> Result<Vec<u8>> {
        self.send_with(method, url, name, what, len, |r| r, body)
            .await
    }

    /// One request with retries on 408, 429, 5xx, connection errors and
    /// timeouts; the timeout grows with `len`.
    #[allow(clippy::too_many_arguments)]
    async fn send_with(
        &self,
        method: Method,
        url: &str,
        name: &str,
        what: &str,
        len: u64,
        extra: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
        body: impl Fn() -> Result<Option<(reqwest::Body, &'static str)>>,
    ) -> Result<Vec<u8>> {
        let context = format!("cannot {} {name}", what.to_lowercase());
        let mut attempt = 0;
        loop {
            let mut req = self
                .client
                .request(method.clone(), url)
                .timeout(request_timeout(len, &self.opts));
            req = match body()? {
                Some((b, ctype)) => req
                    .header(CONTENT_TYPE, ctype)
                    .header(CONTENT_LENGTH, len)
                    .body(b),
                None => req.header(CONTENT_LENGTH, 0),
            };
            req = extra(req);
            let retry_after;
            match req.send().await {
                Ok(resp) if resp.status().is_success() => {
                    let bytes = resp
                        .bytes()
                        .await
                        .map_err(|e| destination_error(&context, &e.without_url()))?;
                    return Ok(bytes.to_vec());
                }
                Ok(resp) => {
                    let status = resp.status();
                    retry_after = resp
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let text = resp.text().await.unwrap_or_default();
                    let code = serde_json::from_str::<serde_json::Value>(&text)
                        .ok()
                        .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_owned))
                        .unwrap_or_default();
                    let retryable = status == StatusCode::TOO_MANY_REQUESTS
                        || status == StatusCode::REQUEST_TIMEOUT
                        || status.is_server_error();
                    if !retryable || attempt >= self.opts.max_retries {
                        return Err(self.refusal(&context, name, Refusal { status, code }));
                    }
                }
                Err(e) => {
                    let transient = e.is_connect() || e.is_timeout() || e.is_request();
                    if !transient || attempt >= self.opts.max_retries {
                        let shown = e.without_url();
                        return Err(destination_error(
                            &format!("{context} (after {} attempts)", attempt + 1),
                            &shown,
                        ));
                    }
                    retry_after = None;
                }
            }
            tokio::time::sleep(retry_after.unwrap_or_else(|| backoff(attempt, &self.opts))).await;
            attempt += 1;
        }
    }

    fn refusal(&self, context: &str, name: &str, r: Refusal) -> Error {
        let code = if r.code.is_empty() {
            String::new()
        } else {
            format!(" {}", r.code)
        };
        let msg = match r.status.as_u16() {
            401 | 403 | 404 => format!(
                "the pre-authenticated request {} refused {name} ({}{code}): \
                 the PAR is wrong, expired, or does not allow writing this prefix",
                self.url,
                r.status.as_u16()
            ),
            s => format!("the server answered {s}{code}"),
        };
        Error::io(
            scrub(context, self.url.token()),
            std::io::Error::other(scrub(&msg, self.url.token())),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_masks() {
        for s in [
            "https://objectstorage.eu-frankfurt-1.oraclecloud.com/p/SeCrEt-TOK_en/n/ns1/b/chips/o/",
            "https://ns1.objectstorage.eu-frankfurt-1.oci.customer-oci.com/p/SeCrEt-TOK_en/n/ns1/b/chips/o/",
            "http://127.0.0.1:8080/p/SeCrEt-TOK_en/n/ns1/b/chips/o",
        ] {
            let p = ParUrl::parse(s).unwrap();
            assert_eq!(p.token(), "SeCrEt-TOK_en");
            assert!(!format!("{p} {p:?}").contains("SeCrEt"), "{p}");
            assert!(p.object_url("a/b c.png").ends_with("/o/a/b%20c.png"));
        }
        for bad in [
            "http://objectstorage.example.com/p/SeCrEt/n/ns/b/b/o/",
            "https://h/p/SeCrEt/n/ns/b/b/",
            "https://h/p/SeCrEt/n/ns/b/b/o/x",
            "https://h/n/ns/b/b/o/?token=SeCrEt",
            "https://h/p/SeCrEt/n/ns/b/b/o/?again=SeCrEt",
            "https://h/p/SeCrEt/n/ns/b/b/o/#SeCrEt",
            "https://h/SeCrEt/n/ns/b/b/o/",
            "https://h/SeCrEt",
            "https://user:SeCrEt@h/x",
            "not a url SeCrEt",
        ] {
            let e = ParUrl::parse(bad).unwrap_err();
            assert!(e.is_usage());
            assert!(!e.to_string().contains("SeCrEt"), "{e}");
        }
        let p = ParUrl::parse("http://127.0.0.1:9/SeCrEt/p/tok/n/ns/b/bk/o/").unwrap();
        assert_eq!(
            p.to_string(),
            "http://127.0.0.1:9/…/p/<secret>/n/ns/b/bk/o/"
        );
    }

    #[test]
    fn masks_par_urls_by_structure() {
        for (url, shown) in [
            (
                "https://objectstorage.r.oraclecloud.com/p/SeCrEt/n/ns/b/bk/o/",
                "https://objectstorage.r.oraclecloud.com/p/<secret>/n/ns/b/bk/o/",
            ),
            (
                "https://h/n/ns/b/bk/o/?token=SeCrEt",
                "https://h/n/ns/b/bk/o/",
            ),
            (
                "https://h:8443/SeCrEt/n/ns/b/bk/o/x",
                "https://h:8443/…/n/ns/b/bk/o/",
            ),
            ("https://h/a/SeCrEt/b", "https://h/…"),
            ("https://h/#SeCrEt", "https://h/…"),
            ("https://h/", "https://h/"),
            ("mailto:SeCrEt@example.com", "mailto:<secret>"),
            ("SeCrEt", "(not a URL)"),
        ] {
            assert_eq!(mask_par_url(url), shown, "{url}");
        }
    }

    #[test]
    fn masks_strings() {
        assert_eq!(
            mask_str("PUT http://h/p/abc/n/x/o/y failed; /p/def/"),
            "PUT http://h/p/<secret>/n/x/o/y failed; /p/<secret>/"
        );
        assert_eq!(mask_str("a /p/<secret>/n/x"), "a /p/<secret>/n/x");
    }
}
