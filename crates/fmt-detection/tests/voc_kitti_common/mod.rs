//! What the VOC and KITTI judge tests share: the Python venv holding
//! Datumaro (the outside judge), a small project written with a format's
//! own writer into a temporary store, and the script that prints what
//! Datumaro imported as JSON.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use labels_model::{
    Chip, ChipGeoref, Class, Geometry, GeorefSource, Label, LabelFormat, LabelingType,
    MemoryOutput, Project, Rgb,
};

/// The venv's python: `LABELSTORE_PYTHON`, else `<workspace>/target/py/bin/python`
/// (what `cargo xtask test` creates).
pub fn python() -> PathBuf {
    match std::env::var_os("LABELSTORE_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/py/bin/python"),
    }
}

const HELP: &str = "the Datumaro judge needs a Python venv with datumaro: run `cargo xtask test` \
                    (it creates target/py and sets LABELSTORE_PYTHON), or point LABELSTORE_PYTHON \
                    at a python where `pip install datumaro` was run";

/// Prints, as one JSON line after `JSON `, what Datumaro detects at a path
/// and imports from it with a format; then optionally exports the dataset
/// again with Datumaro's own exporter.
const SCRIPT: &str = r#"
import json, os, sys
import datumaro as dm
from datumaro.components.environment import Environment

fmt, path, import_kwargs, export_dir, export_fmt, export_kwargs = sys.argv[1:7]
detected = sorted(Environment().detect_dataset(path))
ds = dm.Dataset.import_from(path, fmt, **json.loads(import_kwargs))
cats = ds.categories()[dm.AnnotationType.label]
items = []
for item in sorted(ds, key=lambda i: (i.subset, i.id)):
    anns = []
    for a in item.annotations:
        if a.type != dm.AnnotationType.bbox:
            anns.append({"type": str(a.type)})
            continue
        anns.append({
            "label": cats[a.label].name,
            "box": [a.x, a.y, a.x + a.w, a.y + a.h],
            "attributes": {k: v for k, v in sorted(a.attributes.items())},
        })
    m = item.media
    items.append({
        "id": item.id,
        "subset": item.subset,
        "image": os.path.relpath(m.path, path).replace(os.sep, "/") if m is not None and m.path else None,
        "size": list(m.size) if m is not None and m.size else None,
        "annotations": anns,
    })
if export_dir:
    ds.export(export_dir, export_fmt, save_media=True, **json.loads(export_kwargs))
print("JSON " + json.dumps({"detected": detected, "labels": [c.name for c in cats], "items": items}))
"#;

/// Runs the judge script; fails the test with what to install when the
/// venv or Datumaro is missing.
pub fn datumaro(
    format: &str,
    path: &Path,
    import_kwargs: serde_json::Value,
    export: Option<(&Path, &str, serde_json::Value)>,
) -> serde_json::Value {
    let py = python();
    assert!(py.exists(), "{} does not exist: {HELP}", py.display());
    let (export_dir, export_fmt, export_kwargs) = match export {
        Some((d, f, k)) => (d.display().to_string(), f.to_owned(), k.to_string()),
        None => (String::new(), String::new(), "{}".to_owned()),
    };
    let out = Command::new(&py)
        .arg("-c")
        .arg(SCRIPT)
        .arg(format)
        .arg(path)
        .arg(import_kwargs.to_string())
        .arg(export_dir)
        .arg(export_fmt)
        .arg(export_kwargs)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}: {HELP}", py.display()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'datumaro'"),
        "datumaro is not installed in {}: {HELP}",
        py.display()
    );
    assert!(out.status.success(), "the Datumaro judge failed:\n{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("JSON "))
        .unwrap_or_else(|| panic!("no JSON from the judge:\n{stdout}\n{stderr}"));
    serde_json::from_str(line).unwrap()
}

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/detection-basic/chips")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn attrs(v: serde_json::Value) -> labels_model::Attributes {
    v.as_object().cloned().unwrap_or_default()
}

fn bbox(class_id: u32, b: [f64; 4], a: serde_json::Value) -> Label {
    Label {
        class_id,
        geometry: Geometry::BBox(b),
        attributes: attrs(a),
    }
}

/// The judges' project: three classes (ids 7, 2, 3; one with a space,
/// `&`, `<` and a non-ASCII letter; one unused), four stored chips as
/// the pipeline hands them over (`chips/<id>.<ext>`, sizes known): two
/// PNGs, a TIFF, and a chip saved empty. `extra_class` adds a class whose
/// name holds `:`.
pub fn project(extra_class: bool) -> (Project, Vec<(String, Vec<u8>)>) {
    let chip = |id: &str, ext: &str, w: u32, h: u32, labels: Vec<Label>| {
        let mut c = Chip::new(id, format!("chips/{id}.{ext}"));
        (c.width, c.height) = (Some(w), Some(h));
        c.saved_empty = labels.is_empty();
        c.labels = labels;
        c
    };
    let mut classes = vec![
        Class {
            id: 7,
            name: "vélo lourd & <co>".into(),
            color: Some(Rgb([0, 170, 0])),
        },
        Class {
            id: 2,
            name: "car".into(),
            color: None,
        },
        Class {
            id: 3,
            name: "unused".into(),
            color: Some(Rgb([1, 2, 3])),
        },
    ];
    let mut r1_c1 = vec![bbox(2, [0.5, 0.0, 15.0, 9.0], json!({}))];
    if extra_class {
        classes.push(Class {
            id: 9,
            name: "type:A".into(),
            color: None,
        });
        r1_c1.push(bbox(9, [1.0, 1.0, 3.0, 3.0], json!({})));
    }
    let chips = vec![
        chip(
            "r0_c1",
            "png",
            32,
            32,
            vec![
                bbox(2, [0.0, 0.0, 32.0, 32.0], json!({"truncated": true})),
                bbox(
                    7,
                    [1.5, 2.25, 10.0, 12.75],
                    json!({"difficult": true, "occluded": 2, "pose": "Left", "score": 0.5}),
                ),
                bbox(2, [20.0, 20.0, 30.5, 31.0], json!({})),
            ],
        ),
        chip(
            "r0_c2",
            "png",
            40,
            30,
            vec![bbox(
                7,
                [3.0, 4.0, 5.0, 6.0],
                json!({"occluded": true, "truncated": 0.25}),
            )],
        ),
        chip("r1_c1", "tif", 15, 9, r1_c1),
        chip("r1_c2", "png", 16, 16, Vec::new()),
    ];
    let files = vec![
        ("chips/r0_c1.png".to_owned(), fixture("a.png")),
        ("chips/r0_c2.png".to_owned(), fixture("b.png")),
        ("chips/r1_c1.tif".to_owned(), fixture("t.tif")),
        ("chips/r1_c2.png".to_owned(), fixture("e.png")),
    ];
    let project = Project {
        name: "judge".into(),
        labeling_type: LabelingType::ObjectDetection,
        srid: None,
        classes,
        chips,
        base_dir: PathBuf::new(),
        manifest_path: PathBuf::new(),
    };
    (project, files)
}

/// Stores `project` with `format`'s writer (chips first, as the pipeline
/// does) into a new temporary folder.
pub fn store(
    format: &dyn LabelFormat,
    project: &Project,
    files: &[(String, Vec<u8>)],
) -> tempfile::TempDir {
    let mut out = MemoryOutput::default();
    for (path, bytes) in files {
        out.0.insert(path.clone(), bytes.clone());
    }
    let none = ChipGeoref {
        source: GeorefSource::None,
        transform: None,
        epsg: None,
    };
    let mut w = format.writer(&Project {
        chips: Vec::new(),
        ..project.clone()
    });
    for c in &project.chips {
        w.write_chip(c, &none, &mut out).unwrap();
    }
    w.finish(&mut out).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (path, bytes) in &out.0 {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    dir
}

/// Every file under `dir`, relative and `/`-separated, sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}
