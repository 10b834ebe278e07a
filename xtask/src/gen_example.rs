//! `cargo xtask gen-example`: regenerates the example project `examples/harbour/`
//! and the example scene `examples/scene/` (see [`scene`]: a 1024 x 768 RGB
//! GeoTIFF in EPSG:32632 with 23 GeoJSON polygons of fields, water and
//! buildings, the input of `labelstore chip`).
//!
//! The example is a small object-detection project ("harbour-ships") over one
//! synthetic harbour scene of 256x192 pixels (0.5 m pixels, UTM zone 32N,
//! EPSG:32632, north-up, top-left corner at map (500000, 4649776)), cut into a
//! grid of 3 rows x 4 columns of 64x64 chips named `r<row>_c<col>`. The scene is
//! drawn from the labels themselves (water, a quay, a pier, then every labeled
//! object), so each box frames something visible.
//!
//! Each chip exercises one case of the manifest (SPEC.md section 1, section 2):
//!
//! | chip    | image                 | georeferencing                   | state         |
//! |---------|-----------------------|----------------------------------|---------------|
//! | `r0_c0` | `chips/r0_c0.png`     | world file named in the manifest | labeled       |
//! | `r0_c1` | `chips/r0_c1.png`     | sibling `.pgw`                   | labeled       |
//! | `r0_c2` | `chips/r0_c2.png`     | world file named in the manifest | labeled       |
//! | `r0_c3` | `chips/r0_c3.png`     | sibling `.pgw`                   | labeled, one box crosses the right edge |
//! | `r1_c0` | `chips/r1_c0.png`     | world file named in the manifest | deleted       |
//! | `r1_c1` | `chips/r1_c1.tif`     | GeoTIFF tags                     | labeled       |
//! | `r1_c2` | `chips/r1_c2.jpg`     | inline `geotransform`            | labeled       |
//! | `r1_c3` | `chips/r1_c3.png`     | sibling `.pgw`                   | unlabeled     |
//! | `r2_c0` | `chips/r2_c0.png`     | world file named in the manifest | saved empty   |
//! | `r2_c1` | `chips/r2_c1.png`     | sibling `.pgw`                   | deleted       |
//! | `r2_c2` | `chips/r2_c2.png`     | world file named in the manifest | labeled       |
//! | `r2_c3` | `chips/r2_c3.PNG`     | sibling `.PGW` (upper case)      | labeled       |
//!
//! Everything is deterministic (no randomness, no timestamps): running the
//! command twice gives byte-identical files.

use std::fmt::Write as _;
use std::fs;
use std::io::Cursor;
use std::path::Path;

use anyhow::{Context, ensure};
use serde_json::Value;

mod scene;

/// Width and height of a chip, in pixels.
const TILE: u32 = 64;
/// Number of chip rows in the scene.
const ROWS: u32 = 3;
/// Number of chip columns in the scene.
const COLS: u32 = 4;
/// Ground size of a pixel, in metres (both axes).
const PIXEL_SIZE: f64 = 0.5;
/// Map x of the scene's top-left corner.
const ORIGIN_X: f64 = 500_000.0;
/// Map y of the scene's top-left corner.
const ORIGIN_Y: f64 = 4_649_776.0;
/// EPSG code of the project's CRS: WGS 84 / UTM zone 32N.
const SRID: u16 = 32632;
/// JPEG quality of the JPEG chip.
const JPEG_QUALITY: u8 = 90;
/// Scene rows (from the top) covered by the quay.
const QUAY_ROWS: u32 = 12;
/// The pier, in scene pixels: `[xmin, ymin, xmax, ymax)`.
const PIER: [u32; 4] = [100, QUAY_ROWS, 112, 100];

/// Regenerates both examples under `examples`: `harbour/` and `scene/`.
pub(crate) fn run_all(examples: &Path) -> anyhow::Result<()> {
    run(&examples.join("harbour"))?;
    scene::run(&examples.join("scene"))?;
    let docs = examples.parent().unwrap_or(examples).join("docs");
    preview_screenshot(&examples.join("harbour"), &docs.join("preview.png"))
}

/// Renders `labelstore preview`'s page of the example project and takes
/// a screenshot of it in headless chromium into `shot` (the README shows
/// it); says so and skips it when chromium is missing.
pub(crate) fn preview_screenshot(project: &Path, shot: &Path) -> anyhow::Result<()> {
    if !crate::util::has("chromium") {
        println!("xtask: chromium missing, {} not made", shot.display());
        return Ok(());
    }
    let options = labelstore::PreviewOptions {
        scope: labelstore::model::Scope::Project,
        split: None,
        format: None,
        limits: labelstore::model::ImageLimits::default(),
    };
    let html = labelstore::prepare_preview(project, &options)?.html()?;
    let tmp = tempfile::tempdir()?;
    let page = tmp.path().join("preview.html");
    write(&page, &html)?;
    let status = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--window-size=1200,760",
        ])
        .arg(format!(
            "--user-data-dir={}",
            tmp.path().join("profile").display()
        ))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .stderr(std::process::Stdio::null())
        .status()
        .context("running chromium")?;
    ensure!(status.success(), "chromium failed: {status}");
    println!("xtask: wrote {}", shot.display());
    Ok(())
}

/// Regenerates the example project in `dir`: deletes the folder if present,
/// then writes `project.json` and the chips under `chips/`.
pub(crate) fn run(dir: &Path) -> anyhow::Result<()> {
    let chips = chips();
    check(&chips)?;
    let scene = Scene::render(&chips);

    match fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing {}", dir.display())),
    }
    let chip_dir = dir.join("chips");
    fs::create_dir_all(&chip_dir).with_context(|| format!("creating {}", chip_dir.display()))?;

    for chip in &chips {
        let rgb = scene.crop(chip.row, chip.col);
        let image = dir.join(chip.image_path());
        let bytes = match chip.image {
            ImageKind::Png(_) | ImageKind::UpperCasePng => encode_png(&rgb)?,
            ImageKind::GeoTiff => encode_geotiff(&rgb, chip.origin())?,
            ImageKind::Jpeg => encode_jpeg(&rgb)?,
        };
        write(&image, &bytes)?;
        if let Some(world_file) = chip.world_file_path() {
            write(
                &dir.join(world_file),
                world_file_text(chip.origin()).as_bytes(),
            )?;
        }
    }

    let manifest = manifest(&chips);
    serde_json::from_str::<Value>(&manifest).context("generated project.json is not JSON")?;
    write(&dir.join("project.json"), manifest.as_bytes())?;
    println!("wrote {} ({} chips)", dir.display(), chips.len());
    Ok(())
}

/// Writes `bytes` to `path`, naming the path on failure.
fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

// ---------------------------------------------------------------------------
// The project: classes, chips and labels.

/// A label class of the project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// A ship (id 1).
    Ship,
    /// A buoy (id 2).
    Buoy,
    /// A small boat (id 3); its name has a space on purpose.
    SmallBoat,
}

impl Class {
    /// Every class, in id order.
    const ALL: [Class; 3] = [Class::Ship, Class::Buoy, Class::SmallBoat];

    /// The class id in the manifest.
    fn id(self) -> u32 {
        match self {
            Class::Ship => 1,
            Class::Buoy => 2,
            Class::SmallBoat => 3,
        }
    }

    /// The class name in the manifest.
    fn name(self) -> &'static str {
        match self {
            Class::Ship => "ship",
            Class::Buoy => "buoy",
            Class::SmallBoat => "small boat",
        }
    }

    /// The class colour in the manifest (`#rrggbb`).
    fn color(self) -> &'static str {
        match self {
            Class::Ship => "#e6194b",
            Class::Buoy => "#3cb44b",
            Class::SmallBoat => "#4363d8",
        }
    }
}

/// The value of one label attribute.
#[derive(Clone, Copy, Debug)]
enum Attr {
    /// A boolean, e.g. `truncated`.
    Bool(bool),
    /// An integer, e.g. `occluded`.
    Int(i64),
    /// A number, e.g. `score`.
    Float(f64),
    /// A string, e.g. `pose`.
    Text(&'static str),
}

impl Attr {
    /// The attribute as a JSON value.
    fn to_json(self) -> Value {
        match self {
            Attr::Bool(b) => Value::from(b),
            Attr::Int(i) => Value::from(i),
            Attr::Float(f) => Value::from(f),
            Attr::Text(s) => Value::from(s),
        }
    }
}

/// One labeled object: a class and a box in the chip's pixel coordinates.
#[derive(Clone, Debug)]
struct Label {
    /// The object's class.
    class: Class,
    /// `[xmin, ymin, xmax, ymax]`, continuous pixel coordinates of the chip.
    bbox: [f64; 4],
    /// Optional attributes (written in key order, as a JSON object).
    attributes: Vec<(&'static str, Attr)>,
}

/// How a PNG chip's world file is found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WorldFile {
    /// Named in the manifest (`"world_file"`).
    Named,
    /// Not named: found next to the image (sibling discovery).
    Sibling,
}

/// The image format of a chip, which also decides its georeferencing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ImageKind {
    /// `.png` with a `.pgw` world file.
    Png(WorldFile),
    /// `.PNG` with a sibling `.PGW` world file (upper-case extensions).
    UpperCasePng,
    /// `.tif` GeoTIFF with the georeferencing in its tags.
    GeoTiff,
    /// `.jpg` georeferenced by an inline `geotransform`.
    Jpeg,
}

/// What the labeler did with a chip (SPEC.md section 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Labeled: stored with its labels.
    Labeled,
    /// Logically deleted, with labels: never stored.
    Deleted,
    /// Not labeled yet: the objects are drawn but the manifest has no labels.
    Unlabeled,
    /// Looked at and found empty: stored with no labels.
    SavedEmpty,
}

/// One chip of the grid.
#[derive(Clone, Debug)]
struct Chip {
    /// Grid row, from the top.
    row: u32,
    /// Grid column, from the left.
    col: u32,
    /// Image format and georeferencing.
    image: ImageKind,
    /// Labeling state.
    state: State,
    /// The objects in the chip (drawn into the scene; labels unless unlabeled).
    objects: Vec<Label>,
}

/// Starts a chip with no objects; add them with [`Chip::object`].
fn chip(row: u32, col: u32, image: ImageKind, state: State) -> Chip {
    Chip {
        row,
        col,
        image,
        state,
        objects: Vec::new(),
    }
}

impl Chip {
    /// Adds an object (a label, unless the chip is unlabeled).
    fn object(mut self, class: Class, bbox: [f64; 4]) -> Chip {
        self.objects.push(Label {
            class,
            bbox,
            attributes: Vec::new(),
        });
        self
    }

    /// Adds an attribute to the last object added.
    fn attr(mut self, key: &'static str, value: Attr) -> Chip {
        if let Some(last) = self.objects.last_mut() {
            last.attributes.push((key, value));
        }
        self
    }

    /// The chip id, `r<row>_c<col>`.
    fn id(&self) -> String {
        format!("r{}_c{}", self.row, self.col)
    }

    /// Map coordinates of the chip's top-left corner.
    fn origin(&self) -> (f64, f64) {
        let size = f64::from(TILE) * PIXEL_SIZE;
        (
            ORIGIN_X + f64::from(self.col) * size,
            ORIGIN_Y - f64::from(self.row) * size,
        )
    }

    /// The image path, relative to the project folder.
    fn image_path(&self) -> String {
        let ext = match self.image {
            ImageKind::Png(_) => "png",
            ImageKind::UpperCasePng => "PNG",
            ImageKind::GeoTiff => "tif",
            ImageKind::Jpeg => "jpg",
        };
        format!("chips/{}.{ext}", self.id())
    }

    /// The world file path, relative to the project folder, if the chip has one.
    fn world_file_path(&self) -> Option<String> {
        match self.image {
            ImageKind::Png(_) => Some(format!("chips/{}.pgw", self.id())),
            ImageKind::UpperCasePng => Some(format!("chips/{}.PGW", self.id())),
            ImageKind::GeoTiff | ImageKind::Jpeg => None,
        }
    }

    /// The labels the manifest carries for this chip.
    fn manifest_labels(&self) -> &[Label] {
        match self.state {
            State::Labeled | State::Deleted => &self.objects,
            State::Unlabeled | State::SavedEmpty => &[],
        }
    }
}

/// The twelve chips of the example, row by row.
fn chips() -> Vec<Chip> {
    use Class::{Buoy, Ship, SmallBoat};
    use ImageKind::{GeoTiff, Jpeg, Png, UpperCasePng};
    use State::{Deleted, Labeled, SavedEmpty, Unlabeled};
    use WorldFile::{Named, Sibling};

    vec![
        chip(0, 0, Png(Named), Labeled)
            .object(Ship, [8.0, 20.0, 44.5, 34.0])
            .object(Buoy, [52.0, 48.0, 56.0, 52.0])
            .object(SmallBoat, [20.0, 50.0, 27.0, 54.0])
            .attr("pose", Attr::Text("Left")),
        chip(0, 1, Png(Sibling), Labeled)
            .object(Ship, [18.0, 16.0, 32.0, 58.5])
            .attr("occluded", Attr::Int(1))
            .object(SmallBoat, [52.0, 30.0, 58.0, 40.0]),
        chip(0, 2, Png(Named), Labeled)
            .object(Ship, [6.5, 22.0, 50.0, 36.0])
            .object(SmallBoat, [40.0, 46.0, 47.0, 50.0])
            .attr("difficult", Attr::Bool(true))
            .object(Buoy, [12.0, 50.0, 16.0, 54.0]),
        // The ship runs off the scene: the only box crossing a chip edge (xmax 70 > 64).
        chip(0, 3, Png(Sibling), Labeled)
            .object(Ship, [30.0, 24.0, 70.0, 40.0])
            .attr("truncated", Attr::Bool(true))
            .object(Buoy, [10.0, 48.0, 14.5, 52.5]),
        chip(1, 0, Png(Named), Deleted)
            .object(Ship, [12.0, 10.0, 50.0, 24.0])
            .object(Buoy, [40.0, 44.0, 44.0, 48.0]),
        chip(1, 1, GeoTiff, Labeled)
            .object(Ship, [4.0, 40.0, 40.0, 54.0])
            .attr("score", Attr::Float(0.93))
            .object(Buoy, [50.0, 38.0, 54.0, 42.0]),
        chip(1, 2, Jpeg, Labeled)
            .object(Ship, [14.0, 8.0, 28.0, 48.0])
            .object(SmallBoat, [40.0, 20.0, 47.0, 24.0])
            .object(SmallBoat, [44.0, 40.0, 51.0, 44.0])
            .object(Buoy, [56.0, 56.0, 60.0, 60.0]),
        // Objects in view, but nobody has labeled them yet.
        chip(1, 3, Png(Sibling), Unlabeled)
            .object(SmallBoat, [24.0, 28.0, 31.0, 32.0])
            .object(Buoy, [46.0, 12.0, 50.0, 16.0]),
        // Open water: looked at and saved with no labels.
        chip(2, 0, Png(Named), SavedEmpty),
        chip(2, 1, Png(Sibling), Deleted)
            .object(SmallBoat, [30.0, 30.0, 37.0, 34.0])
            .object(Ship, [8.0, 44.0, 30.0, 58.0]),
        chip(2, 2, Png(Named), Labeled)
            .object(Ship, [10.0, 12.0, 54.0, 28.25])
            .object(Buoy, [28.0, 46.0, 32.0, 50.0]),
        chip(2, 3, UpperCasePng, Labeled)
            .object(SmallBoat, [20.0, 20.0, 27.0, 24.0])
            .object(Ship, [16.0, 36.0, 52.0, 50.0]),
    ]
}

/// Checks the example's own promises, so an edit to [`chips`] cannot quietly
/// break them: a full grid, valid boxes, exactly one box crossing a chip edge,
/// 1 to 4 labels per labeled chip, every class stored at least once.
fn check(chips: &[Chip]) -> anyhow::Result<()> {
    ensure!(
        chips.len() == (ROWS * COLS) as usize,
        "the grid needs {} chips",
        ROWS * COLS
    );
    let size = f64::from(TILE);
    let mut crossing = Vec::new();
    for chip in chips {
        let id = chip.id();
        ensure!(chip.row < ROWS && chip.col < COLS, "{id}: outside the grid");
        for l in &chip.objects {
            let [x0, y0, x1, y1] = l.bbox;
            ensure!(x0 < x1 && y0 < y1, "{id}: empty box {:?}", l.bbox);
            ensure!(
                x0 < size && y0 < size && x1 > 0.0 && y1 > 0.0,
                "{id}: box outside the chip"
            );
            if x0 < 0.0 || y0 < 0.0 || x1 > size || y1 > size {
                crossing.push(id.clone());
            }
        }
        match chip.state {
            State::Labeled => {
                ensure!(
                    (1..=4).contains(&chip.objects.len()),
                    "{id}: wants 1 to 4 labels"
                )
            }
            State::Deleted => ensure!(!chip.objects.is_empty(), "{id}: deleted chips keep labels"),
            State::SavedEmpty => ensure!(chip.objects.is_empty(), "{id}: saved empty has objects"),
            State::Unlabeled => {}
        }
    }
    ensure!(
        crossing.len() == 1,
        "exactly one box must cross a chip edge, got {crossing:?}"
    );
    for class in Class::ALL {
        let used = chips
            .iter()
            .filter(|c| c.state == State::Labeled)
            .any(|c| c.objects.iter().any(|l| l.class == class));
        ensure!(
            used,
            "class {:?} is not used by a stored chip",
            class.name()
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// project.json, written by hand for a readable key order.

/// A number as JSON: whole numbers without a trailing `.0`.
fn num(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        Value::from(v as i64)
    } else {
        Value::from(v)
    }
}

/// A one-line JSON object with its keys in the given order.
fn inline_object(fields: &[(&str, Value)]) -> String {
    let parts: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}: {}", Value::from(*k), inline(v)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// A value on one line, with a space after each `,` and `:` (serde_json's
/// compact form has none).
fn inline(value: &Value) -> String {
    match value {
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(inline).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(map) => {
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", Value::from(k.as_str()), inline(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        scalar => scalar.to_string(),
    }
}

/// A one-line JSON array of numbers.
fn number_array(values: &[f64]) -> Value {
    Value::Array(values.iter().map(|&v| num(v)).collect())
}

/// The manifest text: 2-space indentation, keys in the order of SPEC.md,
/// one class and one label per line.
fn manifest(chips: &[Chip]) -> String {
    let classes: Vec<String> = Class::ALL
        .iter()
        .map(|c| {
            inline_object(&[
                ("id", Value::from(c.id())),
                ("name", Value::from(c.name())),
                ("color", Value::from(c.color())),
            ])
        })
        .collect();

    let mut out = String::new();
    out.push_str("{\n");
    out.push_str("  \"labelstore\": 1,\n");
    out.push_str("  \"name\": \"harbour-ships\",\n");
    out.push_str("  \"labeling_type\": \"object_detection\",\n");
    let _ = writeln!(out, "  \"srid\": {SRID},");
    out.push_str("  \"classes\": [\n");
    out.push_str(&indent_lines(&classes, "    "));
    out.push_str("  ],\n");
    out.push_str("  \"chips\": [\n");
    let chip_texts: Vec<String> = chips.iter().map(chip_json).collect();
    out.push_str(&chip_texts.join(",\n"));
    out.push_str("\n  ]\n}\n");
    out
}

/// Joins `items` with `,` and a newline, each line prefixed by `indent`.
fn indent_lines(items: &[String], indent: &str) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        let sep = if i + 1 < items.len() { "," } else { "" };
        let _ = writeln!(out, "{indent}{item}{sep}");
    }
    out
}

/// One chip's entry in the manifest, indented for the `chips` array.
fn chip_json(chip: &Chip) -> String {
    let mut fields: Vec<String> = vec![
        format!("\"id\": {}", Value::from(chip.id())),
        format!("\"image\": {}", Value::from(chip.image_path())),
    ];
    match chip.image {
        ImageKind::Png(WorldFile::Named) => {
            if let Some(path) = chip.world_file_path() {
                fields.push(format!("\"world_file\": {}", Value::from(path)));
            }
        }
        ImageKind::Jpeg => {
            let (x0, y0) = chip.origin();
            let gt = [x0, PIXEL_SIZE, 0.0, y0, 0.0, -PIXEL_SIZE];
            fields.push(format!("\"geotransform\": {}", inline(&number_array(&gt))));
        }
        ImageKind::Png(WorldFile::Sibling) | ImageKind::UpperCasePng | ImageKind::GeoTiff => {}
    }
    match chip.state {
        State::Deleted => fields.push("\"deleted\": true".to_owned()),
        State::SavedEmpty => fields.push("\"saved_empty\": true".to_owned()),
        State::Labeled | State::Unlabeled => {}
    }
    let labels: Vec<String> = chip.manifest_labels().iter().map(label_json).collect();
    if labels.is_empty() {
        fields.push("\"labels\": []".to_owned());
    } else {
        fields.push(format!(
            "\"labels\": [\n{}      ]",
            indent_lines(&labels, "        ")
        ));
    }

    let mut out = String::from("    {\n");
    let body: Vec<String> = fields.iter().map(|f| format!("      {f}")).collect();
    out.push_str(&body.join(",\n"));
    out.push_str("\n    }");
    out
}

/// One label as a one-line JSON object.
fn label_json(l: &Label) -> String {
    let mut fields = vec![
        ("class", Value::from(l.class.name())),
        ("bbox", number_array(&l.bbox)),
    ];
    if !l.attributes.is_empty() {
        let attrs = l
            .attributes
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.to_json()))
            .collect();
        fields.push(("attributes", Value::Object(attrs)));
    }
    inline_object(&fields)
}

// ---------------------------------------------------------------------------
// The synthetic scene.

/// An RGB colour.
type Rgb = [u8; 3];

/// The whole scene as 8-bit RGB, row-major.
struct Scene {
    /// Width in pixels.
    width: u32,
    /// Height in pixels.
    height: u32,
    /// `width * height * 3` bytes.
    rgb: Vec<u8>,
}

/// A deterministic hash of a pixel position, for texture.
fn hash(x: u32, y: u32) -> u32 {
    let mut h = x.wrapping_mul(0x9E37_79B1) ^ y.wrapping_mul(0x85EB_CA77);
    h ^= h >> 15;
    h = h.wrapping_mul(0x2C1B_3C6D);
    h ^= h >> 12;
    h
}

/// Adds a signed offset to each channel, saturating.
fn shade(c: Rgb, delta: i32) -> Rgb {
    c.map(|v| (i32::from(v) + delta).clamp(0, 255) as u8)
}

/// Linear mix of two colours, `t` in 0..=1.
fn mix(a: Rgb, b: Rgb, t: f64) -> Rgb {
    std::array::from_fn(|i| {
        let (a, b) = (f64::from(a[i]), f64::from(b[i]));
        (a + (b - a) * t).round() as u8
    })
}

/// Pixel indices whose centres lie in `[lo, hi)`, clipped to `0..limit`.
fn pixel_span(lo: f64, hi: f64, limit: u32) -> std::ops::Range<i64> {
    let start = (lo - 0.5).ceil() as i64;
    let end = (hi - 0.5).ceil() as i64;
    start.max(0)..end.min(i64::from(limit))
}

/// Colours of a boat-shaped object.
struct Hull {
    /// The outline.
    edge: Rgb,
    /// The deck.
    deck: Rgb,
    /// The superstructure or cockpit.
    cabin: Rgb,
    /// Cargo hatches, if any.
    hatch: Option<Rgb>,
}

/// How ships look: grey deck, white bridge, rust-brown cargo hatches.
const SHIP: Hull = Hull {
    edge: [58, 58, 64],
    deck: [190, 190, 196],
    cabin: [246, 246, 244],
    hatch: Some([150, 92, 62]),
};

/// How small boats look: white hull, brown cockpit.
const SMALL_BOAT: Hull = Hull {
    edge: [72, 60, 48],
    deck: [236, 234, 226],
    cabin: [122, 84, 52],
    hatch: None,
};

/// A buoy's red paint.
const BUOY_RED: Rgb = [212, 38, 32];
/// The sunlit side of a buoy.
const BUOY_HIGHLIGHT: Rgb = [255, 196, 180];

impl Scene {
    /// Draws the scene: water, quay, pier, then every chip's objects.
    fn render(chips: &[Chip]) -> Scene {
        let width = TILE * COLS;
        let height = TILE * ROWS;
        let mut scene = Scene {
            width,
            height,
            rgb: vec![0; (width * height * 3) as usize],
        };
        scene.background();
        for chip in chips {
            let dx = f64::from(chip.col * TILE);
            let dy = f64::from(chip.row * TILE);
            for object in &chip.objects {
                let [x0, y0, x1, y1] = object.bbox;
                scene.object(object.class, [x0 + dx, y0 + dy, x1 + dx, y1 + dy]);
            }
        }
        scene
    }

    /// Sets one pixel; positions outside the scene are ignored.
    fn put(&mut self, x: i64, y: i64, c: Rgb) {
        if (0..i64::from(self.width)).contains(&x) && (0..i64::from(self.height)).contains(&y) {
            let i = ((y as usize) * self.width as usize + x as usize) * 3;
            self.rgb[i..i + 3].copy_from_slice(&c);
        }
    }

    /// Water with a depth gradient and ripples, the quay with two sheds, the pier.
    fn background(&mut self) {
        let shallow: Rgb = [46, 104, 128];
        let deep: Rgb = [16, 48, 88];
        let concrete: Rgb = [152, 148, 140];
        let roof: Rgb = [150, 70, 52];
        let [px0, py0, px1, py1] = PIER;
        for y in 0..self.height {
            for x in 0..self.width {
                let noise = (hash(x, y) % 7) as i32 - 3;
                let c = if y < QUAY_ROWS {
                    let shed =
                        (2..9).contains(&y) && ((16..60).contains(&x) || (160..212).contains(&x));
                    if y == QUAY_ROWS - 1 {
                        [92, 90, 86]
                    } else if shed {
                        shade(roof, noise + if y % 2 == 0 { 6 } else { 0 })
                    } else {
                        shade(concrete, noise)
                    }
                } else if (px0..px1).contains(&x) && (py0..py1).contains(&y) {
                    if x == px0 || x == px1 - 1 || y == py1 - 1 {
                        [104, 100, 94]
                    } else if (x == px0 + 1 || x == px1 - 2) && (y - py0) % 12 == 6 {
                        [40, 40, 44]
                    } else {
                        shade([170, 165, 155], noise)
                    }
                } else {
                    let depth = f64::from(y - QUAY_ROWS) / f64::from(self.height - QUAY_ROWS);
                    let across = f64::from(x) / f64::from(self.width);
                    let base = mix(shallow, deep, (0.8 * depth + 0.2 * across).min(1.0));
                    let ripple = if (x + 3 * y) % 13 == 0 { 7 } else { 0 };
                    shade(base, noise + ripple)
                };
                self.put(i64::from(x), i64::from(y), c);
            }
        }
    }

    /// Draws one object in the box `[xmin, ymin, xmax, ymax]` (scene pixels).
    fn object(&mut self, class: Class, bbox: [f64; 4]) {
        match class {
            Class::Ship => self.boat(bbox, &SHIP),
            Class::SmallBoat => self.boat(bbox, &SMALL_BOAT),
            Class::Buoy => self.buoy(bbox),
        }
    }

    /// A boat filling the box, bow towards +x (or +y when the box is tall).
    fn boat(&mut self, bbox: [f64; 4], hull: &Hull) {
        let [x0, y0, x1, y1] = bbox;
        let horizontal = x1 - x0 >= y1 - y0;
        // Unclipped pixel ranges: the hull shape must not depend on the scene edge.
        let xs = pixel_span(x0, x1, u32::MAX);
        let ys = pixel_span(y0, y1, u32::MAX);
        let (w, h) = (xs.end - xs.start, ys.end - ys.start);
        let (len, beam) = if horizontal { (w, h) } else { (h, w) };
        let bow = (beam as f64 * 1.2).min(len as f64 * 0.3).max(2.0);
        // Inside the hull: (u along the boat, v across), in pixel units.
        let inside = |u: i64, v: i64| -> bool {
            if u < 0 || v < 0 || u >= len || v >= beam {
                return false;
            }
            let from_bow = (len - u) as f64 - 0.5;
            let half = beam as f64 / 2.0;
            from_bow >= bow || ((v as f64 + 0.5) - half).abs() <= half * from_bow / bow + 0.5
        };
        for u in 0..len {
            for v in 0..beam {
                if !inside(u, v) {
                    continue;
                }
                let edge =
                    !(inside(u - 1, v) && inside(u + 1, v) && inside(u, v - 1) && inside(u, v + 1));
                let uf = (u as f64 + 0.5) / len as f64;
                let vf = (v as f64 + 0.5) / beam as f64;
                let in_mid = (0.25..0.75).contains(&vf);
                let c = if edge {
                    hull.edge
                } else if (0.12..0.32).contains(&uf) && in_mid {
                    hull.cabin
                } else if let Some(hatch) = hull
                    .hatch
                    .filter(|_| (0.4..0.78).contains(&uf) && in_mid && (u % 5) < 3)
                {
                    hatch
                } else {
                    hull.deck
                };
                let (x, y) = if horizontal {
                    (xs.start + u, ys.start + v)
                } else {
                    (xs.start + v, ys.start + u)
                };
                self.put(x, y, c);
            }
        }
    }

    /// A red buoy: a disc filling the box, with a highlight.
    fn buoy(&mut self, bbox: [f64; 4]) {
        let [x0, y0, x1, y1] = bbox;
        let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
        let r = (x1 - x0).min(y1 - y0) / 2.0;
        for y in pixel_span(y0, y1, self.height) {
            for x in pixel_span(x0, x1, self.width) {
                let (dx, dy) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
                if dx * dx + dy * dy <= r * r {
                    let highlight = dx < 0.0 && dy < 0.0 && dx * dx + dy * dy <= r * r * 0.5;
                    self.put(x, y, if highlight { BUOY_HIGHLIGHT } else { BUOY_RED });
                }
            }
        }
    }

    /// The RGB pixels of the chip at grid (row, col).
    fn crop(&self, row: u32, col: u32) -> Vec<u8> {
        let tile = TILE as usize;
        let mut out = Vec::with_capacity(tile * tile * 3);
        for y in 0..tile {
            let sy = row as usize * tile + y;
            let start = (sy * self.width as usize + col as usize * tile) * 3;
            out.extend_from_slice(&self.rgb[start..start + tile * 3]);
        }
        out
    }
}

// ---------------------------------------------------------------------------
// Encoders and the world file.

/// A world file for a north-up chip whose top-left corner is `origin`: six
/// lines A D B E C F, with C/F the centre of the upper-left pixel.
fn world_file_text((x0, y0): (f64, f64)) -> String {
    let half = PIXEL_SIZE / 2.0;
    let lines = [PIXEL_SIZE, 0.0, 0.0, -PIXEL_SIZE, x0 + half, y0 - half];
    lines.iter().map(|v| format!("{v}\n")).collect()
}

/// An 8-bit RGB PNG of one chip.
fn encode_png(rgb: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, TILE, TILE);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().context("PNG header")?;
    writer.write_image_data(rgb).context("PNG data")?;
    writer.finish().context("PNG end")?;
    Ok(out)
}

/// A baseline JPEG of one chip.
fn encode_jpeg(rgb: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    let side = u16::try_from(TILE)?;
    jpeg_encoder::Encoder::new(&mut out, JPEG_QUALITY)
        .encode(rgb, side, side, jpeg_encoder::ColorType::Rgb)
        .context("JPEG encoding")?;
    Ok(out)
}

/// An uncompressed 8-bit RGB GeoTIFF of one chip whose top-left corner is
/// `origin`: pixel scale, one tiepoint, and the geokeys projected /
/// PixelIsArea / EPSG [`SRID`].
fn encode_geotiff(rgb: &[u8], (x0, y0): (f64, f64)) -> anyhow::Result<Vec<u8>> {
    use tiff::encoder::{TiffEncoder, colortype::RGB8};
    use tiff::tags::Tag;

    let geokeys: [u16; 16] = [
        1, 1, 0, 3, // directory version, key revision, minor revision, key count
        1024, 0, 1, 1, // GTModelTypeGeoKey: projected
        1025, 0, 1, 1, // GTRasterTypeGeoKey: PixelIsArea
        3072, 0, 1, SRID, // ProjectedCSTypeGeoKey
    ];
    let mut out = Cursor::new(Vec::new());
    let mut tiff = TiffEncoder::new(&mut out).context("TIFF header")?;
    let mut image = tiff.new_image::<RGB8>(TILE, TILE).context("TIFF image")?;
    let dir = image.encoder();
    dir.write_tag(Tag::ModelPixelScaleTag, &[PIXEL_SIZE, PIXEL_SIZE, 0.0][..])?;
    dir.write_tag(Tag::ModelTiepointTag, &[0.0, 0.0, 0.0, x0, y0, 0.0][..])?;
    dir.write_tag(Tag::GeoKeyDirectoryTag, &geokeys[..])?;
    image.write_data(rgb).context("TIFF data")?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn world_file_of_the_first_chip() {
        let text = world_file_text(chips()[0].origin());
        assert_eq!(text, "0.5\n0\n0\n-0.5\n500000.25\n4649775.75\n");
    }

    #[test]
    fn numbers_drop_needless_fractions() {
        let gt = number_array(&[500064.0, 0.5, 0.0, 4649744.0, 0.0, -0.5]);
        assert_eq!(inline(&gt), "[500064, 0.5, 0, 4649744, 0, -0.5]");
    }

    #[test]
    fn regenerating_gives_identical_files() -> anyhow::Result<()> {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join("harbour");
        let snapshot = |dir: &Path| -> anyhow::Result<Vec<(String, Vec<u8>)>> {
            let mut files = vec![(
                "project.json".to_owned(),
                fs::read(dir.join("project.json"))?,
            )];
            let mut names: Vec<_> = fs::read_dir(dir.join("chips"))?
                .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect::<Result<_, _>>()?;
            names.sort();
            for name in names {
                let bytes = fs::read(dir.join("chips").join(&name))?;
                files.push((name, bytes));
            }
            Ok(files)
        };
        run(&dir)?;
        let first = snapshot(&dir)?;
        run(&dir)?;
        assert_eq!(first, snapshot(&dir)?);
        // 12 images, 10 world files (none for the GeoTIFF and the JPEG), the manifest.
        assert_eq!(first.len(), 23);
        let manifest: Value = serde_json::from_slice(&first[0].1)?;
        assert_eq!(manifest["chips"].as_array().map(Vec::len), Some(12));
        Ok(())
    }
}
