//! Inputs that are odd but valid (a top-down BMP) or that must be refused
//! before they can hang a store (FIFOs and other files that are not
//! regular files).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::util::{labelstore, snapshot, stderr};

/// A 64x64 BMP with its rows stored top-down (a negative height): 24-bit,
/// or 8-bit with a grey palette when `palette`. Pixel (x, y) holds values
/// that differ with x and y, so a flipped image shows.
pub fn top_down_bmp(palette: bool) -> Vec<u8> {
    let (w, h) = (64usize, 64usize);
    let (bits, table) = if palette { (8u16, 1024) } else { (24, 0) };
    let stride = (w * usize::from(bits) / 8).div_ceil(4) * 4;
    let at = 54 + table;
    let mut b = b"BM".to_vec();
    b.extend_from_slice(&((at + stride * h) as u32).to_le_bytes());
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&(at as u32).to_le_bytes());
    b.extend_from_slice(&40u32.to_le_bytes());
    b.extend_from_slice(&(w as i32).to_le_bytes());
    b.extend_from_slice(&(-(h as i32)).to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&bits.to_le_bytes());
    b.extend_from_slice(&[0; 24]);
    if palette {
        for i in 0..=255u8 {
            b.extend_from_slice(&[i, i, i, 0]);
        }
    }
    for y in 0..h {
        let mut row = Vec::with_capacity(stride);
        for x in 0..w {
            if palette {
                // Mask values: class 1 on the top half, background below.
                row.push(u8::from(y < 32));
            } else {
                row.extend_from_slice(&[(x * 4) as u8, (y * 4) as u8, (x ^ y) as u8]);
            }
        }
        row.resize(stride, 0);
        b.extend_from_slice(&row);
    }
    b
}

/// Runs `cmd`, killing it if it has not finished within 60 seconds (a
/// hang is then a failed assertion, not a stuck test).
pub fn run_bounded(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            let o = child.wait_with_output().unwrap();
            panic!("{cmd:?} hung: {}", stderr(&o));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// `labelstore store PROJECT --to local --path TARGET --format FORMAT`.
pub fn store_local(project: &Path, target: &Path, format: &str) -> Output {
    let mut cmd = labelstore();
    cmd.arg("store")
        .arg(project)
        .args(["--to", "local", "--path"]);
    run_bounded(cmd.arg(target).args(["--format", format]))
}

/// GDAL's checksum of every band of `image`.
fn checksums(image: &Path) -> Vec<String> {
    let o = Command::new("gdalinfo")
        .arg("-checksum")
        .arg(image)
        .output()
        .expect("gdalinfo (Debian package gdal-bin)");
    assert!(
        o.status.success(),
        "gdalinfo {}: {}",
        image.display(),
        stderr(&o)
    );
    let sums: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Checksum=").map(str::to_owned))
        .collect();
    assert!(
        !sums.is_empty(),
        "no checksum from gdalinfo {}",
        image.display()
    );
    sums
}

#[test]
fn a_top_down_bmp_is_stored_as_gdal_reads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("p");
    std::fs::create_dir(&project).unwrap();
    let bmp = top_down_bmp(false);
    std::fs::write(project.join("geo.bmp"), &bmp).unwrap();
    std::fs::write(
        project.join("geo.bpw"),
        "0.5\n0\n0\n-0.5\n500000.25\n4600000.75\n",
    )
    .unwrap();
    std::fs::write(project.join("plain.bmp"), &bmp).unwrap();
    std::fs::write(
        project.join("project.json"),
        r#"{"labelstore": 1, "name": "bmp", "labeling_type": "object_detection", "srid": 32632,
            "classes": [{"id": 1, "name": "ship"}],
            "chips": [
              {"id": "geo", "image": "geo.bmp", "labels": [{"class": "ship", "bbox": [1, 2, 60, 63]}]},
              {"id": "plain", "image": "plain.bmp",
               "labels": [{"class": "ship", "bbox": [1, 2, 60, 63]}]}]}"#,
    )
    .unwrap();
    let out = tmp.path().join("out");
    let o = store_local(&project, &out, "json");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let stored = out.join("chips/geo.tif");
    let geo = checksums(&stored);
    assert_eq!(geo, checksums(&project.join("geo.bmp")));
    assert_eq!(geo.len(), 3);
    // The plain chip is copied as it is.
    assert_eq!(std::fs::read(out.join("chips/plain.bmp")).unwrap(), bmp);
    // And the GeoTIFF has the world file's georeferencing, 64x64.
    let o = Command::new("gdalinfo")
        .arg("-json")
        .arg(&stored)
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(info["size"], serde_json::json!([64, 64]));
    assert_eq!(
        info["geoTransform"],
        serde_json::json!([500000.0, 0.5, 0.0, 4600001.0, 0.0, -0.5])
    );
}

#[test]
fn a_top_down_bmp_mask_is_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("p");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(project.join("chip.bmp"), top_down_bmp(false)).unwrap();
    std::fs::write(project.join("mask.bmp"), top_down_bmp(true)).unwrap();
    std::fs::write(
        project.join("project.json"),
        r#"{"labelstore": 1, "name": "bmp", "labeling_type": "semantic_segmentation",
            "classes": [{"id": 1, "name": "water"}],
            "chips": [{"id": "c", "image": "chip.bmp", "mask": "mask.bmp", "labels": []}]}"#,
    )
    .unwrap();
    let out = tmp.path().join("out");
    let o = store_local(&project, &out, "tiff");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let files = snapshot(&out);
    let mask = files
        .keys()
        .find(|k| k.contains("masks/") && k.ends_with(".tif"))
        .unwrap_or_else(|| panic!("no mask stored: {:?}", files.keys()));
    // GDAL reads the stored mask as it reads the source: class 1 on top.
    assert_eq!(
        checksums(&out.join(mask)),
        checksums(&project.join("mask.bmp"))
    );
}

/// Makes a FIFO at `path`: opening it for reading waits for a writer.
fn mkfifo(path: &Path) {
    let made = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(made.success(), "mkfifo {}", path.display());
}

fn fixture(rel: &str) -> std::path::PathBuf {
    crate::util::root().join("tests/fixtures").join(rel)
}

/// Asserts a failed run: exit 2, every `expect` in the message, nothing
/// at `target`.
fn assert_refused(o: &Output, target: &Path, expect: &[&str]) {
    assert_eq!(o.status.code(), Some(2), "{}", stderr(o));
    for e in expect {
        assert!(stderr(o).contains(e), "expected {e:?} in {:?}", stderr(o));
    }
    assert!(!target.exists(), "{} was written", target.display());
    let parent = target.parent().unwrap();
    let left: Vec<_> = std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains("labelstore"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn an_image_or_world_file_that_is_a_fifo_is_refused_not_waited_for() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("p");
    std::fs::create_dir(&project).unwrap();
    mkfifo(&project.join("pipe.png"));
    std::fs::copy(
        fixture("detection-basic/chips/a.png"),
        project.join("a.png"),
    )
    .unwrap();
    mkfifo(&project.join("a.pgw"));
    std::fs::create_dir(project.join("dir.png")).unwrap();
    std::fs::write(
        project.join("project.json"),
        r#"{"labelstore": 1, "name": "fifo", "labeling_type": "object_detection",
            "classes": [{"id": 1, "name": "ship"}],
            "chips": [
              {"id": "pipe", "image": "pipe.png", "labels": [{"class": "ship", "bbox": [0, 0, 1, 1]}]},
              {"id": "a", "image": "a.png", "world_file": "a.pgw",
               "labels": [{"class": "ship", "bbox": [0, 0, 1, 1]}]},
              {"id": "dir", "image": "dir.png", "labels": [{"class": "ship", "bbox": [0, 0, 1, 1]}]}]}"#,
    )
    .unwrap();
    let out = tmp.path().join("out");
    let o = store_local(&project, &out, "json");
    assert_refused(
        &o,
        &out,
        &[
            "pipe.png: chip \"pipe\": chips[0].image: it is a FIFO (named pipe), not a regular file",
            "a.pgw: chip \"a\": chips[1].world_file: cannot read the world file: it is a FIFO",
            "dir.png: chip \"dir\": chips[2].image: it is a folder, not a regular file",
        ],
    );
}

#[test]
fn a_mask_that_is_a_fifo_is_refused_not_waited_for() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("p");
    std::fs::create_dir(&project).unwrap();
    std::fs::copy(
        fixture("semantic-masks/chips/tile.png"),
        project.join("tile.png"),
    )
    .unwrap();
    mkfifo(&project.join("mask.png"));
    std::fs::write(
        project.join("project.json"),
        r#"{"labelstore": 1, "name": "fifo", "labeling_type": "semantic_segmentation",
            "classes": [{"id": 1, "name": "water"}],
            "chips": [{"id": "t", "image": "tile.png", "mask": "mask.png", "labels": []}]}"#,
    )
    .unwrap();
    let out = tmp.path().join("out");
    let o = store_local(&project, &out, "png");
    assert_refused(
        &o,
        &out,
        &["mask.png: chip \"t\": chips[0].mask: it is a FIFO (named pipe), not a regular file"],
    );
}

#[test]
fn a_manifest_that_is_a_fifo_is_refused_not_waited_for() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("p");
    std::fs::create_dir(&project).unwrap();
    mkfifo(&project.join("project.json"));
    let out = tmp.path().join("out");
    for given in [project.clone(), project.join("project.json")] {
        let o = store_local(&given, &out, "json");
        assert_refused(
            &o,
            &out,
            &["project.json: it is a FIFO (named pipe), not a regular file"],
        );
    }
}

#[test]
fn an_imported_dataset_file_that_is_a_fifo_is_refused_not_waited_for() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    // A YOLO image, whose header gives the size labels are scaled by.
    let yolo = tmp.path().join("yolo");
    std::fs::create_dir_all(yolo.join("images/train")).unwrap();
    std::fs::create_dir_all(yolo.join("labels/train")).unwrap();
    std::fs::write(
        yolo.join("data.yaml"),
        "path: .\ntrain: images/train\nnames:\n  0: ship\n",
    )
    .unwrap();
    mkfifo(&yolo.join("images/train/a.png"));
    std::fs::write(yolo.join("labels/train/a.txt"), "0 0.5 0.5 0.2 0.2\n").unwrap();
    let mut cmd = labelstore();
    cmd.args(["import", "--from", "yolo"]).arg(&yolo);
    let o = run_bounded(cmd.arg("--output").arg(&out));
    assert_refused(
        &o,
        &out,
        &["a.png", "it is a FIFO (named pipe), not a regular file"],
    );

    // A KITTI label file.
    let kitti = tmp.path().join("kitti");
    std::fs::create_dir_all(kitti.join("training/label_2")).unwrap();
    std::fs::create_dir_all(kitti.join("training/image_2")).unwrap();
    std::fs::copy(
        fixture("detection-basic/chips/a.png"),
        kitti.join("training/image_2/a.png"),
    )
    .unwrap();
    mkfifo(&kitti.join("training/label_2/a.txt"));
    let mut cmd = labelstore();
    cmd.args(["import", "--from", "kitti"]).arg(&kitti);
    let o = run_bounded(cmd.arg("--output").arg(&out));
    assert_refused(
        &o,
        &out,
        &["a.txt", "it is a FIFO (named pipe), not a regular file"],
    );
}
