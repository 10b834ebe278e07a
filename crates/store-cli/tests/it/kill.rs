//! A store killed with SIGKILL after its first files are staged leaves the
//! target absent, or as it was, and the next store clears its scratch
//! folder; one interrupted by SIGINT (Ctrl-C) or SIGTERM undoes itself (no
//! staging folder left) and exits with 130.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::util::{labelstore, root, snapshot};

/// A project of `n` labeled chips, all hard links to one small PNG.
pub(crate) fn big_project(dir: &Path, n: usize) {
    let png = root().join("tests/fixtures/detection-basic/chips/a.png");
    std::fs::create_dir_all(dir.join("chips")).unwrap();
    let mut chips = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("chips/c{i}.png");
        std::fs::hard_link(&png, dir.join(&name)).unwrap();
        chips.push(serde_json::json!({
            "id": format!("c{i}"), "image": name,
            "labels": [{"class": "ship", "bbox": [1, 1, 20, 20]}]
        }));
    }
    let project = serde_json::json!({
        "labelstore": 1, "name": "big", "labeling_type": "object_detection",
        "classes": [{"id": 1, "name": "ship"}], "chips": chips
    });
    std::fs::write(dir.join("project.json"), project.to_string()).unwrap();
}

/// Stores the `detection-basic` fixture into `target`: an earlier store
/// for `--overwrite` to replace.
pub(crate) fn earlier_store(target: &Path) {
    let o = labelstore()
        .arg("store")
        .arg(root().join("tests/fixtures/detection-basic"))
        .args(["--to", "local", "--format", "json,yolo", "--path"])
        .arg(target)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Spawns a store (`cmd`) into `target` and waits until its staging folder
/// holds a chip; returns the process and the staging folder.
pub(crate) fn spawn_until_staged(
    mut cmd: std::process::Command,
    target: &Path,
) -> (std::process::Child, std::path::PathBuf) {
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let name = target.file_name().unwrap().to_string_lossy();
    let staging = target
        .parent()
        .unwrap()
        .join(format!(".{name}.labelstore-staging-{}", child.id()));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let staged = std::fs::read_dir(staging.join("chips")).is_ok_and(|mut d| d.next().is_some());
        if staged {
            return (child, staging);
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the store ended before it could be killed"
        );
        assert!(
            Instant::now() < deadline,
            "no chip was staged within a minute"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The temporary folder (`TMPDIR`) the stores of a test get, under `tmp`.
fn scratch(tmp: &Path) -> std::path::PathBuf {
    let dir = tmp.join("scratch");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The scratch folders in `scratch` of the process `pid`.
fn spools_of(scratch: &Path, pid: u32) -> Vec<String> {
    let prefix = format!("labelstore-spool-{pid}-");
    std::fs::read_dir(scratch)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

/// Starts a store into `target`, kills it with SIGKILL once its staging
/// folder holds a chip, and checks the staging folder was there. Returns
/// the killed process's id.
fn kill_midway(project: &Path, target: &Path, overwrite: bool) -> u32 {
    let (staging, pid) = signal_midway(project, target, overwrite, None);
    assert!(staging.exists(), "the store was not killed midway");
    pid
}

/// Starts a store into `target` and, once its staging folder holds a chip,
/// sends it `signal` (SIGKILL when `None`); returns the staging folder's
/// path and the process's id. Its `TMPDIR` is `scratch` beside `target`.
fn signal_midway(
    project: &Path,
    target: &Path,
    overwrite: bool,
    signal: Option<&str>,
) -> (std::path::PathBuf, u32) {
    let mut cmd = labelstore();
    cmd.env("TMPDIR", scratch(target.parent().unwrap()));
    cmd.arg("store")
        .arg(project)
        .args(["--to", "local", "--format", "json"]);
    cmd.arg("--path").arg(target);
    if overwrite {
        cmd.arg("--overwrite");
    }
    let (mut child, staging) = spawn_until_staged(cmd, target);
    let pid = child.id();
    match signal {
        None => {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
        }
        Some(signal) => {
            let sent = std::process::Command::new("kill")
                .args([&format!("-{signal}"), &child.id().to_string()])
                .status()
                .unwrap();
            assert!(sent.success());
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(130), "{signal}: {stderr}");
            assert!(stderr.contains("interrupted"), "{signal}: {stderr}");
        }
    }
    (staging, pid)
}

#[test]
fn ctrl_c_or_sigterm_midway_undoes_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    big_project(&project, 4000);

    let target = tmp.path().join("absent");
    let (staging, pid) = signal_midway(&project, &target, false, Some("INT"));
    assert!(!target.exists());
    assert_eq!(spools_of(&scratch(tmp.path()), pid), Vec::<String>::new());
    assert!(!staging.exists(), "the staging folder is removed");

    let target = tmp.path().join("existing");
    earlier_store(&target);
    let before = snapshot(&target);
    let (staging, _) = signal_midway(&project, &target, true, Some("TERM"));
    assert_eq!(snapshot(&target), before);
    assert!(!staging.exists(), "the staging folder is removed");
}

#[test]
fn sigkill_midway_leaves_target_absent_or_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    big_project(&project, 4000);

    let target = tmp.path().join("absent");
    let killed = kill_midway(&project, &target, false);
    assert!(!target.exists());
    // Its spool stays behind until the next store clears it.
    let scratch = scratch(tmp.path());
    assert_eq!(spools_of(&scratch, killed).len(), 1, "{killed}");
    let o = labelstore()
        .env("TMPDIR", &scratch)
        .arg("store")
        .arg(root().join("tests/fixtures/detection-basic"))
        .args(["--to", "local", "--format", "json", "--path"])
        .arg(tmp.path().join("next"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(spools_of(&scratch, killed), Vec::<String>::new());
    assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0);

    let target = tmp.path().join("existing");
    earlier_store(&target);
    let before = snapshot(&target);
    kill_midway(&project, &target, true);
    assert_eq!(snapshot(&target), before);
}
