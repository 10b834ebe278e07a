//! The label-format extension point.
//!
//! A format is one module implementing [`LabelFormat`]: it makes a
//! [`LabelWriter`] that receives the stored chips one at a time and hands
//! finished files to an [`Output`], and it reads a stored folder back into a
//! [`Project`]. Formats never see a destination: the store pipeline owns the
//! [`Output`] and forwards what it receives.

use std::io;
use std::path::Path;

use crate::error::Result;
use crate::model::{Attributes, Chip, Label, LabelingType, Project};
use crate::resolve::ChipGeoref;

/// Where a [`LabelWriter`] puts what it writes. Paths are relative to the
/// store's root and `/`-separated.
pub trait Output {
    /// Hands over a complete file.
    fn put(&mut self, path: &str, bytes: Vec<u8>) -> io::Result<()>;

    /// Appends to a file built up over the whole store (a COCO file, the
    /// `json` manifest): appends to one path are concatenated in call order
    /// and the file is stored once the writers have finished. The pipeline
    /// spools such files to disk, so they do not grow in memory.
    fn append(&mut self, path: &str, bytes: &[u8]) -> io::Result<()>;

    /// Places, at `path`, the same bytes as the already-stored file
    /// `existing` (a chip's image, under `chips/`): how a format's folder
    /// holds the images its loaders expect beside the labels. A local
    /// folder makes a hard link where it can, a copy otherwise; the bytes
    /// are never re-encoded.
    fn alias(&mut self, path: &str, existing: &str) -> io::Result<()>;

    /// The bytes of the already-stored file `existing` (the image of the
    /// chip being written, under `chips/`): for a format whose readers
    /// cannot take the chip's file type and that places a re-encoded copy.
    fn read(&mut self, existing: &str) -> io::Result<Vec<u8>>;
}

/// An [`Output`] that keeps every file in memory: for tests and small
/// conversions. Aliases copy the bytes of the file they name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MemoryOutput(pub std::collections::BTreeMap<String, Vec<u8>>);

impl Output for MemoryOutput {
    fn put(&mut self, path: &str, bytes: Vec<u8>) -> io::Result<()> {
        self.0.insert(path.to_owned(), bytes);
        Ok(())
    }

    fn append(&mut self, path: &str, bytes: &[u8]) -> io::Result<()> {
        self.0
            .entry(path.to_owned())
            .or_default()
            .extend_from_slice(bytes);
        Ok(())
    }

    fn alias(&mut self, path: &str, existing: &str) -> io::Result<()> {
        let bytes = self.0.get(existing).cloned().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("no file {existing}"))
        })?;
        self.0.insert(path.to_owned(), bytes);
        Ok(())
    }

    fn read(&mut self, existing: &str) -> io::Result<Vec<u8>> {
        self.0
            .get(existing)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no file {existing}")))
    }
}

/// The file type of the chip images a format places beside its labels
/// (COCO's `images/`, VOC's `JPEGImages/`, ...), chosen by the caller; the
/// stored chips under `chips/` are never changed by it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChipFormat {
    /// The stored chip as it is (an alias), unless the format's loaders
    /// cannot read its type (YOLO places a GIF as a PNG).
    #[default]
    Keep,
    /// A PNG of the same pixels; a PNG chip is placed as it is.
    Png,
    /// A JPEG; a JPEG chip (also one a GeoTIFF wraps) is placed as it is,
    /// without a second generation of loss.
    Jpeg {
        /// The encoder's quality, 1 to 100.
        quality: u8,
    },
}

/// How closely a format's reader gives back what its writer was given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fidelity {
    /// Geometry: the largest difference in pixels a round trip may leave.
    /// `None`: exact.
    pub pixel_tolerance: Option<f64>,
    /// Class ids survive (otherwise classes come back in id order with
    /// ids 1, 2, 3...; names always survive).
    pub class_ids: bool,
    /// The attribute keys that survive; `None`: all of them.
    pub attributes: Option<&'static [&'static str]>,
    /// Chips without labels (saved empty) survive.
    pub empty_chips: bool,
}

impl Fidelity {
    /// Everything survives exactly.
    pub const EXACT: Fidelity = Fidelity {
        pixel_tolerance: None,
        class_ids: true,
        attributes: None,
        empty_chips: true,
    };
}

/// How a format's writer rounded the coordinates it wrote, for the loss
/// report of the store summary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rounding {
    /// What the format writes: `"integer pixels"`, `"6 decimals (normalized)"`.
    pub to: &'static str,
    /// The largest distance in pixels any coordinate written moved from
    /// the label's own (0 when none moved).
    pub max_shift_px: f64,
}

impl Rounding {
    /// Records that a coordinate moved by `shift` pixels.
    pub fn moved(&mut self, shift: f64) {
        if shift.is_finite() && shift > self.max_shift_px {
            self.max_shift_px = shift;
        }
    }
}

/// What a reader met in a dataset and did not bring over, counted by what
/// it is (`"VOC parts"`, `"COCO keypoints"`); see
/// [`LabelFormat::read_dataset`].
pub type LeftBehind = std::collections::BTreeMap<&'static str, usize>;

/// Writes one project's labels in one format, a chip at a time.
pub trait LabelWriter {
    /// Writes the labels of one stored chip. The chip's `image` is the
    /// stored file, relative to the store's root; its `mask` (semantic
    /// segmentation) is the source mask file, relative to the header's
    /// `base_dir`; its width and height are known; `georef` is its resolved
    /// georeferencing (geotransform and CRS, when it has them).
    fn write_chip(&mut self, chip: &Chip, georef: &ChipGeoref, out: &mut dyn Output) -> Result<()>;

    /// Writes whatever closes the store in this format.
    fn finish(&mut self, out: &mut dyn Output) -> Result<()>;

    /// What this writer did that the closing summary should tell, counted:
    /// labels it left out (with why), chips it converted. Read after
    /// [`LabelWriter::finish`]; none by default.
    fn notes(&self) -> Vec<(&'static str, usize)> {
        Vec::new()
    }

    /// How this writer rounded the coordinates it wrote so far (VOC's
    /// integer pixels, YOLO's six decimals); `None` (the default) when it
    /// writes them as they are. Read after [`LabelWriter::finish`].
    fn rounding(&self) -> Option<Rounding> {
        None
    }
}

/// A label format: writes labels and reads them back.
pub trait LabelFormat {
    /// The format's name: how the command line and store manifests name
    /// it (lower case, matched without regard to case).
    fn name(&self) -> &'static str;

    /// The labeling types whose projects this format stores.
    fn labeling_types(&self) -> &'static [LabelingType];

    /// Where this format's files go in a store, in one line
    /// (`coco/annotations/instances_<split>.json, coco/images/<split>/`):
    /// what `labelstore formats` shows. Each format's module documentation
    /// has the whole layout.
    fn layout(&self) -> &'static str;

    /// Whether the dataset at `path` (a folder, or a file) is laid out as
    /// this format's reader takes it, judged from names and at most a small
    /// header of a file, never by reading the dataset: how an import tells
    /// a dataset's format. `false` by default (a format no import reads).
    fn recognizes(&self, path: &Path) -> bool {
        let _ = path;
        false
    }

    /// A writer for `header`: the project's name, type, CRS and classes
    /// (its `chips` is empty: chips arrive through [`LabelWriter::write_chip`]).
    fn writer(&self, header: &Project) -> Box<dyn LabelWriter>;

    /// A writer for `header` that places the chip images beside the labels
    /// as `chips` says. Formats that place no images (or only as they are)
    /// ignore it: the default is [`LabelFormat::writer`].
    fn writer_placing(&self, header: &Project, chips: ChipFormat) -> Box<dyn LabelWriter> {
        let _ = chips;
        self.writer(header)
    }

    /// Reads a store this format wrote (its root folder) back into a
    /// project whose chip paths point at the images the format's folder
    /// holds.
    fn read(&self, root: &Path) -> Result<Project>;

    /// Reads a dataset as [`LabelFormat::read`] does, and also says what
    /// it met there and did not bring over (VOC parts, COCO keypoints),
    /// counted. By default: [`LabelFormat::read`], nothing left behind.
    fn read_dataset(&self, root: &Path) -> Result<(Project, LeftBehind)> {
        Ok((self.read(root)?, LeftBehind::new()))
    }

    /// What survives a round trip through this format.
    fn fidelity(&self) -> Fidelity {
        Fidelity::EXACT
    }

    /// Whether chips come back in the split they were written in
    /// ([`Chip::split`]): the format lays out each split where its loaders
    /// look for it and its reader keeps them. `false` by default (every
    /// chip comes back in `train`, or without a split).
    fn keeps_splits(&self) -> bool {
        false
    }

    /// Whether polygons of a `labeling_type` project come back as the
    /// same mask rather than the same vertices: rasterizing a label read
    /// back (pixel centres decide, as masks are drawn) gives exactly the
    /// pixels of the label written, though its vertices may differ (COCO
    /// instance segmentation writes some instances as run-length-encoded
    /// masks, read back as polygons along pixel edges). When `true`, compare
    /// labels' geometries by their rasterization, not by
    /// [`Fidelity::pixel_tolerance`].
    fn geometry_survives_as_mask(&self, labeling_type: LabelingType) -> bool {
        let _ = labeling_type;
        false
    }

    /// Whether this format's writer leaves `label` of the resolved `chip`
    /// out (counted in [`LabelWriter::notes`]) because the format would
    /// write it with zero width or height, which trainers reject. None by
    /// default.
    fn leaves_out(&self, chip: &Chip, label: &Label) -> bool {
        let _ = (chip, label);
        false
    }

    /// The attributes a reader gives back for a label written with
    /// `written`: by default those [`Fidelity::attributes`] names, as they
    /// are. Formats whose fields normalize values (VOC's 0/1 flags) say how.
    fn expected_attributes(&self, written: &Attributes) -> Attributes {
        match self.fidelity().attributes {
            None => written.clone(),
            Some(keep) => written
                .iter()
                .filter(|(k, _)| keep.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// The attribute keys of a label written with `written` that this
    /// format has no field for, so they are not stored: those
    /// [`Fidelity::attributes`] does not name (none when it is `None`).
    fn attributes_left_out<'a>(&self, written: &'a Attributes) -> Vec<&'a str> {
        match self.fidelity().attributes {
            None => Vec::new(),
            Some(keep) => written
                .keys()
                .map(String::as_str)
                .filter(|k| !keep.contains(k))
                .collect(),
        }
    }
}
