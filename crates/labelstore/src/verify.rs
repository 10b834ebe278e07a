//! Checking a store against its manifest (`labelstore verify`): every file
//! it lists present with its size and SHA-256, and nothing else there,
//! through the store's [`StoreReader`]. The manifest is read line by line
//! (the pipeline writes one file entry per line) and the store listed as a
//! stream, so a store of any size is checked without holding either; only
//! the listed paths are kept, to find missing and extra files.

use std::collections::HashMap;
use std::path::Path;

use sink_api::{Found, Held, STORE_MANIFEST, StoreReader, Unlisted};

use crate::fetch::{Receiving, entries, get_manifest};
use crate::store::{Progress, StoreError};

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
    let manifest = scratch.path().join(STORE_MANIFEST);
    get_manifest(reader, &manifest).await?;
    let mut report = VerifyReport::default();
    let listed = index(&manifest, &mut report)?;
    let mut check = Check {
        listed,
        report,
        extra: Vec::new(),
    };
    reader
        .list(|found| {
            check.found(found);
            Ok::<(), StoreError>(())
        })
        .await?;
    let mut to_hash: Vec<String> = check
        .listed
        .iter()
        .filter(|(_, l)| l.hash)
        .map(|(p, _)| p.clone())
        .collect();
    to_hash.sort();
    let local = reader.local_folder().is_some();
    let total = to_hash.len();
    let mut bytes = 0;
    for (done, path) in to_hash.into_iter().enumerate() {
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
            Ok(Some(_)) if check.listed.get(&path).is_some_and(|l| l.sha256 != sha) => {
                format!("checksum differs: {path}")
            }
            Ok(Some(_)) => continue,
            // A local file that cannot be read is a difference to report;
            // a remote store that fails, a failure.
            Err(sink_api::Error::Io { source, .. }) if local => {
                format!("unreadable: {path} ({source})")
            }
            Err(e) => return Err(e.into()),
        };
        check.report.problems.push(problem);
    }
    let Check {
        listed,
        mut report,
        mut extra,
    } = check;
    report.problems.extend(missing(&listed));
    extra.sort();
    report.problems.extend(extra);
    Ok(report)
}

/// A manifest entry, whether the store was seen to hold it, and whether
/// its bytes are still to be hashed.
struct Listed {
    size: u64,
    sha256: String,
    seen: bool,
    hash: bool,
}

/// What verify has found so far.
struct Check {
    listed: HashMap<String, Listed>,
    report: VerifyReport,
    extra: Vec<String>,
}

impl Check {
    /// Checks one item the reader found against the manifest.
    fn found(&mut self, found: Found) {
        match found {
            Found::File(held) => self.held(held),
            Found::Record {
                entry,
                unlisted,
                differs,
            } => match self.listed.get_mut(&entry.path) {
                None => self.report.problems.push(unlisted),
                Some(l) => {
                    l.seen = true;
                    if entry.size != l.size || entry.sha256 != l.sha256 {
                        self.report.problems.push(differs);
                    }
                }
            },
            Found::Problem(p) => self.report.problems.push(p),
            Found::Unit {
                key,
                unlisted,
                items,
            } => {
                if self.listed.contains_key(&key) {
                    items.into_iter().for_each(|i| self.found(i));
                } else {
                    self.extra.push(unlisted);
                }
            }
        }
    }

    /// Checks a file the store holds; one whose checksum the store does
    /// not give is marked for hashing.
    fn held(&mut self, held: Held) {
        if held.path == STORE_MANIFEST {
            return;
        }
        let Some(l) = self.listed.get_mut(&held.path) else {
            match held.unlisted {
                Unlisted::Extra(e) => self.extra.push(e),
                Unlisted::Problem(p) => self.report.problems.push(p),
            }
            return;
        };
        l.seen = true;
        let path = &held.path;
        let about = |sep: &str| held.about.as_ref().map(|a| format!("{a}{sep}"));
        let problem = match (held.size, held.sha256) {
            (None, _) => format!("missing: {path} ({})", about("").unwrap_or_default()),
            (Some(size), _) if size != l.size => format!(
                "size differs: {path} ({}manifest {} bytes, found {size})",
                about(": ").unwrap_or_default(),
                l.size
            ),
            (Some(_), Some(sha)) if sha != l.sha256 => match about("") {
                Some(a) => format!("checksum differs: {path} ({a})"),
                None => format!("checksum differs: {path}"),
            },
            (Some(_), Some(_)) => return,
            (Some(_), None) => {
                l.hash = true;
                return;
            }
        };
        self.report.problems.push(problem);
    }
}

/// Indexes the manifest's entries by path (paths, sizes and checksums
/// only: a few hundred thousand for a 100k-chip store).
fn index(
    manifest: &Path,
    report: &mut VerifyReport,
) -> Result<HashMap<String, Listed>, StoreError> {
    let mut listed = HashMap::new();
    for e in entries(manifest)? {
        let e = e?;
        report.files_listed += 1;
        if !sink_api::is_safe_store_path(&e.path) {
            report
                .problems
                .push(format!("unsafe path in the manifest: {}", e.path));
            continue;
        }
        listed.insert(
            e.path,
            Listed {
                size: e.size,
                sha256: e.sha256,
                seen: false,
                hash: false,
            },
        );
    }
    Ok(listed)
}

/// The listed files the store was not seen to hold, sorted.
fn missing(listed: &HashMap<String, Listed>) -> Vec<String> {
    let mut m: Vec<String> = listed
        .iter()
        .filter(|(_, l)| !l.seen)
        .map(|(p, _)| format!("missing: {p}"))
        .collect();
    m.sort();
    m
}
