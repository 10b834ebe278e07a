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
                ClipOutcome::Clipped(g) => (g, true),
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
