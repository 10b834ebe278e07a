//! COCO object detection and instance segmentation (FORMATS.md 1.1, 6 and
//! 6.1).
//!
//! # Layout written
//!
//! ```text
//! coco/annotations/instances_<split>.json   one COCO file per split (train, val, ...)
//! coco/images/<split>/<chip id>.<ext>       each chip of the split, placed again (an alias),
//!                                           or `.png` / `.jpg` with ChipFormat (`file_name`)
//! ```
//!
//! This is the layout Datumaro's `coco_instances` importer detects
//! (`annotations/instances_<subset>.json`, images in `images/<subset>/`,
//! `file_name` relative to that folder: FORMATS.md 6.1); pycocotools and
//! Detectron-style loaders take the JSON file and the image folder as they
//! are. A chip's split is [`Chip::split`] (`train` when it names none), so a
//! project without splits gives the one file `instances_train.json`; an
//! empty store has that file too, without images. Image and annotation ids
//! start at 1 in each file.
//!
//! # The file
//!
//! One JSON object with the five keys of the COCO data format, in this
//! order: `info` (`description` is the project's name; `year` an integer
//! and `date_created` an ISO 8601 UTC time only when the caller gives a
//! creation time, [`CocoFormat::created_at`], which the CLI takes from
//! `SOURCE_DATE_EPOCH`: never the clock, so one project gives the same bytes),
//! `licenses` (one placeholder licence, id 0, that every image names),
//! `images`, `annotations`, `categories`. Each image and annotation is one
//! compact line, so the file stays small and diffs well.
//!
//! - `images`: one per stored chip, in store order, ids 1, 2, 3...;
//!   `file_name` is `<chip id>.<ext>`, `width`/`height` the chip's. A chip
//!   saved empty is an image that no annotation names (SPEC §2).
//! - `annotations`: one per label, ids 1, 2, 3... unique across the file.
//!   Object detection: `bbox` is `[x, y, w, h]` in pixel-edge coordinates,
//!   the model's `[xmin, ymin, xmax, ymax]` with `w = xmax - xmin`, floats
//!   at full precision (no rounding); `area` is `w * h`; `segmentation` is
//!   the box's 4-corner polygon `[[x0, y0, x1, y0, x1, y1, x0, y1]]`, so
//!   that every loader can make a mask of it (pycocotools' `annToMask`
//!   raises on `[]`; Detectron2 and mmdetection accept the polygon).
//!   Instance segmentation: see below.
//! - `categories`: one per class, in the project's order. **`category_id`
//!   is the labelstore class id**, never renumbered (1, 2, 7 stay 1, 2, 7),
//!   so ids are stable across exports and 0 (Datumaro's "no label") is
//!   never used; `name` is the class name as it is (spaces, non-ASCII:
//!   JSON holds any string); `supercategory` is `""`.
//!
//! # Instance segmentation
//!
//! The same format serves a project of type `instance_segmentation` (the
//! writer looks at the header's labeling type). The polygon the annotator
//! drew (clipped to the chip by the pipeline) is the label, and
//! pycocotools' own rasterization of it is what COCO users train on. So
//! `segmentation` is:
//!
//! 1. **the parts as drawn** when no part has holes: one flat `[x1, y1, x2,
//!    y2, ...]` list per part (a multipolygon's parts in one annotation),
//!    the vertices at full precision; parts of fewer than 3 distinct points
//!    are dropped. `area` is the pixel count pycocotools computes for them
//!    (`maskUtils.area` of the merged `frPyObjects`: the writer runs
//!    [`pixel_geometry::rle::from_polygon`], a step-for-step port of
//!    pycocotools' rasterization), and `bbox` the extent of the vertices;
//! 2. else (some part has holes, which a COCO polygon list cannot carry):
//!    **compressed RLE**, `{"size": [h, w], "counts": "..."}`, of our
//!    rasterization ([`pixel_geometry::rasterize`]: pixel centres decide,
//!    as GDAL does and as semantic masks are drawn), the counts string byte
//!    for byte what pycocotools' `maskUtils.encode` gives; `area` is its
//!    pixel count and `bbox` its extent in whole pixels (`maskUtils.toBbox`).
//!
//! A label written with zero width, height or `area` (a box of no width,
//! a sliver of no pixel), which torchvision and others reject, is left out
//! of the file and counted in [`LabelWriter::notes`].
//!
//! Instances cost time in their own size, not the chip's: each is drawn in
//! a window of its extent.
//!
//! # Attributes
//!
//! `iscrowd` is COCO's own field: 1 when the label's `iscrowd` attribute is
//! `true` or a non-zero number, else 0 (the default). Every other attribute
//! goes into an `attributes` object on the annotation, as CVAT and Datumaro
//! write it, so all of them survive a round trip; an `iscrowd` attribute
//! whose value is not exactly the integer 1 is kept there too, so that
//! `true`, `false` and `0` come back as they were. On reading, `iscrowd: 1`
//! gives the attribute `iscrowd: 1` unless `attributes` holds one, and a
//! top-level `score` (results files, Datumaro) becomes the `score`
//! attribute unless `attributes` holds one.
//!
//! # Streaming
//!
//! The file is appended to the [`Output`] as chips arrive, so it never sits
//! in memory. Images and annotations are two arrays of one object, and a
//! chip adds to both, so one of them must wait: the annotations are spooled
//! to a private anonymous temporary file (deleted by the system when the
//! writer is dropped, even on a crash) and copied after the images in
//! [`LabelWriter::finish`]; each split has its own spool. Memory stays
//! constant; nothing extra is left in the store.
//!
//! # Reading
//!
//! [`CocoFormat::read`] takes a store root (holding `coco/`), a COCO folder
//! (holding `annotations/`, or one `.json` file), or the JSON file itself,
//! so it also imports datasets made elsewhere:
//!
//! - a folder whose `annotations/` holds `instances_<split>.json` files
//!   (labelstore's and Datumaro's `coco_instances` layout) is read whole:
//!   every such file, in split order (train, val, test, then the others by
//!   name); each chip's split is its file's `<split>`, lower-cased, other
//!   characters than `a-z 0-9 _ -` made `_` (`train` is left absent). A
//!   file given alone, or a folder of one other `.json` file, works as
//!   before (a file not named `instances_<split>.json` gives `train`).
//!   The files' categories are merged: the same id must have the same
//!   name in every file;
//! - category ids need not be 1..n: they become the class ids as they are;
//!   a file using id 0 or negative ids (0-based exports) has all its ids
//!   shifted so that the smallest is 1;
//! - images are looked for, relative to the dataset root (the folder above
//!   `annotations/`, else the JSON file's folder), in `images/<subset>/`,
//!   `images/`, `<subset>/` and the root itself, the first that holds the
//!   file winning; `file_name` may hold subfolders or be absolute;
//! - chip ids are the file name's stem, with any character outside
//!   `A-Z a-z 0-9 . _ -` replaced by `_`, and `-2`, `-3`... added to make
//!   repeated stems unique across all the files read (in the order above:
//!   `train/1.jpg` stays `1`, `val/1.jpg` becomes `1-2`);
//! - `width`/`height` are taken when present; image and annotation ids may be
//!   integers or strings.
//!
//! A file in which some annotation has a `segmentation` (a non-empty polygon
//! list or an RLE object) other than the 4-corner polygon of its `bbox`
//! (what object detection writes) is an **instance segmentation** project,
//! else an
//! object detection one (so a store of instance segmentation without any
//! annotation reads back as object detection). In an instance segmentation
//! file:
//!
//! - a polygon list is one `polygon` (one part) or a `multipolygon` of
//!   hole-free parts, vertices as they are; parts of fewer than 3 distinct
//!   points are dropped (as Detectron2 does);
//! - an RLE, compressed (`counts` a string) or not (`counts` a list, as
//!   the official COCO files write crowds), is traced into polygons along
//!   pixel edges, outer rings and holes, whose rasterization is exactly the
//!   mask; its `size` must be the image's, and gives the image's size when
//!   `images` does not;
//! - an annotation without a segmentation (or with an empty mask) becomes
//!   the rectangle of its `bbox`.
//!
//! Note that our rasterization of parts that overlap one another cancels
//! the overlap (even-odd), where pycocotools unions them: COCO files from
//! elsewhere with overlapping parts draw differently.
//!
//! Every problem is an [`Error::Invalid`] naming the file and the JSON path
//! (`annotations[3].bbox`).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use labels_model::{
    Attributes, Chip, ChipFormat, ChipGeoref, Class, Error, Fidelity, Geometry, Label, LabelFormat,
    LabelWriter, LabelingType, LeftBehind, Output, Polygon, Project, Result, Ring,
};
use pixel_geometry::{Mask, rasterize, rle, trace};
use raster_georef::shorten_quotes;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::common::{
    ChipIds, denoise, entries, ext_is, file_stem, folder_name, head_holds, place_image,
    placed_name, split_from_subset, split_rank,
};

/// The COCO file of a split in a store.
fn annotation_file(split: &str) -> String {
    format!("coco/annotations/instances_{split}.json")
}

/// Where the chips of a split are placed again, `file_name` being relative
/// to it.
fn image_dir(split: &str) -> String {
    format!("coco/images/{split}")
}
/// The files of a labelstore store root that are not COCO files.
const NOT_COCO: [&str; 2] = ["project.json", "labelstore-manifest.json"];

/// The format's name on the command line and in store manifests.
const NAME: &str = "coco";

/// COCO object detection and instance segmentation: one
/// `instances_<split>.json` per split, category ids equal to labelstore
/// class ids.
///
/// The default writes no date (`info` has no `year` nor `date_created`),
/// so that the same project gives the same bytes;
/// [`CocoFormat::created_at`] gives the file a creation time (the caller's
/// `SOURCE_DATE_EPOCH`: the library never reads the clock nor the
/// environment).
#[derive(Debug, Clone, Copy, Default)]
pub struct CocoFormat {
    /// Seconds since the Unix epoch for `info.date_created`, if any.
    created: Option<i64>,
}

impl CocoFormat {
    /// COCO whose files say they were created at `secs` seconds since the
    /// Unix epoch (`info.year` and `info.date_created`), or carry no date
    /// when `None`.
    #[must_use]
    pub fn created_at(secs: Option<i64>) -> CocoFormat {
        CocoFormat { created: secs }
    }
}

impl LabelFormat for CocoFormat {
    fn name(&self) -> &'static str {
        NAME
    }

    fn labeling_types(&self) -> &'static [LabelingType] {
        &[
            LabelingType::ObjectDetection,
            LabelingType::InstanceSegmentation,
        ]
    }

    fn layout(&self) -> &'static str {
        "coco/annotations/instances_<split>.json, coco/images/<split>/"
    }

    /// A COCO file (a `.json` whose beginning has an `images` key), or a
    /// folder (or a store's `coco/`) holding `annotations/instances_*.json`
    /// (Datumaro's `coco_instances`), or COCO files in `annotations/` or in
    /// itself.
    fn recognizes(&self, path: &Path) -> bool {
        let coco_file = |p: &Path| {
            ext_is(p, &["json"])
                && !p
                    .file_name()
                    .is_some_and(|n| NOT_COCO.iter().any(|c| n == *c))
                && head_holds(p, "\"images\"")
        };
        if path.is_file() {
            return coco_file(path);
        }
        [path.join(NAME), path.to_path_buf()].iter().any(|root| {
            let ann = root.join("annotations");
            entries(&ann).iter().any(|p| {
                ext_is(p, &["json"])
                    && p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("instances_"))
            }) || entries(&ann)
                .iter()
                .chain(&entries(root))
                .any(|p| coco_file(p))
        })
    }

    fn writer(&self, header: &Project) -> Box<dyn LabelWriter> {
        self.writer_placing(header, ChipFormat::Keep)
    }

    /// `images/<split>/<chip id>.png` or `.jpg` as `chips` says, named by
    /// each image's `file_name`.
    fn writer_placing(&self, header: &Project, chips: ChipFormat) -> Box<dyn LabelWriter> {
        Box::new(CocoWriter::new(header, self.created, chips))
    }

    fn read(&self, path: &Path) -> Result<Project> {
        read_coco(path).map(|(project, _)| project)
    }

    /// What is not brought over, counted: annotations' keypoints (in the
    /// files read, and in `person_keypoints_*.json` beside them, which are
    /// not read) and the captions of `captions_*.json` beside them.
    fn read_dataset(&self, path: &Path) -> Result<(Project, LeftBehind)> {
        read_coco(path)
    }

    /// One `instances_<split>.json` per split, read back each chip's split
    /// from its file's name.
    fn keeps_splits(&self) -> bool {
        true
    }

    /// Boxes come back within 1e-6 px (`xmax` is recomputed as `x + w`),
    /// class ids and every attribute as they were, chips saved empty too.
    /// Instance segmentation: the same, and polygons come back as drawn,
    /// those with holes as the same mask (see
    /// [`CocoFormat::geometry_survives_as_mask`]). Labels of zero area are
    /// left out.
    fn fidelity(&self) -> Fidelity {
        Fidelity {
            pixel_tolerance: Some(1e-6),
            class_ids: true,
            attributes: None,
            empty_chips: true,
        }
    }

    /// Instance segmentation: polygons without holes come back vertex for
    /// vertex; those with holes come back as their mask's outline along
    /// pixel edges, which rasterizes to the same pixels.
    fn geometry_survives_as_mask(&self, labeling_type: LabelingType) -> bool {
        labeling_type == LabelingType::InstanceSegmentation
    }
}

/// Year, month, day, hour, minute, second (UTC) of a Unix time.
fn civil(secs: i64) -> (i64, i64, i64, i64, i64, i64) {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rem / 3600, rem % 3600 / 60, rem % 60)
}

// ---------------------------------------------------------------------------
// Wire structs

#[derive(Serialize)]
struct WireInfo<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    year: Option<i64>,
    version: &'a str,
    description: &'a str,
    contributor: &'a str,
    url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    date_created: Option<String>,
}

#[derive(Serialize)]
struct WireLicense<'a> {
    id: u32,
    name: &'a str,
    url: &'a str,
}

#[derive(Serialize)]
struct WireImage<'a> {
    id: u64,
    width: u32,
    height: u32,
    file_name: &'a str,
    license: u32,
    flickr_url: &'a str,
    coco_url: &'a str,
    date_captured: &'a str,
}

#[derive(Serialize)]
struct WireAnnotation {
    id: u64,
    image_id: u64,
    category_id: u32,
    segmentation: Segmentation,
    area: f64,
    bbox: [f64; 4],
    iscrowd: u8,
    #[serde(skip_serializing_if = "Attributes::is_empty")]
    attributes: Attributes,
}

#[derive(Serialize)]
struct WireCategory<'a> {
    id: u32,
    name: &'a str,
    supercategory: &'a str,
}

/// An annotation's `segmentation`: polygons (flat `[x1, y1, x2, y2, ...]`
/// lists, one per part) or a run-length-encoded mask. Object detection
/// writes empty polygons; instance segmentation will write the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Segmentation {
    /// Parts of one object, each a flat list of coordinates.
    Polygons(Vec<Vec<f64>>),
    /// A mask, column-major, `size` being `[height, width]`.
    Rle(Rle),
}

/// A run-length-encoded mask (FORMATS.md 1.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Rle {
    size: [u32; 2],
    counts: RleCounts,
}

/// RLE runs: a list (uncompressed) or pycocotools' compressed string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum RleCounts {
    Runs(Vec<u64>),
    Compressed(String),
}

/// An image or annotation id as other tools write it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(untagged)]
enum AnyId {
    Int(i64),
    Str(String),
}

impl std::fmt::Display for AnyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnyId::Int(i) => write!(f, "{i}"),
            AnyId::Str(s) => write!(f, "{s:?}"),
        }
    }
}

#[derive(Deserialize)]
struct ReadFile {
    #[serde(default)]
    info: Option<Value>,
    images: Vec<ReadImage>,
    #[serde(default)]
    annotations: Vec<ReadAnnotation>,
    categories: Vec<ReadCategory>,
}

#[derive(Deserialize)]
struct ReadImage {
    id: AnyId,
    #[serde(default)]
    width: Option<f64>,
    #[serde(default)]
    height: Option<f64>,
    file_name: String,
}

#[derive(Deserialize)]
struct ReadAnnotation {
    image_id: AnyId,
    category_id: i64,
    #[serde(default)]
    bbox: Option<Vec<f64>>,
    #[serde(default)]
    iscrowd: Option<Value>,
    #[serde(default, deserialize_with = "read_segmentation")]
    segmentation: ReadSegmentation,
    #[serde(default)]
    attributes: Option<Attributes>,
    #[serde(default)]
    score: Option<f64>,
    /// Not brought over; counted.
    #[serde(default)]
    keypoints: Option<Value>,
}

/// A COCO file beside those read that is not read (captions, person
/// keypoints): only its annotations, to count them.
#[derive(Deserialize)]
struct OtherFile {
    #[serde(default)]
    annotations: Vec<OtherAnnotation>,
}

#[derive(Deserialize)]
struct OtherAnnotation {
    #[serde(default)]
    keypoints: Option<Value>,
}

/// Whether an annotation's `keypoints` holds any keypoint.
fn has_keypoints(k: Option<&Value>) -> bool {
    k.and_then(Value::as_array).is_some_and(|a| !a.is_empty())
}

/// Counts in `left` what the COCO files beside `read` (in the same folder)
/// hold that is not read: captions (`captions_*.json`) and keypoints
/// (`person_keypoints_*.json`). A file that does not parse is not counted.
fn tally_other_files(read: &[PathBuf], left: &mut LeftBehind) {
    let Some(dir) = read.first().and_then(|f| f.parent()) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut others: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| !read.contains(p) && p.is_file())
        .collect();
    others.sort();
    for file in others {
        let name = file.file_name().map(|n| n.to_string_lossy().to_lowercase());
        let Some(name) = name.filter(|n| n.ends_with(".json")) else {
            continue;
        };
        let (what, keypoints_only) = if name.starts_with("captions_") {
            ("COCO captions", false)
        } else if name.starts_with("person_keypoints_") {
            ("COCO keypoints", true)
        } else {
            continue;
        };
        let Ok(data) = labels_model::read_regular(&file)
            .map_err(|_| ())
            .and_then(|b| serde_json::from_slice::<OtherFile>(&b).map_err(|_| ()))
        else {
            continue;
        };
        let n = data
            .annotations
            .iter()
            .filter(|a| !keypoints_only || has_keypoints(a.keypoints.as_ref()))
            .count();
        if n > 0 {
            *left.entry(what).or_default() += n;
        }
    }
}

#[derive(Deserialize)]
struct ReadCategory {
    id: i64,
    name: String,
}

/// An annotation's `segmentation` as read.
#[derive(Debug, Default)]
enum ReadSegmentation {
    /// Absent, `null`, `[]` or `[[]]` (Datumaro's empty polygon).
    #[default]
    None,
    /// Polygons or RLE.
    Some(Segmentation),
    /// Something else, reported when the file is one of instance
    /// segmentation.
    Malformed,
}

fn read_segmentation<'de, D: Deserializer<'de>>(d: D) -> Result<ReadSegmentation, D::Error> {
    let v = Value::deserialize(d)?;
    let empty = match &v {
        Value::Null => true,
        Value::Array(parts) => parts
            .iter()
            .all(|p| p.as_array().is_some_and(Vec::is_empty)),
        _ => false,
    };
    Ok(if empty {
        ReadSegmentation::None
    } else {
        serde_json::from_value(v).map_or(ReadSegmentation::Malformed, ReadSegmentation::Some)
    })
}

// ---------------------------------------------------------------------------
// Writer

/// Streams the COCO files of one store, one per split.
struct CocoWriter {
    name: String,
    /// Boxes (object detection) or polygons (instance segmentation).
    labeling_type: LabelingType,
    /// `(id, name)` of every class, in the project's order.
    classes: Vec<(u32, String)>,
    /// Seconds since the Unix epoch for `info.date_created`, if any.
    created: Option<i64>,
    /// The file of each split met, in the order first met.
    parts: Vec<Part>,
    /// Labels left out: zero width, height or area as COCO writes them.
    degenerate: usize,
    /// The file type of the images placed in `images/<split>/`.
    chips: ChipFormat,
}

/// The COCO file of one split, being written.
struct Part {
    split: String,
    /// `annotations/instances_<split>.json` in the store.
    file: String,
    images: u64,
    annotations: u64,
    /// The annotations so far, waiting for the images array to close.
    spool: Option<BufWriter<File>>,
}

impl std::fmt::Debug for CocoWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let counts: Vec<(&str, u64, u64)> = self
            .parts
            .iter()
            .map(|p| (p.split.as_str(), p.images, p.annotations))
            .collect();
        f.debug_struct("CocoWriter")
            .field("splits", &counts)
            .finish_non_exhaustive()
    }
}

fn to_json<T: Serialize>(value: &T) -> String {
    // Plain structs and maps with string keys always serialize.
    serde_json::to_string(value).unwrap_or_default()
}

fn out_err(file: &str) -> impl FnOnce(io::Error) -> Error {
    move |e| Error::Io {
        path: file.into(),
        source: e,
    }
}

fn spool_err(e: io::Error) -> Error {
    Error::Io {
        path: std::env::temp_dir().join("(labelstore COCO annotation spool)"),
        source: e,
    }
}

/// Whether a label's `iscrowd` attribute marks a crowd region.
fn is_crowd(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|x| x != 0.0),
        _ => false,
    }
}

impl CocoWriter {
    fn new(header: &Project, created: Option<i64>, chips: ChipFormat) -> CocoWriter {
        CocoWriter {
            name: header.name.clone(),
            labeling_type: header.labeling_type,
            classes: header
                .classes
                .iter()
                .map(|c| (c.id, c.name.clone()))
                .collect(),
            created,
            parts: Vec::new(),
            degenerate: 0,
            chips,
        }
    }

    /// The index in `parts` of the file of `split`, added when first met.
    fn part(&mut self, split: &str) -> usize {
        if let Some(i) = self.parts.iter().position(|p| p.split == split) {
            return i;
        }
        self.parts.push(Part {
            split: split.to_owned(),
            file: annotation_file(split),
            images: 0,
            annotations: 0,
            spool: None,
        });
        self.parts.len() - 1
    }

    /// Everything before the first image.
    fn head(&self) -> String {
        let date = self.created.map(civil);
        let info = WireInfo {
            year: date.map(|(year, ..)| year),
            version: "1.0",
            description: &self.name,
            contributor: "labelstore",
            url: "",
            date_created: date.map(|(year, mo, d, h, mi, s)| {
                format!("{year:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
            }),
        };
        let licenses = [WireLicense {
            id: 0,
            name: "",
            url: "",
        }];
        format!(
            "{{\n  \"info\": {},\n  \"licenses\": {},\n  \"images\": [",
            to_json(&info),
            to_json(&licenses)
        )
    }

    fn annotation(
        &mut self,
        chip: &Chip,
        (image_id, width, height): (u64, u32, u32),
        k: usize,
        label: &Label,
        id: u64,
    ) -> Result<Option<String>> {
        let bad = |msg: &str| {
            Error::invalid(
                &chip.image,
                Some(&chip.id),
                format!("labels[{k}].{}", label.geometry.field()),
                msg,
            )
        };
        let (segmentation, area, bbox) = match (&label.geometry, self.labeling_type) {
            (Geometry::BBox([x0, y0, x1, y1]), LabelingType::ObjectDetection) => {
                let (w, h) = (x1 - x0, y1 - y0);
                let corners = vec![*x0, *y0, *x1, *y0, *x1, *y1, *x0, *y1];
                (
                    Segmentation::Polygons(vec![corners]),
                    w * h,
                    [*x0, *y0, w, h],
                )
            }
            (_, LabelingType::ObjectDetection) => {
                return Err(bad("COCO object detection holds boxes only"));
            }
            (Geometry::BBox(_), _) => {
                return Err(bad(
                    "COCO instance segmentation holds polygons and multipolygons, not boxes",
                ));
            }
            (g, _) => {
                let Instance {
                    segmentation,
                    area,
                    bbox,
                } = instance(g, width, height).map_err(|m| bad(&m))?;
                (segmentation, area as f64, bbox)
            }
        };
        // Zero width, height or area: torchvision and others reject it.
        if area <= 0.0 || bbox[2] <= 0.0 || bbox[3] <= 0.0 {
            self.degenerate += 1;
            return Ok(None);
        }
        let crowd = label.attributes.get("iscrowd");
        let mut attributes = label.attributes.clone();
        if crowd.is_some_and(|v| v.as_u64() == Some(1)) {
            attributes.remove("iscrowd");
        }
        Ok(Some(to_json(&WireAnnotation {
            id,
            image_id,
            category_id: label.class_id,
            segmentation,
            area,
            bbox,
            iscrowd: u8::from(is_crowd(crowd)),
            attributes,
        })))
    }
}

impl Part {
    fn spool(&mut self, text: &str) -> io::Result<()> {
        if self.spool.is_none() {
            self.spool = Some(BufWriter::new(tempfile::tempfile()?));
        }
        match &mut self.spool {
            Some(w) => w.write_all(text.as_bytes()),
            None => Err(io::Error::other("the spool vanished")),
        }
    }

    /// Copies the spooled annotations to `out`.
    fn unspool(&mut self, out: &mut dyn Output) -> Result<()> {
        let Some(w) = self.spool.take() else {
            return Ok(());
        };
        let mut file = w.into_inner().map_err(|e| spool_err(e.into_error()))?;
        file.rewind().map_err(spool_err)?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = file.read(&mut buf).map_err(spool_err)?;
            if n == 0 {
                return Ok(());
            }
            out.append(&self.file, &buf[..n])
                .map_err(out_err(&self.file))?;
        }
    }
}

impl LabelWriter for CocoWriter {
    fn write_chip(
        &mut self,
        chip: &Chip,
        _georef: &ChipGeoref,
        out: &mut dyn Output,
    ) -> Result<()> {
        let (Some(width), Some(height)) = (chip.width, chip.height) else {
            return Err(Error::invalid(
                &chip.image,
                Some(&chip.id),
                "width",
                "the chip's size is unknown",
            ));
        };
        if self.labeling_type != LabelingType::ObjectDetection
            && u64::from(width) * u64::from(height) > u64::from(u32::MAX)
        {
            return Err(Error::invalid(
                &chip.image,
                Some(&chip.id),
                "width",
                format!(
                    "a {width}x{height} chip is too large for COCO run-length encoding \
                     (at most {} pixels)",
                    u32::MAX
                ),
            ));
        }
        let keep_ext = chip
            .image
            .extension()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default();
        let file_name = placed_name(&chip.id, &keep_ext, self.chips);
        let p = self.part(chip.split());
        self.parts[p].images += 1;
        let image_id = self.parts[p].images;
        let mut text = if image_id == 1 {
            self.head()
        } else {
            ",".to_owned()
        };
        text += "\n    ";
        text += &to_json(&WireImage {
            id: image_id,
            width,
            height,
            file_name: &file_name,
            license: 0,
            flickr_url: "",
            coco_url: "",
            date_captured: "",
        });
        let file = &self.parts[p].file;
        out.append(file, text.as_bytes()).map_err(out_err(file))?;
        let dir = image_dir(chip.split());
        place_image(chip, &dir, &keep_ext, self.chips, out)?;
        for (k, label) in chip.labels.iter().enumerate() {
            let id = self.parts[p].annotations + 1;
            let sep = if id == 1 { "" } else { "," };
            let Some(line) = self.annotation(chip, (image_id, width, height), k, label, id)? else {
                continue;
            };
            self.parts[p].annotations = id;
            self.parts[p]
                .spool(&format!("{sep}\n    {line}"))
                .map_err(spool_err)?;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut dyn Output) -> Result<()> {
        // An empty store still has its (train) file.
        if self.parts.is_empty() {
            self.part(labels_model::DEFAULT_SPLIT);
        }
        let mut parts = std::mem::take(&mut self.parts);
        for part in &mut parts {
            self.finish_part(part, out)?;
        }
        self.parts = parts;
        Ok(())
    }

    fn notes(&self) -> Vec<(&'static str, usize)> {
        if self.degenerate == 0 {
            return Vec::new();
        }
        vec![(
            "labels left out: zero width, height or area",
            self.degenerate,
        )]
    }
}

impl CocoWriter {
    /// Closes the images of `part`, copies its annotations, and ends its
    /// file with the categories.
    fn finish_part(&self, part: &mut Part, out: &mut dyn Output) -> Result<()> {
        let mut text = if part.images == 0 {
            self.head() + "]"
        } else {
            "\n  ]".to_owned()
        };
        text += ",\n  \"annotations\": [";
        out.append(&part.file, text.as_bytes())
            .map_err(out_err(&part.file))?;
        part.unspool(out)?;
        let mut text = if part.annotations == 0 {
            "]".to_owned()
        } else {
            "\n  ]".to_owned()
        };
        text += ",\n  \"categories\": [";
        for (i, (id, name)) in self.classes.iter().enumerate() {
            text += if i == 0 { "\n    " } else { ",\n    " };
            text += &to_json(&WireCategory {
                id: *id,
                name,
                supercategory: "",
            });
        }
        text += if self.classes.is_empty() {
            "]"
        } else {
            "\n  ]"
        };
        text += "\n}\n";
        out.append(&part.file, text.as_bytes())
            .map_err(out_err(&part.file))
    }
}

// ---------------------------------------------------------------------------
// Instance segmentation

/// An instance as one annotation writes it.
#[derive(Debug, PartialEq)]
struct Instance {
    segmentation: Segmentation,
    /// The pixels pycocotools draws for `segmentation` (`maskUtils.area`).
    area: u64,
    /// The extent of what is written, `[x, y, w, h]`: the polygon's
    /// vertices, or the mask's pixels.
    bbox: [f64; 4],
}

/// The annotation of the polygon or multipolygon `g` on a `width` x
/// `height` chip (module docs: the parts as drawn, else, with holes, RLE
/// of our rasterization), or what is wrong with it.
fn instance(g: &Geometry, width: u32, height: u32) -> std::result::Result<Instance, String> {
    let polygons: Vec<&Polygon> = match g {
        Geometry::Polygon(p) => vec![p],
        Geometry::MultiPolygon(m) => m.iter().collect(),
        _ => return Err("not a polygon".into()),
    };
    let points = || polygons.iter().flat_map(|p| p.iter().flatten());
    if points().flatten().any(|v| !v.is_finite()) {
        return Err("a coordinate is not a finite number".into());
    }
    let [bx0, by0, bx1, by1] = points().fold(
        [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ],
        |[a, b, c, d], &[x, y]| [a.min(x), b.min(y), c.max(x), d.max(y)],
    );
    if !bx0.is_finite() {
        return Err("the geometry has no points".into());
    }
    let total = u32::try_from(u64::from(width) * u64::from(height)).unwrap_or(u32::MAX);

    // 1. The parts as drawn, when none has holes: pycocotools' own
    //    rasterization of them gives the area.
    if polygons.iter().all(|p| p.len() == 1) {
        let flat: Vec<Vec<f64>> = polygons
            .iter()
            .map(|p| &p[0])
            .filter(|r| distinct_points(r) >= 3)
            .map(|r| r.iter().flatten().copied().collect())
            .collect();
        let theirs = flat.iter().fold(vec![total], |acc, xy| {
            rle::union(&acc, &rle::from_polygon(xy, width, height))
        });
        let area = theirs
            .iter()
            .skip(1)
            .step_by(2)
            .map(|&n| u64::from(n))
            .sum();
        return Ok(Instance {
            segmentation: Segmentation::Polygons(flat),
            area,
            bbox: [bx0, by0, bx1 - bx0, by1 - by0],
        });
    }

    // 2. Holes: the mask we draw (pixel centres decide), as RLE.
    let (w, h) = (f64::from(width), f64::from(height));
    // The window of whole pixels that can hold the instance's pixels.
    let whole = |v: f64, max: f64| v.clamp(0.0, max) as u32;
    let (x0, y0) = (whole(bx0.floor(), w), whole(by0.floor(), h));
    let (x1, y1) = (whole(bx1.ceil(), w), whole(by1.ceil(), h));
    let shift = |dx: f64, dy: f64| {
        let ring = |r: &Ring| r.iter().map(|&[x, y]| [x + dx, y + dy]).collect();
        Geometry::MultiPolygon(
            polygons
                .iter()
                .map(|p| p.iter().map(ring).collect())
                .collect(),
        )
    };
    let window = rasterize(
        x1.saturating_sub(x0),
        y1.saturating_sub(y0),
        0,
        [(&shift(-f64::from(x0), -f64::from(y0)), 1)],
    );
    let area = window.data.iter().filter(|&&v| v == 1).count() as u64;
    let bbox = extent(&window).map_or([0.0; 4], |[ex0, ey0, ex1, ey1]| {
        [
            f64::from(x0 + ex0),
            f64::from(y0 + ey0),
            f64::from(ex1 - ex0),
            f64::from(ey1 - ey0),
        ]
    });
    let ours = rle::counts_placed(&window, 1, x0, y0, width, height);
    Ok(Instance {
        segmentation: Segmentation::Rle(Rle {
            size: [height, width],
            counts: RleCounts::Compressed(rle::encode(&ours)),
        }),
        area,
        bbox,
    })
}

/// How many distinct points a ring has (a closing point repeating the
/// first, and points repeating the one before, do not count).
fn distinct_points(ring: &Ring) -> usize {
    let mut pts: Vec<[f64; 2]> = ring.clone();
    if pts.len() > 1 && pts.first() == pts.last() {
        pts.pop();
    }
    pts.dedup();
    pts.len()
}

/// The extent `[x0, y0, x1, y1]` (exclusive ends) of the pixels set in a
/// mask, or `None` when none is.
fn extent(mask: &Mask) -> Option<[u32; 4]> {
    let w = mask.width as usize;
    let mut out: Option<[u32; 4]> = None;
    for (i, _) in mask.data.iter().enumerate().filter(|(_, v)| **v == 1) {
        let (x, y) = ((i % w) as u32, (i / w) as u32);
        out = Some(match out {
            None => [x, y, x + 1, y + 1],
            Some([a, b, c, d]) => [a.min(x), b.min(y), c.max(x + 1), d.max(y + 1)],
        });
    }
    out
}

// ---------------------------------------------------------------------------
// Reader

/// Finds the COCO files `path` names: the file itself; or every
/// `instances_<split>.json` in `<path>/coco/annotations/` or
/// `<path>/annotations/` (in split order: train, val, test, then the
/// others by name); else the one `.json` file there or in `<path>`.
fn find_files(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    if !path.is_dir() {
        return Err(Error::invalid(path, None, "", "no such file or folder"));
    }
    let json_in = |dir: &Path, prefix: &str| -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.extension()
                        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
                    && p.file_name().is_some_and(|n| {
                        let n = n.to_string_lossy();
                        n.starts_with(prefix) && !NOT_COCO.contains(&n.as_ref())
                    })
            })
            .collect();
        found.sort();
        found
    };
    let roots = [path.join("coco"), path.to_path_buf()];
    for root in roots.iter().filter(|r| r.is_dir()) {
        let ann = root.join("annotations");
        let mut splits = json_in(&ann, "instances_");
        if !splits.is_empty() {
            splits.sort_by_cached_key(|f| {
                let split = subset_of(f).unwrap_or_default();
                (split_rank(&split).0, split)
            });
            return Ok(splits);
        }
        for found in [json_in(&ann, ""), json_in(root, "")] {
            match found.len() {
                0 => continue,
                1 => return Ok(found),
                _ => {
                    let names: Vec<_> = found.iter().map(|p| p.display().to_string()).collect();
                    return Err(Error::invalid(
                        path,
                        None,
                        "",
                        format!(
                            "several COCO files found ({}): give the one to read",
                            names.join(", ")
                        ),
                    ));
                }
            }
        }
    }
    Err(Error::invalid(
        path,
        None,
        "",
        "no COCO file found (annotations/instances_<subset>.json, or a .json file)",
    ))
}

/// The subset a COCO file's name gives: `<subset>` of
/// `instances_<subset>.json`.
fn subset_of(file: &Path) -> Option<String> {
    let stem = file.file_stem()?.to_string_lossy();
    stem.strip_prefix("instances_")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn parse(file: &Path) -> Result<ReadFile> {
    // Read whole and parsed from memory, several times faster than through
    // a reader: the dataset is held whole once parsed anyway.
    let bytes = labels_model::read_regular(file).map_err(|e| Error::Io {
        path: file.to_path_buf(),
        source: e,
    })?;
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let data: ReadFile = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = match e.path().to_string() {
            p if p == "." => String::new(),
            p => p,
        };
        Error::invalid(file, None, field, shorten_quotes(&e.inner().to_string()))
    })?;
    de.end()
        .map_err(|e| Error::invalid(file, None, "", shorten_quotes(&e.to_string())))?;
    Ok(data)
}

/// Where a COCO file's images are: its dataset root and the folders
/// (relative to it) that may hold `file_name`.
struct ImageFolders {
    root: PathBuf,
    prefixes: Vec<PathBuf>,
    last: usize,
}

impl ImageFolders {
    fn new(file: &Path) -> ImageFolders {
        let dir = file.parent().unwrap_or(Path::new("")).to_path_buf();
        let root = match (dir.file_name(), dir.parent()) {
            (Some(n), Some(parent)) if n == "annotations" => parent.to_path_buf(),
            _ => dir,
        };
        let subset = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .and_then(|s| s.split_once('_').map(|(_, sub)| sub.to_owned()))
            .filter(|s| !s.is_empty());
        let mut prefixes = Vec::new();
        if let Some(s) = &subset {
            prefixes.push(Path::new("images").join(s));
        }
        prefixes.push(PathBuf::from("images"));
        if let Some(s) = &subset {
            prefixes.push(PathBuf::from(s));
        }
        prefixes.push(PathBuf::new());
        // Until an image is found, the first folder that exists is the guess.
        let last = prefixes
            .iter()
            .position(|p| root.join(p).is_dir() && !p.as_os_str().is_empty())
            .unwrap_or(prefixes.len() - 1);
        ImageFolders {
            root,
            prefixes,
            last,
        }
    }

    /// The image path (relative to the root, unless absolute) for `file_name`.
    fn locate(&mut self, file_name: &str) -> PathBuf {
        let name = PathBuf::from(file_name.replace('\\', "/"));
        if name.is_absolute() {
            return name;
        }
        let order = std::iter::once(self.last).chain(0..self.prefixes.len());
        for i in order {
            let candidate = self.prefixes[i].join(&name);
            if self.root.join(&candidate).is_file() {
                self.last = i;
                return candidate;
            }
        }
        self.prefixes[self.last].join(&name)
    }
}

fn positive_size(v: Option<f64>) -> Option<Option<u32>> {
    match v {
        None => Some(None),
        Some(x) if x.fract() == 0.0 && x >= 1.0 && x <= f64::from(u32::MAX) => Some(Some(x as u32)),
        Some(_) => None,
    }
}

/// Makes the error at a field of the COCO file being read.
type Bad<'a> = &'a dyn Fn(String, String) -> Error;

fn read_coco(path: &Path) -> Result<(Project, LeftBehind)> {
    let files = find_files(path)?;
    let mut left = LeftBehind::new();
    if path.is_dir() {
        tally_other_files(&files, &mut left);
    }
    let parsed = files
        .iter()
        .map(|f| parse(f))
        .collect::<Result<Vec<ReadFile>>>()?;

    // Labels: boxes, unless some annotation has a segmentation other than
    // its box's outline.
    let labeling_type = if parsed.iter().flat_map(|d| &d.annotations).any(|a| {
        !matches!(a.segmentation, ReadSegmentation::None)
            && !is_box_outline(&a.segmentation, a.bbox.as_deref())
    }) {
        LabelingType::InstanceSegmentation
    } else {
        LabelingType::ObjectDetection
    };
    let mut ids = ChipIds::default();
    let mut classes: Vec<Class> = Vec::new();
    let mut chips: Vec<Chip> = Vec::new();
    let mut name = None;
    let mut root = None;
    for (file, data) in files.iter().zip(parsed) {
        let bad = |field: String, msg: String| Error::invalid(file, None, field, msg);
        let (file_classes, shift) = read_categories(&data.categories, &bad)?;
        merge_classes(&mut classes, file_classes, &bad)?;
        let mut folders = ImageFolders::new(file);
        let (mut file_chips, by_image) = read_images(&data.images, &mut folders, &mut ids, &bad)?;
        let split = subset_of(file).and_then(|s| split_from_subset(&s));
        let keypoints = data
            .annotations
            .iter()
            .filter(|a| has_keypoints(a.keypoints.as_ref()))
            .count();
        if keypoints > 0 {
            *left.entry("COCO keypoints").or_default() += keypoints;
        }
        read_annotations(
            data.annotations,
            (labeling_type, shift, &classes),
            &by_image,
            &mut file_chips,
            &bad,
        )?;
        for chip in &mut file_chips {
            chip.saved_empty = chip.labels.is_empty();
            chip.split.clone_from(&split);
        }
        chips.append(&mut file_chips);
        if name.is_none() {
            name = data
                .info
                .as_ref()
                .and_then(|i| i.get("description"))
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .map(str::to_owned);
        }
        root.get_or_insert(folders.root);
    }
    let root = root.unwrap_or_default();
    let project = Project {
        name: name.unwrap_or_else(|| folder_name(&root)),
        labeling_type,
        srid: None,
        classes,
        chips,
        base_dir: root,
        manifest_path: files.into_iter().next().unwrap_or_default(),
    };
    Ok((project, left))
}

/// Adds the classes of one file to those of the files before it: a class
/// they have (same id, same name) once, a new one at the end; the same id
/// or name given to another class is an error.
fn merge_classes(classes: &mut Vec<Class>, more: Vec<Class>, bad: Bad<'_>) -> Result<()> {
    for (i, c) in more.into_iter().enumerate() {
        match classes.iter().find(|k| k.id == c.id || k.name == c.name) {
            Some(k) if k.id == c.id && k.name == c.name => {}
            Some(k) => {
                return Err(bad(
                    format!("categories[{i}]"),
                    format!(
                        "category {} {:?} differs from category {} {:?} of an earlier file \
                         of the dataset",
                        c.id, c.name, k.id, k.name
                    ),
                ));
            }
            None => classes.push(c),
        }
    }
    Ok(())
}

/// Turns one file's annotations into labels of its `chips` (indexed by
/// image id in `by_image`).
fn read_annotations(
    annotations: Vec<ReadAnnotation>,
    (labeling_type, shift, classes): (LabelingType, i64, &[Class]),
    by_image: &HashMap<AnyId, usize>,
    chips: &mut [Chip],
    bad: Bad<'_>,
) -> Result<()> {
    for (i, a) in annotations.into_iter().enumerate() {
        let field = |f: &str| format!("annotations[{i}].{f}");
        let &c = by_image
            .get(&a.image_id)
            .ok_or_else(|| bad(field("image_id"), format!("no image has id {}", a.image_id)))?;
        let class_id = a
            .category_id
            .checked_add(shift)
            .and_then(|id| u32::try_from(id).ok())
            .filter(|id| classes.iter().any(|k| k.id == *id))
            .ok_or_else(|| {
                bad(
                    field("category_id"),
                    format!("no category has id {}", a.category_id),
                )
            })?;
        let geometry = match labeling_type {
            LabelingType::ObjectDetection => box_geometry(a.bbox.as_deref(), i, bad)?,
            _ => instance_geometry(&a, i, &mut chips[c], bad)?,
        };
        let mut attributes = a.attributes.unwrap_or_default();
        if is_crowd(a.iscrowd.as_ref()) && !attributes.contains_key("iscrowd") {
            attributes.insert("iscrowd".into(), Value::from(1));
        }
        if let Some(score) = a.score.filter(|_| !attributes.contains_key("score")) {
            attributes.insert("score".into(), Value::from(score));
        }
        chips[c].labels.push(Label {
            class_id,
            geometry,
            attributes,
        });
    }
    Ok(())
}

/// The classes: ids as they are, shifted (by the amount returned) when
/// some are below 1.
fn read_categories(categories: &[ReadCategory], bad: Bad<'_>) -> Result<(Vec<Class>, i64)> {
    let min_id = categories.iter().map(|c| c.id).min().unwrap_or(1);
    let shift = if min_id < 1 { 1 - min_id } else { 0 };
    let mut classes: Vec<Class> = Vec::with_capacity(categories.len());
    for (i, c) in categories.iter().enumerate() {
        let id =
            c.id.checked_add(shift)
                .and_then(|id| u32::try_from(id).ok())
                .ok_or_else(|| {
                    bad(
                        format!("categories[{i}].id"),
                        format!("id {} is out of range", c.id),
                    )
                })?;
        if classes.iter().any(|k| k.id == id) {
            return Err(bad(
                format!("categories[{i}].id"),
                format!("duplicate category id {}", c.id),
            ));
        }
        if c.name.trim().is_empty() {
            return Err(bad(
                format!("categories[{i}].name"),
                "the category name is empty".into(),
            ));
        }
        if classes.iter().any(|k| k.name == c.name) {
            return Err(bad(
                format!("categories[{i}].name"),
                format!("duplicate category name {:?}", c.name),
            ));
        }
        classes.push(Class {
            id,
            name: c.name.clone(),
            color: None,
        });
    }
    Ok((classes, shift))
}

/// The chips, one per image, and the index of each image's chip by id.
fn read_images(
    images: &[ReadImage],
    folders: &mut ImageFolders,
    ids: &mut ChipIds,
    bad: Bad<'_>,
) -> Result<(Vec<Chip>, HashMap<AnyId, usize>)> {
    let mut by_image: HashMap<AnyId, usize> = HashMap::with_capacity(images.len());
    let mut chips: Vec<Chip> = Vec::with_capacity(images.len());
    for (i, img) in images.iter().enumerate() {
        if by_image.insert(img.id.clone(), i).is_some() {
            return Err(bad(
                format!("images[{i}].id"),
                format!("duplicate image id {}", img.id),
            ));
        }
        if img.file_name.trim().is_empty() {
            return Err(bad(
                format!("images[{i}].file_name"),
                "the file name is empty".into(),
            ));
        }
        let mut chip = Chip::new(
            ids.id_for(file_stem(&img.file_name)),
            folders.locate(&img.file_name),
        );
        for (field, v, slot) in [
            ("width", img.width, &mut chip.width),
            ("height", img.height, &mut chip.height),
        ] {
            *slot = positive_size(v).ok_or_else(|| {
                bad(
                    format!("images[{i}].{field}"),
                    format!(
                        "{} is not a positive whole number of pixels",
                        v.unwrap_or_default()
                    ),
                )
            })?;
        }
        chips.push(chip);
    }
    Ok((chips, by_image))
}

/// Annotation `i`'s `bbox`, checked; `None` when absent or empty.
fn annotation_bbox(bbox: Option<&[f64]>, i: usize, bad: Bad<'_>) -> Result<Option<[f64; 4]>> {
    match bbox.filter(|b| !b.is_empty()) {
        Some(b) => Ok(Some(
            read_bbox(b).map_err(|m| bad(format!("annotations[{i}].bbox"), m))?,
        )),
        None => Ok(None),
    }
}

/// An object-detection annotation's box.
fn box_geometry(bbox: Option<&[f64]>, i: usize, bad: Bad<'_>) -> Result<Geometry> {
    let [x, y, w, h] = annotation_bbox(bbox, i, bad)?
        .ok_or_else(|| bad(format!("annotations[{i}].bbox"), "missing".into()))?;
    Ok(Geometry::BBox([x, y, denoise(x + w), denoise(y + h)]))
}

/// An instance-segmentation annotation's shape: its polygons, its RLE
/// mask traced (which gives `chip` its size when unknown), or else its box
/// as a 4-corner polygon.
fn instance_geometry(
    a: &ReadAnnotation,
    i: usize,
    chip: &mut Chip,
    bad: Bad<'_>,
) -> Result<Geometry> {
    let field = |f: &str| format!("annotations[{i}].{f}");
    let bbox = annotation_bbox(a.bbox.as_deref(), i, bad)?;
    let traced = match &a.segmentation {
        ReadSegmentation::None => Vec::new(),
        ReadSegmentation::Malformed => {
            return Err(bad(
                field("segmentation"),
                "not a COCO segmentation: expected polygons [[x1, y1, x2, y2, ...], ...] \
                 or an RLE {\"size\": [height, width], \"counts\": ...}"
                    .into(),
            ));
        }
        ReadSegmentation::Some(Segmentation::Polygons(parts)) => {
            read_polygons(parts).map_err(|(f, m)| bad(field(&f), m))?
        }
        ReadSegmentation::Some(Segmentation::Rle(r)) => {
            read_rle(r, chip).map_err(|(f, m)| bad(format!("{}{f}", field("segmentation")), m))?
        }
    };
    Ok(match traced.len() {
        0 => {
            let [x, y, w, h] = bbox.ok_or_else(|| {
                bad(
                    field("bbox"),
                    "missing, and no segmentation to take the instance from".into(),
                )
            })?;
            if w <= 0.0 || h <= 0.0 {
                return Err(bad(
                    field("bbox"),
                    format!(
                        "[{x}, {y}, {w}, {h}] has no area, and no segmentation \
                         gives the instance"
                    ),
                ));
            }
            let (x1, y1) = (x + w, y + h);
            Geometry::Polygon(vec![vec![[x, y], [x1, y], [x1, y1], [x, y1], [x, y]]])
        }
        1 => Geometry::Polygon(traced.into_iter().flatten().collect()),
        _ => Geometry::MultiPolygon(traced),
    })
}

/// Whether `seg` is the one 4-corner polygon `[x0, y0, x1, y0, x1, y1, x0,
/// y1]` of the box `bbox` (`[x, y, w, h]`), as object detection writes it.
fn is_box_outline(seg: &ReadSegmentation, bbox: Option<&[f64]>) -> bool {
    let (ReadSegmentation::Some(Segmentation::Polygons(parts)), Some(&[x, y, w, h])) = (seg, bbox)
    else {
        return false;
    };
    let (x1, y1) = (x + w, y + h);
    let near = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    match parts.as_slice() {
        [part] => {
            part.len() == 8
                && part
                    .iter()
                    .zip([x, y, x1, y, x1, y1, x, y1])
                    .all(|(&a, b)| near(a, b))
        }
        _ => false,
    }
}

/// A COCO `bbox` `[x, y, w, h]`, checked.
fn read_bbox(b: &[f64]) -> std::result::Result<[f64; 4], String> {
    let &[x, y, w, h] = b else {
        return Err(format!("{} numbers, expected 4 (x, y, w, h)", b.len()));
    };
    if ![x, y, w, h].iter().all(|v| v.is_finite()) || w < 0.0 || h < 0.0 {
        return Err(format!(
            "[{x}, {y}, {w}, {h}] is not a box (finite x, y and w, h >= 0)"
        ));
    }
    Ok([x, y, w, h])
}

/// An error in a segmentation: the field below `segmentation` and a message.
type SegError = (String, String);

/// A COCO polygon list as hole-free polygons, one per part of at least 3
/// distinct points (shorter parts are dropped).
fn read_polygons(parts: &[Vec<f64>]) -> std::result::Result<Vec<Polygon>, SegError> {
    let mut out = Vec::with_capacity(parts.len());
    for (k, part) in parts.iter().enumerate() {
        if part.len() % 2 != 0 {
            return Err((
                format!("segmentation[{k}]"),
                format!("{} numbers, expected x, y pairs", part.len()),
            ));
        }
        let ring: Ring = part.chunks_exact(2).map(|p| [p[0], p[1]]).collect();
        if distinct_points(&ring) >= 3 {
            out.push(vec![ring]);
        }
    }
    Ok(out)
}

/// The most pixels the reader traces for one RLE mask (the extent of its
/// pixels set, not the image): 2^28, a 16384 x 16384 window.
const MAX_TRACED_PIXELS: u64 = 1 << 28;

/// An RLE mask as polygons along pixel edges (none when it is empty). Its
/// size must be its image's; it gives the image's size when unknown.
fn read_rle(r: &Rle, chip: &mut Chip) -> std::result::Result<Vec<Polygon>, SegError> {
    let [h, w] = r.size;
    if h == 0 || w == 0 {
        return Err((
            ".size".into(),
            format!("[{h}, {w}] is not a mask size [height, width]"),
        ));
    }
    match (chip.width, chip.height) {
        (Some(iw), Some(ih)) if (iw, ih) != (w, h) => {
            return Err((
                ".size".into(),
                format!("[{h}, {w}] ([height, width]) but the image is {iw}x{ih}"),
            ));
        }
        _ => (chip.width, chip.height) = (Some(w), Some(h)),
    }
    let counts: Vec<u32> = match &r.counts {
        RleCounts::Compressed(s) => rle::decode(s).ok_or_else(|| {
            (
                ".counts".to_owned(),
                "not a compressed RLE string (pycocotools' encoding)".to_owned(),
            )
        })?,
        RleCounts::Runs(runs) => runs
            .iter()
            .map(|&c| u32::try_from(c))
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| (".counts".to_owned(), "a run is too long".to_owned()))?,
    };
    let total: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    if total != u64::from(w) * u64::from(h) {
        return Err((
            ".counts".into(),
            format!(
                "the runs cover {total} pixels, not {h} x {w} = {}",
                u64::from(w) * u64::from(h)
            ),
        ));
    }
    // The set runs, column-major, and the extent of their pixels.
    let h64 = u64::from(h);
    let mut runs: Vec<(u64, u64)> = Vec::new();
    let mut at = 0u64;
    for (i, &c) in counts.iter().enumerate() {
        if i % 2 == 1 && c > 0 {
            runs.push((at, at + u64::from(c)));
        }
        at += u64::from(c);
    }
    let Some(ext) = runs.iter().fold(None, |e: Option<[u64; 4]>, &(s, end)| {
        let (xs, xe) = (s / h64, (end - 1) / h64);
        let (ys, ye) = if xs == xe {
            (s % h64, (end - 1) % h64)
        } else {
            (0, h64 - 1)
        };
        Some(match e {
            None => [xs, ys, xe, ye],
            Some([a, b, c, d]) => [a.min(xs), b.min(ys), c.max(xe), d.max(ye)],
        })
    }) else {
        return Ok(Vec::new());
    };
    let [x0, y0, x1, y1] = ext;
    let (ww, wh) = (x1 - x0 + 1, y1 - y0 + 1);
    if ww * wh > MAX_TRACED_PIXELS {
        return Err((
            ".counts".into(),
            format!(
                "the mask spans {ww}x{wh} pixels, more than this reader traces \
                 ({MAX_TRACED_PIXELS})"
            ),
        ));
    }
    // Both at most 2^28 here, so they fit.
    let (ww32, wh32) = (
        u32::try_from(ww).unwrap_or(u32::MAX),
        u32::try_from(wh).unwrap_or(u32::MAX),
    );
    let mut window = Mask::filled(ww32, wh32, 0);
    for (s, end) in runs {
        for k in s..end {
            let (x, y) = (k / h64 - x0, k % h64 - y0);
            if let Some(v) = window.data.get_mut((y * ww + x) as usize) {
                *v = 1;
            }
        }
    }
    let (dx, dy) = (x0 as f64, y0 as f64);
    Ok(trace(&window, 1)
        .into_iter()
        .map(|p| {
            p.into_iter()
                .map(|r| r.into_iter().map(|[x, y]| [x + dx, y + dy]).collect())
                .collect()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANNOTATION_FILE: &str = "coco/annotations/instances_train.json";
    use labels_model::{GeorefSource, MemoryOutput};
    use std::collections::HashSet;

    fn none() -> ChipGeoref {
        ChipGeoref {
            source: GeorefSource::None,
            transform: None,
            epsg: None,
        }
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
            label(
                1,
                [1.5, 2.25, 10.0, 12.125],
                serde_json::json!({"truncated": true, "score": 0.875, "iscrowd": 1}),
            ),
            label(
                7,
                [0.0, 0.0, 32.0, 32.0],
                serde_json::json!({"iscrowd": false}),
            ),
        ];
        let mut e = Chip::new("e", "chips/e.tif");
        (e.width, e.height) = (Some(16), Some(8));
        e.saved_empty = true;
        let mut b = Chip::new("b", "chips/b.png");
        (b.width, b.height) = (Some(40), Some(30));
        b.labels = vec![label(2, [0.1, 0.2, 0.3, 0.7], Value::Null)];
        Project {
            name: "détection \"x\"".into(),
            labeling_type: LabelingType::ObjectDetection,
            srid: Some(32633),
            classes: vec![class(1, "car"), class(2, "truck"), class(7, "vélo lourd")],
            chips: vec![a, e, b],
            base_dir: PathBuf::new(),
            manifest_path: PathBuf::new(),
        }
    }

    fn write(p: &Project) -> MemoryOutput {
        let mut out = MemoryOutput::default();
        for c in &p.chips {
            out.put(&c.image.to_string_lossy(), c.id.as_bytes().to_vec())
                .unwrap();
        }
        let header = Project {
            chips: Vec::new(),
            ..p.clone()
        };
        let mut w = CocoWriter::new(&header, Some(1_764_040_380), ChipFormat::Keep);
        for c in &p.chips {
            w.write_chip(c, &none(), &mut out).unwrap();
        }
        w.finish(&mut out).unwrap();
        out
    }

    const EXPECTED: &str = r#"{
  "info": {"year":2025,"version":"1.0","description":"détection \"x\"","contributor":"labelstore","url":"","date_created":"2025-11-25T03:13:00Z"},
  "licenses": [{"id":0,"name":"","url":""}],
  "images": [
    {"id":1,"width":32,"height":32,"file_name":"a.png","license":0,"flickr_url":"","coco_url":"","date_captured":""},
    {"id":2,"width":16,"height":8,"file_name":"e.tif","license":0,"flickr_url":"","coco_url":"","date_captured":""},
    {"id":3,"width":40,"height":30,"file_name":"b.png","license":0,"flickr_url":"","coco_url":"","date_captured":""}
  ],
  "annotations": [
    {"id":1,"image_id":1,"category_id":1,"segmentation":[[1.5,2.25,10.0,2.25,10.0,12.125,1.5,12.125]],"area":83.9375,"bbox":[1.5,2.25,8.5,9.875],"iscrowd":1,"attributes":{"score":0.875,"truncated":true}},
    {"id":2,"image_id":1,"category_id":7,"segmentation":[[0.0,0.0,32.0,0.0,32.0,32.0,0.0,32.0]],"area":1024.0,"bbox":[0.0,0.0,32.0,32.0],"iscrowd":0,"attributes":{"iscrowd":false}},
    {"id":3,"image_id":3,"category_id":2,"segmentation":[[0.1,0.2,0.3,0.2,0.3,0.7,0.1,0.7]],"area":0.09999999999999998,"bbox":[0.1,0.2,0.19999999999999998,0.49999999999999994],"iscrowd":0}
  ],
  "categories": [
    {"id":1,"name":"car","supercategory":""},
    {"id":2,"name":"truck","supercategory":""},
    {"id":7,"name":"vélo lourd","supercategory":""}
  ]
}
"#;

    #[test]
    fn one_file_and_image_folder_per_split() {
        let mut p = project();
        p.chips[0].split = Some("val".into());
        p.chips[2].split = Some("test".into());
        let mut c = p.chips[1].clone();
        c.id = "e2".into();
        c.split = Some("val".into());
        p.chips.push(c);
        let out = write(&p);
        let files: Vec<&str> = out
            .0
            .keys()
            .map(String::as_str)
            .filter(|k| k.starts_with("coco/"))
            .collect();
        assert_eq!(
            files,
            [
                "coco/annotations/instances_test.json",
                "coco/annotations/instances_train.json",
                "coco/annotations/instances_val.json",
                "coco/images/test/b.png",
                "coco/images/train/e.tif",
                "coco/images/val/a.png",
                "coco/images/val/e2.tif",
            ]
        );
        let json = |split: &str| -> Value {
            serde_json::from_slice(&out.0[&format!("coco/annotations/instances_{split}.json")])
                .unwrap()
        };
        let val = json("val");
        // Ids start at 1 in every file.
        let image_ids: Vec<u64> = val["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_u64().unwrap())
            .collect();
        assert_eq!(image_ids, [1, 2]);
        assert_eq!(val["annotations"].as_array().unwrap().len(), 2);
        assert_eq!(json("test")["annotations"][0]["id"], 1);
        assert_eq!(json("train")["annotations"], serde_json::json!([]));
        assert_eq!(json("train")["categories"], val["categories"]);

        // Read back: every file, each chip in its split.
        let dir = store(&p);
        let back = CocoFormat::default().read(dir.path()).unwrap();
        let got: Vec<(&str, &str)> = back
            .chips
            .iter()
            .map(|c| (c.id.as_str(), c.split()))
            .collect();
        assert_eq!(
            got,
            [("e", "train"), ("a", "val"), ("e2", "val"), ("b", "test")]
        );
        assert_eq!(back.chips[0].split, None);
        assert_eq!(back.chips[1].labels, p.chips[0].labels);
        assert_eq!(back.classes.len(), 3);
        // One file given: its chips only, in its split.
        let one = CocoFormat::default()
            .read(&dir.path().join("coco/annotations/instances_val.json"))
            .unwrap();
        assert_eq!(one.chips.len(), 2);
        assert!(one.chips.iter().all(|c| c.split() == "val"));
    }

    #[test]
    fn the_same_file_name_in_two_splits_gets_unique_ids() {
        let dir = tempfile::tempdir().unwrap();
        let ann = dir.path().join("annotations");
        std::fs::create_dir_all(&ann).unwrap();
        let file = |name: &str| {
            format!(
                r#"{{"images": [{{"id": 1, "file_name": "{name}", "width": 4, "height": 4}}],
                    "annotations": [], "categories": [{{"id": 1, "name": "x"}}]}}"#
            )
        };
        std::fs::write(ann.join("instances_val.json"), file("1.jpg")).unwrap();
        std::fs::write(ann.join("instances_train.json"), file("1.jpg")).unwrap();
        std::fs::write(ann.join("instances_Default.json"), file("sub/1.jpg")).unwrap();
        let p = CocoFormat::default().read(dir.path()).unwrap();
        let got: Vec<(&str, &str)> = p.chips.iter().map(|c| (c.id.as_str(), c.split())).collect();
        assert_eq!(got, [("1", "train"), ("1-2", "val"), ("1-3", "default")]);
        // Classes that disagree between files are refused.
        std::fs::write(
            ann.join("instances_test.json"),
            file("2.jpg").replace(r#""name": "x""#, r#""name": "y""#),
        )
        .unwrap();
        let e = CocoFormat::default()
            .read(dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("instances_test.json") && e.contains("differs from category 1 \"x\""),
            "{e}"
        );
    }

    #[test]
    fn writes_exact_bytes_and_aliases() {
        let out = write(&project());
        let text = String::from_utf8(out.0[ANNOTATION_FILE].clone()).unwrap();
        assert_eq!(text, EXPECTED);
        assert_eq!(out.0["coco/images/train/a.png"], b"a");
        assert_eq!(out.0["coco/images/train/e.tif"], b"e");
        assert_eq!(out.0.len(), 3 + 3 + 1);
    }

    #[test]
    fn empty_store_is_valid_json() {
        let mut p = project();
        p.chips.clear();
        p.classes.clear();
        let out = write(&p);
        let text = String::from_utf8(out.0[ANNOTATION_FILE].clone()).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["images"], serde_json::json!([]));
        assert_eq!(v["annotations"], serde_json::json!([]));
        assert_eq!(v["categories"], serde_json::json!([]));
        assert!(text.ends_with("\"annotations\": [],\n  \"categories\": []\n}\n"));
    }

    #[test]
    fn streams_many_chips_through_the_spool() {
        // Enough annotations to need several spool chunks.
        let mut p = project();
        let template = p.chips[0].clone();
        p.chips = (0..3000)
            .map(|i| Chip {
                id: format!("c{i}"),
                image: PathBuf::from(format!("chips/c{i}.png")),
                ..template.clone()
            })
            .collect();
        let out = write(&p);
        let v: Value = serde_json::from_slice(&out.0[ANNOTATION_FILE]).unwrap();
        let anns = v["annotations"].as_array().unwrap();
        assert_eq!(v["images"].as_array().unwrap().len(), 3000);
        assert_eq!(anns.len(), 6000);
        let ids: HashSet<u64> = anns.iter().map(|a| a["id"].as_u64().unwrap()).collect();
        assert_eq!(ids.len(), 6000);
        assert_eq!(anns[5999]["image_id"], 3000);
    }

    #[test]
    fn dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(civil(-1), (1969, 12, 31, 23, 59, 59));
        assert_eq!(civil(1_764_040_380), (2025, 11, 25, 3, 13, 0));
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

    #[test]
    fn round_trip_from_every_entry_point() {
        let p = project();
        let dir = store(&p);
        for entry in [
            dir.path().to_path_buf(),
            dir.path().join("coco"),
            dir.path().join(ANNOTATION_FILE),
        ] {
            let back = CocoFormat::default().read(&entry).unwrap();
            assert_eq!(back.name, p.name);
            assert_eq!(back.classes, p.classes);
            assert_eq!(back.base_dir, dir.path().join("coco"));
            assert_eq!(back.manifest_path, dir.path().join(ANNOTATION_FILE));
            let ids: Vec<_> = back.chips.iter().map(|c| c.id.as_str()).collect();
            assert_eq!(ids, ["a", "e", "b"]);
            for (g, w) in back.chips.iter().zip(&p.chips) {
                assert!(back.base_dir.join(&g.image).is_file(), "{:?}", g.image);
                assert_eq!((g.width, g.height), (w.width, w.height));
                assert_eq!(g.saved_empty, w.labels.is_empty());
                assert_eq!(g.labels.len(), w.labels.len());
                for (gl, wl) in g.labels.iter().zip(&w.labels) {
                    assert_eq!(gl.class_id, wl.class_id);
                    assert_eq!(gl.attributes, wl.attributes);
                    let (Geometry::BBox(a), Geometry::BBox(b)) = (&gl.geometry, &wl.geometry)
                    else {
                        panic!()
                    };
                    assert!(
                        a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9),
                        "{a:?} {b:?}"
                    );
                }
            }
            assert_eq!(back.chips[0].image, Path::new("images/train/a.png"));
        }
    }

    fn read_text(text: &str) -> Result<Project> {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.json");
        std::fs::write(&f, text).unwrap();
        CocoFormat::default().read(&f).map_err(|e| {
            // Make messages independent of the temporary folder.
            let mut d = e.diagnostics().to_vec();
            for d in &mut d {
                d.file = PathBuf::from("x.json");
            }
            Error::Invalid(d)
        })
    }

    fn message(text: &str) -> String {
        read_text(text).unwrap_err().to_string()
    }

    #[test]
    fn reader_errors_name_file_and_field() {
        let head = r#""categories": [{"id": 1, "name": "a"}], "images": [{"id": 5, "file_name": "p.png"}]"#;
        let cases = [
            (
                "{\"images\": [}".to_owned(),
                "x.json: images[0]: expected value at line 1 column 13",
            ),
            (
                format!(r#"{{{head}, "annotations": [{{"image_id": 5, "category_id": 1, "bbox": [1, 2, "3", 4]}}]}}"#),
                "x.json: annotations[0].bbox[2]: invalid type: string \"3\", expected f64 at line 1 column 154",
            ),
            (
                format!(r#"{{{head}, "annotations": [{{"image_id": 6, "category_id": 1, "bbox": [1, 2, 3, 4]}}]}}"#),
                "x.json: annotations[0].image_id: no image has id 6",
            ),
            (
                format!(r#"{{{head}, "annotations": [{{"image_id": 5, "category_id": 2, "bbox": [1, 2, 3, 4]}}]}}"#),
                "x.json: annotations[0].category_id: no category has id 2",
            ),
            (
                format!(r#"{{{head}, "annotations": [{{"image_id": 5, "category_id": 1, "bbox": [1, 2, 3]}}]}}"#),
                "x.json: annotations[0].bbox: 3 numbers, expected 4 (x, y, w, h)",
            ),
            (
                format!(r#"{{{head}, "annotations": [{{"image_id": 5, "category_id": 1, "bbox": [1, 2, -3, 4]}}]}}"#),
                "x.json: annotations[0].bbox: [1, 2, -3, 4] is not a box (finite x, y and w, h >= 0)",
            ),
            (
                format!(r#"{{{head}, "annotations": [{{"image_id": 5, "category_id": 1}}]}}"#),
                "x.json: annotations[0].bbox: missing",
            ),
            (
                r#"{"categories": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}], "images": []}"#.to_owned(),
                "x.json: categories[1].id: duplicate category id 1",
            ),
            (
                r#"{"categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "a"}], "images": []}"#.to_owned(),
                "x.json: categories[1].name: duplicate category name \"a\"",
            ),
            (
                r#"{"categories": [], "images": [{"id": 1, "file_name": "a.png", "width": 0}]}"#.to_owned(),
                "x.json: images[0].width: 0 is not a positive whole number of pixels",
            ),
            (
                r#"{"categories": [], "images": [{"id": 1, "file_name": "a.png"}, {"id": 1, "file_name": "b.png"}]}"#.to_owned(),
                "x.json: images[1].id: duplicate image id 1",
            ),
            (
                r#"{"categories": []}"#.to_owned(),
                "x.json: missing field `images` at line 1 column 18",
            ),
            (r#"{"categories": [], "images": []} x"#.to_owned(), "x.json: trailing characters at line 1 column 34"),
        ];
        for (text, want) in cases {
            assert_eq!(message(&text), want, "{text}");
        }
    }

    #[test]
    fn reads_datasets_made_elsewhere() {
        // 0-based category ids, string image ids, subfolders, no sizes,
        // empty segmentations, a results-style score, Datumaro-style
        // attributes, images in a folder of their own.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("annotations")).unwrap();
        std::fs::create_dir_all(root.join("val2017/sub")).unwrap();
        std::fs::write(root.join("val2017/sub/x y.jpg"), b"").unwrap();
        std::fs::write(
            root.join("annotations/instances_val2017.json"),
            r#"{"info": {"year": ""}, "categories": [{"id": 0, "name": "bg thing"}, {"id": 4, "name": "vélo"}],
                "images": [{"id": "i1", "file_name": "sub/x y.jpg", "width": 640.0, "height": 480},
                           {"id": "i2", "file_name": "other/x y.jpg"}],
                "annotations": [
                  {"id": 9, "image_id": "i1", "category_id": 4, "bbox": [1, 2, 3, 4], "iscrowd": 1, "score": 0.5,
                   "attributes": {"occluded": false}, "segmentation": [[]]},
                  {"id": 9, "image_id": "i2", "category_id": 0, "bbox": [1, 1, 4, 6], "segmentation": null, "iscrowd": 0}]}"#,
        )
        .unwrap();
        let p = CocoFormat::default().read(root).unwrap();
        assert_eq!(p.labeling_type, LabelingType::ObjectDetection);
        assert_eq!(p.name, folder_name(root));
        assert_eq!(p.base_dir, root);
        let classes: Vec<_> = p.classes.iter().map(|c| (c.id, c.name.as_str())).collect();
        assert_eq!(classes, [(1, "bg thing"), (5, "vélo")]);
        assert_eq!(p.chips[0].id, "x_y");
        assert_eq!(p.chips[0].image, Path::new("val2017/sub/x y.jpg"));
        assert_eq!(
            (p.chips[0].width, p.chips[0].height),
            (Some(640), Some(480))
        );
        assert_eq!(p.chips[1].id, "x_y-2");
        assert_eq!(p.chips[1].width, None);
        let l = &p.chips[0].labels[0];
        assert_eq!(
            (l.class_id, &l.geometry),
            (5, &Geometry::BBox([1.0, 2.0, 4.0, 6.0]))
        );
        assert_eq!(
            Value::Object(l.attributes.clone()),
            serde_json::json!({"occluded": false, "iscrowd": 1, "score": 0.5})
        );
        let l = &p.chips[1].labels[0];
        assert_eq!(
            (l.class_id, &l.geometry),
            (1, &Geometry::BBox([1.0, 1.0, 5.0, 7.0]))
        );
        assert!(l.attributes.is_empty());
    }

    #[test]
    fn finding_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let msg = CocoFormat::default()
            .read(dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            msg.ends_with(
                "no COCO file found (annotations/instances_<subset>.json, or a .json file)"
            ),
            "{msg}"
        );
        std::fs::create_dir(dir.path().join("annotations")).unwrap();
        for n in ["a.json", "b.json"] {
            std::fs::write(dir.path().join("annotations").join(n), "{}").unwrap();
        }
        let msg = CocoFormat::default()
            .read(dir.path())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("several COCO files found"), "{msg}");
        // Every instances_<split>.json is read, train first.
        for n in ["instances_val.json", "instances_train.json"] {
            std::fs::write(dir.path().join("annotations").join(n), "{}").unwrap();
        }
        let msg = CocoFormat::default()
            .read(dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("instances_train.json: missing field `images`"),
            "{msg}"
        );
        let msg = CocoFormat::default()
            .read(&dir.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(msg.ends_with("nope: no such file or folder"), "{msg}");
    }

    #[test]
    fn polygons_are_refused_by_the_detection_writer() {
        let mut p = project();
        p.chips[0].labels[0].geometry =
            Geometry::Polygon(vec![vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]]);
        let mut out = MemoryOutput::default();
        out.put("chips/a.png", Vec::new()).unwrap();
        let mut w = CocoFormat::default().writer(&p);
        let e = w.write_chip(&p.chips[0], &none(), &mut out).unwrap_err();
        assert_eq!(
            e.to_string(),
            "chips/a.png: chip \"a\": labels[0].polygon: COCO object detection holds boxes only"
        );
    }

    // -- Instance segmentation ---------------------------------------------

    fn poly(rings: &[&[[f64; 2]]]) -> Geometry {
        Geometry::Polygon(rings.iter().map(|r| r.to_vec()).collect())
    }

    /// An instance segmentation project: a whole-pixel rectangle, a square
    /// with a hole, a float triangle, a multipolygon, a sliver that covers
    /// no pixel centre, a chip saved empty.
    fn instances() -> Project {
        let mut p = project();
        p.labeling_type = LabelingType::InstanceSegmentation;
        let mut s = Chip::new("s", "chips/s.png");
        (s.width, s.height) = (Some(12), Some(10));
        let label = |class_id, geometry, attrs: Value| Label {
            class_id,
            geometry,
            attributes: attrs.as_object().cloned().unwrap_or_default(),
        };
        s.labels = vec![
            label(
                1,
                poly(&[&[[1.0, 1.0], [5.0, 1.0], [5.0, 4.0], [1.0, 4.0], [1.0, 1.0]]]),
                serde_json::json!({"iscrowd": 1, "occluded": true}),
            ),
            label(
                2,
                poly(&[
                    &[[6.0, 0.0], [12.0, 0.0], [12.0, 6.0], [6.0, 6.0]],
                    &[[8.0, 2.0], [10.0, 2.0], [10.0, 4.0], [8.0, 4.0]],
                ]),
                Value::Null,
            ),
            label(
                7,
                poly(&[&[[0.5, 5.5], [4.6, 9.3], [0.2, 9.9]]]),
                Value::Null,
            ),
            label(
                1,
                Geometry::MultiPolygon(vec![
                    vec![vec![[7.0, 7.0], [8.0, 7.0], [8.0, 8.0], [7.0, 8.0]]],
                    vec![vec![[9.0, 7.0], [11.0, 7.0], [11.0, 9.0], [9.0, 9.0]]],
                ]),
                Value::Null,
            ),
            label(
                2,
                poly(&[&[[2.0, 8.6], [6.0, 8.6], [6.0, 8.9]]]),
                Value::Null,
            ),
        ];
        let mut e = Chip::new("e", "chips/e.png");
        (e.width, e.height) = (Some(4), Some(4));
        e.saved_empty = true;
        p.chips = vec![s, e];
        p
    }

    fn annotations(out: &MemoryOutput) -> Vec<String> {
        let text = String::from_utf8(out.0[ANNOTATION_FILE].clone()).unwrap();
        let start = text.find("\"annotations\": [").unwrap();
        let end = text.find("\"categories\"").unwrap();
        text[start..end]
            .lines()
            .skip(1)
            .filter(|l| l.starts_with("    {"))
            .map(|l| l.trim().trim_end_matches(',').to_owned())
            .collect()
    }

    #[test]
    fn writes_instances_as_drawn_or_rle() {
        let out = write(&instances());
        let want = [
            // As drawn (closing point included); pycocotools' area.
            r#"{"id":1,"image_id":1,"category_id":1,"segmentation":[[1.0,1.0,5.0,1.0,5.0,4.0,1.0,4.0,1.0,1.0]],"area":12.0,"bbox":[1.0,1.0,4.0,3.0],"iscrowd":1,"attributes":{"occluded":true}}"#,
            // A hole: RLE of our mask, 36 - 4 pixels, the mask's extent.
            r#"{"id":2,"image_id":1,"category_id":2,"segmentation":{"size":[10,12],"counts":"l16400LN020N024000"},"area":32.0,"bbox":[6.0,0.0,6.0,6.0],"iscrowd":0}"#,
            // Float triangle: its vertices at full precision, their extent.
            r#"{"id":3,"image_id":1,"category_id":7,"segmentation":[[0.5,5.5,4.6,9.3,0.2,9.9]],"area":12.0,"bbox":[0.2,5.5,4.3999999999999995,4.4],"iscrowd":0}"#,
            // Two parts, as they are.
            r#"{"id":4,"image_id":1,"category_id":1,"segmentation":[[7.0,7.0,8.0,7.0,8.0,8.0,7.0,8.0],[9.0,7.0,11.0,7.0,11.0,9.0,9.0,9.0]],"area":5.0,"bbox":[7.0,7.0,4.0,2.0],"iscrowd":0}"#,
            // The sliver that pycocotools draws no pixel of is left out.
        ];
        assert_eq!(annotations(&out), want);
        let v: Value = serde_json::from_slice(&out.0[ANNOTATION_FILE]).unwrap();
        assert_eq!(v["images"].as_array().unwrap().len(), 2);
    }

    /// Our rasterization of a label on a chip.
    fn drawn(g: &Geometry, chip: &Chip) -> Mask {
        rasterize(chip.width.unwrap(), chip.height.unwrap(), 0, [(g, 1)])
    }

    #[test]
    fn instances_come_back_as_the_same_masks() {
        let p = instances();
        let dir = store(&p);
        let back = CocoFormat::default().read(dir.path()).unwrap();
        assert_eq!(back.labeling_type, LabelingType::InstanceSegmentation);
        assert_eq!(back.classes, p.classes);
        assert!(CocoFormat::default().geometry_survives_as_mask(back.labeling_type));
        assert!(!CocoFormat::default().geometry_survives_as_mask(LabelingType::ObjectDetection));
        assert_eq!(back.chips.len(), 2);
        assert!(back.chips[1].labels.is_empty() && back.chips[1].saved_empty);
        let (g, w) = (&back.chips[0], &p.chips[0]);
        assert_eq!((g.width, g.height), (w.width, w.height));
        // The sliver of no pixel is left out (zero area).
        assert_eq!(g.labels.len(), w.labels.len() - 1);
        for (gl, wl) in g.labels.iter().zip(&w.labels) {
            assert_eq!(gl.class_id, wl.class_id);
            assert_eq!(gl.attributes, wl.attributes);
            assert_eq!(drawn(&gl.geometry, g), drawn(&wl.geometry, w));
        }
        // Written as they are: the same vertices.
        for k in [0, 2, 3] {
            assert_eq!(g.labels[k].geometry, w.labels[k].geometry, "label {k}");
        }
        // From RLE: the outline with its hole, along pixel edges, closed.
        assert_eq!(
            g.labels[1].geometry,
            poly(&[
                &[[6.0, 0.0], [12.0, 0.0], [12.0, 6.0], [6.0, 6.0], [6.0, 0.0]],
                &[[8.0, 4.0], [10.0, 4.0], [10.0, 2.0], [8.0, 2.0], [8.0, 4.0]],
            ])
        );
        // Writing what was read gives the same file.
        let again = write(&Project {
            chips: back
                .chips
                .iter()
                .map(|c| Chip {
                    image: PathBuf::from("chips").join(c.image.file_name().unwrap()),
                    ..c.clone()
                })
                .collect(),
            ..back.clone()
        });
        assert_eq!(
            again.0[ANNOTATION_FILE],
            write(&p).0[ANNOTATION_FILE],
            "a second store differs"
        );
    }

    #[test]
    fn reads_instance_datasets_made_elsewhere() {
        // Polygons of several parts (one too short), compressed and
        // uncompressed RLE (official COCO crowds), a box-only annotation,
        // an image without a size.
        let text = r#"{"categories": [{"id": 1, "name": "a"}],
            "images": [{"id": 1, "file_name": "p.png", "width": 4, "height": 3},
                       {"id": 2, "file_name": "q.png"}],
            "annotations": [
              {"image_id": 1, "category_id": 1, "segmentation": [[0, 0, 2, 0, 2, 2], [3, 0, 4, 0], [3, 1, 4, 1, 4, 3, 3, 3]]},
              {"image_id": 1, "category_id": 1, "segmentation": [[0.5, 0.5, 1.5, 0.5, 1.5, 2.5]], "bbox": [0.5, 0.5, 1, 2]},
              {"image_id": 1, "category_id": 1, "segmentation": {"size": [3, 4], "counts": [1, 2, 4, 1, 4]}, "iscrowd": 1},
              {"image_id": 2, "category_id": 1, "segmentation": {"size": [3, 3], "counts": "09"}},
              {"image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 1], "segmentation": []}]}"#;
        let p = read_text(text).unwrap();
        assert_eq!(p.labeling_type, LabelingType::InstanceSegmentation);
        let l: Vec<&Geometry> = p.chips[0].labels.iter().map(|l| &l.geometry).collect();
        assert_eq!(
            *l[0],
            Geometry::MultiPolygon(vec![
                vec![vec![[0.0, 0.0], [2.0, 0.0], [2.0, 2.0]]],
                vec![vec![[3.0, 1.0], [4.0, 1.0], [4.0, 3.0], [3.0, 3.0]]],
            ])
        );
        assert_eq!(*l[1], poly(&[&[[0.5, 0.5], [1.5, 0.5], [1.5, 2.5]]]));
        // Column-major: pixels (0, 1), (0, 2) and (2, 1).
        assert_eq!(
            *l[2],
            Geometry::MultiPolygon(vec![
                vec![vec![
                    [0.0, 1.0],
                    [1.0, 1.0],
                    [1.0, 3.0],
                    [0.0, 3.0],
                    [0.0, 1.0]
                ]],
                vec![vec![
                    [2.0, 1.0],
                    [3.0, 1.0],
                    [3.0, 2.0],
                    [2.0, 2.0],
                    [2.0, 1.0]
                ]],
            ])
        );
        assert_eq!(
            Value::Object(p.chips[0].labels[2].attributes.clone()),
            serde_json::json!({"iscrowd": 1})
        );
        assert_eq!(
            *l[3],
            poly(&[&[[1.0, 1.0], [3.0, 1.0], [3.0, 2.0], [1.0, 2.0], [1.0, 1.0]]])
        );
        // "09": a full 3x3 mask; the image takes its size.
        assert_eq!((p.chips[1].width, p.chips[1].height), (Some(3), Some(3)));
        assert_eq!(
            p.chips[1].labels[0].geometry,
            poly(&[&[[0.0, 0.0], [3.0, 0.0], [3.0, 3.0], [0.0, 3.0], [0.0, 0.0]]])
        );
    }

    #[test]
    fn instance_reader_errors_name_the_segmentation() {
        let head = r#""categories": [{"id": 1, "name": "a"}], "images": [{"id": 5, "file_name": "p.png", "width": 4, "height": 3}]"#;
        let ann = |seg: &str| {
            format!(
                r#"{{{head}, "annotations": [{{"image_id": 5, "category_id": 1, "segmentation": {seg}}}]}}"#
            )
        };
        let cases = [
            (
                ann("[[1, 2, 3, 4, 5]]"),
                "x.json: annotations[0].segmentation[0]: 5 numbers, expected x, y pairs",
            ),
            (
                ann(r#"{"size": [3, 4], "counts": ""}"#),
                "x.json: annotations[0].segmentation.counts: not a compressed RLE string (pycocotools' encoding)",
            ),
            (
                ann(r#"{"size": [3, 4], "counts": [1, 2]}"#),
                "x.json: annotations[0].segmentation.counts: the runs cover 3 pixels, not 3 x 4 = 12",
            ),
            (
                ann(r#"{"size": [4, 3], "counts": [12]}"#),
                "x.json: annotations[0].segmentation.size: [4, 3] ([height, width]) but the image is 4x3",
            ),
            (
                ann(r#"{"size": [0, 3], "counts": []}"#),
                "x.json: annotations[0].segmentation.size: [0, 3] is not a mask size [height, width]",
            ),
            (
                ann(r#"{"size": [3, 4], "counts": 5}"#),
                "x.json: annotations[0].segmentation: not a COCO segmentation: expected polygons [[x1, y1, x2, y2, ...], ...] or an RLE {\"size\": [height, width], \"counts\": ...}",
            ),
            (
                ann(r#""polygon""#),
                "x.json: annotations[0].segmentation: not a COCO segmentation: expected polygons [[x1, y1, x2, y2, ...], ...] or an RLE {\"size\": [height, width], \"counts\": ...}",
            ),
            (
                ann("[[0, 0, 1, 1]]"),
                "x.json: annotations[0].bbox: missing, and no segmentation to take the instance from",
            ),
            (
                ann(r#"{"size": [3, 4], "counts": [12]}, "bbox": [1, 1, 0, 2]"#),
                "x.json: annotations[0].bbox: [1, 1, 0, 2] has no area, and no segmentation gives the instance",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(message(&text), want, "{text}");
        }
    }

    #[test]
    fn instance_writer_refuses_boxes() {
        let mut p = instances();
        p.chips[0].labels[0].geometry = Geometry::BBox([0.0, 0.0, 1.0, 1.0]);
        let mut out = MemoryOutput::default();
        out.put("chips/s.png", Vec::new()).unwrap();
        let mut w = CocoFormat::default().writer(&p);
        let e = w.write_chip(&p.chips[0], &none(), &mut out).unwrap_err();
        assert_eq!(
            e.to_string(),
            "chips/s.png: chip \"s\": labels[0].bbox: COCO instance segmentation holds polygons and multipolygons, not boxes"
        );
        // Counts are 32-bit: a chip of more pixels is refused up front.
        let mut huge = p.chips[1].clone();
        (huge.width, huge.height) = (Some(70_000), Some(70_000));
        let mut out = MemoryOutput::default();
        let e = w.write_chip(&huge, &none(), &mut out).unwrap_err();
        assert_eq!(
            e.to_string(),
            "chips/e.png: chip \"e\": width: a 70000x70000 chip is too large for COCO run-length encoding (at most 4294967295 pixels)"
        );
        assert!(out.0.is_empty());
    }

    #[test]
    fn instances_with_a_coordinate_not_finite_are_refused() {
        let nan = poly(&[&[[f64::NAN, 0.0], [1.0, 0.0], [1.0, 1.0]]]);
        assert_eq!(
            instance(&nan, 4, 4).unwrap_err(),
            "a coordinate is not a finite number"
        );
    }
}
