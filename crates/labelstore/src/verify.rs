//! Checking a store against its manifest (`labelstore verify`): every file
//! it lists present with its size and SHA-256, and nothing else there,
//! through the store's [`StoreReader`].
//!
//! Memory stays flat however many files the store holds: the manifest's
//! entries and what the store lists are each sorted on disk by path
//! ([`extsort`], segments of [`SEGMENT`] items in the scratch folder), then
//! walked side by side as a sorted merge. Only the differences found are
//! kept. The files whose checksum the store does not give are written to
//! a scratch file in path order during the merge, then read and hashed one
//! at a time.

use std::cmp::Ordering;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sink_api::{Found, STORE_MANIFEST, StoreReader, Unlisted};

use crate::fetch::{Receiving, entries, get_manifest};
use crate::store::{Progress, StoreError};

/// Items a sort holds in memory before it writes them to disk, sorted
/// (a few megabytes of paths and checksums); a handful in unit tests, so
/// that every sort spills.
const SEGMENT: usize = if cfg!(test) { 4 } else { 20_000 };

/// What `verify` found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VerifyReport {
    /// Files the manifest lists.
    pub files_listed: usize,
    /// Each difference, one line each: `missing: …`, `size differs: …`,
    /// `checksum differs: …`, `extra: …`.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// Whether the store is whole.
    pub fn is_whole(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks the store `reader` reads: every file the manifest lists present
/// with its size and SHA-256, and nothing else there. What the store
/// computes itself (a database server's checksums) is taken; any other
/// file is read and hashed as it streams, never held. A local store whose
/// folder is not a folder is a wrong request (exit status 2).
pub async fn verify<R: StoreReader>(reader: &mut R) -> Result<VerifyReport, StoreError> {
    verify_with_progress(reader, &mut |_| {}).await
}

/// [`verify`], telling `progress` of every file read and hashed.
pub async fn verify_with_progress<R: StoreReader>(
    reader: &mut R,
    progress: &mut (dyn FnMut(Progress<'_>) + Send),
) -> Result<VerifyReport, StoreError> {
    if let Some(dir) = reader.local_folder()
        && !dir.is_dir()
    {
        return Err(StoreError::Usage(format!(
            "{} is not a folder: there is no store to verify there",
            dir.display()
        )));
    }
    let scratch = crate::scratch::scratch_dir("verify")?;
    let dir = scratch.path();
    let manifest = dir.join(STORE_MANIFEST);
    get_manifest(reader, &manifest).await?;
    let mut report = VerifyReport::default();
    let listed = dir.join("listed");
    sort_manifest(&manifest, &listed, &mut report)?;

    // What the store holds, sorted by path; units (a database's chip rows)
    // apart, until the manifest says whether it lists them.
    let mut found = Listing::new(dir);
    reader
        .list(|item| found.take(item).map_err(StoreError::Scratch))
        .await?;
    let Listing {
        mut held,
        mut units,
        mut problems,
        mut extra,
        ..
    } = found;
    while units.count > 0 {
        let sorted = std::mem::replace(&mut units, Sorter::new(dir)).done()?;
        let mut manifest = Records::open(&listed)?;
        for unit in sorted {
            let unit = unit?;
            let Item::Unit { unlisted, items } = unit.item()? else {
                continue;
            };
            if manifest.has(&unit.key)? {
                for (path, item) in items {
                    sort_item(path, item, &mut held, &mut units, &mut problems)?;
                }
            } else {
                extra.push(unlisted);
            }
        }
    }
    report.problems.extend(problems);

    // The merge: each manifest entry against what the store holds at its
    // path.
    let to_hash_path = dir.join("to-hash");
    let mut to_hash = BufWriter::new(File::create(&to_hash_path)?);
    let mut total = 0;
    let mut missing = Vec::new();
    let mut manifest = Records::open(&listed)?.peekable();
    let mut seen = false;
    for found in held.done()? {
        let found = found?;
        while let Some(entry) = manifest.next_if(|m| m.as_ref().is_ok_and(|m| m.key < found.key)) {
            if !std::mem::take(&mut seen) {
                missing.push(format!("missing: {}", entry?.key));
            }
        }
        if let Some(Err(_)) = manifest.peek()
            && let Some(Err(e)) = manifest.next()
        {
            return Err(StoreError::Scratch(e));
        }
        let entry = match manifest.peek() {
            Some(Ok(m)) if m.key == found.key => Some(m.entry()?),
            _ => None,
        };
        let path = &found.key;
        let Some(entry) = entry else {
            match found.item()? {
                Item::Held {
                    unlisted,
                    extra: true,
                    ..
                } => extra.push(unlisted),
                Item::Held { unlisted, .. } | Item::Record { unlisted, .. } => {
                    report.problems.push(unlisted)
                }
                Item::Problem(p) => report.problems.push(p),
                Item::Unit { unlisted, .. } => extra.push(unlisted),
            }
            continue;
        };
        seen = true;
        match found.item()? {
            Item::Record {
                size,
                sha256,
                differs,
                ..
            } => {
                if size != entry.size || sha256 != entry.sha256 {
                    report.problems.push(differs);
                }
            }
            Item::Held {
                size,
                sha256,
                about,
                ..
            } => {
                let about = |sep: &str| about.as_ref().map(|a| format!("{a}{sep}"));
                let problem = match (size, sha256) {
                    (None, _) => format!("missing: {path} ({})", about("").unwrap_or_default()),
                    (Some(size), _) if size != entry.size => format!(
                        "size differs: {path} ({}manifest {} bytes, found {size})",
                        about(": ").unwrap_or_default(),
                        entry.size
                    ),
                    (Some(_), Some(sha)) if sha != entry.sha256 => match about("") {
                        Some(a) => format!("checksum differs: {path} ({a})"),
                        None => format!("checksum differs: {path}"),
                    },
                    (Some(_), Some(_)) => continue,
                    (Some(_), None) => {
                        total += 1;
                        Keyed::new(path.clone(), 0, entry.sha256.into_bytes())
                            .encode(&mut to_hash)?;
                        continue;
                    }
                };
                report.problems.push(problem);
            }
            Item::Problem(p) => report.problems.push(p),
            Item::Unit { .. } => {}
        }
    }
    for entry in manifest {
        if !std::mem::take(&mut seen) {
            missing.push(format!("missing: {}", entry?.key));
        }
    }
    to_hash.flush()?;
    drop(to_hash);

    // The files to read and hash, in path order.
    let local = reader.local_folder().is_some();
    let mut bytes = 0;
    for (done, file) in Records::open(&to_hash_path)?.enumerate() {
        let Keyed {
            key: path, body, ..
        } = file?;
        let mut rx = Receiving::new(None)?;
        let got = reader.get(&path, &mut |b: &[u8]| rx.take(b)).await;
        let sha = rx.finish()?;
        if let Ok(Some(size)) = got {
            bytes += size;
        }
        progress(Progress {
            done: done + 1,
            total,
            bytes,
            item: &path,
        });
        let problem = match got {
            Ok(None) => format!("missing: {path}"),
            Ok(Some(_)) if sha.as_bytes() != body => format!("checksum differs: {path}"),
            Ok(Some(_)) => continue,
            // A local file that cannot be read is a difference to report;
            // a remote store that fails, a failure.
            Err(sink_api::Error::Io { source, .. }) if local => {
                format!("unreadable: {path} ({source})")
            }
            Err(e) => return Err(e.into()),
        };
        report.problems.push(problem);
    }
    report.problems.extend(missing);
    extra.sort();
    report.problems.extend(extra);
    Ok(report)
}

/// Sorts the manifest's entries by path into `out` (the last entry of a
/// path listed twice kept), counting them and reporting unsafe paths.
fn sort_manifest(manifest: &Path, out: &Path, report: &mut VerifyReport) -> Result<(), StoreError> {
    let dir = out.parent().unwrap_or(Path::new("."));
    let mut sorter = Sorter::new(dir);
    for e in entries(manifest)? {
        let e = e?;
        report.files_listed += 1;
        if !sink_api::is_safe_store_path(&e.path) {
            report
                .problems
                .push(format!("unsafe path in the manifest: {}", e.path));
            continue;
        }
        let body = serde_json::to_vec(&Entry {
            size: e.size,
            sha256: e.sha256,
        })
        .map_err(io::Error::other)?;
        sorter.push(e.path, body)?;
    }
    let mut w = BufWriter::new(File::create(out)?);
    let mut sorted = sorter.done()?.peekable();
    while let Some(entry) = sorted.next() {
        let entry = entry?;
        // Of one path listed twice, the last.
        if sorted
            .peek()
            .is_some_and(|n| n.as_ref().is_ok_and(|n| n.key == entry.key))
        {
            continue;
        }
        entry.encode(&mut w)?;
    }
    w.flush()?;
    Ok(())
}

/// What the manifest says of a file.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    size: u64,
    sha256: String,
}

/// What the store holds at a path, as sorted on disk: a [`Found`] with
/// its path as the key.
#[derive(Debug, Serialize, Deserialize)]
enum Item {
    Held {
        size: Option<u64>,
        sha256: Option<String>,
        about: Option<String>,
        /// Reported as an extra (rather than a problem) when unlisted.
        extra: bool,
        unlisted: String,
    },
    Record {
        size: u64,
        sha256: String,
        unlisted: String,
        differs: String,
    },
    Problem(String),
    Unit {
        unlisted: String,
        items: Vec<(String, Item)>,
    },
}

/// A found item keyed by its path (a unit by its key; a problem by `""`).
fn item(found: Found) -> (String, Item) {
    match found {
        Found::File(h) => {
            let (extra, unlisted) = match h.unlisted {
                Unlisted::Extra(e) => (true, e),
                Unlisted::Problem(p) => (false, p),
            };
            (
                h.path,
                Item::Held {
                    size: h.size,
                    sha256: h.sha256,
                    about: h.about,
                    extra,
                    unlisted,
                },
            )
        }
        Found::Record {
            entry,
            unlisted,
            differs,
        } => (
            entry.path,
            Item::Record {
                size: entry.size,
                sha256: entry.sha256,
                unlisted,
                differs,
            },
        ),
        Found::Problem(p) => (String::new(), Item::Problem(p)),
        Found::Unit {
            key,
            unlisted,
            items,
        } => (
            key,
            Item::Unit {
                unlisted,
                items: items.into_iter().map(item).collect(),
            },
        ),
    }
}

/// What the store's listing has given so far.
struct Listing {
    held: Sorter,
    units: Sorter,
    problems: Vec<String>,
    extra: Vec<String>,
}

impl Listing {
    fn new(dir: &Path) -> Listing {
        Listing {
            held: Sorter::new(dir),
            units: Sorter::new(dir),
            problems: Vec::new(),
            extra: Vec::new(),
        }
    }

    fn take(&mut self, found: Found) -> io::Result<()> {
        let (path, it) = item(found);
        sort_item(
            path,
            it,
            &mut self.held,
            &mut self.units,
            &mut self.problems,
        )
    }
}

/// Puts one found item where it is looked at: files and records sorted by
/// path, units sorted by key, problems reported as they are.
fn sort_item(
    path: String,
    item: Item,
    held: &mut Sorter,
    units: &mut Sorter,
    problems: &mut Vec<String>,
) -> io::Result<()> {
    match item {
        Item::Problem(p) => problems.push(p),
        Item::Held { .. } if path == STORE_MANIFEST => {}
        Item::Unit { .. } => units.push(path, serde_json::to_vec(&item)?)?,
        Item::Held { .. } | Item::Record { .. } => held.push(path, serde_json::to_vec(&item)?)?,
    }
    Ok(())
}

/// A store path, its place in the input (ties keep input order) and what
/// is said of it (JSON or raw bytes); sorted by path, then place.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Keyed {
    key: String,
    seq: u64,
    body: Vec<u8>,
}

impl Keyed {
    fn new(key: String, seq: u64, body: Vec<u8>) -> Keyed {
        Keyed { key, seq, body }
    }

    fn item(&self) -> io::Result<Item> {
        serde_json::from_slice(&self.body).map_err(io::Error::other)
    }

    fn entry(&self) -> io::Result<Entry> {
        serde_json::from_slice(&self.body).map_err(io::Error::other)
    }

    fn encode<W: Write>(&self, w: &mut W) -> io::Result<()> {
        extsort::Sortable::encode(self, w)
    }
}

impl extsort::Sortable for Keyed {
    fn encode<W: Write>(&self, w: &mut W) -> io::Result<()> {
        for bytes in [self.key.as_bytes(), &self.body] {
            let len = u32::try_from(bytes.len()).map_err(io::Error::other)?;
            w.write_all(&len.to_le_bytes())?;
            w.write_all(bytes)?;
        }
        w.write_all(&self.seq.to_le_bytes())
    }

    fn decode<R: Read>(r: &mut R) -> io::Result<Keyed> {
        let key = String::from_utf8(read_bytes(r)?).map_err(io::Error::other)?;
        let body = read_bytes(r)?;
        let mut seq = [0; 8];
        r.read_exact(&mut seq)?;
        Ok(Keyed::new(key, u64::from_le_bytes(seq), body))
    }
}

/// A length-prefixed run of bytes; `UnexpectedEof` at the end of the input.
fn read_bytes<R: Read>(r: &mut R) -> io::Result<Vec<u8>> {
    let mut len = [0; 4];
    r.read_exact(&mut len)?;
    let mut bytes = vec![0; u32::from_le_bytes(len) as usize];
    r.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// How [`Keyed`] items are ordered.
type Order = fn(&Keyed, &Keyed) -> Ordering;

/// An on-disk sort of [`Keyed`] items in a scratch folder.
struct Sorter {
    inner: extsort::PushExternalSorter<Keyed, Order>,
    count: u64,
}

impl Sorter {
    fn new(dir: &Path) -> Sorter {
        Sorter {
            inner: extsort::ExternalSorter::new()
                .with_segment_size(SEGMENT)
                .with_sort_dir(dir.to_path_buf())
                .pushed_by(Ord::cmp as Order),
            count: 0,
        }
    }

    fn push(&mut self, key: String, body: Vec<u8>) -> io::Result<()> {
        self.inner.push(Keyed::new(key, self.count, body))?;
        self.count += 1;
        Ok(())
    }

    fn done(self) -> io::Result<extsort::SortedIterator<Keyed, Order>> {
        self.inner.done()
    }
}

/// [`Keyed`] items read back from a file, in the order written.
struct Records {
    r: BufReader<File>,
    /// The item [`Records::has`] stopped at.
    at: Option<Keyed>,
}

impl Records {
    fn open(path: &Path) -> io::Result<Records> {
        Ok(Records {
            r: BufReader::new(File::open(path)?),
            at: None,
        })
    }

    /// Whether the items, sorted by key, hold `key`; the keys asked for
    /// come in order.
    fn has(&mut self, key: &str) -> io::Result<bool> {
        loop {
            match &self.at {
                Some(at) if at.key.as_str() >= key => return Ok(at.key == key),
                _ => match self.next() {
                    Some(item) => self.at = Some(item?),
                    None => return Ok(false),
                },
            }
        }
    }
}

impl Iterator for Records {
    type Item = io::Result<Keyed>;

    fn next(&mut self) -> Option<io::Result<Keyed>> {
        match <Keyed as extsort::Sortable>::decode(&mut self.r) {
            Ok(k) => Some(Ok(k)),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => None,
            Err(e) => Some(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sink_api::{ManifestWriter, digest_bytes};

    /// A local store of 40 files (more segments than one sort holds),
    /// with one file of each kind of damage, and duplicate and unsafe
    /// entries in the manifest.
    #[tokio::test]
    async fn the_sorted_merge_names_every_difference_across_many_segments() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let mut manifest =
            ManifestWriter::create(&dir.join(STORE_MANIFEST), &serde_json::json!({})).unwrap();
        for i in (0..40).rev() {
            let path = format!("d{}/f{i:02}.txt", i % 3);
            let bytes = format!("file {i}");
            let (size, sha) = digest_bytes(bytes.as_bytes());
            manifest.add(&path, size, &sha).unwrap();
            let written = match i {
                // Missing.
                7 => continue,
                // Another size.
                11 => format!("{bytes}!"),
                // The same size, other bytes.
                23 => bytes.replace("file", "fil_"),
                _ => bytes,
            };
            std::fs::create_dir_all(dir.join(format!("d{}", i % 3))).unwrap();
            std::fs::write(dir.join(&path), written).unwrap();
        }
        // Listed twice: the last entry counts (the right size).
        let (size, sha) = digest_bytes(b"twice");
        manifest.add("twice.txt", 1, &sha).unwrap();
        manifest.add("twice.txt", size, &sha).unwrap();
        std::fs::write(dir.join("twice.txt"), "twice").unwrap();
        manifest.add("../escape.txt", 1, &sha).unwrap();
        manifest.finish().unwrap();
        for extra in ["d1/zz.txt", "a.txt"] {
            std::fs::write(dir.join(extra), "extra").unwrap();
        }

        let mut reader = sink_fs::FsReader::open(dir);
        let report = verify(&mut reader).await.unwrap();
        assert_eq!(report.files_listed, 43);
        assert_eq!(
            report.problems,
            [
                "unsafe path in the manifest: ../escape.txt",
                "size differs: d2/f11.txt (manifest 7 bytes, found 8)",
                "checksum differs: d2/f23.txt",
                "missing: d1/f07.txt",
                "extra: a.txt",
                "extra: d1/zz.txt",
            ]
        );
    }
}
