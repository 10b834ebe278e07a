//! Nothing labelstore did not write is ever deleted: `--overwrite` replaces
//! only an earlier store (store, import, fetch); no target may overlap what
//! the run reads; two stores into one folder cannot both run; a target that
//! changes during a store is left alone; a full disk or a target that is a
//! mount point leaves nothing behind.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use crate::kill::{big_project, earlier_store, spawn_until_staged};
use crate::util::{labelstore, listing, root, run, snapshot, stderr};

fn fixture() -> PathBuf {
    root().join("tests/fixtures/detection-basic")
}

/// A folder of the user's: files labelstore never wrote.
fn users_folder(dir: &Path) {
    std::fs::create_dir_all(dir.join("drafts")).unwrap();
    std::fs::write(dir.join("thesis.tex"), "years of work").unwrap();
    std::fs::write(dir.join("drafts/one.txt"), "draft").unwrap();
}

#[test]
fn overwrite_never_empties_a_folder_labelstore_did_not_write() {
    let tmp = tempfile::tempdir().unwrap();
    let scratch = tmp.path().join("scratch");
    users_folder(&scratch);
    let before = snapshot(&scratch);
    let dataset = tmp.path().join("dataset");
    std::fs::create_dir_all(&dataset).unwrap();
    // A YOLO dataset to import.
    let o = run(&[
        "store".as_ref(),
        fixture().as_os_str(),
        "--to".as_ref(),
        "local".as_ref(),
        "--format".as_ref(),
        "yolo".as_ref(),
        "--path".as_ref(),
        dataset.join("d").as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let store = tmp.path().join("store");
    earlier_store(&store);
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let runs: [Vec<String>; 3] = [
        vec![
            "store".into(),
            s(&fixture()),
            "--to".into(),
            "local".into(),
            "--format".into(),
            "json".into(),
            "--path".into(),
            s(&scratch),
        ],
        vec![
            "import".into(),
            "--from".into(),
            "yolo".into(),
            s(&dataset.join("d/yolo")),
            "--output".into(),
            s(&scratch),
        ],
        vec![
            "fetch".into(),
            "--from".into(),
            "local".into(),
            "--path".into(),
            s(&store),
            "--output".into(),
            s(&scratch),
        ],
    ];
    for args in &runs {
        let mut args = args.clone();
        args.push("--overwrite".into());
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains("is not a labelstore store"), "{args:?}: {e}");
        assert!(
            e.contains("thesis.tex") || e.contains("drafts"),
            "{args:?}: {e}"
        );
        assert_eq!(snapshot(&scratch), before, "{args:?}");
    }
    let replace = |target: &Path| {
        labelstore()
            .arg("store")
            .arg(fixture())
            .args(["--to", "local", "--format", "json", "--overwrite", "--path"])
            .arg(target)
            .output()
            .unwrap()
    };
    // A store with a file of the user's added is refused too, naming it.
    std::fs::write(store.join("yolo/notes.txt"), "mine").unwrap();
    let o = replace(&store);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("notes.txt is not a file labelstore stored"),
        "{}",
        stderr(&o)
    );
    assert!(store.join("yolo/notes.txt").exists());
    // Without it, the earlier store is replaced; the folder beside is clean.
    std::fs::remove_file(store.join("yolo/notes.txt")).unwrap();
    let o = replace(&store);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        listing(&store),
        ["chips", "labelstore-manifest.json", "project.json"]
    );
    assert_eq!(listing(tmp.path()), ["dataset", "scratch", "store"]);
}

#[test]
fn no_target_may_overlap_the_source() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("work/project");
    copy_dir(&fixture(), &project);
    let before = snapshot(tmp.path());
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    for target in [
        tmp.path().join("work"),
        project.clone(),
        project.join("chips"),
        project.join("out"),
    ] {
        for manifest in [project.clone(), project.join("project.json")] {
            let o = run(&[
                "store",
                &s(&manifest),
                "--to",
                "local",
                "--format",
                "json,yolo",
                "--path",
                &s(&target),
                "--overwrite",
            ]);
            assert_eq!(o.status.code(), Some(2), "{target:?}: {}", stderr(&o));
            assert!(
                stderr(&o).contains("never writes over its own input"),
                "{}",
                stderr(&o)
            );
            assert_eq!(snapshot(tmp.path()), before, "{target:?}");
        }
    }
    // Relative paths, from inside the project: `--path .`, `--path chips`.
    for target in [".", "chips", ".."] {
        let o = labelstore()
            .current_dir(&project)
            .args([
                "store",
                "project.json",
                "--to",
                "local",
                "--format",
                "json",
                "--overwrite",
                "--path",
                target,
            ])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{target}: {}", stderr(&o));
        assert_eq!(snapshot(tmp.path()), before, "{target}");
    }
    // import: not into the dataset; fetch: not over the store it reads.
    let store = tmp.path().join("store");
    earlier_store(&store);
    let o = run(&[
        "import",
        "--from",
        "yolo",
        &s(&store.join("yolo")),
        "--output",
        &s(&store.join("yolo/p")),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("never writes over its own input"),
        "{}",
        stderr(&o)
    );
    for output in [store.clone(), store.join("p"), tmp.path().to_path_buf()] {
        let o = run(&[
            "fetch",
            "--from",
            "local",
            "--path",
            &s(&store),
            "--output",
            &s(&output),
            "--overwrite",
        ]);
        assert_eq!(o.status.code(), Some(2), "{output:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("never writes over its own input"),
            "{}",
            stderr(&o)
        );
    }
    assert_eq!(
        listing(&store),
        ["chips", "labelstore-manifest.json", "project.json", "yolo"]
    );
    // A folder beside the project is fine, given as `../out` from inside it.
    let o = labelstore()
        .current_dir(&project)
        .args([
            "store", ".", "--to", "local", "--format", "json", "--path", "../out",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(tmp.path().join("work/out/project.json").exists());
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Starts a store of `project` into `target` and waits until its staging
/// folder holds a chip.
fn start_store(project: &Path, target: &Path, overwrite: bool) -> Child {
    let mut cmd = labelstore();
    cmd.arg("store")
        .arg(project)
        .args(["--to", "local", "--format", "json", "--path"])
        .arg(target);
    if overwrite {
        cmd.arg("--overwrite");
    }
    spawn_until_staged(cmd, target).0
}

#[test]
fn two_stores_into_one_folder_cannot_both_win() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    big_project(&project, 3000);
    let target = tmp.path().join("out");
    for overwrite in [false, true] {
        let first = start_store(&project, &target, overwrite);
        let second = labelstore()
            .arg("store")
            .arg(fixture())
            .args(["--to", "local", "--format", "json", "--overwrite", "--path"])
            .arg(&target)
            .output()
            .unwrap();
        assert_eq!(second.status.code(), Some(1), "{}", stderr(&second));
        assert!(
            stderr(&second).contains("another labelstore run is storing there"),
            "{}",
            stderr(&second)
        );
        let first = first.wait_with_output().unwrap();
        assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
        // The first store is whole: the big project's chips, none of the other's.
        let p: serde_json::Value =
            serde_json::from_slice(&std::fs::read(target.join("project.json")).unwrap()).unwrap();
        assert_eq!(p["name"], "big");
        assert_eq!(listing(&target.join("chips")).len(), 3000);
        assert_eq!(listing(tmp.path()), ["out", "project"]);
    }
}

#[test]
fn a_target_changed_during_the_store_is_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    big_project(&project, 3000);
    // A new folder that a user writes to during the store.
    let target = tmp.path().join("new");
    let store = start_store(&project, &target, false);
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("user.txt"), "mine").unwrap();
    let o = store.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("changed during the store"),
        "{}",
        stderr(&o)
    );
    assert_eq!(listing(&target), ["user.txt"]);
    // An earlier store that a file is added to during the replace.
    let target = tmp.path().join("old");
    earlier_store(&target);
    let store = start_store(&project, &target, true);
    std::fs::write(target.join("chips/user.txt"), "mine").unwrap();
    let o = store.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("changed during the store"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read(target.join("chips/user.txt")).unwrap(),
        b"mine"
    );
    assert!(target.join("labelstore-manifest.json").exists());
    assert_eq!(listing(tmp.path()), ["new", "old", "project"]);
}

/// Runs `script` with `sh` in a user and mount namespace of its own (so it
/// may mount a tmpfs), with `$LABELSTORE` the binary; returns its output.
fn in_mount_namespace(script: &str, args: &[&Path]) -> std::process::Output {
    Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .args(args)
        .env("LABELSTORE", env!("CARGO_BIN_EXE_labelstore"))
        .output()
        .expect("unshare (util-linux) runs")
}

#[test]
fn a_full_disk_fails_the_store_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    big_project(&project, 1000);
    let disk = tmp.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    // 1,000 chips of 2,385 bytes do not fit in 512 KiB.
    let o = in_mount_namespace(
        r#"mount -t tmpfs -o size=512k tmpfs "$1" || exit 99
           "$LABELSTORE" store "$2" --to local --format json --path "$1/out" 2>&1
           echo "status=$?"
           ls -A "$1""#,
        &[&disk, &project],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    let (before, listing) = out.split_once("status=").unwrap();
    assert!(before.contains("No space left on device"), "{out}");
    // Exit status 1, and the disk is as empty as it was.
    assert_eq!(listing.trim(), "1", "{out}");
}

#[test]
fn a_target_that_is_a_mount_point_fails_and_leaves_no_staging_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("mnt");
    std::fs::create_dir(&target).unwrap();
    let o = in_mount_namespace(
        r#"mount -t tmpfs tmpfs "$1" || exit 99
           "$LABELSTORE" store "$2" --to local --format json --path "$1" 2>&1
           echo "status=$?"
           ls -A "$1""#,
        &[&target, &fixture()],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    assert!(out.contains("busy"), "{out}");
    assert!(out.trim_end().ends_with("status=1"), "{out}");
    assert_eq!(listing(tmp.path()), ["mnt"]);
}
