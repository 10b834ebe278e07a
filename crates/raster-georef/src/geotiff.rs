//! GeoTIFF georeferencing: reading it from a TIFF's tags, and the tags that
//! write it (PixelIsArea; scale and tiepoint when north-up, the
//! transformation matrix otherwise; the GeoKey directory with the EPSG code
//! and a citation).

use std::io::{Read, Seek};

use crate::tiffio::{Ifd, TiffBuilder, Value, parse_from, tag};
use crate::{Error, GeoTransform, Result};

/// The georeferencing a GeoTIFF carries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmbeddedGeoref {
    /// Pixel-corner geotransform (a PixelIsPoint file is shifted back by
    /// half a pixel, as GDAL does), when the file has one.
    pub transform: Option<GeoTransform>,
    /// The EPSG code of its projected or geographic CRS, when the keys give one.
    pub epsg: Option<u32>,
}

const MODEL_TYPE: u16 = 1024;
const RASTER_TYPE: u16 = 1025;
const CITATION: u16 = 1026;
const GEOGRAPHIC_TYPE: u16 = 2048;
const GEOG_ANGULAR_UNITS: u16 = 2054;
const PROJECTED_TYPE: u16 = 3072;
const USER_DEFINED: u16 = 32767;

/// Reads the georeferencing of the TIFF in `src`; `file` names it in
/// errors. `Ok(None)` for a TIFF without geo tags. Broken geo tags (wrong
/// counts, a truncated key directory, a degenerate transform) are errors.
pub fn read_embedded<R: Read + Seek>(src: R, file: &str) -> Result<Option<EmbeddedGeoref>> {
    let err = |message: String| Error::GeoTiff {
        file: file.to_owned(),
        message,
    };
    let ifd = parse_from(src).map_err(err)?;
    embedded_from_ifd(&ifd).map_err(err)
}

pub(crate) fn embedded_from_ifd(ifd: &Ifd) -> std::result::Result<Option<EmbeddedGeoref>, String> {
    let doubles = |t: u16, name: &str| -> std::result::Result<Option<Vec<f64>>, String> {
        match ifd.get(t) {
            None => Ok(None),
            Some(v) => v
                .as_f64s()
                .filter(|d| d.iter().all(|x| x.is_finite()))
                .map(Some)
                .ok_or_else(|| format!("{name} does not hold finite numbers")),
        }
    };
    let scale = doubles(tag::MODEL_PIXEL_SCALE, "ModelPixelScaleTag")?;
    let tiepoints = doubles(tag::MODEL_TIEPOINT, "ModelTiepointTag")?;
    let matrix = doubles(tag::MODEL_TRANSFORMATION, "ModelTransformationTag")?;
    let keys = geo_keys(ifd)?;

    let mut transform = match (matrix, scale, tiepoints) {
        (Some(m), _, _) => {
            if m.len() != 16 {
                return Err(format!(
                    "ModelTransformationTag has {} values, not 16",
                    m.len()
                ));
            }
            Some([m[3], m[0], m[1], m[7], m[4], m[5]])
        }
        (None, Some(s), Some(t)) => {
            if s.len() < 2 {
                return Err(format!("ModelPixelScaleTag has {} values, not 3", s.len()));
            }
            if t.len() < 6 || t.len() % 6 != 0 {
                return Err(format!(
                    "ModelTiepointTag has {} values, not 6 per tiepoint",
                    t.len()
                ));
            }
            if t.len() > 6 {
                // Several tiepoints are ground control points, not an affine transform.
                None
            } else {
                let (i, j, x, y) = (t[0], t[1], t[3], t[4]);
                Some([x - i * s[0], s[0], 0.0, y + j * s[1], 0.0, -s[1]])
            }
        }
        (None, Some(_), None) => return Err("ModelPixelScaleTag without ModelTiepointTag".into()),
        (None, None, Some(_)) => return Err("ModelTiepointTag without ModelPixelScaleTag".into()),
        (None, None, None) => None,
    };
    if keys.iter().any(|&(k, v)| k == RASTER_TYPE && v == 2)
        && let Some(gt) = &mut transform
    {
        // PixelIsPoint: the tiepoint names a pixel centre.
        gt[0] -= (gt[1] + gt[2]) / 2.0;
        gt[3] -= (gt[4] + gt[5]) / 2.0;
    }
    let transform = transform
        .map(GeoTransform::new)
        .transpose()
        .map_err(|e| e.to_string())?;
    let code = |k: u16| {
        keys.iter()
            .find(|&&(key, v)| key == k && v != 0 && v != USER_DEFINED)
            .map(|&(_, v)| u32::from(v))
    };
    let epsg = code(PROJECTED_TYPE).or_else(|| code(GEOGRAPHIC_TYPE));
    if transform.is_none() && keys.is_empty() {
        return Ok(None);
    }
    Ok(Some(EmbeddedGeoref { transform, epsg }))
}

/// The short-valued (location 0) keys of the GeoKey directory.
fn geo_keys(ifd: &Ifd) -> std::result::Result<Vec<(u16, u16)>, String> {
    let Some(v) = ifd.get(tag::GEO_KEY_DIRECTORY) else {
        return Ok(Vec::new());
    };
    let Value::Short(d) = v else {
        return Err("GeoKeyDirectoryTag is not of type SHORT".into());
    };
    if d.len() < 4 || d[0] != 1 {
        return Err("GeoKeyDirectoryTag has no valid header".into());
    }
    let n = usize::from(d[3]);
    if d.len() < 4 + 4 * n {
        return Err(format!(
            "GeoKeyDirectoryTag announces {n} keys but holds {} values",
            d.len()
        ));
    }
    Ok(d[4..4 + 4 * n]
        .chunks_exact(4)
        .filter(|e| e[1] == 0)
        .map(|e| (e[0], e[3]))
        .collect())
}

/// The CRS facts a GeoTIFF's key directory records.
#[derive(Debug, Clone, Copy)]
pub struct CrsKeys<'a> {
    /// The EPSG code (at most 65535: GeoKeys are 16-bit).
    pub epsg: u32,
    /// Geographic (lon/lat) rather than projected.
    pub geographic: bool,
    /// A human-readable name for the citation key, e.g. "WGS 84 / UTM zone 32N".
    pub name: &'a str,
}

/// Adds the georeferencing tags for `gt` and `crs` to a TIFF being built,
/// replacing any there were.
pub(crate) fn set_geo_tags(
    b: &mut TiffBuilder<'_>,
    gt: &GeoTransform,
    crs: Option<CrsKeys<'_>>,
) -> std::result::Result<(), String> {
    for t in [
        tag::MODEL_PIXEL_SCALE,
        tag::MODEL_TIEPOINT,
        tag::MODEL_TRANSFORMATION,
        tag::GEO_KEY_DIRECTORY,
        tag::GEO_DOUBLE_PARAMS,
        tag::GEO_ASCII_PARAMS,
    ] {
        b.entries.remove(&t);
    }
    let [x0, a, rb, y0, d, e] = gt.0;
    if rb == 0.0 && d == 0.0 && a > 0.0 && e < 0.0 {
        b.set(tag::MODEL_PIXEL_SCALE, Value::Double(vec![a, -e, 0.0]));
        b.set(
            tag::MODEL_TIEPOINT,
            Value::Double(vec![0.0, 0.0, 0.0, x0, y0, 0.0]),
        );
    } else {
        b.set(
            tag::MODEL_TRANSFORMATION,
            Value::Double(vec![
                a, rb, 0.0, x0, d, e, 0.0, y0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0,
            ]),
        );
    }
    // Without a CRS, no key directory: GDAL reads a directory holding only
    // the raster type as a broken CRS, and PixelIsArea is the default.
    let Some(crs) = crs else {
        return Ok(());
    };
    let code = u16::try_from(crs.epsg)
        .map_err(|_| format!("EPSG:{} does not fit a 16-bit GeoKey", crs.epsg))?;
    let citation: String = crs
        .name
        .chars()
        .map(|c| {
            if c.is_ascii() && c != '|' && c != '\0' {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        + "|";
    let len = u16::try_from(citation.len()).map_err(|_| "CRS name too long")?;
    // Keys sorted by id: [id, location, count, value].
    let mut keys: Vec<[u16; 4]> = vec![
        [RASTER_TYPE, 0, 1, 1],
        [MODEL_TYPE, 0, 1, if crs.geographic { 2 } else { 1 }],
        [CITATION, tag::GEO_ASCII_PARAMS, len, 0],
    ];
    if crs.geographic {
        keys.push([GEOGRAPHIC_TYPE, 0, 1, code]);
        keys.push([GEOG_ANGULAR_UNITS, 0, 1, 9102]);
    } else {
        keys.push([PROJECTED_TYPE, 0, 1, code]);
    }
    b.set(tag::GEO_ASCII_PARAMS, Value::Ascii(citation.into_bytes()));
    keys.sort();
    let mut dir = vec![1, 1, 0, u16::try_from(keys.len()).unwrap_or(0)];
    dir.extend(keys.iter().flatten());
    b.set(tag::GEO_KEY_DIRECTORY, Value::Short(dir));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiffio::parse;

    fn file_with(gt: [f64; 6], crs: Option<CrsKeys<'_>>) -> Vec<u8> {
        let mut b = TiffBuilder::new(false);
        b.set(tag::IMAGE_WIDTH, Value::Short(vec![1]));
        set_geo_tags(&mut b, &GeoTransform(gt), crs).unwrap();
        b.push_chunk(vec![0u8]);
        b.finish().unwrap()
    }

    #[test]
    fn north_up_and_rotated_round_trip() {
        let utm = CrsKeys {
            epsg: 32632,
            geographic: false,
            name: "WGS 84 / UTM zone 32N",
        };
        for gt in [
            [500000.0, 0.5, 0.0, 4649776.0, 0.0, -0.5],
            [499999.0, 10.0, 2.0, 4099999.5, 1.0, -10.0],
        ] {
            let bytes = file_with(gt, Some(utm));
            let back = read_embedded(std::io::Cursor::new(&bytes), "t.tif")
                .unwrap()
                .unwrap();
            assert_eq!(back.transform, Some(GeoTransform(gt)));
            assert_eq!(back.epsg, Some(32632));
        }
        let ifd = parse(&file_with([0.0, 1.0, 0.0, 0.0, 0.0, -1.0], Some(utm))).unwrap();
        assert_eq!(
            ifd.get(tag::GEO_KEY_DIRECTORY),
            Some(&Value::Short(vec![
                1, 1, 0, 4, 1024, 0, 1, 1, 1025, 0, 1, 1, 1026, 34737, 22, 0, 3072, 0, 1, 32632
            ]))
        );
        let geo = CrsKeys {
            epsg: 4326,
            geographic: true,
            name: "WGS 84",
        };
        let bytes = file_with([10.0, 0.001, 0.0, 50.0, 0.0, -0.001], Some(geo));
        let back = read_embedded(std::io::Cursor::new(&bytes), "t.tif")
            .unwrap()
            .unwrap();
        assert_eq!(back.epsg, Some(4326));
    }

    #[test]
    fn pixel_is_point_shifts_half_a_pixel() {
        let mut b = TiffBuilder::new(false);
        b.set(tag::MODEL_PIXEL_SCALE, Value::Double(vec![10.0, 10.0, 0.0]));
        b.set(
            tag::MODEL_TIEPOINT,
            Value::Double(vec![0.0, 0.0, 0.0, 500005.0, 4099995.0, 0.0]),
        );
        b.set(
            tag::GEO_KEY_DIRECTORY,
            Value::Short(vec![1, 1, 0, 1, 1025, 0, 1, 2]),
        );
        b.push_chunk(vec![0u8]);
        let bytes = b.finish().unwrap();
        let back = read_embedded(std::io::Cursor::new(&bytes), "p.tif")
            .unwrap()
            .unwrap();
        assert_eq!(
            back.transform,
            Some(GeoTransform([500000.0, 10.0, 0.0, 4100000.0, 0.0, -10.0]))
        );
        assert_eq!(back.epsg, None);
    }

    #[test]
    fn broken_geo_tags_are_errors_naming_the_file() {
        let mut b = TiffBuilder::new(false);
        b.set(tag::MODEL_PIXEL_SCALE, Value::Double(vec![10.0, 10.0, 0.0]));
        b.set(tag::MODEL_TIEPOINT, Value::Double(vec![0.0, 0.0, 0.0, 5.0]));
        b.push_chunk(vec![0u8]);
        let e = read_embedded(std::io::Cursor::new(b.finish().unwrap()), "x.tif").unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.tif: ModelTiepointTag has 4 values, not 6 per tiepoint"
        );
        let mut b = TiffBuilder::new(false);
        b.set(
            tag::GEO_KEY_DIRECTORY,
            Value::Short(vec![1, 1, 0, 3, 1024, 0, 1, 1]),
        );
        b.push_chunk(vec![0u8]);
        let e = read_embedded(std::io::Cursor::new(b.finish().unwrap()), "y.tif").unwrap_err();
        assert_eq!(
            e.to_string(),
            "y.tif: GeoKeyDirectoryTag announces 3 keys but holds 8 values"
        );
        let mut b = TiffBuilder::new(false);
        b.set(tag::IMAGE_WIDTH, Value::Short(vec![1]));
        b.push_chunk(vec![0u8]);
        assert_eq!(
            read_embedded(std::io::Cursor::new(b.finish().unwrap()), "z.tif").unwrap(),
            None
        );
    }
}
