//! Label shapes in pixel coordinates, and what labelstore computes on them.
//!
//! A label's shape is a [`Geometry`]: a box, a [`Polygon`] (an outer
//! [`Ring`] and its holes) or several polygons, in continuous pixel
//! coordinates (origin at the top-left corner of the top-left pixel, y
//! down). This crate clips shapes to a chip ([`clip`], Sutherland–Hodgman),
//! rasterizes them into a [`Mask`] the way GDAL does ([`rasterize`]: pixel
//! centres decide), encodes masks and polygons as COCO's run-length
//! encoding the way pycocotools does ([`rle`]), and traces a mask back into
//! polygons along pixel edges ([`trace`]).
//!
//! It is a leaf: pure arithmetic, no I/O, and no other labelstore crate, so
//! the model and every format crate can share it without depending on each
//! other.
//!
//! ```
//! use pixel_geometry::{ClipOutcome, Geometry, clip, rasterize, trace};
//! let square = Geometry::Polygon(vec![vec![[1.0, 1.0], [3.0, 1.0], [3.0, 3.0], [1.0, 3.0]]]);
//! assert_eq!(clip(&square, 4.0, 4.0), ClipOutcome::Inside);
//! let mask = rasterize(4, 4, 0, [(&square, 7)]);
//! assert_eq!(mask.data.iter().filter(|&&v| v == 7).count(), 4);
//! assert_eq!(trace(&mask, 7).len(), 1);
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod clip;
mod raster;
pub mod rle;
mod shape;
mod trace;

pub use crate::clip::{ClipOutcome, clip};
pub use crate::raster::{Mask, pixel_area, rasterize, shoelace};
pub use crate::shape::{Geometry, Polygon, Ring};
pub use crate::trace::trace;
