//! Checking a chip image's structure without decoding its pixels.
//!
//! A chip that is copied as it is (no georeferencing to add) or wrapped into
//! a GeoTIFF without decoding (a TIFF's strips, a JPEG stream) is never
//! decoded by labelstore, so a file cut short or with broken tags would be
//! stored as if it were sound, and the tools that load the store would fail
//! on it. [`check_structure`] walks the file's structure instead, which is a
//! linear scan at most:
//!
//! - JPEG: markers from SOI through the frame header and SOS to EOI, every
//!   segment length inside the file, the entropy-coded data ending with EOI;
//! - PNG: the signature, IHDR first, every chunk inside the file, an IDAT,
//!   IEND; with [`Depth::Full`] every chunk's CRC too;
//! - TIFF: the first directory, the tags every reader needs (sizes,
//!   SamplesPerPixel, BitsPerSample, strip or tile layout) sane, and every
//!   strip or tile inside the file;
//! - GIF: the header, the colour tables and every block inside the file, at
//!   least one image;
//! - BMP: the headers, the palette and the pixel data inside the file.

use std::io::{BufRead, Read, Seek, SeekFrom};

use crate::chip::{Kind, sniff};
use crate::tiffio::{parse_from, tag};
use crate::{Error, Result};

/// How much of a file [`check_structure`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Depth {
    /// Headers, chunk and segment lengths, and the end of the file: enough
    /// for a chip that is then decoded, or wrapped as it is, at little more
    /// than the cost of reading its headers. A JPEG not ending with its EOI
    /// marker is scanned whole.
    Headers,
    /// Every byte as well: PNG chunk CRCs, a JPEG's entropy-coded data
    /// scanned to its EOI marker. For chips copied byte for byte.
    Full,
}

/// The most samples per pixel a TIFF chip may have. Hyperspectral images
/// have a few hundred bands; 65535 is a broken tag.
pub const MAX_SAMPLES_PER_PIXEL: u64 = 4096;

/// Checks the structure of the image read from `src` (PNG, JPEG, TIFF, GIF
/// or BMP, told by content) without decoding its pixels, and returns the
/// width and height its header gives (a top-down BMP's height positive).
/// `file` names it in the error, a [`Error::Corrupt`] saying what is wrong
/// and where.
pub fn check_structure<R: BufRead + Seek>(
    mut src: R,
    file: &str,
    depth: Depth,
) -> Result<(u64, u64)> {
    let err = |message: String| Error::Corrupt {
        file: file.to_owned(),
        message,
    };
    let io = |e: std::io::Error| err(format!("cannot read the file: {e}"));
    // The length and the last two bytes (a JPEG's EOI) with one seek.
    let (len, tail) = match src.seek(SeekFrom::End(-2)) {
        Ok(at) => {
            let mut tail = [0u8; 2];
            src.read_exact(&mut tail).map_err(io)?;
            (at + 2, Some(tail))
        }
        // Shorter than two bytes.
        Err(_) => (src.seek(SeekFrom::End(0)).map_err(io)?, None),
    };
    src.seek(SeekFrom::Start(0)).map_err(io)?;
    // Told from the buffer, not consumed: no seek back, no second read.
    let head = src.fill_buf().map_err(io)?;
    let kind = sniff(&head[..head.len().min(8)])
        .ok_or_else(|| err("not a PNG, JPEG, TIFF, GIF or BMP image".to_owned()))?;
    if kind == Kind::Tiff {
        return tiff(&mut src, len).map_err(|m| err(format!("corrupt TIFF image: {m}")));
    }
    let mut s = Src {
        r: src,
        len,
        pos: 0,
        tail,
    };
    let (name, checked) = match kind {
        Kind::Jpeg => ("JPEG", jpeg(&mut s, depth)),
        Kind::Png => ("PNG", png(&mut s, depth)),
        Kind::Gif => ("GIF", gif(&mut s)),
        Kind::Bmp | Kind::Tiff => ("BMP", bmp(&mut s)),
    };
    checked.map_err(|m| err(format!("corrupt {name} image: {m}")))
}

/// A reader that knows its position and the file's length.
struct Src<R> {
    r: R,
    len: u64,
    pos: u64,
    /// The file's last two bytes.
    tail: Option<[u8; 2]>,
}

type Check<T = ()> = std::result::Result<T, String>;

/// Width and height.
type Size = (u64, u64);

impl<R: BufRead + Seek> Src<R> {
    fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    fn cut(&self, what: &str) -> String {
        format!(
            "cut short: {what} at offset {} runs past the end of the file ({} bytes)",
            self.pos, self.len
        )
    }

    fn bytes<const N: usize>(&mut self, what: &str) -> Check<[u8; N]> {
        let mut b = [0u8; N];
        if self.remaining() < N as u64 {
            return Err(self.cut(what));
        }
        self.r
            .read_exact(&mut b)
            .map_err(|e| format!("cannot read the file: {e}"))?;
        self.pos += N as u64;
        Ok(b)
    }

    fn u8(&mut self, what: &str) -> Check<u8> {
        self.bytes::<1>(what).map(|[b]| b)
    }

    fn skip(&mut self, n: u64, what: &str) -> Check {
        if self.remaining() < n {
            return Err(self.cut(what));
        }
        let by = i64::try_from(n).map_err(|_| self.cut(what))?;
        self.r
            .seek_relative(by)
            .map_err(|e| format!("cannot read the file: {e}"))?;
        self.pos += n;
        Ok(())
    }

    /// Feeds the next `n` bytes to `f`, without holding them all at once.
    fn stream(&mut self, mut n: u64, what: &str, f: &mut dyn FnMut(&[u8])) -> Check {
        if self.remaining() < n {
            return Err(self.cut(what));
        }
        while n > 0 {
            let buf = self
                .r
                .fill_buf()
                .map_err(|e| format!("cannot read the file: {e}"))?;
            if buf.is_empty() {
                return Err(self.cut(what));
            }
            let k = buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
            f(&buf[..k]);
            self.r.consume(k);
            self.pos += k as u64;
            n -= k as u64;
        }
        Ok(())
    }

    /// Scans entropy-coded data for the next marker (byte-stuffed 0xFF00
    /// and restart markers are data) and returns it.
    fn next_marker_in_scan(&mut self) -> Check<u8> {
        let no_eoi = "cut short: the image data ends without an end-of-image (EOI) marker";
        loop {
            let buf = self
                .r
                .fill_buf()
                .map_err(|e| format!("cannot read the file: {e}"))?;
            if buf.is_empty() {
                return Err(no_eoi.to_owned());
            }
            let Some(i) = buf.iter().position(|&b| b == 0xFF) else {
                let k = buf.len();
                self.r.consume(k);
                self.pos += k as u64;
                continue;
            };
            self.r.consume(i + 1);
            self.pos += i as u64 + 1;
            let mut m = self.u8("a marker").map_err(|_| no_eoi.to_owned())?;
            while m == 0xFF {
                m = self.u8("a marker").map_err(|_| no_eoi.to_owned())?;
            }
            if m != 0 && !(0xD0..=0xD7).contains(&m) {
                return Ok(m);
            }
        }
    }
}

fn jpeg<R: BufRead + Seek>(s: &mut Src<R>, depth: Depth) -> Check<Size> {
    if s.bytes::<2>("the start-of-image marker")? != [0xFF, 0xD8] {
        return Err("no start-of-image (SOI) marker".into());
    }
    let (mut frame, mut scans) = (None, 0u32);
    loop {
        let at = s.pos;
        let m = if scans > 0 {
            s.next_marker_in_scan()?
        } else {
            let [ff, mut m] = s.bytes::<2>("a marker")?;
            if ff != 0xFF {
                return Err(format!(
                    "expected a marker at offset {at}, found byte 0x{ff:02X}"
                ));
            }
            while m == 0xFF {
                m = s.u8("a marker")?;
            }
            m
        };
        match m {
            0xD9 if scans > 0 => return frame.ok_or_else(|| "no frame header".to_owned()),
            0xD9 => {
                return Err(format!(
                    "end of image (EOI) at offset {at} before any image data"
                ));
            }
            0xD8 => {
                return Err(format!(
                    "a second start-of-image (SOI) marker at offset {at}"
                ));
            }
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let len = u64::from(u16::from_be_bytes(s.bytes::<2>("a segment length")?));
        if len < 2 {
            return Err(format!(
                "marker 0x{m:02X} at offset {at} has a segment length of {len}"
            ));
        }
        let what = format!("a segment (marker 0x{m:02X}) of {len} bytes");
        let body = len - 2;
        if s.remaining() < body {
            return Err(format!(
                "cut short: {what} at offset {at} runs past the end of the file ({} bytes)",
                s.len
            ));
        }
        match m {
            0xC0..=0xCF if !matches!(m, 0xC4 | 0xC8 | 0xCC) => {
                let [_precision, h0, h1, w0, w1, nc] = s.bytes::<6>(&what)?;
                if u16::from_be_bytes([w0, w1]) == 0 || nc == 0 || body != 6 + 3 * u64::from(nc) {
                    return Err(format!(
                        "the frame header at offset {at} says width {}, {nc} components, in {len} bytes",
                        u16::from_be_bytes([w0, w1])
                    ));
                }
                s.skip(body - 6, &what)?;
                frame = Some((
                    u64::from(u16::from_be_bytes([w0, w1])),
                    u64::from(u16::from_be_bytes([h0, h1])),
                ));
            }
            0xDA => {
                let Some(size) = frame else {
                    return Err(format!("a scan at offset {at} before any frame header"));
                };
                let ns = s.u8(&what)?;
                if ns == 0 || body != 4 + 2 * u64::from(ns) {
                    return Err(format!(
                        "the scan header at offset {at} has {ns} components in {len} bytes"
                    ));
                }
                s.skip(body - 1, &what)?;
                scans += 1;
                // A whole JPEG ends with EOI; one that does not (cut
                // short, or with bytes after its EOI) is scanned.
                if scans == 1 && depth == Depth::Headers && s.tail == Some([0xFF, 0xD9]) {
                    return Ok(size);
                }
            }
            _ => s.skip(body, &what)?,
        }
    }
}

fn png<R: BufRead + Seek>(s: &mut Src<R>, depth: Depth) -> Check<Size> {
    const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    if s.bytes::<8>("the signature")? != SIGNATURE {
        return Err("bad signature".into());
    }
    // IHDR comes first, and gives the size.
    let [l0, l1, l2, l3, t0, t1, t2, t3] = s.bytes::<8>("the IHDR chunk")?;
    let ty = [t0, t1, t2, t3];
    let len = u32::from_be_bytes([l0, l1, l2, l3]);
    if &ty != b"IHDR" || len != 13 {
        return Err(format!(
            "the first chunk is {:?} of {len} bytes, not IHDR of 13",
            String::from_utf8_lossy(&ty).escape_debug().to_string()
        ));
    }
    let ihdr = s.bytes::<13>("the IHDR chunk")?;
    let stored = u32::from_be_bytes(s.bytes::<4>("the IHDR chunk")?);
    if depth == Depth::Full {
        let mut crc = crc32fast::Hasher::new();
        crc.update(&ty);
        crc.update(&ihdr);
        if crc.finalize() != stored {
            return Err("chunk IHDR at offset 8: bad CRC".into());
        }
    }
    let size = (
        u64::from(u32::from_be_bytes([ihdr[0], ihdr[1], ihdr[2], ihdr[3]])),
        u64::from(u32::from_be_bytes([ihdr[4], ihdr[5], ihdr[6], ihdr[7]])),
    );
    let mut idat = false;
    loop {
        let at = s.pos;
        if s.remaining() == 0 {
            return Err(format!(
                "cut short: no IEND chunk at the end ({} bytes)",
                s.len
            ));
        }
        let len = u32::from_be_bytes(s.bytes::<4>("a chunk header")?);
        let ty = s.bytes::<4>("a chunk header")?;
        let name = String::from_utf8_lossy(&ty).into_owned();
        if !ty.iter().all(u8::is_ascii_alphabetic) || len > 0x7FFF_FFFF {
            return Err(format!(
                "a broken chunk header at offset {at} (type {:?}, length {len})",
                name.escape_debug().to_string()
            ));
        }
        let what = format!("chunk {name} of {len} bytes");
        if s.remaining() < u64::from(len) + 4 {
            return Err(format!(
                "cut short: {what} at offset {at} runs past the end of the file ({} bytes)",
                s.len
            ));
        }
        if depth == Depth::Full {
            let mut crc = crc32fast::Hasher::new();
            crc.update(&ty);
            s.stream(u64::from(len), &what, &mut |b| crc.update(b))?;
            let computed = crc.finalize();
            let stored = u32::from_be_bytes(s.bytes::<4>(&what)?);
            if stored != computed {
                return Err(format!(
                    "{what} at offset {at}: CRC {stored:08x} does not match its data ({computed:08x})"
                ));
            }
        } else {
            s.skip(u64::from(len) + 4, &what)?;
        }
        match &ty {
            b"IDAT" => idat = true,
            b"IEND" if idat => return Ok(size),
            b"IEND" => return Err("no image data (IDAT) before IEND".into()),
            _ => {}
        }
    }
}

fn gif<R: BufRead + Seek>(s: &mut Src<R>) -> Check<Size> {
    let header = s.bytes::<6>("the header")?;
    if &header != b"GIF87a" && &header != b"GIF89a" {
        return Err("not GIF87a or GIF89a".into());
    }
    let [w0, w1, h0, h1, flags, _, _] = s.bytes::<7>("the screen descriptor")?;
    let size = (
        u64::from(u16::from_le_bytes([w0, w1])),
        u64::from(u16::from_le_bytes([h0, h1])),
    );
    if flags & 0x80 != 0 {
        s.skip(3 << ((flags & 7) + 1), "the global colour table")?;
    }
    let mut images = 0;
    loop {
        let at = s.pos;
        if s.remaining() == 0 && images > 0 {
            return Ok(size); // Many writers leave out the trailer.
        }
        match s.u8("a block")? {
            0x3B if images > 0 => return Ok(size),
            0x3B => return Err("no image before the trailer".into()),
            0x21 => {
                s.u8("an extension")?;
                sub_blocks(s)?;
            }
            0x2C => {
                let d = s.bytes::<9>("an image descriptor")?;
                let (w, h) = (
                    u16::from_le_bytes([d[4], d[5]]),
                    u16::from_le_bytes([d[6], d[7]]),
                );
                if w == 0 || h == 0 {
                    return Err(format!("an image of {w}x{h} at offset {at}"));
                }
                if d[8] & 0x80 != 0 {
                    s.skip(3 << ((d[8] & 7) + 1), "a local colour table")?;
                }
                s.u8("the image data")?;
                sub_blocks(s)?;
                images += 1;
            }
            b => return Err(format!("unknown block 0x{b:02X} at offset {at}")),
        }
    }
}

/// Skips a chain of GIF data sub-blocks, through its terminator.
fn sub_blocks<R: BufRead + Seek>(s: &mut Src<R>) -> Check {
    loop {
        match s.u8("a data block")? {
            0 => return Ok(()),
            n => s.skip(u64::from(n), "a data block")?,
        }
    }
}

fn bmp<R: BufRead + Seek>(s: &mut Src<R>) -> Check<Size> {
    let h = s.bytes::<18>("the file header")?;
    let data_at = u64::from(u32::from_le_bytes([h[10], h[11], h[12], h[13]]));
    let dib = u64::from(u32::from_le_bytes([h[14], h[15], h[16], h[17]]));
    if !matches!(dib, 12 | 16 | 40 | 52 | 56 | 64 | 108 | 124) {
        return Err(format!("unknown header size {dib}"));
    }
    let mut d = [0u8; 36];
    let take = usize::try_from(dib.min(40) - 4).unwrap_or(0);
    let mut filled = 0;
    s.stream(take as u64, "the header", &mut |b: &[u8]| {
        d[filled..filled + b.len()].copy_from_slice(b);
        filled += b.len();
    })?;
    let u16_at = |i: usize| u16::from_le_bytes([d[i], d[i + 1]]);
    let i32_at = |i: usize| i32::from_le_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]);
    let (w, height, planes, bits, compression, colours) = if dib == 12 {
        let (w, h) = (u16_at(0), u16_at(2));
        (i64::from(w), i64::from(h), u16_at(4), u16_at(6), 0, 0)
    } else {
        let compression = if dib >= 20 { i32_at(12) as u32 } else { 0 };
        let colours = if dib >= 36 { i32_at(28) as u32 } else { 0 };
        (
            i64::from(i32_at(0)),
            i64::from(i32_at(4)),
            u16_at(8),
            u16_at(10),
            compression,
            colours,
        )
    };
    if w <= 0 || height == 0 || planes != 1 || !matches!(bits, 1 | 4 | 8 | 16 | 24 | 32) {
        return Err(format!(
            "the header says {w}x{height} pixels, {planes} planes, {bits} bits per pixel"
        ));
    }
    let palette_at = 14 + dib + if dib == 40 && compression == 3 { 12 } else { 0 };
    let entries = match (bits, colours) {
        (1 | 4 | 8, 0) => 1u64 << bits,
        (1 | 4 | 8, n) => u64::from(n).min(1 << bits),
        _ => 0,
    };
    let palette_end = palette_at + entries * if dib == 12 { 3 } else { 4 };
    if palette_end > s.len {
        return Err(format!(
            "cut short: the palette of {entries} colours runs past the end of the file ({} bytes)",
            s.len
        ));
    }
    if data_at < 14 + dib || data_at >= s.len {
        return Err(format!(
            "the pixel data offset {data_at} lies outside the file ({} bytes)",
            s.len
        ));
    }
    if matches!(compression, 0 | 3 | 6) {
        let stride = (w.unsigned_abs() * u64::from(bits)).div_ceil(32) * 4;
        let size = stride.saturating_mul(height.unsigned_abs());
        if data_at.saturating_add(size) > s.len {
            return Err(format!(
                "cut short: {size} bytes of pixel data at offset {data_at} run past the end of the file ({} bytes)",
                s.len
            ));
        }
    }
    Ok((w.unsigned_abs(), height.unsigned_abs()))
}

fn tiff<R: Read + Seek>(src: &mut R, len: u64) -> Check<Size> {
    let ifd = parse_from(src)?;
    let uint = |t: u16| ifd.uint(t);
    let (w, h) = (uint(tag::IMAGE_WIDTH), uint(tag::IMAGE_LENGTH));
    let (Some(w @ 1..), Some(h @ 1..)) = (w, h) else {
        return Err(format!(
            "ImageWidth {} and ImageLength {} must both be given and not 0",
            w.map_or("missing".to_owned(), |v| v.to_string()),
            h.map_or("missing".to_owned(), |v| v.to_string())
        ));
    };
    let spp = uint(tag::SAMPLES_PER_PIXEL).unwrap_or(1);
    if !(1..=MAX_SAMPLES_PER_PIXEL).contains(&spp) {
        return Err(format!(
            "SamplesPerPixel {spp} (1 to {MAX_SAMPLES_PER_PIXEL} make sense)"
        ));
    }
    let bps = match ifd.get(tag::BITS_PER_SAMPLE) {
        None => vec![1],
        Some(v) => v
            .as_u64s()
            .ok_or("BitsPerSample is not a list of integers")?,
    };
    if bps.len() != 1 && bps.len() as u64 != spp {
        return Err(format!(
            "{} BitsPerSample values for SamplesPerPixel {spp}",
            bps.len()
        ));
    }
    if let Some(b) = bps.iter().find(|&&b| !(1..=64).contains(&b)) {
        return Err(format!("BitsPerSample {b} (1 to 64 make sense)"));
    }
    let planes = match uint(tag::PLANAR_CONFIG).unwrap_or(1) {
        1 => 1,
        2 => spp,
        p => return Err(format!("PlanarConfiguration {p} (1 or 2)")),
    };
    let tiled = ifd.get(tag::TILE_OFFSETS).is_some();
    let (chunks, name) = if tiled {
        let (tw, th) = (
            uint(TILE_WIDTH).unwrap_or(0),
            uint(TILE_LENGTH).unwrap_or(0),
        );
        if tw == 0 || th == 0 {
            return Err(format!("TileWidth {tw} and TileLength {th} must not be 0"));
        }
        (w.div_ceil(tw) * h.div_ceil(th), "tile")
    } else {
        let rows = uint(tag::ROWS_PER_STRIP).unwrap_or(h).min(h);
        if rows == 0 {
            return Err("RowsPerStrip 0".into());
        }
        (h.div_ceil(rows), "strip")
    };
    let needed = chunks.saturating_mul(planes);
    let (offsets_tag, counts_tag, names) = if tiled {
        (
            tag::TILE_OFFSETS,
            tag::TILE_BYTE_COUNTS,
            "TileOffsets and TileByteCounts",
        )
    } else {
        (
            tag::STRIP_OFFSETS,
            tag::STRIP_BYTE_COUNTS,
            "StripOffsets and StripByteCounts",
        )
    };
    let list = |t: u16| ifd.get(t).and_then(|v| v.as_u64s());
    let Some(offsets) = list(offsets_tag) else {
        return Err(format!("no {}", names.split(' ').next().unwrap_or(names)));
    };
    // Readers estimate missing byte counts of uncompressed strips: only
    // where each begins must then lie inside the file.
    let counts = list(counts_tag).unwrap_or_else(|| vec![0; offsets.len()]);
    if offsets.len() != counts.len() || (offsets.len() as u64) < needed {
        return Err(format!(
            "{} offsets and {} byte counts for an image of {w}x{h} that needs {needed} {name}s",
            offsets.len(),
            counts.len()
        ));
    }
    for (i, (&at, &n)) in offsets.iter().zip(&counts).enumerate() {
        if at.checked_add(n).is_none_or(|end| end > len) {
            return Err(format!(
                "{name} {i} ({n} bytes at offset {at}) lies past the end of the file ({len} bytes)"
            ));
        }
    }
    Ok((w, h))
}

/// TIFF tags only this module reads.
const TILE_WIDTH: u16 = 322;
const TILE_LENGTH: u16 = 323;

#[cfg(test)]
mod tests {
    use super::*;

    fn check(bytes: &[u8], depth: Depth) -> std::result::Result<(u64, u64), String> {
        check_structure(std::io::Cursor::new(bytes), "x", depth).map_err(|e| match e {
            Error::Corrupt { file, message } => {
                assert_eq!(file, "x");
                message
            }
            other => panic!("{other}"),
        })
    }

    fn refused(bytes: &[u8], depth: Depth, expect: &str) {
        let e = check(bytes, depth).expect_err(expect);
        assert!(e.contains(expect), "expected {expect:?} in {e:?}");
    }

    /// A minimal baseline JPEG, structurally whole (one 8x8 gray block).
    fn jpeg() -> Vec<u8> {
        let mut b = vec![0xFF, 0xD8];
        b.extend_from_slice(&[0xFF, 0xE0, 0, 16]);
        b.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        b.extend_from_slice(&[0xFF, 0xC0, 0, 11, 8, 0, 8, 0, 8, 1, 1, 0x11, 0]);
        b.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0]);
        b.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0x78]);
        b.extend_from_slice(&[0xFF, 0xD9]);
        b
    }

    #[test]
    fn a_whole_jpeg_passes_with_or_without_bytes_after_its_end() {
        for depth in [Depth::Headers, Depth::Full] {
            assert_eq!(check(&jpeg(), depth), Ok((8, 8)));
            let mut trailing = jpeg();
            trailing.extend_from_slice(b"\0\0camera padding");
            check(&trailing, depth).unwrap();
        }
    }

    #[test]
    fn a_jpeg_cut_in_its_image_data_is_refused() {
        let j = jpeg();
        for depth in [Depth::Headers, Depth::Full] {
            refused(
                &j[..j.len() - 4],
                depth,
                "without an end-of-image (EOI) marker",
            );
        }
    }

    #[test]
    fn a_jpeg_cut_in_a_segment_is_refused() {
        refused(
            &jpeg()[..12],
            Depth::Headers,
            "cut short: a segment (marker 0xE0) of 16 bytes",
        );
    }

    #[test]
    fn a_jpeg_without_a_frame_header_or_with_a_bad_length_is_refused() {
        let j = jpeg();
        let mut no_frame = j[..20].to_vec();
        no_frame.extend_from_slice(&j[33..]);
        refused(&no_frame, Depth::Full, "before any frame header");
        let mut short = j.clone();
        short[5] = 1;
        refused(&short, Depth::Full, "has a segment length of 1");
        let mut garbage = j.clone();
        garbage[20] = 0x00;
        refused(&garbage, Depth::Full, "expected a marker at offset 20");
    }

    fn png_file() -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, 4, 3);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let data: Vec<u8> = (0..12).collect();
        enc.write_header().unwrap().write_image_data(&data).unwrap();
        out
    }

    /// Where the data of the PNG's IDAT chunk starts.
    fn idat(p: &[u8]) -> usize {
        p.windows(4).position(|w| w == b"IDAT").unwrap() + 4
    }

    #[test]
    fn a_whole_png_passes() {
        assert_eq!(check(&png_file(), Depth::Full), Ok((4, 3)));
        assert_eq!(check(&png_file(), Depth::Headers), Ok((4, 3)));
    }

    #[test]
    fn a_png_with_a_bad_crc_is_refused_when_read_in_full() {
        let mut p = png_file();
        let at = idat(&p);
        p[at] ^= 0x55;
        refused(&p, Depth::Full, "chunk IDAT of");
        refused(&p, Depth::Full, "does not match its data");
        // Its decoder checks it when it is converted.
        check(&p, Depth::Headers).unwrap();
    }

    #[test]
    fn a_png_cut_short_or_without_iend_is_refused() {
        let p = png_file();
        let at = idat(&p);
        refused(&p[..at + 2], Depth::Headers, "cut short: chunk IDAT");
        refused(&p[..p.len() - 12], Depth::Full, "no IEND chunk");
        let mut first = p.clone();
        first[12..16].copy_from_slice(b"IHDX");
        refused(
            &first,
            Depth::Headers,
            "the first chunk is \"IHDX\" of 13 bytes",
        );
        let mut bad = p.clone();
        bad[at - 4..at].copy_from_slice(b"ID\0T");
        refused(&bad, Depth::Headers, "a broken chunk header at offset");
    }

    /// A little-endian classic TIFF: `tags` (tag, values, all LONG) after
    /// `data`, which starts at offset 8.
    fn tiff(tags: &Tags, data: &[u8]) -> Vec<u8> {
        let mut b = b"II*\0".to_vec();
        let mut extra = Vec::new();
        let ifd_at = 8 + data.len() as u32;
        let values_at = ifd_at + 2 + 12 * tags.len() as u32 + 4;
        b.extend_from_slice(&ifd_at.to_le_bytes());
        b.extend_from_slice(data);
        b.extend_from_slice(&(tags.len() as u16).to_le_bytes());
        for (t, v) in tags {
            b.extend_from_slice(&t.to_le_bytes());
            b.extend_from_slice(&4u16.to_le_bytes());
            b.extend_from_slice(&(v.len() as u32).to_le_bytes());
            if v.len() == 1 {
                b.extend_from_slice(&v[0].to_le_bytes());
            } else {
                b.extend_from_slice(&(values_at + extra.len() as u32).to_le_bytes());
                for x in v {
                    extra.extend_from_slice(&x.to_le_bytes());
                }
            }
        }
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&extra);
        b
    }

    /// A 4x4 RGB TIFF in two strips of two rows, with `change` applied to
    /// its tags.
    /// TIFF tags with their values.
    type Tags = Vec<(u16, Vec<u32>)>;

    fn rgb_tiff(change: &dyn Fn(&mut Tags)) -> Vec<u8> {
        let mut tags = vec![
            (256, vec![4]),
            (257, vec![4]),
            (258, vec![8, 8, 8]),
            (259, vec![1]),
            (262, vec![2]),
            (273, vec![8, 32]),
            (277, vec![3]),
            (278, vec![2]),
            (279, vec![24, 24]),
        ];
        change(&mut tags);
        tiff(&tags, &[9; 48])
    }

    fn set(tags: &mut [(u16, Vec<u32>)], tag: u16, v: Vec<u32>) {
        tags.iter_mut().find(|(t, _)| *t == tag).unwrap().1 = v;
    }

    #[test]
    fn a_sound_tiff_passes() {
        assert_eq!(check(&rgb_tiff(&|_| {}), Depth::Headers), Ok((4, 4)));
        // One BitsPerSample value for every sample, and defaults.
        check(&rgb_tiff(&|t| set(t, 258, vec![8])), Depth::Full).unwrap();
        check(
            &rgb_tiff(&|t| t.retain(|(tag, _)| *tag != 278)),
            Depth::Full,
        )
        .unwrap();
    }

    #[test]
    fn a_tiff_with_samples_per_pixel_65535_is_refused() {
        refused(
            &rgb_tiff(&|t| set(t, 277, vec![65535])),
            Depth::Headers,
            "SamplesPerPixel 65535",
        );
        refused(
            &rgb_tiff(&|t| set(t, 277, vec![0])),
            Depth::Headers,
            "SamplesPerPixel 0",
        );
    }

    #[test]
    fn a_tiff_with_bits_per_sample_0_or_miscounted_is_refused() {
        refused(
            &rgb_tiff(&|t| set(t, 258, vec![0, 0, 0])),
            Depth::Headers,
            "BitsPerSample 0",
        );
        refused(
            &rgb_tiff(&|t| set(t, 258, vec![8, 8])),
            Depth::Headers,
            "2 BitsPerSample values for SamplesPerPixel 3",
        );
        refused(
            &rgb_tiff(&|t| set(t, 258, vec![65])),
            Depth::Headers,
            "BitsPerSample 65",
        );
    }

    #[test]
    fn a_tiff_strip_past_the_end_is_refused() {
        refused(
            &rgb_tiff(&|t| set(t, 273, vec![8, 1_000_000])),
            Depth::Headers,
            "strip 1 (24 bytes at offset 1000000) lies past the end of the file",
        );
        refused(
            &rgb_tiff(&|t| set(t, 279, vec![24, u32::MAX])),
            Depth::Headers,
            "lies past the end of the file",
        );
    }

    #[test]
    fn a_tiff_whose_layout_does_not_add_up_is_refused() {
        refused(
            &rgb_tiff(&|t| set(t, 256, vec![0])),
            Depth::Headers,
            "ImageWidth 0",
        );
        refused(
            &rgb_tiff(&|t| set(t, 278, vec![1])),
            Depth::Headers,
            "2 offsets and 2 byte counts for an image of 4x4 that needs 4 strips",
        );
        refused(
            &rgb_tiff(&|t| t.retain(|(tag, _)| *tag != 273)),
            Depth::Headers,
            "no StripOffsets",
        );
        check(
            &rgb_tiff(&|t| t.retain(|(tag, _)| *tag != 279)),
            Depth::Full,
        )
        .unwrap();
        refused(
            &rgb_tiff(&|t| set(t, 278, vec![0])),
            Depth::Headers,
            "RowsPerStrip 0",
        );
    }

    fn gif_file() -> Vec<u8> {
        let mut b = b"GIF89a".to_vec();
        b.extend_from_slice(&[1, 0, 1, 0, 0x80, 0, 0]);
        b.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
        b.extend_from_slice(&[0x21, 0xF9, 4, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&[0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0]);
        b.extend_from_slice(&[2, 2, 0x44, 0x01, 0]);
        b.push(0x3B);
        b
    }

    #[test]
    fn a_whole_gif_passes_and_a_cut_one_is_refused() {
        let g = gif_file();
        assert_eq!(check(&g, Depth::Full), Ok((1, 1)));
        check(&g[..g.len() - 1], Depth::Full).unwrap();
        refused(&g[..g.len() - 3], Depth::Full, "cut short: a data block");
        refused(&g[..19], Depth::Full, "cut short: a block at offset 19");
        let mut no_image = g[..13 + 6].to_vec();
        no_image.push(0x3B);
        refused(&no_image, Depth::Full, "no image before the trailer");
        let mut unknown = g.clone();
        unknown[19] = 0x99;
        refused(&unknown, Depth::Full, "unknown block 0x99 at offset 19");
    }

    /// An 8-bit palette BMP of 5x3 pixels, `top_down` with a negative height.
    fn bmp_file(top_down: bool) -> Vec<u8> {
        let (w, h) = (5i32, 3i32);
        let stride = 8usize;
        let at = 54 + 1024;
        let mut b = b"BM".to_vec();
        b.extend_from_slice(&((at + stride * 3) as u32).to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&(at as u32).to_le_bytes());
        b.extend_from_slice(&40u32.to_le_bytes());
        b.extend_from_slice(&w.to_le_bytes());
        b.extend_from_slice(&(if top_down { -h } else { h }).to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&8u16.to_le_bytes());
        b.extend_from_slice(&[0; 24]);
        b.resize(at + stride * 3, 1);
        b
    }

    #[test]
    fn a_whole_bmp_passes_and_a_cut_or_broken_one_is_refused() {
        assert_eq!(check(&bmp_file(true), Depth::Full), Ok((5, 3)));
        let b = bmp_file(false);
        assert_eq!(check(&b, Depth::Full), Ok((5, 3)));
        refused(
            &b[..b.len() - 1],
            Depth::Full,
            "cut short: 24 bytes of pixel data at offset 1078",
        );
        refused(
            &b[..600],
            Depth::Full,
            "cut short: the palette of 256 colours",
        );
        let mut far = b.clone();
        far[10..14].copy_from_slice(&5000u32.to_le_bytes());
        refused(
            &far,
            Depth::Full,
            "the pixel data offset 5000 lies outside the file",
        );
        let mut bits = b.clone();
        bits[28] = 7;
        refused(&bits, Depth::Full, "7 bits per pixel");
        let mut header = b.clone();
        header[14] = 41;
        refused(&header, Depth::Full, "unknown header size 41");
    }

    #[test]
    fn what_is_no_image_is_refused() {
        refused(
            b"hello",
            Depth::Full,
            "not a PNG, JPEG, TIFF, GIF or BMP image",
        );
    }
}
