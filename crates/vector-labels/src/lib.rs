//! Labels drawn in a GIS: polygons in map coordinates, read from GeoJSON,
//! Shapefile and GeoPackage files, with their CRS, attributes and class, and
//! reprojected from one CRS to another.
//!
//! [`open`] picks the reader by the file's extension (`.geojson`/`.json`,
//! `.shp`, `.gpkg`, any case) and gives a [`Layer`]: its [`Crs`] (an EPSG
//! code raster-georef knows, or [`open`] fails naming the file), its field
//! names, and its features one by one ([`Layer::features`]), each a
//! [`Feature`] with a [`Geometry`] in the layer's map coordinates (the
//! `Polygon` and `MultiPolygon` shapes of pixel-geometry, holes kept,
//! coordinates as the file has them: `x` the easting or longitude) and its
//! attributes as JSON values. [`Layer::class_of`] reads a feature's class
//! from an attribute, and [`reproject`] moves a geometry to another CRS
//! through WGS 84, with raster-georef's CRS machinery.
//!
//! # What is read
//!
//! * **GeoJSON**: a `FeatureCollection`, in WGS 84 longitude/latitude as
//!   RFC 7946 wants, or in the CRS its legacy `crs` member names
//!   (`urn:ogc:def:crs:EPSG::32632`, `EPSG:32632`, `urn:ogc:def:crs:OGC:1.3:CRS84`),
//!   which GDAL writes for anything but WGS 84. Coordinates are taken in
//!   GIS order (easting or longitude first) whatever the CRS, as GDAL does.
//!   The file is read whole (JSON has no index to stream from).
//! * **Shapefile**: the `.shp` with its `.shx` and `.dbf`, read feature by
//!   feature; the CRS from the `.prj` ([`Crs::from_esri_wkt`]). Holes are
//!   given to the outer ring that contains them.
//! * **GeoPackage**: the feature table `layer` names, or the only one in
//!   `gpkg_contents`; its geometry column from `gpkg_geometry_columns`, its
//!   CRS from `gpkg_spatial_ref_sys` (organization `EPSG`); the geometry
//!   blobs (GeoPackage header and WKB, ISO or with EWKB's Z/M flags; Z and M
//!   are dropped) are read in batches of rows, so memory does not grow with
//!   the table.
//!
//! # Features that are not polygons
//!
//! A point or a line among the labels is an error naming the file, the
//! feature's position and its type, not skipped: a labels file is drawn to
//! be learnt from, and a label silently left out is a wrong training set
//! nobody notices. A feature without a geometry (GeoJSON `null`, a
//! Shapefile null shape, an empty or `NULL` GeoPackage geometry) has nothing
//! to label and is skipped, counted by [`Layer::skipped`].
//!
//! ```no_run
//! use raster_georef::Crs;
//! let mut layer = vector_labels::open("fields.gpkg".as_ref(), None)?;
//! let utm = Crs::from_epsg(32632)?;
//! let from = layer.crs().clone();
//! let mut labels = Vec::new();
//! for feature in layer.features() {
//!     let feature = feature?;
//!     labels.push(vector_labels::reproject(&feature.geometry, &from, &utm)?);
//! }
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod geojson;
mod gpkg;
mod shp;

use std::path::{Path, PathBuf};

pub use crate::error::{Error, Result};
pub use pixel_geometry::{Geometry, Polygon, Ring};
pub use raster_georef::Crs;
pub use serde_json::{Map, Value};

/// One feature of a [`Layer`]: a polygon or multipolygon label and its
/// attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    /// The feature's 0-based position in the file (features without a
    /// geometry count too).
    pub index: usize,
    /// Its shape in the layer's CRS: [`Geometry::Polygon`] or
    /// [`Geometry::MultiPolygon`], rings as the file has them (closed).
    pub geometry: Geometry,
    /// Its attributes: strings, numbers (integers where the file has
    /// integers), booleans and nulls.
    pub attributes: Map<String, Value>,
}

/// A source of labels: one GeoJSON file, Shapefile or GeoPackage table.
#[derive(Debug)]
pub struct Layer {
    path: PathBuf,
    /// `path` as error messages show it.
    file: String,
    crs: Crs,
    fields: Vec<String>,
    source: Source,
    skipped: usize,
}

/// The reader behind a layer.
#[derive(Debug)]
enum Source {
    GeoJson(geojson::Source),
    Shapefile(shp::Source),
    GeoPackage(gpkg::Source),
}

/// What a reader gives per feature: its geometry (`None`: it has none) and
/// attributes.
type Raw = (Option<Geometry>, Map<String, Value>);

impl Source {
    /// The feature at `index` (readers are asked in order from 0), or `None`
    /// past the last.
    fn next(&mut self, file: &str, index: usize) -> Result<Option<Raw>> {
        match self {
            Source::GeoJson(s) => s.next(file, index),
            Source::Shapefile(s) => s.next(file, index),
            Source::GeoPackage(s) => s.next(file, index),
        }
    }
}

/// Opens a labels file, choosing the reader by its extension (any case):
/// `.geojson` or `.json`, `.shp`, `.gpkg`. `layer` names a GeoPackage's
/// feature table; it may be left out when there is only one, and is
/// ignored by the other formats.
///
/// Fails naming the file when it is missing or unreadable, of another
/// extension, without a CRS labelstore knows (a Shapefile without `.prj`
/// included), or a GeoPackage with several feature tables and no `layer`.
pub fn open(path: &Path, layer: Option<&str>) -> Result<Layer> {
    let file = path.display().to_string();
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let (source, epsg, fields) = match extension.as_str() {
        "geojson" | "json" => {
            let (s, epsg, fields) = geojson::open(&file, path)?;
            (Source::GeoJson(s), epsg, fields)
        }
        "shp" => {
            let (s, crs, fields) = shp::open(&file, path)?;
            let layer = Layer::new(path, file, crs, fields, Source::Shapefile(s));
            return Ok(layer);
        }
        "gpkg" => {
            let (s, epsg, fields) = gpkg::open(&file, path, layer)?;
            (Source::GeoPackage(s), epsg, fields)
        }
        _ => {
            return Err(Error::Format {
                file,
                message: "not a labels file: the extension is none of .geojson, .json, .shp, .gpkg"
                    .into(),
            });
        }
    };
    let crs = Crs::from_epsg(epsg).map_err(|e| Error::Crs {
        file: file.clone(),
        message: e.to_string(),
    })?;
    Ok(Layer::new(path, file, crs, fields, source))
}

impl Layer {
    fn new(path: &Path, file: String, crs: Crs, fields: Vec<String>, source: Source) -> Layer {
        Layer {
            path: path.to_path_buf(),
            file,
            crs,
            fields,
            source,
            skipped: 0,
        }
    }

    /// The file this layer is read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The layer's CRS: its features' coordinates are in it.
    pub fn crs(&self) -> &Crs {
        &self.crs
    }

    /// The names of the layer's attribute fields (a GeoJSON file's: every
    /// property some feature has, in order of first appearance).
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// How many features without a geometry the last [`features`](Self::features)
    /// pass skipped so far.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The features, in file order, read as they are asked for. The first
    /// error (a point or a line, a broken geometry, a read failure) ends the
    /// pass. Each call starts again from the first feature.
    pub fn features(&mut self) -> Features<'_> {
        self.skipped = 0;
        Features {
            layer: self,
            index: 0,
            done: false,
        }
    }

    /// A feature's class: the value of its attribute `field`, a string as
    /// it is or an integer written in decimal (also when the file stores it
    /// as a floating-point number without a fraction, `2.0` → `2`).
    ///
    /// [`Error::UnknownField`] (naming the file and the fields it has) when
    /// the layer has no such field; [`Error::Feature`] when this feature's
    /// value is missing, null, or neither a string nor an integer.
    pub fn class_of(&self, feature: &Feature, field: &str) -> Result<String> {
        if !self.fields.iter().any(|f| f == field) {
            return Err(Error::UnknownField {
                file: self.file.clone(),
                field: field.to_owned(),
                fields: self.fields.clone(),
            });
        }
        let fail = |what: &str| Error::Feature {
            file: self.file.clone(),
            index: feature.index,
            message: format!("field {field:?} {what}, so it gives no class"),
        };
        match feature.attributes.get(field) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
            // A class id in a floating-point field (`2.0`), as many GIS write them.
            Some(Value::Number(n))
                if n.as_f64()
                    .is_some_and(|v| v.fract() == 0.0 && v.abs() < 9.0e15) =>
            {
                Ok(format!("{}", n.as_f64().unwrap_or_default() as i64))
            }
            Some(Value::Null) | None => Err(fail("is empty")),
            Some(other) => Err(fail(&format!("holds {other}"))),
        }
    }
}

/// The features of a [`Layer`], from [`Layer::features`].
#[derive(Debug)]
pub struct Features<'a> {
    layer: &'a mut Layer,
    index: usize,
    done: bool,
}

impl Iterator for Features<'_> {
    type Item = Result<Feature>;

    fn next(&mut self) -> Option<Result<Feature>> {
        while !self.done {
            let index = self.index;
            let layer = &mut *self.layer;
            match layer.source.next(&layer.file, index) {
                Ok(None) => self.done = true,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Ok(Some((None, _))) => {
                    self.index += 1;
                    layer.skipped += 1;
                }
                Ok(Some((Some(geometry), attributes))) => {
                    self.index += 1;
                    return Some(Ok(Feature {
                        index,
                        geometry,
                        attributes,
                    }));
                }
            }
        }
        None
    }
}

/// The geometry's vertices moved from the CRS `from` to `to`, through WGS 84
/// (`from.to_wgs84_many`, then `to.from_wgs84_many`); untouched when both
/// are the same EPSG code. A [`Geometry::BBox`] is turned into the polygon
/// of its four corners first: a box does not stay a box in another CRS.
///
/// Fails as raster-georef does: a CRS without a known way to WGS 84, a
/// point off the projection.
pub fn reproject(geometry: &Geometry, from: &Crs, to: &Crs) -> raster_georef::Result<Geometry> {
    let mut out = match geometry {
        &Geometry::BBox([x0, y0, x1, y1]) => {
            Geometry::Polygon(vec![vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]])
        }
        other => other.clone(),
    };
    if from.epsg() == to.epsg() {
        return Ok(out);
    }
    let rings: Vec<&mut Ring> = match &mut out {
        Geometry::Polygon(p) => p.iter_mut().collect(),
        Geometry::MultiPolygon(m) => m.iter_mut().flatten().collect(),
        Geometry::BBox(_) => Vec::new(),
    };
    let mut points: Vec<(f64, f64)> = rings
        .iter()
        .flat_map(|r| r.iter().map(|&[x, y]| (x, y)))
        .collect();
    from.to_wgs84_many(&mut points)?;
    to.from_wgs84_many(&mut points)?;
    let mut converted = points.into_iter();
    for ring in rings {
        for (vertex, (x, y)) in ring.iter_mut().zip(&mut converted) {
            *vertex = [x, y];
        }
    }
    Ok(out)
}

/// The geometry of a Polygon or MultiPolygon made of rings (`None` when
/// there are none); a shared end of the readers.
fn polygons(mut polygons: Vec<Polygon>) -> Option<Geometry> {
    polygons.retain(|p| !p.is_empty());
    match polygons.len() {
        0 => None,
        1 => polygons.pop().map(Geometry::Polygon),
        _ => Some(Geometry::MultiPolygon(polygons)),
    }
}

/// Why a geometry of type `kind` is not a label.
fn not_a_polygon(kind: &str) -> String {
    format!("a {kind} geometry: labels must be polygons or multipolygons")
}
