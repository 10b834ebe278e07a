//! COCO instance segmentation judged by the real readers.
//!
//! The store holds the `tests/fixtures/instance-polygons` project (resolved
//! and clipped as the pipeline does) and a chip of awkward shapes: holes,
//! a hole that holds no pixel centre, multipolygons (overlapping parts
//! too), float stars, a staircase of pixels touching at corners, a sliver
//! that covers no pixel centre, a crowd. Then:
//!
//! - pycocotools and shapely: each polygon without holes is written as
//!   drawn (the written parts and the clipped input differ by at most 1e-6
//!   of its area), `area` is `maskUtils.area` of what is written and `bbox`
//!   its extent; one that pycocotools draws no pixel of is left out; a
//!   polygon with holes is RLE that decodes to exactly our rasterization
//!   ([`pixel_geometry::rasterize`]), encoded as `maskUtils.encode` does;
//! - Datumaro's `coco_instances` importer detects the folder and imports
//!   it with the right items, classes and polygon / mask counts;
//! - our reader gives back the same masks.
//!
//! The judges live in a Python virtual environment (`target/py`, made by
//! `cargo xtask test`, or `LABELSTORE_PYTHON`); without it the test fails,
//! saying what to install.

use std::path::{Path, PathBuf};
use std::process::Command;

use fmt_detection::CocoFormat;
use labels_model::{
    Chip, ChipGeoref, Geometry, GeorefSource, ImageLimits, Label, LabelFormat, LabelingType,
    MemoryOutput, Output, Project, Scope, resolve, select,
};
use pixel_geometry::{Mask, rasterize};
use serde_json::{Value, json};

/// The Python interpreter with the judges installed, or a failure saying
/// how to get one.
fn python() -> PathBuf {
    let python = std::env::var_os("LABELSTORE_PYTHON").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/py/bin/python"),
        PathBuf::from,
    );
    let ok = Command::new(&python)
        .args(["-c", "import pycocotools, datumaro, numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "the outside judges are missing: {} cannot import pycocotools, datumaro and numpy; \
         run `cargo xtask test` (it makes the venv target/py), or \
         `python3 -m venv target/py && target/py/bin/pip install pycocotools datumaro`, \
         or set LABELSTORE_PYTHON to an interpreter that has them",
        python.display()
    );
    python
}

/// Runs `script` with `args`; its standard output ends with one JSON value.
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

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ring(points: &[[f64; 2]]) -> Vec<[f64; 2]> {
    points.to_vec()
}

/// A regular star or polygon around `(cx, cy)`: `n` points alternating
/// between radii `r1` and `r2`, starting at angle `a0`.
fn star(cx: f64, cy: f64, r1: f64, r2: f64, n: usize, a0: f64) -> Vec<[f64; 2]> {
    (0..n)
        .map(|i| {
            let a = a0 + std::f64::consts::TAU * i as f64 / n as f64;
            let r = if i % 2 == 0 { r1 } else { r2 };
            [cx + r * a.cos(), cy + r * a.sin()]
        })
        .collect()
}

/// The awkward shapes, on a 40 x 30 chip.
fn shapes() -> Vec<Label> {
    let label = |class_id, geometry, attrs: Value| Label {
        class_id,
        geometry,
        attributes: attrs.as_object().cloned().unwrap_or_default(),
    };
    let square =
        |x0: f64, y0: f64, x1: f64, y1: f64| ring(&[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]);
    let mut hole = star(10.0, 10.0, 3.5, 3.5, 12, 0.1);
    hole.reverse();
    vec![
        // 0. A round roof with a round hole.
        label(
            1,
            Geometry::Polygon(vec![star(10.0, 10.0, 8.2, 8.2, 24, 0.0), hole]),
            Value::Null,
        ),
        // 1. A float star.
        label(
            2,
            Geometry::Polygon(vec![star(28.0, 9.3, 7.0, 3.0, 10, 0.3)]),
            json!({"occluded": true}),
        ),
        // 2. Three parts: two float triangles and a whole-pixel square.
        label(
            2,
            Geometry::MultiPolygon(vec![
                vec![ring(&[[2.0, 20.0], [8.0, 21.5], [4.0, 28.0]])],
                vec![ring(&[[10.25, 22.0], [15.0, 22.0], [12.5, 27.75]])],
                vec![square(17.0, 20.0, 22.0, 25.0)],
            ]),
            Value::Null,
        ),
        // 3. Two holes, one of them a float triangle.
        label(
            1,
            Geometry::Polygon(vec![
                square(24.0, 18.0, 39.0, 29.0),
                square(26.0, 20.0, 29.0, 23.0),
                ring(&[[32.5, 24.5], [36.5, 24.5], [34.5, 27.5]]),
            ]),
            json!({"iscrowd": 1}),
        ),
        // 4. A whole-pixel C, closed.
        label(
            1,
            Geometry::Polygon(vec![ring(&[
                [30.0, 2.0],
                [38.0, 2.0],
                [38.0, 4.0],
                [32.0, 4.0],
                [32.0, 8.0],
                [38.0, 8.0],
                [38.0, 10.0],
                [30.0, 10.0],
                [30.0, 2.0],
            ])]),
            Value::Null,
        ),
        // 5. A hole too small to hold a pixel centre: no hole in the mask.
        label(
            2,
            Geometry::Polygon(vec![square(0.0, 0.0, 6.0, 6.0), square(2.6, 2.6, 3.4, 3.4)]),
            Value::Null,
        ),
        // 6. Overlapping parts: the overlap cancels (even-odd).
        label(
            2,
            Geometry::MultiPolygon(vec![
                vec![square(1.0, 1.0, 5.0, 5.0)],
                vec![square(3.0, 3.0, 7.0, 7.0)],
            ]),
            Value::Null,
        ),
        // 7. A thin diagonal: pixels touching at corners only.
        label(
            1,
            Geometry::Polygon(vec![ring(&[
                [12.0, 12.0],
                [13.0, 12.0],
                [20.0, 19.0],
                [19.0, 19.0],
            ])]),
            Value::Null,
        ),
        // 8. A sliver between pixel centres.
        label(
            2,
            Geometry::Polygon(vec![ring(&[[2.0, 8.6], [6.0, 8.6], [6.0, 8.9]])]),
            Value::Null,
        ),
        // 9. The whole chip.
        label(
            1,
            Geometry::Polygon(vec![square(0.0, 0.0, 40.0, 30.0)]),
            Value::Null,
        ),
    ]
}

/// The fixture project, resolved and clipped as a store would, plus the
/// shapes chip; chips' images point at their stored copies (`chips/`), whose
/// bytes come second.
fn project() -> (Project, Vec<(String, Vec<u8>)>) {
    let fixture = root().join("tests/fixtures/instance-polygons");
    let mut p = Project::load(&fixture).unwrap();
    let selection = select(&p, &Scope::Project).unwrap();
    resolve(&mut p, &selection.chips, &ImageLimits::default()).unwrap();
    let mut bytes = Vec::new();
    for c in &mut p.chips {
        bytes.push((
            format!("chips/{}.png", c.id),
            std::fs::read(fixture.join(&c.image)).unwrap(),
        ));
        c.image = PathBuf::from(format!("chips/{}.png", c.id));
    }
    let mut s = Chip::new("shapes", "chips/shapes.png");
    (s.width, s.height) = (Some(40), Some(30));
    s.labels = shapes();
    p.chips.push(s);
    bytes.push((
        "chips/shapes.png".into(),
        std::fs::read(root().join("tests/fixtures/detection-basic/chips/b.png")).unwrap(),
    ));
    (p, bytes)
}

/// Stores `project` in COCO into a new folder, as the pipeline would.
fn store(project: &Project, chips: &[(String, Vec<u8>)]) -> tempfile::TempDir {
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

fn drawn(g: &Geometry, chip: &Chip) -> Mask {
    rasterize(chip.width.unwrap(), chip.height.unwrap(), 0, [(g, 1)])
}

/// Numbers every label with an attribute `k` (0, 1, ...: its place in
/// the project), which the judge uses to find its annotation; and gives,
/// in the same order, each label's clipped input parts (flat exterior
/// rings), whether it has holes, and our rasterization.
fn numbered(project: &mut Project) -> Value {
    let mut k = 0;
    let mut ours = Vec::new();
    for c in &mut project.chips {
        let (w, h) = (c.width.unwrap(), c.height.unwrap());
        for l in &mut c.labels {
            l.attributes.insert("k".into(), json!(k));
            k += 1;
            let polygons: Vec<&Vec<Vec<[f64; 2]>>> = match &l.geometry {
                Geometry::Polygon(p) => vec![p],
                Geometry::MultiPolygon(m) => m.iter().collect(),
                _ => Vec::new(),
            };
            let m = rasterize(w, h, 0, [(&l.geometry, 1)]);
            ours.push(json!({
                "holes": polygons.iter().any(|p| p.len() > 1),
                "parts": polygons
                    .iter()
                    .map(|p| p[0].iter().flatten().copied().collect::<Vec<f64>>())
                    .collect::<Vec<_>>(),
                "h": h, "w": w, "data": m.data,
            }));
        }
    }
    Value::from(ours)
}

/// pycocotools (and shapely for the geometry) on each of our labels: its
/// annotation (by attribute `k`) or its absence, the written polygon
/// against the input, `area` against `maskUtils.area`, `bbox` against the
/// written geometry's extent, RLE against our mask and its encoding.
const PYCOCOTOOLS: &str = r#"
import json, sys
import numpy as np
from pycocotools.coco import COCO
from pycocotools import mask as maskUtils
from shapely.geometry import Polygon
from shapely.ops import unary_union
c = COCO(sys.argv[1])
ours = json.load(open(sys.argv[2]))
by_k = {a["attributes"]["k"]: a for a in c.dataset["annotations"]}
def shape(parts):
    return unary_union([Polygon(list(zip(p[0::2], p[1::2]))).buffer(0) for p in parts])
out = {"counts": [len(c.getImgIds()), len(c.getAnnIds()), len(c.getCatIds())],
       "categories": [[k["id"], k["name"]] for k in c.loadCats(c.getCatIds())],
       "labels": []}
for k, o in enumerate(ours):
    a = by_k.get(k)
    row = {"k": k, "present": a is not None, "holes": o["holes"]}
    if not o["holes"]:
        img_h, img_w = o["h"], o["w"]
        rles = maskUtils.frPyObjects([p for p in o["parts"] if len(p) >= 6], img_h, img_w)
        row["input_area"] = int(maskUtils.area(maskUtils.merge(rles))) if rles else 0
    if a is not None:
        seg = a["segmentation"]
        rle = c.annToRLE(a)
        row["kind"] = "rle" if isinstance(seg, dict) else "polygons %d" % len(seg)
        row["area_ok"] = a["area"] == int(maskUtils.area(rle))
        row["area"] = a["area"]
        row["iscrowd"] = a["iscrowd"]
        row["image"] = c.imgs[a["image_id"]]["file_name"]
        row["category"] = a["category_id"]
        if isinstance(seg, dict):
            want = np.array(o["data"], dtype=np.uint8).reshape(o["h"], o["w"])
            row["mask_equal"] = bool((c.annToMask(a) == want).all())
            enc = maskUtils.encode(np.asfortranarray(want))
            row["encode_equal"] = enc["counts"].decode() == seg["counts"] and enc["size"] == seg["size"]
            row["bbox_ok"] = list(map(float, maskUtils.toBbox(rle))) == a["bbox"]
        else:
            written, drawn = shape(seg), shape(o["parts"])
            row["symdiff_ok"] = written.symmetric_difference(drawn).area <= 1e-6 * drawn.area
            xs = [v for p in seg for v in p[0::2]]
            ys = [v for p in seg for v in p[1::2]]
            row["bbox_ok"] = a["bbox"] == [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
    out["labels"].append(row)
print(json.dumps(out))
"#;

/// Checks the judge's view of every label: holes go as RLE that is exactly
/// our mask; the others as the drawn polygon (symmetric difference at most
/// 1e-6 of its area), unless pycocotools draws no pixel of it, then they
/// are left out; `area` and `bbox` as pycocotools computes them.
fn check_labels(got: &Value) {
    for l in got["labels"].as_array().unwrap() {
        if l["holes"] == true {
            assert_eq!(l["present"], true, "{l}");
            assert_eq!(l["kind"], "rle", "{l}");
            assert_eq!(l["mask_equal"], true, "{l}");
            assert_eq!(l["encode_equal"], true, "{l}");
        } else if l["input_area"] == 0 {
            assert_eq!(l["present"], false, "{l}");
            continue;
        } else {
            assert_eq!(l["present"], true, "{l}");
            assert!(l["kind"].as_str().unwrap().starts_with("polygons"), "{l}");
            assert_eq!(l["symdiff_ok"], true, "{l}");
        }
        assert_eq!(l["area_ok"], true, "{l}");
        assert_eq!(l["bbox_ok"], true, "{l}");
    }
}

#[test]
fn pycocotools_gets_the_drawn_polygons() {
    let (mut project, chips) = project();
    let ours = numbered(&mut project);
    let dir = store(&project, &chips);
    let file = dir.path().join("coco/annotations/instances_train.json");
    let masks = dir.path().join("ours.json");
    std::fs::write(&masks, ours.to_string()).unwrap();
    let got = judge(PYCOCOTOOLS, &[&file, &masks]);
    check_labels(&got);
    // The sliver that covers no pixel is left out.
    assert_eq!(got["counts"], json!([3, 12, 2]));
    assert_eq!(got["categories"], json!([[1, "roof"], [2, "pool"]]));
    let summary: Vec<Value> = got["labels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["present"] == true)
        .map(|a| {
            json!([
                a["image"],
                a["category"],
                a["kind"],
                a["area"],
                a["iscrowd"]
            ])
        })
        .collect();
    assert_eq!(
        Value::from(summary),
        json!([
            // The fixture: a roof with a hole, two float triangles, a roof
            // clipped at the chip's edge. Areas are pycocotools' pixels.
            ["roofs.png", 1, "rle", 141.0, 0],
            ["roofs.png", 2, "polygons 2", 16.0, 0],
            ["roofs.png", 1, "polygons 1", 40.0, 0],
            // The shapes, in order: holes and only holes go as RLE (the
            // pool whose hole holds no pixel centre too).
            ["shapes.png", 1, "rle", 176.0, 0],
            ["shapes.png", 2, "polygons 1", 63.0, 0],
            ["shapes.png", 2, "polygons 3", 62.0, 0],
            ["shapes.png", 1, "rle", 148.0, 1],
            ["shapes.png", 1, "polygons 1", 40.0, 0],
            ["shapes.png", 2, "rle", 36.0, 0],
            ["shapes.png", 2, "polygons 2", 28.0, 0],
            ["shapes.png", 1, "polygons 1", 7.0, 0],
            ["shapes.png", 1, "polygons 1", 1200.0, 0],
        ])
    );
}

const DATUMARO: &str = r#"
import json, os, sys, logging
logging.disable(logging.WARNING)
from datumaro.components.annotation import AnnotationType
from datumaro.components.dataset import Dataset
from datumaro.components.environment import Environment
root = sys.argv[1]
detected = Environment().detect_dataset(root)
ds = Dataset.import_from(root, "coco_instances")
labels = ds.categories()[AnnotationType.label]
items = {}
for item in ds:
    anns = {}
    for a in item.annotations:
        key = "%s %s" % (a.type.name, labels[a.label].name)
        anns[key] = anns.get(key, 0) + 1
    items[item.id] = {
        "image": os.path.relpath(item.media.path, root),
        "exists": os.path.isfile(item.media.path),
        "size": list(item.media.size),
        "annotations": anns,
        "groups": len({a.group for a in item.annotations}),
    }
print(json.dumps({"detected": detected, "labels": [l.name for l in labels], "items": items}))
"#;

#[test]
fn datumaro_imports_the_instances() {
    let (project, chips) = project();
    let dir = store(&project, &chips);
    let got = judge(DATUMARO, &[&dir.path().join("coco")]);
    let item = |image: &str, h: u32, w: u32, anns: Value, groups: u32| json!({"image": image, "exists": true, "size": [h, w], "annotations": anns, "groups": groups});
    assert_eq!(
        got,
        json!({
            "detected": ["coco_instances"],
            "labels": ["roof", "pool"],
            "items": {
                // An instance is a group: its box, and one polygon per part
                // or one mask for RLE.
                "roofs": item("images/train/roofs.png", 32, 32, json!({
                    "bbox roof": 2, "bbox pool": 1,
                    "mask roof": 1, "polygon roof": 1, "polygon pool": 2}), 3),
                "empty": item("images/train/empty.png", 32, 32, json!({}), 0),
                "shapes": item("images/train/shapes.png", 30, 40, json!({
                    "bbox roof": 5, "bbox pool": 4, "mask pool": 1,
                    "mask roof": 2, "polygon roof": 3, "polygon pool": 6}), 9),
            },
        })
    );
}

#[test]
fn reads_back_the_same_masks() {
    let (project, chips) = project();
    let dir = store(&project, &chips);
    let back = CocoFormat::default().read(dir.path()).unwrap();
    assert_eq!(back.labeling_type, LabelingType::InstanceSegmentation);
    // COCO has no colours.
    let classes = |p: &Project| -> Vec<(u32, String)> {
        p.classes.iter().map(|c| (c.id, c.name.clone())).collect()
    };
    assert_eq!(classes(&back), classes(&project));
    assert_eq!(back.chips.len(), project.chips.len());
    for (g, w) in back.chips.iter().zip(&project.chips) {
        assert_eq!(g.id, w.id);
        assert!(back.base_dir.join(&g.image).is_file());
        assert_eq!((g.width, g.height), (w.width, w.height));
        // The sliver that covers no pixel is left out.
        let kept: Vec<&Label> = w
            .labels
            .iter()
            .filter(|l| drawn(&l.geometry, w).data.contains(&1))
            .collect();
        assert_eq!(g.labels.len(), kept.len(), "chip {}", w.id);
        for (k, (gl, wl)) in g.labels.iter().zip(kept).enumerate() {
            assert_eq!(gl.class_id, wl.class_id, "chip {} label {k}", w.id);
            assert_eq!(gl.attributes, wl.attributes, "chip {} label {k}", w.id);
            assert_eq!(
                drawn(&gl.geometry, g),
                drawn(&wl.geometry, w),
                "chip {} label {k}",
                w.id
            );
        }
    }
}

/// Hundreds of random instances (float, half and whole-pixel vertices,
/// holes, several parts, parts reaching the chip's edges): pycocotools
/// gets each drawn polygon, or, with holes, exactly our mask.
#[test]
fn random_instances_keep_their_polygons() {
    let mut state = 0x853c_49e6_748f_ea9b_u64;
    let mut unit = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 1_000_000) as f64 / 1_000_000.0
    };
    let (w, h) = (40u32, 30u32);
    let mut labels = Vec::new();
    for i in 0..400 {
        let quantum = [0.0, 1.0, 0.5][i % 3];
        let q = |v: f64| {
            if quantum > 0.0 {
                (v / quantum).round() * quantum
            } else {
                v
            }
        };
        let part = |unit: &mut dyn FnMut() -> f64| {
            let (cx, cy) = (unit() * f64::from(w), unit() * f64::from(h));
            let r = 2.0 + unit() * 12.0;
            let n = 3 + (unit() * 7.0) as usize;
            let mut pts: Vec<[f64; 2]> = star(cx, cy, r, r * (0.3 + unit()), n, unit())
                .into_iter()
                .map(|[x, y]| [q(x.clamp(0.0, f64::from(w))), q(y.clamp(0.0, f64::from(h)))])
                .collect();
            pts.dedup();
            (pts, cx, cy, r)
        };
        let (outer, cx, cy, r) = part(&mut unit);
        let geometry = match i % 4 {
            // A hole well inside.
            1 => {
                let hole = star(cx, cy, r * 0.3, r * 0.3, 6, unit())
                    .into_iter()
                    .map(|[x, y]| [q(x), q(y)])
                    .collect();
                Geometry::Polygon(vec![outer, hole])
            }
            2 => Geometry::MultiPolygon(vec![vec![outer], vec![part(&mut unit).0]]),
            _ => Geometry::Polygon(vec![outer]),
        };
        labels.push(Label {
            class_id: 1,
            geometry,
            attributes: Default::default(),
        });
    }
    // Rings must keep three distinct points, as the manifest requires.
    labels.retain(|l| {
        let rings: Vec<&Vec<[f64; 2]>> = match &l.geometry {
            Geometry::Polygon(p) => p.iter().collect(),
            Geometry::MultiPolygon(m) => m.iter().flatten().collect(),
            _ => Vec::new(),
        };
        rings.iter().all(|r| r.len() >= 3)
    });
    let (mut p, mut chips) = project();
    p.chips.retain(|c| c.id == "shapes");
    p.chips[0].labels = labels;
    chips.retain(|(path, _)| path == "chips/shapes.png");
    let ours = numbered(&mut p);
    let dir = store(&p, &chips);
    let masks = dir.path().join("ours.json");
    std::fs::write(&masks, ours.to_string()).unwrap();
    let file = dir.path().join("coco/annotations/instances_train.json");
    let got = judge(PYCOCOTOOLS, &[&file, &masks]);
    check_labels(&got);
    let labels = got["labels"].as_array().unwrap();
    assert_eq!(labels.len(), p.chips[0].labels.len());
    let kinds: std::collections::BTreeSet<&str> = labels
        .iter()
        .filter_map(|l| l["kind"].as_str()?.split(' ').next())
        .collect();
    // Both forms occur.
    assert_eq!(kinds.len(), 2, "{kinds:?}");
}
