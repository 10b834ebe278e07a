//! A PostGIS raster ([`WkbRaster`]) written back as a TIFF: every band, in
//! its pixel type, pixel-interleaved and Deflate-compressed; a GeoTIFF with
//! the raster's geotransform and CRS when asked. This is how a chip read
//! back from the database becomes a file again (`labelstore fetch`): GDAL
//! decodes from it the pixels PostGIS holds (`ST_Value`), on the same grid.
//!
//! Sub-byte pixel types (1BB, 2BUI, 4BUI) are written as 8-bit samples, as
//! PostGIS itself holds them. The first band's nodata value, when there is
//! one, becomes the `GDAL_NODATA` tag (GDAL has one nodata per dataset).

use crate::geotiff::{CrsKeys, set_geo_tags};
use crate::tiffio::{TiffBuilder, Value, tag};
use crate::wkb::{PixelType, Pixels, WkbRaster};
use crate::{Error, GeoTransform, Result};

/// Strips hold about this many bytes before compression.
const STRIP_BYTES: usize = 256 * 1024;

/// Bits per sample and TIFF SampleFormat (1 unsigned, 2 signed, 3 float) of
/// a pixel type.
fn sample_of(t: PixelType) -> (u16, u16) {
    match t {
        PixelType::Bool1 | PixelType::U2 | PixelType::U4 | PixelType::U8 => (8, 1),
        PixelType::I8 => (8, 2),
        PixelType::U16 => (16, 1),
        PixelType::I16 => (16, 2),
        PixelType::U32 => (32, 1),
        PixelType::I32 => (32, 2),
        PixelType::F32 => (32, 3),
        PixelType::F64 => (64, 3),
    }
}

/// Appends pixel `i` of `p` in little-endian order.
fn push_pixel(out: &mut Vec<u8>, p: &Pixels, i: usize) {
    match p {
        Pixels::U8(v) => out.push(v[i]),
        Pixels::I8(v) => out.extend_from_slice(&v[i].to_le_bytes()),
        Pixels::U16(v) => out.extend_from_slice(&v[i].to_le_bytes()),
        Pixels::I16(v) => out.extend_from_slice(&v[i].to_le_bytes()),
        Pixels::U32(v) => out.extend_from_slice(&v[i].to_le_bytes()),
        Pixels::I32(v) => out.extend_from_slice(&v[i].to_le_bytes()),
        Pixels::F32(v) => out.extend_from_slice(&v[i].to_le_bytes()),
        Pixels::F64(v) => out.extend_from_slice(&v[i].to_le_bytes()),
    }
}

/// A nodata value as GDAL writes it in `GDAL_NODATA`.
fn nodata_text(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{v}")
    }
}

/// A striped, chunky, Deflate-compressed TIFF of decoded pixels, as
/// labelstore writes them (a database raster, a scene's window): its tags
/// and its strips' height.
#[derive(Debug, Clone)]
pub(crate) struct Striped {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) samples: u16,
    pub(crate) bits: u16,
    /// TIFF SampleFormat: 1 unsigned, 2 signed, 3 float.
    pub(crate) format: u16,
    /// Photometric RGB (else min-is-black).
    pub(crate) rgb: bool,
    /// ExtraSamples, one per sample beyond the colour ones.
    pub(crate) extra: Vec<u16>,
    /// The `GDAL_NODATA` text.
    pub(crate) nodata: Option<String>,
}

impl Striped {
    /// Bytes of one row of pixels.
    pub(crate) fn line_bytes(&self) -> usize {
        self.width as usize * usize::from(self.samples) * usize::from(self.bits / 8)
    }

    /// Whether strips are written with horizontal differencing
    /// ([`predict8`]): 8-bit integer samples.
    pub(crate) fn predicts(&self) -> bool {
        self.bits == 8 && self.format != 3
    }

    /// A strip of rows compressed as written: differenced when
    /// [`Striped::predicts`], then Deflate. `strip` is changed.
    pub(crate) fn compress(&self, strip: &mut [u8]) -> Vec<u8> {
        if self.predicts() {
            predict8(strip, self.line_bytes(), usize::from(self.samples));
        }
        deflate(strip)
    }

    /// Rows per strip: about [`STRIP_BYTES`] before compression.
    pub(crate) fn rows_per_strip(&self) -> usize {
        (STRIP_BYTES / self.line_bytes().max(1)).max(1)
    }

    /// Sets every tag but the strips' offsets and sizes and georeferencing.
    pub(crate) fn set_tags(&self, b: &mut TiffBuilder<'_>) {
        let samples = usize::from(self.samples);
        let rows = u32::try_from(self.rows_per_strip()).unwrap_or(u32::MAX);
        b.set(tag::IMAGE_WIDTH, Value::Long(vec![self.width]));
        b.set(tag::IMAGE_LENGTH, Value::Long(vec![self.height]));
        b.set(tag::BITS_PER_SAMPLE, Value::Short(vec![self.bits; samples]));
        b.set(tag::COMPRESSION, Value::Short(vec![8]));
        if self.predicts() {
            b.set(tag::PREDICTOR, Value::Short(vec![2]));
        }
        b.set(
            tag::PHOTOMETRIC,
            Value::Short(vec![if self.rgb { 2 } else { 1 }]),
        );
        b.set(tag::SAMPLES_PER_PIXEL, Value::Short(vec![self.samples]));
        b.set(tag::ROWS_PER_STRIP, Value::Long(vec![rows]));
        b.set(tag::PLANAR_CONFIG, Value::Short(vec![1]));
        b.set(tag::SAMPLE_FORMAT, Value::Short(vec![self.format; samples]));
        if !self.extra.is_empty() {
            b.set(tag::EXTRA_SAMPLES, Value::Short(self.extra.clone()));
        }
        if let Some(nodata) = &self.nodata {
            b.set(tag::GDAL_NODATA, Value::Ascii(nodata.clone().into_bytes()));
        }
    }
}

/// Writes `r` as a TIFF; with `georef`, a GeoTIFF carrying that
/// geotransform (normally the raster's own) and CRS. `file` names the
/// raster in errors. Every band must have the same pixel type (a TIFF has
/// one per file in practice: GDAL reads nothing else).
pub fn raster_to_geotiff(
    r: &WkbRaster,
    file: &str,
    georef: Option<(&GeoTransform, Option<CrsKeys<'_>>)>,
) -> Result<Vec<u8>> {
    let err = |message: String| Error::GeoTiff {
        file: file.to_owned(),
        message,
    };
    r.validate().map_err(|e| err(e.to_string()))?;
    let Some(first) = r.bands.first() else {
        return Err(err("a raster without bands cannot be a TIFF".into()));
    };
    if let Some(b) = r.bands.iter().find(|b| b.pixtype != first.pixtype) {
        return Err(err(format!(
            "bands of different pixel types ({} and {}) cannot share a TIFF",
            first.pixtype, b.pixtype
        )));
    }
    let (bits, format) = sample_of(first.pixtype);
    let samples = u16::try_from(r.bands.len()).map_err(|_| err("too many bands".into()))?;
    let (w, h) = (usize::from(r.width), usize::from(r.height));
    let rgb = bits == 8 && format == 1 && (samples == 3 || samples == 4);
    let extra = usize::from(samples) - if rgb { 3 } else { 1 };
    let layout = Striped {
        width: u32::from(r.width),
        height: u32::from(r.height),
        samples,
        bits,
        format,
        rgb,
        // RGBA: the fourth band is alpha (unassociated); otherwise the
        // extra bands are unspecified data.
        extra: vec![if rgb && samples == 4 { 2 } else { 0 }; extra],
        nodata: first.nodata.map(nodata_text),
    };
    let (line, rows) = (layout.line_bytes(), layout.rows_per_strip());
    let mut b = TiffBuilder::new(false);
    layout.set_tags(&mut b);
    let mut strip = Vec::with_capacity(rows * line);
    for y0 in (0..h).step_by(rows) {
        strip.clear();
        for y in y0..(y0 + rows).min(h) {
            for x in 0..w {
                let i = y * w + x;
                for band in &r.bands {
                    push_pixel(&mut strip, &band.pixels, i);
                }
            }
        }
        b.push_chunk(layout.compress(&mut strip));
    }
    if let Some((gt, crs)) = georef {
        set_geo_tags(&mut b, gt, crs).map_err(err)?;
    }
    b.finish().map_err(err)
}

/// TIFF's horizontal differencing (Predictor 2) of 8-bit samples, in
/// place: each sample less the same sample of the pixel to its left, row
/// by row (`line` bytes, `samples` per pixel). Photographic chips compress
/// to about half with it, and faster; GDAL writes it with
/// `PREDICTOR=2` and every TIFF reader undoes it.
pub(crate) fn predict8(buf: &mut [u8], line: usize, samples: usize) {
    if line == 0 || samples == 0 {
        return;
    }
    for row in buf.chunks_mut(line) {
        for i in (samples..row.len()).rev() {
            row[i] = row[i].wrapping_sub(row[i - samples]);
        }
    }
}

/// A strip or tile compressed as a TIFF's Deflate chunk (zlib stream, level 1:
/// fast, and what GDAL reads like any other level).
pub(crate) fn deflate(data: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(1));
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    let mut out = enc.finish().unwrap_or_default();
    // A whole image's strips wait for the TIFF to be assembled: each keeps
    // only its bytes (a blank strip compresses to almost nothing).
    out.shrink_to_fit();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RasterBand;

    fn decode(bytes: &[u8]) -> tiff::decoder::DecodingResult {
        let mut d = tiff::decoder::Decoder::new(std::io::Cursor::new(bytes)).unwrap();
        d.read_image().unwrap()
    }

    #[test]
    fn bands_round_trip_through_a_tiff() {
        let r = WkbRaster {
            width: 3,
            height: 2,
            geotransform: GeoTransform([500000.0, 10.0, 0.0, 4100000.0, 0.0, -10.0]),
            srid: 32633,
            bands: vec![
                RasterBand {
                    pixtype: PixelType::I16,
                    nodata: Some(-9999.0),
                    pixels: Pixels::I16(vec![1, -2, 3, 4, 5, -9999]),
                },
                RasterBand {
                    pixtype: PixelType::I16,
                    nodata: None,
                    pixels: Pixels::I16(vec![10, 20, 30, 40, 50, 60]),
                },
            ],
        };
        let gt = r.geotransform;
        let crs = CrsKeys {
            epsg: 32633,
            geographic: false,
            name: "WGS 84 / UTM zone 33N",
        };
        let tif = raster_to_geotiff(&r, "t", Some((&gt, Some(crs)))).unwrap();
        match decode(&tif) {
            tiff::decoder::DecodingResult::I16(v) => {
                assert_eq!(v, vec![1, 10, -2, 20, 3, 30, 4, 40, 5, 50, -9999, 60]);
            }
            _ => panic!("not 16-bit signed"),
        }
        let g = crate::read_embedded(std::io::Cursor::new(&tif), "t")
            .unwrap()
            .unwrap();
        assert_eq!(g.transform, Some(gt));
        let plain = raster_to_geotiff(&r, "t", None).unwrap();
        let g = crate::read_embedded(std::io::Cursor::new(&plain), "t").unwrap();
        assert!(g.is_none_or(|g| g.transform.is_none()), "{g:?}");
    }

    #[test]
    fn mixed_pixel_types_are_refused() {
        let r = WkbRaster {
            width: 1,
            height: 1,
            geotransform: GeoTransform([0.0, 1.0, 0.0, 0.0, 0.0, -1.0]),
            srid: 0,
            bands: vec![
                RasterBand {
                    pixtype: PixelType::U8,
                    nodata: None,
                    pixels: Pixels::U8(vec![1]),
                },
                RasterBand {
                    pixtype: PixelType::F32,
                    nodata: None,
                    pixels: Pixels::F32(vec![1.0]),
                },
            ],
        };
        let e = raster_to_geotiff(&r, "chip x", None).unwrap_err();
        assert!(e.to_string().contains("chip x"), "{e}");
    }
}
