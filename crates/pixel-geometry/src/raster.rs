//! Polygon rasterization, pixel centres decide, matching GDAL's default
//! (`gdal_rasterize` / rasterio's `rasterize` without all-touched).
//!
//! The rule, per row `y` of the raster (its pixel centres at `y + 0.5`):
//! every edge of every ring of the shape whose span `[ymin, ymax)` holds the
//! centre line crosses it at some `x`; the crossings, sorted, pair up into
//! runs, and a run from `x1` to `x2` covers the pixels whose centre `c`
//! satisfies `x1 < c <= x2` — which is what GDAL's `floor(x + 0.5)` rounding
//! of run ends gives. A horizontal edge lying exactly on a centre line is
//! filled on its own when it is the bottom edge of its ring (the ring's
//! inside lies above it), and skipped otherwise; this does not depend on
//! the order in which a ring lists its points (checked against GDAL 3.6
//! with both orders, for outer rings and holes). All rings of a label (outer rings,
//! holes, the parts of a multipolygon) are scanned together, so holes come
//! out by the even-odd rule. Later labels paint over earlier ones.

use crate::shape::{Geometry, Polygon};

/// A single-band 8-bit raster of `width` x `height` pixels, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// One byte per pixel, rows top first.
    pub data: Vec<u8>,
}

impl Mask {
    /// A mask of `value` everywhere.
    pub fn filled(width: u32, height: u32, value: u8) -> Mask {
        Mask {
            width,
            height,
            data: vec![value; width as usize * height as usize],
        }
    }

    /// The pixel value at column `x`, row `y`.
    pub fn get(&self, x: u32, y: u32) -> u8 {
        self.data[y as usize * self.width as usize + x as usize]
    }

    /// Paints `geometry` (a polygon or multipolygon in pixel coordinates;
    /// a box is painted as its rectangle) with `value`.
    pub fn paint(&mut self, geometry: &Geometry, value: u8) {
        let rings: Vec<&[[f64; 2]]> = match geometry {
            Geometry::Polygon(p) => p.iter().map(Vec::as_slice).collect(),
            Geometry::MultiPolygon(m) => m.iter().flatten().map(Vec::as_slice).collect(),
            Geometry::BBox([x0, y0, x1, y1]) => {
                let rect = [[*x0, *y0], [*x1, *y0], [*x1, *y1], [*x0, *y1]];
                return self.fill_rings(&[&rect], value);
            }
        };
        self.fill_rings(&rings, value);
    }

    fn fill_rings(&mut self, rings: &[&[[f64; 2]]], value: u8) {
        let (w, h) = (self.width as i64, self.height as i64);
        let ys = rings.iter().flat_map(|r| r.iter().map(|p| p[1]));
        let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
            (a.min(y), b.max(y))
        });
        if !lo.is_finite() || !hi.is_finite() {
            return;
        }
        let first = (lo.floor() as i64).max(0);
        let last = (hi.floor() as i64).min(h - 1);
        // Every ring is walked clockwise on screen (y down), whatever its
        // order in the input, so "right to left" means a bottom edge.
        let forwards: Vec<bool> = rings.iter().map(|r| shoelace(r) >= 0.0).collect();
        let mut crossings: Vec<f64> = Vec::new();
        for y in first..=last {
            let centre = y as f64 + 0.5;
            crossings.clear();
            for (ring, forward) in rings.iter().zip(&forwards) {
                let n = ring.len();
                for i in 0..n {
                    let (a, b) = if *forward {
                        (ring[(i + n - 1) % n], ring[i])
                    } else {
                        (ring[i], ring[(i + n - 1) % n])
                    };
                    if (a[1] < centre && b[1] < centre) || (a[1] > centre && b[1] > centre) {
                        continue;
                    }
                    if a[1] == b[1] {
                        // On the centre line: filled when running right to left.
                        if a[0] > b[0] {
                            self.fill_run(
                                y,
                                round_half_up(b[0]),
                                round_half_up(a[0]) - 1,
                                value,
                                w,
                            );
                        }
                        continue;
                    }
                    let (lo, hi) = if a[1] < b[1] { (a, b) } else { (b, a) };
                    if centre >= lo[1] && centre < hi[1] {
                        crossings
                            .push((centre - lo[1]) * (hi[0] - lo[0]) / (hi[1] - lo[1]) + lo[0]);
                    }
                }
            }
            crossings.sort_by(f64::total_cmp);
            for pair in crossings.chunks_exact(2) {
                self.fill_run(
                    y,
                    round_half_up(pair[0]),
                    round_half_up(pair[1]) - 1,
                    value,
                    w,
                );
            }
        }
    }

    fn fill_run(&mut self, y: i64, x1: i64, x2: i64, value: u8, w: i64) {
        let (x1, x2) = (x1.max(0), x2.min(w - 1));
        if x1 > x2 {
            return;
        }
        let row = y as usize * w as usize;
        self.data[row + x1 as usize..=row + x2 as usize].fill(value);
    }
}

/// Twice the signed area of a ring in pixel coordinates: positive when it
/// runs clockwise on screen (counter-clockwise when y is up, as in map
/// coordinates).
pub fn shoelace(ring: &[[f64; 2]]) -> f64 {
    let n = ring.len();
    (0..n)
        .map(|i| {
            let (a, b) = (ring[i], ring[(i + 1) % n]);
            a[0] * b[1] - b[0] * a[1]
        })
        .sum()
}

fn round_half_up(x: f64) -> i64 {
    (x + 0.5).floor() as i64
}

/// Rasterizes `(geometry, value)` pairs in order onto a `background` mask.
pub fn rasterize<'a>(
    width: u32,
    height: u32,
    background: u8,
    shapes: impl IntoIterator<Item = (&'a Geometry, u8)>,
) -> Mask {
    let mut mask = Mask::filled(width, height, background);
    for (g, v) in shapes {
        mask.paint(g, v);
    }
    mask
}

/// The pixel area of a polygon's rasterization (for COCO's `area`).
pub fn pixel_area(polygon: &Polygon, width: u32, height: u32) -> u64 {
    let mask = rasterize(width, height, 0, [(&Geometry::Polygon(polygon.clone()), 1)]);
    mask.data.iter().filter(|&&v| v == 1).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draw(g: Geometry, w: u32, h: u32) -> Vec<String> {
        let m = rasterize(w, h, 0, [(&g, 1)]);
        m.data
            .chunks(w as usize)
            .map(|r| r.iter().map(|&v| if v == 1 { '#' } else { '.' }).collect())
            .collect()
    }

    #[test]
    fn squares_with_holes_and_half_pixels() {
        let g = Geometry::Polygon(vec![
            vec![[1.0, 1.0], [7.0, 1.0], [7.0, 6.0], [1.0, 6.0], [1.0, 1.0]],
            vec![[3.0, 2.0], [5.0, 2.0], [5.0, 4.0], [3.0, 4.0]],
        ]);
        assert_eq!(
            draw(g, 8, 7),
            [
                "........", ".######.", ".##..##.", ".##..##.", ".######.", ".######.", "........",
            ]
        );
    }
}
