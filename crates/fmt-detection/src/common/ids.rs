//! Chip ids and dataset names for datasets made elsewhere (COCO, YOLO).

use std::collections::HashSet;
use std::path::Path;

/// Makes chip ids from image file stems: characters outside
/// `A-Z a-z 0-9 . _ -` become `_`, a leading `.` becomes `_`, and repeated
/// ids get `-2`, `-3`... so that every id is valid and unique.
#[derive(Debug, Default)]
pub(crate) struct ChipIds {
    used: HashSet<String>,
}

impl ChipIds {
    /// The id for an image whose file stem is `stem`.
    pub(crate) fn id_for(&mut self, stem: &str) -> String {
        let mut base: String = stem
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .take(120)
            .collect();
        if base.is_empty() {
            base = "chip".to_owned();
        }
        if base.starts_with('.') {
            base.replace_range(0..1, "_");
        }
        let mut id = base.clone();
        let mut n = 1u64;
        while self.used.contains(&id) {
            n += 1;
            id = format!("{base}-{n}");
        }
        self.used.insert(id.clone());
        id
    }
}

/// The split of a chip read from a subset named `name` (a file name's
/// `instances_<name>`, a folder, a list): lower case, characters outside
/// `a-z 0-9 _ -` replaced by `_`, at most 32 characters; `None` for `train`
/// (the model's default) and for an empty name.
pub(crate) fn split_from_subset(name: &str) -> Option<String> {
    let split = labels_model::split_from_folder(name);
    (split != labels_model::DEFAULT_SPLIT).then_some(split)
}

/// The order in which readers take splits, and writers list them:
/// `train`, `val`, `test`, then the others by name.
pub(crate) fn split_rank(split: &str) -> (u8, &str) {
    match split {
        "train" => (0, ""),
        "val" => (1, ""),
        "test" => (2, ""),
        other => (3, other),
    }
}

/// The stem of the last component of a `/`- or `\`-separated file name.
pub(crate) fn file_stem(name: &str) -> &str {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    match last.rfind('.') {
        Some(0) | None => last,
        Some(i) => &last[..i],
    }
}

/// A name for a dataset in `dir`: the folder's name (its parent's for a
/// store's `coco/` or `yolo/` folder).
pub(crate) fn folder_name(dir: &Path) -> String {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let named = match abs.file_name() {
        Some(n) if n == "coco" || n == "yolo" => abs.parent().unwrap_or(&abs),
        _ => &abs,
    };
    named
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dataset".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chip_ids() {
        let mut ids = ChipIds::default();
        assert_eq!(ids.id_for("a"), "a");
        assert_eq!(ids.id_for("a"), "a-2");
        assert_eq!(ids.id_for(".hidden é"), "_hidden__");
        assert_eq!(ids.id_for(""), "chip");
        assert_eq!(ids.id_for(&"x".repeat(200)).len(), 120);
        assert_eq!(file_stem("a/b\\c.d.png"), "c.d");
        assert_eq!(file_stem(".png"), ".png");
        assert_eq!(split_from_subset("train"), None);
        assert_eq!(split_from_subset(""), None);
        assert_eq!(split_from_subset("Val 2017"), Some("val_2017".into()));
        assert_eq!(split_from_subset("default"), Some("default".into()));
        let mut s = vec!["z", "test", "a", "val", "train"];
        s.sort_by_key(|s| split_rank(s));
        assert_eq!(s, ["train", "val", "test", "a", "z"]);
    }
}
