//! Semantic-segmentation masks: one single-band 8-bit image per stored
//! chip, the chip's size, pixel value = class id, 0 = background,
//! 255 = ignore. Formats `png`, `gif`, `bmp` (palette images with the class
//! colours), `tiff` (gray, no georeferencing) and `geotiff` (gray, with the
//! chip's geotransform and CRS).
//!
//! Layout of format `F` (`png`, `tiff`, `geotiff`, `gif`, `bmp`) in a store,
//! as mmsegmentation-style loaders pair images and annotations by name:
//!
//! ```text
//! F/images/<chip id>.<ext>   the chip (a hard link to chips/…)
//! F/masks/<chip id>.<ext>    its class mask (.png, .tif, .tif, .gif, .bmp)
//! F/classes.csv              id,name,color: 0 background, the classes, 255 ignore
//! ```
//!
//! A chip's mask comes from its mask file (checked when the project is
//! resolved) or from its polygons, rasterized as GDAL does, later labels
//! over earlier ones; a chip saved empty gets an all-background mask.
//! Palettes: a class's own colour, else the Pascal VOC colour map's entry
//! for its id (which also gives 0 black and 255 the VOC "void" colour).
//! BMP masks are always 8-bit indexed (the 1-bit form is not used).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use labels_model::{
    Chip, ChipGeoref, Class, Error, Fidelity, LabelFormat, LabelWriter, LabelingType, Output,
    Project, Result, Rgb,
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

    fn writer(&self, header: &Project) -> Box<dyn LabelWriter> {
        Box::new(MaskWriter {
            format: *self,
            palette: palette(&header.classes),
            classes: header.classes.clone(),
            base_dir: header.base_dir.clone(),
        })
    }

    fn read(&self, root: &Path) -> Result<Project> {
        read_masks(*self, root)
    }

    /// Polygons come back as the mask they were painted into; the pixels
    /// and the classes (ids, names, colours) survive exactly.
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
}

impl LabelWriter for MaskWriter {
    fn write_chip(&mut self, chip: &Chip, georef: &ChipGeoref, out: &mut dyn Output) -> Result<()> {
        let band = class_mask(chip, &self.base_dir)?;
        let bytes = self
            .format
            .encode(&band, &self.palette, georef)
            .map_err(|e| Error::invalid(&chip.image, Some(&chip.id), "mask", e))?;
        let folder = self.format.name();
        let io = |source| Error::Io {
            path: PathBuf::from(folder),
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
        out.put(&format!("{folder}/classes.csv"), csv.into_bytes())
            .map_err(|source| Error::Io {
                path: PathBuf::from(folder),
                source,
            })
    }
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
    let masks_dir = dir.join("masks");
    let images_dir = dir.join("images");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&masks_dir)
        .map_err(|source| Error::Io {
            path: masks_dir.clone(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    let images: Vec<PathBuf> = std::fs::read_dir(&images_dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    let mut chips = Vec::new();
    for mask in entries {
        let Some(id) = mask.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
            continue;
        };
        let bytes = labels_model::read_regular(&mask).map_err(|source| Error::Io {
            path: mask.clone(),
            source,
        })?;
        let band = decode_band8(&bytes, &mask.display().to_string())
            .map_err(|e| Error::invalid(&mask, Some(&id), "mask", e.to_string()))?;
        let image = images
            .iter()
            .find(|p| p.file_stem().is_some_and(|s| s.to_string_lossy() == id))
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
}
