//! Reading labels from GeoJSON, Shapefile and GeoPackage files that GDAL's
//! `ogr2ogr` wrote, reprojecting them, and judging the vertices with PROJ's
//! `cs2cs` and GDAL's own reading of the same files. These tests need
//! `ogr2ogr` (Debian `gdal-bin`) and `cs2cs` (`proj-bin`) and fail when
//! they are missing.

mod support;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::{assert_same, cs2cs_from_wgs84, json_polygons, ogr_features, ogr2ogr, polygons};
use vector_labels::{Crs, Error, Feature, Layer, Polygon, open, reproject};

/// The labels drawn: a field with a hole, a forest in two parts (the first
/// with a hole), a lake; near 9° E 45° N (UTM zone 32N).
fn source() -> Value {
    let square =
        |x: f64, y: f64, d: f64| json!([[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]);
    let hole =
        |x: f64, y: f64, d: f64| json!([[x, y], [x, y + d], [x + d, y + d], [x + d, y], [x, y]]);
    json!({
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"class": "field", "cls_id": 1},
             "geometry": {"type": "Polygon", "coordinates": [
                 square(9.0, 45.0, 0.01), hole(9.002, 45.002, 0.003)]}},
            {"type": "Feature", "properties": {"class": "forest", "cls_id": 2},
             "geometry": {"type": "MultiPolygon", "coordinates": [
                 [square(9.02, 45.0, 0.01), hole(9.024, 45.004, 0.002)],
                 [[[9.04, 45.0], [9.05, 45.0], [9.045, 45.012], [9.04, 45.0]]]]}},
            {"type": "Feature", "properties": {"class": "lake", "cls_id": 3},
             "geometry": {"type": "Polygon", "coordinates": [
                 [[9.0, 45.02], [9.013, 45.021], [9.011, 45.03], [9.001, 45.028], [9.0, 45.02]]]}}
        ]
    })
}

const CLASSES: [(&str, &str); 3] = [("field", "1"), ("forest", "2"), ("lake", "3")];

/// Writes `value` as a JSON file.
fn write_json(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
}

/// The source GeoJSON and its Shapefile (EPSG:32632) and GeoPackage
/// (EPSG:3857) copies made by `ogr2ogr`.
fn fixtures(dir: &Path) -> [PathBuf; 3] {
    let geojson = dir.join("labels.geojson");
    write_json(&geojson, &source());
    let shp = dir.join("labels.shp");
    let gpkg = dir.join("labels.gpkg");
    let src = geojson.to_str().unwrap();
    ogr2ogr(&[
        "-f",
        "ESRI Shapefile",
        "-t_srs",
        "EPSG:32632",
        shp.to_str().unwrap(),
        src,
    ]);
    ogr2ogr(&[
        "-f",
        "GPKG",
        "-t_srs",
        "EPSG:3857",
        "-nln",
        "labels",
        gpkg.to_str().unwrap(),
        src,
    ]);
    [geojson, shp, gpkg]
}

fn read_all(layer: &mut Layer) -> Vec<Feature> {
    layer.features().collect::<Result<_, _>>().unwrap()
}

fn message(result: Result<Layer, Error>) -> String {
    match result {
        Ok(layer) => panic!("{} opened", layer.path().display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn three_formats_read_and_reprojected_agree_with_gdal_and_proj() {
    let dir = tempfile::tempdir().unwrap();
    let files = fixtures(dir.path());
    let utm = Crs::from_epsg(32632).unwrap();
    let original: Vec<Vec<Polygon>> = source()["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| json_polygons(&f["geometry"]))
        .collect();
    for (file, epsg) in files.iter().zip([4326, 32632, 3857]) {
        let mut layer = open(file, None).unwrap();
        assert_eq!(layer.crs().epsg(), epsg, "{}", file.display());
        assert_eq!(layer.fields(), ["class", "cls_id"], "{}", file.display());
        let features = read_all(&mut layer);
        assert_eq!(features.len(), 3, "{}", file.display());
        let gdal = ogr_features(file, None);
        for (i, feature) in features.iter().enumerate() {
            let what = format!("{} feature {i}", file.display());
            assert_eq!(feature.index, i);
            // As read, in the file's CRS: GDAL reads the same vertices.
            let read = polygons(&feature.geometry);
            assert_same(&what, &read, &json_polygons(&gdal[i]["geometry"]), 1e-9);
            // Reprojected to UTM 32N: PROJ puts the drawn vertices there.
            let moved = polygons(&reproject(&feature.geometry, layer.crs(), &utm).unwrap());
            let want: Vec<Polygon> = original[i]
                .iter()
                .map(|p| p.iter().map(|r| cs2cs_from_wgs84(r, 32632)).collect())
                .collect();
            assert_same(&format!("{what} in EPSG:32632"), &moved, &want, 0.01);
            let (class, id) = CLASSES[i];
            assert_eq!(layer.class_of(feature, "class").unwrap(), class, "{what}");
            assert_eq!(layer.class_of(feature, "cls_id").unwrap(), id, "{what}");
            assert_eq!(
                feature.attributes["cls_id"],
                json!(id.parse::<i64>().unwrap())
            );
        }
        assert_eq!(layer.skipped(), 0);
        // A second pass starts again.
        assert_eq!(read_all(&mut layer).len(), 3);
    }
}

#[test]
fn prj_files_gdal_writes_name_their_epsg_code() {
    let dir = tempfile::tempdir().unwrap();
    let [geojson, _, _] = fixtures(dir.path());
    for code in [4326, 4258, 2154, 27700, 25832, 3857, 3035, 2056] {
        let shp = dir.path().join(format!("epsg{code}.shp"));
        let srs = format!("EPSG:{code}");
        ogr2ogr(&[
            "-t_srs",
            &srs,
            shp.to_str().unwrap(),
            geojson.to_str().unwrap(),
        ]);
        let layer = open(&shp, None).unwrap_or_else(|e| panic!("{srs}: {e}"));
        assert_eq!(layer.crs().epsg(), code);
    }
}

#[test]
fn a_class_id_in_a_real_field_reads_as_an_integer() {
    let dir = tempfile::tempdir().unwrap();
    let mut value = source();
    value["features"][0]["properties"]["cls_id"] = json!(7.0);
    value["features"][1]["properties"]["cls_id"] = json!(7.5);
    let path = dir.path().join("real.geojson");
    write_json(&path, &value);
    let mut layer = open(&path, None).unwrap();
    let features = read_all(&mut layer);
    assert_eq!(layer.class_of(&features[0], "cls_id").unwrap(), "7");
    let error = layer
        .class_of(&features[1], "cls_id")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("real.geojson") && error.contains("feature 1"),
        "{error}"
    );
}

#[test]
fn z_and_m_ordinates_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let [geojson, _, _] = fixtures(dir.path());
    for dim in ["XYZ", "XYM", "XYZM"] {
        let gpkg = dir.path().join(format!("{dim}.gpkg"));
        ogr2ogr(&[
            "-f",
            "GPKG",
            "-dim",
            dim,
            gpkg.to_str().unwrap(),
            geojson.to_str().unwrap(),
        ]);
        let features = read_all(&mut open(&gpkg, None).unwrap());
        let gdal = ogr_features(&gpkg, None);
        assert_eq!(features.len(), 3);
        for (i, feature) in features.iter().enumerate() {
            let want = json_polygons(&gdal[i]["geometry"]);
            assert_same(
                &format!("{dim} {i}"),
                &polygons(&feature.geometry),
                &want,
                0.0,
            );
        }
    }
}

#[test]
fn errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let [geojson, shp, gpkg] = fixtures(dir.path());
    let d = dir.path();

    let missing = message(open(&d.join("missing.geojson"), None));
    assert!(missing.contains("missing.geojson"), "{missing}");
    let missing = message(open(&d.join("missing.shp"), None));
    assert!(missing.contains("missing.shp"), "{missing}");
    let missing = message(open(&d.join("missing.gpkg"), None));
    assert!(missing.contains("missing.gpkg"), "{missing}");
    let other = message(open(&d.join("labels.csv"), None));
    assert!(other.contains("labels.csv"), "{other}");

    let mut layer = open(&shp, None).unwrap();
    let first = read_all(&mut layer).remove(0);
    let unknown = layer.class_of(&first, "kind").unwrap_err().to_string();
    assert!(
        unknown.contains("labels.shp")
            && unknown.contains("\"kind\"")
            && unknown.contains("class, cls_id"),
        "{unknown}"
    );

    let bare = d.join("bare");
    std::fs::create_dir(&bare).unwrap();
    for ext in ["shp", "shx", "dbf"] {
        std::fs::copy(shp.with_extension(ext), bare.join(format!("labels.{ext}"))).unwrap();
    }
    let no_prj = message(open(&bare.join("labels.shp"), None));
    assert!(
        no_prj.contains(&bare.join("labels.prj").display().to_string()),
        "{no_prj}"
    );

    let two = d.join("two.gpkg");
    let src = geojson.to_str().unwrap();
    ogr2ogr(&["-f", "GPKG", "-nln", "first", two.to_str().unwrap(), src]);
    ogr2ogr(&["-update", "-nln", "second", two.to_str().unwrap(), src]);
    let several = message(open(&two, None));
    assert!(
        several.contains("two.gpkg") && several.contains("first, second"),
        "{several}"
    );
    let wrong = message(open(&two, Some("third")));
    assert!(
        wrong.contains("two.gpkg") && wrong.contains("third"),
        "{wrong}"
    );
    let second = read_all(&mut open(&two, Some("second")).unwrap());
    assert_eq!(second.len(), 3);
    assert_eq!(read_all(&mut open(&gpkg, Some("labels")).unwrap()).len(), 3);
}

#[test]
fn unknown_crs_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let [geojson, _, _] = fixtures(dir.path());
    let d = dir.path();
    let mut value = source();
    value["crs"] = json!({"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::99999"}});
    let odd = d.join("odd.geojson");
    write_json(&odd, &value);
    let refused = message(open(&odd, None));
    assert!(
        refused.contains("odd.geojson") && refused.contains("99999"),
        "{refused}"
    );

    // A CRS GDAL writes but that has no EPSG code: a custom Transverse Mercator.
    let custom = "+proj=tmerc +lat_0=0 +lon_0=9.123 +k=1 +x_0=0 +y_0=0 +datum=WGS84 +units=m";
    let (shp, gpkg) = (d.join("custom.shp"), d.join("custom.gpkg"));
    for (path, driver) in [(&shp, "ESRI Shapefile"), (&gpkg, "GPKG")] {
        let src = geojson.to_str().unwrap();
        ogr2ogr(&["-f", driver, "-t_srs", custom, path.to_str().unwrap(), src]);
    }
    let refused = message(open(&shp, None));
    assert!(refused.contains("custom.prj"), "{refused}");
    let refused = message(open(&gpkg, None));
    assert!(refused.contains("custom.gpkg"), "{refused}");

    // GDAL's legacy crs member for a projected GeoJSON is understood.
    let utm = d.join("utm.geojson");
    ogr2ogr(&[
        "-f",
        "GeoJSON",
        "-t_srs",
        "EPSG:32632",
        utm.to_str().unwrap(),
        geojson.to_str().unwrap(),
    ]);
    assert_eq!(open(&utm, None).unwrap().crs().epsg(), 32632);
}

#[test]
fn points_are_refused_and_null_geometries_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let mut value = source();
    let features = value["features"].as_array_mut().unwrap();
    features.insert(
        1,
        json!({"type": "Feature", "properties": {"class": "x"}, "geometry": null}),
    );
    features.insert(
        3,
        json!({"type": "Feature", "properties": {"class": "tree"},
               "geometry": {"type": "Point", "coordinates": [9.0, 45.0]}}),
    );
    let path = dir.path().join("mixed.geojson");
    write_json(&path, &value);
    let mut layer = open(&path, None).unwrap();
    let read: Vec<_> = layer.features().collect();
    assert_eq!(read.len(), 3, "two polygons, then the point's error");
    assert_eq!(read[1].as_ref().unwrap().index, 2);
    let error = read[2].as_ref().unwrap_err().to_string();
    assert!(
        error.contains("mixed.geojson") && error.contains("feature 3") && error.contains("Point"),
        "{error}"
    );
    assert_eq!(layer.skipped(), 1);

    // The same through GDAL's GeoPackage writer.
    let gpkg = dir.path().join("mixed.gpkg");
    ogr2ogr(&["-f", "GPKG", gpkg.to_str().unwrap(), path.to_str().unwrap()]);
    let mut layer = open(&gpkg, None).unwrap();
    let error = layer.features().find_map(Result::err).unwrap().to_string();
    assert!(
        error.contains("mixed.gpkg") && error.contains("feature 3") && error.contains("Point"),
        "{error}"
    );
    assert_eq!(layer.skipped(), 1);
}
