//! `cargo xtask bench chip`: labelstore cutting a big scene into labeled
//! chips, against the Python script people write for it (rasterio + shapely
//! in one process), on the same scene and the same polygons.
//!
//! Inputs, generated once and cached under `target/bench/chip/<pixels>/`
//! (reused while `params.txt` there says the same parameters):
//! - `scene.tif`: an RGB scene of 20,000 x 20,000 pixels (`--pixels N`: N x N),
//!   8 bits a band, **tiled 512 x 512**, Deflate (level 6, GDAL's default;
//!   no predictor), EPSG:32632 (UTM 32N), 0.5 m pixels, top-left corner at
//!   map (500000, 4649776) like the example projects. Its content (parcels
//!   of field colours, crop-row stripes, roads, a gradient across the scene,
//!   luminance noise) compresses about as aerial imagery does, not like
//!   zeros. It is written one row of tiles at a time, so the generator never
//!   holds more than one row of tiles (30 MB at 20,000 pixels).
//! - `polygons.geojson`: 20,000 polygons (area-proportional at other sizes,
//!   at least 100) in EPSG:4326, RFC 7946 (lon/lat, exterior rings
//!   counter-clockwise, holes clockwise), converted from UTM by
//!   raster-georef's `Crs`, 9 decimals. Star-shaped rings of 6 to 16 points,
//!   of radii from 2 to 260 pixels by class (many cross window edges);
//!   every tenth has a hole, every fiftieth is a two-part multipolygon.
//!   Property `class`: `building`, `field`, `tree`, `water` or `parking`.
//!   A seeded xorshift makes both files deterministic.
//!
//! Then, each in one process, page cache warm:
//! - labelstore (release build): `chip SCENE --labels polygons.geojson
//!   --class-field class --labeling-type instance_segmentation --size 512
//!   --output OUT --overwrite`;
//! - Python with rasterio, shapely and pyproj (pinned): opens the scene,
//!   loads the GeoJSON, reprojects the polygons to the scene's CRS with a
//!   pyproj `Transformer`, builds an `STRtree`; then for each window of the
//!   same sweep (every 512 pixels, the last row and column shifted to end at
//!   the scene's edge) reads the window, skips it if it is all nodata,
//!   queries the tree, clips with `intersection` against the window's box,
//!   turns what is left into pixel coordinates (the inverse of the window's
//!   transform) as instance-segmentation polygons (exterior and holes),
//!   skips windows without labels, writes the chip as a GTiff (Deflate
//!   level 1, predictor 2, as labelstore writes its chips) with the window's transform
//!   and the CRS; at the end one labels JSON.
//!
//! Printed: each side's wall time and peak memory (GNU time's maximum
//! resident set size; rasterio's includes GDAL's block cache, by default 5%
//! of the machine's memory), the ratios against the target (3x as fast,
//! under 300 MB), and the chips and labels each side wrote; different chip
//! counts are a warning, not an error, and so are labels whose polygons
//! shapely finds invalid (`is_valid`), counted on both sides. Nothing is
//! asserted.

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, ensure};
use labelstore::georef::Crs;

use crate::util;

/// The scene's width and height without `--pixels`.
pub(super) const DEFAULT_PIXELS: usize = 20_000;
/// Polygons over a scene of [`DEFAULT_PIXELS`].
const POLYGONS: usize = 20_000;
/// Fewest polygons, whatever the scene.
const MIN_POLYGONS: usize = 100;
/// The chip size asked for, and the scene's tile size.
const SIZE: u32 = 512;
/// Ground size of a pixel, in metres.
const PIXEL: f64 = 0.5;
/// Map x of the scene's top-left corner.
const ORIGIN_X: f64 = 500_000.0;
/// Map y of the scene's top-left corner.
const ORIGIN_Y: f64 = 4_649_776.0;
/// EPSG code of the scene's CRS: WGS 84 / UTM zone 32N.
const SRID: u16 = 32632;
/// The polygons' class names.
const CLASSES: [&str; 5] = ["building", "field", "tree", "water", "parking"];
/// What the cached inputs were made with; a change regenerates them.
const GENERATOR: &str = "chip bench inputs v1";

/// Versions pinned so that runs compare: (pip name, module, version).
const PYTHON_PINS: &[(&str, &str, &str)] = &[
    ("rasterio", "rasterio", super::geotiff::RASTERIO),
    ("shapely", "shapely", "2.2.0"),
    ("pyproj", "pyproj", "3.7.2"),
];

/// The Python side. Arguments: scene, GeoJSON, output folder, size.
const SCRIPT: &str = r#"
import json, os, sys
import numpy as np
import rasterio
import shapely
from pyproj import Transformer
from rasterio.windows import Window

scene, labels_path, out, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
os.makedirs(os.path.join(out, 'chips'))
stem = os.path.splitext(os.path.basename(scene))[0]

def offsets(length):
    o = list(range(0, length - size + 1, size))
    if o[-1] + size < length:
        o.append(length - size)
    return o

with rasterio.open(scene) as src:
    with open(labels_path) as f:
        features = json.load(f)['features']
    classes = [f['properties']['class'] for f in features]
    geoms = np.array([shapely.geometry.shape(f['geometry']) for f in features])
    to_scene = Transformer.from_crs('EPSG:4326', src.crs, always_xy=True)
    def reproject(xy):
        x, y = to_scene.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])
    geoms = shapely.transform(geoms, reproject)
    tree = shapely.STRtree(geoms)
    profile = dict(driver='GTiff', width=size, height=size, count=src.count,
                   dtype=src.dtypes[0], crs=src.crs, nodata=src.nodata,
                   compress='deflate', zlevel=1, predictor=2)
    chips = []
    for row in offsets(src.height):
        for col in offsets(src.width):
            window = Window(col, row, size, size)
            data = src.read(window=window)
            if src.nodata is not None and (data == src.nodata).all():
                continue
            transform = src.window_transform(window)
            x0, y0 = transform * (0, 0)
            x1, y1 = transform * (size, size)
            box = shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
            hits = tree.query(box)
            if len(hits) == 0:
                continue
            clipped = shapely.intersection(geoms[hits], box)
            inverse = ~transform
            labels = []
            for i, g in zip(hits, clipped):
                polys = [p for p in shapely.get_parts(g)
                         if p.geom_type == 'Polygon' and not p.is_empty and p.area > 0]
                if not polys:
                    continue
                rings = []
                for p in polys:
                    px = shapely.transform(p, lambda c: np.column_stack(inverse * (c[:, 0], c[:, 1])))
                    rings.append([[list(xy) for xy in r.coords]
                                  for r in [px.exterior, *px.interiors]])
                if len(rings) == 1:
                    labels.append({'class': classes[i], 'polygon': rings[0]})
                else:
                    labels.append({'class': classes[i], 'multipolygon': rings})
            if not labels:
                continue
            name = f'{stem}_x{col}_y{row}'
            path = os.path.join(out, 'chips', name + '.tif')
            with rasterio.open(path, 'w', transform=transform, **profile) as dst:
                dst.write(data)
            chips.append({'id': name, 'image': 'chips/' + name + '.tif', 'labels': labels})
    with open(os.path.join(out, 'labels.json'), 'w') as f:
        json.dump({'labeling_type': 'instance_segmentation', 'chips': chips}, f)
print(len(chips), sum(len(c['labels']) for c in chips))
"#;

/// Counts the labels of project-like JSON files (`chips[].labels[]` with a
/// `polygon` or a `multipolygon`) whose geometry is not valid in OGC terms
/// (shapely's `is_valid`: e.g. a hole sharing an edge with the exterior).
/// Prints one count a file.
const INVALID_SCRIPT: &str = r#"
import json, sys
import shapely
for path in sys.argv[1:]:
    with open(path) as f:
        chips = json.load(f)['chips']
    bad = 0
    for chip in chips:
        for label in chip['labels']:
            polys = [label['polygon']] if 'polygon' in label else label.get('multipolygon', [])
            parts = [shapely.Polygon(p[0], p[1:]) for p in polys]
            geom = parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)
            bad += not geom.is_valid
    print(bad)
"#;

/// Runs the benchmark on a scene of `pixels` x `pixels`.
pub(super) fn run(root: &Path, pixels: usize) -> anyhow::Result<()> {
    let n = u32::try_from(pixels)
        .ok()
        .filter(|&n| n >= SIZE)
        .with_context(|| format!("--pixels must be from {SIZE} to {}", u32::MAX))?;
    ensure!(
        Path::new("/usr/bin/time").exists(),
        "the benchmark measures peak memory with GNU time: apt-get install time"
    );
    let python = util::ensure_python_pins(root, PYTHON_PINS)?;
    let inputs = ensure_inputs(root, n)?;
    let labelstore = util::release_build(root)?;

    // Read the inputs once, so that neither side pays for a cold cache.
    for path in [&inputs.scene, &inputs.polygons] {
        let mut f = File::open(path).with_context(|| format!("reading {}", path.display()))?;
        std::io::copy(&mut f, &mut std::io::sink())?;
    }
    // Outputs go beside the inputs, on the same disk, not to a tmpfs.
    let bench = root.join("target/bench");
    let out = tempfile::Builder::new()
        .prefix("chip-out-")
        .tempdir_in(&bench)
        .with_context(|| format!("making a folder in {}", bench.display()))?;

    let ours_dir = out.path().join("labelstore");
    let ours = util::measure(
        Command::new(&labelstore)
            .arg("chip")
            .arg(&inputs.scene)
            .arg("--labels")
            .arg(&inputs.polygons)
            .args(["--class-field", "class"])
            .args(["--labeling-type", "instance_segmentation"])
            .args(["--size", &SIZE.to_string()])
            .arg("--output")
            .arg(&ours_dir)
            .arg("--overwrite"),
    )
    .context("labelstore chip")?;
    let theirs_dir = out.path().join("python");
    let theirs = util::measure(
        Command::new(&python)
            .args(["-c", SCRIPT])
            .arg(&inputs.scene)
            .arg(&inputs.polygons)
            .arg(&theirs_dir)
            .arg(SIZE.to_string()),
    )
    .context("rasterio + shapely script")?;

    let ours_chips = tifs_in(&ours_dir.join("chips"))?;
    let theirs_chips = tifs_in(&theirs_dir.join("chips"))?;
    let ours_labels = labels_in(&ours_dir.join("project.json"))?;
    let theirs_labels = labels_in(&theirs_dir.join("labels.json"))?;
    let invalid = invalid_labels(
        &python,
        &[
            ours_dir.join("project.json"),
            theirs_dir.join("labels.json"),
        ],
    )?;
    let versions = PYTHON_PINS
        .iter()
        .map(|(name, _, version)| format!("{name} {version}"))
        .collect::<Vec<_>>()
        .join(", ");

    let mut report = String::new();
    writeln!(
        report,
        "chip a {n} x {n} RGB scene (tiled {SIZE}, Deflate, {} MB) with {} polygons \
         (GeoJSON, EPSG:4326) into {SIZE} x {SIZE} instance-segmentation chips, \
         page cache warm, one process each",
        std::fs::metadata(&inputs.scene)?.len() / 1_048_576,
        inputs.count
    )?;
    writeln!(
        report,
        "  labelstore chip: {:.2} s, peak {} MB, {ours_chips} chips, {ours_labels} labels",
        ours.0,
        ours.1 / 1024
    )?;
    writeln!(
        report,
        "  Python ({versions}), one process: {:.2} s, peak {} MB, {theirs_chips} chips, \
         {theirs_labels} labels",
        theirs.0,
        theirs.1 / 1024
    )?;
    writeln!(
        report,
        "  labelstore is {:.2}x as fast (target: 3x), with {:.2}x the peak memory \
         ({} MB; target: under 300 MB)",
        theirs.0 / ours.0,
        ours.1 as f64 / theirs.1.max(1) as f64,
        ours.1 / 1024
    )?;
    super::record_speed(
        &format!("a {n} x {n} scene cut into chips", n = pixels),
        ours.0,
        "rasterio + shapely",
        theirs.0,
        3.0,
    );
    writeln!(
        report,
        "  (rasterio's peak includes GDAL's block cache of decoded tiles: GDAL_CACHEMAX, \
         by default 5% of the machine's memory)"
    )?;
    if invalid.iter().any(|&n| n > 0) {
        writeln!(
            report,
            "  warning: labels whose polygons are not valid (OGC, shapely's is_valid): \
             labelstore {}, the Python script {}",
            invalid[0], invalid[1]
        )?;
    }
    if ours_chips != theirs_chips {
        writeln!(
            report,
            "  warning: labelstore wrote {ours_chips} chips and the Python script {theirs_chips}"
        )?;
    }
    print!("{report}");
    super::remove_at_end(out);
    Ok(())
}

/// The labels with invalid polygons in each of `files`, by shapely.
fn invalid_labels(python: &Path, files: &[PathBuf]) -> anyhow::Result<Vec<usize>> {
    let out = Command::new(python)
        .args(["-c", INVALID_SCRIPT])
        .args(files)
        .output()
        .context("running python")?;
    ensure!(
        out.status.success(),
        "checking the labels' polygons with shapely: {}",
        String::from_utf8_lossy(&out.stderr).trim_end()
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            l.trim()
                .parse()
                .context("shapely's count of invalid labels")
        })
        .collect()
}

/// The GeoTIFFs in `dir`.
fn tifs_in(dir: &Path) -> anyhow::Result<usize> {
    Ok(std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "tif"))
        })
        .count())
}

/// The labels of every chip of a project-like JSON file (`chips[].labels`),
/// or 0 when it cannot be read.
fn labels_in(path: &Path) -> anyhow::Result<usize> {
    let Ok(text) = std::fs::read(path) else {
        return Ok(0);
    };
    let json: serde_json::Value =
        serde_json::from_slice(&text).with_context(|| format!("reading {}", path.display()))?;
    Ok(json["chips"]
        .as_array()
        .map(|chips| {
            chips
                .iter()
                .filter_map(|c| c["labels"].as_array())
                .map(Vec::len)
                .sum()
        })
        .unwrap_or_default())
}

/// The cached scene and polygons of one size.
struct Inputs {
    /// `scene.tif`.
    scene: PathBuf,
    /// `polygons.geojson`.
    polygons: PathBuf,
    /// Polygons in it.
    count: usize,
}

/// Polygons over a scene of `n` x `n`: [`POLYGONS`] per 20,000² pixels, at
/// least [`MIN_POLYGONS`].
fn polygon_count(n: u32) -> usize {
    let area = f64::from(n) * f64::from(n);
    let per = POLYGONS as f64 / (DEFAULT_PIXELS as f64 * DEFAULT_PIXELS as f64);
    ((area * per).round() as usize).max(MIN_POLYGONS)
}

/// The inputs for a scene of `n` x `n`, generated unless cached with the
/// same parameters.
fn ensure_inputs(root: &Path, n: u32) -> anyhow::Result<Inputs> {
    let dir = root.join(format!("target/bench/chip/{n}"));
    let count = polygon_count(n);
    let inputs = Inputs {
        scene: dir.join("scene.tif"),
        polygons: dir.join("polygons.geojson"),
        count,
    };
    let params = format!(
        "{GENERATOR}\nscene {n} x {n} RGB u8, tiles {SIZE}, Deflate 6, EPSG:{SRID}, \
         {PIXEL} m, origin ({ORIGIN_X}, {ORIGIN_Y})\npolygons {count}, classes {}\n",
        CLASSES.join(",")
    );
    let params_path = dir.join("params.txt");
    if std::fs::read_to_string(&params_path).is_ok_and(|p| p == params)
        && inputs.scene.exists()
        && inputs.polygons.exists()
    {
        println!("xtask: reusing {}", dir.display());
        return Ok(inputs);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let _ = std::fs::remove_file(&params_path);

    println!("xtask: generating a {n} x {n} scene in {}", dir.display());
    let started = std::time::Instant::now();
    let partial = dir.join("scene.tif.partial");
    write_scene(&partial, n)?;
    std::fs::rename(&partial, &inputs.scene)?;
    println!(
        "xtask: generating {count} polygons ({:.1} s for the scene)",
        started.elapsed().as_secs_f64()
    );
    let partial = dir.join("polygons.geojson.partial");
    std::fs::write(&partial, polygons_geojson(n, count)?)
        .with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, &inputs.polygons)?;
    std::fs::write(&params_path, params)?;
    Ok(inputs)
}

// ---------------------------------------------------------------------------
// The scene.

/// A xorshift64* generator: deterministic, seeded, no crate needed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // Any seed, even 0, gives a non-zero state.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A float in `[lo, hi)`.
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// A hash of a cell of the parcel grid.
fn cell_hash(x: u32, y: u32) -> u32 {
    let mut h = x.wrapping_mul(0x9E37_79B1) ^ y.wrapping_mul(0x85EB_CA77);
    h ^= h >> 15;
    h = h.wrapping_mul(0x2C1B_3C6D);
    h ^ (h >> 12)
}

/// Field, meadow, soil and wood colours of the parcels.
const PARCELS: [[u8; 3]; 8] = [
    [96, 128, 64],
    [124, 150, 78],
    [150, 136, 96],
    [176, 160, 110],
    [80, 104, 58],
    [132, 112, 84],
    [110, 140, 90],
    [160, 150, 120],
];

/// Writes one row of pixels `y` from column `x0` into `line` (RGB), as
/// the scene of `n` x `n` has them; outside the scene, black.
fn scene_line(n: u32, x0: u32, y: u32, line: &mut [u8]) {
    let mut noise = Rng::new(u64::from(y) << 32 | u64::from(x0));
    // Parcels of about 300 x 220 pixels, staggered by row band.
    let band = y / 220;
    let shift = (band % 3) * 97;
    let road_row = y % 1536 < 12;
    let gradient_y = (y as i32 * 16 / n as i32) - 8;
    for (i, px) in line.chunks_exact_mut(3).enumerate() {
        let x = x0 + i as u32;
        if x >= n || y >= n {
            px.fill(0);
            continue;
        }
        let base = if road_row || x % 1024 < 10 {
            [98, 98, 102]
        } else {
            PARCELS[(cell_hash((x + shift) / 300, band) % 8) as usize]
        };
        let rows = if (x + 2 * y) % 11 < 3 { -10 } else { 0 };
        let gradient = (x as i32 * 24 / n as i32) - gradient_y;
        let r = noise.next();
        let luminance = (r % 9) as i32 - 4;
        let delta = rows + gradient + luminance;
        for (c, &b) in px.iter_mut().zip(&base) {
            *c = (i32::from(b) + delta).clamp(0, 255) as u8;
        }
        // A little colour noise on the red band.
        px[0] = px[0].saturating_add(((r >> 8) % 3) as u8);
    }
}

/// One tile of the scene, Deflate-compressed (zlib, level 6).
fn tile(n: u32, tx: u32, ty: u32) -> anyhow::Result<Vec<u8>> {
    let t = SIZE as usize;
    let mut raw = vec![0u8; t * t * 3];
    for (j, line) in raw.chunks_exact_mut(t * 3).enumerate() {
        scene_line(n, tx * SIZE, ty * SIZE + j as u32, line);
    }
    util::deflate_tile(&raw, 6)
}

/// Writes the scene of `n` x `n` as a tiled Deflate GeoTIFF at `path`, one
/// row of tiles at a time, the tiles of a row compressed in parallel.
fn write_scene(path: &Path, n: u32) -> anyhow::Result<()> {
    let spec = util::TiledGeoTiff {
        width: n,
        height: n,
        tile: SIZE,
        origin: (ORIGIN_X, ORIGIN_Y),
        pixel: PIXEL,
        epsg: SRID,
    };
    let across = n.div_ceil(SIZE);
    let threads = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
        .min(4);
    let columns: Vec<u32> = (0..across).collect();
    let per = columns.len().div_ceil(threads);
    util::write_tiled_geotiff(path, spec, |ty| {
        std::thread::scope(|s| {
            let workers: Vec<_> = columns
                .chunks(per)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .map(|&tx| tile(n, tx, ty))
                            .collect::<anyhow::Result<Vec<_>>>()
                    })
                })
                .collect();
            let mut tiles = Vec::new();
            for w in workers {
                let part = w
                    .join()
                    .map_err(|_| anyhow::anyhow!("a tile worker panicked"))??;
                tiles.extend(part);
            }
            Ok(tiles)
        })
    })
}

// ---------------------------------------------------------------------------
// The polygons.

/// A star-shaped ring around `(cx, cy)` (map metres) of radius up to `r`:
/// counter-clockwise, or clockwise for a hole; closed.
fn star(rng: &mut Rng, cx: f64, cy: f64, r: f64, hole: bool) -> Vec<(f64, f64)> {
    let points = 6 + (rng.next() % 11) as usize;
    let turn = std::f64::consts::TAU / points as f64;
    let start = rng.range(0.0, turn);
    let mut ring: Vec<(f64, f64)> = (0..points)
        .map(|k| {
            let a = start + turn * (k as f64 + rng.range(-0.3, 0.3));
            let radius = r * rng.range(0.7, 1.0);
            (cx + radius * a.cos(), cy + radius * a.sin())
        })
        .collect();
    if hole {
        ring.reverse();
    }
    ring.push(ring[0]);
    ring
}

/// `count` polygons over the scene of `n` x `n`, as RFC 7946 GeoJSON.
fn polygons_geojson(n: u32, count: usize) -> anyhow::Result<String> {
    let crs = Crs::from_epsg(u32::from(SRID))?;
    let mut rng = Rng::new(0x6c61_6265_6c73);
    let side = f64::from(n) * PIXEL;
    let mut out = String::from("{\"type\": \"FeatureCollection\", \"features\": [\n");
    for i in 0..count {
        let class = CLASSES[(rng.next() % CLASSES.len() as u64) as usize];
        // Radius in pixels, by class.
        let (lo, hi) = match class {
            "building" => (4.0, 30.0),
            "field" => (80.0, 260.0),
            "tree" => (2.0, 12.0),
            "water" => (40.0, 160.0),
            _ => (15.0, 50.0),
        };
        let r = rng.range(lo, hi) * PIXEL;
        let multi = i % 50 == 7;
        let with_hole = i % 10 == 3;
        let reach = if multi { 2.3 * r } else { r };
        let reach = reach.min(side / 2.0);
        let cx = ORIGIN_X + rng.range(reach, side - reach);
        let cy = ORIGIN_Y - rng.range(reach, side - reach);
        let mut parts: Vec<Vec<Vec<(f64, f64)>>> = Vec::new();
        let centres: Vec<(f64, f64)> = if multi {
            let a = rng.range(0.0, std::f64::consts::TAU);
            let (dx, dy) = (1.3 * r * a.cos(), 1.3 * r * a.sin());
            vec![(cx - dx, cy - dy), (cx + dx, cy + dy)]
        } else {
            vec![(cx, cy)]
        };
        for (x, y) in centres {
            let mut rings = vec![star(&mut rng, x, y, r, false)];
            if with_hole {
                rings.push(star(&mut rng, x, y, 0.35 * r, true));
            }
            parts.push(rings);
        }
        for ring in parts.iter_mut().flatten() {
            crs.to_wgs84_many(ring)?;
        }
        let rings_text = |rings: &[Vec<(f64, f64)>]| -> String {
            let rings: Vec<String> = rings
                .iter()
                .map(|ring| {
                    let points: Vec<String> = ring
                        .iter()
                        .map(|(lon, lat)| format!("[{lon:.9}, {lat:.9}]"))
                        .collect();
                    format!("[{}]", points.join(", "))
                })
                .collect();
            format!("[{}]", rings.join(", "))
        };
        let geometry = if multi {
            let polys: Vec<String> = parts.iter().map(|p| rings_text(p)).collect();
            format!(
                "{{\"type\": \"MultiPolygon\", \"coordinates\": [{}]}}",
                polys.join(", ")
            )
        } else {
            format!(
                "{{\"type\": \"Polygon\", \"coordinates\": {}}}",
                rings_text(&parts[0])
            )
        };
        let sep = if i + 1 < count { "," } else { "" };
        writeln!(
            out,
            "{{\"type\": \"Feature\", \"properties\": {{\"id\": {i}, \"class\": \"{class}\"}}, \
             \"geometry\": {geometry}}}{sep}"
        )?;
    }
    out.push_str("]}\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polygons_scale_with_the_scene_area() {
        assert_eq!(polygon_count(20_000), 20_000);
        assert_eq!(polygon_count(4_000), 800);
        assert_eq!(polygon_count(512), MIN_POLYGONS);
    }

    #[test]
    fn the_polygons_are_deterministic_lon_lat_geojson() -> anyhow::Result<()> {
        let text = polygons_geojson(1024, 100)?;
        assert_eq!(text, polygons_geojson(1024, 100)?);
        let json: serde_json::Value = serde_json::from_str(&text)?;
        let features = json["features"].as_array().context("features")?;
        assert_eq!(features.len(), 100);
        let multi = features
            .iter()
            .filter(|f| f["geometry"]["type"] == "MultiPolygon")
            .count();
        assert_eq!(multi, 2);
        let first = &features[0]["geometry"]["coordinates"][0][0];
        // UTM 32N at x 500 km is on the 9th meridian, near 42 degrees north.
        let (lon, lat) = (first[0].as_f64(), first[1].as_f64());
        assert!(lon.is_some_and(|v| (8.9..9.1).contains(&v)), "{first}");
        assert!(lat.is_some_and(|v| (41.9..42.1).contains(&v)), "{first}");
        Ok(())
    }

    #[test]
    fn labelstore_reads_the_scene_back_as_generated() -> anyhow::Result<()> {
        let tmp = tempfile::tempdir()?;
        let path = tmp.path().join("scene.tif");
        // Three tile columns and rows, the last ones partial.
        let n = 1100;
        write_scene(&path, n)?;
        let mut scene = labelstore::georef::Scene::open(&path)?;
        assert_eq!(scene.dimensions(), (n, n));
        assert_eq!(scene.epsg(), Some(u32::from(SRID)));
        assert_eq!(
            scene.transform().0,
            [ORIGIN_X, PIXEL, 0.0, ORIGIN_Y, 0.0, -PIXEL]
        );
        // The noise of a line depends on its tile: compare a whole tile.
        let window = scene.read_window(SIZE, SIZE, SIZE)?;
        let mut line = vec![0u8; SIZE as usize * 3];
        for y in [0, 1, SIZE - 1] {
            scene_line(n, SIZE, SIZE + y, &mut line);
            let start = (y * SIZE * 3) as usize;
            assert_eq!(
                &window.data[start..start + line.len()],
                &line[..],
                "row {y}"
            );
        }
        Ok(())
    }

    #[test]
    fn scene_lines_are_deterministic_and_black_outside() {
        let (mut a, mut b) = (vec![0u8; 30], vec![0u8; 30]);
        scene_line(1000, 995, 7, &mut a);
        scene_line(1000, 995, 7, &mut b);
        assert_eq!(a, b);
        assert!(a[..15].iter().any(|&v| v != 0));
        assert!(a[15..].iter().all(|&v| v == 0));
    }
}
