//! Clipping labels to their chip.

use crate::shape::{Geometry, Polygon, Ring};

/// What clipping did to a geometry.
#[derive(Debug, PartialEq)]
pub enum ClipOutcome {
    /// Wholly inside the chip: unchanged.
    Inside,
    /// Crossed the chip's edge: the clipped geometry.
    Clipped(Geometry),
    /// No area inside the chip.
    Outside,
}

/// Clips `g` to the chip rectangle `[0, w] x [0, h]`.
pub fn clip(g: &Geometry, w: f64, h: f64) -> ClipOutcome {
    match g {
        Geometry::BBox([x0, y0, x1, y1]) => {
            let c = [x0.max(0.0), y0.max(0.0), x1.min(w), y1.min(h)];
            if c[0] >= c[2] || c[1] >= c[3] {
                ClipOutcome::Outside
            } else if c == [*x0, *y0, *x1, *y1] {
                ClipOutcome::Inside
            } else {
                ClipOutcome::Clipped(Geometry::BBox(c))
            }
        }
        Geometry::Polygon(p) => {
            if polygon_inside(p, w, h) {
                return ClipOutcome::Inside;
            }
            match clip_polygon(p, w, h) {
                Some(p) => ClipOutcome::Clipped(Geometry::Polygon(p)),
                None => ClipOutcome::Outside,
            }
        }
        Geometry::MultiPolygon(m) => {
            if m.iter().all(|p| polygon_inside(p, w, h)) {
                return ClipOutcome::Inside;
            }
            let parts: Vec<Polygon> = m.iter().filter_map(|p| clip_polygon(p, w, h)).collect();
            if parts.is_empty() {
                ClipOutcome::Outside
            } else {
                ClipOutcome::Clipped(Geometry::MultiPolygon(parts))
            }
        }
    }
}

fn polygon_inside(p: &Polygon, w: f64, h: f64) -> bool {
    p.iter()
        .flatten()
        .all(|&[x, y]| (0.0..=w).contains(&x) && (0.0..=h).contains(&y))
}

/// Clips a polygon's rings; `None` when the outer ring keeps no area.
fn clip_polygon(p: &Polygon, w: f64, h: f64) -> Option<Polygon> {
    let mut rings = p.iter().map(|r| clip_ring(r, w, h));
    let outer = rings.next()??;
    let mut out = vec![outer];
    out.extend(rings.flatten());
    Some(out)
}

/// Sutherland–Hodgman against the four edges of the chip; a closed input
/// ring (last point = first) gives a closed output ring. `None` when less
/// than a sliver of area remains.
fn clip_ring(ring: &Ring, w: f64, h: f64) -> Option<Ring> {
    let closed = ring.len() > 1 && ring.first() == ring.last();
    let mut pts: Vec<[f64; 2]> = ring[..ring.len() - usize::from(closed)].to_vec();
    // Each edge: is a point inside, and where does a segment cross it.
    let edges: [(usize, f64, bool); 4] =
        [(0, 0.0, true), (0, w, false), (1, 0.0, true), (1, h, false)];
    for (axis, limit, keep_above) in edges {
        let inside = |p: &[f64; 2]| {
            if keep_above {
                p[axis] >= limit
            } else {
                p[axis] <= limit
            }
        };
        let mut next = Vec::with_capacity(pts.len() + 4);
        for i in 0..pts.len() {
            let cur = pts[i];
            let prev = pts[(i + pts.len() - 1) % pts.len()];
            let cross = || {
                let t = (limit - prev[axis]) / (cur[axis] - prev[axis]);
                let mut q = [
                    prev[0] + t * (cur[0] - prev[0]),
                    prev[1] + t * (cur[1] - prev[1]),
                ];
                q[axis] = limit;
                q
            };
            match (inside(&prev), inside(&cur)) {
                (true, true) => next.push(cur),
                (true, false) => next.push(cross()),
                (false, true) => {
                    next.push(cross());
                    next.push(cur);
                }
                (false, false) => {}
            }
        }
        next.dedup();
        pts = next;
        if pts.len() < 3 {
            return None;
        }
    }
    if ring_area(&pts).abs() == 0.0 {
        return None;
    }
    if closed {
        pts.push(pts[0]);
    }
    Some(pts)
}

fn ring_area(pts: &[[f64; 2]]) -> f64 {
    let n = pts.len();
    (0..n)
        .map(|i| {
            let (a, b) = (pts[i], pts[(i + 1) % n]);
            a[0] * b[1] - b[0] * a[1]
        })
        .sum::<f64>()
        / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes() {
        let b = |c| Geometry::BBox(c);
        assert_eq!(
            clip(&b([0.0, 0.0, 64.0, 64.0]), 64.0, 64.0),
            ClipOutcome::Inside
        );
        assert_eq!(
            clip(&b([-5.0, 10.0, 20.5, 80.0]), 64.0, 64.0),
            ClipOutcome::Clipped(b([0.0, 10.0, 20.5, 64.0]))
        );
        assert_eq!(
            clip(&b([64.0, 0.0, 70.0, 10.0]), 64.0, 64.0),
            ClipOutcome::Outside
        );
        assert_eq!(
            clip(&b([-9.0, -9.0, -1.0, -1.0]), 64.0, 64.0),
            ClipOutcome::Outside
        );
    }

    #[test]
    fn polygons() {
        let tri: Polygon = vec![vec![[-10.0, 5.0], [10.0, 5.0], [10.0, 25.0], [-10.0, 5.0]]];
        let ClipOutcome::Clipped(Geometry::Polygon(p)) = clip(&Geometry::Polygon(tri), 64.0, 64.0)
        else {
            panic!("expected a clipped polygon")
        };
        assert_eq!(
            p,
            vec![vec![
                [0.0, 15.0],
                [0.0, 5.0],
                [10.0, 5.0],
                [10.0, 25.0],
                [0.0, 15.0]
            ]]
        );
        assert!((ring_area(&p[0][..4]).abs() - 150.0).abs() < 1e-9);

        let outside: Polygon = vec![vec![[70.0, 0.0], [80.0, 0.0], [80.0, 10.0]]];
        assert_eq!(
            clip(&Geometry::Polygon(outside.clone()), 64.0, 64.0),
            ClipOutcome::Outside
        );
        // A hole outside the chip is dropped; the outer ring is kept.
        let holed: Polygon = vec![
            vec![[10.0, 10.0], [70.0, 10.0], [70.0, 20.0], [10.0, 20.0]],
            vec![[65.0, 12.0], [68.0, 12.0], [68.0, 15.0]],
        ];
        let ClipOutcome::Clipped(Geometry::Polygon(p)) =
            clip(&Geometry::Polygon(holed), 64.0, 64.0)
        else {
            panic!("expected a clipped polygon")
        };
        assert_eq!(
            p,
            vec![vec![[10.0, 10.0], [64.0, 10.0], [64.0, 20.0], [10.0, 20.0]]]
        );
        let multi = Geometry::MultiPolygon(vec![
            outside,
            vec![vec![[1.0, 1.0], [2.0, 1.0], [2.0, 2.0]]],
        ]);
        assert_eq!(
            clip(&multi, 64.0, 64.0),
            ClipOutcome::Clipped(Geometry::MultiPolygon(vec![vec![vec![
                [1.0, 1.0],
                [2.0, 1.0],
                [2.0, 2.0]
            ]]]))
        );
    }
}
