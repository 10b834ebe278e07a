//! Checking a store against its manifest (`labelstore verify`): every file
//! it lists present with its size and SHA-256, and nothing else there.
//! The manifest is read line by line (the pipeline writes one file entry
//! per line), so a store of any size is checked without holding its
//! manifest in memory; only the listed paths are kept, to find extra files.

use std::collections::{HashMap, HashSet};

use std::path::Path;

use sink_db::{ChipRow, DbReader};
use sink_objstore::ObjStoreReader;

use crate::fetch::{Receiving, entries, get_manifest};
use sink_api::{STORE_MANIFEST, digest_file};
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

/// Checks the local store at `dir`; a `dir` that is not a folder is a
/// wrong request (exit status 2).
pub fn verify_local(dir: &Path) -> Result<VerifyReport, StoreError> {
    if !dir.is_dir() {
        return Err(StoreError::Usage(format!(
            "{} is not a folder: there is no store to verify there",
            dir.display()
        )));
    }
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
    drop(file);
    for e in entries(&manifest)? {
        let e = e?;
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

/// A manifest entry and whether the store was seen to hold it.
struct Listed {
    size: u64,
    sha256: String,
    seen: bool,
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

/// Checks the store under an object-store prefix: every object the
/// manifest lists present with its size and SHA-256 (each is downloaded
/// and hashed as it streams, never held), and no other object under the
/// prefix. The listing is read a page at a time.
pub async fn verify_objstore(reader: &ObjStoreReader) -> Result<VerifyReport, StoreError> {
    let scratch = crate::scratch::scratch_dir("verify")?;
    let manifest = scratch.path().join(STORE_MANIFEST);
    get_manifest(reader, &manifest).await?;
    let mut report = VerifyReport::default();
    let mut listed = index(&manifest, &mut report)?;
    let mut extra = Vec::new();
    let mut lister = reader.lister();
    loop {
        let page = lister.next_page().await?;
        if page.is_empty() {
            break;
        }
        for (path, size) in page {
            if path == STORE_MANIFEST {
                continue;
            }
            let Some(l) = listed.get_mut(&path) else {
                extra.push(format!("extra: {path}"));
                continue;
            };
            l.seen = true;
            if size != l.size {
                report.problems.push(format!(
                    "size differs: {path} (manifest {} bytes, found {size})",
                    l.size
                ));
                continue;
            }
            let mut rx = Receiving::new(None)?;
            let got = reader.get(&path, &mut |b: &[u8]| rx.take(b)).await?;
            let sha = rx.finish()?;
            match got {
                None => report.problems.push(format!("missing: {path}")),
                Some(_) if sha != l.sha256 => {
                    report.problems.push(format!("checksum differs: {path}"));
                }
                Some(_) => {}
            }
        }
    }
    report.problems.extend(missing(&listed));
    extra.sort();
    report.problems.extend(extra);
    Ok(report)
}

/// Checks a store in a database against its manifest: every chip row's
/// image record and kept image bytes (`image`, when the row has them),
/// label file (size and SHA-256, computed by the server) and
/// `files` as the manifest lists them, its rasters against the checksum
/// recorded at store time (`raster_sha256`), every project-wide file of
/// `<table>_files`, no chip row or file the manifest does not list, and
/// nothing listed without a row. Rows are read in batches.
pub async fn verify_db(reader: &mut DbReader) -> Result<VerifyReport, StoreError> {
    let scratch = crate::scratch::scratch_dir("verify")?;
    let manifest = scratch.path().join(STORE_MANIFEST);
    {
        let mut rx = Receiving::new(Some(&manifest))?;
        reader
            .read_file(STORE_MANIFEST, &mut |b: &[u8]| rx.take(b))
            .await?;
        rx.finish()?;
    }
    let mut report = VerifyReport::default();
    let mut listed = index(&manifest, &mut report)?;
    let mut extra = Vec::new();
    {
        let mut rows = reader.chips(None, false).await?;
        loop {
            let batch = rows.next_batch().await?;
            if batch.is_empty() {
                break;
            }
            for row in batch {
                check_row(&row, &mut listed, &mut report.problems, &mut extra);
            }
        }
    }
    let mut files = reader.files(false).await?;
    loop {
        let batch = files.next_batch().await?;
        if batch.is_empty() {
            break;
        }
        for f in batch {
            let Some(l) = listed.get_mut(&f.path) else {
                extra.push(format!("extra: {} (a row of the files table)", f.path));
                continue;
            };
            l.seen = true;
            let size = u64::try_from(f.size).unwrap_or_default();
            if size != l.size {
                report.problems.push(format!(
                    "size differs: {} (manifest {} bytes, found {size})",
                    f.path, l.size
                ));
            } else if f.sha256 != l.sha256 {
                report
                    .problems
                    .push(format!("checksum differs: {}", f.path));
            }
        }
    }
    report.problems.extend(missing(&listed));
    extra.sort();
    report.problems.extend(extra);
    Ok(report)
}

/// Checks one chip row against the manifest.
fn check_row(
    row: &ChipRow,
    listed: &mut HashMap<String, Listed>,
    problems: &mut Vec<String>,
    extra: &mut Vec<String>,
) {
    let id = &row.chip_id;
    if !listed.contains_key(&row.image_path) {
        extra.push(format!(
            "extra chip: {id} (its row's image {} is not in the manifest)",
            row.image_path
        ));
        return;
    }
    // What the row records of its files, against the manifest.
    for f in &row.files {
        match listed.get_mut(&f.path) {
            None => problems.push(format!(
                "row of chip {id} lists {}, which the manifest does not",
                f.path
            )),
            Some(l) => {
                l.seen = true;
                if f.size != l.size || f.sha256 != l.sha256 {
                    problems.push(format!(
                        "row of chip {id} differs: {} recorded with another size or SHA-256 \
                         than the manifest's",
                        f.path
                    ));
                }
            }
        }
    }
    if let Some(l) = listed.get_mut(&row.image_path) {
        l.seen = true;
        let size = u64::try_from(row.image_size).unwrap_or_default();
        if size != l.size || row.image_sha256 != l.sha256 {
            problems.push(format!(
                "row of chip {id} differs: image_size/image_sha256 of {} are not the manifest's",
                row.image_path
            ));
        }
        // The image's own bytes, kept for a chip not stored as a GeoTIFF.
        if let Some(now) = row.image_size_now {
            let now = u64::try_from(now).unwrap_or_default();
            if now != l.size {
                problems.push(format!(
                    "size differs: {} (image of chip {id}: manifest {} bytes, found {now})",
                    row.image_path, l.size
                ));
            } else if row.image_sha256_now.as_deref() != Some(l.sha256.as_str()) {
                problems.push(format!(
                    "checksum differs: {} (image of chip {id})",
                    row.image_path
                ));
            }
        }
    }
    match (&row.raster_sha256, &row.raster_sha256_now) {
        (Some(then), Some(now)) if then == now => {}
        (Some(_), _) => problems.push(format!(
            "raster differs: chip {id} (its rast or mask is not what was stored)"
        )),
        (None, _) => problems.push(format!(
            "no raster checksum recorded: chip {id} (stored by an older labelstore)"
        )),
    }
    if let Some(path) = &row.label_path {
        let Some(l) = listed.get_mut(path) else {
            problems.push(format!(
                "row of chip {id} has label file {path}, which the manifest does not list"
            ));
            return;
        };
        l.seen = true;
        match (row.labels_size, &row.labels_sha256) {
            (Some(size), Some(sha)) => {
                let size = u64::try_from(size).unwrap_or_default();
                if size != l.size {
                    problems.push(format!(
                        "size differs: {path} (labels of chip {id}: manifest {} bytes, found {size})",
                        l.size
                    ));
                } else if *sha != l.sha256 {
                    problems.push(format!("checksum differs: {path} (labels of chip {id})"));
                }
            }
            _ => problems.push(format!("missing: {path} (labels of chip {id} are NULL)")),
        }
    }
}
