//! Dataset pieces the VOC and KITTI modules share: Datumaro's
//! `dataset_meta.json` (the class table Datumaro's importers read before
//! anything else), the split lists (`ImageSets/...`), finding an image by
//! its stem, the class table on both sides, and small helpers for errors
//! and numbers.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use labels_model::{Chip, Class, Error, ImageKind, Project, Result, Rgb};
use serde::Serialize;
use serde::ser::SerializeMap;

/// The name of Datumaro's class-table file, beside a dataset's subsets.
pub(crate) const DATASET_META: &str = "dataset_meta.json";

/// The standard VOC split names, in the order the readers take chips from them.
pub(crate) const SPLITS: [&str; 4] = ["train", "val", "trainval", "test"];

/// An I/O error on `path`.
pub(crate) fn io_err(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
    Error::Io {
        path: path.into(),
        source,
    }
}

/// Reads a whole file.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    labels_model::read_regular(path).map_err(|e| io_err(path, e))
}

/// Reads a whole file as UTF-8 text (a leading byte-order mark is dropped).
pub(crate) fn read_text(path: &Path) -> Result<String> {
    let bytes = read_file(path)?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    String::from_utf8(bytes.to_vec()).map_err(|e| {
        let line = 1 + bytes[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        Error::invalid(
            path,
            None,
            format!("line {line}"),
            "the file is not UTF-8 text",
        )
    })
}

/// The sorted entries of a folder: `(file name, is a folder)`. Names that
/// are not UTF-8 are skipped (no chip id or image name of ours is such).
pub(crate) fn list_dir(dir: &Path) -> Result<Vec<(String, bool)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
        let entry = entry.map_err(|e| io_err(dir, e))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        out.push((name, entry.path().is_dir()));
    }
    out.sort();
    Ok(out)
}

/// `name` without its extension when the extension is `ext` (any case).
pub(crate) fn strip_ext<'a>(name: &'a str, ext: &str) -> Option<&'a str> {
    let (stem, e) = name.rsplit_once('.')?;
    (e.eq_ignore_ascii_case(ext) && !stem.is_empty()).then_some(stem)
}

/// The images of a folder, by file stem: how a chip whose label file does
/// not name its image finds it. Built on first use; when several images
/// share a stem, the first by name wins.
#[derive(Debug)]
pub(crate) struct ImageIndex {
    dir: PathBuf,
    by_stem: Option<HashMap<String, String>>,
}

impl ImageIndex {
    pub(crate) fn new(dir: PathBuf) -> ImageIndex {
        ImageIndex { dir, by_stem: None }
    }

    /// The file name of the image with this stem, if the folder holds one.
    pub(crate) fn find(&mut self, stem: &str) -> Result<Option<&str>> {
        if self.by_stem.is_none() {
            let mut map = HashMap::new();
            if self.dir.is_dir() {
                for (name, is_dir) in list_dir(&self.dir)? {
                    if is_dir || ImageKind::from_path(Path::new(&name)).is_none() {
                        continue;
                    }
                    if let Some((s, _)) = name.rsplit_once('.') {
                        map.entry(s.to_owned()).or_insert(name);
                    }
                }
            }
            self.by_stem = Some(map);
        }
        Ok(self
            .by_stem
            .as_ref()
            .and_then(|m| m.get(stem))
            .map(String::as_str))
    }

    /// The stems of every image in the folder, sorted.
    pub(crate) fn stems(&mut self) -> Result<Vec<String>> {
        self.find("")?;
        let mut stems: Vec<String> = self
            .by_stem
            .as_ref()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        stems.sort();
        Ok(stems)
    }
}

/// The chip ids listed by the split files of `dir` (`train.txt`,
/// `val.txt`, `trainval.txt`, `test.txt`, then any other `*.txt` whose
/// name has no `_`, as Datumaro picks them; per-class `<class>_<split>.txt`
/// lists are not splits), in that order, each id once. The first token of
/// each line is the id; empty lines and `#` comments are skipped. Returns
/// the ids and the first list read.
pub(crate) fn read_split_lists(dir: &Path) -> Result<(Vec<String>, Option<PathBuf>)> {
    if !dir.is_dir() {
        return Ok((Vec::new(), None));
    }
    let mut files: Vec<String> = Vec::new();
    let entries = list_dir(dir)?;
    for split in SPLITS {
        if let Some((name, _)) = entries
            .iter()
            .find(|(n, d)| !d && strip_ext(n, "txt") == Some(split))
        {
            files.push(name.clone());
        }
    }
    for (name, is_dir) in &entries {
        if let Some(stem) = strip_ext(name, "txt")
            && !is_dir
            && !stem.contains('_')
            && !SPLITS.contains(&stem)
        {
            files.push(name.clone());
        }
    }
    let mut seen = HashSet::new();
    let mut ids = Vec::new();
    for name in &files {
        let text = read_text(&dir.join(name))?;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(id) = line.split_whitespace().next()
                && seen.insert(id.to_owned())
            {
                ids.push(id.to_owned());
            }
        }
    }
    Ok((ids, files.first().map(|n| dir.join(n))))
}

/// The split of each chip id the split files of `dir` list (the files
/// [`read_split_lists`] reads, and `<a>_<b>.txt` files of one column,
/// which are splits named with `_`, not per-class lists), named by the file's stem as
/// `split_from_subset` makes it (`None` for `train`). A chip in several
/// lists takes the first in this order: `train`, `val`, `test`, the other
/// lists by name, and `trainval` last (VOC's union of train and val, so a
/// chip only there is in `trainval`).
pub(crate) fn split_of_listed(dir: &Path) -> Result<HashMap<String, Option<String>>> {
    let mut out = HashMap::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    let mut lists: Vec<(String, String, String)> = Vec::new();
    for (name, is_dir) in list_dir(dir)? {
        let Some(stem) = strip_ext(&name, "txt").filter(|_| !is_dir) else {
            continue;
        };
        let text = read_text(&dir.join(&name))?;
        // `<class>_<split>.txt` lists have two columns (id, 1 or -1); a
        // split named with `_` (as labelstore writes `val_2`) has one.
        let ids_only = || {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .all(|l| l.split_whitespace().nth(1).is_none())
        };
        if !stem.contains('_') || ids_only() {
            lists.push((stem.to_owned(), name.clone(), text));
        }
    }
    lists.sort_by(|(a, ..), (b, ..)| {
        (a == "trainval", super::split_rank(a)).cmp(&(b == "trainval", super::split_rank(b)))
    });
    for (stem, _, text) in lists {
        let split = super::split_from_subset(&stem);
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(id) = line.split_whitespace().next() {
                out.entry(id.to_owned()).or_insert_with(|| split.clone());
            }
        }
    }
    Ok(out)
}

/// A writer's view of the project's classes: name by id, and the table in
/// id order (the order every class file is written in).
#[derive(Debug)]
pub(crate) struct ClassTable {
    by_id: HashMap<u32, String>,
    /// `(name, colour)` in id order.
    pub(crate) ordered: Vec<(String, Option<Rgb>)>,
}

impl ClassTable {
    pub(crate) fn new(header: &Project) -> ClassTable {
        let mut classes: Vec<&Class> = header.classes.iter().collect();
        classes.sort_by_key(|c| c.id);
        ClassTable {
            by_id: classes.iter().map(|c| (c.id, c.name.clone())).collect(),
            ordered: classes.iter().map(|c| (c.name.clone(), c.color)).collect(),
        }
    }

    pub(crate) fn name(&self, id: u32) -> Option<&str> {
        self.by_id.get(&id).map(String::as_str)
    }
}

/// A reader's class table: classes get ids 1, 2, 3... in the order they are
/// first met (the class file first, then the labels).
#[derive(Debug, Default)]
pub(crate) struct ClassCollector {
    classes: Vec<Class>,
    by_name: HashMap<String, u32>,
}

impl ClassCollector {
    /// The id of class `name`, adding it when new.
    pub(crate) fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.by_name.get(name) {
            return id;
        }
        let id = self.classes.len() as u32 + 1;
        self.classes.push(Class {
            id,
            name: name.to_owned(),
            color: None,
        });
        self.by_name.insert(name.to_owned(), id);
        id
    }

    /// Adds a class from a class file (its colour is kept when first met).
    pub(crate) fn declare(&mut self, name: &str, color: Option<Rgb>) {
        let id = self.id(name);
        if let Some(c) = self.classes.get_mut(id as usize - 1)
            && c.color.is_none()
        {
            c.color = color;
        }
    }

    pub(crate) fn first(&self) -> Option<&Class> {
        self.classes.first()
    }

    /// Drops the first class, renumbering the others (ids of labels already
    /// read are not renumbered: call this before reading labels).
    pub(crate) fn drop_first(&mut self) {
        if self.classes.is_empty() {
            return;
        }
        self.classes.remove(0);
        self.by_name.clear();
        for (i, c) in self.classes.iter_mut().enumerate() {
            c.id = i as u32 + 1;
            self.by_name.insert(c.name.clone(), c.id);
        }
    }

    pub(crate) fn into_classes(self) -> Vec<Class> {
        self.classes
    }
}

/// `map` in the order given (Datumaro's VOC reader pairs `label_map`
/// entries with `segmentation_colors` by position, so the order matters).
struct Ordered<'a>(Vec<(String, &'a str)>);

impl Serialize for Ordered<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct MetaOut<'a> {
    labels: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    label_map: Option<Ordered<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    segmentation_colors: Option<Vec<Option<[u8; 3]>>>,
}

/// Datumaro's `dataset_meta.json` for `classes` (`(name, colour)` in
/// label-index order): `labels` always; `label_map` and
/// `segmentation_colors` (one `[r, g, b]` or `null` per class) when some
/// class has a colour.
pub(crate) fn meta_json(classes: &[(String, Option<Rgb>)]) -> Vec<u8> {
    let any_color = classes.iter().any(|(_, c)| c.is_some());
    let meta = MetaOut {
        labels: classes.iter().map(|(n, _)| n.as_str()).collect(),
        label_map: any_color.then(|| {
            Ordered(
                classes
                    .iter()
                    .enumerate()
                    .map(|(i, (n, _))| (i.to_string(), n.as_str()))
                    .collect(),
            )
        }),
        segmentation_colors: any_color
            .then(|| classes.iter().map(|(_, c)| c.map(|c| c.0)).collect()),
    };
    let mut bytes = serde_json::to_vec_pretty(&meta).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// Reads Datumaro's `dataset_meta.json`: the class names (`labels`, then
/// `label_map` entries not already listed) with the colours
/// `segmentation_colors` gives them. Other keys are ignored.
pub(crate) fn read_meta(path: &Path) -> Result<Vec<(String, Option<Rgb>)>> {
    let text = read_text(path)?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::invalid(path, None, format!("line {}", e.line()), e.to_string()))?;
    let bad = |field: String, msg: &str| Error::invalid(path, None, field, msg);
    let mut out: Vec<(String, Option<Rgb>)> = Vec::new();
    if let Some(labels) = value.get("labels") {
        let labels = labels
            .as_array()
            .ok_or_else(|| bad("labels".into(), "expected an array of class names"))?;
        for (i, l) in labels.iter().enumerate() {
            let name = l
                .as_str()
                .ok_or_else(|| bad(format!("labels[{i}]"), "expected a class name"))?;
            if !out.iter().any(|(n, _)| n == name) {
                out.push((name.to_owned(), None));
            }
        }
    }
    let colors = match value.get("segmentation_colors") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(c) => c
            .as_array()
            .cloned()
            .ok_or_else(|| bad("segmentation_colors".into(), "expected an array"))?,
    };
    if let Some(map) = value.get("label_map") {
        let map = map
            .as_object()
            .ok_or_else(|| bad("label_map".into(), "expected an object"))?;
        let mut entries = Vec::new();
        for (k, v) in map {
            let index: usize = k
                .trim()
                .parse()
                .map_err(|_| bad(format!("label_map.{k}"), "the key is not a label index"))?;
            let name = v
                .as_str()
                .ok_or_else(|| bad(format!("label_map.{k}"), "expected a class name"))?;
            entries.push((index, name));
        }
        entries.sort();
        for (index, name) in entries {
            let color = match colors.get(index) {
                None | Some(serde_json::Value::Null) => None,
                Some(c) => Some(parse_color(c).ok_or_else(|| {
                    bad(
                        format!("segmentation_colors[{index}]"),
                        "expected [r, g, b] with values 0 to 255",
                    )
                })?),
            };
            match out.iter_mut().find(|(n, _)| n == name) {
                Some(entry) => entry.1 = entry.1.or(color),
                None => out.push((name.to_owned(), color)),
            }
        }
    }
    Ok(out)
}

fn parse_color(v: &serde_json::Value) -> Option<Rgb> {
    let a = v.as_array()?;
    if a.len() != 3 {
        return None;
    }
    let mut rgb = [0u8; 3];
    for (slot, c) in rgb.iter_mut().zip(a) {
        *slot = u8::try_from(c.as_u64()?).ok()?;
    }
    Some(Rgb(rgb))
}

/// A number as written in label files: the shortest text that reads back
/// to the same `f64`, without exponent, and `0` for negative zero.
pub(crate) fn fmt_num(x: f64) -> String {
    if x == 0.0 {
        "0".to_owned()
    } else {
        format!("{x}")
    }
}

/// A pixel coordinate a reader computed (YOLO's normalized centre times
/// the width, COCO's `x + w`, VOC's `xmin - 1`) without the float noise of
/// that arithmetic: rounded to a billionth of a pixel, far below what any
/// of these formats writes (`2.0`, not `1.9999999999999998`). Coordinates
/// of a million pixels or more, where a billionth is near the precision of
/// an `f64`, are left as they are.
pub(crate) fn denoise(x: f64) -> f64 {
    if x.abs() < 1e6 {
        (x * 1e9).round() / 1e9 + 0.0
    } else {
        x
    }
}

/// A stored chip's id, checked to be usable as a file name, and its
/// image's store path and (lower-case) extension.
pub(crate) fn chip_files(chip: &Chip, file: &str) -> Result<(String, String)> {
    let id = &chip.id;
    if id.is_empty() || id == "." || id == ".." || id.contains(['/', '\\']) {
        return Err(Error::invalid(
            file,
            Some(id),
            "id",
            "the chip id cannot name a file",
        ));
    }
    let image = chip.image.to_string_lossy().replace('\\', "/");
    let ext = Path::new(&image)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .filter(|e| !e.is_empty())
        .ok_or_else(|| {
            Error::invalid(
                file,
                Some(id),
                "image",
                format!("the stored image {image:?} has no extension"),
            )
        })?;
    Ok((image, ext))
}

/// Checks a box read from a file: finite coordinates, not empty.
pub(crate) fn check_box(b: [f64; 4]) -> std::result::Result<[f64; 4], String> {
    if b.iter().any(|v| !v.is_finite()) {
        return Err("the box has a coordinate that is not a finite number".into());
    }
    if b[2] <= b[0] || b[3] <= b[1] {
        return Err(format!(
            "the box [{}, {}, {}, {}] is empty (xmax must exceed xmin, ymax ymin)",
            fmt_num(b[0]),
            fmt_num(b[1]),
            fmt_num(b[2]),
            fmt_num(b[3])
        ));
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    #[test]
    fn denoise_takes_off_the_noise_of_arithmetic_only() {
        assert_eq!((0.102 - 0.004 / 2.0) * 20.0, 1.9999999999999998);
        assert_eq!(denoise((0.102 - 0.004 / 2.0) * 20.0).to_string(), "2");
        assert_eq!(denoise(1.1 + 2.2), 3.3);
        assert_eq!(denoise(10.5), 10.5);
        assert_eq!(denoise(0.123456789), 0.123456789);
        assert_eq!(denoise(-0.0).to_string(), "0");
        assert_eq!(denoise(12_345_678.000_000_1), 12_345_678.000_000_1);
    }

    use super::*;

    #[test]
    fn meta_round_trip_keeps_order_and_colours() {
        let classes: Vec<(String, Option<Rgb>)> = (0..12)
            .map(|i| {
                let c = (i % 2 == 0).then_some(Rgb([i as u8, 0, 255]));
                (format!("c{i}"), c)
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DATASET_META);
        let bytes = meta_json(&classes);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.contains("\"9\": \"c9\",\n    \"10\": \"c10\""),
            "{text}"
        );
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(read_meta(&path).unwrap(), classes);

        let plain = vec![("a b".to_owned(), None)];
        assert_eq!(
            String::from_utf8(meta_json(&plain)).unwrap(),
            "{\n  \"labels\": [\n    \"a b\"\n  ]\n}\n"
        );
    }

    #[test]
    fn meta_errors_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DATASET_META);
        for (text, want) in [
            ("{\"labels\": [1]}", "labels[0]: expected a class name"),
            (
                "{\"label_map\": {\"0\": \"a\"}, \"segmentation_colors\": [[1, 2]]}",
                "segmentation_colors[0]: expected [r, g, b]",
            ),
            ("{\"label_map\": {\"x\": \"a\"}}", "label_map.x: the key"),
            ("{\n\"labels\": [", "line 2:"),
        ] {
            std::fs::write(&path, text).unwrap();
            let e = read_meta(&path).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(fmt_num(-0.0), "0");
        assert_eq!(fmt_num(512.0), "512");
        assert_eq!(fmt_num(10.5), "10.5");
        assert_eq!(fmt_num(1.5e-7), "0.00000015");
    }
}
