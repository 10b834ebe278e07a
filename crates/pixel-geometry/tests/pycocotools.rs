//! COCO RLE judged by pycocotools: for rasterized test shapes, our
//! compressed RLE string equals `maskUtils.encode` of the same mask, and
//! `maskUtils.decode` of our string gives the mask back.

use std::path::PathBuf;
use std::process::Command;

use pixel_geometry::Geometry;
use pixel_geometry::{rasterize, rle};

fn python() -> PathBuf {
    std::env::var_os("LABELSTORE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/py/bin/python")
        })
}

#[test]
fn rle_strings_equal_pycocotools() {
    let shapes: Vec<(u32, u32, Geometry)> = vec![
        (
            13,
            9,
            Geometry::Polygon(vec![vec![[1.0, 1.0], [11.0, 2.0], [6.0, 8.5]]]),
        ),
        (
            40,
            30,
            Geometry::Polygon(vec![
                vec![[2.0, 2.0], [38.0, 2.0], [38.0, 28.0], [2.0, 28.0]],
                vec![[10.0, 10.0], [30.0, 10.0], [30.0, 20.0], [10.0, 20.0]],
            ]),
        ),
        (
            64,
            48,
            Geometry::MultiPolygon(vec![
                vec![vec![[0.0, 0.0], [64.0, 0.0], [64.0, 3.0], [0.0, 3.0]]],
                vec![vec![[5.5, 10.5], [60.25, 12.0], [33.0, 47.0]]],
            ]),
        ),
        (
            7,
            5,
            Geometry::Polygon(vec![vec![[0.0, 0.0], [7.0, 0.0], [7.0, 5.0], [0.0, 5.0]]]),
        ),
        (
            300,
            200,
            Geometry::Polygon(vec![vec![
                [150.0, 1.0],
                [299.0, 100.0],
                [150.0, 199.0],
                [1.0, 100.0],
            ]]),
        ),
    ];
    let mut cases = Vec::new();
    for (w, h, g) in &shapes {
        let mask = rasterize(*w, *h, 0, [(g, 1)]);
        let counts = rle::counts(&mask, 1);
        let ours = rle::encode(&counts);
        assert_eq!(rle::decode(&ours).as_deref(), Some(&counts[..]));
        cases.push(serde_json::json!({"w": w, "h": h, "data": mask.data, "rle": ours}));
    }
    let script = r#"
import json, sys
import numpy as np
from pycocotools import mask as maskUtils
cases = json.load(sys.stdin)
out = []
for c in cases:
    m = np.array(c["data"], dtype=np.uint8).reshape(c["h"], c["w"])
    enc = maskUtils.encode(np.asfortranarray(m))
    dec = maskUtils.decode({"size": [c["h"], c["w"]], "counts": c["rle"].encode()})
    out.append({"counts": enc["counts"].decode(), "size": enc["size"],
                "decoded_equal": bool((dec == m).all()), "area": int(maskUtils.area(enc))})
print(json.dumps(out))
"#;
    let mut child = Command::new(python())
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run Python ({e}): run `cargo xtask test`, which sets up target/py with pycocotools"));
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&cases).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "pycocotools failed (run `cargo xtask test` to install it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    for (i, (case, s)) in cases.iter().zip(&seen).enumerate() {
        assert_eq!(
            s["counts"], case["rle"],
            "shape {i}: pycocotools encodes differently"
        );
        assert_eq!(
            s["size"],
            serde_json::json!([case["h"], case["w"]]),
            "shape {i}"
        );
        assert_eq!(
            s["decoded_equal"], true,
            "shape {i}: our string decodes to another mask"
        );
        let area = case["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v.as_u64() == Some(1))
            .count();
        assert_eq!(s["area"], area, "shape {i}");
    }
}

/// Runs `script` with `input` (JSON) on its standard input; its standard
/// output is one JSON value.
fn run_python(script: &str, input: &serde_json::Value) -> serde_json::Value {
    use std::io::Write;
    let mut child = Command::new(python())
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run Python ({e}): run `cargo xtask test`, which sets up target/py with pycocotools")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "pycocotools failed (run `cargo xtask test` to install it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `rle::from_polygon` is pycocotools' polygon rasterization run for run:
/// for random polygons (float, whole, half and fifth-pixel vertices, closed
/// or not, on the image's edges, degenerate), its counts equal those of
/// `maskUtils.frPyObjects`.
#[test]
fn polygon_rasterization_equals_pycocotools() {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut unit = move || (next() % 1_000_000) as f64 / 1_000_000.0;
    let mut cases = Vec::new();
    for i in 0..600 {
        let (w, h) = (8 + (unit() * 60.0) as u32, 8 + (unit() * 60.0) as u32);
        let n = 3 + (unit() * 8.0) as usize;
        let quantum = [0.0, 1.0, 0.5, 0.2, 0.1][i % 5];
        let mut xy = Vec::new();
        for _ in 0..n {
            for size in [w, h] {
                // Some points on the image's edges, as clipping leaves them.
                let t = unit();
                let mut v = if t < 0.1 {
                    0.0
                } else if t > 0.9 {
                    f64::from(size)
                } else {
                    unit() * f64::from(size)
                };
                if quantum > 0.0 {
                    v = (v / quantum).round() * quantum;
                }
                xy.push(v);
            }
        }
        if i % 7 == 0 {
            xy.extend([xy[0], xy[1]]);
        }
        if i % 11 == 0 {
            xy.extend([xy[2], xy[3]]);
        }
        let ours = rle::encode(&rle::from_polygon(&xy, w, h));
        cases.push(serde_json::json!({"w": w, "h": h, "xy": xy, "rle": ours}));
    }
    let script = r#"
import json, sys
from pycocotools import mask as maskUtils
cases = json.load(sys.stdin)
print(json.dumps([maskUtils.frPyObjects([c["xy"]], c["h"], c["w"])[0]["counts"].decode() for c in cases]))
"#;
    let seen = run_python(script, &serde_json::Value::from(cases.clone()));
    let differ: Vec<String> = cases
        .iter()
        .zip(seen.as_array().unwrap())
        .filter(|(case, theirs)| case["rle"] != **theirs)
        .map(|(case, theirs)| format!("{case}: pycocotools {theirs}"))
        .collect();
    assert!(
        differ.is_empty(),
        "{} of {} polygons differ:\n{}",
        differ.len(),
        cases.len(),
        differ.join("\n")
    );
}
