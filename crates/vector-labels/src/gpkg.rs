//! GeoPackage feature tables, through SQLite (rusqlite), and their geometry
//! blobs (a GeoPackage header and WKB).

use std::collections::VecDeque;
use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, params};
use serde_json::{Map, Number, Value};

use crate::{Error, Geometry, Polygon, Raw, Result, Ring, not_a_polygon};

/// Rows read per query: memory stays bounded whatever the table's size.
const BATCH: i64 = 256;

/// A row as read: its geometry blob (`None`: NULL) and attributes.
type Row = (Option<Vec<u8>>, Map<String, Value>);

/// A feature table, read in batches of rows by its primary key.
#[derive(Debug)]
pub(crate) struct Source {
    connection: Connection,
    /// `SELECT key, geometry, fields… FROM table WHERE key > ?1 …`.
    query: String,
    /// The attribute columns, with whether they are declared BOOLEAN.
    columns: Vec<Column>,
    /// The last key read.
    last: Option<i64>,
    batch: VecDeque<Row>,
    exhausted: bool,
}

/// Opens the GeoPackage's feature table `layer` (or its only one): the
/// source, its EPSG code and field names.
pub(crate) fn open(
    file: &str,
    path: &Path,
    layer: Option<&str>,
) -> Result<(Source, u32, Vec<String>)> {
    let sql = |e: rusqlite::Error| Error::Format {
        file: file.to_owned(),
        message: format!("not a GeoPackage: {e}"),
    };
    std::fs::metadata(path).map_err(|source| Error::Io {
        file: file.to_owned(),
        source,
    })?;
    let connection =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(sql)?;
    let tables: Vec<String> = connection
        .prepare(
            "SELECT table_name FROM gpkg_contents WHERE data_type = 'features' ORDER BY table_name",
        )
        .and_then(|mut s| s.query_map([], |row| row.get(0))?.collect())
        .map_err(sql)?;
    let table = match (layer, tables.as_slice()) {
        (None, [only]) => only.clone(),
        (Some(name), _) if tables.iter().any(|t| t == name) => name.to_owned(),
        (asked, _) => {
            return Err(Error::Layer {
                file: file.to_owned(),
                asked: asked.map(str::to_owned),
                layers: tables,
            });
        }
    };
    let (geometry, srs_id): (String, i64) = connection
        .query_row(
            "SELECT column_name, srs_id FROM gpkg_geometry_columns WHERE table_name = ?1",
            params![table],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(sql)?;
    let epsg = epsg(&connection, srs_id).map_err(|message| Error::Crs {
        file: file.to_owned(),
        message: format!("table {table:?}: {message}"),
    })?;
    let (key, columns) = columns(&connection, &table, &geometry).map_err(sql)?;
    let key = key.map_or_else(|| "rowid".to_owned(), |k| quote(&k));
    let mut select = vec![key.clone(), quote(&geometry)];
    select.extend(columns.iter().map(|(name, _)| quote(name)));
    let query = format!(
        "SELECT {} FROM {} WHERE ?1 IS NULL OR {key} > ?1 ORDER BY {key} LIMIT {BATCH}",
        select.join(", "),
        quote(&table)
    );
    let fields = columns.iter().map(|(name, _)| name.clone()).collect();
    let source = Source {
        connection,
        query,
        columns,
        last: None,
        batch: VecDeque::new(),
        exhausted: false,
    };
    Ok((source, epsg, fields))
}

/// An attribute column: its name, and whether it is declared BOOLEAN.
type Column = (String, bool);

/// A table's integer primary key (if any) and its attribute columns, with
/// whether they are declared BOOLEAN: all columns but the key and the
/// geometry.
fn columns(
    connection: &Connection,
    table: &str,
    geometry: &str,
) -> rusqlite::Result<(Option<String>, Vec<Column>)> {
    let mut key = None;
    let mut columns = Vec::new();
    let mut statement = connection.prepare(&format!("PRAGMA table_info({})", quote(table)))?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let (name, kind, pk): (String, String, i64) = (row.get(1)?, row.get(2)?, row.get(5)?);
        if pk == 1 && kind.eq_ignore_ascii_case("INTEGER") {
            key = Some(name);
        } else if name != geometry {
            columns.push((name, kind.eq_ignore_ascii_case("BOOLEAN")));
        }
    }
    Ok((key, columns))
}

/// An SQL identifier, quoted.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The EPSG code of a `gpkg_spatial_ref_sys` entry.
fn epsg(connection: &Connection, srs_id: i64) -> std::result::Result<u32, String> {
    let (organization, code): (String, i64) = connection
        .query_row(
            "SELECT organization, organization_coordsys_id FROM gpkg_spatial_ref_sys WHERE srs_id = ?1",
            params![srs_id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(|e| format!("srs_id {srs_id}: {e}"))?;
    if !organization.eq_ignore_ascii_case("EPSG") {
        return Err(format!(
            "srs_id {srs_id} is {organization}:{code}, not an EPSG code: the CRS is unknown"
        ));
    }
    u32::try_from(code).map_err(|_| format!("srs_id {srs_id}: EPSG:{code} is no EPSG code"))
}

impl Source {
    pub(crate) fn next(&mut self, file: &str, index: usize) -> Result<Option<Raw>> {
        if index == 0 {
            self.last = None;
            self.batch.clear();
            self.exhausted = false;
        }
        if self.batch.is_empty() && !self.exhausted {
            self.fill().map_err(|e| Error::Format {
                file: file.to_owned(),
                message: format!("reading features: {e}"),
            })?;
        }
        let Some((blob, attributes)) = self.batch.pop_front() else {
            return Ok(None);
        };
        let geometry = match blob {
            Some(blob) => geometry(&blob).map_err(|message| Error::Feature {
                file: file.to_owned(),
                index,
                message,
            })?,
            None => None,
        };
        Ok(Some((geometry, attributes)))
    }

    /// Reads the next batch of rows.
    fn fill(&mut self) -> rusqlite::Result<()> {
        let mut statement = self.connection.prepare_cached(&self.query)?;
        let mut rows = statement.query(params![self.last])?;
        let mut read = 0;
        while let Some(row) = rows.next()? {
            read += 1;
            self.last = Some(row.get(0)?);
            let blob = match row.get_ref(1)? {
                ValueRef::Blob(b) => Some(b.to_vec()),
                _ => None,
            };
            let mut attributes = Map::new();
            for (i, (name, boolean)) in self.columns.iter().enumerate() {
                attributes.insert(name.clone(), value(row.get_ref(i + 2)?, *boolean));
            }
            self.batch.push_back((blob, attributes));
        }
        self.exhausted = read < BATCH;
        Ok(())
    }
}

/// An SQLite value as JSON (a BLOB attribute as null).
fn value(v: ValueRef<'_>, boolean: bool) -> Value {
    match v {
        ValueRef::Integer(i) if boolean => Value::Bool(i != 0),
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(r) => Number::from_f64(r).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Null | ValueRef::Blob(_) => Value::Null,
    }
}

/// A GeoPackage geometry blob as a label shape; `None` when empty.
fn geometry(blob: &[u8]) -> std::result::Result<Option<Geometry>, String> {
    let [b'G', b'P', _version, flags, ..] = *blob else {
        return Err("a geometry blob without the GeoPackage header (GP)".into());
    };
    if flags & 0x20 != 0 {
        return Err("an extended GeoPackage geometry type, not a polygon".into());
    }
    let envelope = match (flags >> 1) & 0x07 {
        0 => 0,
        1 => 32,
        2 | 3 => 48,
        4 => 64,
        e => return Err(format!("a GeoPackage envelope of type {e}")),
    };
    if flags & 0x10 != 0 {
        return Ok(None);
    }
    let wkb = blob
        .get(8 + envelope..)
        .ok_or("a GeoPackage geometry blob cut short")?;
    let mut reader = Wkb { bytes: wkb, pos: 0 };
    let geometry = reader.geometry()?;
    let empty = match &geometry {
        Geometry::Polygon(p) => p.is_empty(),
        Geometry::MultiPolygon(m) => m.iter().all(Vec::is_empty),
        Geometry::BBox(_) => false,
    };
    Ok((!empty).then_some(geometry))
}

/// A WKB reader (ISO types, and EWKB's Z/M flag bits).
struct Wkb<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Wkb<'_> {
    fn take<const N: usize>(&mut self) -> std::result::Result<[u8; N], String> {
        let bytes = self
            .bytes
            .get(self.pos..self.pos + N)
            .and_then(|b| <[u8; N]>::try_from(b).ok())
            .ok_or("WKB cut short")?;
        self.pos += N;
        Ok(bytes)
    }

    /// A number of `N` bytes in the given byte order.
    fn number<const N: usize, T>(
        &mut self,
        little: bool,
        [le, be]: [fn([u8; N]) -> T; 2],
    ) -> std::result::Result<T, String> {
        let bytes = self.take::<N>()?;
        Ok(if little { le(bytes) } else { be(bytes) })
    }

    fn u32(&mut self, little: bool) -> std::result::Result<u32, String> {
        self.number(little, [u32::from_le_bytes, u32::from_be_bytes])
    }

    fn f64(&mut self, little: bool) -> std::result::Result<f64, String> {
        self.number(little, [f64::from_le_bytes, f64::from_be_bytes])
    }

    /// A geometry's byte order, base type (1 to 7…) and number of ordinates.
    fn header(&mut self) -> std::result::Result<(bool, u32, usize), String> {
        let little = match self.take::<1>()? {
            [0] => false,
            [1] => true,
            [b] => return Err(format!("WKB byte order {b}")),
        };
        let raw = self.u32(little)?;
        let (z, m) = (raw & 0x8000_0000 != 0, raw & 0x4000_0000 != 0);
        let iso = raw & 0x0FFF_FFFF;
        let (kind, dimensions) = (iso % 1000, iso / 1000);
        let ordinates = match dimensions {
            0 => 2 + usize::from(z) + usize::from(m),
            1 | 2 => 3,
            3 => 4,
            _ => return Err(format!("WKB geometry type {raw}")),
        };
        Ok((little, kind, ordinates))
    }

    fn geometry(&mut self) -> std::result::Result<Geometry, String> {
        let (little, kind, ordinates) = self.header()?;
        match kind {
            3 => Ok(Geometry::Polygon(self.polygon(little, ordinates)?)),
            6 => {
                let count = self.u32(little)?;
                let mut polygons = Vec::new();
                for _ in 0..count {
                    let (little, kind, ordinates) = self.header()?;
                    if kind != 3 {
                        return Err(format!("a MultiPolygon holding a WKB type {kind}"));
                    }
                    polygons.push(self.polygon(little, ordinates)?);
                }
                Ok(Geometry::MultiPolygon(polygons))
            }
            _ => Err(not_a_polygon(wkb_name(kind))),
        }
    }

    fn polygon(&mut self, little: bool, ordinates: usize) -> std::result::Result<Polygon, String> {
        let rings = self.u32(little)?;
        (0..rings)
            .map(|_| {
                let points = self.u32(little)?;
                let mut ring: Ring = Vec::new();
                for _ in 0..points {
                    let (x, y) = (self.f64(little)?, self.f64(little)?);
                    for _ in 2..ordinates {
                        self.f64(little)?;
                    }
                    ring.push([x, y]);
                }
                Ok(ring)
            })
            .collect()
    }
}

/// The name of a WKB geometry type, for messages.
fn wkb_name(kind: u32) -> &'static str {
    match kind {
        1 => "Point",
        2 => "LineString",
        4 => "MultiPoint",
        5 => "MultiLineString",
        7 => "GeometryCollection",
        8 => "CircularString",
        9 => "CompoundCurve",
        10 => "CurvePolygon",
        11 => "MultiCurve",
        12 => "MultiSurface",
        _ => "non-polygon WKB",
    }
}
