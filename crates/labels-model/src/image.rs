//! Image kinds and header probing (no pixel is decoded here).

use std::path::Path;

/// The image file types a chip may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ImageKind {
    /// Portable Network Graphics.
    Png,
    /// JPEG / JFIF.
    Jpeg,
    /// TIFF, GeoTIFF included.
    Tiff,
    /// Graphics Interchange Format.
    Gif,
    /// Windows bitmap.
    Bmp,
}

impl ImageKind {
    /// The kind an extension names, matched case-insensitively.
    pub fn from_extension(ext: &str) -> Option<ImageKind> {
        Some(match ext.to_ascii_lowercase().as_str() {
            "png" => ImageKind::Png,
            "jpg" | "jpeg" | "jpe" => ImageKind::Jpeg,
            "tif" | "tiff" => ImageKind::Tiff,
            "gif" => ImageKind::Gif,
            "bmp" => ImageKind::Bmp,
            _ => return None,
        })
    }

    /// The kind of the file at `path`, by its extension.
    pub fn from_path(path: &Path) -> Option<ImageKind> {
        Self::from_extension(path.extension()?.to_str()?)
    }

    /// A short upper-case name for messages.
    pub fn name(self) -> &'static str {
        match self {
            ImageKind::Png => "PNG",
            ImageKind::Jpeg => "JPEG",
            ImageKind::Tiff => "TIFF",
            ImageKind::Gif => "GIF",
            ImageKind::Bmp => "BMP",
        }
    }

    fn from_imagesize(t: imagesize::ImageType) -> Option<ImageKind> {
        use imagesize::ImageType as T;
        Some(match t {
            T::Png => ImageKind::Png,
            T::Jpeg => ImageKind::Jpeg,
            T::Tiff => ImageKind::Tiff,
            T::Gif => ImageKind::Gif,
            T::Bmp => ImageKind::Bmp,
            _ => return None,
        })
    }
}

/// Limits applied to images before anything is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLimits {
    /// The most pixels (width × height) an image may claim in its header.
    pub max_pixels: u64,
}

impl Default for ImageLimits {
    /// 100 megapixels.
    fn default() -> Self {
        ImageLimits {
            max_pixels: 100_000_000,
        }
    }
}

/// What an image header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) kind: ImageKind,
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// Samples per pixel (1 gray, 2 gray + alpha, 3 RGB or palette, 4 with
    /// alpha), when the header says so readably.
    pub(crate) samples: Option<u8>,
}

/// Reads the header of the image at `path`, checking that its content is
/// the kind its extension names and that it is within `limits`. The error
/// is a message for a diagnostic about this file.
pub(crate) fn probe(path: &Path, limits: &ImageLimits) -> Result<Header, String> {
    let by_ext = ImageKind::from_path(path).ok_or_else(|| {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy())
            .unwrap_or_default();
        format!("unsupported image type {ext:?} (PNG, JPEG, TIFF, GIF or BMP)")
    })?;
    let mut head = [0u8; 64];
    let mut file = open(path)?;
    let n = read_head(&mut file, &mut head)?;
    let by_content = imagesize::image_type(&head[..n])
        .ok()
        .and_then(ImageKind::from_imagesize)
        .ok_or_else(|| format!("corrupt {} image: unrecognized header", by_ext.name()))?;
    if by_content != by_ext {
        return Err(format!(
            "the file is a {} image but its extension says {}",
            by_content.name(),
            by_ext.name()
        ));
    }
    // The same open file, rewound: one open per chip, not two.
    use std::io::Seek;
    file.rewind()
        .map_err(|e| format!("cannot read the file: {e}"))?;
    let size = imagesize::reader_size(std::io::BufReader::new(file))
        .map_err(|e| format!("corrupt {} image header: {e}", by_ext.name()))?;
    let (width, height) = (size.width as u64, size.height as u64);
    if width == 0 || height == 0 {
        return Err(format!(
            "corrupt {} image: its header says {width}x{height}",
            by_ext.name()
        ));
    }
    if width.saturating_mul(height) > limits.max_pixels {
        return Err(format!(
            "the image is {width}x{height} pixels, more than the limit of {} pixels",
            limits.max_pixels
        ));
    }
    let too_big = |_| format!("the image is {width}x{height} pixels, too large");
    Ok(Header {
        kind: by_ext,
        width: u32::try_from(width).map_err(too_big)?,
        height: u32::try_from(height).map_err(too_big)?,
        samples: samples_per_pixel(path, by_ext),
    })
}

/// The samples per pixel the header of the `kind` image at `path` declares:
/// 1 gray, 2 gray with alpha, 3 RGB or palette (a palette entry is RGB),
/// 4 with alpha (or CMYK). Only headers are read, by the decoders' own
/// header parsers (`png`, `zune-jpeg`, `tiff`); `None` when unreadable.
fn samples_per_pixel(path: &Path, kind: ImageKind) -> Option<u8> {
    let reader = || open(path).ok().map(std::io::BufReader::new);
    match kind {
        ImageKind::Png => {
            let info = png::Decoder::new(reader()?).read_info().ok()?;
            Some(match info.info().color_type {
                png::ColorType::Grayscale => 1,
                png::ColorType::GrayscaleAlpha => 2,
                png::ColorType::Rgb | png::ColorType::Indexed => 3,
                png::ColorType::Rgba => 4,
            })
        }
        ImageKind::Jpeg => {
            let mut dec = zune_jpeg::JpegDecoder::new(reader()?);
            dec.decode_headers().ok()?;
            Some(dec.info()?.components)
        }
        ImageKind::Tiff => {
            let mut dec = tiff::decoder::Decoder::new(reader()?).ok()?;
            match dec.find_tag(tiff::tags::Tag::SamplesPerPixel).ok()? {
                // TIFF 6.0: SamplesPerPixel defaults to 1.
                None => Some(1),
                Some(v) => u8::try_from(v.into_u32().ok()?).ok(),
            }
        }
        // GIF pixels are palette entries: RGB.
        ImageKind::Gif => Some(3),
        ImageKind::Bmp => bmp_samples(path),
    }
}

/// A BMP's samples per pixel: 4 for 32 bits per pixel with an alpha mask
/// (a BITMAPV4HEADER or later with a non-zero alpha mask), else 3 (palette
/// and 16/24/32-bit RGB). No crate in the workspace reads BMP headers.
fn bmp_samples(path: &Path) -> Option<u8> {
    let mut head = [0u8; 58];
    let n = read_head(&mut open(path).ok()?, &mut head).ok()?;
    let u16_at = |i: usize| u16::from_le_bytes([head[i], head[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
    if n < 30 {
        return None;
    }
    let header_size = u32_at(14);
    let bits = u16_at(28);
    let alpha_mask = if header_size >= 56 && n >= 58 {
        u32_at(54)
    } else {
        0
    };
    Some(if bits == 32 && alpha_mask != 0 { 4 } else { 3 })
}

fn open(path: &Path) -> Result<std::fs::File, String> {
    std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "the file does not exist".to_owned(),
        _ => format!("cannot open the file: {e}"),
    })
}

fn read_head(f: &mut std::fs::File, buf: &mut [u8]) -> Result<usize, String> {
    use std::io::Read;
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(format!("cannot read the file: {e}")),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(dir: &Path, name: &str, color: png::ColorType) -> std::path::PathBuf {
        let path = dir.join(name);
        let mut enc = png::Encoder::new(std::fs::File::create(&path).unwrap(), 2, 1);
        enc.set_color(color);
        enc.set_depth(png::BitDepth::Eight);
        if color == png::ColorType::Indexed {
            enc.set_palette(vec![0, 0, 0, 255, 0, 0]);
        }
        let samples = match color {
            png::ColorType::Grayscale | png::ColorType::Indexed => 1,
            png::ColorType::GrayscaleAlpha => 2,
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
        };
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&vec![1; 2 * samples]).unwrap();
        w.finish().unwrap();
        path
    }

    fn jpeg(
        dir: &Path,
        name: &str,
        color: jpeg_encoder::ColorType,
        samples: usize,
    ) -> std::path::PathBuf {
        let path = dir.join(name);
        jpeg_encoder::Encoder::new_file(&path, 90)
            .unwrap()
            .encode(&vec![128; 4 * samples], 2, 2, color)
            .unwrap();
        path
    }

    #[test]
    fn probe_reads_samples_per_pixel_from_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let limits = ImageLimits::default();
        let samples = |p: std::path::PathBuf| probe(&p, &limits).unwrap().samples;
        assert_eq!(samples(png(d, "g.png", png::ColorType::Grayscale)), Some(1));
        assert_eq!(
            samples(png(d, "ga.png", png::ColorType::GrayscaleAlpha)),
            Some(2)
        );
        assert_eq!(samples(png(d, "rgb.png", png::ColorType::Rgb)), Some(3));
        assert_eq!(samples(png(d, "p.png", png::ColorType::Indexed)), Some(3));
        assert_eq!(samples(png(d, "rgba.png", png::ColorType::Rgba)), Some(4));
        assert_eq!(
            samples(jpeg(d, "rgb.jpg", jpeg_encoder::ColorType::Rgb, 3)),
            Some(3)
        );
        assert_eq!(
            samples(jpeg(d, "g.jpg", jpeg_encoder::ColorType::Luma, 1)),
            Some(1)
        );
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/detection-basic/chips");
        // An 8-bit gray TIFF and a palette BMP from the fixtures.
        let tif = probe(&fixtures.join("t.tif"), &limits).unwrap();
        let bmp = probe(&fixtures.join("g.bmp"), &limits).unwrap();
        assert_eq!((tif.samples, bmp.samples), (Some(1), Some(3)));
    }
}
