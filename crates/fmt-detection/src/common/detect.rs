//! Cheap looks at a dataset for `LabelFormat::recognizes`: file names,
//! folder names, and at most the first few KiB of one file, never a whole
//! dataset. Each format module says what its layout is from these.

use std::io::Read;
use std::path::{Path, PathBuf};

/// How much of a file's beginning a format may look at.
const HEAD: u64 = 16 * 1024;

/// Whether `p`'s extension is one of `exts` (any case).
pub(crate) fn ext_is(p: &Path, exts: &[&str]) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// The first few KiB of a regular file (`None` for anything else: a FIFO
/// is never opened).
pub(crate) fn head(path: &Path) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    labels_model::open_regular(path)
        .ok()?
        .take(HEAD)
        .read_to_end(&mut buf)
        .ok()?;
    Some(buf)
}

/// Whether the beginning of the file at `path` holds `needle`.
pub(crate) fn head_holds(path: &Path, needle: &str) -> bool {
    head(path).is_some_and(|h| h.windows(needle.len()).any(|w| w == needle.as_bytes()))
}

/// The entries of a folder (files and folders), sorted; empty when it
/// cannot be read.
pub(crate) fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    v.sort();
    v
}

/// `path/<folder>` when it is a folder (a store root holding the format's
/// folder), else `path`.
pub(crate) fn format_folder(path: &Path, folder: &str) -> PathBuf {
    let sub = path.join(folder);
    if sub.is_dir() {
        sub
    } else {
        path.to_path_buf()
    }
}

/// Whether `folder` holds labelstore's `index.json` of `format` (GeoJSON,
/// Shapefile): its second line names the format.
pub(crate) fn index_of(folder: &Path, format: &str) -> bool {
    head_holds(
        &folder.join(super::INDEX_FILE),
        &format!("\"format\": \"{format}\""),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_short_and_fifos_unopened() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.JSON");
        std::fs::write(&f, format!("{}\"images\"", " ".repeat(20_000))).unwrap();
        assert!(ext_is(&f, &["json"]));
        assert_eq!(head(&f).unwrap().len(), 16 * 1024);
        assert!(!head_holds(&f, "\"images\""));
        assert!(head(dir.path()).is_none());
        assert!(head(&dir.path().join("missing")).is_none());
    }
}
