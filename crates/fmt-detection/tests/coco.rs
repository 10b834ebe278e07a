//! COCO judged by the real readers: pycocotools loads the file with the
//! right counts and boxes, and Datumaro detects and imports the folder with
//! the right items, boxes, attributes and class names.
//!
//! The judges live in a Python virtual environment (`target/py`, made by
//! `cargo xtask test`, or `LABELSTORE_PYTHON`); without it the test fails,
//! saying what to install.

use std::path::{Path, PathBuf};
use std::process::Command;

use fmt_detection::CocoFormat;
use labels_model::{
    Chip, ChipGeoref, Class, Geometry, GeorefSource, Label, LabelFormat, LabelingType,
    MemoryOutput, Output, Project,
};
use serde_json::{Value, json};

/// The Python interpreter with the judges installed, or a failure saying
/// how to get one.
fn python() -> PathBuf {
    let python = std::env::var_os("LABELSTORE_PYTHON").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/py/bin/python"),
        PathBuf::from,
    );
    let ok = Command::new(&python)
        .args(["-c", "import pycocotools, datumaro"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "the outside judges are missing: {} cannot import pycocotools and datumaro; \
         run `cargo xtask test` (it makes the venv target/py), or \
         `python3 -m venv target/py && target/py/bin/pip install pycocotools datumaro`, \
         or set LABELSTORE_PYTHON to an interpreter that has them",
        python.display()
    );
    python
}

/// Runs `script` with `args`; its standard output is one JSON value.
fn judge(script: &str, args: &[&Path]) -> Value {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("running the judge");
    assert!(
        out.status.success(),
        "judge failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("judge output {text:?}: {e}"))
}

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/detection-basic/chips")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn label(class_id: u32, b: [f64; 4], attrs: Value) -> Label {
    Label {
        class_id,
        geometry: Geometry::BBox(b),
        attributes: attrs.as_object().cloned().unwrap_or_default(),
    }
}

/// A project with non-contiguous class ids, a non-ASCII class name with a
/// space, attributes, a chip saved empty and a BMP chip; and its chips'
/// stored bytes.
fn project() -> (Project, Vec<(&'static str, Vec<u8>)>) {
    let class = |id, name: &str| Class {
        id,
        name: name.into(),
        color: None,
    };
    let chip = |id: &str, image: &str, w, h, labels| {
        let mut c = Chip::new(id, image);
        (c.width, c.height) = (Some(w), Some(h));
        c.labels = labels;
        c.saved_empty = c.labels.is_empty();
        c
    };
    let chips = vec![
        chip(
            "a",
            "chips/a.png",
            32,
            32,
            vec![
                label(
                    1,
                    [1.5, 2.25, 10.0, 12.125],
                    json!({"truncated": true, "pose": "Left", "score": 0.875}),
                ),
                label(2, [20.0, 20.0, 32.0, 31.0], json!({"iscrowd": 1})),
                label(7, [0.0, 0.0, 32.0, 32.0], Value::Null),
            ],
        ),
        chip(
            "b",
            "chips/b.png",
            40,
            30,
            vec![label(2, [0.0, 5.0, 8.0, 9.0], json!({"difficult": true}))],
        ),
        chip("e", "chips/e.png", 16, 16, vec![]),
        chip(
            "g",
            "chips/g.bmp",
            20,
            10,
            vec![label(7, [0.5, 0.5, 19.5, 9.5], Value::Null)],
        ),
    ];
    let project = Project {
        name: "detection judged".into(),
        labeling_type: LabelingType::ObjectDetection,
        srid: None,
        classes: vec![class(1, "car"), class(2, "truck"), class(7, "vélo lourd")],
        chips,
        base_dir: PathBuf::new(),
        manifest_path: PathBuf::new(),
    };
    let bytes = vec![
        ("chips/a.png", fixture("a.png")),
        ("chips/b.png", fixture("b.png")),
        ("chips/e.png", fixture("e.png")),
        ("chips/g.bmp", fixture("g.bmp")),
    ];
    (project, bytes)
}

/// Stores `project` in COCO into a new folder, as the pipeline would.
fn store(project: &Project, chips: &[(&str, Vec<u8>)]) -> tempfile::TempDir {
    let mut out = MemoryOutput::default();
    for (path, bytes) in chips {
        out.put(path, bytes.clone()).unwrap();
    }
    let header = Project {
        chips: Vec::new(),
        ..project.clone()
    };
    let none = ChipGeoref {
        source: GeorefSource::None,
        transform: None,
        epsg: None,
    };
    let mut w = CocoFormat::default().writer(&header);
    for c in &project.chips {
        w.write_chip(c, &none, &mut out).unwrap();
    }
    w.finish(&mut out).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (path, bytes) in out.0 {
        let f = dir.path().join(path);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, bytes).unwrap();
    }
    dir
}

const PYCOCOTOOLS: &str = r#"
import json, sys
from pycocotools.coco import COCO
c = COCO(sys.argv[1])
images = c.loadImgs(c.getImgIds())
print(json.dumps({
    "counts": [len(c.getImgIds()), len(c.getAnnIds()), len(c.getCatIds())],
    "categories": [[k["id"], k["name"]] for k in c.loadCats(c.getCatIds())],
    "images": {i["file_name"]: [i["width"], i["height"],
        [[a["category_id"], a["bbox"], a["area"], a["iscrowd"], int(c.annToMask(a).sum())]
         for a in c.loadAnns(c.getAnnIds(imgIds=[i["id"]]))]] for i in images},
    "info": [c.dataset["info"].get("year"), c.dataset["info"]["description"]],
    "unique_ann_ids": len(set(a["id"] for a in c.dataset["annotations"])),
}))
"#;

const DATUMARO: &str = r#"
import json, os, sys, logging
logging.disable(logging.WARNING)
from datumaro.components.annotation import AnnotationType
from datumaro.components.dataset import Dataset
from datumaro.components.environment import Environment
root = sys.argv[1]
detected = Environment().detect_dataset(root)
ds = Dataset.import_from(root, detected[0])
labels = ds.categories()[AnnotationType.label]
items = {}
for item in ds:
    items[item.id] = {
        "subset": item.subset,
        "image": os.path.relpath(item.media.path, root),
        "exists": os.path.isfile(item.media.path),
        "size": list(item.media.size),
        # Datumaro keeps coordinates as float32 rounded to 2 decimals.
        "boxes": sorted([labels[a.label].name, [round(v, 4) for v in a.get_bbox()], a.attributes]
                        for a in item.annotations if a.type == AnnotationType.bbox),
    }
print(json.dumps({"detected": detected, "labels": [l.name for l in labels], "items": items}))
"#;

#[test]
fn pycocotools_loads_the_file() {
    let (project, chips) = project();
    let dir = store(&project, &chips);
    let file = dir.path().join("coco/annotations/instances_train.json");
    let got = judge(PYCOCOTOOLS, &[&file]);
    // The last of each annotation: the pixels of pycocotools' `annToMask`,
    // which raised on the `[]` segmentation written before (issue 14 item 2).
    let want = json!({
        "counts": [4, 5, 3],
        "categories": [[1, "car"], [2, "truck"], [7, "vélo lourd"]],
        "images": {
            "a.png": [32, 32, [
                [1, [1.5, 2.25, 8.5, 9.875], 83.9375, 0, 80],
                [2, [20.0, 20.0, 12.0, 11.0], 132.0, 1, 132],
                [7, [0.0, 0.0, 32.0, 32.0], 1024.0, 0, 1024]]],
            "b.png": [40, 30, [[2, [0.0, 5.0, 8.0, 4.0], 32.0, 0, 32]]],
            "e.png": [16, 16, []],
            "g.bmp": [20, 10, [[7, [0.5, 0.5, 19.0, 9.0], 171.0, 0, 171]]],
        },
        // No date: the library never reads the clock (issue 14 item 7).
        "info": [null, "detection judged"],
        "unique_ann_ids": 5,
    });
    assert_eq!(got, want);
}

#[test]
fn datumaro_detects_and_imports_the_folder() {
    let (project, chips) = project();
    let dir = store(&project, &chips);
    let coco = dir.path().join("coco");
    let got = judge(DATUMARO, &[&coco]);
    let item = |image: &str, w: u32, h: u32, boxes: Value| json!({"subset": "train", "image": image, "exists": true, "size": [h, w], "boxes": boxes});
    let want = json!({
        "detected": ["coco_instances"],
        "labels": ["car", "truck", "vélo lourd"],
        "items": {
            // Datumaro rounds coordinates to 2 decimals: 2.25 + 9.875 = 12.125
            // becomes 12.12, so the height reads 9.87.
            "a": item("images/train/a.png", 32, 32, json!([
                ["car", [1.5, 2.25, 8.5, 9.87],
                 {"pose": "Left", "score": 0.875, "truncated": true, "is_crowd": false}],
                ["truck", [20.0, 20.0, 12.0, 11.0], {"is_crowd": true}],
                ["vélo lourd", [0.0, 0.0, 32.0, 32.0], {"is_crowd": false}]])),
            "b": item("images/train/b.png", 40, 30, json!([
                ["truck", [0.0, 5.0, 8.0, 4.0], {"difficult": true, "is_crowd": false}]])),
            "e": item("images/train/e.png", 16, 16, json!([])),
            "g": item("images/train/g.bmp", 20, 10, json!([
                ["vélo lourd", [0.5, 0.5, 19.0, 9.0], {"is_crowd": false}]])),
        },
    });
    assert_eq!(got, want);
}

#[test]
fn reads_back_what_it_wrote() {
    let (project, chips) = project();
    let dir = store(&project, &chips);
    let back = CocoFormat::default().read(dir.path()).unwrap();
    assert_eq!(back.classes, project.classes);
    assert_eq!(back.chips.len(), 4);
    for (g, w) in back.chips.iter().zip(&project.chips) {
        assert_eq!(g.id, w.id);
        assert!(back.base_dir.join(&g.image).is_file());
        assert_eq!((g.width, g.height), (w.width, w.height));
        assert_eq!(g.labels, w.labels, "chip {}", w.id);
    }
}
