//! Turning a chip image into a GeoTIFF with its georeferencing embedded,
//! pixel values unchanged (SPEC §4).
//!
//! - TIFF: the directory is rewritten around the original strips or tiles,
//!   which are copied as they are (no decoding, no re-encoding); the old
//!   geo tags are replaced, every other tag kept except pointers into the
//!   old file (EXIF, GPS and sub-IFDs). Only the first image is kept.
//! - JPEG (baseline, 8-bit, gray or YCbCr/RGB): the JPEG stream is wrapped
//!   as-is as the single strip of a JPEG-compressed TIFF (compression 7), so
//!   any reader decodes exactly the samples it decodes from the JPEG.
//!   Progressive, arithmetic-coded, 12-bit and CMYK JPEGs are refused.
//! - PNG (1 to 16 bits; gray, gray+alpha, RGB, RGBA, palette), GIF (first
//!   image, palette) and BMP (1, 4, 8-bit palette; 24 and 32-bit): decoded
//!   and written Deflate-compressed with the same samples, palettes as a
//!   TIFF colour map, alpha as an unassociated extra sample.

use std::io::Cursor;

use crate::geotiff::{CrsKeys, set_geo_tags};
use crate::tiffio::{TiffBuilder, Value, parse, tag};
use crate::{Error, GeoTransform, Result};

/// Strips of decoded images hold about this many bytes before compression.
const STRIP_BYTES: usize = 256 * 1024;
/// Deflate level for decoded images: fast, still much smaller than raw.
const DEFLATE_LEVEL: u8 = 1;

/// The image formats a chip may be in, told by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Png,
    Jpeg,
    Tiff,
    Gif,
    Bmp,
}

pub(crate) fn sniff(b: &[u8]) -> Option<Kind> {
    Some(match b {
        [0x89, b'P', b'N', b'G', ..] => Kind::Png,
        [0xFF, 0xD8, 0xFF, ..] => Kind::Jpeg,
        [b'I', b'I', 42 | 43, 0, ..] | [b'M', b'M', 0, 42 | 43, ..] => Kind::Tiff,
        [b'G', b'I', b'F', b'8', ..] => Kind::Gif,
        [b'B', b'M', ..] => Kind::Bmp,
        _ => return None,
    })
}

/// Converts the chip image `bytes` (PNG, JPEG, TIFF, GIF or BMP) to a
/// GeoTIFF georeferenced by `gt` in the CRS `crs`; `file` names the source
/// in errors.
pub fn chip_to_geotiff(
    bytes: &[u8],
    file: &str,
    gt: &GeoTransform,
    crs: Option<CrsKeys<'_>>,
) -> Result<Vec<u8>> {
    let err = |message: String| Error::GeoTiff {
        file: file.to_owned(),
        message,
    };
    let kind = sniff(bytes);
    if matches!(kind, Some(Kind::Tiff | Kind::Jpeg)) {
        // Copied into the GeoTIFF undecoded: its structure must hold.
        crate::check::check_structure(Cursor::new(bytes), file, crate::Depth::Headers)?;
    }
    let mut b = match kind {
        Some(Kind::Tiff) => from_tiff(bytes),
        Some(Kind::Jpeg) => from_jpeg(bytes),
        Some(Kind::Png) => decode_png(bytes).map(Raster::into_tiff),
        Some(Kind::Gif) => decode_gif(bytes).map(Raster::into_tiff),
        Some(Kind::Bmp) => decode_bmp(bytes).map(Raster::into_tiff),
        None => Err("not a PNG, JPEG, TIFF, GIF or BMP image".to_owned()),
    }
    .map_err(err)?;
    set_geo_tags(&mut b, gt, crs).map_err(err)?;
    b.finish().map_err(err)
}

fn from_tiff(bytes: &[u8]) -> std::result::Result<TiffBuilder<'_>, String> {
    let ifd = parse(bytes)?;
    if ifd.uint(tag::COMPRESSION) == Some(6) {
        return Err("old-style JPEG compression (6) is not supported".into());
    }
    let tiled = ifd.get(tag::TILE_OFFSETS).is_some();
    let (offsets_tag, counts_tag) = if tiled {
        (tag::TILE_OFFSETS, tag::TILE_BYTE_COUNTS)
    } else {
        (tag::STRIP_OFFSETS, tag::STRIP_BYTE_COUNTS)
    };
    let list = |t: u16, name: &str| {
        ifd.get(t)
            .and_then(|v| v.as_u64s())
            .ok_or_else(|| format!("the TIFF has no {name}"))
    };
    let offsets = list(
        offsets_tag,
        if tiled { "TileOffsets" } else { "StripOffsets" },
    )?;
    let counts = list(
        counts_tag,
        if tiled {
            "TileByteCounts"
        } else {
            "StripByteCounts"
        },
    )?;
    if offsets.len() != counts.len() {
        return Err("the TIFF's chunk offsets and byte counts differ in number".into());
    }
    let mut b = TiffBuilder::new(tiled);
    b.big_endian(!ifd.little_endian);
    for (&t, v) in &ifd.entries {
        let pointer = matches!(
            t,
            tag::SUB_IFDS | tag::EXIF_IFD | tag::GPS_IFD | tag::INTEROP_IFD
        );
        if !pointer && t != offsets_tag && t != counts_tag {
            b.set(t, v.clone());
        }
    }
    for (&at, &n) in offsets.iter().zip(&counts) {
        let chunk = usize::try_from(at)
            .ok()
            .zip(usize::try_from(n).ok())
            .and_then(|(at, n)| bytes.get(at..at.checked_add(n)?))
            .ok_or_else(|| format!("truncated: a chunk of {n} bytes at {at} lies past the end"))?;
        b.push_chunk(chunk);
    }
    Ok(b)
}

fn from_jpeg(bytes: &[u8]) -> std::result::Result<TiffBuilder<'_>, String> {
    let mut at = 2;
    let mut adobe_transform = None;
    loop {
        let marker = bytes
            .get(at..at + 4)
            .ok_or("truncated JPEG: no frame header")?;
        if marker[0] != 0xFF {
            return Err("corrupt JPEG: expected a marker".into());
        }
        let len = usize::from(u16::from_be_bytes([marker[2], marker[3]]));
        let seg = bytes
            .get(at + 4..at + 2 + len)
            .ok_or("truncated JPEG segment")?;
        match marker[1] {
            0xEE if seg.starts_with(b"Adobe") && seg.len() >= 12 => {
                adobe_transform = Some(seg[11]);
            }
            0xC0 | 0xC1 => {
                let precision = seg.first().copied().unwrap_or(0);
                let height = u16::from_be_bytes([seg[1], seg[2]]);
                let width = u16::from_be_bytes([seg[3], seg[4]]);
                let nc = seg.get(5).copied().unwrap_or(0);
                if precision != 8 {
                    return Err(format!(
                        "{precision}-bit JPEG cannot be embedded in a GeoTIFF"
                    ));
                }
                if height == 0 {
                    return Err("JPEG without a height in its frame header".into());
                }
                let sampling = |i: usize| seg.get(7 + 3 * i).copied().unwrap_or(0x11);
                let mut b = TiffBuilder::new(false);
                let photometric = match (nc, adobe_transform) {
                    (1, _) => 1,
                    (3, Some(0)) => 2,
                    (3, _) => 6,
                    _ => {
                        return Err(format!(
                            "a JPEG of {nc} components (CMYK?) is not supported"
                        ));
                    }
                };
                if photometric == 6 {
                    let (h, v) = (sampling(0) >> 4, sampling(0) & 15);
                    if sampling(1) != 0x11
                        || sampling(2) != 0x11
                        || !(1..=4).contains(&h)
                        || !(1..=4).contains(&v)
                    {
                        return Err("JPEG chroma sampling that TIFF cannot describe".into());
                    }
                    b.set(
                        tag::YCBCR_SUBSAMPLING,
                        Value::Short(vec![h.into(), v.into()]),
                    );
                }
                b.set(tag::IMAGE_WIDTH, Value::Long(vec![width.into()]));
                b.set(tag::IMAGE_LENGTH, Value::Long(vec![height.into()]));
                b.set(tag::BITS_PER_SAMPLE, Value::Short(vec![8; usize::from(nc)]));
                b.set(tag::COMPRESSION, Value::Short(vec![7]));
                b.set(tag::PHOTOMETRIC, Value::Short(vec![photometric]));
                b.set(tag::SAMPLES_PER_PIXEL, Value::Short(vec![nc.into()]));
                b.set(tag::ROWS_PER_STRIP, Value::Long(vec![height.into()]));
                b.set(tag::PLANAR_CONFIG, Value::Short(vec![1]));
                b.push_chunk(bytes);
                return Ok(b);
            }
            0xC2 | 0xC6 | 0xCA | 0xCE => {
                return Err("progressive JPEG cannot be embedded in a GeoTIFF as it is".into());
            }
            0xC3 | 0xC5 | 0xC7 | 0xC9 | 0xCB | 0xCD | 0xCF => {
                return Err(
                    "lossless, hierarchical or arithmetic-coded JPEG is not supported".into(),
                );
            }
            0xD9 | 0xDA => return Err("corrupt JPEG: no frame header before the image data".into()),
            _ => {}
        }
        at += 2 + len;
    }
}

/// Decoded, packed rows of an image, with what describes them.
struct Raster {
    width: u32,
    height: u32,
    bits: u8,
    samples: u16,
    photometric: u16,
    alpha: bool,
    /// 8 or 16-bit RGB entries of a palette, for photometric 3.
    palette: Option<Vec<[u8; 3]>>,
    nodata: Option<String>,
    /// Packed rows, top first, each `line` bytes, samples little-endian.
    data: Vec<u8>,
    line: usize,
}

impl Raster {
    fn into_tiff(self) -> TiffBuilder<'static> {
        let mut b = TiffBuilder::new(false);
        let rows = (STRIP_BYTES / self.line.max(1)).max(1);
        b.set(tag::IMAGE_WIDTH, Value::Long(vec![self.width]));
        b.set(tag::IMAGE_LENGTH, Value::Long(vec![self.height]));
        b.set(
            tag::BITS_PER_SAMPLE,
            Value::Short(vec![self.bits.into(); usize::from(self.samples)]),
        );
        b.set(tag::COMPRESSION, Value::Short(vec![8]));
        b.set(tag::PHOTOMETRIC, Value::Short(vec![self.photometric]));
        b.set(tag::SAMPLES_PER_PIXEL, Value::Short(vec![self.samples]));
        b.set(
            tag::ROWS_PER_STRIP,
            Value::Long(vec![u32::try_from(rows).unwrap_or(u32::MAX)]),
        );
        b.set(tag::PLANAR_CONFIG, Value::Short(vec![1]));
        b.set(
            tag::SAMPLE_FORMAT,
            Value::Short(vec![1; usize::from(self.samples)]),
        );
        if self.alpha {
            b.set(tag::EXTRA_SAMPLES, Value::Short(vec![2]));
        }
        if let Some(p) = &self.palette {
            let n = 1usize << self.bits;
            let mut map = vec![0u16; 3 * n];
            for (i, rgb) in p.iter().take(n).enumerate() {
                for (c, &v) in rgb.iter().enumerate() {
                    map[c * n + i] = u16::from(v) * 257;
                }
            }
            b.set(tag::COLOR_MAP, Value::Short(map));
        }
        if let Some(nodata) = &self.nodata {
            b.set(tag::GDAL_NODATA, Value::Ascii(nodata.clone().into_bytes()));
        }
        for strip in self.data.chunks(rows * self.line) {
            b.push_chunk(miniz_oxide::deflate::compress_to_vec_zlib(
                strip,
                DEFLATE_LEVEL,
            ));
        }
        b
    }
}

fn decode_png(bytes: &[u8]) -> std::result::Result<Raster, String> {
    use png::ColorType as C;
    let fail = |e: png::DecodingError| format!("corrupt PNG: {e}");
    let mut dec = png::Decoder::new(Cursor::new(bytes));
    dec.set_transformations(png::Transformations::IDENTITY);
    let mut reader = dec.read_info().map_err(fail)?;
    let (width, height, color, depth) = {
        let i = reader.info();
        (i.width, i.height, i.color_type, i.bit_depth as u8)
    };
    let palette = reader.info().palette.as_ref().map(|p| {
        p.chunks_exact(3)
            .map(|c| [c[0], c[1], c[2]])
            .collect::<Vec<_>>()
    });
    let nodata = match (color, reader.info().trns.as_deref()) {
        (C::Grayscale, Some([hi, lo])) => Some(u16::from_be_bytes([*hi, *lo]).to_string()),
        _ => None,
    };
    let size = reader
        .output_buffer_size()
        .ok_or("the PNG is too large to decode")?;
    let mut data = vec![0u8; size];
    let out = reader.next_frame(&mut data).map_err(fail)?;
    data.truncate(out.line_size * height as usize);
    if depth == 16 {
        for s in data.chunks_exact_mut(2) {
            s.swap(0, 1);
        }
    }
    let (samples, photometric, alpha) = match color {
        C::Grayscale => (1, 1, false),
        C::GrayscaleAlpha => (2, 1, true),
        C::Rgb => (3, 2, false),
        C::Rgba => (4, 2, true),
        C::Indexed => (1, 3, false),
    };
    Ok(Raster {
        width,
        height,
        bits: depth,
        samples,
        photometric,
        alpha,
        palette: (color == C::Indexed).then(|| palette.unwrap_or_default()),
        nodata,
        data,
        line: out.line_size,
    })
}

fn decode_gif(bytes: &[u8]) -> std::result::Result<Raster, String> {
    let fail = |e: gif::DecodingError| format!("corrupt GIF: {e}");
    let mut opts = gif::DecodeOptions::new();
    opts.set_color_output(gif::ColorOutput::Indexed);
    let mut dec = opts.read_info(Cursor::new(bytes)).map_err(fail)?;
    let (w, h) = (usize::from(dec.width()), usize::from(dec.height()));
    let global = dec.global_palette().map(<[u8]>::to_vec);
    let bg = dec
        .bg_color()
        .and_then(|c| u8::try_from(c).ok())
        .unwrap_or(0);
    let frame = dec
        .read_next_frame()
        .map_err(fail)?
        .ok_or("the GIF holds no image")?;
    let mut data = vec![bg; w * h];
    let (fl, ft, fw) = (
        usize::from(frame.left),
        usize::from(frame.top),
        usize::from(frame.width),
    );
    for (r, row) in frame.buffer.chunks(fw.max(1)).enumerate() {
        let y = ft + r;
        if y >= h {
            break;
        }
        let n = row.len().min(w.saturating_sub(fl));
        data[y * w + fl..][..n].copy_from_slice(&row[..n]);
    }
    let palette = frame
        .palette
        .clone()
        .or(global)
        .unwrap_or_default()
        .chunks_exact(3)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    Ok(Raster {
        width: u32::try_from(w).map_err(|_| "GIF too wide")?,
        height: u32::try_from(h).map_err(|_| "GIF too high")?,
        bits: 8,
        samples: 1,
        photometric: 3,
        alpha: false,
        palette: Some(palette),
        nodata: None,
        data,
        line: w,
    })
}

fn decode_bmp(b: &[u8]) -> std::result::Result<Raster, String> {
    let u16_at = |i: usize| b.get(i..i + 2).map(|s| u16::from_le_bytes([s[0], s[1]]));
    let u32_at = |i: usize| {
        b.get(i..i + 4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    };
    let short = || "truncated BMP header".to_owned();
    let data_at = u32_at(10).ok_or_else(short)? as usize;
    let header = u32_at(14).ok_or_else(short)? as usize;
    if header < 40 {
        return Err("OS/2 BMP headers are not supported".into());
    }
    let width = u32_at(18).ok_or_else(short)? as i32;
    let raw_height = u32_at(22).ok_or_else(short)? as i32;
    let bits = u16_at(28).ok_or_else(short)?;
    let compression = u32_at(30).ok_or_else(short)?;
    let colours = u32_at(46).ok_or_else(short)? as usize;
    if compression != 0 && !(compression == 3 && bits == 32) {
        return Err(format!("BMP compression {compression} is not supported"));
    }
    if width <= 0 || raw_height == 0 {
        return Err("BMP with an empty size".into());
    }
    let (w, h) = (width as usize, raw_height.unsigned_abs() as usize);
    let top_down = raw_height < 0;
    let stride = (w * usize::from(bits)).div_ceil(32) * 4;
    let pixels = b
        .get(
            data_at
                ..data_at
                    .checked_add(stride.checked_mul(h).ok_or_else(short)?)
                    .ok_or_else(short)?,
        )
        .ok_or("truncated BMP pixel data")?;
    let row = |y: usize| {
        let src = if top_down { y } else { h - 1 - y };
        &pixels[src * stride..][..stride]
    };
    let (samples, photometric, line, palette) = match bits {
        1 | 4 | 8 => {
            let n = if colours == 0 {
                1 << bits
            } else {
                colours.min(1 << bits)
            };
            let table = b
                .get(14 + header..14 + header + 4 * n)
                .ok_or("truncated BMP palette")?;
            let palette = table.chunks_exact(4).map(|c| [c[2], c[1], c[0]]).collect();
            (1, 3, (w * usize::from(bits)).div_ceil(8), Some(palette))
        }
        24 | 32 => (3, 2, w * 3, None),
        other => return Err(format!("{other}-bit BMP is not supported")),
    };
    let mut data = Vec::with_capacity(line * h);
    for y in 0..h {
        let r = row(y);
        match bits {
            24 | 32 => {
                let step = usize::from(bits / 8);
                for px in r[..w * step].chunks_exact(step) {
                    data.extend_from_slice(&[px[2], px[1], px[0]]);
                }
            }
            _ => data.extend_from_slice(&r[..line]),
        }
    }
    Ok(Raster {
        width: u32::try_from(w).map_err(|_| "BMP too wide")?,
        height: u32::try_from(h).map_err(|_| "BMP too high")?,
        bits: if bits >= 24 { 8 } else { bits as u8 },
        samples,
        photometric,
        alpha: false,
        palette,
        nodata: None,
        data,
        line,
    })
}

/// A single-band 8-bit image: one byte per pixel, rows top first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Band8 {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// One value per pixel (a palette index for palette images).
    pub data: Vec<u8>,
}

/// Decodes a single-band image of at most 8 bits per pixel (gray or
/// palette PNG, GIF, 1/4/8-bit BMP, 8-bit gray or palette TIFF) into one
/// byte per pixel: what a class mask is. `file` names it in errors.
pub fn decode_band8(bytes: &[u8], file: &str) -> Result<Band8> {
    let err = |message: String| Error::GeoTiff {
        file: file.to_owned(),
        message,
    };
    let r = match sniff(bytes) {
        Some(Kind::Png) => decode_png(bytes),
        Some(Kind::Gif) => decode_gif(bytes),
        Some(Kind::Bmp) => decode_bmp(bytes),
        Some(Kind::Tiff) => return decode_tiff_band8(bytes).map_err(err),
        Some(Kind::Jpeg) => Err("a JPEG cannot hold a class mask (it is lossy)".to_owned()),
        None => Err("not a PNG, TIFF, GIF or BMP image".to_owned()),
    }
    .map_err(err)?;
    if r.samples != 1 || r.bits > 8 {
        return Err(err(format!(
            "a mask has one band of at most 8 bits; this image has {} of {} bits",
            r.samples, r.bits
        )));
    }
    let (w, bits) = (r.width as usize, usize::from(r.bits));
    let mut data = Vec::with_capacity(w * r.height as usize);
    for row in r.data.chunks(r.line).take(r.height as usize) {
        if bits == 8 {
            data.extend_from_slice(&row[..w]);
        } else {
            let mask = (1u16 << bits) as u8 - 1;
            data.extend((0..w).map(|x| {
                let bit = x * bits;
                (row[bit / 8] >> (8 - bits - bit % 8)) & mask
            }));
        }
    }
    Ok(Band8 {
        width: r.width,
        height: r.height,
        data,
    })
}

fn decode_tiff_band8(bytes: &[u8]) -> std::result::Result<Band8, String> {
    use tiff::decoder::{Decoder, DecodingResult};
    let fail = |e: tiff::TiffError| format!("corrupt TIFF: {e}");
    let mut dec = Decoder::new(Cursor::new(bytes)).map_err(fail)?;
    let (width, height) = dec.dimensions().map_err(fail)?;
    match dec.read_image().map_err(fail)? {
        DecodingResult::U8(data) if data.len() == width as usize * height as usize => Ok(Band8 {
            width,
            height,
            data,
        }),
        _ => Err("a mask has one band of 8 bits; this TIFF has more bands or bits".into()),
    }
}

/// A single-band 8-bit TIFF of a mask, Deflate-compressed; a GeoTIFF when
/// `georef` is given. Pillow opens it in mode `L`.
pub fn encode_band8_tiff(
    band: &Band8,
    georef: Option<(&GeoTransform, Option<CrsKeys<'_>>)>,
) -> Result<Vec<u8>> {
    let err = |message: String| Error::GeoTiff {
        file: "mask".to_owned(),
        message,
    };
    let mut b = Raster {
        width: band.width,
        height: band.height,
        bits: 8,
        samples: 1,
        photometric: 1,
        alpha: false,
        palette: None,
        nodata: None,
        data: band.data.clone(),
        line: band.width as usize,
    }
    .into_tiff();
    if let Some((gt, crs)) = georef {
        set_geo_tags(&mut b, gt, crs).map_err(err)?;
    }
    b.finish().map_err(err)
}
