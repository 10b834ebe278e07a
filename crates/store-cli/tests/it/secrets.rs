//! What output never shows: a PAR URL's token, whatever the URL's shape,
//! and more than a short excerpt of a file that is not what it should be.

use std::path::Path;
use std::process::Output;

use crate::util::{root, run, stderr, stdout};

/// Everything the run printed.
fn all(o: &Output) -> String {
    stdout(o) + &stderr(o)
}

#[test]
fn a_par_url_of_any_shape_never_shows_its_token() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let project = root().join("examples/harbour");
    // Nothing listens on port 9 of the loopback: nothing is reached.
    for url in [
        "https://objectstorage.example.com/n/ns/b/bucket/o/?token=TOKEN-in-the-query",
        "http://127.0.0.1:9/TOKEN-as-a-segment/n/ns/b/bucket/o/",
        "http://127.0.0.1:9/p/TOKEN-twice/n/ns/b/bucket/o/?again=TOKEN-twice",
        "http://127.0.0.1:9/p/TOKEN-in-a-fragment/n/ns/b/bucket/o/#TOKEN-in-a-fragment",
        "http://127.0.0.1:9/TOKEN-without-structure",
        "not a URL TOKEN-anywhere",
    ] {
        let store = run(&[
            "store",
            project.to_str().unwrap(),
            "--to",
            "objstore",
            "--par-url",
            url,
            "--prefix",
            "p",
            "--format",
            "json",
        ]);
        let verify = run(&["verify", "--from", "objstore", "--par-url", url]);
        let fetch = run(&[
            "fetch",
            "--from",
            "objstore",
            "--par-url",
            url,
            "--output",
            out.to_str().unwrap(),
        ]);
        for o in [store, verify, fetch] {
            assert_eq!(o.status.code(), Some(2), "{url}: {}", all(&o));
            assert!(all(&o).contains("bad PAR URL"), "{}", all(&o));
            assert!(
                !all(&o).contains("TOKEN"),
                "{url}: the token shows: {}",
                all(&o)
            );
        }
    }
}

/// A first line of 200 characters, as `/etc/passwd` might have.
const LONG_LINE: &str = "root:x:0:0:root:/root:/bin/bash";

fn long_text() -> String {
    let line = format!("{LONG_LINE}{}", "-SECRET-TAIL".repeat(15));
    format!("{line}\n{line}\n")
}

/// Asserts `o` failed with exit 2 quoting at most the excerpt of the long
/// line.
fn quotes_an_excerpt(o: &Output, file: &str) {
    assert_eq!(o.status.code(), Some(2), "{}", stderr(o));
    quotes_only_an_excerpt(o, file);
}

/// Asserts `o` named `file` quoting at most the excerpt of the long line.
fn quotes_only_an_excerpt(o: &Output, file: &str) {
    let err = stderr(o);
    assert!(err.contains(file), "{file} not named: {err}");
    assert!(err.contains(LONG_LINE), "no excerpt: {err}");
    assert!(err.contains('…'), "{err}");
    assert!(!err.contains("SECRET-TAIL"), "more than an excerpt: {err}");
}

/// A project in `dir` with one chip of the example, its `extra` fields
/// added to the chip.
fn project(dir: &Path, extra: &str) {
    std::fs::create_dir_all(dir.join("chips")).unwrap();
    std::fs::copy(
        root().join("examples/harbour/chips/r0_c0.png"),
        dir.join("chips/a.png"),
    )
    .unwrap();
    std::fs::write(
        dir.join("project.json"),
        format!(
            r#"{{"labelstore": 1, "name": "x", "labeling_type": "object_detection",
  "classes": [{{"id": 1, "name": "ship"}}],
  "chips": [{{"id": "a", "image": "chips/a.png", {extra}
              "labels": [{{"class": "ship", "bbox": [1, 1, 5, 5]}}]}}]}}"#
        ),
    )
    .unwrap();
}

fn store(dir: &Path, to: &Path) -> Output {
    run(&[
        "store".as_ref(),
        dir.as_os_str(),
        "--to".as_ref(),
        "local".as_ref(),
        "--path".as_ref(),
        to.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ])
}

#[test]
fn a_world_file_that_is_not_one_is_quoted_by_a_short_excerpt() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    project(&dir, r#""world_file": "passwd","#);
    std::fs::write(dir.join("passwd"), long_text()).unwrap();
    let o = store(&dir, &tmp.path().join("out"));
    quotes_an_excerpt(&o, "passwd");
    assert!(stderr(&o).contains("chips[0].world_file"), "{}", stderr(&o));
}

#[test]
fn a_manifest_value_is_quoted_by_a_short_excerpt() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let value = long_text().lines().next().unwrap().to_owned();
    project(&dir, &format!(r#""srid": {value:?},"#));
    let o = store(&dir, &tmp.path().join("out"));
    quotes_an_excerpt(&o, "project.json");
}

#[test]
fn an_imported_label_file_that_is_not_one_is_quoted_by_a_short_excerpt() {
    let tmp = tempfile::tempdir().unwrap();
    let yolo = tmp.path().join("yolo");
    std::fs::create_dir_all(yolo.join("images")).unwrap();
    std::fs::create_dir_all(yolo.join("labels")).unwrap();
    std::fs::copy(
        root().join("examples/harbour/chips/r0_c0.png"),
        yolo.join("images/a.png"),
    )
    .unwrap();
    std::fs::write(yolo.join("obj.names"), "ship\n").unwrap();
    std::fs::write(yolo.join("labels/a.txt"), long_text()).unwrap();
    let o = run(&[
        "import".as_ref(),
        "--from".as_ref(),
        "yolo".as_ref(),
        yolo.as_os_str(),
        "--output".as_ref(),
        tmp.path().join("out").as_os_str(),
    ]);
    quotes_an_excerpt(&o, "a.txt");
}

#[test]
fn a_store_manifest_that_is_not_one_is_quoted_by_a_short_excerpt() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    project(&dir, "");
    let out = tmp.path().join("out");
    assert_eq!(store(&dir, &out).status.code(), Some(0));
    let manifest = out.join("labelstore-manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let line = long_text().lines().next().unwrap().to_owned();
    let at = text.find("\"size\":").unwrap() + "\"size\":".len();
    let end = at + text[at..].find(',').unwrap();
    std::fs::write(
        &manifest,
        format!("{}{line:?}{}", &text[..at], &text[end..]),
    )
    .unwrap();
    let o = run(&[
        "verify".as_ref(),
        "--from".as_ref(),
        "local".as_ref(),
        "--path".as_ref(),
        out.as_os_str(),
    ]);
    quotes_only_an_excerpt(&o, "labelstore-manifest.json");
}
