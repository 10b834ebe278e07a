//! Bringing a dataset made elsewhere (COCO, VOC, YOLO, KITTI), or the
//! GeoJSON or Shapefile folder of a labelstore store (labels in map
//! coordinates, back to pixels through each chip's georeferencing), into a
//! labelstore project: the format's reader gives the model, and a local
//! store in format `json` writes it out as a project folder (manifest plus
//! chips), whole or not at all. [`detect_format`] tells a dataset's format
//! from its layout, asking each import format's `LabelFormat::recognizes`.

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

/// The format of the dataset at `path`, told from its layout: the one
/// import format whose `LabelFormat::recognizes` takes it (`import --from
/// auto`). Looks at names and at most small headers; reads no dataset.
/// Errors (usage, exit status 2) when no format or more than one fits,
/// naming them.
pub fn detect_format(path: &Path) -> Result<FormatId, StoreError> {
    let give: Vec<_> = IMPORT_FORMATS.iter().map(|f| f.name()).collect();
    let give = give.join(", ");
    let shown = path.display();
    if !path.exists() {
        return Err(StoreError::Usage(format!(
            "cannot tell the format of {shown}: no such file or folder"
        )));
    }
    let fits: Vec<FormatId> = IMPORT_FORMATS
        .into_iter()
        .filter(|f| label_format(*f).recognizes(path))
        .collect();
    match fits.as_slice() {
        [one] => Ok(*one),
        [] => {
            let why = if path.join(labels_model::MANIFEST_FILE).is_file() {
                format!(
                    "it is a labelstore project ({}), which `labelstore store` takes as it is",
                    labels_model::MANIFEST_FILE
                )
            } else {
                "no layout of an import format found".to_owned()
            };
            Err(StoreError::Usage(format!(
                "cannot tell the format of {shown}: {why}; give --from ({give})"
            )))
        }
        several => {
            let names: Vec<_> = several.iter().map(|f| f.name()).collect();
            let froms: Vec<_> = names.iter().map(|n| format!("--from {n}")).collect();
            Err(StoreError::Usage(format!(
                "{shown} looks like {} {}; give {}",
                if names.len() == 2 { "both" } else { "each of" },
                join_or(&names, "and"),
                join_or(&froms, "or")
            )))
        }
    }
}

/// `a`, `a and b`, `a, b and c` (with `word` for "and").
fn join_or(items: &[impl AsRef<str>], word: &str) -> String {
    let items: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} {word} {last}", rest.join(", ")),
        _ => items.concat(),
    }
}

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
    prepare_dataset(
        from,
        path,
        StoreOptions {
            formats: vec![FormatId::Json],
            scope: Scope::Project,
            limits,
            format_options: Default::default(),
        },
    )
}

/// Reads the dataset at `path` in format `from` (one of
/// [`IMPORT_FORMATS`]) and prepares a store of it with `options`, as if it
/// had been imported first (`labelstore store --from coco ...`: a
/// conversion in one step, with no project written on the way). Every
/// image of the dataset is kept, as by [`prepare_import`].
pub fn prepare_dataset(
    from: FormatId,
    path: &Path,
    options: StoreOptions,
) -> Result<Plan, StoreError> {
    if !IMPORT_FORMATS.contains(&from) {
        let names: Vec<_> = IMPORT_FORMATS.iter().map(|f| f.name()).collect();
        return Err(StoreError::Usage(format!(
            "cannot read a dataset in {from}; datasets are read in: {}",
            names.join(", ")
        )));
    }
    let (mut project, not_imported) = label_format(from).read_dataset(path)?;
    if project.labeling_type == LabelingType::SemanticSegmentation {
        return Err(StoreError::Usage(format!(
            "{} holds {} labels; datasets of object detection and instance segmentation are read",
            path.display(),
            project.labeling_type
        )));
    }
    for chip in &mut project.chips {
        if chip.labels.is_empty() {
            chip.saved_empty = true;
        }
    }
    Plan::prepare_project(project, options).map(|plan| plan.with_not_imported(not_imported))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(p: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures")
            .join(p)
    }

    #[test]
    fn datumaro_datasets_are_detected() {
        for (dir, f) in [
            ("datumaro/coco_dataset/coco_instances", FormatId::Coco),
            (
                "datumaro/coco_dataset/coco_instances/annotations/instances_val.json",
                FormatId::Coco,
            ),
            ("datumaro/voc_dataset/voc_dataset1", FormatId::Voc),
            ("datumaro/voc_dataset", FormatId::Voc),
            ("datumaro/yolo_dataset/labels", FormatId::Yolo),
            ("datumaro/yolo_dataset/labels/obj.names", FormatId::Yolo),
        ] {
            assert_eq!(detect_format(&fixture(dir)).unwrap(), f, "{dir}");
        }
    }

    #[test]
    fn none_or_several_fit() {
        let msg = |p: &Path| detect_format(p).unwrap_err().to_string();
        let project = fixture("splits-detection");
        assert_eq!(
            msg(&project),
            format!(
                "cannot tell the format of {}: it is a labelstore project (project.json), which \
                 `labelstore store` takes as it is; give --from (coco, voc, yolo, kitti, geojson, shapefile)",
                project.display()
            )
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("Annotations")).unwrap();
        std::fs::create_dir_all(dir.path().join("JPEGImages")).unwrap();
        std::fs::write(dir.path().join("data.yaml"), "names: [a]\n").unwrap();
        assert_eq!(
            msg(dir.path()),
            format!(
                "{} looks like both voc and yolo; give --from voc or --from yolo",
                dir.path().display()
            )
        );
        assert!(matches!(
            detect_format(&dir.path().join("missing")),
            Err(StoreError::Usage(m)) if m.ends_with("no such file or folder")
        ));
    }
}
