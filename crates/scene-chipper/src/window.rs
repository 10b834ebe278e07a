//! One window's labels: each feature meeting it, in the window's pixels
//! (through the window's own geotransform, as GDAL computes a chip's pixel
//! positions), clipped to it, kept or dropped by `min_visible`, and shaped
//! for the labeling type.

use labels_model::LabelingType;
use pixel_geometry::{ClipOutcome, Geometry, Polygon, Ring, clip};
use raster_georef::GeoTransform;

use crate::ChipOptions;
use crate::labels::{LabelSet, SceneLabels};

/// A feature's piece in one window, in the window's pixels.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Piece {
    /// Index into the [`LabelSet`]'s features.
    pub(crate) feature: usize,
    /// The piece as the labeling type draws it.
    pub(crate) geometry: Geometry,
}

/// A window's labels.
#[derive(Debug, Default)]
pub(crate) struct Pieces {
    /// The pieces kept, in file order, each with whether the window's edge
    /// cut it.
    pub(crate) labels: Vec<(Piece, bool)>,
    /// The class index of every piece dropped by `min_visible`.
    pub(crate) dropped: Vec<usize>,
}

impl Piece {
    /// The class index of this piece's feature.
    pub(crate) fn class(&self, labels: &LabelSet) -> usize {
        labels.class_of(self.feature)
    }
}

impl SceneLabels {
    /// The labels of window `index`.
    pub(crate) fn pieces(&self, labels: &LabelSet, index: usize, options: &ChipOptions) -> Pieces {
        let mut out = Pieces::default();
        let (col, row) = self.windows[index];
        let (x, y) = self.transform.pixel_to_map(f64::from(col), f64::from(row));
        let [_, a, b, _, d, e] = self.transform.0;
        let transform = GeoTransform([x, a, b, y, d, e]);
        let size = f64::from(self.size);
        for &i in &self.by_window[index] {
            let feature = &self.feats[i as usize];
            let pixels = to_pixels(&feature.geometry, &transform);
            let (geometry, clipped) = match clip(&pixels, size, size) {
                ClipOutcome::Outside => continue,
                ClipOutcome::Inside => (pixels, false),
                ClipOutcome::Clipped(_) => match intersect(&pixels, size) {
                    Some(g) => (g, true),
                    None => continue,
                },
            };
            let piece = Piece {
                feature: feature.feature,
                geometry,
            };
            if clipped
                && options.min_visible > 0.0
                && geometry_area(&piece.geometry) < options.min_visible * feature.area
            {
                out.dropped.push(piece.class(labels));
                continue;
            }
            let geometry = match options.labeling_type {
                LabelingType::ObjectDetection => Geometry::BBox(extent(&piece.geometry)),
                _ => piece.geometry,
            };
            out.labels.push((
                Piece {
                    feature: piece.feature,
                    geometry,
                },
                clipped,
            ));
        }
        out
    }
}

/// The part of `geometry` inside the window `[0, size]²`, as a valid
/// polygon or multipolygon: a hole the window's edge cuts becomes part of
/// the outline, and a concave shape cut in two gives two polygons (the
/// chip-edge clipping of `pixel_geometry::clip` keeps such a hole as a ring
/// touching the outline, which GIS tools call invalid). `None` when no area
/// is left.
fn intersect(geometry: &Geometry, size: f64) -> Option<Geometry> {
    use geo::BooleanOps as _;
    let to_geo = |p: &Polygon| -> geo::Polygon<f64> {
        let ring =
            |r: &Ring| geo::LineString::from(r.iter().map(|&[x, y]| (x, y)).collect::<Vec<_>>());
        let mut rings = p.iter();
        let exterior = rings
            .next()
            .map(ring)
            .unwrap_or_else(|| geo::LineString::new(Vec::new()));
        geo::Polygon::new(exterior, rings.map(ring).collect())
    };
    let subject = match geometry {
        Geometry::Polygon(p) => geo::MultiPolygon::new(vec![to_geo(p)]),
        Geometry::MultiPolygon(m) => geo::MultiPolygon::new(m.iter().map(to_geo).collect()),
        Geometry::BBox(_) => return None,
    };
    let window = geo::Rect::new((0.0, 0.0), (size, size)).to_polygon();
    let snap = Snap::new(geometry, size);
    let from_geo = |p: &geo::Polygon<f64>| -> Polygon {
        std::iter::once(p.exterior())
            .chain(p.interiors())
            .map(|r| r.coords().map(|c| snap.point(c.x, c.y)).collect())
            .collect()
    };
    let mut parts: Vec<Polygon> = subject
        .intersection(&window)
        .iter()
        .map(from_geo)
        .filter(|p| p.first().is_some_and(|r| ring_area(r) > 0.0))
        .collect();
    match parts.len() {
        0 => None,
        1 => parts.pop().map(Geometry::Polygon),
        _ => Some(Geometry::MultiPolygon(parts)),
    }
}

/// Undoes the rounding of the overlay: i_overlay computes on an integer
/// grid, which moves every vertex by up to about 1e-7 pixel. A vertex of
/// the input comes back exactly as it was (a pixel centre on an edge is
/// then decided as `gdal_rasterize` decides it), and a vertex on the
/// window's edge lies exactly on it.
struct Snap {
    /// The input's vertices, sorted.
    vertices: Vec<[f64; 2]>,
    size: f64,
}

/// How far the overlay may move a vertex, in pixels.
const SNAP: f64 = 1e-5;

impl Snap {
    fn new(geometry: &Geometry, size: f64) -> Snap {
        let mut vertices: Vec<[f64; 2]> = match geometry {
            Geometry::Polygon(p) => p.iter().flatten().copied().collect(),
            Geometry::MultiPolygon(m) => m.iter().flatten().flatten().copied().collect(),
            Geometry::BBox(_) => Vec::new(),
        };
        vertices.sort_by(|a, b| a[0].total_cmp(&b[0]));
        Snap { vertices, size }
    }

    fn point(&self, x: f64, y: f64) -> [f64; 2] {
        let from = self.vertices.partition_point(|v| v[0] < x - SNAP);
        let near = self.vertices[from..]
            .iter()
            .take_while(|v| v[0] <= x + SNAP)
            .find(|v| (v[1] - y).abs() <= SNAP);
        if let Some(&[vx, vy]) = near {
            return [vx.clamp(0.0, self.size), vy.clamp(0.0, self.size)];
        }
        let edge = |c: f64| {
            if c.abs() <= SNAP {
                0.0
            } else if (c - self.size).abs() <= SNAP {
                self.size
            } else {
                c
            }
        };
        [edge(x), edge(y)]
    }
}

/// `geometry` (map coordinates) in the pixels of `transform`.
fn to_pixels(geometry: &Geometry, transform: &GeoTransform) -> Geometry {
    let ring = |r: &Ring| -> Ring {
        r.iter()
            .map(|&[x, y]| {
                let (px, py) = transform.map_to_pixel(x, y);
                [px, py]
            })
            .collect()
    };
    let polygon = |p: &Polygon| -> Polygon { p.iter().map(ring).collect() };
    match geometry {
        Geometry::Polygon(p) => Geometry::Polygon(polygon(p)),
        Geometry::MultiPolygon(m) => Geometry::MultiPolygon(m.iter().map(polygon).collect()),
        &Geometry::BBox([x0, y0, x1, y1]) => to_pixels(
            &Geometry::Polygon(vec![vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]),
            transform,
        ),
    }
}

/// The extent `[xmin, ymin, xmax, ymax]` of a geometry's points.
fn extent(geometry: &Geometry) -> [f64; 4] {
    let mut e = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    let mut add = |&[x, y]: &[f64; 2]| {
        e = [e[0].min(x), e[1].min(y), e[2].max(x), e[3].max(y)];
    };
    match geometry {
        Geometry::BBox(b) => return *b,
        Geometry::Polygon(p) => p.iter().flatten().for_each(&mut add),
        Geometry::MultiPolygon(m) => m.iter().flatten().flatten().for_each(&mut add),
    }
    e
}

/// A geometry's area: outer rings less holes.
fn geometry_area(geometry: &Geometry) -> f64 {
    let polygon = |p: &Polygon| -> f64 {
        p.iter()
            .enumerate()
            .map(|(k, r)| if k == 0 { ring_area(r) } else { -ring_area(r) })
            .sum()
    };
    match geometry {
        Geometry::BBox([x0, y0, x1, y1]) => (x1 - x0) * (y1 - y0),
        Geometry::Polygon(p) => polygon(p),
        Geometry::MultiPolygon(m) => m.iter().map(polygon).sum(),
    }
}

/// The unsigned area of a ring (closed or not), by the shoelace formula.
pub(crate) fn ring_area(ring: &[[f64; 2]]) -> f64 {
    let n = ring.len();
    if n < 3 {
        return 0.0;
    }
    let twice: f64 = (0..n)
        .map(|i| {
            let [x0, y0] = ring[i];
            let [x1, y1] = ring[(i + 1) % n];
            x0 * y1 - x1 * y0
        })
        .sum();
    twice.abs() / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hole_the_window_cuts_joins_the_outline() {
        let square: Ring = vec![[0.5, 0.5], [9.5, 0.5], [9.5, 9.5], [0.5, 9.5], [0.5, 0.5]];
        let hole: Ring = vec![[4.0, 4.0], [6.0, 4.0], [6.0, 6.0], [4.0, 6.0], [4.0, 4.0]];
        let g = Geometry::Polygon(vec![square, hole]);
        let Some(Geometry::Polygon(p)) = intersect(&g, 5.0) else {
            panic!("one polygon expected");
        };
        assert_eq!(p.len(), 1, "the cut hole is part of the outline: {p:?}");
        assert_eq!(ring_area(&p[0]), 4.5 * 4.5 - 1.0);
        // The input's vertices come back exactly; new ones lie on the edge.
        for &[x, y] in &p[0] {
            assert!(
                [0.5, 4.0, 5.0].contains(&x) && [0.5, 4.0, 5.0].contains(&y),
                "{x} {y}"
            );
        }
        // A concave shape cut in two gives two polygons: a U whose bar lies
        // outside the window.
        let u: Ring = vec![
            [1.0, 9.0],
            [4.0, 9.0],
            [4.0, 1.0],
            [3.0, 1.0],
            [3.0, 7.0],
            [2.0, 7.0],
            [2.0, 1.0],
            [1.0, 1.0],
            [1.0, 9.0],
        ];
        let Some(Geometry::MultiPolygon(m)) = intersect(&Geometry::Polygon(vec![u]), 5.0) else {
            panic!("two polygons expected");
        };
        assert_eq!(m.iter().map(|p| ring_area(&p[0])).sum::<f64>(), 8.0);
        assert_eq!(m.len(), 2, "{m:?}");
    }

    #[test]
    fn areas_and_extents() {
        let square: Ring = vec![[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0], [0.0, 0.0]];
        assert_eq!(ring_area(&square), 16.0);
        assert_eq!(ring_area(&square[..4]), 16.0);
        let hole: Ring = vec![[1.0, 1.0], [2.0, 1.0], [2.0, 2.0], [1.0, 2.0]];
        let g = Geometry::Polygon(vec![square, hole]);
        assert_eq!(geometry_area(&g), 15.0);
        assert_eq!(extent(&g), [0.0, 0.0, 4.0, 4.0]);
    }
}
