//! A destination conformance suite (the `testing` feature), in the manner
//! of `object_store`'s `integration.rs`: an in-memory [`Destination`] and
//! [`StoreReader`] ([`MemoryStore`]), and one suite of behaviours, as
//! generic functions every destination's tests run against it through a
//! [`Harness`]: put and read back ([`put_get_round_trip`]), a second store
//! replacing the first ([`overwrite`]), [`abort_leaves_nothing`], and the
//! manifest made visible only by the commit ([`commit_hands_the_manifest_last`]).
//!
//! The suite panics (with `assert!`) on a behaviour that does not hold, and
//! returns an [`Error`] when the destination fails.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::{
    Body, ByteSink, Destination, Error, Found, Held, ManifestWriter, Result, STORE_MANIFEST,
    StoreReader, digest_bytes,
};

/// What a destination under test is opened at: a new, empty location per
/// harness (a folder, a prefix, a table and project).
pub trait Harness: Sync {
    /// The destination.
    type Dest: Destination;
    /// Its read side.
    type Reader: StoreReader;
    /// Opens a store at the location, replacing an earlier one there.
    fn destination(&self) -> impl Future<Output = Result<Self::Dest>> + Send;
    /// Opens the store at the location to read it; an error when there is
    /// none (some readers refuse to open a location without a store).
    fn reader(&self) -> impl Future<Output = Result<Self::Reader>> + Send;
}

/// An in-memory store: what is committed, shared by its destinations and
/// readers.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    files: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

impl MemoryStore {
    fn files(&self) -> MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A store being written to a [`MemoryStore`]: nothing shows before the
/// commit, which replaces the whole store.
#[derive(Debug)]
pub struct MemoryDestination {
    store: MemoryStore,
    staged: BTreeMap<String, Vec<u8>>,
}

impl Harness for MemoryStore {
    type Dest = MemoryDestination;
    type Reader = MemoryStore;

    async fn destination(&self) -> Result<MemoryDestination> {
        Ok(MemoryDestination {
            store: self.clone(),
            staged: BTreeMap::new(),
        })
    }

    async fn reader(&self) -> Result<MemoryStore> {
        Ok(self.clone())
    }
}

impl MemoryDestination {
    fn bytes(&self, path: &str, body: Body) -> Result<Vec<u8>> {
        match body {
            Body::Bytes(b) => Ok(b),
            Body::File(f) => std::fs::read(&f)
                .map_err(|e| Error::io(format_args!("cannot read {}", f.display()), e)),
            Body::Copy(existing) => self.staged.get(&existing).cloned().ok_or_else(|| {
                Error::Refused(format!("{path}: {existing} was not put in this store"))
            }),
        }
    }
}

impl Destination for MemoryDestination {
    fn describe(&self) -> String {
        "memory".to_owned()
    }

    async fn put(&mut self, path: &str, body: Body) -> Result<()> {
        if !crate::is_safe_store_path(path) {
            return Err(Error::Refused(format!("unsafe store path {path:?}")));
        }
        let bytes = self.bytes(path, body)?;
        self.staged.insert(path.to_owned(), bytes);
        Ok(())
    }

    async fn commit(mut self, manifest: Body) -> Result<()> {
        let manifest = self.bytes(STORE_MANIFEST, manifest)?;
        self.staged.insert(STORE_MANIFEST.to_owned(), manifest);
        *self.store.files() = std::mem::take(&mut self.staged);
        Ok(())
    }

    async fn abort(self) -> Result<()> {
        Ok(())
    }
}

impl StoreReader for MemoryStore {
    fn describe(&self) -> String {
        "memory".to_owned()
    }

    async fn manifest(&mut self, out: &mut ByteSink<'_>) -> Result<()> {
        match self.get(STORE_MANIFEST, out).await? {
            Some(_) => Ok(()),
            None => Err(Error::io(
                "memory holds no labelstore store",
                std::io::ErrorKind::NotFound.into(),
            )),
        }
    }

    async fn list<E, F>(&mut self, mut found: F) -> Result<(), E>
    where
        E: From<Error> + Send,
        F: FnMut(Found) -> Result<(), E> + Send,
    {
        let listed: Vec<(String, u64)> = self
            .files()
            .iter()
            .map(|(p, b)| (p.clone(), b.len() as u64))
            .collect();
        for (path, size) in listed {
            found(Found::File(Held::file(path, size)))?;
        }
        Ok(())
    }

    async fn get(&mut self, path: &str, out: &mut ByteSink<'_>) -> Result<Option<u64>> {
        let Some(bytes) = self.files().get(path).cloned() else {
            return Ok(None);
        };
        out(&bytes).map_err(|e| Error::io(format_args!("cannot keep {path}"), e))?;
        Ok(Some(bytes.len() as u64))
    }
}

/// A store manifest listing `files` (path and bytes).
pub fn manifest_of(files: &[(&str, &[u8])]) -> Result<Vec<u8>> {
    let dir = std::env::temp_dir().join(format!(
        "labelstore-testing-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let io = |e| Error::io("cannot write a test manifest", e);
    std::fs::create_dir_all(&dir).map_err(io)?;
    let path = dir.join(STORE_MANIFEST);
    let header = serde_json::json!({ "labelstore_store": 1, "project": "conformance" });
    let mut w = ManifestWriter::create(&path, &header).map_err(io)?;
    for (p, bytes) in files {
        let (size, sha) = digest_bytes(bytes);
        w.add(p, size, &sha).map_err(io)?;
    }
    w.finish().map_err(io)?;
    let bytes = std::fs::read(&path).map_err(io);
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}

/// Stores `files` and commits with their manifest.
async fn store<H: Harness>(h: &H, files: &[(&str, &[u8])]) -> Result<Vec<u8>> {
    let mut d = h.destination().await?;
    for (path, bytes) in files {
        d.put(path, Body::Bytes(bytes.to_vec())).await?;
    }
    let manifest = manifest_of(files)?;
    d.commit(Body::Bytes(manifest.clone())).await?;
    Ok(manifest)
}

/// The bytes of `path` in the store, `None` when it holds no such file.
async fn read<R: StoreReader>(r: &mut R, path: &str) -> Result<Option<Vec<u8>>> {
    let mut got = Vec::new();
    let size = r
        .get(path, &mut |b: &[u8]| {
            got.extend_from_slice(b);
            Ok(())
        })
        .await?;
    if let Some(size) = size {
        assert_eq!(size, got.len() as u64, "{path}: the size get says");
    }
    Ok(size.map(|_| got))
}

/// The store manifest's bytes.
async fn read_manifest<R: StoreReader>(r: &mut R) -> Result<Vec<u8>> {
    let mut got = Vec::new();
    r.manifest(&mut |b: &[u8]| {
        got.extend_from_slice(b);
        Ok(())
    })
    .await?;
    Ok(got)
}

/// Whether the store at the harness's location has a manifest (a reader
/// that cannot open there has none).
async fn has_manifest<H: Harness>(h: &H) -> bool {
    match h.reader().await {
        Ok(mut r) => r.manifest(&mut |_: &[u8]| Ok(())).await.is_ok(),
        Err(_) => false,
    }
}

/// Files put, committed, then listed and read back whole, with the
/// manifest handed at commit.
pub async fn put_get_round_trip<H: Harness>(h: &H) -> Result<()> {
    let files: [(&str, &[u8]); 3] = [
        ("labels/a.txt", b"0 0.5 0.5 1 1\n"),
        ("coco/annotations/instances_train.json", b"{\"images\": []}"),
        ("project.json", &[0, 1, 2, 255, b'\n']),
    ];
    let manifest = store(h, &files).await?;
    let mut r = h.reader().await?;
    assert_eq!(
        read_manifest(&mut r).await?,
        manifest,
        "the manifest reads back as handed over"
    );
    let mut listed = BTreeMap::new();
    r.list(|f| {
        if let Found::File(h) = f {
            listed.insert(h.path, h.size);
        }
        Ok::<(), Error>(())
    })
    .await?;
    for (path, bytes) in files {
        assert_eq!(
            listed.get(path),
            Some(&Some(bytes.len() as u64)),
            "{path} is listed with its size: {listed:?}"
        );
        assert_eq!(read(&mut r, path).await?.as_deref(), Some(bytes), "{path}");
    }
    assert_eq!(read(&mut r, "no/such.txt").await?, None);
    Ok(())
}

/// A second store at the same place replaces the first: its files and
/// manifest, and none of the first's files it does not put again.
pub async fn overwrite<H: Harness>(h: &H) -> Result<()> {
    store(h, &[("a.txt", b"first"), ("b.txt", b"only in the first")]).await?;
    let second: [(&str, &[u8]); 2] = [("a.txt", b"second"), ("c.txt", b"new")];
    let manifest = store(h, &second).await?;
    let mut r = h.reader().await?;
    assert_eq!(
        read_manifest(&mut r).await?,
        manifest,
        "the second store's manifest"
    );
    for (path, bytes) in second {
        assert_eq!(read(&mut r, path).await?.as_deref(), Some(bytes), "{path}");
    }
    assert_eq!(
        read(&mut r, "b.txt").await?,
        None,
        "the first store's b.txt"
    );
    Ok(())
}

/// A store that aborts leaves no store behind.
pub async fn abort_leaves_nothing<H: Harness>(h: &H) -> Result<()> {
    let mut d = h.destination().await?;
    d.put("a.txt", Body::Bytes(b"a".to_vec())).await?;
    d.put("chips/b.png", Body::Bytes(b"png".to_vec())).await?;
    d.abort().await?;
    assert!(!has_manifest(h).await, "a manifest after abort");
    if let Ok(mut r) = h.reader().await {
        assert_eq!(read(&mut r, "a.txt").await.ok().flatten(), None);
    }
    Ok(())
}

/// Nothing marks the store complete before the commit, which hands over
/// the manifest after every file.
pub async fn commit_hands_the_manifest_last<H: Harness>(h: &H) -> Result<()> {
    let files: [(&str, &[u8]); 2] = [("a.txt", b"a"), ("b/c.txt", b"c")];
    let mut d = h.destination().await?;
    for (path, bytes) in files {
        d.put(path, Body::Bytes(bytes.to_vec())).await?;
    }
    assert!(!has_manifest(h).await, "a manifest before the commit");
    d.commit(Body::Bytes(manifest_of(&files)?)).await?;
    assert!(has_manifest(h).await, "no manifest after the commit");
    Ok(())
}

/// Runs the whole suite, each behaviour at a location of its own from
/// `new`.
pub async fn suite<H: Harness>(mut new: impl FnMut(&str) -> H) -> Result<()> {
    put_get_round_trip(&new("round-trip")).await?;
    overwrite(&new("overwrite")).await?;
    abort_leaves_nothing(&new("abort")).await?;
    commit_hands_the_manifest_last(&new("manifest-last")).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_store_passes_the_suite() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(suite(|_| MemoryStore::default())).unwrap();
    }
}
