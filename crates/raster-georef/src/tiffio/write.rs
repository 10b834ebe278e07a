//! Assembling a classic little-endian TIFF from tags and encoded chunks.

use std::collections::BTreeMap;

use super::{Value, tag};

/// A TIFF under construction: tag values plus the already-encoded strips
/// (or tiles), which are written as they are. The offsets and byte-counts
/// tags are computed here.
#[derive(Debug, Default)]
pub(crate) struct TiffBuilder<'a> {
    pub(crate) entries: BTreeMap<u16, Value>,
    chunks: Vec<std::borrow::Cow<'a, [u8]>>,
    tiled: bool,
    big_endian: bool,
}

impl<'a> TiffBuilder<'a> {
    /// A builder whose chunks are strips (`tiled` false) or tiles.
    pub(crate) fn new(tiled: bool) -> Self {
        TiffBuilder {
            entries: BTreeMap::new(),
            chunks: Vec::new(),
            tiled,
            big_endian: false,
        }
    }

    /// Writes a big-endian (`MM`) file: needed when copying chunks of
    /// multi-byte samples from a big-endian TIFF.
    pub(crate) fn big_endian(&mut self, big: bool) {
        self.big_endian = big;
    }

    pub(crate) fn set(&mut self, tag: u16, v: Value) {
        self.entries.insert(tag, v);
    }

    pub(crate) fn push_chunk(&mut self, c: impl Into<std::borrow::Cow<'a, [u8]>>) {
        self.chunks.push(c.into());
    }

    /// The finished file.
    pub(crate) fn finish(mut self) -> Result<Vec<u8>, String> {
        let (offsets_tag, counts_tag) = if self.tiled {
            (tag::TILE_OFFSETS, tag::TILE_BYTE_COUNTS)
        } else {
            (tag::STRIP_OFFSETS, tag::STRIP_BYTE_COUNTS)
        };
        let data_len: usize = self.chunks.iter().map(|c| c.len() + (c.len() & 1)).sum();
        let too_big = || "the GeoTIFF would exceed 4 GiB (BigTIFF output is not supported)";
        let mut out = Vec::with_capacity(data_len + 4096);
        let be = self.big_endian;
        let w16 = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        out.extend_from_slice(if be {
            b"MM\0*\0\0\0\0"
        } else {
            b"II*\0\0\0\0\0"
        });
        let mut offsets = Vec::with_capacity(self.chunks.len());
        let mut counts = Vec::with_capacity(self.chunks.len());
        for c in &self.chunks {
            offsets.push(u32::try_from(out.len()).map_err(|_| too_big())?);
            counts.push(u32::try_from(c.len()).map_err(|_| too_big())?);
            out.extend_from_slice(c);
            if out.len() % 2 == 1 {
                out.push(0);
            }
        }
        self.entries.insert(offsets_tag, Value::Long(offsets));
        self.entries.insert(counts_tag, Value::Long(counts));

        let ifd_at = out.len();
        let n = self.entries.len();
        let mut overflow_at = ifd_at + 2 + n * 12 + 4;
        let mut ifd = Vec::with_capacity(2 + n * 12 + 4);
        let mut overflow = Vec::new();
        ifd.extend_from_slice(&w16(u16::try_from(n).map_err(|_| "too many tags")?));
        for (&t, v) in &self.entries {
            let (typ, count, bytes) = encode(v, be);
            ifd.extend_from_slice(&w16(t));
            ifd.extend_from_slice(&w16(typ));
            ifd.extend_from_slice(&w32(count));
            if bytes.len() <= 4 {
                let mut field = [0u8; 4];
                field[..bytes.len()].copy_from_slice(&bytes);
                ifd.extend_from_slice(&field);
            } else {
                let at = u32::try_from(overflow_at).map_err(|_| too_big())?;
                ifd.extend_from_slice(&w32(at));
                overflow_at += bytes.len() + (bytes.len() & 1);
                overflow.extend_from_slice(&bytes);
                if bytes.len() % 2 == 1 {
                    overflow.push(0);
                }
            }
        }
        ifd.extend_from_slice(&[0; 4]);
        let ifd_offset = u32::try_from(ifd_at).map_err(|_| too_big())?;
        out[4..8].copy_from_slice(&w32(ifd_offset));
        out.extend_from_slice(&ifd);
        out.extend_from_slice(&overflow);
        Ok(out)
    }
}

/// Field type, count and bytes (big-endian when `be`) of a value.
fn encode(v: &Value, be: bool) -> (u16, u32, Vec<u8>) {
    macro_rules! bytes {
        ($v:expr) => {
            $v.iter()
                .flat_map(|&x| if be { x.to_be_bytes() } else { x.to_le_bytes() })
                .collect::<Vec<u8>>()
        };
    }
    let n = |len: usize| u32::try_from(len).unwrap_or(u32::MAX);
    match v {
        Value::Byte(b) => (1, n(b.len()), b.clone()),
        Value::Ascii(b) => {
            let mut b = b.clone();
            if b.last() != Some(&0) {
                b.push(0);
            }
            (2, n(b.len()), b)
        }
        Value::Short(s) => (3, n(s.len()), bytes!(s)),
        Value::Long(s) => (4, n(s.len()), bytes!(s)),
        Value::Rational(s) => {
            let flat: Vec<u32> = s.iter().flat_map(|&(a, b)| [a, b]).collect();
            (5, n(s.len()), bytes!(flat))
        }
        Value::SByte(s) => (6, n(s.len()), s.iter().map(|&x| x as u8).collect()),
        Value::Undefined(b) => (7, n(b.len()), b.clone()),
        Value::SShort(s) => (8, n(s.len()), bytes!(s)),
        Value::SLong(s) => (9, n(s.len()), bytes!(s)),
        Value::SRational(s) => {
            let flat: Vec<i32> = s.iter().flat_map(|&(a, b)| [a, b]).collect();
            (10, n(s.len()), bytes!(flat))
        }
        Value::Float(s) => (11, n(s.len()), bytes!(s)),
        Value::Double(s) => (12, n(s.len()), bytes!(s)),
        // Classic TIFF has no 64-bit integers: such values are written as LONG.
        Value::Long8(s) => {
            let narrow: Vec<u32> = s.iter().map(|&x| x as u32).collect();
            (4, n(s.len()), bytes!(narrow))
        }
        Value::SLong8(s) => {
            let narrow: Vec<i32> = s.iter().map(|&x| x as i32).collect();
            (9, n(s.len()), bytes!(narrow))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    #[test]
    fn written_tags_parse_back() {
        let mut b = TiffBuilder::new(false);
        b.set(tag::IMAGE_WIDTH, Value::Short(vec![3]));
        b.set(tag::IMAGE_LENGTH, Value::Long(vec![2]));
        b.set(tag::BITS_PER_SAMPLE, Value::Short(vec![8, 8, 8]));
        b.set(tag::MODEL_PIXEL_SCALE, Value::Double(vec![0.5, 0.25, 0.0]));
        b.set(tag::GEO_ASCII_PARAMS, Value::Ascii(b"WGS 84|".to_vec()));
        b.set(65000, Value::SRational(vec![(-1, 3)]));
        b.push_chunk(vec![1u8, 2, 3]);
        b.push_chunk(&[4u8, 5, 6][..]);
        let bytes = b.finish().unwrap();
        let ifd = parse(&bytes).unwrap();
        assert_eq!(ifd.uint(tag::IMAGE_WIDTH), Some(3));
        assert_eq!(
            ifd.get(tag::BITS_PER_SAMPLE),
            Some(&Value::Short(vec![8, 8, 8]))
        );
        assert_eq!(
            ifd.get(tag::MODEL_PIXEL_SCALE),
            Some(&Value::Double(vec![0.5, 0.25, 0.0]))
        );
        assert_eq!(
            ifd.get(tag::GEO_ASCII_PARAMS).unwrap().as_text().unwrap(),
            "WGS 84|"
        );
        assert_eq!(ifd.get(65000), Some(&Value::SRational(vec![(-1, 3)])));
        let offs = ifd.get(tag::STRIP_OFFSETS).unwrap().as_u64s().unwrap();
        let counts = ifd.get(tag::STRIP_BYTE_COUNTS).unwrap().as_u64s().unwrap();
        assert_eq!(counts, [3, 3]);
        assert_eq!(&bytes[offs[0] as usize..][..3], [1, 2, 3]);
        assert_eq!(&bytes[offs[1] as usize..][..3], [4, 5, 6]);
    }

    #[test]
    fn broken_files_say_what_is_wrong() {
        assert!(parse(b"GIF89a").unwrap_err().contains("not a TIFF"));
        let e = parse(b"II*\0\x08\0\0\0\x01\0\x00\x01\x03\0\x05\0\0\0\x40\0\0\0").unwrap_err();
        assert!(e.contains("tag 256: truncated"), "{e}");
    }
}
