//! What the format modules share, so that no format module imports
//! another: each imports this module only.
//!
//! - `builder`: the project a box reader builds (class table and chips).
//! - `dataset`: Datumaro's class table (`dataset_meta.json`), split lists,
//!   finding an image by its stem, class tables for writers and readers,
//!   and small helpers for files, errors and numbers (VOC, KITTI; `denoise`
//!   for every reader that computes coordinates).
//! - `detect`: cheap looks at names and file heads, for each format's
//!   `recognizes` (what `import --from auto` asks).
//! - `geo_layout`: the layers, `index.json` and reading side that GeoJSON
//!   and Shapefile share.
//! - `ids`: chip ids and dataset names for datasets made elsewhere (COCO,
//!   YOLO).
//! - `placed`: the chip images placed beside the labels, kept or
//!   re-encoded as PNG or JPEG (COCO, VOC, YOLO, KITTI).

mod builder;
mod dataset;
mod detect;
mod geo_layout;
mod ids;
mod placed;

pub(crate) use builder::*;
pub(crate) use dataset::*;
pub(crate) use detect::*;
pub(crate) use geo_layout::*;
pub(crate) use ids::*;
pub use placed::check_placeable;
pub(crate) use placed::*;
