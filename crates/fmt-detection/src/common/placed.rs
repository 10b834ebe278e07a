//! The chip images COCO, VOC, YOLO and KITTI place beside their labels,
//! in the file type the caller chose ([`ChipFormat`]): the one place that
//! re-encodes a chip, so the four formats place the same bytes.
//!
//! - `Keep`: the stored chip, aliased as it is.
//! - `Png`: a PNG chip aliased as it is; a GIF as a palette PNG of its
//!   first frame ([`gif_to_png`], palette and transparent index kept);
//!   any other chip decoded (`raster_georef::decode_image`) and written as
//!   a PNG of the same samples: gray, gray and alpha, RGB, RGBA or palette,
//!   1 to 16 bits.
//! - `Jpeg`: a JPEG chip aliased as it is, and the JPEG stream a GeoTIFF
//!   chip wraps (a JPEG georeferenced by a world file) placed as it is, so
//!   a JPEG is never encoded twice; any other chip decoded, its palette
//!   expanded to RGB, its alpha dropped, gray samples under 8 bits scaled
//!   to 0-255, and encoded by `jpeg-encoder` at the quality asked.
//!
//! What cannot be placed (16-bit samples as JPEG, more than four bands,
//! samples that are not unsigned integers) is refused from the header
//! alone by [`check_placeable`], which the store runs on every chip before
//! writing anything (`check_placeable`); the writers refuse it again if it comes to them.
//! The encoders are deterministic: the same chip gives the same bytes.

use std::path::Path;

use labels_model::{Chip, ChipFormat, Error, Output, Result};
use raster_georef::{Color, DecodedImage, Samples};

/// A chip image placed beside the labels.
#[derive(Debug)]
pub(crate) struct Placed {
    /// Its file name (`<chip id>.<ext>`), which the labels name.
    pub(crate) name: String,
    /// It was re-encoded (not the bytes of a stored chip, nor of the JPEG
    /// a stored GeoTIFF wraps).
    pub(crate) converted: bool,
}

/// The file name under which [`place_image`] places the image of chip
/// `id`: `<id>.<keep_ext>` when it is kept (`<id>` alone without an
/// extension), `<id>.png` or `<id>.jpg` otherwise.
pub(crate) fn placed_name(id: &str, keep_ext: &str, choice: ChipFormat) -> String {
    match choice {
        ChipFormat::Png => format!("{id}.png"),
        ChipFormat::Jpeg { .. } => format!("{id}.jpg"),
        _ if keep_ext.is_empty() => id.to_owned(),
        _ => format!("{id}.{keep_ext}"),
    }
}

/// Places the image of `chip` (the stored file `chip.image`) in the folder
/// `dir` as `choice` says: `<chip id>.<keep_ext>` when it is kept, `.png`
/// or `.jpg` otherwise.
pub(crate) fn place_image(
    chip: &Chip,
    dir: &str,
    keep_ext: &str,
    choice: ChipFormat,
    out: &mut dyn Output,
) -> Result<Placed> {
    let stored = chip.image.to_string_lossy().replace('\\', "/");
    let io = |path: &str| {
        let path = path.to_owned();
        move |source| Error::Io {
            path: path.into(),
            source,
        }
    };
    let bad = |m: String| Error::invalid(&chip.image, Some(&chip.id), "image", m);
    let name = placed_name(&chip.id, keep_ext, choice);
    let path = format!("{dir}/{name}");
    let alias = |out: &mut dyn Output| -> Result<Placed> {
        out.alias(&path, &stored).map_err(io(&path))?;
        Ok(Placed {
            name: name.clone(),
            converted: false,
        })
    };
    let bytes = match choice {
        ChipFormat::Png | ChipFormat::Jpeg { .. } => out.read(&stored).map_err(io(&stored))?,
        _ => return alias(out),
    };
    // A JPEG a GeoTIFF wraps is placed as it is, not encoded again.
    let mut converted = true;
    let encoded = match choice {
        ChipFormat::Jpeg { .. } if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) => return alias(out),
        ChipFormat::Png if bytes.starts_with(b"\x89PNG") => return alias(out),
        ChipFormat::Png if bytes.starts_with(b"GIF8") => gif_to_png(&bytes).map_err(bad)?,
        ChipFormat::Jpeg { .. } if raster_georef::wrapped_jpeg(&bytes).is_some() => {
            converted = false;
            raster_georef::wrapped_jpeg(&bytes)
                .unwrap_or_default()
                .to_vec()
        }
        _ => {
            let image = raster_georef::decode_image(&bytes, "").map_err(|e| match e {
                raster_georef::Error::Pixels { message, .. } => bad(message),
                other => bad(other.to_string()),
            })?;
            match choice {
                ChipFormat::Jpeg { quality } => encode_jpeg(&image, quality),
                _ => encode_png(&image),
            }
            .map_err(bad)?
        }
    };
    out.put(&path, encoded).map_err(io(&path))?;
    Ok(Placed { name, converted })
}

/// Whether the chip image at `path` (the project's file, before it is
/// stored) can be placed beside the labels of COCO, VOC, YOLO and KITTI as
/// `choice` says, from its header alone: the store checks every chip with
/// it before writing anything. The message says why not (the caller names
/// the file and the chip). A PNG chip placed as PNG and a JPEG chip placed
/// as JPEG are placed as they are.
pub fn check_placeable(path: &Path, choice: ChipFormat) -> std::result::Result<(), String> {
    let target = match choice {
        ChipFormat::Png => "PNG",
        ChipFormat::Jpeg { .. } => "JPEG",
        _ => return Ok(()),
    };
    let mut head = [0u8; 8];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .map_err(|e| format!("cannot read the image: {e}"))?;
    match (target, &head[..n]) {
        ("JPEG", [0xFF, 0xD8, 0xFF, ..]) | ("PNG", [0x89, b'P', b'N', b'G', ..]) => return Ok(()),
        _ => {}
    }
    let samples = raster_georef::read_samples(path).map_err(|e| match e {
        raster_georef::Error::Pixels { message, .. } => message,
        other => other.to_string(),
    })?;
    let Samples {
        bits,
        samples: n,
        unsigned,
        palette,
    } = samples;
    let jpeg = head.starts_with(&[0xFF, 0xD8, 0xFF]);
    if jpeg && (bits != 8 || !matches!(n, 1 | 3)) {
        return Err(format!(
            "a JPEG of {n} components of {bits} bits (CMYK, 12-bit) is not decoded here"
        ));
    }
    if !unsigned {
        return Err(format!(
            "its samples are not unsigned integers, which a {target} cannot hold"
        ));
    }
    if n > 4 {
        return Err(format!(
            "it has {n} bands; a {target} holds at most 4 (gray, gray and alpha, RGB, RGBA)"
        ));
    }
    if !matches!(bits, 1 | 2 | 4 | 8 | 16) || (palette && bits > 8) {
        return Err(format!(
            "its {bits}-bit samples cannot be written as a {target}"
        ));
    }
    if target == "JPEG" && bits > 8 && !palette {
        return Err(format!(
            "a JPEG holds 8-bit samples and this chip has {bits}-bit ones (a PNG can hold them)"
        ));
    }
    Ok(())
}

/// A PNG of the samples of `image`, as they are.
fn encode_png(image: &DecodedImage) -> std::result::Result<Vec<u8>, String> {
    let fail = |e: png::EncodingError| format!("cannot write the PNG: {e}");
    let mut bytes = Vec::new();
    let mut enc = png::Encoder::new(&mut bytes, image.width, image.height);
    let color = match &image.color {
        Color::Gray => png::ColorType::Grayscale,
        Color::GrayAlpha => png::ColorType::GrayscaleAlpha,
        Color::Rgb => png::ColorType::Rgb,
        Color::Rgba => png::ColorType::Rgba,
        Color::Palette(palette) => {
            let mut plte: Vec<u8> = palette.iter().flatten().copied().collect();
            // Every index has an entry (black past a short palette).
            plte.resize(plte.len().max(3 << image.bits), 0);
            enc.set_palette(plte);
            png::ColorType::Indexed
        }
        _ => return Err("an image layout PNG cannot hold".into()),
    };
    enc.set_color(color);
    enc.set_depth(match image.bits {
        1 => png::BitDepth::One,
        2 => png::BitDepth::Two,
        4 => png::BitDepth::Four,
        8 => png::BitDepth::Eight,
        16 => png::BitDepth::Sixteen,
        b => return Err(format!("{b}-bit samples cannot be written as a PNG")),
    });
    let mut w = enc.write_header().map_err(fail)?;
    let size = image.line() * image.height as usize;
    w.write_image_data(&image.data[..size]).map_err(fail)?;
    w.finish().map_err(fail)?;
    Ok(bytes)
}

/// A JPEG of `image` at `quality`: gray stays gray, everything else is RGB
/// (palette expanded, alpha dropped).
fn encode_jpeg(image: &DecodedImage, quality: u8) -> std::result::Result<Vec<u8>, String> {
    if image.bits > 8 {
        return Err(format!(
            "a JPEG holds 8-bit samples and this chip has {}-bit ones (a PNG can hold them)",
            image.bits
        ));
    }
    let (Ok(w), Ok(h)) = (u16::try_from(image.width), u16::try_from(image.height)) else {
        return Err(format!(
            "a {}x{} chip is too large for a JPEG (at most 65535 pixels a side)",
            image.width, image.height
        ));
    };
    let (width, bits) = (image.width as usize, usize::from(image.bits));
    let samples = image.color.samples();
    let max = (1u16 << bits) - 1;
    let mut pixels = Vec::with_capacity(width * image.height as usize * 3);
    for row in image.data.chunks(image.line()).take(image.height as usize) {
        for x in 0..width {
            let sample = |s: usize| -> u8 {
                let bit = (x * samples + s) * bits;
                (row[bit / 8] >> (8 - bits - bit % 8)) & (max as u8)
            };
            match &image.color {
                Color::Palette(p) => {
                    pixels.extend(p.get(usize::from(sample(0))).unwrap_or(&[0, 0, 0]));
                }
                // Gray under 8 bits spans 0-255 as viewers show it.
                Color::Gray | Color::GrayAlpha => {
                    pixels.push(((u16::from(sample(0)) * 255) / max) as u8);
                }
                _ => pixels.extend((0..3).map(sample)),
            }
        }
    }
    let gray = matches!(image.color, Color::Gray | Color::GrayAlpha);
    let color = if gray {
        jpeg_encoder::ColorType::Luma
    } else {
        jpeg_encoder::ColorType::Rgb
    };
    let mut bytes = Vec::new();
    jpeg_encoder::Encoder::new(&mut bytes, quality)
        .encode(&pixels, w, h, color)
        .map_err(|e| format!("cannot write the JPEG: {e}"))?;
    Ok(bytes)
}

/// The first frame of a GIF as a palette PNG of the same pixels: the
/// frame's (or the global) palette as `PLTE`, its transparent index as
/// `tRNS`. Pixels of the logical screen outside the first frame take the
/// transparent index, else the background colour. Decoded by the `gif`
/// crate, encoded by the `png` crate.
pub(crate) fn gif_to_png(bytes: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let bad = |e: &dyn std::fmt::Display| format!("cannot convert the GIF chip to PNG: {e}");
    let mut opts = gif::DecodeOptions::new();
    opts.set_color_output(gif::ColorOutput::Indexed);
    let mut dec = opts.read_info(bytes).map_err(|e| bad(&e))?;
    let (w, h) = (usize::from(dec.width()), usize::from(dec.height()));
    let bg = dec.bg_color().unwrap_or(0);
    let global = dec.global_palette().map(<[u8]>::to_vec);
    let frame = dec
        .read_next_frame()
        .map_err(|e| bad(&e))?
        .ok_or_else(|| bad(&"it has no frame"))?;
    let mut palette = frame
        .palette
        .clone()
        .or(global)
        .ok_or_else(|| bad(&"it has no palette"))?;
    let fill = frame.transparent.unwrap_or(u8::try_from(bg).unwrap_or(0));
    let mut pixels = vec![fill; w * h];
    let (fw, fh) = (usize::from(frame.width), usize::from(frame.height));
    let (left, top) = (usize::from(frame.left), usize::from(frame.top));
    for y in 0..fh.min(h.saturating_sub(top)) {
        let n = fw.min(w.saturating_sub(left));
        let row = &frame.buffer[y * fw..y * fw + n];
        pixels[(top + y) * w + left..(top + y) * w + left + n].copy_from_slice(row);
    }
    // Every index used has a palette entry (black past a short palette).
    let used = usize::from(pixels.iter().copied().max().unwrap_or(0)) + 1;
    if palette.len() < used * 3 {
        palette.resize(used * 3, 0);
    }
    let mut png_bytes = Vec::new();
    let (pw, ph) = (
        u32::try_from(w).map_err(|e| bad(&e))?,
        u32::try_from(h).map_err(|e| bad(&e))?,
    );
    let mut enc = png::Encoder::new(&mut png_bytes, pw, ph);
    enc.set_color(png::ColorType::Indexed);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_palette(palette);
    if let Some(t) = frame.transparent {
        let mut trns = vec![255u8; usize::from(t) + 1];
        trns[usize::from(t)] = 0;
        enc.set_trns(trns);
    }
    let mut writer = enc.write_header().map_err(|e| bad(&e))?;
    writer.write_image_data(&pixels).map_err(|e| bad(&e))?;
    writer.finish().map_err(|e| bad(&e))?;
    Ok(png_bytes)
}

#[cfg(test)]
mod tests {
    use labels_model::MemoryOutput;

    use super::*;

    fn rgba_png(w: u32, h: u32) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut enc = png::Encoder::new(&mut bytes, w, h);
        enc.set_color(png::ColorType::Rgba);
        let mut writer = enc.write_header().unwrap();
        let data: Vec<u8> = (0..w * h * 4).map(|i| (i * 7 % 256) as u8).collect();
        writer.write_image_data(&data).unwrap();
        writer.finish().unwrap();
        bytes
    }

    #[test]
    fn check_placeable_reads_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let cmyk = dir.path().join("cmyk.jpg");
        let mut bytes = Vec::new();
        jpeg_encoder::Encoder::new(&mut bytes, 90)
            .encode(&[10; 8 * 8 * 4], 8, 8, jpeg_encoder::ColorType::Cmyk)
            .unwrap();
        std::fs::write(&cmyk, &bytes).unwrap();
        let e = check_placeable(&cmyk, ChipFormat::Png).unwrap_err();
        assert!(e.contains("4 components"), "{e}");
        // A JPEG placed as JPEG is placed as it is, whatever it holds.
        assert_eq!(
            check_placeable(&cmyk, ChipFormat::Jpeg { quality: 90 }),
            Ok(())
        );
        let png = dir.path().join("rgba.png");
        std::fs::write(&png, rgba_png(3, 2)).unwrap();
        assert_eq!(
            check_placeable(&png, ChipFormat::Jpeg { quality: 90 }),
            Ok(())
        );
        assert_eq!(check_placeable(&png, ChipFormat::Keep), Ok(()));
    }

    #[test]
    fn an_rgba_png_placed_as_jpeg_is_encoded_once_and_named_jpg() {
        let mut out = MemoryOutput::default();
        out.0.insert("chips/a.png".into(), rgba_png(5, 4));
        let chip = Chip::new("a", "chips/a.png");
        let jpeg = ChipFormat::Jpeg { quality: 80 };
        let placed = place_image(&chip, "voc/JPEGImages", "png", jpeg, &mut out).unwrap();
        assert_eq!(placed.name, "a.jpg");
        assert!(placed.converted);
        let bytes = out.0["voc/JPEGImages/a.jpg"].clone();
        assert!(bytes.starts_with(&[0xFF, 0xD8, 0xFF]));
        // The same chip gives the same bytes.
        place_image(&chip, "again", "png", jpeg, &mut out).unwrap();
        assert_eq!(out.0["again/a.jpg"], bytes);
        // As PNG, a PNG chip is placed as it is.
        let placed = place_image(&chip, "coco", "png", ChipFormat::Png, &mut out).unwrap();
        assert!(!placed.converted);
        assert_eq!(out.0["coco/a.png"], out.0["chips/a.png"]);
        assert_eq!(placed_name("a", "", ChipFormat::Keep), "a");
    }
}
