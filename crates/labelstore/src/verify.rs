//! Checking a store against its manifest (`labelstore verify`): every file
//! it lists present with its size and SHA-256, and nothing else there.
//! The manifest is read line by line (the pipeline writes one file entry
//! per line), so a store of any size is checked without holding its
//! manifest in memory; only the listed paths are kept, to find extra files.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Deserialize;

use crate::receipt::{STORE_MANIFEST, digest_file};
use crate::store::StoreError;

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

#[derive(Deserialize)]
struct Entry {
    path: String,
    size: u64,
    sha256: String,
}

/// Checks the local store at `dir`.
pub fn verify_local(dir: &Path) -> Result<VerifyReport, StoreError> {
    let manifest = dir.join(STORE_MANIFEST);
    let file = std::fs::File::open(&manifest).map_err(|e| {
        StoreError::Destination(sink_api::Error::io(
            format_args!(
                "{} has no {STORE_MANIFEST}: not a complete labelstore store",
                dir.display()
            ),
            e,
        ))
    })?;
    let mut report = VerifyReport::default();
    let mut listed: HashSet<String> = HashSet::new();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(StoreError::Scratch)?;
        let entry = line.trim().trim_end_matches(',');
        if !entry.starts_with("{\"path\":") {
            continue;
        }
        let e: Entry = serde_json::from_str(entry).map_err(|err| {
            StoreError::Scratch(std::io::Error::other(format!(
                "{}: a file entry is malformed: {err}",
                manifest.display()
            )))
        })?;
        report.files_listed += 1;
        if !sink_api::is_safe_store_path(&e.path) {
            report
                .problems
                .push(format!("unsafe path in the manifest: {}", e.path));
            continue;
        }
        let path = dir.join(&e.path);
        match std::fs::metadata(&path) {
            Err(_) => report.problems.push(format!("missing: {}", e.path)),
            Ok(m) if m.len() != e.size => report.problems.push(format!(
                "size differs: {} (manifest {} bytes, found {})",
                e.path,
                e.size,
                m.len()
            )),
            Ok(_) => match digest_file(&path) {
                Ok((_, sha)) if sha == e.sha256 => {}
                Ok(_) => report
                    .problems
                    .push(format!("checksum differs: {}", e.path)),
                Err(err) => report
                    .problems
                    .push(format!("unreadable: {} ({err})", e.path)),
            },
        }
        listed.insert(e.path);
    }
    let mut stack = vec![dir.to_path_buf()];
    let mut extra = Vec::new();
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(StoreError::Scratch)?;
        for entry in entries {
            let p = entry.map_err(StoreError::Scratch)?.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p
                .strip_prefix(dir)
                .map(|r| r.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            if rel != STORE_MANIFEST && !listed.contains(&rel) {
                extra.push(format!("extra: {rel}"));
            }
        }
    }
    extra.sort();
    report.problems.extend(extra);
    Ok(report)
}
