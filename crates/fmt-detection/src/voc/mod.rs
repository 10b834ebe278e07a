//! Format `voc`: Pascal VOC detection annotations, one XML file per stored
//! chip, in the VOC folder layout, so the folder imports as it is
//! (Datumaro's `voc_detection`, detectron2/mmdetection-style loaders).
//!
//! # Layout written (FORMATS.md §1.2, §6, §6.1)
//!
//! ```text
//! voc/Annotations/<chip id>.xml      one per stored chip, chips saved empty included
//! voc/JPEGImages/<chip id>.<ext>     the stored chip again (Output::alias: same bytes),
//!                                    or `.png` / `.jpg` with ChipFormat (`<filename>` names it)
//! voc/ImageSets/Main/<split>.txt     the chip ids of each split, one a line, in store order
//! voc/labelmap.txt                   the class table, `name:r,g,b::` lines, in class-id order
//! voc/dataset_meta.json              only when a class name cannot be a labelmap.txt line
//! ```
//!
//! * One list per split written ([`Chip::split`], `train` when it names
//!   none; a project without splits gets `train.txt` alone, and so does an
//!   empty store). No `trainval.txt`: Datumaro would import its chips
//!   twice. A split named with `_` (`val_2.txt`) is read back here (a
//!   one-column list), but Datumaro takes it for a per-class list.
//!   Per-class lists (`<class>_train.txt`) are not written: detection
//!   loaders do not read them.
//! * The images keep their stored extension (`JPEGImages/a.png`,
//!   `JPEGImages/b.tif`); chips are never re-encoded. `<filename>` names the
//!   file, which is what Datumaro and mmdetection follow; loaders that
//!   assume `<id>.jpg` (detectron2's `load_voc_instances`) need JPEG chips.
//! * `labelmap.txt` is what lets Datumaro's VOC importer accept class names
//!   outside VOC's 20 (FORMATS.md §6.1). Its lines are `:`-separated and
//!   stripped, so a class name holding `:`, a line break, a leading `#` or
//!   leading/trailing white space cannot be one; when some class is such,
//!   that class is left out of `labelmap.txt` and `dataset_meta.json`
//!   (Datumaro's JSON class table, which Datumaro reads in preference to
//!   `labelmap.txt`) is written as well, holding every class.
//!   No `background` class is added: detection does not need one.
//!
//! # The XML
//!
//! ```xml
//! <?xml version="1.0" encoding="utf-8"?>
//! <annotation>
//!   <folder>JPEGImages</folder>
//!   <filename>a.png</filename>
//!   <source>
//!     <database>harbour-ships</database>     <!-- the project's name -->
//!     <annotation>labelstore</annotation>
//!   </source>
//!   <size><width>512</width><height>512</height><depth>3</depth></size>
//!   <segmented>0</segmented>
//!   <object>
//!     <name>ship</name>
//!     <pose>Unspecified</pose>
//!     <truncated>1</truncated>
//!     <difficult>0</difficult>
//!     <occluded>0</occluded>
//!     <bndbox><xmin>11</xmin><ymin>21</ymin><xmax>110</xmax><ymax>64</ymax></bndbox>
//!   </object>
//! </annotation>
//! ```
//!
//! * Text is escaped by quick-xml (`&`, `<`, `>`, quotes) and written as
//!   UTF-8; a name holding a character XML 1.0 cannot carry (control
//!   characters other than tab and line breaks, U+FFFE, U+FFFF) is an error.
//! * `depth` is the chip's samples per pixel as its image header declares
//!   them (`Chip::samples`: 1 gray, 3 RGB or palette, 4 with alpha); 3,
//!   VOC's usual value, when the header did not say.
//! * `folder` is the folder holding the image, relative to `voc/`
//!   (LabelImg's convention); `segmented` is `0` (no masks).
//!
//! # Coordinates (FORMATS.md §1.2 "integers, 1-based, inclusive")
//!
//! labelstore's boxes are continuous pixel-edge coordinates `[x0, y0, x1,
//! y1]`; VOC's are the first and last pixel a box covers, counted from 1.
//! Written: `xmin = round(x0) + 1`, `ymin = round(y0) + 1`, `xmax =
//! round(x1)`, `ymax = round(y1)` (halves round up), after clamping to the
//! chip, so `1 <= xmin <= xmax <= width`. A box that comes out with `xmin
//! == xmax` or `ymin == ymax` (one pixel wide or high, or thinner) is left
//! out and counted in the store summary (`labels left out: zero width or
//! height`): torchvision and others taking `xmax - xmin` as the width
//! reject it as zero wide.
//! Read: `[xmin - 1, ymin - 1, xmax, ymax]` (detectron2's convention, and
//! Datumaro's `coordinate_mode="voc-one-based"`), clamped to the image size
//! when `<size>` gives it. Integer-aligned boxes are exact both ways:
//! `[0, 0, 512, 512]` on a 512x512 chip is `1 1 512 512` and reads back as
//! `[0, 0, 512, 512]`. Other boxes move by at most half a pixel per edge
//! (less than a pixel for boxes under a pixel wide).
//!
//! Reading accepts what other tools write: float coordinates (`10.5`),
//! extra elements (LabelImg's `path`, `verified`, `part`, `actions`,
//! Roboflow's `polygon`), missing `pose`/`truncated`/`difficult`/
//! `occluded`, and Datumaro's `<attributes>` block (kept as string
//! attributes). Files written in the 0-based "VOC" dialect (Datumaro's
//! default, CVAT, LabelImg) are read as 1-based, i.e. one pixel further
//! left and up; a 0 there is clamped to the image edge.
//!
//! # Classes and attributes
//!
//! * Classes are written by name, in class-id order in `labelmap.txt`; ids
//!   do not survive (they come back as 1, 2, 3... in that order). Names may
//!   hold spaces and any Unicode: XML and `labelmap.txt` carry them as they
//!   are. Colours survive through `labelmap.txt` (`name:r,g,b::`, or
//!   `name:::` for a class without one).
//! * `difficult`, `truncated`, `occluded`: VOC's 0/1 fields. `true` or a
//!   non-zero number writes `1`; absent, `null`, `false` or `0` writes `0`;
//!   anything else is an error. Read back, `1` is `true` for `difficult`
//!   and `truncated` (booleans, as manifests write them) and the integer
//!   `1` for `occluded` (an occlusion level, as KITTI counts them; another
//!   integer a foreign file holds is kept); `0` is absent. So `false`/`0`
//!   come back absent, an `occluded` of `true` comes back `1` and KITTI's
//!   levels 2 and 3 come back `1`.
//! * `pose`: a string, `Unspecified` when absent; read back absent when
//!   `Unspecified` or empty.
//! * Other attributes (`score`, free keys) are not written.
//! * The project's name is `<source><database>`; its CRS is not kept (the
//!   chips stored as GeoTIFF keep their own).
//!
//! # Reading
//!
//! `read(path)` takes the store root (holding `voc/`), the VOC folder
//! itself (holding `Annotations/`), a `VOCdevkit` folder with one
//! `VOC20xx` inside, a LabelImg folder (XML files beside the images), or
//! one XML file. Chips come in the order of the split lists of
//! `ImageSets/Main/` (train, val, trainval, test, then the others), then
//! the annotation files no list names, by name; a listed chip without an
//! XML file (Datumaro writes none for unlabelled images) is a chip without
//! labels if its image is found. A chip's split is the list naming it
//! (lower-cased, `train` left absent); a chip in several lists takes the
//! first of `train`, `val`, `test`, the others by name, and `trainval`
//! last (VOC's union of train and val: a chip only there is in
//! `trainval`); a chip no list names is in `train`. Chip ids are the XML file stems; the image
//! is `<filename>` in `JPEGImages/`, or the image with the chip's stem.
//! Classes: `dataset_meta.json`, else `labelmap.txt`, then any name met in
//! an object (in order); Datumaro's `background` (first, black, unused) is
//! dropped. A chip without objects is read as saved empty.

mod xml;

use std::path::{Component, Path, PathBuf};

use labels_model::{
    Attributes, Chip, ChipFormat, ChipGeoref, Error, Fidelity, Geometry, Label, LabelFormat,
    LabelWriter, LabelingType, LeftBehind, Output, Project, Result, Rgb, Rounding,
};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};
use raster_georef::excerpt;

use self::xml::Element;
use crate::common::{
    ClassTable, DATASET_META, ImageIndex, ProjectBuilder, RawBox, check_box, chip_files,
    dataset_name, denoise, entries, ext_is, format_folder, head_holds, io_err, list_dir, meta_json,
    place_image, placed_name, read_meta, read_split_lists, read_text, split_of_listed, strip_ext,
};

/// The format's folder in a store.
const DIR: &str = "voc";
/// The list of a split's chip ids.
fn split_list(split: &str) -> String {
    format!("{DIR}/ImageSets/Main/{split}.txt")
}
/// Datumaro's class table.
const LABELMAP: &str = "labelmap.txt";

/// The format's name on the command line and in store manifests.
const NAME: &str = "voc";

/// Pascal VOC detection (`voc/`): see the module documentation for the
/// layout and conventions.
#[derive(Debug, Clone, Copy, Default)]
pub struct VocFormat;

impl LabelFormat for VocFormat {
    fn name(&self) -> &'static str {
        NAME
    }

    fn labeling_types(&self) -> &'static [LabelingType] {
        &[LabelingType::ObjectDetection]
    }

    fn layout(&self) -> &'static str {
        "voc/Annotations/<id>.xml, voc/JPEGImages/, voc/ImageSets/Main/<split>.txt"
    }

    /// A VOC `.xml` file (its beginning has `<annotation`), or a folder (a
    /// store's `voc/`, or one folder down, as `VOCdevkit/VOC2012`) holding
    /// `Annotations/` beside `ImageSets/Main/` or `JPEGImages/`, or LabelImg's
    /// `.xml` files beside the images.
    fn recognizes(&self, path: &Path) -> bool {
        let voc_xml = |p: &Path| ext_is(p, &["xml"]) && head_holds(p, "<annotation");
        if path.is_file() {
            return voc_xml(path);
        }
        let layout = |d: &Path| {
            d.join("Annotations").is_dir()
                && (d.join("ImageSets").join("Main").is_dir() || d.join("JPEGImages").is_dir())
        };
        let dir = format_folder(path, DIR);
        let listed = entries(&dir);
        layout(&dir)
            || listed.iter().any(|d| d.is_dir() && layout(d))
            || listed
                .iter()
                .find(|p| ext_is(p, &["xml"]))
                .is_some_and(|p| voc_xml(p))
    }

    fn writer(&self, header: &Project) -> Box<dyn LabelWriter> {
        self.writer_placing(header, ChipFormat::Keep)
    }

    /// `JPEGImages/<chip id>.png` or `.jpg` as `chips` says, named by
    /// `<filename>`.
    fn writer_placing(&self, header: &Project, chips: ChipFormat) -> Box<dyn LabelWriter> {
        Box::new(VocWriter {
            name: header.name.clone(),
            classes: ClassTable::new(header),
            left_out: 0,
            splits: Vec::new(),
            rounding: Rounding {
                to: "integer pixels",
                max_shift_px: 0.0,
            },
            chips,
        })
    }

    /// `ImageSets/Main/<split>.txt` per split, read back from the lists.
    fn keeps_splits(&self) -> bool {
        true
    }

    fn leaves_out(&self, chip: &Chip, label: &Label) -> bool {
        match (&label.geometry, chip.width, chip.height) {
            (Geometry::BBox(b), Some(w), Some(h)) => voc_box(*b, w, h).is_none(),
            _ => false,
        }
    }

    fn read(&self, root: &Path) -> Result<Project> {
        read_voc(root).map(|(project, _)| project)
    }

    /// What is not brought over, counted: objects' parts (`<part>`),
    /// objects' actions (`<actions>` with an action set) and segmentation
    /// masks (annotations marked `<segmented>1</segmented>`).
    fn read_dataset(&self, root: &Path) -> Result<(Project, LeftBehind)> {
        read_voc(root)
    }

    /// Boxes move by at most half a pixel per edge (one pixel for boxes
    /// under a pixel wide); class names and colours survive, ids do not;
    /// `difficult` and `truncated` survive as `true`, `occluded` as `1`
    /// (`false`/0 values come back absent), `pose` as it is; chips saved
    /// empty survive. The project's name survives, its CRS does not.
    fn fidelity(&self) -> Fidelity {
        Fidelity {
            pixel_tolerance: Some(1.0),
            class_ids: false,
            attributes: Some(&["difficult", "truncated", "occluded", "pose"]),
            empty_chips: true,
        }
    }

    /// The module docs' rules: set flags come back `true` (`occluded`: 1),
    /// unset ones absent; a pose other than `Unspecified` as it is.
    fn expected_attributes(&self, written: &Attributes) -> Attributes {
        let mut out = Attributes::new();
        for key in ["difficult", "truncated"] {
            if flag_attr(written, key).unwrap_or(false) {
                out.insert(key.into(), true.into());
            }
        }
        if flag_attr(written, "occluded").unwrap_or(false) {
            out.insert("occluded".into(), 1.into());
        }
        if let Some(serde_json::Value::String(pose)) = written.get("pose")
            && !pose.is_empty()
            && pose != "Unspecified"
        {
            out.insert("pose".into(), pose.clone().into());
        }
        out
    }
}

#[derive(Debug)]
struct VocWriter {
    name: String,
    classes: ClassTable,
    /// Boxes left out: one pixel or less wide or high (`xmin == xmax`).
    left_out: usize,
    /// The splits written, in the order first met.
    splits: Vec<String>,
    /// The largest shift integer pixels gave a box's edge.
    rounding: Rounding,
    /// The file type of the images placed in `JPEGImages/`.
    chips: ChipFormat,
}

/// One `<object>` as written.
#[derive(Debug)]
struct Object<'a> {
    name: &'a str,
    pose: &'a str,
    truncated: bool,
    difficult: bool,
    occluded: bool,
    bndbox: [i64; 4],
}

/// Converts pixel edges `[lo, hi)` on an axis of `size` pixels to VOC's
/// first and last pixel, 1-based and inclusive (see the module docs).
fn edges_to_voc(lo: f64, hi: f64, size: u32) -> (i64, i64) {
    let s = f64::from(size);
    let (lo, hi) = (lo.clamp(0.0, s), hi.clamp(0.0, s));
    let first = lo.round() as i64 + 1;
    let last = hi.round() as i64;
    if last >= first {
        return (first, last);
    }
    let centre = ((lo + hi) / 2.0).floor().clamp(0.0, (s - 1.0).max(0.0)) as i64;
    (centre + 1, centre + 1)
}

/// A box as VOC writes it on a `width` × `height` chip, or `None` when
/// it comes out with `xmin == xmax` or `ymin == ymax`: the zero width or
/// height torchvision and others reject (those taking `xmax - xmin`), so
/// the writer leaves it out.
pub(crate) fn voc_box([x0, y0, x1, y1]: [f64; 4], width: u32, height: u32) -> Option<[i64; 4]> {
    let (xmin, xmax) = edges_to_voc(x0, x1, width);
    let (ymin, ymax) = edges_to_voc(y0, y1, height);
    (xmin < xmax && ymin < ymax).then_some([xmin, ymin, xmax, ymax])
}

/// Whether XML 1.0 can carry `c` in text.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{fffe}' && c != '\u{ffff}')
}

/// A VOC 0/1 field from an attribute: absent, `null`, `false` and `0` are
/// 0; `true` and other numbers are 1.
fn flag_attr(attrs: &Attributes, key: &str) -> std::result::Result<bool, String> {
    match attrs.get(key) {
        None | Some(serde_json::Value::Null) => Ok(false),
        Some(serde_json::Value::Bool(b)) => Ok(*b),
        Some(serde_json::Value::Number(n)) => Ok(n.as_f64().is_some_and(|v| v != 0.0)),
        Some(other) => Err(format!("expected true, false or a number, not {other}")),
    }
}

/// Whether `name` can be a line of Datumaro's `labelmap.txt`, which is
/// split on `:` after Python's `strip()`, with `#` lines skipped.
fn labelmap_safe(name: &str) -> bool {
    let py_space = |c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c);
    !name.is_empty()
        && !name.contains([':', '\n', '\r'])
        && !name.starts_with('#')
        && !name.starts_with(py_space)
        && !name.ends_with(py_space)
}

fn text_el<W: std::io::Write>(w: &mut Writer<W>, name: &str, text: &str) -> std::io::Result<()> {
    w.create_element(name)
        .write_text_content(BytesText::new(text))?;
    Ok(())
}

impl VocWriter {
    fn xml(
        &self,
        filename: &str,
        width: u32,
        height: u32,
        depth: u8,
        objects: &[Object<'_>],
    ) -> std::io::Result<Vec<u8>> {
        let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))?;
        w.create_element("annotation").write_inner_content(|w| {
            text_el(w, "folder", "JPEGImages")?;
            text_el(w, "filename", filename)?;
            w.create_element("source").write_inner_content(|w| {
                text_el(w, "database", &self.name)?;
                text_el(w, "annotation", "labelstore")
            })?;
            w.create_element("size").write_inner_content(|w| {
                text_el(w, "width", &width.to_string())?;
                text_el(w, "height", &height.to_string())?;
                text_el(w, "depth", &depth.to_string())
            })?;
            text_el(w, "segmented", "0")?;
            for o in objects {
                w.create_element("object").write_inner_content(|w| {
                    text_el(w, "name", o.name)?;
                    text_el(w, "pose", o.pose)?;
                    text_el(w, "truncated", if o.truncated { "1" } else { "0" })?;
                    text_el(w, "difficult", if o.difficult { "1" } else { "0" })?;
                    text_el(w, "occluded", if o.occluded { "1" } else { "0" })?;
                    w.create_element("bndbox").write_inner_content(|w| {
                        let [x0, y0, x1, y1] = o.bndbox;
                        text_el(w, "xmin", &x0.to_string())?;
                        text_el(w, "ymin", &y0.to_string())?;
                        text_el(w, "xmax", &x1.to_string())?;
                        text_el(w, "ymax", &y1.to_string())
                    })?;
                    Ok(())
                })?;
            }
            Ok(())
        })?;
        let mut bytes = w.into_inner();
        bytes.push(b'\n');
        Ok(bytes)
    }
}

impl LabelWriter for VocWriter {
    fn write_chip(
        &mut self,
        chip: &Chip,
        _georef: &ChipGeoref,
        out: &mut dyn Output,
    ) -> Result<()> {
        let xml_path = format!("{DIR}/Annotations/{}.xml", chip.id);
        let (_, ext) = chip_files(chip, &xml_path)?;
        let id = chip.id.as_str();
        let bad = |field: String, msg: String| Error::invalid(&xml_path, Some(id), field, msg);
        if !self.name.chars().all(xml_char) {
            return Err(bad(
                "name".into(),
                "the project name holds a character XML cannot carry".into(),
            ));
        }
        let (Some(width), Some(height)) = (chip.width, chip.height) else {
            return Err(bad("width".into(), "the chip's size is not known".into()));
        };
        let mut objects = Vec::with_capacity(chip.labels.len());
        for (i, label) in chip.labels.iter().enumerate() {
            let field = |f: &str| format!("labels[{i}]{f}");
            let Geometry::BBox([x0, y0, x1, y1]) = label.geometry else {
                return Err(bad(field(""), "Pascal VOC holds boxes only".into()));
            };
            if ![x0, y0, x1, y1].iter().all(|v| v.is_finite()) {
                return Err(bad(field(".bbox"), "a coordinate is not finite".into()));
            }
            let name = self.classes.name(label.class_id).ok_or_else(|| {
                bad(
                    field(".class"),
                    format!("no class with id {}", label.class_id),
                )
            })?;
            if !name.chars().all(xml_char) {
                return Err(bad(
                    field(".class"),
                    format!("the class name {name:?} holds a character XML cannot carry"),
                ));
            }
            let a = &label.attributes;
            let flag = |key: &str| {
                flag_attr(a, key).map_err(|m| bad(field(&format!(".attributes.{key}")), m))
            };
            let pose = match a.get("pose") {
                None | Some(serde_json::Value::Null) => "Unspecified",
                Some(serde_json::Value::String(s)) if s.is_empty() => "Unspecified",
                Some(serde_json::Value::String(s)) if s.chars().all(xml_char) => s.as_str(),
                Some(other) => {
                    return Err(bad(
                        field(".attributes.pose"),
                        format!("expected a string XML can carry, not {other}"),
                    ));
                }
            };
            let Some([xmin, ymin, xmax, ymax]) = voc_box([x0, y0, x1, y1], width, height) else {
                self.left_out += 1;
                continue;
            };
            // VOC's first pixel `xmin` starts at edge `xmin - 1`.
            for (edge, written) in
                [x0, y0, x1, y1]
                    .into_iter()
                    .zip([xmin - 1, ymin - 1, xmax, ymax])
            {
                self.rounding.moved((written as f64 - edge).abs());
            }
            objects.push(Object {
                name,
                pose,
                truncated: flag("truncated")?,
                difficult: flag("difficult")?,
                occluded: flag("occluded")?,
                bndbox: [xmin, ymin, xmax, ymax],
            });
        }
        let filename = placed_name(id, &ext, self.chips);
        // A JPEG is gray or RGB.
        let depth = match (self.chips, chip.samples) {
            (ChipFormat::Jpeg { .. }, Some(1)) => 1,
            (ChipFormat::Jpeg { .. }, _) => 3,
            (_, samples) => samples.unwrap_or(3),
        };
        let xml = self
            .xml(&filename, width, height, depth, &objects)
            .map_err(|e| io_err(&xml_path, e))?;
        out.put(&xml_path, xml).map_err(|e| io_err(&xml_path, e))?;
        place_image(chip, &format!("{DIR}/JPEGImages"), &ext, self.chips, out)?;
        let split = chip.split();
        if !self.splits.iter().any(|s| s == split) {
            self.splits.push(split.to_owned());
        }
        let list = split_list(split);
        out.append(&list, format!("{id}\n").as_bytes())
            .map_err(|e| io_err(&list, e))
    }

    fn notes(&self) -> Vec<(&'static str, usize)> {
        vec![("labels left out: zero width or height", self.left_out)]
    }

    fn rounding(&self) -> Option<Rounding> {
        Some(self.rounding)
    }

    fn finish(&mut self, out: &mut dyn Output) -> Result<()> {
        // The train list exists even when no chip was stored.
        if self.splits.is_empty() {
            let list = split_list(labels_model::DEFAULT_SPLIT);
            out.append(&list, b"").map_err(|e| io_err(&list, e))?;
        }
        let mut labelmap = String::from("# label:color_rgb:parts:actions\n");
        let mut all_safe = true;
        for (name, color) in &self.classes.ordered {
            if !labelmap_safe(name) {
                all_safe = false;
                continue;
            }
            let color = color
                .map(|Rgb([r, g, b])| format!("{r},{g},{b}"))
                .unwrap_or_default();
            labelmap += &format!("{name}:{color}::\n");
        }
        let path = format!("{DIR}/{LABELMAP}");
        out.put(&path, labelmap.into_bytes())
            .map_err(|e| io_err(&path, e))?;
        if !all_safe {
            let path = format!("{DIR}/{DATASET_META}");
            out.put(&path, meta_json(&self.classes.ordered))
                .map_err(|e| io_err(&path, e))?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- reading

/// Where a VOC dataset's parts are.
#[derive(Debug)]
struct Layout {
    /// The dataset folder: the project's `base_dir`.
    root: PathBuf,
    /// The folder of the XML files.
    annotations: PathBuf,
    /// The folder of the images, relative to `root` (empty: `root` itself).
    images: PathBuf,
    /// Only this XML file (one file was given).
    single: Option<PathBuf>,
}

fn not_found(path: &Path, msg: &str) -> Error {
    Error::invalid(path, None, "", msg)
}

fn layout_of(dir: &Path) -> Option<Layout> {
    (dir.join("Annotations").is_dir() || dir.join("ImageSets").join("Main").is_dir()).then(|| {
        Layout {
            root: dir.to_path_buf(),
            annotations: dir.join("Annotations"),
            images: PathBuf::from("JPEGImages"),
            single: None,
        }
    })
}

fn locate(path: &Path) -> Result<Layout> {
    if path.is_file() {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if strip_ext(name, "xml").is_none() {
            return Err(not_found(path, "not a Pascal VOC .xml file"));
        }
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let in_annotations = parent.file_name().is_some_and(|n| n == "Annotations");
        let root = match (in_annotations, parent.parent()) {
            (true, Some(r)) if !r.as_os_str().is_empty() => r.to_path_buf(),
            (true, _) => PathBuf::from("."),
            (false, _) => parent.to_path_buf(),
        };
        let images = if in_annotations && root.join("JPEGImages").is_dir() {
            PathBuf::from("JPEGImages")
        } else {
            PathBuf::new()
        };
        return Ok(Layout {
            root,
            annotations: parent.to_path_buf(),
            images,
            single: Some(path.to_path_buf()),
        });
    }
    if !path.is_dir() {
        return Err(not_found(path, "no such file or folder"));
    }
    let dir = if path.join(DIR).is_dir() {
        path.join(DIR)
    } else {
        path.to_path_buf()
    };
    if let Some(l) = layout_of(&dir) {
        return Ok(l);
    }
    let entries = list_dir(&dir)?;
    let inner: Vec<Layout> = entries
        .iter()
        .filter(|(_, is_dir)| *is_dir)
        .filter_map(|(n, _)| layout_of(&dir.join(n)))
        .collect();
    match inner.len() {
        1 => return inner.into_iter().next().ok_or_else(|| not_found(&dir, "")),
        0 => {}
        _ => {
            return Err(not_found(
                &dir,
                "several VOC datasets in this folder: give one of them",
            ));
        }
    }
    if entries
        .iter()
        .any(|(n, is_dir)| !is_dir && strip_ext(n, "xml").is_some())
    {
        // LabelImg: the XML files beside the images.
        return Ok(Layout {
            root: dir.clone(),
            annotations: dir,
            images: PathBuf::new(),
            single: None,
        });
    }
    Err(not_found(
        path,
        "no Pascal VOC dataset here: expected voc/, Annotations/ or .xml files",
    ))
}

/// One chip as read, its labels still naming their class.
#[derive(Debug)]
struct RawChip {
    id: String,
    image: PathBuf,
    width: Option<u32>,
    height: Option<u32>,
    labels: Vec<RawBox>,
}

/// Parses Datumaro's `labelmap.txt`: `name:r,g,b:parts:actions` lines.
fn read_labelmap(path: &Path) -> Result<Vec<(String, Option<Rgb>)>> {
    let text = read_text(path)?;
    let mut out: Vec<(String, Option<Rgb>)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |msg: String| Error::invalid(path, None, format!("line {}", i + 1), msg);
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() > 4 {
            return Err(bad(format!(
                "{} ':'-separated fields, expected name:color:parts:actions",
                fields.len()
            )));
        }
        let name = fields.first().copied().unwrap_or("");
        let color = match fields.get(1).map(|c| c.trim()) {
            None | Some("") => None,
            Some(c) => {
                let parts: Vec<Option<u8>> =
                    c.split(',').map(|v| v.trim().parse::<u8>().ok()).collect();
                match parts.as_slice() {
                    [Some(r), Some(g), Some(b)] => Some(Rgb([*r, *g, *b])),
                    _ => {
                        return Err(bad(format!(
                            "the colour {} of {} is not r,g,b with values 0 to 255",
                            excerpt(c),
                            excerpt(name)
                        )));
                    }
                }
            }
        };
        if out.iter().any(|(n, _)| n == name) {
            return Err(bad(format!("the class {name:?} is listed twice")));
        }
        out.push((name.to_owned(), color));
    }
    Ok(out)
}

/// Path of an element below `annotation`, for messages:
/// `annotation/object[2]/bndbox/xmin, line 14`.
fn at(path: &str, el: &Element) -> String {
    format!("{path}, line {}", el.line)
}

fn number(el: &Element, path: &str, file: &Path, id: &str) -> Result<f64> {
    let t = el.text.trim();
    t.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| {
            Error::invalid(
                file,
                Some(id),
                at(path, el),
                format!("{} is not a number", excerpt(t)),
            )
        })
}

fn read_flag(el: &Element, path: &str, file: &Path, id: &str) -> Result<bool> {
    let t = el.text.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("false") {
        return Ok(false);
    }
    if t.eq_ignore_ascii_case("true") {
        return Ok(true);
    }
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v != 0.0),
        _ => Err(Error::invalid(
            file,
            Some(id),
            at(path, el),
            format!("{} is not 0 or 1", excerpt(t)),
        )),
    }
}

/// A size field: a positive integer (`512` or `512.0`); 0 means unknown.
fn size_field(el: Option<&Element>, path: &str, file: &Path, id: &str) -> Result<Option<u32>> {
    let Some(el) = el else { return Ok(None) };
    let v = number(el, path, file, id)?;
    if v < 0.0 || v.fract() != 0.0 || v > f64::from(u32::MAX) {
        return Err(Error::invalid(
            file,
            Some(id),
            at(path, el),
            format!("{} is not a pixel count", excerpt(el.text.trim())),
        ));
    }
    Ok((v > 0.0).then_some(v as u32))
}

/// Whether a `<filename>` is a plain relative path inside the image folder.
fn safe_relative(name: &str) -> bool {
    let p = Path::new(name);
    !name.is_empty()
        && !name.contains('\\')
        && p.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Reads one annotation file. Returns the chip and the project name its
/// `<source><database>` gives.
fn read_annotation(
    file: &Path,
    id: &str,
    layout: &Layout,
    images: &mut ImageIndex,
    left: &mut LeftBehind,
) -> Result<(RawChip, Option<String>)> {
    let text = read_text(file)?;
    let root = xml::parse(&text, file)?;
    if root.name != "annotation" {
        return Err(Error::invalid(
            file,
            Some(id),
            at(&root.name, &root),
            "the root element is not <annotation>",
        ));
    }
    let size = root.child("size");
    let width = size_field(
        size.and_then(|s| s.child("width")),
        "annotation/size/width",
        file,
        id,
    )?;
    let height = size_field(
        size.and_then(|s| s.child("height")),
        "annotation/size/height",
        file,
        id,
    )?;
    let database = root
        .child("source")
        .and_then(|s| s.child("database"))
        .map(|d| d.text.clone())
        .filter(|d| d != "Unknown");
    let image = annotated_image(&root, file, id, layout, images)?;
    tally_left_behind(&root, left);
    let labels = root
        .children_named("object")
        .enumerate()
        .map(|(i, obj)| read_object(obj, i, file, id, (width, height)))
        .collect::<Result<Vec<_>>>()?;
    Ok((
        RawChip {
            id: id.to_owned(),
            image,
            width,
            height,
            labels,
        },
        database,
    ))
}

/// Counts in `left` what of an annotation is not brought over: parts,
/// actions set, a segmentation mask.
fn tally_left_behind(root: &Element, left: &mut LeftBehind) {
    let mut add = |what: &'static str, n: usize| {
        if n > 0 {
            *left.entry(what).or_default() += n;
        }
    };
    if root
        .child("segmented")
        .is_some_and(|s| s.text.trim() == "1")
    {
        add("VOC segmentation masks", 1);
    }
    for obj in root.children_named("object") {
        add("VOC parts", obj.children_named("part").count());
        let acts = obj.child("actions").is_some_and(|a| {
            a.children
                .iter()
                .any(|c| c.text.trim().parse::<f64>().is_ok_and(|v| v != 0.0))
        });
        add("VOC actions", usize::from(acts));
    }
}

/// The image an annotation is for: its `<filename>` when that file exists,
/// else the image named after the chip id, else its `<filename>` anyway.
fn annotated_image(
    root: &Element,
    file: &Path,
    id: &str,
    layout: &Layout,
    images: &mut ImageIndex,
) -> Result<PathBuf> {
    let dir = layout.root.join(&layout.images);
    let named = root
        .child("filename")
        .map(|f| f.text.trim().to_owned())
        .filter(|f| safe_relative(f));
    Ok(match named {
        Some(f) if dir.join(&f).is_file() => layout.images.join(f),
        named => match (images.find(id)?, named) {
            (Some(found), _) => layout.images.join(found),
            (None, Some(f)) => layout.images.join(f),
            (None, None) => {
                return Err(Error::invalid(
                    file,
                    Some(id),
                    "annotation/filename",
                    format!(
                        "no <filename> and no image named {id}.* in {}",
                        dir.display()
                    ),
                ));
            }
        },
    })
}

/// Reads the `i`-th `<object>` of an annotation: its class name, its box
/// (VOC's 1-based pixels made 0-based, clamped to the image's `size`) and
/// its attributes.
fn read_object(
    obj: &Element,
    i: usize,
    file: &Path,
    id: &str,
    (width, height): (Option<u32>, Option<u32>),
) -> Result<RawBox> {
    let p = format!("annotation/object[{}]", i + 1);
    let name = obj
        .child("name")
        .ok_or_else(|| Error::invalid(file, Some(id), at(&p, obj), "the object has no <name>"))?;
    let bndbox = obj
        .child("bndbox")
        .ok_or_else(|| Error::invalid(file, Some(id), at(&p, obj), "the object has no <bndbox>"))?;
    let mut c = [0.0; 4];
    for (slot, key) in c.iter_mut().zip(["xmin", "ymin", "xmax", "ymax"]) {
        let el = bndbox.child(key).ok_or_else(|| {
            Error::invalid(
                file,
                Some(id),
                at(&format!("{p}/bndbox"), bndbox),
                format!("<bndbox> has no <{key}>"),
            )
        })?;
        *slot = number(el, &format!("{p}/bndbox/{key}"), file, id)?;
    }
    let [xmin, ymin, xmax, ymax] = c;
    let mut b = [denoise(xmin - 1.0), denoise(ymin - 1.0), xmax, ymax];
    for (k, v) in b.iter_mut().enumerate() {
        let limit = if k % 2 == 0 { width } else { height };
        *v = v.max(0.0);
        if let Some(l) = limit {
            *v = v.min(f64::from(l));
        }
    }
    let b = check_box(b)
        .map_err(|m| Error::invalid(file, Some(id), at(&format!("{p}/bndbox"), bndbox), m))?;
    let attrs = object_attributes(obj, &p, file, id)?;
    Ok((name.text.clone(), b, attrs))
}

/// An object's attributes: VOC's flags and pose, and Datumaro's
/// `<attributes>`.
fn object_attributes(obj: &Element, p: &str, file: &Path, id: &str) -> Result<Attributes> {
    let mut attrs = Attributes::new();
    for key in ["difficult", "truncated", "occluded"] {
        if let Some(el) = obj.child(key)
            && read_flag(el, &format!("{p}/{key}"), file, id)?
        {
            let value = if key == "occluded" {
                // An occlusion level, as KITTI counts them: VOC's 1.
                serde_json::Value::from(el.text.trim().parse::<i64>().unwrap_or(1))
            } else {
                serde_json::Value::Bool(true)
            };
            attrs.insert(key.to_owned(), value);
        }
    }
    if let Some(pose) = obj.child("pose") {
        let pose = pose.text.trim();
        if !pose.is_empty() && pose != "Unspecified" {
            attrs.insert("pose".to_owned(), pose.into());
        }
    }
    // Datumaro's extension: <attributes><attribute><name/><value/></attribute>...
    if let Some(extra) = obj.child("attributes") {
        for a in extra.children_named("attribute") {
            if let (Some(k), Some(v)) = (a.child("name"), a.child("value"))
                && !k.text.is_empty()
                && !attrs.contains_key(&k.text)
            {
                attrs.insert(k.text.clone(), v.text.clone().into());
            }
        }
    }
    Ok(attrs)
}

/// Chip ids in reading order, each with its annotation file if it has one.
type ChipOrder = Vec<(String, Option<PathBuf>)>;

/// The chips of a dataset, in order (the split lists' first, then every
/// annotation file by name); and the file that names them, for messages.
fn chip_order(layout: &Layout) -> Result<(ChipOrder, PathBuf)> {
    if let Some(single) = &layout.single {
        let name = single.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let id = strip_ext(name, "xml").unwrap_or(name);
        return Ok((vec![(id.to_owned(), Some(single.clone()))], single.clone()));
    }
    let mut xmls = std::collections::HashMap::new();
    let mut sorted = Vec::new();
    if layout.annotations.is_dir() {
        for (name, is_dir) in list_dir(&layout.annotations)? {
            if let (false, Some(stem)) = (is_dir, strip_ext(&name, "xml")) {
                sorted.push(stem.to_owned());
                xmls.insert(stem.to_owned(), layout.annotations.join(&name));
            }
        }
    }
    let (listed, list_file) = read_split_lists(&layout.root.join("ImageSets").join("Main"))?;
    let mut seen = std::collections::HashSet::new();
    let mut order = Vec::new();
    for id in listed.into_iter().chain(sorted) {
        if seen.insert(id.clone()) {
            let xml = xmls.get(&id).cloned();
            order.push((id, xml));
        }
    }
    Ok((
        order,
        list_file.unwrap_or_else(|| layout.annotations.clone()),
    ))
}

/// The classes a dataset declares: Datumaro's `dataset_meta.json`, else
/// `labelmap.txt`, else none.
fn declared_classes(layout: &Layout) -> Result<Vec<(String, Option<Rgb>)>> {
    let meta = layout.root.join(DATASET_META);
    let labelmap = layout.root.join(LABELMAP);
    if meta.is_file() {
        read_meta(&meta)
    } else if labelmap.is_file() {
        read_labelmap(&labelmap)
    } else {
        Ok(Vec::new())
    }
}

fn read_voc(path: &Path) -> Result<(Project, LeftBehind)> {
    let layout = locate(path)?;
    let mut images = ImageIndex::new(layout.root.join(&layout.images));
    let (order, manifest_path) = chip_order(&layout)?;

    let mut name = None;
    let mut left = LeftBehind::new();
    let mut raw = Vec::with_capacity(order.len());
    for (id, xml) in order {
        match xml {
            Some(file) => {
                let (chip, database) =
                    read_annotation(&file, &id, &layout, &mut images, &mut left)?;
                if name.is_none() {
                    name = database;
                }
                raw.push(chip);
            }
            None => {
                let Some(found) = images.find(&id)? else {
                    return Err(Error::invalid(
                        &manifest_path,
                        Some(&id),
                        "",
                        format!(
                            "the chip is listed but has neither Annotations/{id}.xml nor an image in {}",
                            layout.root.join(&layout.images).display()
                        ),
                    ));
                };
                raw.push(RawChip {
                    id: id.clone(),
                    image: layout.images.join(found),
                    width: None,
                    height: None,
                    labels: Vec::new(),
                });
            }
        }
    }

    // Classes: the class file first, then the names met.
    let mut project = ProjectBuilder::default();
    for (n, c) in &declared_classes(&layout)? {
        project.classes.declare(n, *c);
    }
    if let Some(first) = project.classes.first()
        && first.name == "background"
        && first.color.is_none_or(|c| c == Rgb([0, 0, 0]))
        && !raw
            .iter()
            .any(|c| c.labels.iter().any(|(n, _, _)| n == "background"))
    {
        project.classes.drop_first();
    }
    for r in raw {
        project.chip(r.id, r.image, (r.width, r.height), r.labels);
    }

    let name = name.unwrap_or_else(|| dataset_name(&layout.root, DIR));
    let splits = split_of_listed(&layout.root.join("ImageSets").join("Main"))?;
    let mut project = project.finish(name, layout.root, manifest_path);
    for chip in &mut project.chips {
        chip.split = splits.get(&chip.id).cloned().flatten();
    }
    Ok((project, left))
}

#[cfg(test)]
mod tests;
