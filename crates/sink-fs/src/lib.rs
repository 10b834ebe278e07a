//! The local-folder destination of labelstore.
//!
//! [`FsDestination`] writes a store into a staging folder beside the target
//! folder (`.<name>.labelstore-staging-<pid>`), and moves it into place with a
//! rename on [`commit`](sink_api::Destination::commit). Until then the target
//! is untouched, so after an error, an abort or a kill the target is either
//! as it was or complete: never half-written.
//!
//! Nothing labelstore did not write is ever deleted:
//!
//! - A target may be a new or empty folder. With `overwrite` it may also hold
//!   an earlier labelstore store: its `labelstore-manifest.json` and exactly
//!   the files that manifest lists, at their listed sizes. Anything else
//!   there is refused, naming one such file. The old store is then moved
//!   aside and removed file by file, as its manifest lists them.
//! - A target that is, contains or lies inside a source folder the caller
//!   names ([`FsOptions::sources`]: the project being stored, the dataset
//!   being imported, the store being fetched) is refused.
//! - One store at a time per target: a lock file beside it
//!   (`.<name>.labelstore-lock`, held with `flock` from open to commit or
//!   abort) refuses a second one.
//! - The commit looks again: a target that changed since the open (a file
//!   written there during the store) ends the store with nothing moved and
//!   nothing of the user's touched.
//! - Leftovers of killed runs (staging folders, an old store moved aside)
//!   are cleared by the next store into the same target; a failed commit
//!   removes its staging folder at once.
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
//!     d.commit(Body::Bytes(b"{}".to_vec())).await
//! })?;
//! assert_eq!(std::fs::read(target.join("labels/a.txt"))?, b"0 0.5 0.5 1 1\n");
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod pool;
mod read;

pub use read::FsReader;

use pool::{Work, Writers};

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{self, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use sink_api::{
    Body, Destination, Error, Result, STORE_MANIFEST, is_safe_store_path, manifest_entries,
};

/// How a local store may be opened.
#[derive(Debug, Clone, Default)]
pub struct FsOptions {
    /// Replace an earlier labelstore store at the target.
    pub overwrite: bool,
    /// Folders the store reads from (a project's folder, a dataset, a store
    /// being fetched): a target that is one of them, holds one or lies
    /// inside one is refused. Paths that do not exist are ignored.
    pub sources: Vec<PathBuf>,
}

/// A local folder as a store destination.
#[derive(Debug)]
pub struct FsDestination {
    target: PathBuf,
    staging: PathBuf,
    staged: bool,
    /// Folders already made inside the staging folder.
    made: HashSet<PathBuf>,
    /// The threads that write the files, from the first file on.
    writers: Option<Writers>,
    /// What the target was when the store was opened.
    seen: Seen,
    /// Missing folders above the target that the open created, deepest
    /// last; removed again (when still empty) if the store does not commit.
    created: Vec<PathBuf>,
    committed: bool,
    /// Held until the destination is dropped.
    lock: Option<Lock>,
}

/// What a target was when the store was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Absent,
    Empty,
    /// An earlier store: the folder's and its manifest's identity.
    Store {
        folder: FileId,
        manifest: FileId,
    },
}

/// Device, inode, size and modification time of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId(u64, u64, u64, i64, i64);

impl FileId {
    fn of(m: &std::fs::Metadata) -> FileId {
        FileId(m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec())
    }
}

impl FsDestination {
    /// Prepares a store into `target`, replacing an earlier labelstore store
    /// there when `overwrite` is true. See [`FsDestination::open_with`].
    pub fn open(target: &Path, overwrite: bool) -> Result<FsDestination> {
        FsDestination::open_with(
            target,
            &FsOptions {
                overwrite,
                ..FsOptions::default()
            },
        )
    }

    /// Prepares a store into `target`. Refuses (a [`Error::Refused`]) a
    /// target that is a file, a non-empty folder without `overwrite`, a
    /// folder holding anything but an earlier labelstore store, or one that
    /// overlaps a source folder; fails when another store into `target` is
    /// under way. Nothing is written but the lock file beside the target
    /// (and the folders above it, when missing).
    pub fn open_with(target: &Path, options: &FsOptions) -> Result<FsDestination> {
        let (target, name) = checked_target(target, options)?;
        let shown = target.display().to_string();
        let parent = target.parent().unwrap_or(Path::new("/")).to_path_buf();
        let created = create_missing(&parent)?;
        let lock = match Lock::acquire(&parent.join(format!(".{name}.labelstore-lock")), &shown) {
            Ok(l) => l,
            Err(e) => {
                remove_empty(&created);
                return Err(e);
            }
        };
        let staging = parent.join(format!(".{name}.labelstore-staging-{}", std::process::id()));
        let mut dest = FsDestination {
            target,
            staging,
            staged: false,
            made: HashSet::new(),
            writers: None,
            seen: Seen::Absent,
            created,
            committed: false,
            lock: Some(lock),
        };
        dest.clear_leftovers(&parent, &name);
        dest.seen = inspect(&dest.target, options.overwrite)?;
        Ok(dest)
    }

    /// Prepares a dry run of a store into `target`: the same refusals as
    /// [`FsDestination::open_with`], made by reading only. Nothing is
    /// written, not even the lock file or a missing parent folder.
    pub fn dry_run(target: &Path, options: &FsOptions) -> Result<FsDryRun> {
        let (target, _) = checked_target(target, options)?;
        let replaces = match inspect(&target, options.overwrite)? {
            // The earlier store's files and its manifest.
            Seen::Store { .. } => listed(&target).map_or(0, |l| l.len()) + 1,
            Seen::Absent | Seen::Empty => 0,
        };
        Ok(FsDryRun {
            discard: sink_api::Discard::new(format!("local folder {}", target.display())),
            replaces,
        })
    }

    /// The staging folder files go to before the commit.
    pub fn staging_dir(&self) -> &Path {
        &self.staging
    }

    /// Waits until every file put so far is in the staging folder (files
    /// are written by writer threads after [`put`](Destination::put)
    /// returns); returns the first write that failed.
    pub fn flush(&mut self) -> Result<()> {
        match &mut self.writers {
            Some(writers) => writers.finish(),
            None => Ok(()),
        }
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
        tokio::fs::create_dir_all(&self.staging)
            .await
            .map_err(|e| Error::io(format_args!("cannot create {}", self.staging.display()), e))?;
        self.staged = true;
        self.writers = Some(
            Writers::start(Writers::threads())
                .map_err(|e| Error::io("cannot start the writer threads", e))?,
        );
        Ok(())
    }

    /// Clears what killed stores into the same target left beside it (under
    /// the lock, so none of them is running): their staging folders go; an
    /// old store moved aside is moved back when the target is missing (the
    /// kill came between the two renames of a replace), else removed file
    /// by file as its manifest lists them. Only where `/proc` tells which
    /// processes live.
    fn clear_leftovers(&self, parent: &Path, name: &str) {
        let proc = Path::new("/proc");
        if !proc.join("self").exists() {
            return;
        }
        let Ok(entries) = std::fs::read_dir(parent) else {
            return;
        };
        let prefix = format!(".{name}.labelstore-");
        let mut olds = Vec::new();
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
                continue;
            };
            let Some((kind, pid)) = rest.split_once('-') else {
                continue;
            };
            let gone = pid
                .parse::<u32>()
                .is_ok_and(|pid| pid != std::process::id() && !proc.join(pid.to_string()).exists());
            match kind {
                "staging" if gone => {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
                "old" if gone => olds.push(entry.path()),
                _ => {}
            }
        }
        for old in olds {
            if std::fs::symlink_metadata(&self.target).is_err()
                && old.join(STORE_MANIFEST).is_file()
            {
                let _ = std::fs::rename(&old, &self.target);
            } else {
                remove_store(&old);
            }
        }
    }

    /// Checks that the target is still what the open saw.
    fn recheck(&self) -> Result<()> {
        let changed = |what: String| {
            Err(Error::io(
                format_args!("{} changed during the store", self.target.display()),
                io::Error::other(format!(
                    "{what}; the new store was not moved in and nothing there was touched"
                )),
            ))
        };
        match &self.seen {
            // A rename of a folder replaces only a missing or empty folder:
            // the commit's rename itself is the check.
            Seen::Absent | Seen::Empty => Ok(()),
            Seen::Store { folder, manifest } => {
                let now_folder = std::fs::symlink_metadata(&self.target).map(|m| FileId::of(&m));
                let now_manifest = std::fs::symlink_metadata(self.target.join(STORE_MANIFEST))
                    .map(|m| FileId::of(&m));
                let same_folder = now_folder.is_ok_and(|f| (f.0, f.1) == (folder.0, folder.1));
                if !same_folder || now_manifest.ok() != Some(*manifest) {
                    return changed(format!(
                        "its {STORE_MANIFEST} is not the one seen at the start"
                    ));
                }
                match check_store(&self.target) {
                    Ok(()) => Ok(()),
                    Err(Error::Refused(why)) => changed(why),
                    Err(e) => Err(e),
                }
            }
        }
    }

    async fn move_in(&mut self) -> Result<()> {
        let (target, staging) = (&self.target, &self.staging);
        let io = |what: &str, e| Error::io(format_args!("cannot {what} {}", target.display()), e);
        self.recheck()?;
        if self.seen != Seen::Absent && self.seen != Seen::Empty {
            // Replace: move the old store aside, the new one in, then remove
            // the old one's files.
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
            self.committed = true;
            remove_store(&old);
            return Ok(());
        }
        match tokio::fs::rename(staging, target).await {
            Ok(()) => {
                self.committed = true;
                Ok(())
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::DirectoryNotEmpty
                        | io::ErrorKind::NotADirectory
                        | io::ErrorKind::AlreadyExists
                ) =>
            {
                Err(Error::io(
                    format_args!("{} changed during the store", target.display()),
                    io::Error::other(
                        "something was written there; the new store was not moved in and nothing there was touched",
                    ),
                ))
            }
            Err(e) => Err(io("move the store into", e)),
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
        // Folders are made here, once each, before any file of theirs is
        // handed to the writer threads.
        let dest = self.staging.join(path);
        if let Some(dir) = dest.parent()
            && !self.made.contains(dir)
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format_args!("cannot create {}", dir.display()), e))?;
            self.made.insert(dir.to_path_buf());
        }
        let work = match body {
            Body::Bytes(bytes) => Work::Bytes(bytes),
            Body::File(src) => Work::File(src),
            Body::Copy(existing) => {
                if !is_safe_store_path(&existing) {
                    return Err(Error::Refused(format!("unsafe store path {existing:?}")));
                }
                Work::Link(self.staging.join(&existing))
            }
        };
        match &mut self.writers {
            Some(writers) => writers.send(dest, work),
            None => Err(Error::io(
                format_args!("cannot write {}", dest.display()),
                io::Error::other("the store was not staged"),
            )),
        }
    }

    async fn commit(mut self, manifest: Body) -> Result<()> {
        self.put(STORE_MANIFEST, manifest).await?;
        // Every file written before anything moves. On failure, `Drop`
        // removes the staging folder.
        if let Some(writers) = &mut self.writers {
            writers.finish()?;
            writers.stop(false);
        }
        self.move_in().await
    }

    async fn abort(mut self) -> Result<()> {
        if let Some(writers) = &mut self.writers {
            writers.stop(true);
        }
        if self.staged {
            self.staged = false;
            tokio::fs::remove_dir_all(&self.staging)
                .await
                .map_err(|e| {
                    Error::io(format_args!("cannot remove {}", self.staging.display()), e)
                })?;
        }
        Ok(())
    }
}

impl Drop for FsDestination {
    /// A store that did not commit leaves nothing: its staging folder and
    /// the folders its open created go (the lock goes with the lock's drop).
    fn drop(&mut self) {
        let committed = self.committed;
        if let Some(writers) = &mut self.writers {
            writers.stop(true);
        }
        if !committed && self.staged {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
        drop(self.lock.take());
        if !committed {
            remove_empty(&self.created);
        }
    }
}

/// A local store's dry run ([`FsDestination::dry_run`]): takes every file
/// and writes none; its [`preview`](Destination::preview) counts the files
/// of an earlier store that `overwrite` would replace.
#[derive(Debug)]
pub struct FsDryRun {
    discard: sink_api::Discard,
    replaces: usize,
}

impl Destination for FsDryRun {
    fn describe(&self) -> String {
        self.discard.describe()
    }

    async fn put(&mut self, path: &str, body: Body) -> Result<()> {
        self.discard.put(path, body).await
    }

    async fn commit(self, manifest: Body) -> Result<()> {
        self.discard.commit(manifest).await
    }

    async fn abort(self) -> Result<()> {
        self.discard.abort().await
    }

    async fn preview(self, manifest: Body) -> Result<sink_api::Preview> {
        drop(manifest);
        Ok(sink_api::Preview {
            delete: self.replaces,
            ..Default::default()
        })
    }
}

/// The target, absolute with `.` and `..` resolved, and its name, or the
/// refusal of a target that names no folder, overlaps a source folder or
/// is not a folder. Reads only.
fn checked_target(target: &Path, options: &FsOptions) -> Result<(PathBuf, String)> {
    let target = normalize(
        &std::path::absolute(target)
            .map_err(|e| Error::io(format_args!("cannot resolve {}", target.display()), e))?,
    );
    let shown = target.display().to_string();
    let name = target
        .file_name()
        .ok_or_else(|| Error::Refused(format!("{shown} does not name a folder")))?
        .to_string_lossy()
        .into_owned();
    for source in &options.sources {
        refuse_overlap(&target, source)?;
    }
    if std::fs::symlink_metadata(&target).is_ok_and(|m| !m.is_dir()) {
        return Err(Error::Refused(format!(
            "{shown} exists and is not a folder"
        )));
    }
    Ok((target, name))
}

/// `path` with `.` and `..` resolved by name (after `std::path::absolute`,
/// which keeps `..`), so `out/..` is the folder it names and `.` has a name.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `path` with symbolic links resolved as far as it exists; the missing
/// rest is appended as it is.
fn resolve(path: &Path) -> PathBuf {
    let mut existing = path;
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            let mut out = real;
            out.extend(rest.iter().rev());
            return out;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// Refuses a target that is `source`, holds it or lies inside it.
fn refuse_overlap(target: &Path, source: &Path) -> Result<()> {
    let Ok(source) = source.canonicalize() else {
        return Ok(());
    };
    let real = resolve(target);
    let how = if real == source {
        "is"
    } else if source.starts_with(&real) {
        "contains"
    } else if real.starts_with(&source) {
        "lies inside"
    } else {
        return Ok(());
    };
    Err(Error::Refused(format!(
        "{} {how} {}, which this run reads from: labelstore never writes over its own input; choose a folder outside it",
        target.display(),
        source.display()
    )))
}

/// Creates `dir` and its missing parents; returns those it created,
/// outermost first.
fn create_missing(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut d = dir;
    while std::fs::symlink_metadata(d).is_err() {
        missing.push(d.to_path_buf());
        match d.parent() {
            Some(p) => d = p,
            None => break,
        }
    }
    missing.reverse();
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format_args!("cannot create {}", dir.display()), e))?;
    Ok(missing)
}

/// Removes the folders of `created` (outermost first) that are empty.
fn remove_empty(created: &[PathBuf]) {
    for dir in created.iter().rev() {
        if std::fs::remove_dir(dir).is_err() {
            return;
        }
    }
}

/// What the target is, and whether a store may go there.
fn inspect(target: &Path, overwrite: bool) -> Result<Seen> {
    let shown = target.display();
    let mut entries = match std::fs::read_dir(target) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Seen::Absent),
        Err(e) => return Err(Error::io(format_args!("cannot read {shown}"), e)),
    };
    let Some(first) = entries.next() else {
        return Ok(Seen::Empty);
    };
    if !overwrite {
        return Err(Error::Refused(format!(
            "{shown} is not empty: choose an empty or new folder, or pass --overwrite to replace an earlier labelstore store"
        )));
    }
    let manifest = target.join(STORE_MANIFEST);
    match std::fs::symlink_metadata(&manifest) {
        Ok(m) if m.is_file() => {}
        _ => {
            let first = first
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .unwrap_or_default();
            return Err(Error::Refused(format!(
                "{shown} is not a labelstore store (no {STORE_MANIFEST}; it holds {first}): --overwrite replaces only an earlier labelstore store or an empty folder"
            )));
        }
    }
    check_store(target)?;
    let id = |p: &Path| {
        std::fs::symlink_metadata(p)
            .map(|m| FileId::of(&m))
            .map_err(|e| Error::io(format_args!("cannot read {}", p.display()), e))
    };
    Ok(Seen::Store {
        folder: id(target)?,
        manifest: id(&manifest)?,
    })
}

/// The store paths a manifest lists, as hashes with their sizes (a few bytes
/// each, whatever the paths' length: a store of 100,000 chips lists 600,000
/// files). `None` when the manifest is unreadable or lists an unsafe path.
fn listed(dir: &Path) -> Option<HashMap<u64, u64>> {
    let file = File::open(dir.join(STORE_MANIFEST)).ok()?;
    let mut out = HashMap::new();
    for entry in manifest_entries(BufReader::new(file)) {
        let entry = entry.ok()?;
        if !is_safe_store_path(&entry.path) {
            return None;
        }
        out.insert(path_hash(&entry.path), entry.size);
    }
    Some(out)
}

fn path_hash(path: &str) -> u64 {
    let mut h = DefaultHasher::new();
    path.hash(&mut h);
    h.finish()
}

/// Refuses a store folder that holds anything its manifest does not list
/// (at the listed size): a file labelstore did not write.
fn check_store(dir: &Path) -> Result<()> {
    let shown = dir.display();
    let listed = listed(dir).ok_or_else(|| {
        Error::Refused(format!(
            "{shown}/{STORE_MANIFEST} is not a readable labelstore manifest: --overwrite replaces only an earlier labelstore store or an empty folder"
        ))
    })?;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d)
            .map_err(|e| Error::io(format_args!("cannot read {}", d.display()), e))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| Error::io(format_args!("cannot read {}", d.display()), e))?;
            let path = entry.path();
            let meta = entry
                .metadata()
                .map_err(|e| Error::io(format_args!("cannot read {}", path.display()), e))?;
            if meta.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(dir)
                .ok()
                .and_then(Path::to_str)
                .unwrap_or_default();
            if rel == STORE_MANIFEST {
                continue;
            }
            let why = match listed.get(&path_hash(rel)) {
                Some(&size) if meta.is_file() && size == meta.len() => continue,
                Some(_) => "was changed since labelstore stored it",
                None => "is not a file labelstore stored there",
            };
            return Err(Error::Refused(format!(
                "{} {why}: --overwrite replaces only an earlier labelstore store as it was written; move the file away first",
                path.display()
            )));
        }
    }
    Ok(())
}

/// Removes an old store moved aside: the files its manifest lists, the
/// manifest last, then the folders left empty. Anything else stays.
fn remove_store(dir: &Path) {
    if let Ok(file) = File::open(dir.join(STORE_MANIFEST)) {
        for entry in manifest_entries(BufReader::new(file)).map_while(io::Result::ok) {
            if is_safe_store_path(&entry.path) {
                let _ = std::fs::remove_file(dir.join(&entry.path));
            }
        }
        let _ = std::fs::remove_file(dir.join(STORE_MANIFEST));
    }
    remove_empty_folders(dir);
}

/// Removes `dir` and the folders below it that are (or become) empty.
fn remove_empty_folders(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_empty_folders(&entry.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// An exclusive `flock` on a lock file beside the target, held while the
/// store runs; the file is removed when the lock is dropped.
#[derive(Debug)]
struct Lock {
    path: PathBuf,
    _file: File,
}

impl Lock {
    fn acquire(path: &Path, target: &str) -> Result<Lock> {
        let io_err = |e| Error::io(format_args!("cannot lock {}", path.display()), e);
        loop {
            let file = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(path)
                .map_err(io_err)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(Error::io(
                        format_args!("cannot store into {target}"),
                        io::Error::new(
                            io::ErrorKind::ResourceBusy,
                            format!(
                                "another labelstore run is storing there (it holds {})",
                                path.display()
                            ),
                        ),
                    ));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io_err(e)),
            }
            // The previous holder removes the file as it lets go: the lock
            // counts only on the file that is still there.
            let held = file.metadata().map_err(io_err)?;
            let there = std::fs::symlink_metadata(path);
            if there.is_ok_and(|m| m.dev() == held.dev() && m.ino() == held.ino()) {
                return Ok(Lock {
                    path: path.to_path_buf(),
                    _file: file,
                });
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
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
            d.flush().unwrap();
            assert!(!target.exists());
            assert_eq!(
                std::fs::read(d.staging_dir().join("a/b.txt")).unwrap(),
                b"x"
            );
            d.abort().await.unwrap();
        });
        assert!(listing(tmp.path()).is_empty());
    }

    /// The store manifest of `files`.
    fn manifest(files: &[(&str, &[u8])]) -> Vec<u8> {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(STORE_MANIFEST);
        let header = serde_json::json!({ "labelstore_store": 1 });
        let mut w = sink_api::ManifestWriter::create(&path, &header).unwrap();
        for (p, bytes) in files {
            let (size, sha) = sink_api::digest_bytes(bytes);
            w.add(p, size, &sha).unwrap();
        }
        w.finish().unwrap();
        std::fs::read(path).unwrap()
    }

    /// Writes a labelstore store of `files` into `dir`, with its manifest.
    fn fake_store(dir: &Path, files: &[(&str, &[u8])]) {
        for (path, bytes) in files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, bytes).unwrap();
        }
        std::fs::write(dir.join(STORE_MANIFEST), manifest(files)).unwrap();
    }

    fn store_one(target: &Path, overwrite: bool) -> Result<()> {
        rt().block_on(async {
            let mut d = FsDestination::open(target, overwrite)?;
            d.put("chips/new.bin", Body::Bytes(b"new".to_vec())).await?;
            d.commit(Body::Bytes(manifest(&[("chips/new.bin", b"new")])))
                .await
        })
    }

    #[test]
    fn non_empty_target_needs_overwrite_which_replaces_an_earlier_store_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("out");
        fake_store(
            &target,
            &[("chips/old.bin", b"old"), ("coco/a.json", b"{}")],
        );
        let e = FsDestination::open(&target, false).unwrap_err();
        assert!(e.is_usage());
        assert!(e.to_string().contains("is not empty"), "{e}");
        let src = tmp.path().join("src.bin");
        std::fs::write(&src, [0u8, 1, 2, 255]).unwrap();
        rt().block_on(async {
            let mut d = FsDestination::open(&target, true).unwrap();
            d.put("chips/c.bin", Body::File(src.clone())).await.unwrap();
            assert_eq!(listing(&target), ["chips", "coco", STORE_MANIFEST]);
            d.commit(Body::Bytes(manifest(&[("chips/c.bin", &[0u8, 1, 2, 255])])))
                .await
                .unwrap();
        });
        assert_eq!(listing(&target), ["chips", STORE_MANIFEST]);
        assert_eq!(
            std::fs::read(target.join("chips/c.bin")).unwrap(),
            [0u8, 1, 2, 255]
        );
        assert_eq!(listing(tmp.path()), ["out", "src.bin"]);
    }

    #[test]
    fn overwrite_refuses_a_folder_labelstore_did_not_write_and_touches_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        // A folder of the user's: no manifest.
        let user = tmp.path().join("scratch");
        std::fs::create_dir(&user).unwrap();
        std::fs::write(user.join("thesis.tex"), "years of work").unwrap();
        let e = store_one(&user, true).unwrap_err();
        assert!(e.is_usage());
        assert!(
            e.to_string().contains("is not a labelstore store")
                && e.to_string().contains("thesis.tex"),
            "{e}"
        );
        // A store with a file of the user's added, and one with a stored file
        // changed: both refused, naming the file.
        let added = tmp.path().join("added");
        fake_store(&added, &[("chips/a.bin", b"a")]);
        std::fs::write(added.join("chips/notes.txt"), "mine").unwrap();
        let e = store_one(&added, true).unwrap_err();
        assert!(e.is_usage());
        assert!(
            e.to_string()
                .contains("notes.txt is not a file labelstore stored"),
            "{e}"
        );
        let changed = tmp.path().join("changed");
        fake_store(&changed, &[("chips/a.bin", b"a")]);
        std::fs::write(changed.join("chips/a.bin"), "edited").unwrap();
        let e = store_one(&changed, true).unwrap_err();
        assert!(
            e.to_string()
                .contains("a.bin was changed since labelstore stored it"),
            "{e}"
        );
        assert_eq!(listing(&user), ["thesis.tex"]);
        assert_eq!(listing(&added.join("chips")), ["a.bin", "notes.txt"]);
        assert_eq!(
            std::fs::read(changed.join("chips/a.bin")).unwrap(),
            b"edited"
        );
        assert_eq!(listing(tmp.path()), ["added", "changed", "scratch"]);
    }

    #[test]
    fn a_target_over_a_source_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let project = tmp.path().join("project");
        std::fs::create_dir_all(project.join("chips")).unwrap();
        std::fs::write(project.join("chips/a.png"), "png").unwrap();
        let options = FsOptions {
            overwrite: true,
            sources: vec![project.clone()],
        };
        for (target, how) in [
            (project.clone(), " is "),
            (project.join("chips"), " lies inside "),
            (project.join("new/out"), " lies inside "),
            (tmp.path().to_path_buf(), " contains "),
            (project.join("chips/../.."), " contains "),
        ] {
            let e = FsDestination::open_with(&target, &options).unwrap_err();
            assert!(e.is_usage(), "{e}");
            assert!(e.to_string().contains(how), "{target:?}: {e}");
            assert!(
                e.to_string().contains("never writes over its own input"),
                "{e}"
            );
        }
        // Through a symbolic link too.
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&project, &link).unwrap();
        let e = FsDestination::open_with(&link.join("chips"), &options).unwrap_err();
        assert!(e.to_string().contains(" lies inside "), "{e}");
        // A folder beside the project is fine.
        let beside = tmp.path().join("out");
        drop(FsDestination::open_with(&beside, &options).unwrap());
        assert_eq!(listing(&project), ["chips"]);
        assert_eq!(listing(&project.join("chips")), ["a.png"]);
        assert_eq!(listing(tmp.path()), ["link", "project"]);
    }

    #[test]
    fn two_stores_into_one_target_cannot_both_run() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("out");
        let first = FsDestination::open(&target, false).unwrap();
        let e = FsDestination::open(&target, true).unwrap_err();
        assert!(!e.is_usage());
        assert!(
            e.to_string()
                .contains("another labelstore run is storing there"),
            "{e}"
        );
        rt().block_on(async {
            let mut first = first;
            first
                .put("a.txt", Body::Bytes(b"a".to_vec()))
                .await
                .unwrap();
            first
                .commit(Body::Bytes(manifest(&[("a.txt", b"a")])))
                .await
                .unwrap();
        });
        // The lock went with the first store.
        assert_eq!(listing(tmp.path()), ["out"]);
        let e = store_one(&target, false).unwrap_err();
        assert!(
            e.is_usage() && e.to_string().contains("is not empty"),
            "{e}"
        );
    }

    #[test]
    fn the_commit_looks_again_and_leaves_what_appeared_alone() {
        let tmp = tempfile::tempdir().unwrap();
        // A new target that a user fills during the store.
        let target = tmp.path().join("out");
        let e = rt().block_on(async {
            let mut d = FsDestination::open(&target, false).unwrap();
            d.put("a.txt", Body::Bytes(b"a".to_vec())).await.unwrap();
            std::fs::create_dir(&target).unwrap();
            std::fs::write(target.join("user.txt"), "mine").unwrap();
            d.commit(Body::Bytes(manifest(&[("a.txt", b"a")])))
                .await
                .unwrap_err()
        });
        assert!(!e.is_usage());
        assert!(e.to_string().contains("changed during the store"), "{e}");
        assert_eq!(listing(&target), ["user.txt"]);
        assert_eq!(listing(tmp.path()), ["out"]);
        // An earlier store a user adds a file to during the replace.
        let store = tmp.path().join("store");
        fake_store(&store, &[("chips/a.bin", b"a")]);
        let e = rt().block_on(async {
            let mut d = FsDestination::open(&store, true).unwrap();
            d.put("b.txt", Body::Bytes(b"b".to_vec())).await.unwrap();
            std::fs::write(store.join("chips/user.txt"), "mine").unwrap();
            d.commit(Body::Bytes(manifest(&[("b.txt", b"b")])))
                .await
                .unwrap_err()
        });
        assert!(!e.is_usage());
        assert!(
            e.to_string()
                .contains("user.txt is not a file labelstore stored"),
            "{e}"
        );
        assert_eq!(listing(&store.join("chips")), ["a.bin", "user.txt"]);
        assert_eq!(listing(tmp.path()), ["out", "store"]);
    }

    #[test]
    fn leftovers_of_killed_replaces_are_restored_or_removed() {
        // No process has pid 4194305 (above Linux's pid_max limit).
        let tmp = tempfile::tempdir().unwrap();
        // Killed between the renames: the old store is the target again.
        let target = tmp.path().join("a");
        let old = tmp.path().join(".a.labelstore-old-4194305");
        fake_store(&old, &[("chips/x.bin", b"x")]);
        std::fs::create_dir_all(tmp.path().join(".a.labelstore-staging-4194305/chips")).unwrap();
        let e = store_one(&target, false).unwrap_err();
        assert!(e.to_string().contains("is not empty"), "{e}");
        assert_eq!(listing(&target), ["chips", STORE_MANIFEST]);
        // Killed while removing the old store: its listed files go, a file
        // of the user's in it stays.
        let target = tmp.path().join("b");
        fake_store(&target, &[("chips/y.bin", b"y")]);
        let old = tmp.path().join(".b.labelstore-old-4194305");
        fake_store(&old, &[("chips/x.bin", b"x"), ("k/z.txt", b"z")]);
        std::fs::write(old.join("chips/user.txt"), "mine").unwrap();
        store_one(&target, true).unwrap();
        assert_eq!(listing(&old), ["chips"]);
        assert_eq!(listing(&old.join("chips")), ["user.txt"]);
        assert_eq!(listing(&target.join("chips")), ["new.bin"]);
        assert_eq!(listing(tmp.path()), [".b.labelstore-old-4194305", "a", "b"]);
    }

    #[test]
    fn a_store_that_does_not_commit_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("new/deeper/out");
        rt().block_on(async {
            let mut d = FsDestination::open(&target, false).unwrap();
            d.put("a.txt", Body::Bytes(b"a".to_vec())).await.unwrap();
            drop(d);
        });
        assert!(listing(tmp.path()).is_empty(), "{:?}", listing(tmp.path()));
    }

    #[test]
    fn dot_and_dot_dot_name_the_folders_they_mean() {
        assert_eq!(normalize(Path::new("/a/b/./c/../d")), Path::new("/a/b/d"));
        assert_eq!(normalize(Path::new("/a/.")), Path::new("/a"));
        let tmp = tempfile::tempdir().unwrap();
        store_one(&tmp.path().join("x/.."), false).unwrap();
        assert_eq!(listing(&tmp.path().join("chips")), ["new.bin"]);
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
            let listed = manifest(&[("chips/a.png", b"png"), ("voc/JPEGImages/a.png", b"png")]);
            d.commit(Body::Bytes(listed)).await.unwrap();
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
            d.commit(Body::Bytes(manifest(&[("a.txt", b"a")])))
                .await
                .unwrap();
        });
        // The old folder held no store and a file of nobody's: it goes too.
        assert!(!dead.exists() && !old.exists());
        assert!(other.exists() && alive.exists());
        assert_eq!(listing(tmp.path()).len(), 3, "{:?}", listing(tmp.path()));
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
            d.commit(Body::Bytes(manifest(&[("ok.txt", b"")])))
                .await
                .unwrap();
        });
        assert_eq!(
            listing(&tmp.path().join("new/deep")),
            [STORE_MANIFEST, "ok.txt"]
        );
    }
}
