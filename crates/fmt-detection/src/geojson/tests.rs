use super::*;

use labels_model::{Class, Geometry, GeorefSource, Label, LabelingType, MemoryOutput, Rgb};
use raster_georef::GeoTransform;
use serde_json::json;

fn header(srid: Option<u32>) -> Project {
    Project {
        name: "demo".into(),
        labeling_type: LabelingType::ObjectDetection,
        srid,
        classes: vec![
            Class {
                id: 1,
                name: "car".into(),
                color: Some(Rgb([255, 0, 0])),
            },
            Class {
                id: 7,
                name: "vélo lourd".into(),
                color: None,
            },
        ],
        chips: Vec::new(),
        base_dir: PathBuf::new(),
        manifest_path: PathBuf::new(),
    }
}

fn chip(id: &str, image: &str, labels: Vec<(u32, [f64; 4], Value)>) -> Chip {
    let mut c = Chip::new(id, image);
    c.width = Some(4);
    c.height = Some(2);
    c.labels = labels
        .into_iter()
        .map(|(class_id, b, a)| Label {
            class_id,
            geometry: Geometry::BBox(b),
            attributes: a.as_object().cloned().unwrap_or_default(),
        })
        .collect();
    c
}

fn georef(gt: Option<[f64; 6]>, epsg: Option<u32>) -> ChipGeoref {
    ChipGeoref {
        source: if gt.is_some() {
            GeorefSource::Inline
        } else {
            GeorefSource::None
        },
        transform: gt.map(|g| GeoTransform::new(g).unwrap()),
        epsg,
    }
}

fn write(format: GeojsonFormat, header: &Project, chips: &[(Chip, ChipGeoref)]) -> MemoryOutput {
    let mut out = MemoryOutput::default();
    let mut w = format.writer(header);
    for (c, g) in chips {
        w.write_chip(c, g, &mut out).unwrap();
    }
    w.finish(&mut out).unwrap();
    out
}

fn text(out: &MemoryOutput, path: &str) -> String {
    String::from_utf8(out.0[path].clone()).unwrap()
}

fn example() -> Vec<(Chip, ChipGeoref)> {
    let mut empty = chip("e", "chips/e.tif", vec![]);
    empty.saved_empty = true;
    vec![
        (
            chip(
                "a",
                "chips/a.tif",
                vec![(
                    1,
                    [0.0, 0.0, 1.0, 1.5],
                    json!({"score": 0.5, "class_id": 3}),
                )],
            ),
            georef(
                Some([500000.0, 2.0, 0.0, 4000000.0, 0.0, -2.0]),
                Some(32633),
            ),
        ),
        (
            chip(
                "p",
                "chips/p.png",
                vec![(7, [1.0, 0.0, 2.0, 2.0], json!({}))],
            ),
            georef(None, None),
        ),
        (
            empty,
            georef(
                Some([500008.0, 2.0, 0.0, 4000000.0, 0.0, -2.0]),
                Some(32633),
            ),
        ),
    ]
}

#[test]
fn native_bytes() {
    let out = write(GeojsonFormat::native(), &header(Some(32633)), &example());
    assert_eq!(
        out.0.keys().collect::<Vec<_>>(),
        [
            "geojson/index.json",
            "geojson/labels.geojson",
            "geojson/labels_pixels.geojson"
        ]
    );
    assert_eq!(
        text(&out, "geojson/labels.geojson"),
        r#"{
"type": "FeatureCollection",
"name": "labels",
"crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32633"}},
"labelstore": {"coordinates": "map", "epsg": 32633},
"features": [
{"type": "Feature", "properties": {"chip_id": "a", "class_id": 1, "class_name": "car", "attr_class_id": 3, "score": 0.5}, "geometry": {"type": "Polygon", "coordinates": [[[500000.0, 4000000.0], [500000.0, 3999997.0], [500002.0, 3999997.0], [500002.0, 4000000.0], [500000.0, 4000000.0]]]}}
]
}
"#
    );
    assert_eq!(
        text(&out, "geojson/labels_pixels.geojson"),
        r#"{
"type": "FeatureCollection",
"name": "labels_pixels",
"labelstore": {"coordinates": "pixel"},
"features": [
{"type": "Feature", "properties": {"chip_id": "p", "class_id": 7, "class_name": "vélo lourd"}, "geometry": {"type": "Polygon", "coordinates": [[[1.0, 0.0], [2.0, 0.0], [2.0, 2.0], [1.0, 2.0], [1.0, 0.0]]]}}
]
}
"#
    );
    assert_eq!(
        text(&out, "geojson/index.json"),
        r##"{
  "labelstore_index": 1,
  "format": "geojson",
  "project": "demo",
  "labeling_type": "object_detection",
  "srid": 32633,
  "classes": [
    {"id":1,"name":"car","color":"#ff0000"},
    {"id":7,"name":"vélo lourd"}
  ],
  "chips": [
    {"id":"a","image":"chips/a.tif","width":4,"height":2,"geotransform":[500000.0,2.0,0.0,4000000.0,0.0,-2.0],"epsg":32633,"layer":"labels.geojson"},
    {"id":"p","image":"chips/p.png","width":4,"height":2,"layer":"labels_pixels.geojson"},
    {"id":"e","image":"chips/e.tif","width":4,"height":2,"saved_empty":true,"geotransform":[500008.0,2.0,0.0,4000000.0,0.0,-2.0],"epsg":32633,"layer":"labels.geojson"}
  ],
  "layers": [
    {"file":"labels.geojson","coordinates":"map","epsg":32633,"features":1},
    {"file":"labels_pixels.geojson","coordinates":"pixel","features":1}
  ]
}
"##
    );
}

/// Writes `out` under a fresh folder and reads it back.
fn round_trip(out: &MemoryOutput) -> (tempfile::TempDir, Result<Project>) {
    let dir = tempfile::tempdir().unwrap();
    for (path, bytes) in &out.0 {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    let read = GeojsonFormat::default().read(dir.path());
    (dir, read)
}

#[test]
fn both_modes_read_back_exactly() {
    let chips = example();
    for format in [GeojsonFormat::native(), GeojsonFormat::rfc7946()] {
        let out = write(format, &header(Some(32633)), &chips);
        let (dir, back) = round_trip(&out);
        let back = back.unwrap();
        assert_eq!(back.name, "demo");
        assert_eq!(back.srid, Some(32633));
        assert_eq!(back.classes, header(None).classes);
        assert_eq!(back.base_dir, dir.path());
        let want: Vec<Chip> = chips.iter().map(|c| c.0.clone()).collect();
        assert_eq!(back.chips, want, "{format:?}");
    }
}

#[test]
fn layers_for_unknown_and_unconvertible_crs() {
    // No project CRS: a chip georeferenced without a CRS is the main
    // layer in native mode, `labels_nocrs` in RFC 7946 mode; a chip in
    // EPSG:4024 (no datum shift to WGS 84 known) keeps its CRS.
    let gt = [1000.0, 1.0, 0.0, 2000.0, 0.0, -1.0];
    let chips = vec![
        (
            chip(
                "n",
                "chips/n.tif",
                vec![(1, [0.0, 0.0, 1.0, 1.0], json!({}))],
            ),
            georef(Some(gt), None),
        ),
        (
            chip(
                "k",
                "chips/k.tif",
                vec![(1, [0.0, 0.0, 1.0, 1.0], json!({}))],
            ),
            georef(Some([13.0, 0.001, 0.0, 52.0, 0.0, -0.001]), Some(4024)),
        ),
    ];
    let native = write(GeojsonFormat::native(), &header(None), &chips);
    let rfc = write(GeojsonFormat::rfc7946(), &header(None), &chips);
    let keys = |o: &MemoryOutput| o.0.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        keys(&native),
        [
            "geojson/index.json",
            "geojson/labels.geojson",
            "geojson/labels_epsg4024.geojson"
        ]
    );
    assert_eq!(
        keys(&rfc),
        [
            "geojson/index.json",
            "geojson/labels.geojson",
            "geojson/labels_epsg4024.geojson",
            "geojson/labels_nocrs.geojson"
        ]
    );
    assert!(
        text(&native, "geojson/labels.geojson")
            .contains(r#""labelstore": {"coordinates": "map"},"#)
    );
    assert!(!text(&native, "geojson/labels.geojson").contains("\"crs\""));
    assert!(text(&rfc, "geojson/labels_epsg4024.geojson").contains("urn:ogc:def:crs:EPSG::4024"));
    // The RFC 7946 main layer exists, empty.
    assert!(text(&rfc, "geojson/labels.geojson").ends_with("\"features\": [\n]\n}\n"));
    for out in [native, rfc] {
        let (_dir, back) = round_trip(&out);
        let back = back.unwrap();
        assert_eq!(back.chips.len(), 2);
        for (g, w) in back.chips.iter().zip(&chips) {
            assert_eq!(g.labels, w.0.labels);
        }
    }
}

#[test]
fn an_empty_store_has_an_empty_collection() {
    let out = write(GeojsonFormat::default(), &header(None), &[]);
    assert_eq!(
        text(&out, "geojson/labels.geojson"),
        "{\n\"type\": \"FeatureCollection\",\n\"name\": \"labels\",\n\"labelstore\": \
         {\"coordinates\": \"wgs84\", \"epsg\": 4326},\n\"features\": [\n]\n}\n"
    );
    assert!(text(&out, "geojson/index.json").contains("\"chips\": [],\n  \"layers\": ["));
    let (_dir, back) = round_trip(&out);
    let back = back.unwrap();
    assert!(back.chips.is_empty());
    assert_eq!(back.classes.len(), 2);
}

/// Reads one GeoJSON text placed at `geojson/labels.geojson` (no index);
/// the error's text.
fn read_error(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("geojson")).unwrap();
    std::fs::write(dir.path().join("geojson/labels.geojson"), text).unwrap();
    let e = GeojsonFormat::default().read(dir.path()).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    let prefix = dir
        .path()
        .join("geojson/labels.geojson")
        .display()
        .to_string();
    e.to_string()
        .strip_prefix(&prefix)
        .map(str::to_owned)
        .unwrap_or_else(|| e.to_string())
}

fn fc(features: &str) -> String {
    format!(
        r#"{{"type": "FeatureCollection", "labelstore": {{"coordinates": "pixel"}}, "features": [{features}]}}"#
    )
}

const POLYGON: &str = r#"{"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}"#;

#[test]
fn reader_errors_name_file_feature_and_field() {
    let cases = [
        (
            r#"{"type": "FeatureCollection", "features": ["#.to_owned(),
            ": line 1 column 43: not JSON: EOF while parsing a list",
        ),
        (
            r#"{"type": "Feature"}"#.to_owned(),
            ": type: not a GeoJSON FeatureCollection",
        ),
        (
            r#"{"type": "FeatureCollection"}"#.to_owned(),
            ": features: missing or not an array",
        ),
        (
            fc(&format!(r#"{{"type": "Feature", "properties": {{"class_id": 1}}, "geometry": {POLYGON}}}"#)),
            ": features[0].properties.chip_id: missing: every feature names its chip",
        ),
        (
            fc(r#"{"type": "Feature", "properties": {"chip_id": "a", "class_id": 1}, "geometry": {"type": "Point", "coordinates": [1, 2]}}"#),
            ": chip \"a\": features[0].geometry.type: Some(\"Point\"): a box is a Polygon (or MultiPolygon)",
        ),
        (
            fc(r#"{"type": "Feature", "properties": {"chip_id": "a", "class_id": 1}, "geometry": {"type": "Polygon", "coordinates": [[[0, "x"]]]}}"#),
            ": chip \"a\": features[0].geometry.coordinates: position [0,\"x\"] is not numbers",
        ),
        (
            fc(&format!(r#"{{"type": "Feature", "properties": {{"chip_id": "a", "class_id": -1}}, "geometry": {POLYGON}}}"#)),
            ": chip \"a\": features[0].properties.class_id: -1 is not a class id (an integer from 0)",
        ),
        (
            fc(&format!(r#"{{"type": "Feature", "properties": {{"chip_id": "a"}}, "geometry": {POLYGON}}}"#)),
            ": chip \"a\": features[0]: the feature has neither a class_id (above 0) nor a class_name",
        ),
        (
            fc(&format!(
                r#"{{"type": "Feature", "properties": {{"chip_id": "a", "class_id": 1, "class_name": "car"}}, "geometry": {POLYGON}}},
                   {{"type": "Feature", "properties": {{"chip_id": "a", "class_id": 1, "class_name": "bus"}}, "geometry": {POLYGON}}}"#
            )),
            ": chip \"a\": features[1]: class_id 1 is class \"car\", but class_name says \"bus\"",
        ),
        (
            format!(
                r#"{{"type": "FeatureCollection", "features": [{{"type": "Feature", "properties": {{"chip_id": "a", "class_id": 1}}, "geometry": {POLYGON}}}]}}"#
            ),
            ": chip \"a\": features[0]: the feature is in WGS 84 coordinates, but chip \"a\" has no \
             georeferencing (no geotransform in index.json, no GeoTIFF tags or world file for chips/a.png)",
        ),
        (
            r#"{"type": "FeatureCollection", "labelstore": {"coordinates": "lonlat"}, "features": []}"#.to_owned(),
            ": labelstore: coordinates is not \"wgs84\", \"map\" or \"pixel\"",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(read_error(&text), want, "{text}");
    }
}

#[test]
fn foreign_collections_are_read() {
    // Another tool's GeoJSON: a MultiPolygon, classes by id, by name, by
    // both, properties kept as attributes (`attr_` taken off once).
    let dir = tempfile::tempdir().unwrap();
    let text = fc(&format!(
        r#"{{"type": "Feature", "properties": {{"chip_id": "x", "class_name": "ship", "attr_attr_a": 1, "attr_class_id": 2}},
            "geometry": {{"type": "MultiPolygon", "coordinates": [[[[1, 2], [3, 2], [3, 5], [1, 2]]], [[[0.5, 4], [1, 4], [1, 6], [0.5, 4]]]]}}}},
           {{"type": "Feature", "properties": {{"chip_id": "y", "class_id": 4, "class_name": "buoy"}}, "geometry": {POLYGON}}},
           {{"type": "Feature", "properties": {{"chip_id": "x", "class_name": "boat"}}, "geometry": {POLYGON}}}"#
    ));
    std::fs::write(dir.path().join("mine.geojson"), text).unwrap();
    let back = GeojsonFormat::default()
        .read(&dir.path().join("mine.geojson"))
        .unwrap();
    assert_eq!(back.name, "mine");
    assert_eq!(back.base_dir, dir.path());
    let classes: Vec<(u32, &str)> = back
        .classes
        .iter()
        .map(|c| (c.id, c.name.as_str()))
        .collect();
    // Ids as given; names without one after the highest.
    assert_eq!(classes, [(4, "buoy"), (5, "ship"), (6, "boat")]);
    let x = &back.chips[0];
    assert_eq!(x.image, Path::new("chips/x.png"));
    assert_eq!(x.labels[0].geometry, Geometry::BBox([0.5, 2.0, 3.0, 6.0]));
    assert_eq!(
        Value::Object(x.labels[0].attributes.clone()),
        json!({"attr_a": 1, "class_id": 2})
    );
    assert_eq!(back.chips[1].id, "y");
    assert_eq!(x.labels[0].class_id, 5);
    assert_eq!(x.labels[1].class_id, 6);
}

#[test]
fn index_problems_are_reported() {
    let out = write(GeojsonFormat::default(), &header(None), &example());
    let (dir, _) = round_trip(&out);
    let index = dir.path().join("geojson/index.json");
    let original = std::fs::read_to_string(&index).unwrap();
    let cases = [
        (
            original.replace("\"format\": \"geojson\"", "\"format\": \"shapefile\""),
            ": format: the index is of format \"shapefile\", not \"geojson\"",
        ),
        (
            original.replace("\"labelstore_index\": 1", "\"labelstore_index\": 2"),
            ": labelstore_index: version 2 is not one this build reads (1)",
        ),
        (
            original.replace("\"width\":4", "\"width\":\"4\""),
            ": chips[0].width: invalid type: string \"4\", expected u32 at line 11 column 47",
        ),
        (
            original.replace("\"file\":\"labels.geojson\"", "\"file\":\"../x.geojson\""),
            ": layers[0].file: \"../x.geojson\" is not a file name of the folder",
        ),
        (
            original.replace("{\"id\":\"a\",", "{\"id\":\"zz\","),
            ": chip \"a\": features[0]: chip \"a\" is not in the store's index.json",
        ),
    ];
    for (text, want) in cases {
        std::fs::write(&index, &text).unwrap();
        let e = GeojsonFormat::default()
            .read(dir.path())
            .unwrap_err()
            .to_string();
        let e = e.replace(&index.display().to_string(), "").replace(
            &dir.path()
                .join("geojson/labels.geojson")
                .display()
                .to_string(),
            "",
        );
        assert_eq!(e, want);
    }
    let e = GeojsonFormat::default()
        .read(&dir.path().join("nothing"))
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with(": no such file or folder (expected a store holding geojson/)"),
        "{e}"
    );
}

#[test]
fn zero_based_class_ids_are_taken_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let text = fc(&format!(
        r#"{{"type": "Feature", "properties": {{"chip_id": "x", "class_id": 0, "class_name": "a"}}, "geometry": {POLYGON}}},
           {{"type": "Feature", "properties": {{"chip_id": "x", "class_id": 1, "class_name": "b"}}, "geometry": {POLYGON}}},
           {{"type": "Feature", "properties": {{"chip_id": "x", "class_id": 3}}, "geometry": {POLYGON}}},
           {{"type": "Feature", "properties": {{"chip_id": "x", "class_name": "b"}}, "geometry": {POLYGON}}}"#
    ));
    std::fs::write(dir.path().join("l.geojson"), text).unwrap();
    let back = GeojsonFormat::default().read(dir.path()).unwrap();
    let classes: Vec<(u32, &str)> = back
        .classes
        .iter()
        .map(|c| (c.id, c.name.as_str()))
        .collect();
    assert_eq!(classes, [(1, "b"), (3, "3"), (4, "a")]);
    let ids: Vec<u32> = back.chips[0].labels.iter().map(|l| l.class_id).collect();
    assert_eq!(ids, [4, 1, 3, 1]);
    // A chip id that could not name files is refused.
    let text = fc(&format!(
        r#"{{"type": "Feature", "properties": {{"chip_id": "../x", "class_id": 1}}, "geometry": {POLYGON}}}"#
    ));
    std::fs::write(dir.path().join("l.geojson"), text).unwrap();
    let e = GeojsonFormat::default()
        .read(dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with(
            "l.geojson: chip \"../x\": features[0]: a chip id is 1 to 128 characters of \
             A-Z a-z 0-9 . _ - not starting with \".\""
        ),
        "{e}"
    );
}
