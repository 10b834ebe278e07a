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
    /// The most bytes of memory that chips being turned into GeoTIFFs may
    /// hold at once, all workers together, as estimated from their headers
    /// before any is decoded. A chip that needs more than this alone is
    /// refused; others wait their turn.
    pub memory_budget: u64,
}

impl ImageLimits {
    /// The default memory budget: 1 GiB.
    pub const DEFAULT_MEMORY_BUDGET: u64 = 1 << 30;
}

impl Default for ImageLimits {
    /// 100 megapixels, 1 GiB.
    fn default() -> Self {
        ImageLimits {
            max_pixels: 100_000_000,
            memory_budget: Self::DEFAULT_MEMORY_BUDGET,
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
    probe_file(path, limits).map(|(header, _)| header)
}

/// [`probe`], also handing back the image for a further look at it.
pub(crate) fn probe_file(path: &Path, limits: &ImageLimits) -> Result<(Header, Opened), String> {
    let by_ext = ImageKind::from_path(path).ok_or_else(|| {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy())
            .unwrap_or_default();
        format!("unsupported image type {ext:?} (PNG, JPEG, TIFF, GIF or BMP)")
    })?;
    let (mut file, len) = crate::regular::open_regular_with_len(path).map_err(open_error)?;
    // A small chip other than a TIFF (whose checks read only its
    // directories) is read whole, once: every later look at it is a look
    // at memory, not a seek and a read.
    let whole = if by_ext != ImageKind::Tiff && len <= READ_WHOLE_BYTES {
        let bytes = crate::regular::read_known_len(&mut file, len)
            .map_err(|e| format!("cannot read the file: {e}"))?;
        Some(bytes)
    } else {
        None
    };
    let opened = Opened { file, whole };
    let mut head = [0u8; 64];
    let n = match &opened.whole {
        Some(bytes) => {
            let n = bytes.len().min(head.len());
            head[..n].copy_from_slice(&bytes[..n]);
            n
        }
        None => read_head(&mut &opened.file, &mut head)?,
    };
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
    // The structure checked by headers gives the size: one pass over the
    // file for both (a chip copied as it is is read in full later on).
    let (width, height) = opened
        .with_reader(|r| raster_georef::check_structure(r, "", raster_georef::Depth::Headers))
        .map_err(|e| format!("cannot read the file: {e}"))?
        .map_err(|e| match e {
            raster_georef::Error::Corrupt { message, .. } => message,
            other => other.to_string(),
        })?;
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
    let header = Header {
        kind: by_ext,
        width: u32::try_from(width).map_err(too_big)?,
        height: u32::try_from(height).map_err(too_big)?,
        samples: samples_per_pixel(&opened, &head[..n], by_ext),
    };
    Ok((header, opened))
}

/// Chips up to this size (other than TIFFs) are read whole by the probe.
const READ_WHOLE_BYTES: u64 = 1 << 20;

/// An image the probe opened: the file, and its bytes when it was small
/// enough to read whole.
pub(crate) struct Opened {
    file: std::fs::File,
    whole: Option<Vec<u8>>,
}

/// A reader of an [`Opened`] image, from its start.
pub(crate) trait ImageRead: std::io::BufRead + std::io::Seek {}

impl<T: std::io::BufRead + std::io::Seek> ImageRead for T {}

impl Opened {
    /// Runs `f` on a reader of the image from its first byte: its bytes in
    /// memory, or the file through a buffer.
    pub(crate) fn with_reader<T>(
        &self,
        f: impl FnOnce(&mut dyn ImageRead) -> T,
    ) -> std::io::Result<T> {
        match &self.whole {
            Some(bytes) => Ok(f(&mut std::io::Cursor::new(&bytes[..]))),
            None => {
                let mut file = &self.file;
                std::io::Seek::rewind(&mut file)?;
                Ok(f(&mut std::io::BufReader::new(file)))
            }
        }
    }
}

fn open_error(e: std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "the file does not exist".to_owned(),
        std::io::ErrorKind::InvalidInput => e.to_string(),
        _ => format!("cannot open the file: {e}"),
    }
}

/// The width and height the header of the image at `path` gives (PNG,
/// JPEG, TIFF, GIF or BMP, told by content; top-down BMPs included), after
/// checking that it is a regular file ([`crate::check_regular`]). No pixel
/// is decoded. A header that cannot be read is an
/// [`std::io::ErrorKind::InvalidData`] error.
pub fn image_size(path: &Path) -> std::io::Result<(u64, u64)> {
    let mut file = crate::regular::open_regular(path)?;
    let mut head = [0u8; 64];
    let n = read_head(&mut file, &mut head).map_err(std::io::Error::other)?;
    let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
    let kind = imagesize::image_type(&head[..n])
        .ok()
        .and_then(ImageKind::from_imagesize)
        .ok_or_else(|| invalid("not a PNG, JPEG, TIFF, GIF or BMP image".to_owned()))?;
    header_size(&mut file, &head[..n], kind).map_err(invalid)
}

/// Width and height from the header of an image of `kind` whose first
/// bytes are `head`, reading `file` again from its start if need be.
fn header_size(
    file: &mut std::fs::File,
    head: &[u8],
    kind: ImageKind,
) -> Result<(u64, u64), String> {
    if kind == ImageKind::Bmp {
        // imagesize reads a top-down BMP's negative height as unsigned.
        return bmp_size(head);
    }
    // The same open file, rewound: one open per chip, not two.
    use std::io::Seek;
    file.rewind()
        .map_err(|e| format!("cannot read the file: {e}"))?;
    let size = imagesize::reader_size(std::io::BufReader::new(&*file))
        .map_err(|e| format!("corrupt {} image header: {e}", kind.name()))?;
    Ok((size.width as u64, size.height as u64))
}

/// Width and height from the start of a BMP file: the OS/2 core header's
/// 16-bit sizes, or the signed 32-bit ones of later headers, where a
/// negative height means rows stored top-down (as GDAL reads them).
fn bmp_size(head: &[u8]) -> Result<(u64, u64), String> {
    let at = |i: usize, n: usize| {
        head.get(i..i + n)
            .ok_or("corrupt BMP image: truncated header")
    };
    let dib = u32::from_le_bytes(at(14, 4)?.try_into().unwrap_or_default());
    if dib == 12 {
        let w = at(18, 2)?;
        let h = at(20, 2)?;
        return Ok((
            u16::from_le_bytes([w[0], w[1]]).into(),
            u16::from_le_bytes([h[0], h[1]]).into(),
        ));
    }
    let w = i32::from_le_bytes(at(18, 4)?.try_into().unwrap_or_default());
    let h = i32::from_le_bytes(at(22, 4)?.try_into().unwrap_or_default());
    if w < 0 {
        return Err(format!("corrupt BMP image: its header says width {w}"));
    }
    Ok((w.unsigned_abs().into(), h.unsigned_abs().into()))
}

/// The samples per pixel the header of a `kind` image declares (`file`,
/// whose first bytes are `head`): 1 gray, 2 gray with alpha, 3 RGB or
/// palette (a palette entry is RGB), 4 with alpha (or CMYK). Only headers
/// are read, by the decoders' own header parsers (`png`, `zune-jpeg`,
/// `tiff`), from the same open file; `None` when unreadable.
fn samples_per_pixel(image: &Opened, head: &[u8], kind: ImageKind) -> Option<u8> {
    match kind {
        ImageKind::Png => {
            let color = image
                .with_reader(|r| {
                    png::Decoder::new(r)
                        .read_info()
                        .ok()
                        .map(|info| info.info().color_type)
                })
                .ok()??;
            Some(match color {
                png::ColorType::Grayscale => 1,
                png::ColorType::GrayscaleAlpha => 2,
                png::ColorType::Rgb | png::ColorType::Indexed => 3,
                png::ColorType::Rgba => 4,
            })
        }
        ImageKind::Jpeg => image
            .with_reader(|r| {
                let mut dec = zune_jpeg::JpegDecoder::new(r);
                dec.decode_headers().ok()?;
                Some(dec.info()?.components)
            })
            .ok()?,
        ImageKind::Tiff => {
            image
                .with_reader(|r| {
                    let mut dec = tiff::decoder::Decoder::new(r).ok()?;
                    match dec.find_tag(tiff::tags::Tag::SamplesPerPixel).ok()? {
                        // TIFF 6.0: SamplesPerPixel defaults to 1.
                        None => Some(1),
                        Some(v) => u8::try_from(v.into_u32().ok()?).ok(),
                    }
                })
                .ok()?
        }
        // GIF pixels are palette entries: RGB.
        ImageKind::Gif => Some(3),
        ImageKind::Bmp => bmp_samples(head),
    }
}

/// A BMP's samples per pixel from its first bytes: 4 for 32 bits per pixel
/// with an alpha mask (a BITMAPV4HEADER or later with a non-zero alpha
/// mask), else 3 (palette and 16/24/32-bit RGB). No crate in the workspace
/// reads BMP headers.
fn bmp_samples(head: &[u8]) -> Option<u8> {
    let u16_at = |i: usize| u16::from_le_bytes([head[i], head[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
    if head.len() < 30 {
        return None;
    }
    let header_size = u32_at(14);
    let bits = u16_at(28);
    let alpha_mask = if header_size >= 56 && head.len() >= 58 {
        u32_at(54)
    } else {
        0
    };
    Some(if bits == 32 && alpha_mask != 0 { 4 } else { 3 })
}

fn read_head(f: &mut impl std::io::Read, buf: &mut [u8]) -> Result<usize, String> {
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

    /// A 24-bit BMP of `w` x `h` pixels, `h` negative for rows top-down.
    fn bmp(w: i32, h: i32) -> Vec<u8> {
        let stride = (w.unsigned_abs() as usize * 3).div_ceil(4) * 4;
        let data = stride * h.unsigned_abs() as usize;
        let mut b = b"BM".to_vec();
        b.extend_from_slice(&(54 + data as u32).to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&54u32.to_le_bytes());
        b.extend_from_slice(&40u32.to_le_bytes());
        b.extend_from_slice(&w.to_le_bytes());
        b.extend_from_slice(&h.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&24u16.to_le_bytes());
        b.extend_from_slice(&[0; 24]);
        b.resize(54 + data, 7);
        b
    }

    #[test]
    fn a_top_down_bmp_has_its_height_positive() {
        let dir = tempfile::tempdir().unwrap();
        for (h, name) in [(-64, "down.bmp"), (64, "up.bmp")] {
            let path = dir.path().join(name);
            std::fs::write(&path, bmp(64, h)).unwrap();
            let header = probe(&path, &ImageLimits::default()).unwrap();
            assert_eq!((header.width, header.height), (64, 64), "{name}");
        }
    }

    #[test]
    fn a_bmp_with_a_negative_width_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.bmp");
        std::fs::write(&path, bmp(-8, 8)).unwrap();
        let e = probe(&path, &ImageLimits::default()).unwrap_err();
        assert!(
            e.starts_with("corrupt BMP image: the header says -8x8 pixels"),
            "{e}"
        );
        let e = image_size(&path).unwrap_err();
        assert_eq!(e.to_string(), "corrupt BMP image: its header says width -8");
    }

    #[test]
    fn image_size_reads_a_top_down_bmp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("down.bmp");
        std::fs::write(&path, bmp(64, -64)).unwrap();
        assert_eq!(image_size(&path).unwrap(), (64, 64));
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_image_is_refused_before_it_is_opened() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("chip.png");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        let e = probe(&fifo, &ImageLimits::default()).unwrap_err();
        assert_eq!(e, "it is a FIFO (named pipe), not a regular file");
    }

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
