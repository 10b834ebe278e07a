//! YOLO judged by the real readers: Datumaro's `yolo` importer detects and
//! imports the folder as written (its Darknet reader, chosen because of
//! `obj.data`), and, given only the parts each of its other readers looks
//! at, the `obj.names` + `labels/` reader and the Ultralytics `data.yaml`
//! reader. Ultralytics itself needs torch, too heavy to install here: its
//! `check_det_dataset` / `img2label_paths` / `verify_image_label` rules are
//! replayed in Python on the folder, with PyYAML reading `data.yaml`.
//!
//! The judges live in a Python virtual environment (`target/py`, made by
//! `cargo xtask test`, or `LABELSTORE_PYTHON`); without it the test fails,
//! saying what to install.

use std::path::{Path, PathBuf};
use std::process::Command;

use fmt_detection::YoloFormat;
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
        .args(["-c", "import datumaro, yaml"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "the outside judges are missing: {} cannot import datumaro and yaml; \
         run `cargo xtask test` (it makes the venv target/py), or \
         `python3 -m venv target/py && target/py/bin/pip install pycocotools datumaro`, \
         or set LABELSTORE_PYTHON to an interpreter that has them",
        python.display()
    );
    python
}

/// Runs `script` with `args`; its standard output ends with one JSON line.
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

/// A project with non-contiguous class ids listed out of order, a non-ASCII
/// class name with a space, a chip saved empty and a BMP chip; and its
/// chips' stored bytes.
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
                label(1, [1.5, 2.25, 10.0, 12.125], json!({"truncated": true})),
                label(2, [20.0, 20.0, 32.0, 31.0], Value::Null),
                label(7, [0.0, 0.0, 32.0, 32.0], Value::Null),
            ],
        ),
        chip(
            "b",
            "chips/b.png",
            40,
            30,
            vec![label(2, [0.0, 5.0, 8.0, 9.0], Value::Null)],
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
        classes: vec![class(7, "vélo lourd"), class(1, "car"), class(2, "truck")],
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

/// Writes `project` in YOLO, as the pipeline would, over a store holding
/// `chips`; gives the files and the writer's notes.
fn write(
    project: &Project,
    chips: &[(&str, Vec<u8>)],
) -> (MemoryOutput, Vec<(&'static str, usize)>) {
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
    let mut w = YoloFormat.writer(&header);
    for c in &project.chips {
        w.write_chip(c, &none, &mut out).unwrap();
    }
    w.finish(&mut out).unwrap();
    (out, w.notes())
}

/// The files of `out` in a new folder.
fn to_dir(out: &MemoryOutput) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, bytes) in &out.0 {
        let f = dir.path().join(path);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, bytes).unwrap();
    }
    dir
}

/// Stores `project` in YOLO into a new folder, as the pipeline would.
fn store(project: &Project, chips: &[(&str, Vec<u8>)]) -> tempfile::TempDir {
    to_dir(&write(project, chips).0)
}

/// Datumaro on three copies of the folder: as written; without the
/// Darknet files (its `obj.names` + `labels/` reader); with `data.yaml`,
/// `images/` and `labels/` only (its Ultralytics reader).
const DATUMARO: &str = r#"
import json, os, shutil, sys, tempfile, logging
logging.disable(logging.WARNING)
from datumaro.components.annotation import AnnotationType
from datumaro.components.dataset import Dataset
from datumaro.components.environment import Environment

def load(root):
    detected = Environment().detect_dataset(root)
    ds = Dataset.import_from(root, "yolo")
    labels = ds.categories()[AnnotationType.label]
    items = {}
    for item in ds:
        items[item.id] = {
            "subset": item.subset,
            "image": os.path.relpath(item.media.path, root),
            "size": list(item.media.size),
            # Datumaro keeps coordinates as float32 rounded to 2 decimals.
            "boxes": sorted([labels[a.label].name, [round(v, 2) for v in a.get_bbox()]]
                            for a in item.annotations if a.type == AnnotationType.bbox),
        }
    return {"detected": detected, "labels": [l.name for l in labels], "items": items}

def without(root, names):
    copy = os.path.join(tempfile.mkdtemp(), "yolo")
    shutil.copytree(root, copy)
    for n in names:
        os.remove(os.path.join(copy, n))
    return copy

root = sys.argv[1]
print(json.dumps({
    "as_written": load(root),
    "obj_names": load(without(root, ["obj.data", "train.txt", "data.yaml"])),
    "data_yaml": load(without(root, ["obj.data", "train.txt", "obj.names"])),
}))
"#;

/// Ultralytics' and Darknet's loading rules, replayed on the folder.
const LOADERS: &str = r#"
import glob, json, os, sys, yaml
root = sys.argv[1]
IMG_FORMATS = {"bmp", "dng", "jpeg", "jpg", "mpo", "png", "tif", "tiff", "webp", "pfm", "heic"}

def rows(label_file, nc):
    rows = [[float(x) for x in l.split()] for l in open(label_file, encoding="utf-8").read().strip().splitlines()]
    # verify_image_label: 5 columns, normalized, class < nc, else the image is dropped.
    ok = all(len(r) == 5 and r[0] == int(r[0]) and 0 <= r[0] < nc and all(0 <= v <= 1 for v in r[1:]) for r in rows)
    return {"ok": ok, "rows": rows}

# Ultralytics check_det_dataset: names, nc, and the dataset root (no `path:`: the YAML's folder).
yaml_file = os.path.join(root, "data.yaml")
data = yaml.safe_load(open(yaml_file, encoding="utf-8"))
names = data["names"]
assert isinstance(names, dict) and list(names) == list(range(len(names))), names
path = data.get("path") or os.path.dirname(yaml_file)
ultralytics = {"nc": data["nc"], "names": [names[i] for i in range(len(names))], "splits": {}}
sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
for k in ("train", "val"):
    d = os.path.join(path, data[k])
    files = sorted(f for f in glob.glob(os.path.join(d, "**", "*.*"), recursive=True)
                   if f.rsplit(".", 1)[-1].lower() in IMG_FORMATS)
    # img2label_paths: the last /images/ becomes /labels/, the extension .txt.
    ultralytics["splits"][k] = {os.path.relpath(f, root): rows(sb.join(f.rsplit(sa, 1)).rsplit(".", 1)[0] + ".txt", len(names)) for f in files}

# Darknet: obj.data's key = value lines, the names file, the train list, labels beside images.
cfg = dict(l.split("=", 1) for l in open(os.path.join(root, "obj.data")).read().splitlines() if "=" in l)
cfg = {k.strip(): v.strip() for k, v in cfg.items()}
dn_names = [l.strip() for l in open(os.path.join(root, cfg["names"]), encoding="utf-8") if l.strip()]
listed = [l.strip() for l in open(os.path.join(root, cfg["train"])) if l.strip()]
darknet = {"classes": int(cfg["classes"]), "names": dn_names,
           "train": {p: rows(os.path.join(root, p.rsplit(".", 1)[0] + ".txt"), len(dn_names)) for p in listed}}
print(json.dumps({"ultralytics": ultralytics, "darknet": darknet}))
"#;

fn item(image: &str, w: u32, h: u32, boxes: Value) -> Value {
    json!({"subset": "train", "image": image, "size": [h, w], "boxes": boxes})
}

/// What every Datumaro reader must find (ids aside).
fn items(prefix: &str) -> Value {
    json!({
        format!("{prefix}a"): item("images/train/a.png", 32, 32, json!([
            // 12.125 is 12.12 after Datumaro's rounding, so the height reads 9.87.
            ["car", [1.5, 2.25, 8.5, 9.87]],
            ["truck", [20.0, 20.0, 12.0, 11.0]],
            ["vélo lourd", [0.0, 0.0, 32.0, 32.0]]])),
        format!("{prefix}b"): item("images/train/b.png", 40, 30, json!([
            ["truck", [0.0, 5.0, 8.0, 4.0]]])),
        format!("{prefix}e"): item("images/train/e.png", 16, 16, json!([])),
        format!("{prefix}g"): item("images/train/g.bmp", 20, 10, json!([
            ["vélo lourd", [0.5, 0.5, 19.0, 9.0]]])),
    })
}

#[test]
fn datumaro_detects_and_imports_the_folder() {
    let (project, chips) = project();
    let dir = store(&project, &chips);
    let got = judge(DATUMARO, &[&dir.path().join("yolo")]);
    let labels = json!(["car", "truck", "vélo lourd"]);
    let want = json!({
        // Darknet's reader names items after their path below its first folder.
        "as_written": {"detected": ["yolo"], "labels": labels, "items": items("train/")},
        "obj_names": {"detected": ["yolo"], "labels": labels, "items": items("")},
        "data_yaml": {"detected": ["yolo"], "labels": labels, "items": items("")},
    });
    assert_eq!(got["as_written"], want["as_written"]);
    assert_eq!(got["obj_names"], want["obj_names"]);
    assert_eq!(got["data_yaml"], want["data_yaml"]);
}

#[test]
fn ultralytics_and_darknet_rules_hold() {
    let (project, chips) = project();
    let dir = store(&project, &chips);
    let got = judge(LOADERS, &[&dir.path().join("yolo")]);
    let ok = |rows: Value| json!({"ok": true, "rows": rows});
    let a = ok(json!([
        [0.0, 0.179688, 0.224609, 0.265625, 0.308594],
        [1.0, 0.8125, 0.796875, 0.375, 0.34375],
        [2.0, 0.5, 0.5, 1.0, 1.0]
    ]));
    let b = ok(json!([[1.0, 0.1, 0.233333, 0.2, 0.133333]]));
    let e = ok(json!([]));
    let g = ok(json!([[2.0, 0.5, 0.5, 0.95, 0.9]]));
    let split = json!({
        "images/train/a.png": a, "images/train/b.png": b,
        "images/train/e.png": e, "images/train/g.bmp": g,
    });
    let names = json!(["car", "truck", "vélo lourd"]);
    assert_eq!(
        got["ultralytics"],
        json!({"nc": 3, "names": names, "splits": {"train": split, "val": split}})
    );
    assert_eq!(
        got["darknet"],
        json!({"classes": 3, "names": names, "train": split})
    );
}

#[test]
fn reads_back_what_it_wrote() {
    let (project, chips) = project();
    let dir = store(&project, &chips);
    let back = YoloFormat.read(dir.path()).unwrap();
    let names: Vec<_> = back
        .classes
        .iter()
        .map(|c| (c.id, c.name.as_str()))
        .collect();
    assert_eq!(names, [(1, "car"), (2, "truck"), (3, "vélo lourd")]);
    let new_id = |old: u32| match old {
        1 => 1,
        2 => 2,
        _ => 3,
    };
    assert_eq!(back.chips.len(), 4);
    for (g, w) in back.chips.iter().zip(&project.chips) {
        assert_eq!(g.id, w.id);
        assert!(back.base_dir.join(&g.image).is_file());
        assert_eq!((g.width, g.height), (w.width, w.height));
        assert_eq!(g.saved_empty, w.labels.is_empty());
        assert_eq!(g.labels.len(), w.labels.len());
        for (gl, wl) in g.labels.iter().zip(&w.labels) {
            assert_eq!(gl.class_id, new_id(wl.class_id));
            assert!(gl.attributes.is_empty());
            let (Geometry::BBox(a), Geometry::BBox(b)) = (&gl.geometry, &wl.geometry) else {
                panic!("not a box");
            };
            assert!(
                a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4),
                "{a:?} != {b:?}"
            );
        }
    }
}

/// A 4×3 GIF with a 4-colour palette, index 2 transparent.
fn gif_chip() -> Vec<u8> {
    let palette = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30];
    let mut bytes = Vec::new();
    {
        let mut enc = gif::Encoder::new(&mut bytes, 4, 3, &palette).unwrap();
        let mut frame = gif::Frame::from_indexed_pixels(
            4,
            3,
            vec![0, 1, 2, 3, 3, 2, 1, 0, 1, 1, 2, 2],
            Some(2),
        );
        frame.palette = None;
        enc.write_frame(&frame).unwrap();
    }
    bytes
}

/// Pillow's RGBA pixels of each file given, and Datumaro's YOLO import.
const GIF_JUDGE: &str = r#"
import json, os, sys, logging
logging.disable(logging.WARNING)
from PIL import Image
from datumaro.components.annotation import AnnotationType
from datumaro.components.dataset import Dataset
root, gif, png = sys.argv[1:4]
rgba = lambda p: [list(px) for px in Image.open(p).convert("RGBA").getdata()]
ds = Dataset.import_from(root, "yolo")
labels = ds.categories()[AnnotationType.label]
items = {i.id: {"image": os.path.relpath(i.media.path, root),
                "boxes": [[labels[a.label].name, [round(v, 2) + 0.0 for v in a.get_bbox()]] for a in i.annotations]}
         for i in ds}
print(json.dumps({"gif": rgba(gif), "png": rgba(png), "png_mode": Image.open(png).mode, "items": items}))
"#;

#[test]
fn a_gif_chip_is_placed_as_a_png_of_the_same_pixels() {
    let (mut p, _) = project();
    let mut c = Chip::new("p", "chips/p.gif");
    (c.width, c.height) = (Some(4), Some(3));
    c.labels = vec![label(1, [1.0, 0.0, 3.0, 2.0], Value::Null)];
    p.chips = vec![c];
    let gif = gif_chip();
    let (out, notes) = write(&p, &[("chips/p.gif", gif)]);
    assert_eq!(
        notes,
        [
            ("chips converted to PNG", 1),
            ("labels left out: zero width or height", 0)
        ]
    );
    assert!(!out.0.contains_key("yolo/images/train/p.gif"));
    assert_eq!(
        String::from_utf8_lossy(&out.0["yolo/train.txt"]),
        "images/train/p.png\n"
    );
    let dir = to_dir(&out);
    let root = dir.path().join("yolo");
    let seen = judge(
        GIF_JUDGE,
        &[
            &root,
            &dir.path().join("chips/p.gif"),
            &root.join("images/train/p.png"),
        ],
    );
    // Exactly the GIF's pixels, the transparent one included.
    assert_eq!(seen["png"], seen["gif"]);
    assert_eq!(seen["png"][2], json!([0, 0, 255, 0]));
    assert_eq!(seen["png"][3], json!([10, 20, 30, 255]));
    assert_eq!(seen["png_mode"], "P");
    assert_eq!(
        seen["items"],
        json!({"train/p": {"image": "images/train/p.png", "boxes": [["car", [1.0, 0.0, 2.0, 2.0]]]}})
    );
    // Ultralytics' rules find the image and its label.
    let loaders = judge(LOADERS, &[&root]);
    assert_eq!(
        loaders["ultralytics"]["splits"]["train"]["images/train/p.png"]["ok"],
        true
    );
    // The YOLO reader gives the chip back with its PNG.
    let back = YoloFormat.read(dir.path()).unwrap();
    assert_eq!(back.chips[0].image, Path::new("images/train/p.png"));
    assert_eq!(back.chips[0].labels.len(), 1);
}

#[test]
fn a_box_zero_wide_at_six_decimals_is_left_out() {
    // 1e-6 px on a 32 px chip: w = 0.000000 as written, which Ultralytics
    // and torchvision reject. Left out, counted; the rest as usual.
    let (mut project, chips) = project();
    project.chips[0]
        .labels
        .push(label(1, [20.0, 10.0, 20.000_001, 20.0], Value::Null));
    let (out, notes) = write(&project, &chips);
    assert_eq!(notes[1], ("labels left out: zero width or height", 1));
    assert!(YoloFormat.leaves_out(&project.chips[0], &project.chips[0].labels[3]));
    let dir = to_dir(&out);
    let got = judge(DATUMARO, &[&dir.path().join("yolo")]);
    assert_eq!(got["as_written"]["items"], items("train/"));
}
