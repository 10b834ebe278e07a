//! Outside judge for KITTI: Datumaro's importers detect and import what
//! `KittiFormat` writes (item counts, boxes, class names, attributes,
//! images), and `KittiFormat` reads what Datumaro's own KITTI exporter
//! writes (16 columns, no file for an unlabelled chip).

mod voc_kitti_common;

use fmt_detection::KittiFormat;
use labels_model::{Geometry, LabelFormat};
use serde_json::json;
use voc_kitti_common::{datumaro, files_under, project, store};

#[test]
fn datumaro_imports_the_store() {
    let (p, files) = project(false);
    let dir = store(&KittiFormat, &p, &files);
    let kitti = dir.path().join("kitti");
    assert_eq!(
        files_under(dir.path()),
        [
            "chips/r0_c1.png",
            "chips/r0_c2.png",
            "chips/r1_c1.tif",
            "chips/r1_c2.png",
            "kitti/ImageSets/train.txt",
            "kitti/dataset_meta.json",
            "kitti/train/image_2/r0_c1.png",
            "kitti/train/image_2/r0_c2.png",
            "kitti/train/image_2/r1_c1.tif",
            "kitti/train/image_2/r1_c2.png",
            "kitti/train/label_2/r0_c1.txt",
            "kitti/train/label_2/r0_c2.txt",
            "kitti/train/label_2/r1_c1.txt",
            "kitti/train/label_2/r1_c2.txt",
        ]
    );
    let label =
        |id: &str| std::fs::read_to_string(kitti.join(format!("train/label_2/{id}.txt"))).unwrap();
    assert_eq!(
        label("r0_c1"),
        "car 1 0 0 0 0 32 32 0 0 0 0 0 0 0\n\
         vélo%20lourd%20&%20<co> 0 2 0 1.5 2.25 10 12.75 0 0 0 0 0 0 0\n\
         car 0 0 0 20 20 30.5 31 0 0 0 0 0 0 0\n"
    );
    assert_eq!(label("r1_c2"), "");
    for id in ["r0_c1", "r0_c2", "r1_c1"] {
        for line in label(id).lines() {
            assert_eq!(line.split_whitespace().count(), 15, "{line}");
        }
    }
    assert_eq!(
        std::fs::read(kitti.join("train/image_2/r1_c1.tif")).unwrap(),
        std::fs::read(dir.path().join("chips/r1_c1.tif")).unwrap()
    );

    let exported = dir.path().join("datumaro-kitti");
    let seen = datumaro(
        "kitti_detection",
        &kitti,
        json!({}),
        Some((&exported, "kitti_detection", json!({}))),
    );
    assert_eq!(seen["detected"], json!(["kitti", "kitti_detection"]));
    let velo = "vélo%20lourd%20&%20<co>";
    assert_eq!(seen["labels"], json!(["car", "unused", velo]));
    let flags =
        |occluded: bool, truncated: bool| json!({"occluded": occluded, "truncated": truncated});
    assert_eq!(
        seen["items"],
        json!([
            {"id": "r0_c1", "subset": "train", "image": "train/image_2/r0_c1.png", "size": [32, 32],
             "annotations": [
                {"label": "car", "box": [0.0, 0.0, 32.0, 32.0], "attributes": flags(false, true)},
                {"label": velo, "box": [1.5, 2.25, 10.0, 12.75], "attributes": flags(true, false)},
                {"label": "car", "box": [20.0, 20.0, 30.5, 31.0], "attributes": flags(false, false)},
             ]},
            {"id": "r0_c2", "subset": "train", "image": "train/image_2/r0_c2.png", "size": [30, 40],
             "annotations": [
                {"label": velo, "box": [3.0, 4.0, 5.0, 6.0], "attributes": flags(true, true)},
             ]},
            {"id": "r1_c1", "subset": "train", "image": "train/image_2/r1_c1.tif", "size": [9, 15],
             "annotations": [
                {"label": "car", "box": [0.5, 0.0, 15.0, 9.0], "attributes": flags(false, false)},
             ]},
            {"id": "r1_c2", "subset": "train", "image": "train/image_2/r1_c2.png", "size": [16, 16],
             "annotations": []},
        ])
    );

    // KittiFormat reads what Datumaro's exporter wrote: 16 columns with -1
    // fillers and a score, and no label file for the unlabelled chip.
    let first = std::fs::read_to_string(exported.join("train/label_2/r0_c1.txt")).unwrap();
    assert_eq!(
        first.lines().next(),
        Some("car 1.0 0 -1 0.0 0.0 32.0 32.0 -1 -1 -1 -1 -1 -1 -1 1.0")
    );
    assert!(!exported.join("train/label_2/r1_c2.txt").exists());
    let back = KittiFormat.read(&exported).unwrap();
    let ids: Vec<_> = back.chips.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["r0_c1", "r0_c2", "r1_c1", "r1_c2"]);
    let names: Vec<_> = back.classes.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["car", "vélo lourd & <co>"]);
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
                [1.5, 2.25, 10.0, 12.75],
                [20.0, 20.0, 30.5, 31.0]
            ],
            vec![[3.0, 4.0, 5.0, 6.0]],
            vec![[0.5, 0.0, 15.0, 9.0]],
            vec![],
        ]
    );
    let attrs = |chip: usize, label: usize| {
        serde_json::Value::Object(back.chips[chip].labels[label].attributes.clone())
    };
    assert_eq!(attrs(0, 0), json!({"truncated": true, "score": 1.0}));
    assert_eq!(attrs(0, 1), json!({"occluded": 1, "score": 1.0}));
    assert_eq!(
        attrs(1, 0),
        json!({"truncated": true, "occluded": 1, "score": 1.0})
    );
    let empty = &back.chips[3];
    assert!(empty.saved_empty && empty.labels.is_empty());
    assert_eq!(empty.image, std::path::Path::new("train/image_2/r1_c2.png"));
}

#[test]
fn our_reader_agrees_with_datumaro_on_our_store() {
    let (p, files) = project(false);
    let dir = store(&KittiFormat, &p, &files);
    let back = KittiFormat.read(dir.path()).unwrap();
    let names: Vec<_> = back.classes.iter().map(|c| c.name.as_str()).collect();
    // Every class, in id order, with its real name (the token decoded).
    assert_eq!(names, ["car", "unused", "vélo lourd & <co>"]);
    assert_eq!(back.chips.len(), 4);
    for (got, want) in back.chips.iter().zip(&p.chips) {
        assert_eq!(got.id, want.id);
        let g: Vec<_> = got.labels.iter().map(|l| &l.geometry).collect();
        let w: Vec<_> = want.labels.iter().map(|l| &l.geometry).collect();
        assert_eq!(g, w, "boxes are exact");
        assert_eq!(got.saved_empty, want.saved_empty);
    }
}

/// One folder per split: Datumaro's subsets are the project's splits, each
/// with its chips; Datumaro's own export of them reads back with the same
/// splits; and our reader keeps them.
#[test]
fn datumaro_reads_every_split() {
    let (mut p, files) = project(false);
    for (chip, split) in p
        .chips
        .iter_mut()
        .zip([None, Some("val"), Some("test"), Some("val")])
    {
        chip.split = split.map(str::to_owned);
    }
    let dir = store(&KittiFormat, &p, &files);
    let kitti = dir.path().join("kitti");
    let exported = dir.path().join("datumaro-kitti");
    let seen = datumaro(
        "kitti_detection",
        &kitti,
        json!({}),
        Some((&exported, "kitti_detection", json!({}))),
    );
    let subsets: Vec<(String, String, usize)> = seen["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["subset"].as_str().unwrap().to_owned(),
                i["id"].as_str().unwrap().to_owned(),
                i["annotations"].as_array().unwrap().len(),
            )
        })
        .collect();
    let s = |a: &str, b: &str, n: usize| (a.to_owned(), b.to_owned(), n);
    assert_eq!(
        subsets,
        [
            s("test", "r1_c1", 1),
            s("train", "r0_c1", 3),
            s("val", "r0_c2", 1),
            s("val", "r1_c2", 0),
        ]
    );
    assert_eq!(seen["items"][0]["image"], "test/image_2/r1_c1.tif");
    for root in [&kitti, &exported] {
        let back = KittiFormat.read(root).unwrap();
        let got: Vec<_> = back
            .chips
            .iter()
            .map(|c| (c.id.as_str(), c.split(), c.labels.len()))
            .collect();
        assert_eq!(
            got,
            [
                ("r0_c1", "train", 3),
                ("r0_c2", "val", 1),
                ("r1_c2", "val", 0),
                ("r1_c1", "test", 1),
            ],
            "{}",
            root.display()
        );
    }
}
