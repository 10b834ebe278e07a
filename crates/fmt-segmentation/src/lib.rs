//! Segmentation label formats for labelstore.
//!
//! This crate will hold instance segmentation (COCO polygons and RLE) and the
//! semantic-segmentation mask writers and readers of SPEC §3 (`png`, `tiff`,
//! `geotiff`, `gif`, `bmp`), together with the polygon rasterizer that turns a
//! chip's polygons into a class mask the way GDAL rasterizes (pixel centres decide).
//! Each format implements [`labels_model`]'s `LabelFormat` trait.
//!
//! Nothing is implemented here yet.
