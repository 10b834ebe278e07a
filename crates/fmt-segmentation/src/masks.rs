//! Semantic-segmentation masks: one single-band 8-bit image per stored
//! chip, the chip's size, pixel value = class id, 0 = background,
//! 255 = ignore. Formats `png`, `gif`, `bmp` (palette images with the class
//! colours), `tiff` (gray, no georeferencing) and `geotiff` (gray, with the
//! chip's geotransform and CRS).
//!
//! Layout of format `F` (`png`, `tiff`, `geotiff`, `gif`, `bmp`) in a store,
//! one folder per split (the chip's split, `train` when it names none), as
//! Datumaro's `common_semantic_segmentation` importer reads subsets and as
//! mmsegmentation-style loaders pair images and annotations by name:
//!
//! ```text
//! F/<split>/images/<chip id>.<ext>   the chip (a hard link to chips/…)
//! F/<split>/masks/<chip id>.<ext>    its class mask (.png, .tif, .tif, .gif, .bmp)
//! F/<split>/dataset_meta.json        Datumaro's class table: background, the classes, ignore
//! F/classes.csv                      id,name,color: 0 background, the classes, 255 ignore
//! ```
//!
//! Datumaro (`common_semantic_segmentation`, given `F/`) takes every folder
//! of `F/` as a subset, named after it, with its own `dataset_meta.json`,
//! `images/` and `masks/`: its subsets are the project's splits. A project
//! without splits is all `F/train/` (before splits, labelstore wrote
//! `F/masks/` and `F/images/`; a writer places each chip as it comes, so
//! the train split has one folder whether or not other splits follow).
//! `dataset_meta.json` lists `background`, the classes in id order and
//! `ignore`, with their palette colours: Datumaro maps a palette mask's
//! colours to these labels; a gray (TIFF) mask's values are read as
//! positions in that list, which are the class ids when the ids are 1, 2,
//! 3...
//!
//! Reading a store back: every folder of `F/` holding `masks/` is a split,
//! named after the folder (lower-cased, other characters than `a-z 0-9 _ -`
//! as `_`, at most 32), and `F/masks/` itself (the layout before splits) is
//! `train`; a chip of `train` reads back naming no split. Splits are taken
//! train, val, trainval, test, then the others by name, masks by name
//! within each. Chip ids are the mask stems, unique across splits as KITTI
//! makes them: the first split holding a stem keeps it; in each later one
//! the chip becomes `<split>_<stem>`, or `<split>_<stem>_2`, `_3`... when
//! that is some other chip's stem or id.
//!
//! A chip's mask comes from its mask file (checked when the project is
//! resolved) or from its polygons, rasterized as GDAL does, later labels
//! over earlier ones; a chip saved empty gets an all-background mask.
//! Palettes: a class's own colour, else the Pascal VOC colour map's entry
//! for its id (which also gives 0 black and 255 the VOC "void" colour).
//! BMP masks are always 8-bit indexed (the 1-bit form is not used).

use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use labels_model::{
    Chip, ChipGeoref, Class, DEFAULT_SPLIT, Error, Fidelity, LabelFormat, LabelWriter,
    LabelingType, Output, Project, Result, Rgb, is_split_name,
};
use raster_georef::{Band8, Crs, CrsKeys, decode_band8, encode_band8_tiff};

use pixel_geometry::{Mask, rasterize};

/// The class mask of a chip: its mask file (paths relative to `base_dir`)
/// decoded, or its polygons rasterized onto background 0.
pub fn class_mask(chip: &Chip, base_dir: &Path) -> Result<Band8> {
    let (w, h) = (chip.width.unwrap_or(0), chip.height.unwrap_or(0));
    if let Some(mask) = &chip.mask {
        let path = base_dir.join(mask);
        let bytes = labels_model::read_regular(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        return decode_band8(&bytes, &path.display().to_string())
            .map_err(|e| Error::invalid(&path, Some(&chip.id), "mask", e.to_string()));
    }
    let shapes = chip
        .labels
        .iter()
        .map(|l| (&l.geometry, class_value(l.class_id)));
    let Mask {
        width,
        height,
        data,
    } = rasterize(w, h, 0, shapes);
    Ok(Band8 {
        width,
        height,
        data,
    })
}

fn class_value(id: u32) -> u8 {
    // Semantic projects have class ids 1..=254 (checked by the manifest).
    u8::try_from(id).unwrap_or(255)
}

/// The Pascal VOC colour map's colour for index `i`.
pub fn voc_colour(i: u8) -> [u8; 3] {
    let (mut r, mut g, mut b) = (0u8, 0u8, 0u8);
    let mut c = i;
    for j in 0..8 {
        r |= (c & 1) << (7 - j);
        g |= ((c >> 1) & 1) << (7 - j);
        b |= ((c >> 2) & 1) << (7 - j);
        c >>= 3;
    }
    [r, g, b]
}

/// The 256-entry palette of a project's masks.
pub fn palette(classes: &[Class]) -> [[u8; 3]; 256] {
    let mut p = [[0u8; 3]; 256];
    for (i, entry) in p.iter_mut().enumerate() {
        *entry = voc_colour(i as u8);
    }
    for c in classes {
        if let (Some(Rgb(rgb)), Ok(i)) = (c.color, usize::try_from(c.id))
            && let Some(entry) = p.get_mut(i)
        {
            *entry = rgb;
        }
    }
    p
}

/// A semantic-segmentation mask format: [`MaskFormat::PNG`],
/// [`MaskFormat::TIFF`], [`MaskFormat::GEOTIFF`], [`MaskFormat::GIF`] or
/// [`MaskFormat::BMP`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaskFormat {
    kind: Kind,
}

/// Which mask format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Png,
    Tiff,
    Geotiff,
    Gif,
    Bmp,
}

impl MaskFormat {
    /// Palette PNG masks (`png`).
    pub const PNG: MaskFormat = MaskFormat { kind: Kind::Png };
    /// Single-band TIFF masks without georeferencing (`tiff`).
    pub const TIFF: MaskFormat = MaskFormat { kind: Kind::Tiff };
    /// Single-band GeoTIFF masks with the chip's georeferencing (`geotiff`).
    pub const GEOTIFF: MaskFormat = MaskFormat {
        kind: Kind::Geotiff,
    };
    /// Palette GIF masks (`gif`).
    pub const GIF: MaskFormat = MaskFormat { kind: Kind::Gif };
    /// Indexed BMP masks (`bmp`).
    pub const BMP: MaskFormat = MaskFormat { kind: Kind::Bmp };

    fn extension(self) -> &'static str {
        match self.kind {
            Kind::Png => "png",
            Kind::Gif => "gif",
            Kind::Bmp => "bmp",
            Kind::Tiff | Kind::Geotiff => "tif",
        }
    }

    /// Encodes a mask in this format.
    pub fn encode(
        self,
        band: &Band8,
        palette: &[[u8; 3]; 256],
        georef: &ChipGeoref,
    ) -> std::result::Result<Vec<u8>, String> {
        match self.kind {
            Kind::Png => encode_png(band, palette),
            Kind::Gif => encode_gif(band, palette),
            Kind::Bmp => Ok(encode_bmp(band, palette)),
            Kind::Geotiff => {
                let crs = georef
                    .epsg
                    .map(Crs::from_epsg)
                    .transpose()
                    .map_err(|e| e.to_string())?;
                let keys = crs.as_ref().map(|c| CrsKeys {
                    epsg: c.epsg(),
                    geographic: c.is_geographic(),
                    name: c.name(),
                });
                let geo = georef.transform.as_ref().map(|gt| (gt, keys));
                encode_band8_tiff(band, geo).map_err(|e| e.to_string())
            }
            Kind::Tiff => encode_band8_tiff(band, None).map_err(|e| e.to_string()),
        }
    }
}

impl LabelFormat for MaskFormat {
    fn name(&self) -> &'static str {
        match self.kind {
            Kind::Png => "png",
            Kind::Tiff => "tiff",
            Kind::Geotiff => "geotiff",
            Kind::Gif => "gif",
            Kind::Bmp => "bmp",
        }
    }

    fn labeling_types(&self) -> &'static [LabelingType] {
        &[LabelingType::SemanticSegmentation]
    }

    fn layout(&self) -> &'static str {
        match self.kind {
            Kind::Png => "png/<split>/masks/<id>.png, png/<split>/images/, png/classes.csv",
            Kind::Tiff => "tiff/<split>/masks/<id>.tif, tiff/<split>/images/, tiff/classes.csv",
            Kind::Geotiff => {
                "geotiff/<split>/masks/<id>.tif, geotiff/<split>/images/, geotiff/classes.csv"
            }
            Kind::Gif => "gif/<split>/masks/<id>.gif, gif/<split>/images/, gif/classes.csv",
            Kind::Bmp => "bmp/<split>/masks/<id>.bmp, bmp/<split>/images/, bmp/classes.csv",
        }
    }

    fn writer(&self, header: &Project) -> Box<dyn LabelWriter> {
        Box::new(MaskWriter {
            format: *self,
            palette: palette(&header.classes),
            classes: header.classes.clone(),
            base_dir: header.base_dir.clone(),
            splits: BTreeSet::new(),
        })
    }

    fn read(&self, root: &Path) -> Result<Project> {
        read_masks(*self, root)
    }

    /// One folder per split (`F/<split>/masks`), read back as the split.
    fn keeps_splits(&self) -> bool {
        true
    }

    /// Polygons come back as the mask they were painted into; the pixels
    /// and the classes (ids, names, colours) survive exactly, and so do
    /// the chips' splits.
    fn fidelity(&self) -> Fidelity {
        Fidelity {
            pixel_tolerance: Some(0.0),
            class_ids: true,
            attributes: Some(&[]),
            empty_chips: true,
        }
    }
}

struct MaskWriter {
    format: MaskFormat,
    palette: [[u8; 3]; 256],
    classes: Vec<Class>,
    base_dir: PathBuf,
    /// The splits written, each getting its `dataset_meta.json` at the end.
    splits: BTreeSet<String>,
}

impl LabelWriter for MaskWriter {
    fn write_chip(&mut self, chip: &Chip, georef: &ChipGeoref, out: &mut dyn Output) -> Result<()> {
        let band = class_mask(chip, &self.base_dir)?;
        let bytes = self
            .format
            .encode(&band, &self.palette, georef)
            .map_err(|e| Error::invalid(&chip.image, Some(&chip.id), "mask", e))?;
        let split = chip.split();
        if !is_split_name(split) {
            return Err(Error::invalid(
                &chip.image,
                Some(&chip.id),
                "split",
                "not a split name",
            ));
        }
        let folder = format!("{}/{split}", self.format.name());
        self.splits.insert(split.to_owned());
        let io = |source| Error::Io {
            path: PathBuf::from(&folder),
            source,
        };
        out.put(
            &format!("{folder}/masks/{}.{}", chip.id, self.format.extension()),
            bytes,
        )
        .map_err(io)?;
        let image = chip.image.to_string_lossy().replace('\\', "/");
        let ext = chip
            .image
            .extension()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.alias(&format!("{folder}/images/{}.{ext}", chip.id), &image)
            .map_err(io)
    }

    fn finish(&mut self, out: &mut dyn Output) -> Result<()> {
        let mut csv = String::from("id,name,color\n");
        let colour = |i: usize| {
            let [r, g, b] = self.palette[i];
            format!("#{r:02x}{g:02x}{b:02x}")
        };
        let _ = writeln!(csv, "0,background,{}", colour(0));
        let mut classes: Vec<&Class> = self.classes.iter().collect();
        classes.sort_by_key(|c| c.id);
        for c in classes {
            let _ = writeln!(
                csv,
                "{},{},{}",
                c.id,
                csv_field(&c.name),
                colour(c.id as usize)
            );
        }
        let _ = writeln!(csv, "255,ignore,{}", colour(255));
        let folder = self.format.name();
        let io = |source| Error::Io {
            path: PathBuf::from(folder),
            source,
        };
        out.put(&format!("{folder}/classes.csv"), csv.into_bytes())
            .map_err(io)?;
        let meta = self.dataset_meta();
        for split in &self.splits {
            out.put(
                &format!("{folder}/{split}/dataset_meta.json"),
                meta.clone().into_bytes(),
            )
            .map_err(io)?;
        }
        Ok(())
    }
}

impl MaskWriter {
    /// Datumaro's class table: `background`, the classes in id order,
    /// `ignore`, each with its palette colour (`label_map` and
    /// `segmentation_colors` by position in `labels`).
    fn dataset_meta(&self) -> String {
        let mut entries: Vec<(String, usize)> = vec![("background".to_owned(), 0)];
        let mut classes: Vec<&Class> = self.classes.iter().collect();
        classes.sort_by_key(|c| c.id);
        entries.extend(classes.iter().map(|c| (c.name.clone(), c.id as usize)));
        entries.push(("ignore".to_owned(), 255));
        let quote = |s: &str| json_string(s);
        let labels: Vec<String> = entries.iter().map(|(n, _)| quote(n)).collect();
        let map: Vec<String> = entries
            .iter()
            .enumerate()
            .map(|(i, (n, _))| format!("\"{i}\": {}", quote(n)))
            .collect();
        let colours: Vec<String> = entries
            .iter()
            .map(|(_, v)| {
                let [r, g, b] = self.palette.get(*v).copied().unwrap_or_default();
                format!("[{r}, {g}, {b}]")
            })
            .collect();
        format!(
            "{{\n  \"labels\": [{}],\n  \"label_map\": {{{}}},\n  \"segmentation_colors\": [{}],\n  \"background_label\": \"0\"\n}}\n",
            labels.join(", "),
            map.join(", "),
            colours.join(", ")
        )
    }
}

/// `s` as a JSON string.
fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn encode_png(band: &Band8, palette: &[[u8; 3]; 256]) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, band.width, band.height);
    enc.set_color(png::ColorType::Indexed);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_palette(palette.iter().flatten().copied().collect::<Vec<u8>>());
    let mut w = enc.write_header().map_err(|e| e.to_string())?;
    w.write_image_data(&band.data).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

fn encode_gif(band: &Band8, palette: &[[u8; 3]; 256]) -> std::result::Result<Vec<u8>, String> {
    let (w, h) = (
        u16::try_from(band.width).map_err(|_| "a GIF is at most 65535 pixels wide")?,
        u16::try_from(band.height).map_err(|_| "a GIF is at most 65535 pixels high")?,
    );
    let flat: Vec<u8> = palette.iter().flatten().copied().collect();
    let mut out = Vec::new();
    {
        let mut enc = gif::Encoder::new(&mut out, w, h, &flat).map_err(|e| e.to_string())?;
        let frame = gif::Frame::from_indexed_pixels(w, h, band.data.clone(), None);
        enc.write_frame(&frame).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// An 8-bit indexed, bottom-up, uncompressed BMP.
fn encode_bmp(band: &Band8, palette: &[[u8; 3]; 256]) -> Vec<u8> {
    let (w, h) = (band.width as usize, band.height as usize);
    let stride = w.div_ceil(4) * 4;
    let data_at = 14 + 40 + 256 * 4;
    let size = data_at + stride * h;
    let mut b = Vec::with_capacity(size);
    let u32le = |v: usize| (v as u32).to_le_bytes();
    b.extend_from_slice(b"BM");
    b.extend_from_slice(&u32le(size));
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&u32le(data_at));
    b.extend_from_slice(&u32le(40));
    b.extend_from_slice(&(w as i32).to_le_bytes());
    b.extend_from_slice(&(h as i32).to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&8u16.to_le_bytes());
    b.extend_from_slice(&u32le(0));
    b.extend_from_slice(&u32le(stride * h));
    b.extend_from_slice(&u32le(2835));
    b.extend_from_slice(&u32le(2835));
    b.extend_from_slice(&u32le(256));
    b.extend_from_slice(&u32le(0));
    for [r, g, bl] in palette {
        b.extend_from_slice(&[*bl, *g, *r, 0]);
    }
    for row in band.data.chunks(w.max(1)).rev() {
        b.extend_from_slice(row);
        b.resize(b.len() + stride - w, 0);
    }
    b
}

/// Reads a mask store back: classes from `classes.csv`, one chip per mask
/// (its image found beside it in `images/`), the mask as the chip's mask.
fn read_masks(format: MaskFormat, root: &Path) -> Result<Project> {
    let folder = format.name();
    let dir = if root.join(folder).join("classes.csv").exists() {
        root.join(folder)
    } else {
        root.to_path_buf()
    };
    let csv_path = dir.join("classes.csv");
    let text = labels_model::read_regular_to_string(&csv_path).map_err(|source| Error::Io {
        path: csv_path.clone(),
        source,
    })?;
    let mut classes = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let bad =
            |m: &str| Error::invalid(&csv_path, None, format!("line {}", n + 1), m.to_owned());
        let (id, rest) = line
            .split_once(',')
            .ok_or_else(|| bad("expected id,name,color"))?;
        let (name, color) = rest
            .rsplit_once(',')
            .ok_or_else(|| bad("expected id,name,color"))?;
        let id: u32 = id
            .trim()
            .parse()
            .map_err(|_| bad("the id is not a number"))?;
        if id == 0 || id == 255 {
            continue;
        }
        let name = name
            .strip_prefix('"')
            .and_then(|n| n.strip_suffix('"'))
            .map_or_else(|| name.to_owned(), |n| n.replace("\"\"", "\""));
        classes.push(Class {
            id,
            name,
            color: Rgb::parse(color.trim()),
        });
    }
    let mut chips = Vec::new();
    let parts = split_folders(&dir)?;
    let mut found = Vec::new();
    for (split, rel) in &parts {
        let masks_dir = dir.join(rel).join("masks");
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&masks_dir)
            .map_err(|source| Error::Io {
                path: masks_dir.clone(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for mask in entries {
            if let Some(stem) = mask.file_stem().map(|s| s.to_string_lossy().into_owned()) {
                found.push((split.as_str(), rel, stem, mask));
            }
        }
    }
    let stems: HashSet<String> = found.iter().map(|f| f.2.clone()).collect();
    let mut taken: HashSet<String> = HashSet::new();
    let mut images_of: Option<(&PathBuf, Vec<PathBuf>)> = None;
    for (split, rel, stem, mask) in found {
        let id = unique_id(&stem, split, &stems, &mut taken);
        if images_of.as_ref().is_none_or(|(r, _)| *r != rel) {
            let images_dir = dir.join(rel).join("images");
            let images: Vec<PathBuf> = std::fs::read_dir(&images_dir)
                .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            images_of = Some((rel, images));
        }
        let images = images_of
            .as_ref()
            .map(|(_, v)| v.as_slice())
            .unwrap_or_default();
        let bytes = labels_model::read_regular(&mask).map_err(|source| Error::Io {
            path: mask.clone(),
            source,
        })?;
        let band = decode_band8(&bytes, &mask.display().to_string())
            .map_err(|e| Error::invalid(&mask, Some(&id), "mask", e.to_string()))?;
        let image = images
            .iter()
            .find(|p| p.file_stem().is_some_and(|s| s.to_string_lossy() == stem))
            .ok_or_else(|| Error::invalid(&mask, Some(&id), "image", "no image beside the mask"))?;
        let rel = |p: &Path| {
            p.strip_prefix(&dir)
                .map(Path::to_path_buf)
                .unwrap_or_else(|_| p.to_path_buf())
        };
        let mut chip = Chip::new(id, rel(image));
        chip.width = Some(band.width);
        chip.height = Some(band.height);
        chip.mask = Some(rel(&mask));
        chip.split = (split != DEFAULT_SPLIT).then(|| split.to_owned());
        if band.data.iter().all(|&v| v == 0) {
            chip.saved_empty = true;
        }
        chips.push(chip);
    }
    Ok(Project {
        name: dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        labeling_type: LabelingType::SemanticSegmentation,
        srid: None,
        classes,
        chips,
        base_dir: dir.clone(),
        manifest_path: csv_path,
    })
}

/// The split folders of a mask store `dir`, in split order (train, val,
/// trainval, test, then the others by name): `(split, folder relative to
/// dir)`; `dir/masks/` itself (the layout before splits) is `train`.
fn split_folders(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut parts = Vec::new();
    if dir.join("masks").is_dir() {
        parts.push((DEFAULT_SPLIT.to_owned(), PathBuf::new()));
    }
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("masks").is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    parts.extend(
        names
            .into_iter()
            .map(|n| (labels_model::split_from_folder(&n), PathBuf::from(n))),
    );
    parts.sort_by_key(|(split, rel)| (labels_model::subset_rank(split), rel.clone()));
    Ok(parts)
}

/// A chip id unique across splits (module docs): `stem` when no earlier
/// chip took it, else `<split>_<stem>`, `<split>_<stem>_2`, ... avoiding
/// every stem and every id taken.
fn unique_id(
    stem: &str,
    split: &str,
    stems: &HashSet<String>,
    taken: &mut HashSet<String>,
) -> String {
    let mut id = stem.to_owned();
    if taken.contains(&id) {
        let base = format!("{split}_{stem}");
        id = base.clone();
        let mut n = 1;
        while taken.contains(&id) || stems.contains(&id) {
            n += 1;
            id = format!("{base}_{n}");
        }
    }
    taken.insert(id.clone());
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voc_colour_map() {
        assert_eq!(voc_colour(0), [0, 0, 0]);
        assert_eq!(voc_colour(1), [128, 0, 0]);
        assert_eq!(voc_colour(2), [0, 128, 0]);
        assert_eq!(voc_colour(15), [192, 128, 128]);
        assert_eq!(voc_colour(255), [224, 224, 192]);
    }

    #[test]
    fn one_folder_per_split_and_unique_ids_back() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        let mut bytes = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut bytes, 2, 2);
            enc.set_color(png::ColorType::Grayscale);
            let mut w = enc.write_header().unwrap();
            w.write_image_data(&[0, 1, 1, 0]).unwrap();
        }
        std::fs::write(base.join("a.png"), &bytes).unwrap();
        let chip = |id: &str, split: Option<&str>| {
            let mut c = Chip::new(id, "a.png");
            (c.width, c.height, c.saved_empty) = (Some(2), Some(2), true);
            c.split = split.map(str::to_owned);
            c
        };
        let header = Project {
            name: "p".into(),
            labeling_type: LabelingType::SemanticSegmentation,
            srid: None,
            classes: vec![Class {
                id: 1,
                name: "a \"b\"".into(),
                color: None,
            }],
            chips: Vec::new(),
            base_dir: base.to_path_buf(),
            manifest_path: PathBuf::new(),
        };
        let mut out = labels_model::MemoryOutput::default();
        out.0.insert("a.png".into(), bytes.clone());
        let none = ChipGeoref {
            source: labels_model::GeorefSource::None,
            transform: None,
            epsg: None,
        };
        let mut w = MaskFormat::PNG.writer(&header);
        for c in [
            chip("x", None),
            chip("y", Some("val")),
            chip("z", Some("train")),
        ] {
            w.write_chip(&c, &none, &mut out).unwrap();
        }
        let mut bad = chip("w", Some("Val"));
        bad.split = Some("Val".into());
        let e = w.write_chip(&bad, &none, &mut out).unwrap_err().to_string();
        assert!(e.ends_with("split: not a split name"), "{e}");
        w.finish(&mut out).unwrap();
        let keys: Vec<&str> = out.0.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "a.png",
                "png/classes.csv",
                "png/train/dataset_meta.json",
                "png/train/images/x.png",
                "png/train/images/z.png",
                "png/train/masks/x.png",
                "png/train/masks/z.png",
                "png/val/dataset_meta.json",
                "png/val/images/y.png",
                "png/val/masks/y.png",
            ]
        );
        assert_eq!(
            String::from_utf8(out.0["png/val/dataset_meta.json"].clone()).unwrap(),
            "{\n  \"labels\": [\"background\", \"a \\\"b\\\"\", \"ignore\"],\n  \
             \"label_map\": {\"0\": \"background\", \"1\": \"a \\\"b\\\"\", \"2\": \"ignore\"},\n  \
             \"segmentation_colors\": [[0, 0, 0], [128, 0, 0], [224, 224, 192]],\n  \
             \"background_label\": \"0\"\n}\n"
        );

        // Read back, with a foreign split and the layout before splits.
        let store = tempfile::tempdir().unwrap();
        let put = |path: &str, b: &[u8]| {
            let f = store.path().join(path);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, b).unwrap();
        };
        for (path, b) in &out.0 {
            put(path, b);
        }
        put("png/masks/y.png", &bytes);
        put("png/images/y.png", &bytes);
        put("png/Extra Set/masks/x.png", &bytes);
        put("png/Extra Set/images/x.png", &bytes);
        let back = MaskFormat::PNG.read(store.path()).unwrap();
        let got: Vec<_> = back
            .chips
            .iter()
            .map(|c| {
                (
                    c.id.as_str(),
                    c.split.as_deref(),
                    c.mask.as_deref().unwrap().to_str().unwrap(),
                    c.image.to_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("y", None, "masks/y.png", "images/y.png"),
                ("x", None, "train/masks/x.png", "train/images/x.png"),
                ("z", None, "train/masks/z.png", "train/images/z.png"),
                ("val_y", Some("val"), "val/masks/y.png", "val/images/y.png"),
                (
                    "extra_set_x",
                    Some("extra_set"),
                    "Extra Set/masks/x.png",
                    "Extra Set/images/x.png"
                ),
            ]
        );
        assert_eq!(back.classes[0].name, "a \"b\"");
    }
}
