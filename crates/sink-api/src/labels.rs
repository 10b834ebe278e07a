//! Labels as records, for destinations that keep them as rows of their own
//! (the database's `<table>_labels`). The store pipeline computes them from
//! the model; a destination sees plain numbers and strings, no format.

/// A polygon: its outer ring, then its holes; each ring a list of `[x, y]`
/// points (the closing point may repeat the first, or not).
pub type RecordPolygon = Vec<Vec<[f64; 2]>>;

/// A label's shape as polygons.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelShape {
    /// A multipolygon (the label was one), rather than one polygon.
    pub multi: bool,
    /// The polygons; one unless `multi`.
    pub polygons: Vec<RecordPolygon>,
}

/// One label of a chip.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelRecord {
    /// Its number among the chip's labels, from 0 (`labels[0]` of the
    /// manifest).
    pub index: u32,
    /// Its class id.
    pub class_id: u32,
    /// Its class name.
    pub class_name: String,
    /// Its attributes as a JSON object (`{}` when it has none).
    pub attributes_json: String,
    /// Its shape in map coordinates through the chip's georeferencing (a
    /// box as its 4 corners, rotation included), in the chip's CRS
    /// ([`ChipRecord::epsg`](crate::ChipRecord::epsg)); `None` for a chip
    /// without georeferencing.
    pub geom: Option<LabelShape>,
    /// Its shape in pixel coordinates (origin at the top-left corner of the
    /// chip, y down).
    pub pixel_geom: LabelShape,
}

/// A chip's labels, handed to a destination that
/// [takes labels](crate::Destination::takes_labels) just before
/// [`chip_stored`](crate::Destination::chip_stored) for the same chip.
#[derive(Debug, Clone, PartialEq)]
pub struct ChipLabels {
    /// The chip's id.
    pub chip: String,
    /// The chip's labels as one JSON document: its entry of a `json`
    /// store's `project.json`, whatever the store's formats.
    pub entry: Vec<u8>,
    /// One record per label, in label order.
    pub records: Vec<LabelRecord>,
}
