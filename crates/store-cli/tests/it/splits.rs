//! `--split`, `--split-seed`, `--split-by`: splits assigned at store time,
//! deterministic, exact per chip, whole per map block; the summary's counts.

use std::collections::BTreeMap;
use std::path::Path;

use crate::util::{run, stderr, stdout};

/// A 4 x 4 gray PNG.
fn png() -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, 4, 4);
    enc.set_color(png::ColorType::Grayscale);
    let mut w = enc.write_header().unwrap();
    w.write_image_data(&[7; 16]).unwrap();
    w.finish().unwrap();
    out
}

/// A project of `n` chips with one box each; chip `i` sits at map
/// `(500000 + 150 i mod 10, 4600000 - 150 i div 10)` (EPSG:32632, 4 m
/// pixels: chips of 16 m) when `georef`, and chip 0 says `"split": "test"`.
fn project(dir: &Path, n: usize, georef: bool, srid: u32) {
    std::fs::create_dir_all(dir.join("chips")).unwrap();
    let mut chips = Vec::new();
    for i in 0..n {
        std::fs::write(dir.join(format!("chips/c{i}.png")), png()).unwrap();
        let mut chip = serde_json::json!({
            "id": format!("c{i}"),
            "image": format!("chips/c{i}.png"),
            "labels": [{"class": if i % 3 == 0 { "ship" } else { "buoy" }, "bbox": [1, 1, 3, 3]}],
        });
        if georef {
            let (x, y) = (
                500_000.0 + 150.0 * (i % 10) as f64,
                4_600_000.0 - 150.0 * (i / 10) as f64,
            );
            chip["geotransform"] = serde_json::json!([x, 4.0, 0.0, y, 0.0, -4.0]);
        }
        if i == 0 {
            chip["split"] = "test".into();
        }
        chips.push(chip);
    }
    let p = serde_json::json!({
        "labelstore": 1, "name": "splits", "labeling_type": "object_detection", "srid": srid,
        "classes": [{"id": 1, "name": "ship"}, {"id": 2, "name": "buoy"}],
        "chips": chips,
    });
    std::fs::write(dir.join("project.json"), serde_json::to_vec(&p).unwrap()).unwrap();
}

/// Stores `project` as json into `out` with `extra` options; the report.
fn store(project: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "store",
        project.to_str().unwrap(),
        "--to",
        "local",
        "--path",
        out.to_str().unwrap(),
        "--format",
        "json",
        "--json",
    ];
    args.extend(extra);
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap()
}

/// The stored project's split of every chip.
fn splits_of(out: &Path) -> BTreeMap<String, String> {
    crate::util::chip_splits(out).into_iter().collect()
}

fn chips_per_split(report: &serde_json::Value) -> BTreeMap<String, u64> {
    report["splits"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v["chips"].as_u64().unwrap()))
        .collect()
}

#[test]
fn splits_are_exact_deterministic_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    project(&dir, 30, false, 32632);
    // Without --split the project's own splits stand.
    let own = store(&dir, &tmp.path().join("own"), &[]);
    assert_eq!(
        chips_per_split(&own),
        BTreeMap::from([("test".to_owned(), 1), ("train".to_owned(), 29)])
    );
    assert_eq!(own["splits"]["test"]["labels"]["ship"], 1);
    let spec = ["--split", "train=0.7,val=0.2,test=0.1", "--split-seed", "5"];
    let a = store(&dir, &tmp.path().join("a"), &spec);
    assert_eq!(
        chips_per_split(&a),
        BTreeMap::from([
            ("test".to_owned(), 3),
            ("train".to_owned(), 21),
            ("val".to_owned(), 6)
        ])
    );
    let labels: u64 = a["splits"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|v| v["labels"].as_object().unwrap().values())
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(labels, 30);
    // The same input gives the same bytes; another seed other splits.
    store(&dir, &tmp.path().join("b"), &spec);
    assert_eq!(
        std::fs::read(tmp.path().join("a/project.json")).unwrap(),
        std::fs::read(tmp.path().join("b/project.json")).unwrap()
    );
    let c = store(
        &dir,
        &tmp.path().join("c"),
        &["--split", "train=0.7,val=0.2,test=0.1", "--split-seed", "6"],
    );
    assert_eq!(chips_per_split(&c), chips_per_split(&a));
    assert_ne!(
        splits_of(&tmp.path().join("a")),
        splits_of(&tmp.path().join("c"))
    );
    // The text summary says it too.
    let o = run(&[
        "store",
        dir.to_str().unwrap(),
        "--to",
        "local",
        "--path",
        tmp.path().join("d").to_str().unwrap(),
        "--format",
        "json",
        "--split",
        "train=0.5,val=0.5",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("split train: 15 chips ("), "{text}");
    assert!(text.contains("split val: 15 chips ("), "{text}");
}

#[test]
fn a_map_block_stays_in_one_split() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    // 100 chips 150 m apart: blocks of 600 m hold up to 4 x 4 of them.
    project(&dir, 100, true, 32632);
    let out = tmp.path().join("out");
    let r = store(
        &dir,
        &out,
        &[
            "--split",
            "train=0.6,val=0.2,test=0.2",
            "--split-by",
            "block=600",
        ],
    );
    let splits = splits_of(&out);
    let mut blocks: BTreeMap<(i64, i64), &str> = BTreeMap::new();
    for i in 0..100 {
        // The chip's centre, 8 m into it.
        let x = 500_000.0 + 150.0 * (i % 10) as f64 + 8.0;
        let y = 4_600_000.0 - 150.0 * (i / 10) as f64 - 8.0;
        let block = ((x / 600.0).floor() as i64, (y / 600.0).floor() as i64);
        let split = splits[&format!("c{i}")].as_str();
        assert_eq!(
            *blocks.entry(block).or_insert(split),
            split,
            "chip c{i}, block {block:?}"
        );
    }
    assert!(blocks.len() > 3, "{blocks:?}");
    let counts = chips_per_split(&r);
    assert_eq!(counts.values().sum::<u64>(), 100);
    assert!(counts.len() >= 2, "{counts:?}");
}

#[test]
fn bad_split_options_exit_2_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    project(&dir, 4, true, 4326);
    for (extra, says) in [
        (vec!["--split", "train=0.8,val=0.1"], "add up to"),
        (vec!["--split", "Train=1"], "not a split name"),
        (
            vec!["--split", "train=1", "--split-by", "tiles"],
            "block=METRES",
        ),
        (
            vec!["--split", "train=0.5,val=0.5", "--split-by", "block=100"],
            "geographic CRS",
        ),
        (vec!["--split-seed", "3"], "--split"),
    ] {
        let out = tmp.path().join("out");
        let mut args = vec![
            "store",
            dir.to_str().unwrap(),
            "--to",
            "local",
            "--path",
            out.to_str().unwrap(),
            "--format",
            "json",
        ];
        args.extend(&extra);
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{extra:?}: {}", stderr(&o));
        assert!(!out.exists(), "{extra:?}");
    }
}
