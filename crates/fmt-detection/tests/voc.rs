//! Outside judge for Pascal VOC: Datumaro's importers detect and import
//! what `VocFormat` writes (item counts, boxes, class names, attributes,
//! images), and `VocFormat` reads what Datumaro's own VOC exporter writes.

mod voc_kitti_common;

use fmt_detection::VocFormat;
use labels_model::{Geometry, LabelFormat};
use serde_json::json;
use voc_kitti_common::{datumaro, files_under, project, store};

fn flags(difficult: bool, occluded: bool, pose: &str, truncated: bool) -> serde_json::Value {
    json!({"difficult": difficult, "occluded": occluded, "pose": pose, "truncated": truncated})
}

/// What Datumaro must see, boxes in pixel-edge coordinates.
fn expected_items(type_a: bool) -> serde_json::Value {
    let velo = "vélo lourd & <co>";
    let plain = flags(false, false, "Unspecified", false);
    let mut r1_c1 =
        vec![json!({"label": "car", "box": [1.0, 0.0, 15.0, 9.0], "attributes": plain})];
    if type_a {
        r1_c1.push(json!({"label": "type:A", "box": [1.0, 1.0, 3.0, 3.0], "attributes": plain}));
    }
    json!([
        {"id": "r0_c1", "subset": "train", "image": "JPEGImages/r0_c1.png", "size": [32, 32],
         "annotations": [
            {"label": "car", "box": [0.0, 0.0, 32.0, 32.0],
             "attributes": flags(false, false, "Unspecified", true)},
            // [1.5, 2.25, 10, 12.75] -> xmin 3, ymin 3, xmax 10, ymax 13 (halves round up)
            {"label": velo, "box": [2.0, 2.0, 10.0, 13.0], "attributes": flags(true, true, "Left", false)},
            {"label": "car", "box": [20.0, 20.0, 31.0, 31.0], "attributes": plain},
         ]},
        {"id": "r0_c2", "subset": "train", "image": "JPEGImages/r0_c2.png", "size": [30, 40],
         "annotations": [
            {"label": velo, "box": [3.0, 4.0, 5.0, 6.0],
             "attributes": flags(false, true, "Unspecified", true)},
         ]},
        {"id": "r1_c1", "subset": "train", "image": "JPEGImages/r1_c1.tif", "size": [9, 15],
         "annotations": r1_c1},
        {"id": "r1_c2", "subset": "train", "image": "JPEGImages/r1_c2.png", "size": [16, 16],
         "annotations": []},
    ])
}

#[test]
fn datumaro_imports_the_store() {
    let (p, files) = project(false);
    let dir = store(&VocFormat, &p, &files);
    let voc = dir.path().join("voc");
    assert_eq!(
        files_under(dir.path()),
        [
            "chips/r0_c1.png",
            "chips/r0_c2.png",
            "chips/r1_c1.tif",
            "chips/r1_c2.png",
            "voc/Annotations/r0_c1.xml",
            "voc/Annotations/r0_c2.xml",
            "voc/Annotations/r1_c1.xml",
            "voc/Annotations/r1_c2.xml",
            "voc/ImageSets/Main/train.txt",
            "voc/JPEGImages/r0_c1.png",
            "voc/JPEGImages/r0_c2.png",
            "voc/JPEGImages/r1_c1.tif",
            "voc/JPEGImages/r1_c2.png",
            "voc/labelmap.txt",
        ]
    );
    // The chip is placed byte for byte.
    assert_eq!(
        std::fs::read(voc.join("JPEGImages/r1_c1.tif")).unwrap(),
        std::fs::read(dir.path().join("chips/r1_c1.tif")).unwrap()
    );

    let exported = dir.path().join("datumaro-voc");
    let seen = datumaro(
        "voc_detection",
        &voc,
        json!({"coordinate_mode": "voc-one-based"}),
        Some((
            &exported,
            "voc_detection",
            json!({"coordinate_mode": "voc-one-based"}),
        )),
    );
    assert_eq!(
        seen["detected"],
        json!(["voc", "voc_classification", "voc_detection"])
    );
    assert_eq!(
        seen["labels"],
        json!(["car", "unused", "vélo lourd & <co>"])
    );
    assert_eq!(seen["items"], expected_items(false));

    // Datumaro's default mode reads the numbers as they are: 1-based.
    let raw = datumaro("voc_detection", &voc, json!({}), None);
    assert_eq!(
        raw["items"][0]["annotations"][0]["box"],
        json!([1.0, 1.0, 32.0, 32.0])
    );
    assert_eq!(
        raw["items"][0]["annotations"][1]["box"],
        json!([3.0, 3.0, 10.0, 13.0])
    );

    // VocFormat reads what Datumaro's exporter wrote (no XML for the
    // unlabelled chip, per-class lists, its own labelmap).
    let back = VocFormat.read(&exported).unwrap();
    let ids: Vec<_> = back.chips.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["r0_c1", "r0_c2", "r1_c1", "r1_c2"]);
    let names: Vec<_> = back.classes.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["car", "unused", "vélo lourd & <co>"]);
    let boxes: Vec<Vec<[f64; 4]>> = back
        .chips
        .iter()
        .map(|c| {
            c.labels
                .iter()
                .map(|l| match l.geometry {
                    Geometry::BBox(b) => b,
                    _ => panic!("not a box"),
                })
                .collect()
        })
        .collect();
    assert_eq!(
        boxes,
        [
            vec![
                [0.0, 0.0, 32.0, 32.0],
                [2.0, 2.0, 10.0, 13.0],
                [20.0, 20.0, 31.0, 31.0]
            ],
            vec![[3.0, 4.0, 5.0, 6.0]],
            vec![[1.0, 0.0, 15.0, 9.0]],
            vec![],
        ]
    );
    let empty = &back.chips[3];
    assert!(empty.saved_empty);
    assert_eq!(empty.image, std::path::Path::new("JPEGImages/r1_c2.png"));
    assert!(exported.join(&empty.image).is_file());
    assert_eq!(
        serde_json::Value::Object(back.chips[0].labels[1].attributes.clone()),
        json!({"difficult": true, "occluded": 1, "pose": "Left"})
    );
}

#[test]
fn datumaro_reads_dataset_meta_for_names_labelmap_cannot_hold() {
    let (p, files) = project(true);
    let dir = store(&VocFormat, &p, &files);
    let voc = dir.path().join("voc");
    assert_eq!(
        std::fs::read_to_string(voc.join("labelmap.txt")).unwrap(),
        "# label:color_rgb:parts:actions\ncar:::\nunused:1,2,3::\nvélo lourd & <co>:0,170,0::\n"
    );
    assert!(voc.join("dataset_meta.json").is_file());
    let seen = datumaro(
        "voc_detection",
        &voc,
        json!({"coordinate_mode": "voc-one-based"}),
        None,
    );
    assert_eq!(
        seen["labels"],
        json!(["car", "unused", "vélo lourd & <co>", "type:A"])
    );
    assert_eq!(seen["items"], expected_items(true));
}

#[test]
fn datumaro_zero_based_export_reads_one_pixel_up_left() {
    // Datumaro's default VOC dialect writes 0-based floats; read as VOC's
    // 1-based pixels they move one pixel left and up (clamped at 0).
    let (p, files) = project(false);
    let dir = store(&VocFormat, &p, &files);
    let exported = dir.path().join("datumaro-voc0");
    datumaro(
        "voc_detection",
        &dir.path().join("voc"),
        json!({"coordinate_mode": "voc-one-based"}),
        Some((&exported, "voc_detection", json!({}))),
    );
    let xml = std::fs::read_to_string(exported.join("Annotations/r0_c1.xml")).unwrap();
    assert!(xml.contains("<xmin>2.0</xmin>"), "{xml}");
    let back = VocFormat.read(&exported).unwrap();
    let l = &back.chips[0].labels;
    assert_eq!(l[0].geometry, Geometry::BBox([0.0, 0.0, 32.0, 32.0]));
    assert_eq!(l[1].geometry, Geometry::BBox([1.0, 1.0, 10.0, 13.0]));
}

#[test]
fn depth_is_the_chips_samples_per_pixel() {
    // Samples per pixel as resolve reads them from the headers: a gray
    // PNG, an RGBA PNG, a palette image, and a chip whose header did not
    // say (VOC's usual 3).
    let (mut p, files) = project(false);
    for (chip, samples) in p.chips.iter_mut().zip([Some(1), Some(4), Some(3), None]) {
        chip.samples = samples;
    }
    let dir = store(&VocFormat, &p, &files);
    let voc = dir.path().join("voc");
    let depth = |id: &str| {
        let xml = std::fs::read_to_string(voc.join(format!("Annotations/{id}.xml"))).unwrap();
        let start = xml.find("<depth>").unwrap() + "<depth>".len();
        xml[start..start + xml[start..].find('<').unwrap()].to_owned()
    };
    assert_eq!(
        ["r0_c1", "r0_c2", "r1_c1", "r1_c2"].map(depth),
        ["1", "4", "3", "3"]
    );
    assert_eq!(one_based_items(&voc), expected_items(false));
}

#[test]
fn a_box_one_pixel_or_less_wide_is_left_out() {
    // 0.2 px wide: VOC's integer pixels would give xmin == xmax, a zero
    // width to torchvision. Left out (VocFormat::leaves_out says so, the
    // conformance suite uses it); Datumaro sees the other boxes only.
    let (mut p, files) = project(false);
    p.chips[0].labels.push(labels_model::Label {
        class_id: 2,
        geometry: labels_model::Geometry::BBox([10.0, 10.0, 10.2, 20.0]),
        attributes: Default::default(),
    });
    assert!(VocFormat.leaves_out(&p.chips[0], &p.chips[0].labels[3]));
    assert!(!VocFormat.leaves_out(&p.chips[0], &p.chips[0].labels[0]));
    let dir = store(&VocFormat, &p, &files);
    let voc = dir.path().join("voc");
    let xml = std::fs::read_to_string(voc.join("Annotations/r0_c1.xml")).unwrap();
    assert_eq!(xml.matches("<object>").count(), 3);
    assert_eq!(one_based_items(&voc), expected_items(false));
}

/// What Datumaro imports from `voc` (VOC detection, one-based).
fn one_based_items(voc: &std::path::Path) -> serde_json::Value {
    let seen = datumaro(
        "voc_detection",
        voc,
        json!({"coordinate_mode": "voc-one-based"}),
        None,
    );
    seen["items"].clone()
}
