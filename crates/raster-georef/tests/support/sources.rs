//! Source images of every kind a chip can be (PNG of each colour type and
//! depth, palettes of 1 to 8 bits, JPEG, GIF, BMP, TIFF strips/tiles,
//! LZW/Deflate/JPEG compression, 16-bit, float, big-endian, planar, nodata),
//! made with the `png` crate and GDAL's `gdal_translate`. Shared by the
//! GeoTIFF tests of raster-georef and the PostGIS tests of sink-db
//! (`#[path]`-included: test code only).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs a GDAL tool, returning its standard output.
pub fn gdal(tool: &str, args: &[&str]) -> String {
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

pub fn write_png(
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

pub struct Case {
    pub name: String,
    pub path: PathBuf,
}

/// Every source variant, written into `dir`.
pub fn sources(dir: &Path) -> Vec<Case> {
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
