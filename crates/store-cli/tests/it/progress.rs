//! What long commands say while they run: nothing on stderr in a pipe, a
//! bar with rates and an ETA on a terminal, a line per chip with `-v`,
//! nothing but errors with `-q`; fetch's summary says fetched.

use std::path::Path;

use crate::util::{root, run, stderr, stdout};

/// The stored chips of the example project, in store order.
const HARBOUR_CHIPS: [&str; 9] = [
    "r0_c0", "r0_c1", "r0_c2", "r0_c3", "r1_c1", "r1_c2", "r2_c0", "r2_c2", "r2_c3",
];

fn harbour() -> String {
    root().join("examples/harbour").display().to_string()
}

fn store(to: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "store".to_owned(),
        harbour(),
        "--to".into(),
        "local".into(),
        "--path".into(),
        to.display().to_string(),
        "--format".into(),
        "json,coco".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    run(&args)
}

#[test]
fn a_pipe_gets_the_summary_and_no_progress() {
    let tmp = tempfile::tempdir().unwrap();
    let out = store(&tmp.path().join("a"), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "no progress in a pipe");
    assert!(
        stdout(&out).starts_with("stored 9 chips of \"harbour-ships\" to local folder "),
        "{}",
        stdout(&out)
    );
}

#[test]
fn quiet_prints_nothing_but_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = store(&tmp.path().join("a"), &["-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!((stdout(&out), stderr(&out)), (String::new(), String::new()));
    assert!(tmp.path().join("a/labelstore-manifest.json").is_file());

    // `--json` is a report asked for: -q leaves it.
    let out = store(&tmp.path().join("b"), &["--quiet", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["chips_stored"], 9);
    assert_eq!(stderr(&out), "");

    // An error still is one.
    let out = run(&[
        "store",
        "/nonexistent/project.json",
        "--to",
        "local",
        "--path",
        &tmp.path().join("c").display().to_string(),
        "--format",
        "json",
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("labelstore: error: "),
        "{}",
        stderr(&out)
    );
    assert_eq!(stdout(&out), "");

    // For verify, a whole store says nothing.
    let a = tmp.path().join("a").display().to_string();
    let out = run(&["verify", "--from", "local", "--path", &a, "-q"]);
    assert!(out.status.success());
    assert_eq!((stdout(&out), stderr(&out)), (String::new(), String::new()));

    let out = run(&["verify", "--from", "local", "--path", &a, "-q", "-v"]);
    assert_eq!(out.status.code(), Some(2), "-q and -v conflict");
}

#[test]
fn verbose_prints_a_line_per_chip() {
    let tmp = tempfile::tempdir().unwrap();
    let out = store(&tmp.path().join("a"), &["-v"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<String> = stderr(&out).lines().map(str::to_owned).collect();
    let want: Vec<String> = HARBOUR_CHIPS
        .iter()
        .enumerate()
        .map(|(i, id)| format!("stored {id} ({}/9, ", i + 1))
        .collect();
    assert_eq!(lines.len(), 9, "{lines:?}");
    for (line, want) in lines.iter().zip(&want) {
        assert!(line.starts_with(want), "{line:?} is not {want:?}...");
    }
    // The bytes grow with each chip, ending at the chips' bytes.
    assert!(lines[8].ends_with(" KiB)"), "{}", lines[8]);

    // Verify: a line per file checked, the manifest's files in path order.
    let a = tmp.path().join("a").display().to_string();
    let out = run(&["verify", "--from", "local", "--path", &a, "--verbose"]);
    assert!(out.status.success());
    let checked: Vec<String> = stderr(&out)
        .lines()
        .map(|l| l.split(' ').nth(1).unwrap_or("").to_owned())
        .collect();
    let mut listed: Vec<String> = crate::util::snapshot(&tmp.path().join("a"))
        .into_keys()
        .filter(|p| !p.ends_with('/') && p != "labelstore-manifest.json")
        .collect();
    listed.sort();
    assert_eq!(checked, listed);
}

#[test]
fn fetch_says_fetched() {
    let tmp = tempfile::tempdir().unwrap();
    let out = store(&tmp.path().join("a"), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&[
        "fetch",
        "--from",
        "local",
        "--path",
        &tmp.path().join("a").display().to_string(),
        "--output",
        &tmp.path().join("f").display().to_string(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let first = stdout(&out).lines().next().unwrap_or("").to_owned();
    assert_eq!(
        first,
        format!(
            "fetched 9 chips of \"harbour-ships\" into local folder {} as json",
            tmp.path().join("f").display()
        )
    );
}

/// On a terminal (a pseudo-terminal made by `script`), the bar shows the
/// chips done, their rate and bytes per second, and an ETA.
#[test]
fn a_terminal_gets_rates_and_an_eta() {
    let tmp = tempfile::tempdir().unwrap();
    let command = format!(
        "'{}' store '{}' --to local --path '{}' --format json,coco > /dev/null",
        env!("CARGO_BIN_EXE_labelstore"),
        harbour(),
        tmp.path().join("a").display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .expect("script (util-linux) runs a command on a pseudo-terminal");
    assert!(out.status.success(), "{}", stderr(&out));
    let drawn = String::from_utf8_lossy(&out.stdout);
    assert!(drawn.contains(" 9/9 chips "), "{drawn}");
    assert!(drawn.contains(" chips/s, "), "{drawn}");
    assert!(drawn.contains("B/s"), "{drawn}");
    assert!(drawn.contains("ETA "), "{drawn}");
}
