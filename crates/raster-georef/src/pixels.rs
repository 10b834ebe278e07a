//! A chip's pixels decoded whole, and what its header says they are: for
//! a format that places a re-encoded copy of a chip (a PNG, a JPEG) beside
//! its labels.
//!
//! [`read_samples`] reads only headers (the store's plan checks every chip
//! with it before anything is written); [`decode_image`] decodes PNG, GIF
//! and BMP through the row decoders of `rows.rs`, TIFF through the `tiff`
//! crate, and JPEG (also the JPEG stream a JPEG-compressed GeoTIFF wraps,
//! [`wrapped_jpeg`]) through `zune-jpeg`, the decoder `tiff` itself uses.

use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::Path;

use crate::chip::{Kind, sniff};
use crate::rows::{bmp_rows, gif_rows, png_rows, read_all};
use crate::tiffio::{Value, parse, parse_from, tag};
use crate::{Error, Result};

/// How a decoded image's samples make a pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Color {
    /// One gray sample.
    Gray,
    /// Gray, then alpha.
    GrayAlpha,
    /// Red, green, blue.
    Rgb,
    /// Red, green, blue, alpha.
    Rgba,
    /// One palette index, and the palette's 8-bit RGB entries.
    Palette(Vec<[u8; 3]>),
}

impl Color {
    /// Samples per pixel.
    pub fn samples(&self) -> usize {
        match self {
            Color::Gray | Color::Palette(_) => 1,
            Color::GrayAlpha => 2,
            Color::Rgb => 3,
            Color::Rgba => 4,
        }
    }
}

/// An image decoded whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bits per sample: 1, 2, 4, 8 or 16.
    pub bits: u8,
    /// What the samples are.
    pub color: Color,
    /// Rows, top first, each packed as PNG packs them: `ceil(width ×
    /// samples × bits / 8)` bytes, samples under 8 bits most significant
    /// first, 16-bit samples big-endian.
    pub data: Vec<u8>,
}

impl DecodedImage {
    /// Bytes of one row of [`DecodedImage::data`].
    pub fn line(&self) -> usize {
        (self.width as usize * self.color.samples() * usize::from(self.bits)).div_ceil(8)
    }
}

/// What a chip's header says of its samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Samples {
    /// Bits per sample (the largest, when a TIFF's bands differ).
    pub bits: u16,
    /// Samples per pixel (a palette index is one).
    pub samples: u16,
    /// The samples are unsigned integers (not signed, not floating point).
    pub unsigned: bool,
    /// The image is a palette image.
    pub palette: bool,
}

fn pixels_err(file: &str) -> impl Fn(String) -> Error + '_ {
    move |message| Error::Pixels {
        file: file.to_owned(),
        message,
    }
}

/// What the header of the image at `path` (PNG, JPEG, TIFF, GIF or BMP,
/// told by content) says of its samples, without decoding it.
pub fn read_samples(path: &Path) -> Result<Samples> {
    let file = path.display().to_string();
    let err = pixels_err(&file);
    let io = |e: std::io::Error| err(format!("cannot read the file: {e}"));
    let mut f = File::open(path).map_err(io)?;
    let mut head = [0u8; 32];
    let n = f.read(&mut head).map_err(io)?;
    let head = &head[..n];
    let kind = sniff(head).ok_or_else(|| err("not a PNG, JPEG, TIFF, GIF or BMP image".into()))?;
    let short = || err("the header is cut short".into());
    Ok(match kind {
        Kind::Png => {
            let (&bits, &color) = (
                head.get(24).ok_or_else(short)?,
                head.get(25).ok_or_else(short)?,
            );
            let samples = match color {
                2 => 3,
                4 => 2,
                6 => 4,
                _ => 1,
            };
            Samples {
                bits: bits.into(),
                samples,
                unsigned: true,
                palette: color == 3,
            }
        }
        Kind::Gif => Samples {
            bits: 8,
            samples: 1,
            unsigned: true,
            palette: true,
        },
        Kind::Bmp => {
            let bits = u16::from_le_bytes([*head.get(28).ok_or_else(short)?, head[29]]);
            Samples {
                bits: bits.min(8),
                samples: if bits > 8 { 3 } else { 1 },
                unsigned: true,
                palette: bits <= 8,
            }
        }
        Kind::Jpeg => {
            f.seek(SeekFrom::Start(0)).map_err(io)?;
            let (precision, components) = jpeg_frame(BufReader::new(f)).map_err(&err)?;
            Samples {
                bits: precision.into(),
                samples: components.into(),
                unsigned: true,
                palette: false,
            }
        }
        Kind::Tiff => {
            f.seek(SeekFrom::Start(0)).map_err(io)?;
            let ifd = parse_from(BufReader::new(f)).map_err(&err)?;
            let bits = ifd
                .get(tag::BITS_PER_SAMPLE)
                .and_then(Value::as_u64s)
                .and_then(|v| v.into_iter().max())
                .unwrap_or(1);
            let format = ifd
                .get(tag::SAMPLE_FORMAT)
                .and_then(Value::as_u64s)
                .unwrap_or_default();
            Samples {
                bits: u16::try_from(bits).unwrap_or(u16::MAX),
                samples: u16::try_from(ifd.uint(tag::SAMPLES_PER_PIXEL).unwrap_or(1))
                    .unwrap_or(u16::MAX),
                unsigned: format.iter().all(|&f| f == 1),
                palette: ifd.uint(tag::PHOTOMETRIC) == Some(3),
            }
        }
    })
}

/// A JPEG's sample precision and number of components, from its frame
/// header.
fn jpeg_frame<R: Read>(mut r: R) -> std::result::Result<(u8, u8), String> {
    let mut buf = [0u8; 4];
    let mut two = [0u8; 2];
    let cut = |_| "the JPEG is cut short before its frame header".to_owned();
    r.read_exact(&mut two).map_err(cut)?;
    loop {
        r.read_exact(&mut buf).map_err(cut)?;
        if buf[0] != 0xFF {
            return Err("corrupt JPEG: expected a marker".into());
        }
        let len = usize::from(u16::from_be_bytes([buf[2], buf[3]])).saturating_sub(2);
        let mut seg = vec![0u8; len];
        r.read_exact(&mut seg).map_err(cut)?;
        if matches!(buf[1], 0xC0..=0xCF) && !matches!(buf[1], 0xC4 | 0xC8 | 0xCC) {
            return match seg.as_slice() {
                [p, _, _, _, _, n, ..] => Ok((*p, *n)),
                _ => Err("corrupt JPEG frame header".into()),
            };
        }
    }
}

/// The JPEG stream a JPEG-compressed TIFF holds whole as its one strip
/// (how a JPEG chip georeferenced by a world file is stored, see
/// [`crate::chip_to_geotiff`]), or `None` for any other image.
pub fn wrapped_jpeg(bytes: &[u8]) -> Option<&[u8]> {
    if sniff(bytes) != Some(Kind::Tiff) {
        return None;
    }
    let ifd = parse(bytes).ok()?;
    if ifd.uint(tag::COMPRESSION) != Some(7) || ifd.get(tag::JPEG_TABLES).is_some() {
        return None;
    }
    let offsets = ifd.get(tag::STRIP_OFFSETS)?.as_u64s()?;
    let counts = ifd.get(tag::STRIP_BYTE_COUNTS)?.as_u64s()?;
    let (&[at], &[n]) = (offsets.as_slice(), counts.as_slice()) else {
        return None;
    };
    let stream = bytes.get(usize::try_from(at).ok()?..usize::try_from(at + n).ok()?)?;
    (stream.starts_with(&[0xFF, 0xD8]) && stream.ends_with(&[0xFF, 0xD9])).then_some(stream)
}

/// Decodes the image `bytes` (PNG, JPEG, TIFF, GIF's first frame, BMP)
/// whole; `file` names it in errors. A TIFF's first image is decoded; one
/// whose samples are not unsigned integers of 1 to 16 bits as gray,
/// gray and alpha, RGB, RGBA or palette indices is refused.
pub fn decode_image(bytes: &[u8], file: &str) -> Result<DecodedImage> {
    let err = pixels_err(file);
    let image = match sniff(bytes) {
        Some(Kind::Jpeg) => decode_jpeg(bytes),
        Some(Kind::Tiff) => match wrapped_jpeg(bytes) {
            Some(jpeg) => decode_jpeg(jpeg),
            None => decode_tiff(bytes),
        },
        Some(kind) => decode_rows(kind, bytes),
        None => Err("not a PNG, JPEG, TIFF, GIF or BMP image".into()),
    }
    .map_err(&err)?;
    let want = image.line() * image.height as usize;
    if image.data.len() < want {
        return Err(err(format!(
            "decoded {} bytes of pixels, {want} expected",
            image.data.len()
        )));
    }
    Ok(image)
}

fn decode_rows(kind: Kind, bytes: &[u8]) -> std::result::Result<DecodedImage, String> {
    let (layout, mut rows) = match kind {
        Kind::Png => {
            let (l, _, r) = png_rows(Cursor::new(bytes))?;
            (l, Box::new(r) as Box<dyn crate::rows::Rows>)
        }
        Kind::Gif => {
            let (l, _, r) = gif_rows(Cursor::new(bytes))?;
            (l, Box::new(r) as Box<dyn crate::rows::Rows>)
        }
        _ => {
            let (l, r) = bmp_rows(Cursor::new(bytes))?;
            (l, Box::new(r) as Box<dyn crate::rows::Rows>)
        }
    };
    let mut data = read_all(&layout, rows.as_mut())?;
    if layout.bits == 16 {
        // The row decoders give samples little-endian; PNG's order is big.
        for pair in data.chunks_exact_mut(2) {
            pair.swap(0, 1);
        }
    }
    let color = match (layout.photometric, layout.samples, layout.alpha) {
        (3, 1, _) => Color::Palette(layout.palette.clone().unwrap_or_default()),
        (1, 1, false) => Color::Gray,
        (1, 2, true) => Color::GrayAlpha,
        (2, 3, false) => Color::Rgb,
        (2, 4, true) => Color::Rgba,
        _ => return Err("an image layout this decoder does not give".into()),
    };
    let image = DecodedImage {
        width: layout.width,
        height: layout.height,
        bits: layout.bits,
        color,
        data: Vec::new(),
    };
    // Rows come packed already; only their padding may differ.
    let line = image.line();
    let data = if line == layout.line {
        data
    } else {
        data.chunks(layout.line)
            .take(layout.height as usize)
            .flat_map(|row| row[..line.min(row.len())].iter().copied())
            .collect()
    };
    Ok(DecodedImage { data, ..image })
}

fn decode_jpeg(bytes: &[u8]) -> std::result::Result<DecodedImage, String> {
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let fail = |e: zune_jpeg::errors::DecodeErrors| format!("corrupt JPEG: {e}");
    let mut dec = zune_jpeg::JpegDecoder::new(ZCursor::new(bytes));
    dec.decode_headers().map_err(fail)?;
    let (color, out) = match dec.input_colorspace() {
        Some(ColorSpace::Luma) => (Color::Gray, ColorSpace::Luma),
        Some(ColorSpace::YCbCr | ColorSpace::RGB) => (Color::Rgb, ColorSpace::RGB),
        other => return Err(format!("a JPEG in colour space {other:?} is not supported")),
    };
    dec.set_options(DecoderOptions::default().jpeg_set_out_colorspace(out));
    let data = dec.decode().map_err(fail)?;
    let (w, h) = dec.dimensions().ok_or("a JPEG without dimensions")?;
    Ok(DecodedImage {
        width: u32::try_from(w).map_err(|e| e.to_string())?,
        height: u32::try_from(h).map_err(|e| e.to_string())?,
        bits: 8,
        color,
        data,
    })
}

fn decode_tiff(bytes: &[u8]) -> std::result::Result<DecodedImage, String> {
    use tiff::ColorType as T;
    use tiff::decoder::{Decoder, DecodingResult, Limits};
    use tiff::tags::Tag;
    let fail = |e: tiff::TiffError| format!("cannot decode the TIFF: {e}");
    let mut dec = Decoder::new(Cursor::new(bytes))
        .map_err(fail)?
        .with_limits(Limits::unlimited());
    let (width, height) = dec.dimensions().map_err(fail)?;
    let photometric = dec
        .get_tag_u32(Tag::PhotometricInterpretation)
        .map_err(fail)?;
    let (color, bits) = match dec.colortype().map_err(fail)? {
        T::Gray(b) if photometric == 1 => (Color::Gray, b),
        T::GrayA(b) if photometric == 1 => (Color::GrayAlpha, b),
        T::RGB(b) => (Color::Rgb, b),
        T::RGBA(b) => (Color::Rgba, b),
        T::Palette(b) => {
            let map = dec.get_tag_u16_vec(Tag::ColorMap).map_err(fail)?;
            let n = map.len() / 3;
            let palette = (0..n)
                .map(|i| [map[i], map[n + i], map[2 * n + i]].map(|v| (v >> 8) as u8))
                .collect();
            (Color::Palette(palette), b)
        }
        other => {
            return Err(format!(
                "a TIFF of {other:?} samples (photometric {photometric}) cannot be placed as PNG or JPEG"
            ));
        }
    };
    if !matches!(bits, 1 | 2 | 4 | 8 | 16) || (matches!(color, Color::Palette(_)) && bits > 8) {
        return Err(format!(
            "a TIFF of {bits}-bit samples cannot be placed as PNG or JPEG"
        ));
    }
    let data =
        match dec.read_image().map_err(fail)? {
            DecodingResult::U8(v) => v,
            DecodingResult::U16(v) => v.iter().flat_map(|s| s.to_be_bytes()).collect(),
            _ => return Err(
                "a TIFF whose samples are not unsigned integers cannot be placed as PNG or JPEG"
                    .into(),
            ),
        };
    Ok(DecodedImage {
        width,
        height,
        bits,
        color,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(color: png::ColorType, depth: png::BitDepth, w: u32, h: u32, data: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut enc = png::Encoder::new(&mut bytes, w, h);
        enc.set_color(color);
        enc.set_depth(depth);
        let mut writer = enc.write_header().unwrap();
        writer.write_image_data(data).unwrap();
        writer.finish().unwrap();
        bytes
    }

    #[test]
    fn a_16_bit_png_decodes_to_big_endian_samples_and_its_header_says_so() {
        let data = [0x12, 0x34, 0xAB, 0xCD, 0x00, 0x01, 0xFF, 0xFE];
        let bytes = png(
            png::ColorType::Grayscale,
            png::BitDepth::Sixteen,
            2,
            2,
            &data,
        );
        let image = decode_image(&bytes, "deep.png").unwrap();
        assert_eq!((image.width, image.height, image.bits), (2, 2, 16));
        assert_eq!(image.color, Color::Gray);
        assert_eq!(image.data, data);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deep.png");
        std::fs::write(&path, &bytes).unwrap();
        let samples = read_samples(&path).unwrap();
        assert_eq!((samples.bits, samples.samples), (16, 1));
        assert!(samples.unsigned && !samples.palette);
    }

    #[test]
    fn a_jpeg_wrapped_in_a_geotiff_comes_out_byte_for_byte() {
        let jpeg = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/harbour/chips/r1_c2.jpg"),
        )
        .unwrap();
        let gt = crate::GeoTransform([500_000.0, 0.5, 0.0, 4_649_776.0, 0.0, -0.5]);
        let tiff = crate::chip_to_geotiff(&jpeg, "r1_c2.jpg", &gt, None).unwrap();
        assert_eq!(wrapped_jpeg(&tiff), Some(&jpeg[..]));
        assert_eq!(wrapped_jpeg(&jpeg), None);
        // Decoded from the GeoTIFF as from the JPEG itself.
        assert_eq!(
            decode_image(&tiff, "t").unwrap(),
            decode_image(&jpeg, "j").unwrap()
        );
    }

    #[test]
    fn a_float_tiff_is_refused_naming_the_file() {
        let mut b = crate::tiffio::TiffBuilder::new(false);
        b.set(tag::IMAGE_WIDTH, Value::Long(vec![1]));
        b.set(tag::IMAGE_LENGTH, Value::Long(vec![1]));
        b.set(tag::BITS_PER_SAMPLE, Value::Short(vec![32]));
        b.set(tag::SAMPLE_FORMAT, Value::Short(vec![3]));
        b.set(tag::COMPRESSION, Value::Short(vec![1]));
        b.set(tag::PHOTOMETRIC, Value::Short(vec![1]));
        b.set(tag::ROWS_PER_STRIP, Value::Long(vec![1]));
        b.push_chunk(vec![0; 4]);
        let tiff = b.finish().unwrap();
        let e = decode_image(&tiff, "float.tif").unwrap_err().to_string();
        assert!(e.starts_with("float.tif: "), "{e}");
    }
}
