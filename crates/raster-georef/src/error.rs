//! The error type of raster-georef.

/// What went wrong while reading georeferencing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A world file is not six finite numbers with a non-zero pixel size.
    #[error("{file}: line {line}: {message}")]
    WorldFile {
        /// The world file's name, as given by the caller.
        file: String,
        /// The 1-based line the problem is on.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// Six coefficients that do not make an invertible geotransform.
    #[error("geotransform {0:?} is degenerate: its pixel axes do not span an area")]
    Degenerate([f64; 6]),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
