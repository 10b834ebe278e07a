//! Segmentation label formats for labelstore.
//!
//! This crate holds the polygon rasterizer ([`rasterize`], [`Mask`]) that
//! turns a chip's polygons into a class mask the way GDAL rasterizes
//! (pixel centres decide), its inverse for masks ([`trace`]: pixel-edge
//! polygons that rasterize back to the mask), COCO's run-length encoding
//! and pycocotools' own polygon rasterization ([`rle`]), and (to
//! come) the semantic-segmentation mask formats of SPEC §3 (`png`, `tiff`,
//! `geotiff`, `gif`, `bmp`).

mod masks;
mod raster;
pub mod rle;
mod trace;

pub use crate::masks::{MaskFormat, class_mask, palette, voc_colour};
pub use crate::raster::{Mask, pixel_area, rasterize};
pub use crate::trace::trace;
