//! Format `json`: labelstore's own, the project manifest of SPEC §1 holding
//! the stored scope, written at the store's root as `project.json`.
//!
//! The output is deterministic: keys in a fixed order, two-space
//! indentation, floats in their shortest round-trip form. Loading it gives
//! the stored project back, and writing that again gives the same bytes.
//!
//! A semantic-segmentation chip's mask file goes beside it, byte for byte,
//! as `masks/<chip id>.<ext>`, which the manifest's `mask` names: the store
//! is a project folder `labelstore store` takes again.

use std::path::Path;

use serde::Serialize;

use crate::MANIFEST_FILE;
use crate::codec::{LabelFormat, LabelWriter, Output};
use crate::error::{Error, Result};
use crate::manifest::{chip_to_wire, header_to_wire};
use crate::model::{LabelingType, Project};

/// labelstore's own `json` format (every labeling type).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonFormat;

impl LabelFormat for JsonFormat {
    fn name(&self) -> &'static str {
        "json"
    }

    /// Every type: for semantic segmentation, the project folder holds
    /// each chip's mask file under `masks/`.
    fn labeling_types(&self) -> &'static [LabelingType] {
        &LabelingType::ALL
    }

    fn layout(&self) -> &'static str {
        "project.json, chips/, masks/ (semantic segmentation)"
    }

    fn writer(&self, header: &Project) -> Box<dyn LabelWriter> {
        Box::new(JsonWriter {
            header: header.header(),
            chips: 0,
        })
    }

    fn read(&self, root: &Path) -> Result<Project> {
        Project::load(&root.join(MANIFEST_FILE))
    }

    /// The manifest holds each chip's `split` as it is.
    fn keeps_splits(&self) -> bool {
        true
    }
}

struct JsonWriter {
    header: Project,
    chips: usize,
}

fn pretty<T: Serialize>(value: &T, indent: &str) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"  ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    // Serializing plain structs and maps into a Vec cannot fail.
    value.serialize(&mut ser).ok();
    let text = String::from_utf8(buf).unwrap_or_default();
    text.replace('\n', &format!("\n{indent}"))
}

fn io_err(e: std::io::Error) -> Error {
    Error::Io {
        path: MANIFEST_FILE.into(),
        source: e,
    }
}

impl JsonWriter {
    fn head(&self) -> String {
        let w = header_to_wire(&self.header);
        let mut s = String::from("{\n");
        s += &format!("  \"labelstore\": {},\n", w.labelstore);
        s += &format!("  \"name\": {},\n", pretty(&w.name, ""));
        s += &format!("  \"labeling_type\": {},\n", pretty(&w.labeling_type, ""));
        if let Some(srid) = w.srid {
            s += &format!("  \"srid\": {srid},\n");
        }
        s += &format!("  \"classes\": {},\n", pretty(&w.classes, "  "));
        s += "  \"chips\": [";
        s
    }
}

impl LabelWriter for JsonWriter {
    fn write_chip(
        &mut self,
        chip: &crate::Chip,
        _georef: &crate::ChipGeoref,
        out: &mut dyn Output,
    ) -> Result<()> {
        let mut text = if self.chips == 0 {
            self.head() + "\n    "
        } else {
            ",\n    ".to_owned()
        };
        let mut wire = chip_to_wire(&self.header, chip);
        if let Some(mask) = &chip.mask {
            let source = self.header.base_dir.join(mask);
            let bytes = crate::regular::read_regular(&source).map_err(|e| Error::Io {
                path: source.clone(),
                source: e,
            })?;
            let stored = stored_mask(&chip.id, mask);
            out.put(&stored, bytes).map_err(io_err)?;
            wire.mask = Some(stored);
        }
        text += &pretty(&wire, "    ");
        self.chips += 1;
        out.append(MANIFEST_FILE, text.as_bytes()).map_err(io_err)
    }

    fn finish(&mut self, out: &mut dyn Output) -> Result<()> {
        let text = if self.chips == 0 {
            self.head() + "]\n}\n"
        } else {
            "\n  ]\n}\n".to_owned()
        };
        out.append(MANIFEST_FILE, text.as_bytes()).map_err(io_err)
    }
}

/// Where a `json` store puts a chip's mask file: `masks/<chip id>.<ext>`.
fn stored_mask(id: &str, mask: &Path) -> String {
    let ext = mask
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_else(|| "png".to_owned());
    format!("masks/{id}.{ext}")
}

/// A chip's entry as a `json` store writes it into `project.json` (its
/// mask named where that store puts it), on its own: the chip's labels in
/// labelstore's own format, for a destination that keeps them per chip.
pub fn chip_entry(header: &Project, chip: &crate::Chip) -> Vec<u8> {
    let mut wire = chip_to_wire(header, chip);
    if let Some(mask) = &chip.mask {
        wire.mask = Some(stored_mask(&chip.id, mask));
    }
    pretty(&wire, "").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(p: &Project) -> Vec<u8> {
        let mut out = crate::MemoryOutput::default();
        let mut w = JsonFormat.writer(p);
        for c in &p.chips {
            let none = crate::ChipGeoref {
                source: crate::GeorefSource::None,
                transform: None,
                epsg: None,
            };
            w.write_chip(c, &none, &mut out).unwrap();
        }
        w.finish(&mut out).unwrap();
        out.0.remove(MANIFEST_FILE).unwrap()
    }

    fn round_trip(text: &str) -> Vec<u8> {
        let path = Path::new("m/project.json");
        let p = Project::from_json(text.as_bytes(), path, "m".into()).unwrap();
        let bytes = write(&p);
        let back = Project::from_json(&bytes, path, "m".into()).unwrap();
        assert_eq!(back, p);
        assert_eq!(write(&back), bytes, "second write differs");
        bytes
    }

    #[test]
    fn a_chip_entry_is_its_part_of_project_json() {
        let text = r#"{"labelstore": 1, "name": "p", "labeling_type": "object_detection",
            "classes": [{"id": 3, "name": "ship"}],
            "chips": [{"id": "a", "image": "a.png", "labels": [{"class": "ship", "bbox": [1, 2, 3.5, 4], "attributes": {"pose": "Left"}}]}]}"#;
        let p =
            Project::from_json(text.as_bytes(), Path::new("m/project.json"), "m".into()).unwrap();
        let entry = String::from_utf8(chip_entry(&p.header(), &p.chips[0])).unwrap();
        let manifest = String::from_utf8(write(&p)).unwrap();
        let indented = format!("    {}", entry.replace('\n', "\n    "));
        assert!(manifest.contains(&indented), "{entry}\nnot in\n{manifest}");
        let v: serde_json::Value = serde_json::from_str(&entry).unwrap();
        assert_eq!(v["labels"][0]["class"], "ship");
        assert_eq!(
            v["labels"][0]["bbox"],
            serde_json::json!([1.0, 2.0, 3.5, 4.0])
        );
    }

    #[test]
    fn stable_output_and_round_trip() {
        let bytes = round_trip(
            r##"{"chips": [{"labels": [{"attributes": {"z": 1, "a": [1, "x"], "score": 0.1}, "bbox": [0.1, 2, 3e2, 4.000000000000001], "class": "ship"}],
                 "image": "chips/a.png", "id": "a", "width": 512, "height": 512, "srid": 4326,
                 "geotransform": [500000, 0.5, 0.1, 4649776, 0.2, -0.5]},
                {"id": "b", "image": "b.tif", "saved_empty": true, "split": "val", "world_file": "b.tfw", "labels": []}],
              "classes": [{"name": "ship", "id": 7, "color": "#E6194B"}],
              "labeling_type": "object_detection", "name": "x \"y\"", "labelstore": 1, "srid": 32632}"##,
        );
        let expected = r##"{
  "labelstore": 1,
  "name": "x \"y\"",
  "labeling_type": "object_detection",
  "srid": 32632,
  "classes": [
    {
      "id": 7,
      "name": "ship",
      "color": "#e6194b"
    }
  ],
  "chips": [
    {
      "id": "a",
      "image": "chips/a.png",
      "width": 512,
      "height": 512,
      "geotransform": [
        500000.0,
        0.5,
        0.1,
        4649776.0,
        0.2,
        -0.5
      ],
      "srid": 4326,
      "labels": [
        {
          "class": "ship",
          "bbox": [
            0.1,
            2.0,
            300.0,
            4.000000000000001
          ],
          "attributes": {
            "a": [
              1,
              "x"
            ],
            "score": 0.1,
            "z": 1
          }
        }
      ]
    },
    {
      "id": "b",
      "image": "b.tif",
      "world_file": "b.tfw",
      "saved_empty": true,
      "split": "val",
      "labels": []
    }
  ]
}
"##;
        assert_eq!(String::from_utf8(bytes).unwrap(), expected);
    }

    #[test]
    fn empty_scope_and_polygons() {
        let bytes = round_trip(
            r#"{"labelstore": 1, "name": "n", "labeling_type": "instance_segmentation", "classes": [], "chips": []}"#,
        );
        assert!(
            String::from_utf8(bytes)
                .unwrap()
                .ends_with("\"chips\": []\n}\n")
        );
        round_trip(
            r#"{"labelstore": 1, "name": "n", "labeling_type": "instance_segmentation",
                "classes": [{"id": 1, "name": "roof"}],
                "chips": [{"id": "a", "image": "a.png", "labels": [
                  {"class": "roof", "polygon": [[[0, 0], [4, 0], [4, 4]], [[1, 1], [2, 1], [2, 2]]]},
                  {"class": "roof", "multipolygon": [[[[5, 5], [6, 5], [6, 6]]], [[[7, 7], [8, 7], [8, 8], [7, 7]]]]}]}]}"#,
        );
    }
}
