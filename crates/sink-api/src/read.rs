//! The read side of a store: [`StoreReader`], what `fetch` and `verify`
//! read a store back through, whatever holds it.
//!
//! A reader hands over the store manifest ([`StoreReader::manifest`]),
//! lists what the store holds ([`StoreReader::list`], streamed: memory does
//! not grow with the store), and streams one file's bytes
//! ([`StoreReader::get`]). A store that keeps files in another shape than
//! files (a database keeps a chip as a row, its image as a raster) says so
//! in what it lists ([`Found::Unit`], [`Found::Record`]) and hands its files
//! in bulk, made back into files ([`StoreReader::get_all`]).

use std::future::Future;
use std::path::Path;

use crate::Result;

/// Why a fetch stops at a file that is not as the store manifest or the
/// store's own records say.
pub const DAMAGED: &str = "the store is damaged; `labelstore verify` lists every difference";

/// A sink for a file's bytes, piece by piece.
pub type ByteSink<'a> = dyn FnMut(&[u8]) -> std::io::Result<()> + Send + 'a;

/// How a file the store holds is reported when its manifest does not list
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unlisted {
    /// An extra file: the store holds more than it should (`extra: …`).
    Extra(String),
    /// A problem of the store's own records.
    Problem(String),
}

/// One file a store holds, as its reader lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The store path.
    pub path: String,
    /// Its size; `None` when the store records the file but holds no bytes
    /// for it (a NULL column).
    pub size: Option<u64>,
    /// Its SHA-256 (lower-case hex) when the store computes it itself (a
    /// database server); `None`: whoever checks it reads the bytes.
    pub sha256: Option<String>,
    /// What the file is, said after its path in messages
    /// (`image of chip g`).
    pub about: Option<String>,
    /// What is said when the manifest does not list it.
    pub unlisted: Unlisted,
}

impl Held {
    /// A plain file of `size` bytes at `path`: an extra when not listed.
    pub fn file(path: String, size: u64) -> Held {
        Held {
            unlisted: Unlisted::Extra(format!("extra: {path}")),
            path,
            size: Some(size),
            sha256: None,
            about: None,
        }
    }
}

/// What a reader finds in a store, item by item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A file the store holds.
    File(Held),
    /// What the store records of a file (a database row's list of its
    /// chip's files): the manifest must list the same size and SHA-256.
    /// `unlisted` is said when it does not list the path, `differs` when
    /// size or SHA-256 differ.
    Record {
        /// The file as the store records it.
        entry: crate::ManifestEntry,
        /// The problem when the manifest does not list it.
        unlisted: String,
        /// The problem when the manifest lists it otherwise.
        differs: String,
    },
    /// A difference the store found by itself (a raster changed since it
    /// was stored).
    Problem(String),
    /// Items kept as one unit (a database row per chip), part of the store
    /// only when its manifest lists `key`; otherwise the unit is an extra
    /// (`unlisted`) and its items are not looked at.
    Unit {
        /// The store path the unit is known by (the chip's image).
        key: String,
        /// The extra reported when the manifest does not list `key`.
        unlisted: String,
        /// What the unit holds and records.
        items: Vec<Found>,
    },
}

/// One file a reader hands in bulk ([`StoreReader::get_all`]).
#[derive(Debug, Clone, Copy)]
pub struct Fetched<'a> {
    /// The store path.
    pub path: &'a str,
    /// Its bytes.
    pub bytes: &'a [u8],
    /// The chip it belongs to, when the store keeps chips as units.
    pub chip: Option<&'a str>,
    /// What the file is, for messages (`image of chip g`).
    pub about: Option<&'a str>,
    /// Made from what the store keeps rather than stored as listed (a
    /// database raster written back as a GeoTIFF): its bytes are not the
    /// listed ones, and the chip's image is this file.
    pub made: bool,
    /// The same bytes as the file at this path, handed just before (an
    /// image placed again in a format's folder): not checked again.
    pub copy_of: Option<&'a str>,
}

/// A store, read back. See the module docs.
pub trait StoreReader: Send {
    /// Where the store is, for reports; never holds a secret.
    fn describe(&self) -> String;

    /// The local folder holding the store, when it can be read in place
    /// (a local store); `None` for a store that must be brought over.
    fn local_folder(&self) -> Option<&Path> {
        None
    }

    /// Streams the store manifest to `out`. A store without one is an
    /// error saying so: it is not a complete store.
    fn manifest(&mut self, out: &mut ByteSink<'_>) -> impl Future<Output = Result<()>> + Send;

    /// Hands `found` everything the store holds, item by item (the store
    /// manifest left out or not: callers skip it), in no particular order.
    fn list<E, F>(&mut self, found: F) -> impl Future<Output = Result<(), E>> + Send
    where
        E: From<crate::Error> + Send,
        F: FnMut(Found) -> Result<(), E> + Send;

    /// Streams the file at store path `path` to `out`; its size, or `None`
    /// when the store holds no such file.
    fn get(
        &mut self,
        path: &str,
        out: &mut ByteSink<'_>,
    ) -> impl Future<Output = Result<Option<u64>>> + Send;

    /// Hands `got` the files the store keeps in another shape than files,
    /// made back into files (a database's chip rows), among those `wanted`
    /// accepts, and the rest of them when that is cheaper than a
    /// [`get`](StoreReader::get) each. True when every file of the store
    /// was handed (what was not is not there); the default hands none.
    fn get_all<E, F>(
        &mut self,
        wanted: &(dyn Fn(&str) -> bool + Sync),
        got: F,
    ) -> impl Future<Output = Result<bool, E>> + Send
    where
        E: From<crate::Error> + Send,
        F: FnMut(Fetched<'_>) -> Result<(), E> + Send,
    {
        let _ = (wanted, got);
        async { Ok(false) }
    }
}
