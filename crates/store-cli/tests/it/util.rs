//! Helpers shared by the tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A `labelstore` command.
pub fn labelstore() -> Command {
    Command::new(env!("CARGO_BIN_EXE_labelstore"))
}

/// Runs `labelstore` with `args`.
pub fn run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    labelstore().args(args).output().unwrap()
}

/// Standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The names in `dir`, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Every file under `dir` (recursively, hidden ones included) with its bytes.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.insert(format!("{}/", rel(base, &path)), Vec::new());
            walk(base, &path, out);
        } else {
            out.insert(rel(base, &path), std::fs::read(&path).unwrap());
        }
    }
}

fn rel(base: &Path, p: &Path) -> String {
    p.strip_prefix(base).unwrap().to_string_lossy().into_owned()
}

/// Each chip of the project folder `out` as `(id, split)`, in manifest
/// order, a chip naming no split as `train`.
pub fn chip_splits(out: &Path) -> Vec<(String, String)> {
    let p: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("project.json")).unwrap()).unwrap();
    p["chips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["split"].as_str().unwrap_or("train").to_owned(),
            )
        })
        .collect()
}

/// `labelstore store PROJECT --to local --path PATH --format FORMATS`.
pub fn store_local(project: &Path, path: &Path, formats: &str) -> Output {
    labelstore()
        .arg("store")
        .arg(project)
        .args(["--to", "local", "--path"])
        .arg(path)
        .args(["--format", formats])
        .output()
        .unwrap()
}
