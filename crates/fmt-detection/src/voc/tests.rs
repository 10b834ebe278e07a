use super::*;
use labels_model::{Class, GeorefSource, MemoryOutput};

const NONE: ChipGeoref = ChipGeoref {
    source: GeorefSource::None,
    transform: None,
    epsg: None,
};

fn attrs(v: serde_json::Value) -> Attributes {
    v.as_object().cloned().unwrap_or_default()
}

fn project() -> Project {
    let mut a = Chip::new("a", "chips/a.png");
    (a.width, a.height) = (Some(512), Some(256));
    a.labels = vec![
        Label {
            class_id: 7,
            geometry: Geometry::BBox([0.0, 0.0, 512.0, 256.0]),
            attributes: attrs(
                serde_json::json!({"truncated": true, "occluded": 2, "pose": "Left", "score": 0.5}),
            ),
        },
        Label {
            class_id: 2,
            geometry: Geometry::BBox([10.5, 20.25, 110.0, 64.5]),
            attributes: attrs(serde_json::json!({"difficult": 1, "truncated": false})),
        },
    ];
    let mut e = Chip::new("e", "chips/e.tif");
    (e.width, e.height, e.saved_empty) = (Some(16), Some(16), true);
    Project {
        name: "ports & <harbours>".into(),
        labeling_type: LabelingType::ObjectDetection,
        srid: Some(32632),
        classes: vec![
            Class {
                id: 7,
                name: "vélo lourd & <co>".into(),
                color: Some(Rgb([0, 170, 0])),
            },
            Class {
                id: 2,
                name: "car".into(),
                color: None,
            },
        ],
        chips: vec![a, e],
        base_dir: PathBuf::new(),
        manifest_path: PathBuf::new(),
    }
}

fn write(p: &Project) -> MemoryOutput {
    write_with_writer(p).0
}

/// What [`write`] writes, and the writer, to ask it what it counted.
fn write_with_writer(p: &Project) -> (MemoryOutput, Box<dyn LabelWriter>) {
    let mut out = MemoryOutput::default();
    for c in &p.chips {
        out.0
            .insert(c.image.to_string_lossy().into_owned(), b"img".to_vec());
    }
    let mut w = VocFormat.writer(p);
    for c in &p.chips {
        w.write_chip(c, &NONE, &mut out).unwrap();
    }
    w.finish(&mut out).unwrap();
    (out, w)
}

fn text(out: &MemoryOutput, path: &str) -> String {
    String::from_utf8(out.0.get(path).cloned().unwrap_or_default()).unwrap()
}

fn store(out: &MemoryOutput) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, bytes) in &out.0 {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    dir
}

#[test]
fn coordinates() {
    // Integer-aligned boxes are exact.
    assert_eq!(edges_to_voc(0.0, 512.0, 512), (1, 512));
    assert_eq!(edges_to_voc(3.0, 4.0, 512), (4, 4));
    // Rounding, halves up.
    assert_eq!(edges_to_voc(10.5, 110.0, 512), (12, 110));
    assert_eq!(edges_to_voc(20.25, 64.5, 512), (21, 65));
    assert_eq!(edges_to_voc(1.49, 9.51, 512), (2, 10));
    // Clamped to the chip.
    assert_eq!(edges_to_voc(-3.0, 600.0, 512), (1, 512));
    // Thinner than a pixel: the pixel holding the centre.
    assert_eq!(edges_to_voc(10.4, 10.45, 512), (11, 11));
    assert_eq!(edges_to_voc(9.6, 10.4, 512), (11, 11));
    assert_eq!(edges_to_voc(511.7, 512.0, 512), (512, 512));
    assert_eq!(edges_to_voc(0.0, 0.2, 512), (1, 1));
}

#[test]
fn exact_bytes() {
    let out = write(&project());
    assert_eq!(
        out.0.keys().collect::<Vec<_>>(),
        [
            "chips/a.png",
            "chips/e.tif",
            "voc/Annotations/a.xml",
            "voc/Annotations/e.xml",
            "voc/ImageSets/Main/train.txt",
            "voc/JPEGImages/a.png",
            "voc/JPEGImages/e.tif",
            "voc/labelmap.txt",
        ]
    );
    assert_eq!(
        text(&out, "voc/Annotations/a.xml"),
        r#"<?xml version="1.0" encoding="utf-8"?>
<annotation>
  <folder>JPEGImages</folder>
  <filename>a.png</filename>
  <source>
    <database>ports &amp; &lt;harbours&gt;</database>
    <annotation>labelstore</annotation>
  </source>
  <size>
    <width>512</width>
    <height>256</height>
    <depth>3</depth>
  </size>
  <segmented>0</segmented>
  <object>
    <name>vélo lourd &amp; &lt;co&gt;</name>
    <pose>Left</pose>
    <truncated>1</truncated>
    <difficult>0</difficult>
    <occluded>1</occluded>
    <bndbox>
      <xmin>1</xmin>
      <ymin>1</ymin>
      <xmax>512</xmax>
      <ymax>256</ymax>
    </bndbox>
  </object>
  <object>
    <name>car</name>
    <pose>Unspecified</pose>
    <truncated>0</truncated>
    <difficult>1</difficult>
    <occluded>0</occluded>
    <bndbox>
      <xmin>12</xmin>
      <ymin>21</ymin>
      <xmax>110</xmax>
      <ymax>65</ymax>
    </bndbox>
  </object>
</annotation>
"#
    );
    assert_eq!(
        text(&out, "voc/Annotations/e.xml"),
        r#"<?xml version="1.0" encoding="utf-8"?>
<annotation>
  <folder>JPEGImages</folder>
  <filename>e.tif</filename>
  <source>
    <database>ports &amp; &lt;harbours&gt;</database>
    <annotation>labelstore</annotation>
  </source>
  <size>
    <width>16</width>
    <height>16</height>
    <depth>3</depth>
  </size>
  <segmented>0</segmented>
</annotation>
"#
    );
    assert_eq!(text(&out, "voc/ImageSets/Main/train.txt"), "a\ne\n");
    assert_eq!(
        text(&out, "voc/labelmap.txt"),
        "# label:color_rgb:parts:actions\ncar:::\nvélo lourd & <co>:0,170,0::\n"
    );
    assert_eq!(out.0["voc/JPEGImages/e.tif"], b"img");
}

#[test]
fn names_labelmap_cannot_hold_go_to_dataset_meta() {
    let mut p = project();
    p.classes.push(Class {
        id: 9,
        name: "type:A".into(),
        color: None,
    });
    p.classes.push(Class {
        id: 10,
        name: "#1".into(),
        color: None,
    });
    let out = write(&p);
    assert_eq!(
        text(&out, "voc/labelmap.txt"),
        "# label:color_rgb:parts:actions\ncar:::\nvélo lourd & <co>:0,170,0::\n"
    );
    let dir = store(&out);
    let back = VocFormat.read(dir.path()).unwrap();
    let names: Vec<_> = back.classes.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["car", "vélo lourd & <co>", "type:A", "#1"]);
    assert_eq!(back.classes[1].color, Some(Rgb([0, 170, 0])));
}

#[test]
fn round_trip() {
    let p = project();
    let dir = store(&write(&p));
    for path in [
        dir.path().to_path_buf(),
        dir.path().join("voc"),
        dir.path().join("voc/Annotations/a.xml"),
    ] {
        let back = VocFormat.read(&path).unwrap();
        assert_eq!(back.name, "ports & <harbours>");
        assert_eq!(back.base_dir, dir.path().join("voc"));
        assert_eq!(back.srid, None);
        let classes: Vec<_> = back
            .classes
            .iter()
            .map(|c| (c.id, c.name.as_str(), c.color))
            .collect();
        assert_eq!(
            classes,
            [
                (1, "car", None),
                (2, "vélo lourd & <co>", Some(Rgb([0, 170, 0])))
            ]
        );
        let a = &back.chips[0];
        assert_eq!(
            (a.id.as_str(), a.width, a.height, a.saved_empty),
            ("a", Some(512), Some(256), false)
        );
        assert_eq!(a.image, Path::new("JPEGImages/a.png"));
        assert_eq!(a.labels[0].class_id, 2);
        assert_eq!(
            a.labels[0].geometry,
            Geometry::BBox([0.0, 0.0, 512.0, 256.0])
        );
        assert_eq!(
            serde_json::Value::Object(a.labels[0].attributes.clone()),
            serde_json::json!({"truncated": true, "occluded": 1, "pose": "Left"})
        );
        assert_eq!(
            a.labels[1].geometry,
            Geometry::BBox([11.0, 20.0, 110.0, 65.0])
        );
        assert_eq!(
            serde_json::Value::Object(a.labels[1].attributes.clone()),
            serde_json::json!({"difficult": true})
        );
        if path.is_dir() {
            assert_eq!(
                back.manifest_path,
                dir.path().join("voc/ImageSets/Main/train.txt")
            );
            let e = &back.chips[1];
            assert_eq!((e.id.as_str(), e.saved_empty), ("e", true));
            assert_eq!(e.image, Path::new("JPEGImages/e.tif"));
            assert!(e.labels.is_empty());
        } else {
            assert_eq!(back.chips.len(), 1);
        }
    }
}

#[test]
fn foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("VOCdevkit/VOC2012");
    for d in ["Annotations", "JPEGImages", "ImageSets/Main"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    for f in ["2008_000001.jpg", "2008_000002.jpg", "listed_only.png"] {
        std::fs::write(root.join("JPEGImages").join(f), b"x").unwrap();
    }
    std::fs::write(root.join("ImageSets/Main/val.txt"), "2008_000002\n").unwrap();
    std::fs::write(
        root.join("ImageSets/Main/train.txt"),
        "# comment\nlisted_only\n\n2008_000002\n",
    )
    .unwrap();
    std::fs::write(root.join("ImageSets/Main/car_train.txt"), "nope 1\n").unwrap();
    // Datumaro: background first, 0-based floats, an <attributes> block.
    std::fs::write(
        root.join("labelmap.txt"),
        "# label:color_rgb:parts:actions\nbackground:0,0,0::\ncar:128,0,0::\nbus:::\n",
    )
    .unwrap();
    std::fs::write(
        root.join("Annotations/2008_000002.xml"),
        r#"<annotation verified="yes"><folder>VOC2012</folder><filename>2008_000002.jpg</filename>
<path>C:\x\2008_000002.jpg</path><source><database>Unknown</database></source>
<size><width>500.0</width><height>375</height><depth>3</depth></size>
<object><name>truck</name><pose>Frontal</pose><truncated>0</truncated><difficult>0</difficult><occluded>2</occluded>
<bndbox><xmin>10.5</xmin><ymin>20.25</ymin><xmax>40.5</xmax><ymax>60.25</ymax></bndbox>
<part><name>head</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></part>
<attributes><attribute><name>score</name><value>0.9</value></attribute>
<attribute><name>pose</name><value>ignored</value></attribute></attributes>
<polygon><x1>1</x1><y1>1</y1></polygon></object>
<object><name>car</name><bndbox><xmin>0</xmin><ymin>1</ymin><xmax>600</xmax><ymax>375</ymax></bndbox></object>
</annotation>"#,
    )
    .unwrap();
    std::fs::write(
        root.join("Annotations/2008_000001.xml"),
        "<annotation><size><width>0</width><height>0</height></size></annotation>",
    )
    .unwrap();
    let p = VocFormat.read(&dir.path().join("VOCdevkit")).unwrap();
    assert_eq!(p.base_dir, root);
    assert_eq!(p.manifest_path, root.join("ImageSets/Main/train.txt"));
    assert_eq!(p.name, "VOC2012");
    let ids: Vec<_> = p.chips.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["listed_only", "2008_000002", "2008_000001"]);
    let names: Vec<_> = p.classes.iter().map(|c| (c.id, c.name.as_str())).collect();
    assert_eq!(names, [(1, "car"), (2, "bus"), (3, "truck")]);
    assert_eq!(p.classes[0].color, Some(Rgb([128, 0, 0])));

    let listed = &p.chips[0];
    assert_eq!(listed.image, Path::new("JPEGImages/listed_only.png"));
    assert!(listed.saved_empty && listed.width.is_none());

    let c = &p.chips[1];
    assert_eq!((c.width, c.height), (Some(500), Some(375)));
    assert_eq!(c.image, Path::new("JPEGImages/2008_000002.jpg"));
    assert_eq!(c.labels.len(), 2);
    assert_eq!(c.labels[0].class_id, 3);
    assert_eq!(
        c.labels[0].geometry,
        Geometry::BBox([9.5, 19.25, 40.5, 60.25])
    );
    assert_eq!(
        serde_json::Value::Object(c.labels[0].attributes.clone()),
        serde_json::json!({"pose": "Frontal", "occluded": 2, "score": "0.9"})
    );
    // A 0 in a 1-based field and an xmax past the image: clamped.
    assert_eq!(
        c.labels[1].geometry,
        Geometry::BBox([0.0, 0.0, 500.0, 375.0])
    );

    let z = &p.chips[2];
    assert_eq!((z.width, z.height), (None, None));
    assert_eq!(z.image, Path::new("JPEGImages/2008_000001.jpg"));
}

#[test]
fn labelimg_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("img 1.JPG"), b"x").unwrap();
    std::fs::write(
        dir.path().join("img 1.xml"),
        "<annotation><filename>img 1.JPG</filename><object><name>dog</name>\
         <bndbox><xmin>1</xmin><ymin>1</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></object></annotation>",
    )
    .unwrap();
    let p = VocFormat.read(dir.path()).unwrap();
    assert_eq!(p.base_dir, dir.path());
    assert_eq!(p.chips[0].id, "img 1");
    assert_eq!(p.chips[0].image, Path::new("img 1.JPG"));
    assert_eq!(
        p.chips[0].labels[0].geometry,
        Geometry::BBox([0.0, 0.0, 3.0, 4.0])
    );
}

fn read_one(xml: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let voc = dir.path().join("voc");
    std::fs::create_dir_all(voc.join("Annotations")).unwrap();
    std::fs::create_dir_all(voc.join("JPEGImages")).unwrap();
    std::fs::write(voc.join("JPEGImages/x.png"), b"x").unwrap();
    let file = voc.join("Annotations/x.xml");
    std::fs::write(&file, xml).unwrap();
    let e = VocFormat.read(dir.path()).unwrap_err();
    let [d] = e.diagnostics() else { panic!("{e}") };
    assert_eq!(d.file, file);
    e.to_string()
        .strip_prefix(&format!("{}: ", file.display()))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn reader_errors() {
    let obj = |inner: &str| format!("<annotation>\n<object>\n{inner}</object>\n</annotation>");
    let cases = [
        ("<annotation>\n<size>\n</annotation>", "line 3: malformed XML".to_owned()),
        ("<voc/>", "chip \"x\": voc, line 1: the root element is not <annotation>".into()),
        (
            &obj("<bndbox/>\n"),
            "chip \"x\": annotation/object[1], line 2: the object has no <name>".into(),
        ),
        (
            &obj("<name>a</name>\n"),
            "chip \"x\": annotation/object[1], line 2: the object has no <bndbox>".into(),
        ),
        (
            &obj("<name>a</name>\n<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax></bndbox>\n"),
            "chip \"x\": annotation/object[1]/bndbox, line 4: <bndbox> has no <ymax>".into(),
        ),
        (
            &obj("<name>a</name>\n<bndbox><xmin>1</xmin><ymin>one</ymin><xmax>2</xmax><ymax>2</ymax></bndbox>\n"),
            "chip \"x\": annotation/object[1]/bndbox/ymin, line 4: \"one\" is not a number".into(),
        ),
        (
            &obj("<name>a</name>\n<bndbox><xmin>5</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox>\n"),
            "chip \"x\": annotation/object[1]/bndbox, line 4: the box [4, 0, 2, 2] is empty (xmax must exceed xmin, ymax ymin)".into(),
        ),
        (
            &obj("<name>a</name>\n<difficult>maybe</difficult>\n<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox>\n"),
            "chip \"x\": annotation/object[1]/difficult, line 4: \"maybe\" is not 0 or 1".into(),
        ),
        (
            "<annotation>\n<size><width>-3</width></size></annotation>",
            "chip \"x\": annotation/size/width, line 2: \"-3\" is not a pixel count".into(),
        ),
    ];
    for (xml, want) in cases {
        let got = read_one(xml);
        assert!(got.starts_with(&want), "{xml}: {got}");
    }
}

#[test]
fn other_reader_errors() {
    let dir = tempfile::tempdir().unwrap();
    let e = VocFormat.read(dir.path()).unwrap_err().to_string();
    assert!(
        e.ends_with("no Pascal VOC dataset here: expected voc/, Annotations/ or .xml files"),
        "{e}"
    );
    let voc = dir.path().join("voc");
    std::fs::create_dir_all(voc.join("ImageSets/Main")).unwrap();
    std::fs::write(voc.join("ImageSets/Main/train.txt"), "ghost\n").unwrap();
    let e = VocFormat.read(dir.path()).unwrap_err().to_string();
    assert!(
        e.contains("train.txt: chip \"ghost\": the chip is listed but has neither Annotations/ghost.xml nor an image"),
        "{e}"
    );
    std::fs::write(voc.join("ImageSets/Main/train.txt"), "").unwrap();
    std::fs::write(voc.join("labelmap.txt"), "a:1,2::\n").unwrap();
    let e = VocFormat.read(dir.path()).unwrap_err().to_string();
    assert!(
        e.ends_with(
            "labelmap.txt: line 1: the colour \"1,2\" of \"a\" is not r,g,b with values 0 to 255"
        ),
        "{e}"
    );
    std::fs::write(voc.join("labelmap.txt"), "a:::\nb:::\na:::\n").unwrap();
    let e = VocFormat.read(dir.path()).unwrap_err().to_string();
    assert!(
        e.ends_with("labelmap.txt: line 3: the class \"a\" is listed twice"),
        "{e}"
    );
    std::fs::write(voc.join("labelmap.txt"), "a:b:c:d:e\n").unwrap();
    let e = VocFormat.read(dir.path()).unwrap_err().to_string();
    assert!(
        e.ends_with("line 1: 5 ':'-separated fields, expected name:color:parts:actions"),
        "{e}"
    );
}

type Edit = fn(&mut Project);

#[test]
fn writer_errors() {
    let cases: [(Edit, &str); 4] = [
        (
            |p| {
                p.chips[0].labels[0]
                    .attributes
                    .insert("difficult".into(), "yes".into());
            },
            "labels[0].attributes.difficult: expected true, false or a number, not \"yes\"",
        ),
        (
            |p| {
                p.chips[0].labels[1]
                    .attributes
                    .insert("pose".into(), 3.into());
            },
            "labels[1].attributes.pose: expected a string XML can carry, not 3",
        ),
        (
            |p| p.classes[0].name = "bell\u{7}".into(),
            "labels[0].class: the class name \"bell\\u{7}\" holds a character XML cannot carry",
        ),
        (
            |p| p.chips[0].labels[0].geometry = Geometry::Polygon(vec![]),
            "labels[0]: Pascal VOC holds boxes only",
        ),
    ];
    for (edit, want) in cases {
        let mut p = project();
        edit(&mut p);
        let mut out = MemoryOutput::default();
        out.0.insert("chips/a.png".into(), Vec::new());
        let e = VocFormat
            .writer(&p)
            .write_chip(&p.chips[0], &NONE, &mut out)
            .unwrap_err()
            .to_string();
        assert_eq!(e, format!("voc/Annotations/a.xml: chip \"a\": {want}"));
    }
}

#[test]
fn one_list_per_split() {
    let mut p = project();
    p.chips[0].split = Some("val".into());
    let mut c = p.chips[1].clone();
    c.id = "e2".into();
    c.split = Some("test".into());
    p.chips.push(c);
    let out = write(&p);
    let lists: Vec<&str> = out
        .0
        .keys()
        .map(String::as_str)
        .filter(|k| k.starts_with("voc/ImageSets/"))
        .collect();
    assert_eq!(
        lists,
        [
            "voc/ImageSets/Main/test.txt",
            "voc/ImageSets/Main/train.txt",
            "voc/ImageSets/Main/val.txt"
        ]
    );
    assert_eq!(text(&out, "voc/ImageSets/Main/val.txt"), "a\n");
    assert_eq!(text(&out, "voc/ImageSets/Main/test.txt"), "e2\n");
    let dir = store(&out);
    let back = VocFormat.read(dir.path()).unwrap();
    let got: Vec<(&str, &str)> = back
        .chips
        .iter()
        .map(|c| (c.id.as_str(), c.split()))
        .collect();
    assert_eq!(got, [("e", "train"), ("a", "val"), ("e2", "test")]);
    assert_eq!(back.chips[0].split, None);

    // A chip in several lists: train, val, test, others, trainval last.
    let main = dir.path().join("voc/ImageSets/Main");
    std::fs::write(main.join("trainval.txt"), "e\na\nx\n").unwrap();
    std::fs::write(main.join("aux.txt"), "e2\n").unwrap();
    std::fs::write(main.join("car_train.txt"), "e2 1\nx -1\n").unwrap();
    // A split named with `_`: one column, unlike per-class lists.
    std::fs::write(main.join("val_2.txt"), "x\n").unwrap();
    std::fs::write(dir.path().join("voc/JPEGImages/x.png"), b"img").unwrap();
    let back = VocFormat.read(dir.path()).unwrap();
    let mut got: Vec<(&str, &str)> = back
        .chips
        .iter()
        .map(|c| (c.id.as_str(), c.split()))
        .collect();
    got.sort_unstable();
    assert_eq!(
        got,
        [("a", "val"), ("e", "train"), ("e2", "test"), ("x", "val_2")]
    );
}

#[test]
fn a_chip_only_in_trainval_is_in_trainval() {
    let out = write(&project());
    let dir = store(&out);
    let main = dir.path().join("voc/ImageSets/Main");
    std::fs::write(main.join("trainval.txt"), "e\nx\n").unwrap();
    std::fs::write(dir.path().join("voc/JPEGImages/x.png"), b"img").unwrap();
    let back = VocFormat.read(dir.path()).unwrap();
    let got: Vec<(&str, &str)> = back
        .chips
        .iter()
        .map(|c| (c.id.as_str(), c.split()))
        .collect();
    assert_eq!(got, [("a", "train"), ("e", "train"), ("x", "trainval")]);
}

#[test]
fn rounding_and_attributes_left_out_are_told() {
    // 10.5 and 64.5 become pixel edges 11 and 65, 20.25 becomes 20: the
    // largest shift is half a pixel; the whole-chip box is exact.
    let p = project();
    let (_, w) = write_with_writer(&p);
    assert_eq!(
        w.rounding(),
        Some(Rounding {
            to: "integer pixels",
            max_shift_px: 0.5
        })
    );
    let labels = &p.chips[0].labels;
    assert_eq!(
        VocFormat.attributes_left_out(&labels[0].attributes),
        ["score"]
    );
    assert!(
        VocFormat
            .attributes_left_out(&labels[1].attributes)
            .is_empty()
    );
}
