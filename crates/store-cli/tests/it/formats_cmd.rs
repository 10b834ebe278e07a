//! `labelstore formats [--json]`: every format with what its
//! implementation says of itself.

use serde_json::{Value, json};

use crate::util::{run, stderr, stdout};

const NAMES: [&str; 12] = [
    "json",
    "geojson",
    "shapefile",
    "voc",
    "coco",
    "kitti",
    "yolo",
    "png",
    "tiff",
    "geotiff",
    "gif",
    "bmp",
];

#[test]
fn json_lists_every_format_with_stable_keys() {
    let o = run(&["formats", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let all: Value = serde_json::from_slice(&o.stdout).unwrap();
    let all = all.as_array().unwrap();
    let names: Vec<&str> = all.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, NAMES);
    assert_eq!(
        all[4],
        json!({
            "name": "coco",
            "aliases": ["ms-coco", "mscoco", "coco_instances"],
            "labeling_types": ["object_detection", "instance_segmentation"],
            "import": true,
            "store": true,
            "splits": true,
            "cannot_carry": [
                "exact coordinates (within 0.000001 px)",
                "instance_segmentation polygon vertices (some come back as the outline of the same mask)"
            ],
            "layout": "coco/annotations/instances_<split>.json, coco/images/<split>/"
        })
    );
    assert_eq!(
        all[6],
        json!({
            "name": "yolo",
            "aliases": ["yolov5", "yolov8", "ultralytics", "darknet"],
            "labeling_types": ["object_detection"],
            "import": true,
            "store": true,
            "splits": true,
            "cannot_carry": [
                "exact coordinates (within 0.01 px)",
                "class ids (classes come back numbered 1, 2, 3... in id order)",
                "attributes",
                "boxes that round to zero width or height (left out and counted)"
            ],
            "layout": "yolo/data.yaml, yolo/images/<split>/, yolo/labels/<split>/, yolo/obj.data, yolo/obj.names"
        })
    );
    assert_eq!(
        all[0],
        json!({
            "name": "json",
            "aliases": ["labelstore"],
            "labeling_types": ["object_detection", "instance_segmentation", "semantic_segmentation"],
            "import": false,
            "store": true,
            "splits": true,
            "cannot_carry": [],
            "layout": "project.json, chips/, masks/ (semantic segmentation)"
        })
    );
    // Same bytes every run.
    assert_eq!(run(&["formats", "--json"]).stdout, o.stdout);
}

#[test]
fn text_has_a_row_and_a_layout_per_format() {
    let o = run(&["formats"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        [
            "FORMAT", "LABELING", "TYPES", "IMPORT", "STORE", "SPLITS", "ALIASES"
        ]
    );
    for (i, name) in NAMES.iter().enumerate() {
        assert_eq!(lines[1 + i].split_whitespace().next(), Some(*name));
        assert!(
            text.contains(&format!("\n{name}: ")),
            "no layout line for {name}"
        );
    }
    assert_eq!(
        lines[7].split_whitespace().collect::<Vec<_>>(),
        [
            "yolo",
            "object_detection",
            "yes",
            "yes",
            "yes",
            "yolov5,",
            "yolov8,",
            "ultralytics,",
            "darknet"
        ]
    );
    assert!(text.contains(
        "\nkitti: kitti/<split>/label_2/<id>.txt, kitti/<split>/image_2/, kitti/ImageSets/<split>.txt\n  \
         cannot carry: class ids (classes come back numbered 1, 2, 3... in id order); \
         attributes other than truncated, occluded\n"
    ));
}
