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
//!   TIFF colour map, alpha as an unassociated extra sample. Rows are
//!   decoded a strip at a time and each strip compressed as it is filled
//!   (`rows.rs`), so the decoded image is never whole in memory, except for
//!   an interlaced PNG or GIF; [`conversion_memory`] says from the header
//!   how much a conversion holds.

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read, Seek};
use std::path::Path;

use crate::geotiff::{CrsKeys, set_geo_tags};
use crate::rows::{Decoded, Layout, Rows, bmp_rows, gif_rows, png_rows, read_all, working_memory};
use crate::tiffio::{TiffBuilder, Value, parse, tag};
use crate::{Error, GeoTransform, Result};

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
        Some(kind) => open_rows(kind, Cursor::new(bytes))
            .and_then(|(layout, _, mut rows)| strips_to_tiff(&layout, rows.as_mut())),
        None => Err("not a PNG, JPEG, TIFF, GIF or BMP image".to_owned()),
    }
    .map_err(err)?;
    set_geo_tags(&mut b, gt, crs).map_err(err)?;
    b.finish().map_err(err)
}

/// Like [`chip_to_geotiff`], reading the image from the file at `path`
/// (named in errors): a PNG, GIF or BMP is decoded row by row as the
/// GeoTIFF's strips are compressed, so its decoded image is never in memory
/// whole (an interlaced PNG or GIF excepted: see [`conversion_memory`]); a
/// TIFF or JPEG, whose data is copied as it is, is read whole.
pub fn chip_file_to_geotiff(
    path: &Path,
    gt: &GeoTransform,
    crs: Option<CrsKeys<'_>>,
) -> Result<Vec<u8>> {
    let file = path.display().to_string();
    let err = |message: String| Error::GeoTiff {
        file: file.clone(),
        message,
    };
    let (kind, mut f) = open_chip(path).map_err(err)?;
    let whole;
    let mut b = match kind {
        Kind::Tiff | Kind::Jpeg => {
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes)
                .map_err(|e| err(format!("cannot read the file: {e}")))?;
            whole = bytes;
            // Copied into the GeoTIFF undecoded: its structure must hold.
            crate::check::check_structure(Cursor::new(&whole[..]), &file, crate::Depth::Headers)?;
            if kind == Kind::Tiff {
                from_tiff(&whole)
            } else {
                from_jpeg(&whole)
            }
        }
        _ => open_rows(kind, BufReader::with_capacity(READ_BUFFER, f))
            .and_then(|(layout, _, mut rows)| strips_to_tiff(&layout, rows.as_mut())),
    }
    .map_err(err)?;
    set_geo_tags(&mut b, gt, crs).map_err(err)?;
    b.finish().map_err(err)
}

/// Bytes of the file read ahead by a row-by-row decoder.
const READ_BUFFER: usize = 64 * 1024;

/// Opens a chip image and tells its kind from its first bytes.
fn open_chip(path: &Path) -> std::result::Result<(Kind, File), String> {
    let mut f = File::open(path).map_err(|e| format!("cannot open the file: {e}"))?;
    let mut head = Vec::with_capacity(8);
    (&mut f)
        .take(8)
        .read_to_end(&mut head)
        .map_err(|e| format!("cannot read the file: {e}"))?;
    let kind = sniff(&head).ok_or("not a PNG, JPEG, TIFF, GIF or BMP image")?;
    f.rewind()
        .map_err(|e| format!("cannot read the file: {e}"))?;
    Ok((kind, f))
}

/// About how many bytes of memory [`chip_file_to_geotiff`] holds at once
/// while converting the image at `path`, told from its header (no pixel is
/// decoded): decoder and compressor buffers and a strip of rows; the whole
/// decoded image for an interlaced PNG or GIF (their rows come out of
/// order); the whole file for a TIFF or JPEG; and the GeoTIFF being
/// assembled, guessed from the file's size (compressed strips, at most the
/// decoded size).
pub fn conversion_memory(path: &Path) -> Result<u64> {
    let err = |message: String| Error::GeoTiff {
        file: path.display().to_string(),
        message,
    };
    let (kind, f) = open_chip(path).map_err(err)?;
    let file_len = f
        .metadata()
        .map_err(|e| err(format!("cannot read the file: {e}")))?
        .len();
    let (layout, whole) = match kind {
        // Read whole, and copied as it is into the GeoTIFF.
        Kind::Tiff | Kind::Jpeg => return Ok(copied_conversion_memory(file_len)),
        _ => {
            let (layout, whole, _) =
                open_rows(kind, BufReader::with_capacity(READ_BUFFER, f)).map_err(err)?;
            (layout, whole)
        }
    };
    let decoded = (layout.line as u64).saturating_mul(u64::from(layout.height));
    let output = decoded.min(file_len.saturating_mul(2));
    Ok(working_memory(&layout, whole).saturating_add(output))
}

/// What [`conversion_memory`] says of a TIFF or JPEG chip of `file_len`
/// bytes, which is read whole and copied as it is into the GeoTIFF: for
/// callers that already know the file's kind and size.
pub fn copied_conversion_memory(file_len: u64) -> u64 {
    file_len.saturating_mul(2).saturating_add(64 << 10)
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

/// Writes the rows of an image as a Deflate-compressed, strip-organised
/// TIFF with the same samples: each strip is compressed as soon as its rows
/// are decoded, so only one strip of decoded rows is held at a time.
fn strips_to_tiff(layout: &Layout, rows: &mut dyn Rows) -> Result<TiffBuilder<'static>, String> {
    let mut b = TiffBuilder::new(false);
    let per_strip = layout.rows_per_strip();
    b.set(tag::IMAGE_WIDTH, Value::Long(vec![layout.width]));
    b.set(tag::IMAGE_LENGTH, Value::Long(vec![layout.height]));
    b.set(
        tag::BITS_PER_SAMPLE,
        Value::Short(vec![layout.bits.into(); usize::from(layout.samples)]),
    );
    b.set(tag::COMPRESSION, Value::Short(vec![8]));
    // Horizontal differencing for 8-bit colour and grey samples (not for
    // palette indices nor packed bits, where differences mean nothing).
    let predict = layout.bits == 8 && layout.palette.is_none();
    if predict {
        b.set(tag::PREDICTOR, Value::Short(vec![2]));
    }
    b.set(tag::PHOTOMETRIC, Value::Short(vec![layout.photometric]));
    b.set(tag::SAMPLES_PER_PIXEL, Value::Short(vec![layout.samples]));
    b.set(
        tag::ROWS_PER_STRIP,
        Value::Long(vec![u32::try_from(per_strip).unwrap_or(u32::MAX)]),
    );
    b.set(tag::PLANAR_CONFIG, Value::Short(vec![1]));
    b.set(
        tag::SAMPLE_FORMAT,
        Value::Short(vec![1; usize::from(layout.samples)]),
    );
    if layout.alpha {
        b.set(tag::EXTRA_SAMPLES, Value::Short(vec![2]));
    }
    if let Some(p) = &layout.palette {
        let n = 1usize << layout.bits;
        let mut map = vec![0u16; 3 * n];
        for (i, rgb) in p.iter().take(n).enumerate() {
            for (c, &v) in rgb.iter().enumerate() {
                map[c * n + i] = u16::from(v) * 257;
            }
        }
        b.set(tag::COLOR_MAP, Value::Short(map));
    }
    if let Some(nodata) = &layout.nodata {
        b.set(tag::GDAL_NODATA, Value::Ascii(nodata.clone().into_bytes()));
    }
    let height = layout.height as usize;
    let mut strip = vec![0u8; per_strip.min(height) * layout.line];
    let mut y = 0;
    while y < height {
        let n = per_strip.min(height - y);
        let buf = &mut strip[..n * layout.line];
        rows.fill(buf)?;
        if predict {
            crate::rastertiff::predict8(buf, layout.line, usize::from(layout.samples));
        }
        b.push_chunk(crate::rastertiff::deflate(buf));
        y += n;
    }
    rows.finish()?;
    Ok(b)
}

/// The rows of a PNG, GIF or BMP image read from `r`, with their layout
/// and whether they must be decoded whole (interlaced images).
fn open_rows<'r, R: BufRead + Seek + 'r>(
    kind: Kind,
    r: R,
) -> Result<(Layout, bool, Box<dyn Rows + 'r>), String> {
    Ok(match kind {
        Kind::Png => {
            let (l, whole, rows) = png_rows(r)?;
            (l, whole, Box::new(rows))
        }
        Kind::Gif => {
            let (l, whole, rows) = gif_rows(r)?;
            (l, whole, Box::new(rows))
        }
        Kind::Bmp => {
            let (l, rows) = bmp_rows(r)?;
            (l, false, Box::new(rows))
        }
        Kind::Jpeg | Kind::Tiff => return Err("not a PNG, GIF or BMP image".into()),
    })
}

/// Decoded, packed rows of a whole image, with what describes them.
struct Raster {
    layout: Layout,
    /// Packed rows, top first, each `layout.line` bytes, samples little-endian.
    data: Vec<u8>,
}

fn decode_whole(kind: Kind, bytes: &[u8]) -> std::result::Result<Raster, String> {
    let (layout, _, mut rows) = open_rows(kind, Cursor::new(bytes))?;
    let data = read_all(&layout, rows.as_mut())?;
    Ok(Raster { layout, data })
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
        Some(kind @ (Kind::Png | Kind::Gif | Kind::Bmp)) => decode_whole(kind, bytes),
        Some(Kind::Tiff) => return decode_tiff_band8(bytes).map_err(err),
        Some(Kind::Jpeg) => Err("a JPEG cannot hold a class mask (it is lossy)".to_owned()),
        None => Err("not a PNG, TIFF, GIF or BMP image".to_owned()),
    }
    .map_err(err)?;
    let l = &r.layout;
    if l.samples != 1 || l.bits > 8 {
        return Err(err(format!(
            "a mask has one band of at most 8 bits; this image has {} of {} bits",
            l.samples, l.bits
        )));
    }
    let (w, bits) = (l.width as usize, usize::from(l.bits));
    let mut data = Vec::with_capacity(w * l.height as usize);
    for row in r.data.chunks(l.line).take(l.height as usize) {
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
        width: l.width,
        height: l.height,
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
    let layout = Layout {
        width: band.width,
        height: band.height,
        bits: 8,
        samples: 1,
        photometric: 1,
        alpha: false,
        palette: None,
        nodata: None,
        line: band.width as usize,
    };
    let mut b = strips_to_tiff(&layout, &mut Decoded::new(band.data.clone())).map_err(err)?;
    if let Some((gt, crs)) = georef {
        set_geo_tags(&mut b, gt, crs).map_err(err)?;
    }
    b.finish().map_err(err)
}
