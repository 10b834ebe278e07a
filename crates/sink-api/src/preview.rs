//! Dry runs: what a store would do at a destination, found out without
//! writing anything there.
//!
//! A destination opened for a dry run (each destination crate has its own
//! way to open one: `FsDestination::dry_run`, `ObjStoreDestination::dry_run`,
//! ...) takes every [`put`](crate::Destination::put) and writes nothing;
//! the pipeline then calls [`Destination::preview`](crate::Destination::preview)
//! instead of `commit`, and the destination says what the commit would have
//! done beyond writing the files the pipeline counted: what it would skip
//! (already there), remove (an earlier store's files), and the rows it would
//! make. [`Discard`] is the simplest such destination: it keeps nothing and
//! has nothing to add.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{Body, ChipRecord, Destination, Result, is_safe_store_path};

/// A count of files (or objects) and their bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// How many files.
    pub files: usize,
    /// Their bytes, together.
    pub bytes: u64,
}

impl Tally {
    /// Counts one file of `bytes`.
    pub fn add(&mut self, bytes: u64) {
        self.files += 1;
        self.bytes += bytes;
    }
}

/// What a destination adds to a dry run's plan (see the module docs); all
/// empty for a destination that would simply write every file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Preview {
    /// Files already at the destination with the same size and checksum,
    /// which the store would not write again (an object store resuming).
    pub skip: Tally,
    /// Files of an earlier store that the store would remove or replace
    /// (what `--overwrite`, or a new store under the same prefix, replaces).
    pub delete: usize,
    /// Per table, the rows the store would write (a database).
    pub rows: BTreeMap<String, usize>,
    /// Whether the table exists already (a database; `None` elsewhere).
    pub table_exists: Option<bool>,
}

/// A destination that keeps nothing: every file put is dropped. A dry run
/// into a place that needs nothing more checked.
#[derive(Debug, Clone)]
pub struct Discard {
    description: String,
}

impl Discard {
    /// A destination described as `description` in reports.
    pub fn new(description: impl Into<String>) -> Discard {
        Discard {
            description: description.into(),
        }
    }
}

impl Destination for Discard {
    fn describe(&self) -> String {
        self.description.clone()
    }

    async fn put(&mut self, path: &str, body: Body) -> Result<()> {
        if !is_safe_store_path(path) {
            return Err(crate::Error::Refused(format!("unsafe store path {path:?}")));
        }
        drop(body);
        Ok(())
    }

    async fn chip_stored(&mut self, record: &ChipRecord<'_>) -> Result<()> {
        let _ = record;
        Ok(())
    }

    async fn commit(self, manifest: Body) -> Result<()> {
        drop(manifest);
        Ok(())
    }

    async fn abort(self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discard_keeps_nothing_and_refuses_unsafe_paths() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut d = Discard::new("nowhere");
            assert_eq!(d.describe(), "nowhere");
            d.put("a/b.txt", Body::Bytes(b"x".to_vec())).await.unwrap();
            assert!(d.put("../x", Body::Bytes(Vec::new())).await.is_err());
            assert_eq!(
                d.preview(Body::Bytes(Vec::new())).await.unwrap(),
                Preview::default()
            );
        });
    }
}
