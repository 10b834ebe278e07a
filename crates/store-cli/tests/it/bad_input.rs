//! Bad input (SPEC §6): each case under `tests/bad/<case>/` holds a
//! `project.json` and `expect.txt`, the message that must appear (naming the
//! file, chip and field), and optionally `format.txt`, the format to ask
//! for (`json` otherwise).

use crate::util::{root, run, snapshot, stderr};

/// The folders of the cases under `tests/bad`, sorted.
pub(crate) fn bad_cases() -> Vec<std::path::PathBuf> {
    let cases = root().join("tests/bad");
    let mut names: Vec<_> = std::fs::read_dir(&cases)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    names.sort();
    assert!(names.len() >= 14, "bad cases went missing: {names:?}");
    names
}

#[test]
fn every_bad_case_exits_2_names_the_problem_and_writes_nothing() {
    for case in bad_cases() {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let expect = std::fs::read_to_string(case.join("expect.txt")).unwrap();
        let expect = expect.trim();
        let format = std::fs::read_to_string(case.join("format.txt"))
            .map(|f| f.trim().to_owned())
            .unwrap_or_else(|_| "json".to_owned());

        // A target that does not exist stays absent, with no staging left.
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("out");
        let o = run(&[
            "store".as_ref(),
            case.as_os_str(),
            "--to".as_ref(),
            "local".as_ref(),
            "--path".as_ref(),
            target.as_os_str(),
            "--format".as_ref(),
            format.as_ref(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(expect),
            "{name}: expected {expect:?} in {:?}",
            stderr(&o)
        );
        assert!(
            stderr(&o).starts_with("labelstore: error: "),
            "{name}: {}",
            stderr(&o)
        );
        assert!(
            snapshot(tmp.path()).is_empty(),
            "{name}: wrote {:?}",
            snapshot(tmp.path()).keys()
        );

        // A non-empty target, even with --overwrite, is left exactly as it was.
        std::fs::create_dir_all(target.join("keep")).unwrap();
        std::fs::write(target.join("keep/old.txt"), b"old store").unwrap();
        let before = snapshot(tmp.path());
        let o = run(&[
            "store".as_ref(),
            case.as_os_str(),
            "--to".as_ref(),
            "local".as_ref(),
            "--path".as_ref(),
            target.as_os_str(),
            "--format".as_ref(),
            format.to_uppercase().as_ref(),
            "--overwrite".as_ref(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains(expect), "{name}: {}", stderr(&o));
        assert_eq!(snapshot(tmp.path()), before, "{name}: target changed");
    }
}
