//! Source images of every kind a chip can be (PNG of each colour type and
//! depth, palettes of 1 to 8 bits, JPEG, GIF, BMP, TIFF strips/tiles,
//! LZW/Deflate/JPEG compression, 16-bit, float, big-endian, planar, nodata),
//! made with the `png` crate and GDAL's `gdal_translate`. Shared by the
//! GeoTIFF tests of raster-georef, the PostGIS tests of sink-db and the
//! vector label tests of vector-labels (its `gdal` runner)
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
    // Tall images: several strips, rows of bottom-up BMPs read a strip at a
    // time, and rows stored out of order (interlaced GIF and PNG).
    let (tw, th) = (300u32, 1000u32);
    let tall_rgb: Vec<u8> = (0..tw * th)
        .flat_map(|i| [(i * 7) as u8, (i / 301) as u8, (i ^ 0x5a) as u8])
        .collect();
    write_png(
        &p("tall-rgb.png"),
        tw,
        th,
        png::ColorType::Rgb,
        png::BitDepth::Eight,
        None,
        &tall_rgb,
    );
    let tall_index: Vec<u8> = (0..tw * th).map(|i| ((i % tw) ^ (i / tw)) as u8).collect();
    write_png(
        &p("tall-palette.png"),
        tw,
        th,
        png::ColorType::Indexed,
        png::BitDepth::Eight,
        Some((0..=255u8).flat_map(|i| [i, 255 - i, i / 2]).collect()),
        &tall_index,
    );
    write_interlaced_rgb_png(&p("tall-adam7.png"), tw, th, &tall_rgb);
    tr(&["-of", "BMP"], "tall-rgb.png", "tall-rgb24.bmp");
    tr(&["-of", "BMP"], "tall-palette.png", "tall-palette8.bmp");
    tr(
        &["-of", "GIF", "-co", "INTERLACING=ON"],
        "tall-palette.png",
        "tall-interlaced.gif",
    );
    tr(&["-of", "GIF"], "tall-palette.png", "tall.gif");
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

/// An 8-bit RGB PNG interlaced with Adam7 (the `png` crate writes none).
pub fn write_interlaced_rgb_png(path: &Path, w: u32, h: u32, rgb: &[u8]) {
    const PASSES: [(u32, u32, u32, u32); 7] = [
        (0, 0, 8, 8),
        (4, 0, 8, 8),
        (0, 4, 4, 8),
        (2, 0, 4, 4),
        (0, 2, 2, 4),
        (1, 0, 2, 2),
        (0, 1, 1, 2),
    ];
    let mut raw = Vec::new();
    for (x0, y0, dx, dy) in PASSES {
        if x0 >= w || y0 >= h {
            continue;
        }
        for y in (y0..h).step_by(dy as usize) {
            raw.push(0);
            for x in (x0..w).step_by(dx as usize) {
                let i = 3 * (y * w + x) as usize;
                raw.extend_from_slice(&rgb[i..i + 3]);
            }
        }
    }
    let chunk = |out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]| {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 1]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    // A zlib stream of stored (uncompressed) deflate blocks.
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65535).collect();
    for (i, b) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        z.extend_from_slice(&(b.len() as u16).to_le_bytes());
        z.extend_from_slice(&(!(b.len() as u16)).to_le_bytes());
        z.extend_from_slice(b);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &x in &raw {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    z.extend_from_slice(&((b << 16) | a).to_be_bytes());
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    std::fs::write(path, out).unwrap();
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 == 1 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}
