//! What the GeoJSON and Shapefile formats share: which layer (file) a
//! chip's labels go to, the 4-corner rings of boxes in map or WGS 84
//! coordinates, the `index.json` both write beside their layers, and on
//! reading, where the store is, how a chip's georeferencing is found and how
//! features become labels again.
//!
//! # Layers
//!
//! A chip's labels go to one layer, chosen by the chip's coordinate
//! [`Space`]: WGS 84 (GeoJSON's RFC 7946 mode), the chip's EPSG CRS, map
//! coordinates of an unknown CRS (a world file or geotransform without any
//! `srid`), or pixel coordinates (no georeferencing). The *main* layer is
//! named `labels`; any other is named after its space: `labels_epsg<code>`,
//! `labels_nocrs`, `labels_pixels`. The main layer is always written, empty
//! if no chip goes there, so a GIS user finds it where they look.
//!
//! # The index
//!
//! `index.json` records, streamed one chip per line, what the layers alone
//! cannot say: the project's name, `srid` and classes (ids, names,
//! colours), every stored chip in order, those saved empty included, with
//! its image, size, own `srid`, the geotransform and EPSG code its labels
//! were written with and the layer holding them; then, at the end, the
//! layers with their coordinates and feature counts (and for a Shapefile,
//! its dbf columns). Readers use it when present; datasets from other tools
//! are read without it.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use labels_model::{
    Attributes, Chip, ChipGeoref, Class, Error, Geometry, Label, LabelingType, Output, Project,
    Result, Rgb,
};
use raster_georef::{Crs, GeoTransform};
use serde::{Deserialize, Serialize};

/// The index's file name, in the format's folder.
pub(crate) const INDEX_FILE: &str = "index.json";
/// The main layer's file stem.
pub(crate) const MAIN_STEM: &str = "labels";
/// Pixel coordinates recovered through a geotransform are rounded to this
/// many decimals: far below the declared tolerance (1e-6 pixel), and manifest
/// values with up to 7 decimals come back exactly.
const PIXEL_DECIMALS: i32 = 7;

/// The coordinates a layer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Space {
    /// WGS 84 longitude/latitude in degrees (RFC 7946).
    Wgs84,
    /// Map coordinates in this EPSG CRS, through the chip's geotransform.
    Crs(u32),
    /// Map coordinates through the chip's geotransform, CRS unknown.
    NoCrs,
    /// Pixel coordinates: the chip has no georeferencing.
    Pixel,
}

impl Space {
    /// The file stem of this space's layer, given the main layer's space.
    pub(crate) fn stem(self, main: Space) -> String {
        if self == main {
            return MAIN_STEM.to_owned();
        }
        match self {
            Space::Wgs84 => format!("{MAIN_STEM}_wgs84"),
            Space::Crs(code) => format!("{MAIN_STEM}_epsg{code}"),
            Space::NoCrs => format!("{MAIN_STEM}_nocrs"),
            Space::Pixel => format!("{MAIN_STEM}_pixels"),
        }
    }

    /// What the index says of its coordinates.
    pub(crate) fn coordinates(self) -> Coordinates {
        match self {
            Space::Wgs84 => Coordinates::Wgs84,
            Space::Crs(_) | Space::NoCrs => Coordinates::Map,
            Space::Pixel => Coordinates::Pixel,
        }
    }

    /// Its EPSG code (4326 for WGS 84).
    pub(crate) fn epsg(self) -> Option<u32> {
        match self {
            Space::Wgs84 => Some(4326),
            Space::Crs(code) => Some(code),
            Space::NoCrs | Space::Pixel => None,
        }
    }
}

/// The main layer's space where chips keep their own CRS: the project's
/// CRS, or with none, map coordinates of an unknown CRS (then no chip has a
/// CRS of its own but those with an `srid`, which go to their own layers).
pub(crate) fn native_main(header: &Project) -> Space {
    header.srid.map_or(Space::NoCrs, Space::Crs)
}

/// The kinds of coordinates a layer holds, as the index and GeoJSON's
/// `labelstore` member name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Coordinates {
    /// WGS 84 longitude/latitude.
    Wgs84,
    /// Map coordinates through the chip's geotransform.
    Map,
    /// Pixel coordinates, y down.
    Pixel,
}

/// A ring of 4 corners (the closing point is implied).
pub(crate) type Ring = [(f64, f64); 4];

/// The bounding box of a label's geometry: the box itself for a `bbox`.
fn label_box(label: &Label) -> [f64; 4] {
    let mut b = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    let mut add = |p: &[f64; 2]| {
        b = [
            b[0].min(p[0]),
            b[1].min(p[1]),
            b[2].max(p[0]),
            b[3].max(p[1]),
        ];
    };
    match &label.geometry {
        Geometry::BBox(bb) => return *bb,
        Geometry::Polygon(rings) => rings.iter().flatten().for_each(&mut add),
        Geometry::MultiPolygon(polys) => polys.iter().flatten().flatten().for_each(&mut add),
    }
    b
}

/// A box's corners in pixel space: top-left, top-right, bottom-right,
/// bottom-left.
fn box_ring([x0, y0, x1, y1]: [f64; 4]) -> Ring {
    [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
}

/// Twice the signed area of a ring (positive when counter-clockwise with
/// y up).
fn signed_area(r: &Ring) -> f64 {
    (0..4)
        .map(|i| {
            let (a, b) = (r[i], r[(i + 1) % 4]);
            a.0 * b.1 - b.0 * a.1
        })
        .sum()
}

/// Orients a ring counter-clockwise (`ccw`, RFC 7946) or clockwise
/// (Shapefile), as its numbers read with y up, keeping its first corner.
pub(crate) fn orient(mut r: Ring, ccw: bool) -> Ring {
    if (signed_area(&r) > 0.0) != ccw {
        r.swap(1, 3);
    }
    r
}

/// Caches [`Crs`] lookups: one per EPSG code met.
#[derive(Default)]
pub(crate) struct CrsCache(HashMap<u32, std::result::Result<Crs, String>>);

impl CrsCache {
    pub(crate) fn get(&mut self, code: u32) -> std::result::Result<&Crs, String> {
        self.0
            .entry(code)
            .or_insert_with(|| Crs::from_epsg(code).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// A chip's labels as rings in the coordinates of one space.
pub(crate) struct ChipRings {
    /// The space: decides the layer.
    pub(crate) space: Space,
    /// One ring per label, in label order (unoriented).
    pub(crate) rings: Vec<Ring>,
}

/// Puts a chip's boxes through its georeferencing: pixel coordinates
/// without a geotransform, map coordinates with one, and WGS 84 when
/// `wgs84` is asked, the CRS is known and every corner (the chip's own
/// four included, so that a chip saved empty is placed the same way)
/// converts. A chip whose CRS cannot be converted keeps its map coordinates.
pub(crate) fn chip_rings(
    chip: &Chip,
    georef: &ChipGeoref,
    wgs84: bool,
    cache: &mut CrsCache,
) -> ChipRings {
    let boxes: Vec<Ring> = chip.labels.iter().map(|l| box_ring(label_box(l))).collect();
    let Some(gt) = georef.transform else {
        return ChipRings {
            space: Space::Pixel,
            rings: boxes,
        };
    };
    let map = |r: &Ring| r.map(|(x, y)| gt.pixel_to_map(x, y));
    let rings: Vec<Ring> = boxes.iter().map(map).collect();
    let Some(code) = georef.epsg else {
        return ChipRings {
            space: Space::NoCrs,
            rings,
        };
    };
    let native = ChipRings {
        space: Space::Crs(code),
        rings,
    };
    if !wgs84 {
        return native;
    }
    let Ok(crs) = cache.get(code) else {
        return native;
    };
    let (w, h) = (
        f64::from(chip.width.unwrap_or(1)),
        f64::from(chip.height.unwrap_or(1)),
    );
    let mut points: Vec<(f64, f64)> = native.rings.iter().flatten().copied().collect();
    points.extend(map(&box_ring([0.0, 0.0, w, h])));
    match to_wgs84_exact(crs, &points) {
        Some(ll) => ChipRings {
            space: Space::Wgs84,
            rings: ll
                .chunks_exact(4)
                .take(native.rings.len())
                .map(|c| [c[0], c[1], c[2], c[3]])
                .collect(),
        },
        None => native,
    }
}

/// WGS 84 longitudes/latitudes of map points, polished with Newton steps
/// against [`Crs::from_wgs84`] so that the reader, which goes back with
/// `from_wgs84`, finds the map points again to within the projection's
/// floating-point noise (nanometres). `to_wgs84` alone is off by up to a
/// micrometre where `proj4rs` iterates an inverse projection, and by up to a
/// millimetre through a Helmert datum shift (see `raster_georef::Crs`).
/// `None` when a point does not convert.
fn to_wgs84_exact(crs: &Crs, map: &[(f64, f64)]) -> Option<Vec<(f64, f64)>> {
    let mut ll = map.to_vec();
    crs.to_wgs84_many(&mut ll).ok()?;
    // A step of 1e-7 degree (about a centimetre) for the Jacobian.
    const H: f64 = 1e-7;
    let mut back = ll.clone();
    crs.from_wgs84_many(&mut back).ok()?;
    let residual = |b: &(f64, f64), m: &(f64, f64)| (m.0 - b.0).abs().max((m.1 - b.1).abs());
    for _ in 0..3 {
        let worst = back
            .iter()
            .zip(map)
            .map(|(b, m)| residual(b, m) / (1.0 + m.0.abs().max(m.1.abs())))
            .fold(0.0, f64::max);
        if worst < 1e-15 {
            break;
        }
        let step_lat = |lat: f64| if lat + H > 90.0 { -H } else { H };
        let mut dlon: Vec<(f64, f64)> = ll.iter().map(|&(x, y)| (x + H, y)).collect();
        let mut dlat: Vec<(f64, f64)> = ll.iter().map(|&(x, y)| (x, y + step_lat(y))).collect();
        crs.from_wgs84_many(&mut dlon).ok()?;
        crs.from_wgs84_many(&mut dlat).ok()?;
        let mut next = ll.clone();
        for (i, n) in next.iter_mut().enumerate() {
            let (b, m) = (back[i], map[i]);
            let hy = step_lat(ll[i].1);
            let (a11, a21) = ((dlon[i].0 - b.0) / H, (dlon[i].1 - b.1) / H);
            let (a12, a22) = ((dlat[i].0 - b.0) / hy, (dlat[i].1 - b.1) / hy);
            let det = a11 * a22 - a12 * a21;
            if det == 0.0 || !det.is_finite() {
                continue;
            }
            let (rx, ry) = (m.0 - b.0, m.1 - b.1);
            *n = (
                n.0 + (rx * a22 - ry * a12) / det,
                n.1 + (ry * a11 - rx * a21) / det,
            );
        }
        let mut next_back = next.clone();
        if crs.from_wgs84_many(&mut next_back).is_err() {
            break;
        }
        // Keep, point by point, whichever is closer.
        for i in 0..ll.len() {
            if residual(&next_back[i], &map[i]) < residual(&back[i], &map[i]) {
                ll[i] = next[i];
                back[i] = next_back[i];
            }
        }
    }
    Some(ll)
}

/// Formats a number as JSON does (shortest round-trip form).
pub(crate) fn json_number(v: f64) -> String {
    serde_json::to_string(&v).unwrap_or_else(|_| "null".to_owned())
}

// ------------------------------------------------------------------------
// The index

/// A class, in the index.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct IndexClass {
    id: u32,
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    color: Option<String>,
}

/// A stored chip, in the index.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct IndexChip {
    pub(crate) id: String,
    pub(crate) image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) height: Option<u32>,
    /// The chip's own `srid` (not the project's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) srid: Option<u32>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) saved_empty: bool,
    /// The geotransform its labels were written with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) geotransform: Option<[f64; 6]>,
    /// The CRS its labels' map coordinates are in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) epsg: Option<u32>,
    /// The layer file holding its labels.
    pub(crate) layer: String,
}

impl IndexChip {
    /// The entry of a chip written to `layer`.
    pub(crate) fn new(chip: &Chip, georef: &ChipGeoref, layer: String) -> IndexChip {
        IndexChip {
            id: chip.id.clone(),
            image: chip.image.to_string_lossy().replace('\\', "/"),
            width: chip.width,
            height: chip.height,
            srid: chip.srid,
            saved_empty: chip.saved_empty,
            geotransform: georef.transform.map(|t| t.0),
            epsg: georef.transform.and(georef.epsg),
            layer,
        }
    }
}

/// A dbf column of a Shapefile layer, in the index.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IndexField {
    /// The column's name in the dbf (at most 10 characters).
    pub(crate) field: String,
    /// The attribute key it holds.
    pub(crate) attribute: String,
    /// How values are written in it.
    pub(crate) kind: FieldKind,
}

/// How a dbf column holds attribute values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum FieldKind {
    /// `L`: booleans.
    Logical,
    /// `N` without decimals: integers.
    Integer,
    /// `N` with decimals: numbers, at least one not an integer.
    Real,
    /// `C`: strings as they are.
    Text,
    /// `C`: every value as JSON text (mixed types, arrays, objects, null,
    /// strings a dbf would trim).
    Json,
}

/// A layer, in the index.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct IndexLayer {
    /// Its file name in the format's folder (`labels.geojson`, `labels.shp`).
    pub(crate) file: String,
    pub(crate) coordinates: Coordinates,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) epsg: Option<u32>,
    pub(crate) features: u64,
    /// A Shapefile layer's attribute columns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) fields: Vec<IndexField>,
}

/// The whole index, as read.
#[derive(Debug, Deserialize)]
pub(crate) struct Index {
    labelstore_index: u32,
    format: String,
    project: String,
    labeling_type: String,
    #[serde(default)]
    srid: Option<u32>,
    classes: Vec<IndexClass>,
    chips: Vec<IndexChip>,
    pub(crate) layers: Vec<IndexLayer>,
}

/// Streams `index.json`: the head at the first chip, a line per chip, the
/// layers at the end.
pub(crate) struct IndexWriter {
    path: String,
    head: String,
    chips: usize,
}

/// Two-space-indented JSON of a small value, on one line.
fn compact<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

impl IndexWriter {
    /// A writer of `<folder>/index.json` for `format`.
    pub(crate) fn new(folder: &str, format: &str, header: &Project) -> IndexWriter {
        let mut head = String::from("{\n  \"labelstore_index\": 1,\n");
        head += &format!("  \"format\": {},\n", compact(&format));
        head += &format!("  \"project\": {},\n", compact(&header.name));
        head += &format!(
            "  \"labeling_type\": {},\n",
            compact(&header.labeling_type.name())
        );
        if let Some(srid) = header.srid {
            head += &format!("  \"srid\": {srid},\n");
        }
        let classes: Vec<String> = header
            .classes
            .iter()
            .map(|c| {
                compact(&IndexClass {
                    id: c.id,
                    name: c.name.clone(),
                    color: c.color.map(|c| c.to_string()),
                })
            })
            .collect();
        if classes.is_empty() {
            head += "  \"classes\": [],\n";
        } else {
            head += &format!("  \"classes\": [\n    {}\n  ],\n", classes.join(",\n    "));
        }
        head += "  \"chips\": [";
        IndexWriter {
            path: format!("{folder}/{INDEX_FILE}"),
            head,
            chips: 0,
        }
    }

    fn io(&self, e: std::io::Error) -> Error {
        Error::Io {
            path: self.path.clone().into(),
            source: e,
        }
    }

    /// Appends one chip's entry.
    pub(crate) fn chip(&mut self, entry: &IndexChip, out: &mut dyn Output) -> Result<()> {
        let mut text = if self.chips == 0 {
            std::mem::take(&mut self.head) + "\n    "
        } else {
            ",\n    ".to_owned()
        };
        text += &compact(entry);
        self.chips += 1;
        out.append(&self.path, text.as_bytes())
            .map_err(|e| self.io(e))
    }

    /// Closes the index with its layers.
    pub(crate) fn finish(&mut self, layers: &[IndexLayer], out: &mut dyn Output) -> Result<()> {
        let mut text = if self.chips == 0 {
            std::mem::take(&mut self.head) + "],\n"
        } else {
            "\n  ],\n".to_owned()
        };
        let layers: Vec<String> = layers.iter().map(compact).collect();
        text += &format!("  \"layers\": [\n    {}\n  ]\n}}\n", layers.join(",\n    "));
        out.append(&self.path, text.as_bytes())
            .map_err(|e| self.io(e))
    }
}

// ------------------------------------------------------------------------
// Reading

/// Where a dataset is, as a reader was pointed at it.
pub(crate) struct Location {
    /// The format's folder.
    pub(crate) folder: PathBuf,
    /// The one layer file given, when the reader was given a file.
    pub(crate) file: Option<PathBuf>,
    /// The index, when the folder has one.
    pub(crate) index: Option<(PathBuf, Index)>,
    /// The folder chip image paths are relative to.
    pub(crate) base_dir: PathBuf,
}

/// Finds the dataset at `path`: a store root holding `<folder_name>/`, the
/// format's folder itself, or one layer file. With labelstore's index in
/// the folder, the whole store is read (even when one of its files was
/// given) and chip images are relative to the store root; otherwise they
/// are looked for (see [`Assembler`]).
pub(crate) fn locate(path: &Path, folder_name: &str, format: &str) -> Result<Location> {
    let (folder, file) = if path.is_file() {
        let parent = path.parent().unwrap_or(Path::new("")).to_path_buf();
        (parent, Some(path.to_path_buf()))
    } else if path.is_dir() {
        let sub = path.join(folder_name);
        (
            if sub.is_dir() {
                sub
            } else {
                path.to_path_buf()
            },
            None,
        )
    } else {
        return Err(Error::invalid(
            path,
            None,
            "",
            format!("no such file or folder (expected a store holding {folder_name}/)"),
        ));
    };
    let index_path = folder.join(INDEX_FILE);
    let index = if index_path.is_file() {
        Some((index_path.clone(), read_index(&index_path, format)?))
    } else {
        None
    };
    let named = folder
        .file_name()
        .is_some_and(|n| n.to_string_lossy().eq_ignore_ascii_case(folder_name));
    let base_dir = if index.is_some() || named {
        folder.parent().unwrap_or(Path::new("")).to_path_buf()
    } else {
        folder.clone()
    };
    Ok(Location {
        folder,
        file: if index.is_some() { None } else { file },
        index,
        base_dir,
    })
}

fn read_index(path: &Path, format: &str) -> Result<Index> {
    let bytes = labels_model::read_regular(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let de = &mut serde_json::Deserializer::from_slice(&bytes);
    let index: Index = serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        let field = if field == "." {
            format!("line {} column {}", inner.line(), inner.column())
        } else {
            field
        };
        Error::invalid(path, None, field, inner.to_string())
    })?;
    let bad = |field: &str, message: String| Err(Error::invalid(path, None, field, message));
    if index.labelstore_index != 1 {
        return bad(
            "labelstore_index",
            format!(
                "version {} is not one this build reads (1)",
                index.labelstore_index
            ),
        );
    }
    if index.format != format {
        return bad(
            "format",
            format!("the index is of format {:?}, not {format:?}", index.format),
        );
    }
    if let Some((i, l)) =
        index.layers.iter().enumerate().find(|(_, l)| {
            l.file.is_empty() || l.file.starts_with('.') || l.file.contains(['/', '\\'])
        })
    {
        return bad(
            &format!("layers[{i}].file"),
            format!("{:?} is not a file name of the folder", l.file),
        );
    }
    if index.labeling_type != LabelingType::ObjectDetection.name() {
        return bad(
            "labeling_type",
            format!("{:?} is not object_detection", index.labeling_type),
        );
    }
    Ok(index)
}

/// One feature read from a layer, before it becomes a label.
pub(crate) struct Feature {
    /// Where it is, for messages: `features[3]`, `record 4`.
    pub(crate) field: String,
    pub(crate) chip: String,
    pub(crate) class_id: Option<u32>,
    pub(crate) class_name: Option<String>,
    /// Every position of its geometry, in the layer's coordinates.
    pub(crate) points: Vec<(f64, f64)>,
    pub(crate) attributes: Attributes,
}

/// The coordinates of a layer being read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LayerSpace {
    pub(crate) coordinates: Coordinates,
    /// The CRS of map coordinates, when the layer says.
    pub(crate) epsg: Option<u32>,
}

/// A chip's georeferencing as the reader finds it.
#[derive(Debug, Clone, Copy)]
struct Frame {
    transform: Option<GeoTransform>,
    epsg: Option<u32>,
}

const IMAGE_EXTENSIONS: [&str; 7] = ["png", "jpg", "jpeg", "tif", "tiff", "gif", "bmp"];

/// Builds the project back from features.
///
/// With the index: the project's name, `srid`, classes and chips (saved
/// empty ones included) come from it, and each chip's georeferencing too.
/// Without (a dataset from another tool): chips are those the features
/// name in `chip_id`, in order of appearance; classes are those the
/// features name (see [`ClassTable`]); each chip's image is looked for as `<chip_id>.*`
/// (png, jpg, jpeg, tif, tiff, gif, bmp, any case) in the store's `chips/`,
/// then in the format's folder, its `images/` and `chips/`, and its
/// georeferencing is read from it: a GeoTIFF's own tags, else a world file
/// beside it as GDAL probes them. A chip with no image found gets the path
/// `chips/<chip_id>.png` and can be read only from pixel coordinates.
pub(crate) struct Assembler {
    base_dir: PathBuf,
    search: Vec<PathBuf>,
    listings: HashMap<PathBuf, Vec<OsString>>,
    with_index: bool,
    name: String,
    srid: Option<u32>,
    classes: Vec<Class>,
    chips: Vec<Chip>,
    positions: HashMap<String, usize>,
    frames: HashMap<String, Frame>,
    crs: CrsCache,
    /// Without the index: the classes met, and each label's class as met.
    table: ClassTable,
    pending: Vec<(usize, usize, ClassKey)>,
}

/// A feature's class as it names it: a positive id, a name, or both.
type ClassKey = (Option<u32>, Option<String>);

/// Classes of a dataset without the index, as its features name them,
/// settled once every feature is read: each positive `class_id` is a class
/// (named by the `class_name` met with it, else after the id); each name
/// met without an id joins the class of that name if one has an id, else
/// becomes a class with the next free id, in order of appearance. An id met
/// with two names, or a name with two ids, is an error.
#[derive(Default)]
struct ClassTable {
    ids: std::collections::BTreeMap<u32, Option<String>>,
    names: Vec<(String, Option<u32>)>,
}

impl ClassTable {
    fn meet(&mut self, id: Option<u32>, name: Option<&str>) -> std::result::Result<(), String> {
        let id = id.filter(|&id| id > 0);
        if id.is_none() && name.is_none() {
            return Err("the feature has neither a class_id (above 0) nor a class_name".into());
        }
        if let (Some(id), Some(name)) = (id, name) {
            if let Some(Some(other)) = self.ids.get(&id)
                && other != name
            {
                return Err(format!(
                    "class_id {id} is class {other:?}, but class_name says {name:?}"
                ));
            }
            if let Some((_, Some(other))) = self.names.iter().find(|(n, _)| n == name)
                && *other != id
            {
                return Err(format!("class {name:?} has class_id {other} elsewhere"));
            }
        }
        if let Some(id) = id {
            let entry = self.ids.entry(id).or_insert(None);
            if entry.is_none() {
                *entry = name.map(str::to_owned);
            }
        }
        if let Some(name) = name {
            match self.names.iter_mut().find(|(n, _)| n == name) {
                Some((_, known)) => {
                    if known.is_none() {
                        *known = id;
                    }
                }
                None => self.names.push((name.to_owned(), id)),
            }
        }
        Ok(())
    }

    /// The classes in id order, and the id of every name.
    fn settle(self) -> (Vec<Class>, HashMap<String, u32>) {
        let mut next = self.ids.keys().max().copied().unwrap_or(0) + 1;
        let mut classes: Vec<Class> = self
            .ids
            .iter()
            .map(|(&id, name)| Class {
                id,
                name: name.clone().unwrap_or_else(|| id.to_string()),
                color: None,
            })
            .collect();
        let mut ids = HashMap::new();
        for (name, id) in self.names {
            let id = id.unwrap_or_else(|| {
                classes.push(Class {
                    id: next,
                    name: name.clone(),
                    color: None,
                });
                next += 1;
                next - 1
            });
            ids.insert(name, id);
        }
        (classes, ids)
    }
}

impl Assembler {
    /// Starts from the index if there is one; `name` is the project's name
    /// otherwise.
    pub(crate) fn new(loc: &Location, name: &str) -> Result<Assembler> {
        let mut search = vec![loc.base_dir.join("chips"), loc.folder.clone()];
        search.push(loc.folder.join("images"));
        search.push(loc.folder.join("chips"));
        search.dedup();
        let mut a = Assembler {
            base_dir: loc.base_dir.clone(),
            search,
            listings: HashMap::new(),
            with_index: loc.index.is_some(),
            name: name.to_owned(),
            srid: None,
            classes: Vec::new(),
            chips: Vec::new(),
            positions: HashMap::new(),
            frames: HashMap::new(),
            crs: CrsCache::default(),
            table: ClassTable::default(),
            pending: Vec::new(),
        };
        let Some((path, index)) = &loc.index else {
            return Ok(a);
        };
        a.name = index.project.clone();
        a.srid = index.srid;
        for (i, c) in index.classes.iter().enumerate() {
            let color = match &c.color {
                None => None,
                Some(s) => Some(Rgb::parse(s).ok_or_else(|| {
                    Error::invalid(path, None, format!("classes[{i}].color"), "not #rrggbb")
                })?),
            };
            a.classes.push(Class {
                id: c.id,
                name: c.name.clone(),
                color,
            });
        }
        for (i, c) in index.chips.iter().enumerate() {
            if !safe_chip_id(&c.id) {
                return Err(Error::invalid(
                    path,
                    Some(&c.id),
                    format!("chips[{i}].id"),
                    UNSAFE_CHIP_ID,
                ));
            }
            if a.positions.insert(c.id.clone(), i).is_some() {
                return Err(Error::invalid(
                    path,
                    Some(&c.id),
                    format!("chips[{i}].id"),
                    "the chip is listed twice",
                ));
            }
            let mut chip = Chip::new(c.id.clone(), c.image.clone());
            chip.width = c.width;
            chip.height = c.height;
            chip.srid = c.srid;
            chip.saved_empty = c.saved_empty;
            a.chips.push(chip);
            if let Some(gt) = c.geotransform {
                let transform = GeoTransform::new(gt).map_err(|e| {
                    Error::invalid(
                        path,
                        Some(&c.id),
                        format!("chips[{i}].geotransform"),
                        e.to_string(),
                    )
                })?;
                a.frames.insert(
                    c.id.clone(),
                    Frame {
                        transform: Some(transform),
                        epsg: c.epsg,
                    },
                );
            }
        }
        Ok(a)
    }

    /// The lower-case-insensitive listing of a folder.
    fn listing(&mut self, dir: &Path) -> &[OsString] {
        self.listings.entry(dir.to_path_buf()).or_insert_with(|| {
            let mut names: Vec<OsString> = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name())
                .collect();
            names.sort();
            names
        })
    }

    /// The image of chip `id` (an absolute or base-relative path), found
    /// as the type documentation says.
    fn find_image(&mut self, id: &str) -> Option<PathBuf> {
        for dir in self.search.clone() {
            let found = self.listing(&dir).iter().find(|name| {
                let p = Path::new(name);
                p.file_stem().is_some_and(|s| s == id)
                    && p.extension().is_some_and(|e| {
                        IMAGE_EXTENSIONS
                            .contains(&e.to_string_lossy().to_ascii_lowercase().as_str())
                    })
            });
            if let Some(name) = found {
                return Some(dir.join(name));
            }
        }
        None
    }

    /// Georeferencing of the image at `path` (a GeoTIFF's tags, else a
    /// world file beside it).
    fn image_frame(&mut self, path: &Path, chip: &str) -> Result<Frame> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let mut frame = Frame {
            transform: None,
            epsg: None,
        };
        if ext == "tif" || ext == "tiff" {
            let file = labels_model::open_regular(path).map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })?;
            let embedded = raster_georef::read_embedded(
                std::io::BufReader::new(file),
                &path.display().to_string(),
            )
            .map_err(|e| Error::invalid(path, Some(chip), "", e.to_string()))?;
            if let Some(e) = embedded {
                frame.epsg = e.epsg;
                frame.transform = e.transform;
            }
        }
        if frame.transform.is_none() {
            let (dir, stem) = (
                path.parent().unwrap_or(Path::new("")).to_path_buf(),
                path.file_stem()
                    .map(|s| s.to_string_lossy().to_ascii_lowercase()),
            );
            let Some(stem) = stem else { return Ok(frame) };
            let names = self.listing(&dir).to_vec();
            for cand in raster_georef::world_file_candidates(&ext) {
                let want = format!("{stem}.{cand}");
                let Some(name) = names
                    .iter()
                    .find(|n| n.to_string_lossy().to_ascii_lowercase() == want)
                else {
                    continue;
                };
                let wf = dir.join(name);
                let text =
                    labels_model::read_regular_to_string(&wf).map_err(|source| Error::Io {
                        path: wf.clone(),
                        source,
                    })?;
                let gt = GeoTransform::parse_world_file(&text, &wf.display().to_string())
                    .map_err(|e| Error::invalid(&wf, Some(chip), "", e.to_string()))?;
                frame.transform = Some(gt);
                break;
            }
        }
        Ok(frame)
    }

    /// The chip named `id`, created (without the index) on first sight.
    fn chip_position(&mut self, id: &str, file: &Path, field: &str) -> Result<usize> {
        if let Some(&i) = self.positions.get(id) {
            return Ok(i);
        }
        if self.with_index {
            return Err(Error::invalid(
                file,
                Some(id),
                field,
                format!("chip {id:?} is not in the store's {INDEX_FILE}"),
            ));
        }
        if !safe_chip_id(id) {
            return Err(Error::invalid(file, Some(id), field, UNSAFE_CHIP_ID));
        }
        let (image, size) = match self.find_image(id) {
            Some(found) => {
                let size = labels_model::image_size(&found)
                    .ok()
                    .and_then(|(w, h)| Some((u32::try_from(w).ok()?, u32::try_from(h).ok()?)));
                let rel = found
                    .strip_prefix(&self.base_dir)
                    .map(Path::to_path_buf)
                    .unwrap_or(found);
                (rel, size)
            }
            None => (PathBuf::from(format!("chips/{id}.png")), None),
        };
        let mut chip = Chip::new(id, image);
        chip.width = size.map(|s| s.0);
        chip.height = size.map(|s| s.1);
        self.chips.push(chip);
        self.positions.insert(id.to_owned(), self.chips.len() - 1);
        Ok(self.chips.len() - 1)
    }

    /// The georeferencing of chip `i`.
    fn frame(&mut self, i: usize) -> Result<Frame> {
        let id = self.chips[i].id.clone();
        if let Some(f) = self.frames.get(&id) {
            return Ok(*f);
        }
        let image = self.base_dir.join(&self.chips[i].image);
        let frame = if image.is_file() {
            self.image_frame(&image, &id)?
        } else {
            Frame {
                transform: None,
                epsg: None,
            }
        };
        self.frames.insert(id, frame);
        Ok(frame)
    }

    /// Whether chip `chip_id` has a geotransform (for layers that do not say
    /// what coordinates they hold).
    pub(crate) fn is_georeferenced(
        &mut self,
        chip_id: &str,
        file: &Path,
        field: &str,
    ) -> Result<bool> {
        let i = self.chip_position(chip_id, file, field)?;
        Ok(self.frame(i)?.transform.is_some())
    }

    /// The class id of a feature, with the index; without it, 0 until
    /// [`finish`](Self::finish) settles the classes (see [`ClassTable`]).
    fn class_id(&mut self, f: &Feature, file: &Path) -> Result<u32> {
        let err = |message: String| Error::invalid(file, Some(&f.chip), &f.field, message);
        // 0 is no labelstore id: a class of a 0-based tool is taken by name.
        let id = f.class_id.filter(|&id| id > 0);
        if !self.with_index {
            self.table
                .meet(f.class_id, f.class_name.as_deref())
                .map_err(err)?;
            return Ok(0);
        }
        let by_id = id.and_then(|id| self.classes.iter().find(|c| c.id == id));
        let by_name = f
            .class_name
            .as_ref()
            .and_then(|n| self.classes.iter().find(|c| c.name == *n));
        match (id, by_id, &f.class_name, by_name) {
            (Some(_), Some(c), Some(name), _) if *name != c.name => Err(err(format!(
                "class_id {} is class {:?}, but class_name says {name:?}",
                c.id, c.name
            ))),
            (_, Some(c), _, _) => Ok(c.id),
            (Some(id), None, _, _) => {
                Err(err(format!("class_id {id} is not a class of the store")))
            }
            (None, _, _, Some(c)) => Ok(c.id),
            (None, _, Some(name), None) => Err(err(format!(
                "class_name {name:?} is not a class of the store"
            ))),
            (None, _, None, _) => {
                Err(err("the feature has neither class_id nor class_name".into()))
            }
        }
    }

    /// Adds one feature of a layer of `file` holding `space` coordinates.
    pub(crate) fn add(&mut self, file: &Path, space: LayerSpace, f: Feature) -> Result<()> {
        let i = self.chip_position(&f.chip, file, &f.field)?;
        let class_id = self.class_id(&f, file)?;
        let err = |message: String| Error::invalid(file, Some(&f.chip), &f.field, message);
        if f.points.is_empty() {
            return Err(err("the geometry has no positions".into()));
        }
        let mut points = f.points.clone();
        if space.coordinates != Coordinates::Pixel {
            let frame = self.frame(i)?;
            let Some(gt) = frame.transform else {
                return Err(err(format!(
                    "the feature is in {} coordinates, but chip {:?} has no georeferencing \
                     (no geotransform in {INDEX_FILE}, no GeoTIFF tags or world file for {})",
                    if space.coordinates == Coordinates::Wgs84 {
                        "WGS 84"
                    } else {
                        "map"
                    },
                    f.chip,
                    self.chips[i].image.display()
                )));
            };
            let from = match space.coordinates {
                Coordinates::Wgs84 => Some(4326),
                _ => space.epsg,
            };
            if let (Some(from), to) = (from, frame.epsg) {
                let to = match to {
                    Some(to) => to,
                    None if from == 4326 => {
                        return Err(err(format!(
                            "the feature is in WGS 84, but chip {:?} has no CRS to convert to",
                            f.chip
                        )));
                    }
                    None => from,
                };
                if from != to {
                    let src = self.crs.get(from).map_err(&err)?;
                    if from != 4326 {
                        src.to_wgs84_many(&mut points)
                            .map_err(|e| err(e.to_string()))?;
                    }
                    let dst = self.crs.get(to).map_err(&err)?;
                    dst.from_wgs84_many(&mut points)
                        .map_err(|e| err(e.to_string()))?;
                }
            }
            let scale = 10f64.powi(PIXEL_DECIMALS);
            for p in &mut points {
                let (x, y) = gt.map_to_pixel(p.0, p.1);
                // `+ 0.0` turns a -0.0 rounded from a tiny negative into 0.0.
                *p = (
                    (x * scale).round() / scale + 0.0,
                    (y * scale).round() / scale + 0.0,
                );
            }
        }
        let mut b = [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ];
        for &(x, y) in &points {
            if !x.is_finite() || !y.is_finite() {
                return Err(err("a position is not a finite number".into()));
            }
            b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
        }
        if !self.with_index {
            let key = (f.class_id.filter(|&id| id > 0), f.class_name.clone());
            self.pending.push((i, self.chips[i].labels.len(), key));
        }
        self.chips[i].labels.push(Label {
            class_id,
            geometry: Geometry::BBox(b),
            attributes: f.attributes,
        });
        Ok(())
    }

    /// The project read, its main label file being `manifest_path`.
    pub(crate) fn finish(mut self, manifest_path: PathBuf) -> Project {
        if !self.with_index {
            let (classes, ids) = self.table.settle();
            self.classes = classes;
            for (chip, label, (id, name)) in self.pending {
                let id = id
                    .or_else(|| name.and_then(|n| ids.get(&n).copied()))
                    .unwrap_or(0);
                self.chips[chip].labels[label].class_id = id;
            }
        }
        Project {
            name: self.name,
            labeling_type: LabelingType::ObjectDetection,
            srid: self.srid,
            classes: self.classes,
            chips: self.chips,
            base_dir: self.base_dir,
            manifest_path,
        }
    }
}

/// Whether `id` may name a chip (SPEC §1): it names the chip's files in
/// every later store, so nothing but 1 to 128 of `A-Z a-z 0-9 . _ -`, not
/// starting with `.`.
fn safe_chip_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

const UNSAFE_CHIP_ID: &str =
    "a chip id is 1 to 128 characters of A-Z a-z 0-9 . _ - not starting with \".\"";

/// The attribute key a property or column name stands for: GeoJSON
/// properties and labelstore's reserved names (`chip_id`, `class_id`,
/// `class_name`) are kept apart by prefixing `attr_` to an attribute key that
/// is reserved or already starts with `attr_`; this undoes it.
pub(crate) fn attribute_key(property: &str) -> &str {
    property.strip_prefix("attr_").unwrap_or(property)
}

/// The property name of attribute key `key` (see [`attribute_key`]).
pub(crate) fn property_name(key: &str) -> std::borrow::Cow<'_, str> {
    if RESERVED.contains(&key) || key.starts_with("attr_") {
        format!("attr_{key}").into()
    } else {
        key.into()
    }
}

/// The properties / columns labelstore writes for every label.
pub(crate) const RESERVED: [&str; 3] = ["chip_id", "class_id", "class_name"];

/// Layer files of a folder with one of `extensions` (any case), sorted.
pub(crate) fn layer_files(folder: &Path, extensions: &[&str]) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(folder).map_err(|source| Error::Io {
        path: folder.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name().is_some_and(|n| n != INDEX_FILE)
                && p.extension().is_some_and(|e| {
                    extensions.contains(&e.to_string_lossy().to_ascii_lowercase().as_str())
                })
        })
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rings_are_oriented_keeping_their_first_corner() {
        let r = box_ring([0.0, 0.0, 2.0, 1.0]);
        // With y up, TL, TR, BR, BL of a y-down box runs counter-clockwise.
        assert!(signed_area(&r) > 0.0);
        assert_eq!(orient(r, true), r);
        let cw = orient(r, false);
        assert_eq!(cw, [(0.0, 0.0), (0.0, 1.0), (2.0, 1.0), (2.0, 0.0)]);
        assert!(signed_area(&cw) < 0.0);
    }

    #[test]
    fn stems_and_property_names() {
        let main = Space::Crs(32633);
        assert_eq!(Space::Crs(32633).stem(main), "labels");
        assert_eq!(Space::Crs(32632).stem(main), "labels_epsg32632");
        assert_eq!(Space::Pixel.stem(main), "labels_pixels");
        assert_eq!(Space::NoCrs.stem(main), "labels_nocrs");
        assert_eq!(Space::Wgs84.stem(Space::Wgs84), "labels");
        for key in [
            "chip_id",
            "class_id",
            "class_name",
            "attr_x",
            "score",
            "attr_",
            "x",
        ] {
            let p = property_name(key);
            assert_eq!(attribute_key(&p), key);
            assert!(!RESERVED.contains(&p.as_ref()));
        }
        assert_eq!(property_name("class_id"), "attr_class_id");
        assert_eq!(property_name("score"), "score");
    }

    #[test]
    fn wgs84_is_polished_against_from_wgs84() {
        // Lambert-93 far from its origin and OSGB 1936 (Helmert): to_wgs84
        // alone comes back a micrometre to a millimetre off.
        for (code, p) in [
            (2154, (1_240_000.123, 7_119_999.877)),
            (27700, (1.0, 1.0)),
            (27700, (650_000.25, 1_200_000.5)),
            (32632, (500_000.0, 5_000_000.0)),
        ] {
            let crs = Crs::from_epsg(code).unwrap();
            let ll = to_wgs84_exact(&crs, &[p]).unwrap();
            let back = crs.from_wgs84(ll[0].0, ll[0].1).unwrap();
            let d = (back.0 - p.0).abs().max((back.1 - p.1).abs());
            assert!(d < 1e-8, "EPSG:{code} {p:?}: {back:?}, {d:e} m off");
        }
    }
}
