//! Georeferencing of raster chips for labelstore.
//!
//! A chip's place on the map is a [`GeoTransform`]: GDAL's six coefficients,
//! corner-based, rotation and shear included. This crate converts between
//! geotransforms and ESRI world files (whose origin is the *centre* of the
//! upper-left pixel, see [`GeoTransform::from_world_file`]) and knows which
//! sidecar file names GDAL probes for an image ([`world_file_candidates`]).
//!
//! GeoTIFF tags, CRS definitions and the PostGIS raster encoder join this
//! crate with the georeferencing work; everything here is synchronous and pure.
//!
//! ```
//! use raster_georef::GeoTransform;
//! let gt = GeoTransform::parse_world_file("10\n0\n0\n-10\n500005\n4099995\n", "chip.pgw")?;
//! assert_eq!(gt.0, [500000.0, 10.0, 0.0, 4100000.0, 0.0, -10.0]);
//! assert_eq!(gt.pixel_to_map(1.0, 1.0), (500010.0, 4099990.0));
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod check;
mod chip;
mod crs;
mod error;
mod excerpt;
mod geotiff;
mod pixels;
mod rastertiff;
mod rows;
mod scene;
mod tiffio;
mod transform;
mod wkb;
mod worldfile;

pub use crate::check::{Depth, MAX_SAMPLES_PER_PIXEL, check_structure};
pub use crate::chip::{
    Band8, chip_file_to_geotiff, chip_to_geotiff, conversion_memory, copied_conversion_memory,
    decode_band8, encode_band8_tiff,
};
pub use crate::crs::Crs;
pub use crate::error::{Error, Result};
pub use crate::excerpt::{EXCERPT_CHARS, excerpt, shorten_quotes};
pub use crate::geotiff::{CrsKeys, EmbeddedGeoref, read_embedded};
pub use crate::pixels::{Color, DecodedImage, Samples, decode_image, read_samples, wrapped_jpeg};
pub use crate::rastertiff::raster_to_geotiff;
pub use crate::scene::{ChipTiff, SampleType, Scene, Window};
pub use crate::transform::GeoTransform;
pub use crate::wkb::{PixelType, Pixels, RasterBand, WkbError, WkbRaster};
pub use crate::worldfile::{SiblingWorldFiles, world_file_candidates};
