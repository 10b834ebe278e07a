//! The rasterizer against GDAL's own: each test shape is written as GeoJSON
//! (map y = height - pixel y, one map unit per pixel), burned with
//! `gdal_rasterize` (default: pixel centres decide), read back as an ASCII
//! grid, and compared pixel for pixel with [`pixel_geometry::rasterize`].

use std::process::Command;

use pixel_geometry::Geometry;
use pixel_geometry::rasterize;

const W: u32 = 24;
const H: u32 = 20;

fn poly(rings: &[&[(f64, f64)]]) -> Geometry {
    Geometry::Polygon(
        rings
            .iter()
            .map(|r| r.iter().map(|&(x, y)| [x, y]).collect())
            .collect(),
    )
}

fn shapes() -> Vec<(&'static str, Geometry)> {
    let mut v = vec![
        (
            "integer square",
            poly(&[&[(2.0, 2.0), (10.0, 2.0), (10.0, 9.0), (2.0, 9.0), (2.0, 2.0)]]),
        ),
        (
            "half-pixel square",
            poly(&[&[(2.5, 2.5), (10.5, 2.5), (10.5, 9.5), (2.5, 9.5)]]),
        ),
        (
            "counter-clockwise half-pixel square",
            poly(&[&[(2.5, 2.5), (2.5, 9.5), (10.5, 9.5), (10.5, 2.5)]]),
        ),
        ("triangle", poly(&[&[(1.0, 1.0), (20.0, 4.0), (6.0, 18.0)]])),
        (
            "concave",
            poly(&[&[
                (1.0, 1.0),
                (20.0, 1.0),
                (20.0, 15.0),
                (12.0, 6.0),
                (3.0, 17.0),
            ]]),
        ),
        (
            "square with hole",
            poly(&[
                &[(1.0, 1.0), (15.0, 1.0), (15.0, 15.0), (1.0, 15.0)],
                &[(5.0, 5.0), (10.0, 5.0), (10.0, 10.0), (5.0, 10.0)],
            ]),
        ),
        (
            "hole on centres",
            poly(&[
                &[(0.5, 0.5), (16.5, 0.5), (16.5, 16.5), (0.5, 16.5)],
                &[(4.5, 4.5), (8.5, 4.5), (8.5, 8.5), (4.5, 8.5)],
            ]),
        ),
        (
            "rotated square",
            poly(&[&[(12.0, 1.0), (21.0, 10.0), (12.0, 19.0), (3.0, 10.0)]]),
        ),
        (
            "vertices on centres",
            poly(&[&[(3.5, 3.5), (15.5, 5.5), (9.5, 14.5)]]),
        ),
        ("sliver", poly(&[&[(1.0, 5.0), (22.0, 5.3), (1.0, 5.6)]])),
        (
            "vertical sliver",
            poly(&[&[(5.2, 1.0), (5.4, 18.0), (5.7, 1.0)]]),
        ),
        (
            "smaller than a pixel",
            poly(&[&[(4.2, 4.2), (4.8, 4.3), (4.6, 4.9)]]),
        ),
        (
            "sub-pixel around a centre",
            poly(&[&[(4.3, 4.3), (4.7, 4.3), (4.7, 4.7), (4.3, 4.7)]]),
        ),
        (
            "partly outside",
            poly(&[&[(-5.0, -3.0), (10.0, -3.0), (10.0, 8.0), (-5.0, 8.0)]]),
        ),
        (
            "beyond the right and bottom",
            poly(&[&[(15.0, 12.0), (40.0, 12.0), (40.0, 40.0), (15.0, 40.0)]]),
        ),
        (
            "collinear points",
            poly(&[&[
                (2.0, 2.0),
                (6.0, 2.0),
                (10.0, 2.0),
                (10.0, 6.0),
                (10.0, 10.0),
                (2.0, 10.0),
            ]]),
        ),
        (
            "star",
            poly(&[&[
                (12.0, 1.0),
                (14.0, 8.0),
                (22.0, 8.0),
                (15.5, 12.0),
                (18.0, 19.0),
                (12.0, 14.5),
                (6.0, 19.0),
                (8.5, 12.0),
                (2.0, 8.0),
                (10.0, 8.0),
            ]]),
        ),
        (
            "shared edge left",
            poly(&[&[(2.0, 2.0), (8.3, 2.0), (8.3, 12.0), (2.0, 12.0)]]),
        ),
        (
            "shared edge right",
            poly(&[&[(8.3, 2.0), (14.0, 2.0), (14.0, 12.0), (8.3, 12.0)]]),
        ),
        (
            "horizontal edges on centre lines",
            poly(&[&[(2.2, 3.5), (12.7, 3.5), (12.7, 9.5), (2.2, 9.5)]]),
        ),
        (
            "horizontal edges on centre lines, reversed",
            poly(&[&[(2.2, 3.5), (2.2, 9.5), (12.7, 9.5), (12.7, 3.5)]]),
        ),
        (
            "hole with edges on centre lines",
            poly(&[
                &[(0.5, 0.5), (20.5, 0.5), (20.5, 16.5), (0.5, 16.5)],
                &[(3.5, 3.5), (9.5, 3.5), (9.5, 7.5), (3.5, 7.5)],
            ]),
        ),
        (
            "hole with edges on centre lines, rings reversed",
            poly(&[
                &[(0.5, 16.5), (20.5, 16.5), (20.5, 0.5), (0.5, 0.5)],
                &[(3.5, 7.5), (9.5, 7.5), (9.5, 3.5), (3.5, 3.5)],
            ]),
        ),
        (
            "steps on centre lines",
            poly(&[&[
                (1.5, 1.5),
                (6.5, 1.5),
                (6.5, 4.5),
                (11.5, 4.5),
                (11.5, 8.5),
                (16.5, 8.5),
                (16.5, 12.5),
                (1.5, 12.5),
            ]]),
        ),
        (
            "multipolygon",
            Geometry::MultiPolygon(vec![
                vec![vec![[1.0, 1.0], [6.0, 1.0], [6.0, 6.0], [1.0, 6.0]]],
                vec![vec![[9.5, 9.5], [20.25, 11.0], [14.0, 18.75]]],
            ]),
        ),
    ];
    // Deterministic pseudo-random polygons with fractional vertices.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) as f64) / f64::from(1u32 << 31)
    };
    for name in ["random pentagon", "random heptagon", "random triangle"] {
        let n = match name {
            "random pentagon" => 5,
            "random heptagon" => 7,
            _ => 3,
        };
        let (cx, cy) = (4.0 + next() * 16.0, 4.0 + next() * 12.0);
        let ring: Vec<[f64; 2]> = (0..n)
            .map(|k| {
                let a = k as f64 / n as f64 * std::f64::consts::TAU;
                let r = 2.0 + next() * 6.0;
                [cx + r * a.cos(), cy + r * a.sin()]
            })
            .collect();
        v.push((name, Geometry::Polygon(vec![ring])));
    }
    v
}

fn to_geojson(g: &Geometry) -> String {
    let ring = |r: &Vec<[f64; 2]>| {
        let mut pts: Vec<String> = r
            .iter()
            .map(|p| format!("[{}, {}]", p[0], f64::from(H) - p[1]))
            .collect();
        pts.push(pts[0].clone());
        format!("[{}]", pts.join(", "))
    };
    let polygon =
        |p: &Vec<Vec<[f64; 2]>>| format!("[{}]", p.iter().map(ring).collect::<Vec<_>>().join(", "));
    let geometry = match g {
        Geometry::Polygon(p) => {
            format!("{{\"type\": \"Polygon\", \"coordinates\": {}}}", polygon(p))
        }
        Geometry::MultiPolygon(m) => format!(
            "{{\"type\": \"MultiPolygon\", \"coordinates\": [{}]}}",
            m.iter().map(polygon).collect::<Vec<_>>().join(", ")
        ),
        other => panic!("not a polygon: {other:?}"),
    };
    format!(
        "{{\"type\": \"FeatureCollection\", \"features\": [{{\"type\": \"Feature\", \"properties\": {{}}, \"geometry\": {geometry}}}]}}"
    )
}

fn gdal(tool: &str, args: &[&str]) {
    let out = Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run {tool} ({e}): install GDAL's tools (Debian package gdal-bin)")
    });
    assert!(
        out.status.success(),
        "{tool} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn matches_gdal_rasterize_pixel_for_pixel() {
    let tmp = tempfile::tempdir().unwrap();
    let shapes = shapes();
    assert!(shapes.len() >= 20);
    for (i, (name, g)) in shapes.iter().enumerate() {
        let (src, tif, asc) = (
            tmp.path().join(format!("{i}.geojson")),
            tmp.path().join(format!("{i}.tif")),
            tmp.path().join(format!("{i}.asc")),
        );
        std::fs::write(&src, to_geojson(g)).unwrap();
        let (w, h) = (W.to_string(), H.to_string());
        gdal(
            "gdal_rasterize",
            &[
                "-q",
                "-burn",
                "1",
                "-init",
                "0",
                "-te",
                "0",
                "0",
                &w,
                &h,
                "-ts",
                &w,
                &h,
                "-ot",
                "Byte",
                src.to_str().unwrap(),
                tif.to_str().unwrap(),
            ],
        );
        gdal(
            "gdal_translate",
            &[
                "-q",
                "-of",
                "AAIGrid",
                tif.to_str().unwrap(),
                asc.to_str().unwrap(),
            ],
        );
        let text = std::fs::read_to_string(&asc).unwrap();
        let gdal_pixels: Vec<u8> = text
            .lines()
            .skip_while(|l| !l.starts_with(|c: char| c.is_ascii_digit() || c == ' '))
            .flat_map(|l| {
                l.split_whitespace()
                    .map(|v| v.parse::<u8>().unwrap())
                    .collect::<Vec<_>>()
            })
            .collect();
        let ours = rasterize(W, H, 0, [(g, 1)]);
        let show = |d: &[u8]| {
            d.chunks(W as usize)
                .map(|r| {
                    r.iter()
                        .map(|&v| if v == 1 { '#' } else { '.' })
                        .collect::<String>()
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(
            show(&ours.data),
            show(&gdal_pixels),
            "shape {i} ({name}): ours (left) differs from gdal_rasterize (right)"
        );
    }
}
