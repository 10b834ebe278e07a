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
    /// An EPSG code this build has no definition for.
    #[error("EPSG:{0} is not a coordinate reference system labelstore knows")]
    UnknownCrs(u32),
    /// A CRS's WKT (a `.prj` file's) that names no EPSG code this build knows.
    #[error("{0}")]
    UnknownWkt(String),
    /// A CRS definition that cannot be used for what was asked.
    #[error("EPSG:{epsg}: {message}")]
    Crs {
        /// The EPSG code.
        epsg: u32,
        /// What went wrong.
        message: String,
    },
    /// A TIFF whose structure or georeferencing tags are broken, or that
    /// cannot be written as asked.
    #[error("{file}: {message}")]
    GeoTiff {
        /// The file's name, as given by the caller.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// An image whose structure is broken: cut short, a chunk or segment
    /// past the end of the file, tags no reader can use, a bad checksum.
    #[error("{file}: {message}")]
    Corrupt {
        /// The file's name, as given by the caller.
        file: String,
        /// What is wrong, and where in the file.
        message: String,
    },
    /// An image whose pixels cannot be decoded, or cannot be given in the
    /// form asked (a PNG or JPEG copy of a chip).
    #[error("{file}: {message}")]
    Pixels {
        /// The file's name, as given by the caller.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// Six coefficients that do not make an invertible geotransform.
    #[error("geotransform {0:?} is degenerate: its pixel axes do not span an area")]
    Degenerate([f64; 6]),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
