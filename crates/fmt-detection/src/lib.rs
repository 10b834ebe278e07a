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
