//! What can go wrong, each naming the file (and the feature or field).

/// A chipping failure: bad input, always (exit status 2 in the CLI).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The labels file: missing, unreadable, of an unknown kind or CRS, a
    /// feature that is no polygon, an unknown class field.
    #[error("{0}")]
    Labels(#[from] vector_labels::Error),
    /// A scene: not a GeoTIFF it reads, no georeferencing, a broken chunk;
    /// or a CRS labelstore does not know.
    #[error("{0}")]
    Scene(#[from] raster_georef::Error),
    /// Options or labels that do not fit the scenes.
    #[error("{0}")]
    Input(String),
}

/// The result of a chipping step.
pub type Result<T> = std::result::Result<T, Error>;
