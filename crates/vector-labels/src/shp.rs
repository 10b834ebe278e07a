//! Shapefiles: `.shp`, `.shx`, `.dbf`, and the CRS from the `.prj`.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use serde_json::{Map, Number, Value};
use shapefile::dbase::FieldValue;
use shapefile::{PolygonRing, Shape};

use crate::{Crs, Error, Polygon, Raw, Result, Ring, not_a_polygon, polygons};

/// A Shapefile read feature by feature (through the `.shx` index).
pub(crate) struct Source {
    reader: shapefile::Reader<BufReader<File>, BufReader<File>>,
    count: usize,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

/// Opens the Shapefile: its reader, CRS and field names.
pub(crate) fn open(file: &str, path: &Path) -> Result<(Source, Crs, Vec<String>)> {
    let format = |message: String| Error::Format {
        file: file.to_owned(),
        message,
    };
    std::fs::metadata(path).map_err(|source| Error::Io {
        file: file.to_owned(),
        source,
    })?;
    let crs = prj_crs(path)?;
    // The sidecars as `sidecar` finds them (`Reader::from_path` of the
    // shapefile crate looks for lower-case ones only).
    let open = |p: &Path| {
        File::open(p)
            .map(BufReader::new)
            .map_err(|source| Error::Io {
                file: p.display().to_string(),
                source,
            })
    };
    let (shx, dbf) = (sidecar(path, "shx"), sidecar(path, "dbf"));
    let records = shapefile::dbase::Reader::new(open(&dbf)?)
        .map_err(|e| format(format!("{}: {e}", dbf.display())))?;
    let fields = records
        .fields()
        .iter()
        .map(|f| f.name().to_owned())
        .filter(|name| name != "DeletionFlag")
        .collect();
    let shapes = shapefile::ShapeReader::with_shx(open(path)?, open(&shx)?)
        .map_err(|e| format(e.to_string()))?;
    let reader = shapefile::Reader::new(shapes, records);
    let count = reader.shape_count().map_err(|e| format(e.to_string()))?;
    Ok((Source { reader, count }, crs, fields))
}

/// The path of a sidecar file with this extension, lower or upper case as
/// it exists (lower case when neither does).
fn sidecar(path: &Path, extension: &str) -> PathBuf {
    let upper = path.with_extension(extension.to_ascii_uppercase());
    let lower = path.with_extension(extension);
    if !lower.exists() && upper.exists() {
        upper
    } else {
        lower
    }
}

/// The CRS of the `.prj` beside the `.shp`.
fn prj_crs(path: &Path) -> Result<Crs> {
    let prj = sidecar(path, "prj");
    let fail = |message: String| Error::Crs {
        file: prj.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(&prj).map_err(|e| {
        fail(format!(
            "{e}: a Shapefile's CRS comes from its .prj, and labels without a CRS cannot be placed"
        ))
    })?;
    Crs::from_esri_wkt(&text).map_err(|e| fail(e.to_string()))
}

impl Source {
    pub(crate) fn next(&mut self, file: &str, index: usize) -> Result<Option<Raw>> {
        if index >= self.count {
            return Ok(None);
        }
        let fail = |message: String| Error::Feature {
            file: file.to_owned(),
            index,
            message,
        };
        self.reader.seek(index).map_err(|e| fail(e.to_string()))?;
        let (shape, record) = match self.reader.iter_shapes_and_records().next() {
            Some(read) => read.map_err(|e| fail(e.to_string()))?,
            None => return Ok(None),
        };
        let rings: Vec<(bool, Ring)> = match shape {
            Shape::NullShape => return Ok(Some((None, attributes(record)))),
            Shape::Polygon(p) => rings(p.into_inner(), |p| [p.x, p.y]),
            Shape::PolygonM(p) => rings(p.into_inner(), |p| [p.x, p.y]),
            Shape::PolygonZ(p) => rings(p.into_inner(), |p| [p.x, p.y]),
            other => return Err(fail(not_a_polygon(&other.shapetype().to_string()))),
        };
        Ok(Some((polygons(assemble(rings)), attributes(record))))
    }
}

/// The rings of a polygon shape: `(outer, vertices)`.
fn rings<P>(rings: Vec<PolygonRing<P>>, xy: impl Fn(&P) -> [f64; 2]) -> Vec<(bool, Ring)> {
    rings
        .into_iter()
        .map(|ring| {
            let outer = matches!(ring, PolygonRing::Outer(_));
            (outer, ring.into_inner().iter().map(&xy).collect())
        })
        .collect()
}

/// Polygons from a Shapefile's rings (outer clockwise, holes
/// anticlockwise): each hole goes to the first outer ring that contains its
/// first vertex, or to the outer ring before it. Rings that are all holes
/// (a file written with the wrong orientation) are taken as outer rings.
fn assemble(rings: Vec<(bool, Ring)>) -> Vec<Polygon> {
    let all_holes = rings.iter().all(|(outer, _)| !outer);
    let mut polygons: Vec<Polygon> = Vec::new();
    let mut holes: Vec<(usize, Ring)> = Vec::new();
    for (outer, ring) in rings {
        if outer || all_holes {
            polygons.push(vec![ring]);
        } else {
            holes.push((polygons.len().saturating_sub(1), ring));
        }
    }
    for (before, hole) in holes {
        let inside = hole.first().and_then(|&p| {
            polygons
                .iter()
                .position(|polygon| polygon.first().is_some_and(|outer| contains(outer, p)))
        });
        if let Some(polygon) = polygons.get_mut(inside.unwrap_or(before)) {
            polygon.push(hole);
        }
    }
    polygons
}

/// Whether `p` is inside the ring (even-odd rule).
fn contains(ring: &Ring, [x, y]: [f64; 2]) -> bool {
    let mut inside = false;
    for (a, b) in ring.iter().zip(ring.iter().cycle().skip(1)) {
        if (a[1] > y) != (b[1] > y) && x < a[0] + (y - a[1]) / (b[1] - a[1]) * (b[0] - a[0]) {
            inside = !inside;
        }
    }
    inside
}

/// A `.dbf` record as JSON values: numbers without a fraction as integers.
fn attributes(record: shapefile::dbase::Record) -> Map<String, Value> {
    let float = |v: f64| Number::from_f64(v).map_or(Value::Null, Value::Number);
    let number = |v: f64| {
        if v.fract() == 0.0 && v.abs() < 9.0e15 {
            Value::from(v as i64)
        } else {
            float(v)
        }
    };
    record
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                FieldValue::Character(s) => s.map_or(Value::Null, Value::String),
                FieldValue::Memo(s) => Value::String(s),
                FieldValue::Numeric(v) => v.map_or(Value::Null, number),
                FieldValue::Float(v) => v.map_or(Value::Null, |v| number(f64::from(v))),
                FieldValue::Integer(v) => Value::from(v),
                FieldValue::Currency(v) | FieldValue::Double(v) => float(v),
                FieldValue::Logical(v) => v.map_or(Value::Null, Value::Bool),
                FieldValue::Date(v) => v.map_or(Value::Null, |d| Value::String(d.to_string())),
                FieldValue::DateTime(v) => Value::from(v.to_unix_timestamp()),
            };
            (name, value)
        })
        .collect()
}
