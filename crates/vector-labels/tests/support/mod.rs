//! The outside judges (GDAL's `ogr2ogr`, PROJ's `cs2cs`), run as programs
//! (failing, saying what to install, when they are missing), and
//! comparisons of label shapes.

use std::path::Path;

// The GDAL runner raster-georef's tests use (sink-db's include it too).
#[path = "../../../raster-georef/tests/support/sources.rs"]
mod sources;
pub use sources::gdal as run;

use serde_json::Value;
use vector_labels::{Geometry, Polygon};

/// `ogr2ogr` with these arguments (`-f FORMAT … DEST SRC`).
pub fn ogr2ogr(args: &[&str]) {
    run("ogr2ogr", args);
}

/// The features of a dataset as GDAL reads them, re-emitted as GeoJSON with
/// 17 significant digits.
pub fn ogr_features(path: &Path, layer: Option<&str>) -> Vec<Value> {
    let mut args: Vec<&str> = "-f GeoJSON -lco SIGNIFICANT_FIGURES=17 /vsistdout/"
        .split(' ')
        .collect();
    args.push(path.to_str().unwrap());
    args.extend(layer);
    let text = run("ogr2ogr", &args);
    let json: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("ogr2ogr said {text}: {e}"));
    json["features"].as_array().unwrap().clone()
}

/// The polygons of a GeoJSON geometry (Polygon or MultiPolygon).
pub fn json_polygons(geometry: &Value) -> Vec<Polygon> {
    let ring = |r: &Value| -> Vec<[f64; 2]> {
        r.as_array()
            .unwrap()
            .iter()
            .map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()])
            .collect()
    };
    let polygon = |p: &Value| -> Polygon { p.as_array().unwrap().iter().map(ring).collect() };
    let coordinates = &geometry["coordinates"];
    match geometry["type"].as_str().unwrap() {
        "Polygon" => vec![polygon(coordinates)],
        "MultiPolygon" => coordinates
            .as_array()
            .unwrap()
            .iter()
            .map(polygon)
            .collect(),
        other => panic!("not a polygon: {other}"),
    }
}

/// The polygons of a label shape.
pub fn polygons(geometry: &Geometry) -> Vec<Polygon> {
    match geometry {
        Geometry::Polygon(p) => vec![p.clone()],
        Geometry::MultiPolygon(m) => m.clone(),
        Geometry::BBox(b) => panic!("a box: {b:?}"),
    }
}

/// `(lon, lat)` points converted by PROJ's `cs2cs` from EPSG:4326 to
/// `EPSG:to` (cs2cs takes EPSG:4326 as latitude, longitude).
pub fn cs2cs_from_wgs84(points: &[[f64; 2]], to: u32) -> Vec<[f64; 2]> {
    let input: String = points
        .iter()
        .map(|[lon, lat]| format!("{lat:.15} {lon:.15}\n"))
        .collect();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), input).unwrap();
    let to = format!("EPSG:{to}");
    let out = run(
        "cs2cs",
        &[
            "-f",
            "%.9f",
            "EPSG:4326",
            &to,
            file.path().to_str().unwrap(),
        ],
    );
    out.lines()
        .map(|line| {
            let v: Vec<f64> = line
                .split_whitespace()
                .map(|t| t.parse().unwrap())
                .collect();
            [v[0], v[1]]
        })
        .collect()
}

/// Asserts two shapes have the same polygons (in the same order), the same
/// number of rings with the same number of vertices per polygon (in any
/// order: a Shapefile writer orders and orients rings its way), and every
/// vertex of each within `tolerance` of a vertex of the other's same
/// polygon.
pub fn assert_same(what: &str, got: &[Polygon], want: &[Polygon], tolerance: f64) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: polygons {got:?} vs {want:?}"
    );
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let sizes = |p: &Polygon| {
            let mut s: Vec<usize> = p.iter().map(Vec::len).collect();
            s.sort_unstable();
            s
        };
        assert_eq!(sizes(g), sizes(w), "{what}: polygon {i}: {g:?} vs {want:?}");
        let near = |a: &Polygon, b: &Polygon| {
            for p in a.iter().flatten() {
                let d = b
                    .iter()
                    .flatten()
                    .map(|q| (p[0] - q[0]).hypot(p[1] - q[1]))
                    .fold(f64::INFINITY, f64::min);
                assert!(
                    d <= tolerance,
                    "{what}: polygon {i}: vertex {p:?} is {d} away"
                );
            }
        };
        near(g, w);
        near(w, g);
    }
}
