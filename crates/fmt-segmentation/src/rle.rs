//! COCO run-length encoding, byte for byte as pycocotools writes it.
//!
//! A mask is read column by column (Fortran order); the counts alternate
//! runs of 0s and 1s, starting with 0s. The compressed string form stores
//! each count (from the third on, as the difference to the count two
//! before) in 5-bit groups, low first, each group as one character
//! `48 + group`, with bit 5 set while more groups follow.

use crate::Mask;

/// The uncompressed counts of a binary mask (`true` where `value` is).
pub fn counts(mask: &Mask, value: u8) -> Vec<u32> {
    let (w, h) = (mask.width as usize, mask.height as usize);
    let mut out = Vec::new();
    let (mut current, mut run) = (false, 0u32);
    for x in 0..w {
        for y in 0..h {
            let on = mask.data[y * w + x] == value;
            if on != current {
                out.push(run);
                run = 0;
                current = on;
            }
            run += 1;
        }
    }
    out.push(run);
    out
}

/// The compressed string of `counts`.
pub fn encode(counts: &[u32]) -> String {
    let mut s = String::new();
    for (i, &c) in counts.iter().enumerate() {
        let mut x = i64::from(c);
        if i > 2 {
            x -= i64::from(counts[i - 2]);
        }
        loop {
            let mut c = x & 0x1f;
            x >>= 5;
            let more = if c & 0x10 != 0 { x != -1 } else { x != 0 };
            if more {
                c |= 0x20;
            }
            s.push(char::from(u8::try_from(c + 48).unwrap_or(b'?')));
            if !more {
                break;
            }
        }
    }
    s
}

/// The counts of a compressed string, or `None` when it is malformed.
pub fn decode(s: &str) -> Option<Vec<u32>> {
    let bytes = s.as_bytes();
    let mut out: Vec<u32> = Vec::new();
    let mut p = 0;
    while p < bytes.len() {
        let (mut x, mut k) = (0i64, 0u32);
        loop {
            let c = i64::from(*bytes.get(p)?) - 48;
            if !(0..64).contains(&c) || k > 30 {
                return None;
            }
            x |= (c & 0x1f) << (5 * k);
            p += 1;
            k += 1;
            if c & 0x20 == 0 {
                if c & 0x10 != 0 {
                    x |= -1i64 << (5 * k);
                }
                break;
            }
        }
        if out.len() > 2 {
            x += i64::from(out[out.len() - 2]);
        }
        out.push(u32::try_from(x).ok()?);
    }
    Some(out)
}

/// The binary mask (1 where set) of uncompressed counts, `height` x `width`.
pub fn to_mask(counts: &[u32], width: u32, height: u32) -> Option<Mask> {
    let (w, h) = (width as usize, height as usize);
    let total: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    if total != (w * h) as u64 {
        return None;
    }
    let mut mask = Mask::filled(width, height, 0);
    let mut at = 0usize;
    for (i, &c) in counts.iter().enumerate() {
        if i % 2 == 1 {
            for k in at..at + c as usize {
                let (x, y) = (k / h, k % h);
                mask.data[y * w + x] = 1;
            }
        }
        at += c as usize;
    }
    Some(mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_strings_round_trip() {
        // A 3x3 mask with its centre set: column-major 0,0,0,0,1,0,0,0,0.
        let mut m = Mask::filled(3, 3, 0);
        m.data[4] = 1;
        let c = counts(&m, 1);
        assert_eq!(c, [4, 1, 4]);
        let s = encode(&c);
        assert_eq!(decode(&s).unwrap(), c);
        assert_eq!(to_mask(&c, 3, 3).unwrap(), m);
        for c in [
            vec![0u32, 100_000, 3],
            vec![7, 1, 1, 40, 2, 9, 1000],
            vec![25],
        ] {
            assert_eq!(decode(&encode(&c)).unwrap(), c);
        }
        assert_eq!(decode("\u{7f}"), None);
    }
}
