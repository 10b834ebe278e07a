//! Consistent exits: a missing store folder is bad input, an option of
//! another kind of store is refused rather than ignored, and `.` names the
//! current folder.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::util::{labelstore, root, run, stderr, stdout};

/// An S3 endpoint nothing listens on.
const E: [&str; 2] = ["--endpoint", "http://127.0.0.1:9"];

fn example() -> PathBuf {
    root().join("examples/harbour")
}

/// Exit status 2 and a message naming `option`.
fn refused_naming(o: &Output, option: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{}{err}", stdout(o));
    assert!(
        err.contains(&format!("{option} does not apply")),
        "{option} not named: {err}"
    );
}

#[test]
fn verify_and_fetch_of_a_missing_folder_are_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-store");
    let o = run(&[
        "verify".as_ref(),
        "--from".as_ref(),
        "local".as_ref(),
        "--path".as_ref(),
        missing.as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no-such-store"), "{}", stderr(&o));
    let out = tmp.path().join("out");
    let o = run(&[
        "fetch".as_ref(),
        "--from".as_ref(),
        "local".as_ref(),
        "--path".as_ref(),
        missing.as_os_str(),
        "--output".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no-such-store"), "{}", stderr(&o));
    assert!(!out.exists());
}

#[test]
fn store_refuses_options_of_another_destination() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("out");
    let project = example();
    let (p, t) = (project.to_str().unwrap(), target.to_str().unwrap());
    // The database and URL are never reached: the options are checked first.
    let db = ["--connection", "postgres://nobody@127.0.0.1:9/none"];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--to", "local", "--path", t, "--url", "s3://b/p"],
            "--url",
        ),
        (
            vec![
                "--to",
                "local",
                "--path",
                t,
                "--par-url",
                "http://127.0.0.1:9/p/x/n/n/b/b/o/",
            ],
            "--par-url",
        ),
        (
            vec!["--to", "local", "--path", t, "--table", "chips"],
            "--table",
        ),
        (
            vec!["--to", "local", "--path", t, "--concurrency", "4"],
            "--concurrency",
        ),
        (
            vec!["--to", "db", db[0], db[1], "--table", "t", "--path", t],
            "--path",
        ),
        (
            vec!["--to", "db", db[0], db[1], "--table", "t", "--overwrite"],
            "--overwrite",
        ),
        (
            vec![
                "--to", "objstore", "--url", "s3://b/p", E[0], E[1], db[0], db[1],
            ],
            "--connection",
        ),
        (
            vec![
                "--to", "objstore", "--url", "s3://b/p", E[0], E[1], "--path", t,
            ],
            "--path",
        ),
    ];
    for (args, option) in cases {
        let mut all = vec!["store", p, "--format", "json"];
        all.extend(args);
        let o = run(&all);
        refused_naming(&o, option);
        assert!(!target.exists(), "{all:?} wrote the target");
    }
}

#[test]
fn fetch_and_verify_refuse_options_of_another_source() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let store = tmp.path().join("store");
    let (o_, s) = (out.to_str().unwrap(), store.to_str().unwrap());
    let local = ["--from", "local", "--path", s];
    let db = [
        "--from",
        "db",
        "--connection",
        "postgres://x@127.0.0.1:9/d",
        "--table",
        "t",
    ];
    let s3 = ["--from", "objstore", "--url", "s3://b/p", E[0], E[1]];
    let cases: [(&[&str], [&str; 2]); 5] = [
        (&local, ["--url", "s3://b/p"]),
        (&local, ["--table", "chips"]),
        (&db, ["--path", s]),
        (&s3, ["--connection", "postgres://x@h/d"]),
        (&s3, ["--project", "harbour"]),
    ];
    for (source, extra) in cases {
        let args: Vec<&str> = source.iter().chain(&extra).copied().collect();
        let mut verify = vec!["verify"];
        verify.extend(&args);
        refused_naming(&run(&verify), extra[0]);
        let mut fetch = vec!["fetch", "--output", o_];
        fetch.extend(&args);
        refused_naming(&run(&fetch), extra[0]);
        assert!(!out.exists());
    }
}

/// Runs `labelstore` with `args` in the folder `cwd`.
fn run_in(cwd: &Path, args: &[&str]) -> Output {
    labelstore().current_dir(cwd).args(args).output().unwrap()
}

#[test]
fn dot_names_the_current_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let here = tmp.path().join("here");
    std::fs::create_dir(&here).unwrap();
    let project = example();
    let o = run_in(
        &here,
        &[
            "store",
            project.to_str().unwrap(),
            "--to",
            "local",
            "--path",
            ".",
            "--format",
            "json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(here.join("labelstore-manifest.json").is_file());
    assert!(here.join("project.json").is_file());

    // fetch --path . and --output . too.
    let back = tmp.path().join("back");
    std::fs::create_dir(&back).unwrap();
    let o = run_in(
        &back,
        &[
            "fetch", "--from", "local", "--path", "../here", "--output", ".",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(back.join("project.json").is_file());
    let o = run_in(&here, &["verify", "--from", "local", "--path", "."]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}
