//! What `fetch` may read of a store: only the files its manifest
//! (`labelstore-manifest.json`) lists, at paths `verify` accepts (relative,
//! inside the store; `sink_api::is_safe_store_path`). A store is data
//! someone else may have written: a `project.json` naming
//! `../../outside/secret.png`, a manifest listing `../x`, or a file slipped
//! into the store folder must not make `fetch` copy a file from elsewhere.
//! Each is refused (exit status 2), naming the path and, for a file the
//! project names, its chip and field.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use labels_model::{Diagnostic, Project};
use sink_api::STORE_MANIFEST;

use crate::fetch::entries;
use crate::store::StoreError;

/// The refusal of a store path fetch will not follow.
pub(crate) fn unsafe_entry(path: &str) -> StoreError {
    StoreError::Usage(format!(
        "{STORE_MANIFEST} lists an unsafe path {path:?} (absolute, or with an empty, '.' or \
         '..' segment): fetch reads nothing outside the store; `labelstore verify` reports it too"
    ))
}

/// The paths a store's manifest lists.
#[derive(Debug)]
pub(crate) struct Listed {
    /// The store's folder, absolute and lexically normal.
    dir: PathBuf,
    paths: HashSet<String>,
}

impl Listed {
    /// Reads the file list of the manifest in `dir` (the store or the
    /// folder a remote store was brought into). An unsafe path in it
    /// refuses the whole store.
    pub(crate) fn read(dir: &Path) -> Result<Listed, StoreError> {
        let mut paths = HashSet::new();
        for e in entries(&dir.join(STORE_MANIFEST))? {
            let e = e?;
            if !sink_api::is_safe_store_path(&e.path) {
                return Err(unsafe_entry(&e.path));
            }
            paths.insert(e.path);
        }
        Ok(Listed {
            dir: normal(dir),
            paths,
        })
    }

    /// The files of a local store its manifest does not list, sorted;
    /// a symbolic link (labelstore writes none) is refused at once.
    pub(crate) fn unlisted_files(&self) -> Result<Vec<String>, StoreError> {
        let mut unlisted = Vec::new();
        let mut stack = vec![self.dir.clone()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).map_err(StoreError::Scratch)? {
                let entry = entry.map_err(StoreError::Scratch)?;
                let p = entry.path();
                let kind = entry.file_type().map_err(StoreError::Scratch)?;
                let rel = self.relative(&p).unwrap_or_default();
                if kind.is_symlink() {
                    return Err(StoreError::Usage(format!(
                        "{}: {rel} is a symbolic link; a labelstore store holds none, and fetch \
                         follows none",
                        self.dir.display()
                    )));
                }
                if kind.is_dir() {
                    stack.push(p);
                } else if rel != STORE_MANIFEST && !self.paths.contains(&rel) {
                    unlisted.push(rel);
                }
            }
        }
        unlisted.sort();
        Ok(unlisted)
    }

    /// Refuses a store holding files (`unlisted`) its manifest does not list.
    pub(crate) fn refuse_unlisted(&self, unlisted: &[String]) -> Result<(), StoreError> {
        match unlisted.first() {
            None => Ok(()),
            Some(rel) => Err(StoreError::Usage(format!(
                "{}: {rel}{} not in the store's {STORE_MANIFEST}: fetch reads only what the \
                 manifest lists (`labelstore verify` lists every difference)",
                self.dir.display(),
                match unlisted.len() {
                    1 => " is".to_owned(),
                    n => format!(" and {} other files are", n - 1),
                }
            ))),
        }
    }

    /// Checks every file the project read from the store names (each
    /// chip's image, world file and mask, and a world file found beside an
    /// image): inside the store, at a safe path, listed in the manifest.
    /// The images of the chips in `made` were made by fetch itself (from
    /// database rasters) and are not checked.
    pub(crate) fn check_project(
        &self,
        project: &Project,
        made: &HashSet<String>,
    ) -> Result<(), StoreError> {
        let base = normal(&self.dir.join(&project.base_dir));
        let mut siblings = Siblings::default();
        let mut diags = Vec::new();
        for (i, chip) in project.chips.iter().enumerate() {
            let mut named: Vec<(&str, PathBuf)> = Vec::new();
            if !made.contains(&chip.id) {
                named.push(("image", chip.image.clone()));
            }
            match &chip.world_file {
                Some(wf) => named.push(("world_file", wf.clone())),
                None if chip.geotransform.is_none() => {
                    if let Some(wf) = siblings.find(&base.join(&chip.image)) {
                        named.push(("world_file", wf));
                    }
                }
                None => {}
            }
            if let Some(mask) = &chip.mask {
                named.push(("mask", mask.clone()));
            }
            for (field, path) in named {
                let full = normal(&base.join(&path));
                let problem = match self.relative(&full) {
                    None => "lies outside the store",
                    Some(rel) if !sink_api::is_safe_store_path(&rel) => "is not a safe store path",
                    Some(rel) if !self.paths.contains(&rel) => {
                        "is not in the store's labelstore-manifest.json"
                    }
                    Some(_) => continue,
                };
                diags.push(Diagnostic {
                    file: project.manifest_path.clone(),
                    chip: Some(chip.id.clone()),
                    field: format!("chips[{i}].{field}"),
                    message: format!(
                        "{:?} {problem}: fetch reads only the files the store manifest lists",
                        path.display().to_string()
                    ),
                });
            }
        }
        if diags.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Input(labels_model::Error::Invalid(diags)))
        }
    }

    /// `p` (absolute, lexically normal) as a `/`-separated path relative
    /// to the store, or `None` when it is not inside it.
    fn relative(&self, p: &Path) -> Option<String> {
        let rel = p.strip_prefix(&self.dir).ok()?;
        let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
        Some(parts?.join("/"))
    }
}

/// The world file the resolver would take beside an image (as GDAL
/// probes), through the resolver's own finder.
#[derive(Default)]
struct Siblings(raster_georef::SiblingWorldFiles);

impl Siblings {
    fn find(&mut self, image: &Path) -> Option<PathBuf> {
        let folder = image.parent()?;
        let name = self.0.find(folder, image)?;
        Some(folder.join(name))
    }
}

/// `p` made absolute, without `.` segments and with each `..` taking away
/// the segment before it (lexically: the store holds no symbolic link).
fn normal(p: &Path) -> PathBuf {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_paths() {
        assert_eq!(normal(Path::new("/a/b/../c/./d")), Path::new("/a/c/d"));
        assert_eq!(normal(Path::new("/a/../../x")), Path::new("/x"));
    }

    #[test]
    fn relative_paths() {
        let l = Listed {
            dir: PathBuf::from("/s/store"),
            paths: HashSet::new(),
        };
        assert_eq!(
            l.relative(Path::new("/s/store/chips/a.png")).as_deref(),
            Some("chips/a.png")
        );
        assert_eq!(l.relative(Path::new("/s/outside/a.png")), None);
        assert_eq!(l.relative(Path::new("/s/storex/a.png")), None);
    }
}
