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

fn write(header: &Project, chips: &[(Chip, ChipGeoref)]) -> Result<MemoryOutput> {
    let mut out = MemoryOutput::default();
    let mut w = ShapefileFormat.writer(header);
    for (c, g) in chips {
        w.write_chip(c, g, &mut out)?;
    }
    w.finish(&mut out)?;
    Ok(out)
}

/// A dbf field descriptor.
fn descriptor(name: &str, kind: u8, width: u8, decimals: u8) -> Vec<u8> {
    let mut d = name.as_bytes().to_vec();
    d.resize(11, 0);
    d.push(kind);
    d.extend([0; 4]);
    d.extend([width, decimals]);
    d.extend([0; 14]);
    d
}

#[test]
fn bytes_of_a_small_store() {
    let out = write(&header(Some(32633)), &example()).unwrap();
    assert_eq!(
        out.0.keys().collect::<Vec<_>>(),
        [
            "shapefile/index.json",
            "shapefile/labels.cpg",
            "shapefile/labels.dbf",
            "shapefile/labels.prj",
            "shapefile/labels.shp",
            "shapefile/labels.shx",
            "shapefile/labels_pixels.cpg",
            "shapefile/labels_pixels.dbf",
            "shapefile/labels_pixels.shp",
            "shapefile/labels_pixels.shx",
        ]
    );
    assert_eq!(out.0["shapefile/labels.cpg"], b"UTF-8");
    assert!(
        String::from_utf8(out.0["shapefile/labels.prj"].clone())
            .unwrap()
            .starts_with(r#"PROJCS["WGS_1984_UTM_Zone_33N",GEOGCS["GCS_WGS_1984""#)
    );

    // dbf: version 3, 1995-07-26, 1 record; header 32 + 5 × 32 + 1 = 193
    // bytes, records 1 + 1 + 1 + 3 + 1 + 3 = 10 bytes. The attribute
    // `class_id` gets `attr_1`; `score` (reals) N(3,1).
    let mut dbf = vec![3, 95, 7, 26, 1, 0, 0, 0, 193, 0, 10, 0];
    dbf.extend([0; 20]);
    dbf.extend(descriptor("chip_id", b'C', 1, 0));
    dbf.extend(descriptor("class_id", b'N', 1, 0));
    dbf.extend(descriptor("class_name", b'C', 3, 0));
    dbf.extend(descriptor("attr_1", b'N', 1, 0));
    dbf.extend(descriptor("score", b'N', 3, 1));
    dbf.push(0x0D);
    dbf.extend(b" a1car30.5");
    dbf.push(0x1A);
    assert_eq!(out.0["shapefile/labels.dbf"], dbf);

    // shp: 100 + 136 bytes = 118 words; the box [0, 0, 1, 1.5] through the
    // geotransform, clockwise from its top-left corner.
    let shp = &out.0["shapefile/labels.shp"];
    assert_eq!(shp.len(), 236);
    assert_eq!(&shp[..4], &9994i32.to_be_bytes());
    assert_eq!(&shp[24..28], &118i32.to_be_bytes());
    assert_eq!(&shp[28..36], &[0xE8, 3, 0, 0, 5, 0, 0, 0]);
    let f64s = |b: &[u8]| -> Vec<f64> {
        b.chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    assert_eq!(
        f64s(&shp[36..68]),
        [500000.0, 3999997.0, 500002.0, 4000000.0]
    );
    assert_eq!(&shp[100..108], &[0, 0, 0, 1, 0, 0, 0, 64]);
    assert_eq!(&shp[108..112], &5i32.to_le_bytes());
    assert_eq!(
        f64s(&shp[112..144]),
        [500000.0, 3999997.0, 500002.0, 4000000.0]
    );
    assert_eq!(&shp[144..156], &[1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        f64s(&shp[156..]),
        [
            500000.0, 4000000.0, 500002.0, 4000000.0, 500002.0, 3999997.0, 500000.0, 3999997.0,
            500000.0, 4000000.0
        ]
    );
    // shx: the same header but 54 words long, and one entry.
    let shx = &out.0["shapefile/labels.shx"];
    assert_eq!(shx[..24], shp[..24]);
    assert_eq!(&shx[24..28], &54i32.to_be_bytes());
    assert_eq!(shx[28..100], shp[28..100]);
    assert_eq!(&shx[100..], &[0, 0, 0, 50, 0, 0, 0, 64]);
    // The shapefile crate reads it, as one clockwise outer ring.
    let mut reader = ::shapefile::ShapeReader::new(std::io::Cursor::new(shp.clone())).unwrap();
    let shapes: Vec<_> = reader
        .iter_shapes()
        .collect::<std::result::Result<_, _>>()
        .unwrap();
    match &shapes[..] {
        [::shapefile::Shape::Polygon(p)] => {
            assert!(matches!(p.rings()[0], ::shapefile::PolygonRing::Outer(_)));
        }
        other => panic!("{} shapes", other.len()),
    }

    // The pixel layer: y down as written, no .prj.
    let shp = &out.0["shapefile/labels_pixels.shp"];
    assert_eq!(
        f64s(&shp[156..]),
        [1.0, 0.0, 1.0, 2.0, 2.0, 2.0, 2.0, 0.0, 1.0, 0.0]
    );
    let dbf = &out.0["shapefile/labels_pixels.dbf"];
    assert!(dbf.ends_with(" p7vélo lourd\u{1a}".as_bytes()));

    let index = String::from_utf8(out.0["shapefile/index.json"].clone()).unwrap();
    assert!(index.ends_with(
        r#"  "layers": [
    {"file":"labels.shp","coordinates":"map","epsg":32633,"features":1,"fields":[{"field":"attr_1","attribute":"class_id","kind":"integer"},{"field":"score","attribute":"score","kind":"real"}]},
    {"file":"labels_pixels.shp","coordinates":"pixel","features":1}
  ]
}
"#
    ), "{index}");
}

/// Writes `out` under a fresh folder.
fn on_disk(out: &MemoryOutput) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, bytes) in &out.0 {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    dir
}

#[test]
fn reads_back_exactly() {
    let chips = example();
    let out = write(&header(Some(32633)), &chips).unwrap();
    let dir = on_disk(&out);
    let back = ShapefileFormat.read(dir.path()).unwrap();
    assert_eq!(back.name, "demo");
    assert_eq!(back.srid, Some(32633));
    assert_eq!(back.classes, header(None).classes);
    let want: Vec<Chip> = chips.iter().map(|c| c.0.clone()).collect();
    assert_eq!(back.chips, want);
}

#[test]
fn an_empty_store_has_an_empty_shapefile() {
    let out = write(&header(None), &[]).unwrap();
    let shp = &out.0["shapefile/labels.shp"];
    assert_eq!(shp.len(), 100);
    assert_eq!(&shp[24..28], &50i32.to_be_bytes());
    assert!(
        !out.0.contains_key("shapefile/labels.prj"),
        "no CRS, no .prj"
    );
    let dbf = &out.0["shapefile/labels.dbf"];
    assert_eq!(dbf.len(), 32 + 3 * 32 + 1 + 1);
    let back = ShapefileFormat.read(on_disk(&out).path()).unwrap();
    assert!(back.chips.is_empty());
}

#[test]
fn values_a_dbf_cannot_hold_are_refused_not_truncated() {
    let long = "x".repeat(255);
    let chips = vec![(
        chip(
            "a",
            "chips/a.png",
            vec![(1, [0.0, 0.0, 1.0, 1.0], json!({"note": long}))],
        ),
        georef(None, None),
    )];
    let e = write(&header(None), &chips).unwrap_err().to_string();
    assert_eq!(
        e,
        "shapefile/labels_pixels.dbf: chip \"a\": labels[0].attributes.note: 255 bytes: a dbf \
         column holds at most 254 (not truncated: store this project in another format, or \
         shorten the value)"
    );
    // 250 bytes fit as text, but not as JSON text once the key mixes types.
    let chips = vec![(
        chip(
            "a",
            "chips/a.png",
            vec![
                (1, [0.0, 0.0, 1.0, 1.0], json!({"note": "y".repeat(253)})),
                (1, [0.0, 0.0, 1.0, 1.0], json!({"note": 1})),
            ],
        ),
        georef(None, None),
    )];
    let e = write(&header(None), &chips).unwrap_err().to_string();
    assert_eq!(
        e,
        "shapefile/labels_pixels.dbf: attributes: attribute \"note\" has a value of 255 bytes as \
         JSON text; a dbf column holds at most 254"
    );
}

/// Reads the store in `dir` and returns the error's text, the folder's path
/// taken out.
fn read_error(dir: &Path) -> String {
    let e = match ShapefileFormat.read(dir) {
        Ok(_) => return "no error".to_owned(),
        Err(e) => e,
    };
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    e.to_string()
        .replace(&dir.join("shapefile").display().to_string(), "")
}

#[test]
fn reader_errors_name_file_record_and_field() {
    let out = write(&header(Some(32633)), &example()).unwrap();
    type Damage = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, Damage, &str)> = vec![
        (
            "labels.shp",
            Box::new(|b| b[3] = 0),
            "/labels.shp: header: The file code ' 9984 ' is invalid, is this a Shapefile ?",
        ),
        (
            "labels.dbf",
            Box::new(|b| b.truncate(200)),
            "/labels.dbf: header: 1 records of 10 bytes after a 193-byte header need 203 bytes; \
             the file has 200",
        ),
        (
            "labels.dbf",
            Box::new(|b| b[4] = 2),
            "/labels.dbf: header: 2 records of 10 bytes after a 193-byte header need 213 \
             bytes; the file has 204",
        ),
        (
            "labels.dbf",
            Box::new(|b| b[4] = 0),
            "/labels.dbf: record 1: the .dbf has 0 records, the .shp more",
        ),
        (
            "labels.dbf",
            Box::new(|b| b[32] = b'x'),
            "/labels.dbf: header: no chip_id column: every record names its chip",
        ),
        (
            "labels.dbf",
            Box::new(|b| b[194] = b' '),
            "/labels.dbf: record 1 chip_id: blank",
        ),
        (
            "labels.dbf",
            Box::new(|b| b[195] = b'x'),
            "/labels.dbf: record 1 class_id: \"x\" is not a class id (an integer from 0)",
        ),
        (
            "labels.dbf",
            Box::new(|b| b[199] = b'x'),
            "/labels.dbf: record 1 attr_1: \"x\" is not a number",
        ),
        (
            "labels.shp",
            Box::new(|b| b[108] = 3),
            "/labels.shp: chip \"a\": record 1: a Polyline shape: a box is a Polygon",
        ),
    ];
    for (file, damage, want) in cases {
        let mut out = out.clone();
        let bytes = out.0.get_mut(&format!("shapefile/{file}")).unwrap();
        damage(bytes);
        let dir = on_disk(&out);
        assert_eq!(read_error(dir.path()), want, "{file}");
    }
    // A missing .dbf.
    let mut out = out.clone();
    out.0.remove("shapefile/labels.dbf");
    let dir = on_disk(&out);
    assert_eq!(read_error(dir.path()), "/labels.shp: no .dbf beside it");
}

#[test]
fn foreign_shapefiles_decode_columns_by_type() {
    // Our files without the index: columns by dBASE type, names as they are.
    let chips = vec![(
        chip(
            "p",
            "chips/p.png",
            vec![(
                7,
                [0.5, 0.25, 2.0, 1.0],
                json!({"ok": true, "n": -3, "x": 1.25, "s": "Left", "mixed": [1]}),
            )],
        ),
        georef(None, None),
    )];
    let out = write(&header(None), &chips).unwrap();
    let dir = on_disk(&out);
    std::fs::remove_file(dir.path().join("shapefile/index.json")).unwrap();
    let back = ShapefileFormat.read(dir.path()).unwrap();
    assert_eq!(back.name, "labels");
    assert_eq!(back.classes[0].name, "vélo lourd");
    let l = &back.chips[0].labels[0];
    assert_eq!(l.geometry, Geometry::BBox([0.5, 0.25, 2.0, 1.0]));
    assert_eq!(
        Value::Object(l.attributes.clone()),
        json!({"ok": true, "n": -3, "x": 1.25, "s": "Left", "mixed": "[1]"})
    );
}
