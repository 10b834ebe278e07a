//! The local-folder destination of labelstore.
//!
//! [`FsDestination`] writes a store into a staging folder beside the target
//! folder (`.<name>.labelstore-staging-<pid>`), and moves it into place with a
//! rename on [`commit`](sink_api::Destination::commit). Until then the target
//! is untouched, so after an error, an abort or a kill the target is either
//! as it was or complete: never half-written.
//!
//! A target that exists and is not empty is refused unless the destination
//! was opened with `overwrite`; then the old folder is renamed aside, the new
//! one renamed in, and the old one removed.
//!
//! ```
//! use sink_api::{Body, Destination};
//! use sink_fs::FsDestination;
//! let dir = tempfile::tempdir()?;
//! let target = dir.path().join("out");
//! let rt = tokio::runtime::Builder::new_current_thread().build()?;
//! rt.block_on(async {
//!     let mut d = FsDestination::open(&target, false)?;
//!     d.put("labels/a.txt", Body::Bytes(b"0 0.5 0.5 1 1\n".to_vec())).await?;
//!     assert!(!target.exists());
//!     d.commit().await
//! })?;
//! assert_eq!(std::fs::read(target.join("labels/a.txt"))?, b"0 0.5 0.5 1 1\n");
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};

use sink_api::{Body, Destination, Error, Result, is_safe_store_path};

/// A local folder as a store destination.
#[derive(Debug)]
pub struct FsDestination {
    target: PathBuf,
    staging: PathBuf,
    staged: bool,
    /// Folders already made inside the staging folder.
    made: std::collections::HashSet<PathBuf>,
}

impl FsDestination {
    /// Prepares a store into `target`. Fails at once when `target` is a file,
    /// or a non-empty folder and `overwrite` is false. Nothing is written yet.
    pub fn open(target: &Path, overwrite: bool) -> Result<FsDestination> {
        let shown = target.display();
        match std::fs::read_dir(target) {
            Ok(mut entries) => {
                if !overwrite && entries.next().is_some() {
                    return Err(Error::Refused(format!(
                        "{shown} is not empty: choose an empty or new folder, or pass --overwrite to replace it"
                    )));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) if target.exists() => {
                return Err(Error::Refused(format!(
                    "{shown} exists and is not a folder"
                )));
            }
            Err(e) => return Err(Error::io(format_args!("cannot read {shown}"), e)),
        }
        let name = target
            .file_name()
            .ok_or_else(|| Error::Refused(format!("{shown} does not name a folder")))?
            .to_string_lossy()
            .into_owned();
        let parent = target.parent().unwrap_or(Path::new(""));
        let staging = parent.join(format!(".{name}.labelstore-staging-{}", std::process::id()));
        Ok(FsDestination {
            target: target.to_path_buf(),
            staging,
            staged: false,
            made: std::collections::HashSet::new(),
        })
    }

    /// The staging folder files go to before the commit.
    pub fn staging_dir(&self) -> &Path {
        &self.staging
    }

    async fn start_staging(&mut self) -> Result<()> {
        if self.staged {
            return Ok(());
        }
        if self.staging.exists() {
            // Left by an earlier process with our pid that was killed.
            tokio::fs::remove_dir_all(&self.staging)
                .await
                .map_err(|e| {
                    Error::io(format_args!("cannot clear {}", self.staging.display()), e)
                })?;
        }
        self.remove_stale_staging();
        tokio::fs::create_dir_all(&self.staging)
            .await
            .map_err(|e| Error::io(format_args!("cannot create {}", self.staging.display()), e))?;
        self.staged = true;
        Ok(())
    }

    /// Removes the staging folders of earlier stores into the same target
    /// whose process is gone (killed before it could clean up). Only where
    /// `/proc` tells which processes live; a `-old-` folder is never
    /// touched (after a crash in the middle of a replace it may hold the
    /// only copy of the previous store).
    fn remove_stale_staging(&self) {
        let proc = Path::new("/proc");
        if !proc.join("self").exists() {
            return;
        }
        let (Some(parent), Some(ours)) = (self.staging.parent(), self.staging.file_name()) else {
            return;
        };
        let ours = ours.to_string_lossy();
        let Some((prefix, _)) = ours.rsplit_once('-') else {
            return;
        };
        let dir = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let stale = name
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('-'))
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| {
                    pid != std::process::id() && !proc.join(pid.to_string()).exists()
                });
            if stale {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

impl Destination for FsDestination {
    fn describe(&self) -> String {
        format!("local folder {}", self.target.display())
    }

    async fn put(&mut self, path: &str, body: Body) -> Result<()> {
        if !is_safe_store_path(path) {
            return Err(Error::Refused(format!("unsafe store path {path:?}")));
        }
        self.start_staging().await?;
        // Plain blocking calls: the pipeline puts one file at a time and
        // waits for each, so handing every small write to a thread pool
        // would only add a round trip per file.
        let dest = self.staging.join(path);
        if let Some(dir) = dest.parent()
            && !self.made.contains(dir)
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format_args!("cannot create {}", dir.display()), e))?;
            self.made.insert(dir.to_path_buf());
        }
        let written = match body {
            Body::Bytes(bytes) => std::fs::write(&dest, bytes),
            Body::File(src) => std::fs::copy(&src, &dest).map(drop),
            Body::Copy(existing) => {
                if !is_safe_store_path(&existing) {
                    return Err(Error::Refused(format!("unsafe store path {existing:?}")));
                }
                let src = self.staging.join(&existing);
                // Filesystems without hard links get a copy.
                std::fs::hard_link(&src, &dest).or_else(|_| std::fs::copy(&src, &dest).map(drop))
            }
        };
        written.map_err(|e| Error::io(format_args!("cannot write {}", dest.display()), e))
    }

    async fn commit(mut self) -> Result<()> {
        self.start_staging().await?;
        let (target, staging) = (&self.target, &self.staging);
        let io = |what: &str, e| Error::io(format_args!("cannot {what} {}", target.display()), e);
        if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| io("create the parent of", e))?;
        }
        if !target.exists() {
            return tokio::fs::rename(staging, target)
                .await
                .map_err(|e| io("move the store into", e));
        }
        // Replace: move the old folder aside, the new one in, then drop the old.
        let old = staging.with_file_name(
            staging
                .file_name()
                .map(|n| n.to_string_lossy().replace("-staging-", "-old-"))
                .unwrap_or_default(),
        );
        tokio::fs::rename(target, &old)
            .await
            .map_err(|e| io("move aside", e))?;
        if let Err(e) = tokio::fs::rename(staging, target).await {
            // Put the old folder back: the target stays as it was.
            let _ = tokio::fs::rename(&old, target).await;
            return Err(io("move the store into", e));
        }
        tokio::fs::remove_dir_all(&old)
            .await
            .map_err(|e| Error::io(format_args!("cannot remove the old {}", old.display()), e))
    }

    async fn abort(self) -> Result<()> {
        if self.staged {
            tokio::fs::remove_dir_all(&self.staging)
                .await
                .map_err(|e| {
                    Error::io(format_args!("cannot remove {}", self.staging.display()), e)
                })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn nothing_appears_before_commit_and_abort_leaves_no_trace() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("out");
        rt().block_on(async {
            let mut d = FsDestination::open(&target, false).unwrap();
            d.put("a/b.txt", Body::Bytes(b"x".to_vec())).await.unwrap();
            assert!(!target.exists());
            assert_eq!(
                std::fs::read(d.staging_dir().join("a/b.txt")).unwrap(),
                b"x"
            );
            d.abort().await.unwrap();
        });
        assert!(listing(tmp.path()).is_empty());
    }

    #[test]
    fn non_empty_target_needs_overwrite_which_replaces_it_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("out");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("old.txt"), "old").unwrap();
        let e = FsDestination::open(&target, false).unwrap_err();
        assert!(e.is_usage());
        assert!(e.to_string().contains("is not empty"), "{e}");
        let src = tmp.path().join("src.bin");
        std::fs::write(&src, [0u8, 1, 2, 255]).unwrap();
        rt().block_on(async {
            let mut d = FsDestination::open(&target, true).unwrap();
            d.put("chips/c.bin", Body::File(src.clone())).await.unwrap();
            assert_eq!(listing(&target), ["old.txt"]);
            d.commit().await.unwrap();
        });
        assert_eq!(listing(&target), ["chips"]);
        assert_eq!(
            std::fs::read(target.join("chips/c.bin")).unwrap(),
            [0u8, 1, 2, 255]
        );
        assert_eq!(listing(tmp.path()), ["out", "src.bin"]);
    }

    #[test]
    fn copies_are_hard_links_within_the_store() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("out");
        rt().block_on(async {
            let mut d = FsDestination::open(&target, false).unwrap();
            d.put("chips/a.png", Body::Bytes(b"png".to_vec()))
                .await
                .unwrap();
            d.put("voc/JPEGImages/a.png", Body::Copy("chips/a.png".into()))
                .await
                .unwrap();
            let e = d.put("b.png", Body::Copy("../x".into())).await.unwrap_err();
            assert!(e.is_usage());
            d.commit().await.unwrap();
        });
        let (a, b) = (
            target.join("chips/a.png"),
            target.join("voc/JPEGImages/a.png"),
        );
        assert_eq!(std::fs::read(&b).unwrap(), b"png");
        assert_eq!(
            std::fs::metadata(&a).unwrap().ino(),
            std::fs::metadata(&b).unwrap().ino()
        );
    }

    #[test]
    fn stale_staging_folders_of_dead_processes_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("store");
        // No process has pid 4194305 (above Linux's pid_max limit).
        let dead = tmp.path().join(".store.labelstore-staging-4194305");
        let old = tmp.path().join(".store.labelstore-old-4194305");
        let other = tmp.path().join(".other.labelstore-staging-4194305");
        // pid 1 lives as long as the machine.
        let alive = tmp.path().join(".store.labelstore-staging-1");
        for d in [&dead, &old, &other, &alive] {
            std::fs::create_dir_all(d.join("chips")).unwrap();
        }
        rt().block_on(async {
            let mut d = FsDestination::open(&target, false).unwrap();
            d.put("a.txt", Body::Bytes(b"a".to_vec())).await.unwrap();
            d.commit().await.unwrap();
        });
        assert!(!dead.exists());
        assert!(old.exists() && other.exists() && alive.exists());
        assert_eq!(listing(tmp.path()).len(), 4, "{:?}", listing(tmp.path()));
    }

    #[test]
    fn refuses_files_and_unsafe_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        std::fs::write(&file, "").unwrap();
        let e = FsDestination::open(&file, true).unwrap_err();
        assert!(e.to_string().ends_with("exists and is not a folder"), "{e}");
        rt().block_on(async {
            let mut d = FsDestination::open(&tmp.path().join("new/deep"), false).unwrap();
            let e = d.put("../escape", Body::Bytes(vec![])).await.unwrap_err();
            assert!(e.is_usage());
            d.put("ok.txt", Body::Bytes(vec![])).await.unwrap();
            d.commit().await.unwrap();
        });
        assert_eq!(listing(&tmp.path().join("new/deep")), ["ok.txt"]);
    }
}
