//! COCO run-length encoding, byte for byte as pycocotools writes it.
//!
//! A mask is read column by column (Fortran order); the counts alternate
//! runs of 0s and 1s, starting with 0s. The compressed string form stores
//! each count (from the third on, as the difference to the count two
//! before) in 5-bit groups, low first, each group as one character
//! `48 + group`, with bit 5 set while more groups follow.
//!
//! [`from_polygon`] is pycocotools' own polygon rasterization (`rleFrPoly`),
//! step for step: it is not the rule [`crate::rasterize`] follows, and a
//! COCO writer uses it to tell whether pycocotools will draw a polygon with
//! exactly the pixels labelstore draws.

use crate::Mask;

/// The uncompressed counts of a binary mask (`true` where `value` is).
pub fn counts(mask: &Mask, value: u8) -> Vec<u32> {
    counts_placed(mask, value, 0, 0, mask.width, mask.height)
}

/// The uncompressed counts of a `width` x `height` image that is off
/// everywhere except where `window` lies, its top-left pixel at column
/// `x0`, row `y0` (the parts of the window outside the image are ignored).
/// With a window the size of an instance's extent this costs time in the
/// window's size, not the image's.
pub fn counts_placed(
    window: &Mask,
    value: u8,
    x0: u32,
    y0: u32,
    width: u32,
    height: u32,
) -> Vec<u32> {
    let mut runs = Runs::default();
    let (ww, wh) = (window.width as usize, window.height as usize);
    let (x0, y0, w, h) = (x0 as usize, y0 as usize, width as usize, height as usize);
    let rows = y0.min(h)..(y0 + wh).min(h);
    for x in 0..w {
        if x < x0 || x >= x0 + ww || rows.is_empty() {
            runs.push(false, h as u64);
            continue;
        }
        runs.push(false, rows.start as u64);
        for y in rows.clone() {
            runs.push(window.data[(y - y0) * ww + (x - x0)] == value, 1);
        }
        runs.push(false, (h - rows.end) as u64);
    }
    runs.finish()
}

/// Builds canonical counts (a first run of 0s, possibly empty, then
/// alternating non-empty runs) from pixels or stretches pushed in order.
#[derive(Debug, Default)]
struct Runs {
    out: Vec<u32>,
    on: bool,
    run: u64,
}

impl Runs {
    fn push(&mut self, on: bool, n: u64) {
        if n == 0 {
            return;
        }
        if on != self.on {
            self.out.push(saturate(self.run));
            self.run = 0;
            self.on = on;
        }
        self.run += n;
    }

    fn finish(mut self) -> Vec<u32> {
        self.out.push(saturate(self.run));
        self.out
    }
}

fn saturate(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The pixels two counts have in either (pycocotools' `merge` without
/// `intersect`), as canonical counts: a first run of 0s (possibly empty),
/// then alternating non-empty runs. Both describe the same image size.
pub fn union(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut ia, mut ib) = (intervals(a).peekable(), intervals(b).peekable());
    let total = sum(a).max(sum(b));
    let mut runs = Runs::default();
    let mut at = 0u64;
    loop {
        let next = match (ia.peek(), ib.peek()) {
            (Some(x), Some(y)) if x.0 <= y.0 => ia.next(),
            (Some(_), Some(_)) | (None, Some(_)) => ib.next(),
            (Some(_), None) => ia.next(),
            (None, None) => break,
        };
        let Some((s, e)) = next else { break };
        if e <= at {
            continue;
        }
        let s = s.max(at);
        runs.push(false, s - at);
        runs.push(true, e - s);
        at = e;
    }
    runs.push(false, total.saturating_sub(at));
    runs.finish()
}

fn sum(counts: &[u32]) -> u64 {
    counts.iter().map(|&c| u64::from(c)).sum()
}

/// The `[start, end)` pixel ranges (column-major) that counts set.
fn intervals(counts: &[u32]) -> impl Iterator<Item = (u64, u64)> + '_ {
    let mut at = 0u64;
    counts.iter().enumerate().filter_map(move |(i, &c)| {
        let s = at;
        at += u64::from(c);
        (i % 2 == 1 && c > 0).then_some((s, at))
    })
}

/// The counts of the polygon `xy` (`[x1, y1, x2, y2, ...]`, pixel-edge
/// coordinates) rasterized on a `width` x `height` image exactly as
/// pycocotools' `frPyObjects` (C `rleFrPoly`) does: vertices snapped to a
/// fifth of a pixel, the outline drawn as digital lines on that finer grid,
/// and, in each column, the pixels from where the outline crosses the
/// column's centre line downwards toggled on or off. The counts are
/// pycocotools' own, run for run. It walks the outline in fifths of a
/// pixel, so vertices far outside the image cost time: clip first.
pub fn from_polygon(xy: &[f64], width: u32, height: u32) -> Vec<u32> {
    const SCALE: f64 = 5.0;
    let (w, h) = (i64::from(width), i64::from(height));
    let k = xy.len() / 2;
    // C's `(int)(scale * x + .5)`: truncation toward zero.
    let snap = |v: f64| i64::from((SCALE * v + 0.5) as i32);
    let xs: Vec<i64> = (0..k).map(|j| snap(xy[2 * j])).collect();
    let ys: Vec<i64> = (0..k).map(|j| snap(xy[2 * j + 1])).collect();
    // Points densely along the whole outline, on the fine grid.
    let (mut u, mut v): (Vec<i64>, Vec<i64>) = (Vec::new(), Vec::new());
    for j in 0..k {
        let (mut x0, mut x1, mut y0, mut y1) = (xs[j], xs[(j + 1) % k], ys[j], ys[(j + 1) % k]);
        let (dx, dy) = ((x1 - x0).abs(), (y0 - y1).abs());
        let flip = (dx >= dy && x0 > x1) || (dx < dy && y0 > y1);
        if flip {
            (x0, x1, y0, y1) = (x1, x0, y1, y0);
        }
        if dx >= dy {
            let s = (y1 - y0) as f64 / dx as f64;
            for d in 0..=dx {
                let t = if flip { dx - d } else { d };
                u.push(t + x0);
                v.push(i64::from((y0 as f64 + s * t as f64 + 0.5) as i32));
            }
        } else {
            let s = (x1 - x0) as f64 / dy as f64;
            for d in 0..=dy {
                let t = if flip { dy - d } else { d };
                v.push(t + y0);
                u.push(i64::from((x0 as f64 + s * t as f64 + 0.5) as i32));
            }
        }
    }
    // Where the outline crosses a pixel column's centre, downsampled.
    let mut toggles: Vec<u32> = Vec::new();
    for j in 1..u.len() {
        if u[j] == u[j - 1] {
            continue;
        }
        let xd = if u[j] < u[j - 1] { u[j] } else { u[j] - 1 };
        let xd = (xd as f64 + 0.5) / SCALE - 0.5;
        if xd.floor() != xd || xd < 0.0 || xd > (w - 1) as f64 {
            continue;
        }
        let yd = (v[j].min(v[j - 1]) as f64 + 0.5) / SCALE - 0.5;
        let yd = yd.clamp(0.0, h as f64).ceil();
        // C's `(uint)(x * (int)h + y)`.
        toggles.push((xd as i64 * h + yd as i64) as u32);
    }
    toggles.push((h * w) as u32);
    toggles.sort_unstable();
    // Toggle positions to counts; two toggles at one place cancel out.
    let mut prev = 0u32;
    let diffs: Vec<u32> = toggles
        .iter()
        .map(|&t| {
            let d = t.wrapping_sub(prev);
            prev = t;
            d
        })
        .collect();
    let mut out: Vec<u32> = Vec::with_capacity(diffs.len());
    let mut it = diffs.into_iter();
    out.extend(it.next());
    while let Some(d) = it.next() {
        if d > 0 {
            out.push(d);
        } else if let (Some(next), Some(last)) = (it.next(), out.last_mut()) {
            *last = last.wrapping_add(next);
        }
    }
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

/// The counts of a compressed string, or `None` when it is malformed
/// (a character outside `0`..`o`, a count cut short, too long, negative or
/// beyond `u32`).
pub fn decode(s: &str) -> Option<Vec<u32>> {
    let bytes = s.as_bytes();
    let mut out: Vec<u32> = Vec::new();
    let mut p = 0;
    while p < bytes.len() {
        let (mut x, mut k) = (0i64, 0u32);
        loop {
            let c = i64::from(*bytes.get(p)?) - 48;
            // 12 groups (60 bits) are more than any count needs; more would
            // shift past the 64 bits of `x`.
            if !(0..64).contains(&c) || k >= 12 {
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
        // Too many groups for a count, or a count out of range: refused,
        // never a shift overflow.
        for bad in [
            "oooooooooooooooooooooo0",
            "ooooooooooooO",
            "o",
            "ooooooo1",
            "N",
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
        assert_eq!(
            decode(&encode(&[u32::MAX, 0, u32::MAX])).unwrap(),
            [u32::MAX, 0, u32::MAX]
        );
    }

    #[test]
    fn placed_windows_and_unions() {
        // A 2x2 window at (1, 2) on a 4x5 image, one pixel set.
        let mut win = Mask::filled(2, 2, 0);
        win.data[3] = 1;
        let mut full = Mask::filled(4, 5, 0);
        full.data[3 * 4 + 2] = 1;
        assert_eq!(counts_placed(&win, 1, 1, 2, 4, 5), counts(&full, 1));
        assert_eq!(counts_placed(&win, 1, 1, 2, 4, 5), [13, 1, 6]);
        // Windows reaching past the image are cut.
        let win = Mask::filled(3, 3, 1);
        assert_eq!(counts_placed(&win, 1, 2, 3, 4, 5), [13, 2, 3, 2]);
        assert_eq!(counts_placed(&win, 1, 9, 9, 4, 5), [20]);
        assert_eq!(union(&[2, 3, 4, 1], &[0, 1, 4, 5]), [0, 1, 1, 8]);
        assert_eq!(union(&[2, 3, 4, 1], &[0, 1, 5, 4]), [0, 1, 1, 3, 1, 4]);
        assert_eq!(union(&[9], &[0, 2, 0, 3, 4]), [0, 5, 4]);
        assert_eq!(union(&[9], &[9]), [9]);
        assert_eq!(union(&[0, 9], &[4, 1, 4]), [0, 9]);
    }

    #[test]
    fn polygons_as_pycocotools_draws_them() {
        // The square (0,0)-(10,0)-(10,10)-(0,10) is exactly 100 pixels
        // (FORMATS.md 1.1); on a 12x12 image: 10 columns of 10 from the top.
        let sq = [0.0, 0.0, 10.0, 0.0, 10.0, 10.0, 0.0, 10.0];
        let mut want = vec![0u32];
        for _ in 0..9 {
            want.extend([10, 2]);
        }
        want.extend([10, 26]);
        assert_eq!(from_polygon(&sq, 12, 12), want);
        // No points: nothing set.
        assert_eq!(from_polygon(&[], 3, 2), [6]);
        // A repeated point changes nothing.
        let closed = [0.0, 0.0, 10.0, 0.0, 10.0, 10.0, 0.0, 10.0, 0.0, 0.0];
        assert_eq!(from_polygon(&closed, 12, 12), want);
    }
}
