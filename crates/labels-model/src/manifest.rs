//! The project manifest, version 1 (SPEC §1): wire structs and their
//! conversion to and from the model, with validation.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Diagnostic, Error, Result};
use crate::model::{Attributes, Chip, Class, Label, LabelingType, Project, Rgb, is_safe_chip_id};
use crate::{Geometry, Polygon};

/// The manifest version this crate reads and writes.
pub(crate) const VERSION: u32 = 1;

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireProject {
    pub(crate) labelstore: u32,
    pub(crate) name: String,
    pub(crate) labeling_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) srid: Option<u32>,
    pub(crate) classes: Vec<WireClass>,
    pub(crate) chips: Vec<WireChip>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireClass {
    pub(crate) id: i64,
    pub(crate) name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) color: Option<String>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireChip {
    pub(crate) id: String,
    pub(crate) image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) world_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) geotransform: Option<[f64; 6]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) srid: Option<u32>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub(crate) deleted: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub(crate) saved_empty: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) split: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) mask: Option<String>,
    #[serde(default)]
    pub(crate) labels: Vec<WireLabel>,
}

/// A label's class, by name (what labelstore writes) or by id.
#[derive(Deserialize, Serialize)]
#[serde(untagged)]
pub(crate) enum ClassRef {
    Name(String),
    Id(i64),
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireLabel {
    pub(crate) class: ClassRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) bbox: Option<[f64; 4]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) polygon: Option<Polygon>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) multipolygon: Option<Vec<Polygon>>,
    #[serde(default, skip_serializing_if = "Attributes::is_empty")]
    pub(crate) attributes: Attributes,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Turns a path into the `/`-separated string a manifest holds.
pub(crate) fn path_string(p: &Path) -> String {
    p.to_string_lossy().replace('\\', "/")
}

impl Project {
    /// Reads and validates a project manifest: `path` is the manifest file or
    /// a folder holding `project.json`.
    ///
    /// This checks everything the manifest itself says; the files it points
    /// to are looked at by [`crate::resolve`], for the chips being stored.
    pub fn load(path: &Path) -> Result<Project> {
        let manifest_path = if path.is_dir() {
            path.join(crate::MANIFEST_FILE)
        } else {
            path.to_path_buf()
        };
        let text = crate::regular::read_regular(&manifest_path).map_err(|source| Error::Io {
            path: manifest_path.clone(),
            source,
        })?;
        let base_dir = manifest_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        Project::from_json(&text, &manifest_path, base_dir)
    }

    /// Parses and validates manifest text; `manifest_path` names it in
    /// diagnostics and `base_dir` is the folder its paths are relative to.
    pub fn from_json(text: &[u8], manifest_path: &Path, base_dir: PathBuf) -> Result<Project> {
        let file = manifest_path.to_path_buf();
        let syntax = |e: &serde_json::Error| {
            Error::invalid(
                &file,
                None,
                format!("line {}, column {}", e.line(), e.column()),
                format!("malformed JSON: {}", strip_position(&e.to_string())),
            )
        };
        // Straight into the wire structs: a generic JSON value of a large
        // manifest would take many times its size in memory.
        let mut de = serde_json::Deserializer::from_slice(text);
        let wire: WireProject = match serde_path_to_error::deserialize(&mut de) {
            Ok(w) => {
                de.end().map_err(|e| syntax(&e))?;
                w
            }
            Err(e) => {
                return Err(located(e, &file, || {
                    serde_json::from_slice::<serde_json::Value>(text).ok()
                }));
            }
        };
        Validator {
            file,
            diags: Vec::new(),
        }
        .project(wire, base_dir)
    }
}

/// A deserialization error at a serde path, as a diagnostic naming the
/// file, the field and (looked up in `value` only on this error path) the
/// chip.
pub(crate) fn located(
    e: serde_path_to_error::Error<serde_json::Error>,
    file: &Path,
    value: impl FnOnce() -> Option<serde_json::Value>,
) -> Error {
    let field = e.path().to_string();
    let inner = e.into_inner();
    if inner.is_syntax() || inner.is_eof() {
        return Error::invalid(
            file,
            None,
            format!("line {}, column {}", inner.line(), inner.column()),
            format!("malformed JSON: {}", strip_position(&inner.to_string())),
        );
    }
    let chip = value().and_then(|value| chip_id_at(&value, &field));
    let message = strip_position(&inner.to_string());
    Error::invalid(file, chip.as_deref(), field, message)
}

/// serde_json appends " at line L column C", meaningless for a parsed
/// value; and it quotes whole values, of which a short excerpt is shown.
pub(crate) fn strip_position(msg: &str) -> String {
    raster_georef::shorten_quotes(match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    })
}

/// The id of the chip a serde path such as `chips[3].labels[0]` points into.
fn chip_id_at(value: &serde_json::Value, field: &str) -> Option<String> {
    let rest = field.strip_prefix("chips[")?;
    let index: usize = rest[..rest.find(']')?].parse().ok()?;
    Some(value["chips"][index]["id"].as_str()?.to_owned())
}

pub(crate) struct Validator {
    pub(crate) file: PathBuf,
    pub(crate) diags: Vec<Diagnostic>,
}

impl Validator {
    fn err(&mut self, chip: Option<&str>, field: impl Into<String>, message: impl Into<String>) {
        self.diags.push(Diagnostic {
            file: self.file.clone(),
            chip: chip.map(str::to_owned),
            field: field.into(),
            message: message.into(),
        });
    }

    fn project(mut self, w: WireProject, base_dir: PathBuf) -> Result<Project> {
        let (labeling_type, classes) =
            self.header(w.labelstore, &w.name, &w.labeling_type, w.srid, w.classes);
        let mut seen = HashSet::new();
        let mut chips = Vec::with_capacity(w.chips.len());
        for (i, c) in w.chips.into_iter().enumerate() {
            let chip = self.chip(i, c, labeling_type, &classes);
            self.unique(i, &chip.id, &mut seen);
            chips.push(chip);
        }
        match labeling_type {
            Some(labeling_type) if self.diags.is_empty() => Ok(Project {
                name: w.name,
                labeling_type,
                srid: w.srid,
                classes,
                chips,
                base_dir,
                manifest_path: self.file,
            }),
            _ => Err(Error::Invalid(self.diags)),
        }
    }

    /// Checks that chip `i`'s id was not seen before.
    pub(crate) fn unique(&mut self, i: usize, id: &str, seen: &mut HashSet<String>) {
        if !seen.insert(id.to_owned()) {
            self.err(
                Some(id),
                format!("chips[{i}].id"),
                "duplicate chip id (ids name the chip's files, so they must be unique)",
            );
        }
    }

    /// Checks everything but the chips; returns the labeling type (when
    /// known) and the classes.
    pub(crate) fn header(
        &mut self,
        labelstore: u32,
        name: &str,
        labeling_type: &str,
        srid: Option<u32>,
        classes: Vec<WireClass>,
    ) -> (Option<LabelingType>, Vec<Class>) {
        if labelstore != VERSION {
            self.err(
                None,
                "labelstore",
                format!(
                    "manifest version {labelstore} is not supported (this labelstore reads version {VERSION})"
                ),
            );
        }
        if name.trim().is_empty() {
            self.err(None, "name", "the project name is empty");
        }
        let ty = LabelingType::from_name(labeling_type);
        if ty.is_none() {
            let valid: Vec<_> = LabelingType::ALL.iter().map(|t| t.name()).collect();
            self.err(
                None,
                "labeling_type",
                format!(
                    "unknown labeling type {} (valid: {})",
                    raster_georef::excerpt(labeling_type),
                    valid.join(", ")
                ),
            );
        }
        if srid == Some(0) {
            self.err(None, "srid", "an EPSG code is a positive integer");
        }
        let classes = self.classes(classes, ty);
        (ty, classes)
    }

    fn classes(&mut self, wire: Vec<WireClass>, ty: Option<LabelingType>) -> Vec<Class> {
        let mut out: Vec<Class> = Vec::with_capacity(wire.len());
        for (i, c) in wire.into_iter().enumerate() {
            let field = format!("classes[{i}]");
            let max = if ty == Some(LabelingType::SemanticSegmentation) {
                // Mask pixels are 8-bit: 0 is background and 255 "ignore".
                254
            } else {
                i64::from(u32::MAX)
            };
            if c.id < 1 || c.id > max {
                self.err(
                    None,
                    format!("{field}.id"),
                    format!("class id {} is not an integer from 1 to {max}", c.id),
                );
            } else if out.iter().any(|o| i64::from(o.id) == c.id) {
                self.err(
                    None,
                    format!("{field}.id"),
                    format!("duplicate class id {}", c.id),
                );
            }
            if c.name.trim().is_empty() {
                self.err(None, format!("{field}.name"), "the class name is empty");
            } else if out.iter().any(|o| o.name == c.name) {
                self.err(
                    None,
                    format!("{field}.name"),
                    format!("duplicate class name {:?}", c.name),
                );
            }
            let color = c.color.as_deref().and_then(|s| {
                let rgb = Rgb::parse(s);
                if rgb.is_none() {
                    self.err(
                        None,
                        format!("{field}.color"),
                        format!(
                            "colour {} is not of the form #rrggbb",
                            raster_georef::excerpt(s)
                        ),
                    );
                }
                rgb
            });
            out.push(Class {
                id: u32::try_from(c.id).unwrap_or(0),
                name: c.name,
                color,
            });
        }
        out
    }

    pub(crate) fn chip(
        &mut self,
        i: usize,
        w: WireChip,
        ty: Option<LabelingType>,
        classes: &[Class],
    ) -> Chip {
        let id = w.id;
        let chip = Some(id.as_str());
        let field = |name: &str| format!("chips[{i}].{name}");
        if !is_safe_chip_id(&id) {
            self.err(
                chip,
                field("id"),
                "a chip id is 1 to 128 characters of A-Z a-z 0-9 . _ - and does not start with '.'",
            );
        }
        if w.image.trim().is_empty() {
            self.err(chip, field("image"), "the image path is empty");
        }
        if w.width == Some(0) || w.height == Some(0) {
            self.err(chip, field("width"), "width and height must be positive");
        }
        if w.world_file.is_some() && w.geotransform.is_some() {
            self.err(
                chip,
                field("geotransform"),
                "a chip has at most one georeferencing: world_file or geotransform, not both",
            );
        }
        if let Some(gt) = w.geotransform
            && let Err(e) = raster_georef::GeoTransform::new(gt)
        {
            self.err(chip, field("geotransform"), e.to_string());
        }
        if w.srid == Some(0) {
            self.err(chip, field("srid"), "an EPSG code is a positive integer");
        }
        if let Some(split) = &w.split
            && !crate::model::is_split_name(split)
        {
            self.err(
                chip,
                field("split"),
                format!(
                    "{} is not a split name: 1 to 32 characters of a-z 0-9 _ - (train, val, test, ...)",
                    raster_georef::excerpt(split)
                ),
            );
        }
        if w.mask.is_some() && ty.is_some_and(|t| t != LabelingType::SemanticSegmentation) {
            self.err(
                chip,
                field("mask"),
                "a mask image belongs to semantic_segmentation projects only",
            );
        }
        let mut labels = Vec::with_capacity(w.labels.len());
        for (j, l) in w.labels.into_iter().enumerate() {
            let lfield = format!("chips[{i}].labels[{j}]");
            if let Some(label) = self.label(chip, &lfield, l, ty, classes) {
                labels.push(label);
            }
        }
        Chip {
            image: PathBuf::from(w.image),
            width: w.width,
            height: w.height,
            samples: None,
            world_file: w.world_file.map(PathBuf::from),
            geotransform: w.geotransform,
            srid: w.srid,
            deleted: w.deleted,
            saved_empty: w.saved_empty,
            split: w.split,
            mask: w.mask.map(PathBuf::from),
            labels,
            id,
        }
    }

    fn label(
        &mut self,
        chip: Option<&str>,
        field: &str,
        w: WireLabel,
        ty: Option<LabelingType>,
        classes: &[Class],
    ) -> Option<Label> {
        let class = match &w.class {
            ClassRef::Name(n) => classes.iter().find(|c| &c.name == n),
            ClassRef::Id(id) => classes.iter().find(|c| i64::from(c.id) == *id),
        };
        if class.is_none() {
            let known: Vec<_> = classes.iter().map(|c| c.name.as_str()).collect();
            let what = match &w.class {
                ClassRef::Name(n) => format!("{n:?}"),
                ClassRef::Id(id) => format!("id {id}"),
            };
            self.err(
                chip,
                format!("{field}.class"),
                format!("unknown class {what} (classes: {})", known.join(", ")),
            );
        }
        let mut geometries = Vec::new();
        if let Some(b) = w.bbox {
            geometries.push(Geometry::BBox(b));
        }
        if let Some(p) = w.polygon {
            geometries.push(Geometry::Polygon(p));
        }
        if let Some(m) = w.multipolygon {
            geometries.push(Geometry::MultiPolygon(m));
        }
        let geometry = match geometries.len() {
            1 => geometries.pop(),
            0 => {
                self.err(
                    chip,
                    field,
                    "a label needs a geometry: bbox, polygon or multipolygon",
                );
                None
            }
            _ => {
                self.err(
                    chip,
                    field,
                    "a label has one geometry: bbox, polygon or multipolygon",
                );
                None
            }
        }?;
        let gfield = format!("{field}.{}", geometry.field());
        if let Some(ty) = ty {
            let fits = match geometry {
                Geometry::BBox(_) => ty == LabelingType::ObjectDetection,
                Geometry::Polygon(_) | Geometry::MultiPolygon(_) => {
                    ty != LabelingType::ObjectDetection
                }
            };
            if !fits {
                let want = if ty == LabelingType::ObjectDetection {
                    "bbox"
                } else {
                    "polygon or multipolygon"
                };
                self.err(
                    chip,
                    &gfield,
                    format!(
                        "a {ty} project labels with {want}, not {}",
                        geometry.field()
                    ),
                );
            }
        }
        if let Err(msg) = check_geometry(&geometry) {
            self.err(chip, &gfield, msg);
        }
        Some(Label {
            class_id: class.map_or(0, |c| c.id),
            geometry,
            attributes: w.attributes,
        })
    }
}

/// Checks that coordinates are finite, boxes are not empty and rings have
/// at least three distinct points.
fn check_geometry(g: &Geometry) -> std::result::Result<(), String> {
    let check_poly = |p: &Polygon, what: &str| -> std::result::Result<(), String> {
        if p.is_empty() {
            return Err(format!("{what} has no rings"));
        }
        for (k, ring) in p.iter().enumerate() {
            if ring.iter().flatten().any(|v| !v.is_finite()) {
                return Err(format!(
                    "{what} ring {k} has a coordinate that is not a finite number"
                ));
            }
            let mut distinct: Vec<[f64; 2]> = ring.clone();
            if distinct.len() > 1 && distinct.first() == distinct.last() {
                distinct.pop();
            }
            distinct.dedup();
            if distinct.len() < 3 {
                return Err(format!(
                    "{what} ring {k} has fewer than three distinct points"
                ));
            }
        }
        Ok(())
    };
    match g {
        Geometry::BBox(b) => {
            if b.iter().any(|v| !v.is_finite()) {
                return Err("box has a coordinate that is not a finite number".into());
            }
            let [x0, y0, x1, y1] = *b;
            if x0 >= x1 || y0 >= y1 {
                return Err(format!(
                    "box [{x0}, {y0}, {x1}, {y1}] is empty (it needs xmin < xmax and ymin < ymax)"
                ));
            }
            Ok(())
        }
        Geometry::Polygon(p) => check_poly(p, "polygon"),
        Geometry::MultiPolygon(m) => {
            if m.is_empty() {
                return Err("multipolygon has no polygons".into());
            }
            for (k, p) in m.iter().enumerate() {
                check_poly(p, &format!("polygon {k}"))?;
            }
            Ok(())
        }
    }
}

/// The wire form of a project's header, chips left empty.
pub(crate) fn header_to_wire(project: &Project) -> WireProject {
    WireProject {
        labelstore: VERSION,
        name: project.name.clone(),
        labeling_type: project.labeling_type.name().to_owned(),
        srid: project.srid,
        classes: project
            .classes
            .iter()
            .map(|c| WireClass {
                id: i64::from(c.id),
                name: c.name.clone(),
                color: c.color.map(|c| c.to_string()),
            })
            .collect(),
        chips: Vec::new(),
    }
}

/// The wire form of a chip; labels name their class by name.
pub(crate) fn chip_to_wire(project: &Project, chip: &Chip) -> WireChip {
    let labels = chip
        .labels
        .iter()
        .map(|l| {
            let class = match project.class(l.class_id) {
                Some(c) => ClassRef::Name(c.name.clone()),
                None => ClassRef::Id(i64::from(l.class_id)),
            };
            let (mut bbox, mut polygon, mut multipolygon) = (None, None, None);
            match &l.geometry {
                Geometry::BBox(b) => bbox = Some(*b),
                Geometry::Polygon(p) => polygon = Some(p.clone()),
                Geometry::MultiPolygon(m) => multipolygon = Some(m.clone()),
            }
            WireLabel {
                class,
                bbox,
                polygon,
                multipolygon,
                attributes: l.attributes.clone(),
            }
        })
        .collect();
    WireChip {
        id: chip.id.clone(),
        image: path_string(&chip.image),
        width: chip.width,
        height: chip.height,
        world_file: chip.world_file.as_deref().map(path_string),
        geotransform: chip.geotransform,
        srid: chip.srid,
        deleted: chip.deleted,
        saved_empty: chip.saved_empty,
        split: chip.split.clone(),
        mask: chip.mask.as_deref().map(path_string),
        labels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Project> {
        Project::from_json(json.as_bytes(), Path::new("p/project.json"), "p".into())
    }

    fn messages(json: &str) -> Vec<String> {
        match parse(json) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.diagnostics().iter().map(ToString::to_string).collect(),
        }
    }

    const HEAD: &str = r##""labelstore": 1, "name": "t", "labeling_type": "object_detection",
        "classes": [{"id": 1, "name": "ship", "color": "#e6194b"}, {"id": 2, "name": "buoy"}]"##;

    fn with_chips(chips: &str) -> String {
        format!("{{{HEAD}, \"chips\": [{chips}]}}")
    }

    #[test]
    fn spec_example_parses() {
        let p = parse(&with_chips(
            r#"{"id": "r0_c1", "image": "chips/r0_c1.png", "world_file": "chips/r0_c1.pgw",
                "labels": [{"class": "ship", "bbox": [10.5, 20, 110, 64.25], "attributes": {"truncated": true}}]},
               {"id": "r0_c2", "image": "chips/r0_c2.tif", "deleted": true, "labels": []},
               {"id": "r0_c3", "image": "chips/r0_c3.jpg", "geotransform": [500000, 0.5, 0, 4649776, 0, -0.5], "saved_empty": true, "labels": []},
               {"id": "r0_c4", "image": "chips/r0_c4.png", "labels": [{"class": 2, "bbox": [0, 0, 1, 1]}]}"#,
        ))
        .unwrap();
        assert_eq!(p.chips.len(), 4);
        let l = &p.chips[0].labels[0];
        assert_eq!(l.class_id, 1);
        assert_eq!(l.geometry, Geometry::BBox([10.5, 20.0, 110.0, 64.25]));
        assert_eq!(l.attributes["truncated"], serde_json::Value::Bool(true));
        assert!(p.chips[1].deleted);
        assert_eq!(p.chips[2].geotransform.unwrap()[3], 4649776.0);
        assert_eq!(p.chips[3].labels[0].class_id, 2);
        assert_eq!(p.classes[0].color, Some(Rgb([0xe6, 0x19, 0x4b])));
    }

    #[test]
    fn errors_name_file_chip_and_field() {
        let m = messages(&with_chips(
            r#"{"id": "a", "image": "a.png", "labels": [{"class": "plane", "bbox": [0, 0, 5, 5]}]},
               {"id": "b", "image": "b.png", "labels": [{"class": "ship", "bbox": [5, 0, 5, 5]}]},
               {"id": "b", "image": "c.png", "labels": [{"class": "ship", "polygon": [[[0,0],[1,0],[1,1]]]}]},
               {"id": "../x", "image": "d.png"}"#,
        ));
        assert_eq!(
            m,
            [
                "p/project.json: chip \"a\": chips[0].labels[0].class: unknown class \"plane\" (classes: ship, buoy)",
                "p/project.json: chip \"b\": chips[1].labels[0].bbox: box [5, 0, 5, 5] is empty (it needs xmin < xmax and ymin < ymax)",
                "p/project.json: chip \"b\": chips[2].labels[0].polygon: a object_detection project labels with bbox, not polygon",
                "p/project.json: chip \"b\": chips[2].id: duplicate chip id (ids name the chip's files, so they must be unique)",
                "p/project.json: chip \"../x\": chips[3].id: a chip id is 1 to 128 characters of A-Z a-z 0-9 . _ - and does not start with '.'",
            ]
        );
    }

    #[test]
    fn splits_are_short_lower_case_names() {
        let m = messages(&with_chips(
            r#"{"id": "a", "image": "a.png", "split": "Val"},
               {"id": "b", "image": "b.png", "split": ""},
               {"id": "c", "image": "c.png", "split": "val_2-x"}"#,
        ));
        assert_eq!(
            m,
            [
                "p/project.json: chip \"a\": chips[0].split: \"Val\" is not a split name: 1 to 32 characters of a-z 0-9 _ - (train, val, test, ...)",
                "p/project.json: chip \"b\": chips[1].split: \"\" is not a split name: 1 to 32 characters of a-z 0-9 _ - (train, val, test, ...)",
            ]
        );
        let mut c = crate::Chip::new("c", "c.png");
        assert_eq!(c.split(), "train");
        c.split = Some("val".into());
        assert_eq!(c.split(), "val");
    }

    #[test]
    fn type_errors_are_located() {
        let m = messages(&with_chips(
            r#"{"id": "a", "image": "a.png", "saved_empty": "yes"}"#,
        ));
        assert_eq!(
            m,
            [
                "p/project.json: chip \"a\": chips[0].saved_empty: invalid type: string \"yes\", expected a boolean"
            ]
        );
        let m = messages(&with_chips(
            r#"{"id": "a", "image": "a.png", "saved_emtpy": true}"#,
        ));
        assert!(
            m[0].starts_with(
                "p/project.json: chip \"a\": chips[0].saved_emtpy: unknown field `saved_emtpy`"
            ),
            "{m:?}"
        );
        let m = messages("{\"labelstore\": 1,\n \"name\": }");
        assert_eq!(
            m,
            ["p/project.json: line 2, column 10: malformed JSON: expected value"]
        );
    }

    #[test]
    fn header_errors() {
        let m = messages(
            r##"{"labelstore": 2, "name": "t", "labeling_type": "classification",
                "classes": [{"id": 0, "name": "a", "color": "red"}, {"id": 3, "name": "a"}], "chips": []}"##,
        );
        assert_eq!(
            m,
            [
                "p/project.json: labelstore: manifest version 2 is not supported (this labelstore reads version 1)",
                "p/project.json: labeling_type: unknown labeling type \"classification\" (valid: object_detection, instance_segmentation, semantic_segmentation)",
                "p/project.json: classes[0].id: class id 0 is not an integer from 1 to 4294967295",
                "p/project.json: classes[0].color: colour \"red\" is not of the form #rrggbb",
                "p/project.json: classes[1].name: duplicate class name \"a\"",
            ]
        );
    }

    #[test]
    fn geometry_checks() {
        let seg = |labels: &str| {
            format!(
                r#"{{"labelstore": 1, "name": "t", "labeling_type": "instance_segmentation",
                   "classes": [{{"id": 1, "name": "roof"}}],
                   "chips": [{{"id": "a", "image": "a.png", "labels": [{labels}]}}]}}"#
            )
        };
        assert!(
            parse(&seg(
                r#"{"class": "roof", "polygon": [[[0,0],[4,0],[4,4],[0,0]]]}"#
            ))
            .is_ok()
        );
        let m = messages(&seg(
            r#"{"class": "roof", "polygon": [[[0,0],[4,0],[0,0]]]}"#,
        ));
        assert_eq!(
            m,
            [
                "p/project.json: chip \"a\": chips[0].labels[0].polygon: polygon ring 0 has fewer than three distinct points"
            ]
        );
        let m = messages(&seg(r#"{"class": "roof", "bbox": [0, 0, 1, 1]}"#));
        assert_eq!(
            m,
            [
                "p/project.json: chip \"a\": chips[0].labels[0].bbox: a instance_segmentation project labels with polygon or multipolygon, not bbox"
            ]
        );
        let m = messages(&seg(r#"{"class": "roof"}"#));
        assert_eq!(
            m,
            [
                "p/project.json: chip \"a\": chips[0].labels[0]: a label needs a geometry: bbox, polygon or multipolygon"
            ]
        );
        let m = messages(&seg(r#"{"class": "roof", "multipolygon": []}"#));
        assert_eq!(
            m,
            [
                "p/project.json: chip \"a\": chips[0].labels[0].multipolygon: multipolygon has no polygons"
            ]
        );
    }

    #[test]
    fn georeferencing_checks() {
        let m = messages(&with_chips(
            r#"{"id": "a", "image": "a.png", "world_file": "a.pgw", "geotransform": [0, 1, 0, 0, 0, -1]},
               {"id": "b", "image": "b.png", "geotransform": [0, 0, 0, 0, 0, -1], "mask": "m.png"}"#,
        ));
        assert_eq!(m.len(), 3, "{m:?}");
        assert!(
            m[0].contains(
                "chip \"a\": chips[0].geotransform: a chip has at most one georeferencing"
            )
        );
        assert!(m[1].contains("chip \"b\": chips[1].geotransform: geotransform"));
        assert!(m[2].contains(
            "chip \"b\": chips[1].mask: a mask image belongs to semantic_segmentation projects only"
        ));
    }
}
