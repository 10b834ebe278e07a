//! The chips `bench db` and `bench objstore` store: `n` georeferenced
//! GeoTIFF chips, 256x256 pixels, 3 bands of 8 bits (uncompressed RGB, as
//! the `tiff` crate writes them), EPSG:32632 in their own geokeys, 0.5 m
//! pixels, on a grid of 64 chips a row; each with one labeled box, named
//! by a labelstore project (`project.json`). Made once into
//! `target/bench/geotiff-<n>/` and reused; `project.json` is written last,
//! so a folder without it is made again.

use std::fmt::Write as _;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Chips stored when `--chips` is not given.
pub(super) const DEFAULT_CHIPS: usize = 3000;
/// Width and height of a chip, in pixels.
pub(super) const SIZE: u32 = 256;
/// Bands of a chip.
pub(super) const BANDS: usize = 3;
/// The chips' CRS: WGS 84 / UTM zone 32N.
pub(super) const SRID: u16 = 32632;
/// Ground size of a pixel, in metres.
const PIXEL_SIZE: f64 = 0.5;
/// Chips in a row of the grid.
const PER_ROW: usize = 64;

/// The project folder holding `n` chips, made when missing.
pub(super) fn project(root: &Path, n: usize) -> anyhow::Result<PathBuf> {
    let dir = root.join(format!("target/bench/geotiff-{n}"));
    if dir.join("project.json").exists() {
        println!("xtask: {n} GeoTIFF chips cached in {}", dir.display());
        return Ok(dir);
    }
    let chips = dir.join("chips");
    std::fs::create_dir_all(&chips).with_context(|| format!("creating {}", chips.display()))?;
    let mut json = String::from(
        "{\n  \"labelstore\": 1,\n  \"name\": \"bench\",\n  \
         \"labeling_type\": \"object_detection\",\n  \"srid\": 32632,\n  \
         \"classes\": [{\"id\": 1, \"name\": \"ship\"}],\n  \"chips\": [\n",
    );
    for i in 0..n {
        let id = id(i);
        let path = chips.join(format!("{id}.tif"));
        std::fs::write(&path, geotiff(i)?)
            .with_context(|| format!("writing {}", path.display()))?;
        let x = (i % 100) as f64 + 10.5;
        let sep = if i + 1 == n { "" } else { "," };
        writeln!(
            json,
            "    {{\"id\": \"{id}\", \"image\": \"chips/{id}.tif\", \"labels\": \
             [{{\"class\": \"ship\", \"bbox\": [{x}, 20, {}, 84.25]}}]}}{sep}",
            x + 60.0
        )?;
    }
    json.push_str("  ]\n}\n");
    let manifest = dir.join("project.json");
    std::fs::write(&manifest, json).with_context(|| format!("writing {}", manifest.display()))?;
    println!("xtask: made {n} GeoTIFF chips in {}", dir.display());
    Ok(dir)
}

/// The id of chip `i`, also its file name without `.tif`.
pub(super) fn id(i: usize) -> String {
    format!("c{i:05}")
}

/// Chip `i`: a pattern that differs from chip to chip, georeferenced by a
/// pixel scale, one tiepoint and the geokeys projected / PixelIsArea /
/// EPSG [`SRID`].
fn geotiff(i: usize) -> anyhow::Result<Vec<u8>> {
    use tiff::encoder::{TiffEncoder, colortype::RGB8};
    use tiff::tags::Tag;

    let side = SIZE as usize;
    let mut rgb = Vec::with_capacity(side * side * BANDS);
    for y in 0..side {
        for x in 0..side {
            let h = (x * 31 + y * 17 + i * 101) ^ (x * y + i);
            rgb.extend([(x + i) as u8, (y * 3 + i * 7) as u8, (h % 251) as u8]);
        }
    }
    let span = f64::from(SIZE) * PIXEL_SIZE;
    let x0 = 500_000.0 + (i % PER_ROW) as f64 * span;
    let y0 = 4_650_000.0 - (i / PER_ROW) as f64 * span;
    let geokeys: [u16; 16] = [
        1, 1, 0, 3, // directory version, key revision, minor revision, key count
        1024, 0, 1, 1, // GTModelTypeGeoKey: projected
        1025, 0, 1, 1, // GTRasterTypeGeoKey: PixelIsArea
        3072, 0, 1, SRID, // ProjectedCSTypeGeoKey
    ];
    let mut out = Cursor::new(Vec::new());
    let mut tiff = TiffEncoder::new(&mut out).context("TIFF header")?;
    let mut image = tiff.new_image::<RGB8>(SIZE, SIZE).context("TIFF image")?;
    let dir = image.encoder();
    dir.write_tag(Tag::ModelPixelScaleTag, &[PIXEL_SIZE, PIXEL_SIZE, 0.0][..])?;
    dir.write_tag(Tag::ModelTiepointTag, &[0.0, 0.0, 0.0, x0, y0, 0.0][..])?;
    dir.write_tag(Tag::GeoKeyDirectoryTag, &geokeys[..])?;
    image.write_data(&rgb).context("TIFF data")?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chips_are_geotiffs_gdal_reads_and_the_project_names_them() {
        let root = tempfile::tempdir().unwrap();
        let dir = project(root.path(), 66).unwrap();
        assert_eq!(dir, root.path().join("target/bench/geotiff-66"));
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("project.json")).unwrap()).unwrap();
        let chips = manifest["chips"].as_array().unwrap();
        assert_eq!(chips.len(), 66);
        assert_eq!(chips[65]["image"], "chips/c00065.tif");
        assert_eq!(chips[65]["labels"][0]["bbox"][0], 75.5);
        // Chip 65 is the second of the second row of the grid.
        let out = std::process::Command::new("gdalinfo")
            .arg(dir.join("chips/c00065.tif"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let info = String::from_utf8(out.stdout).unwrap();
        for want in [
            "Size is 256, 256",
            "ID[\"EPSG\",32632]",
            "Origin = (500128.000000000000000,4649872.000000000000000)",
            "Pixel Size = (0.500000000000000,-0.500000000000000)",
            "Band 3 Block=256x",
        ] {
            assert!(info.contains(want), "{want} not in {info}");
        }
        assert!(!info.contains("Band 4"), "{info}");
    }
}
