//! Object-detection label formats for labelstore.
//!
//! One module per format of SPEC §3 for object detection, each implementing
//! [`labels_model::LabelFormat`]: it writes one chip's labels at a time (and
//! reads them back) following its ecosystem's conventions exactly (VOC's
//! 1-based pixels, YOLO's normalized centres, COCO's `[x, y, w, h]`, KITTI's
//! 15 columns, Shapefile ring order), and lays its folder out the way that
//! ecosystem's loaders expect, with the chips placed beside the labels.
//!
//! | format | type | folder in a store |
//! |---|---|---|
//! | COCO | [`CocoFormat`] | `coco/` |
//! | Pascal VOC | [`VocFormat`] | `voc/` |
//! | KITTI | [`KittiFormat`] | `kitti/` |
//! | YOLO | [`YoloFormat`] | `yolo/` |
//! | GeoJSON | [`GeojsonFormat`] | `geojson/` |
//! | Shapefile | [`ShapefileFormat`] | `shapefile/` |
//!
//! labelstore's own `json` format lives in `labels_model::JsonFormat`
//! because it *is* the project manifest.

mod coco;
mod common;
mod geojson;
mod kitti;
mod shapefile;
mod voc;
mod yolo;

pub use crate::coco::CocoFormat;
pub use crate::common::check_placeable;
pub use crate::geojson::GeojsonFormat;
pub use crate::kitti::KittiFormat;
pub use crate::shapefile::ShapefileFormat;
pub use crate::voc::VocFormat;
pub use crate::yolo::YoloFormat;

#[cfg(test)]
mod tests {
    use std::path::Path;

    use labels_model::LabelFormat;

    use super::*;

    /// The formats that take `path`, by name.
    fn takers(path: &Path) -> Vec<&'static str> {
        let all: [&dyn LabelFormat; 6] = [
            &CocoFormat::default(),
            &VocFormat,
            &YoloFormat,
            &KittiFormat,
            &GeojsonFormat::default(),
            &ShapefileFormat,
        ];
        all.iter()
            .filter(|f| f.recognizes(path))
            .map(|f| f.name())
            .collect()
    }

    /// Files to make: path and content.
    type Files<'a> = &'a [(&'a str, &'a str)];

    fn touch(root: &Path, files: Files<'_>) {
        for (path, text) in files {
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
    }

    #[test]
    fn layouts_of_other_tools_are_recognized_by_their_format_alone() {
        let cases: [(Files<'_>, &str, &[&str]); 9] = [
            // LabelImg: VOC XML files beside the images.
            (
                &[
                    ("a.jpg", ""),
                    ("a.xml", "<?xml?>\n<annotation><size/></annotation>"),
                ],
                "",
                &["voc"],
            ),
            // A VOCdevkit holding VOC2012.
            (
                &[
                    ("VOC2012/Annotations/a.xml", "<annotation/>"),
                    ("VOC2012/ImageSets/Main/train.txt", "a\n"),
                ],
                "",
                &["voc"],
            ),
            // The KITTI benchmark's training folder.
            (&[("training/label_2/000001.txt", "")], "", &["kitti"]),
            // One COCO file, given or alone in its folder.
            (
                &[(
                    "instances_default.json",
                    "{\"images\": [], \"categories\": []}",
                )],
                "instances_default.json",
                &["coco"],
            ),
            (
                &[("ann/x.json", "{\"info\": {}, \"images\": []}")],
                "ann",
                &["coco"],
            ),
            // A GeoJSON file other tools wrote, named .json.
            (
                &[(
                    "l.json",
                    "{\"type\": \"FeatureCollection\", \"features\": []}",
                )],
                "l.json",
                &["geojson"],
            ),
            // Darknet: obj.names beside images/.
            (
                &[("obj.names", "ship\n"), ("images/a.jpg", "")],
                "",
                &["yolo"],
            ),
            // A class list alone, an XML file of another kind, a JSON file
            // of another kind: nothing.
            (
                &[
                    ("classes.txt", "ship\n"),
                    ("x.xml", "<svg/>"),
                    ("y.json", "{}"),
                ],
                "",
                &[],
            ),
            (&[("notes.txt", "")], "notes.txt", &[]),
        ];
        for (i, (files, given, expected)) in cases.into_iter().enumerate() {
            let dir = tempfile::tempdir().unwrap();
            touch(dir.path(), files);
            assert_eq!(takers(&dir.path().join(given)), expected, "case {i}");
        }
    }
}
