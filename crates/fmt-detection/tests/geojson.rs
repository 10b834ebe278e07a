//! GeoJSON stores judged by GDAL/OGR (`ogrinfo`, `ogr2ogr`) and PROJ
//! (`cs2cs`): feature counts, CRS, coordinates computed here independently
//! of the writer, field values, ring orientation; then read back.

mod geo_support;

use std::path::Path;

use fmt_detection::GeojsonFormat;
use geo_support::*;
use labels_model::{Geometry, LabelFormat};
use serde_json::Value;

/// The distance in metres between two nearby longitude/latitude points.
fn metres_apart((lon1, lat1): (f64, f64), (lon2, lat2): (f64, f64)) -> f64 {
    let r = 6_378_137.0_f64;
    let dx = (lon1 - lon2).to_radians() * r * lat1.to_radians().cos();
    let dy = (lat1 - lat2).to_radians() * r;
    dx.hypot(dy)
}

fn features(fc: &Value) -> &Vec<Value> {
    fc["features"].as_array().expect("features")
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("geojson"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
#[allow(clippy::print_stderr)]
fn rfc7946_store_is_read_by_gdal_and_back() {
    let (project, chips) = project();
    let dir = tempfile::tempdir().unwrap();
    store(&GeojsonFormat::default(), &project, &chips, dir.path());
    assert_eq!(
        names(dir.path()),
        ["index.json", "labels.geojson", "labels_pixels.geojson"]
    );

    // GDAL: 5 features (chips a, b, l93, bng) in WGS 84.
    let main = dir.path().join("geojson/labels.geojson");
    let summary = ogrinfo(&main);
    assert_eq!(summary.features, 5, "{}", summary.text);
    assert_eq!(summary.epsg, Some(4326), "{}", summary.text);
    assert!(
        !std::fs::read_to_string(&main).unwrap().contains("\"crs\""),
        "RFC 7946 has no crs member"
    );
    let fc = ogr_features(&main);
    assert!(fc.get("crs").is_none(), "GDAL sees WGS 84: {}", fc["crs"]);
    let feats = features(&fc);
    // Every corner where cs2cs puts the map corners computed here.
    let mut report = Vec::new();
    let mut k = 0;
    for c in &chips {
        let (Some(gt), Some(epsg)) = (c.georef.transform, c.georef.epsg) else {
            continue;
        };
        for l in &c.chip.labels {
            let Geometry::BBox(b) = l.geometry else {
                unreachable!()
            };
            let f = &feats[k];
            k += 1;
            let p = &f["properties"];
            assert_eq!(p["chip_id"], c.chip.id.as_str());
            assert_eq!(p["class_id"], l.class_id);
            let class = project.class(l.class_id).unwrap();
            assert_eq!(p["class_name"], class.name.as_str());
            let ring = exterior(&f["geometry"]);
            assert!(signed_area(&ring) > 0.0, "RFC 7946 wants CCW: {ring:?}");
            let want = cs2cs(epsg, 4326, &map_corners(gt.0, b));
            let worst = want
                .iter()
                .map(|w| {
                    ring[..4]
                        .iter()
                        .map(|g| metres_apart(*g, *w))
                        .fold(f64::INFINITY, f64::min)
                })
                .fold(0.0, f64::max);
            // 0.1 µm, but OSGB 1936's Helmert shift, which PROJ and
            // proj4rs undo differently (to the millimetre), gets 1 mm.
            let tolerance = if epsg == 27700 { 1e-3 } else { 1e-7 };
            assert!(
                worst < tolerance,
                "{} EPSG:{epsg}: {ring:?} vs cs2cs {want:?}: {worst:e} m",
                c.chip.id
            );
            // And back: cs2cs takes our longitudes/latitudes to the map
            // corners (0.1 µm), OSGB 1936 included.
            let back = cs2cs(4326, epsg, &ring[..4]);
            assert_same_corners(
                &[back[0], back[1], back[2], back[3], back[0]],
                &map_corners(gt.0, b),
                1e-7,
                &c.chip.id,
            );
            report.push(format!("{} EPSG:{epsg} {worst:.1e} m", c.chip.id));
        }
    }
    assert_eq!(k, 5);
    eprintln!("GeoJSON corners vs cs2cs: {}", report.join(", "));
    // Field values as GDAL reads them.
    let p = &feats[0]["properties"];
    assert_eq!(p["truncated"], true);
    assert_eq!(p["difficult"], false);
    assert_eq!(p["occluded"], 2);
    assert_eq!(p["pose"], "Left");
    assert_eq!(p["score"], 0.875);
    assert_eq!(p["note"], "naïve \"quoted\"\n");
    assert_eq!(p["attr_class_id"], 5);
    assert_eq!(p["a_very_long_attribute"], "x");
    assert_eq!(feats[1]["properties"]["class_name"], "vélo lourd");

    // The chip without georeferencing: pixel coordinates, on their own.
    let pixels = dir.path().join("geojson/labels_pixels.geojson");
    assert_eq!(ogrinfo(&pixels).features, 1);
    let fc = ogr_features(&pixels);
    let f = &features(&fc)[0];
    assert_eq!(f["properties"]["chip_id"], "p");
    let ring = exterior(&f["geometry"]);
    // Counter-clockwise as the numbers read with y up, like every ring.
    assert_eq!(
        ring,
        [(0.5, 0.5), (19.5, 0.5), (19.5, 9.5), (0.5, 9.5), (0.5, 0.5)]
    );

    // Read back: every chip (f, saved empty, too), class, attribute.
    let back = GeojsonFormat::default().read(dir.path()).unwrap();
    assert_read_back(&back, &project, 1e-6);
    // The manifest's short decimals even come back exactly.
    assert_read_back(&back, &project, 0.0);
    assert_eq!(back.base_dir, dir.path());
    assert_eq!(back.manifest_path, main);
    // The folder, or a file of it, gives the same.
    let again = GeojsonFormat::default()
        .read(&dir.path().join("geojson"))
        .unwrap();
    assert_eq!(again.chips, back.chips);
    let again = GeojsonFormat::default().read(&pixels).unwrap();
    assert_eq!(again.chips, back.chips);

    // Without the index (a dataset from elsewhere): chips from the
    // features, georeferencing from the stored GeoTIFF chips.
    std::fs::remove_file(dir.path().join("geojson/index.json")).unwrap();
    let back = GeojsonFormat::default().read(dir.path()).unwrap();
    let ids: Vec<&str> = back.chips.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "l93", "bng", "p"]);
    let names: Vec<(u32, &str)> = back
        .classes
        .iter()
        .map(|c| (c.id, c.name.as_str()))
        .collect();
    assert_eq!(names, [(1, "car"), (2, "truck"), (7, "vélo lourd")]);
    for (got, want) in back.chips.iter().zip(&project.chips) {
        assert_eq!(got.image, want.image);
        assert_eq!((got.width, got.height), (want.width, want.height));
        assert_labels(&got.labels, &want.labels, 1e-6, &want.id);
    }
}

#[test]
fn native_store_keeps_each_crs_with_its_crs_member() {
    let (project, chips) = project();
    let dir = tempfile::tempdir().unwrap();
    store(&GeojsonFormat::native(), &project, &chips, dir.path());
    assert_eq!(
        names(dir.path()),
        [
            "index.json",
            "labels.geojson",
            "labels_epsg2154.geojson",
            "labels_epsg27700.geojson",
            "labels_epsg32632.geojson",
            "labels_pixels.geojson"
        ]
    );
    for c in &chips {
        let (Some(gt), Some(epsg)) = (c.georef.transform, c.georef.epsg) else {
            continue;
        };
        let file = if epsg == 32633 {
            "labels.geojson".to_owned()
        } else {
            format!("labels_epsg{epsg}.geojson")
        };
        let path = dir.path().join("geojson").join(&file);
        let summary = ogrinfo(&path);
        assert_eq!(summary.epsg, Some(epsg), "{file}: {}", summary.text);
        let fc = ogr_features(&path);
        assert_eq!(
            fc["crs"]["properties"]["name"],
            format!("urn:ogc:def:crs:EPSG::{epsg}"),
            "{file}"
        );
        let feats: Vec<&Value> = features(&fc)
            .iter()
            .filter(|f| f["properties"]["chip_id"] == c.chip.id.as_str())
            .collect();
        assert_eq!(feats.len(), c.chip.labels.len(), "{file}");
        for (f, l) in feats.iter().zip(&c.chip.labels) {
            let Geometry::BBox(b) = l.geometry else {
                unreachable!()
            };
            let ring = exterior(&f["geometry"]);
            assert!(signed_area(&ring) > 0.0, "CCW: {ring:?}");
            assert_same_corners(&ring, &map_corners(gt.0, b), 1e-9, &file);
        }
    }
    // GDAL reprojecting our native Lambert-93 file lands where our RFC 7946
    // file says (to 0.1 µm).
    let rfc = tempfile::tempdir().unwrap();
    store(&GeojsonFormat::default(), &project, &chips, rfc.path());
    let ours = ogr_features(&rfc.path().join("geojson/labels.geojson"));
    let ours = features(&ours)
        .iter()
        .find(|f| f["properties"]["chip_id"] == "l93")
        .map(|f| exterior(&f["geometry"]))
        .unwrap();
    let gdal = ogr_reprojected(&dir.path().join("geojson/labels_epsg2154.geojson"), 4326);
    let gdal = exterior(&features(&gdal)[0]["geometry"]);
    for (a, b) in ours.iter().zip(&gdal) {
        assert!(metres_apart(*a, *b) < 1e-7, "{ours:?} vs GDAL {gdal:?}");
    }

    let back = GeojsonFormat::native().read(dir.path()).unwrap();
    assert_read_back(&back, &project, 1e-6);
    assert_read_back(&back, &project, 0.0);
}
