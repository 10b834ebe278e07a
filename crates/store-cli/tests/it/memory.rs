//! Memory bounded in bytes: a big, highly compressible chip becomes a
//! GeoTIFF without its decoded image in memory, and a chip that needs more
//! than the whole memory budget is refused before anything is written.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::{labelstore, stderr};

/// A project of one chip, `image`, georeferenced by `world` (a world file
/// beside it) when given.
fn project(dir: &Path, image: &str, world: Option<&str>) {
    let chips = dir.join("chips");
    std::fs::create_dir_all(&chips).unwrap();
    if let Some(world) = world {
        std::fs::write(chips.join(world), "1\n0\n0\n-1\n500000.5\n4600000.5\n").unwrap();
    }
    let manifest = serde_json::json!({
        "labelstore": 1,
        "name": "memory",
        "labeling_type": "object_detection",
        "srid": 32632,
        "classes": [{"id": 1, "name": "field"}],
        "chips": [{"id": "big", "image": format!("chips/{image}"),
                   "labels": [{"class": "field", "bbox": [0, 0, 10, 10]}]}],
    });
    std::fs::write(dir.join("project.json"), manifest.to_string()).unwrap();
}

/// Runs `labelstore` with `args` and returns its exit status, standard
/// error and peak resident memory (VmHWM, polled from /proc while it runs:
/// the high-water mark only grows, and the peak of a conversion comes
/// long before the process ends).
fn run_measured(args: &[&std::ffi::OsStr]) -> (Option<i32>, String, u64) {
    let mut child = labelstore()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let code = loop {
        if let Ok(text) = std::fs::read_to_string(&status) {
            let hwm = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
            peak_kib = peak_kib.max(hwm.unwrap_or(0));
        }
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (code, err, peak_kib * 1024)
}

/// A 16-bit RGBA PNG of `side` x `side` pixels, all zero: a small file that
/// decodes to `side * side * 8` bytes. Written row by row.
fn write_zero_rgba16_png(path: &Path, side: u32) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut enc = png::Encoder::new(file, side, side);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Sixteen);
    enc.set_compression(png::Compression::Fast);
    let mut w = enc.write_header().unwrap().into_stream_writer().unwrap();
    let row = vec![0u8; side as usize * 8];
    for _ in 0..side {
        w.write_all(&row).unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn a_big_compressible_png_becomes_a_geotiff_without_its_decoded_image_in_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    project(&dir, "big.png", Some("big.pgw"));
    let side = 6000u32;
    write_zero_rgba16_png(&dir.join("chips/big.png"), side);
    let decoded = u64::from(side) * u64::from(side) * 8;
    let out = tmp.path().join("out");
    let (code, err, peak) = run_measured(&[
        "store".as_ref(),
        dir.as_os_str(),
        "--to".as_ref(),
        "local".as_ref(),
        "--path".as_ref(),
        out.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    let tiff = std::fs::read(out.join("chips/big.tif")).unwrap();
    assert!(tiff.starts_with(b"II*\0"));
    // Today's whole-image decode peaked above the decoded size (288 MB);
    // rows decoded a strip at a time stay far below it.
    assert!(peak > 0, "no VmHWM read");
    assert!(
        peak < decoded / 3,
        "peak memory {} MiB, decoded image {} MiB",
        peak >> 20,
        decoded >> 20
    );
}

/// A 24-bit BMP of `w` x `h` pixels: BMP is not compressed, so converting
/// it may hold an output as big as the decoded image.
fn write_bmp(path: &Path, w: u32, h: u32) {
    let stride = (w * 3).div_ceil(4) * 4;
    let size = 54 + stride * h;
    let mut b = Vec::with_capacity(size as usize);
    b.extend_from_slice(b"BM");
    b.extend_from_slice(&size.to_le_bytes());
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&54u32.to_le_bytes());
    b.extend_from_slice(&40u32.to_le_bytes());
    b.extend_from_slice(&w.to_le_bytes());
    b.extend_from_slice(&h.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&24u16.to_le_bytes());
    b.extend_from_slice(&[0; 24]);
    b.extend((0..stride * h).map(|i| (i * 7 % 251) as u8));
    std::fs::write(path, b).unwrap();
}

#[test]
fn a_chip_over_the_memory_budget_is_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    project(&dir, "wide.bmp", Some("wide.bpw"));
    // 1000 x 1000 x 3 bytes: about 3 MiB of output, plus the decoder's.
    write_bmp(&dir.join("chips/wide.bmp"), 1000, 1000);
    let out = tmp.path().join("out");
    let store = |budget: &str| {
        labelstore()
            .arg("store")
            .arg(&dir)
            .args(["--to", "local", "--path"])
            .arg(&out)
            .args(["--format", "json", "--memory-budget", budget])
            .output()
            .unwrap()
    };
    let o = store("4MiB");
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("chip \"big\""), "{e}");
    assert!(e.contains("wide.bmp"), "{e}");
    assert!(e.contains("chips[0].image"), "{e}");
    assert!(e.contains("memory budget of 4 MiB"), "{e}");
    assert!(!out.exists(), "a refused store wrote {}", out.display());
    let staging: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("labelstore"))
        .collect();
    assert!(staging.is_empty(), "{staging:?}");
    // With room for it, the same chip is stored.
    let o = store("64MiB");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(out.join("chips/big.tif").exists());
    // A chip stored as it is (no world file) is not converted: no budget.
    std::fs::remove_file(dir.join("chips/wide.bpw")).unwrap();
    std::fs::remove_dir_all(&out).unwrap();
    let o = store("1MiB");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(out.join("chips/big.bmp").exists());
}

#[test]
fn a_bad_memory_budget_is_a_usage_error() {
    let o = Command::new(env!("CARGO_BIN_EXE_labelstore"))
        .args([
            "store", "p", "--to", "local", "--path", "o", "--format", "json",
        ])
        .args(["--memory-budget", "lots"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--memory-budget"), "{}", stderr(&o));
}

#[test]
fn import_takes_the_memory_budget_too() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    project(&dir, "wide.bmp", None);
    write_bmp(&dir.join("chips/wide.bmp"), 1000, 1000);
    // A YOLO dataset whose image has a world file beside it: imported, it
    // becomes a GeoTIFF.
    let yolo = tmp.path().join("yolo");
    let o = labelstore()
        .arg("store")
        .arg(&dir)
        .args(["--to", "local", "--path"])
        .arg(&yolo)
        .args(["--format", "yolo"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let image = yolo.join("yolo/images/train/big.bmp");
    assert!(image.exists());
    std::fs::write(
        image.with_extension("bpw"),
        "1\n0\n0\n-1\n500000.5\n4600000.5\n",
    )
    .unwrap();
    let out = tmp.path().join("imported");
    let import = |budget: &str| {
        labelstore()
            .args(["import", "--from", "yolo"])
            .arg(yolo.join("yolo"))
            .arg("--output")
            .arg(&out)
            .args(["--memory-budget", budget])
            .output()
            .unwrap()
    };
    let o = import("4MiB");
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("big.bmp"), "{e}");
    assert!(e.contains("memory budget of 4 MiB"), "{e}");
    assert!(!out.exists());
    let o = import("64MiB");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(out.join("chips/big.tif").exists());
}
