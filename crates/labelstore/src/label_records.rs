//! A chip's labels as records (`sink_api::ChipLabels`), for a destination
//! that keeps them as rows (the database's `<table>_labels`): each label's
//! class, attributes, and shape in pixel coordinates and in map coordinates
//! through the chip's georeferencing (`GeoTransform::pixel_to_map`, as the
//! GeoJSON and Shapefile formats place them).

use labels_model::{Chip, ChipGeoref, Project};
use raster_georef::GeoTransform;
use sink_api::{ChipLabels, LabelRecord, LabelShape, RecordPolygon};

/// The records of `chip`'s labels (the chip as stored: clipped, its image
/// path the stored one), with its entry in labelstore's own `json` format.
pub(crate) fn chip_labels(project: &Project, chip: &Chip, georef: &ChipGeoref) -> ChipLabels {
    let records = chip
        .labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let polygons = label.geometry.polygons();
            let multi = matches!(label.geometry, labels_model::Geometry::MultiPolygon(_));
            LabelRecord {
                index: u32::try_from(i).unwrap_or(u32::MAX),
                class_id: label.class_id,
                class_name: project
                    .class(label.class_id)
                    .map_or_else(String::new, |c| c.name.clone()),
                attributes_json: serde_json::Value::Object(label.attributes.clone()).to_string(),
                geom: georef.transform.map(|gt| LabelShape {
                    multi,
                    polygons: polygons.iter().map(|p| to_map(&gt, p)).collect(),
                }),
                pixel_geom: LabelShape { multi, polygons },
            }
        })
        .collect();
    ChipLabels {
        chip: chip.id.clone(),
        entry: labels_model::chip_entry(project, chip),
        records,
    }
}

/// A polygon in map coordinates, its outer ring counter-clockwise and its
/// holes clockwise (as the numbers read, y up: RFC 7946's rule, which the
/// GeoJSON format follows), each ring keeping its first point.
fn to_map(gt: &GeoTransform, polygon: &RecordPolygon) -> RecordPolygon {
    polygon
        .iter()
        .enumerate()
        .map(|(k, ring)| {
            let mut r: Vec<[f64; 2]> = ring
                .iter()
                .map(|&[x, y]| {
                    let (mx, my) = gt.pixel_to_map(x, y);
                    [mx, my]
                })
                .collect();
            if r.len() > 2 && (pixel_geometry::shoelace(&r) > 0.0) != (k == 0) {
                // Reversed, keeping the first point (and a closing one).
                let closed = r.len() > 1 && r.first() == r.last();
                let end = r.len() - usize::from(closed);
                r[1..end].reverse();
            }
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use labels_model::{Geometry, GeorefSource, Label};

    #[test]
    fn boxes_become_rotated_corners_in_map_coordinates() {
        let gt = GeoTransform([500000.0, 0.5, 0.1, 4649776.0, 0.2, -0.5]);
        let mut attributes = labels_model::Attributes::new();
        attributes.insert("pose".into(), "Left".into());
        let text = r#"{"labelstore": 1, "name": "p", "labeling_type": "object_detection",
            "classes": [{"id": 3, "name": "ship"}],
            "chips": [{"id": "a", "image": "a.png", "labels": [{"class": "ship", "bbox": [1, 2, 3, 4]}]}]}"#;
        let project = Project::from_json(
            text.as_bytes(),
            std::path::Path::new("m/project.json"),
            "m".into(),
        )
        .unwrap();
        let mut chip = project.chips[0].clone();
        chip.labels = vec![Label {
            class_id: 3,
            geometry: Geometry::BBox([1.0, 2.0, 3.0, 4.0]),
            attributes,
        }];
        let georef = ChipGeoref {
            source: GeorefSource::Inline,
            transform: Some(gt),
            epsg: Some(32632),
        };
        let labels = chip_labels(&project, &chip, &georef);
        let r = &labels.records[0];
        assert_eq!((r.index, r.class_id, r.class_name.as_str()), (0, 3, "ship"));
        assert_eq!(r.attributes_json, r#"{"pose":"Left"}"#);
        let pixel = [[1.0, 2.0], [3.0, 2.0], [3.0, 4.0], [1.0, 4.0]];
        assert_eq!(r.pixel_geom.polygons, vec![vec![pixel.to_vec()]]);
        // Each corner through the geotransform; the ring turned
        // counter-clockwise (y up), its first corner kept.
        let map = |[x, y]: [f64; 2]| {
            let (mx, my) = gt.pixel_to_map(x, y);
            [mx, my]
        };
        let expected = vec![map(pixel[0]), map(pixel[3]), map(pixel[2]), map(pixel[1])];
        let geom = r.geom.as_ref().unwrap();
        assert!(!geom.multi);
        assert_eq!(geom.polygons, vec![vec![expected.clone()]]);
        assert!(pixel_geometry::shoelace(&expected) > 0.0);
        let none = ChipGeoref {
            source: GeorefSource::None,
            transform: None,
            epsg: None,
        };
        assert_eq!(chip_labels(&project, &chip, &none).records[0].geom, None);
    }
}
