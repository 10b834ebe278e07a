//! GeoTIFF chips judged by GDAL: every kind of source image is converted
//! and `gdalinfo -json -checksum` must report the source's pixel checksums,
//! band count and type, the geotransform, the EPSG code and
//! AREA_OR_POINT=Area. Source variants are made with `gdal_translate` and
//! the `png` crate.

use std::path::Path;

use raster_georef::{
    CrsKeys, GeoTransform, chip_file_to_geotiff, chip_to_geotiff, conversion_memory,
};

#[path = "support/sources.rs"]
mod sources;

use sources::{gdal, sources, write_png};

fn info(path: &Path) -> serde_json::Value {
    serde_json::from_str(&gdal(
        "gdalinfo",
        &["-json", "-checksum", path.to_str().unwrap()],
    ))
    .unwrap()
}

#[test]
fn every_source_kind_becomes_a_geotiff_gdal_agrees_with() {
    let tmp = tempfile::tempdir().unwrap();
    let src_dir = tmp.path().join("src");
    std::fs::create_dir(&src_dir).unwrap();
    let cases = sources(&src_dir);
    assert!(cases.len() >= 30, "{}", cases.len());
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
        // Read from the file (row by row for PNG, GIF, BMP): the same bytes.
        let from_file = chip_file_to_geotiff(&case.path, &GeoTransform(gt), Some(crs))
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert!(
            from_file == tiff,
            "{}: from the file, other bytes",
            case.name
        );
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
        // Decoded chips (PNG, GIF, BMP) of 8-bit colour or grey samples
        // are written with horizontal differencing, GDAL's PREDICTOR=2;
        // palette indices and packed bits without.
        if [".png", ".gif", ".bmp"].iter().any(|e| n.ends_with(e)) {
            let byte_samples = bands(&b, "type").iter().all(|t| t == "Byte")
                && bands(&b, "colorInterpretation")
                    .iter()
                    .all(|c| c != "Palette")
                && b["bands"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|band| band["metadata"]["IMAGE_STRUCTURE"]["NBITS"].is_null());
            let predictor = &b["metadata"]["IMAGE_STRUCTURE"]["PREDICTOR"];
            if byte_samples {
                assert_eq!(predictor, "2", "{n}: predictor");
            } else {
                assert!(predictor.is_null(), "{n}: predictor {predictor}");
            }
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
        // Decimal commas, as in GDAL's own test data.
        "0,01\n0\n0\n-0,01\n4287500,50\n5000000,25\n",
        "\t2,5 \n 0,0\n0\n -2,5\n 500005,125\t\n4099995,875\n\n",
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

/// Rows decoded one strip at a time give the strips a whole-image decode
/// gave: each strip of 256 KiB of rows, differenced (TIFF Predictor 2:
/// each sample less the one a pixel to its left), Deflate level 1, in order.
#[test]
fn strips_are_those_of_a_whole_image_decode() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = sources(tmp.path());
    let path = &cases
        .iter()
        .find(|c| c.name == "tall-rgb.png")
        .unwrap()
        .path;
    let mut dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()))
        .read_info()
        .unwrap();
    let mut whole = vec![0; dec.output_buffer_size().unwrap()];
    dec.next_frame(&mut whole).unwrap();
    let line = 300 * 3;
    let strips: Vec<Vec<u8>> = whole
        .chunks(256 * 1024 / line * line)
        .map(|s| {
            use std::io::Write as _;
            let mut s = s.to_vec();
            for row in s.chunks_mut(line) {
                for x in (1..300).rev() {
                    for c in 0..3 {
                        row[x * 3 + c] = row[x * 3 + c].wrapping_sub(row[(x - 1) * 3 + c]);
                    }
                }
            }
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(1));
            z.write_all(&s).unwrap();
            z.finish().unwrap()
        })
        .collect();
    assert_eq!(strips.len(), 4);
    let gt = GeoTransform([0.0, 1.0, 0.0, 0.0, 0.0, -1.0]);
    let tiff = chip_file_to_geotiff(path, &gt, None).unwrap();
    let mut at = 0;
    for (i, s) in strips.iter().enumerate() {
        let found = tiff[at..]
            .windows(s.len())
            .position(|w| w == &s[..])
            .unwrap_or_else(|| panic!("strip {i} not found in order"));
        at += found + s.len();
    }
}

/// The memory a conversion needs: small for rows decoded in order, the
/// whole decoded image for interlaced ones.
#[test]
fn conversion_memory_counts_the_whole_image_only_when_interlaced() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = sources(tmp.path());
    let memory = |name: &str| {
        let case = cases.iter().find(|c| c.name == name).unwrap();
        conversion_memory(&case.path).unwrap()
    };
    let decoded_rgb = 300 * 1000 * 3;
    let mib = 1 << 20;
    // Decoder state, two strips and the output, guessed from the file.
    assert!(memory("tall-rgb.png") < 2 * mib + 3 * 256 * 1024 + 2 * 900_000);
    assert!(memory("tall-adam7.png") >= decoded_rgb);
    assert!(memory("tall.gif") < memory("tall-interlaced.gif"));
    assert!(memory("tall-interlaced.gif") >= 300 * 1000);
    // A TIFF or JPEG is read whole and copied: twice the file.
    let tif = cases.iter().find(|c| c.name == "strips.tif").unwrap();
    let len = std::fs::metadata(&tif.path).unwrap().len();
    assert!(memory("strips.tif") >= 2 * len);
}
