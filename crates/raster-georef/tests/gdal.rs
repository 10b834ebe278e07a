//! GeoTIFF chips judged by GDAL: every kind of source image is converted
//! and `gdalinfo -json -checksum` must report the source's pixel checksums,
//! band count and type, the geotransform, the EPSG code and
//! AREA_OR_POINT=Area. Source variants are made with `gdal_translate` and
//! the `png` crate.

use std::path::{Path, PathBuf};
use std::process::Command;

use raster_georef::{CrsKeys, GeoTransform, chip_to_geotiff};

fn gdal(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run {tool} ({e}): install GDAL's tools (Debian package gdal-bin)")
    });
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn info(path: &Path) -> serde_json::Value {
    serde_json::from_str(&gdal(
        "gdalinfo",
        &["-json", "-checksum", path.to_str().unwrap()],
    ))
    .unwrap()
}

fn write_png(
    path: &Path,
    w: u32,
    h: u32,
    color: png::ColorType,
    depth: png::BitDepth,
    palette: Option<Vec<u8>>,
    data: &[u8],
) {
    let file = std::fs::File::create(path).unwrap();
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    enc.set_color(color);
    enc.set_depth(depth);
    if let Some(p) = palette {
        enc.set_palette(p);
    }
    enc.write_header().unwrap().write_image_data(data).unwrap();
}

struct Case {
    name: String,
    path: PathBuf,
}

/// Every source variant, written into `dir`.
fn sources(dir: &Path) -> Vec<Case> {
    let (w, h) = (37u32, 23u32);
    let rgb: Vec<u8> = (0..w * h)
        .flat_map(|i| [(i * 7) as u8, (i / 3) as u8, (i ^ 0x5a) as u8])
        .collect();
    let gray: Vec<u8> = (0..w * h).map(|i| (i * 13 % 251) as u8).collect();
    let p = |n: &str| dir.join(n);
    let s = |p: &PathBuf| p.to_str().unwrap().to_owned();
    write_png(
        &p("rgb.png"),
        w,
        h,
        png::ColorType::Rgb,
        png::BitDepth::Eight,
        None,
        &rgb,
    );
    write_png(
        &p("gray.png"),
        w,
        h,
        png::ColorType::Grayscale,
        png::BitDepth::Eight,
        None,
        &gray,
    );
    let rgba: Vec<u8> = rgb
        .chunks(3)
        .enumerate()
        .flat_map(|(i, c)| [c[0], c[1], c[2], (i * 5) as u8])
        .collect();
    write_png(
        &p("rgba.png"),
        w,
        h,
        png::ColorType::Rgba,
        png::BitDepth::Eight,
        None,
        &rgba,
    );
    let ga: Vec<u8> = gray.iter().flat_map(|&g| [g, 255 - g]).collect();
    write_png(
        &p("gray-alpha.png"),
        w,
        h,
        png::ColorType::GrayscaleAlpha,
        png::BitDepth::Eight,
        None,
        &ga,
    );
    let g16: Vec<u8> = (0..w * h)
        .flat_map(|i| ((i * 977 % 65521) as u16).to_be_bytes())
        .collect();
    write_png(
        &p("gray16.png"),
        w,
        h,
        png::ColorType::Grayscale,
        png::BitDepth::Sixteen,
        None,
        &g16,
    );
    let rgb16: Vec<u8> = (0..w * h * 3)
        .flat_map(|i| ((i * 331 % 65000) as u16).to_be_bytes())
        .collect();
    write_png(
        &p("rgb16.png"),
        w,
        h,
        png::ColorType::Rgb,
        png::BitDepth::Sixteen,
        None,
        &rgb16,
    );
    for (bits, depth) in [
        (1u32, png::BitDepth::One),
        (2, png::BitDepth::Two),
        (4, png::BitDepth::Four),
        (8, png::BitDepth::Eight),
    ] {
        let n = 1u32 << bits;
        let palette: Vec<u8> = (0..n)
            .flat_map(|i| [(i * 40) as u8, (4351 - i * 16) as u8, (i * 3) as u8])
            .collect();
        let line = (w * bits).div_ceil(8) as usize;
        let mut data = vec![0u8; line * h as usize];
        for y in 0..h as usize {
            for x in 0..w as usize {
                let v = ((x + 2 * y) as u32 % n) as u8;
                let bit = x * bits as usize;
                data[y * line + bit / 8] |= v << (8 - bits as usize - bit % 8);
            }
        }
        write_png(
            &p(&format!("palette{bits}.png")),
            w,
            h,
            png::ColorType::Indexed,
            depth,
            Some(palette),
            &data,
        );
    }
    let tr = |args: &[&str], src: &str, out: &str| {
        let mut a: Vec<&str> = vec!["-q"];
        a.extend_from_slice(args);
        let (src, out) = (s(&p(src)), s(&p(out)));
        a.push(&src);
        a.push(&out);
        gdal("gdal_translate", &a);
    };
    tr(&["-of", "JPEG"], "rgb.png", "rgb420.jpg");
    tr(
        &["-of", "JPEG", "-co", "QUALITY=97"],
        "gray.png",
        "gray.jpg",
    );
    tr(&["-of", "GIF"], "palette8.png", "palette.gif");
    tr(&["-of", "BMP"], "rgb.png", "rgb24.bmp");
    tr(&["-of", "BMP"], "palette8.png", "palette8.bmp");
    tr(&["-of", "GTiff"], "rgb.png", "strips.tif");
    tr(
        &[
            "-of",
            "GTiff",
            "-co",
            "TILED=YES",
            "-co",
            "BLOCKXSIZE=16",
            "-co",
            "BLOCKYSIZE=16",
            "-co",
            "COMPRESS=DEFLATE",
        ],
        "rgb.png",
        "tiles.tif",
    );
    tr(
        &[
            "-of",
            "GTiff",
            "-ot",
            "UInt16",
            "-scale",
            "0",
            "255",
            "0",
            "65535",
            "-co",
            "COMPRESS=LZW",
        ],
        "rgb.png",
        "uint16-lzw.tif",
    );
    tr(
        &[
            "-of",
            "GTiff",
            "-ot",
            "Float32",
            "-co",
            "COMPRESS=DEFLATE",
            "-co",
            "PREDICTOR=3",
        ],
        "gray.png",
        "float32.tif",
    );
    tr(
        &["-of", "GTiff", "-ot", "Int32", "-co", "ENDIANNESS=BIG"],
        "gray.png",
        "int32-big-endian.tif",
    );
    tr(
        &[
            "-of",
            "GTiff",
            "-b",
            "1",
            "-b",
            "2",
            "-b",
            "3",
            "-b",
            "1",
            "-b",
            "2",
            "-co",
            "INTERLEAVE=BAND",
        ],
        "rgb.png",
        "five-bands-planar.tif",
    );
    tr(
        &[
            "-of",
            "GTiff",
            "-a_srs",
            "EPSG:3857",
            "-a_ullr",
            "0",
            "100",
            "100",
            "0",
            "-a_nodata",
            "7",
        ],
        "gray.png",
        "georeferenced-nodata.tif",
    );
    tr(
        &["-of", "GTiff", "-co", "COMPRESS=JPEG"],
        "rgb.png",
        "jpeg-in-tiff.tif",
    );
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    names
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with(".aux.xml"))
        .map(|path| Case {
            name: path.file_name().unwrap().to_string_lossy().into_owned(),
            path,
        })
        .collect()
}

#[test]
fn every_source_kind_becomes_a_geotiff_gdal_agrees_with() {
    let tmp = tempfile::tempdir().unwrap();
    let src_dir = tmp.path().join("src");
    std::fs::create_dir(&src_dir).unwrap();
    let cases = sources(&src_dir);
    assert!(cases.len() >= 23, "{}", cases.len());
    let utm = CrsKeys {
        epsg: 32632,
        geographic: false,
        name: "WGS 84 / UTM zone 32N",
    };
    let wgs = CrsKeys {
        epsg: 4326,
        geographic: true,
        name: "WGS 84",
    };
    for (i, case) in cases.iter().enumerate() {
        // Alternate north-up / rotated and projected / geographic.
        let (gt, crs) = match i % 3 {
            0 => ([500000.0, 0.5, 0.0, 4649776.0, 0.0, -0.5], utm),
            1 => ([499999.0, 10.0, 2.0, 4099999.5, 1.0, -10.0], utm),
            _ => ([7.25, 0.0001, 0.0, 46.5, 0.0, -0.0001], wgs),
        };
        let bytes = std::fs::read(&case.path).unwrap();
        let out = tmp.path().join(format!("{}.tif", case.name));
        let tiff = chip_to_geotiff(&bytes, &case.name, &GeoTransform(gt), Some(crs))
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        std::fs::write(&out, tiff).unwrap();
        let (a, b) = (info(&case.path), info(&out));
        let n = &case.name;
        assert_eq!(b["driverShortName"], "GTiff", "{n}");
        assert_eq!(a["size"], b["size"], "{n}");
        let bands = |v: &serde_json::Value, key: &str| -> Vec<serde_json::Value> {
            v["bands"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b[key].clone())
                .collect()
        };
        assert_eq!(
            bands(&a, "checksum"),
            bands(&b, "checksum"),
            "{n}: pixel checksums"
        );
        assert_eq!(bands(&a, "type"), bands(&b, "type"), "{n}: band types");
        let got: Vec<f64> = b["geoTransform"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        for (g, w) in got.iter().zip(gt) {
            assert!(
                (g - w).abs() <= 1e-12 * w.abs().max(1.0),
                "{n}: geotransform {got:?} != {gt:?}"
            );
        }
        assert_eq!(b["stac"]["proj:epsg"], crs.epsg, "{n}: EPSG");
        assert_eq!(b["metadata"][""]["AREA_OR_POINT"], "Area", "{n}");
        if n.contains("nodata") {
            assert_eq!(
                bands(&b, "noDataValue"),
                [serde_json::json!(7.0)],
                "{n}: nodata kept"
            );
        }
    }
}

#[test]
fn unsupported_sources_are_refused_with_the_file_named() {
    let tmp = tempfile::tempdir().unwrap();
    let (png, jpg) = (tmp.path().join("g.png"), tmp.path().join("p.jpg"));
    write_png(
        &png,
        8,
        8,
        png::ColorType::Grayscale,
        png::BitDepth::Eight,
        None,
        &[9u8; 64],
    );
    gdal(
        "gdal_translate",
        &[
            "-q",
            "-of",
            "JPEG",
            "-co",
            "PROGRESSIVE=ON",
            png.to_str().unwrap(),
            jpg.to_str().unwrap(),
        ],
    );
    let gt = GeoTransform([0.0, 1.0, 0.0, 0.0, 0.0, -1.0]);
    let e = chip_to_geotiff(&std::fs::read(&jpg).unwrap(), "p.jpg", &gt, None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "p.jpg: progressive JPEG cannot be embedded in a GeoTIFF as it is"
    );
    let e = chip_to_geotiff(b"II*\0\x08\0\0\0", "t.tif", &gt, None).unwrap_err();
    assert!(e.to_string().starts_with("t.tif: "), "{e}");
    let e = chip_to_geotiff(b"not an image", "x.png", &gt, None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "x.png: not a PNG, JPEG, TIFF, GIF or BMP image"
    );
}

#[test]
fn world_file_round_trip_matches_gdal_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let png = tmp.path().join("a.png");
    write_png(
        &png,
        4,
        3,
        png::ColorType::Grayscale,
        png::BitDepth::Eight,
        None,
        &[1u8; 12],
    );
    let cases = [
        "10\n1\n2\n-10\n500005\n4099995\n",
        "0.3333333333333333\n0\n0\n-0.1\n123456.789012345678\n-0.000001\n",
        "0.5\n0\n0\n-0.5\n500000.25\n4649775.75\n",
        "2.5e-5\n-1.25e-6\n3.75e-6\n-2.5e-5\n-73.98765432109876\n40.7512345678901\n",
        " 30 \r\n 0\r\n0 \r\n -30\r\n 300015\r\n 5100015\r\n",
    ];
    for (i, text) in cases.iter().enumerate() {
        std::fs::write(tmp.path().join("a.pgw"), text).unwrap();
        let out = tmp.path().join(format!("out{i}.png"));
        gdal(
            "gdal_translate",
            &[
                "-q",
                "-of",
                "PNG",
                "-co",
                "WORLDFILE=YES",
                png.to_str().unwrap(),
                out.to_str().unwrap(),
            ],
        );
        let gdal_text = std::fs::read_to_string(tmp.path().join(format!("out{i}.wld"))).unwrap();
        let ours = GeoTransform::parse_world_file(text, "a.pgw")
            .unwrap()
            .to_world_file_text();
        assert_eq!(ours, gdal_text, "case {i}");
        // And the geotransform is GDAL's own.
        let g = info(&png);
        let want: Vec<f64> = g["geoTransform"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let got = GeoTransform::parse_world_file(text, "a.pgw").unwrap().0;
        for (a, b) in got.iter().zip(&want) {
            assert!(
                (a - b).abs() <= 1e-12 * b.abs().max(1.0),
                "case {i}: {got:?} != {want:?}"
            );
        }
    }
}
