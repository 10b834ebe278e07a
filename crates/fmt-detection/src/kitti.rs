//! Format `kitti`: KITTI object labels (`label_2/*.txt`), the 2D boxes of
//! the KITTI object benchmark, laid out the way Datumaro's `kitti_detection`
//! importer and NVIDIA TAO-style loaders read them.
//!
//! # Layout written (FORMATS.md §1.3, §6)
//!
//! ```text
//! kitti/<split>/label_2/<chip id>.txt    one per stored chip; empty for a chip saved empty
//! kitti/<split>/image_2/<chip id>.<ext>  the stored chip again (Output::alias: same bytes),
//!                                        or `.png` / `.jpg` with ChipFormat
//! kitti/ImageSets/<split>.txt            the split's chip ids, one a line, in store order
//! kitti/dataset_meta.json                Datumaro's class table, in class-id order
//! ```
//!
//! * `<split>` is the chip's split (`train` when it names none), one folder
//!   per split: Datumaro finds subsets by globbing `**/label_2` and takes
//!   the folder above as the subset, so its subsets are the project's
//!   splits (`train`, `val`, ...), with `image_2/` beside `label_2/`; it
//!   reads `dataset_meta.json` from the folder above the subsets
//!   (`kitti/`). A project without splits is all `kitti/train/` (before
//!   splits, labelstore wrote `kitti/training/`, the KITTI benchmark's
//!   name; a writer places each chip as it comes, so the train split has
//!   one folder whether or not other splits follow, and Datumaro would
//!   call `training/` a subset `training`). Its *auto-detection* (`detect_dataset`) additionally
//!   wants some label file whose name holds `_` (its pattern is
//!   `**/label_2/*_*.txt`): a store whose chip ids all lack `_` imports
//!   with the format named (`import_from(path, "kitti_detection")`) but is
//!   not auto-detected.
//! * `ImageSets/<split>.txt` are split lists as in the KITTI object layout
//!   of mmdetection3d and OpenPCDet (which, though, keep every labelled
//!   split in one `training/` folder: labelstore follows Datumaro's folder
//!   per subset); they also keep the chips' order for the reader. A store of no chip has an empty
//!   `ImageSets/train.txt`.
//! * Images keep their stored extension (`image_2/a.tif`): chips are never
//!   re-encoded.
//! * `dataset_meta.json` (`{"labels": [...]}`, plus `label_map` and
//!   `segmentation_colors` when some class has a colour) makes Datumaro
//!   list every class in labelstore's order, used or not, and carries the
//!   colours.
//!
//! # The lines
//!
//! Exactly 15 whitespace-separated columns (no 16th `score`: FORMATS.md
//! §1.3, cvat #6638, TAO rejects 16):
//!
//! ```text
//! type truncated occluded alpha left top right bottom height width length x y z rotation_y
//! ship 1 0 0 10.5 20 110 64.25 0 0 0 0 0 0 0
//! ```
//!
//! * The box is labelstore's pixel-edge box `[x0, y0, x1, y1]` as it is
//!   (KITTI's boxes are 0-based float pixel coordinates), written in the
//!   shortest form that reads back to the same number: exact both ways.
//! * The 3D fields (alpha, dimensions, location, rotation_y) are `0`: the
//!   "zeros" filler NVIDIA TAO/DIGITS expect for 2D training. (FORMATS.md
//!   recommends making the filler configurable; the devkit's DontCare
//!   sentinels are the alternative, not offered yet.)
//! * `truncated` (a float, 0 to 1): from the `truncated` attribute, `true`
//!   = 1, `false`/absent/`null` = 0, a number as it is; anything else is an
//!   error. `occluded` (an integer, 0 visible, 1 partly, 2 largely,
//!   3 unknown): from the `occluded` attribute, `true` = 1, `false`/absent
//!   = 0, an integer as it is; anything else is an error. Other attributes
//!   (`difficult`, `pose`, `score`, free keys) are not written.
//!
//! # Class names
//!
//! KITTI's type is one whitespace-free token, so a class name is written
//! with every white-space or control character, and `%`, percent-encoded as
//! its UTF-8 bytes (`vélo lourd` → `vélo%20lourd`, `50%` → `50%25`); other
//! characters, non-ASCII included, are written as they are. The reader
//! decodes `%XX` sequences (a token whose decoding is not UTF-8 is kept as
//! it is), so every name survives; other tools see the encoded token.
//! Class ids do not survive: classes come back as 1, 2, 3... in the order
//! of `dataset_meta.json`, then of first use. A class named `DontCare` is
//! written as it is, and means what KITTI says to its evaluation.
//!
//! # Reading
//!
//! `read(path)` takes the store root (holding `kitti/`), the KITTI folder
//! (holding `<subset>/label_2/`, e.g. `training/` or Datumaro's
//! `default/`), or a subset folder (holding `label_2/`). Lines may have 15
//! or 16 columns (a 16th is the `score` attribute); blank lines are
//! skipped; the 3D fields are checked to be numbers and dropped. `truncated`
//! reads back absent when 0, `true` when 1, a number otherwise; `occluded`
//! absent when 0, the integer level otherwise (DontCare's -1 included). Chip ids are label-file stems; an image in `image_2/` without
//! a label file (Datumaro writes none for unlabelled chips) is a chip
//! without labels, and so is an empty label file: both read as saved
//! empty.
//!
//! Every subset folder is a split, named after the folder: lower-cased,
//! any character outside `a-z 0-9 _ -` replaced by `_`, at most 32
//! characters (`training` stays `training`, Datumaro's `default` stays
//! `default`); a chip of the split `train` reads back naming no split.
//! Subsets are taken train, val, trainval, test, then the others by name;
//! a subset's chips come in the order of its list
//! (`ImageSets/<subset>.txt`; for a dataset of one subset without its own
//! list, every list, train, val, trainval, test, then the others), then
//! the rest by id. Chip ids are the file stems, unique across splits by
//! this rule: the first subset (in that order) holding a stem keeps it as
//! the id; in each later one the chip becomes `<split>_<stem>`, or
//! `<split>_<stem>_2`, `_3`... when that is some other chip's stem or id.
//! KITTI records no image size, no project name and no CRS: the chips'
//! width and height are left to be read from the images, and the project
//! is named after the folder.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use labels_model::{
    Attributes, Chip, ChipFormat, ChipGeoref, DEFAULT_SPLIT, Error, Fidelity, Geometry,
    LabelFormat, LabelWriter, LabelingType, LeftBehind, Output, Project, Result, is_split_name,
};

use raster_georef::excerpt;

use crate::common::{
    ClassTable, DATASET_META, ImageIndex, ProjectBuilder, RawBox, check_box, chip_files,
    dataset_name, entries, fmt_num, format_folder, io_err, list_dir, meta_json, place_image,
    read_meta, read_split_lists, read_text, strip_ext,
};

/// The format's folder in a store.
const DIR: &str = "kitti";
/// The split lists' folder.
const LISTS: &str = "kitti/ImageSets";

/// The format's name on the command line and in store manifests.
const NAME: &str = "kitti";

/// KITTI object labels (`kitti/`): see the module documentation for the
/// layout and conventions.
#[derive(Debug, Clone, Copy, Default)]
pub struct KittiFormat;

impl LabelFormat for KittiFormat {
    fn name(&self) -> &'static str {
        NAME
    }

    fn labeling_types(&self) -> &'static [LabelingType] {
        &[LabelingType::ObjectDetection]
    }

    fn layout(&self) -> &'static str {
        "kitti/<split>/label_2/<id>.txt, kitti/<split>/image_2/, kitti/ImageSets/<split>.txt"
    }

    /// A folder (or a store's `kitti/`) holding `label_2/`, or subset
    /// folders holding one (`training/label_2`, `<split>/label_2`).
    fn recognizes(&self, path: &Path) -> bool {
        let dir = format_folder(path, DIR);
        dir.join("label_2").is_dir() || entries(&dir).iter().any(|d| d.join("label_2").is_dir())
    }

    fn writer(&self, header: &Project) -> Box<dyn LabelWriter> {
        self.writer_placing(header, ChipFormat::Keep)
    }

    /// `<split>/image_2/<chip id>.png` or `.jpg` as `chips` says.
    fn writer_placing(&self, header: &Project, chips: ChipFormat) -> Box<dyn LabelWriter> {
        Box::new(KittiWriter {
            classes: ClassTable::new(header),
            any_chip: false,
            chips,
        })
    }

    fn read(&self, root: &Path) -> Result<Project> {
        read_kitti(root).map(|(project, _)| project)
    }

    /// What is not brought over, counted: labels with 3-D fields
    /// (dimensions, location, rotation_y other than `0` and the devkit's
    /// `-1`, `-1000`, `-10` for none) and labels with an observation angle
    /// (`alpha` other than `0` and `-10`).
    fn read_dataset(&self, root: &Path) -> Result<(Project, LeftBehind)> {
        read_kitti(root)
    }

    /// One folder per split (`<split>/label_2`), read back as the split.
    fn keeps_splits(&self) -> bool {
        true
    }

    /// Boxes are exact; class names and colours survive, ids do not;
    /// `truncated` and `occluded` survive, except that `false`/0 come back
    /// absent, a `truncated` of 1 comes back `true` and an `occluded` of
    /// `true` comes back `1`; chips saved empty and splits survive. The
    /// project's name and CRS do not.
    fn fidelity(&self) -> Fidelity {
        Fidelity {
            pixel_tolerance: None,
            class_ids: false,
            attributes: Some(&["truncated", "occluded"]),
            empty_chips: true,
        }
    }

    /// The module docs' rules: a truncation of 0 comes back absent, of 1
    /// as `true`, another number as it is; an occlusion level of 0 absent,
    /// another as its integer.
    fn expected_attributes(&self, written: &Attributes) -> Attributes {
        let mut out = Attributes::new();
        if let Ok(t) = truncated_attr(written) {
            if t == 1.0 {
                out.insert("truncated".into(), true.into());
            } else if t != 0.0 {
                out.insert("truncated".into(), t.into());
            }
        }
        if let Ok(o) = occluded_attr(written)
            && o != 0
        {
            out.insert("occluded".into(), o.into());
        }
        out
    }
}

/// A class name as a KITTI type token: white space, control characters
/// and `%` percent-encoded (see the module docs).
pub(crate) fn encode_class(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c == '%' || c.is_whitespace() || c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out += &format!("%{b:02X}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A KITTI type token as a class name: `%XX` sequences decoded; a token
/// whose decoding is not UTF-8 is kept as it is.
pub(crate) fn decode_class(token: &str) -> String {
    if !token.contains('%') {
        return token.to_owned();
    }
    let bytes = token.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| token.to_owned())
}

#[derive(Debug)]
struct KittiWriter {
    classes: ClassTable,
    /// Whether a chip was written (else `finish` writes an empty train list).
    any_chip: bool,
    /// The file type of the images placed in `image_2/`.
    chips: ChipFormat,
}

fn truncated_attr(a: &Attributes) -> std::result::Result<f64, String> {
    match a.get("truncated") {
        None | Some(serde_json::Value::Null) => Ok(0.0),
        Some(serde_json::Value::Bool(b)) => Ok(if *b { 1.0 } else { 0.0 }),
        Some(serde_json::Value::Number(n)) => n
            .as_f64()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("{n} is not a finite number")),
        Some(other) => Err(format!("expected true, false or a number, not {other}")),
    }
}

fn occluded_attr(a: &Attributes) -> std::result::Result<i64, String> {
    match a.get("occluded") {
        None | Some(serde_json::Value::Null) => Ok(0),
        Some(serde_json::Value::Bool(b)) => Ok(i64::from(*b)),
        Some(serde_json::Value::Number(n)) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|v| v.fract() == 0.0 && v.abs() < 1e15)
                    .map(|v| v as i64)
            })
            .ok_or_else(|| format!("{n} is not an integer occlusion level")),
        Some(other) => Err(format!("expected true, false or an integer, not {other}")),
    }
}

impl LabelWriter for KittiWriter {
    fn write_chip(
        &mut self,
        chip: &Chip,
        _georef: &ChipGeoref,
        out: &mut dyn Output,
    ) -> Result<()> {
        let split = chip.split();
        let label_path = format!("{DIR}/{split}/label_2/{}.txt", chip.id);
        let (_, ext) = chip_files(chip, &label_path)?;
        let id = chip.id.as_str();
        let bad = |field: String, msg: String| Error::invalid(&label_path, Some(id), field, msg);
        if !is_split_name(split) {
            return Err(bad("split".into(), "not a split name".into()));
        }
        let mut text = String::new();
        for (i, label) in chip.labels.iter().enumerate() {
            let field = |f: &str| format!("labels[{i}]{f}");
            let Geometry::BBox(b) = label.geometry else {
                return Err(bad(field(""), "KITTI holds boxes only".into()));
            };
            if !b.iter().all(|v| v.is_finite()) {
                return Err(bad(field(".bbox"), "a coordinate is not finite".into()));
            }
            let name = self.classes.name(label.class_id).ok_or_else(|| {
                bad(
                    field(".class"),
                    format!("no class with id {}", label.class_id),
                )
            })?;
            if name.is_empty() {
                return Err(bad(field(".class"), "the class name is empty".into()));
            }
            let a = &label.attributes;
            let truncated =
                truncated_attr(a).map_err(|m| bad(field(".attributes.truncated"), m))?;
            let occluded = occluded_attr(a).map_err(|m| bad(field(".attributes.occluded"), m))?;
            let [x0, y0, x1, y1] = b.map(fmt_num);
            text += &format!(
                "{} {} {occluded} 0 {x0} {y0} {x1} {y1} 0 0 0 0 0 0 0\n",
                encode_class(name),
                fmt_num(truncated),
            );
        }
        out.put(&label_path, text.into_bytes())
            .map_err(|e| io_err(&label_path, e))?;
        place_image(
            chip,
            &format!("{DIR}/{split}/image_2"),
            &ext,
            self.chips,
            out,
        )?;
        let list = format!("{LISTS}/{split}.txt");
        self.any_chip = true;
        out.append(&list, format!("{id}\n").as_bytes())
            .map_err(|e| io_err(&list, e))
    }

    fn finish(&mut self, out: &mut dyn Output) -> Result<()> {
        // A list exists even when no chip was stored.
        if !self.any_chip {
            let list = format!("{LISTS}/{DEFAULT_SPLIT}.txt");
            out.append(&list, b"").map_err(|e| io_err(&list, e))?;
        }
        let tokens: Vec<_> = self
            .classes
            .ordered
            .iter()
            .map(|(n, c)| (encode_class(n), *c))
            .collect();
        let path = format!("{DIR}/{DATASET_META}");
        out.put(&path, meta_json(&tokens))
            .map_err(|e| io_err(&path, e))
    }
}

// ---------------------------------------------------------------- reading

/// One subset folder (holding `label_2/` and `image_2/`).
#[derive(Debug)]
struct Subset {
    /// Relative to the dataset folder (empty: the dataset folder itself).
    rel: PathBuf,
    dir: PathBuf,
    /// The folder's name, which names its split list.
    name: String,
    /// Its split, as the module docs say.
    split: String,
}

impl Subset {
    fn new(rel: PathBuf, dir: PathBuf) -> Subset {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let split = labels_model::split_from_folder(&name);
        Subset {
            rel,
            dir,
            name,
            split,
        }
    }
}

/// Reads one label file into `(class name, box, attributes)` triples.
fn read_labels(file: &Path, id: &str, left: &mut LeftBehind) -> Result<Vec<RawBox>> {
    const NAMES: [&str; 16] = [
        "type",
        "truncated",
        "occluded",
        "alpha",
        "left",
        "top",
        "right",
        "bottom",
        "height",
        "width",
        "length",
        "x",
        "y",
        "z",
        "rotation_y",
        "score",
    ];
    let text = read_text(file)?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.is_empty() {
            continue;
        }
        let bad = |msg: String| Error::invalid(file, Some(id), format!("line {}", n + 1), msg);
        if cols.len() != 15 && cols.len() != 16 {
            return Err(bad(format!(
                "{} columns, expected 15 (or 16 with a score)",
                cols.len()
            )));
        }
        let mut nums = [0.0f64; 16];
        for (k, (col, slot)) in cols.iter().zip(nums.iter_mut()).enumerate().skip(1) {
            let v = col.parse::<f64>().ok().filter(|v| v.is_finite());
            *slot = v.ok_or_else(|| {
                bad(format!(
                    "{} {} is not a number",
                    NAMES.get(k).copied().unwrap_or("column"),
                    excerpt(col)
                ))
            })?;
        }
        let [_, truncated, occluded, alpha, x0, y0, x1, y1, ..] = nums;
        // 3-D fields: height width length (devkit's none: -1), x y z
        // (-1000), rotation_y (-10); this writer's 0 is none too.
        let none_3d = [-1.0, -1.0, -1.0, -1000.0, -1000.0, -1000.0, -10.0];
        if nums[8..15]
            .iter()
            .zip(none_3d)
            .any(|(&v, none)| v != 0.0 && v != none)
        {
            *left.entry("KITTI 3-D fields").or_default() += 1;
        }
        if alpha != 0.0 && alpha != -10.0 {
            *left.entry("KITTI alpha").or_default() += 1;
        }
        if occluded.fract() != 0.0 || occluded.abs() > 1e15 {
            return Err(bad(format!(
                "occluded {} is not an integer",
                excerpt(cols.get(2).copied().unwrap_or(""))
            )));
        }
        let b = check_box([x0, y0, x1, y1]).map_err(bad)?;
        let mut attrs = Attributes::new();
        if truncated == 1.0 {
            attrs.insert("truncated".into(), true.into());
        } else if truncated != 0.0 {
            attrs.insert("truncated".into(), truncated.into());
        }
        if occluded != 0.0 {
            attrs.insert("occluded".into(), (occluded as i64).into());
        }
        if cols.len() == 16 {
            attrs.insert("score".into(), nums[15].into());
        }
        let token = cols.first().copied().unwrap_or("");
        out.push((decode_class(token), b, attrs));
    }
    Ok(out)
}

fn not_found(path: &Path, msg: &str) -> Error {
    Error::invalid(path, None, "", msg)
}

/// The dataset folder `path` names, its subsets (in split order), and the
/// folder holding `dataset_meta.json` and `ImageSets/`.
fn find_subsets(path: &Path) -> Result<(PathBuf, Vec<Subset>, PathBuf)> {
    if !path.is_dir() {
        return Err(not_found(path, "no such folder"));
    }
    let dir = if path.join(DIR).is_dir() {
        path.join(DIR)
    } else {
        path.to_path_buf()
    };
    if dir.join("label_2").is_dir() {
        let top = dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".."));
        let resolved = dir.canonicalize().unwrap_or_else(|_| dir.clone());
        let mut s = Subset::new(PathBuf::new(), resolved);
        s.dir = dir.clone();
        return Ok((dir, vec![s], top));
    }
    let mut subsets: Vec<Subset> = list_dir(&dir)?
        .into_iter()
        .filter(|(n, is_dir)| *is_dir && dir.join(n).join("label_2").is_dir())
        .map(|(n, _)| Subset::new(PathBuf::from(&n), dir.join(&n)))
        .collect();
    if subsets.is_empty() {
        return Err(not_found(
            path,
            "no KITTI dataset here: expected kitti/, <subset>/label_2/ or label_2/",
        ));
    }
    subsets.sort_by_key(|s| (labels_model::subset_rank(&s.split), s.name.clone()));
    let top = dir.clone();
    Ok((dir, subsets, top))
}

/// One chip found: its subset, its file stem, its label file.
struct FoundChip {
    subset: usize,
    stem: String,
    file: Option<PathBuf>,
}

/// Every chip of `subsets`, as `(chip id, chip)` in reading order: a label
/// file in `label_2/` or an image in `image_2/` makes one; ids unique by
/// the module docs' rule. `lists` holds the split lists.
fn find_chips(
    subsets: &[Subset],
    indexes: &mut [ImageIndex],
    lists: &Path,
) -> Result<Vec<(String, FoundChip)>> {
    let mut per_subset = Vec::with_capacity(subsets.len());
    for (si, (s, index)) in subsets.iter().zip(indexes.iter_mut()).enumerate() {
        let labels_dir = s.dir.join("label_2");
        let mut stems: Vec<(String, Option<PathBuf>)> = Vec::new();
        for (name, is_dir) in list_dir(&labels_dir)? {
            if let (false, Some(stem)) = (is_dir, strip_ext(&name, "txt")) {
                stems.push((stem.to_owned(), Some(labels_dir.join(&name))));
            }
        }
        let labelled: HashSet<String> = stems.iter().map(|(i, _)| i.clone()).collect();
        for stem in index.stems()? {
            if !labelled.contains(&stem) {
                stems.push((stem, None));
            }
        }
        stems.sort();
        // The subset's own list, else (one subset) every list.
        let own = lists.join(format!("{}.txt", s.name));
        let listed = if own.is_file() {
            read_split_list(&own)?
        } else if subsets.len() == 1 {
            read_split_lists(lists)?.0
        } else {
            Vec::new()
        };
        let rank: HashMap<&str, usize> = listed
            .iter()
            .enumerate()
            .rev()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        stems.sort_by_key(|(stem, _)| rank.get(stem.as_str()).copied().unwrap_or(usize::MAX));
        per_subset.push(stems.into_iter().map(move |(stem, file)| FoundChip {
            subset: si,
            stem,
            file,
        }));
    }
    let all: Vec<FoundChip> = per_subset.into_iter().flatten().collect();
    let stems: HashSet<&str> = all.iter().map(|c| c.stem.as_str()).collect();
    let mut taken: HashSet<String> = HashSet::new();
    let mut out = Vec::with_capacity(all.len());
    for chip in &all {
        let mut id = chip.stem.clone();
        if taken.contains(&id) {
            let split = subsets.get(chip.subset).map_or(DEFAULT_SPLIT, |s| &s.split);
            let base = format!("{split}_{}", chip.stem);
            id = base.clone();
            let mut n = 1;
            while taken.contains(&id) || stems.contains(id.as_str()) {
                n += 1;
                id = format!("{base}_{n}");
            }
        }
        taken.insert(id.clone());
        out.push(id);
    }
    Ok(out.into_iter().zip(all).collect())
}

/// The ids of one split list (first token of each line; blank lines and
/// `#` comments skipped).
fn read_split_list(file: &Path) -> Result<Vec<String>> {
    Ok(read_text(file)?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect())
}

fn read_kitti(path: &Path) -> Result<(Project, LeftBehind)> {
    let (dir, subsets, top) = find_subsets(path)?;
    let mut indexes: Vec<ImageIndex> = subsets
        .iter()
        .map(|s| ImageIndex::new(s.dir.join("image_2")))
        .collect();
    let lists = top.join("ImageSets");
    let chips = find_chips(&subsets, &mut indexes, &lists)?;

    let mut project = ProjectBuilder::default();
    let meta = top.join(DATASET_META);
    if meta.is_file() {
        for (token, color) in read_meta(&meta)? {
            project.classes.declare(&decode_class(&token), color);
        }
    }
    let mut splits = Vec::with_capacity(chips.len());
    let mut left = LeftBehind::new();
    for (id, found) in chips {
        let (Some(subset), Some(index)) =
            (subsets.get(found.subset), indexes.get_mut(found.subset))
        else {
            continue;
        };
        let labels = match &found.file {
            Some(f) => read_labels(f, &id, &mut left)?,
            None => Vec::new(),
        };
        let image = match index.find(&found.stem)? {
            Some(name) => subset.rel.join("image_2").join(name),
            None => {
                return Err(Error::invalid(
                    found.file.as_deref().unwrap_or(&subset.dir),
                    Some(&id),
                    "",
                    format!(
                        "no image named {}.* in {}",
                        found.stem,
                        subset.dir.join("image_2").display()
                    ),
                ));
            }
        };
        project.chip(id, image, (None, None), labels);
        splits.push((subset.split != DEFAULT_SPLIT).then(|| subset.split.clone()));
    }

    let name = dataset_name(&dir, DIR);
    let first_list = subsets
        .iter()
        .map(|s| lists.join(format!("{}.txt", s.name)))
        .find(|p| p.is_file());
    let manifest_path = match first_list {
        Some(p) => p,
        None => read_split_lists(&lists)?.1.unwrap_or_else(|| {
            subsets
                .first()
                .map(|s| s.dir.join("label_2"))
                .unwrap_or_else(|| dir.clone())
        }),
    };
    let mut project = project.finish(name, dir, manifest_path);
    for (chip, split) in project.chips.iter_mut().zip(splits) {
        chip.split = split;
    }
    Ok((project, left))
}

#[cfg(test)]
mod tests {
    use super::*;
    use labels_model::{Class, GeorefSource, Label, MemoryOutput, Rgb};

    const NONE: ChipGeoref = ChipGeoref {
        source: GeorefSource::None,
        transform: None,
        epsg: None,
    };

    fn project() -> Project {
        let mut a = Chip::new("r0_c1", "chips/r0_c1.png");
        (a.width, a.height) = (Some(32), Some(32));
        let attrs = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
        a.labels = vec![
            Label {
                class_id: 7,
                geometry: Geometry::BBox([1.5, 2.25, 10.0, 12.125]),
                attributes: attrs(
                    serde_json::json!({"truncated": true, "occluded": 2, "pose": "Left", "score": 0.5}),
                ),
            },
            Label {
                class_id: 2,
                geometry: Geometry::BBox([0.0, 0.0, 32.0, 32.0]),
                attributes: attrs(serde_json::json!({"truncated": 0.25, "occluded": false})),
            },
        ];
        let mut e = Chip::new("empty", "chips/empty.tif");
        (e.width, e.height, e.saved_empty) = (Some(16), Some(16), true);
        Project {
            name: "p".into(),
            labeling_type: LabelingType::ObjectDetection,
            srid: Some(32632),
            classes: vec![
                Class {
                    id: 7,
                    name: "vélo lourd 50%".into(),
                    color: Some(Rgb([0, 170, 0])),
                },
                Class {
                    id: 2,
                    name: "car".into(),
                    color: None,
                },
                Class {
                    id: 3,
                    name: "unused\tclass".into(),
                    color: None,
                },
            ],
            chips: vec![a, e],
            base_dir: PathBuf::new(),
            manifest_path: PathBuf::new(),
        }
    }

    fn write(p: &Project) -> MemoryOutput {
        let mut out = MemoryOutput::default();
        for c in &p.chips {
            out.0
                .insert(c.image.to_string_lossy().into_owned(), b"img".to_vec());
        }
        let mut w = KittiFormat.writer(p);
        for c in &p.chips {
            w.write_chip(c, &NONE, &mut out).unwrap();
        }
        w.finish(&mut out).unwrap();
        out
    }

    fn text(out: &MemoryOutput, path: &str) -> String {
        String::from_utf8(out.0.get(path).cloned().unwrap_or_default()).unwrap()
    }

    #[test]
    fn exact_bytes() {
        let out = write(&project());
        assert_eq!(
            out.0.keys().collect::<Vec<_>>(),
            [
                "chips/empty.tif",
                "chips/r0_c1.png",
                "kitti/ImageSets/train.txt",
                "kitti/dataset_meta.json",
                "kitti/train/image_2/empty.tif",
                "kitti/train/image_2/r0_c1.png",
                "kitti/train/label_2/empty.txt",
                "kitti/train/label_2/r0_c1.txt",
            ]
        );
        assert_eq!(
            text(&out, "kitti/train/label_2/r0_c1.txt"),
            "vélo%20lourd%2050%25 1 2 0 1.5 2.25 10 12.125 0 0 0 0 0 0 0\n\
             car 0.25 0 0 0 0 32 32 0 0 0 0 0 0 0\n"
        );
        assert_eq!(text(&out, "kitti/train/label_2/empty.txt"), "");
        assert_eq!(text(&out, "kitti/ImageSets/train.txt"), "r0_c1\nempty\n");
        assert_eq!(
            text(&out, "kitti/dataset_meta.json"),
            r#"{
  "labels": [
    "car",
    "unused%09class",
    "vélo%20lourd%2050%25"
  ],
  "label_map": {
    "0": "car",
    "1": "unused%09class",
    "2": "vélo%20lourd%2050%25"
  },
  "segmentation_colors": [
    null,
    null,
    [
      0,
      170,
      0
    ]
  ]
}
"#
        );
    }

    fn store(out: &MemoryOutput) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, bytes) in &out.0 {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
        dir
    }

    #[test]
    fn round_trip() {
        let p = project();
        let dir = store(&write(&p));
        for path in [dir.path().to_path_buf(), dir.path().join("kitti")] {
            let back = KittiFormat.read(&path).unwrap();
            assert_eq!(back.base_dir, dir.path().join("kitti"));
            assert_eq!(
                back.manifest_path,
                dir.path().join("kitti/ImageSets/train.txt")
            );
            let names: Vec<_> = back
                .classes
                .iter()
                .map(|c| (c.id, c.name.as_str(), c.color))
                .collect();
            assert_eq!(
                names,
                [
                    (1, "car", None),
                    (2, "unused\tclass", None),
                    (3, "vélo lourd 50%", Some(Rgb([0, 170, 0])))
                ]
            );
            let ids: Vec<_> = back.chips.iter().map(|c| c.id.as_str()).collect();
            assert_eq!(ids, ["r0_c1", "empty"]);
            let a = &back.chips[0];
            assert_eq!(a.image, Path::new("train/image_2/r0_c1.png"));
            assert!(!a.saved_empty);
            assert_eq!(a.labels[0].class_id, 3);
            assert_eq!(
                a.labels[0].geometry,
                Geometry::BBox([1.5, 2.25, 10.0, 12.125])
            );
            assert_eq!(
                serde_json::Value::Object(a.labels[0].attributes.clone()),
                serde_json::json!({"truncated": true, "occluded": 2})
            );
            assert_eq!(
                serde_json::Value::Object(a.labels[1].attributes.clone()),
                serde_json::json!({"truncated": 0.25})
            );
            let e = &back.chips[1];
            assert!(e.saved_empty && e.labels.is_empty());
            assert_eq!(e.image, Path::new("train/image_2/empty.tif"));
        }
        // The subset folder itself.
        let back = KittiFormat.read(&dir.path().join("kitti/train")).unwrap();
        assert_eq!(back.chips.len(), 2);
        assert_eq!(back.classes.len(), 3);
        assert_eq!(back.chips[0].image, Path::new("image_2/r0_c1.png"));
    }

    #[test]
    fn class_tokens() {
        for name in [
            "a b",
            "50%",
            "%41",
            "tab\there",
            "nbsp\u{a0}x",
            "é",
            "Person_sitting",
        ] {
            let t = encode_class(name);
            assert!(!t.contains(char::is_whitespace), "{t}");
            assert_eq!(decode_class(&t), name);
        }
        assert_eq!(encode_class("vélo lourd"), "vélo%20lourd");
        assert_eq!(decode_class("100%"), "100%");
        assert_eq!(decode_class("%zz%4"), "%zz%4");
        assert_eq!(decode_class("%FF"), "%FF");
    }

    #[test]
    fn foreign_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("default");
        std::fs::create_dir_all(root.join("label_2")).unwrap();
        std::fs::create_dir_all(root.join("image_2")).unwrap();
        for f in ["000001.png", "000002.jpg", "000003.png"] {
            std::fs::write(root.join("image_2").join(f), b"x").unwrap();
        }
        // Datumaro: 16 columns with -1 fillers; no file for the unlabelled chip.
        std::fs::write(
            root.join("label_2/000002.txt"),
            "car 0.0 0 -1 10.5 20.25 40.5 60.25 -1 -1 -1 -1 -1 -1 -1 1.0\n\n\
             DontCare -1 -1 -10 1 2 3 4 -1 -1 -1 -1000 -1000 -1000 -10\n",
        )
        .unwrap();
        std::fs::write(root.join("label_2/000001.TXT"), "").unwrap();
        let p = KittiFormat.read(dir.path()).unwrap();
        let ids: Vec<_> = p.chips.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["000001", "000002", "000003"]);
        assert_eq!(p.chips[1].image, Path::new("default/image_2/000002.jpg"));
        let names: Vec<_> = p.classes.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["car", "DontCare"]);
        let l = &p.chips[1].labels;
        assert_eq!(l[0].geometry, Geometry::BBox([10.5, 20.25, 40.5, 60.25]));
        assert_eq!(
            serde_json::Value::Object(l[0].attributes.clone()),
            serde_json::json!({"score": 1.0})
        );
        assert_eq!(
            serde_json::Value::Object(l[1].attributes.clone()),
            serde_json::json!({"truncated": -1.0, "occluded": -1})
        );
        assert!(p.chips[0].saved_empty && p.chips[2].saved_empty);
        assert_eq!(
            p.name,
            dir.path()
                .canonicalize()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
        );
    }

    #[test]
    fn reader_errors() {
        let cases = [
            (
                "car 0 0 0 1 2 3\n",
                "line 1: 7 columns, expected 15 (or 16 with a score)",
            ),
            (
                "\ncar 0 0 0 1 2 x 4 0 0 0 0 0 0 0\n",
                "line 2: right \"x\" is not a number",
            ),
            (
                "car 0 0.5 0 1 2 3 4 0 0 0 0 0 0 0\n",
                "line 1: occluded \"0.5\" is not an integer",
            ),
            (
                "car 0 0 0 5 2 3 4 0 0 0 0 0 0 0\n",
                "line 1: the box [5, 2, 3, 4] is empty",
            ),
            (
                "car 0 0 0 1 2 3 4 0 0 0 0 0 0 nan\n",
                "line 1: rotation_y \"nan\" is not a number",
            ),
        ];
        for (body, want) in cases {
            let dir = tempfile::tempdir().unwrap();
            let sub = dir.path().join("training");
            std::fs::create_dir_all(sub.join("label_2")).unwrap();
            std::fs::create_dir_all(sub.join("image_2")).unwrap();
            std::fs::write(sub.join("image_2/x.png"), b"x").unwrap();
            std::fs::write(sub.join("label_2/x.txt"), body).unwrap();
            let e = KittiFormat.read(dir.path()).unwrap_err();
            let [d] = e.diagnostics() else { panic!("{e}") };
            assert_eq!(d.file, sub.join("label_2/x.txt"));
            assert_eq!(d.chip.as_deref(), Some("x"));
            assert!(e.to_string().contains(want), "{e}");
        }
        let dir = tempfile::tempdir().unwrap();
        let e = KittiFormat.read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("no KITTI dataset here"), "{e}");
        // A label file without its image.
        std::fs::create_dir_all(dir.path().join("training/label_2")).unwrap();
        std::fs::write(dir.path().join("training/label_2/y.txt"), "").unwrap();
        let e = KittiFormat.read(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("chip \"y\"") && e.contains("no image named y.*"),
            "{e}"
        );
    }

    #[test]
    fn writer_errors() {
        let mut p = project();
        p.chips[0].labels[0]
            .attributes
            .insert("occluded".into(), 1.5.into());
        let mut out = MemoryOutput::default();
        out.0.insert("chips/r0_c1.png".into(), Vec::new());
        let e = KittiFormat
            .writer(&p)
            .write_chip(&p.chips[0], &NONE, &mut out)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "kitti/train/label_2/r0_c1.txt: chip \"r0_c1\": labels[0].attributes.occluded: 1.5 is not an integer occlusion level"
        );
        let mut p = project();
        p.chips[0].labels[1]
            .attributes
            .insert("truncated".into(), "yes".into());
        let e = KittiFormat
            .writer(&p)
            .write_chip(&p.chips[0], &NONE, &mut out)
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with(
                "labels[1].attributes.truncated: expected true, false or a number, not \"yes\""
            ),
            "{e}"
        );
    }

    #[test]
    fn one_folder_per_split() {
        let mut p = project();
        p.chips[1].split = Some("val".into());
        let mut t = Chip::new("t", "chips/t.png");
        (t.saved_empty, t.split) = (true, Some("train".into()));
        p.chips.push(t);
        let out = write(&p);
        let keys: Vec<_> = out.0.keys().filter(|k| k.starts_with("kitti/")).collect();
        assert_eq!(
            keys,
            [
                "kitti/ImageSets/train.txt",
                "kitti/ImageSets/val.txt",
                "kitti/dataset_meta.json",
                "kitti/train/image_2/r0_c1.png",
                "kitti/train/image_2/t.png",
                "kitti/train/label_2/r0_c1.txt",
                "kitti/train/label_2/t.txt",
                "kitti/val/image_2/empty.tif",
                "kitti/val/label_2/empty.txt",
            ]
        );
        assert_eq!(text(&out, "kitti/ImageSets/train.txt"), "r0_c1\nt\n");
        assert_eq!(text(&out, "kitti/ImageSets/val.txt"), "empty\n");
        let dir = store(&out);
        let back = KittiFormat.read(dir.path()).unwrap();
        let got: Vec<_> = back
            .chips
            .iter()
            .map(|c| (c.id.as_str(), c.split.as_deref(), c.image.to_str().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("r0_c1", None, "train/image_2/r0_c1.png"),
                ("t", None, "train/image_2/t.png"),
                ("empty", Some("val"), "val/image_2/empty.tif"),
            ]
        );
        // A store of no chip: an empty train list.
        let mut w = KittiFormat.writer(&p);
        let mut out = MemoryOutput::default();
        w.finish(&mut out).unwrap();
        assert_eq!(text(&out, "kitti/ImageSets/train.txt"), "");
        // A split that is not a split name.
        p.chips[0].split = Some("../x".into());
        let e = KittiFormat
            .writer(&p)
            .write_chip(&p.chips[0], &NONE, &mut out)
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("split: not a split name"), "{e}");
    }

    #[test]
    fn foreign_subsets_become_splits_with_unique_ids() {
        let dir = tempfile::tempdir().unwrap();
        let sub = |name: &str, stems: &[&str]| {
            let d = dir.path().join(name);
            std::fs::create_dir_all(d.join("label_2")).unwrap();
            std::fs::create_dir_all(d.join("image_2")).unwrap();
            for s in stems {
                std::fs::write(d.join(format!("image_2/{s}.png")), b"x").unwrap();
                std::fs::write(d.join(format!("label_2/{s}.txt")), "").unwrap();
            }
        };
        sub("Zeta set", &["a"]);
        sub("val", &["a", "b", "val_a"]);
        sub("training", &["a", "c"]);
        sub("train", &["b"]);
        std::fs::create_dir_all(dir.path().join("ImageSets")).unwrap();
        std::fs::write(dir.path().join("ImageSets/val.txt"), "val_a\nb\n").unwrap();
        let p = KittiFormat.read(dir.path()).unwrap();
        let got: Vec<_> = p
            .chips
            .iter()
            .map(|c| (c.id.as_str(), c.split(), c.image.to_str().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("b", "train", "train/image_2/b.png"),
                ("val_a", "val", "val/image_2/val_a.png"),
                ("val_b", "val", "val/image_2/b.png"),
                ("a", "val", "val/image_2/a.png"),
                ("training_a", "training", "training/image_2/a.png"),
                ("c", "training", "training/image_2/c.png"),
                ("zeta_set_a", "zeta_set", "Zeta set/image_2/a.png"),
            ]
        );
        assert_eq!(p.manifest_path, dir.path().join("ImageSets/val.txt"));
    }
}
