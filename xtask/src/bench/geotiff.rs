//! `cargo xtask bench geotiff`: labelstore against rasterio, turning the
//! same world-file chips into GeoTIFFs with their georeferencing and CRS.
//!
//! For PNG chips and then for JPEG chips (see [`chips::world_file_project`]):
//! - labelstore (release build): `store --to local --format json`, the whole
//!   store: reads the manifest, each image's header and world file, writes
//!   `chips/<id>.tif` GeoTIFFs (PNG: decoded, written Deflate level 1 with
//!   horizontal differencing, GDAL's `PREDICTOR=2`; JPEG:
//!   the JPEG stream wrapped as it is, JPEG-in-TIFF), SHA-256 of every file,
//!   `project.json` and the store manifest, staged and moved into place;
//! - rasterio (GDAL inside its wheel) in one Python process:
//!   `rasterio.open(chip)` (GDAL reads the world file beside it), then a
//!   `GTiff` with its transform and EPSG:32632 written with `src.read()`;
//!   for PNG chips both GDAL's default (uncompressed) and Deflate level 1
//!   with predictor 2, as labelstore writes them.
//!
//! Afterwards `gdalinfo -json -checksum` on a sample of chips from each side
//! must give the same geotransform, CRS and band checksums.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, ensure};

use super::chips::{self, Encoding};
use crate::util;

/// rasterio's version, pinned so that runs compare.
pub(super) const RASTERIO: &str = "1.4.4";

/// Chips of each kind that `gdalinfo -checksum` compares.
const SAMPLE: usize = 25;

/// The Python side: `rasterio.open` each chip, write it as a GeoTIFF with
/// the CRS. Arguments: source folder, extension, destination folder,
/// compression (`none` or `deflate`).
const SCRIPT: &str = r#"
import os, sys
import rasterio
from rasterio.crs import CRS

src_dir, ext, dst_dir, compress = sys.argv[1:5]
crs = CRS.from_epsg(32632)
extra = {} if compress == 'none' else {'compress': compress, 'zlevel': 1, 'predictor': 2}
os.makedirs(dst_dir)
names = sorted(n for n in os.listdir(src_dir) if n.endswith('.' + ext))
for name in names:
    with rasterio.open(os.path.join(src_dir, name)) as src:
        profile = dict(driver='GTiff', width=src.width, height=src.height,
                       count=src.count, dtype=src.dtypes[0], crs=crs,
                       transform=src.transform, **extra)
        dst_path = os.path.join(dst_dir, name[:-len(ext)] + 'tif')
        with rasterio.open(dst_path, 'w', **profile) as dst:
            dst.write(src.read())
print(len(names))
"#;

/// Runs the benchmark on `n` chips of each kind.
pub(super) fn run(root: &Path, n: usize) -> anyhow::Result<()> {
    util::ensure_tools()?;
    let python = ensure_rasterio(root)?;
    let labelstore = util::release_build(root)?;
    let mut report = String::new();
    for encoding in [Encoding::Png, Encoding::Jpeg] {
        report.push_str(&compare(root, &labelstore, &python, n, encoding)?);
    }
    print!("{report}");
    Ok(())
}

/// Times both sides on `n` chips of `encoding`, checks they agree, and
/// returns the lines to print.
fn compare(
    root: &Path,
    labelstore: &Path,
    python: &Path,
    n: usize,
    encoding: Encoding,
) -> anyhow::Result<String> {
    let project = chips::world_file_project(root, n, encoding)?;
    let src = project.join("chips");
    // Read every input once, so that neither side pays for a cold cache.
    let mut bytes = 0;
    for entry in std::fs::read_dir(&src)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == encoding.ext()) {
            bytes += std::fs::read(&path)
                .with_context(|| format!("reading {}", path.display()))?
                .len();
        }
    }
    // Outputs go beside the chips, on the same disk, not to a tmpfs.
    let bench = root.join("target/bench");
    let out = tempfile::Builder::new()
        .prefix("geotiff-out-")
        .tempdir_in(&bench)
        .with_context(|| format!("making a folder in {}", bench.display()))?;

    let ours_dir = out.path().join("labelstore");
    let ours = util::timed(
        Command::new(labelstore)
            .arg("store")
            .arg(&project)
            .args(["--to", "local", "--format", "json", "--path"])
            .arg(&ours_dir),
    )
    .context("labelstore store --to local")?;
    let ours_tifs = ours_dir.join("chips");

    let mut theirs = Vec::new();
    let compressions: &[&str] = match encoding {
        Encoding::Png => &["none", "deflate"],
        Encoding::Jpeg => &["none"],
    };
    for &compress in compressions {
        let dir = out.path().join(format!("rasterio-{compress}"));
        let seconds = util::timed(
            Command::new(python)
                .args(["-c", SCRIPT])
                .arg(&src)
                .arg(encoding.ext())
                .arg(&dir)
                .arg(compress),
        )
        .with_context(|| format!("rasterio ({compress})"))?;
        theirs.push((compress, seconds, dir));
    }

    let count = |dir: &Path| -> anyhow::Result<usize> {
        Ok(std::fs::read_dir(dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "tif"))
            })
            .count())
    };
    ensure!(
        count(&ours_tifs)? == n,
        "labelstore wrote {} GeoTIFFs, not {n}",
        count(&ours_tifs)?
    );
    let picked = sample(n);
    for (compress, _, dir) in &theirs {
        ensure!(
            count(dir)? == n,
            "rasterio ({compress}) wrote {} GeoTIFFs, not {n}",
            count(dir)?
        );
        let mut pairs = Vec::new();
        for &i in &picked {
            let name = format!("{}.tif", chips::id(i));
            let (ours, theirs) = (ours_tifs.join(&name), dir.join(&name));
            let (a, b) = (describe(&ours)?, describe(&theirs)?);
            ensure!(
                a.meta == b.meta,
                "{name}: labelstore's GeoTIFF and rasterio's ({compress}) differ:\n  \
                 labelstore: {}\n  rasterio:   {}",
                a.meta,
                b.meta
            );
            let source = describe(&src.join(format!("{}.{}", chips::id(i), encoding.ext())))?;
            ensure!(
                a.checksums == source.checksums,
                "{name}: labelstore changed the pixels: checksums {:?}, the source's {:?}",
                a.checksums,
                source.checksums
            );
            ensure!(
                encoding == Encoding::Jpeg || a.checksums == b.checksums,
                "{name}: rasterio ({compress}) wrote other pixels: checksums {:?}, \
                 labelstore's {:?}",
                b.checksums,
                a.checksums
            );
            pairs.push((ours, theirs));
        }
        same_in_rasterio(python, &pairs).with_context(|| format!("rasterio ({compress})"))?;
    }
    let size = |dir: &Path| dir_bytes(dir).map(|b| b / 1_048_576);
    let mut lines = String::new();
    let mut line = |s: String| {
        lines.push_str(&s);
        lines.push('\n');
    };
    line(format!(
        "{} chips + world files -> GeoTIFF with EPSG:{}: {n} chips ({s}x{s}, {b} bands of \
         8 bits, {mb} MB), page cache warm, one process each",
        encoding.name(),
        chips::SRID,
        s = chips::SIZE,
        b = chips::BANDS,
        mb = bytes / 1_048_576,
    ));
    let how = match encoding {
        Encoding::Png => "PNG decoded, written Deflate level 1, predictor 2",
        Encoding::Jpeg => "JPEG stream wrapped as it is, JPEG-in-TIFF",
    };
    line(format!(
        "  labelstore store --to local --format json: the whole store: GeoTIFFs ({how}), \
         SHA-256 of each file, project.json, store manifest"
    ));
    line(format!(
        "    {ours:.2} s, GeoTIFFs {} MB",
        size(&ours_tifs)?
    ));
    for (compress, seconds, dir) in &theirs {
        let how = match *compress {
            "none" => "GDAL's default, uncompressed",
            _ => "Deflate level 1, predictor 2, as labelstore",
        };
        line(format!(
            "  rasterio {RASTERIO} (GDAL {}), one Python process: open + read + write GTiff, {how}",
            gdal_version(python)?
        ));
        line(format!(
            "    {seconds:.2} s, GeoTIFFs {} MB; labelstore is {:.2}x as fast (target: 1.5x)",
            size(dir)?,
            seconds / ours
        ));
        super::record_speed(
            &format!(
                "{n} world-file chips to GeoTIFF, local ({})",
                encoding.name()
            ),
            ours,
            &format!("rasterio, {how}"),
            *seconds,
            1.5,
        );
    }
    let judge = match encoding {
        Encoding::Png => "the same pixels (band checksums) as each other and as the PNG",
        // The wheel's libjpeg and the system's decode some samples one
        // level apart: each GDAL judges both sides' pixels with its own.
        Encoding::Jpeg => {
            "the same pixels as the JPEG (labelstore's, by the system's GDAL) and as each \
             other (by rasterio's GDAL: its libjpeg decodes a few samples one level apart \
             from the system's)"
        }
    };
    line(format!(
        "  checked on {} chips with gdalinfo -json -checksum: the same size, geotransform, \
         CRS and band types on both sides, {judge}",
        picked.len()
    ));
    super::remove_at_end(out);
    Ok(lines)
}

/// About [`SAMPLE`] chip numbers spread over `0..n`, the last included.
fn sample(n: usize) -> Vec<usize> {
    let step = (n / SAMPLE).max(1);
    let mut v: Vec<usize> = (0..n).step_by(step).collect();
    if v.last() != Some(&(n - 1)) {
        v.push(n - 1);
    }
    v
}

/// What `gdalinfo -json -checksum` (the system's GDAL) says of an image.
struct Described {
    /// Size, geotransform, the CRS's EPSG id and the band types.
    meta: String,
    /// The bands' checksums.
    checksums: Vec<u64>,
}

/// Runs `gdalinfo -json -checksum` on `image`.
fn describe(image: &Path) -> anyhow::Result<Described> {
    let out = Command::new("gdalinfo")
        .args(["-json", "-checksum"])
        .arg(image)
        .output()
        .context("running gdalinfo")?;
    ensure!(
        out.status.success(),
        "gdalinfo {} failed: {}",
        image.display(),
        String::from_utf8_lossy(&out.stderr).trim_end()
    );
    let info: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("gdalinfo -json {}", image.display()))?;
    let wkt = info["coordinateSystem"]["wkt"].as_str().unwrap_or_default();
    // The CRS's own id is the last ID[...] of the WKT.
    let epsg = wkt.rfind("ID[").map_or("none", |at| &wkt[at..]);
    let bands = info["bands"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let types: Vec<String> = bands
        .iter()
        .map(|b| format!("{} {}", b["type"], b["colorInterpretation"]))
        .collect();
    Ok(Described {
        meta: format!(
            "size {} geotransform {} crs {} bands {}",
            info["size"],
            info["geoTransform"],
            epsg.trim_end_matches(']'),
            types.join(", ")
        ),
        checksums: bands
            .iter()
            .filter_map(|b| b["checksum"].as_u64())
            .collect(),
    })
}

/// Checks that rasterio's GDAL reads the same band checksums from each
/// pair of GeoTIFFs.
fn same_in_rasterio(python: &Path, pairs: &[(PathBuf, PathBuf)]) -> anyhow::Result<()> {
    let script = "import sys, rasterio\n\
                  def sums(p):\n\
                  \x20   with rasterio.open(p) as d:\n\
                  \x20       return [d.checksum(b) for b in d.indexes]\n\
                  a = sys.argv[1:]\n\
                  for x, y in zip(a[::2], a[1::2]):\n\
                  \x20   if sums(x) != sums(y):\n\
                  \x20       sys.exit(f'{x}: checksums {sums(x)}, {y}: {sums(y)}')\n";
    let mut cmd = Command::new(python);
    cmd.args(["-c", script]);
    for (a, b) in pairs {
        cmd.arg(a).arg(b);
    }
    util::timed(&mut cmd).context("comparing the pixels in rasterio")?;
    Ok(())
}

/// Total bytes of the files in `dir`.
fn dir_bytes(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        total += e?.metadata()?.len();
    }
    Ok(total)
}

/// GDAL's version inside the rasterio wheel.
fn gdal_version(python: &Path) -> anyhow::Result<String> {
    let out = Command::new(python)
        .args(["-c", "import rasterio; print(rasterio.__gdal_version__)"])
        .output()
        .context("running python")?;
    ensure!(out.status.success(), "cannot import rasterio");
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The test venv (`target/py`) with rasterio [`RASTERIO`] installed.
fn ensure_rasterio(root: &Path) -> anyhow::Result<PathBuf> {
    util::ensure_python_pins(root, &[("rasterio", "rasterio", RASTERIO)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_spreads_over_the_chips_and_ends_with_the_last() {
        assert_eq!(sample(1), [0]);
        assert_eq!(sample(3), [0, 1, 2]);
        let s = sample(3000);
        assert_eq!(s.len(), 26);
        assert_eq!(&s[..3], [0, 120, 240]);
        assert_eq!(s.last(), Some(&2999));
    }
}
