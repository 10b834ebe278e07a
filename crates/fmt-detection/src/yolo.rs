//! YOLO object detection, Ultralytics and Darknet flavours at once
//! (FORMATS.md 1.4, 6 and 6.1).
//!
//! # Layout written
//!
//! ```text
//! yolo/data.yaml                    Ultralytics: a folder per split, nc, names {index: name}
//! yolo/obj.names                    Darknet: one class name per line, line = class index
//! yolo/obj.data                     Darknet: classes, <split> = <split>.txt per split, names, backup
//! yolo/<split>.txt                  Darknet: one image path per line (relative to yolo/)
//! yolo/images/<split>/<id>.<ext>    each chip of the split, placed again (an alias);
//!                                   a GIF as <id>.png (see below); `.png` / `.jpg`
//!                                   for every chip with ChipFormat
//! yolo/labels/<split>/<id>.txt      its labels, where Ultralytics looks (`/images/` -> `/labels/`)
//! yolo/images/<split>/<id>.txt      the same labels beside the image, where Darknet looks
//! ```
//!
//! `<split>` is the chip's split ([`Chip::split`]: `train` when it names
//! none), so a project without splits has only `train`.
//!
//! Ultralytics reads only images whose suffix is in its `IMG_FORMATS`
//! (bmp, dng, jpeg, jpg, mpo, png, tif, tiff, webp, pfm, heic) and skips the
//! others: a GIF chip is placed as `<id>.png`, a palette PNG of its first
//! frame's pixels (palette and transparent index kept), and counted in the
//! store summary (`chips converted to PNG`); a `.jpe` chip is placed as
//! `<id>.jpg`, same bytes. Label files are named by chip id, so they pair.
//!
//! Ultralytics finds a label by replacing the last `/images/` of the image
//! path by `/labels/`; Darknet (AlexeyAB, and its current fork) takes the
//! image path with its extension changed to `.txt`, beside the image, and so
//! does Datumaro's Darknet importer. One layout serves both only with the
//! label file in both places: the two copies are identical (a few bytes per
//! box); readers here take `labels/` first.
//!
//! `data.yaml` has no `path:` key: Ultralytics then uses the YAML file's own
//! folder as the dataset root, whereas a relative `path:` is resolved against
//! its `datasets_dir` (FORMATS.md 6.1) and an absolute one is unknown when
//! the store goes to an object store. Each split written gets its key
//! (`train: images/train`, `val: images/val`, `test: images/test`, and any
//! other split the same way, a key Ultralytics ignores), so no key names
//! another split's images, with one exception: Ultralytics'
//! `check_det_dataset` raises unless both `train` and `val` are there, so
//! when a store has no `val` split (or no `train` one) that key names the
//! images of the first split there is (`train`, else `val`, `test`, then
//! the others by name) and a comment in the file says so: a project
//! without splits validates on its training images, as before.
//! `nc` is there for older YOLOv5 checkouts,
//! which assert it. Class names are JSON-quoted, a form every YAML reader
//! takes, so names such as `yes`, `1` or `vélo lourd` stay strings.
//!
//! `obj.data` has a key per split written, named as the split (Datumaro
//! makes a subset of every key other than `classes`, `names` and `backup`,
//! named as the key); Darknet itself reads `train` and `valid`, falling
//! back to `train` for validation, so a `val` split is Datumaro's and
//! Ultralytics' only (a `valid = val.txt` line as well would import it
//! twice in Datumaro). Datumaro takes only keys of word characters
//! (`\w+`): a split named with `-` is written but Datumaro skips it.
//!
//! # Conventions
//!
//! - One line per box: `class cx cy w h`, the centre and size normalized by
//!   the chip's width and height, 6 decimals, each clamped to [0, 1]
//!   (Ultralytics drops a whole image with a value outside). Precision:
//!   0.5e-6 of the chip size per number, so a corner moves at most
//!   0.75e-6 × the chip's size (under 0.01 px up to 13 000 px).
//! - Class index: 0-based, in class-id order (ids 1, 2, 7 become 0, 1, 2);
//!   the names in `data.yaml` and `obj.names` are in that order. A class
//!   name with a line break cannot be written to `obj.names`: it is an
//!   error naming the class.
//! - A chip saved empty gets an empty `.txt` (and is listed in `train.txt`).
//! - YOLO has no attributes: none are written (a 6th column would be a
//!   prediction's confidence, which makes Ultralytics drop the image).
//!
//! # Reading
//!
//! [`YoloFormat::read`] takes a store root (holding `yolo/`), a YOLO folder,
//! or its `data.yaml` / `obj.data` file, including datasets made elsewhere:
//!
//! - class names from `data.yaml` (`names` as a list or an `{index: name}`
//!   map; `nc` alone gives `class_0`...), else the `names` file of `obj.data`,
//!   else `obj.names` or `classes.txt` (LabelImg, Label Studio) in the folder
//!   or its `labels/`; classes get ids 1, 2, 3... in index order;
//! - images from `data.yaml`'s `train`/`val`/`test` and any other key naming
//!   folders or `.txt` lists that exist (relative to `path:` or the YAML's
//!   folder), else from `obj.data`'s lists, else every image under `images/`
//!   (or the folder itself); each label file is looked for the Ultralytics
//!   way, then beside the image; an image without one has no labels;
//! - splits: an image's split is the data.yaml or obj.data key that names it
//!   first (keys read in split order: train, val, test, then the others by
//!   name, so a `val:` naming the training images again adds nothing), or
//!   the folder under `images/` holding it (`images/val/1.jpg`); `train`
//!   and images directly in `images/` are left without a split;
//! - image sizes from the image headers (needed to de-normalize);
//! - lines with 6 numbers (a confidence) keep it as the `score` attribute;
//!   segmentation or oriented-box lines (`class x1 y1 x2 y2 ...`) give the
//!   box around their points;
//! - chip ids are image file stems, made valid and unique as for COCO, in
//!   reading order: `images/train/1.jpg` is `1`, `images/val/1.jpg` `1-2`.
//!
//! Every problem is an [`Error::Invalid`] naming the file and the line.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use labels_model::{
    Attributes, Chip, ChipFormat, ChipGeoref, Class, Error, Fidelity, Geometry, Label, LabelFormat,
    LabelWriter, LabelingType, Output, Project, Result, Rounding,
};
use raster_georef::excerpt;
use yaml_rust2::{Yaml, YamlLoader};

use crate::common::{
    ChipIds, denoise, ext_is, folder_name, place_image, split_from_subset, split_rank,
};

/// Where the chips of a split are placed again, and the Darknet labels
/// beside them (relative to `yolo/`).
fn image_dir(split: &str) -> String {
    format!("images/{split}")
}

/// Darknet's image list of a split.
fn split_list(split: &str) -> String {
    format!("yolo/{split}.txt")
}
/// Image extensions looked for when reading (Ultralytics' list, less video).
const IMAGE_EXTENSIONS: [&str; 9] = [
    "png", "jpg", "jpeg", "jpe", "tif", "tiff", "bmp", "gif", "webp",
];

/// The format's name on the command line and in store manifests.
const NAME: &str = "yolo";

/// YOLO object detection: normalized `class cx cy w h` lines, laid out for
/// Ultralytics and Darknet at once.
#[derive(Debug, Clone, Copy, Default)]
pub struct YoloFormat;

impl LabelFormat for YoloFormat {
    fn name(&self) -> &'static str {
        NAME
    }

    fn labeling_types(&self) -> &'static [LabelingType] {
        &[LabelingType::ObjectDetection]
    }

    fn leaves_out(&self, chip: &Chip, label: &Label) -> bool {
        match (&label.geometry, chip.width, chip.height) {
            (Geometry::BBox(b), Some(w), Some(h)) => line(0, *b, w, h).is_none(),
            _ => false,
        }
    }

    fn layout(&self) -> &'static str {
        "yolo/data.yaml, yolo/images/<split>/, yolo/labels/<split>/, yolo/obj.data, yolo/obj.names"
    }

    /// A `data.yaml` (any `.yaml`), `obj.data` or class names file, or a
    /// folder (or a store's `yolo/`) holding `data.yaml` or `obj.data`, or
    /// `obj.names` / `classes.txt` beside `images/` or `labels/`.
    fn recognizes(&self, path: &Path) -> bool {
        if path.is_file() {
            return ext_is(path, &["yaml", "yml", "data"])
                || path
                    .file_name()
                    .is_some_and(|n| CLASS_FILES.iter().any(|c| n == *c));
        }
        [path.to_path_buf(), path.join(NAME)].iter().any(|root| {
            ["data.yaml", "data.yml", "obj.data"]
                .iter()
                .any(|f| root.join(f).is_file())
                || (CLASS_FILES.iter().any(|f| root.join(f).is_file())
                    && (root.join("images").is_dir() || root.join("labels").is_dir()))
        })
    }

    fn writer(&self, header: &Project) -> Box<dyn LabelWriter> {
        self.writer_placing(header, ChipFormat::Keep)
    }

    /// `images/<split>/<id>.png` or `.jpg` as `chips` says, named by the
    /// `<split>.txt` lists (`data.yaml` names folders).
    fn writer_placing(&self, header: &Project, chips: ChipFormat) -> Box<dyn LabelWriter> {
        Box::new(YoloWriter::new(header, chips))
    }

    fn read(&self, path: &Path) -> Result<Project> {
        read_yolo(path)
    }

    /// `images/<split>/`, `labels/<split>/`, a `<split>.txt` list and a
    /// data.yaml / obj.data key per split; read back from either.
    fn keeps_splits(&self) -> bool {
        true
    }

    /// Boxes within 0.01 px (6 normalized decimals, chips up to 13 000 px),
    /// class names in id order with ids 1, 2, 3..., no attributes; chips
    /// saved empty survive (empty label files).
    fn fidelity(&self) -> Fidelity {
        Fidelity {
            pixel_tolerance: Some(0.01),
            class_ids: false,
            attributes: Some(&[]),
            empty_chips: true,
        }
    }
}

// ---------------------------------------------------------------------------
// Writer

#[derive(Debug)]
struct YoloWriter {
    /// Class names in class-id order: a line's class index is the position.
    names: Vec<String>,
    /// Class id to class index.
    index: HashMap<u32, usize>,
    manifest: PathBuf,
    /// A class (position in the project, name) that obj.names cannot hold.
    bad_name: Option<(usize, String)>,
    /// Chips placed as PNG because Ultralytics cannot read their type.
    converted: usize,
    /// Boxes left out: zero width or height at six decimals.
    left_out: usize,
    /// The splits written, in the order first met.
    splits: Vec<String>,
    /// The largest shift the six decimals gave a box's edge.
    rounding: Rounding,
    /// The file type of the images placed in `images/<split>/`.
    chips: ChipFormat,
}

impl YoloWriter {
    fn new(header: &Project, chips: ChipFormat) -> YoloWriter {
        let mut sorted: Vec<&Class> = header.classes.iter().collect();
        sorted.sort_by_key(|c| c.id);
        let bad_name = header
            .classes
            .iter()
            .enumerate()
            .find(|(_, c)| c.name.contains(['\n', '\r']))
            .map(|(i, c)| (i, c.name.clone()));
        YoloWriter {
            names: sorted.iter().map(|c| c.name.clone()).collect(),
            index: sorted.iter().enumerate().map(|(i, c)| (c.id, i)).collect(),
            manifest: header.manifest_path.clone(),
            bad_name,
            converted: 0,
            left_out: 0,
            splits: Vec::new(),
            rounding: Rounding {
                to: "6 decimals (normalized)",
                max_shift_px: 0.0,
            },
            chips,
        }
    }

    fn check_names(&self) -> Result<()> {
        match &self.bad_name {
            None => Ok(()),
            Some((i, name)) => Err(Error::invalid(
                &self.manifest,
                None,
                format!("classes[{i}].name"),
                format!(
                    "{name:?} has a line break, which YOLO's obj.names (one name per line) cannot hold"
                ),
            )),
        }
    }

    /// The splits written, in split order (train, val, test, then the
    /// others by name); `train` alone when no chip was.
    fn sorted_splits(&self) -> Vec<&str> {
        let mut splits: Vec<&str> = self.splits.iter().map(String::as_str).collect();
        if splits.is_empty() {
            splits.push(labels_model::DEFAULT_SPLIT);
        }
        splits.sort_by_key(|s| split_rank(s));
        splits
    }

    fn data_yaml(&self) -> String {
        let splits = self.sorted_splits();
        let mut s = String::from(
            "# Ultralytics YOLO dataset, written by labelstore.\n\
             # No `path:` key: Ultralytics takes this file's folder as the dataset root.\n",
        );
        // Ultralytics requires `train` and `val`: a missing one names the
        // images of the first split there is (train, else val, test...).
        let first = splits[0];
        for key in ["train", "val"] {
            if !splits.contains(&key) {
                s += &format!(
                    "# No `{key}` split: Ultralytics requires the key, so it names the `{first}` images.\n"
                );
            }
        }
        for key in ["train", "val"] {
            let split = if splits.contains(&key) { key } else { first };
            s += &format!("{key}: {}\n", image_dir(split));
        }
        for split in splits.iter().filter(|s| !matches!(**s, "train" | "val")) {
            s += &format!("{split}: {}\n", image_dir(split));
        }
        s += &format!("nc: {}\n", self.names.len());
        if self.names.is_empty() {
            s += "names: {}\n";
        } else {
            s += "names:\n";
            for (i, name) in self.names.iter().enumerate() {
                // A JSON string is a YAML double-quoted scalar.
                let quoted = serde_json::to_string(name).unwrap_or_default();
                s += &format!("  {i}: {quoted}\n");
            }
        }
        s
    }
}

/// One label line for a box on a `w` × `h` chip, or `None` when its width
/// or height is `0.000000` at the six decimals written: Ultralytics and
/// torchvision reject such a box, so the writer leaves it out.
fn line(class: usize, b: [f64; 4], w: u32, h: u32) -> Option<String> {
    line_and_shift(class, b, w, h).map(|(l, _)| l)
}

/// [`line`], and the largest distance in pixels an edge of the box moved
/// by the six decimals written (what a reader computes back from them).
fn line_and_shift(
    class: usize,
    [x0, y0, x1, y1]: [f64; 4],
    w: u32,
    h: u32,
) -> Option<(String, f64)> {
    let (w, h) = (f64::from(w), f64::from(h));
    let (x0, x1) = (x0.clamp(0.0, w), x1.clamp(0.0, w));
    let (y0, y1) = (y0.clamp(0.0, h), y1.clamp(0.0, h));
    // `+ 0.0` turns -0.0 into 0.0.
    let [cx, cy, bw, bh] = [
        (x0 + x1) / 2.0 / w,
        (y0 + y1) / 2.0 / h,
        (x1 - x0) / w,
        (y1 - y0) / h,
    ]
    .map(|v| v.clamp(0.0, 1.0) + 0.0);
    // One line, and the values a reader reads back from its six decimals.
    let mut text = String::with_capacity(48);
    let _ = writeln!(text, "{class} {cx:.6} {cy:.6} {bw:.6} {bh:.6}");
    let mut read = text
        .split_ascii_whitespace()
        .skip(1)
        .map(|v| v.parse::<f64>().unwrap_or(0.0));
    let mut next = || read.next().unwrap_or(0.0);
    let (rcx, rcy, rbw, rbh) = (next(), next(), next(), next());
    // A side written as 0.000000: the box is gone.
    if rbw == 0.0 || rbh == 0.0 {
        return None;
    }
    let shift = [
        ((rcx - rbw / 2.0) * w - x0).abs(),
        ((rcy - rbh / 2.0) * h - y0).abs(),
        ((rcx + rbw / 2.0) * w - x1).abs(),
        ((rcy + rbh / 2.0) * h - y1).abs(),
    ]
    .into_iter()
    .fold(0.0, f64::max);
    Some((text, shift))
}

/// The suffix under which Ultralytics reads a chip stored with extension
/// `ext` (lower case), or `None` when it reads none (GIF). Ultralytics'
/// `IMG_FORMATS` is bmp, dng, jpeg, jpg, mpo, png, tif, tiff, webp, pfm,
/// heic; a `.jpe` JPEG is placed as `.jpg` (same bytes).
fn ultralytics_suffix(ext: &str) -> Option<&str> {
    match ext {
        "jpe" => Some("jpg"),
        "bmp" | "jpeg" | "jpg" | "png" | "tif" | "tiff" => Some(ext),
        _ => None,
    }
}

fn io_at(path: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io {
        path: path.into(),
        source,
    }
}

impl LabelWriter for YoloWriter {
    fn write_chip(
        &mut self,
        chip: &Chip,
        _georef: &ChipGeoref,
        out: &mut dyn Output,
    ) -> Result<()> {
        self.check_names()?;
        let (Some(w), Some(h)) = (chip.width, chip.height) else {
            return Err(Error::invalid(
                &chip.image,
                Some(&chip.id),
                "width",
                "the chip's size is unknown",
            ));
        };
        let mut text = String::new();
        for (k, label) in chip.labels.iter().enumerate() {
            let Geometry::BBox(b) = label.geometry else {
                return Err(Error::invalid(
                    &chip.image,
                    Some(&chip.id),
                    format!("labels[{k}].{}", label.geometry.field()),
                    "YOLO object detection holds boxes only",
                ));
            };
            let &class = self.index.get(&label.class_id).ok_or_else(|| {
                Error::invalid(
                    &chip.image,
                    Some(&chip.id),
                    format!("labels[{k}].class"),
                    format!("no class has id {}", label.class_id),
                )
            })?;
            match line_and_shift(class, b, w, h) {
                Some((l, shift)) => {
                    text += &l;
                    self.rounding.moved(shift);
                }
                None => self.left_out += 1,
            }
        }
        let split = chip.split();
        if !self.splits.iter().any(|s| s == split) {
            self.splits.push(split.to_owned());
        }
        let images = format!("yolo/{}", image_dir(split));
        let ext = chip
            .image
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        // Kept, a type Ultralytics cannot read (a GIF) is placed as a PNG
        // of the same pixels.
        let (suffix, chips) = match (self.chips, ultralytics_suffix(&ext)) {
            (ChipFormat::Keep, None) => ("", ChipFormat::Png),
            (chips, suffix) => (suffix.unwrap_or(""), chips),
        };
        let placed = place_image(chip, &images, suffix, chips, out)?;
        if placed.converted {
            self.converted += 1;
        }
        let image_name = placed.name;
        let ultralytics = format!("yolo/labels/{split}/{}.txt", chip.id);
        out.put(&ultralytics, text.into_bytes())
            .map_err(io_at(ultralytics.clone()))?;
        let darknet = format!("{images}/{}.txt", chip.id);
        out.alias(&darknet, &ultralytics).map_err(io_at(darknet))?;
        let list = split_list(split);
        out.append(
            &list,
            format!("{}/{image_name}\n", image_dir(split)).as_bytes(),
        )
        .map_err(io_at(list))
    }

    fn notes(&self) -> Vec<(&'static str, usize)> {
        vec![
            (
                match self.chips {
                    ChipFormat::Jpeg { .. } => "chips converted to JPEG",
                    _ => "chips converted to PNG",
                },
                self.converted,
            ),
            ("labels left out: zero width or height", self.left_out),
        ]
    }

    fn rounding(&self) -> Option<Rounding> {
        Some(self.rounding)
    }

    fn finish(&mut self, out: &mut dyn Output) -> Result<()> {
        self.check_names()?;
        // The train list exists even when no chip was stored.
        if self.splits.is_empty() {
            let list = split_list(labels_model::DEFAULT_SPLIT);
            out.append(&list, b"").map_err(io_at(list))?;
        }
        let names: String = self.names.iter().map(|n| format!("{n}\n")).collect();
        let mut data = format!("classes = {}\n", self.names.len());
        for split in self.sorted_splits() {
            data += &format!("{split} = {split}.txt\n");
        }
        data += "names = obj.names\nbackup = backup/\n";
        for (path, bytes) in [
            ("yolo/obj.names", names),
            ("yolo/obj.data", data),
            ("yolo/data.yaml", self.data_yaml()),
        ] {
            out.put(path, bytes.into_bytes())
                .map_err(io_at(path.into()))?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Reader

/// The files that make a folder a YOLO dataset.
struct Source {
    root: PathBuf,
    yaml: Option<PathBuf>,
    data: Option<PathBuf>,
}

fn has_ext(p: &Path, exts: &[&str]) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// The one file in `dir` with one of `exts`, if exactly one.
fn single_with_ext(dir: &Path, exts: &[&str]) -> Option<PathBuf> {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && has_ext(p, exts))
        .collect();
    match <[PathBuf; 1]>::try_from(found) {
        Ok([one]) => Some(one),
        Err(_) => None,
    }
}

const CLASS_FILES: [&str; 2] = ["obj.names", "classes.txt"];

fn locate(path: &Path) -> Result<Source> {
    if path.is_file() {
        let root = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let (mut yaml, mut data) = (None, None);
        if has_ext(path, &["yaml", "yml"]) {
            yaml = Some(path.to_path_buf());
        } else if has_ext(path, &["data"]) {
            data = Some(path.to_path_buf());
        } else if !path
            .file_name()
            .is_some_and(|n| CLASS_FILES.iter().any(|c| n == *c))
        {
            return Err(Error::invalid(
                path,
                None,
                "",
                "not a YOLO dataset file (data.yaml, obj.data, obj.names or classes.txt)",
            ));
        }
        return Ok(Source { root, yaml, data });
    }
    if !path.is_dir() {
        return Err(Error::invalid(path, None, "", "no such file or folder"));
    }
    let marks = |d: &Path| {
        ["data.yaml", "data.yml", "obj.data"]
            .iter()
            .chain(&CLASS_FILES)
            .any(|f| d.join(f).is_file())
    };
    let root = if !marks(path) && path.join("yolo").is_dir() {
        path.join("yolo")
    } else {
        path.to_path_buf()
    };
    let yaml = ["data.yaml", "data.yml"]
        .iter()
        .map(|f| root.join(f))
        .find(|p| p.is_file())
        .or_else(|| single_with_ext(&root, &["yaml", "yml"]));
    let data = Some(root.join("obj.data"))
        .filter(|p| p.is_file())
        .or_else(|| single_with_ext(&root, &["data"]));
    Ok(Source { root, yaml, data })
}

fn read_text(path: &Path) -> Result<String> {
    let bytes = labels_model::read_regular(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    String::from_utf8(bytes)
        .map_err(|e| Error::invalid(path, None, "", format!("not UTF-8 text: {e}")))
}

/// A YAML scalar as text.
fn scalar(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn get<'a>(doc: &'a Yaml, key: &str) -> Option<&'a Yaml> {
    doc.as_hash()?
        .get(&Yaml::String(key.to_owned()))
        .filter(|v| !v.is_null())
}

fn load_yaml(file: &Path) -> Result<Yaml> {
    let text = read_text(file)?;
    let docs = YamlLoader::load_from_str(&text).map_err(|e| {
        Error::invalid(
            file,
            None,
            format!("line {}", e.marker().line()),
            e.info().to_owned(),
        )
    })?;
    let doc = docs.into_iter().next().unwrap_or(Yaml::Null);
    if doc.as_hash().is_none() {
        return Err(Error::invalid(file, None, "", "not a YAML mapping"));
    }
    Ok(doc)
}

/// Class names from a data.yaml, if it has `names` or `nc`.
fn yaml_names(doc: &Yaml, file: &Path) -> Result<Option<Vec<String>>> {
    let bad = |field: String, msg: &str| Error::invalid(file, None, field, msg);
    match get(doc, "names") {
        Some(Yaml::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, v)| scalar(v).ok_or_else(|| bad(format!("names[{i}]"), "not a name")))
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(Yaml::Hash(m)) => {
            let mut pairs = Vec::with_capacity(m.len());
            for (k, v) in m {
                let key = k.as_i64().ok_or_else(|| {
                    bad(
                        format!("names.{}", scalar(k).unwrap_or_default()),
                        "class indices must be integers",
                    )
                })?;
                let name = scalar(v).ok_or_else(|| bad(format!("names.{key}"), "not a name"))?;
                pairs.push((key, name));
            }
            pairs.sort_by_key(|(k, _)| *k);
            for (i, (k, _)) in pairs.iter().enumerate() {
                if usize::try_from(*k).ok() != Some(i) {
                    return Err(bad(
                        format!("names.{k}"),
                        "class indices must be 0, 1, 2... without gaps",
                    ));
                }
            }
            Ok(Some(pairs.into_iter().map(|(_, n)| n).collect()))
        }
        Some(_) => Err(bad(
            "names".into(),
            "neither a list nor an {index: name} map",
        )),
        None => match get(doc, "nc") {
            None => Ok(None),
            Some(nc) => {
                let n = nc
                    .as_i64()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| bad("nc".into(), "not a class count"))?;
                Ok(Some((0..n).map(|i| format!("class_{i}")).collect()))
            }
        },
    }
}

/// Darknet's `key = value` lines.
fn parse_data(file: &Path) -> Result<Vec<(String, String)>> {
    Ok(read_text(file)?
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            let (k, v) = (k.trim(), v.trim());
            (!k.is_empty() && !k.starts_with('#') && !v.is_empty())
                .then(|| (k.to_owned(), v.to_owned()))
        })
        .collect())
}

/// A path named in a Darknet file: relative to the dataset root, or to its
/// parent's `data/` the way Darknet's own examples write them.
fn darknet_path(root: &Path, value: &str) -> PathBuf {
    let p = Path::new(value);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    let direct = root.join(p);
    if direct.exists() {
        return direct;
    }
    match value.strip_prefix("data/") {
        Some(rest) if root.join(rest).exists() => root.join(rest),
        _ => direct,
    }
}

/// Names from a names file: one per line, blank lines skipped.
fn names_file(file: &Path) -> Result<Vec<String>> {
    Ok(read_text(file)?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// The class names and the file they came from.
fn class_names(
    src: &Source,
    yaml: Option<&Yaml>,
    data: &[(String, String)],
) -> Result<(Vec<String>, PathBuf)> {
    if let (Some(doc), Some(file)) = (yaml, &src.yaml)
        && let Some(names) = yaml_names(doc, file)?
    {
        return Ok((names, file.clone()));
    }
    if let Some((_, v)) = data.iter().find(|(k, _)| k == "names") {
        let file = darknet_path(&src.root, v);
        if file.is_file() {
            return Ok((names_file(&file)?, file));
        }
    }
    for dir in [src.root.clone(), src.root.join("labels")] {
        for f in CLASS_FILES {
            let file = dir.join(f);
            if file.is_file() {
                return Ok((names_file(&file)?, file));
            }
        }
    }
    Err(Error::invalid(
        &src.root,
        None,
        "",
        "no class names found (data.yaml `names`, obj.data `names`, obj.names or classes.txt)",
    ))
}

/// Every image file under `dir`, sorted, recursively.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else if has_ext(&p, &IMAGE_EXTENSIONS) {
            out.push(p);
        }
    }
}

/// The images a list file names: one path per line, relative to the list's
/// folder (Ultralytics) or the dataset root (Darknet).
fn list_file(file: &Path, root: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let dir = file.parent().unwrap_or(Path::new(""));
    for l in read_text(file)?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        let beside = dir.join(l);
        out.push(if beside.is_file() {
            beside
        } else {
            darknet_path(root, l)
        });
    }
    Ok(())
}

/// A folder of images or a list file.
fn add_source(p: &Path, root: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    if p.is_dir() {
        walk(p, out);
    } else if p.is_file() {
        list_file(p, root, out)?;
    }
    Ok(())
}

fn yaml_strings(v: Option<&Yaml>) -> Vec<String> {
    match v {
        Some(Yaml::Array(a)) => a.iter().filter_map(scalar).collect(),
        Some(v) => scalar(v).into_iter().collect(),
        None => Vec::new(),
    }
}

/// Keys of a data.yaml that never name a split's images.
const NOT_SPLITS: [&str; 6] = ["path", "names", "nc", "download", "yaml_file", "channels"];

/// Keys of an obj.data that never name a split's list.
fn darknet_meta(key: &str) -> bool {
    matches!(key, "classes" | "names" | "backup" | "eval" | "results")
}

/// The dataset's images, each once, in the order they are named, each
/// with its split (`None`: train).
fn images(
    src: &Source,
    yaml: Option<&Yaml>,
    data: &[(String, String)],
) -> Result<Vec<(PathBuf, Option<String>)>> {
    let mut found: Vec<(PathBuf, Option<String>)> = Vec::new();
    let add = |p: &Path, split: Option<String>, found: &mut Vec<_>| -> Result<()> {
        let mut paths = Vec::new();
        add_source(p, &src.root, &mut paths)?;
        found.extend(paths.into_iter().map(|p| (p, split.clone())));
        Ok(())
    };
    if let Some(doc) = yaml.filter(|d| get(d, "train").is_some() || get(d, "val").is_some()) {
        let base = match get(doc, "path").and_then(scalar) {
            Some(p) if Path::new(&p).is_absolute() => PathBuf::from(p),
            Some(p) if src.root.join(&p).is_dir() => src.root.join(p),
            _ => src.root.clone(),
        };
        // train, val, test, then any other key naming folders or lists
        // that exist (labelstore writes its other splits so).
        let mut keys: Vec<String> = doc
            .as_hash()
            .into_iter()
            .flatten()
            .filter_map(|(k, _)| k.as_str().map(str::to_owned))
            .filter(|k| !NOT_SPLITS.contains(&k.as_str()))
            .filter(|k| {
                matches!(k.as_str(), "train" | "val" | "test") || {
                    let entries = yaml_strings(get(doc, k));
                    !entries.is_empty()
                        && entries.iter().all(|e| {
                            let p = base.join(e);
                            p.is_dir() || (p.is_file() && has_ext(&p, &["txt"]))
                        })
                }
            })
            .collect();
        keys.sort_by(|a, b| split_rank(a).cmp(&split_rank(b)));
        for key in keys {
            for entry in yaml_strings(get(doc, &key)) {
                add(&base.join(entry), split_from_subset(&key), &mut found)?;
            }
        }
    } else if data.iter().any(|(k, _)| !darknet_meta(k)) {
        for (k, v) in data.iter().filter(|(k, _)| !darknet_meta(k)) {
            add(
                &darknet_path(&src.root, v),
                split_from_subset(k),
                &mut found,
            )?;
        }
    } else if src.root.join("images").is_dir() {
        // images/<split>/... gives the split.
        let images = src.root.join("images");
        let mut paths = Vec::new();
        walk(&images, &mut paths);
        found.extend(paths.into_iter().map(|p| {
            let rel = p.strip_prefix(&images).unwrap_or(&p);
            let split = (rel.components().count() > 1)
                .then(|| rel.components().next())
                .flatten()
                .and_then(|c| split_from_subset(&c.as_os_str().to_string_lossy()));
            (p, split)
        }));
    } else {
        let mut paths = Vec::new();
        walk(&src.root, &mut paths);
        found.extend(paths.into_iter().map(|p| (p, None)));
    }
    let mut seen = HashSet::new();
    found.retain(|(p, _)| seen.insert(std::path::absolute(p).unwrap_or_else(|_| p.clone())));
    // Split order (train, val, test, the others), so that ids are given
    // in that order; the order found within each split.
    found.sort_by(|(_, a), (_, b)| {
        let rank = |s: &Option<String>| split_rank(s.as_deref().unwrap_or("train")).0;
        rank(a)
            .cmp(&rank(b))
            .then_with(|| a.as_deref().cmp(&b.as_deref()))
    });
    Ok(found)
}

/// The Ultralytics label path of an image path: its last `images` folder
/// replaced by `labels`, its extension by `.txt`.
fn ultralytics_label(image: &Path) -> Option<PathBuf> {
    let comps: Vec<Component<'_>> = image.components().collect();
    let last = comps.len().checked_sub(1)?;
    let i = comps[..last]
        .iter()
        .rposition(|c| matches!(c, Component::Normal(n) if *n == "images"))?;
    let mut out = PathBuf::new();
    for (k, c) in comps.iter().enumerate() {
        if k == i {
            out.push("labels");
        } else {
            out.push(c.as_os_str());
        }
    }
    out.set_extension("txt");
    Some(out)
}

/// The label file of an image: the Ultralytics way, then beside it.
fn label_file(root: &Path, image: &Path) -> Option<PathBuf> {
    let rel = image.strip_prefix(root).unwrap_or(image);
    ultralytics_label(rel)
        .map(|l| root.join(l))
        .filter(|l| l.is_file())
        .or_else(|| Some(image.with_extension("txt")).filter(|l| l.is_file()))
}

/// The labels of one label file, for an image of `w` × `h` pixels.
fn parse_labels(
    file: &Path,
    chip: &str,
    text: &str,
    classes: usize,
    w: u32,
    h: u32,
) -> Result<Vec<Label>> {
    let (wf, hf) = (f64::from(w), f64::from(h));
    let mut labels = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let bad = |msg: String| Error::invalid(file, Some(chip), format!("line {}", n + 1), msg);
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let Some((class, rest)) = tokens.split_first() else {
            continue;
        };
        let class_index = class.parse::<usize>().map_err(|_| {
            bad(format!(
                "class {} is not a class index (0, 1, 2...)",
                excerpt(class)
            ))
        })?;
        if class_index >= classes {
            return Err(bad(format!(
                "class index {class_index} is beyond the {classes} class names"
            )));
        }
        let numbers = rest
            .iter()
            .map(|t| t.parse::<f64>().ok().filter(|v| v.is_finite()))
            .collect::<Option<Vec<f64>>>()
            .ok_or_else(|| {
                bad(format!(
                    "{} holds something other than numbers",
                    excerpt(&rest.join(" "))
                ))
            })?;
        let mut attributes = Attributes::new();
        let bbox = match numbers.as_slice() {
            &[cx, cy, bw, bh, ref score @ ..] if score.len() <= 1 => {
                if bw < 0.0 || bh < 0.0 {
                    return Err(bad(format!("negative size {bw} x {bh}")));
                }
                if let Some(&s) = score.first() {
                    attributes.insert("score".into(), serde_json::Value::from(s));
                }
                [
                    (cx - bw / 2.0) * wf,
                    (cy - bh / 2.0) * hf,
                    (cx + bw / 2.0) * wf,
                    (cy + bh / 2.0) * hf,
                ]
                .map(denoise)
            }
            pts if pts.len() >= 6 && pts.len() % 2 == 0 => {
                let mut b = [
                    f64::INFINITY,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    f64::NEG_INFINITY,
                ];
                for p in pts.chunks_exact(2) {
                    b = [
                        b[0].min(p[0]),
                        b[1].min(p[1]),
                        b[2].max(p[0]),
                        b[3].max(p[1]),
                    ];
                }
                [b[0] * wf, b[1] * hf, b[2] * wf, b[3] * hf].map(denoise)
            }
            _ => {
                return Err(bad(format!(
                    "{} fields; expected `class cx cy w h` (5), a confidence after them (6), \
                     or a polygon `class x1 y1 x2 y2 x3 y3 ...`",
                    tokens.len()
                )));
            }
        };
        labels.push(Label {
            class_id: u32::try_from(class_index + 1).unwrap_or(u32::MAX),
            geometry: Geometry::BBox(bbox),
            attributes,
        });
    }
    Ok(labels)
}

fn read_yolo(path: &Path) -> Result<Project> {
    let src = locate(path)?;
    let yaml = src.yaml.as_deref().map(load_yaml).transpose()?;
    let data = src
        .data
        .as_deref()
        .map(parse_data)
        .transpose()?
        .unwrap_or_default();
    let (names, names_from) = class_names(&src, yaml.as_ref(), &data)?;
    let mut classes: Vec<Class> = Vec::with_capacity(names.len());
    for (i, name) in names.into_iter().enumerate() {
        let bad = |msg: String| Error::invalid(&names_from, None, format!("class {i}"), msg);
        if name.trim().is_empty() {
            return Err(bad("the class name is empty".into()));
        }
        if classes.iter().any(|c| c.name == name) {
            return Err(bad(format!("duplicate class name {name:?}")));
        }
        classes.push(Class {
            id: u32::try_from(i + 1).map_err(|_| bad("too many classes".into()))?,
            name,
            color: None,
        });
    }

    let mut ids = ChipIds::default();
    let mut chips = Vec::new();
    for (image, split) in images(&src, yaml.as_ref(), &data)? {
        let stem = image
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let id = ids.id_for(&stem);
        let (width, height) = labels_model::image_size(&image).map_err(|e| {
            Error::invalid(
                &image,
                Some(&id),
                "",
                format!("cannot read the image size: {e}"),
            )
        })?;
        let dims = u32::try_from(width)
            .ok()
            .zip(u32::try_from(height).ok())
            .filter(|&(w, h)| w > 0 && h > 0);
        let Some((w, h)) = dims else {
            return Err(Error::invalid(
                &image,
                Some(&id),
                "",
                format!("unusable image size {width}x{height}"),
            ));
        };
        let labels = match label_file(&src.root, &image) {
            Some(file) => parse_labels(&file, &id, &read_text(&file)?, classes.len(), w, h)?,
            None => Vec::new(),
        };
        let rel = image
            .strip_prefix(&src.root)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| image.clone());
        let mut chip = Chip::new(id, rel);
        chip.split = split;
        (chip.width, chip.height) = (Some(w), Some(h));
        chip.saved_empty = labels.is_empty();
        chip.labels = labels;
        chips.push(chip);
    }
    let manifest_path = src
        .yaml
        .clone()
        .or_else(|| src.data.clone())
        .unwrap_or(names_from);
    Ok(Project {
        name: folder_name(&src.root),
        labeling_type: LabelingType::ObjectDetection,
        srid: None,
        classes,
        chips,
        base_dir: src.root,
        manifest_path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use labels_model::{GeorefSource, MemoryOutput};
    use serde_json::{Value, json};

    fn none() -> ChipGeoref {
        ChipGeoref {
            source: GeorefSource::None,
            transform: None,
            epsg: None,
        }
    }

    /// A PNG header saying `w` × `h` (enough for the size probe).
    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend_from_slice(&w.to_be_bytes());
        b.extend_from_slice(&h.to_be_bytes());
        b.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
        b
    }

    fn project() -> Project {
        let class = |id, name: &str| Class {
            id,
            name: name.into(),
            color: None,
        };
        let label = |class_id, b: [f64; 4], attrs: Value| Label {
            class_id,
            geometry: Geometry::BBox(b),
            attributes: attrs.as_object().cloned().unwrap_or_default(),
        };
        let mut a = Chip::new("a", "chips/a.png");
        (a.width, a.height) = (Some(32), Some(32));
        a.labels = vec![
            label(7, [1.5, 2.25, 10.0, 12.125], json!({"truncated": true})),
            label(1, [0.0, 0.0, 32.0, 32.0], Value::Null),
            label(2, [20.0, 20.0, 32.0, 31.0], Value::Null),
        ];
        let mut e = Chip::new("e", "chips/e.png");
        (e.width, e.height) = (Some(16), Some(8));
        e.saved_empty = true;
        let mut b = Chip::new("b.v2", "chips/b.v2.png");
        (b.width, b.height) = (Some(3), Some(7));
        b.labels = vec![label(2, [0.1, 0.2, 1.0, 7.0], Value::Null)];
        Project {
            name: "p".into(),
            labeling_type: LabelingType::ObjectDetection,
            srid: None,
            classes: vec![
                class(7, "vélo lourd"),
                class(1, "yes"),
                class(2, "a \"b\": c"),
            ],
            chips: vec![a, e, b],
            base_dir: PathBuf::new(),
            manifest_path: PathBuf::from("p/project.json"),
        }
    }

    fn write(p: &Project) -> MemoryOutput {
        let mut out = MemoryOutput::default();
        for c in &p.chips {
            let (w, h) = (c.width.unwrap_or(1), c.height.unwrap_or(1));
            out.put(&c.image.to_string_lossy(), png(w, h)).unwrap();
        }
        let mut w = YoloFormat.writer(&Project {
            chips: Vec::new(),
            ..p.clone()
        });
        for c in &p.chips {
            w.write_chip(c, &none(), &mut out).unwrap();
        }
        w.finish(&mut out).unwrap();
        out
    }

    fn text(out: &MemoryOutput, path: &str) -> String {
        String::from_utf8(out.0[path].clone()).unwrap()
    }

    #[test]
    fn writes_exact_bytes() {
        let out = write(&project());
        let a = "2 0.179688 0.224609 0.265625 0.308594\n\
                 0 0.500000 0.500000 1.000000 1.000000\n\
                 1 0.812500 0.796875 0.375000 0.343750\n";
        assert_eq!(text(&out, "yolo/labels/train/a.txt"), a);
        assert_eq!(text(&out, "yolo/images/train/a.txt"), a);
        assert_eq!(text(&out, "yolo/labels/train/e.txt"), "");
        assert_eq!(text(&out, "yolo/images/train/e.txt"), "");
        assert_eq!(
            text(&out, "yolo/labels/train/b.v2.txt"),
            "1 0.183333 0.514286 0.300000 0.971429\n"
        );
        assert_eq!(out.0["yolo/images/train/b.v2.png"], png(3, 7));
        assert_eq!(
            text(&out, "yolo/train.txt"),
            "images/train/a.png\nimages/train/e.png\nimages/train/b.v2.png\n"
        );
        assert_eq!(
            text(&out, "yolo/obj.names"),
            "yes\na \"b\": c\nvélo lourd\n"
        );
        assert_eq!(
            text(&out, "yolo/obj.data"),
            "classes = 3\ntrain = train.txt\nnames = obj.names\nbackup = backup/\n"
        );
        assert_eq!(
            text(&out, "yolo/data.yaml"),
            "# Ultralytics YOLO dataset, written by labelstore.\n\
             # No `path:` key: Ultralytics takes this file's folder as the dataset root.\n\
             # No `val` split: Ultralytics requires the key, so it names the `train` images.\n\
             train: images/train\n\
             val: images/train\n\
             nc: 3\n\
             names:\n  0: \"yes\"\n  1: \"a \\\"b\\\": c\"\n  2: \"vélo lourd\"\n"
        );
        // 3 chips + 3 aliases + 6 label files + train.txt, obj.names, obj.data, data.yaml
        assert_eq!(out.0.len(), 3 + 3 + 6 + 4);
    }

    #[test]
    fn one_folder_list_and_key_per_split() {
        let mut p = project();
        p.chips[0].split = Some("val".into());
        p.chips[2].split = Some("holdout".into());
        let mut c = p.chips[1].clone();
        c.id = "e2".into();
        c.split = Some("test".into());
        p.chips.push(c);
        let out = write(&p);
        let yaml = text(&out, "yolo/data.yaml");
        assert!(
            yaml.contains(
                "train: images/train\nval: images/val\ntest: images/test\nholdout: images/holdout\nnc: 3\n"
            ),
            "{yaml}"
        );
        assert!(!yaml.contains("split: Ultralytics requires"), "{yaml}");
        assert_eq!(
            text(&out, "yolo/obj.data"),
            "classes = 3\ntrain = train.txt\nval = val.txt\ntest = test.txt\n\
             holdout = holdout.txt\nnames = obj.names\nbackup = backup/\n"
        );
        assert_eq!(text(&out, "yolo/val.txt"), "images/val/a.png\n");
        assert_eq!(text(&out, "yolo/holdout.txt"), "images/holdout/b.v2.png\n");
        for f in [
            "yolo/images/val/a.png",
            "yolo/labels/val/a.txt",
            "yolo/images/val/a.txt",
            "yolo/images/test/e2.png",
            "yolo/labels/holdout/b.v2.txt",
        ] {
            assert!(out.0.contains_key(f), "{f}");
        }
        assert!(!out.0.keys().any(|k| k.starts_with("yolo/images/train/a")));

        // Read back through data.yaml, obj.data, and the folders alone.
        let dir = store(&p);
        let splits = |p: &Project| -> Vec<(String, String)> {
            let mut v: Vec<_> = p
                .chips
                .iter()
                .map(|c| (c.id.clone(), c.split().to_owned()))
                .collect();
            v.sort();
            v
        };
        let want = splits(&p);
        assert_eq!(splits(&YoloFormat.read(dir.path()).unwrap()), want);
        std::fs::remove_file(dir.path().join("yolo/data.yaml")).unwrap();
        assert_eq!(splits(&YoloFormat.read(dir.path()).unwrap()), want);
        std::fs::remove_file(dir.path().join("yolo/obj.data")).unwrap();
        assert_eq!(splits(&YoloFormat.read(dir.path()).unwrap()), want);

        // Only val: Ultralytics still needs `train`, which names val's images.
        let mut only_val = project();
        for c in &mut only_val.chips {
            c.split = Some("val".into());
        }
        let yaml = text(&write(&only_val), "yolo/data.yaml");
        assert!(
            yaml.contains("train: images/val\nval: images/val\nnc"),
            "{yaml}"
        );
    }

    #[test]
    fn the_same_file_name_in_two_split_folders_gets_unique_ids() {
        let dir = folder(&[
            ("classes.txt", b"x\n".to_vec()),
            ("images/val/1.png", png(4, 4)),
            ("images/test/1.png", png(4, 4)),
            ("images/train/1.png", png(4, 4)),
            ("images/train/2.png", png(4, 4)),
            ("labels/val/1.txt", b"0 0.5 0.5 0.5 0.5\n".to_vec()),
        ]);
        let p = YoloFormat.read(dir.path()).unwrap();
        let got: Vec<(&str, &str, usize)> = p
            .chips
            .iter()
            .map(|c| (c.id.as_str(), c.split(), c.labels.len()))
            .collect();
        assert_eq!(
            got,
            [
                ("1", "train", 0),
                ("2", "train", 0),
                ("1-2", "val", 1),
                ("1-3", "test", 0)
            ]
        );
    }

    #[test]
    fn the_shift_is_what_a_reader_computes_back() {
        // 1.5 .. 10 and 2.25 .. 12.125 on 32 px: centre 0.179688 (5.75 px
        // is 0.1796875), width 0.265625, so the edges come back as 1.499984
        // and 9.999984 (x) and the largest shift is 0.000016 px.
        let (l, shift) = line_and_shift(0, [1.5, 2.25, 10.0, 12.125], 32, 32).unwrap();
        assert_eq!(l, "0 0.179688 0.224609 0.265625 0.308594\n");
        assert!((shift - 0.000016).abs() < 1e-12, "{shift}");
        // Boxes on a grid the six decimals hold exactly do not move.
        let (_, shift) = line_and_shift(0, [0.0, 0.0, 16.0, 8.0], 32, 32).unwrap();
        assert_eq!(shift, 0.0);
    }

    #[test]
    fn lines_are_clamped_and_never_negative_zero() {
        assert_eq!(
            line(0, [-0.0, -1.0, 40.0, 8.0], 32, 8).unwrap(),
            "0 0.500000 0.500000 1.000000 1.000000\n"
        );
        // Zero wide at six decimals: left out.
        assert_eq!(line(3, [0.0, 0.0, 1e-9, 1e-9], 10, 10), None);
    }

    #[test]
    fn empty_store() {
        let mut p = project();
        p.chips.clear();
        p.classes.clear();
        let out = write(&p);
        assert_eq!(text(&out, "yolo/train.txt"), "");
        assert_eq!(text(&out, "yolo/obj.names"), "");
        assert!(text(&out, "yolo/data.yaml").ends_with("nc: 0\nnames: {}\n"));
    }

    #[test]
    fn line_breaks_in_class_names_are_refused() {
        let mut p = project();
        p.classes[1].name = "two\nlines".into();
        let mut out = MemoryOutput::default();
        let mut w = YoloFormat.writer(&p);
        let msg = w.finish(&mut out).unwrap_err().to_string();
        assert_eq!(
            msg,
            "p/project.json: classes[1].name: \"two\\nlines\" has a line break, \
             which YOLO's obj.names (one name per line) cannot hold"
        );
    }

    fn store(p: &Project) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, bytes) in write(p).0 {
            let f = dir.path().join(path);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, bytes).unwrap();
        }
        dir
    }

    /// Per chip: its id and its (class name, box) labels.
    type Boxes = Vec<(String, Vec<(String, [f64; 4])>)>;

    fn boxes(p: &Project) -> Boxes {
        p.chips
            .iter()
            .map(|c| {
                let labels = c
                    .labels
                    .iter()
                    .map(|l| {
                        let Geometry::BBox(b) = l.geometry else {
                            panic!()
                        };
                        (p.class(l.class_id).unwrap().name.clone(), b)
                    })
                    .collect();
                (c.id.clone(), labels)
            })
            .collect()
    }

    fn assert_close(got: &Project, want: &Project, tolerance: f64) {
        let (g, w) = (boxes(got), boxes(want));
        assert_eq!(g.len(), w.len());
        for ((gid, gl), (wid, wl)) in g.iter().zip(&w) {
            assert_eq!(gid, wid);
            assert_eq!(gl.len(), wl.len(), "{gid}");
            for ((gn, gb), (wn, wb)) in gl.iter().zip(wl) {
                assert_eq!(gn, wn);
                assert!(
                    gb.iter().zip(wb).all(|(a, b)| (a - b).abs() <= tolerance),
                    "{gb:?} {wb:?}"
                );
            }
        }
    }

    #[test]
    fn round_trip_from_every_entry_point() {
        let p = project();
        let dir = store(&p);
        for entry in [
            dir.path().to_path_buf(),
            dir.path().join("yolo"),
            dir.path().join("yolo/data.yaml"),
            dir.path().join("yolo/obj.data"),
        ] {
            let back = YoloFormat.read(&entry).unwrap();
            let names: Vec<_> = back
                .classes
                .iter()
                .map(|c| (c.id, c.name.as_str()))
                .collect();
            assert_eq!(names, [(1, "yes"), (2, "a \"b\": c"), (3, "vélo lourd")]);
            assert_eq!(back.base_dir, dir.path().join("yolo"));
            // Directory order: a, b.v2, e (sorted), or the train.txt order.
            let mut want = p.clone();
            if entry.ends_with("obj.data") {
                assert_eq!(back.manifest_path, dir.path().join("yolo/obj.data"));
            } else {
                want.chips.sort_by(|a, b| a.id.cmp(&b.id));
                assert_eq!(back.manifest_path, dir.path().join("yolo/data.yaml"));
            }
            assert_close(&back, &want, 0.75e-6 * 32.0);
            for (g, w) in back.chips.iter().zip(&want.chips) {
                assert_eq!((g.width, g.height), (w.width, w.height));
                assert!(back.base_dir.join(&g.image).is_file());
                assert_eq!(g.saved_empty, w.labels.is_empty());
                assert!(g.labels.iter().all(|l| l.attributes.is_empty()));
            }
            assert_eq!(back.chips[0].image, Path::new("images/train/a.png"));
        }
    }

    /// Writes `files` (path, content) into a new folder.
    fn folder(files: &[(&str, Vec<u8>)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, bytes) in files {
            let f = dir.path().join(path);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, bytes).unwrap();
        }
        dir
    }

    #[test]
    fn reads_datasets_made_elsewhere() {
        // LabelImg: images, labels and classes.txt side by side; no data.yaml.
        let dir = folder(&[
            ("classes.txt", b"dog\r\ncat\r\n\r\n".to_vec()),
            ("x 1.jpg", png(100, 50)),
            (
                "x 1.txt",
                b"1 0.5 0.5 0.2 0.4\n\n0 0.1 0.1 0.2 0.2 0.9\n".to_vec(),
            ),
            ("y.png", png(10, 10)),
        ]);
        let p = YoloFormat.read(dir.path()).unwrap();
        assert_eq!(
            p.classes
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            ["dog", "cat"]
        );
        assert_eq!(p.chips.len(), 2);
        assert_eq!(p.chips[0].id, "x_1");
        assert_eq!(p.chips[0].labels[0].class_id, 2);
        assert_eq!(
            p.chips[0].labels[0].geometry,
            Geometry::BBox([40.0, 15.0, 60.0, 35.0])
        );
        assert_eq!(p.chips[0].labels[1].attributes["score"], json!(0.9));
        assert!(p.chips[1].labels.is_empty() && p.chips[1].saved_empty);
        assert_eq!(p.manifest_path, dir.path().join("classes.txt"));

        // Roboflow: list names, train/images <-> train/labels, a polygon line,
        // a `path:` of its own.
        let dir = folder(&[
            (
                "ds/data.yaml",
                b"path: .\ntrain: train/images\nval: ../valid/images\nnc: 2\nnames: ['a', 'b']\n"
                    .to_vec(),
            ),
            ("ds/train/images/p.jpg", png(10, 20)),
            (
                "ds/train/labels/p.txt",
                b"1 0.1 0.1 0.5 0.1 0.5 0.6\n".to_vec(),
            ),
        ]);
        let p = YoloFormat.read(&dir.path().join("ds")).unwrap();
        assert_eq!(p.chips.len(), 1);
        assert_eq!(p.chips[0].image, Path::new("train/images/p.jpg"));
        assert_eq!(
            p.chips[0].labels[0].geometry,
            Geometry::BBox([1.0, 2.0, 5.0, 12.0])
        );

        // Darknet: obj.data with data/ paths, labels beside the images.
        let dir = folder(&[
            (
                "obj.data",
                b"classes= 1\ntrain  = data/train.txt\nnames = data/obj.names\nbackup = backup/\n"
                    .to_vec(),
            ),
            ("obj.names", b"thing\n".to_vec()),
            ("train.txt", b"data/obj_train_data/q.png\n".to_vec()),
            ("obj_train_data/q.png", png(4, 4)),
            ("obj_train_data/q.txt", b"0 0.5 0.5 0.5 0.5\n".to_vec()),
        ]);
        let p = YoloFormat.read(dir.path()).unwrap();
        assert_eq!(p.chips[0].image, Path::new("obj_train_data/q.png"));
        assert_eq!(
            p.chips[0].labels[0].geometry,
            Geometry::BBox([1.0, 1.0, 3.0, 3.0])
        );

        // Ultralytics with a names map and images without labels.
        let dir = folder(&[
            (
                "data.yaml",
                b"train: images/train\nval: images/val\nnames:\n  0: person\n  1: 'bi cycle'\n"
                    .to_vec(),
            ),
            ("images/train/r.png", png(8, 8)),
            ("images/val/s.png", png(8, 8)),
            ("labels/train/r.txt", b"1 0.5 0.5 1 1\n".to_vec()),
        ]);
        let p = YoloFormat.read(dir.path()).unwrap();
        assert_eq!(p.classes[1].name, "bi cycle");
        assert_eq!(p.chips.len(), 2);
        assert_eq!(p.chips[0].labels[0].class_id, 2);
        assert!(p.chips[1].labels.is_empty());
    }

    fn error(files: &[(&str, Vec<u8>)]) -> String {
        let dir = folder(files);
        let e = YoloFormat.read(dir.path()).unwrap_err();
        let d = e.diagnostics();
        assert_eq!(d.len(), 1, "{e}");
        let file = d[0].file.strip_prefix(dir.path()).unwrap_or(&d[0].file);
        let chip = d[0]
            .chip
            .as_deref()
            .map(|c| format!(" chip {c:?}:"))
            .unwrap_or_default();
        format!("{}:{chip} {}: {}", file.display(), d[0].field, d[0].message)
    }

    #[test]
    fn reader_errors_name_file_and_line() {
        let base = |label: &str| {
            vec![
                ("obj.names", b"a\nb\n".to_vec()),
                ("images/x.png", png(4, 4)),
                ("labels/x.txt", label.as_bytes().to_vec()),
            ]
        };
        let cases = [
            (
                "0 0.5 0.5 0.5\n",
                "labels/x.txt: chip \"x\": line 1: 4 fields; expected `class cx cy w h` (5), a confidence after them (6), or a polygon `class x1 y1 x2 y2 x3 y3 ...`",
            ),
            (
                "\n2 0.5 0.5 0.5 0.5\n",
                "labels/x.txt: chip \"x\": line 2: class index 2 is beyond the 2 class names",
            ),
            (
                "a 0.5 0.5 0.5 0.5\n",
                "labels/x.txt: chip \"x\": line 1: class \"a\" is not a class index (0, 1, 2...)",
            ),
            (
                "-1 0.5 0.5 0.5 0.5\n",
                "labels/x.txt: chip \"x\": line 1: class \"-1\" is not a class index (0, 1, 2...)",
            ),
            (
                "0 0.5 0.5 nan 0.5\n",
                "labels/x.txt: chip \"x\": line 1: \"0.5 0.5 nan 0.5\" holds something other than numbers",
            ),
            (
                "1 0.5 0.5 -0.5 0.5\n",
                "labels/x.txt: chip \"x\": line 1: negative size -0.5 x 0.5",
            ),
        ];
        for (label, want) in cases {
            assert_eq!(error(&base(label)), want, "{label:?}");
        }
        let mut bad_text = base("");
        bad_text[2].1 = vec![0xff, 0xfe];
        assert!(error(&bad_text).starts_with("labels/x.txt: : not UTF-8 text"));
        let mut broken = base("");
        broken[1].1 = b"not an image".to_vec();
        assert!(
            error(&broken).starts_with("images/x.png: chip \"x\": : cannot read the image size")
        );
        assert_eq!(
            error(&[("data.yaml", b"names: [a\n".to_vec())]),
            "data.yaml: line 2: while parsing a flow sequence, expected ',' or ']'"
        );
        assert_eq!(
            error(&[("data.yaml", b"train: x\nnames: {0: a, 2: b}\n".to_vec())]),
            "data.yaml: names.2: class indices must be 0, 1, 2... without gaps"
        );
        assert_eq!(
            error(&[("data.yaml", b"- a\n".to_vec())]),
            "data.yaml: : not a YAML mapping"
        );
        assert_eq!(
            error(&[("obj.names", b"a\nb\na\n".to_vec())]),
            "obj.names: class 2: duplicate class name \"a\""
        );
        assert_eq!(
            error(&[("images/x.png", png(4, 4))]),
            ": : no class names found (data.yaml `names`, obj.data `names`, obj.names or classes.txt)"
        );
    }

    #[test]
    fn label_paths() {
        assert_eq!(
            ultralytics_label(Path::new("a/images/train/images/x.y.png")),
            Some(PathBuf::from("a/images/train/labels/x.y.txt"))
        );
        assert_eq!(ultralytics_label(Path::new("a/x.png")), None);
        assert_eq!(ultralytics_label(Path::new("images")), None);
    }
}
