//! Reading a store back from an object store (`labelstore fetch` and
//! `verify`): listing the objects under the prefix a page at a time
//! ([`Lister`]) and streaming one object's bytes ([`ObjStoreReader::get`]),
//! for both kinds of target.
//!
//! Through a PAR, listing is OCI's ListObjects: a GET on the PAR URL with
//! `?prefix=` (and `start=` from the previous page's `nextStartWith`), which
//! a PAR allows when it was created with object listing; reading is a GET on
//! the object's URL. OCI answers 404 both for a missing object and for a
//! wrong, expired or out-of-scope PAR, so [`ObjStoreReader::get`] reports
//! "not there" for both and callers say so. Every message is scrubbed of the
//! token.

use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use reqwest::StatusCode;
use sink_api::{Destination as _, Error, Found, Held, Result, STORE_MANIFEST, StoreReader};

use crate::{Backend, ObjStoreDestination, ObjStoreOptions, backoff, destination_error, scrub};

/// Objects listed per PAR request.
const PAGE: usize = 1000;

/// A store under an object-store prefix, read back.
#[derive(Debug)]
pub struct ObjStoreReader {
    backend: Backend,
    shown: String,
    http: reqwest::Client,
    opts: ObjStoreOptions,
}

/// A sink for an object's bytes, piece by piece.
pub use sink_api::ByteSink;

impl ObjStoreReader {
    /// Reads the store at `url` (`s3://bucket/prefix`, `gs://`, `az://`).
    /// A bad URL or option is refused (exit status 2).
    pub fn open_url(url: &str, opts: ObjStoreOptions) -> Result<ObjStoreReader> {
        let d = ObjStoreDestination::open_url(url, opts.clone())?;
        Self::from_destination(&d, opts)
    }

    /// Reads the store under `prefix` through an OCI PAR URL. A bad URL or
    /// prefix is refused (exit status 2); the token is never shown.
    pub fn open_par(par_url: &str, prefix: &str, opts: ObjStoreOptions) -> Result<ObjStoreReader> {
        let d = ObjStoreDestination::open_par(par_url, prefix, opts.clone())?;
        Self::from_destination(&d, opts)
    }

    fn from_destination(d: &ObjStoreDestination, opts: ObjStoreOptions) -> Result<ObjStoreReader> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| destination_error("cannot build the HTTP client", &e.without_url()))?;
        Ok(ObjStoreReader {
            backend: d.backend.clone(),
            shown: d.describe(),
            http,
            opts,
        })
    }

    /// Where the store is, for reports; never holds a secret.
    pub fn describe(&self) -> String {
        self.shown.clone()
    }

    /// Whether the store is read through an OCI PAR.
    pub fn is_par(&self) -> bool {
        matches!(self.backend, Backend::Par { .. })
    }

    /// A lister of the objects under the prefix.
    pub fn lister(&self) -> Lister {
        let inner = match &self.backend {
            Backend::Store { store, prefix, .. } => Inner::Store {
                stream: store.list(Some(prefix)),
                skip: prefix.parts().count(),
                reader_shown: self.shown.clone(),
                done: false,
            },
            Backend::Par { client, prefix } => Inner::Par {
                http: self.http.clone(),
                base: client.url.object_url(""),
                secret: client.url.token().to_owned(),
                prefix: prefix.clone(),
                start: None,
                done: false,
                timeout: self.opts.base_timeout,
                shown: self.shown.clone(),
            },
        };
        Lister { inner }
    }

    /// Streams the object at store path `path` to `out`; its size, or
    /// `None` when there is no such object (through a PAR: or the PAR does
    /// not let it be read).
    pub async fn get(&self, path: &str, out: &mut ByteSink<'_>) -> Result<Option<u64>> {
        let keep = |e: std::io::Error| Error::io(format!("cannot keep {path}"), e);
        match &self.backend {
            Backend::Store { store, .. } => {
                let key = self.backend.key(path);
                let got = match store.get(&key).await {
                    Ok(g) => g,
                    Err(object_store::Error::NotFound { .. }) => return Ok(None),
                    Err(e) => return Err(self.backend.store_error("download", path, &e)),
                };
                let mut stream = got.into_stream();
                let mut n = 0u64;
                while let Some(chunk) = stream.next().await {
                    let chunk =
                        chunk.map_err(|e| self.backend.store_error("download", path, &e))?;
                    out(&chunk).map_err(keep)?;
                    n += chunk.len() as u64;
                }
                Ok(Some(n))
            }
            Backend::Par { client, prefix } => {
                let url = client.url.object_url(&format!("{prefix}{path}"));
                let secret = client.url.token();
                let context = format!("cannot download {path}");
                let mut attempt = 0;
                let mut resp = loop {
                    let r = self.http.get(&url).send().await;
                    let retry = match &r {
                        Ok(resp) => {
                            resp.status().is_server_error()
                                || resp.status() == StatusCode::TOO_MANY_REQUESTS
                        }
                        Err(e) => e.is_connect() || e.is_timeout(),
                    };
                    if !retry || attempt >= self.opts.max_retries {
                        break r.map_err(|e| destination_error(&context, &e.without_url()))?;
                    }
                    tokio::time::sleep(backoff(attempt, &self.opts)).await;
                    attempt += 1;
                };
                match resp.status() {
                    s if s.is_success() => {}
                    StatusCode::NOT_FOUND => return Ok(None),
                    s => {
                        return Err(Error::io(
                            scrub(&context, secret),
                            std::io::Error::other(format!(
                                "the server answered {} through {}",
                                s.as_u16(),
                                client.url
                            )),
                        ));
                    }
                }
                let mut n = 0u64;
                while let Some(chunk) = resp
                    .chunk()
                    .await
                    .map_err(|e| destination_error(&context, &e.without_url()))?
                {
                    out(&chunk).map_err(keep)?;
                    n += chunk.len() as u64;
                }
                Ok(Some(n))
            }
        }
    }
}

impl StoreReader for ObjStoreReader {
    fn describe(&self) -> String {
        self.shown.clone()
    }

    async fn manifest(&mut self, out: &mut ByteSink<'_>) -> Result<()> {
        if ObjStoreReader::get(self, STORE_MANIFEST, out)
            .await?
            .is_some()
        {
            return Ok(());
        }
        Err(Error::io(
            format!("{} holds no labelstore store", self.shown),
            std::io::Error::other(if self.is_par() {
                "there is no labelstore-manifest.json under the prefix, or the PAR is wrong, \
                 expired or does not allow reading it"
            } else {
                "there is no labelstore-manifest.json under the prefix"
            }),
        ))
    }

    /// The objects under the prefix, listed a page at a time.
    async fn list<E, F>(&mut self, mut found: F) -> Result<(), E>
    where
        E: From<Error> + Send,
        F: FnMut(Found) -> Result<(), E> + Send,
    {
        let mut lister = self.lister();
        loop {
            let page = lister.next_page().await?;
            if page.is_empty() {
                return Ok(());
            }
            for (path, size) in page {
                found(Found::File(Held::file(path, size)))?;
            }
        }
    }

    async fn get(&mut self, path: &str, out: &mut ByteSink<'_>) -> Result<Option<u64>> {
        ObjStoreReader::get(self, path, out).await
    }
}

/// The objects under a store's prefix, a page at a time: store paths
/// (the prefix taken off) with their sizes.
pub struct Lister {
    inner: Inner,
}

enum Inner {
    Store {
        stream: BoxStream<'static, object_store::Result<ObjectMeta>>,
        skip: usize,
        reader_shown: String,
        done: bool,
    },
    Par {
        http: reqwest::Client,
        base: String,
        secret: String,
        prefix: String,
        start: Option<String>,
        done: bool,
        timeout: Duration,
        shown: String,
    },
}

impl std::fmt::Debug for Lister {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Inner::Store { reader_shown, .. } => write!(f, "Lister({reader_shown})"),
            Inner::Par { shown, .. } => write!(f, "Lister({shown})"),
        }
    }
}

impl Lister {
    /// The next objects; empty when the listing is over.
    pub async fn next_page(&mut self) -> Result<Vec<(String, u64)>> {
        match &mut self.inner {
            Inner::Store {
                stream,
                skip,
                reader_shown,
                done,
            } => store_page(stream, *skip, reader_shown, done).await,
            Inner::Par { .. } => self.par_page().await,
        }
    }

    /// The next page of OCI's ListObjects through a PAR.
    async fn par_page(&mut self) -> Result<Vec<(String, u64)>> {
        let Inner::Par {
            http,
            base,
            secret,
            prefix,
            start,
            done,
            timeout,
            shown,
        } = &mut self.inner
        else {
            return Ok(Vec::new());
        };
        if *done {
            return Ok(Vec::new());
        }
        let context = format!("cannot list {shown}");
        let limit = PAGE.to_string();
        let mut req = http
            .get(base.as_str())
            .query(&[
                ("prefix", prefix.as_str()),
                ("fields", "name,size"),
                ("limit", limit.as_str()),
            ])
            .timeout(*timeout);
        if let Some(s) = start.as_deref() {
            req = req.query(&[("start", s)]);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| destination_error(&context, &e.without_url()))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(Error::io(
                scrub(&context, secret),
                std::io::Error::other(format!(
                    "the server answered {}: the PAR is wrong, expired, or does not \
                     allow listing objects under this prefix",
                    status.as_u16()
                )),
            ));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| destination_error(&context, &e.without_url()))?;
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
            Error::io(
                scrub(&context, secret),
                std::io::Error::other(format!("not a ListObjects answer: {e}")),
            )
        })?;
        let mut page = Vec::new();
        for o in v
            .get("objects")
            .and_then(|o| o.as_array())
            .into_iter()
            .flatten()
        {
            let (Some(name), Some(size)) = (
                o.get("name").and_then(|n| n.as_str()),
                o.get("size").and_then(serde_json::Value::as_u64),
            ) else {
                continue;
            };
            if let Some(rest) = name.strip_prefix(prefix.as_str()) {
                page.push((rest.to_owned(), size));
            }
        }
        match v.get("nextStartWith").and_then(|n| n.as_str()) {
            Some(n) if !n.is_empty() => *start = Some(n.to_owned()),
            _ => *done = true,
        }
        if page.is_empty() && !*done {
            // A page of names outside the prefix: keep going.
            return Box::pin(self.par_page()).await;
        }
        Ok(page)
    }
}

/// The next objects of an `object_store` listing, the prefix's `skip`
/// parts taken off their paths.
async fn store_page(
    stream: &mut BoxStream<'static, object_store::Result<ObjectMeta>>,
    skip: usize,
    reader_shown: &str,
    done: &mut bool,
) -> Result<Vec<(String, u64)>> {
    let mut page = Vec::new();
    while page.len() < PAGE && !*done {
        let Some(item) = stream.next().await else {
            *done = true;
            break;
        };
        let meta =
            item.map_err(|e| destination_error(&format!("cannot list {reader_shown}"), &e))?;
        let path = meta
            .location
            .parts()
            .skip(skip)
            .map(|p| p.as_ref().to_owned())
            .collect::<Vec<_>>()
            .join("/");
        page.push((path, meta.size));
    }
    Ok(page)
}
