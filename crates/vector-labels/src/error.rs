//! The error type of vector-labels.

use std::fmt::Write as _;

/// What went wrong while reading a labels file. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file (or a sidecar of it) cannot be read.
    #[error("{file}: {source}")]
    Io {
        /// The file's path.
        file: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not what its extension says, or is broken.
    #[error("{file}: {message}")]
    Format {
        /// The file's path.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// One feature cannot be used as a label (a point or a line, a broken
    /// geometry).
    #[error("{file}: feature {index}: {message}")]
    Feature {
        /// The file's path.
        file: String,
        /// The feature's 0-based position in the file.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// The file's CRS is missing or is none labelstore knows.
    #[error("{file}: {message}")]
    Crs {
        /// The file (the `.prj` of a Shapefile).
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A GeoPackage holds several feature tables and none was chosen, or not
    /// the one asked for.
    #[error("{file}: {}", layers_message(.asked.as_deref(), .layers))]
    Layer {
        /// The file's path.
        file: String,
        /// The layer asked for, if any.
        asked: Option<String>,
        /// The feature tables it holds.
        layers: Vec<String>,
    },
    /// A class field the file does not have.
    #[error("{file}: no field {field:?}; its fields are: {}", .fields.join(", "))]
    UnknownField {
        /// The file's path.
        file: String,
        /// The field asked for.
        field: String,
        /// The fields the file has.
        fields: Vec<String>,
    },
}

fn layers_message(asked: Option<&str>, layers: &[String]) -> String {
    let mut out = String::new();
    match asked {
        Some(name) => {
            let _ = write!(out, "no feature table {name:?}");
        }
        None => {
            let _ = write!(out, "{} feature tables, choose one", layers.len());
        }
    }
    let _ = write!(out, " of: {}", layers.join(", "));
    out
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
