//! The labelstore project model: the vocabulary every other crate speaks.
//!
//! A [`Project`] is a set of [`Chip`]s (image tiles, often georeferenced) with
//! [`Label`]s drawn on them, and the [`Class`]es those labels name. This crate
//! reads the project manifest of SPEC §1 ([`Project::load`]), validates it with
//! errors that name the file, the chip and the field ([`Diagnostic`]), decides
//! which chips a store includes ([`select`], SPEC §2), and, for the chips that
//! are stored, reads image sizes from their headers, finds world files and
//! clips labels to the chip ([`resolve`]).
//!
//! It also defines the label-format extension point ([`LabelFormat`],
//! [`LabelWriter`], [`Output`]) and implements labelstore's own `json` format
//! ([`JsonFormat`]), which *is* the manifest: storing to `json` and loading the
//! result gives the stored scope back.
//!
//! The model types carry no serde derives: the manifest has its own wire
//! structs, so the file format never leaks into the vocabulary.
//!
//! ```
//! use labels_model::{Project, Scope, select};
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("project.json"), r#"{
//!   "labelstore": 1, "name": "demo", "labeling_type": "object_detection",
//!   "classes": [{"id": 1, "name": "ship"}],
//!   "chips": [{"id": "a", "image": "a.png", "deleted": true, "labels": []}]
//! }"#)?;
//! let project = Project::load(dir.path())?;
//! let selection = select(&project, &Scope::Project)?;
//! assert!(selection.chips.is_empty());
//! assert_eq!(selection.excluded[0].chip, "a");
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod codec;
mod error;
mod image;
mod json;
mod manifest;
mod model;
mod regular;
mod resolve;
mod select;
mod split;
mod stream;

pub use crate::codec::{
    ChipFormat, Fidelity, LabelFormat, LabelWriter, LeftBehind, MemoryOutput, Output, Rounding,
};
pub use crate::error::{Diagnostic, Error, Result};
pub use crate::image::{ImageKind, ImageLimits, image_size};
pub use crate::json::{JsonFormat, chip_entry};
pub use crate::model::{
    Attributes, Chip, Class, DEFAULT_SPLIT, Label, LabelingType, Project, Rgb, is_safe_chip_id,
    is_split_name, split_from_folder, subset_rank,
};
pub use crate::regular::{
    check_regular, open_regular, open_regular_with_len, read_known_len, read_regular,
    read_regular_to_string,
};
pub use crate::resolve::{ChipGeoref, ChipResolver, GeorefSource, Resolution, replay, resolve};
pub use crate::select::{Excluded, ExclusionReason, Scope, Selection, Selector, select};
pub use crate::split::{SplitSpec, SplitUnit};
pub use crate::stream::{ChipReader, ChipSpan, ManifestStream};
pub use pixel_geometry::{Geometry, Polygon, Ring};

/// The file name a project folder holds its manifest under.
pub const MANIFEST_FILE: &str = "project.json";
