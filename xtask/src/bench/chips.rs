//! The chips the benchmarks store: `n` georeferenced chips, 256x256 pixels,
//! 3 bands of 8 bits, EPSG:32632, 0.5 m pixels, on a grid of 64 chips a
//! row; each with one labeled box, named by a labelstore project
//! (`project.json`). Made once into `target/bench/<kind>-<n>/` and reused;
//! `project.json` is written last, so a folder without it is made again.
//!
//! - [`project`] (`bench db`, `bench objstore`): GeoTIFFs (uncompressed RGB,
//!   as the `tiff` crate writes them) with the CRS in their own geokeys;
//! - [`world_file_project`] (`bench geotiff`): PNGs or JPEGs, each with a
//!   world file beside it (`.pgw`, `.jgw`) and the CRS in the project's
//!   `srid`.

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

/// The project folder holding `n` GeoTIFF chips, made when missing.
pub(super) fn project(root: &Path, n: usize) -> anyhow::Result<PathBuf> {
    make(root, n, None)
}

/// The image format of world-file chips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    /// PNG, RGB, 8 bits, with a `.pgw` world file.
    Png,
    /// Baseline JPEG at quality [`JPEG_QUALITY`], with a `.jgw` world file.
    Jpeg,
}

impl Encoding {
    /// The format's name in output.
    pub(super) fn name(self) -> &'static str {
        match self {
            Encoding::Png => "PNG",
            Encoding::Jpeg => "JPEG",
        }
    }

    /// The image's extension.
    pub(super) fn ext(self) -> &'static str {
        match self {
            Encoding::Png => "png",
            Encoding::Jpeg => "jpg",
        }
    }

    /// The world file's extension, as GDAL looks for it.
    fn world_ext(self) -> &'static str {
        match self {
            Encoding::Png => "pgw",
            Encoding::Jpeg => "jgw",
        }
    }
}

/// Quality of the JPEG chips.
const JPEG_QUALITY: u8 = 90;

/// The project folder holding `n` chips encoded as `encoding`, each with a
/// world file and no CRS but the project's `srid`, made when missing.
pub(super) fn world_file_project(
    root: &Path,
    n: usize,
    encoding: Encoding,
) -> anyhow::Result<PathBuf> {
    make(root, n, Some(encoding))
}

/// Makes (or finds) `n` chips: GeoTIFFs when `encoding` is `None`, else
/// images with world files.
fn make(root: &Path, n: usize, encoding: Option<Encoding>) -> anyhow::Result<PathBuf> {
    let (kind, ext, what) = match encoding {
        None => ("geotiff".to_owned(), "tif", "GeoTIFF"),
        Some(e) => (format!("worldfile-{}", e.ext()), e.ext(), e.name()),
    };
    let dir = root.join(format!("target/bench/{kind}-{n}"));
    if dir.join("project.json").exists() {
        println!("xtask: {n} {what} chips cached in {}", dir.display());
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
        let path = chips.join(format!("{id}.{ext}"));
        let mut world = String::new();
        let bytes = match encoding {
            None => geotiff(i)?,
            Some(e) => {
                let wf = format!("{id}.{}", e.world_ext());
                let file = chips.join(&wf);
                std::fs::write(&file, world_file(i))
                    .with_context(|| format!("writing {}", file.display()))?;
                world = format!(", \"world_file\": \"chips/{wf}\"");
                match e {
                    Encoding::Png => png(i)?,
                    Encoding::Jpeg => jpeg(i)?,
                }
            }
        };
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        let x = (i % 100) as f64 + 10.5;
        let sep = if i + 1 == n { "" } else { "," };
        writeln!(
            json,
            "    {{\"id\": \"{id}\", \"image\": \"chips/{id}.{ext}\"{world}, \"labels\": \
             [{{\"class\": \"ship\", \"bbox\": [{x}, 20, {}, 84.25]}}]}}{sep}",
            x + 60.0
        )?;
    }
    json.push_str("  ]\n}\n");
    let manifest = dir.join("project.json");
    std::fs::write(&manifest, json).with_context(|| format!("writing {}", manifest.display()))?;
    println!("xtask: made {n} {what} chips in {}", dir.display());
    Ok(dir)
}

/// The id of chip `i`, also its file name without the extension.
pub(super) fn id(i: usize) -> String {
    format!("c{i:05}")
}

/// The RGB samples of chip `i`: a pattern that differs from chip to chip.
fn pixels(i: usize) -> Vec<u8> {
    let side = SIZE as usize;
    let mut rgb = Vec::with_capacity(side * side * BANDS);
    for y in 0..side {
        for x in 0..side {
            let h = (x * 31 + y * 17 + i * 101) ^ (x * y + i);
            rgb.extend([(x + i) as u8, (y * 3 + i * 7) as u8, (h % 251) as u8]);
        }
    }
    rgb
}

/// The map coordinates of chip `i`'s top-left corner.
fn origin(i: usize) -> (f64, f64) {
    let span = f64::from(SIZE) * PIXEL_SIZE;
    (
        500_000.0 + (i % PER_ROW) as f64 * span,
        4_650_000.0 - (i / PER_ROW) as f64 * span,
    )
}

/// Chip `i`'s world file: pixel sizes, no rotation, and the centre of the
/// top-left pixel.
fn world_file(i: usize) -> String {
    let (x0, y0) = origin(i);
    let half = PIXEL_SIZE / 2.0;
    format!(
        "{PIXEL_SIZE}\n0\n0\n-{PIXEL_SIZE}\n{}\n{}\n",
        x0 + half,
        y0 - half
    )
}

/// Chip `i` as a PNG.
fn png(i: usize) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut encoder = ::png::Encoder::new(&mut out, SIZE, SIZE);
    encoder.set_color(::png::ColorType::Rgb);
    encoder.set_depth(::png::BitDepth::Eight);
    let mut writer = encoder.write_header().context("PNG header")?;
    writer.write_image_data(&pixels(i)).context("PNG data")?;
    writer.finish().context("PNG end")?;
    Ok(out)
}

/// Chip `i` as a baseline JPEG.
fn jpeg(i: usize) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    let side = SIZE as u16;
    jpeg_encoder::Encoder::new(&mut out, JPEG_QUALITY)
        .encode(&pixels(i), side, side, jpeg_encoder::ColorType::Rgb)
        .context("JPEG")?;
    Ok(out)
}

/// Chip `i` as a GeoTIFF, georeferenced by a pixel scale, one tiepoint and
/// the geokeys projected / PixelIsArea / EPSG [`SRID`].
fn geotiff(i: usize) -> anyhow::Result<Vec<u8>> {
    use tiff::encoder::{TiffEncoder, colortype::RGB8};
    use tiff::tags::Tag;

    let rgb = pixels(i);
    let (x0, y0) = origin(i);
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

    #[test]
    fn world_file_chips_are_images_gdal_places_with_their_world_files() {
        let root = tempfile::tempdir().unwrap();
        for encoding in [Encoding::Png, Encoding::Jpeg] {
            let dir = world_file_project(root.path(), 66, encoding).unwrap();
            let ext = encoding.ext();
            assert_eq!(
                dir,
                root.path().join(format!("target/bench/worldfile-{ext}-66"))
            );
            let manifest: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.join("project.json")).unwrap()).unwrap();
            let chips = manifest["chips"].as_array().unwrap();
            assert_eq!(chips.len(), 66);
            assert_eq!(chips[65]["image"], format!("chips/c00065.{ext}"));
            let wf = format!("chips/c00065.{}", encoding.world_ext());
            assert_eq!(chips[65]["world_file"], wf.as_str());
            assert_eq!(
                std::fs::read_to_string(dir.join(&wf)).unwrap(),
                "0.5\n0\n0\n-0.5\n500128.25\n4649871.75\n"
            );
            // GDAL finds the world file beside the image, as labelstore does.
            let out = std::process::Command::new("gdalinfo")
                .arg(dir.join(format!("chips/c00065.{ext}")))
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            let info = String::from_utf8(out.stdout).unwrap();
            let driver = format!("Driver: {}/", encoding.name());
            for want in [
                driver.as_str(),
                "Size is 256, 256",
                "Origin = (500128.000000000000000,4649872.000000000000000)",
                "Pixel Size = (0.500000000000000,-0.500000000000000)",
                "Band 3 Block=256x",
            ] {
                assert!(info.contains(want), "{want} not in {info}");
            }
            assert!(!info.contains("Band 4"), "{info}");
        }
    }
}
