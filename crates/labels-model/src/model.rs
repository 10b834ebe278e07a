//! The vocabulary: projects, classes, chips, labels.

use std::fmt;
use std::path::PathBuf;

use pixel_geometry::Geometry;

/// What kind of labels a project holds, which decides the geometry of its
/// labels and the formats it can be stored in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LabelingType {
    /// Axis-aligned boxes.
    ObjectDetection,
    /// Polygons, one per object instance.
    InstanceSegmentation,
    /// A class per pixel: polygons rasterized at store time, or a mask image.
    SemanticSegmentation,
}

impl LabelingType {
    /// Every labeling type, in manifest order.
    pub const ALL: [LabelingType; 3] = [
        LabelingType::ObjectDetection,
        LabelingType::InstanceSegmentation,
        LabelingType::SemanticSegmentation,
    ];

    /// The name used in manifests and messages.
    pub fn name(self) -> &'static str {
        match self {
            LabelingType::ObjectDetection => "object_detection",
            LabelingType::InstanceSegmentation => "instance_segmentation",
            LabelingType::SemanticSegmentation => "semantic_segmentation",
        }
    }

    /// The type with the given manifest name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

impl fmt::Display for LabelingType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A colour, `#rrggbb` in manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rgb(pub [u8; 3]);

impl Rgb {
    /// Parses `#rrggbb` (hex digits in either case).
    pub fn parse(s: &str) -> Option<Rgb> {
        let hex = s.strip_prefix('#')?;
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        Some(Rgb([byte(0)?, byte(2)?, byte(4)?]))
    }
}

impl fmt::Display for Rgb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [r, g, b] = self.0;
        write!(f, "#{r:02x}{g:02x}{b:02x}")
    }
}

/// A label class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    /// Positive and unique within the project; also the pixel value in masks.
    pub id: u32,
    /// Unique within the project.
    pub name: String,
    /// The display colour, used as the palette entry of masks.
    pub color: Option<Rgb>,
}

/// A label's free attribute map (`difficult`, `truncated`, `occluded`, `pose`, `score`, ...).
pub type Attributes = serde_json::Map<String, serde_json::Value>;

/// One label on a chip.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    /// The id of the label's [`Class`].
    pub class_id: u32,
    /// Where it is.
    pub geometry: Geometry,
    /// Anything else the labeler recorded.
    pub attributes: Attributes,
}

/// One image chip and its labels.
///
/// Paths are as the manifest gives them, relative to the manifest's folder.
#[derive(Debug, Clone, PartialEq)]
pub struct Chip {
    /// 1 to 128 characters of `A-Z a-z 0-9 . _ -`, not starting with `.`.
    pub id: String,
    /// The image file.
    pub image: PathBuf,
    /// Width in pixels: from the manifest, or the image header once resolved.
    pub width: Option<u32>,
    /// Height in pixels: from the manifest, or the image header once resolved.
    pub height: Option<u32>,
    /// Samples per pixel (1 gray, 3 RGB or palette, 4 with alpha...), from
    /// the image header once resolved; never read from a manifest.
    pub samples: Option<u8>,
    /// A world file georeferencing the chip (given, or found beside the image).
    pub world_file: Option<PathBuf>,
    /// An inline GDAL geotransform, corner-based.
    pub geotransform: Option<[f64; 6]>,
    /// The chip's CRS as an EPSG code, overriding the project's.
    pub srid: Option<u32>,
    /// Logically deleted: never stored.
    pub deleted: bool,
    /// Stored even without labels, with an empty label.
    pub saved_empty: bool,
    /// The dataset split the chip belongs to (`train`, `val`, `test`, ...;
    /// 1 to 32 characters of `a-z 0-9 _ -`); `None` is `train`
    /// ([`Chip::split`]).
    pub split: Option<String>,
    /// A single-band class-id image (semantic segmentation).
    pub mask: Option<PathBuf>,
    /// The labels, later ones painting over earlier ones in masks.
    pub labels: Vec<Label>,
}

impl Chip {
    /// A chip with just an id and an image, no labels.
    pub fn new(id: impl Into<String>, image: impl Into<PathBuf>) -> Chip {
        Chip {
            id: id.into(),
            image: image.into(),
            width: None,
            height: None,
            samples: None,
            world_file: None,
            geotransform: None,
            srid: None,
            deleted: false,
            saved_empty: false,
            split: None,
            mask: None,
            labels: Vec::new(),
        }
    }

    /// The chip's split: its own, or `train`.
    pub fn split(&self) -> &str {
        self.split.as_deref().unwrap_or(DEFAULT_SPLIT)
    }

    /// Whether the chip carries anything to store (labels or a mask).
    pub fn is_labeled(&self) -> bool {
        !self.labels.is_empty() || self.mask.is_some()
    }
}

/// A labeling project.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// The project's name.
    pub name: String,
    /// What kind of labels it holds.
    pub labeling_type: LabelingType,
    /// The default CRS of its chips, as an EPSG code.
    pub srid: Option<u32>,
    /// Its classes, in manifest order.
    pub classes: Vec<Class>,
    /// Its chips, in manifest order.
    pub chips: Vec<Chip>,
    /// The folder paths in the manifest are relative to.
    pub base_dir: PathBuf,
    /// The manifest file, named in diagnostics.
    pub manifest_path: PathBuf,
}

impl Project {
    /// The class with the given id.
    pub fn class(&self, id: u32) -> Option<&Class> {
        self.classes.iter().find(|c| c.id == id)
    }

    /// The project without its chips (name, type, CRS, classes, paths):
    /// what a format writer is created with.
    pub fn header(&self) -> Project {
        Project {
            name: self.name.clone(),
            labeling_type: self.labeling_type,
            srid: self.srid,
            classes: self.classes.clone(),
            chips: Vec::new(),
            base_dir: self.base_dir.clone(),
            manifest_path: self.manifest_path.clone(),
        }
    }

    /// The chip with the given id.
    pub fn chip(&self, id: &str) -> Option<&Chip> {
        self.chips.iter().find(|c| c.id == id)
    }
}

/// The split of a chip that names none.
pub const DEFAULT_SPLIT: &str = "train";

/// Whether `name` may name a split: 1 to 32 characters of `a-z 0-9 _ -`.
pub fn is_split_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The split a dataset's subset folder (or file) named `name` holds, as
/// readers name it: lower-cased, other characters than `a-z 0-9 _ -` as
/// `_`, at most 32 characters; an empty name is [`DEFAULT_SPLIT`].
pub fn split_from_folder(name: &str) -> String {
    let split: String = name
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    if split.is_empty() {
        DEFAULT_SPLIT.to_owned()
    } else {
        split
    }
}

/// Where a split comes among a dataset's subsets when a reader takes
/// them one folder per split (KITTI, the mask formats): `train`, `val`,
/// `trainval`, `test`, then the others by name.
pub fn subset_rank(split: &str) -> (usize, String) {
    const ORDER: [&str; 4] = ["train", "val", "trainval", "test"];
    let rank = ORDER.iter().position(|s| *s == split);
    (rank.unwrap_or(ORDER.len()), split.to_owned())
}

/// Whether `id` may name a chip: 1 to 128 characters of `A-Z a-z 0-9 . _ -`,
/// not starting with `.`, so it is safe as a file name in every output.
pub fn is_safe_chip_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_parse_and_print() {
        assert_eq!(Rgb::parse("#E6194b"), Some(Rgb([0xe6, 0x19, 0x4b])));
        assert_eq!(Rgb([0xe6, 0x19, 0x4b]).to_string(), "#e6194b");
        for bad in ["e6194b", "#e6194", "#e6194bb", "#g6194b", "#+1+1+1"] {
            assert_eq!(Rgb::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn chip_ids() {
        assert!(is_safe_chip_id("r0_c1.v2-A"));
        assert!(is_safe_chip_id(&"a".repeat(128)));
        for bad in [
            "",
            ".hidden",
            "a/b",
            "..",
            "a b",
            "é",
            "a\\b",
            &"a".repeat(129),
        ] {
            assert!(!is_safe_chip_id(bad), "{bad}");
        }
    }
}
