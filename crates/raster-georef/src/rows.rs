//! Decoding PNG, GIF and BMP images row by row, top row first.
//!
//! A converted chip never needs its whole decoded image: rows are decoded
//! as the strips of the GeoTIFF are filled, so memory holds a strip, not the
//! image. Only an interlaced PNG (Adam7) or GIF stores its rows out of
//! order; those are decoded whole, and [`working_memory`] says so.

use std::io::{BufRead, Read, Seek, SeekFrom};

/// Rows of a strip hold about this many bytes before compression.
pub(crate) const STRIP_BYTES: usize = 256 * 1024;

/// What describes an image's decoded, packed rows.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) bits: u8,
    pub(crate) samples: u16,
    pub(crate) photometric: u16,
    pub(crate) alpha: bool,
    /// 8-bit RGB entries of a palette, for photometric 3.
    pub(crate) palette: Option<Vec<[u8; 3]>>,
    pub(crate) nodata: Option<String>,
    /// Bytes of one packed row, samples little-endian.
    pub(crate) line: usize,
}

impl Layout {
    /// Rows per strip of the GeoTIFF: about [`STRIP_BYTES`] each, at least one.
    pub(crate) fn rows_per_strip(&self) -> usize {
        (STRIP_BYTES / self.line.max(1)).max(1)
    }
}

/// Decoded rows of an image, handed out in order, top row first.
pub(crate) trait Rows {
    /// Fills `buf`, a whole number of rows of `line` bytes, with the next
    /// rows.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), String>;

    /// Checks what follows the last row (called once every row is read).
    fn finish(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// An image whose rows are decoded already.
pub(crate) struct Decoded {
    data: Vec<u8>,
    at: usize,
}

impl Decoded {
    pub(crate) fn new(data: Vec<u8>) -> Decoded {
        Decoded { data, at: 0 }
    }
}

impl Rows for Decoded {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), String> {
        let src = self
            .data
            .get(self.at..self.at + buf.len())
            .ok_or("fewer rows than the image's height")?;
        buf.copy_from_slice(src);
        self.at += buf.len();
        Ok(())
    }
}

/// Reads every row into one buffer (for masks, which are used whole).
pub(crate) fn read_all(layout: &Layout, rows: &mut dyn Rows) -> Result<Vec<u8>, String> {
    let size = layout
        .line
        .checked_mul(layout.height as usize)
        .ok_or("the image is too large to decode")?;
    let mut data = vec![0u8; size];
    rows.fill(&mut data)?;
    rows.finish()?;
    Ok(data)
}

/// Memory that converting an image holds at once apart from its output,
/// in bytes: buffers of the decoder and the compressor, rows being
/// compressed, and the whole decoded image when its rows come out of order.
pub(crate) fn working_memory(layout: &Layout, whole: bool) -> u64 {
    /// Decoder and compressor state (zlib windows, hash tables, buffers).
    const STATE: u64 = 1 << 20;
    let line = layout.line as u64;
    let strip = (layout.rows_per_strip() as u64).saturating_mul(line);
    let image = if whole {
        line.saturating_mul(u64::from(layout.height))
    } else {
        0
    };
    // A strip and its compressed copy, a few rows inside the decoder.
    STATE
        .saturating_add(strip.saturating_mul(2))
        .saturating_add(line.saturating_mul(3))
        .saturating_add(image)
}

/// A PNG's rows: decoded as asked when the PNG is not interlaced, whole
/// otherwise.
pub(crate) struct PngRows<R: BufRead + Seek> {
    reader: png::Reader<R>,
    whole: Option<Decoded>,
    swap16: bool,
    line: usize,
}

fn png_fail(e: png::DecodingError) -> String {
    format!("corrupt PNG: {e}")
}

/// Reads a PNG's header: its layout, whether it is interlaced, and its rows.
pub(crate) fn png_rows<R: BufRead + Seek>(r: R) -> Result<(Layout, bool, PngRows<R>), String> {
    use png::ColorType as C;
    let mut dec = png::Decoder::new(r);
    dec.set_transformations(png::Transformations::IDENTITY);
    let reader = dec.read_info().map_err(png_fail)?;
    let info = reader.info();
    let (width, height, color, depth) = (info.width, info.height, info.color_type, info.bit_depth);
    let interlaced = info.interlaced;
    let palette = info.palette.as_ref().map(|p| {
        p.chunks_exact(3)
            .map(|c| [c[0], c[1], c[2]])
            .collect::<Vec<_>>()
    });
    let nodata = match (color, info.trns.as_deref()) {
        (C::Grayscale, Some([hi, lo])) => Some(u16::from_be_bytes([*hi, *lo]).to_string()),
        _ => None,
    };
    let line = reader
        .output_line_size(width)
        .ok_or("the PNG is too large to decode")?;
    let (samples, photometric, alpha) = match color {
        C::Grayscale => (1, 1, false),
        C::GrayscaleAlpha => (2, 1, true),
        C::Rgb => (3, 2, false),
        C::Rgba => (4, 2, true),
        C::Indexed => (1, 3, false),
    };
    let layout = Layout {
        width,
        height,
        bits: depth as u8,
        samples,
        photometric,
        alpha,
        palette: (color == C::Indexed).then(|| palette.unwrap_or_default()),
        nodata,
        line,
    };
    let rows = PngRows {
        reader,
        whole: None,
        swap16: depth == png::BitDepth::Sixteen,
        line,
    };
    Ok((layout, interlaced, rows))
}

impl<R: BufRead + Seek> Rows for PngRows<R> {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), String> {
        if self.reader.info().interlaced {
            if self.whole.is_none() {
                let size = self
                    .reader
                    .output_buffer_size()
                    .ok_or("the PNG is too large to decode")?;
                let mut data = vec![0u8; size];
                self.reader.next_frame(&mut data).map_err(png_fail)?;
                self.whole = Some(Decoded::new(data));
            }
            if let Some(whole) = &mut self.whole {
                whole.fill(buf)?;
            }
        } else {
            for row in buf.chunks_exact_mut(self.line) {
                self.reader
                    .read_row(row)
                    .map_err(png_fail)?
                    .ok_or("corrupt PNG: fewer rows than its height")?;
            }
        }
        if self.swap16 {
            swap16(buf);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), String> {
        if self.whole.is_none() {
            // Past the last row: the rest of the image data is consumed
            // and checked, as a whole-frame decode does.
            let mut spare = vec![0u8; self.line];
            if self
                .reader
                .read_row(&mut spare)
                .map_err(png_fail)?
                .is_some()
            {
                return Err("corrupt PNG: more rows than its height".into());
            }
        }
        Ok(())
    }
}

/// Swaps the bytes of every 16-bit sample (PNG's big-endian to the TIFF's
/// little-endian), four samples at a time.
fn swap16(buf: &mut [u8]) {
    const LOW: u64 = 0x00FF_00FF_00FF_00FF;
    let mut words = buf.chunks_exact_mut(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        let x = u64::from_ne_bytes(b);
        w.copy_from_slice(&(((x & LOW) << 8) | ((x >> 8) & LOW)).to_ne_bytes());
    }
    for s in words.into_remainder().chunks_exact_mut(2) {
        s.swap(0, 1);
    }
}

/// A GIF's first image on its logical screen, the background colour around
/// it; decoded as asked unless interlaced.
pub(crate) struct GifRows<R: Read> {
    dec: gif::Decoder<R>,
    width: usize,
    bg: u8,
    /// Left, top, width and height of the image on the screen.
    frame: (usize, usize, usize, usize),
    interlaced: bool,
    whole: Option<Vec<u8>>,
    row: Vec<u8>,
    y: usize,
}

fn gif_fail(e: gif::DecodingError) -> String {
    format!("corrupt GIF: {e}")
}

/// Reads a GIF's header up to its first image: its layout, whether the
/// image is interlaced, and its rows.
pub(crate) fn gif_rows<R: Read>(r: R) -> Result<(Layout, bool, GifRows<R>), String> {
    let mut opts = gif::DecodeOptions::new();
    opts.set_color_output(gif::ColorOutput::Indexed);
    let mut dec = opts.read_info(r).map_err(gif_fail)?;
    let (w, h) = (usize::from(dec.width()), usize::from(dec.height()));
    let global = dec.global_palette().map(<[u8]>::to_vec);
    let bg = dec
        .bg_color()
        .and_then(|c| u8::try_from(c).ok())
        .unwrap_or(0);
    let f = dec
        .next_frame_info()
        .map_err(gif_fail)?
        .ok_or("the GIF holds no image")?;
    let frame = (
        usize::from(f.left),
        usize::from(f.top),
        usize::from(f.width),
        usize::from(f.height),
    );
    let interlaced = f.interlaced;
    let palette = f
        .palette
        .clone()
        .or(global)
        .unwrap_or_default()
        .chunks_exact(3)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    let layout = Layout {
        width: u32::try_from(w).map_err(|_| "GIF too wide")?,
        height: u32::try_from(h).map_err(|_| "GIF too high")?,
        bits: 8,
        samples: 1,
        photometric: 3,
        alpha: false,
        palette: Some(palette),
        nodata: None,
        line: w,
    };
    let rows = GifRows {
        dec,
        width: w,
        bg,
        frame,
        interlaced,
        whole: None,
        row: Vec::new(),
        y: 0,
    };
    Ok((layout, interlaced, rows))
}

impl<R: Read> Rows for GifRows<R> {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), String> {
        let (fl, ft, fw, fh) = self.frame;
        let w = self.width;
        for out in buf.chunks_exact_mut(w.max(1)) {
            out.fill(self.bg);
            let y = self.y;
            self.y += 1;
            if y < ft || y - ft >= fh || fw == 0 {
                continue;
            }
            let r = y - ft;
            let row: &[u8] = if self.interlaced {
                if self.whole.is_none() {
                    // Rows come in four passes: the frame is decoded whole
                    // (and put in order) by the gif crate.
                    let mut all = vec![0u8; fw * fh];
                    self.dec.read_into_buffer(&mut all).map_err(gif_fail)?;
                    self.whole = Some(all);
                }
                match &self.whole {
                    Some(all) => &all[r * fw..][..fw],
                    None => continue,
                }
            } else {
                self.row.resize(fw, 0);
                if !self.dec.fill_buffer(&mut self.row).map_err(gif_fail)? {
                    return Err("corrupt GIF: image truncated".into());
                }
                &self.row
            };
            let n = fw.min(w.saturating_sub(fl));
            out[fl.min(w)..][..n].copy_from_slice(&row[..n]);
        }
        Ok(())
    }
}

/// A BMP's rows, read from the file a strip at a time (bottom-up BMPs
/// store their rows in reverse; a strip's rows are still contiguous).
pub(crate) struct BmpRows<R: Read + Seek> {
    r: R,
    data_at: u64,
    width: usize,
    height: usize,
    bits: u16,
    stride: usize,
    line: usize,
    top_down: bool,
    block: Vec<u8>,
    y: usize,
}

/// Reads a BMP's header and palette: its layout and its rows.
pub(crate) fn bmp_rows<R: Read + Seek>(mut r: R) -> Result<(Layout, BmpRows<R>), String> {
    let io = |e: std::io::Error| format!("cannot read the BMP: {e}");
    let file_len = r.seek(SeekFrom::End(0)).map_err(io)?;
    let mut head = [0u8; 54];
    r.seek(SeekFrom::Start(0)).map_err(io)?;
    let short = || "truncated BMP header".to_owned();
    read_exact_or(&mut r, &mut head, short)?;
    let u16_at = |i: usize| u16::from_le_bytes([head[i], head[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
    let data_at = u64::from(u32_at(10));
    let header = u32_at(14) as usize;
    if header < 40 {
        return Err("OS/2 BMP headers are not supported".into());
    }
    let width = u32_at(18) as i32;
    let raw_height = u32_at(22) as i32;
    let bits = u16_at(28);
    let compression = u32_at(30);
    let colours = u32_at(46) as usize;
    if compression != 0 && !(compression == 3 && bits == 32) {
        return Err(format!("BMP compression {compression} is not supported"));
    }
    if width <= 0 || raw_height == 0 {
        return Err("BMP with an empty size".into());
    }
    let (w, h) = (width as usize, raw_height.unsigned_abs() as usize);
    let stride = (w * usize::from(bits)).div_ceil(32) * 4;
    let end = (stride as u64)
        .checked_mul(h as u64)
        .and_then(|n| n.checked_add(data_at))
        .ok_or_else(short)?;
    if end > file_len {
        return Err("truncated BMP pixel data".into());
    }
    let (samples, photometric, line, palette) = match bits {
        1 | 4 | 8 => {
            let n = if colours == 0 {
                1 << bits
            } else {
                colours.min(1 << bits)
            };
            let mut table = vec![0u8; 4 * n];
            r.seek(SeekFrom::Start(14 + header as u64)).map_err(io)?;
            read_exact_or(&mut r, &mut table, || "truncated BMP palette".to_owned())?;
            let palette = table.chunks_exact(4).map(|c| [c[2], c[1], c[0]]).collect();
            (1, 3, (w * usize::from(bits)).div_ceil(8), Some(palette))
        }
        24 | 32 => (3, 2, w * 3, None),
        other => return Err(format!("{other}-bit BMP is not supported")),
    };
    let layout = Layout {
        width: u32::try_from(w).map_err(|_| "BMP too wide")?,
        height: u32::try_from(h).map_err(|_| "BMP too high")?,
        bits: if bits >= 24 { 8 } else { bits as u8 },
        samples,
        photometric,
        alpha: false,
        palette,
        nodata: None,
        line,
    };
    let rows = BmpRows {
        r,
        data_at,
        width: w,
        height: h,
        bits,
        stride,
        line,
        top_down: raw_height < 0,
        block: Vec::new(),
        y: 0,
    };
    Ok((layout, rows))
}

fn read_exact_or<R: Read>(
    r: &mut R,
    buf: &mut [u8],
    short: impl Fn() -> String,
) -> Result<(), String> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => short(),
        _ => format!("cannot read the BMP: {e}"),
    })
}

impl<R: Read + Seek> Rows for BmpRows<R> {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), String> {
        let (w, stride, line) = (self.width, self.stride, self.line);
        let n = buf.len() / line.max(1);
        if self.y + n > self.height {
            return Err("fewer rows than the image's height".into());
        }
        // The stored rows of this strip, one contiguous block.
        let first = if self.top_down {
            self.y
        } else {
            self.height - self.y - n
        };
        self.block.resize(n * stride, 0);
        let at = self.data_at + (first * stride) as u64;
        self.r
            .seek(SeekFrom::Start(at))
            .map_err(|e| format!("cannot read the BMP: {e}"))?;
        read_exact_or(&mut self.r, &mut self.block, || {
            "truncated BMP pixel data".to_owned()
        })?;
        for (k, out) in buf.chunks_exact_mut(line.max(1)).enumerate() {
            let src = if self.top_down { k } else { n - 1 - k };
            let row = &self.block[src * stride..][..stride];
            match self.bits {
                24 | 32 => {
                    let step = usize::from(self.bits / 8);
                    for (px, o) in row[..w * step]
                        .chunks_exact(step)
                        .zip(out.chunks_exact_mut(3))
                    {
                        o.copy_from_slice(&[px[2], px[1], px[0]]);
                    }
                }
                _ => out.copy_from_slice(&row[..line]),
            }
        }
        self.y += n;
        Ok(())
    }
}
