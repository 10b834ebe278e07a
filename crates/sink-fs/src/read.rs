//! A local store, read back: [`FsReader`]. A local store is read in place
//! ([`StoreReader::local_folder`]): `fetch` checks the folder itself (only
//! what the manifest lists, no symbolic link), and `verify` walks it.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sink_api::{ByteSink, Error, Found, Held, Result, STORE_MANIFEST, StoreReader};

/// A local folder holding a store, read back.
#[derive(Debug, Clone)]
pub struct FsReader {
    dir: PathBuf,
}

impl FsReader {
    /// Reads the store in `dir` (nothing is opened yet).
    pub fn open(dir: &Path) -> FsReader {
        FsReader {
            dir: dir.to_path_buf(),
        }
    }

    /// Streams the regular file at `path` to `out`; its size, or `None`
    /// when there is none (a FIFO or a device is never opened).
    fn stream(path: &Path, out: &mut ByteSink<'_>) -> io::Result<Option<u64>> {
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "not a regular file",
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        }
        let mut f = File::open(path)?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut size = 0u64;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                return Ok(Some(size));
            }
            out(&buf[..n])?;
            size += n as u64;
        }
    }
}

impl StoreReader for FsReader {
    fn describe(&self) -> String {
        format!("local folder {}", self.dir.display())
    }

    fn local_folder(&self) -> Option<&Path> {
        Some(&self.dir)
    }

    async fn manifest(&mut self, out: &mut ByteSink<'_>) -> Result<()> {
        let no_store = |e| {
            Error::io(
                format_args!(
                    "{} has no {STORE_MANIFEST}: not a complete labelstore store",
                    self.dir.display()
                ),
                e,
            )
        };
        match Self::stream(&self.dir.join(STORE_MANIFEST), out) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(no_store(io::ErrorKind::NotFound.into())),
            Err(e) => Err(no_store(e)),
        }
    }

    /// Every file under the folder, with its size (folders and symbolic
    /// links to folders are walked, as `verify` always did).
    async fn list<E, F>(&mut self, mut found: F) -> Result<(), E>
    where
        E: From<Error> + Send,
        F: FnMut(Found) -> Result<(), E> + Send,
    {
        let fail = |d: &Path, e| Error::io(format_args!("cannot list {}", d.display()), e);
        let mut stack = vec![self.dir.clone()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).map_err(|e| fail(&d, e))? {
                let p = entry.map_err(|e| fail(&d, e))?.path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let rel = p
                    .strip_prefix(&self.dir)
                    .map(|r| r.to_string_lossy().replace('\\', "/"))
                    .unwrap_or_default();
                let size = std::fs::metadata(&p).map_or(0, |m| m.len());
                found(Found::File(Held::file(rel, size)))?;
            }
        }
        Ok(())
    }

    async fn get(&mut self, path: &str, out: &mut ByteSink<'_>) -> Result<Option<u64>> {
        if !sink_api::is_safe_store_path(path) {
            return Err(Error::Refused(format!("unsafe store path {path:?}")));
        }
        Self::stream(&self.dir.join(path), out)
            .map_err(|e| Error::io(format_args!("cannot read {path}"), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_gets_the_files_of_a_folder() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("chips")).unwrap();
        std::fs::write(tmp.path().join("chips/a.png"), b"png").unwrap();
        let mut r = FsReader::open(tmp.path());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut seen = Vec::new();
            r.list(|f| {
                seen.push(f);
                Ok::<(), Error>(())
            })
            .await
            .unwrap();
            assert_eq!(seen, [Found::File(Held::file("chips/a.png".into(), 3))]);
            let mut got = Vec::new();
            let n = r
                .get("chips/a.png", &mut |b: &[u8]| {
                    got.extend_from_slice(b);
                    Ok(())
                })
                .await
                .unwrap();
            assert_eq!((n, got.as_slice()), (Some(3), &b"png"[..]));
            assert!(r.get("x", &mut |_: &[u8]| Ok(())).await.unwrap().is_none());
            assert!(r.manifest(&mut |_: &[u8]| Ok(())).await.is_err());
        });
    }
}
