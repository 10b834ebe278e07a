//! Tracing a mask into polygons along pixel edges.
//!
//! [`trace`] turns the pixels of a mask that hold a value into polygons
//! whose every edge is a pixel edge (integer vertices, horizontal and
//! vertical sides only), so that [`crate::rasterize`] of them gives the
//! mask back exactly: a pixel is inside when its centre is, and no centre
//! lies on such an edge.
//!
//! - One polygon per 4-connected component: pixels touching only at a
//!   corner are separate polygons, whose rings meet at that corner.
//! - Holes are the background areas a component encloses (background
//!   connects through corners), each an inner ring of its component's
//!   polygon.
//! - Outer rings run clockwise on screen (y down), holes anticlockwise,
//!   which is the counter-clockwise exterior of RFC 7946 once y points up;
//!   every ring is closed (its last point repeats the first) and keeps only
//!   its corners.
//! - Polygons come in the order of their top-left pixel, row by row.

use crate::shape::{Polygon, Ring};

use crate::Mask;

/// A direction along a pixel edge, screen coordinates (y down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dir(i64, i64);

const EAST: Dir = Dir(1, 0);

impl Dir {
    /// A quarter turn clockwise on screen.
    fn right(self) -> Dir {
        Dir(-self.1, self.0)
    }

    fn left(self) -> Dir {
        Dir(self.1, -self.0)
    }
}

/// The pixels of `mask` equal to `value` as polygons along pixel edges,
/// in the mask's pixel coordinates (see the module docs). An empty mask
/// gives no polygons.
pub fn trace(mask: &Mask, value: u8) -> Vec<Polygon> {
    let (w, h) = (i64::from(mask.width), i64::from(mask.height));
    let on = |x: i64, y: i64| {
        (0..w).contains(&x) && (0..h).contains(&y) && mask.data[(y * w + x) as usize] == value
    };
    // The top edges of pixels already walked (each ring walks at least one,
    // and the one it starts from is the first found in raster order).
    let mut walked = vec![false; mask.data.len()];
    let mut outers: Vec<Ring> = Vec::new();
    let mut holes: Vec<(Ring, [i64; 2])> = Vec::new();
    for y in 0..h {
        for x in 0..w {
            if !on(x, y) || on(x, y - 1) || walked[(y * w + x) as usize] {
                continue;
            }
            let ring = walk(x, y, &on, &mut walked, w);
            if twice_area(&ring) > 0 {
                outers.push(ring);
            } else {
                // The probe: the centre of the pixel below the first edge,
                // doubled to stay in integers.
                holes.push((ring, [2 * x + 1, 2 * y + 1]));
            }
        }
    }
    let mut polygons: Vec<Polygon> = outers.into_iter().map(|r| vec![r]).collect();
    // A hole belongs to the smallest outer ring around a pixel next to it:
    // components inside other components' holes have smaller outer rings.
    let mut by_size: Vec<(usize, i64, [i64; 4])> = polygons
        .iter()
        .enumerate()
        .map(|(i, p)| (i, twice_area(&p[0]), bounds(&p[0])))
        .collect();
    by_size.sort_by_key(|&(i, a, _)| (a, i));
    for (ring, [px, py]) in holes {
        let owner = by_size.iter().find(|(i, _, [x0, y0, x1, y1])| {
            (2 * x0..=2 * x1).contains(&px)
                && (2 * y0..=2 * y1).contains(&py)
                && contains(&polygons[*i][0], px, py)
        });
        // Every hole lies inside the outer ring of its own component.
        if let Some(&(i, _, _)) = owner {
            polygons[i].push(ring);
        }
    }
    polygons
}

/// Walks one ring from the top-left corner of pixel `(x, y)`, eastwards
/// along its top edge, the pixels on the right-hand side, turning right
/// wherever it can so that pixels meeting at a corner stay apart. Marks
/// the top edges it walks; returns the corners, closed.
fn walk(x: i64, y: i64, on: &impl Fn(i64, i64) -> bool, walked: &mut [bool], w: i64) -> Ring {
    let start = (x, y);
    let (mut vx, mut vy, mut d) = (x, y, EAST);
    let mut corners: Vec<[f64; 2]> = Vec::new();
    // A ring has at most 4 edges per pixel; the bound only guards the loop.
    for _ in 0..=walked.len().saturating_mul(4) {
        if d == EAST
            && let Some(seen) = walked.get_mut((vy * w + vx) as usize)
        {
            *seen = true;
        }
        (vx, vy) = (vx + d.0, vy + d.1);
        // The pixels ahead, on the right and on the left of the way.
        let pixel = |s: Dir| (vx + (s.0 - 1) / 2, vy + (s.1 - 1) / 2);
        let (r, l) = (d.right(), d.left());
        let front_right = pixel(Dir(d.0 + r.0, d.1 + r.1));
        let front_left = pixel(Dir(d.0 + l.0, d.1 + l.1));
        let next = if !on(front_right.0, front_right.1) {
            r
        } else if !on(front_left.0, front_left.1) {
            d
        } else {
            l
        };
        if next != d {
            corners.push([vx as f64, vy as f64]);
        }
        if (vx, vy) == start && next == EAST {
            break;
        }
        d = next;
    }
    // Start at the first corner found walking, the top-left one.
    corners.rotate_right(1);
    if let Some(&first) = corners.first() {
        corners.push(first);
    }
    corners
}

/// Twice the signed area of a ring of integer points: positive when it
/// runs clockwise on screen.
fn twice_area(ring: &[[f64; 2]]) -> i64 {
    ring.windows(2)
        .map(|p| (p[0][0] * p[1][1] - p[1][0] * p[0][1]) as i64)
        .sum()
}

fn bounds(ring: &[[f64; 2]]) -> [i64; 4] {
    ring.iter().fold(
        [i64::MAX, i64::MAX, i64::MIN, i64::MIN],
        |[x0, y0, x1, y1], &[x, y]| {
            let (x, y) = (x as i64, y as i64);
            [x0.min(x), y0.min(y), x1.max(x), y1.max(y)]
        },
    )
}

/// Whether the point `(px, py) / 2` (never on a pixel edge: both odd) is
/// inside a closed ring of integer points, by the even-odd rule.
fn contains(ring: &[[f64; 2]], px: i64, py: i64) -> bool {
    let mut inside = false;
    for p in ring.windows(2) {
        let (ax, ay) = (2 * p[0][0] as i64, 2 * p[0][1] as i64);
        let (bx, by) = (2 * p[1][0] as i64, 2 * p[1][1] as i64);
        // Only vertical edges cross a horizontal ray from the point.
        if ax == bx && ax > px && (ay.min(by)..ay.max(by)).contains(&py) {
            inside = !inside;
        }
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Geometry;
    use crate::rasterize;

    fn mask(rows: &[&str]) -> Mask {
        let w = rows.first().map_or(0, |r| r.len());
        Mask {
            width: w as u32,
            height: rows.len() as u32,
            data: rows
                .iter()
                .flat_map(|r| r.bytes().map(|b| u8::from(b == b'#')))
                .collect(),
        }
    }

    /// Traces `m` and checks that rasterizing the polygons gives it back,
    /// that outer rings run clockwise and holes anticlockwise, and that
    /// every ring is closed and made of pixel edges.
    fn round_trip(m: &Mask) -> Vec<Polygon> {
        let polygons = trace(m, 1);
        let back = rasterize(
            m.width,
            m.height,
            0,
            [(&Geometry::MultiPolygon(polygons.clone()), 1)],
        );
        assert_eq!(back, *m, "{polygons:?}");
        for p in &polygons {
            for (k, ring) in p.iter().enumerate() {
                assert_eq!(ring.first(), ring.last());
                assert!(ring.len() >= 5, "{ring:?}");
                assert_eq!(twice_area(ring) > 0, k == 0, "{ring:?}");
                for s in ring.windows(2) {
                    assert!(s[0][0] == s[1][0] || s[0][1] == s[1][1], "{ring:?}");
                    assert!(s.iter().flatten().all(|v| v.fract() == 0.0));
                }
            }
        }
        polygons
    }

    #[test]
    fn one_pixel_and_a_full_mask() {
        let p = round_trip(&mask(&["...", ".#.", "..."]));
        assert_eq!(
            p,
            [vec![vec![
                [1.0, 1.0],
                [2.0, 1.0],
                [2.0, 2.0],
                [1.0, 2.0],
                [1.0, 1.0]
            ]]]
        );
        let p = round_trip(&mask(&["###", "###"]));
        assert_eq!(
            p,
            [vec![vec![
                [0.0, 0.0],
                [3.0, 0.0],
                [3.0, 2.0],
                [0.0, 2.0],
                [0.0, 0.0]
            ]]]
        );
        assert!(round_trip(&mask(&["...", "..."])).is_empty());
    }

    #[test]
    fn holes_go_with_their_component() {
        let p = round_trip(&mask(&[
            "#######.", "#.....#.", "#.###.#.", "#.#.#.#.", "#.###.#.", "#.....##", "#######.",
        ]));
        // The frame with its hole, and the small square (itself holed)
        // inside that hole.
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].len(), p[1].len()), (2, 2));
        assert_eq!(p[1][0][0], [2.0, 2.0]);
        assert_eq!(p[1][1][0], [3.0, 4.0]);
        assert_eq!(p[0][1][0], [1.0, 6.0]);
    }

    #[test]
    fn corners_keep_pixels_apart() {
        // A chequerboard: every pixel its own polygon.
        let p = round_trip(&mask(&["#.#", ".#.", "#.#"]));
        assert_eq!(p.len(), 5);
        assert!(p.iter().all(|p| p.len() == 1 && p[0].len() == 5));
        // A ring of pixels touching at corners encloses nothing: no hole.
        let p = round_trip(&mask(&[".#.", "#.#", ".#."]));
        assert_eq!(p.len(), 4);
        // A hole with a staircase side.
        let p = round_trip(&mask(&["####", "#..#", "#.##", "###."]));
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].len(), 2);
        // Background meeting the outside at a corner is no hole: the outer
        // ring comes in through that corner.
        let p = round_trip(&mask(&["####.", "#..#.", "#..#.", "###.#"]));
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].len(), p[1].len()), (1, 1));
        round_trip(&mask(&["##..", "##..", "..##", "..##"]));
        round_trip(&mask(&["#..#", ".##.", ".##.", "#..#"]));
    }

    #[test]
    fn several_components_and_edges_of_the_mask() {
        let p = round_trip(&mask(&["##..##", "#....#", "......", "#.##.#"]));
        assert_eq!(p.len(), 5);
        assert_eq!(p[0][0][0], [0.0, 0.0]);
        assert_eq!(p[1][0][0], [4.0, 0.0]);
        round_trip(&mask(&["#"]));
        round_trip(&mask(&["#.#.#"]));
        round_trip(&mask(&["#", ".", "#"]));
    }

    #[test]
    fn random_masks_come_back() {
        // A small deterministic generator (no dependency), with blobs of
        // varying density.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for case in 0..400 {
            let (w, h) = (1 + next() % 23, 1 + next() % 19);
            let density = next() % 100;
            let mut m = Mask::filled(w as u32, h as u32, 0);
            for v in &mut m.data {
                *v = u8::from(next() % 100 < density);
            }
            let p = round_trip(&m);
            // One polygon per 4-connected component, each (with its holes)
            // rasterizing to exactly that component.
            let labels = components(&m);
            assert_eq!(
                p.len(),
                labels.iter().max().map_or(0, |&n| n),
                "case {case}"
            );
            for p in &p {
                let [x, y] = p[0][0];
                let id = labels[y as usize * w as usize + x as usize];
                let alone = rasterize(m.width, m.height, 0, [(&Geometry::Polygon(p.clone()), 1)]);
                let want: Vec<u8> = labels.iter().map(|&l| u8::from(l == id)).collect();
                assert_eq!(alone.data, want, "case {case}: {p:?}");
            }
        }
    }

    /// The 4-connected component (1, 2, ...; 0 for background) of every pixel.
    fn components(m: &Mask) -> Vec<usize> {
        let (w, h) = (m.width as usize, m.height as usize);
        let mut seen = vec![0; w * h];
        let mut n = 0;
        for start in 0..w * h {
            if m.data[start] != 1 || seen[start] != 0 {
                continue;
            }
            n += 1;
            let mut stack = vec![start];
            seen[start] = n;
            while let Some(i) = stack.pop() {
                let (x, y) = (i % w, i / w);
                let mut near = Vec::new();
                if x > 0 {
                    near.push(i - 1);
                }
                if x + 1 < w {
                    near.push(i + 1);
                }
                if y > 0 {
                    near.push(i - w);
                }
                if y + 1 < h {
                    near.push(i + w);
                }
                for j in near {
                    if m.data[j] == 1 && seen[j] == 0 {
                        seen[j] = n;
                        stack.push(j);
                    }
                }
            }
        }
        seen
    }
}
