//! A small TIFF container layer: parse the first IFD of a TIFF (classic or
//! BigTIFF, either byte order) into typed tag values, and assemble a new
//! classic little-endian TIFF from tag values and already-encoded strips or
//! tiles. Pixels are never decoded or re-encoded here, which is what lets a
//! TIFF chip be georeferenced with its compressed data copied as-is.
//!
//! (The `tiff` crate has no way to rewrite a file's directory around its
//! existing compressed chunks; see GEO.md.)

mod read;
mod write;

pub(crate) use read::{Ifd, parse, parse_from};
pub(crate) use write::TiffBuilder;

/// TIFF field types, by their numbers in the TIFF 6.0 / BigTIFF specs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Byte(Vec<u8>),
    Ascii(Vec<u8>),
    Short(Vec<u16>),
    Long(Vec<u32>),
    Rational(Vec<(u32, u32)>),
    SByte(Vec<i8>),
    Undefined(Vec<u8>),
    SShort(Vec<i16>),
    SLong(Vec<i32>),
    SRational(Vec<(i32, i32)>),
    Float(Vec<f32>),
    Double(Vec<f64>),
    Long8(Vec<u64>),
    SLong8(Vec<i64>),
}

impl Value {
    /// The values as unsigned integers, for the integer types.
    pub(crate) fn as_u64s(&self) -> Option<Vec<u64>> {
        Some(match self {
            Value::Byte(v) => v.iter().map(|&x| u64::from(x)).collect(),
            Value::Short(v) => v.iter().map(|&x| u64::from(x)).collect(),
            Value::Long(v) => v.iter().map(|&x| u64::from(x)).collect(),
            Value::Long8(v) => v.clone(),
            _ => return None,
        })
    }

    /// The values as floats, for the numeric types.
    pub(crate) fn as_f64s(&self) -> Option<Vec<f64>> {
        Some(match self {
            Value::Double(v) => v.clone(),
            Value::Float(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Value::Rational(v) => v
                .iter()
                .map(|&(n, d)| f64::from(n) / f64::from(d))
                .collect(),
            Value::SRational(v) => v
                .iter()
                .map(|&(n, d)| f64::from(n) / f64::from(d))
                .collect(),
            Value::SByte(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Value::SShort(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Value::SLong(v) => v.iter().map(|&x| f64::from(x)).collect(),
            other => other.as_u64s()?.into_iter().map(|x| x as f64).collect(),
        })
    }

    /// ASCII text up to the first NUL.
    #[cfg(test)]
    pub(crate) fn as_text(&self) -> Option<String> {
        match self {
            Value::Ascii(b) => {
                let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                Some(String::from_utf8_lossy(&b[..end]).into_owned())
            }
            _ => None,
        }
    }
}

/// Tag numbers used here.
pub(crate) mod tag {
    pub(crate) const IMAGE_WIDTH: u16 = 256;
    pub(crate) const IMAGE_LENGTH: u16 = 257;
    pub(crate) const BITS_PER_SAMPLE: u16 = 258;
    pub(crate) const COMPRESSION: u16 = 259;
    pub(crate) const PHOTOMETRIC: u16 = 262;
    pub(crate) const STRIP_OFFSETS: u16 = 273;
    pub(crate) const SAMPLES_PER_PIXEL: u16 = 277;
    pub(crate) const ROWS_PER_STRIP: u16 = 278;
    pub(crate) const STRIP_BYTE_COUNTS: u16 = 279;
    pub(crate) const PLANAR_CONFIG: u16 = 284;
    pub(crate) const PREDICTOR: u16 = 317;
    pub(crate) const COLOR_MAP: u16 = 320;
    pub(crate) const TILE_OFFSETS: u16 = 324;
    pub(crate) const TILE_BYTE_COUNTS: u16 = 325;
    pub(crate) const SUB_IFDS: u16 = 330;
    pub(crate) const EXTRA_SAMPLES: u16 = 338;
    pub(crate) const SAMPLE_FORMAT: u16 = 339;
    pub(crate) const JPEG_TABLES: u16 = 347;
    pub(crate) const YCBCR_SUBSAMPLING: u16 = 530;
    pub(crate) const MODEL_PIXEL_SCALE: u16 = 33550;
    pub(crate) const MODEL_TIEPOINT: u16 = 33922;
    pub(crate) const EXIF_IFD: u16 = 34665;
    pub(crate) const MODEL_TRANSFORMATION: u16 = 34264;
    pub(crate) const GEO_KEY_DIRECTORY: u16 = 34735;
    pub(crate) const GEO_DOUBLE_PARAMS: u16 = 34736;
    pub(crate) const GEO_ASCII_PARAMS: u16 = 34737;
    pub(crate) const GPS_IFD: u16 = 34853;
    pub(crate) const INTEROP_IFD: u16 = 40965;
    pub(crate) const GDAL_NODATA: u16 = 42113;
}
