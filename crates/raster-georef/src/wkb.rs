//! PostGIS raster in its well-known binary form (WKB, PostGIS RFC2), written
//! and read by our own code.
//!
//! Layout: a 61-byte header (byte order, version 0, band count, scale x/y,
//! upper-left corner x/y, skew x/y, SRID, width, height), then for each band
//! a flag byte (`0x40` has nodata, `0x20` whole band nodata, low nibble the
//! pixel type), the nodata value (always present, sized by the pixel type)
//! and the pixels row by row from the upper-left one. Every multi-byte field
//! is in the byte order named by byte 0 (1 little-endian, 0 big-endian).
//! Sub-byte types (1BB, 2BUI, 4BUI) take one byte per pixel. Offline bands
//! are not written and are refused when read.
//!
//! Send it to PostgreSQL as `ST_RastFromWKB($1)` with a `bytea` parameter,
//! or as hex text (`'<hex>'::raster`, or a COPY field of a raster column).
//!
//! ```
//! use raster_georef::{GeoTransform, Pixels, PixelType, RasterBand, WkbRaster};
//! let r = WkbRaster {
//!     width: 3,
//!     height: 2,
//!     geotransform: GeoTransform([440720.0, 60.0, 0.0, 3751320.0, 0.0, -60.0]),
//!     srid: 32611,
//!     bands: vec![RasterBand {
//!         pixtype: PixelType::U8,
//!         nodata: Some(0.0),
//!         pixels: Pixels::U8(vec![1, 2, 3, 4, 5, 6]),
//!     }],
//! };
//! let wkb = r.to_wkb(false)?;
//! assert_eq!(wkb.len(), 61 + 2 + 6);
//! assert_eq!(WkbRaster::from_wkb(&wkb)?, r);
//! Ok::<(), raster_georef::WkbError>(())
//! ```

use crate::GeoTransform;

/// A PostGIS raster pixel type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PixelType {
    /// `1BB`: 1-bit boolean (one byte per pixel, 0 or 1).
    Bool1,
    /// `2BUI`: 2-bit unsigned (one byte per pixel, 0 to 3).
    U2,
    /// `4BUI`: 4-bit unsigned (one byte per pixel, 0 to 15).
    U4,
    /// `8BSI`.
    I8,
    /// `8BUI`.
    U8,
    /// `16BSI`.
    I16,
    /// `16BUI`.
    U16,
    /// `32BSI`.
    I32,
    /// `32BUI`.
    U32,
    /// `32BF`.
    F32,
    /// `64BF`.
    F64,
}

impl PixelType {
    /// Every pixel type, in code order.
    pub const ALL: [PixelType; 11] = [
        PixelType::Bool1,
        PixelType::U2,
        PixelType::U4,
        PixelType::I8,
        PixelType::U8,
        PixelType::I16,
        PixelType::U16,
        PixelType::I32,
        PixelType::U32,
        PixelType::F32,
        PixelType::F64,
    ];

    /// The code in the band's flag byte (PostGIS `rt_pixtype`).
    pub fn code(self) -> u8 {
        match self {
            PixelType::Bool1 => 0,
            PixelType::U2 => 1,
            PixelType::U4 => 2,
            PixelType::I8 => 3,
            PixelType::U8 => 4,
            PixelType::I16 => 5,
            PixelType::U16 => 6,
            PixelType::I32 => 7,
            PixelType::U32 => 8,
            PixelType::F32 => 10,
            PixelType::F64 => 11,
        }
    }

    /// The pixel type with code `code`.
    pub fn from_code(code: u8) -> Option<PixelType> {
        PixelType::ALL.into_iter().find(|t| t.code() == code)
    }

    /// Its name as `ST_BandPixelType` gives it (`8BUI`, `32BF`, ...).
    pub fn name(self) -> &'static str {
        match self {
            PixelType::Bool1 => "1BB",
            PixelType::U2 => "2BUI",
            PixelType::U4 => "4BUI",
            PixelType::I8 => "8BSI",
            PixelType::U8 => "8BUI",
            PixelType::I16 => "16BSI",
            PixelType::U16 => "16BUI",
            PixelType::I32 => "32BSI",
            PixelType::U32 => "32BUI",
            PixelType::F32 => "32BF",
            PixelType::F64 => "64BF",
        }
    }

    /// Bytes per pixel (and per nodata value) in WKB.
    pub fn size(self) -> usize {
        match self {
            PixelType::Bool1 | PixelType::U2 | PixelType::U4 | PixelType::I8 | PixelType::U8 => 1,
            PixelType::I16 | PixelType::U16 => 2,
            PixelType::I32 | PixelType::U32 | PixelType::F32 => 4,
            PixelType::F64 => 8,
        }
    }

    /// The largest value of a sub-byte type.
    fn max_small(self) -> Option<u8> {
        match self {
            PixelType::Bool1 => Some(1),
            PixelType::U2 => Some(3),
            PixelType::U4 => Some(15),
            _ => None,
        }
    }

    /// Whether `v` is a value of this type, exactly.
    pub fn holds(self, v: f64) -> bool {
        let int = |lo: f64, hi: f64| v.fract() == 0.0 && (lo..=hi).contains(&v);
        match self {
            PixelType::Bool1 => int(0.0, 1.0),
            PixelType::U2 => int(0.0, 3.0),
            PixelType::U4 => int(0.0, 15.0),
            PixelType::I8 => int(-128.0, 127.0),
            PixelType::U8 => int(0.0, 255.0),
            PixelType::I16 => int(-32768.0, 32767.0),
            PixelType::U16 => int(0.0, 65535.0),
            PixelType::I32 => int(-2147483648.0, 2147483647.0),
            PixelType::U32 => int(0.0, 4294967295.0),
            PixelType::F32 => v.is_nan() || v.is_infinite() || f64::from(v as f32) == v,
            PixelType::F64 => true,
        }
    }
}

impl std::fmt::Display for PixelType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The pixels of one band, rows top first, in the Rust type of its pixel
/// type (1BB, 2BUI, 4BUI and 8BUI use `U8`).
#[derive(Debug, Clone, PartialEq)]
pub enum Pixels {
    /// 1BB, 2BUI, 4BUI, 8BUI.
    U8(Vec<u8>),
    /// 8BSI.
    I8(Vec<i8>),
    /// 16BUI.
    U16(Vec<u16>),
    /// 16BSI.
    I16(Vec<i16>),
    /// 32BUI.
    U32(Vec<u32>),
    /// 32BSI.
    I32(Vec<i32>),
    /// 32BF.
    F32(Vec<f32>),
    /// 64BF.
    F64(Vec<f64>),
}

impl Pixels {
    /// How many pixels.
    pub fn len(&self) -> usize {
        match self {
            Pixels::U8(v) => v.len(),
            Pixels::I8(v) => v.len(),
            Pixels::U16(v) => v.len(),
            Pixels::I16(v) => v.len(),
            Pixels::U32(v) => v.len(),
            Pixels::I32(v) => v.len(),
            Pixels::F32(v) => v.len(),
            Pixels::F64(v) => v.len(),
        }
    }

    /// Whether there are no pixels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pixel `i` as a number.
    pub fn get(&self, i: usize) -> Option<f64> {
        Some(match self {
            Pixels::U8(v) => f64::from(*v.get(i)?),
            Pixels::I8(v) => f64::from(*v.get(i)?),
            Pixels::U16(v) => f64::from(*v.get(i)?),
            Pixels::I16(v) => f64::from(*v.get(i)?),
            Pixels::U32(v) => f64::from(*v.get(i)?),
            Pixels::I32(v) => f64::from(*v.get(i)?),
            Pixels::F32(v) => f64::from(*v.get(i)?),
            Pixels::F64(v) => *v.get(i)?,
        })
    }

    /// Whether these pixels can be of type `t`.
    fn fits(&self, t: PixelType) -> bool {
        matches!(
            (self, t),
            (
                Pixels::U8(_),
                PixelType::Bool1 | PixelType::U2 | PixelType::U4 | PixelType::U8
            ) | (Pixels::I8(_), PixelType::I8)
                | (Pixels::U16(_), PixelType::U16)
                | (Pixels::I16(_), PixelType::I16)
                | (Pixels::U32(_), PixelType::U32)
                | (Pixels::I32(_), PixelType::I32)
                | (Pixels::F32(_), PixelType::F32)
                | (Pixels::F64(_), PixelType::F64)
        )
    }
}

/// One band of a raster.
#[derive(Debug, Clone, PartialEq)]
pub struct RasterBand {
    /// Its pixel type.
    pub pixtype: PixelType,
    /// Its nodata value, when it has one.
    pub nodata: Option<f64>,
    /// Its pixels, `width * height` of them.
    pub pixels: Pixels,
}

/// A PostGIS raster held in memory: size, georeferencing and bands.
#[derive(Debug, Clone, PartialEq)]
pub struct WkbRaster {
    /// Width in pixels (PostGIS limit: 65,535).
    pub width: u16,
    /// Height in pixels (PostGIS limit: 65,535).
    pub height: u16,
    /// GDAL-order, corner-based geotransform: upper-left x, scale x, skew x,
    /// upper-left y, skew y, scale y (PostGIS ipX, scaleX, skewX, ipY,
    /// skewY, scaleY).
    pub geotransform: GeoTransform,
    /// Spatial reference id (0: unknown).
    pub srid: i32,
    /// The bands.
    pub bands: Vec<RasterBand>,
}

/// Why a raster cannot be written or read as WKB.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WkbError {
    /// A raster that WKB cannot represent (wrong pixel count, a value or
    /// nodata out of its type, too many bands).
    #[error("invalid raster: {0}")]
    Invalid(String),
    /// Bytes that are not a PostGIS raster WKB this reader understands.
    #[error("corrupt raster WKB: {0}")]
    Corrupt(String),
}

/// Size of the WKB header.
const HEADER: usize = 61;
const HAS_NODATA: u8 = 0x40;
const OFFLINE: u8 = 0x80;

struct Writer<'a> {
    out: &'a mut Vec<u8>,
    big: bool,
}

macro_rules! put_num {
    ($name:ident, $t:ty) => {
        fn $name(&mut self, v: $t) {
            if self.big {
                self.out.extend_from_slice(&v.to_be_bytes());
            } else {
                self.out.extend_from_slice(&v.to_le_bytes());
            }
        }
    };
}

impl Writer<'_> {
    put_num!(u16, u16);
    put_num!(i32, i32);
    put_num!(f64, f64);

    fn nodata(&mut self, t: PixelType, v: f64) {
        // Casts are exact: `holds` was checked before.
        match t {
            PixelType::Bool1 | PixelType::U2 | PixelType::U4 | PixelType::U8 => {
                self.out.push(v as u8)
            }
            PixelType::I8 => self.out.push(v as i8 as u8),
            PixelType::I16 => self.num(&(v as i16).to_le_bytes(), &(v as i16).to_be_bytes()),
            PixelType::U16 => self.num(&(v as u16).to_le_bytes(), &(v as u16).to_be_bytes()),
            PixelType::I32 => self.num(&(v as i32).to_le_bytes(), &(v as i32).to_be_bytes()),
            PixelType::U32 => self.num(&(v as u32).to_le_bytes(), &(v as u32).to_be_bytes()),
            PixelType::F32 => self.num(&(v as f32).to_le_bytes(), &(v as f32).to_be_bytes()),
            PixelType::F64 => self.f64(v),
        }
    }

    fn num(&mut self, le: &[u8], be: &[u8]) {
        self.out.extend_from_slice(if self.big { be } else { le });
    }

    fn pixels(&mut self, p: &Pixels) {
        macro_rules! each {
            ($v:expr) => {
                for x in $v {
                    self.num(&x.to_le_bytes(), &x.to_be_bytes());
                }
            };
        }
        match p {
            Pixels::U8(v) => self.out.extend_from_slice(v),
            Pixels::I8(v) => self.out.extend(v.iter().map(|&x| x as u8)),
            Pixels::U16(v) => each!(v),
            Pixels::I16(v) => each!(v),
            Pixels::U32(v) => each!(v),
            Pixels::I32(v) => each!(v),
            Pixels::F32(v) => each!(v),
            Pixels::F64(v) => each!(v),
        }
    }
}

impl WkbRaster {
    /// Checks that WKB can hold this raster as it is.
    pub fn validate(&self) -> Result<(), WkbError> {
        let bad = |m: String| Err(WkbError::Invalid(m));
        if u16::try_from(self.bands.len()).is_err() {
            return bad(format!("{} bands (at most 65,535)", self.bands.len()));
        }
        if self.geotransform.0.iter().any(|c| !c.is_finite()) {
            return bad(format!(
                "geotransform {:?} is not finite",
                self.geotransform.0
            ));
        }
        let n = usize::from(self.width) * usize::from(self.height);
        for (i, b) in self.bands.iter().enumerate() {
            let band = i + 1;
            if !b.pixels.fits(b.pixtype) {
                return bad(format!(
                    "band {band}: pixels do not match pixel type {}",
                    b.pixtype
                ));
            }
            if b.pixels.len() != n {
                return bad(format!(
                    "band {band}: {} pixels for {}x{}",
                    b.pixels.len(),
                    self.width,
                    self.height
                ));
            }
            if let Some(v) = b.nodata
                && !b.pixtype.holds(v)
            {
                return bad(format!(
                    "band {band}: nodata {v} is not a {} value",
                    b.pixtype
                ));
            }
            if let (Some(max), Pixels::U8(v)) = (b.pixtype.max_small(), &b.pixels)
                && let Some(x) = v.iter().find(|&&x| x > max)
            {
                return bad(format!(
                    "band {band}: pixel value {x} out of range for {}",
                    b.pixtype
                ));
            }
        }
        Ok(())
    }

    /// The size of the WKB in bytes.
    pub fn wkb_len(&self) -> usize {
        let n = usize::from(self.width) * usize::from(self.height);
        HEADER
            + self
                .bands
                .iter()
                .map(|b| 1 + b.pixtype.size() * (1 + n))
                .sum::<usize>()
    }

    /// The raster as WKB, big-endian (XDR) or little-endian (NDR, what
    /// PostGIS itself writes).
    pub fn to_wkb(&self, big_endian: bool) -> Result<Vec<u8>, WkbError> {
        let mut out = Vec::with_capacity(self.wkb_len());
        self.write_wkb(big_endian, &mut out)?;
        Ok(out)
    }

    /// Appends the raster's WKB ([`to_wkb`](Self::to_wkb)) to `out`, which
    /// is left as it was when the raster cannot be written.
    pub fn write_wkb(&self, big_endian: bool, out: &mut Vec<u8>) -> Result<(), WkbError> {
        self.validate()?;
        out.reserve(self.wkb_len());
        let mut w = Writer {
            out,
            big: big_endian,
        };
        let [ipx, sx, kx, ipy, ky, sy] = self.geotransform.0;
        w.out.push(u8::from(!big_endian));
        w.u16(0);
        w.u16(self.bands.len() as u16);
        for v in [sx, sy, ipx, ipy, kx, ky] {
            w.f64(v);
        }
        w.i32(self.srid);
        w.u16(self.width);
        w.u16(self.height);
        for b in &self.bands {
            let flags = b.pixtype.code() | if b.nodata.is_some() { HAS_NODATA } else { 0 };
            w.out.push(flags);
            // The nodata slot is always there, sized by the pixel type.
            w.nodata(b.pixtype, b.nodata.unwrap_or(0.0));
            w.pixels(&b.pixels);
        }
        Ok(())
    }

    /// The raster as hex WKB (upper-case), as `raster_out` and
    /// raster2pgsql write it (little-endian).
    pub fn to_hex_wkb(&self) -> Result<String, WkbError> {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let wkb = self.to_wkb(false)?;
        let mut s = String::with_capacity(wkb.len() * 2);
        for b in wkb {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 15)]));
        }
        Ok(s)
    }

    /// Reads a raster WKB, in either byte order. A band flagged "whole band
    /// nodata" keeps its pixels as written.
    pub fn from_wkb(bytes: &[u8]) -> Result<WkbRaster, WkbError> {
        let mut r = Reader {
            b: bytes,
            at: 0,
            big: false,
        };
        let order = r.take(1)?[0];
        r.big = match order {
            0 => true,
            1 => false,
            o => return Err(corrupt(format!("byte order {o} (expected 0 or 1)"))),
        };
        let version = r.u16()?;
        if version != 0 {
            return Err(corrupt(format!("version {version} (expected 0)")));
        }
        let nbands = r.u16()?;
        let (sx, sy, ipx, ipy, kx, ky) =
            (r.f64()?, r.f64()?, r.f64()?, r.f64()?, r.f64()?, r.f64()?);
        let srid = r.i32()?;
        let (width, height) = (r.u16()?, r.u16()?);
        let n = usize::from(width) * usize::from(height);
        let mut bands = Vec::with_capacity(usize::from(nbands).min(1024));
        for i in 0..nbands {
            let flags = r.take(1)?[0];
            if flags & OFFLINE != 0 {
                return Err(corrupt(format!(
                    "band {} is offline (out-db), which is not supported",
                    i + 1
                )));
            }
            let pixtype = PixelType::from_code(flags & 0x0F)
                .ok_or_else(|| corrupt(format!("band {}: pixel type {}", i + 1, flags & 15)))?;
            let nodata_value = r.values(pixtype, 1)?.get(0);
            let pixels = r.values(pixtype, n)?;
            bands.push(RasterBand {
                pixtype,
                nodata: if flags & HAS_NODATA != 0 {
                    nodata_value
                } else {
                    None
                },
                pixels,
            });
        }
        if r.at != bytes.len() {
            return Err(corrupt(format!(
                "{} bytes after the last band",
                bytes.len() - r.at
            )));
        }
        Ok(WkbRaster {
            width,
            height,
            geotransform: GeoTransform([ipx, sx, kx, ipy, ky, sy]),
            srid,
            bands,
        })
    }

    /// Reads hex WKB (either letter case).
    pub fn from_hex_wkb(hex: &str) -> Result<WkbRaster, WkbError> {
        let h = hex.trim().as_bytes();
        if !h.len().is_multiple_of(2) {
            return Err(corrupt("odd number of hex digits".into()));
        }
        let digit = |c: u8| {
            (c as char)
                .to_digit(16)
                .map(|d| d as u8)
                .ok_or_else(|| corrupt(format!("{:?} is not a hex digit", c as char)))
        };
        let bytes = h
            .chunks_exact(2)
            .map(|p| Ok(digit(p[0])? << 4 | digit(p[1])?))
            .collect::<Result<Vec<u8>, WkbError>>()?;
        WkbRaster::from_wkb(&bytes)
    }
}

fn corrupt(m: String) -> WkbError {
    WkbError::Corrupt(m)
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
    big: bool,
}

macro_rules! get_num {
    ($name:ident, $t:ty) => {
        fn $name(&mut self) -> Result<$t, WkbError> {
            let s = self.take(size_of::<$t>())?;
            let a = s.try_into().map_err(|_| corrupt("short field".into()))?;
            Ok(if self.big {
                <$t>::from_be_bytes(a)
            } else {
                <$t>::from_le_bytes(a)
            })
        }
    };
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], WkbError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| {
                corrupt(format!(
                    "premature end: {n} more bytes needed at offset {}",
                    self.at
                ))
            })?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    get_num!(u16, u16);
    get_num!(i32, i32);
    get_num!(f64, f64);

    fn values(&mut self, t: PixelType, n: usize) -> Result<Pixels, WkbError> {
        let len = n
            .checked_mul(t.size())
            .ok_or_else(|| corrupt("band too large".into()))?;
        let big = self.big;
        let s = self.take(len)?;
        macro_rules! conv {
            ($t:ty, $v:ident) => {
                Pixels::$v(
                    s.chunks_exact(size_of::<$t>())
                        .map(|c| {
                            let a = c.try_into().unwrap_or_default();
                            if big {
                                <$t>::from_be_bytes(a)
                            } else {
                                <$t>::from_le_bytes(a)
                            }
                        })
                        .collect(),
                )
            };
        }
        Ok(match t {
            PixelType::Bool1 | PixelType::U2 | PixelType::U4 | PixelType::U8 => {
                Pixels::U8(s.to_vec())
            }
            PixelType::I8 => Pixels::I8(s.iter().map(|&x| x as i8).collect()),
            PixelType::U16 => conv!(u16, U16),
            PixelType::I16 => conv!(i16, I16),
            PixelType::U32 => conv!(u32, U32),
            PixelType::I32 => conv!(i32, I32),
            PixelType::F32 => conv!(f32, F32),
            PixelType::F64 => conv!(f64, F64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GEO.md §3's verified hand-made raster: 3x2 8BUI, nodata 0,
    /// EPSG:32611, 60 m pixels, upper-left 440720/3751320.
    const VERIFIED: &str = "01000001000000000000004E400000000000004EC00000000040E61A4100000000CC9E4C4100000000000000000000000000000000637F0000030002004400010203040506";

    fn verified() -> WkbRaster {
        WkbRaster {
            width: 3,
            height: 2,
            geotransform: GeoTransform([440720.0, 60.0, 0.0, 3751320.0, 0.0, -60.0]),
            srid: 32611,
            bands: vec![RasterBand {
                pixtype: PixelType::U8,
                nodata: Some(0.0),
                pixels: Pixels::U8(vec![1, 2, 3, 4, 5, 6]),
            }],
        }
    }

    #[test]
    fn matches_the_verified_hex() {
        assert_eq!(verified().to_hex_wkb().unwrap(), VERIFIED);
        assert_eq!(WkbRaster::from_hex_wkb(VERIFIED).unwrap(), verified());
    }

    fn every_type() -> WkbRaster {
        let band = |pixtype, nodata, pixels| RasterBand {
            pixtype,
            nodata,
            pixels,
        };
        WkbRaster {
            width: 2,
            height: 2,
            geotransform: GeoTransform([10.0, 2.0, 0.5, 20.0, 0.25, -2.0]),
            srid: 4326,
            bands: vec![
                band(PixelType::Bool1, None, Pixels::U8(vec![0, 1, 1, 0])),
                band(PixelType::U2, Some(3.0), Pixels::U8(vec![0, 1, 2, 3])),
                band(PixelType::U4, None, Pixels::U8(vec![0, 15, 7, 8])),
                band(
                    PixelType::I8,
                    Some(-128.0),
                    Pixels::I8(vec![-128, -1, 0, 127]),
                ),
                band(PixelType::U8, None, Pixels::U8(vec![0, 1, 254, 255])),
                band(
                    PixelType::I16,
                    Some(-9999.0),
                    Pixels::I16(vec![-32768, -1, 0, 32767]),
                ),
                band(PixelType::U16, None, Pixels::U16(vec![0, 1, 65534, 65535])),
                band(
                    PixelType::I32,
                    None,
                    Pixels::I32(vec![i32::MIN, -1, 0, i32::MAX]),
                ),
                band(
                    PixelType::U32,
                    Some(0.0),
                    Pixels::U32(vec![0, 1, 7, u32::MAX]),
                ),
                band(
                    PixelType::F32,
                    Some(-3.5),
                    Pixels::F32(vec![-3.5, 0.0, 1.25, 3.4e38]),
                ),
                band(
                    PixelType::F64,
                    None,
                    Pixels::F64(vec![-1e300, 0.0, 0.1, 1e300]),
                ),
            ],
        }
    }

    #[test]
    fn every_type_round_trips_in_both_byte_orders() {
        let r = every_type();
        let (le, be) = (r.to_wkb(false).unwrap(), r.to_wkb(true).unwrap());
        assert_eq!(le.len(), r.wkb_len());
        assert_eq!(be.len(), r.wkb_len());
        assert_eq!((le[0], be[0]), (1, 0));
        assert_ne!(le, be);
        assert_eq!(WkbRaster::from_wkb(&le).unwrap(), r);
        assert_eq!(WkbRaster::from_wkb(&be).unwrap(), r);
    }

    #[test]
    fn nodata_slot_is_always_written() {
        // The wkb-raster crate's bug (GEO.md §3): a 16-bit band without
        // nodata must still have a 2-byte nodata slot.
        let r = WkbRaster {
            bands: vec![RasterBand {
                pixtype: PixelType::U16,
                nodata: None,
                pixels: Pixels::U16(vec![1, 2, 3, 4, 5, 6]),
            }],
            ..verified()
        };
        let wkb = r.to_wkb(false).unwrap();
        assert_eq!(wkb.len(), 61 + 1 + 2 + 12);
        assert_eq!(wkb[61], 6);
        assert_eq!(&wkb[62..64], &[0, 0]);
    }

    #[test]
    fn refuses_what_wkb_cannot_hold() {
        let mut r = verified();
        r.bands[0].pixels = Pixels::U8(vec![1, 2, 3]);
        assert!(matches!(r.to_wkb(false), Err(WkbError::Invalid(m)) if m.contains("3 pixels")));
        let mut r = verified();
        r.bands[0].nodata = Some(256.0);
        assert!(r.to_wkb(false).is_err());
        let mut r = verified();
        r.bands[0].pixtype = PixelType::U4;
        r.bands[0].pixels = Pixels::U8(vec![1, 2, 3, 4, 5, 16]);
        assert!(r.to_wkb(false).is_err());
        let mut r = verified();
        r.bands[0].pixtype = PixelType::U16;
        assert!(r.to_wkb(false).is_err());
    }

    #[test]
    fn refuses_corrupt_wkb() {
        let wkb = verified().to_wkb(false).unwrap();
        for n in 0..wkb.len() {
            assert!(WkbRaster::from_wkb(&wkb[..n]).is_err(), "{n}");
        }
        let mut extra = wkb.clone();
        extra.push(0);
        assert!(WkbRaster::from_wkb(&extra).is_err());
        let mut bad = wkb.clone();
        bad[61] = 0x49; // pixel type 9
        assert!(WkbRaster::from_wkb(&bad).is_err());
        let mut bad = wkb;
        bad[0] = 2;
        assert!(WkbRaster::from_wkb(&bad).is_err());
    }
}
