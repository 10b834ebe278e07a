//! `labelstore import` without `--from` (`--from auto`): the format told
//! from the dataset's layout, for Datumaro's own test datasets and for
//! every folder a labelstore store writes; an ambiguous or unrecognized
//! folder refused (exit status 2, both formats named, nothing written);
//! format aliases and "did you mean" on `import --from` and `store --format`.

use std::path::Path;

use serde_json::Value;

use crate::util::{chip_splits, labelstore, root, stderr, stdout, store_local};

/// `labelstore import PATH --output OUT` plus `extra`.
fn import(path: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    labelstore()
        .arg("import")
        .arg(path)
        .arg("--output")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

/// Chip ids and splits, as written in a test.
type Chips<'a> = &'a [(&'a str, &'a str)];

fn pairs(v: Chips<'_>) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[test]
fn datumaro_datasets_are_detected_and_read_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let data = root().join("tests/fixtures/datumaro");
    let cases: [(&str, &str, Chips<'_>); 4] = [
        (
            "coco_dataset/coco_instances",
            "coco",
            &[("a", "train"), ("b", "val")],
        ),
        (
            "coco_dataset/coco_instances/annotations/instances_val.json",
            "coco",
            &[("b", "val")],
        ),
        (
            "voc_dataset/voc_dataset1",
            "voc",
            &[("2007_000001", "train"), ("2007_000002", "test")],
        ),
        (
            "yolo_dataset/labels",
            "yolo",
            &[("1", "train"), ("1-2", "val")],
        ),
    ];
    for (i, (dir, format, expected)) in cases.into_iter().enumerate() {
        let out = tmp.path().join(format!("out{i}"));
        let o = import(&data.join(dir), &out, &[]);
        assert_eq!(o.status.code(), Some(0), "{dir}: {}", stderr(&o));
        assert_eq!(
            stdout(&o).lines().next(),
            Some(format!("read as {format} (detected from its layout)").as_str()),
            "{dir}"
        );
        assert_eq!(chip_splits(&out), pairs(expected), "{dir}");
    }
    // The JSON summary says it too.
    let out = tmp.path().join("json");
    let o = import(&data.join("voc_dataset"), &out, &["--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        report["imported_from"],
        serde_json::json!({"format": "voc", "detected": true})
    );
    // Named, it is not detected.
    let out = tmp.path().join("named");
    let o = import(
        &data.join("voc_dataset"),
        &out,
        &["--from", "VOC", "--json"],
    );
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        report["imported_from"],
        serde_json::json!({"format": "voc", "detected": false})
    );
}

#[test]
fn every_store_labelstore_writes_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let project = root().join("tests/fixtures/splits-detection");
    for format in ["coco", "voc", "yolo", "kitti", "geojson", "shapefile"] {
        let store = tmp.path().join(format!("store-{format}"));
        let o = store_local(&project, &store, format);
        assert_eq!(o.status.code(), Some(0), "{format}: {}", stderr(&o));
        // The store's root, and the format's own folder in it.
        for (i, path) in [store.clone(), store.join(format)].iter().enumerate() {
            let out = tmp.path().join(format!("{format}-{i}"));
            let o = import(path, &out, &[]);
            assert_eq!(o.status.code(), Some(0), "{format}: {}", stderr(&o));
            assert_eq!(
                stdout(&o).lines().next(),
                Some(format!("read as {format} (detected from its layout)").as_str())
            );
            let named = tmp.path().join(format!("{format}-{i}-named"));
            let o = import(path, &named, &["--from", format]);
            assert_eq!(o.status.code(), Some(0), "{format}: {}", stderr(&o));
            assert_eq!(chip_splits(&out), chip_splits(&named), "{format}");
        }
    }
    // One layer file of a GeoJSON or Shapefile store, one split of KITTI's.
    for (path, format) in [
        ("store-geojson/geojson/labels_pixels.geojson", "geojson"),
        ("store-shapefile/shapefile/labels.shp", "shapefile"),
        ("store-kitti/kitti/train", "kitti"),
        ("store-coco/coco/annotations/instances_val.json", "coco"),
        ("store-yolo/yolo/data.yaml", "yolo"),
    ] {
        let out = tmp.path().join(format!("file-{format}"));
        let o = import(&tmp.path().join(path), &out, &[]);
        assert_eq!(o.status.code(), Some(0), "{path}: {}", stderr(&o));
        assert_eq!(
            stdout(&o).lines().next(),
            Some(format!("read as {format} (detected from its layout)").as_str())
        );
    }
}

#[test]
fn ambiguous_or_unknown_layouts_exit_2_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let both = tmp.path().join("both");
    let project = root().join("tests/fixtures/splits-detection");
    let o = store_local(&project, &both, "voc,yolo,json");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join("notes.txt"), "hello\n").unwrap();
    let give = "give --from (coco, voc, yolo, kitti, geojson, shapefile)";
    let cases = [
        (
            both.clone(),
            format!(
                "{} looks like both voc and yolo; give --from voc or --from yolo",
                both.display()
            ),
        ),
        (
            empty.clone(),
            format!(
                "cannot tell the format of {}: no layout of an import format found; {give}",
                empty.display()
            ),
        ),
        (
            project.clone(),
            format!(
                "cannot tell the format of {}: it is a labelstore project (project.json), \
                 which `labelstore store` takes as it is; {give}",
                project.display()
            ),
        ),
        (
            tmp.path().join("missing"),
            format!(
                "cannot tell the format of {}: no such file or folder",
                tmp.path().join("missing").display()
            ),
        ),
    ];
    let out = tmp.path().join("out");
    for (path, message) in cases {
        let o = import(&path, &out, &["--from", "Auto"]);
        assert_eq!(o.status.code(), Some(2), "{}", path.display());
        assert_eq!(stderr(&o), format!("labelstore: error: {message}\n"));
        assert!(stdout(&o).is_empty());
        assert!(!out.exists(), "{}", path.display());
    }
}

#[test]
fn aliases_and_did_you_mean() {
    let tmp = tempfile::tempdir().unwrap();
    let voc = root().join("tests/fixtures/datumaro/voc_dataset");
    let out = tmp.path().join("out");
    let o = import(&voc, &out, &["--from", "Pascal_VOC"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().next(), Some("read as voc"));

    for (from, message) in [
        ("yolo8", "unknown format \"yolo8\"; did you mean yolo?"),
        (
            "pascal voc",
            "unknown format \"pascal voc\"; did you mean voc?",
        ),
        (
            "png",
            "cannot import from \"png\"; import reads: coco, voc, yolo, kitti, geojson, shapefile",
        ),
    ] {
        let out = tmp.path().join("refused");
        let o = import(&voc, &out, &["--from", from]);
        assert_eq!(o.status.code(), Some(2), "{from}");
        assert_eq!(stderr(&o), format!("labelstore: error: {message}\n"));
        assert!(!out.exists());
    }

    // `store --format` takes the same names.
    let project = root().join("tests/fixtures/splits-detection");
    let store = tmp.path().join("store");
    let o = store_local(&project, &store, "Ultralytics,ms-coco");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(store.join("yolo/data.yaml").is_file());
    assert!(store.join("coco/annotations").is_dir());
    let o = store_local(&project, &tmp.path().join("typo"), "geojsn");
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "labelstore: error: unknown format \"geojsn\"; did you mean geojson?\n"
    );
    assert!(!tmp.path().join("typo").exists());
}
