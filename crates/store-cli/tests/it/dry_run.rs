//! `--dry-run`: every check of the real run, the plan printed, nothing
//! written; the files and bytes it tells are those the real run writes.

use std::path::Path;

use serde_json::Value;

use crate::fetch_verify::{S3, env, labelstore_env, ok, psql, python, unique};
use crate::util::{root, run, snapshot, stderr, stdout};

/// Every file under `dir` (hard links counted at each path) and their bytes.
fn files_and_bytes(dir: &Path) -> (u64, u64) {
    let files = snapshot(dir);
    let files: Vec<_> = files.iter().filter(|(p, _)| !p.ends_with('/')).collect();
    let bytes = files.iter().map(|(_, b)| b.len() as u64).sum();
    (files.len() as u64, bytes)
}

fn json(o: &std::process::Output) -> Value {
    ok(o);
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

fn store_local(target: &Path, extra: &[&str]) -> std::process::Output {
    let harbour = root().join("examples/harbour");
    let mut args = vec![
        "store",
        harbour.to_str().unwrap(),
        "--to",
        "local",
        "--path",
        target.to_str().unwrap(),
        "--format",
        "coco,yolo,geojson",
        "--split",
        "train=0.7,val=0.3",
        "--json",
    ];
    args.extend(extra);
    run(&args)
}

#[test]
fn a_local_dry_run_writes_nothing_and_tells_what_the_store_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("deep/out");
    let plan = json(&store_local(&target, &["--dry-run"]));
    // Nothing at all: no target, no parent made, no staging or lock file.
    assert!(
        snapshot(tmp.path()).is_empty(),
        "{:?}",
        snapshot(tmp.path())
    );
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["chips_stored"], 9);
    assert_eq!(plan["excluded"]["deleted"], 2);
    assert_eq!(plan["excluded"]["unlabeled"], 1);
    assert_eq!(
        plan["formats"],
        serde_json::json!(["coco", "yolo", "geojson"])
    );
    assert_eq!(plan["delete"], 0);
    assert_eq!(plan["skip"], serde_json::json!({"files": 0, "bytes": 0}));

    let stored = json(&store_local(&target, &[]));
    // The same chips per split and per class, and exactly the files and
    // bytes the real store wrote.
    assert_eq!(plan["splits"], stored["splits"]);
    assert_eq!(plan["chips"], stored["chips"]);
    let (files, bytes) = files_and_bytes(&target);
    assert_eq!(plan["files"], files);
    assert_eq!(plan["bytes"], bytes);
    assert_eq!(
        plan["write"],
        serde_json::json!({"files": files, "bytes": bytes})
    );
    assert_eq!(
        (stored["files"].clone(), stored["bytes"].clone()),
        (plan["files"].clone(), plan["bytes"].clone())
    );

    // Over the earlier store: refused without --overwrite (exit 2), and
    // with it, the earlier store's files are what it would replace.
    let before = snapshot(tmp.path());
    let o = store_local(&target, &["--dry-run"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("is not empty"), "{}", stderr(&o));
    let again = json(&store_local(&target, &["--dry-run", "--overwrite"]));
    assert_eq!(again["delete"], files);
    assert_eq!(again["files"], files);
    assert_eq!(snapshot(tmp.path()), before);
}

#[test]
fn a_dry_run_in_text_says_nothing_was_written() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("out");
    let harbour = root().join("examples/harbour");
    let o = run(&[
        "store",
        harbour.to_str().unwrap(),
        "--to",
        "local",
        "--path",
        target.to_str().unwrap(),
        "--format",
        "voc",
        "--dry-run",
    ]);
    ok(&o);
    let text = stdout(&o);
    assert!(text.starts_with("dry run: nothing was written\nwould store 9 chips of \"harbour-ships\" to local folder "), "{text}");
    assert!(text.contains("\nwould write: "), "{text}");
    assert!(!text.contains("seconds"), "{text}");
    assert!(snapshot(tmp.path()).is_empty());
}

#[test]
fn bad_input_in_a_dry_run_exits_2_as_the_store_does_and_writes_nothing() {
    for case in crate::bad_input::bad_cases() {
        let expect = std::fs::read_to_string(case.join("expect.txt")).unwrap();
        let format = std::fs::read_to_string(case.join("format.txt"))
            .map(|f| f.trim().to_owned())
            .unwrap_or_else(|_| "json".to_owned());
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("out");
        let o = run(&[
            "store",
            case.to_str().unwrap(),
            "--to",
            "local",
            "--path",
            target.to_str().unwrap(),
            "--format",
            &format,
            "--dry-run",
        ]);
        assert_eq!(o.status.code(), Some(2), "{case:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(expect.trim()),
            "{case:?}: {}",
            stderr(&o)
        );
        assert!(stdout(&o).is_empty(), "{case:?}: {}", stdout(&o));
        assert!(snapshot(tmp.path()).is_empty(), "{case:?}");
    }
}

/// The keys of the objects in `bucket`, sorted.
const LIST: &str = r#"
import sys, boto3
c = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test")
for page in c.get_paginator("list_objects_v2").paginate(Bucket=sys.argv[2]):
    for o in page.get("Contents", []):
        print(o["Key"], o["Size"])
"#;

#[test]
fn an_s3_dry_run_lists_uploads_then_skips_what_a_store_put_there() {
    let endpoint = env("LABELSTORE_TEST_S3");
    let bucket = unique("dry").replace('_', "-");
    python(S3, &[&endpoint, "mkbucket", &bucket]);
    let harbour = root().join("examples/harbour");
    let url = format!("s3://{bucket}/p");
    let store = |format: &str, extra: &[&str]| {
        let mut args = vec![
            "store",
            harbour.to_str().unwrap(),
            "--to",
            "objstore",
            "--url",
            &url,
            "--endpoint",
            &endpoint,
            "--format",
            format,
            "--json",
        ];
        args.extend(extra);
        json(&labelstore_env(
            &args,
            &[("SOURCE_DATE_EPOCH", "1767225600")],
        ))
    };
    // A bucket that is not there fails the dry run as it would the store.
    let missing = format!("s3://{bucket}-missing/p");
    let o = labelstore_env(
        &[
            "store",
            harbour.to_str().unwrap(),
            "--to",
            "objstore",
            "--url",
            &missing,
            "--endpoint",
            &endpoint,
            "--format",
            "coco",
            "--dry-run",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("NoSuchBucket"), "{}", stderr(&o));

    let plan = store("coco", &["--dry-run"]);
    assert_eq!(
        python(LIST, &[&endpoint, &bucket]),
        "",
        "a dry run uploaded"
    );
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["skip"], serde_json::json!({"files": 0, "bytes": 0}));
    assert_eq!(plan["delete"], 0);
    assert_eq!(plan["write"]["files"], plan["files"]);
    assert_eq!(plan["write"]["bytes"], plan["bytes"]);

    let stored = store("coco", &[]);
    let listed = python(LIST, &[&endpoint, &bucket]);
    let sizes: Vec<u64> = listed
        .lines()
        .map(|l| l.rsplit_once(' ').unwrap().1.parse().unwrap())
        .collect();
    assert_eq!(plan["files"], sizes.len() as u64);
    assert_eq!(plan["bytes"], sizes.iter().sum::<u64>());
    assert_eq!(
        (&plan["files"], &plan["bytes"]),
        (&stored["files"], &stored["bytes"])
    );

    // Again: every object is there with its size and MD5; only the store
    // manifest, which marks the store complete, would go up again.
    let manifest = listed
        .lines()
        .find_map(|l| l.strip_prefix("p/labelstore-manifest.json "))
        .unwrap()
        .parse::<u64>()
        .unwrap();
    let again = store("coco", &["--dry-run"]);
    assert_eq!(
        again["write"],
        serde_json::json!({"files": 1, "bytes": manifest})
    );
    assert_eq!(again["skip"]["files"], sizes.len() as u64 - 1);
    assert_eq!(again["delete"], 0);

    // Another format under the same prefix: the chips are skipped, the
    // COCO files of the earlier store would be deleted.
    let yolo = store("yolo", &["--dry-run"]);
    let coco_files = listed.lines().filter(|l| l.starts_with("p/coco/")).count();
    assert!(coco_files >= 2, "{listed}");
    assert_eq!(yolo["delete"], coco_files as u64);
    assert_eq!(yolo["skip"]["files"], 9);
    assert_eq!(
        python(LIST, &[&endpoint, &bucket]),
        listed,
        "a dry run changed the bucket"
    );

    // A fetch's dry run brings nothing and tells what the manifest lists.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("fetched");
    let fetch = json(&labelstore_env(
        &[
            "fetch",
            "--from",
            "objstore",
            "--url",
            &url,
            "--endpoint",
            &endpoint,
            "--output",
            out.to_str().unwrap(),
            "--dry-run",
            "--json",
        ],
        &[],
    ));
    assert!(
        snapshot(tmp.path()).is_empty(),
        "{:?}",
        snapshot(tmp.path())
    );
    assert_eq!(fetch["dry_run"], true);
    assert_eq!(fetch["project"], "harbour-ships");
    assert_eq!(fetch["formats"], serde_json::json!(["coco"]));
    assert_eq!(
        fetch["bring"],
        serde_json::json!({"files": sizes.len(), "bytes": sizes.iter().sum::<u64>()})
    );
}

#[test]
fn a_database_dry_run_counts_rows_and_creates_no_table() {
    let pg = env("LABELSTORE_TEST_PG");
    let table = unique("dry");
    let harbour = root().join("examples/harbour");
    let store = |extra: &[&str]| {
        let mut args = vec![
            "store",
            harbour.to_str().unwrap(),
            "--to",
            "db",
            "--connection",
            &pg,
            "--table",
            &table,
            "--format",
            "coco",
            "--json",
        ];
        args.extend(extra);
        json(&labelstore_env(
            &args,
            &[("SOURCE_DATE_EPOCH", "1767225600")],
        ))
    };
    let exists = || {
        psql(&format!(
            "SELECT to_regclass('{table}') IS NOT NULL OR to_regclass('{table}_files') IS NOT NULL \
             OR to_regclass('{table}_labels') IS NOT NULL"
        ))
    };
    let plan = store(&["--dry-run"]);
    assert_eq!(exists(), "f", "a dry run created a table");
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["table_exists"], false);
    assert_eq!(plan["delete"], 0);
    let files = format!("{table}_files");
    assert_eq!(plan["rows"][&table], 9);
    let file_rows = plan["rows"][&files].as_u64().unwrap();
    let labels = format!("{table}_labels");
    assert_eq!(plan["rows"][&labels], 20, "the example's 20 labels");

    store(&[]);
    let count = |t: &str| {
        psql(&format!("SELECT count(*) FROM {t}"))
            .parse::<u64>()
            .unwrap()
    };
    assert_eq!(count(&table), 9);
    assert_eq!(count(&files), file_rows);
    assert_eq!(count(&labels), 20);

    // Again: the table exists, and the project's rows would be replaced.
    let again = store(&["--dry-run"]);
    assert_eq!(again["table_exists"], true);
    assert_eq!(again["delete"], 9);
    assert_eq!(again["rows"], plan["rows"]);
    assert_eq!(count(&table), 9);
}

/// Runs a command twice, with `--dry-run --json` and without (`--json`),
/// in a fresh folder holding only `out`: the dry run must write nothing,
/// and tell the files and bytes the real run then writes.
fn dry_then_real(args: &[&str]) -> (Value, Value) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut args: Vec<&str> = args.to_vec();
    args.extend(["--output", out.to_str().unwrap(), "--json"]);
    let plan = json(&run(&[args.as_slice(), &["--dry-run"]].concat()));
    assert!(
        snapshot(tmp.path()).is_empty(),
        "{:?}",
        snapshot(tmp.path())
    );
    assert_eq!(plan["dry_run"], true);
    let real = json(&run(&args));
    let (files, bytes) = files_and_bytes(&out);
    assert_eq!(
        plan["write"],
        serde_json::json!({"files": files, "bytes": bytes})
    );
    assert_eq!(
        (&plan["files"], &plan["bytes"]),
        (&real["files"], &real["bytes"])
    );
    (plan, real)
}

#[test]
fn an_import_dry_run_tells_the_chips_per_split_and_the_files() {
    let coco = root().join("tests/fixtures/datumaro/coco_dataset/coco_instances");
    let (plan, real) = dry_then_real(&["import", "--from", "coco", coco.to_str().unwrap()]);
    assert_eq!(plan["splits"], real["splits"]);
    assert_eq!(plan["splits"]["train"]["chips"], 1);
    assert_eq!(plan["splits"]["val"]["chips"], 1);
    assert_eq!(plan["formats"], serde_json::json!(["json"]));
}

#[test]
fn a_chip_dry_run_tells_the_scenes_windows_and_chips() {
    let scene = root().join("examples/scene");
    let (plan, real) = dry_then_real(&[
        "chip",
        scene.join("scene.tif").to_str().unwrap(),
        "--labels",
        scene.join("labels.geojson").to_str().unwrap(),
        "--class-field",
        "class",
        "--labeling-type",
        "object_detection",
        "--size",
        "256",
        "--split",
        "train=0.75,val=0.25",
    ]);
    for key in [
        "chips",
        "empty_chips",
        "splits",
        "classes",
        "windows_left_out",
    ] {
        assert_eq!(plan[key], real[key], "{key}");
    }
    assert_eq!(plan["chips"], 12);
    assert_eq!(plan["splits"]["train"]["chips"], 9);
    assert_eq!(plan["splits"]["val"]["chips"], 3);
}

#[test]
fn a_fetch_dry_run_from_a_local_store_tells_what_the_fetch_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let stored = tmp.path().join("stored");
    ok(&store_local(&stored, &[]));
    let (plan, real) = dry_then_real(&[
        "fetch",
        "--from",
        "local",
        "--path",
        stored.to_str().unwrap(),
    ]);
    assert_eq!(plan["chips_stored"], 9);
    assert_eq!(plan["splits"], real["splits"]);
}
