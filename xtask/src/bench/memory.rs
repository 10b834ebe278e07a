//! `cargo xtask bench memory`: peak memory of a store and of its
//! verification as the project grows, 1,000 to 100,000 chips (target:
//! flat, under 150 MB).
//!
//! Each project has `n` chips of 32x32 pixels with three boxes each; the
//! images are hard links to a few copies of one small PNG, so making the projects is cheap
//! and the store's own work is what is measured. Every tenth chip has a
//! world file, so it goes through the GeoTIFF conversion too. The store
//! writes `json`, `coco`, `voc` and `yolo` (labelstore's manifest and
//! COCO are project-wide files, VOC and YOLO one file a chip) to a local
//! folder; `labelstore verify --from local` then reads that store back
//! against its manifest. Peak memory is GNU time's maximum resident set.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, ensure};

use crate::util;

/// The project sizes measured.
const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
/// The target for every size, in megabytes.
const TARGET_MB: u64 = 30;

/// `cargo xtask bench memory`.
pub(super) fn run(root: &Path) -> anyhow::Result<()> {
    ensure!(
        Path::new("/usr/bin/time").exists(),
        "the benchmark measures peak memory with GNU time: apt-get install time"
    );
    let labelstore = util::release_build(root)?;
    let tmp = tempfile::tempdir()?;
    let png = root.join("tests/fixtures/detection-basic/chips/a.png");
    let mut report = String::from(
        "peak memory, store --to local --format json,coco,voc,yolo and verify --from local\n",
    );
    writeln!(
        report,
        "  {:>7}  {:>9}  {:>9}  {:>9}  {:>9}",
        "chips", "store MB", "store s", "verify MB", "verify s"
    )?;
    let mut peaks = Vec::new();
    for n in SIZES {
        let project = tmp.path().join(format!("project-{n}"));
        make_project(&png, &project, n)?;
        let out = tmp.path().join(format!("store-{n}"));
        let store = util::measure(
            Command::new(&labelstore)
                .arg("store")
                .arg(&project)
                .args(["--to", "local", "--format", "json,coco,voc,yolo", "--path"])
                .arg(&out),
        )?;
        let verify = util::measure(
            Command::new(&labelstore)
                .args(["verify", "--from", "local", "--path"])
                .arg(&out),
        )?;
        writeln!(
            report,
            "  {n:>7}  {:>9}  {:>9.1}  {:>9}  {:>9.1}",
            store.1 / 1024,
            store.0,
            verify.1 / 1024,
            verify.0
        )?;
        println!("xtask: {n} chips measured");
        if n == SIZES[SIZES.len() - 1] {
            for (what, peak) in [("store", store.1), ("verify", verify.1)] {
                super::record_limit(
                    &format!("peak memory, {what}, {n} chips"),
                    peak / 1024,
                    "MB",
                    TARGET_MB,
                );
            }
        }
        peaks.push(store.1.max(verify.1));
        // Free the disk before the next, larger size.
        std::fs::remove_dir_all(&out).ok();
        std::fs::remove_dir_all(&project).ok();
    }
    let (first, last) = (peaks[0].max(1), peaks[peaks.len() - 1]);
    let worst = peaks.iter().max().copied().unwrap_or_default() / 1024;
    writeln!(
        report,
        "  {}x the chips, {:.2}x the peak memory; largest peak {worst} MB (target: under \
         {TARGET_MB} MB): {}",
        SIZES[SIZES.len() - 1] / SIZES[0],
        last as f64 / first as f64,
        if worst < TARGET_MB { "met" } else { "NOT met" }
    )?;
    print!("{report}");
    Ok(())
}

/// Writes a project of `n` chips into `dir`: `chips/c<i>.png` (hard links
/// to copies of `png` under `sources/`, 32x32), a world file beside every tenth, three boxes each.
fn make_project(png: &Path, dir: &Path, n: usize) -> anyhow::Result<()> {
    let chips = dir.join("chips");
    std::fs::create_dir_all(&chips).with_context(|| format!("creating {}", chips.display()))?;
    let mut json = String::from(
        "{\"labelstore\": 1, \"name\": \"memory\", \"labeling_type\": \"object_detection\", \
         \"srid\": 32632, \"classes\": [{\"id\": 1, \"name\": \"ship\"}, \
         {\"id\": 2, \"name\": \"buoy\"}, {\"id\": 3, \"name\": \"small boat\"}], \"chips\": [\n",
    );
    // A file takes at most 65,000 links on ext4: a fresh copy of the PNG
    // serves each 10,000 chips.
    let sources = dir.join("sources");
    std::fs::create_dir_all(&sources)?;
    for i in 0..n {
        let source = sources.join(format!("{}.png", i / 10_000));
        if i % 10_000 == 0 {
            std::fs::copy(png, &source)
                .with_context(|| format!("copying {} to {}", png.display(), source.display()))?;
        }
        std::fs::hard_link(&source, chips.join(format!("c{i}.png")))
            .with_context(|| format!("linking chip {i} in {}", chips.display()))?;
        if i % 10 == 0 {
            let (x, y) = (
                500_000.0 + 16.0 * (i % 1000) as f64,
                5_000_000.0 - 16.0 * (i / 1000) as f64,
            );
            std::fs::write(
                chips.join(format!("c{i}.pgw")),
                format!("0.5\n0\n0\n-0.5\n{}\n{}\n", x + 0.25, y - 0.25),
            )?;
        }
        let sep = if i + 1 == n { "" } else { "," };
        write!(
            json,
            "{{\"id\": \"c{i}\", \"image\": \"chips/c{i}.png\", \"labels\": ["
        )?;
        for k in 0..3usize {
            let (x, y) = ((i * 7 + k * 5) % 20, (i * 3 + k * 9) % 20);
            let comma = if k == 2 { "" } else { ", " };
            let class = ["ship", "buoy", "small boat"][k];
            write!(
                json,
                "{{\"class\": \"{class}\", \"bbox\": [{x}.5, {y}, {}, {}.25]}}{comma}",
                x + 10,
                y + 8
            )?;
        }
        writeln!(json, "]}}{sep}")?;
    }
    json.push_str("]}\n");
    std::fs::write(dir.join("project.json"), json)
        .with_context(|| format!("writing {}", dir.join("project.json").display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_is_one_labelstore_accepts_with_three_boxes_a_chip() {
        let root = crate::util::project_root();
        let tmp = tempfile::tempdir().unwrap();
        let png = root.join("tests/fixtures/detection-basic/chips/a.png");
        make_project(&png, tmp.path(), 12).unwrap();
        let text = std::fs::read_to_string(tmp.path().join("project.json")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let chips = v["chips"].as_array().unwrap();
        assert_eq!(chips.len(), 12);
        assert!(
            chips
                .iter()
                .all(|c| c["labels"].as_array().unwrap().len() == 3)
        );
        assert_eq!(
            chips[11]["labels"][2]["bbox"],
            serde_json::json!([7.5, 11, 17, 19.25])
        );
        let worlds: Vec<_> = (0..12)
            .filter(|i| tmp.path().join(format!("chips/c{i}.pgw")).exists())
            .collect();
        assert_eq!(worlds, vec![0, 10]);
    }
}
