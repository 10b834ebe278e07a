//! What the box readers (VOC, KITTI) share when they turn a dataset into a
//! project: the class table, built as classes are met, and the chips with
//! their boxes.

use std::path::{Path, PathBuf};

use labels_model::{Attributes, Chip, Geometry, Label, LabelingType, Project};

use super::ClassCollector;

/// A box as read from a label file: its class name, `[xmin, ymin, xmax,
/// ymax]` in pixels, and its attributes.
pub(crate) type RawBox = (String, [f64; 4], Attributes);

/// An object-detection project being read: classes get ids 1, 2, 3... in
/// the order they are first met (declare the class file's first, through
/// [`ProjectBuilder::classes`]), chips keep the order they are added in.
#[derive(Debug, Default)]
pub(crate) struct ProjectBuilder {
    /// The class table.
    pub(crate) classes: ClassCollector,
    chips: Vec<Chip>,
}

impl ProjectBuilder {
    /// Adds a chip with its boxes; a chip without boxes is saved empty.
    pub(crate) fn chip(
        &mut self,
        id: String,
        image: PathBuf,
        (width, height): (Option<u32>, Option<u32>),
        boxes: Vec<RawBox>,
    ) {
        let mut chip = Chip::new(id, image);
        (chip.width, chip.height) = (width, height);
        chip.labels = boxes
            .into_iter()
            .map(|(name, b, attributes)| Label {
                class_id: self.classes.id(&name),
                geometry: Geometry::BBox(b),
                attributes,
            })
            .collect();
        chip.saved_empty = chip.labels.is_empty();
        self.chips.push(chip);
    }

    /// The project read, named `name`, its paths relative to `base_dir`.
    pub(crate) fn finish(self, name: String, base_dir: PathBuf, manifest_path: PathBuf) -> Project {
        Project {
            name,
            labeling_type: LabelingType::ObjectDetection,
            srid: None,
            classes: self.classes.into_classes(),
            chips: self.chips,
            base_dir,
            manifest_path,
        }
    }
}

/// A dataset's name: the name of the folder `dir` (resolved), else
/// `fallback`.
pub(crate) fn dataset_name(dir: &Path, fallback: &str) -> String {
    dir.canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| fallback.to_owned())
}
