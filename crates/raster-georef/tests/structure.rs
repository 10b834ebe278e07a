//! The structure check against what GDAL writes: every source image of
//! every kind GDAL and the `png` crate make (PNG of each colour type,
//! palettes, JPEG, GIF, BMP, TIFF strips and tiles, LZW/Deflate/JPEG
//! compression, big-endian, planar) passes `check_structure` read in full and
//! by headers, so the check refuses only what is broken.

use raster_georef::{Depth, check_structure};

#[path = "support/sources.rs"]
mod sources;

#[test]
fn every_image_gdal_makes_passes_the_structure_check() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = sources::sources(tmp.path());
    assert!(cases.len() >= 23, "{}", cases.len());
    for case in cases {
        for depth in [Depth::Headers, Depth::Full] {
            let file = std::fs::File::open(&case.path).unwrap();
            let checked = check_structure(std::io::BufReader::new(file), &case.name, depth);
            assert!(checked.is_ok(), "{} ({depth:?}): {checked:?}", case.name);
        }
    }
}
