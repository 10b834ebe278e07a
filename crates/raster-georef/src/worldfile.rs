//! Which world-file names GDAL probes beside an image, and the one beside
//! a given image.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The world-file extensions GDAL probes for an image with extension `ext`,
/// in GDAL's order, all lower-case: first and last letter of the extension
/// plus `w` (`.pgw` for `png`), the full extension plus `w` (`.pngw`), then
/// `.wld`. Callers match them against file names case-insensitively.
pub fn world_file_candidates(ext: &str) -> Vec<String> {
    let ext = ext.to_ascii_lowercase();
    let mut out = Vec::with_capacity(3);
    let mut chars = ext.chars();
    if let (Some(first), Some(last)) = (chars.next(), ext.chars().last()) {
        out.push(format!("{first}{last}w"));
        if ext.len() > 1 {
            out.push(format!("{ext}w"));
        }
    }
    out.push("wld".to_owned());
    out
}

/// Finds the world file GDAL would take beside an image (`.pgw`, `.pngw`,
/// `.wld`... in the order GDAL probes them, names matched in any letter
/// case), listing each folder once.
#[derive(Debug, Default)]
pub struct SiblingWorldFiles(HashMap<PathBuf, HashMap<String, OsString>>);

impl SiblingWorldFiles {
    /// The name of the world file in `folder` for the image named by the
    /// last part of `image`.
    pub fn find(&mut self, folder: &Path, image: &Path) -> Option<OsString> {
        let stem = image.file_stem()?.to_str()?.to_ascii_lowercase();
        let ext = image.extension()?.to_str()?;
        let names = self.0.entry(folder.to_path_buf()).or_insert_with(|| {
            std::fs::read_dir(folder)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name();
                    let lower = name.to_str()?.to_ascii_lowercase();
                    let ext = Path::new(&lower).extension()?.to_str()?;
                    (ext.ends_with('w') || ext == "wld").then_some((lower, name))
                })
                .collect()
        });
        world_file_candidates(ext)
            .iter()
            .find_map(|cand| names.get(&format!("{stem}.{cand}")))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gdal_probe_order() {
        assert_eq!(world_file_candidates("PNG"), ["pgw", "pngw", "wld"]);
        assert_eq!(world_file_candidates("tif"), ["tfw", "tifw", "wld"]);
        assert_eq!(world_file_candidates("jpeg"), ["jgw", "jpegw", "wld"]);
        assert_eq!(world_file_candidates("bmp"), ["bpw", "bmpw", "wld"]);
        assert_eq!(world_file_candidates(""), ["wld"]);
    }
}
