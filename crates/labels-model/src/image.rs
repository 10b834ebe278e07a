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
    })
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
