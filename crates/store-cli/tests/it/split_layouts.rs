//! Splits (issue 17 item 1) in COCO, YOLO and Pascal VOC, judged from
//! outside: Datumaro imports every split of each format written (subset
//! names and sizes); Ultralytics' `check_det_dataset` and
//! `img2label_paths` rules hold on `data.yaml` (replayed in Python:
//! Ultralytics needs torch, too heavy here), and no split key names
//! another split's images; Datumaro's own test datasets with several
//! subsets (`tests/fixtures/datumaro`) keep them through
//! `labelstore import`, as Datumaro itself reads them.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::fetch_verify::python;
use crate::util::{labelstore, root, stderr};

/// Datumaro's subsets of the dataset `argv[2]` in format `argv[1]`, as
/// `{subset: size}`.
const SUBSETS: &str = r#"
import json, sys, logging
logging.disable(logging.WARNING)
from datumaro.components.dataset import Dataset
ds = Dataset.import_from(sys.argv[2], sys.argv[1])
print(json.dumps({name: len(s) for name, s in ds.subsets().items()}))
"#;

/// Ultralytics' data.yaml rules on `argv[1]`: `train` and `val` keys
/// required, paths relative to the YAML's folder (no `path:`), each
/// existing; the images of each split key, each with its label file where
/// `img2label_paths` looks.
const ULTRALYTICS: &str = r#"
import glob, json, os, sys, yaml
root = sys.argv[1]
IMG_FORMATS = {"bmp", "dng", "jpeg", "jpg", "mpo", "png", "tif", "tiff", "webp", "pfm", "heic"}
data = yaml.safe_load(open(os.path.join(root, "data.yaml"), encoding="utf-8"))
for k in ("train", "val"):
    assert k in data, f"'{k}:' key missing: 'train' and 'val' are required in all data YAMLs"
assert "names" in data or "nc" in data
path = data.get("path") or root
out = {}
for k in ("train", "val", "test"):
    if not data.get(k):
        continue
    d = os.path.realpath(os.path.join(path, data[k]))
    assert os.path.exists(d), d
    files = sorted(f for f in glob.glob(os.path.join(d, "**", "*.*"), recursive=True)
                   if f.rsplit(".", 1)[-1].lower() in IMG_FORMATS)
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    for f in files:
        label = sb.join(f.rsplit(sa, 1)).rsplit(".", 1)[0] + ".txt"
        assert os.path.isfile(label), label
    out[k] = {"dir": os.path.relpath(d, root), "images": len(files)}
print(json.dumps(out))
"#;

fn judge(script: &str, args: &[&Path]) -> Value {
    let args: Vec<&str> = args.iter().map(|p| p.to_str().unwrap()).collect();
    let text = python(script, &args);
    serde_json::from_str(text.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("judge output {text:?}: {e}"))
}

fn datumaro(format: &str, path: &Path) -> Value {
    let args: Vec<&str> = vec![format, path.to_str().unwrap()];
    let text = python(SUBSETS, &args);
    serde_json::from_str(text.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("judge output {text:?}: {e}"))
}

/// `labelstore import --from format path`; the chips' splits as
/// `{split: size}` (absent counted as `train`).
fn import_splits(format: &str, path: &Path, out: &Path) -> Value {
    let o = labelstore()
        .args(["import", "--from", format])
        .arg(path)
        .arg("--output")
        .arg(out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let project: Value =
        serde_json::from_slice(&std::fs::read(out.join("project.json")).unwrap()).unwrap();
    let mut splits: BTreeMap<String, u64> = BTreeMap::new();
    for c in project["chips"].as_array().unwrap() {
        *splits
            .entry(c["split"].as_str().unwrap_or("train").to_owned())
            .or_default() += 1;
    }
    json!(splits)
}

#[test]
fn every_split_is_where_datumaro_and_ultralytics_look() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let o = labelstore()
        .arg("store")
        .arg(root().join("tests/fixtures/splits-detection"))
        .args(["--to", "local", "--path"])
        .arg(&store)
        .args(["--format", "coco,yolo,voc,json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let want = json!({"train": 2, "val": 2, "test": 1, "holdout": 1});
    for (format, folder) in [
        ("coco_instances", "coco"),
        ("yolo", "yolo"),
        ("voc_detection", "voc"),
    ] {
        assert_eq!(datumaro(format, &store.join(folder)), want, "{format}");
    }
    // Ultralytics: each split its own folder, no key naming another's.
    assert_eq!(
        judge(ULTRALYTICS, &[&store.join("yolo")]),
        json!({
            "train": {"dir": "images/train", "images": 2},
            "val": {"dir": "images/val", "images": 2},
            "test": {"dir": "images/test", "images": 1},
        })
    );
    // Our readers keep them too, through `labelstore import`.
    for format in ["coco", "yolo", "voc"] {
        assert_eq!(
            import_splits(format, &store.join(format), &tmp.path().join(format)),
            want,
            "{format}"
        );
    }
}

#[test]
fn a_project_without_splits_still_gives_ultralytics_a_val_key() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let o = labelstore()
        .arg("store")
        .arg(root().join("tests/fixtures/detection-basic"))
        .args(["--to", "local", "--path"])
        .arg(&store)
        .args(["--format", "yolo"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Ultralytics requires `val`: with no val split it names the training
    // images (the one place a key names another split's images).
    assert_eq!(
        judge(ULTRALYTICS, &[&store.join("yolo")]),
        json!({
            "train": {"dir": "images/train", "images": 6},
            "val": {"dir": "images/train", "images": 6},
        })
    );
    assert_eq!(datumaro("yolo", &store.join("yolo")), json!({"train": 6}));
}

#[test]
fn datumaro_test_datasets_import_with_their_subsets() {
    let tmp = tempfile::tempdir().unwrap();
    let assets = root().join("tests/fixtures/datumaro");
    for (ours, theirs, dataset) in [
        ("coco", "coco_instances", "coco_dataset/coco_instances"),
        ("yolo", "yolo", "yolo_dataset/labels"),
        ("voc", "voc_detection", "voc_dataset/voc_dataset1"),
    ] {
        let path = assets.join(dataset);
        let want = datumaro(theirs, &path);
        assert!(want.as_object().unwrap().len() > 1, "{dataset}: {want}");
        assert_eq!(
            import_splits(ours, &path, &tmp.path().join(ours)),
            want,
            "{dataset}"
        );
    }
}
