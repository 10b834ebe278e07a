//! Same input, same bytes (issue 14 item 7): two stores of one project,
//! more than a second apart, and a store to the object store (moto's S3
//! server), hold byte-identical files except `labelstore-manifest.json`;
//! COCO's `info.date_created` comes from `SOURCE_DATE_EPOCH` alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::fetch_verify::{S3, env, ok, python, unique};
use crate::util::{self, root, snapshot, stderr, stdout};

/// Every project with every format that fits it.
fn projects() -> Vec<(PathBuf, &'static str)> {
    let detection = "json,geojson,shapefile,voc,coco,kitti,yolo";
    vec![
        (root().join("examples/harbour"), detection),
        (root().join("tests/fixtures/detection-basic"), detection),
        (root().join("tests/fixtures/instance-polygons"), "json,coco"),
        (
            root().join("tests/fixtures/semantic-masks"),
            "png,tiff,geotiff,gif,bmp",
        ),
    ]
}

/// Runs `labelstore store project --to local --path to --format formats`
/// with `epoch` as `SOURCE_DATE_EPOCH` (`None`: unset).
fn store_with(project: &Path, to: &Path, formats: &str, epoch: Option<&str>) -> Output {
    let mut cmd = util::labelstore();
    match epoch {
        Some(e) => cmd.env("SOURCE_DATE_EPOCH", e),
        None => cmd.env_remove("SOURCE_DATE_EPOCH"),
    };
    cmd.args([
        "store",
        project.to_str().unwrap(),
        "--to",
        "local",
        "--path",
    ])
    .arg(to)
    .args(["--format", formats])
    .output()
    .unwrap()
}

/// Stores `project` in `formats` to the folder `to`, with no
/// `SOURCE_DATE_EPOCH`.
fn store_local(project: &Path, to: &Path, formats: &str) {
    let o = store_with(project, to, formats, None);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
}

/// The files of a store, without the manifest and folders.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    snapshot(dir)
        .into_iter()
        .filter(|(k, _)| !k.ends_with('/') && k != "labelstore-manifest.json")
        .collect()
}

/// Asserts that the stores `a` and `b` of `project` hold the same files
/// with the same bytes, the manifest aside.
fn same_files(a: &Path, b: &Path, project: &Path) {
    let (fa, fb) = (files(a), files(b));
    assert_eq!(
        fa.keys().collect::<Vec<_>>(),
        fb.keys().collect::<Vec<_>>(),
        "{}",
        project.display()
    );
    for (name, bytes) in &fa {
        assert!(bytes == &fb[name], "{}: {name} differs", project.display());
    }
}

#[test]
fn two_local_stores_a_second_apart_are_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, (project, formats)) in projects().into_iter().enumerate() {
        let (a, b) = (
            tmp.path().join(format!("{i}a")),
            tmp.path().join(format!("{i}b")),
        );
        store_local(&project, &a, formats);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        store_local(&project, &b, formats);
        same_files(&a, &b, &project);
    }
}

/// Downloads every object under `prefix/` of `bucket` into `to`.
const DOWNLOAD: &str = r#"
import sys, os, boto3
c = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test")
bucket, prefix, to = sys.argv[2], sys.argv[3] + "/", sys.argv[4]
for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
    for o in page.get("Contents", []):
        path = os.path.join(to, o["Key"][len(prefix):])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(c.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())
"#;

#[test]
fn object_store_holds_the_bytes_of_a_local_store() {
    let endpoint = env("LABELSTORE_TEST_S3");
    let bucket = unique("rp").replace('_', "-");
    python(S3, &[&endpoint, "mkbucket", &bucket]);
    let tmp = tempfile::tempdir().unwrap();
    for (i, (project, formats)) in projects().into_iter().enumerate() {
        let local = tmp.path().join(format!("{i}local"));
        store_local(&project, &local, formats);
        let url = format!("s3://{bucket}/p{i}");
        let o = util::labelstore()
            .env_remove("SOURCE_DATE_EPOCH")
            .envs([
                ("AWS_ACCESS_KEY_ID", "test"),
                ("AWS_SECRET_ACCESS_KEY", "test"),
                ("AWS_REGION", "us-east-1"),
            ])
            .args(["store", project.to_str().unwrap(), "--to", "objstore"])
            .args(["--url", &url, "--endpoint", &endpoint, "--format", formats])
            .output()
            .unwrap();
        ok(&o);
        let fetched = tmp.path().join(format!("{i}s3"));
        python(
            DOWNLOAD,
            &[
                &endpoint,
                &bucket,
                &format!("p{i}"),
                fetched.to_str().unwrap(),
            ],
        );
        same_files(&local, &fetched, &project);
    }
}

/// `info` of the COCO file of the harbour stored with `epoch` as
/// `SOURCE_DATE_EPOCH` (`None`: unset).
fn coco_info(epoch: Option<&str>) -> serde_json::Value {
    let tmp = tempfile::tempdir().unwrap();
    let project = root().join("examples/harbour");
    let o = store_with(&project, tmp.path(), "coco", epoch);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text =
        std::fs::read_to_string(tmp.path().join("coco/annotations/instances_train.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["info"].clone()
}

#[test]
fn coco_date_created_comes_from_source_date_epoch_only() {
    let info = coco_info(Some("0"));
    assert_eq!(info["date_created"], "1970-01-01T00:00:00Z");
    assert_eq!(info["year"], 1970);
    let info = coco_info(None);
    assert!(info.get("date_created").is_none(), "{info}");
    assert!(info.get("year").is_none(), "{info}");
    assert_eq!(info["description"], "harbour-ships");
}

#[test]
fn a_source_date_epoch_that_is_not_a_number_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let project = root().join("examples/harbour");
    let o = store_with(&project, &tmp.path().join("out"), "coco", Some("yesterday"));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("SOURCE_DATE_EPOCH"), "{}", stderr(&o));
    assert!(!tmp.path().join("out").exists());
}
