//! The loss report: what did not survive a store, per format, and what an
//! import did not bring over; imported coordinates without float noise.

use std::path::Path;

use serde_json::json;

use crate::fetch_verify::python;
use crate::store::{fixture, store};
use crate::util::{run, stderr, stdout};

fn import(from: &str, dataset: &Path, output: &Path, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "import".as_ref(),
        "--from".as_ref(),
        from.as_ref(),
        dataset.as_os_str(),
        "--output".as_ref(),
        output.as_os_str(),
    ];
    args.extend(extra.iter().map(|s| -> &std::ffi::OsStr { s.as_ref() }));
    run(&args)
}

/// Writes `bytes` at `path` under `dir`, making its folders.
fn put(dir: &Path, path: &str, bytes: impl AsRef<[u8]>) {
    let file = dir.join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, bytes).unwrap();
}

/// The bytes of a detection-basic chip image.
fn chip_image(name: &str) -> Vec<u8> {
    std::fs::read(fixture("detection-basic/chips").join(name)).unwrap()
}

fn json_of(o: &std::process::Output) -> serde_json::Value {
    assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn the_store_summary_says_per_format_what_did_not_survive() {
    // detection-basic's chip `a` has a box carrying truncated, difficult,
    // occluded, pose and four keys no training format has a field for;
    // `c-upper.case` one marked difficult, `t` one with occluded 0; chip
    // `c-upper.case`'s box is one pixel wide, which VOC would write with
    // xmin == xmax; the boxes of `a` and `b` cross their chip's edge.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let project = fixture("detection-basic");
    let formats = "voc,yolo,coco,kitti,json,geojson";
    let r = json_of(&store(&project, &out, &["--format", formats, "--json"]));
    assert_eq!(
        r["losses"],
        json!({
            "kitti": {
                "attributes_left_out": {
                    "difficult": 2, "extra": 1, "note": 1, "pose": 1, "score": 1, "tags": 1
                },
                "labels_left_out": {},
                "coordinates_rounded": null
            },
            "voc": {
                "attributes_left_out": {"extra": 1, "note": 1, "score": 1, "tags": 1},
                "labels_left_out": {"zero width or height": 1},
                "coordinates_rounded": {"to": "integer pixels", "max_shift_px": 0.5}
            },
            "yolo": {
                "attributes_left_out": {
                    "difficult": 2, "extra": 1, "note": 1, "occluded": 2, "pose": 1,
                    "score": 1, "tags": 1, "truncated": 1
                },
                "labels_left_out": {},
                "coordinates_rounded": {"to": "6 decimals (normalized)", "max_shift_px": 0.000016}
            }
        })
    );
    assert_eq!(
        r["clipped_chips"],
        json!([{"chip": "a", "labels": 1}, {"chip": "b", "labels": 1}])
    );
    assert_eq!(r["clipped_labels"], 2);
    assert_eq!(r["not_imported"], json!({}));
    // The labels left out are still in `notes` too.
    assert_eq!(
        r["notes"],
        json!({"voc": {"labels left out: zero width or height": 1}})
    );
    // The largest VOC shift is chip a's xmin: 1.5 written as the 1-based
    // first pixel 3 (its left edge at 2), 0.5 px away.
    let xml = std::fs::read_to_string(out.join("voc/Annotations/a.xml")).unwrap();
    assert!(xml.contains("<xmin>3</xmin>"), "{xml}");

    // The text summary: the clipped chips on the clipped labels' line, then
    // a block per format that lost something.
    let o = store(&project, &out, &["--format", formats, "--overwrite"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[2..7],
        [
            "clipped labels: 2 (chips a: 1, b: 1)",
            "did not survive:",
            "  kitti: attributes left out: difficult (2), extra (1), note (1), pose (1), score (1), tags (1)",
            "  voc: attributes left out: extra (1), note (1), score (1), tags (1); \
             1 label left out: zero width or height; \
             coordinates rounded to integer pixels, at most 0.5 px",
            "  yolo: attributes left out: difficult (2), extra (1), note (1), occluded (2), \
             pose (1), score (1), tags (1), truncated (1); \
             coordinates rounded to 6 decimals (normalized), at most 0.000016 px",
        ]
    );
    assert!(lines[7].starts_with("georeferencing: "), "{text}");
}

#[test]
fn nothing_lost_says_nothing() {
    // `json` and `geojson` keep every attribute and every coordinate.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let r = json_of(&store(
        &fixture("detection-basic"),
        &out,
        &["--format", "json,geojson", "--json"],
    ));
    assert_eq!(r["losses"], json!({}));
    let o = store(
        &fixture("detection-basic"),
        &out,
        &["--format", "json,geojson", "--overwrite"],
    );
    assert!(!stdout(&o).contains("did not survive"), "{}", stdout(&o));
}

#[test]
fn clipped_chips_beyond_ten_are_left_to_json() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("p");
    put(&project, "chips/a.png", chip_image("a.png"));
    let chips: Vec<serde_json::Value> = (0..12)
        .map(|i| {
            json!({"id": format!("c{i:02}"), "image": "chips/a.png",
                   "labels": [{"class": "car", "bbox": [-1, 0, 5, 5]}]})
        })
        .collect();
    let manifest = json!({"labelstore": 1, "name": "edge", "labeling_type": "object_detection",
                          "classes": [{"id": 1, "name": "car"}], "chips": chips});
    put(&project, "project.json", manifest.to_string());
    let out = tmp.path().join("out");
    let o = store(&project, &out, &["--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(
            "clipped labels: 12 (chips c00: 1, c01: 1, c02: 1, c03: 1, c04: 1, c05: 1, \
             c06: 1, c07: 1, c08: 1, c09: 1, 2 more chips: --json)\n"
        ),
        "{}",
        stdout(&o)
    );
    let r = json_of(&store(
        &project,
        &out,
        &["--format", "json", "--json", "--overwrite"],
    ));
    assert_eq!(r["clipped_chips"].as_array().unwrap().len(), 12);
    assert_eq!(r["clipped_chips"][11], json!({"chip": "c11", "labels": 1}));
}

#[test]
fn voc_import_counts_parts_actions_and_segmentation_masks() {
    // Datumaro's own VOC test dataset: one annotation marked segmented,
    // holding a person with a head part and six actions set.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("p");
    let dataset = fixture("datumaro/voc_dataset/voc_dataset1");
    let r = json_of(&import("voc", &dataset, &out, &["--json"]));
    assert_eq!(
        r["not_imported"],
        json!({"VOC actions": 1, "VOC parts": 1, "VOC segmentation masks": 1})
    );
    // Datumaro, the judge: its boxes are the objects plus their parts, and
    // the objects with an action set are those with an action attribute
    // true.
    let judged = python(
        "import sys, json, datumaro as dm\n\
         ds = dm.Dataset.import_from(sys.argv[1], 'voc')\n\
         acts = {'other', 'jumping', 'phoning', 'playinginstrument', 'reading', 'ridingbike',\n\
                 'ridinghorse', 'running', 'takingphoto', 'usingcomputer', 'walking'}\n\
         boxes = [a for i in ds for a in i.annotations if a.type.name == 'bbox']\n\
         print(json.dumps({'boxes': len(boxes), 'with_actions': sum(\n\
             any(v is True and k in acts for k, v in a.attributes.items()) for a in boxes)}))",
        &[dataset.to_str().unwrap()],
    );
    let judged: serde_json::Value = serde_json::from_str(judged.trim()).unwrap();
    let project: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("project.json")).unwrap()).unwrap();
    let labels: usize = project["chips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["labels"].as_array().unwrap().len())
        .sum();
    assert_eq!(
        judged["boxes"].as_u64().unwrap() as usize - labels,
        r["not_imported"]["VOC parts"].as_u64().unwrap() as usize
    );
    assert_eq!(judged["with_actions"], r["not_imported"]["VOC actions"]);
    let o = import("voc", &dataset, &out, &["--overwrite"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(
            "\nnot imported: VOC actions (1), VOC parts (1), VOC segmentation masks (1)\n"
        ),
        "{}",
        stdout(&o)
    );
}

#[test]
fn coco_import_counts_keypoints_and_captions() {
    let tmp = tempfile::tempdir().unwrap();
    let dataset = tmp.path().join("coco");
    let ann = dataset.join("annotations");
    put(&dataset, "images/a.png", chip_image("a.png"));
    let image = json!([{"id": 1, "file_name": "a.png", "width": 32, "height": 32}]);
    let categories = json!([{"id": 1, "name": "person"}]);
    put(
        &ann,
        "instances_train.json",
        json!({"images": image, "categories": categories, "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4],
             "keypoints": [2, 2, 2, 3, 3, 1], "num_keypoints": 2},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [1.1, 1, 2.2, 4]}
        ]})
        .to_string(),
    );
    put(
        &ann,
        "captions_train.json",
        json!({"images": image, "annotations": [
            {"id": 1, "image_id": 1, "caption": "a person"},
            {"id": 2, "image_id": 1, "caption": "someone"}
        ]})
        .to_string(),
    );
    put(
        &ann,
        "person_keypoints_train.json",
        json!({"images": image, "categories": categories, "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4],
             "keypoints": [2, 2, 2], "num_keypoints": 1},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4], "keypoints": []}
        ]})
        .to_string(),
    );
    let out = tmp.path().join("p");
    let r = json_of(&import("coco", &dataset, &out, &["--json"]));
    assert_eq!(
        r["not_imported"],
        json!({"COCO captions": 2, "COCO keypoints": 2})
    );
    // x + w without float noise: 1.1 + 2.2 is 3.3000000000000003 in f64.
    let project: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("project.json")).unwrap()).unwrap();
    assert_eq!(
        project["chips"][0]["labels"][1]["bbox"],
        json!([1.1, 1.0, 3.3, 5.0])
    );
}

#[test]
fn kitti_import_counts_3d_fields_and_alpha() {
    let tmp = tempfile::tempdir().unwrap();
    let dataset = tmp.path().join("kitti");
    put(&dataset, "image_2/a.png", chip_image("a.png"));
    put(
        &dataset,
        "label_2/a.txt",
        // 3-D fields and alpha; the devkit's "none" values; labelstore's 0s;
        // alpha alone.
        "Car 0 0 -1.57 1 2 5 6 1.5 1.6 3.9 2.0 1.7 10.2 -1.5\n\
         Car 0 0 -10 1 2 5 6 -1 -1 -1 -1000 -1000 -1000 -10\n\
         Car 0 0 0 1 2 5 6 0 0 0 0 0 0 0\n\
         Car 0 0 0.5 1 2 5 6 0 0 0 0 0 0 0\n",
    );
    let out = tmp.path().join("p");
    let r = json_of(&import("kitti", &dataset, &out, &["--json"]));
    assert_eq!(
        r["not_imported"],
        json!({"KITTI 3-D fields": 1, "KITTI alpha": 2})
    );
}

#[test]
fn yolo_import_has_no_float_noise() {
    // On a 20 px wide chip, centre 0.102 and width 0.004 give a left edge
    // of (0.102 - 0.002) * 20 = 1.9999999999999998 in f64 arithmetic.
    let tmp = tempfile::tempdir().unwrap();
    let dataset = tmp.path().join("yolo");
    put(&dataset, "images/g.bmp", chip_image("g.bmp"));
    put(&dataset, "obj.names", "car\n");
    put(
        &dataset,
        "labels/g.txt",
        "0 0.102000 0.500000 0.004000 0.200000\n",
    );
    let out = tmp.path().join("p");
    let r = json_of(&import("yolo", &dataset, &out, &["--json"]));
    assert_eq!(r["not_imported"], json!({}));
    let text = std::fs::read_to_string(out.join("project.json")).unwrap();
    let project: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        project["chips"][0]["labels"][0]["bbox"],
        json!([2.0, 4.0, 2.08, 6.0])
    );
    assert!(!text.contains("1.9999"), "{text}");
}
