//! Segmentation label formats for labelstore.
//!
//! This crate holds the polygon rasterizer ([`rasterize`], [`Mask`]) that
//! turns a chip's polygons into a class mask the way GDAL rasterizes
//! (pixel centres decide), COCO's run-length encoding ([`rle`]), and (to
//! come) the semantic-segmentation mask formats of SPEC §3 (`png`, `tiff`,
//! `geotiff`, `gif`, `bmp`).

mod masks;
mod raster;
pub mod rle;

pub use crate::masks::{MaskFormat, class_mask, palette, voc_colour};
pub use crate::raster::{Mask, pixel_area, rasterize};
