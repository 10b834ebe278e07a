//! Labels COCO would write with zero width, height or `area` (issue 14
//! item 9) are left out of the COCO file and counted in the summary;
//! pycocotools judges the file.

use std::path::Path;

use crate::fetch_verify::python;
use crate::util::{self, root, stderr, stdout};

/// Stores the project `json` (with the chip `a.png` of detection-basic)
/// in COCO; gives the `--json` summary and the COCO file.
fn store(json: &str, tmp: &Path) -> (serde_json::Value, std::path::PathBuf) {
    let project = tmp.join("p");
    std::fs::create_dir_all(project.join("chips")).unwrap();
    std::fs::copy(
        root().join("tests/fixtures/detection-basic/chips/a.png"),
        project.join("chips/a.png"),
    )
    .unwrap();
    std::fs::write(project.join("project.json"), json).unwrap();
    let o = util::labelstore()
        .args([
            "store",
            project.to_str().unwrap(),
            "--to",
            "local",
            "--path",
        ])
        .arg(tmp.join("out"))
        .args(["--format", "coco", "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let summary = serde_json::from_str(&stdout(&o)).unwrap();
    (
        summary,
        tmp.join("out/coco/annotations/instances_train.json"),
    )
}

/// Per annotation: its bbox, area and the pixels of `annToMask`.
const JUDGE: &str = r#"
import json, sys
from pycocotools.coco import COCO
c = COCO(sys.argv[1])
print(json.dumps([[a["bbox"], a["area"], int(c.annToMask(a).sum())]
                  for a in c.loadAnns(sorted(c.getAnnIds()))]))
"#;

fn judge(file: &Path) -> serde_json::Value {
    let out = python(JUDGE, &[file.to_str().unwrap()]);
    // COCO() prints its progress first.
    serde_json::from_str(out.lines().last().unwrap_or_default()).unwrap()
}

/// Stores `json`; asserts that one label was left out and counted, and
/// that pycocotools gives `want` (bbox, area, pixels) for the others.
fn one_left_out(json: &str, want: serde_json::Value) {
    let tmp = tempfile::tempdir().unwrap();
    let (summary, file) = store(json, tmp.path());
    assert_eq!(
        summary["notes"],
        serde_json::json!({"coco": {"labels left out: zero width, height or area": 1}})
    );
    assert_eq!(judge(&file), want);
}

#[test]
fn a_box_of_zero_area_is_left_out_and_counted() {
    // 1e-200 squared underflows: COCO's `area` would be 0.
    one_left_out(
        r#"{"labelstore": 1, "name": "d", "labeling_type": "object_detection",
            "classes": [{"id": 1, "name": "car"}],
            "chips": [{"id": "a", "image": "chips/a.png", "labels": [
              {"class": 1, "bbox": [1, 1, 5, 5]},
              {"class": 1, "bbox": [0, 0, 1e-200, 1e-200]}]}]}"#,
        serde_json::json!([[[1.0, 1.0, 4.0, 4.0], 16.0, 16]]),
    );
}

#[test]
fn a_sliver_of_no_pixel_is_left_out_and_counted() {
    // Every annotation left has pixels, `area` being pycocotools' count.
    one_left_out(
        r#"{"labelstore": 1, "name": "d", "labeling_type": "instance_segmentation",
            "classes": [{"id": 1, "name": "roof"}],
            "chips": [{"id": "a", "image": "chips/a.png", "labels": [
              {"class": 1, "polygon": [[[1, 1], [5, 1], [5, 5], [1, 5], [1, 1]]]},
              {"class": 1, "polygon": [[[2, 8.6], [6, 8.6], [6, 8.9], [2, 8.6]]]},
              {"class": 1, "polygon": [[[10, 10], [12.5, 10], [12.5, 11.5], [10, 10]]]}]}]}"#,
        serde_json::json!([
            [[1.0, 1.0, 4.0, 4.0], 16.0, 16],
            [[10.0, 10.0, 2.5, 1.5], 2.0, 2]
        ]),
    );
}
