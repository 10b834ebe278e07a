//! The store manifest, `labelstore-manifest.json`: the last file of every
//! store, listing each stored file with its size and SHA-256.
//!
//! The pipeline writes one file entry per line (`{"path":…,"size":…,"sha256":…}`),
//! so a reader can stream the list without holding the manifest in memory.

use std::io::{self, BufRead};

/// The store manifest's file name, at the root of every store.
pub const STORE_MANIFEST: &str = "labelstore-manifest.json";

/// One stored file, as the store manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct ManifestEntry {
    /// The store path (`chips/a.tif`).
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, lower-case hex.
    pub sha256: String,
}

/// The file entries of a store manifest, read line by line. A malformed
/// entry is an [`io::ErrorKind::InvalidData`] error naming its line.
pub fn manifest_entries<R: BufRead>(reader: R) -> impl Iterator<Item = io::Result<ManifestEntry>> {
    reader.lines().enumerate().filter_map(|(n, line)| {
        let line = match line {
            Ok(l) => l,
            Err(e) => return Some(Err(e)),
        };
        let entry = line.trim().trim_end_matches(',');
        if !entry.starts_with("{\"path\":") {
            return None;
        }
        Some(serde_json::from_str(entry).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("line {}: a file entry is malformed: {e}", n + 1),
            )
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_read_line_by_line() {
        let text = "{\n  \"labelstore_store\": 1,\n  \"files\": [\n    \
                    {\"path\":\"chips/a.png\",\"size\":3,\"sha256\":\"ab\"},\n    \
                    {\"path\":\"project.json\",\"size\":10,\"sha256\":\"cd\"}\n  ]\n}\n";
        let got: Vec<_> = manifest_entries(text.as_bytes())
            .collect::<io::Result<_>>()
            .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].path, "chips/a.png");
        assert_eq!((got[1].size, got[1].sha256.as_str()), (10, "cd"));
        let bad = "  {\"path\":\"x\",\"size\":\"big\"},\n";
        let e = manifest_entries(bad.as_bytes())
            .next()
            .unwrap()
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("line 1: a file entry is malformed"),
            "{e}"
        );
    }
}
