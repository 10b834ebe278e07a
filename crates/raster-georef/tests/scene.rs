//! Scenes judged by GDAL: scenes of every layout, compression, sample type
//! and byte order `gdal_translate` makes are cut into overlapping windows
//! (the last row and column shifted to the edge), and each chip must hold
//! the bytes `gdal_translate -srcwin` cuts from the scene (both decoded to
//! raw with `-of ENVI`), with the window's geotransform, the EPSG code and
//! the nodata value `gdalinfo -json` reports.

use std::path::{Path, PathBuf};

use raster_georef::{Crs, Scene};

#[path = "support/sources.rs"]
mod sources;

use sources::gdal;

const W: u32 = 300;
const H: u32 = 217;
const SIZE: u32 = 100;
const STRIDE: u32 = 80;
/// Upper-left corner and pixel size of every scene (EPSG:32632).
const GT: [f64; 6] = [500000.0, 0.5, 0.0, 4649776.0, 0.0, -0.5];

/// ENVI data type and sample size of a GDAL type name.
fn envi_type(ot: &str) -> (u32, usize) {
    match ot {
        "Byte" => (1, 1),
        "Int16" => (2, 2),
        "UInt16" => (12, 2),
        "UInt32" => (13, 4),
        "Float32" => (4, 4),
        "Float64" => (5, 8),
        _ => panic!("{ot}"),
    }
}

/// Sample `(x, y, b)` of the base scene, as little-endian bytes; pixels of
/// the top-left 100 x 100 hold `nodata` when there is one.
fn sample(ot: &str, x: u32, y: u32, b: u32, nodata: Option<f64>) -> Vec<u8> {
    if let Some(nd) = nodata
        && x < 100
        && y < 100
    {
        return match ot {
            "Int16" => (nd as i16).to_le_bytes().to_vec(),
            "Float32" => (nd as f32).to_le_bytes().to_vec(),
            _ => vec![nd as u8; envi_type(ot).1],
        };
    }
    match ot {
        "Byte" => vec![((x + 2 * y + 60 * b) % 256) as u8],
        "Int16" => ((x as i32 * 37 - y as i32 * 53 + b as i32 * 11) as i16)
            .to_le_bytes()
            .to_vec(),
        "UInt16" => ((x * 211 + y * 97 + b * 5000) as u16)
            .to_le_bytes()
            .to_vec(),
        "UInt32" => (x * 100_003 + y * 7 + b * 1_000_000_000)
            .to_le_bytes()
            .to_vec(),
        "Float32" => (x as f32 * 0.5 - y as f32 * 1.25 + b as f32 / 3.0)
            .to_le_bytes()
            .to_vec(),
        "Float64" => (f64::from(x) * 0.5).to_le_bytes().to_vec(),
        _ => panic!("{ot}"),
    }
}

/// Writes the base scene as raw ENVI (no georeferencing) and returns its path.
fn base(dir: &Path, ot: &str, bands: u32, nodata: Option<f64>) -> PathBuf {
    let name = format!("base-{ot}-{bands}-{}", nodata.is_some());
    let bin = dir.join(format!("{name}.bin"));
    let mut data = Vec::new();
    for y in 0..H {
        for x in 0..W {
            for b in 0..bands {
                data.extend(sample(ot, x, y, b, nodata));
            }
        }
    }
    std::fs::write(&bin, data).unwrap();
    let hdr = format!(
        "ENVI\nsamples = {W}\nlines = {H}\nbands = {bands}\nheader offset = 0\n\
         data type = {}\ninterleave = bip\nbyte order = 0\n",
        envi_type(ot).0
    );
    std::fs::write(dir.join(format!("{name}.hdr")), hdr).unwrap();
    bin
}

struct Case {
    name: &'static str,
    ot: &'static str,
    bands: u32,
    nodata: Option<f64>,
    /// `gdal_translate` options, split at spaces.
    options: String,
}

/// Creation options of a tiled GeoTIFF in 64 x 64 tiles.
const TILED64: &str = "TILED=YES BLOCKXSIZE=64 BLOCKYSIZE=64";

fn cases() -> Vec<Case> {
    // Name, type, bands, nodata, creation options (each `-co`; `COG` makes
    // a Cloud Optimized GeoTIFF with overviews).
    let table: [(&str, &str, u32, Option<f64>, String); 15] = [
        (
            "rgba-deflate",
            "Byte",
            4,
            None,
            "PHOTOMETRIC=RGB ALPHA=YES COMPRESS=DEFLATE".into(),
        ),
        ("strips-none", "Byte", 3, None, String::new()),
        (
            "strips-rows7-deflate-pred2",
            "Byte",
            3,
            None,
            "BLOCKYSIZE=7 COMPRESS=DEFLATE PREDICTOR=2".into(),
        ),
        (
            "tiled-deflate",
            "Byte",
            3,
            Some(0.0),
            format!("{TILED64} COMPRESS=DEFLATE"),
        ),
        (
            "tiled-lzw-u16-bigtiff",
            "UInt16",
            2,
            None,
            "TILED=YES BLOCKXSIZE=32 BLOCKYSIZE=48 COMPRESS=LZW PREDICTOR=2 BIGTIFF=YES".into(),
        ),
        (
            "strips-packbits-i16-bigendian",
            "Int16",
            1,
            Some(-9999.0),
            "COMPRESS=PACKBITS ENDIANNESS=BIG BLOCKYSIZE=16".into(),
        ),
        (
            "tiled-zstd-u32",
            "UInt32",
            4,
            None,
            format!("{TILED64} COMPRESS=ZSTD"),
        ),
        (
            "tiled-deflate-pred3-f32",
            "Float32",
            1,
            Some(-3.5),
            "TILED=YES COMPRESS=DEFLATE PREDICTOR=3".into(),
        ),
        (
            "strips-none-f32-bigendian-bigtiff",
            "Float32",
            2,
            None,
            "ENDIANNESS=BIG BIGTIFF=YES".into(),
        ),
        (
            "planar-lzw",
            "Byte",
            3,
            None,
            "INTERLEAVE=BAND COMPRESS=LZW".into(),
        ),
        (
            "planar-tiled-zstd-u16",
            "UInt16",
            2,
            None,
            format!("INTERLEAVE=BAND {TILED64} COMPRESS=ZSTD"),
        ),
        (
            "tiled-jpeg",
            "Byte",
            3,
            None,
            format!("{TILED64} COMPRESS=JPEG"),
        ),
        (
            "strips-jpeg-ycbcr",
            "Byte",
            3,
            None,
            "COMPRESS=JPEG PHOTOMETRIC=YCBCR BLOCKYSIZE=16".into(),
        ),
        ("jpeg-gray", "Byte", 1, None, "COMPRESS=JPEG".into()),
        (
            "cog",
            "Byte",
            3,
            Some(0.0),
            "COG BLOCKSIZE=64 COMPRESS=DEFLATE OVERVIEWS=AUTO".into(),
        ),
    ];
    table
        .into_iter()
        .map(|(name, ot, bands, nodata, co)| {
            let options = co
                .split_whitespace()
                .map(|o| {
                    if o == "COG" {
                        "-of COG".to_owned()
                    } else {
                        format!("-co {o}")
                    }
                })
                .collect::<Vec<_>>()
                .join(" ");
            Case {
                name,
                ot,
                bands,
                nodata,
                options,
            }
        })
        .collect()
}

fn info(path: &Path) -> serde_json::Value {
    serde_json::from_str(&gdal("gdalinfo", &["-json", path.to_str().unwrap()])).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The raw samples GDAL decodes from `path` (`-of ENVI`, band sequential
/// whatever the source's interleaving).
fn raw(path: &Path, srcwin: Option<(u32, u32)>, out: &Path) -> Vec<u8> {
    let mut args: Vec<String> = vec![
        "-q".into(),
        "-of".into(),
        "ENVI".into(),
        "-co".into(),
        "INTERLEAVE=BSQ".into(),
    ];
    if let Some((c, r)) = srcwin {
        args.extend(
            [
                "-srcwin",
                &c.to_string(),
                &r.to_string(),
                &SIZE.to_string(),
                &SIZE.to_string(),
            ]
            .map(String::from),
        );
    }
    args.extend([s(path).to_owned(), s(out).to_owned()]);
    gdal(
        "gdal_translate",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    std::fs::read(out).unwrap()
}

/// Cuts `scene` into windows and checks every chip against GDAL.
fn check_scene(scene_path: &Path, mut scene: Scene, epsg: u32, nodata: Option<f64>, tmp: &Path) {
    let n = scene_path.file_name().unwrap().to_str().unwrap().to_owned();
    let windows = scene.windows(SIZE, STRIDE).unwrap();
    assert_eq!(windows.len(), 12, "{n}");
    assert_eq!(windows[3], (W - SIZE, 0), "{n}: last column shifted");
    assert_eq!(windows[8], (0, H - SIZE), "{n}: last row shifted");
    let mut all_nodata = Vec::new();
    let interp = |v: &serde_json::Value| -> Vec<serde_json::Value> {
        let bands = v["bands"].as_array().unwrap();
        bands
            .iter()
            .map(|b| b["colorInterpretation"].clone())
            .collect()
    };
    let scene_interp = interp(&info(scene_path));
    for (col, row) in windows {
        let win = scene.read_window(col, row, SIZE).unwrap();
        if win.is_all_nodata() {
            all_nodata.push((col, row));
        }
        let chip = tmp.join(format!("{n}-{col}-{row}.tif"));
        std::fs::write(&chip, win.to_geotiff(&scene).unwrap()).unwrap();
        let want = raw(scene_path, Some((col, row)), &tmp.join("want.bin"));
        let got = raw(&chip, None, &tmp.join("got.bin"));
        if n.contains("jpeg") {
            // JPEG decoders may differ by a little in some samples (the
            // standard allows IDCT rounding to differ; libjpeg's "fancy"
            // chroma upsampling is not zune-jpeg's): zune-jpeg against libjpeg.
            // Chroma upsampling makes YCbCr differ most at this scene's
            // sharp edges; the mean difference stays small.
            let (most_allowed, mean_allowed) = if n.contains("ycbcr") {
                (16, 0.5)
            } else {
                (1, 0.01)
            };
            assert_eq!(want.len(), got.len(), "{n}");
            let sum: u64 = want
                .iter()
                .zip(&got)
                .map(|(a, b)| u64::from(a.abs_diff(*b)))
                .sum();
            let mean = sum as f64 / want.len() as f64;
            let most = want.iter().zip(&got).map(|(a, b)| a.abs_diff(*b)).max();
            assert!(
                most <= Some(most_allowed) && mean <= mean_allowed,
                "{n}: window ({col}, {row}): samples differ by up to {most:?}, {mean} on average"
            );
        } else {
            assert!(want == got, "{n}: window ({col}, {row}): other pixels");
        }
        let (ci, wi) = (info(&chip), info(&tmp.join("want.bin")));
        assert_eq!(ci["geoTransform"], wi["geoTransform"], "{n}: geotransform");
        let expected = [
            GT[0] + f64::from(col) * GT[1],
            GT[1],
            0.0,
            GT[3] + f64::from(row) * GT[5],
            0.0,
            GT[5],
        ];
        assert_eq!(ci["geoTransform"], serde_json::json!(expected), "{n}");
        assert_eq!(ci["stac"]["proj:epsg"], epsg, "{n}: EPSG");
        if n.starts_with("rgba") {
            // GDAL keeps its own colour interpretation in GDAL_METADATA,
            // which chips do not copy: only RGB and alpha are held.
            assert_eq!(interp(&ci), scene_interp, "{n}: colour interpretation");
        }
        for band in ci["bands"].as_array().unwrap() {
            assert_eq!(band["noDataValue"].as_f64(), nodata, "{n}: nodata");
            assert_eq!(band["type"], wi["bands"][0]["type"], "{n}: type");
        }
    }
    let expected: Vec<(u32, u32)> = if nodata.is_some() {
        vec![(0, 0)]
    } else {
        Vec::new()
    };
    assert_eq!(all_nodata, expected, "{n}: all-nodata windows");
}

/// Makes a GeoTIFF of `src` in EPSG:32632 on the grid of `GT` with
/// `gdal_translate` and `options` (split at spaces).
fn translate(src: &Path, dst: &Path, nodata: Option<f64>, options: &str) {
    let ullr = [
        GT[0],
        GT[3],
        GT[0] + f64::from(W) * GT[1],
        GT[3] + f64::from(H) * GT[5],
    ]
    .map(|v| v.to_string());
    let mut args = vec!["-q", "-a_srs", "EPSG:32632", "-a_ullr"];
    args.extend(ullr.iter().map(String::as_str));
    let nd = nodata.map(|v| v.to_string());
    if let Some(nd) = &nd {
        args.extend(["-a_nodata", nd]);
    }
    args.extend(options.split_whitespace());
    args.extend([s(src), s(dst)]);
    gdal("gdal_translate", &args);
}

#[test]
fn every_scene_kind_gives_the_chips_gdal_cuts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for case in cases() {
        let src = base(dir, case.ot, case.bands, case.nodata);
        let path = dir.join(format!("{}.tif", case.name));
        translate(&src, &path, case.nodata, &case.options);
        let scene = Scene::open(&path).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(scene.epsg(), Some(32632));
        assert_eq!(scene.bands(), case.bands as usize);
        check_scene(&path, scene, 32632, case.nodata, dir);
    }
}

#[test]
fn a_world_file_scene_takes_the_crs_it_is_given() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let src = base(dir, "UInt16", 1, None);
    let path = dir.join("world.tif");
    translate(&src, &path, None, "-co PROFILE=BASELINE -co TFW=YES");
    assert!(dir.join("world.tfw").exists());
    let mut scene = Scene::open(&path).unwrap();
    assert_eq!(scene.epsg(), None);
    let e = scene
        .read_window(0, 0, SIZE)
        .unwrap()
        .to_geotiff(&scene)
        .unwrap_err();
    assert!(e.to_string().contains("has no CRS"), "{e}");
    scene.set_crs(Crs::from_epsg(32632).unwrap());
    check_scene(&path, scene, 32632, None, dir);
}

#[test]
fn scenes_without_georeferencing_or_of_other_types_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let plain = dir.join("plain.tif");
    gdal(
        "gdal_translate",
        &["-q", s(&base(dir, "Byte", 1, None)), s(&plain)],
    );
    let e = Scene::open(&plain).unwrap_err().to_string();
    assert!(
        e.contains("plain.tif") && e.contains("no georeferencing"),
        "{e}"
    );
    let f64s = dir.join("f64.tif");
    translate(&base(dir, "Float64", 1, None), &f64s, None, "");
    let e = Scene::open(&f64s).unwrap_err().to_string();
    assert!(
        e.contains("f64.tif") && e.contains("64-bit float are not supported"),
        "{e}"
    );
}
