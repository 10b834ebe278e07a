//! The store manifest, `labelstore-manifest.json`: what a store holds (every
//! file with its size and SHA-256), its formats and scope, and the chips it
//! left out. It is written last, streaming its file list through a spool
//! file so it does not grow in memory with the store.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

pub use sink_api::STORE_MANIFEST;

/// The version of the store manifest's layout.
const VERSION: u32 = 1;

/// The header of a store manifest: everything but the file list.
#[derive(Debug, Serialize)]
pub(crate) struct Header<'a> {
    pub(crate) labelstore_store: u32,
    pub(crate) project: &'a str,
    pub(crate) labeling_type: &'a str,
    pub(crate) formats: Vec<&'a str>,
    pub(crate) scope: serde_json::Value,
    pub(crate) stored_chips: usize,
    pub(crate) excluded: Vec<serde_json::Value>,
    pub(crate) clipped_labels: Vec<serde_json::Value>,
}

impl Header<'_> {
    pub(crate) const VERSION: u32 = VERSION;
}

/// One stored file.
#[derive(Debug, Serialize)]
struct Entry<'a> {
    path: &'a str,
    size: u64,
    sha256: &'a str,
}

/// Streams a store manifest to a local file.
pub(crate) struct ReceiptWriter {
    out: BufWriter<File>,
    files: usize,
}

impl ReceiptWriter {
    pub(crate) fn create(path: &Path, header: &Header<'_>) -> io::Result<ReceiptWriter> {
        let mut out = BufWriter::new(File::create(path)?);
        let mut head = serde_json::to_string_pretty(header).map_err(io::Error::other)?;
        // Reopen the object to append the file list as its last member.
        head.truncate(head.trim_end().len() - 1);
        out.write_all(head.trim_end().as_bytes())?;
        out.write_all(b",\n  \"files\": [")?;
        Ok(ReceiptWriter { out, files: 0 })
    }

    pub(crate) fn add(&mut self, path: &str, size: u64, sha256: &str) -> io::Result<()> {
        let entry =
            serde_json::to_string(&Entry { path, size, sha256 }).map_err(io::Error::other)?;
        let sep = if self.files == 0 { "\n    " } else { ",\n    " };
        self.files += 1;
        write!(self.out, "{sep}{entry}")
    }

    pub(crate) fn finish(mut self) -> io::Result<()> {
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

/// Size and lower-case hex SHA-256 of bytes.
pub(crate) fn digest_bytes(bytes: &[u8]) -> (u64, String) {
    (bytes.len() as u64, hex(&Sha256::digest(bytes)))
}

/// Size and lower-case hex SHA-256 of a file, read in blocks.
pub(crate) fn digest_file(path: &Path) -> io::Result<(u64, String)> {
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            digest_bytes(b"abc").1,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn manifest_is_valid_json_with_files_last() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        let header = Header {
            labelstore_store: VERSION,
            project: "p",
            labeling_type: "object_detection",
            formats: vec!["json"],
            scope: "project".into(),
            stored_chips: 1,
            excluded: vec![],
            clipped_labels: vec![],
        };
        let mut w = ReceiptWriter::create(&path, &header).unwrap();
        w.add("chips/a.png", 3, "abc").unwrap();
        w.add("project.json", 4, "def").unwrap();
        w.finish().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["files"][1]["path"], "project.json");
        assert_eq!(v["files"][0]["size"], 3);
        assert_eq!(v["stored_chips"], 1);
        let empty = dir.path().join("e.json");
        ReceiptWriter::create(&empty, &header)
            .unwrap()
            .finish()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&empty).unwrap()).unwrap();
        assert_eq!(v["files"], serde_json::json!([]));
    }
}
