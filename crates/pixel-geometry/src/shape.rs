//! The shapes labels are drawn with, in pixel coordinates.

/// A closed ring of `[x, y]` pixel positions (the closing point may repeat the first).
pub type Ring = Vec<[f64; 2]>;
/// An outer ring followed by its holes.
pub type Polygon = Vec<Ring>;

/// The shape of a label, in continuous pixel coordinates (origin at the
/// top-left corner of the top-left pixel, y down).
///
/// Not `#[non_exhaustive]`: the model, the formats and this crate match it
/// in full, so a new kind of shape fails to compile wherever it needs
/// handling instead of falling into a wildcard arm.
#[derive(Debug, Clone, PartialEq)]
pub enum Geometry {
    /// `[xmin, ymin, xmax, ymax]`.
    BBox([f64; 4]),
    /// One polygon, possibly with holes.
    Polygon(Polygon),
    /// Several polygons.
    MultiPolygon(Vec<Polygon>),
}

impl Geometry {
    /// The name of this kind of shape, which is also the field of a
    /// project manifest that holds it: `bbox`, `polygon` or `multipolygon`.
    pub fn field(&self) -> &'static str {
        match self {
            Geometry::BBox(_) => "bbox",
            Geometry::Polygon(_) => "polygon",
            Geometry::MultiPolygon(_) => "multipolygon",
        }
    }

    /// The shape as polygons: a box as one polygon of its 4 corners
    /// (top-left, top-right, bottom-right, bottom-left, not closed), a
    /// polygon as itself, a multipolygon as its polygons.
    pub fn polygons(&self) -> Vec<Polygon> {
        match self {
            Geometry::BBox([x0, y0, x1, y1]) => {
                vec![vec![vec![[*x0, *y0], [*x1, *y0], [*x1, *y1], [*x0, *y1]]]]
            }
            Geometry::Polygon(p) => vec![p.clone()],
            Geometry::MultiPolygon(m) => m.clone(),
        }
    }
}
