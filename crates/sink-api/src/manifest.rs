//! The store manifest, `labelstore-manifest.json`: the last file of every
//! store, listing each stored file with its size and SHA-256.
//!
//! Its byte layout is defined here and nowhere else: a header object (what
//! the store holds: project, formats, scope; any `Serialize` the caller
//! gives) whose last member is `"files"`, one file entry per line
//! (`{"path":…,"size":…,"sha256":…}`). [`ManifestWriter`] streams it to a
//! local file and [`manifest_entries`] reads it back line by line, so
//! neither holds the file list in memory; [`manifest_header`] reads the
//! header only.

use std::fs::File;
use std::io::{self, BufRead, BufWriter, Read, Write};
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The store manifest's file name, at the root of every store.
pub const STORE_MANIFEST: &str = "labelstore-manifest.json";

/// One stored file, as the store manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ManifestEntry {
    /// The store path (`chips/a.tif`).
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, lower-case hex.
    pub sha256: String,
}

/// One entry as it is written (the same fields as [`ManifestEntry`],
/// borrowed).
#[derive(Serialize)]
struct EntryRef<'a> {
    path: &'a str,
    size: u64,
    sha256: &'a str,
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

/// The header of a store manifest (every member but the file list), read
/// up to the file list only. Malformed JSON is an
/// [`io::ErrorKind::InvalidData`] error with serde's message.
pub fn manifest_header<R: BufRead>(reader: R) -> io::Result<serde_json::Value> {
    let mut header = String::new();
    for line in reader.lines() {
        let line = line?;
        if line.trim_start().starts_with("\"files\"") {
            break;
        }
        header.push_str(&line);
        header.push('\n');
    }
    let header = header.trim_end().trim_end_matches(',').to_owned() + "}";
    serde_json::from_str(&header).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Streams a store manifest to a local file: the header, then one entry
/// per [`ManifestWriter::add`], then [`ManifestWriter::finish`].
#[derive(Debug)]
pub struct ManifestWriter {
    out: BufWriter<File>,
    files: usize,
}

impl ManifestWriter {
    /// Creates the manifest at `path`, beginning with `header`, which must
    /// serialize as a JSON object.
    pub fn create(path: &Path, header: &impl Serialize) -> io::Result<ManifestWriter> {
        let mut out = BufWriter::new(File::create(path)?);
        let mut head = serde_json::to_string_pretty(header).map_err(io::Error::other)?;
        if !head.ends_with('}') {
            return Err(io::Error::other(
                "a store manifest's header must be an object",
            ));
        }
        // Reopen the object to append the file list as its last member.
        head.truncate(head.trim_end().len() - 1);
        out.write_all(head.trim_end().as_bytes())?;
        out.write_all(b",\n  \"files\": [")?;
        Ok(ManifestWriter { out, files: 0 })
    }

    /// Lists one stored file.
    pub fn add(&mut self, path: &str, size: u64, sha256: &str) -> io::Result<()> {
        let entry =
            serde_json::to_string(&EntryRef { path, size, sha256 }).map_err(io::Error::other)?;
        let sep = if self.files == 0 { "\n    " } else { ",\n    " };
        self.files += 1;
        write!(self.out, "{sep}{entry}")
    }

    /// Closes the file list and the object, and syncs the file.
    pub fn finish(mut self) -> io::Result<()> {
        self.out.write_all(if self.files == 0 {
            b"]\n}\n"
        } else {
            b"\n  ]\n}\n"
        })?;
        self.out
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?
            .sync_all()
    }
}

/// Lower-case hex of bytes (a SHA-256 as the manifest writes it).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Size and lower-case hex SHA-256 of bytes.
pub fn digest_bytes(bytes: &[u8]) -> (u64, String) {
    (bytes.len() as u64, hex(&Sha256::digest(bytes)))
}

/// Size and lower-case hex SHA-256 of a file, read in blocks.
pub fn digest_file(path: &Path) -> io::Result<(u64, String)> {
    let mut f = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex(&hasher.finalize())))
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

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            digest_bytes(b"abc").1,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[derive(Serialize)]
    struct Header<'a> {
        labelstore_store: u32,
        project: &'a str,
        formats: Vec<&'a str>,
    }

    #[test]
    fn manifest_is_valid_json_with_files_last() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        let header = Header {
            labelstore_store: 1,
            project: "p",
            formats: vec!["json"],
        };
        let mut w = ManifestWriter::create(&path, &header).unwrap();
        w.add("chips/a.png", 3, "abc").unwrap();
        w.add("project.json", 4, "def").unwrap();
        w.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["files"][1]["path"], "project.json");
        assert_eq!(v["files"][0]["size"], 3);
        assert_eq!(v["project"], "p");
        // The layout the readers rely on: one entry per line.
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            "{\n  \"labelstore_store\": 1,\n  \"project\": \"p\",\n  \"formats\": [\n    \"json\"\n  ],\n  \
             \"files\": [\n    {\"path\":\"chips/a.png\",\"size\":3,\"sha256\":\"abc\"},\n    \
             {\"path\":\"project.json\",\"size\":4,\"sha256\":\"def\"}\n  ]\n}\n"
        );
        let entries: Vec<_> = manifest_entries(bytes.as_slice())
            .collect::<io::Result<_>>()
            .unwrap();
        assert_eq!(entries[1].sha256, "def");
        let head = manifest_header(bytes.as_slice()).unwrap();
        assert_eq!(head["formats"][0], "json");
        assert!(head.get("files").is_none());
        let empty = dir.path().join("e.json");
        ManifestWriter::create(&empty, &header)
            .unwrap()
            .finish()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&empty).unwrap()).unwrap();
        assert_eq!(v["files"], serde_json::json!([]));
    }
}
