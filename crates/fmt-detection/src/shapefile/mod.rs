//! Format `shapefile`: every box a Polygon in map coordinates, in ESRI
//! Shapefiles GDAL/OGR, QGIS and ArcGIS open as they are (FORMATS.md §1.6).
//!
//! # Layout
//!
//! ```text
//! shapefile/labels.{shp,shx,dbf,prj,cpg}            chips in the project's CRS (always written)
//! shapefile/labels_epsg<code>.{shp,shx,dbf,prj,cpg}  chips in another CRS, one shapefile per CRS
//! shapefile/labels_pixels.{shp,shx,dbf,cpg}          chips without georeferencing
//! shapefile/index.json                               labelstore's index (project, classes, chips, columns)
//! ```
//!
//! A shapefile has one CRS (its `.prj`), so chips are grouped by CRS as in
//! GeoJSON's native mode (see `geojson/layout.rs`): the project's `srid` in
//! `labels`, any other EPSG code in `labels_epsg<code>`; with no project
//! `srid`, `labels` holds the chips georeferenced without a CRS (no `.prj`).
//! Chips without georeferencing keep pixel coordinates (x right, y down)
//! in `labels_pixels`, which has no `.prj`; the store report counts them.
//! `labels` is always written, empty if no chip goes there.
//!
//! # Files
//!
//! * `.shp`: one Polygon (shape type 5) record per label, one ring of the
//!   box's 4 corners through the chip's geotransform (rotation included),
//!   closed (5 points), **clockwise** as its numbers read with y up (the
//!   Shapefile outer-ring rule), starting at the box's top-left pixel corner.
//!   Coordinates are the `f64`s computed, nothing rounded.
//! * `.shx`: the record offsets.
//! * `.dbf` (dBASE III): `chip_id` (C), `class_id` (N, the labelstore class
//!   id), `class_name` (C, UTF-8), then one column per attribute key met in
//!   the layer, in key order (see `dbf.rs`): booleans as `L`, integers as
//!   `N`, other numbers as `N` with decimals (the shortest text that reads
//!   back as the same `f64`), strings as `C`; a key whose values mix types
//!   or include null, arrays, objects or strings a dbf would trim (empty,
//!   leading or trailing blanks) gets a `C` column of JSON text. A missing
//!   attribute is a blank (`?` for `L`). Column names are the keys when they
//!   are 1 to 10 ASCII letters, digits or `_` starting with a letter and not
//!   taken (without regard to case); any other key gets `attr_1`, `attr_2`, …
//!   — never a truncation, so never a collision — and `index.json` maps the
//!   names back. A value longer than 254 bytes (a dbf column's limit) is an
//!   error, not a truncation. The header date is fixed (1995-07-26, as
//!   shapelib wrote it) so that stores are reproducible.
//! * `.prj`: the CRS as ESRI WKT1, from `raster_georef::Crs::esri_wkt`
//!   (GDAL's `-o wkt_esri` text); for the few CRSs without an ESRI form,
//!   no `.prj` (the index still has the EPSG code).
//! * `.cpg`: `UTF-8`.
//!
//! # Memory
//!
//! The `.shp` header holds the file length and bounding box, and the dbf
//! header the columns, which depend on every label: both are known only at
//! the end, yet they come first. The writer therefore spools each layer's
//! records (136 bytes each) and its attribute rows (a line of JSON each) to
//! two anonymous temporary files, keeping in memory only per-layer counts,
//! bounds and per-attribute-key column statistics; at `finish` it writes
//! each header, then copies the spooled records through in 64 KiB pieces
//! with [`Output::append`]. Memory does not grow with the number of chips
//! or labels; scratch disk does: 136 bytes per label plus its row (chip id,
//! class id and attributes as JSON), freed when the writer is dropped.
//!
//! # Classes, chips, reading back
//!
//! Class ids survive in `class_id`, names in `class_name`, colours in the
//! index, which also lists every stored chip (those saved empty, which have
//! no record, included) with its image, size, and the geotransform and CRS
//! its records were written with.
//!
//! The reader takes the store root, the `shapefile/` folder or a `.shp`.
//! With the index it reads its layers and decodes columns as it says;
//! without (a dataset another tool made) it reads the given `.shp` or every
//! `.shp` of the folder, decoding columns by their dBASE type, taking
//! `chip_id`, `class_id` and `class_name` by name (any case) and every other
//! column as an attribute. `.dbf` text is UTF-8 unless a `.cpg` names
//! another code page, and Latin-1 where it is not valid UTF-8. Positions go
//! back to pixels through the chip's georeferencing (the index's, else the
//! chip image's: see `geojson::layout::Assembler`); without the index a
//! layer's coordinates count as map coordinates in the chip's CRS when the
//! chip is georeferenced, as pixels otherwise (a `.prj` is not interpreted).
//! A box is the axis-aligned bounds of the record's points in pixel space
//! (Polygon, PolygonZ, PolygonM), rounded to 1e-7 pixel.

mod dbf;
mod shp;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use labels_model::{
    Chip, ChipGeoref, Error, Fidelity, LabelFormat, LabelWriter, LabelingType, Output, Project,
    Result,
};
use serde_json::Value;

use crate::common::{
    Assembler, ChipRings, Coordinates, CrsCache, Feature, FieldKind, IndexChip, IndexField,
    IndexLayer, IndexWriter, LayerSpace, MAIN_STEM, Space, chip_rings, entries, ext_is,
    format_folder, index_of, layer_files, locate, native_main, orient,
};
use dbf::FieldStats;

/// The folder of the format in a store.
const FOLDER: &str = "shapefile";
/// Pieces spooled records are copied through in.
const CHUNK: usize = 64 * 1024;

/// The format's name on the command line and in store manifests.
const NAME: &str = "shapefile";

/// The ESRI Shapefile format.
#[derive(Debug, Clone, Copy, Default)]
pub struct ShapefileFormat;

impl LabelFormat for ShapefileFormat {
    fn name(&self) -> &'static str {
        NAME
    }

    fn labeling_types(&self) -> &'static [LabelingType] {
        &[LabelingType::ObjectDetection]
    }

    fn layout(&self) -> &'static str {
        "shapefile/labels.{shp,shx,dbf,prj,cpg} (labels_epsg<code>, _pixels), shapefile/index.json"
    }

    /// A `.shp` (or its `.shx` or `.dbf`), or a folder (a store's
    /// `shapefile/`) holding labelstore's Shapefile `index.json` or `.shp`
    /// files.
    fn recognizes(&self, path: &Path) -> bool {
        if path.is_file() {
            return ext_is(path, &["shp", "shx", "dbf"]);
        }
        let folder = format_folder(path, FOLDER);
        index_of(&folder, NAME)
            || entries(&folder)
                .iter()
                .any(|p| ext_is(p, &["shp"]) && p.is_file())
    }

    fn writer(&self, header: &Project) -> Box<dyn LabelWriter> {
        Box::new(ShapefileWriter {
            classes: header
                .classes
                .iter()
                .map(|c| (c.id, c.name.clone()))
                .collect(),
            main: native_main(header),
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

/// A layer being written: its records and rows spooled to scratch files.
struct Layer {
    space: Space,
    shp: BufWriter<File>,
    rows: BufWriter<File>,
    records: u32,
    bbox: Option<[f64; 4]>,
    /// Widest `chip_id`, `class_id`, `class_name`.
    widths: [usize; 3],
    fields: BTreeMap<String, FieldStats>,
}

struct ShapefileWriter {
    classes: BTreeMap<u32, String>,
    main: Space,
    layers: BTreeMap<String, Layer>,
    index: IndexWriter,
    crs: CrsCache,
}

fn scratch_err(source: std::io::Error) -> Error {
    Error::Io {
        path: std::env::temp_dir().join("(shapefile scratch file)"),
        source,
    }
}

fn io_err(path: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.into(),
        source,
    }
}

fn layer_path(stem: &str, ext: &str) -> String {
    format!("{FOLDER}/{stem}.{ext}")
}

impl ShapefileWriter {
    fn layer(&mut self, stem: &str, space: Space) -> Result<&mut Layer> {
        if !self.layers.contains_key(stem) {
            let layer = Layer {
                space,
                shp: BufWriter::new(tempfile::tempfile().map_err(scratch_err)?),
                rows: BufWriter::new(tempfile::tempfile().map_err(scratch_err)?),
                records: 0,
                bbox: None,
                widths: [0; 3],
                fields: BTreeMap::new(),
            };
            self.layers.insert(stem.to_owned(), layer);
        }
        self.layers
            .get_mut(stem)
            .ok_or_else(|| scratch_err(std::io::Error::other("layer vanished")))
    }
}

impl LabelWriter for ShapefileWriter {
    fn write_chip(&mut self, chip: &Chip, georef: &ChipGeoref, out: &mut dyn Output) -> Result<()> {
        let ChipRings { space, rings } = chip_rings(chip, georef, false, &mut self.crs);
        let stem = space.stem(self.main);
        let dbf_path = layer_path(&stem, "dbf");
        let classes = self.classes.clone();
        let layer = self.layer(&stem, space)?;
        for (i, (label, ring)) in chip.labels.iter().zip(&rings).enumerate() {
            let invalid = |field: String, message: String| {
                Error::invalid(&dbf_path, Some(&chip.id), field, message)
            };
            let class_name = classes.get(&label.class_id).ok_or_else(|| {
                invalid(
                    format!("labels[{i}]"),
                    format!("class id {} is not a class of the project", label.class_id),
                )
            })?;
            if class_name.len() > dbf::MAX_TEXT {
                return Err(invalid(
                    format!("labels[{i}]"),
                    format!(
                        "class name {class_name:?} is {} bytes; a dbf column holds at most {}",
                        class_name.len(),
                        dbf::MAX_TEXT
                    ),
                ));
            }
            for (key, value) in &label.attributes {
                if let Value::String(s) = value
                    && s.len() > dbf::MAX_TEXT
                {
                    return Err(invalid(
                        format!("labels[{i}].attributes.{key}"),
                        format!(
                            "{} bytes: a dbf column holds at most {} (not truncated: store this \
                             project in another format, or shorten the value)",
                            s.len(),
                            dbf::MAX_TEXT
                        ),
                    ));
                }
            }
            if layer.records >= shp::MAX_RECORDS {
                return Err(invalid(
                    format!("labels[{i}]"),
                    format!("more than {} labels in one shapefile", shp::MAX_RECORDS),
                ));
            }
            let ring = orient(*ring, false);
            let b = shp::bounds(&ring);
            layer.bbox = Some(match layer.bbox {
                None => b,
                Some(a) => [
                    a[0].min(b[0]),
                    a[1].min(b[1]),
                    a[2].max(b[2]),
                    a[3].max(b[3]),
                ],
            });
            layer.records += 1;
            layer
                .shp
                .write_all(&shp::record(layer.records, &ring))
                .map_err(scratch_err)?;
            let row = (chip.id.as_str(), label.class_id, &label.attributes);
            serde_json::to_writer(&mut layer.rows, &row).map_err(|e| scratch_err(e.into()))?;
            layer.rows.write_all(b"\n").map_err(scratch_err)?;
            let w = &mut layer.widths;
            w[0] = w[0].max(chip.id.len());
            w[1] = w[1].max(label.class_id.to_string().len());
            w[2] = w[2].max(class_name.len());
            for (key, value) in &label.attributes {
                layer.fields.entry(key.clone()).or_default().observe(value);
            }
        }
        let entry = IndexChip::new(chip, georef, format!("{stem}.shp"));
        self.index.chip(&entry, out)
    }

    fn finish(&mut self, out: &mut dyn Output) -> Result<()> {
        self.layer(MAIN_STEM, self.main)?;
        let mut index = Vec::new();
        for (stem, layer) in std::mem::take(&mut self.layers) {
            index.push(finish_layer(&stem, layer, &self.classes, out)?);
        }
        self.index.finish(&index, out)
    }
}

/// Copies a spooled scratch file to `path` in pieces.
fn copy_spool(spool: BufWriter<File>, path: &str, out: &mut dyn Output) -> Result<()> {
    let mut file = spool
        .into_inner()
        .map_err(|e| scratch_err(e.into_error()))?;
    file.seek(SeekFrom::Start(0)).map_err(scratch_err)?;
    let mut buf = vec![0; CHUNK];
    loop {
        let n = file.read(&mut buf).map_err(scratch_err)?;
        if n == 0 {
            return Ok(());
        }
        out.append(path, &buf[..n]).map_err(io_err(path))?;
    }
}

/// Writes a layer's five files from its spooled records.
fn finish_layer(
    stem: &str,
    layer: Layer,
    classes: &BTreeMap<u32, String>,
    out: &mut dyn Output,
) -> Result<IndexLayer> {
    let n = layer.records;
    let bbox = layer.bbox.unwrap_or([0.0; 4]);
    let (shp_path, shx_path, dbf_path) = (
        layer_path(stem, "shp"),
        layer_path(stem, "shx"),
        layer_path(stem, "dbf"),
    );
    let columns = dbf::plan(&layer.fields, layer.widths)
        .map_err(|m| Error::invalid(&dbf_path, None, "attributes", m))?;

    out.append(&shp_path, &shp::header(shp::shp_bytes(n), bbox))
        .map_err(io_err(&shp_path))?;
    copy_spool(layer.shp, &shp_path, out)?;

    out.append(&shx_path, &shp::header(shp::shx_bytes(n), bbox))
        .map_err(io_err(&shx_path))?;
    let mut buf = Vec::with_capacity(CHUNK);
    for i in 0..n {
        buf.extend_from_slice(&shp::shx_entry(i));
        if buf.len() >= CHUNK || i + 1 == n {
            out.append(&shx_path, &buf).map_err(io_err(&shx_path))?;
            buf.clear();
        }
    }

    out.append(&dbf_path, &dbf::header(&columns, n))
        .map_err(io_err(&dbf_path))?;
    let mut rows = layer
        .rows
        .into_inner()
        .map_err(|e| scratch_err(e.into_error()))?;
    rows.seek(SeekFrom::Start(0)).map_err(scratch_err)?;
    for line in BufReader::new(rows).lines() {
        let line = line.map_err(scratch_err)?;
        let (chip, class_id, attributes): (String, u32, serde_json::Map<String, Value>) =
            serde_json::from_str(&line).map_err(|e| scratch_err(e.into()))?;
        let class_name = classes.get(&class_id).map_or("", String::as_str);
        dbf::record(&mut buf, &columns, &chip, class_id, class_name, &attributes);
        if buf.len() >= CHUNK {
            out.append(&dbf_path, &buf).map_err(io_err(&dbf_path))?;
            buf.clear();
        }
    }
    buf.push(dbf::END_OF_FILE);
    out.append(&dbf_path, &buf).map_err(io_err(&dbf_path))?;

    if let Space::Crs(code) = layer.space
        && let Ok(wkt) = raster_georef::Crs::from_epsg(code).and_then(|c| c.esri_wkt())
    {
        out.put(&layer_path(stem, "prj"), wkt.into_bytes())
            .map_err(io_err(&layer_path(stem, "prj")))?;
    }
    out.put(&layer_path(stem, "cpg"), b"UTF-8".to_vec())
        .map_err(io_err(&layer_path(stem, "cpg")))?;
    Ok(IndexLayer {
        file: format!("{stem}.shp"),
        coordinates: layer.space.coordinates(),
        epsg: layer.space.epsg(),
        features: u64::from(n),
        fields: dbf::index_fields(&columns),
    })
}

// ------------------------------------------------------------------------
// Reading

/// A sibling of `file` with extension `ext`, matched without regard to case.
fn sibling(file: &Path, ext: &str) -> Option<PathBuf> {
    let stem = file.file_stem()?;
    let dir = file.parent().unwrap_or(Path::new(""));
    let exact = file.with_extension(ext);
    if exact.is_file() {
        return Some(exact);
    }
    std::fs::read_dir(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    })
    .ok()?
    .flatten()
    .map(|e| e.path())
    .find(|p| {
        p.file_stem() == Some(stem)
            && p.extension()
                .is_some_and(|e| e.to_string_lossy().eq_ignore_ascii_case(ext))
    })
}

fn read(path: &Path) -> Result<Project> {
    let loc = locate(path, FOLDER, NAME)?;
    type Known = Option<(LayerSpace, Vec<IndexField>)>;
    let layers: Vec<(PathBuf, Known)> = match (&loc.index, &loc.file) {
        (Some((_, index)), _) => index
            .layers
            .iter()
            .map(|l| {
                let space = LayerSpace {
                    coordinates: l.coordinates,
                    epsg: l.epsg,
                };
                (loc.folder.join(&l.file), Some((space, l.fields.clone())))
            })
            .collect(),
        (None, Some(file)) => {
            let shp = if file
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("shp"))
            {
                file.clone()
            } else {
                sibling(file, "shp")
                    .ok_or_else(|| Error::invalid(file, None, "", "no .shp beside it"))?
            };
            vec![(shp, None)]
        }
        (None, None) => layer_files(&loc.folder, &["shp"])?
            .into_iter()
            .map(|f| (f, None))
            .collect(),
    };
    if layers.is_empty() {
        return Err(Error::invalid(
            &loc.folder,
            None,
            "",
            "no shapefile (*.shp) here",
        ));
    }
    let main = layers
        .iter()
        .map(|l| &l.0)
        .find(|f| f.file_stem().is_some_and(|s| s == MAIN_STEM))
        .unwrap_or(&layers[0].0)
        .clone();
    let name = main
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut assembler = Assembler::new(&loc, &name)?;
    for (file, known) in &layers {
        read_layer(file, known.as_ref(), &mut assembler)?;
    }
    Ok(assembler.finish(main))
}

/// How to read one column.
enum ColumnUse {
    ChipId,
    ClassId,
    ClassName,
    /// An attribute, decoded as the index says, or by its dBASE type.
    Attribute(String, Option<FieldKind>),
}

fn read_layer(
    file: &Path,
    known: Option<&(LayerSpace, Vec<IndexField>)>,
    a: &mut Assembler,
) -> Result<()> {
    let shp_file = labels_model::open_regular(file).map_err(|source| Error::Io {
        path: file.to_path_buf(),
        source,
    })?;
    let mut shapes = ::shapefile::ShapeReader::new(BufReader::new(shp_file))
        .map_err(|e| Error::invalid(file, None, "header", e.to_string()))?;
    let dbf_path =
        sibling(file, "dbf").ok_or_else(|| Error::invalid(file, None, "", "no .dbf beside it"))?;
    let bytes = labels_model::read_regular(&dbf_path).map_err(|source| Error::Io {
        path: dbf_path.clone(),
        source,
    })?;
    let table = dbf::parse(&bytes).map_err(|m| Error::invalid(&dbf_path, None, "header", m))?;
    let columns = Columns {
        uses: column_uses(&table.fields, known, &dbf_path)?,
        descs: &table.fields,
        utf8: cpg_says_utf8(file),
        dbf_path: &dbf_path,
    };
    let mut i = 0;
    for shape in shapes.iter_shapes() {
        let field = format!("record {}", i + 1);
        let shape = shape.map_err(|e| Error::invalid(file, None, &field, e.to_string()))?;
        let (deleted, values) = table.record(i).ok_or_else(|| {
            Error::invalid(
                &dbf_path,
                None,
                &field,
                format!("the .dbf has {} records, the .shp more", table.records),
            )
        })?;
        i += 1;
        if deleted {
            continue;
        }
        let mut f = columns.feature(&values, &field)?;
        f.points = shape_points(&shape).ok_or_else(|| {
            Error::invalid(
                file,
                Some(&f.chip),
                &field,
                format!("a {} shape: a box is a Polygon", shape.shapetype()),
            )
        })?;
        let space = match known {
            Some((space, _)) => *space,
            None => LayerSpace {
                coordinates: if a.is_georeferenced(&f.chip, file, &field)? {
                    Coordinates::Map
                } else {
                    Coordinates::Pixel
                },
                epsg: None,
            },
        };
        a.add(file, space, f)?;
    }
    if i < table.records {
        return Err(Error::invalid(
            &dbf_path,
            None,
            format!("record {}", i + 1),
            format!("the .dbf has {} records, the .shp {i}", table.records),
        ));
    }
    Ok(())
}

/// Whether a layer's text is UTF-8: no `.cpg` beside it, or one that says so.
fn cpg_says_utf8(file: &Path) -> bool {
    match sibling(file, "cpg") {
        None => true,
        Some(cpg) => {
            let text = labels_model::read_regular(&cpg).unwrap_or_default();
            let name = String::from_utf8_lossy(&text).trim().to_ascii_uppercase();
            matches!(name.as_str(), "UTF-8" | "UTF8" | "65001" | "")
        }
    }
}

/// How to read each column of a layer's `.dbf`: as the index says, else by
/// its name. A layer without a `chip_id` column is refused.
fn column_uses(
    descs: &[dbf::FieldDesc],
    known: Option<&(LayerSpace, Vec<IndexField>)>,
    dbf_path: &Path,
) -> Result<Vec<ColumnUse>> {
    let fields = known.map(|k| k.1.as_slice()).unwrap_or_default();
    let uses: Vec<ColumnUse> = descs
        .iter()
        .map(|f| {
            if let Some(m) = fields.iter().find(|m| m.field == f.name) {
                return ColumnUse::Attribute(m.attribute.clone(), Some(m.kind));
            }
            match f.name.to_ascii_lowercase().as_str() {
                "chip_id" => ColumnUse::ChipId,
                "class_id" => ColumnUse::ClassId,
                "class_name" => ColumnUse::ClassName,
                _ => ColumnUse::Attribute(f.name.clone(), None),
            }
        })
        .collect();
    if !uses.iter().any(|u| matches!(u, ColumnUse::ChipId)) {
        return Err(Error::invalid(
            dbf_path,
            None,
            "header",
            "no chip_id column: every record names its chip",
        ));
    }
    Ok(uses)
}

/// A layer's `.dbf` columns and how to read them.
struct Columns<'a> {
    uses: Vec<ColumnUse>,
    descs: &'a [dbf::FieldDesc],
    utf8: bool,
    dbf_path: &'a Path,
}

impl Columns<'_> {
    /// The feature a record's values give (without its points yet).
    fn feature(&self, values: &[&[u8]], field: &str) -> Result<Feature> {
        let utf8 = self.utf8;
        let mut f = Feature {
            field: field.to_owned(),
            chip: String::new(),
            class_id: None,
            class_name: None,
            points: Vec::new(),
            attributes: serde_json::Map::new(),
        };
        for ((u, raw), desc) in self.uses.iter().zip(values).zip(self.descs) {
            let bad = |m: String| {
                Error::invalid(self.dbf_path, None, format!("{field} {}", desc.name), m)
            };
            match u {
                ColumnUse::ChipId => f.chip = dbf::text(raw, utf8).trim().to_owned(),
                ColumnUse::ClassName => {
                    let name = dbf::text(raw, utf8).trim().to_owned();
                    f.class_name = (!name.is_empty()).then_some(name);
                }
                ColumnUse::ClassId => {
                    let text = dbf::text(raw, utf8);
                    let t = text.trim();
                    if !t.is_empty() {
                        let id = t
                            .parse::<f64>()
                            .ok()
                            .filter(|v| v.fract() == 0.0 && *v >= 0.0 && *v <= f64::from(u32::MAX))
                            .ok_or_else(|| {
                                bad(format!("{t:?} is not a class id (an integer from 0)"))
                            })?;
                        f.class_id = Some(id as u32);
                    }
                }
                ColumnUse::Attribute(key, Some(kind)) => {
                    if let Some(v) = dbf::decode(raw, *kind, utf8).map_err(bad)? {
                        f.attributes.insert(key.clone(), v);
                    }
                }
                ColumnUse::Attribute(key, None) => {
                    if let Some(v) = dbf::decode_foreign(raw, desc, utf8) {
                        f.attributes.insert(key.clone(), v);
                    }
                }
            }
        }
        if f.chip.is_empty() {
            return Err(Error::invalid(
                self.dbf_path,
                None,
                format!("{field} chip_id"),
                "blank",
            ));
        }
        Ok(f)
    }
}

/// Every point of a polygon shape; `None` for other shapes.
fn shape_points(shape: &::shapefile::Shape) -> Option<Vec<(f64, f64)>> {
    use ::shapefile::Shape;
    Some(match shape {
        Shape::Polygon(p) => p
            .rings()
            .iter()
            .flat_map(|r| r.points())
            .map(|p| (p.x, p.y))
            .collect(),
        Shape::PolygonM(p) => p
            .rings()
            .iter()
            .flat_map(|r| r.points())
            .map(|p| (p.x, p.y))
            .collect(),
        Shape::PolygonZ(p) => p
            .rings()
            .iter()
            .flat_map(|r| r.points())
            .map(|p| (p.x, p.y))
            .collect(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
