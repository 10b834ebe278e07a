//! The example scene `examples/scene/`: one georeferenced RGB GeoTIFF and
//! its labels as GIS polygons, the input of `labelstore chip`.
//!
//! - `scene.tif`: 1024 x 768 pixels, 8-bit RGB, tiled 256 x 256, Deflate,
//!   EPSG:32632 (WGS 84 / UTM zone 32N), 0.5 m pixels, north-up, top-left
//!   corner at map (500000, 4649776) like the harbour example.
//! - `labels.geojson`: 23 polygons, RFC 7946 (EPSG:4326, longitude then
//!   latitude, exterior rings counter-clockwise, holes clockwise), 9
//!   decimals; property `class`: `field` (8), `water` (2) or `building`
//!   (13). A field and a building (a courtyard) have a hole, the field's
//!   hole being exactly the pond; one field runs past the scene's right
//!   edge.
//!
//! The polygons are laid out in scene pixels, moved to UTM by the scene's
//! geotransform, and to longitude and latitude by raster-georef's `Crs`
//! (pure Rust). The scene is drawn from them (meadow and roads, then the
//! fields with their crop rows, the water, the roofs), so each label frames
//! something visible.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use anyhow::{Context, ensure};
use labelstore::georef::Crs;

use crate::util;

/// Scene width in pixels.
const WIDTH: u32 = 1024;
/// Scene height in pixels.
const HEIGHT: u32 = 768;
/// Tile width and height of the GeoTIFF.
const TILE: u32 = 256;
/// Ground size of a pixel, in metres (both axes).
const PIXEL_SIZE: f64 = 0.5;
/// Map x of the scene's top-left corner.
const ORIGIN_X: f64 = 500_000.0;
/// Map y of the scene's top-left corner.
const ORIGIN_Y: f64 = 4_649_776.0;
/// EPSG code of the scene's CRS: WGS 84 / UTM zone 32N.
const SRID: u16 = 32632;
/// The rows covered by the east-west road.
const ROAD_ROWS: std::ops::Range<u32> = 372..388;
/// The columns covered by the north-south road.
const ROAD_COLS: std::ops::Range<u32> = 604..620;

/// A point in scene pixels: x right, y down.
type Point = (f64, f64);
/// A ring of points, not closed (the first point is not repeated).
type Ring = Vec<Point>;
/// An RGB colour.
type Rgb = [u8; 3];

/// A label class of the example.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// A field with crop rows.
    Field,
    /// A pond or a lake.
    Water,
    /// A building's roof.
    Building,
}

impl Class {
    /// The `class` property.
    fn name(self) -> &'static str {
        match self {
            Class::Field => "field",
            Class::Water => "water",
            Class::Building => "building",
        }
    }
}

/// One labeled polygon: its exterior, then its holes, in scene pixels.
#[derive(Clone, Debug)]
struct Feature {
    class: Class,
    rings: Vec<Ring>,
}

/// A polygon without holes.
fn poly(class: Class, points: &[Point]) -> Feature {
    Feature {
        class,
        rings: vec![points.to_vec()],
    }
}

/// A `w x h` rectangle centred on `(cx, cy)`, turned by `degrees`.
fn turned(cx: f64, cy: f64, w: f64, h: f64, degrees: f64) -> Ring {
    let (s, c) = degrees.to_radians().sin_cos();
    [(-w, -h), (w, -h), (w, h), (-w, h)]
        .iter()
        .map(|&(x, y)| (cx + (x * c - y * s) / 2.0, cy + (x * s + y * c) / 2.0))
        .collect()
}

/// An axis-aligned rectangle `[x0, x1] x [y0, y1]`.
fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Ring {
    vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
}

/// An irregular round shape: `n` points around `(cx, cy)`, each at a
/// radius of `r` times the next factor of `wobble` (cycled).
fn blob(cx: f64, cy: f64, r: f64, n: usize, wobble: &[f64]) -> Ring {
    (0..n)
        .map(|k| {
            let a = std::f64::consts::TAU * k as f64 / n as f64;
            let r = r * wobble[k % wobble.len()];
            (cx + r * a.cos(), cy + r * a.sin())
        })
        .collect()
}

/// The labels of the scene, in drawing order within each class.
fn features() -> Vec<Feature> {
    use Class::{Building, Field, Water};
    let pond = vec![
        (110.0, 250.0),
        (190.0, 244.0),
        (200.0, 300.0),
        (120.0, 310.0),
    ];
    vec![
        // Fields north of the road, west of the lane.
        poly(
            Field,
            &[(12.0, 14.0), (290.0, 10.0), (296.0, 176.0), (16.0, 184.0)],
        ),
        poly(
            Field,
            &[(306.0, 12.0), (590.0, 16.0), (586.0, 180.0), (300.0, 176.0)],
        ),
        Feature {
            class: Field,
            rings: vec![
                vec![(14.0, 196.0), (292.0, 192.0), (288.0, 360.0), (10.0, 356.0)],
                pond.clone(),
            ],
        },
        poly(
            Field,
            &[
                (304.0, 192.0),
                (590.0, 196.0),
                (592.0, 358.0),
                (300.0, 362.0),
            ],
        ),
        // Fields east of the lane; the second runs past the scene's edge.
        poly(
            Field,
            &[(632.0, 12.0), (880.0, 20.0), (870.0, 200.0), (628.0, 190.0)],
        ),
        poly(
            Field,
            &[
                (892.0, 24.0),
                (1090.0, 30.0),
                (1100.0, 220.0),
                (884.0, 210.0),
            ],
        ),
        poly(
            Field,
            &[
                (630.0, 206.0),
                (1010.0, 214.0),
                (1016.0, 360.0),
                (636.0, 356.0),
            ],
        ),
        poly(
            Field,
            &[
                (640.0, 660.0),
                (1010.0, 650.0),
                (1014.0, 756.0),
                (644.0, 760.0),
            ],
        ),
        // The pond in the third field's hole, and a lake.
        Feature {
            class: Water,
            rings: vec![pond],
        },
        Feature {
            class: Water,
            rings: vec![blob(
                820.0,
                520.0,
                100.0,
                12,
                &[1.0, 0.9, 1.05, 0.85, 0.95, 1.1],
            )],
        },
        // The village south of the road, and a barn by the lake.
        poly(
            Building,
            &[
                (40.0, 420.0),
                (140.0, 420.0),
                (140.0, 460.0),
                (80.0, 460.0),
                (80.0, 540.0),
                (40.0, 540.0),
            ],
        ),
        Feature {
            class: Building,
            rings: vec![rect(180.0, 410.0, 260.0, 470.0)],
        },
        Feature {
            class: Building,
            rings: vec![turned(330.0, 440.0, 70.0, 40.0, 20.0)],
        },
        Feature {
            class: Building,
            rings: vec![rect(420.0, 404.0, 500.0, 452.0)],
        },
        Feature {
            class: Building,
            rings: vec![turned(560.0, 440.0, 50.0, 36.0, -15.0)],
        },
        Feature {
            class: Building,
            rings: vec![rect(40.0, 580.0, 110.0, 640.0)],
        },
        Feature {
            class: Building,
            rings: vec![turned(200.0, 600.0, 80.0, 44.0, 30.0)],
        },
        Feature {
            class: Building,
            rings: vec![rect(280.0, 560.0, 340.0, 640.0)],
        },
        // A courtyard building: the courtyard is a hole.
        Feature {
            class: Building,
            rings: vec![
                rect(380.0, 560.0, 520.0, 680.0),
                rect(410.0, 590.0, 490.0, 650.0),
            ],
        },
        Feature {
            class: Building,
            rings: vec![rect(50.0, 680.0, 150.0, 740.0)],
        },
        Feature {
            class: Building,
            rings: vec![turned(250.0, 710.0, 90.0, 40.0, 10.0)],
        },
        Feature {
            class: Building,
            rings: vec![rect(560.0, 600.0, 596.0, 700.0)],
        },
        Feature {
            class: Building,
            rings: vec![rect(950.0, 400.0, 1000.0, 440.0)],
        },
    ]
}

/// Checks the example's promises: 15 to 30 polygons, at least two with a
/// hole, exactly one partly outside the scene and none wholly outside.
fn check(features: &[Feature]) -> anyhow::Result<()> {
    ensure!(
        (15..=30).contains(&features.len()),
        "wants 15 to 30 polygons, has {}",
        features.len()
    );
    let holes = features.iter().filter(|f| f.rings.len() > 1).count();
    ensure!(holes >= 2, "wants two polygons with a hole, has {holes}");
    let inside = |&(x, y): &Point| {
        (0.0..=f64::from(WIDTH)).contains(&x) && (0.0..=f64::from(HEIGHT)).contains(&y)
    };
    let mut crossing = 0;
    for (i, f) in features.iter().enumerate() {
        let points = || f.rings.iter().flatten();
        ensure!(points().any(inside), "polygon {i} lies outside the scene");
        if !points().all(inside) {
            crossing += 1;
        }
    }
    ensure!(
        crossing == 1,
        "exactly one polygon must cross the scene's edge, {crossing} do"
    );
    Ok(())
}

/// Regenerates `dir` (`examples/scene`): deletes the folder if present,
/// then writes `scene.tif` and `labels.geojson`.
pub(crate) fn run(dir: &Path) -> anyhow::Result<()> {
    let features = features();
    check(&features)?;
    let rgb = render(&features);
    let geojson = geojson(&features)?;
    serde_json::from_str::<serde_json::Value>(&geojson)
        .context("generated labels.geojson is not JSON")?;

    match fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing {}", dir.display())),
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    write_geotiff(&dir.join("scene.tif"), &rgb)?;
    let labels = dir.join("labels.geojson");
    fs::write(&labels, geojson).with_context(|| format!("writing {}", labels.display()))?;
    println!(
        "wrote {} ({WIDTH} x {HEIGHT} scene, {} polygons)",
        dir.display(),
        features.len()
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// labels.geojson

/// Twice the signed area of a ring (positive when counter-clockwise with
/// y up).
fn doubled_area(ring: &[Point]) -> f64 {
    let n = ring.len();
    (0..n)
        .map(|i| {
            let (a, b) = (ring[i], ring[(i + 1) % n]);
            a.0 * b.1 - b.0 * a.1
        })
        .sum()
}

/// The features as RFC 7946 GeoJSON, one feature a line.
fn geojson(features: &[Feature]) -> anyhow::Result<String> {
    let crs = Crs::from_epsg(u32::from(SRID))?;
    let mut out = String::from("{\"type\": \"FeatureCollection\", \"features\": [\n");
    for (i, f) in features.iter().enumerate() {
        let mut rings = Vec::new();
        for (k, ring) in f.rings.iter().enumerate() {
            let mut lonlat: Ring = ring
                .iter()
                .map(|&(x, y)| (ORIGIN_X + x * PIXEL_SIZE, ORIGIN_Y - y * PIXEL_SIZE))
                .collect();
            crs.to_wgs84_many(&mut lonlat)?;
            // Exterior counter-clockwise, holes clockwise.
            if (doubled_area(&lonlat) > 0.0) != (k == 0) {
                lonlat.reverse();
            }
            lonlat.push(lonlat[0]);
            let points: Vec<String> = lonlat
                .iter()
                .map(|(lon, lat)| format!("[{lon:.9}, {lat:.9}]"))
                .collect();
            rings.push(format!("[{}]", points.join(", ")));
        }
        let sep = if i + 1 < features.len() { "," } else { "" };
        writeln!(
            out,
            "{{\"type\": \"Feature\", \"properties\": {{\"class\": \"{}\"}}, \"geometry\": \
             {{\"type\": \"Polygon\", \"coordinates\": [{}]}}}}{sep}",
            f.class.name(),
            rings.join(", ")
        )?;
    }
    out.push_str("]}\n");
    Ok(out)
}

// ---------------------------------------------------------------------------
// scene.tif

/// The pixels of `rings` (even-odd, holes included) whose centres lie
/// inside, as a mask over the whole scene.
fn mask(rings: &[Ring]) -> Vec<bool> {
    let (w, h) = (WIDTH as usize, HEIGHT as usize);
    let mut inside = vec![false; w * h];
    for y in 0..h {
        let yc = y as f64 + 0.5;
        let mut xs: Vec<f64> = Vec::new();
        for ring in rings {
            for i in 0..ring.len() {
                let (a, b) = (ring[i], ring[(i + 1) % ring.len()]);
                if (a.1 <= yc) != (b.1 <= yc) {
                    xs.push(a.0 + (yc - a.1) * (b.0 - a.0) / (b.1 - a.1));
                }
            }
        }
        xs.sort_by(f64::total_cmp);
        for pair in xs.chunks_exact(2) {
            let start = ((pair[0] - 0.5).ceil().max(0.0) as usize).min(w);
            let end = ((pair[1] - 0.5).ceil().max(0.0) as usize).min(w);
            inside[y * w + start..y * w + end].fill(true);
        }
    }
    inside
}

/// A deterministic hash of a pixel position, for texture.
fn hash(x: usize, y: usize) -> u32 {
    let mut h = (x as u32).wrapping_mul(0x9E37_79B1) ^ (y as u32).wrapping_mul(0x85EB_CA77);
    h ^= h >> 15;
    h = h.wrapping_mul(0x2C1B_3C6D);
    h ^ (h >> 12)
}

/// Adds a signed offset to each channel, saturating.
fn shade(c: Rgb, delta: i32) -> Rgb {
    c.map(|v| (i32::from(v) + delta).clamp(0, 255) as u8)
}

/// Crop colours of the fields, by field.
const CROPS: [Rgb; 5] = [
    [196, 178, 98],
    [112, 150, 64],
    [150, 118, 82],
    [168, 182, 92],
    [92, 128, 60],
];
/// Roof colours of the buildings, by building.
const ROOFS: [Rgb; 4] = [[168, 74, 56], [120, 120, 126], [186, 104, 72], [90, 86, 96]];

/// The scene, row-major RGB: meadow and roads, then each feature.
fn render(features: &[Feature]) -> Vec<u8> {
    let (w, h) = (WIDTH as usize, HEIGHT as usize);
    let mut rgb = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            let noise = (hash(x, y) % 7) as i32 - 3;
            let road = ROAD_ROWS.contains(&(y as u32)) || ROAD_COLS.contains(&(x as u32));
            let c = if road {
                let centre = (y == 379 || x == 611) && (x + y) % 24 < 12;
                if centre {
                    [230, 230, 220]
                } else {
                    shade([104, 104, 108], noise)
                }
            } else {
                shade([88, 122, 60], noise + ((x / 7 + y / 5) % 3) as i32)
            };
            rgb[(y * w + x) * 3..][..3].copy_from_slice(&c);
        }
    }
    let (mut fields, mut roofs) = (0, 0);
    for f in features {
        let inside = mask(&f.rings);
        let at = |x: usize, y: usize| x < w && y < h && inside[y * w + x];
        // Field rows run along the first edge of the exterior.
        let (a, b) = (f.rings[0][0], f.rings[0][1]);
        let len = (b.0 - a.0).hypot(b.1 - a.1).max(1.0);
        let (nx, ny) = (-(b.1 - a.1) / len, (b.0 - a.0) / len);
        let crop = CROPS[fields % CROPS.len()];
        let roof = ROOFS[roofs % ROOFS.len()];
        // The exterior's bounding box, within the scene.
        let exterior = &f.rings[0];
        let span = |get: fn(&Point) -> f64, limit: usize| {
            let lo = exterior.iter().map(get).fold(f64::INFINITY, f64::min);
            let hi = exterior.iter().map(get).fold(f64::NEG_INFINITY, f64::max);
            (lo.max(0.0) as usize).min(limit)..(hi.ceil().max(0.0) as usize).min(limit)
        };
        for y in span(|p| p.1, h) {
            for x in span(|p| p.0, w) {
                if !at(x, y) {
                    continue;
                }
                let edge = x == 0
                    || y == 0
                    || !(at(x - 1, y) && at(x + 1, y) && at(x, y - 1) && at(x, y + 1));
                let noise = (hash(x, y) % 5) as i32 - 2;
                let c = match f.class {
                    Class::Field => {
                        let across = (x as f64 + 0.5) * nx + (y as f64 + 0.5) * ny;
                        let row = across.rem_euclid(6.0) < 2.0;
                        shade(crop, noise + if row { -18 } else { 0 })
                    }
                    Class::Water => {
                        if edge {
                            [70, 96, 70]
                        } else {
                            let ripple = if (x + 2 * y) % 17 == 0 { 8 } else { 0 };
                            shade([34, 82, 118], noise + ripple)
                        }
                    }
                    Class::Building => {
                        if edge {
                            [44, 40, 40]
                        } else {
                            shade(roof, noise)
                        }
                    }
                };
                rgb[(y * w + x) * 3..][..3].copy_from_slice(&c);
            }
        }
        match f.class {
            Class::Field => fields += 1,
            Class::Building => roofs += 1,
            Class::Water => {}
        }
    }
    rgb
}

/// Writes the scene as a tiled, Deflate-compressed GeoTIFF.
fn write_geotiff(path: &Path, rgb: &[u8]) -> anyhow::Result<()> {
    let spec = util::TiledGeoTiff {
        width: WIDTH,
        height: HEIGHT,
        tile: TILE,
        origin: (ORIGIN_X, ORIGIN_Y),
        pixel: PIXEL_SIZE,
        epsg: SRID,
    };
    let (w, t) = (WIDTH as usize, TILE as usize);
    util::write_tiled_geotiff(path, spec, |ty| {
        (0..WIDTH.div_ceil(TILE) as usize)
            .map(|tx| {
                let mut raw = vec![0u8; t * t * 3];
                for (j, line) in raw.chunks_exact_mut(t * 3).enumerate() {
                    let y = ty as usize * t + j;
                    if y >= HEIGHT as usize {
                        break;
                    }
                    let x0 = tx * t;
                    let n = t.min(w - x0);
                    line[..n * 3].copy_from_slice(&rgb[(y * w + x0) * 3..][..n * 3]);
                }
                util::deflate_tile(&raw, 9)
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regenerating_gives_identical_files_under_a_megabyte() -> anyhow::Result<()> {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join("scene");
        let read = |name: &str| fs::read(dir.join(name));
        run(&dir)?;
        let (tif, labels) = (read("scene.tif")?, read("labels.geojson")?);
        run(&dir)?;
        assert_eq!(tif, read("scene.tif")?);
        assert_eq!(labels, read("labels.geojson")?);
        assert!(tif.len() < 1 << 20, "{} bytes", tif.len());
        let json: serde_json::Value = serde_json::from_slice(&labels)?;
        let features = json["features"].as_array().context("features")?;
        assert_eq!(features.len(), 23);
        Ok(())
    }

    #[test]
    fn labelstore_reads_the_scene_back_as_drawn() -> anyhow::Result<()> {
        let tmp = tempfile::tempdir()?;
        let path = tmp.path().join("scene.tif");
        let rgb = render(&features());
        write_geotiff(&path, &rgb)?;
        let mut scene = labelstore::georef::Scene::open(&path)?;
        assert_eq!(scene.dimensions(), (WIDTH, HEIGHT));
        assert_eq!(scene.epsg(), Some(u32::from(SRID)));
        assert_eq!(
            scene.transform().0,
            [ORIGIN_X, PIXEL_SIZE, 0.0, ORIGIN_Y, 0.0, -PIXEL_SIZE]
        );
        // The bottom-right window spans a partial tile column.
        let (col, row, size) = (WIDTH - 300, HEIGHT - 300, 300);
        let window = scene.read_window(col, row, size)?;
        let w = WIDTH as usize;
        for y in 0..size as usize {
            let start = ((row as usize + y) * w + col as usize) * 3;
            let line = &window.data[y * size as usize * 3..][..size as usize * 3];
            assert_eq!(line, &rgb[start..start + size as usize * 3], "row {y}");
        }
        Ok(())
    }

    #[test]
    fn the_first_corner_is_the_scene_origin_in_lon_lat() -> anyhow::Result<()> {
        let crs = Crs::from_epsg(u32::from(SRID))?;
        let (lon, lat) = crs.to_wgs84(ORIGIN_X, ORIGIN_Y)?;
        // UTM 32N's central meridian is 9 degrees east.
        assert_eq!(format!("{lon:.9}"), "9.000000000");
        assert!((41.99..42.0).contains(&lat), "{lat}");
        Ok(())
    }

    #[test]
    fn rings_face_as_rfc_7946_says() -> anyhow::Result<()> {
        let json: serde_json::Value = serde_json::from_str(&geojson(&features())?)?;
        for f in json["features"].as_array().context("features")? {
            let rings = f["geometry"]["coordinates"].as_array().context("rings")?;
            for (k, ring) in rings.iter().enumerate() {
                let points: Vec<Point> = ring
                    .as_array()
                    .context("ring")?
                    .iter()
                    .map(|p| (p[0].as_f64().unwrap_or(0.0), p[1].as_f64().unwrap_or(0.0)))
                    .collect();
                assert_eq!(points.first(), points.last());
                assert_eq!(doubled_area(&points) > 0.0, k == 0, "{f}");
            }
        }
        Ok(())
    }
}
