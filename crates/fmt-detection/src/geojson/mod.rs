//! Format `geojson`: every box a Polygon in map coordinates, in
//! FeatureCollections GDAL/OGR and QGIS open as they are (FORMATS.md §1.5).
//!
//! # Layout
//!
//! ```text
//! geojson/labels.geojson           the main FeatureCollection (always written)
//! geojson/labels_epsg<code>.geojson  chips kept in their own CRS (see below)
//! geojson/labels_nocrs.geojson     chips with a geotransform but no CRS
//! geojson/labels_pixels.geojson    chips without georeferencing
//! geojson/index.json               labelstore's index (project, classes, chips)
//! ```
//!
//! Each chip's features are in exactly one of these files, chosen by the
//! chip's coordinates; files no chip needs are not written (but
//! `labels.geojson` always is, empty if need be). Every FeatureCollection
//! has a `name` (the file stem, GDAL's layer name) and a foreign member
//! `"labelstore": {"coordinates": "wgs84" | "map" | "pixel", "epsg": n}`
//! (RFC 7946 §6.1) saying what its coordinates are, so each file reads
//! back on its own.
//!
//! * **RFC 7946 (the default, [`GeojsonFormat::rfc7946`])**: `labels.geojson`
//!   holds WGS 84 longitude/latitude (no `crs` member), for every chip whose
//!   CRS is known and converts to WGS 84 (`raster_georef::Crs::to_wgs84`).
//!   A chip whose CRS does not convert (a datum shift labelstore does not
//!   know) keeps its map coordinates in `labels_epsg<code>.geojson` with the
//!   legacy `crs` member; chips with a geotransform but no CRS go to
//!   `labels_nocrs.geojson` (map coordinates, no `crs`).
//! * **Native CRS ([`GeojsonFormat::native`], `--geojson-crs native`)**: map
//!   coordinates in each chip's own CRS, with the 2008 `crs` member GDAL
//!   reads (`{"type": "name", "properties": {"name":
//!   "urn:ogc:def:crs:EPSG::32632"}}`; `urn:ogc:def:crs:OGC:1.3:CRS84` for
//!   EPSG:4326). One collection can have one `crs`, so chips in the
//!   project's CRS (`srid`) are in `labels.geojson` and chips in any other
//!   CRS in `labels_epsg<code>.geojson`, one file per CRS (with no project
//!   `srid`, `labels.geojson` holds the chips georeferenced without a CRS,
//!   and has no `crs` member). Geographic CRSs are written longitude first,
//!   as GDAL reads them.
//! * Chips **without georeferencing** keep pixel coordinates (x right, y
//!   down, origin at the top-left corner of the chip) in
//!   `labels_pixels.geojson`, never mixed with map coordinates: GDAL would
//!   take them for longitudes and latitudes. The store report counts those
//!   chips (`chips_without_georeferencing`).
//!
//! # Features
//!
//! One Feature per label, one per line, in chip and label order: a Polygon
//! of the box's 4 corners through the chip's geotransform (rotation and
//! shear included), closed (5 positions), **counter-clockwise** as its
//! numbers read with y up (RFC 7946 §3.1.6; in all three kinds of file),
//! starting at the box's top-left corner (in pixel space). Properties:
//! `chip_id`, `class_id` (the labelstore class id), `class_name`, then the
//! label's attributes, all of them, with their JSON values as they are
//! (strings, numbers, booleans, null, arrays, objects). An attribute key
//! that is one of those three names or starts with `attr_` gets `attr_`
//! prefixed (`class_id` → `attr_class_id`), and the reader takes one
//! `attr_` off, so no attribute is ever confused with them.
//!
//! Numbers are written in their shortest round-trip form (`serde_json`'s),
//! not rounded to RFC 7946's suggested 7 decimals (about a centimetre),
//! so that a box comes back within 1e-6 pixel. Longitudes/latitudes are
//! polished against `Crs::from_wgs84` (Newton steps) so that reading them
//! back gives the map coordinates to the nanometre (`to_wgs84` alone can be
//! off by a micrometre to a millimetre for some CRSs).
//!
//! # Classes, chips, reading back
//!
//! Class ids survive in `class_id`, names (spaces and non-ASCII included)
//! in `class_name`, colours in the index. `index.json` (see `common/geo_layout.rs`)
//! lists every stored chip, those saved empty included (they have no
//! feature, and survive through it), with its image, size and the
//! geotransform and CRS its features were written with.
//!
//! The reader takes the store root, the `geojson/` folder or a GeoJSON
//! file. With the index it reads the whole store; without (a dataset
//! another tool made) it reads the given file or every `*.geojson`/`*.json`
//! of the folder. A file's coordinates are what its `labelstore` member
//! says, else map coordinates in the CRS of its `crs` member, else WGS 84
//! (RFC 7946). Map and WGS 84 positions go back to pixels through the
//! chip's georeferencing (the index's, else the chip image's: see
//! `common::Assembler`, which also says how chips and classes are found
//! without the index), converted first from the file's CRS to the chip's
//! when they differ; a box is the axis-aligned bounds of the feature's
//! positions in pixel space (Polygon and MultiPolygon), rounded to 1e-7
//! pixel (manifest values with up to 7 decimals come back exactly).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use labels_model::{
    Attributes, Chip, ChipGeoref, Error, Fidelity, LabelFormat, LabelWriter, LabelingType, Output,
    Project, Result,
};
use serde_json::Value;

use crate::common::{
    Assembler, ChipRings, Coordinates, CrsCache, Feature, IndexChip, IndexLayer, IndexWriter,
    LayerSpace, MAIN_STEM, RESERVED, Ring, Space, attribute_key, chip_rings, entries, ext_is,
    format_folder, head_holds, index_of, json_number, layer_files, locate, native_main, orient,
    property_name,
};

/// The folder of the format in a store.
const FOLDER: &str = "geojson";

/// The format's name on the command line and in store manifests.
const NAME: &str = "geojson";

/// The GeoJSON format. [`Default`] writes RFC 7946 (WGS 84).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GeojsonFormat {
    /// Keep each chip's own CRS with the legacy `crs` member
    /// (`--geojson-crs native`) instead of converting to WGS 84.
    pub native_crs: bool,
}

impl GeojsonFormat {
    /// RFC 7946: WGS 84 longitude/latitude, no `crs` member (the default).
    pub fn rfc7946() -> GeojsonFormat {
        GeojsonFormat { native_crs: false }
    }

    /// Each chip's own CRS, with the legacy `crs` member GDAL reads.
    pub fn native() -> GeojsonFormat {
        GeojsonFormat { native_crs: true }
    }
}

impl LabelFormat for GeojsonFormat {
    fn name(&self) -> &'static str {
        NAME
    }

    fn labeling_types(&self) -> &'static [LabelingType] {
        &[LabelingType::ObjectDetection]
    }

    fn layout(&self) -> &'static str {
        "geojson/labels.geojson (labels_epsg<code>, _nocrs, _pixels), geojson/index.json"
    }

    /// A `.geojson` file, or a `.json` one whose beginning has a
    /// `FeatureCollection`; or a folder (a store's `geojson/`) holding
    /// labelstore's GeoJSON `index.json` or `.geojson` files.
    fn recognizes(&self, path: &Path) -> bool {
        let layer = |p: &Path| {
            ext_is(p, &["geojson"])
                || (ext_is(p, &["json"]) && head_holds(p, "\"FeatureCollection\""))
        };
        if path.is_file() {
            return layer(path) || index_of(path.parent().unwrap_or(Path::new(".")), NAME);
        }
        let folder = format_folder(path, FOLDER);
        index_of(&folder, NAME)
            || entries(&folder)
                .iter()
                .any(|p| ext_is(p, &["geojson"]) && p.is_file())
    }

    fn writer(&self, header: &Project) -> Box<dyn LabelWriter> {
        let main = if self.native_crs {
            native_main(header)
        } else {
            Space::Wgs84
        };
        Box::new(GeojsonWriter {
            classes: header
                .classes
                .iter()
                .map(|c| (c.id, c.name.clone()))
                .collect(),
            wgs84: !self.native_crs,
            main,
            layers: BTreeMap::new(),
            index: IndexWriter::new(FOLDER, NAME, header),
            crs: CrsCache::default(),
        })
    }

    fn read(&self, path: &Path) -> Result<Project> {
        read(path)
    }

    /// Boxes come back within 1e-6 pixel (exactly for chips without
    /// georeferencing); class ids, every attribute and chips saved empty
    /// survive.
    fn fidelity(&self) -> Fidelity {
        Fidelity {
            pixel_tolerance: Some(1e-6),
            class_ids: true,
            attributes: None,
            empty_chips: true,
        }
    }
}

struct GeojsonWriter {
    classes: BTreeMap<u32, String>,
    wgs84: bool,
    main: Space,
    /// Per layer stem: its space and how many features it has so far.
    layers: BTreeMap<String, (Space, u64)>,
    index: IndexWriter,
    crs: CrsCache,
}

fn io_err(path: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.into(),
        source,
    }
}

/// The `crs` member value naming an EPSG code, as GDAL writes it.
fn crs_urn(code: u32) -> String {
    if code == 4326 {
        "urn:ogc:def:crs:OGC:1.3:CRS84".to_owned()
    } else {
        format!("urn:ogc:def:crs:EPSG::{code}")
    }
}

/// The opening of a FeatureCollection, up to `"features": [`.
fn collection_head(stem: &str, space: Space) -> String {
    let mut s = format!(
        "{{\n\"type\": \"FeatureCollection\",\n\"name\": {},\n",
        json_string(stem)
    );
    if let Space::Crs(code) = space {
        s += &format!(
            "\"crs\": {{\"type\": \"name\", \"properties\": {{\"name\": \"{}\"}}}},\n",
            crs_urn(code)
        );
    }
    let coordinates = match space.coordinates() {
        Coordinates::Wgs84 => "wgs84",
        Coordinates::Map => "map",
        Coordinates::Pixel => "pixel",
    };
    s += &format!("\"labelstore\": {{\"coordinates\": \"{coordinates}\"");
    if let Some(code) = space.epsg() {
        s += &format!(", \"epsg\": {code}");
    }
    s += "},\n\"features\": [";
    s
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn layer_path(stem: &str) -> String {
    format!("{FOLDER}/{stem}.geojson")
}

impl GeojsonWriter {
    /// Makes sure the layer `stem` is open; its path.
    fn open(&mut self, stem: &str, space: Space, out: &mut dyn Output) -> Result<String> {
        let path = layer_path(stem);
        if !self.layers.contains_key(stem) {
            out.append(&path, collection_head(stem, space).as_bytes())
                .map_err(io_err(&path))?;
            self.layers.insert(stem.to_owned(), (space, 0));
        }
        Ok(path)
    }
}

impl LabelWriter for GeojsonWriter {
    fn write_chip(&mut self, chip: &Chip, georef: &ChipGeoref, out: &mut dyn Output) -> Result<()> {
        let ChipRings { space, rings } = chip_rings(chip, georef, self.wgs84, &mut self.crs);
        let stem = space.stem(self.main);
        let path = self.open(&stem, space, out)?;
        let count = self.layers.get(&stem).map_or(0, |l| l.1);
        let mut text = String::new();
        for (i, (label, ring)) in chip.labels.iter().zip(&rings).enumerate() {
            let class_name = self.classes.get(&label.class_id).ok_or_else(|| {
                Error::invalid(
                    &chip.image,
                    Some(&chip.id),
                    format!("labels[{i}]"),
                    format!("class id {} is not a class of the project", label.class_id),
                )
            })?;
            text += if count == 0 && i == 0 { "\n" } else { ",\n" };
            text += &feature(
                &chip.id,
                label.class_id,
                class_name,
                &label.attributes,
                ring,
            );
        }
        if let Some(l) = self.layers.get_mut(&stem) {
            l.1 += rings.len() as u64;
        }
        if !text.is_empty() {
            out.append(&path, text.as_bytes()).map_err(io_err(&path))?;
        }
        let entry = IndexChip::new(chip, georef, format!("{stem}.geojson"));
        self.index.chip(&entry, out)
    }

    fn finish(&mut self, out: &mut dyn Output) -> Result<()> {
        self.open(MAIN_STEM, self.main, out)?;
        let mut index = Vec::new();
        for (stem, &(space, features)) in &self.layers {
            let path = layer_path(stem);
            out.append(&path, b"\n]\n}\n").map_err(io_err(&path))?;
            index.push(IndexLayer {
                file: format!("{stem}.geojson"),
                coordinates: space.coordinates(),
                epsg: space.epsg(),
                features,
                fields: Vec::new(),
            });
        }
        self.index.finish(&index, out)
    }
}

/// One Feature, on one line.
fn feature(
    chip: &str,
    class_id: u32,
    class_name: &str,
    attributes: &Attributes,
    ring: &Ring,
) -> String {
    let mut s = format!(
        "{{\"type\": \"Feature\", \"properties\": {{\"chip_id\": {}, \"class_id\": {class_id}, \
         \"class_name\": {}",
        json_string(chip),
        json_string(class_name)
    );
    for (key, value) in attributes {
        s += &format!(
            ", {}: {}",
            json_string(&property_name(key)),
            serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
        );
    }
    s += "}, \"geometry\": {\"type\": \"Polygon\", \"coordinates\": [[";
    let r = orient(*ring, true);
    for (i, (x, y)) in r.iter().chain(std::iter::once(&r[0])).enumerate() {
        if i > 0 {
            s += ", ";
        }
        s += &format!("[{}, {}]", json_number(*x), json_number(*y));
    }
    s += "]]}}";
    s
}

// ------------------------------------------------------------------------
// Reading

fn read(path: &Path) -> Result<Project> {
    let loc = locate(path, FOLDER, NAME)?;
    let (files, known): (Vec<PathBuf>, Vec<Option<LayerSpace>>) = match (&loc.index, &loc.file) {
        (Some((_, index)), _) => index
            .layers
            .iter()
            .map(|l| {
                (
                    loc.folder.join(&l.file),
                    Some(LayerSpace {
                        coordinates: l.coordinates,
                        epsg: l.epsg,
                    }),
                )
            })
            .unzip(),
        (None, Some(file)) => (vec![file.clone()], vec![None]),
        (None, None) => {
            let files = layer_files(&loc.folder, &["geojson", "json"])?;
            let n = files.len();
            (files, vec![None; n])
        }
    };
    if files.is_empty() {
        return Err(Error::invalid(
            &loc.folder,
            None,
            "",
            "no GeoJSON file (*.geojson, *.json) here",
        ));
    }
    let main = files
        .iter()
        .find(|f| f.file_stem().is_some_and(|s| s == MAIN_STEM))
        .unwrap_or(&files[0])
        .clone();
    let name = main
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut assembler = Assembler::new(&loc, &name)?;
    for (file, known) in files.iter().zip(known) {
        read_collection(file, known, &mut assembler)?;
    }
    Ok(assembler.finish(main))
}

/// The EPSG code a legacy `crs` member names.
fn crs_member_epsg(crs: &Value) -> Option<u32> {
    let name = crs.get("properties")?.get("name")?.as_str()?;
    let upper = name.to_ascii_uppercase();
    if upper.ends_with("CRS84") {
        return Some(4326);
    }
    let code = upper.rsplit([':', '/']).next()?.trim();
    code.parse().ok()
}

fn read_collection(file: &Path, known: Option<LayerSpace>, a: &mut Assembler) -> Result<()> {
    let bytes = labels_model::read_regular(file).map_err(|source| Error::Io {
        path: file.to_path_buf(),
        source,
    })?;
    let doc: Value = serde_json::from_slice(&bytes).map_err(|e| {
        let place = format!("line {} column {}", e.line(), e.column());
        let message = e.to_string();
        let message = message
            .strip_suffix(&format!(" at {place}"))
            .unwrap_or(&message);
        Error::invalid(file, None, &place, format!("not JSON: {message}"))
    })?;
    let invalid = |field: &str, message: &str| Error::invalid(file, None, field, message);
    if doc.get("type").and_then(Value::as_str) != Some("FeatureCollection") {
        return Err(invalid("type", "not a GeoJSON FeatureCollection"));
    }
    let space = match known {
        Some(s) => s,
        None => collection_space(&doc).map_err(|m| invalid("labelstore", &m))?,
    };
    let features = doc
        .get("features")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("features", "missing or not an array"))?;
    for (i, f) in features.iter().enumerate() {
        let feature = parse_feature(f, i).map_err(|(field, chip, message)| {
            Error::invalid(file, chip.as_deref(), field, message)
        })?;
        a.add(file, space, feature)?;
    }
    Ok(())
}

/// What a collection's own members say of its coordinates.
fn collection_space(doc: &Value) -> std::result::Result<LayerSpace, String> {
    if let Some(member) = doc.get("labelstore") {
        let coordinates = member
            .get("coordinates")
            .cloned()
            .map(serde_json::from_value::<Coordinates>)
            .transpose()
            .map_err(|_| "coordinates is not \"wgs84\", \"map\" or \"pixel\"".to_owned())?
            .ok_or("has no coordinates")?;
        let epsg = match member.get("epsg") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .and_then(|c| u32::try_from(c).ok())
                    .ok_or("epsg is not an EPSG code")?,
            ),
        };
        return Ok(LayerSpace { coordinates, epsg });
    }
    if let Some(crs) = doc.get("crs").filter(|c| !c.is_null()) {
        return Ok(LayerSpace {
            coordinates: Coordinates::Map,
            epsg: Some(crs_member_epsg(crs).ok_or("the crs member names no EPSG code")?),
        });
    }
    Ok(LayerSpace {
        coordinates: Coordinates::Wgs84,
        epsg: Some(4326),
    })
}

type FeatureError = (String, Option<String>, String);

fn parse_feature(f: &Value, i: usize) -> std::result::Result<Feature, FeatureError> {
    let at = |field: &str| format!("features[{i}]{field}");
    let props = f
        .get("properties")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            (
                at(".properties"),
                None,
                "missing or not an object".to_owned(),
            )
        })?;
    let chip = match props.get("chip_id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            return Err((
                at(".properties.chip_id"),
                None,
                "missing: every feature names its chip".to_owned(),
            ));
        }
    };
    let fail = |field: &str, message: String| Err((at(field), Some(chip.clone()), message));
    let class_id = match props.get("class_id") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) => Some(n),
            None => {
                return fail(
                    ".properties.class_id",
                    format!("{v} is not a class id (an integer from 0)"),
                );
            }
        },
    };
    let class_name = match props.get("class_name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) => return fail(".properties.class_name", format!("{v} is not a string")),
    };
    let attributes = props
        .iter()
        .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
        .map(|(k, v)| (attribute_key(k).to_owned(), v.clone()))
        .collect();
    let geometry = f
        .get("geometry")
        .filter(|g| !g.is_null())
        .ok_or_else(|| (at(".geometry"), Some(chip.clone()), "missing".to_owned()))?;
    let depth = match geometry.get("type").and_then(Value::as_str) {
        Some("Polygon") => 3,
        Some("MultiPolygon") => 4,
        other => {
            return fail(
                ".geometry.type",
                format!("{other:?}: a box is a Polygon (or MultiPolygon)"),
            );
        }
    };
    let mut points = Vec::new();
    let coordinates = geometry.get("coordinates").unwrap_or(&Value::Null);
    positions(coordinates, depth, &mut points)
        .map_err(|m| (at(".geometry.coordinates"), Some(chip.clone()), m))?;
    Ok(Feature {
        field: at(""),
        chip,
        class_id,
        class_name,
        points,
        attributes,
    })
}

/// Collects the positions of nested coordinate arrays `depth` deep
/// (3: Polygon, 4: MultiPolygon).
fn positions(
    v: &Value,
    depth: usize,
    out: &mut Vec<(f64, f64)>,
) -> std::result::Result<(), String> {
    let items = v.as_array().ok_or("not an array")?;
    if depth == 1 {
        return match items.as_slice() {
            [x, y, ..] => match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => {
                    out.push((x, y));
                    Ok(())
                }
                _ => Err(format!("position {v} is not numbers")),
            },
            _ => Err(format!("position {v} has fewer than 2 numbers")),
        };
    }
    items
        .iter()
        .try_for_each(|item| positions(item, depth - 1, out))
}

#[cfg(test)]
mod tests;
