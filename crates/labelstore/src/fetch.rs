//! Reading a store back into a project folder (`labelstore fetch`): the
//! store's manifest says which formats it holds; the richest one (`json`
//! when present) is read with its own reader, and a local store in `json`
//! writes the project (manifest plus chips) that `labelstore store` accepts
//! again.

use std::io::{BufRead, BufReader};
use std::path::Path;

use labels_model::{FormatId, ImageLimits, Scope};

use crate::formats::label_format;
use crate::receipt::STORE_MANIFEST;
use crate::store::{Plan, StoreError, StoreOptions};

/// The formats a store's manifest lists, in its order.
fn stored_formats(dir: &Path) -> Result<Vec<FormatId>, StoreError> {
    let manifest = dir.join(STORE_MANIFEST);
    let file = std::fs::File::open(&manifest).map_err(|e| {
        StoreError::Destination(sink_api::Error::io(
            format_args!(
                "{} holds no labelstore store ({STORE_MANIFEST})",
                dir.display()
            ),
            e,
        ))
    })?;
    // The header comes before the file list, which may be long: read up
    // to it only.
    let mut header = String::new();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(StoreError::Scratch)?;
        if line.trim_start().starts_with("\"files\"") {
            break;
        }
        header.push_str(&line);
        header.push('\n');
    }
    let header = header.trim_end().trim_end_matches(',').to_owned() + "}";
    let value: serde_json::Value = serde_json::from_str(&header).map_err(|e| {
        StoreError::Scratch(std::io::Error::other(format!(
            "{}: malformed store manifest: {e}",
            manifest.display()
        )))
    })?;
    Ok(value["formats"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().and_then(FormatId::parse))
        .collect())
}

/// Prepares fetching the local store at `dir` (the whole project or one
/// chip) as a project in format `json`.
pub fn prepare_fetch_local(dir: &Path, scope: Scope) -> Result<Plan, StoreError> {
    let formats = stored_formats(dir)?;
    let from = formats
        .iter()
        .copied()
        .find(|&f| f == FormatId::Json)
        .or_else(|| formats.first().copied())
        .ok_or_else(|| StoreError::Usage(format!("{} lists no format", dir.display())))?;
    let reader = label_format(from)
        .ok_or_else(|| StoreError::Usage(format!("format {from} cannot be read by this build")))?;
    let mut project = reader.read(dir)?;
    for chip in &mut project.chips {
        if !chip.is_labeled() {
            chip.saved_empty = true;
        }
    }
    let out = match project.labeling_type {
        labels_model::LabelingType::SemanticSegmentation => from,
        _ => FormatId::Json,
    };
    Plan::prepare_project(
        project,
        StoreOptions {
            formats: vec![out],
            scope,
            limits: ImageLimits::default(),
            format_options: Default::default(),
        },
    )
}
