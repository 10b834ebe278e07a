//! What the GeoJSON and Shapefile integration tests share: a project with
//! chips in several CRSs (rotation, Lambert-93, a Helmert datum, no
//! georeferencing, a chip saved empty), a store of it on disk with real
//! chip images (GeoTIFFs for the georeferenced ones, as the pipeline
//! stores them), and the outside judges: GDAL's `ogrinfo`, `ogr2ogr`,
//! `gdalsrsinfo` and PROJ's `cs2cs`.

#![allow(dead_code, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use labels_model::{
    Attributes, Chip, ChipGeoref, Class, Geometry, GeorefSource, Label, LabelFormat, LabelingType,
    MemoryOutput, Project, Rgb,
};
use raster_georef::{CrsKeys, GeoTransform};
use serde_json::{Value, json};

/// The fixtures folder of the workspace.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/detection-basic/chips")
}

/// A chip of the test project, with its georeferencing.
pub struct TestChip {
    pub chip: Chip,
    pub georef: ChipGeoref,
    /// The fixture image it is made from (its size is the chip's).
    pub source: &'static str,
}

fn label(class_id: u32, b: [f64; 4], attributes: Value) -> Label {
    Label {
        class_id,
        geometry: Geometry::BBox(b),
        attributes: match attributes {
            Value::Object(m) => m,
            _ => Attributes::new(),
        },
    }
}

fn chip(
    id: &str,
    source: &'static str,
    (w, h): (u32, u32),
    gt: Option<[f64; 6]>,
    epsg: Option<u32>,
    labels: Vec<Label>,
) -> TestChip {
    let ext = if gt.is_some() { "tif" } else { "png" };
    let mut c = Chip::new(id, format!("chips/{id}.{ext}"));
    c.width = Some(w);
    c.height = Some(h);
    c.labels = labels;
    TestChip {
        chip: c,
        georef: ChipGeoref {
            source: if gt.is_some() {
                GeorefSource::Inline
            } else {
                GeorefSource::None
            },
            transform: gt.map(|g| GeoTransform::new(g).unwrap()),
            epsg,
        },
        source,
    }
}

/// The test project (srid 32633) and its stored chips, in store order:
///
/// * `a`: UTM 33N (the project's CRS), north-up 0.5 m pixels, a box with
///   every kind of attribute and one covering the chip;
/// * `b`: UTM 32N (its own `srid`), rotated and sheared;
/// * `l93`: Lambert-93 far from the origin, where `proj4rs` iterates;
/// * `bng`: British National Grid in central England (a Helmert datum
///   shift, PROJ's own choice both ways there);
/// * `p`: no georeferencing;
/// * `f`: UTM 33N, saved empty.
pub fn project() -> (Project, Vec<TestChip>) {
    let classes = vec![
        Class {
            id: 1,
            name: "car".into(),
            color: Some(Rgb([255, 0, 0])),
        },
        Class {
            id: 2,
            name: "truck".into(),
            color: None,
        },
        Class {
            id: 7,
            name: "vélo lourd".into(),
            color: Some(Rgb([0, 0xaa, 0])),
        },
    ];
    let mut b = chip(
        "b",
        "b.png",
        (40, 30),
        Some([300000.0, 0.8, 0.1, 5100000.0, 0.1, -0.8]),
        Some(32632),
        vec![label(2, [3.0, 5.0, 8.0, 9.0], json!({}))],
    );
    b.chip.srid = Some(32632);
    let mut f = chip(
        "f",
        "e.png",
        (16, 16),
        Some([500100.0, 0.5, 0.0, 4649776.0, 0.0, -0.5]),
        Some(32633),
        vec![],
    );
    f.chip.saved_empty = true;
    let chips = vec![
        chip(
            "a",
            "a.png",
            (32, 32),
            Some([500000.0, 0.5, 0.0, 4649776.0, 0.0, -0.5]),
            Some(32633),
            vec![
                label(
                    1,
                    [1.5, 2.25, 10.0, 12.125],
                    json!({"truncated": true, "difficult": false, "occluded": 2, "pose": "Left",
                           "score": 0.875, "note": "naïve \"quoted\"\n", "tags": ["a", 1, null],
                           "extra": {"k": [1.5e-7, -0.0]}, "class_id": 5,
                           "a_very_long_attribute": "x", "mixed": 1}),
                ),
                label(
                    7,
                    [0.0, 0.0, 32.0, 32.0],
                    json!({"mixed": "one", "score": 1}),
                ),
            ],
        ),
        b,
        chip(
            "l93",
            "a.png",
            (32, 32),
            Some([1240000.0, 0.2, 0.0, 7120000.0, 0.0, -0.2]),
            Some(2154),
            vec![label(1, [1.0, 1.0, 5.0, 5.0], json!({"occluded": 0}))],
        ),
        chip(
            "bng",
            "a.png",
            (32, 32),
            Some([400010.0, 0.25, 0.0, 300020.0, 0.0, -0.25]),
            Some(27700),
            vec![label(2, [2.0, 3.0, 30.5, 31.75], json!({}))],
        ),
        chip(
            "p",
            "b.png",
            (40, 30),
            None,
            None,
            vec![label(2, [0.5, 0.5, 19.5, 9.5], json!({"difficult": true}))],
        ),
        f,
    ];
    let project = Project {
        name: "geo test".into(),
        labeling_type: LabelingType::ObjectDetection,
        srid: Some(32633),
        classes,
        chips: chips.iter().map(|c| c.chip.clone()).collect(),
        base_dir: PathBuf::new(),
        manifest_path: PathBuf::from("project.json"),
    };
    (project, chips)
}

/// Writes `chips` in `format` into `dir` as a store would: the label files,
/// and each chip's image (a GeoTIFF carrying its georeferencing, or the
/// fixture PNG as it is).
pub fn store(
    format: &dyn LabelFormat,
    header: &Project,
    chips: &[TestChip],
    dir: &Path,
) -> MemoryOutput {
    let mut out = MemoryOutput::default();
    let header = Project {
        chips: Vec::new(),
        ..header.clone()
    };
    let mut w = format.writer(&header);
    for c in chips {
        w.write_chip(&c.chip, &c.georef, &mut out).unwrap();
    }
    w.finish(&mut out).unwrap();
    for (path, bytes) in &out.0 {
        write(&dir.join(path), bytes);
    }
    for c in chips {
        let png = std::fs::read(fixtures().join(c.source)).unwrap();
        let bytes = match &c.georef.transform {
            Some(gt) => {
                let crs = c
                    .georef
                    .epsg
                    .map(|e| raster_georef::Crs::from_epsg(e).unwrap());
                let keys = crs.as_ref().map(|crs| CrsKeys {
                    epsg: crs.epsg(),
                    geographic: crs.is_geographic(),
                    name: crs.name(),
                });
                raster_georef::chip_to_geotiff(&png, c.source, gt, keys).unwrap()
            }
            None => png,
        };
        write(&dir.join(&c.chip.image), &bytes);
    }
    out
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Runs an outside judge; fails saying what to install when it is missing.
pub fn run(program: &str, args: &[&str], stdin: &str) -> String {
    let package = if program == "cs2cs" {
        "proj-bin"
    } else {
        "gdal-bin"
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{program} could not be run ({e}): this test needs it as an outside judge; \
                 install it (Debian: apt-get install -y {package})"
            )
        });
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The features of a dataset (one layer) as GDAL reads them: `ogr2ogr`
/// re-emits them as GeoJSON with 17 significant digits (GDAL 3.6's
/// `ogrinfo` has no `-json` yet). Properties carry GDAL's field values and
/// types; a layer not in WGS 84 gets a `crs` member naming GDAL's EPSG code.
pub fn ogr_features(path: &Path) -> Value {
    let text = run(
        "ogr2ogr",
        &[
            "-f",
            "GeoJSON",
            "-lco",
            "SIGNIFICANT_FIGURES=17",
            "/vsistdout/",
            path.to_str().unwrap(),
        ],
        "",
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("ogr2ogr said {text}: {e}"))
}

/// Like [`ogr_features`], reprojected by GDAL to `EPSG:to`.
pub fn ogr_reprojected(path: &Path, to: u32) -> Value {
    let text = run(
        "ogr2ogr",
        &[
            "-f",
            "GeoJSON",
            "-lco",
            "SIGNIFICANT_FIGURES=17",
            "-t_srs",
            &format!("EPSG:{to}"),
            "/vsistdout/",
            path.to_str().unwrap(),
        ],
        "",
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("ogr2ogr said {text}: {e}"))
}

/// What `ogrinfo -so -al` says of a dataset's one layer: its feature count,
/// the EPSG code GDAL identifies for its CRS (the WKT's last `ID["EPSG",n]`),
/// and its field definitions (`name: Type (w.d)` lines).
pub struct OgrSummary {
    pub features: usize,
    pub epsg: Option<u32>,
    pub fields: Vec<String>,
    pub text: String,
}

pub fn ogrinfo(path: &Path) -> OgrSummary {
    let text = run(
        "ogrinfo",
        &["-ro", "-so", "-al", path.to_str().unwrap()],
        "",
    );
    let layers = text.matches("Layer name:").count();
    assert_eq!(layers, 1, "ogrinfo: {text}");
    let features = text
        .lines()
        .find_map(|l| l.strip_prefix("Feature Count: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no feature count in {text}"));
    let pattern = "ID[\"EPSG\",";
    let epsg = text.rfind(pattern).and_then(|i| {
        let rest = &text[i + pattern.len()..];
        rest[..rest.find(']')?].parse().ok()
    });
    let fields = text
        .lines()
        .skip_while(|l| !l.starts_with("Geometry Column") && !l.starts_with("Data axis"))
        .filter(|l| l.contains(": ") && l.contains('(') && !l.starts_with("Data axis"))
        .filter(|l| !l.starts_with("Geometry Column"))
        .map(str::to_owned)
        .collect();
    OgrSummary {
        features,
        epsg,
        fields,
        text,
    }
}

/// PROJ's `cs2cs` from `EPSG:from` to `EPSG:to`, points in GIS order
/// (x/longitude first) on both sides.
pub fn cs2cs(from: u32, to: u32, points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let geographic = |code: u32| {
        raster_georef::Crs::from_epsg(code)
            .map(|c| c.is_geographic())
            .unwrap_or(false)
    };
    let input: String = points
        .iter()
        .map(|&(x, y)| {
            if geographic(from) {
                format!("{y:.15} {x:.15}\n")
            } else {
                format!("{x:.9} {y:.9}\n")
            }
        })
        .collect();
    let output = run(
        "cs2cs",
        &[
            "-f",
            "%.15f",
            &format!("EPSG:{from}"),
            &format!("EPSG:{to}"),
        ],
        &input,
    );
    output
        .lines()
        .map(|l| {
            let v: Vec<f64> = l
                .split_whitespace()
                .take(2)
                .map(|t| t.parse().unwrap_or_else(|_| panic!("cs2cs said {l:?}")))
                .collect();
            if geographic(to) {
                (v[1], v[0])
            } else {
                (v[0], v[1])
            }
        })
        .collect()
}

/// The map corners of a box through a geotransform, computed here on their
/// own: top-left, top-right, bottom-right, bottom-left.
pub fn map_corners(gt: [f64; 6], [x0, y0, x1, y1]: [f64; 4]) -> Vec<(f64, f64)> {
    [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        .iter()
        .map(|&(px, py)| {
            (
                gt[0] + px * gt[1] + py * gt[2],
                gt[3] + px * gt[4] + py * gt[5],
            )
        })
        .collect()
}

/// The positions of a GeoJSON Polygon geometry's exterior ring (as
/// `ogrinfo -json` prints geometries).
pub fn exterior(geometry: &Value) -> Vec<(f64, f64)> {
    assert_eq!(geometry["type"], "Polygon", "{geometry}");
    geometry["coordinates"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
        .collect()
}

/// Twice the signed area of a closed ring (positive: counter-clockwise).
pub fn signed_area(ring: &[(f64, f64)]) -> f64 {
    ring.windows(2)
        .map(|w| w[0].0 * w[1].1 - w[1].0 * w[0].1)
        .sum()
}

/// Asserts that `ring` (closed, 5 positions) holds the 4 `corners` in some
/// rotation and direction, each within `tolerance`.
pub fn assert_same_corners(
    ring: &[(f64, f64)],
    corners: &[(f64, f64)],
    tolerance: f64,
    what: &str,
) {
    assert_eq!(ring.len(), 5, "{what}: {ring:?}");
    assert_eq!(ring[0], ring[4], "{what}: ring not closed");
    for c in corners {
        let d = ring[..4]
            .iter()
            .map(|p| (p.0 - c.0).abs().max((p.1 - c.1).abs()))
            .fold(f64::INFINITY, f64::min);
        assert!(
            d <= tolerance,
            "{what}: corner {c:?} is {d:e} from {ring:?}"
        );
    }
}

/// Compares a project read back with the one written: name, srid,
/// classes, chips (ids, images, sizes, srid, saved_empty) and every label
/// (class, box within `tolerance` pixel, attributes).
pub fn assert_read_back(back: &Project, want: &Project, tolerance: f64) {
    assert_eq!(back.name, want.name);
    assert_eq!(back.srid, want.srid);
    assert_eq!(back.classes, want.classes);
    let ids = |p: &Project| p.chips.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(back), ids(want));
    for (g, w) in back.chips.iter().zip(&want.chips) {
        assert_eq!(g.image, w.image, "{}", w.id);
        assert_eq!((g.width, g.height), (w.width, w.height), "{}", w.id);
        assert_eq!(g.srid, w.srid, "{}", w.id);
        assert_eq!(g.saved_empty, w.saved_empty, "{}", w.id);
        assert_labels(&g.labels, &w.labels, tolerance, &w.id);
    }
}

/// Compares labels: class, attributes, box within `tolerance` pixel.
pub fn assert_labels(got: &[Label], want: &[Label], tolerance: f64, chip: &str) {
    assert_eq!(got.len(), want.len(), "{chip}: {got:?}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.class_id, w.class_id, "{chip}");
        assert_eq!(g.attributes, w.attributes, "{chip}");
        let (Geometry::BBox(gb), Geometry::BBox(wb)) = (&g.geometry, &w.geometry) else {
            panic!("{chip}: not boxes: {g:?}");
        };
        for (a, b) in gb.iter().zip(wb) {
            assert!((a - b).abs() <= tolerance, "{chip}: {gb:?} != {wb:?}");
        }
    }
}
