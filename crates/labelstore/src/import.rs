//! Bringing a dataset made elsewhere (COCO, VOC, YOLO, KITTI), or the
//! GeoJSON or Shapefile folder of a labelstore store (labels in map
//! coordinates, back to pixels through each chip's georeferencing), into a
//! labelstore project: the format's reader gives the model, and a local
//! store in format `json` writes it out as a project folder (manifest plus
//! chips), whole or not at all.

use std::path::Path;

use labels_model::{ImageLimits, LabelingType, Scope};
use sink_api::Destination;

use crate::formats::{FormatId, label_format};
use crate::store::{Plan, StoreError, StoreOptions, StoreReport};

/// The formats `import` reads.
pub const IMPORT_FORMATS: [FormatId; 6] = [
    FormatId::Coco,
    FormatId::Voc,
    FormatId::Yolo,
    FormatId::Kitti,
    FormatId::Geojson,
    FormatId::Shapefile,
];

/// Reads the dataset at `path` in format `from` and prepares a store of it
/// as a labelstore project (format `json`). Every image of the dataset is
/// kept: images without labels become chips saved empty. What the
/// dataset holds that the reader does not bring over is counted in the
/// report's `not_imported`.
pub fn prepare_import(
    from: FormatId,
    path: &Path,
    limits: ImageLimits,
) -> Result<Plan, StoreError> {
    if !IMPORT_FORMATS.contains(&from) {
        let names: Vec<_> = IMPORT_FORMATS.iter().map(|f| f.name()).collect();
        return Err(StoreError::Usage(format!(
            "cannot import from {from}; import reads: {}",
            names.join(", ")
        )));
    }
    let (mut project, not_imported) = label_format(from).read_dataset(path)?;
    if project.labeling_type == LabelingType::SemanticSegmentation {
        return Err(StoreError::Usage(format!(
            "{} holds {} labels; import brings object detection and instance segmentation datasets",
            path.display(),
            project.labeling_type
        )));
    }
    for chip in &mut project.chips {
        if chip.labels.is_empty() {
            chip.saved_empty = true;
        }
    }
    Plan::prepare_project(
        project,
        StoreOptions {
            formats: vec![FormatId::Json],
            scope: Scope::Project,
            limits,
            format_options: Default::default(),
        },
    )
    .map(|plan| plan.with_not_imported(not_imported))
}

/// Imports and stores in one go (see [`prepare_import`]).
pub async fn import<D: Destination>(
    from: FormatId,
    path: &Path,
    dest: D,
    limits: ImageLimits,
) -> Result<StoreReport, StoreError> {
    prepare_import(from, path, limits)?
        .execute(dest, &mut |_| {})
        .await
}
