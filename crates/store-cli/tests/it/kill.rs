//! A store killed with SIGKILL after its first files are staged leaves the
//! target absent, or as it was.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::util::{labelstore, root, snapshot};

/// A project of `n` labeled chips, all hard links to one small PNG.
fn big_project(dir: &Path, n: usize) {
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

/// Starts a store into `target`, kills it once its staging folder holds a
/// chip, and returns whether the staging folder was seen.
fn kill_midway(project: &Path, target: &Path, overwrite: bool) {
    let mut cmd = labelstore();
    cmd.arg("store")
        .arg(project)
        .args(["--to", "local", "--format", "json"]);
    cmd.arg("--path").arg(target);
    if overwrite {
        cmd.arg("--overwrite");
    }
    let mut child = cmd.stdout(std::process::Stdio::null()).spawn().unwrap();
    let name = target.file_name().unwrap().to_string_lossy();
    let staging = target
        .parent()
        .unwrap()
        .join(format!(".{name}.labelstore-staging-{}", child.id()));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let staged = std::fs::read_dir(staging.join("chips")).is_ok_and(|mut d| d.next().is_some());
        if staged {
            break;
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
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(staging.exists(), "the store was not killed midway");
}

#[test]
fn sigkill_midway_leaves_target_absent_or_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    big_project(&project, 4000);

    let target = tmp.path().join("absent");
    kill_midway(&project, &target, false);
    assert!(!target.exists());

    let target = tmp.path().join("existing");
    std::fs::create_dir_all(target.join("chips")).unwrap();
    std::fs::write(target.join("project.json"), b"the previous store").unwrap();
    std::fs::write(target.join("chips/old.png"), b"old chip").unwrap();
    let before = snapshot(&target);
    kill_midway(&project, &target, true);
    assert_eq!(snapshot(&target), before);
}
