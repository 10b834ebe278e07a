//! The destination extension point of labelstore.
//!
//! A store writes its files through a [`Destination`]: a local folder, an
//! object store and a database are interchangeable behind it. The store
//! pipeline [`put`](Destination::put)s every file (chips, label files), then
//! either [`commit`](Destination::commit)s, handing over the store manifest
//! ([`STORE_MANIFEST`], see [`ManifestWriter`]) and making the whole result
//! appear, or [`abort`](Destination::abort)s, which
//! leaves the destination as it was. A destination never sees a half-made
//! store: that is the whole-or-nothing rule of SPEC §5.
//!
//! Files arrive one at a time; a [`Body::File`] names a local file to copy
//! (a chip, a spooled label file) so chips stream through without being held
//! in memory.
//!
//! A store is read back through a [`StoreReader`] (see its module): the
//! store manifest, a streamed listing of what the store holds, and one file
//! at a time; `fetch` and `verify` are written once against it.
//!
//! The traits are async (destinations talk to networks and databases) but this
//! crate does not depend on any runtime.

mod labels;
mod manifest;
mod preview;
mod read;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;

pub use crate::labels::{ChipLabels, LabelRecord, LabelShape, RecordPolygon};
pub use crate::manifest::{
    ManifestEntry, ManifestWriter, STORE_MANIFEST, digest_bytes, digest_file, hex,
    manifest_entries, manifest_header,
};
pub use crate::preview::{Discard, Preview, Tally};
pub use crate::read::{ByteSink, DAMAGED, Fetched, Found, Held, StoreReader, Unlisted};

/// The content of one stored file.
#[derive(Debug)]
pub enum Body {
    /// Bytes in memory (a small label file).
    Bytes(Vec<u8>),
    /// A local file, copied byte for byte (a chip, a spooled label file).
    File(PathBuf),
    /// The same bytes as a file already put in this store, at the given
    /// store path (a chip's image placed again in a format's folder). A
    /// local folder hard-links it where it can.
    Copy(String),
}

/// A place a store is written to. See the crate docs for the protocol.
pub trait Destination: Send {
    /// Where the store goes, for reports; never holds a secret.
    fn describe(&self) -> String;

    /// Stores one file at `path` (relative to the store's root,
    /// `/`-separated, made of chip ids and fixed names, never `..`).
    /// Nothing put is visible at the destination before [`Destination::commit`].
    fn put(&mut self, path: &str, body: Body) -> impl Future<Output = Result<()>> + Send;

    /// Hears that every file of one chip has been put (its image, then the
    /// per-chip label files of each format, in `record.files`). Destinations
    /// that keep chips as units (a database row per chip) build them here;
    /// the default does nothing.
    fn chip_stored(&mut self, record: &ChipRecord<'_>) -> impl Future<Output = Result<()>> + Send {
        let _ = record;
        async { Ok(()) }
    }

    /// Whether this destination keeps labels as records of their own, so
    /// the pipeline computes [`ChipLabels`] for it; the default is no.
    fn takes_labels(&self) -> bool {
        false
    }

    /// Hears a chip's labels as records (when [`Destination::takes_labels`]),
    /// after its files are put and just before
    /// [`Destination::chip_stored`] for the same chip; the default ignores
    /// them.
    fn chip_labels(&mut self, labels: ChipLabels) -> impl Future<Output = Result<()>> + Send {
        let _ = labels;
        async { Ok(()) }
    }

    /// Stores the store manifest (at [`STORE_MANIFEST`]), after everything
    /// put so far, and makes it all appear at the destination, whole. A
    /// destination where files appear one by one (an object store) writes
    /// the manifest last, so a store without it is incomplete.
    fn commit(self, manifest: Body) -> impl Future<Output = Result<()>> + Send;

    /// Throws away everything put so far, leaving the destination as it was.
    fn abort(self) -> impl Future<Output = Result<()>> + Send;

    /// Ends a dry run in place of [`Destination::commit`]: on a destination
    /// opened for a dry run (one that writes nothing when files are put),
    /// says what the commit would do besides writing the files put
    /// ([`Preview`]: files it would skip or remove, rows it would make),
    /// and writes nothing. The default, for a destination that would write
    /// every file and nothing else, has nothing to add.
    fn preview(self, manifest: Body) -> impl Future<Output = Result<Preview>> + Send
    where
        Self: Sized,
    {
        drop(manifest);
        async { Ok(Preview::default()) }
    }
}

/// What the pipeline knows of a chip once its files are put.
#[derive(Debug, Clone)]
pub struct ChipRecord<'a> {
    /// The chip's id.
    pub id: &'a str,
    /// The store path of its image (`chips/<id>.<ext>`).
    pub image: &'a str,
    /// Its georeferencing: `world_file`, `inline`, `embedded` or `none`.
    pub georeferencing: &'a str,
    /// Its CRS as an EPSG code, when known.
    pub epsg: Option<u32>,
    /// How many labels it has.
    pub labels: usize,
    /// The store paths put for this chip, in order, image first; with their
    /// size and SHA-256 (lower-case hex).
    pub files: &'a [ManifestEntry],
}

/// Why a destination failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request is not acceptable as given (a non-empty folder without
    /// `--overwrite`, a bad table name): the user must change the request.
    #[error("{0}")]
    Refused(String),
    /// Reading or writing failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, and to what.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// An [`Error::Io`] with its context.
    pub fn io(context: impl fmt::Display, source: std::io::Error) -> Error {
        Error::Io {
            context: context.to_string(),
            source,
        }
    }

    /// Whether the user's request is at fault (exit status 2) rather than the
    /// destination (exit status 1).
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::Refused(_))
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether `path` is a store path a destination may accept: relative,
/// `/`-separated, no empty, `.` or `..` segment, no backslash or NUL.
pub fn is_safe_store_path(path: &str) -> bool {
    !path.is_empty()
        && !path.contains(['\\', '\0'])
        && path
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_paths() {
        assert!(is_safe_store_path("chips/a.png"));
        assert!(is_safe_store_path("project.json"));
        for bad in ["", "/abs", "a//b", "../x", "a/./b", "a\\b", "a/"] {
            assert!(!is_safe_store_path(bad), "{bad}");
        }
    }
}
