//! Segmentation label formats for labelstore.
//!
//! This crate holds the semantic-segmentation mask formats of SPEC §3
//! ([`MaskFormat`]: `png`, `tiff`, `geotiff`, `gif`, `bmp`) and a chip's
//! class mask ([`class_mask`]: its mask file, or its polygons rasterized
//! by `pixel_geometry::rasterize`, pixel centres decide, as GDAL does).

mod masks;

pub use crate::masks::{MaskFormat, class_mask, palette, voc_colour};
