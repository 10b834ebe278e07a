//! Scratch folders in the system's temporary folder (the store's spool,
//! verify's copy of a remote manifest), named after the process that made
//! them: `labelstore-<kind>-<pid>-<random>`.
//!
//! A folder is removed when its owner drops it, but a process killed with
//! SIGKILL (or a machine that lost power) leaves it behind, and a spool can
//! hold a large project-wide file (a COCO file of a big project). So each
//! new scratch folder first removes those of its kind whose process is
//! gone, where `/proc` tells which processes live.

use std::io;
use std::path::Path;

use tempfile::TempDir;

/// A new scratch folder of `kind` (`spool`, `verify`), after removing the
/// stale ones of the same kind.
pub(crate) fn scratch_dir(kind: &str) -> io::Result<TempDir> {
    make(&std::env::temp_dir(), &format!("labelstore-{kind}-"))
}

/// A new hidden scratch folder of `kind` in `parent`
/// (`.labelstore-<kind>-<pid>-<random>`: `fetch` brings a remote store
/// beside its output, on the same disk), after removing the stale ones of
/// the same kind there.
pub fn scratch_dir_in(parent: &Path, kind: &str) -> io::Result<TempDir> {
    make(parent, &format!(".labelstore-{kind}-"))
}

fn make(parent: &Path, prefix: &str) -> io::Result<TempDir> {
    remove_stale(parent, prefix);
    tempfile::Builder::new()
        .prefix(&format!("{prefix}{}-", std::process::id()))
        .tempdir_in(parent)
}

/// Removes the folders in `dir` named `<prefix><pid>-…` whose process is
/// gone. Nothing is removed where `/proc` is missing; errors are ignored
/// (another process may be removing the same folder).
fn remove_stale(dir: &Path, prefix: &str) {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok());
        let Some(pid) = pid else { continue };
        if pid != std::process::id() && !proc.join(pid.to_string()).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pid no process has: above the kernel's largest (4,194,304).
    const GONE: u32 = 4_194_305;

    #[test]
    fn folders_of_dead_processes_go_and_the_rest_stay() {
        let tmp = tempfile::tempdir().unwrap();
        let me = std::process::id();
        let make = |name: &str| {
            std::fs::create_dir_all(tmp.path().join(name).join("inner")).unwrap();
            std::fs::write(tmp.path().join(name).join("inner/f"), b"x").unwrap();
        };
        let gone = format!("labelstore-spool-{GONE}-abc");
        let mine = format!("labelstore-spool-{me}-def");
        let live = "labelstore-spool-1-ghi"; // init: alive
        let other_kind = format!("labelstore-verify-{GONE}-jkl");
        let no_pid = "labelstore-spool-abc";
        for name in [&gone, &mine, live, &other_kind, no_pid] {
            make(name);
        }
        remove_stale(tmp.path(), "labelstore-spool-");
        let mut left: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut want = vec![mine, live.to_owned(), other_kind, no_pid.to_owned()];
        want.sort();
        assert_eq!(left, want);
    }

    #[test]
    fn a_scratch_folder_beside_an_output_clears_the_dead_ones_of_its_kind() {
        let tmp = tempfile::tempdir().unwrap();
        let dead = tmp.path().join(format!(".labelstore-fetch-{GONE}-abc"));
        std::fs::create_dir_all(dead.join("chips")).unwrap();
        let dir = scratch_dir_in(tmp.path(), "fetch").unwrap();
        assert!(!dead.exists());
        let name = dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            name.starts_with(&format!(".labelstore-fetch-{}-", std::process::id())),
            "{name}"
        );
        drop(dir);
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_scratch_folder_is_named_after_its_process_and_goes_when_dropped() {
        let dir = scratch_dir("test").unwrap();
        let name = dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let want = format!("labelstore-test-{}-", std::process::id());
        assert!(name.starts_with(&want), "{name}");
        let path = dir.path().to_path_buf();
        drop(dir);
        assert!(!path.exists());
    }
}
