//! Object-detection label formats for labelstore.
//!
//! This crate will hold one module per format of SPEC §3 for object detection:
//! `geojson`, `shapefile`, `voc` (Pascal VOC), `coco`, `kitti` and `yolo`.
//! Each module implements [`labels_model`]'s `LabelFormat` trait: it writes one
//! chip's labels at a time (and later reads them back) following its ecosystem's
//! conventions exactly (VOC's 1-based pixels, YOLO's normalized centres, COCO's
//! `[x, y, w, h]`, KITTI's 15 columns, Shapefile ring order).
//!
//! Nothing is implemented here yet; labelstore's own `json` format lives in
//! `labels_model::json` because it *is* the project manifest.
