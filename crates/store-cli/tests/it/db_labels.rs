//! Labels as geometries in `<table>_labels` (issue 18): a store of the
//! harbour example, one chip rotated and one without georeferencing, judged
//! by PostGIS (SRIDs, `ST_Within` the chip's raster envelope, vertices) and
//! by `ogrinfo`, against a `--geojson-crs native` GeoJSON store of the same
//! project; and every chip row's `labels` holding its labels with format
//! `json`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::fetch_verify::{env, psql, unique};
use crate::util::{labelstore, root, stderr, stdout};

/// The harbour example with chip r1_c2's geotransform rotated and chip
/// r0_c3's world file removed (no georeferencing).
fn harbour_variant(dir: &Path) -> std::path::PathBuf {
    let to = dir.join("harbour");
    let o = Command::new("cp")
        .arg("-r")
        .arg(root().join("examples/harbour"))
        .arg(&to)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let manifest = to.join("project.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let rotated = text.replace(
        "[500064, 0.5, 0, 4649744, 0, -0.5]",
        "[500064, 0.5, 0.125, 4649744, 0.0625, -0.5]",
    );
    assert_ne!(rotated, text);
    std::fs::write(&manifest, rotated).unwrap();
    std::fs::remove_file(to.join("chips/r0_c3.pgw")).unwrap();
    to
}

/// `labelstore store PROJECT --to db ... --format json` plus `extra`.
fn store_db(project: &str, table: &str, extra: &[&str]) {
    let pg = env("LABELSTORE_TEST_PG");
    let mut args = vec![project, "--to", "db", "--connection", &pg, "--table", table];
    args.extend(["--format", "json"]);
    args.extend(extra);
    store(&args);
}

fn store(args: &[&str]) {
    let o = labelstore().arg("store").args(args).output().unwrap();
    assert!(o.status.success(), "store {args:?}: {}", stderr(&o));
}

/// A `postgres://user:password@host:port/db?k=v` URL as libpq's
/// key=value string, which GDAL's `PG:` takes (it appends its own
/// `application_name`, which a URL does not survive).
fn conninfo(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (rest, params) = rest.split_once('?').unwrap_or((rest, ""));
    let (auth, rest) = rest.rsplit_once('@').unwrap_or(("", rest));
    let (hostport, db) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "5432"));
    let mut kv = vec![format!("host={host}"), format!("port={port}")];
    let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
    for (k, v) in [("user", user), ("password", password), ("dbname", db)] {
        if !v.is_empty() {
            kv.push(format!("{k}='{v}'"));
        }
    }
    kv.extend(
        params
            .split('&')
            .filter(|p| !p.is_empty())
            .map(str::to_owned),
    );
    kv.join(" ")
}

/// The rings of each chip's labels in a GeoJSON store's layer, in order.
fn geojson_rings(layer: &Path) -> BTreeMap<String, Vec<Vec<[f64; 2]>>> {
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(layer).unwrap()).unwrap();
    let mut out: BTreeMap<String, Vec<Vec<[f64; 2]>>> = BTreeMap::new();
    for f in doc["features"].as_array().unwrap() {
        let chip = f["properties"]["chip_id"].as_str().unwrap().to_owned();
        let ring = f["geometry"]["coordinates"][0]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()])
            .collect();
        out.entry(chip).or_default().push(ring);
    }
    out
}

#[test]
fn labels_are_postgis_geometries_in_the_chips_crs() {
    let pg = env("LABELSTORE_TEST_PG");
    let tmp = tempfile::tempdir().unwrap();
    let project = harbour_variant(tmp.path());
    let p = project.to_str().unwrap();
    let table = unique("lbl");
    let labels = format!("{table}_labels");
    store_db(p, &table, &[]);
    let local = tmp.path().join("geojson");
    store(&[
        p,
        "--to",
        "local",
        "--path",
        local.to_str().unwrap(),
        "--format",
        "geojson",
        "--geojson-crs",
        "native",
    ]);

    // One row per stored label: 20 labels on 9 chips (r2_c0 saved empty).
    let q = |sql: &str| psql(&sql.replace("LABELS", &labels).replace("CHIPS", &table));
    assert_eq!(q("SELECT count(*) FROM LABELS"), "20");
    assert_eq!(
        q("SELECT count(DISTINCT chip_id) FROM LABELS WHERE project = 'harbour-ships'"),
        "8"
    );
    // The chip without georeferencing: pixel shapes only.
    assert_eq!(
        q("SELECT string_agg(DISTINCT chip_id, ',') FROM LABELS WHERE geom IS NULL"),
        "r0_c3"
    );
    assert_eq!(
        q("SELECT DISTINCT ST_SRID(geom) FROM LABELS WHERE geom IS NOT NULL"),
        "32632"
    );
    assert_eq!(q("SELECT DISTINCT ST_SRID(pixel_geom) FROM LABELS"), "0");
    // The chip without georeferencing is a raster of SRID 0 and 1-unit
    // pixels, so only the block size, bands and types hold for all chips.
    assert_eq!(raster_columns(&table), "0 64 64 f 3 {8BUI,8BUI,8BUI}");
    // Every label lies within its chip's raster, the rotated one included.
    assert_eq!(
        q(
            "SELECT count(*) FROM LABELS l JOIN CHIPS c USING (project, chip_id) \
           WHERE l.geom IS NOT NULL AND NOT ST_Within(l.geom, ST_Envelope(c.rast))"
        ),
        "0"
    );
    assert_eq!(
        q(
            "SELECT count(*) FROM LABELS l JOIN CHIPS c USING (project, chip_id) \
           WHERE NOT ST_Within(l.geom, ST_ConvexHull(c.rast))"
        ),
        "0"
    );
    // Class, attributes and pixel coordinates as the manifest has them.
    assert_eq!(
        q(
            "SELECT class_id || ' ' || class_name || ' ' || (attributes->>'pose') || ' ' || \
           ST_AsText(pixel_geom) FROM LABELS WHERE chip_id = 'r0_c0' AND label_index = 2"
        ),
        "3 small boat Left POLYGON((20 50,27 50,27 54,20 54,20 50))"
    );
    assert_eq!(
        q("SELECT attributes::text FROM LABELS WHERE chip_id = 'r0_c0' AND label_index = 0"),
        "{}"
    );

    // Vertices equal the GeoJSON store's (native CRS) within 1e-6.
    let mut expected = geojson_rings(&local.join("geojson/labels.geojson"));
    let pixels = geojson_rings(&local.join("geojson/labels_pixels.geojson"));
    assert_eq!(pixels.keys().collect::<Vec<_>>(), ["r0_c3"]);
    expected.retain(|k, _| k != "r0_c3");
    let rows = q(
        "SELECT chip_id || ' ' || ST_AsGeoJSON(geom, 15) FROM LABELS \
                  WHERE geom IS NOT NULL ORDER BY chip_id, label_index",
    );
    let mut got: BTreeMap<String, Vec<Vec<[f64; 2]>>> = BTreeMap::new();
    for line in rows.lines() {
        let (chip, json) = line.split_once(' ').unwrap();
        let g: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(g["type"], "Polygon", "{line}");
        let ring = g["coordinates"][0]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()])
            .collect();
        got.entry(chip.to_owned()).or_default().push(ring);
    }
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (chip, rings) in &expected {
        assert_eq!(rings.len(), got[chip].len(), "{chip}");
        for (a, b) in rings.iter().zip(&got[chip]) {
            assert_eq!(a.len(), 5, "{chip}: {a:?}");
            assert_eq!(a.len(), b.len(), "{chip}: {a:?} vs {b:?}");
            for (p, q) in a.iter().zip(b) {
                assert!(
                    (p[0] - q[0]).abs() <= 1e-6 && (p[1] - q[1]).abs() <= 1e-6,
                    "{chip}: {a:?} vs {b:?}"
                );
            }
        }
    }
    // The rotated chip's boxes are not axis-aligned in map coordinates.
    let r = &got["r1_c2"][0];
    assert!(
        (r[0][0] - r[1][0]).abs() > 1.0 && (r[0][1] - r[1][1]).abs() > 1.0,
        "{r:?}"
    );

    // GDAL sees one layer with the chips' CRS and every label.
    let o = Command::new("ogrinfo")
        .args(["-ro", "-so"])
        .arg(format!("PG:{}", conninfo(&pg)))
        .arg(&labels)
        .output()
        .unwrap();
    assert!(o.status.success(), "ogrinfo: {}", stderr(&o));
    let info = stdout(&o);
    assert!(info.contains("Feature Count: 20"), "{info}");
    assert!(info.contains("ID[\"EPSG\",32632]"), "{info}");

    // With format json every chip row's `labels` is its entry of
    // project.json; the label file columns stay empty.
    assert_eq!(
        q("SELECT count(*) FROM CHIPS WHERE label_path IS NULL AND \
           (convert_from(labels, 'UTF8')::jsonb)->>'id' = chip_id AND \
           jsonb_array_length((convert_from(labels, 'UTF8')::jsonb)->'labels') = label_count"),
        "9"
    );
    let entry = q("SELECT convert_from(labels, 'UTF8') FROM CHIPS WHERE chip_id = 'r0_c0'");
    let local_json = tmp.path().join("json");
    store(&[
        p,
        "--to",
        "local",
        "--path",
        local_json.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(local_json.join("project.json")).unwrap()).unwrap();
    let entry: serde_json::Value = serde_json::from_str(&entry).unwrap();
    assert_eq!(entry, manifest["chips"][0]);

    // Storing one chip again replaces its label rows in the same
    // transaction, leaving the others.
    store_db(p, &table, &["--chip", "r1_c2"]);
    assert_eq!(q("SELECT count(*) FROM LABELS"), "20");
    assert_eq!(
        q("SELECT count(*) FROM LABELS WHERE chip_id = 'r1_c2'"),
        "4"
    );
    assert_eq!(
        q(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'LABELS' AND indexdef LIKE '%gist (geom)%'"
        ),
        "1"
    );
}

#[test]
fn polygons_keep_their_holes_and_multipolygons_their_parts() {
    let project = root().join("tests/fixtures/instance-polygons");
    let table = unique("lblpoly");
    store_db(project.to_str().unwrap(), &table, &[]);
    let q = |sql: &str| psql(&sql.replace("LABELS", &format!("{table}_labels")));
    assert_eq!(
        q(
            "SELECT string_agg(label_index || ' ' || ST_GeometryType(geom) || ' ' || \
           ST_NumGeometries(geom) || ' ' || ST_NRings(geom) || ' ' || ST_SRID(geom) || ' ' || \
           ST_IsValid(geom) || ' ' || ST_GeometryType(pixel_geom), ',' ORDER BY label_index) \
           FROM LABELS WHERE chip_id = 'roofs'"
        ),
        "0 ST_Polygon 1 2 4326 true ST_Polygon,1 ST_MultiPolygon 2 2 4326 true ST_MultiPolygon,\
         2 ST_Polygon 1 1 4326 true ST_Polygon"
    );
    // PostGIS's own affine transform of the pixel shapes (geotransform
    // [10, 1, 0, 20, 0, -1]) gives the map shapes, ring for ring.
    assert_eq!(
        q(
            "SELECT count(*) FROM LABELS WHERE NOT ST_OrderingEquals(ST_ForceRHR(geom), \
           ST_ForceRHR(ST_SetSRID(ST_Affine(pixel_geom, 1, 0, 0, -1, 10, 20), 4326)))"
        ),
        "0"
    );
    // Outer rings counter-clockwise, holes clockwise, as RFC 7946 has it.
    assert_eq!(
        q("SELECT count(*) FROM LABELS WHERE NOT ST_IsPolygonCCW(geom)"),
        "0"
    );
    assert_eq!(q("SELECT count(*) FROM LABELS"), "3");
}

/// `raster_columns`' view of the chips table's `rast` column: SRID, scales,
/// block size, alignment, band count, pixel types.
fn raster_columns(table: &str) -> String {
    psql(&format!(
        "SELECT concat_ws(' ', srid, scale_x, scale_y, blocksize_x, blocksize_y, \
         same_alignment, num_bands, pixel_types) FROM raster_columns \
         WHERE r_table_name = '{table}' AND r_raster_column = 'rast'"
    ))
}

#[test]
fn raster_columns_reports_what_every_chip_shares() {
    let table = unique("lblrc");
    let harbour = root().join("examples/harbour");
    store_db(harbour.to_str().unwrap(), &table, &[]);
    // As raster2pgsql -C would set it: every chip is 64 x 64, 3 bands of
    // 8-bit unsigned, 0.5 m pixels in UTM 32N on one grid.
    let all = "32632 0.5 -0.5 64 64 t 3 {8BUI,8BUI,8BUI}";
    assert_eq!(raster_columns(&table), all);
    // Storing one chip again drops the constraints and sets them again.
    store_db(harbour.to_str().unwrap(), &table, &["--chip", "r0_c0"]);
    assert_eq!(raster_columns(&table), all);
    assert_eq!(
        psql(&format!(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = '{table}'::regclass \
             AND conname LIKE 'enforce_%_rast'"
        )),
        "11"
    );
    // A project in WGS 84 with 1-degree pixels in the same table: stored
    // (no constraint stands in its way), and only what all chips still
    // share is set: 64 x 64 blocks of 3 bands of 8BUI, no SRID (0), no
    // scale, no common grid.
    let other = root().join("tests/fixtures/instance-polygons");
    store_db(other.to_str().unwrap(), &table, &[]);
    assert_eq!(raster_columns(&table), "0 64 64 f 3 {8BUI,8BUI,8BUI}");
    assert_eq!(
        psql(&format!(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = '{table}'::regclass \
             AND conname = 'enforce_srid_rast'"
        )),
        "0"
    );
}
