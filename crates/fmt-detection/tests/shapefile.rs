//! Shapefile stores judged by GDAL/OGR (`ogrinfo`, `ogr2ogr`,
//! `gdalsrsinfo`): one shapefile per CRS, feature counts, CRS from the
//! `.prj`, coordinates computed here independently of the writer, ring
//! orientation, dbf field names, types and values (UTF-8 through the
//! `.cpg`); then read back.

mod geo_support;

use std::path::Path;

use fmt_detection::ShapefileFormat;
use geo_support::*;
use labels_model::{Geometry, LabelFormat};
use serde_json::{Value, json};

/// A JSON-text column's value as JSON.
fn json_text(v: &Value) -> Value {
    match v {
        Value::String(s) => serde_json::from_str(s).unwrap_or_else(|e| panic!("{s:?}: {e}")),
        other => other.clone(),
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("shapefile"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn store_is_read_by_gdal_and_back() {
    let (project, chips) = project();
    let dir = tempfile::tempdir().unwrap();
    store(&ShapefileFormat, &project, &chips, dir.path());
    let mut want = vec!["index.json".to_owned()];
    for stem in [
        "labels",
        "labels_epsg2154",
        "labels_epsg27700",
        "labels_epsg32632",
        "labels_pixels",
    ] {
        for ext in ["cpg", "dbf", "prj", "shp", "shx"] {
            if !(stem == "labels_pixels" && ext == "prj") {
                want.push(format!("{stem}.{ext}"));
            }
        }
    }
    assert_eq!(names(dir.path()), want);

    for c in &chips {
        let Some(gt) = c.georef.transform else {
            continue;
        };
        let epsg = c.georef.epsg.unwrap();
        let stem = if epsg == 32633 {
            "labels".to_owned()
        } else {
            format!("labels_epsg{epsg}")
        };
        let shp = dir.path().join("shapefile").join(format!("{stem}.shp"));
        // The CRS: gdalsrsinfo identifies the .prj, ogrinfo the layer.
        let prj = shp.with_extension("prj");
        let identified = run("gdalsrsinfo", &["-e", prj.to_str().unwrap()], "");
        let found: Vec<&str> = identified
            .lines()
            .filter(|l| l.starts_with("EPSG:") || l.starts_with("Confidence"))
            .collect();
        assert_eq!(found, [format!("EPSG:{epsg}")], "{stem}: {identified}");
        let summary = ogrinfo(&shp);
        assert_eq!(summary.epsg, Some(epsg), "{stem}: {}", summary.text);
        let labelled: usize = chips
            .iter()
            .filter(|o| o.georef.epsg == Some(epsg))
            .map(|o| o.chip.labels.len())
            .sum();
        assert_eq!(summary.features, labelled, "{stem}");
        // Coordinates: the map corners computed here, clockwise.
        let fc = ogr_features(&shp);
        let feats: Vec<&Value> = fc["features"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["properties"]["chip_id"] == c.chip.id.as_str())
            .collect();
        assert_eq!(feats.len(), c.chip.labels.len(), "{stem}");
        for (f, l) in feats.iter().zip(&c.chip.labels) {
            let Geometry::BBox(b) = l.geometry else {
                unreachable!()
            };
            let ring = exterior(&f["geometry"]);
            assert!(
                signed_area(&ring) < 0.0,
                "{stem}: outer rings are CW: {ring:?}"
            );
            assert_same_corners(&ring, &map_corners(gt.0, b), 1e-9, &stem);
            let p = &f["properties"];
            assert_eq!(p["class_id"], l.class_id);
            assert_eq!(
                p["class_name"],
                project.class(l.class_id).unwrap().name.as_str()
            );
        }
    }

    // The dbf of the main layer as GDAL reads it: names, types, values.
    // (GDAL 3.6 reads dBASE logical `L` columns as strings "T"/"F"; widths
    // are in bytes: "vélo lourd" takes 11.)
    let main = dir.path().join("shapefile/labels.shp");
    let summary = ogrinfo(&main);
    let fields: Vec<&str> = summary.fields.iter().map(|f| f.trim()).collect();
    assert_eq!(
        fields,
        [
            "chip_id: String (1.0)",
            "class_id: Integer (1.0)",
            "class_name: String (11.0)",
            "attr_1: String (1.0)",
            "attr_2: Integer (1.0)",
            "difficult: String (1.0)",
            "extra: String (19.0)",
            "mixed: String (5.0)",
            "note: String (16.0)",
            "occluded: Integer (1.0)",
            "pose: String (4.0)",
            "score: Real (5.3)",
            "tags: String (12.0)",
            "truncated: String (1.0)",
        ],
        "{}",
        summary.text
    );
    let fc = ogr_features(&main);
    let p = &fc["features"][0]["properties"];
    assert_eq!(p["chip_id"], "a");
    assert_eq!(p["attr_1"], "x", "a_very_long_attribute");
    assert_eq!(p["attr_2"], 5, "the attribute named class_id");
    assert_eq!(p["truncated"], "T");
    assert_eq!(p["difficult"], "F");
    assert_eq!(p["occluded"], 2);
    assert_eq!(p["pose"], "Left");
    assert_eq!(p["score"], 0.875);
    assert_eq!(p["note"], "naïve \"quoted\"\n");
    // JSON-text columns (GDAL's GeoJSON writer re-emits array/object text
    // as JSON).
    assert_eq!(json_text(&p["tags"]), json!(["a", 1, null]));
    assert_eq!(json_text(&p["extra"]), json!({"k": [1.5e-7, -0.0]}));
    assert_eq!(json_text(&p["mixed"]), json!(1));
    let p = &fc["features"][1]["properties"];
    assert_eq!(p["class_name"], "vélo lourd");
    assert_eq!(json_text(&p["mixed"]), json!("one"));
    assert_eq!(p["score"], 1.0);
    assert_eq!(p["pose"], Value::Null);

    // The chip without georeferencing: pixel coordinates, no .prj.
    let pixels = dir.path().join("shapefile/labels_pixels.shp");
    let summary = ogrinfo(&pixels);
    assert_eq!((summary.features, summary.epsg), (1, None));
    let fc = ogr_features(&pixels);
    assert_eq!(
        exterior(&fc["features"][0]["geometry"]),
        [(0.5, 0.5), (0.5, 9.5), (19.5, 9.5), (19.5, 0.5), (0.5, 0.5)]
    );

    // Read back: every chip (f, saved empty, too), class, attribute.
    let back = ShapefileFormat.read(dir.path()).unwrap();
    assert_read_back(&back, &project, 1e-6);
    assert_read_back(&back, &project, 0.0);
    assert_eq!(back.base_dir, dir.path());
    assert_eq!(back.manifest_path, main);
    let again = ShapefileFormat.read(&pixels).unwrap();
    assert_eq!(again.chips, back.chips);

    // Without the index: chips from the records, georeferencing from the
    // stored GeoTIFF chips, columns by their dBASE types.
    std::fs::remove_file(dir.path().join("shapefile/index.json")).unwrap();
    let back = ShapefileFormat.read(dir.path()).unwrap();
    let ids: Vec<&str> = back.chips.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["a", "l93", "bng", "b", "p"]);
    for got in &back.chips {
        let want = project.chip(&got.id).unwrap();
        assert_eq!(got.image, want.image);
        assert_eq!((got.width, got.height), (want.width, want.height));
        assert_eq!(got.labels.len(), want.labels.len());
        for (g, w) in got.labels.iter().zip(&want.labels) {
            assert_eq!(g.class_id, w.class_id);
            assert_eq!(g.geometry, w.geometry, "{}", got.id);
        }
    }
    let a = &back.chips[0].labels[0].attributes;
    assert_eq!(a["score"], 0.875);
    assert_eq!(a["attr_2"], 5);
    assert_eq!(a["truncated"], true);
    assert_eq!(a["tags"], r#"["a",1,null]"#);
}

#[test]
fn gdal_written_shapefile_is_read() {
    // A shapefile GDAL made from our GeoJSON (pixel coordinates, GDAL's own
    // dbf conventions: Real as N(24,15), LDID, its own .cpg) reads too.
    let (project, chips) = project();
    let dir = tempfile::tempdir().unwrap();
    let pixel_chip: Vec<_> = chips.into_iter().filter(|c| c.chip.id == "p").collect();
    store(
        &fmt_detection::GeojsonFormat::default(),
        &project,
        &pixel_chip,
        dir.path(),
    );
    let out = dir.path().join("gdal");
    std::fs::create_dir_all(&out).unwrap();
    run(
        "ogr2ogr",
        &[
            "-f",
            "ESRI Shapefile",
            "-lco",
            "ENCODING=UTF-8",
            out.join("p.shp").to_str().unwrap(),
            dir.path()
                .join("geojson/labels_pixels.geojson")
                .to_str()
                .unwrap(),
        ],
        "",
    );
    let back = ShapefileFormat.read(&out.join("p.shp")).unwrap();
    assert_eq!(back.chips.len(), 1);
    let c = &back.chips[0];
    assert_eq!(c.id, "p");
    assert_eq!(back.classes[0].name, "truck");
    assert_eq!(c.labels[0].geometry, Geometry::BBox([0.5, 0.5, 19.5, 9.5]));
    // GDAL 3.6 writes a boolean as an integer column.
    assert_eq!(c.labels[0].attributes["difficult"], 1);
}
