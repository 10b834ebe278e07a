//! Which world-file names GDAL probes beside an image.

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
