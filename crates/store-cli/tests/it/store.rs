//! Successful stores, the closing summary, usage and destination errors.

use std::path::{Path, PathBuf};

use crate::util::{labelstore, root, run, snapshot, stderr, stdout};

pub(crate) fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

pub(crate) fn store(project: &Path, target: &Path, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "store".as_ref(),
        project.as_os_str(),
        "--to".as_ref(),
        "local".as_ref(),
        "--path".as_ref(),
        target.as_os_str(),
    ];
    args.extend(extra.iter().map(|s| -> &std::ffi::OsStr { s.as_ref() }));
    run(&args)
}

#[test]
fn stores_the_scope_as_json_with_chips_byte_for_byte_and_a_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("deep/out");
    let o = store(&fixture("detection-basic"), &out, &["--format", "Json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).lines().collect::<Vec<_>>()[..11],
        [
            format!(
                "stored 6 chips of \"detection basic\" to local folder {} as json",
                out.display()
            )
            .as_str(),
            "excluded: 1 deleted, 1 unlabeled",
            "clipped labels: 2 (chips a: 1, b: 1)",
            "georeferencing: 1 inline, 1 none, 4 world_file",
            "  a: world_file EPSG:32633 -> chips/a.tif",
            "  b: inline EPSG:32632 -> chips/b.tif",
            "  c-upper.case: world_file EPSG:32633 -> chips/c-upper.case.tif",
            "  f: world_file EPSG:32633 -> chips/f.tif",
            "  g: none (no CRS) -> chips/g.bmp",
            "  t: world_file EPSG:32631 -> chips/t.tif",
            "chips without georeferencing: 1 (stored as plain images, labels in pixel coordinates)",
        ]
    );
    let files = snapshot(&out);
    let names: Vec<_> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "chips/",
            "chips/a.tif",
            "chips/b.tif",
            "chips/c-upper.case.tif",
            "chips/f.tif",
            "chips/g.bmp",
            "chips/t.tif",
            "labelstore-manifest.json",
            "project.json",
        ]
    );
    // A chip without georeferencing is copied byte for byte; the others
    // became GeoTIFFs (judged by GDAL in the conformance suite).
    let src = fixture("detection-basic/chips");
    assert_eq!(
        files["chips/g.bmp"],
        std::fs::read(src.join("g.bmp")).unwrap()
    );
    assert!(files["chips/a.tif"].starts_with(b"II*\0"));

    // The store manifest lists every other file with its size and SHA-256.
    let m: serde_json::Value = serde_json::from_slice(&files["labelstore-manifest.json"]).unwrap();
    assert_eq!(m["formats"], serde_json::json!(["json"]));
    assert_eq!(m["scope"], "project");
    assert_eq!(m["stored_chips"], 6);
    assert_eq!(
        m["excluded"],
        serde_json::json!([{"chip": "d", "reason": "deleted"}, {"chip": "e", "reason": "unlabeled"}])
    );
    let listed = m["files"].as_array().unwrap();
    assert_eq!(
        listed.len(),
        files.len() - 2,
        "every file but the manifest and the folder"
    );
    for f in listed {
        let bytes = &files[f["path"].as_str().unwrap()];
        assert_eq!(f["size"], bytes.len());
        assert_eq!(f["sha256"].as_str().unwrap().len(), 64);
    }
    let sha_of_g = listed.iter().find(|f| f["path"] == "chips/g.bmp").unwrap()["sha256"].clone();
    assert_eq!(
        sha_of_g,
        "442647b6ff830f07bacf19faedf10b4182a2a97ecc1eb1d246cda9dafe494f07"
    );

    // The stored project.json is itself a project: storing it again gives
    // the same label file and chips.
    let again = tmp.path().join("again");
    let o = store(&out, &again, &["--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let second = snapshot(&again);
    for (path, bytes) in &files {
        if path != "labelstore-manifest.json" {
            assert_eq!(&second[path], bytes, "{path} differs on the second store");
        }
    }
}

#[test]
fn one_chip_and_json_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("one");
    let o = store(
        &fixture("detection-basic"),
        &out,
        &["--format", "json", "--chip", "b", "--json"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["chips_stored"], 1);
    assert_eq!(r["scope"], "b");
    assert_eq!(r["clipped_labels"], 1);
    assert_eq!(r["files"], 3);
    assert_eq!(
        r["chips"],
        serde_json::json!([{"chip": "b", "georeferencing": "inline", "crs": "EPSG:32632", "image": "chips/b.tif"}])
    );
    assert_eq!(
        r["excluded"],
        serde_json::json!({"deleted": 0, "unlabeled": 0})
    );
    let p: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("project.json")).unwrap()).unwrap();
    assert_eq!(p["chips"].as_array().unwrap().len(), 1);
    assert_eq!(p["chips"][0]["id"], "b");
    // The box [-3, 5, 8, 9] crossed the left edge and was clipped.
    assert_eq!(
        p["chips"][0]["labels"][0]["bbox"],
        serde_json::json!([0.0, 5.0, 8.0, 9.0])
    );
    // Its inline geotransform now lives inside the GeoTIFF.
    assert_eq!(p["chips"][0]["image"], "chips/b.tif");
    assert_eq!(p["chips"][0]["geotransform"], serde_json::Value::Null);
}

#[test]
fn usage_errors_exit_2_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let det = fixture("detection-basic");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--format", "jsonl"],
            "unknown format \"jsonl\"; did you mean json?",
        ),
        (
            &["--format", "xml"],
            "unknown format \"xml\" (formats: json, geojson, shapefile, voc, coco, kitti, yolo, png, tiff, geotiff, gif, bmp)",
        ),
        (
            &["--format", "PNG"],
            "format png does not fit a object_detection project",
        ),
        (
            &["--format", "png"],
            "valid formats: json, geojson, shapefile, voc, coco, kitti, yolo",
        ),
        (
            &["--format", "json", "--chip", "zz"],
            "chip \"zz\": --chip: no chip has this id in the project",
        ),
        (
            &["--format", "json", "--chip", "d"],
            "chip \"d\": --chip: the chip is deleted",
        ),
        (
            &["--format", "json", "--chip", "e"],
            "chip \"e\": --chip: the chip has no labels and is not saved empty",
        ),
        (
            &["--format", "json", "--max-pixels", "1000"],
            "chips/a.png: chip \"a\": chips[0].image: the image is 32x32 pixels, more than the limit of 1000 pixels",
        ),
    ];
    for (extra, expect) in cases {
        let o = store(&det, &out, extra);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(expect), "{extra:?}: {}", stderr(&o));
        assert!(snapshot(tmp.path()).is_empty(), "{extra:?}");
    }
    // Missing required options are clap usage errors, also status 2.
    let o = run(&[
        "store",
        det.to_str().unwrap(),
        "--to",
        "local",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--path"), "{}", stderr(&o));

    // A non-empty target needs --overwrite.
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("x"), "x").unwrap();
    let o = store(&det, &out, &["--format", "json"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("is not empty"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(out.join("x")).unwrap(), "x");
    // --overwrite replaces an earlier store, never a folder of the user's.
    let o = store(&det, &out, &["--format", "json", "--overwrite"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is not a labelstore store"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("it holds x"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(out.join("x")).unwrap(), "x");
    std::fs::remove_file(out.join("x")).unwrap();
    let o = store(&det, &out, &["--format", "json", "--overwrite"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = store(&det, &out, &["--format", "yolo", "--overwrite"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!out.join("project.json").exists());
    assert!(out.join("yolo/data.yaml").exists());
}

#[test]
fn a_failing_destination_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let o = store(
        &fixture("detection-basic"),
        &file.join("out"),
        &["--format", "json"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).starts_with("labelstore: error: cannot"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"");
}

#[test]
fn help_explains_every_option_with_examples() {
    let o = labelstore().args(["store", "--help"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let help = stdout(&o);
    for needle in [
        "--to",
        "--path",
        "--format",
        "--chip",
        "--overwrite",
        "--max-pixels",
        "--json",
        "Examples:",
        "labelstore store examples/harbour --to local --path out/harbour --format json",
    ] {
        assert!(help.contains(needle), "{needle} missing from:\n{help}");
    }
}

#[test]
fn verify_names_every_difference() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("store");
    let o = store(
        &root().join("examples/harbour"),
        &out,
        &["--format", "voc,yolo"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let verify = || run(&["verify", "--from", "local", "--path", out.to_str().unwrap()]);
    let o = verify();
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).starts_with("whole: "), "{}", stdout(&o));

    std::fs::remove_file(out.join("voc/Annotations/r0_c1.xml")).unwrap();
    let chip = out.join("chips/r0_c0.tif");
    let mut bytes = std::fs::read(&chip).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    // Written anew: the hard links in voc/ and yolo/ keep the old bytes.
    std::fs::remove_file(&chip).unwrap();
    std::fs::write(&chip, &bytes).unwrap();
    let label = out.join("yolo/labels/train/r0_c2.txt");
    let text = std::fs::read(&label).unwrap();
    std::fs::remove_file(&label).unwrap();
    std::fs::write(&label, &text[..text.len() - 3]).unwrap();
    std::fs::write(out.join("chips/intruder.png"), b"not listed").unwrap();

    let o = verify();
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let text = stdout(&o);
    for needle in [
        "missing: voc/Annotations/r0_c1.xml",
        "checksum differs: chips/r0_c0.tif",
        "size differs: yolo/labels/train/r0_c2.txt",
        "extra: chips/intruder.png",
    ] {
        assert!(text.contains(needle), "{needle} not in:\n{text}");
    }
    assert!(text.starts_with("4 problems in "), "{text}");

    let o = run(&[
        "verify",
        "--from",
        "local",
        "--path",
        tmp.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("has no labelstore-manifest.json"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn fetch_gives_back_a_project_that_stores_again_identically() {
    let tmp = tempfile::tempdir().unwrap();
    let (first, project, second) = (
        tmp.path().join("first"),
        tmp.path().join("project"),
        tmp.path().join("second"),
    );
    let o = store(
        &root().join("examples/harbour"),
        &first,
        &["--format", "kitti,json"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = run(&[
        "fetch",
        "--from",
        "local",
        "--path",
        first.to_str().unwrap(),
        "--output",
        project.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = store(&project, &second, &["--format", "json,kitti"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (a, b) = (snapshot(&first), snapshot(&second));
    for (path, bytes) in &a {
        if path != "labelstore-manifest.json" {
            assert_eq!(
                b.get(path),
                Some(bytes),
                "{path} differs after fetch and store"
            );
        }
    }
    // One chip, and errors.
    let one = tmp.path().join("one");
    let o = run(&[
        "fetch",
        "--from",
        "local",
        "--path",
        first.to_str().unwrap(),
        "--output",
        one.to_str().unwrap(),
        "--chip",
        "r1_c2",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let p: serde_json::Value =
        serde_json::from_slice(&std::fs::read(one.join("project.json")).unwrap()).unwrap();
    assert_eq!(p["chips"].as_array().unwrap().len(), 1);
    let o = run(&[
        "fetch",
        "--from",
        "local",
        "--path",
        one.join("chips").to_str().unwrap(),
        "--output",
        tmp.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("holds no labelstore store"),
        "{}",
        stderr(&o)
    );
}

/// Chip id, then (class name, box) per label.
type ChipBoxes = Vec<(String, Vec<(String, Vec<f64>)>)>;

#[test]
fn importing_what_was_exported_gives_the_project_back() {
    let tmp = tempfile::tempdir().unwrap();
    let example = root().join("examples/harbour");
    // The stored scope, as format json writes it.
    let reference = tmp.path().join("reference");
    let o = store(&example, &reference, &["--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let want: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reference.join("project.json")).unwrap()).unwrap();
    let boxes = |p: &serde_json::Value| -> ChipBoxes {
        let mut chips: Vec<_> = p["chips"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let labels = c["labels"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| {
                        let b = l["bbox"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|v| v.as_f64().unwrap())
                            .collect();
                        (l["class"].as_str().unwrap().to_owned(), b)
                    })
                    .collect();
                (c["id"].as_str().unwrap().to_owned(), labels)
            })
            .collect();
        chips.sort_by(|a, b| a.0.cmp(&b.0));
        chips
    };
    for (format, tolerance) in [
        ("coco", 1e-9),
        ("voc", 1.0),
        ("yolo", 0.01),
        ("kitti", 1e-9),
        // Map coordinates through each chip's georeferencing and back.
        ("geojson", 1e-6),
        ("shapefile", 1e-6),
    ] {
        let exported = tmp.path().join(format!("exported-{format}"));
        let o = store(&example, &exported, &["--format", format]);
        assert_eq!(o.status.code(), Some(0), "{format}: {}", stderr(&o));
        let imported = tmp.path().join(format!("imported-{format}"));
        let o = run(&[
            "import",
            "--from",
            &format.to_uppercase(),
            exported.to_str().unwrap(),
            "--output",
            imported.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{format}: {}", stderr(&o));
        let got: serde_json::Value =
            serde_json::from_slice(&std::fs::read(imported.join("project.json")).unwrap()).unwrap();
        let (g, w) = (boxes(&got), boxes(&want));
        assert_eq!(g.len(), w.len(), "{format}: chips");
        for ((gid, gl), (wid, wl)) in g.iter().zip(&w) {
            assert_eq!(gid, wid, "{format}");
            assert_eq!(gl.len(), wl.len(), "{format}: labels of {gid}");
            for ((gc, gb), (wc, wb)) in gl.iter().zip(wl) {
                assert_eq!(gc, wc, "{format}: class in {gid}");
                for (a, b) in gb.iter().zip(wb) {
                    assert!(
                        (a - b).abs() <= tolerance,
                        "{format}: {gid} box {gb:?} != {wb:?}"
                    );
                }
            }
        }
        // The imported project stores again, and its chips are the stored chips.
        let again = tmp.path().join(format!("again-{format}"));
        let o = store(&imported, &again, &["--format", "json"]);
        assert_eq!(o.status.code(), Some(0), "{format}: {}", stderr(&o));
        for c in got["chips"].as_array().unwrap() {
            let id = c["id"].as_str().unwrap();
            let image = c["image"].as_str().unwrap();
            let ext = image.rsplit('.').next().unwrap();
            assert_eq!(
                std::fs::read(imported.join(image)).unwrap(),
                std::fs::read(reference.join(format!("chips/{id}.{ext}"))).unwrap(),
                "{format}: chip {id}"
            );
        }
    }
    let o = run(&[
        "import",
        "--from",
        "png",
        example.to_str().unwrap(),
        "--output",
        tmp.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("import reads: coco, voc, yolo, kitti, geojson, shapefile"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn voc_depth_is_each_chips_samples_per_pixel() {
    // The fixture's a.png is RGB, b.png (stored as a GeoTIFF, same pixels)
    // and t.tif are gray: the streamed store carries what each header said
    // from the first pass to the writer.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("voc");
    let o = store(&fixture("detection-basic"), &out, &["--format", "voc"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let depth = |id: &str| {
        let xml = std::fs::read_to_string(out.join(format!("voc/Annotations/{id}.xml"))).unwrap();
        let start = xml.find("<depth>").unwrap() + "<depth>".len();
        xml[start..start + xml[start..].find('<').unwrap()].to_owned()
    };
    assert_eq!(["a", "b", "t"].map(depth), ["3", "1", "1"]);
}

#[test]
fn degenerate_boxes_are_left_out_and_counted_per_format() {
    // A 0.2 px wide box: VOC would write it xmin == xmax; a 1e-6 px wide
    // one: VOC too, and YOLO w = 0.000000. KITTI writes boxes as they are
    // (never zero wide: the manifest refuses x0 >= x1), so keeps both.
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("p");
    std::fs::create_dir_all(project.join("chips")).unwrap();
    std::fs::copy(
        fixture("detection-basic/chips/a.png"),
        project.join("chips/a.png"),
    )
    .unwrap();
    std::fs::write(
        project.join("project.json"),
        r#"{"labelstore": 1, "name": "thin", "labeling_type": "object_detection",
            "classes": [{"id": 1, "name": "car"}],
            "chips": [{"id": "a", "image": "chips/a.png", "labels": [
              {"class": "car", "bbox": [10, 10, 10.2, 20]},
              {"class": "car", "bbox": [20, 10, 20.000001, 20]},
              {"class": "car", "bbox": [1, 2, 5, 6]}]}]}"#,
    )
    .unwrap();
    let out = tmp.path().join("out");
    let o = store(&project, &out, &["--format", "voc,yolo,kitti", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        r["notes"],
        serde_json::json!({
            "voc": {"labels left out: zero width or height": 2},
            "yolo": {"labels left out: zero width or height": 1},
        })
    );
    let voc = std::fs::read_to_string(out.join("voc/Annotations/a.xml")).unwrap();
    assert_eq!(voc.matches("<object>").count(), 1);
    assert!(voc.contains("<xmin>2</xmin>"), "{voc}");
    let yolo = std::fs::read_to_string(out.join("yolo/labels/train/a.txt")).unwrap();
    assert_eq!(
        yolo,
        "0 0.315625 0.468750 0.006250 0.312500\n0 0.093750 0.125000 0.125000 0.125000\n"
    );
    let kitti = std::fs::read_to_string(out.join("kitti/train/label_2/a.txt")).unwrap();
    assert_eq!(
        kitti,
        "car 0 0 0 10 10 10.2 20 0 0 0 0 0 0 0\n\
         car 0 0 0 20 10 20.000001 20 0 0 0 0 0 0 0\n\
         car 0 0 0 1 2 5 6 0 0 0 0 0 0 0\n"
    );
}

/// KITTI writes one folder per split, and `import --from kitti` keeps the
/// splits it finds (a chip of `train` names none).
#[test]
fn kitti_splits_survive_store_and_import() {
    let tmp = tempfile::tempdir().unwrap();
    let example = root().join("examples/harbour");
    let project = tmp.path().join("project");
    std::fs::create_dir_all(project.join("chips")).unwrap();
    for e in std::fs::read_dir(example.join("chips")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, project.join("chips").join(p.file_name().unwrap())).unwrap();
    }
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(example.join("project.json")).unwrap()).unwrap();
    for chip in manifest["chips"].as_array_mut().unwrap() {
        let split = match chip["id"].as_str().unwrap() {
            "r0_c1" | "r2_c2" => "val",
            "r1_c1" => "test",
            "r0_c2" => "train",
            _ => continue,
        };
        chip["split"] = split.into();
    }
    std::fs::write(
        project.join("project.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    let exported = tmp.path().join("exported");
    let o = store(&project, &exported, &["--format", "kitti"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for file in [
        "kitti/train/label_2/r0_c0.txt",
        "kitti/train/label_2/r0_c2.txt",
        "kitti/val/label_2/r0_c1.txt",
        "kitti/val/label_2/r2_c2.txt",
        "kitti/test/label_2/r1_c1.txt",
        "kitti/ImageSets/val.txt",
    ] {
        assert!(exported.join(file).is_file(), "{file}");
    }
    let imported = tmp.path().join("imported");
    let o = run(&[
        "import",
        "--from",
        "kitti",
        exported.to_str().unwrap(),
        "--output",
        imported.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let got: serde_json::Value =
        serde_json::from_slice(&std::fs::read(imported.join("project.json")).unwrap()).unwrap();
    let mut splits: Vec<(String, Option<String>)> = got["chips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["split"].as_str().map(str::to_owned),
            )
        })
        .collect();
    splits.sort();
    let want: Vec<(String, Option<String>)> = [
        ("r0_c0", None),
        ("r0_c1", Some("val")),
        ("r0_c2", None),
        ("r0_c3", None),
        ("r1_c1", Some("test")),
        ("r1_c2", None),
        ("r2_c0", None),
        ("r2_c2", Some("val")),
        ("r2_c3", None),
    ]
    .into_iter()
    .map(|(i, s)| (i.to_owned(), s.map(str::to_owned)))
    .collect();
    assert_eq!(splits, want);
}
