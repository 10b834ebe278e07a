//! `labelstore store DATASET --from FORMAT`: another tool's dataset stored
//! in one step writes exactly what `import` then `store` write; `auto`
//! tells the format from the layout; a format no dataset is read in, or a
//! project given as a dataset, exits 2 and writes nothing.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::util::{labelstore, root, snapshot, stderr, stdout, store_local};

const MANIFEST: &str = "labelstore-manifest.json";

/// `labelstore store PATH --from FROM --to local --path OUT --format F` plus `extra`.
fn store_from(
    path: &Path,
    from: &str,
    out: &Path,
    formats: &str,
    extra: &[&str],
) -> std::process::Output {
    labelstore()
        .arg("store")
        .arg(path)
        .args(["--from", from, "--to", "local", "--path"])
        .arg(out)
        .args(["--format", formats])
        .args(extra)
        .output()
        .unwrap()
}

/// Every file of a store but its manifest (whose header names the run).
fn labels_and_chips(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = snapshot(dir);
    files.retain(|name, _| name != MANIFEST);
    files
}

/// The manifest's files: path, size and SHA-256 of each.
fn manifest_files(dir: &Path) -> Vec<Value> {
    let m: Value = serde_json::from_slice(&std::fs::read(dir.join(MANIFEST)).unwrap()).unwrap();
    m["files"].as_array().unwrap().clone()
}

#[test]
fn a_dataset_stored_in_one_step_equals_import_then_store() {
    let tmp = tempfile::tempdir().unwrap();
    let data = root().join("tests/fixtures/datumaro");
    // A COCO detection dataset with splits: a store of the fixture.
    let coco = tmp.path().join("coco-store");
    let o = store_local(
        &root().join("tests/fixtures/splits-detection"),
        &coco,
        "coco",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for (dataset, from, formats) in [
        (coco.join("coco"), "coco", "voc,yolo,kitti"),
        (
            data.join("coco_dataset/coco_instances"),
            "coco",
            "coco,json",
        ),
        (
            data.join("voc_dataset/voc_dataset1"),
            "voc",
            "coco,yolo,json",
        ),
        (data.join("yolo_dataset/labels"), "yolo", "voc,coco"),
    ] {
        let dir = dataset.display();
        let name = format!("{from}-{}", formats.replace(',', "-"));
        let project = tmp.path().join(format!("{name}-project"));
        let o = labelstore()
            .arg("import")
            .arg(&dataset)
            .args(["--from", from, "--output"])
            .arg(&project)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{dir}: {}", stderr(&o));
        let two_steps = tmp.path().join(format!("{name}-two"));
        let o = store_local(&project, &two_steps, formats);
        assert_eq!(o.status.code(), Some(0), "{dir}: {}", stderr(&o));

        let one_step = tmp.path().join(format!("{name}-one"));
        let o = store_from(&dataset, from, &one_step, formats, &[]);
        assert_eq!(o.status.code(), Some(0), "{dir}: {}", stderr(&o));
        assert_eq!(
            stdout(&o).lines().next(),
            Some(format!("read as {from}").as_str())
        );

        let (one, two) = (labels_and_chips(&one_step), labels_and_chips(&two_steps));
        assert!(one.len() > 4, "{dir}: {:?}", one.keys());
        assert_eq!(
            one.keys().collect::<Vec<_>>(),
            two.keys().collect::<Vec<_>>(),
            "{dir}"
        );
        for (name, bytes) in &one {
            assert!(two[name] == *bytes, "{dir}: {name} differs");
        }
        assert_eq!(
            manifest_files(&one_step),
            manifest_files(&two_steps),
            "{dir}"
        );
    }
}

#[test]
fn auto_tells_the_format_and_the_json_summary_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let dataset = root().join("tests/fixtures/datumaro/voc_dataset/voc_dataset1");
    let out = tmp.path().join("out");
    let o = store_from(&dataset, "auto", &out, "yolo", &["--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        report["read_from"],
        serde_json::json!({"format": "voc", "detected": true})
    );
    assert_eq!(report["chips_stored"], 2);
    assert!(out.join("yolo/data.yaml").is_file());
    // The default is a labelstore project, which is also named.
    let project = root().join("examples/harbour");
    for extra in [&[][..], &["--from", "Project"][..]] {
        let out = tmp.path().join(format!("project{}", extra.len()));
        let o = labelstore()
            .arg("store")
            .arg(&project)
            .args(["--to", "local", "--path"])
            .arg(&out)
            .args(["--format", "json", "--json"])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let report: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(report.get("read_from"), None);
    }
}

#[test]
fn what_is_not_a_dataset_exits_2_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dataset = root().join("tests/fixtures/datumaro/coco_dataset/coco_instances");
    let project = root().join("examples/harbour");
    for (path, from, says) in [
        (
            &dataset,
            "png",
            "cannot store from \"png\"; --from reads: coco, voc, yolo, kitti, geojson, \
             shapefile, auto or project"
                .to_owned(),
        ),
        (
            &project,
            "auto",
            format!(
                "cannot tell the format of {}: it is a labelstore project (project.json), which \
                 `labelstore store` takes as it is; give --from (coco, voc, yolo, kitti, geojson, \
                 shapefile)",
                project.display()
            ),
        ),
    ] {
        let out = tmp.path().join("out");
        let o = store_from(path, from, &out, "voc", &[]);
        assert_eq!(o.status.code(), Some(2), "{from}: {}", stderr(&o));
        assert!(stderr(&o).contains(&says), "{from}: {}", stderr(&o));
        assert!(!out.exists(), "{from}");
    }
    // A project read as COCO: the COCO reader finds no annotation file.
    let out = tmp.path().join("out");
    let o = store_from(&project, "coco", &out, "voc", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!out.exists());
}
