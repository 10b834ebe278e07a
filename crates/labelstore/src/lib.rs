//! labelstore stores AI labeling projects: image chips (often georeferenced
//! raster tiles) with the labels drawn on them, written in the formats
//! training tools read, together with the chips, into a local folder, an
//! object store or PostgreSQL/PostGIS, keeping every bit of georeferencing.
//!
//! This facade is the crate to depend on. It re-exports the parts
//! ([`model`], [`geometry`], [`georef`], [`sink`], [`fs`], [`detection`],
//! [`segmentation`])
//! and holds the glue between them: the format registry ([`FormatId`],
//! [`label_format`], which picks a format's implementation), the store
//! pipeline, [`Plan`], and a look at a project's labels before training,
//! [`prepare_preview`] (one offline HTML page, or a PNG per chip).
//!
//! ```
//! use labelstore::{FormatId, Plan, StoreOptions, model::{Scope, ImageLimits}};
//! # let dir = tempfile::tempdir()?;
//! # let project = dir.path().join("project.json");
//! # std::fs::write(&project, r#"{"labelstore": 1, "name": "demo",
//! #   "labeling_type": "object_detection", "classes": [], "chips": []}"#)?;
//! let plan = Plan::prepare(&project, StoreOptions {
//!     formats: vec![FormatId::Json],
//!     scope: Scope::Project,
//!     limits: ImageLimits::default(),
//!     format_options: Default::default(),
//! })?;
//! let dest = labelstore::fs::FsDestination::open(&dir.path().join("out"), false)?;
//! let rt = tokio::runtime::Builder::new_current_thread().build()?;
//! let report = rt.block_on(plan.execute(dest, &mut |_| {}))?;
//! assert_eq!(report.chips_stored, 0);
//! assert!(dir.path().join("out/labelstore-manifest.json").exists());
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod chip;
mod fetch;
mod formats;
mod import;
mod kept;
mod label_records;
mod listed;
mod preview;
mod scratch;
mod store;
mod verify;

pub use fmt_detection as detection;
pub use fmt_segmentation as segmentation;
pub use labels_model as model;
pub use pixel_geometry as geometry;
pub use raster_georef as georef;
pub use scene_chipper as chipper;
pub use sink_api as sink;
#[cfg(feature = "db")]
pub use sink_db as db;
pub use sink_fs as fs;
#[cfg(feature = "objstore")]
pub use sink_objstore as objstore;

pub use crate::chip::{ChipPlan, ChipSummary, ClassSummary, SceneSummary, prepare_chip};
pub use crate::fetch::{FetchDryRun, fetch_dry_run, prepare_fetch, prepare_fetch_with_progress};
pub use crate::formats::{
    FormatId, FormatInfo, FormatOptions, UnknownFormat, label_format, label_format_with,
};
pub use crate::import::{IMPORT_FORMATS, detect_format, import, prepare_dataset, prepare_import};
pub use crate::kept::{StoredChipReport, StoredChips};
pub use crate::preview::{
    GRID_ORIGIN, Preview, PreviewChip, PreviewOptions, STROKE_CSS, THUMB_CSS, THUMB_PIXELS,
    prepare_preview,
};
pub use crate::scratch::scratch_dir_in;
pub use crate::store::{
    ClippedChip, DryRunReport, ExcludedChip, FormatLoss, FormatLosses, FormatNotes, Plan, Progress,
    RoundingReport, SplitCount, SplitCounts, StoreError, StoreOptions, StoreReport,
};
pub use crate::verify::{VerifyReport, verify, verify_with_progress};
pub use labels_model::ChipFormat;
pub use sink_api::STORE_MANIFEST;
