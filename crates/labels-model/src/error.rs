//! Errors and diagnostics of the model crate.

use std::fmt;
use std::path::PathBuf;

/// One problem in a project, located as precisely as the input allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file the problem is in (the manifest, an image, a world file).
    pub file: PathBuf,
    /// The chip concerned, when there is one.
    pub chip: Option<String>,
    /// Where in the manifest, as a path such as `chips[3].labels[0].bbox`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(chip) = &self.chip {
            write!(f, ": chip {chip:?}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Why a project could not be read, validated or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is wrong; every problem found is listed.
    #[error("{}", list(.0))]
    Invalid(Vec<Diagnostic>),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// An [`Error::Invalid`] holding one diagnostic.
    pub fn invalid(
        file: impl Into<PathBuf>,
        chip: Option<&str>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::Invalid(vec![Diagnostic {
            file: file.into(),
            chip: chip.map(str::to_owned),
            field: field.into(),
            message: message.into(),
        }])
    }

    /// The diagnostics of an [`Error::Invalid`], empty for other errors.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            Error::Invalid(d) => d,
            Error::Io { .. } => &[],
        }
    }
}

/// How many diagnostics an error message lists before summarizing the rest.
const SHOWN: usize = 20;

fn list(d: &[Diagnostic]) -> String {
    let mut s = String::new();
    for (i, d) in d.iter().take(SHOWN).enumerate() {
        if i > 0 {
            s.push('\n');
        }
        s.push_str(&d.to_string());
    }
    if d.len() > SHOWN {
        s.push_str(&format!("\n... and {} more problems", d.len() - SHOWN));
    }
    s
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
