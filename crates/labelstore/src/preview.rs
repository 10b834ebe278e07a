//! `labelstore preview`: a look at a project's chips with their labels
//! drawn, before training.
//!
//! [`prepare_preview`] reads a project (or a store through one format's
//! reader, so the labels drawn are what that format gives back), selects
//! the chips a store includes (SPEC §2, narrowed by chip or split) and
//! resolves them (size, georeferencing); it writes nothing.
//! [`Preview::write_html`] makes one self-contained page, chip by chip, so
//! memory does not grow with the project: every thumbnail a `data:` PNG
//! (or a JPEG where that is smaller: photographs), the labels inline SVG
//! in the class colours (a semantic mask a translucent overlay), the CSS
//! and the script inline, no font and no address of anything outside the
//! page but each chip's own image file, linked relative to the page for the
//! full-size view when a browser can show it (the thumbnail stays beneath
//! when it cannot). Past [`EAGER_THUMBS`] chips the thumbnails are drawn
//! lazily (set as they come near the window), and projects of more than
//! [`LARGE_PROJECT`] chips get thumbnails of [`THUMB_PIXELS_LARGE`].
//! [`Preview::chip_png`] draws one chip with its labels' outlines;
//! [`Preview::write`] writes the page and those PNGs whole or not at all.
//! Both are the same bytes for the same input.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use labels_model::{ChipGeoref, GeorefSource, ImageLimits, Label, Project, Scope};
use pixel_geometry::Geometry;
use raster_georef::{Color, DecodedImage, decode_image};

use crate::formats::{FormatId, label_format};
use crate::store::StoreError;

/// The longest side of a thumbnail embedded in the page, in pixels
/// (bigger chips are downscaled by averaging; smaller ones kept).
pub const THUMB_PIXELS: u32 = 256;
/// The longest side of a thumbnail as the page shows it, in CSS pixels.
pub const THUMB_CSS: u32 = 256;
/// Projects of more chips than this get smaller thumbnails.
pub const LARGE_PROJECT: usize = 1000;
/// The longest side of a thumbnail, embedded and shown, in a project of
/// more than [`LARGE_PROJECT`] chips.
pub const THUMB_PIXELS_LARGE: u32 = 128;
/// The first chips of the page, whose thumbnails are set as it loads; the
/// others' are set as they come near the window.
pub const EAGER_THUMBS: usize = 60;
/// A thumbnail whose PNG is larger than this is also encoded as a JPEG,
/// and the smaller of the two kept.
const PNG_OR_JPEG: usize = 12 * 1024;
/// The quality of a JPEG thumbnail.
const JPEG_QUALITY: u8 = 85;
/// Where the first thumbnail's top-left corner sits on the page, in CSS
/// pixels from the page's top-left corner (the grid's padding).
pub const GRID_ORIGIN: (u32, u32) = (16, 16);
/// Width of a label's outline on the page, in CSS pixels, centred on the
/// label's edge.
pub const STROKE_CSS: u32 = 2;

/// Colours for classes that name none (the 20 of Sasha Trubetskoy's list
/// that start the example project's).
const PALETTE: [[u8; 3]; 10] = [
    [0xe6, 0x19, 0x4b],
    [0x3c, 0xb4, 0x4b],
    [0x43, 0x63, 0xd8],
    [0xf5, 0x82, 0x31],
    [0x91, 0x1e, 0xb4],
    [0x46, 0xf0, 0xf0],
    [0xf0, 0x32, 0xe6],
    [0xbc, 0xf6, 0x0c],
    [0xfa, 0xbe, 0xbe],
    [0x00, 0x80, 0x80],
];

/// What to preview.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewOptions {
    /// The whole project, or one chip.
    pub scope: Scope,
    /// Only the chips of this split.
    pub split: Option<String>,
    /// Read a store's labels through this format's reader (a store only).
    pub format: Option<FormatId>,
    /// Limits on the chips' images.
    pub limits: ImageLimits,
}

/// One chip of a preview.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewChip {
    /// The chip's id.
    pub id: String,
    /// Its split.
    pub split: String,
    /// The image file.
    pub image: PathBuf,
    /// Width and height in pixels.
    pub size: (u32, u32),
    /// Its labels, as read.
    pub labels: Vec<Label>,
    /// Its georeferencing.
    pub georef: ChipGeoref,
    /// Its semantic mask of class ids, drawn as a translucent overlay.
    pub mask: Option<PathBuf>,
}

/// A project's chips ready to be drawn.
#[derive(Debug, Clone)]
pub struct Preview {
    /// The project's header (name, labeling type, classes).
    pub project: Project,
    /// Where the labels come from: `project` or a format's name.
    pub source: String,
    /// The chips, in manifest order.
    pub chips: Vec<PreviewChip>,
}

fn usage(message: String) -> StoreError {
    StoreError::Usage(message)
}

/// Reads `input` (a project manifest, a project folder, or a store folder,
/// told by its `labelstore-manifest.json`), selects and resolves the chips
/// `options` asks for. Writes nothing.
pub fn prepare_preview(input: &Path, options: &PreviewOptions) -> Result<Preview, StoreError> {
    let is_store = input.is_dir() && input.join(sink_api::STORE_MANIFEST).is_file();
    let (mut project, source) = if is_store {
        let format = match options.format {
            Some(f) => f,
            None if input.join("project.json").is_file() => FormatId::Json,
            None => {
                return Err(usage(format!(
                    "{}: the store holds no json format (the project's own labels); \
                     name the format to read with --format ({})",
                    input.display(),
                    store_formats(input).join(", ")
                )));
            }
        };
        let project = label_format(format).read(input)?;
        (project, format.name().to_owned())
    } else {
        if let Some(f) = options.format {
            return Err(usage(format!(
                "--format {}: {} is a project, not a store (no {}); \
                 --format reads a store's labels back",
                f.name(),
                input.display(),
                sink_api::STORE_MANIFEST
            )));
        }
        let manifest = if input.is_dir() {
            input.join("project.json")
        } else {
            input.to_path_buf()
        };
        (Project::load(&manifest)?, "project".to_owned())
    };
    let selection = labels_model::select(&project, &options.scope)?;
    let mut indices = selection.chips;
    if let Some(split) = &options.split {
        let splits: std::collections::BTreeSet<&str> =
            indices.iter().map(|&i| project.chips[i].split()).collect();
        indices.retain(|&i| project.chips[i].split() == split);
        if indices.is_empty() {
            return Err(usage(format!(
                "--split {split}: no chip of {} is in split {split} (splits: {})",
                input.display(),
                splits.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    let resolution = labels_model::resolve(&mut project, &indices, &options.limits)?;
    let chips = indices
        .iter()
        .zip(resolution.georef)
        .map(|(&i, georef)| {
            let chip = &project.chips[i];
            PreviewChip {
                id: chip.id.clone(),
                split: chip.split().to_owned(),
                image: project.base_dir.join(&chip.image),
                size: (chip.width.unwrap_or(0), chip.height.unwrap_or(0)),
                labels: chip.labels.clone(),
                georef,
                mask: chip.mask.as_ref().map(|m| project.base_dir.join(m)),
            }
        })
        .collect();
    Ok(Preview {
        project: project.header(),
        source,
        chips,
    })
}

fn store_formats(store: &Path) -> Vec<String> {
    std::fs::File::open(store.join(sink_api::STORE_MANIFEST))
        .ok()
        .and_then(|f| sink_api::manifest_header(std::io::BufReader::new(f)).ok())
        .and_then(|h| {
            h.get("formats")?.as_array().map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// An image as 8-bit RGB rows.
struct Rgb8 {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

fn to_rgb(image: &DecodedImage) -> Rgb8 {
    let (w, h) = (image.width as usize, image.height as usize);
    let line = image.line();
    let bits = usize::from(image.bits);
    let samples = image.color.samples();
    let sample = |row: &[u8], i: usize| -> u16 {
        match bits {
            16 => u16::from_be_bytes([row[2 * i], row[2 * i + 1]]) >> 8,
            8 => u16::from(row[i]),
            b => {
                let bit = i * b;
                let v = (row[bit / 8] >> (8 - b - bit % 8)) & ((1u8 << b) - 1);
                u16::from(v)
            }
        }
    };
    let scale = |v: u16| -> u8 {
        if bits < 8 {
            (u32::from(v) * 255 / ((1u32 << bits) - 1)) as u8
        } else {
            v as u8
        }
    };
    let mut data = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        let row = &image.data[y * line..(y + 1) * line];
        for x in 0..w {
            let px = match &image.color {
                Color::Palette(p) => {
                    let e = p
                        .get(usize::from(sample(row, x)))
                        .copied()
                        .unwrap_or_default();
                    [e[0], e[1], e[2]]
                }
                Color::Gray | Color::GrayAlpha => {
                    let g = scale(sample(row, x * samples));
                    [g, g, g]
                }
                _ => [
                    scale(sample(row, x * samples)),
                    scale(sample(row, x * samples + 1)),
                    scale(sample(row, x * samples + 2)),
                ],
            };
            data.extend_from_slice(&px);
        }
    }
    Rgb8 {
        width: image.width,
        height: image.height,
        data,
    }
}

/// Downscales by averaging the source pixels each target pixel covers,
/// so the longest side is at most `max`.
fn downscale(img: &Rgb8, max: u32) -> Rgb8 {
    let long = img.width.max(img.height);
    if long <= max || long == 0 {
        return Rgb8 {
            width: img.width,
            height: img.height,
            data: img.data.clone(),
        };
    }
    let tw = (u64::from(img.width) * u64::from(max) / u64::from(long)).max(1) as u32;
    let th = (u64::from(img.height) * u64::from(max) / u64::from(long)).max(1) as u32;
    let mut data = Vec::with_capacity(tw as usize * th as usize * 3);
    let span = |t: u32, tn: u32, sn: u32| {
        let a = (u64::from(t) * u64::from(sn) / u64::from(tn)) as usize;
        let b = (u64::from(t + 1) * u64::from(sn)).div_ceil(u64::from(tn)) as usize;
        a..b.max(a + 1)
    };
    for ty in 0..th {
        let ys = span(ty, th, img.height);
        for tx in 0..tw {
            let xs = span(tx, tw, img.width);
            let mut sum = [0u64; 3];
            let mut n = 0u64;
            for y in ys.clone() {
                for x in xs.clone() {
                    let o = (y * img.width as usize + x) * 3;
                    for (s, v) in sum.iter_mut().zip(&img.data[o..o + 3]) {
                        *s += u64::from(*v);
                    }
                    n += 1;
                }
            }
            data.extend(sum.iter().map(|s| ((s + n / 2) / n) as u8));
        }
    }
    Rgb8 {
        width: tw,
        height: th,
        data,
    }
}

fn encode_png(img: &Rgb8) -> Result<Vec<u8>, StoreError> {
    encode(img.width, img.height, png::ColorType::Rgb, &img.data)
}

/// A thumbnail's media type and bytes: a PNG, or a JPEG where the PNG
/// would be larger than [`PNG_OR_JPEG`] and the JPEG is smaller (a
/// photograph; drawings and small chips stay exact).
fn encode_thumbnail(img: &Rgb8) -> Result<(&'static str, Vec<u8>), StoreError> {
    let png = encode_png(img)?;
    if png.len() <= PNG_OR_JPEG {
        return Ok(("image/png", png));
    }
    let mut jpeg = Vec::new();
    let (w, h) = (
        u16::try_from(img.width).unwrap_or(u16::MAX),
        u16::try_from(img.height).unwrap_or(u16::MAX),
    );
    let encoded = jpeg_encoder::Encoder::new(&mut jpeg, JPEG_QUALITY).encode(
        &img.data,
        w,
        h,
        jpeg_encoder::ColorType::Rgb,
    );
    Ok(match encoded {
        Ok(()) if jpeg.len() < png.len() => ("image/jpeg", jpeg),
        _ => ("image/png", png),
    })
}

/// A mask of class ids scaled by nearest neighbour so its longest side is
/// at most `max` (class ids are not averaged).
fn nearest(width: u32, height: u32, ids: &[u8], max: u32) -> (u32, u32, Vec<u8>) {
    let long = width.max(height);
    if long <= max || long == 0 {
        return (width, height, ids.to_vec());
    }
    let tw = (u64::from(width) * u64::from(max) / u64::from(long)).max(1) as u32;
    let th = (u64::from(height) * u64::from(max) / u64::from(long)).max(1) as u32;
    let mut out = Vec::with_capacity(tw as usize * th as usize);
    for ty in 0..th {
        // The source pixel under the target pixel's centre.
        let y = ((2 * u64::from(ty) + 1) * u64::from(height) / (2 * u64::from(th))) as usize;
        for tx in 0..tw {
            let x = ((2 * u64::from(tx) + 1) * u64::from(width) / (2 * u64::from(tw))) as usize;
            out.push(ids[y * width as usize + x]);
        }
    }
    (tw, th, out)
}

/// Whether a browser shows an image file of this type (PNG, JPEG, GIF,
/// BMP; not TIFF), by its extension.
fn browser_shows(image: &Path) -> bool {
    image.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        ["png", "jpg", "jpeg", "gif", "bmp"]
            .iter()
            .any(|k| e.eq_ignore_ascii_case(k))
    })
}

/// `target` as a URL relative to the folder `dir` (both made absolute),
/// every byte but letters, digits, `-._~` and the separators
/// percent-encoded; none where there is no relative path (another drive).
fn relative_url(dir: &Path, target: &Path) -> Option<String> {
    let dir = dir.canonicalize().ok()?;
    let target = target.canonicalize().ok()?;
    let (dir, target): (Vec<_>, Vec<_>) = (
        dir.components().filter(|c| c.as_os_str() != ".").collect(),
        target
            .components()
            .filter(|c| c.as_os_str() != ".")
            .collect(),
    );
    let common = dir.iter().zip(&target).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return None;
    }
    let mut parts: Vec<String> = vec!["..".to_owned(); dir.len() - common];
    for c in &target[common..] {
        let bytes = c.as_os_str().as_encoded_bytes();
        let mut part = String::with_capacity(bytes.len());
        for &b in bytes {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                part.push(char::from(b));
            } else {
                let _ = write!(part, "%{b:02X}");
            }
        }
        parts.push(part);
    }
    Some(parts.join("/"))
}

/// A chip as [`Preview::write_html`] decoded it, for the PNG drawn beside.
struct Drawn<'a> {
    image: Rgb8,
    mask: Option<&'a (u32, u32, Vec<u8>)>,
}

fn encode(
    width: u32,
    height: u32,
    color: png::ColorType,
    data: &[u8],
) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(color);
    enc.set_depth(png::BitDepth::Eight);
    let io = |e: png::EncodingError| StoreError::Scratch(std::io::Error::other(e));
    let mut w = enc.write_header().map_err(io)?;
    w.write_image_data(data).map_err(io)?;
    w.finish().map_err(io)?;
    Ok(out)
}

fn load_rgb(chip: &PreviewChip) -> Result<Rgb8, StoreError> {
    let file = chip.image.display().to_string();
    let bytes = std::fs::read(&chip.image).map_err(|e| {
        usage(format!(
            "chip {}: cannot read its image {file}: {e}",
            chip.id
        ))
    })?;
    let image = decode_image(&bytes, &file).map_err(|e| usage(format!("chip {}: {e}", chip.id)))?;
    Ok(to_rgb(&image))
}

/// How opaque a semantic mask's class colours are over the chip (of 255).
const MASK_ALPHA: u8 = 128;

/// A mask's class ids, one byte per pixel, with its width and height.
fn load_mask(chip: &PreviewChip, path: &Path) -> Result<(u32, u32, Vec<u8>), StoreError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| {
        usage(format!(
            "chip {}: cannot read its mask {file}: {e}",
            chip.id
        ))
    })?;
    let image = decode_image(&bytes, &file).map_err(|e| usage(format!("chip {}: {e}", chip.id)))?;
    if image.color.samples() != 1 {
        return Err(usage(format!(
            "chip {}: mask {file}: {} samples per pixel, a mask has one (class ids)",
            chip.id,
            image.color.samples()
        )));
    }
    let (w, h) = (image.width as usize, image.height as usize);
    let line = image.line();
    let bits = usize::from(image.bits);
    let mut ids = Vec::with_capacity(w * h);
    for y in 0..h {
        let row = &image.data[y * line..(y + 1) * line];
        for x in 0..w {
            ids.push(match bits {
                16 => row[2 * x + 1],
                8 => row[x],
                b => (row[x * b / 8] >> (8 - b - (x * b) % 8)) & ((1u8 << b) - 1),
            });
        }
    }
    Ok((image.width, image.height, ids))
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn hex(c: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// What [`Preview::write`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewWritten {
    /// The page.
    pub page: PathBuf,
    /// The PNGs, one per chip, in the order of the chips.
    pub pngs: Vec<PathBuf>,
}

/// Files and folders [`Preview::write`] made, removed unless it finished.
struct Undo {
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
    done: bool,
}

impl Undo {
    /// Creates `dir` and the folders above it that are missing,
    /// remembering them.
    fn create_dir(&mut self, dir: &Path) -> Result<(), StoreError> {
        let mut missing = Vec::new();
        let mut at = Some(dir);
        while let Some(d) = at.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
            missing.push(d.to_path_buf());
            at = d.parent();
        }
        std::fs::create_dir_all(dir).map_err(|e| written(dir, &e))?;
        self.dirs.extend(missing.into_iter().rev());
        Ok(())
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        if !self.done {
            for f in &self.files {
                let _ = std::fs::remove_file(f);
            }
            for d in self.dirs.iter().rev() {
                let _ = std::fs::remove_dir(d);
            }
        }
    }
}

fn written(path: &Path, e: &dyn std::fmt::Display) -> StoreError {
    usage(format!("cannot write {}: {e}", path.display()))
}

/// A hidden name beside `path` to write it under until it is whole.
fn staged(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.labelstore-tmp-{}", std::process::id()))
}

impl Preview {
    /// Writes the page to `page` and, given `png_dir`, each chip's
    /// [`Preview::chip_png`] to `<png_dir>/<id>.png`, decoding each chip
    /// once for both and holding one at a time. Everything is written
    /// under hidden names and renamed into place at the end, so a chip that
    /// cannot be read (or a full disk) leaves nothing behind, not even the
    /// folders made for the output; files already there are replaced only
    /// by the complete result.
    pub fn write(&self, page: &Path, png_dir: Option<&Path>) -> Result<PreviewWritten, StoreError> {
        let mut undo = Undo {
            files: Vec::new(),
            dirs: Vec::new(),
            done: false,
        };
        let page_dir = match page.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(p) => p.to_path_buf(),
            None => PathBuf::from("."),
        };
        undo.create_dir(&page_dir)?;
        if let Some(dir) = png_dir {
            undo.create_dir(dir)?;
        }
        let page_tmp = staged(page);
        let file = std::fs::File::create(&page_tmp).map_err(|e| written(page, &e))?;
        undo.files.push(page_tmp.clone());
        let mut out = std::io::BufWriter::new(file);
        let mut pngs = Vec::new();
        self.write_html(&mut out, Some((page, &page_dir)), |chip, drawn| {
            let Some(dir) = png_dir else {
                return Ok(());
            };
            let png = self.draw_png(chip, drawn.image, drawn.mask)?;
            let path = dir.join(format!("{}.png", chip.id));
            let tmp = staged(&path);
            undo.files.push(tmp.clone());
            std::fs::write(&tmp, png).map_err(|e| written(&path, &e))?;
            pngs.push((tmp, path));
            Ok(())
        })?;
        out.into_inner()
            .map_err(|e| written(page, &e.error().to_string()))?
            .sync_all()
            .map_err(|e| written(page, &e))?;
        for (tmp, path) in &pngs {
            std::fs::rename(tmp, path).map_err(|e| written(path, &e))?;
        }
        std::fs::rename(&page_tmp, page).map_err(|e| written(page, &e))?;
        undo.done = true;
        Ok(PreviewWritten {
            page: page.to_path_buf(),
            pngs: pngs.into_iter().map(|(_, p)| p).collect(),
        })
    }

    /// RGBA of each mask pixel: the class colour at [`MASK_ALPHA`], clear
    /// for background (0) and "ignore" (255).
    fn mask_rgba(&self, ids: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(ids.len() * 4);
        for &v in ids {
            if v == 0 || v == 255 {
                out.extend_from_slice(&[0, 0, 0, 0]);
            } else {
                out.extend_from_slice(&self.class_color(u32::from(v)));
                out.push(MASK_ALPHA);
            }
        }
        out
    }

    /// The colour labels of class `id` are drawn in: the class's own, else
    /// one of a fixed palette by the class's place, grey for an unknown id.
    pub fn class_color(&self, id: u32) -> [u8; 3] {
        match self.project.classes.iter().position(|c| c.id == id) {
            Some(i) => self.project.classes[i]
                .color
                .map(|c| c.0)
                .unwrap_or(PALETTE[i % PALETTE.len()]),
            None => [0x80, 0x80, 0x80],
        }
    }

    fn class_name(&self, id: u32) -> String {
        self.project
            .class(id)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| format!("class {id}"))
    }

    /// The number of labels drawn, all chips together.
    pub fn label_count(&self) -> usize {
        self.chips.iter().map(|c| c.labels.len()).sum()
    }

    /// Chip `i` at its own size with the outline of each label drawn in
    /// its class colour, 2 pixels wide and centred on the edge, as a PNG.
    /// Chips under [`THUMB_PIXELS`] are first scaled up by a whole factor
    /// (nearest neighbour) to fit it, so a label stays visible.
    pub fn chip_png(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        let chip = &self.chips[i];
        self.draw_png(chip, load_rgb(chip)?, self.chip_mask(chip)?.as_ref())
    }

    fn chip_mask(&self, chip: &PreviewChip) -> Result<Option<(u32, u32, Vec<u8>)>, StoreError> {
        chip.mask
            .as_ref()
            .map(|path| load_mask(chip, path))
            .transpose()
    }

    fn draw_png(
        &self,
        chip: &PreviewChip,
        mut img: Rgb8,
        mask: Option<&(u32, u32, Vec<u8>)>,
    ) -> Result<Vec<u8>, StoreError> {
        if let Some((_, _, ids)) = mask.filter(|(w, h, _)| (*w, *h) == (img.width, img.height)) {
            let rgba = self.mask_rgba(ids);
            let a = u32::from(MASK_ALPHA);
            for (p, o) in img.data.chunks_mut(3).zip(rgba.chunks(4)) {
                if o[3] != 0 {
                    for (c, m) in p.iter_mut().zip(o) {
                        *c = ((u32::from(*m) * a + u32::from(*c) * (255 - a) + 127) / 255) as u8;
                    }
                }
            }
        }
        let long = img.width.max(img.height).max(1);
        let k = (THUMB_PIXELS / long).max(1);
        if k > 1 {
            img = upscale(&img, k);
        }
        let (w, h) = (i64::from(img.width), i64::from(img.height));
        let k = f64::from(k);
        for label in &chip.labels {
            let color = self.class_color(label.class_id);
            for polygon in label.geometry.polygons() {
                for ring in &polygon {
                    for (n, a) in ring.iter().enumerate() {
                        let b = ring[(n + 1) % ring.len()];
                        let (ax, ay, bx, by) = (a[0] * k, a[1] * k, b[0] * k, b[1] * k);
                        let steps = ((bx - ax).abs().max((by - ay).abs()) * 4.0).ceil().max(1.0);
                        for s in 0..=steps as i64 {
                            let t = s as f64 / steps;
                            let (x, y) = (ax + (bx - ax) * t, ay + (by - ay) * t);
                            for px in [(x - 0.5).floor() as i64, (x + 0.5).floor() as i64] {
                                for py in [(y - 0.5).floor() as i64, (y + 0.5).floor() as i64] {
                                    if (0..w).contains(&px) && (0..h).contains(&py) {
                                        let o = ((py * w + px) * 3) as usize;
                                        img.data[o..o + 3].copy_from_slice(&color);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        encode_png(&img)
    }

    /// The page: see the module docs. Layout, for those who look at it
    /// from outside: the thumbnails sit in a grid whose first one has its
    /// top-left corner at [`GRID_ORIGIN`], each shown with its longest side
    /// [`THUMB_CSS`] pixels; the summary (counts, class histogram, split
    /// counts, filters) is a column on the right. The page reads filters
    /// from its address's fragment too: `#class=ship,buoy&split=val`, and
    /// `#chip=ID` opens that chip's full-size view.
    pub fn html(&self) -> Result<Vec<u8>, StoreError> {
        let mut page = Vec::new();
        self.write_html(&mut page, None, |_, _| Ok(()))?;
        Ok(page)
    }

    /// The longest side of the thumbnails, embedded and shown: see
    /// [`LARGE_PROJECT`].
    pub fn thumb_pixels(&self) -> u32 {
        if self.chips.len() > LARGE_PROJECT {
            THUMB_PIXELS_LARGE
        } else {
            THUMB_PIXELS
        }
    }

    /// Writes the page (see [`Preview::html`]) to `out` chip by chip.
    /// `page`, the page's path and the folder it will be in, names it in
    /// errors and links each chip's full-size view to its image file
    /// relative to that folder (none: the thumbnail only). Each chip,
    /// decoded once, is then handed to `each`.
    fn write_html(
        &self,
        out: &mut dyn Write,
        page: Option<(&Path, &Path)>,
        mut each: impl FnMut(&PreviewChip, Drawn<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let page_dir = page.map(|(_, dir)| dir);
        let mut put = |text: &str| {
            out.write_all(text.as_bytes()).map_err(|e| match page {
                Some((path, _)) => written(path, &e),
                None => usage(format!("cannot write the page: {e}")),
            })
        };
        let mut classes: BTreeMap<u32, (usize, usize)> = BTreeMap::new();
        for c in &self.project.classes {
            classes.insert(c.id, (0, 0));
        }
        let mut splits: BTreeMap<(usize, String), (usize, usize)> = BTreeMap::new();
        let mut empty = 0;
        for chip in &self.chips {
            let s = splits
                .entry(labels_model::subset_rank(&chip.split))
                .or_default();
            s.0 += 1;
            s.1 += chip.labels.len();
            if chip.labels.is_empty() && chip.mask.is_none() {
                empty += 1;
            }
            let mut seen = std::collections::BTreeSet::new();
            for l in &chip.labels {
                let e = classes.entry(l.class_id).or_default();
                e.0 += 1;
                if seen.insert(l.class_id) {
                    e.1 += 1;
                }
            }
        }
        let total = self.chips.len();
        let name = escape(&self.project.name);
        let mut h = String::new();
        h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        let _ = writeln!(h, "<title>labelstore preview: {name}</title>");
        let _ = writeln!(
            h,
            "<style>:root{{--t:{}px}}\n{}</style>\n</head>\n<body>",
            self.thumb_pixels(),
            CSS.trim()
        );
        h.push_str("<main id=\"grid\">\n");
        put(&h)?;
        for (i, chip) in self.chips.iter().enumerate() {
            let img = load_rgb(chip)?;
            let mask = self.chip_mask(chip)?;
            h.clear();
            self.card(&mut h, i, chip, &img, mask.as_ref(), page_dir)?;
            put(&h)?;
            each(
                chip,
                Drawn {
                    image: img,
                    mask: mask.as_ref(),
                },
            )?;
        }
        h.clear();
        h.push_str("</main>\n<aside id=\"side\">\n");
        let _ = writeln!(h, "<h1>{name}</h1>");
        let _ = writeln!(
            h,
            "<p>{} · labels from {}</p>",
            escape(self.project.labeling_type.name()),
            escape(&self.source)
        );
        let _ = writeln!(
            h,
            "<p id=\"count\"><b id=\"shown\">{total}</b> of <b id=\"total\">{total}</b> chips shown, {} labels</p>",
            self.label_count()
        );
        h.push_str("<h2>Classes</h2>\n<table id=\"classes\">\n<tr><th></th><th>class</th><th>labels</th><th>chips</th><th></th></tr>\n");
        let most = classes.values().map(|c| c.0).max().unwrap_or(0).max(1);
        for (id, (labels, chips)) in &classes {
            let color = hex(self.class_color(*id));
            let _ = writeln!(
                h,
                "<tr><td><input type=\"checkbox\" class=\"fc\" value=\"{id}\" data-name=\"{}\" checked></td>\
                 <td><span class=\"sw\" style=\"background:{color}\"></span>{}</td><td>{labels}</td><td>{chips}</td>\
                 <td><span class=\"bar\" style=\"background:{color};width:{}px\"></span></td></tr>",
                escape(&self.class_name(*id)),
                escape(&self.class_name(*id)),
                labels * 60 / most
            );
        }
        let _ = writeln!(
            h,
            "<tr><td><input type=\"checkbox\" class=\"fc\" value=\"none\" data-name=\"none\" checked></td>\
             <td>(no labels)</td><td></td><td>{empty}</td><td></td></tr>\n</table>"
        );
        h.push_str("<h2>Splits</h2>\n<table id=\"splits\">\n<tr><th></th><th>split</th><th>chips</th><th>labels</th></tr>\n");
        for ((_, split), (chips, labels)) in &splits {
            let s = escape(split);
            let _ = writeln!(
                h,
                "<tr><td><input type=\"checkbox\" class=\"fs\" value=\"{s}\" checked></td>\
                 <td>{s}</td><td>{chips}</td><td>{labels}</td></tr>"
            );
        }
        h.push_str("</table>\n");
        self.map(&mut h);
        h.push_str("<p class=\"note\">Click a chip to see it large.</p>\n</aside>\n");
        h.push_str("<div id=\"full\" hidden></div>\n");
        let _ = writeln!(h, "<script>{}</script>\n</body>\n</html>", SCRIPT.trim());
        put(&h)
    }

    /// The map panel: for each CRS the georeferenced chips are in (most
    /// chips first), the footprints and labels of its chips in its
    /// coordinates (north up, no base map); chips without georeferencing
    /// are counted.
    fn map(&self, h: &mut String) {
        let mut by_crs: BTreeMap<Option<u32>, usize> = BTreeMap::new();
        for chip in &self.chips {
            if chip.georef.transform.is_some() {
                *by_crs.entry(chip.georef.epsg).or_default() += 1;
            }
        }
        let mut crss: Vec<(Option<u32>, usize)> = by_crs.into_iter().collect();
        crss.sort_by_key(|&(c, n)| (std::cmp::Reverse(n), c));
        if !crss.is_empty() {
            h.push_str("<h2>Map</h2>\n");
        }
        for (i, &(crs, _)) in crss.iter().enumerate() {
            self.crs_map(h, crs, i == 0);
        }
        let elsewhere = self.chips.len() - crss.iter().map(|(_, n)| n).sum::<usize>();
        if elsewhere > 0 {
            let _ = writeln!(
                h,
                "<p class=\"note\">{elsewhere} chip{} not on the map (not georeferenced)</p>",
                if elsewhere == 1 { "" } else { "s" }
            );
        }
    }

    /// One map of [`Preview::map`]: the chips in `crs`; the first is `#map`.
    fn crs_map(&self, h: &mut String, crs: Option<u32>, first: bool) {
        let on_map: Vec<(&PreviewChip, [f64; 6])> = self
            .chips
            .iter()
            .filter(|c| c.georef.epsg == crs)
            .filter_map(|c| c.georef.transform.map(|t| (c, t.0)))
            .collect();
        let to_map = |t: &[f64; 6], p: [f64; 2]| {
            [
                t[0] + p[0] * t[1] + p[1] * t[2],
                -(t[3] + p[0] * t[4] + p[1] * t[5]),
            ]
        };
        let footprint = |c: &PreviewChip, t: &[f64; 6]| {
            let (w, hh) = (f64::from(c.size.0), f64::from(c.size.1));
            [[0.0, 0.0], [w, 0.0], [w, hh], [0.0, hh]].map(|p| to_map(t, p))
        };
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for (c, t) in &on_map {
            for [x, y] in footprint(c, t) {
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            }
        }
        let (w, hh) = (x1 - x0, y1 - y0);
        let crs_name = crs.map_or("CRS unknown".to_owned(), |e| format!("EPSG:{e}"));
        let _ = writeln!(
            h,
            "<p>{} chip{} in {crs_name}; x {x0} to {x1}, y {} to {}</p>",
            on_map.len(),
            if on_map.len() == 1 { "" } else { "s" },
            -y1,
            -y0
        );
        let _ = write!(
            h,
            "<svg{} class=\"map\" width=\"264\" viewBox=\"{x0} {y0} {w} {hh}\">",
            if first { " id=\"map\"" } else { "" }
        );
        for (c, t) in &on_map {
            let d: Vec<String> = footprint(c, t)
                .iter()
                .map(|p| format!("{} {}", p[0], p[1]))
                .collect();
            let id = escape(&c.id);
            let _ = write!(
                h,
                "<g data-chip=\"{id}\"><path class=\"fp\" d=\"M{}Z\"><title>{id}</title></path>",
                d.join("L"),
            );
            for label in &c.labels {
                let mut d = String::new();
                for polygon in label.geometry.polygons() {
                    for ring in &polygon {
                        for (n, p) in ring.iter().enumerate() {
                            let [x, y] = to_map(t, *p);
                            let _ = write!(d, "{}{x} {y}", if n == 0 { "M" } else { "L" });
                        }
                        d.push('Z');
                    }
                }
                let color = hex(self.class_color(label.class_id));
                let _ = write!(
                    h,
                    "<path class=\"ml c{}\" stroke=\"{color}\" fill=\"{color}\" d=\"{d}\"/>",
                    label.class_id
                );
            }
            h.push_str("</g>");
        }
        h.push_str("</svg>\n");
    }

    fn card(
        &self,
        h: &mut String,
        index: usize,
        chip: &PreviewChip,
        img: &Rgb8,
        mask: Option<&(u32, u32, Vec<u8>)>,
        page_dir: Option<&Path>,
    ) -> Result<(), StoreError> {
        let thumb = self.thumb_pixels();
        let (mime, thumbnail) = encode_thumbnail(&downscale(img, thumb))?;
        let (w, hgt) = chip.size;
        let long = w.max(hgt).max(1);
        let (cw, ch) = (
            (u64::from(w) * u64::from(thumb) / u64::from(long)) as u32,
            (u64::from(hgt) * u64::from(thumb) / u64::from(long)) as u32,
        );
        let mut ids: std::collections::BTreeSet<u32> =
            chip.labels.iter().map(|l| l.class_id).collect();
        if let Some((_, _, m)) = mask {
            ids.extend(
                m.iter()
                    .filter(|&&v| v != 0 && v != 255)
                    .map(|&v| u32::from(v)),
            );
        }
        let ids: Vec<String> = ids.iter().map(u32::to_string).collect();
        let classes = if ids.is_empty() {
            "none".to_owned()
        } else {
            ids.join(" ")
        };
        // The full-size view links the chip's own file where a browser
        // shows its type.
        let full = page_dir
            .filter(|_| browser_shows(&chip.image))
            .and_then(|dir| relative_url(dir, &chip.image))
            .map(|url| format!(" data-full=\"{}\"", escape(&url)))
            .unwrap_or_default();
        let _ = writeln!(
            h,
            "<figure class=\"chip\" data-chip=\"{}\" data-split=\"{}\" data-classes=\"{classes}\"{full} style=\"width:{cw}px\">",
            escape(&chip.id),
            escape(&chip.split)
        );
        // Past the first chips, an image's data waits in `data-href` until
        // the page's script sees the chip near the window.
        let href = if index < EAGER_THUMBS {
            "href"
        } else {
            "data-href"
        };
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let _ = write!(
            h,
            "<svg class=\"t\" width=\"{cw}\" height=\"{ch}\" viewBox=\"0 0 {w} {hgt}\">\
             <image class=\"th\" width=\"{w}\" height=\"{hgt}\" preserveAspectRatio=\"none\" {href}=\"data:{mime};base64,{}\"/>",
            b64(&thumbnail)
        );
        if let Some((mw, mh, ids)) = mask {
            let (ow, oh, ids) = nearest(*mw, *mh, ids, thumb);
            let overlay = encode(ow, oh, png::ColorType::Rgba, &self.mask_rgba(&ids))?;
            let _ = write!(
                h,
                "<image class=\"mask\" width=\"{w}\" height=\"{hgt}\" preserveAspectRatio=\"none\" {href}=\"data:image/png;base64,{}\"/>",
                b64(&overlay)
            );
        }
        for label in &chip.labels {
            let color = hex(self.class_color(label.class_id));
            let _ = write!(
                h,
                "<path class=\"c{}\" stroke=\"{color}\" fill=\"{color}\" d=\"{}\"><title>{}</title></path>",
                label.class_id,
                path_data(&label.geometry),
                escape(&self.class_name(label.class_id))
            );
        }
        h.push_str("</svg>\n");
        let mask = if mask.is_some() { " · mask" } else { "" };
        let _ = writeln!(
            h,
            "<figcaption><b>{}</b> · {} · {} label{}{mask}<br>{}</figcaption>\n</figure>",
            escape(&chip.id),
            escape(&chip.split),
            chip.labels.len(),
            if chip.labels.len() == 1 { "" } else { "s" },
            escape(&georef_text(&chip.georef, chip.size))
        );
        Ok(())
    }
}

fn upscale(img: &Rgb8, k: u32) -> Rgb8 {
    let (w, h) = (img.width * k, img.height * k);
    let mut data = Vec::with_capacity(w as usize * h as usize * 3);
    for y in 0..h {
        for x in 0..w {
            let o = (((y / k) * img.width + x / k) * 3) as usize;
            data.extend_from_slice(&img.data[o..o + 3]);
        }
    }
    Rgb8 {
        width: w,
        height: h,
        data,
    }
}

/// SVG path data of a shape in pixel coordinates: every ring a closed
/// subpath, so the page's `fill-rule: evenodd` leaves holes open.
fn path_data(g: &Geometry) -> String {
    let mut d = String::new();
    for polygon in g.polygons() {
        for ring in &polygon {
            for (n, p) in ring.iter().enumerate() {
                let _ = write!(d, "{}{} {}", if n == 0 { "M" } else { "L" }, p[0], p[1]);
            }
            d.push('Z');
        }
    }
    d
}

fn georef_text(g: &ChipGeoref, size: (u32, u32)) -> String {
    let Some(t) = g.transform.filter(|_| g.source != GeorefSource::None) else {
        return format!("{} × {} px, not georeferenced", size.0, size.1);
    };
    let c = t.0;
    let crs = g
        .epsg
        .map(|e| format!("EPSG:{e}"))
        .unwrap_or_else(|| "CRS unknown".to_owned());
    format!(
        "{} × {} px, {crs} ({}), origin {}, {}; pixel {} × {}",
        size.0,
        size.1,
        g.source.name(),
        c[0],
        c[3],
        c[1],
        c[5]
    )
}

const CSS: &str = r#"
body{margin:0;font:13px/1.35 system-ui,sans-serif;color:#222;background:#f4f4f4}
#grid{display:flex;flex-wrap:wrap;align-items:flex-start;gap:16px;padding:16px;margin:0 312px 0 0}
.chip{margin:0;padding:0;background:#fff;content-visibility:auto;contain-intrinsic-size:var(--t) calc(var(--t) + 44px);cursor:zoom-in}
.chip[hidden]{display:none}
.t{display:block;image-rendering:pixelated}
.t image{image-rendering:pixelated}
.t path{fill-opacity:.12;fill-rule:evenodd;stroke-width:2px;vector-effect:non-scaling-stroke}
.t path.off{display:none}
figcaption{padding:4px 6px;word-break:break-all}
#side{position:fixed;top:0;right:0;width:296px;height:100%;overflow:auto;box-sizing:border-box;padding:12px 16px;background:#fff;border-left:1px solid #ccc}
h1{font-size:17px;margin:0 0 6px}
h2{font-size:14px;margin:14px 0 4px}
table{border-collapse:collapse}
td,th{padding:1px 4px;text-align:left;white-space:nowrap}
.sw{display:inline-block;width:10px;height:10px;margin-right:4px}
.bar{display:inline-block;height:10px}
.note{color:#666}
.map{display:block;height:auto;background:#eef;border:1px solid #ccc}
.map path{vector-effect:non-scaling-stroke;stroke-width:1px}
.map .fp{fill:#fff;stroke:#555}
.map g{cursor:zoom-in}
.map path.off{display:none}
.map .ml{fill-opacity:.3;fill-rule:evenodd}
#full{position:fixed;inset:0;background:rgba(0,0,0,.85);display:flex;align-items:center;justify-content:center;cursor:zoom-out}
#full[hidden]{display:none}
#full svg{display:block;background:#000}
"#;

const SCRIPT: &str = r#"
(function(){
var chips=[].slice.call(document.querySelectorAll('.chip'));
var onmap={};[].forEach.call(document.querySelectorAll('.map g'),function(g){onmap[g.dataset.chip]=g;});
var fc=[].slice.call(document.querySelectorAll('.fc')),fs=[].slice.call(document.querySelectorAll('.fs'));
function apply(){
var on={},sp={},shown=0;
fc.forEach(function(b){if(b.checked)on[b.value]=1;});
fs.forEach(function(b){if(b.checked)sp[b.value]=1;});
chips.forEach(function(c){
var ok=sp[c.dataset.split]&&c.dataset.classes.split(' ').some(function(k){return on[k];});
c.hidden=!ok;if(ok)shown++;
var g=onmap[c.dataset.chip],ps=[].slice.call(c.querySelectorAll('path'));
if(g){g.style.display=ok?'':'none';ps=ps.concat([].slice.call(g.querySelectorAll('.ml')));}
ps.forEach(function(p){var k=/(?:^| )c(\d+)/.exec(p.getAttribute('class'));if(k)p.classList.toggle('off',!on[k[1]]);});
});
document.getElementById('shown').textContent=shown;
if(waiting)near();
}
function fromHash(){
var h=decodeURIComponent(location.hash.slice(1));if(!h)return;
h.split('&').forEach(function(kv){var i=kv.indexOf('=');if(i<0)return;var k=kv.slice(0,i),v=kv.slice(i+1).split(',');
if(k==='class')fc.forEach(function(b){b.checked=v.indexOf(b.dataset.name)>=0||v.indexOf(b.value)>=0;});
if(k==='split')fs.forEach(function(b){b.checked=v.indexOf(b.value)>=0;});
if(k==='chip')chips.forEach(function(c){if(c.dataset.chip===v[0])show(c);});});
}
fc.concat(fs).forEach(function(b){b.addEventListener('change',apply);});
var full=document.getElementById('full');
function fill(c){[].forEach.call(c.querySelectorAll('image[data-href]'),function(i){i.setAttribute('href',i.getAttribute('data-href'));i.removeAttribute('data-href');});}
var waiting=chips.filter(function(c){return c.querySelector('image[data-href]');}),queued=0;
function near(){var h=innerHeight;waiting=waiting.filter(function(c){if(c.hidden)return true;var r=c.getBoundingClientRect();if(r.bottom>-1000&&r.top<h+1000){fill(c);return false;}return true;});}
function later(){if(!queued){queued=1;requestAnimationFrame(function(){queued=0;near();});}}
addEventListener('scroll',later,{passive:true});addEventListener('resize',later);
function show(c){fill(c);var s=c.querySelector('svg').cloneNode(true),v=s.viewBox.baseVal,k=Math.min(innerWidth*0.9/v.width,innerHeight*0.9/v.height);if(k>=1)k=Math.floor(k);
s.setAttribute('width',v.width*k);s.setAttribute('height',v.height*k);
if(c.dataset.full){var i=s.querySelector('.th').cloneNode();i.removeAttribute('class');i.setAttribute('href',c.dataset.full);s.querySelector('.th').after(i);}
full.textContent='';full.dataset.chip=c.dataset.chip;full.appendChild(s);full.hidden=false;}
function hide(){full.hidden=true;full.textContent='';delete full.dataset.chip;}
chips.forEach(function(c){var g=onmap[c.dataset.chip];if(g)g.addEventListener('click',function(){show(c);});});
chips.forEach(function(c){c.addEventListener('click',function(){show(c);});});
full.addEventListener('click',hide);
document.addEventListener('keydown',function(e){if(e.key==='Escape')hide();});
fromHash();apply();
window.addEventListener('hashchange',function(){fromHash();apply();});
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downscale_averages_and_keeps_the_aspect() {
        let img = Rgb8 {
            width: 4,
            height: 2,
            data: [[0u8, 0, 0], [255, 255, 255]]
                .iter()
                .cycle()
                .take(8)
                .flatten()
                .copied()
                .collect(),
        };
        let small = downscale(&img, 2);
        assert_eq!((small.width, small.height), (2, 1));
        assert_eq!(small.data, vec![128, 128, 128, 128, 128, 128]);
    }

    #[test]
    fn a_hole_is_a_subpath_of_its_own() {
        let g = Geometry::Polygon(vec![
            vec![[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]],
            vec![[2.0, 2.0], [3.0, 2.0], [3.0, 3.0]],
        ]);
        assert_eq!(path_data(&g), "M0 0L10 0L10 10ZM2 2L3 2L3 3Z");
        assert_eq!(
            path_data(&Geometry::BBox([8.0, 20.0, 44.5, 34.0])),
            "M8 20L44.5 20L44.5 34L8 34Z"
        );
    }

    #[test]
    fn escapes_what_html_would_read() {
        assert_eq!(
            escape("<a href='x'>&\""),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;"
        );
    }
}
