//! Parsing a TIFF's first image file directory.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};

use super::Value;

/// The first IFD of a TIFF: its tags, and where the file's bytes are.
#[derive(Debug, Clone)]
pub(crate) struct Ifd {
    pub(crate) entries: BTreeMap<u16, Value>,
    /// The file is little-endian (`II`), not big-endian (`MM`).
    pub(crate) little_endian: bool,
}

impl Ifd {
    pub(crate) fn get(&self, tag: u16) -> Option<&Value> {
        self.entries.get(&tag)
    }

    /// A single unsigned integer tag.
    pub(crate) fn uint(&self, tag: u16) -> Option<u64> {
        self.get(tag)?.as_u64s()?.first().copied()
    }
}

struct Reader<R> {
    src: std::cell::RefCell<R>,
    len: u64,
    le: bool,
}

impl<R: Read + Seek> Reader<R> {
    fn bytes(&self, at: u64, n: u64) -> Result<Vec<u8>, String> {
        if at.checked_add(n).is_none_or(|end| end > self.len) {
            return Err(format!(
                "truncated: {n} bytes at offset {at} lie past the end"
            ));
        }
        let len = usize::try_from(n).map_err(|_| "length out of range".to_owned())?;
        let mut buf = vec![0u8; len];
        let mut src = self.src.borrow_mut();
        src.seek(SeekFrom::Start(at))
            .and_then(|_| src.read_exact(&mut buf))
            .map_err(|e| format!("cannot read {n} bytes at offset {at}: {e}"))?;
        Ok(buf)
    }

    fn array<const N: usize>(&self, at: u64) -> Result<[u8; N], String> {
        let v = self.bytes(at, N as u64)?;
        v.try_into().map_err(|_| "short read".to_owned())
    }

    fn u16(&self, at: u64) -> Result<u16, String> {
        let s = self.array::<2>(at)?;
        Ok(if self.le {
            u16::from_le_bytes(s)
        } else {
            u16::from_be_bytes(s)
        })
    }

    fn u32(&self, at: u64) -> Result<u32, String> {
        let s = self.array::<4>(at)?;
        Ok(if self.le {
            u32::from_le_bytes(s)
        } else {
            u32::from_be_bytes(s)
        })
    }

    fn u64(&self, at: u64) -> Result<u64, String> {
        let s = self.array::<8>(at)?;
        Ok(if self.le {
            u64::from_le_bytes(s)
        } else {
            u64::from_be_bytes(s)
        })
    }
}

/// Size in bytes of one value of TIFF field type `t`.
fn type_size(t: u16) -> Option<u64> {
    Some(match t {
        1 | 2 | 6 | 7 => 1,
        3 | 8 => 2,
        4 | 9 | 11 | 13 => 4,
        5 | 10 | 12 | 16 | 17 | 18 => 8,
        _ => return None,
    })
}

/// Parses the header and first IFD of the TIFF in `b`. The error says what
/// is wrong with the file's structure.
pub(crate) fn parse(b: &[u8]) -> Result<Ifd, String> {
    parse_from(std::io::Cursor::new(b))
}

/// Parses the header and first IFD of a TIFF, reading only what it needs.
pub(crate) fn parse_from<R: Read + Seek>(mut src: R) -> Result<Ifd, String> {
    let len = src
        .seek(SeekFrom::End(0))
        .map_err(|e| format!("cannot read the file: {e}"))?;
    let mut r = Reader {
        src: std::cell::RefCell::new(src),
        len,
        le: true,
    };
    r.le = match r.bytes(0, 2).ok().as_deref() {
        Some(b"II") => true,
        Some(b"MM") => false,
        _ => return Err("not a TIFF file (no II/MM byte-order mark)".into()),
    };
    let (big, first) = match r.u16(2)? {
        42 => (false, u64::from(r.u32(4)?)),
        43 => {
            if r.u16(4)? != 8 {
                return Err("BigTIFF with an offset size other than 8".into());
            }
            (true, r.u64(8)?)
        }
        v => return Err(format!("not a TIFF file (version {v})")),
    };
    let (count, entry_size, inline) = if big {
        (r.u64(first)?, 20u64, 8u64)
    } else {
        (u64::from(r.u16(first)?), 12u64, 4u64)
    };
    let start = first + if big { 8 } else { 2 };
    if count == 0 || count > 4096 {
        return Err(format!("implausible directory of {count} entries"));
    }
    let mut entries = BTreeMap::new();
    for i in 0..count {
        let at = start + i * entry_size;
        let tag = r.u16(at)?;
        let typ = r.u16(at + 2)?;
        let n = if big {
            r.u64(at + 4)?
        } else {
            u64::from(r.u32(at + 4)?)
        };
        let field = at + if big { 12 } else { 8 };
        let Some(size) = type_size(typ) else {
            continue; // Unknown field types are skipped, as the TIFF spec asks.
        };
        let total = n
            .checked_mul(size)
            .ok_or_else(|| format!("tag {tag}: count {n} overflows"))?;
        let data_at = if total <= inline {
            field
        } else if big {
            r.u64(field)?
        } else {
            u64::from(r.u32(field)?)
        };
        if total > 64 << 20 {
            return Err(format!("tag {tag}: implausible size of {total} bytes"));
        }
        let data = r
            .bytes(data_at, total)
            .map_err(|e| format!("tag {tag}: {e}"))?;
        entries.insert(tag, decode(r.le, typ, &data)?);
    }
    Ok(Ifd {
        entries,
        little_endian: r.le,
    })
}

fn decode(le: bool, typ: u16, d: &[u8]) -> Result<Value, String> {
    let c2 = |c: &[u8]| -> [u8; 2] { [c[0], c[1]] };
    let c4 = |c: &[u8]| -> [u8; 4] { [c[0], c[1], c[2], c[3]] };
    let c8 = |c: &[u8]| -> [u8; 8] { [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]] };
    let u16s = || -> Vec<u16> {
        d.chunks_exact(2)
            .map(|c| {
                if le {
                    u16::from_le_bytes(c2(c))
                } else {
                    u16::from_be_bytes(c2(c))
                }
            })
            .collect()
    };
    let u32s = || -> Vec<u32> {
        d.chunks_exact(4)
            .map(|c| {
                if le {
                    u32::from_le_bytes(c4(c))
                } else {
                    u32::from_be_bytes(c4(c))
                }
            })
            .collect()
    };
    let u64s = || -> Vec<u64> {
        d.chunks_exact(8)
            .map(|c| {
                if le {
                    u64::from_le_bytes(c8(c))
                } else {
                    u64::from_be_bytes(c8(c))
                }
            })
            .collect()
    };
    Ok(match typ {
        1 => Value::Byte(d.to_vec()),
        2 => Value::Ascii(d.to_vec()),
        3 => Value::Short(u16s()),
        4 | 13 => Value::Long(u32s()),
        5 => Value::Rational(u32s().chunks_exact(2).map(|p| (p[0], p[1])).collect()),
        6 => Value::SByte(d.iter().map(|&x| x as i8).collect()),
        7 => Value::Undefined(d.to_vec()),
        8 => Value::SShort(u16s().into_iter().map(|x| x as i16).collect()),
        9 => Value::SLong(u32s().into_iter().map(|x| x as i32).collect()),
        10 => Value::SRational(
            u32s()
                .chunks_exact(2)
                .map(|p| (p[0] as i32, p[1] as i32))
                .collect(),
        ),
        11 => Value::Float(u32s().into_iter().map(f32::from_bits).collect()),
        12 => Value::Double(u64s().into_iter().map(f64::from_bits).collect()),
        16 | 18 => Value::Long8(u64s()),
        17 => Value::SLong8(u64s().into_iter().map(|x| x as i64).collect()),
        t => return Err(format!("unsupported field type {t}")),
    })
}
