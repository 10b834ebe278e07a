//! Tests of `crs.rs`. The ones named `*_cs2cs` and `*_gdal` take PROJ's
//! `cs2cs` (Debian `proj-bin`) and GDAL's `gdalsrsinfo` (`gdal-bin`) as
//! judges, and fail when those are missing.

use super::*;
use std::io::Write as _;
use std::process::{Command, Stdio};

fn crs(code: u32) -> Crs {
    Crs::from_epsg(code).unwrap_or_else(|e| panic!("EPSG:{code}: {e}"))
}

fn crs_error(r: Result<impl fmt::Debug>) -> (u32, String) {
    match r {
        Err(Error::Crs { epsg, message }) => (epsg, message),
        other => panic!("expected Error::Crs, got {other:?}"),
    }
}

#[test]
fn codes_not_covered_are_unknown() {
    // 0 and 999999: no such code; 70000: beyond u16; 4978 geocentric; 4979
    // geographic 3D; 5498 compound; 22300 has no PROJ.4 definition.
    for code in [0, 1, 999_999, 70_000, 4978, 4979, 5498, 22300] {
        match Crs::from_epsg(code) {
            Err(Error::UnknownCrs(c)) => assert_eq!(c, code),
            other => panic!("EPSG:{code}: expected UnknownCrs, got {other:?}"),
        }
    }
    assert_eq!(
        Crs::from_epsg(999_999).unwrap_err().to_string(),
        "EPSG:999999 is not a coordinate reference system labelstore knows"
    );
}

#[test]
fn geographic_or_projected_comes_from_the_definition() {
    for (code, geographic) in [
        (4326, true),
        (4258, true),
        (4807, true),
        (3819, true),  // HD1909: geographic outside 4000–4999
        (3824, true),  // TWD97
        (4087, false), // WGS 84 / World Equidistant Cylindrical: projected inside 4000–4999
        (4088, false),
        (32632, false),
        (3857, false),
        (2154, false),
    ] {
        assert_eq!(crs(code).is_geographic(), geographic, "EPSG:{code}");
    }
    // Every covered code: the PROJ.4 kind agrees with the WKT1 keyword; the
    // counts are the ones the module docs state.
    let (mut geographic, mut projected) = (0, 0);
    for code in 0..=u32::from(u16::MAX) {
        let Ok(c) = Crs::from_epsg(code) else {
            continue;
        };
        assert_eq!(c.epsg(), code);
        assert_eq!(c.is_geographic(), c.def.wkt.starts_with("GEOGCS["), "{c:?}");
        // GeoTIFF's citation keys take ASCII, `|` ending each string.
        assert!(
            !c.name().is_empty() && c.name().is_ascii() && !c.name().contains('|'),
            "{c:?}"
        );
        if c.is_geographic() {
            geographic += 1;
        } else {
            projected += 1;
        }
    }
    assert_eq!((geographic, projected), (545, 4961));
}

#[test]
fn names_come_from_the_wkt() {
    for (code, name) in [
        (4326, "WGS 84"),
        (32632, "WGS 84 / UTM zone 32N"),
        (32733, "WGS 84 / UTM zone 33S"),
        (3857, "WGS 84 / Pseudo-Mercator"),
        (2154, "RGF93 / Lambert-93"),
        (25832, "ETRS89 / UTM zone 32N"),
        (27700, "OSGB 1936 / British National Grid"),
    ] {
        assert_eq!(crs(code).name(), name);
    }
    let debug = format!("{:?}", crs(32632));
    assert!(
        debug.contains("epsg: 32632") && debug.contains("UTM zone 32N"),
        "{debug}"
    );
}

#[test]
fn esri_wkt_is_gdals() {
    // `gdalsrsinfo -o wkt_esri EPSG:n` (GDAL 3.6.2), on one line.
    assert_eq!(
        crs(32632).esri_wkt().unwrap(),
        r#"PROJCS["WGS_1984_UTM_Zone_32N",GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",9.0],PARAMETER["Scale_Factor",0.9996],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]"#
    );
    assert_eq!(
        crs(4326).esri_wkt().unwrap(),
        r#"GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]"#
    );
    assert_eq!(
        crs(3857).esri_wkt().unwrap(),
        r#"PROJCS["WGS_1984_Web_Mercator_Auxiliary_Sphere",GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Mercator_Auxiliary_Sphere"],PARAMETER["False_Easting",0.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",0.0],PARAMETER["Standard_Parallel_1",0.0],PARAMETER["Auxiliary_Sphere_Type",0.0],UNIT["Meter",1.0]]"#
    );
    assert_eq!(
        crs(2154).esri_wkt().unwrap(),
        r#"PROJCS["RGF_1993_Lambert_93",GEOGCS["GCS_RGF_1993",DATUM["D_RGF_1993",SPHEROID["GRS_1980",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Lambert_Conformal_Conic"],PARAMETER["False_Easting",700000.0],PARAMETER["False_Northing",6600000.0],PARAMETER["Central_Meridian",3.0],PARAMETER["Standard_Parallel_1",49.0],PARAMETER["Standard_Parallel_2",44.0],PARAMETER["Latitude_Of_Origin",46.5],UNIT["Meter",1.0]]"#
    );
    // ESRI's unit names, where GDAL 3.6 writes EPSG's ("US survey foot").
    assert!(
        crs(2227)
            .esri_wkt()
            .unwrap()
            .ends_with(r#"UNIT["Foot_US",0.304800609601219]]"#)
    );
    // Grads and a prime meridian other than Greenwich.
    assert_eq!(
        crs(4807).esri_wkt().unwrap(),
        r#"GEOGCS["GCS_NTF_Paris",DATUM["D_NTF",SPHEROID["Clarke_1880_IGN",6378249.2,293.466021293627]],PRIMEM["Paris",2.33722917],UNIT["Grad",0.0157079632679489]]"#
    );
}

#[test]
fn esri_wkt_is_refused_rather_than_guessed() {
    for code in [
        2046,  // Hartebeesthoek94 / Lo15: south-oriented TM, GDAL has no ESRI form
        5041,  // WGS 84 / UPS North (E,N): polar stereographic variant A
        2065,  // S-JTSK (Ferro) / Krovak
        2176,  // ETRS89 / Poland CS2000 zone 5: GDAL's EPSG has another base CRS
        22700, // Deir ez Zor / Levant Zone: Lambert Conic Near-Conformal
    ] {
        let (epsg, message) = crs_error(crs(code).esri_wkt());
        assert_eq!(epsg, code);
        assert!(message.contains("ESRI"), "EPSG:{code}: {message}");
    }
}

#[test]
fn numbers_are_written_as_gdal_writes_them() {
    for (v, s) in [
        (0.0, "0.0"),
        (500000.0, "500000.0"),
        (-100000.0, "-100000.0"),
        (0.9996, "0.9996"),
        (298.257223563, "298.257223563"),
        (0.0174532925199433, "0.0174532925199433"),
        (175.4880555555555, "175.488055555555"),
        (-17.666666666666668, "-17.6666666666667"),
        (294.9786982138982, "294.978698213898"),
        (1e-5, "1e-05"),
        (1.5e20, "1.5e+20"),
        (123456789012345.0, "123456789012345.0"),
    ] {
        assert_eq!(esri::number(v), s, "{v:e}");
    }
}

#[test]
fn to_wgs84_basics() {
    // EPSG:4326 is the identity, bit for bit.
    let wgs84 = crs(4326);
    assert_eq!(
        wgs84.to_wgs84(12.345678901234, -45.6).unwrap(),
        (12.345678901234, -45.6)
    );
    // The origin of UTM zone 32N is 9°E on the equator.
    let (lon, lat) = crs(32632).to_wgs84(500000.0, 0.0).unwrap();
    assert!(
        (lon - 9.0).abs() < 1e-12 && lat.abs() < 1e-12,
        "{lon} {lat}"
    );
    let (lon, lat) = crs(32733).to_wgs84(500000.0, 10_000_000.0).unwrap();
    assert!(
        (lon - 15.0).abs() < 1e-12 && lat.abs() < 1e-9,
        "{lon} {lat}"
    );
    assert_eq!(crs(3857).to_wgs84(0.0, 0.0).unwrap(), (0.0, 0.0));
    // Grads from the Paris meridian: 0 grad is 2°20'14.025"E of Greenwich
    // (plus NTF's datum shift, a few arc-seconds).
    let (lon, lat) = crs(4807).to_wgs84(0.0, 50.0).unwrap();
    assert!(
        (lon - 2.33722917).abs() < 0.01 && (lat - 45.0).abs() < 0.01,
        "{lon} {lat}"
    );
    // Many points at once give what one at a time gives.
    let utm = crs(32632);
    let mut many = [
        (400000.0, 5_000_000.0),
        (600000.0, 6_000_000.0),
        (500000.0, 0.0),
    ];
    let one: Vec<_> = many
        .iter()
        .map(|&(x, y)| utm.to_wgs84(x, y).unwrap())
        .collect();
    utm.to_wgs84_many(&mut many).unwrap();
    assert_eq!(many.to_vec(), one);
    utm.to_wgs84_many(&mut []).unwrap();
}

#[test]
fn to_wgs84_refuses_what_it_cannot_do() {
    let message = |code: u32, x: f64, y: f64| {
        let (epsg, message) = crs_error(crs(code).to_wgs84(x, y));
        assert_eq!(epsg, code);
        message
    };
    let m = message(32632, f64::NAN, 0.0);
    assert!(m.contains("point 0") && m.contains("not finite"), "{m}");
    let m = message(4326, 10.0, 90.5);
    assert!(m.contains("latitude"), "{m}");
    // NAD27 needs grid files.
    let m = message(26711, 500000.0, 4_000_000.0);
    assert!(m.contains("grid"), "{m}");
    // Unknown datum based upon the Krassowsky 1940 ellipsoid: no +towgs84.
    let m = message(4024, 13.0, 52.0);
    assert!(m.contains("no datum shift"), "{m}");
    let mut points = [(500000.0, 0.0), (f64::INFINITY, 0.0)];
    let (_, m) = crs_error(crs(32632).to_wgs84_many(&mut points));
    assert!(m.contains("point 1"), "{m}");
    // The error is Error::Crs, with the code in its text.
    let e = crs(4024).to_wgs84(13.0, 52.0).unwrap_err().to_string();
    assert!(e.starts_with("EPSG:4024: "), "{e}");
}

#[test]
fn crs_can_be_shared_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Crs>();
}

/// Runs an outside judge, failing with how to install it when it is missing.
fn run(program: &str, package: &str, args: &[&str], stdin: &str) -> String {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{program} could not be run ({e}): install it (Debian: apt-get install -y {package})")
        });
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

/// The distance in metres between two nearby longitude/latitude points.
fn metres_apart((lon1, lat1): (f64, f64), (lon2, lat2): (f64, f64)) -> f64 {
    let r = 6_378_137.0_f64;
    let dlon = (lon1 - lon2 + 540.0).rem_euclid(360.0) - 180.0;
    let dx = dlon.to_radians() * r * lat1.to_radians().cos();
    let dy = (lat1 - lat2).to_radians() * r;
    dx.hypot(dy)
}

#[test]
#[allow(clippy::print_stderr)]
fn to_wgs84_matches_cs2cs() {
    let grid = |xs: &[f64], ys: &[f64]| -> Vec<(f64, f64)> {
        xs.iter()
            .flat_map(|&x| ys.iter().map(move |&y| (x, y)))
            .collect()
    };
    let cases: Vec<(u32, Vec<(f64, f64)>)> = vec![
        // UTM north and south.
        (
            32632,
            grid(
                &[166_000.0, 500_000.0, 834_000.0],
                &[1.0, 2_000_000.0, 5_500_000.0, 8_300_000.0],
            ),
        ),
        (
            32733,
            grid(
                &[166_000.0, 500_000.0, 834_000.0],
                &[1_700_000.0, 5_000_000.0, 9_999_999.0],
            ),
        ),
        // Web Mercator, to ±85°.
        (
            3857,
            grid(
                &[-20_000_000.0, -1_234_567.89, 0.0, 15_000_000.0],
                &[-19_900_000.0, -5_000_000.0, 0.0, 7_000_000.0, 19_900_000.0],
            ),
        ),
        // Lambert-93 (LCC 2SP on RGF93 = WGS 84 for PROJ).
        (
            2154,
            grid(
                &[100_000.0, 700_000.0, 1_240_000.0],
                &[6_040_000.0, 6_600_000.0, 7_120_000.0],
            ),
        ),
        // British National Grid (TM on OSGB 1936, Helmert shift).
        (
            27700,
            grid(&[0.0, 400_000.0, 650_000.0], &[0.0, 500_000.0, 1_200_000.0]),
        ),
        // ETRS89 / UTM 32N (TM on GRS 1980).
        (
            25832,
            grid(
                &[300_000.0, 500_000.0, 700_000.0],
                &[5_000_000.0, 6_000_000.0, 7_000_000.0],
            ),
        ),
        // Geographic: WGS 84 itself, ETRS89, OSGB 1936 (Helmert).
        (
            4326,
            grid(
                &[-179.5, -12.3, 0.0, 45.6, 179.9],
                &[-89.0, -33.3, 0.0, 51.5, 89.9],
            ),
        ),
        (4258, grid(&[-10.0, 0.0, 25.5], &[35.0, 52.0, 70.0])),
        (4277, grid(&[-7.5, -2.0, 1.7], &[50.0, 54.0, 60.5])),
    ];
    let mut report = Vec::new();
    for (code, points) in cases {
        let c = crs(code);
        let mut ours = points.clone();
        c.to_wgs84_many(&mut ours).unwrap();
        // cs2cs takes and gives coordinates in each CRS's EPSG axis order:
        // latitude first for the geographic ones, EPSG:4326 included.
        let input: String = points
            .iter()
            .map(|&(x, y)| {
                if c.is_geographic() {
                    format!("{y:.12} {x:.12}\n")
                } else {
                    format!("{x:.6} {y:.6}\n")
                }
            })
            .collect();
        let output = run(
            "cs2cs",
            "proj-bin",
            &["-f", "%.12f", &format!("EPSG:{code}"), "EPSG:4326"],
            &input,
        );
        let theirs: Vec<(f64, f64)> = output
            .lines()
            .map(|l| {
                let v: Vec<f64> = l
                    .split_whitespace()
                    .take(2)
                    .map(|t| t.parse().unwrap_or_else(|_| panic!("cs2cs said {l:?}")))
                    .collect();
                (v[1], v[0])
            })
            .collect();
        assert_eq!(theirs.len(), points.len(), "cs2cs output: {output}");
        let worst = ours
            .iter()
            .zip(&theirs)
            .map(|(&a, &b)| metres_apart(a, b))
            .fold(0.0, f64::max);
        report.push(format!(
            "EPSG:{code} max {worst:.2e} m over {} points",
            points.len()
        ));
        for ((p, a), b) in points.iter().zip(&ours).zip(&theirs) {
            assert!(
                metres_apart(*a, *b) < 0.01,
                "EPSG:{code} {p:?}: ours {a:?}, cs2cs {b:?}: {} m apart",
                metres_apart(*a, *b)
            );
        }
    }
    eprintln!("to_wgs84 vs cs2cs:\n  {}", report.join("\n  "));
}

#[test]
#[allow(clippy::print_stderr)]
fn prj_is_read_back_by_gdal() {
    let dir = std::env::temp_dir().join(format!("raster-georef-prj-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut report = Vec::new();
    for code in [
        4326, 4258, 4807, 32632, 32733, 3857, 2154, 27700, 25832, 3006, 2056, 3035, 3031, 2227,
        3078, 27572,
    ] {
        let ours = crs(code).esri_wkt().unwrap();
        let prj = dir.join(format!("{code}.prj"));
        std::fs::write(&prj, &ours).unwrap();
        let prj = prj.to_str().unwrap();
        // GDAL identifies the .prj as exactly this EPSG code (a partial
        // match would print "Confidence in this match: NN %").
        let identified = run("gdalsrsinfo", "gdal-bin", &["-e", prj], "");
        let found: Vec<&str> = identified
            .lines()
            .filter(|l| l.starts_with("EPSG:") || l.starts_with("Confidence"))
            .collect();
        assert_eq!(
            found,
            [format!("EPSG:{code}")],
            "EPSG:{code}: gdalsrsinfo -e said:\n{identified}\nof {ours}"
        );
        // And the text is GDAL's own, up to ESRI's unit names.
        let gdal: String = run(
            "gdalsrsinfo",
            "gdal-bin",
            &["-o", "wkt_esri", &format!("EPSG:{code}")],
            "",
        )
        .lines()
        .map(str::trim)
        .collect();
        let gdal = gdal.replace(r#"UNIT["US survey foot","#, r#"UNIT["Foot_US","#);
        assert_eq!(ours, gdal, "EPSG:{code}");
        report.push(format!("EPSG:{code}"));
    }
    std::fs::remove_dir_all(&dir).unwrap();
    eprintln!(
        "identified by gdalsrsinfo -e at 100 % and equal to -o wkt_esri: {}",
        report.join(", ")
    );
}

#[test]
fn from_wgs84_basics_and_refusals() {
    // EPSG:4326 is the identity, bit for bit.
    assert_eq!(
        crs(4326).from_wgs84(12.345678901234, -45.6).unwrap(),
        (12.345678901234, -45.6)
    );
    let (x, y) = crs(32632).from_wgs84(9.0, 0.0).unwrap();
    assert!((x - 500000.0).abs() < 1e-6 && y.abs() < 1e-6, "{x} {y}");
    assert_eq!(crs(3857).from_wgs84(0.0, 0.0).unwrap(), (0.0, 0.0));
    // Grads from the Paris meridian.
    let (x, y) = crs(4807).from_wgs84(2.33722917, 45.0).unwrap();
    assert!(x.abs() < 0.01 && (y - 50.0).abs() < 0.01, "{x} {y}");
    // Many points at once give what one at a time gives.
    let utm = crs(32632);
    let mut many = [(7.5, 45.0), (10.25, 61.0), (9.0, 0.0)];
    let one: Vec<_> = many
        .iter()
        .map(|&(x, y)| utm.from_wgs84(x, y).unwrap())
        .collect();
    utm.from_wgs84_many(&mut many).unwrap();
    assert_eq!(many.to_vec(), one);
    utm.from_wgs84_many(&mut []).unwrap();
    // What it refuses.
    let (epsg, m) = crs_error(utm.from_wgs84(f64::NAN, 0.0));
    assert_eq!(epsg, 32632);
    assert!(m.contains("point 0") && m.contains("not finite"), "{m}");
    let (_, m) = crs_error(utm.from_wgs84(9.0, 90.5));
    assert!(m.contains("latitude"), "{m}");
    let (_, m) = crs_error(utm.from_wgs84_many(&mut [(9.0, 1.0), (9.0, f64::INFINITY)]));
    assert!(m.contains("point 1"), "{m}");
    let (_, m) = crs_error(crs(26711).from_wgs84(-117.0, 36.0));
    assert!(m.contains("grid"), "{m}");
    let (_, m) = crs_error(crs(4024).from_wgs84(13.0, 52.0));
    assert!(m.contains("no datum shift"), "{m}");
}

#[test]
#[allow(clippy::print_stderr)]
fn from_wgs84_inverts_to_wgs84() {
    // Map coordinates -> WGS 84 -> map coordinates. On datums equal to
    // WGS 84 the two directions invert each other to within 10 nm where the
    // inverse projection is closed-form, ~1 µm where proj4rs iterates it
    // (Lambert Conformal Conic); through a Helmert shift PROJ.4 semantics
    // undo the shift to first order only, up to a millimetre off for OSGB 1936.
    // (The GeoJSON writer polishes its longitudes and latitudes against
    // `from_wgs84` for that reason.) Tolerances in the CRS's unit.
    type Points = &'static [(f64, f64)];
    let cases: &[(u32, f64, Points)] = &[
        (
            32632,
            1e-8,
            &[
                (166_021.4, 1.5),
                (500_000.0, 5_500_000.0),
                (833_978.6, 8_300_000.25),
            ],
        ),
        (
            32733,
            1e-8,
            &[(200_000.0, 1_700_000.0), (701_234.5, 9_999_999.0)],
        ),
        (
            3857,
            1e-8,
            &[(-19_000_000.0, -5_000_000.0), (1_234_567.89, 7_000_000.0)],
        ),
        (
            2154,
            2e-6,
            &[(100_000.0, 6_040_000.0), (1_240_000.0, 7_120_000.0)],
        ),
        (2227, 1e-5, &[(6_000_000.0, 2_000_000.0)]),
        (
            27700,
            2e-3,
            &[(1.0, 1.0), (400_000.0, 500_000.0), (650_000.0, 1_200_000.0)],
        ),
        (4326, 0.0, &[(-179.5, -89.0), (45.6, 51.5)]),
        (4258, 1e-12, &[(-10.0, 35.0), (25.5, 70.0)]),
        (4277, 1e-7, &[(-7.5, 50.0), (1.7, 60.5)]),
        (4807, 1e-7, &[(0.0, 50.0), (-3.5, 55.25)]),
    ];
    let mut report = Vec::new();
    for &(code, tolerance, points) in cases {
        let c = crs(code);
        let mut p = points.to_vec();
        c.to_wgs84_many(&mut p).unwrap();
        c.from_wgs84_many(&mut p).unwrap();
        let mut worst = 0.0_f64;
        for (a, b) in points.iter().zip(&p) {
            let d = (a.0 - b.0).abs().max((a.1 - b.1).abs());
            worst = worst.max(d);
            assert!(
                d <= tolerance,
                "EPSG:{code}: {a:?} came back as {b:?}, {d:e} off"
            );
        }
        report.push(format!("EPSG:{code} {worst:.1e}"));
    }
    eprintln!("map -> WGS 84 -> map, worst: {}", report.join(", "));
}

#[test]
#[allow(clippy::print_stderr)]
fn from_wgs84_matches_cs2cs() {
    let grid = |xs: &[f64], ys: &[f64]| -> Vec<(f64, f64)> {
        xs.iter()
            .flat_map(|&x| ys.iter().map(move |&y| (x, y)))
            .collect()
    };
    // (code, lon/lat points on WGS 84, tolerance in the CRS's unit)
    type Case = (u32, Vec<(f64, f64)>, f64);
    let cases: Vec<Case> = vec![
        (
            32632,
            grid(&[6.0, 9.0, 11.9], &[0.0, 20.0, 49.5, 75.0]),
            1e-3,
        ),
        (
            32733,
            grid(&[12.1, 15.0, 17.9], &[-75.0, -45.0, -0.001]),
            1e-3,
        ),
        (
            3857,
            grid(
                &[-179.0, -11.1, 0.0, 135.0],
                &[-84.0, -40.0, 0.0, 53.0, 84.0],
            ),
            1e-3,
        ),
        (2154, grid(&[-4.5, 3.0, 9.5], &[41.5, 46.5, 51.0]), 1e-3),
        (27700, grid(&[-7.5, -2.0, 1.7], &[50.0, 54.0, 60.5]), 1e-3),
        (25832, grid(&[6.0, 9.0, 12.0], &[45.0, 54.0, 63.0]), 1e-3),
        (2227, grid(&[-122.5, -121.0], &[36.5, 37.9]), 1e-3),
        (
            4326,
            grid(&[-179.5, 0.0, 179.9], &[-89.0, 0.0, 89.9]),
            1e-10,
        ),
        (4258, grid(&[-10.0, 0.0, 25.5], &[35.0, 52.0, 70.0]), 1e-10),
        (4277, grid(&[-7.5, -2.0, 1.7], &[50.0, 54.0, 60.5]), 1e-8),
    ];
    let mut report = Vec::new();
    for (code, points, tolerance) in cases {
        let c = crs(code);
        let mut ours = points.clone();
        c.from_wgs84_many(&mut ours).unwrap();
        // cs2cs in EPSG axis order: latitude first for the geographic CRSs.
        let input: String = points
            .iter()
            .map(|&(lon, lat)| format!("{lat:.12} {lon:.12}\n"))
            .collect();
        let output = run(
            "cs2cs",
            "proj-bin",
            &["-f", "%.12f", "EPSG:4326", &format!("EPSG:{code}")],
            &input,
        );
        let theirs: Vec<(f64, f64)> = output
            .lines()
            .map(|l| {
                let v: Vec<f64> = l
                    .split_whitespace()
                    .take(2)
                    .map(|t| t.parse().unwrap_or_else(|_| panic!("cs2cs said {l:?}")))
                    .collect();
                if c.is_geographic() {
                    (v[1], v[0])
                } else {
                    (v[0], v[1])
                }
            })
            .collect();
        assert_eq!(theirs.len(), points.len(), "cs2cs output: {output}");
        let mut worst = 0.0_f64;
        for ((p, a), b) in points.iter().zip(&ours).zip(&theirs) {
            let d = (a.0 - b.0).abs().max((a.1 - b.1).abs());
            worst = worst.max(d);
            assert!(
                d < tolerance,
                "EPSG:{code} {p:?}: ours {a:?}, cs2cs {b:?}: {d} apart"
            );
        }
        report.push(format!(
            "EPSG:{code} max {worst:.2e} over {} points",
            points.len()
        ));
    }
    eprintln!("from_wgs84 vs cs2cs:\n  {}", report.join("\n  "));
}

#[test]
fn from_esri_wkt_finds_the_code_of_our_own_esri_wkt() {
    for code in [4326, 32632, 3857, 27700, 2154] {
        let wkt = Crs::from_epsg(code).unwrap().esri_wkt().unwrap();
        assert_eq!(Crs::from_esri_wkt(&wkt).unwrap().epsg(), code, "{wkt}");
    }
    let with_authority = r#"GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433],AUTHORITY["EPSG","4326"]]"#;
    assert_eq!(Crs::from_esri_wkt(with_authority).unwrap().epsg(), 4326);
    let wrong = Crs::from_epsg(32632)
        .unwrap()
        .esri_wkt()
        .unwrap()
        .replace("500000.0", "500001.0");
    assert!(matches!(
        Crs::from_esri_wkt(&wrong),
        Err(Error::UnknownWkt(_))
    ));
    assert!(matches!(
        Crs::from_esri_wkt("nonsense"),
        Err(Error::UnknownWkt(_))
    ));
}
