//! `labelstore chip` judged by GDAL and PROJ: a generated 3-band scene cut
//! into overlapping windows (each chip the pixels `gdal_translate -srcwin`
//! cuts, with the window's geotransform and the scene's CRS as `gdalinfo`
//! reports them), labels generated in UTM and written by `ogr2ogr` as
//! GeoJSON in EPSG:4326, a Shapefile in the scene's CRS and a GeoPackage in
//! EPSG:3857, placed on the chips as `cs2cs` places their vertices (within
//! 1 cm, 0.02 px) and rasterized as `gdal_rasterize` does; empty chips,
//! nodata, `--min-visible`, bad input, and the output folder as a store.
//! Also: a world-file scene with `--srid`, a rotated one, scenes in two
//! CRSs, and a Shapefile whose extensions are upper case.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::util::{listing, run, snapshot, stderr, stdout};

/// The main scene: width, height, upper-left corner and pixel size
/// (EPSG:32632).
const W: u32 = 700;
const H: u32 = 500;
const ULX: f64 = 600_000.0;
const ULY: f64 = 5_000_000.0;
const RES: f64 = 0.5;
/// The sweep: windows of 256 every 200 pixels; the last column and row
/// shifted to the scene's edge (700 - 256 = 444, 500 - 256 = 244).
const SIZE: u32 = 256;
const STRIDE: u32 = 200;
const COLS: [u32; 4] = [0, 200, 400, 444];
const ROWS: [u32; 3] = [0, 200, 244];

/// Runs a GDAL or PROJ tool, feeding it `input`; its standard output.
fn tool_with_input(name: &str, args: &[&str], input: &str) -> String {
    use std::io::Write as _;
    let mut child = Command::new(name)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {name} ({e}): install gdal-bin and proj-bin"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{name} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a GDAL or PROJ tool; its standard output.
fn tool(name: &str, args: &[&str]) -> String {
    tool_with_input(name, args, "")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Sample `b` of pixel `(x, y)` of the generated scenes: varied, never 0.
fn sample(x: u32, y: u32, b: u32) -> u8 {
    (1 + (x * 7 + y * 3 + b * 85 + ((x ^ y) & 0x3f)) % 255) as u8
}

/// How a generated scene is georeferenced: its CRS and corners, as
/// `gdal_translate -a_srs SRS -a_ullr ULX ULY LRX LRY` takes them.
type Georef<'a> = Option<(&'a str, [f64; 4])>;

/// The main scene's georeferencing for a `w x h` scene: upper-left corner
/// (ULX, ULY), RES metres per pixel, EPSG:32632.
fn utm(w: u32, h: u32) -> Georef<'static> {
    Some((
        "EPSG:32632",
        [ULX, ULY, ULX + RES * f64::from(w), ULY - RES * f64::from(h)],
    ))
}

/// Writes a `w x h` 3-band Byte GeoTIFF (tiled 128 x 128, Deflate) at
/// `path`, georeferenced by `georef` (none: a plain TIFF); with `nodata`,
/// its value is 0 and the pixels of the rectangle `[x0, x1) x [y0, y1)`
/// hold it.
fn write_scene(path: &Path, w: u32, h: u32, georef: Georef<'_>, nodata: Option<[u32; 4]>) {
    let raw = path.with_extension("bin");
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            for b in 0..3 {
                let blank = nodata
                    .is_some_and(|[x0, y0, x1, y1]| (x0..x1).contains(&x) && (y0..y1).contains(&y));
                data.push(if blank { 0 } else { sample(x, y, b) });
            }
        }
    }
    std::fs::write(&raw, data).unwrap();
    std::fs::write(
        raw.with_extension("hdr"),
        format!(
            "ENVI\nsamples = {w}\nlines = {h}\nbands = 3\nheader offset = 0\n\
             data type = 1\ninterleave = bip\nbyte order = 0\n"
        ),
    )
    .unwrap();
    let mut args: Vec<String> = [
        "-q",
        "-of",
        "GTiff",
        "-co",
        "TILED=YES",
        "-co",
        "BLOCKXSIZE=128",
        "-co",
        "BLOCKYSIZE=128",
        "-co",
        "COMPRESS=DEFLATE",
    ]
    .map(String::from)
    .to_vec();
    if let Some((srs, corners)) = georef {
        args.extend(["-a_srs".into(), srs.into(), "-a_ullr".into()]);
        args.extend(corners.map(|c| c.to_string()));
    }
    if nodata.is_some() {
        args.extend(["-a_nodata".into(), "0".into()]);
    }
    args.extend([s(&raw).into(), s(path).into()]);
    tool(
        "gdal_translate",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
}

/// The main scene, `ortho.tif` in `dir`.
fn main_scene(dir: &Path) -> PathBuf {
    let path = dir.join("ortho.tif");
    write_scene(&path, W, H, utm(W, H), None);
    path
}

/// A label as generated: its name (attribute `name`), class (attribute
/// `classid`) and polygons of rings (open; the first the outer one) in the
/// main scene's pixels.
struct Feature {
    name: &'static str,
    class: u32,
    multi: bool,
    polygons: Polygons,
}

fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Ring {
    vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
}

fn poly(name: &'static str, class: u32, rings: Vec<Ring>) -> Feature {
    Feature {
        name,
        class,
        multi: false,
        polygons: vec![rings],
    }
}

/// Twelve labels over the main scene; no vertex on a window's edge.
fn features() -> Vec<Feature> {
    vec![
        // Inside window (0, 0) only.
        poly(
            "f01",
            1,
            vec![vec![
                [20.3, 30.6],
                [150.2, 40.1],
                [170.7, 120.4],
                [90.5, 180.9],
                [30.1, 140.2],
            ]],
        ),
        // A hole, inside window (200, 0) only.
        poly(
            "f02",
            2,
            vec![
                rect(280.4, 40.3, 380.6, 160.7),
                rect(310.2, 70.8, 350.9, 120.1),
            ],
        ),
        // A multipolygon inside window (444, 244) only.
        Feature {
            name: "f03",
            class: 3,
            multi: true,
            polygons: vec![
                vec![rect(660.2, 460.3, 675.8, 475.6)],
                vec![vec![[680.1, 480.4], [695.3, 481.2], [690.7, 496.6]]],
            ],
        },
        // Across the edges of six windows.
        poly("f04", 1, vec![rect(150.3, 150.6, 300.2, 300.4)]),
        // Wholly outside the scene.
        poly("f05", 2, vec![rect(800.5, 100.5, 900.5, 200.5)]),
        // Inside window (400, 0), across the edges of (200, 0) and (444, 0).
        poly("f06", 3, vec![rect(440.3, 20.2, 500.6, 80.4)]),
        // Two overlapping labels (the later paints over the earlier).
        poly("f07", 1, vec![rect(40.2, 300.3, 140.7, 400.6)]),
        poly("f08", 2, vec![rect(100.4, 350.2, 190.6, 450.3)]),
        // A triangle over f04, inside window (200, 200).
        poly(
            "f09",
            2,
            vec![vec![[230.3, 210.7], [330.8, 230.2], [250.1, 330.9]]],
        ),
        // A multipolygon whose parts lie in different windows.
        Feature {
            name: "f10",
            class: 3,
            multi: true,
            polygons: vec![
                vec![rect(500.3, 300.2, 560.8, 340.6)],
                vec![rect(600.1, 100.3, 680.9, 150.7)],
            ],
        },
        // A hole, the polygon cut by every window it meets.
        poly(
            "f11",
            1,
            vec![
                rect(380.2, 380.4, 520.7, 480.9),
                rect(420.3, 400.2, 470.6, 440.8),
            ],
        ),
        // Across the scene's right edge.
        poly("f12", 2, vec![rect(680.4, 190.3, 720.8, 230.6)]),
    ]
}

/// Map coordinates (EPSG:32632) of main-scene pixel `(x, y)`.
fn to_map([x, y]: [f64; 2]) -> [f64; 2] {
    [ULX + RES * x, ULY - RES * y]
}

/// The pixel extent `[xmin, ymin, xmax, ymax]` of a feature.
fn extent(f: &Feature) -> [f64; 4] {
    let mut e = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
    for &[x, y] in f.polygons.iter().flatten().flatten() {
        e = [e[0].min(x), e[1].min(y), e[2].max(x), e[3].max(y)];
    }
    e
}

/// The windows of the main scene's sweep, row by row.
fn windows() -> Vec<(u32, u32)> {
    ROWS.iter()
        .flat_map(|&r| COLS.iter().map(move |&c| (c, r)))
        .collect()
}

/// Whether feature `f` meets window `(col, row)` (its extent overlaps the
/// window; each feature above is drawn so that this is also true of its
/// area), and whether it lies wholly inside it.
fn meets(f: &Feature, (col, row): (u32, u32)) -> (bool, bool) {
    let [x0, y0, x1, y1] = extent(f);
    let (c0, r0) = (f64::from(col), f64::from(row));
    let (c1, r1) = (c0 + f64::from(SIZE), r0 + f64::from(SIZE));
    let meets = x0 < c1 && x1 > c0 && y0 < r1 && y1 > r0;
    let inside = x0 >= c0 && x1 <= c1 && y0 >= r0 && y1 <= r1;
    (meets, inside)
}

/// `(col, row)` of a chip id `<stem>_x<col>_y<row>`.
fn window_of(id: &str) -> (u32, u32) {
    let (rest, row) = id.rsplit_once("_y").unwrap();
    let (_, col) = rest.rsplit_once("_x").unwrap();
    (col.parse().unwrap(), row.parse().unwrap())
}

/// The geotransform of main-scene window `(col, row)`.
fn window_transform((col, row): (u32, u32)) -> [f64; 6] {
    let [x, y] = to_map([f64::from(col), f64::from(row)]);
    [x, RES, 0.0, y, 0.0, -RES]
}

/// The features as a GeoJSON FeatureCollection in EPSG:32632 (the legacy
/// `crs` member, as GDAL writes it), written to `path`.
fn write_utm_geojson(path: &Path, features: &[Feature]) {
    let ring = |r: &Ring| -> Value {
        let mut pts: Vec<Value> = r.iter().map(|&p| json!(to_map(p))).collect();
        pts.push(pts[0].clone());
        Value::Array(pts)
    };
    let polygon = |p: &Vec<Ring>| -> Value { p.iter().map(ring).collect() };
    let features: Vec<Value> = features
        .iter()
        .map(|f| {
            let geometry = if f.multi {
                json!({"type": "MultiPolygon", "coordinates": f.polygons.iter().map(polygon).collect::<Vec<_>>()})
            } else {
                json!({"type": "Polygon", "coordinates": polygon(&f.polygons[0])})
            };
            json!({"type": "Feature", "properties": {"classid": f.class, "name": f.name}, "geometry": geometry})
        })
        .collect();
    let doc = json!({
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32632"}},
        "features": features,
    });
    std::fs::write(path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
}

/// The labels of [`features`] in `dir`: `utm.geojson` (EPSG:32632),
/// `wgs84.geojson` (EPSG:4326, 12 decimals), `labels.shp` (EPSG:32632) and
/// `labels.gpkg` (EPSG:3857, table `parcels`, plus a table `other`).
struct Labels {
    utm: PathBuf,
    wgs84: PathBuf,
    shp: PathBuf,
    gpkg: PathBuf,
}

fn write_labels(dir: &Path) -> Labels {
    let utm = dir.join("utm.geojson");
    write_utm_geojson(&utm, &features());
    let wgs84 = dir.join("wgs84.geojson");
    tool(
        "ogr2ogr",
        &[
            "-f",
            "GeoJSON",
            "-t_srs",
            "EPSG:4326",
            "-lco",
            "COORDINATE_PRECISION=12",
            s(&wgs84),
            s(&utm),
        ],
    );
    let shp = dir.join("labels.shp");
    tool("ogr2ogr", &["-f", "ESRI Shapefile", s(&shp), s(&utm)]);
    let gpkg = dir.join("labels.gpkg");
    tool(
        "ogr2ogr",
        &[
            "-f",
            "GPKG",
            "-t_srs",
            "EPSG:3857",
            "-nln",
            "parcels",
            s(&gpkg),
            s(&utm),
        ],
    );
    tool(
        "ogr2ogr",
        &["-f", "GPKG", "-update", "-nln", "other", s(&gpkg), s(&utm)],
    );
    Labels {
        utm,
        wgs84,
        shp,
        gpkg,
    }
}

/// Runs `labelstore chip SCENES --labels LABELS --size 256 --stride 200
/// --output OUT EXTRA...`.
fn chip(scenes: &[&Path], labels: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<&std::ffi::OsStr> = vec!["chip".as_ref()];
    args.extend(scenes.iter().map(|p| p.as_os_str()));
    args.extend([
        "--labels".as_ref(),
        labels.as_os_str(),
        "--output".as_ref(),
        out.as_os_str(),
    ]);
    args.extend(extra.iter().map(|s| -> &std::ffi::OsStr { s.as_ref() }));
    run(&args)
}

/// The sweep of the main scene, with `extra` options.
fn chip_main(scene: &Path, labels: &Path, out: &Path, extra: &[&str]) -> Value {
    let (size, stride) = (SIZE.to_string(), STRIDE.to_string());
    let mut args = vec!["--size", &size, "--stride", &stride, "--json"];
    args.extend_from_slice(extra);
    let o = chip(&[scene], labels, out, &args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap()
}

fn project(out: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(out.join("project.json")).unwrap()).unwrap()
}

/// The chips of a project by id.
fn chips(project: &Value) -> BTreeMap<String, Value> {
    project["chips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_owned(), c.clone()))
        .collect()
}

/// A chip's labels by their feature's `name`.
fn labels_by_name(chip: &Value) -> BTreeMap<String, Value> {
    chip["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["attributes"]["name"].as_str().unwrap().to_owned(),
                l.clone(),
            )
        })
        .collect()
}

/// The main scene's chip ids that [`features`] give (every window meets
/// one).
fn expected_ids() -> BTreeSet<String> {
    windows()
        .into_iter()
        .filter(|&w| features().iter().any(|f| meets(f, w).0))
        .map(|(c, r)| format!("ortho_x{c}_y{r}"))
        .collect()
}

/// The summary's classes as the model gives them: per class id, features,
/// labels (feature pieces) and clipped pieces.
fn expected_classes() -> Vec<Value> {
    (1..=3)
        .map(|class| {
            let fs: Vec<Feature> = features()
                .into_iter()
                .filter(|f| f.class == class)
                .collect();
            let pairs: Vec<(bool, bool)> = fs
                .iter()
                .flat_map(|f| windows().into_iter().map(move |w| meets(f, w)))
                .filter(|&(m, _)| m)
                .collect();
            json!({
                "id": class,
                "name": class.to_string(),
                "features": fs.len(),
                "labels": pairs.len(),
                "clipped": pairs.iter().filter(|&&(_, inside)| !inside).count(),
                "dropped": 0,
            })
        })
        .collect()
}

/// The `--json` summary's per-class table.
fn classes(summary: &Value) -> Vec<Value> {
    summary["classes"].as_array().unwrap().clone()
}

/// `cs2cs` of `points` from `from` to `to` (PROJ's arguments).
fn cs2cs(from: &[&str], to: &str, points: &[[f64; 2]]) -> Vec<[f64; 2]> {
    let input: String = points
        .iter()
        .map(|[x, y]| format!("{x:.12} {y:.12}\n"))
        .collect();
    let mut args = vec!["-f", "%.6f"];
    args.extend_from_slice(from);
    args.extend(["+to", to]);
    let out = tool_with_input("cs2cs", &args, &input);
    let v: Vec<[f64; 2]> = out
        .lines()
        .map(|l| {
            let n: Vec<f64> = l.split_whitespace().map(|t| t.parse().unwrap()).collect();
            [n[0], n[1]]
        })
        .collect();
    assert_eq!(v.len(), points.len(), "{out}");
    v
}

/// A ring of points; a polygon's rings (the outer one first); the polygons
/// of a shape.
type Ring = Vec<[f64; 2]>;
type Polygons = Vec<Vec<Ring>>;

/// Polygons from JSON: `[[x, y], ...]` rings in polygons, `multi` a list
/// of them.
fn parse_polygons(value: &Value, multi: bool) -> Polygons {
    let ring = |r: &Value| -> Ring {
        r.as_array()
            .unwrap()
            .iter()
            .map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()])
            .collect()
    };
    let polygon = |p: &Value| -> Vec<Ring> { p.as_array().unwrap().iter().map(ring).collect() };
    if multi {
        value.as_array().unwrap().iter().map(polygon).collect()
    } else {
        vec![polygon(value)]
    }
}

/// Every feature of a GeoJSON file by `name`: whether it is a
/// MultiPolygon, and its polygons (rings closed, as the file has them).
fn geojson_polygons(path: &Path) -> BTreeMap<String, (bool, Polygons)> {
    let doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let g = &f["geometry"];
            let multi = match g["type"].as_str().unwrap() {
                "Polygon" => false,
                "MultiPolygon" => true,
                other => panic!("{other}"),
            };
            (
                f["properties"]["name"].as_str().unwrap().to_owned(),
                (multi, parse_polygons(&g["coordinates"], multi)),
            )
        })
        .collect()
}

/// A label's polygons (a `polygon` as one) in pixels.
fn label_polygons(label: &Value) -> Polygons {
    match label.get("polygon") {
        Some(p) => parse_polygons(p, false),
        None => parse_polygons(&label["multipolygon"], true),
    }
}

/// WGS 84 longitude, latitude (in this order) for `cs2cs`.
const WGS84: [&str; 3] = ["+proj=longlat", "+datum=WGS84", "+type=crs"];

/// `gdalinfo -json` of a raster.
fn gdalinfo(path: &Path) -> Value {
    serde_json::from_str(&tool("gdalinfo", &["-json", s(path)])).unwrap()
}

/// A raster's pixels, as GDAL decodes them (raw, band-interleaved by
/// line: EHdr, which also takes a rotated geotransform, where ENVI fails).
fn pixels(path: &Path, srcwin: Option<(u32, u32)>, scratch: &Path) -> Vec<u8> {
    let out = scratch.join("decoded.bil");
    let (c, r, n) = srcwin.map_or((String::new(), String::new(), String::new()), |(c, r)| {
        (c.to_string(), r.to_string(), SIZE.to_string())
    });
    let mut args = vec!["-q", "-of", "EHdr"];
    if srcwin.is_some() {
        args.extend(["-srcwin", &c, &r, &n, &n]);
    }
    args.extend([s(path), s(&out)]);
    tool("gdal_translate", &args);
    std::fs::read(&out).unwrap()
}

#[test]
fn chips_hold_the_scene_pixels_with_the_window_geotransform_and_crs() {
    let tmp = tempfile::tempdir().unwrap();
    let scene = main_scene(tmp.path());
    let labels = write_labels(tmp.path());
    let out = tmp.path().join("out");
    let summary = chip_main(
        &scene,
        &labels.shp,
        &out,
        &[
            "--labeling-type",
            "object_detection",
            "--class-field",
            "classid",
        ],
    );
    assert_eq!(summary["scenes"][0]["windows"], 12);
    assert_eq!(summary["scenes"][0]["size"], json!([W, H]));
    assert_eq!(summary["scenes"][0]["crs"], "EPSG:32632");
    let ids: BTreeSet<String> = listing(&out.join("chips"))
        .into_iter()
        .map(|n| n.strip_suffix(".tif").unwrap().to_owned())
        .collect();
    let all: BTreeSet<String> = windows()
        .into_iter()
        .map(|(c, r)| format!("ortho_x{c}_y{r}"))
        .collect();
    assert_eq!(ids, all);
    assert_eq!(ids, expected_ids());
    assert_eq!(
        chips(&project(&out))
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>(),
        ids
    );
    assert_eq!(project(&out)["srid"], 32632);
    for id in &ids {
        let path = out.join("chips").join(format!("{id}.tif"));
        let window = window_of(id);
        assert_eq!(
            pixels(&path, None, tmp.path()),
            pixels(&scene, Some(window), tmp.path()),
            "{id}: pixels"
        );
        let info = gdalinfo(&path);
        assert_eq!(info["size"], json!([SIZE, SIZE]), "{id}");
        assert_eq!(info["bands"].as_array().unwrap().len(), 3, "{id}");
        assert_eq!(info["bands"][0]["type"], "Byte", "{id}");
        let gt: Vec<f64> = info["geoTransform"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(gt, window_transform(window), "{id}: geotransform");
        assert_eq!(info["stac"]["proj:epsg"], 32632, "{id}: CRS");
        let wkt = info["coordinateSystem"]["wkt"].as_str().unwrap();
        assert!(wkt.contains("UTM zone 32N"), "{id}: {wkt}");
    }
}

#[test]
fn instance_segmentation_from_geojson_in_wgs84_lands_where_cs2cs_puts_it() {
    let tmp = tempfile::tempdir().unwrap();
    let scene = main_scene(tmp.path());
    let labels = write_labels(tmp.path());
    let out = tmp.path().join("out");
    let summary = chip_main(
        &scene,
        &labels.wgs84,
        &out,
        &[
            "--labeling-type",
            "instance_segmentation",
            "--class-field",
            "classid",
        ],
    );
    assert_eq!(classes(&summary), expected_classes());
    assert_eq!(summary["features"], 12);
    assert_eq!(summary["features_outside"], 1);
    let p = project(&out);
    assert_eq!(p["labeling_type"], "instance_segmentation");
    assert_eq!(
        p["classes"],
        json!([{"id": 1, "name": "1"}, {"id": 2, "name": "2"}, {"id": 3, "name": "3"}])
    );

    // Every vertex of the file, through PROJ.
    let source = geojson_polygons(&labels.wgs84);
    for f in features() {
        assert_eq!(source[f.name].0, f.multi, "{}: as ogr2ogr wrote it", f.name);
    }
    let mut lonlat = Vec::new();
    for (_, polygons) in source.values() {
        lonlat.extend(polygons.iter().flatten().flatten().copied());
    }
    let utm = cs2cs(&WGS84, "EPSG:32632", &lonlat);
    let mut utm = utm.into_iter();
    let projected: BTreeMap<&String, Polygons> = source
        .iter()
        .map(|(name, (_, polygons))| {
            let p = polygons
                .iter()
                .map(|rings| {
                    rings
                        .iter()
                        .map(|r| r.iter().map(|_| utm.next().unwrap()).collect())
                        .collect()
                })
                .collect();
            (name, p)
        })
        .collect();

    let chips = chips(&p);
    assert_eq!(
        chips.keys().cloned().collect::<BTreeSet<_>>(),
        expected_ids()
    );
    let mut exact = 0;
    for (id, c) in &chips {
        let window = window_of(id);
        let [x0, _, _, y0, _, _] = window_transform(window);
        let labels = labels_by_name(c);
        let expected: BTreeSet<&str> = features()
            .iter()
            .filter(|f| meets(f, window).0)
            .map(|f| f.name)
            .collect();
        assert_eq!(
            labels.keys().map(String::as_str).collect::<BTreeSet<_>>(),
            expected,
            "{id}"
        );
        for f in features().iter().filter(|f| meets(f, window).0) {
            let label = &labels[f.name];
            assert_eq!(label["class"], f.class.to_string(), "{id} {}", f.name);
            assert_eq!(label["attributes"], json!({"name": f.name}), "{id}");
            let got = label_polygons(label);
            if meets(f, window).1 {
                // Whole: the file's rings, vertex for vertex where cs2cs puts them.
                exact += 1;
                let kind = if f.multi { "multipolygon" } else { "polygon" };
                assert!(label.get(kind).is_some(), "{id} {}: {label}", f.name);
                let want = &projected[&f.name.to_owned()];
                assert_eq!(got.len(), want.len(), "{id} {}", f.name);
                for (gp, wp) in got.iter().zip(want) {
                    assert_eq!(gp.len(), wp.len(), "{id} {}: rings", f.name);
                    for (gr, wr) in gp.iter().zip(wp) {
                        assert_eq!(gr.len(), wr.len(), "{id} {}: vertices", f.name);
                        for (&[px, py], &[ex, ey]) in gr.iter().zip(wr) {
                            let (mx, my) = (x0 + RES * px, y0 - RES * py);
                            assert!(
                                (mx - ex).abs() <= 0.01 && (my - ey).abs() <= 0.01,
                                "{id} {}: pixel ({px}, {py}) is ({mx}, {my}), cs2cs says ({ex}, {ey})",
                                f.name
                            );
                        }
                    }
                }
            } else {
                for &[x, y] in got.iter().flatten().flatten() {
                    assert!(
                        (0.0..=f64::from(SIZE)).contains(&x)
                            && (0.0..=f64::from(SIZE)).contains(&y),
                        "{id} {}: ({x}, {y}) outside the chip",
                        f.name
                    );
                }
            }
        }
    }
    // f01, f02, f03, f06, f07 and f08 twice, f09.
    assert_eq!(exact, 9);
    // The holes: f02's whole, f11's where the window holds it.
    assert_eq!(
        label_polygons(&labels_by_name(&chips["ortho_x200_y0"])["f02"])[0].len(),
        2
    );
    for id in ["ortho_x400_y200", "ortho_x400_y244"] {
        let f11 = label_polygons(&labels_by_name(&chips[id])["f11"]);
        assert_eq!(
            (f11.len(), f11[0].len()),
            (1, 2),
            "{id}: f11 keeps its hole"
        );
    }
    let f03 = label_polygons(&labels_by_name(&chips["ortho_x444_y244"])["f03"]);
    assert_eq!(f03.len(), 2, "f03 stays a multipolygon of two parts");
}

#[test]
fn object_detection_from_geopackage_in_web_mercator_boxes_what_cs2cs_gives() {
    let tmp = tempfile::tempdir().unwrap();
    let scene = main_scene(tmp.path());
    let labels = write_labels(tmp.path());
    let base = [
        "--size",
        "256",
        "--stride",
        "200",
        "--labeling-type",
        "object_detection",
        "--class-field",
        "classid",
    ];

    // Two tables: one must be chosen, and it must exist.
    let refused = tmp.path().join("refused");
    let o = chip(&[&scene], &labels.gpkg, &refused, &base);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    for word in ["labels.gpkg", "parcels", "other"] {
        assert!(stderr(&o).contains(word), "{word}: {}", stderr(&o));
    }
    let mut args = base.to_vec();
    args.extend(["--layer", "roads"]);
    let o = chip(&[&scene], &labels.gpkg, &refused, &args);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("roads"), "{}", stderr(&o));
    assert!(!refused.exists());

    let out = tmp.path().join("out");
    let summary = chip_main(
        &scene,
        &labels.gpkg,
        &out,
        &[
            "--labeling-type",
            "object_detection",
            "--class-field",
            "classid",
            "--layer",
            "parcels",
        ],
    );
    assert_eq!(classes(&summary), expected_classes());
    assert_eq!(summary["chips"], 12);
    assert_eq!(summary["empty_chips"], 0);
    assert_eq!(summary["features"], 12);
    assert_eq!(summary["features_outside"], 1);
    assert_eq!(
        summary["windows_left_out"],
        json!({"all_nodata": 0, "without_labels": 0})
    );

    // The table's own vertices (EPSG:3857), through PROJ.
    let dump = tmp.path().join("parcels.geojson");
    tool(
        "ogr2ogr",
        &["-f", "GeoJSON", s(&dump), s(&labels.gpkg), "parcels"],
    );
    let source = geojson_polygons(&dump);
    let mut merc = Vec::new();
    for (_, polygons) in source.values() {
        merc.extend(polygons.iter().flatten().flatten().copied());
    }
    let mut utm = cs2cs(&["EPSG:3857"], "EPSG:32632", &merc).into_iter();
    let projected: BTreeMap<&String, Vec<[f64; 2]>> = source
        .iter()
        .map(|(name, (_, polygons))| {
            let n = polygons.iter().flatten().flatten().count();
            (name, (0..n).map(|_| utm.next().unwrap()).collect())
        })
        .collect();

    let chips = chips(&project(&out));
    assert_eq!(
        chips.keys().cloned().collect::<BTreeSet<_>>(),
        expected_ids()
    );
    for (id, c) in &chips {
        let window = window_of(id);
        let [x0, _, _, y0, _, _] = window_transform(window);
        let labels = labels_by_name(c);
        for f in features().iter().filter(|f| meets(f, window).0) {
            let bbox: Vec<f64> = labels[f.name]["bbox"]
                .as_array()
                .unwrap_or_else(|| panic!("{id} {}: {}", f.name, labels[f.name]))
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            // The extent of the vertices in the chip's pixels.
            let mut e = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
            for &[x, y] in &projected[&f.name.to_owned()] {
                let (px, py) = ((x - x0) / RES, (y0 - y) / RES);
                e = [e[0].min(px), e[1].min(py), e[2].max(px), e[3].max(py)];
            }
            let n = f64::from(SIZE);
            let clamped = [e[0].max(0.0), e[1].max(0.0), e[2].min(n), e[3].min(n)];
            if meets(f, window).1 {
                assert_eq!(clamped, e, "{id} {}", f.name);
            }
            for k in 0..4 {
                assert!(
                    (0.0..=n).contains(&bbox[k]),
                    "{id} {}: {bbox:?} outside the chip",
                    f.name
                );
            }
            // Whole features, and rectangles cut by the window: the extent
            // (clamped to the chip) within 0.02 px.
            let rectangle = f.polygons.len() == 1 && f.polygons[0][0].len() == 4 && f.name != "f03";
            if meets(f, window).1 || rectangle {
                for k in 0..4 {
                    assert!(
                        (bbox[k] - clamped[k]).abs() <= 0.02,
                        "{id} {}: box {bbox:?}, cs2cs gives {clamped:?}",
                        f.name
                    );
                }
            } else {
                // Cut shapes: inside their clamped extent.
                assert!(
                    bbox[0] >= clamped[0] - 0.02
                        && bbox[1] >= clamped[1] - 0.02
                        && bbox[2] <= clamped[2] + 0.02
                        && bbox[3] <= clamped[3] + 0.02,
                    "{id} {}: box {bbox:?} beyond {clamped:?}",
                    f.name
                );
            }
        }
        assert_eq!(
            labels.len(),
            features().iter().filter(|f| meets(f, window).0).count(),
            "{id}"
        );
    }
}

#[test]
fn semantic_masks_from_shapefile_equal_gdal_rasterize() {
    let tmp = tempfile::tempdir().unwrap();
    let scene = main_scene(tmp.path());
    let labels = write_labels(tmp.path());
    let out = tmp.path().join("out");
    let summary = chip_main(
        &scene,
        &labels.shp,
        &out,
        &[
            "--labeling-type",
            "semantic_segmentation",
            "--class-field",
            "classid",
        ],
    );
    assert_eq!(classes(&summary), expected_classes());
    let stored = tmp.path().join("stored");
    let o = run(&[
        "store",
        s(&out),
        "--to",
        "local",
        "--path",
        s(&stored),
        "--format",
        "geotiff",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let ids = expected_ids();
    assert_eq!(
        listing(&stored.join("geotiff/train/masks")),
        ids.iter().map(|i| format!("{i}.tif")).collect::<Vec<_>>()
    );
    let mut painted = 0;
    for id in &ids {
        let window = window_of(id);
        let gt = window_transform(window);
        let reference = tmp.path().join(format!("{id}-gdal.tif"));
        let n = f64::from(SIZE);
        let corners: Vec<String> = [gt[0], gt[3], gt[0] + RES * n, gt[3] - RES * n]
            .iter()
            .map(f64::to_string)
            .collect();
        tool(
            "gdal_create",
            &[
                "-q",
                "-of",
                "GTiff",
                "-outsize",
                "256",
                "256",
                "-bands",
                "1",
                "-ot",
                "Byte",
                "-burn",
                "0",
                "-a_srs",
                "EPSG:32632",
                "-a_ullr",
                &corners[0],
                &corners[1],
                &corners[2],
                &corners[3],
                s(&reference),
            ],
        );
        tool(
            "gdal_rasterize",
            &[
                "-q",
                "-a",
                "classid",
                "-l",
                "labels",
                s(&labels.shp),
                s(&reference),
            ],
        );
        let mask = stored.join(format!("geotiff/train/masks/{id}.tif"));
        let want = pixels(&reference, None, tmp.path());
        let got = pixels(&mask, None, tmp.path());
        let differ: Vec<(usize, usize, u8, u8)> = got
            .iter()
            .zip(&want)
            .enumerate()
            .filter(|(_, (g, w))| g != w)
            .map(|(i, (g, w))| (i % 256, i / 256, *g, *w))
            .collect();
        assert!(
            differ.is_empty(),
            "{id}: mask differs from gdal_rasterize at (x, y, ours, gdal): {:?}",
            &differ[..differ.len().min(20)]
        );
        painted += want.iter().filter(|&&v| v != 0).count();
        let info = gdalinfo(&mask);
        let mgt: Vec<f64> = info["geoTransform"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(mgt, gt, "{id}: mask geotransform");
        if window == (0, 200) {
            // Where f08 (class 2) lies over f07 (class 1), and f09 (2)
            // over f04 (1): the later feature's class.
            assert_eq!(want[170 * 256 + 120], 2, "f08 over f07");
            assert_eq!(want[40 * 256 + 245], 2, "f09 over f04");
            assert_eq!(want[150 * 256 + 60], 1, "f07 alone");
        }
    }
    assert!(painted > 100_000, "{painted}");
}

#[test]
fn keep_empty_nodata_windows_and_a_fixed_class() {
    let tmp = tempfile::tempdir().unwrap();
    // 300 x 200, its top-left 100 x 100 nodata (0): windows of 100.
    let scene = tmp.path().join("patch.tif");
    write_scene(&scene, 300, 200, utm(300, 200), Some([0, 0, 100, 100]));
    let labels = tmp.path().join("labels.geojson");
    write_utm_geojson(
        &labels,
        &[
            poly("in-data", 7, vec![rect(220.5, 120.5, 280.5, 180.5)]),
            poly("in-nodata", 7, vec![rect(10.5, 10.5, 60.5, 60.5)]),
        ],
    );
    let args = [
        "--size",
        "100",
        "--labeling-type",
        "object_detection",
        "--class",
        "parcel",
        "--json",
    ];
    let out = tmp.path().join("plain");
    let o = chip(&[&scene], &labels, &out, &args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let summary: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (
            &summary["scenes"][0]["windows"],
            &summary["scenes"][0]["chips"],
            &summary["scenes"][0]["empty_chips"],
            &summary["scenes"][0]["without_labels"],
            &summary["scenes"][0]["all_nodata"],
        ),
        (&json!(6), &json!(1), &json!(0), &json!(4), &json!(1))
    );
    assert_eq!(listing(&out.join("chips")), ["patch_x200_y100.tif"]);

    let mut keep = args.to_vec();
    keep.push("--keep-empty");
    let out = tmp.path().join("kept");
    let o = chip(&[&scene], &labels, &out, &keep);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let summary: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        summary["scenes"][0],
        json!({
            "scene": s(&scene), "id": "patch", "size": [300, 200], "crs": "EPSG:32632",
            "windows": 6, "chips": 1, "empty_chips": 4, "without_labels": 0, "all_nodata": 1,
        })
    );
    assert_eq!(
        (&summary["chips"], &summary["empty_chips"]),
        (&json!(1), &json!(4))
    );
    assert_eq!(
        summary["windows_left_out"],
        json!({"all_nodata": 1, "without_labels": 0})
    );
    // The label in the nodata window went nowhere.
    assert_eq!(
        classes(&summary),
        [
            json!({"id": 1, "name": "parcel", "features": 2, "labels": 1, "clipped": 0, "dropped": 0})
        ]
    );
    let p = project(&out);
    assert_eq!(p["classes"], json!([{"id": 1, "name": "parcel"}]));
    let chips = chips(&p);
    let empty: Vec<&str> = chips
        .iter()
        .filter(|(_, c)| c["saved_empty"] == true)
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(
        empty,
        [
            "patch_x0_y100",
            "patch_x100_y0",
            "patch_x100_y100",
            "patch_x200_y0"
        ]
    );
    for id in &empty {
        assert_eq!(chips[*id]["labels"], json!([]), "{id}");
    }
    let labelled = &chips["patch_x200_y100"];
    assert_eq!(labelled["labels"][0]["class"], "parcel");
    assert_eq!(
        labelled["labels"][0]["attributes"],
        json!({"name": "in-data", "classid": 7})
    );
    let bbox: Vec<f64> = labelled["labels"][0]["bbox"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    for (got, want) in bbox.iter().zip([20.5, 20.5, 80.5, 80.5]) {
        assert!((got - want).abs() < 1e-6, "{bbox:?}");
    }
    // The chips keep the scene's nodata.
    let info = gdalinfo(&out.join("chips/patch_x0_y100.tif"));
    assert_eq!(info["bands"][0]["noDataValue"].as_f64(), Some(0.0));

    // Stored as they are: the empty chips too.
    let stored = tmp.path().join("stored");
    let o = run(&[
        "store",
        s(&out),
        "--to",
        "local",
        "--path",
        s(&stored),
        "--format",
        "json,yolo",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let sp = project(&stored);
    let stored_chips = self::chips(&sp);
    assert_eq!(stored_chips.len(), 5);
    assert_eq!(
        stored_chips
            .values()
            .filter(|c| c["saved_empty"] == true)
            .count(),
        4
    );
    for (id, c) in &stored_chips {
        assert!(stored.join(format!("chips/{id}.tif")).is_file(), "{id}");
        // YOLO: an empty label file for a chip saved empty.
        let yolo = std::fs::read(stored.join(format!("yolo/labels/train/{id}.txt"))).unwrap();
        assert_eq!(yolo.is_empty(), c["saved_empty"] == true, "{id}");
    }
}

#[test]
fn min_visible_drops_small_pieces_and_counts_them() {
    let tmp = tempfile::tempdir().unwrap();
    let scene = main_scene(tmp.path());
    let labels = tmp.path().join("slivers.geojson");
    // "roof": 60.3 wide; 15.7 of it (26 %) in window (200, 0), whole in
    // (400, 0), 56.6 (94 %) in (444, 0). "field": 30.2 high; 15.7 of it
    // (52 %) in (0, 0), whole in (0, 200), 26.5 (88 %) in (0, 244).
    write_utm_geojson(
        &labels,
        &[
            poly("roof", 1, vec![rect(440.3, 20.2, 500.6, 80.4)]),
            poly("field", 1, vec![rect(100.2, 240.3, 180.7, 270.5)]),
        ],
    );
    // The class is the feature's name: ids in name order, field before roof.
    let run_with = |ratio: &str, out: &str| {
        chip_main(
            &scene,
            &labels,
            &tmp.path().join(out),
            &[
                "--labeling-type",
                "instance_segmentation",
                "--class-field",
                "name",
                "--min-visible",
                ratio,
            ],
        )
    };
    let class = |id: u32, name: &str, labels: u32, clipped: u32, dropped: u32| json!({"id": id, "name": name, "features": 1, "labels": labels, "clipped": clipped, "dropped": dropped});

    let summary = run_with("0.3", "a");
    assert_eq!(
        classes(&summary),
        [class(1, "field", 3, 2, 0), class(2, "roof", 2, 1, 1)]
    );
    let ids: Vec<String> = chips(&project(&tmp.path().join("a"))).into_keys().collect();
    assert_eq!(
        ids,
        [
            "ortho_x0_y0",
            "ortho_x0_y200",
            "ortho_x0_y244",
            "ortho_x400_y0",
            "ortho_x444_y0"
        ]
    );

    let summary = run_with("0.6", "b");
    assert_eq!(
        classes(&summary),
        [class(1, "field", 2, 1, 1), class(2, "roof", 2, 1, 1)]
    );
    let ids: Vec<String> = chips(&project(&tmp.path().join("b"))).into_keys().collect();
    assert_eq!(
        ids,
        [
            "ortho_x0_y200",
            "ortho_x0_y244",
            "ortho_x400_y0",
            "ortho_x444_y0"
        ]
    );
    assert_eq!(summary["scenes"][0]["without_labels"], 8);

    // 0: every piece kept.
    let summary = run_with("0", "c");
    assert_eq!(
        classes(&summary),
        [class(1, "field", 3, 2, 0), class(2, "roof", 3, 2, 0)]
    );
}

#[test]
fn bad_input_exits_2_names_it_and_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let scene = main_scene(dir);
    let labels = write_labels(dir);
    // A Shapefile without its .prj.
    for ext in ["shp", "shx", "dbf"] {
        std::fs::copy(
            labels.shp.with_extension(ext),
            dir.join(format!("noprj.{ext}")),
        )
        .unwrap();
    }
    // A GeoJSON naming an EPSG code that does not exist.
    let text = std::fs::read_to_string(&labels.utm).unwrap();
    std::fs::write(
        dir.join("badcrs.geojson"),
        text.replace("EPSG::32632", "EPSG::999999"),
    )
    .unwrap();
    // UTM coordinates without a crs member (so taken as WGS 84).
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    doc.as_object_mut().unwrap().remove("crs");
    std::fs::write(dir.join("nocrs.geojson"), doc.to_string()).unwrap();
    // Labels 20 km east of the scene.
    let far: Vec<Feature> = features()
        .into_iter()
        .map(|mut f| {
            for p in f.polygons.iter_mut().flatten().flatten() {
                p[0] += 40_000.0;
            }
            f
        })
        .collect();
    write_utm_geojson(&dir.join("far.geojson"), &far);
    // A point among the polygons.
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    doc["features"][2]["geometry"] = json!({"type": "Point", "coordinates": [600100.0, 4999900.0]});
    std::fs::write(dir.join("point.geojson"), doc.to_string()).unwrap();
    // A TIFF without georeferencing.
    let plain = dir.join("plain.tif");
    write_scene(&plain, W, H, None, None);
    // The scene cut short: its header whole, its last tiles missing, found
    // only while the chips are cut.
    let broken = dir.join("broken.tif");
    let bytes = std::fs::read(&scene).unwrap();
    std::fs::write(&broken, &bytes[..bytes.len() * 3 / 5]).unwrap();
    assert!(gdalinfo(&plain).get("geoTransform").is_none());

    let utm = labels.utm.clone();
    let cases: Vec<(&str, PathBuf, PathBuf, &str, Vec<&str>)> = vec![
        (
            "missing labels",
            scene.clone(),
            dir.join("nope.geojson"),
            "classid",
            vec!["nope.geojson"],
        ),
        (
            "unknown class field",
            scene.clone(),
            utm.clone(),
            "klass",
            vec!["utm.geojson", "\"klass\"", "classid", "name"],
        ),
        (
            "unknown EPSG code",
            scene.clone(),
            dir.join("badcrs.geojson"),
            "classid",
            vec!["badcrs.geojson", "999999"],
        ),
        (
            "UTM without a crs member",
            scene.clone(),
            dir.join("nocrs.geojson"),
            "classid",
            vec!["nocrs.geojson", "feature 0", "EPSG:4326", "latitude"],
        ),
        (
            "Shapefile without .prj",
            scene.clone(),
            dir.join("noprj.shp"),
            "classid",
            vec!["noprj.prj"],
        ),
        (
            "labels meeting no scene",
            scene.clone(),
            dir.join("far.geojson"),
            "classid",
            vec!["far.geojson", "ortho.tif"],
        ),
        (
            "scene without georeferencing",
            plain.clone(),
            utm.clone(),
            "classid",
            vec!["plain.tif", "georeferencing"],
        ),
        (
            "a point",
            scene.clone(),
            dir.join("point.geojson"),
            "classid",
            vec!["point.geojson", "feature 2", "Point"],
        ),
        (
            "a scene cut short",
            broken.clone(),
            utm.clone(),
            "classid",
            vec!["broken.tif"],
        ),
    ];
    for (name, scene, labels, field, words) in cases {
        let out = dir.join(format!("out-{}", name.replace(' ', "-")));
        let o = chip(
            &[&scene],
            &labels,
            &out,
            &[
                "--size",
                "256",
                "--labeling-type",
                "instance_segmentation",
                "--class-field",
                field,
            ],
        );
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        for word in words {
            assert!(
                stderr(&o).contains(word),
                "{name}: {word} in {}",
                stderr(&o)
            );
        }
        assert!(stdout(&o).is_empty(), "{name}: {}", stdout(&o));
        assert!(!out.exists(), "{name}: the output folder was created");
    }

    // Options out of range.
    let options: [(&[&str], &str); 5] = [
        (&["--size", "800"], "smaller than a window of 800 x 800"),
        (&["--size", "0"], "--size"),
        (&["--size", "256", "--stride", "0"], "--stride"),
        (&["--size", "256", "--min-visible", "1.5"], "--min-visible"),
        (
            &["--size", "256", "--labeling-type", "keypoints"],
            "keypoints",
        ),
    ];
    for (extra, word) in options {
        let out = dir.join("out-options");
        let mut args = extra.to_vec();
        if !args.contains(&"--labeling-type") {
            args.extend(["--labeling-type", "object_detection"]);
        }
        args.extend(["--class-field", "classid"]);
        let o = chip(&[&scene], &labels.utm, &out, &args);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(word), "{extra:?}: {}", stderr(&o));
        assert!(!out.exists(), "{extra:?}: the output folder was created");
    }
}

#[test]
fn the_output_is_a_whole_store_and_overwrite_replaces_only_a_store() {
    let tmp = tempfile::tempdir().unwrap();
    let scene = main_scene(tmp.path());
    let labels = write_labels(tmp.path());
    let out = tmp.path().join("out");
    let args = [
        "--labeling-type",
        "object_detection",
        "--class-field",
        "classid",
    ];
    chip_main(&scene, &labels.utm, &out, &args);
    assert_eq!(
        listing(&out),
        ["chips", "labelstore-manifest.json", "project.json"]
    );
    let o = run(&["verify", "--from", "local", "--path", s(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(stdout(&o), "whole: 13 files, sizes and SHA-256 as listed\n");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("labelstore-manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["formats"], json!(["json"]));
    assert_eq!(manifest["chipped_from"]["size"], 256);
    assert_eq!(manifest["chipped_from"]["stride"], 200);

    // `labelstore store` takes it as it is.
    let stored = tmp.path().join("stored");
    let o = run(&[
        "store",
        s(&out),
        "--to",
        "local",
        "--path",
        s(&stored),
        "--format",
        "coco,json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let stored_project = project(&stored);
    assert_eq!(self::chips(&stored_project).len(), 12);
    let files = snapshot(&out);
    for (name, bytes) in &files {
        if name.starts_with("chips/") && !name.ends_with('/') {
            assert_eq!(&std::fs::read(stored.join(name)).unwrap(), bytes, "{name}");
        }
    }

    // Chipping again over it, with --overwrite only.
    let o = chip(
        &[&scene],
        &labels.utm,
        &out,
        &[
            "--size",
            "256",
            "--stride",
            "200",
            "--labeling-type",
            "object_detection",
            "--class-field",
            "classid",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(snapshot(&out), files);
    let o = chip(
        &[&scene],
        &labels.utm,
        &out,
        &[
            "--size",
            "256",
            "--labeling-type",
            "instance_segmentation",
            "--class-field",
            "classid",
            "--overwrite",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // 700 x 500 in windows of 256 without overlap: 3 x 2, each labelled.
    assert_eq!(
        stdout(&o).lines().take(3).collect::<Vec<_>>(),
        [
            format!(
                "chipped ortho (instance_segmentation) into local folder {}: \
                 6 chips with labels, 0 saved empty",
                out.display()
            ),
            format!(
                "  scene {} (700 x 500, EPSG:32632): 6 windows, 6 chips, 0 empty, \
                 left out 0 without labels, 0 all nodata",
                scene.display()
            ),
            "  features: 12 read, 1 outside every scene, 0 without geometry".to_owned(),
        ]
    );
    assert_eq!(project(&out)["labeling_type"], "instance_segmentation");
    assert_eq!(listing(&out.join("chips")).len(), 6);
    let o = run(&["verify", "--from", "local", "--path", s(&out)]);
    assert_eq!(stdout(&o), "whole: 7 files, sizes and SHA-256 as listed\n");

    // Never over its own input: a chip of the store as the scene.
    let before = snapshot(&out);
    let own = out.join("chips/ortho_x0_y0.tif");
    let o = chip(
        &[&own],
        &labels.utm,
        &out,
        &[
            "--size",
            "128",
            "--labeling-type",
            "object_detection",
            "--class-field",
            "classid",
            "--overwrite",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("ortho_x0_y0.tif"), "{}", stderr(&o));
    assert_eq!(snapshot(&out), before);

    // A folder holding anything else is refused and left as it was.
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), b"mine").unwrap();
    let o = chip(
        &[&scene],
        &labels.utm,
        &foreign,
        &[
            "--size",
            "256",
            "--labeling-type",
            "object_detection",
            "--class-field",
            "classid",
            "--overwrite",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("foreign"), "{}", stderr(&o));
    assert_eq!(listing(&foreign), ["notes.txt"]);
    assert_eq!(std::fs::read(foreign.join("notes.txt")).unwrap(), b"mine");
}

/// A raster's geotransform as `gdalinfo -json` reports it.
fn geotransform(path: &Path) -> Vec<f64> {
    gdalinfo(path)["geoTransform"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

#[test]
fn a_shapefile_with_upper_case_extensions_reads_as_in_lower_case() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let scene = main_scene(dir);
    let labels = write_labels(dir);
    for ext in ["shp", "shx", "dbf", "prj"] {
        std::fs::copy(
            labels.shp.with_extension(ext),
            dir.join(format!("LABELS.{}", ext.to_ascii_uppercase())),
        )
        .unwrap();
    }
    let args = [
        "--labeling-type",
        "instance_segmentation",
        "--class-field",
        "classid",
    ];
    let lower = chip_main(&scene, &labels.shp, &dir.join("lower"), &args);
    let upper = chip_main(&scene, &dir.join("LABELS.SHP"), &dir.join("upper"), &args);
    assert_eq!(classes(&upper), expected_classes());
    assert_eq!(classes(&upper), classes(&lower));
    assert_eq!(
        std::fs::read(dir.join("upper/project.json")).unwrap(),
        std::fs::read(dir.join("lower/project.json")).unwrap()
    );
}

#[test]
fn a_scene_georeferenced_by_a_world_file_takes_its_crs_from_srid() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let tagged = main_scene(dir);
    let labels = write_labels(dir);
    // The same pixels, without GeoTIFF tags: a world file (pixel centres)
    // places them where the main scene is.
    let scene = dir.join("wf.tif");
    write_scene(&scene, W, H, None, None);
    std::fs::write(
        dir.join("wf.tfw"),
        "0.5\n0\n0\n-0.5\n600000.25\n4999999.75\n",
    )
    .unwrap();
    let out = dir.join("out");
    let args = [
        "--size",
        "256",
        "--stride",
        "200",
        "--labeling-type",
        "instance_segmentation",
        "--class-field",
        "classid",
    ];
    let o = chip(&[&scene], &labels.utm, &out, &args);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    for word in ["wf.tif", "--srid"] {
        assert!(stderr(&o).contains(word), "{word}: {}", stderr(&o));
    }
    assert!(!out.exists());

    let summary = chip_main(
        &scene,
        &labels.utm,
        &out,
        &[&args[4..], &["--srid", "32632"]].concat(),
    );
    assert_eq!(summary["scenes"][0]["crs"], "EPSG:32632");
    assert_eq!(classes(&summary), expected_classes());
    let p = project(&out);
    assert_eq!(p["srid"], 32632);
    // The labels of the tagged scene, chip for chip.
    let reference = dir.join("tagged");
    chip_main(&tagged, &labels.utm, &reference, &args[4..]);
    let want = chips(&project(&reference));
    let got = chips(&p);
    assert_eq!(got.len(), want.len());
    for (id, c) in &want {
        let wid = id.replace("ortho_", "wf_");
        assert_eq!(got[&wid]["labels"], c["labels"], "{wid}");
        let file = out.join(format!("chips/{wid}.tif"));
        assert_eq!(
            geotransform(&file),
            window_transform(window_of(id)),
            "{wid}"
        );
        assert_eq!(gdalinfo(&file)["stac"]["proj:epsg"], 32632, "{wid}");
    }
}

#[test]
fn scenes_in_two_crs_each_take_the_labels_in_their_own() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let utm_scene = main_scene(dir);
    let labels = write_labels(dir);
    // The same ground in Web Mercator (0.7 x 0.728 m pixels), a scene of
    // the same name in another folder.
    std::fs::create_dir(dir.join("mercator")).unwrap();
    let merc_scene = dir.join("mercator/ortho.tif");
    let corners = [1_143_477.0, 5_644_598.0, 1_143_967.0, 5_644_234.0];
    write_scene(&merc_scene, W, H, Some(("EPSG:3857", corners)), None);
    let out = dir.join("out");
    let o = chip(
        &[&utm_scene, &merc_scene],
        &labels.wgs84,
        &out,
        &[
            "--size",
            "256",
            "--stride",
            "200",
            "--labeling-type",
            "instance_segmentation",
            "--class-field",
            "classid",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let summary: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let scenes: Vec<(&Value, &Value, &Value)> = summary["scenes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (&s["id"], &s["crs"], &s["windows"]))
        .collect();
    assert_eq!(
        scenes,
        [
            (&json!("ortho"), &json!("EPSG:32632"), &json!(12)),
            (&json!("ortho-2"), &json!("EPSG:3857"), &json!(12)),
        ]
    );
    let p = project(&out);
    assert_eq!(p.get("srid"), None, "scenes of two CRSs: no project CRS");
    let chips = chips(&p);
    let (utm_chips, merc_chips): (Vec<_>, Vec<_>) =
        chips.iter().partition(|(id, _)| id.starts_with("ortho_"));
    assert_eq!(
        utm_chips
            .iter()
            .map(|(id, _)| (*id).clone())
            .collect::<BTreeSet<_>>(),
        expected_ids()
    );
    for (id, c) in &utm_chips {
        assert_eq!(c["srid"], 32632, "{id}");
    }

    // The Mercator chips: each whole feature where cs2cs puts its vertices.
    let source = geojson_polygons(&labels.wgs84);
    let lonlat: Vec<[f64; 2]> = source
        .values()
        .flat_map(|(_, p)| p.iter().flatten().flatten().copied())
        .collect();
    let mut merc = cs2cs(&WGS84, "EPSG:3857", &lonlat).into_iter();
    let projected: BTreeMap<&String, Polygons> = source
        .iter()
        .map(|(name, (_, polygons))| {
            let p = polygons
                .iter()
                .map(|rings| {
                    rings
                        .iter()
                        .map(|r| r.iter().map(|_| merc.next().unwrap()).collect())
                        .collect()
                })
                .collect();
            (name, p)
        })
        .collect();
    let mut whole = 0;
    assert!(!merc_chips.is_empty());
    for (id, c) in &merc_chips {
        assert_eq!(c["srid"], 3857, "{id}");
        let gt = geotransform(&out.join(format!("chips/{id}.tif")));
        let (col, row) = window_of(id);
        let want_gt = [
            corners[0] + f64::from(col) * 0.7,
            0.7,
            0.0,
            corners[1] - f64::from(row) * 0.728,
            0.0,
            -0.728,
        ];
        for (g, w) in gt.iter().zip(want_gt) {
            assert!((g - w).abs() < 1e-6, "{id}: {gt:?}");
        }
        let labels = labels_by_name(c);
        for (name, polygons) in &projected {
            let pixels: Vec<[f64; 2]> = polygons
                .iter()
                .flatten()
                .flatten()
                .map(|&[x, y]| [(x - gt[0]) / gt[1], (y - gt[3]) / gt[5]])
                .collect();
            let n = f64::from(SIZE);
            if !pixels
                .iter()
                .all(|&[x, y]| (0.0..=n).contains(&x) && (0.0..=n).contains(&y))
            {
                continue;
            }
            whole += 1;
            let label = labels
                .get(name.as_str())
                .unwrap_or_else(|| panic!("{id}: {name} is inside, not labelled"));
            let got: Vec<[f64; 2]> = label_polygons(label)
                .into_iter()
                .flatten()
                .flatten()
                .collect();
            assert_eq!(got.len(), pixels.len(), "{id} {name}");
            for (&[px, py], &[ex, ey]) in got.iter().zip(polygons.iter().flatten().flatten()) {
                let (mx, my) = (gt[0] + gt[1] * px, gt[3] + gt[5] * py);
                assert!(
                    (mx - ex).abs() <= 0.01 && (my - ey).abs() <= 0.01,
                    "{id} {name}: ({mx}, {my}), cs2cs says ({ex}, {ey})"
                );
            }
        }
        for (name, label) in &labels {
            for &[x, y] in label_polygons(label).iter().flatten().flatten() {
                assert!(
                    (0.0..=256.0).contains(&x) && (0.0..=256.0).contains(&y),
                    "{id} {name}: ({x}, {y})"
                );
            }
        }
    }
    assert!(whole >= 6, "{whole} whole features in the Mercator chips");
}

#[test]
fn a_rotated_scene_gives_rotated_chips_and_masks_as_gdal_rasterize_burns_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let labels = write_labels(dir);
    // A world file with rotation terms (chosen so that no pixel centre
    // lies on a label's edge).
    let scene = dir.join("rotated.tif");
    write_scene(&scene, W, H, None, None);
    std::fs::write(
        dir.join("rotated.tfw"),
        "0.5\n0.0437\n0.0713\n-0.5\n600000.25\n4999999.75\n",
    )
    .unwrap();
    let out = dir.join("out");
    let summary = chip_main(
        &scene,
        &labels.shp,
        &out,
        &[
            "--labeling-type",
            "semantic_segmentation",
            "--class-field",
            "classid",
            "--srid",
            "32632",
        ],
    );
    assert_eq!(summary["scenes"][0]["windows"], 12);
    let stored = dir.join("stored");
    let o = run(&[
        "store",
        s(&out),
        "--to",
        "local",
        "--path",
        s(&stored),
        "--format",
        "geotiff",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let ids: Vec<String> = chips(&project(&out)).into_keys().collect();
    assert!(ids.len() >= 10, "{ids:?}");
    let mut painted = 0;
    for id in &ids {
        let (col, row) = window_of(id);
        let chip = out.join(format!("chips/{id}.tif"));
        // GDAL's own window of the scene: its geotransform.
        let vrt = dir.join("window.vrt");
        let (c, r, n) = (col.to_string(), row.to_string(), SIZE.to_string());
        tool(
            "gdal_translate",
            &[
                "-q",
                "-of",
                "VRT",
                "-srcwin",
                &c,
                &r,
                &n,
                &n,
                s(&scene),
                s(&vrt),
            ],
        );
        let (got, want) = (geotransform(&chip), geotransform(&vrt));
        assert_eq!(got.len(), 6);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-6, "{id}: {got:?}, GDAL {want:?}");
        }
        assert_eq!(
            pixels(&chip, None, dir),
            pixels(&scene, Some((col, row)), dir),
            "{id}: pixels"
        );
        // The labels burnt onto an empty copy of the chip's grid.
        let reference = dir.join(format!("{id}-gdal.tif"));
        tool(
            "gdal_translate",
            &[
                "-q",
                "-b",
                "1",
                "-scale",
                "0",
                "255",
                "0",
                "0",
                s(&chip),
                s(&reference),
            ],
        );
        tool(
            "gdal_rasterize",
            &[
                "-q",
                "-a",
                "classid",
                "-l",
                "labels",
                s(&labels.shp),
                s(&reference),
            ],
        );
        let want = pixels(&reference, None, dir);
        let mask = stored.join(format!("geotiff/train/masks/{id}.tif"));
        assert_eq!(pixels(&mask, None, dir), want, "{id}: mask");
        painted += want.iter().filter(|&&v| v != 0).count();
    }
    assert!(painted > 100_000, "{painted}");
}

#[test]
fn chip_assigns_splits_by_window_and_by_map_block() {
    let tmp = tempfile::tempdir().unwrap();
    // 400 x 400 pixels of 0.5 m in windows of 50: 64 windows of 25 m.
    let scene = tmp.path().join("grid.tif");
    write_scene(&scene, 400, 400, utm(400, 400), None);
    let labels = tmp.path().join("labels.geojson");
    let cells: Vec<Feature> = (0..8)
        .flat_map(|r| (0..8).map(move |c| (c, r)))
        .map(|(c, r)| {
            let (x, y) = (f64::from(c) * 50.0 + 10.5, f64::from(r) * 50.0 + 10.5);
            poly("cell", 1, vec![rect(x, y, x + 20.0, y + 20.0)])
        })
        .collect();
    write_utm_geojson(&labels, &cells);
    let base = [
        "--size",
        "50",
        "--labeling-type",
        "object_detection",
        "--class",
        "cell",
        "--json",
        "--split",
        "train=0.75,val=0.25",
    ];
    let out = tmp.path().join("by-chip");
    let o = chip(&[&scene], &labels, &out, &base);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let summary: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(summary["splits"]["train"]["chips"], 48);
    assert_eq!(summary["splits"]["val"]["chips"], 16);
    let split_of = |out: &Path| -> BTreeMap<String, String> {
        chips(&project(out))
            .into_iter()
            .map(|(id, c)| (id, c["split"].as_str().unwrap_or("train").to_owned()))
            .collect()
    };
    let by_chip = split_of(&out);
    assert_eq!(by_chip.values().filter(|s| *s == "val").count(), 16);
    // Blocks of 100 m hold 4 x 4 windows; none is split.
    let mut blocked = base.to_vec();
    blocked.extend(["--split-by", "block=100"]);
    let out = tmp.path().join("by-block");
    let o = chip(&[&scene], &labels, &out, &blocked);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut of_block: BTreeMap<(u32, u32), String> = BTreeMap::new();
    for (id, split) in split_of(&out) {
        let (col, row) = window_of(&id);
        let block = (col / 200, row / 200);
        assert_eq!(
            of_block.entry(block).or_insert(split.clone()),
            &split,
            "{id}"
        );
    }
    assert_eq!(of_block.len(), 4);
    assert_eq!(
        of_block.values().filter(|s| *s == "val").count(),
        1,
        "{of_block:?}"
    );
}
