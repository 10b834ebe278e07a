//! Stores to real servers on loopback (moto's S3 server and the PAR
//! emulator in `tests/support/parmock.py`), started by `cargo xtask test`,
//! and checks the result through the servers themselves (boto3, plain HTTP
//! GETs) against a local store of the same project.

#![allow(clippy::print_stderr)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

use common::{
    assert_same, env, harbour, local_store, projects, pseudo_random, put, root, run_s3, runtime,
    text, tree, unique,
};
use sink_api::{Body, Destination};
use sink_objstore::{ObjStoreDestination, ObjStoreOptions};

/// The PAR emulator's fault injection is global: PAR tests take turns.
static PAR_LOCK: Mutex<()> = Mutex::new(());

fn par_lock() -> MutexGuard<'static, ()> {
    PAR_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn support(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(file)
}

fn python() -> String {
    env("LABELSTORE_PYTHON")
}

/// Runs the judge script; returns name -> Content-Type.
fn judge(args: &[&str]) -> BTreeMap<String, String> {
    let out = Command::new(python())
        .arg(support("fetch.py"))
        .args(args)
        .env_remove("AWS_CA_BUNDLE")
        .output()
        .expect("running fetch.py");
    assert!(out.status.success(), "fetch.py {args:?}: {}", text(&out));
    serde_json::from_slice(&out.stdout).expect("fetch.py prints JSON")
}

fn check_content_types(types: &BTreeMap<String, String>, what: &str) {
    for (name, t) in types {
        let expected = sink_objstore::content_type(name);
        assert_eq!(t, expected, "{what}: Content-Type of {name}");
    }
}

#[test]
fn s3_stores_match_local_stores() {
    let endpoint = env("LABELSTORE_TEST_S3");
    let bucket = unique("ls");
    judge(&["mkbucket", &endpoint, &bucket]);
    for (name, project, formats) in projects() {
        let dir = tempfile::tempdir().expect("tempdir");
        let local = local_store(&project, formats, dir.path());
        let url = format!("s3://{bucket}/stores/{name}");
        let o = run_s3(&[
            "store",
            &project.to_string_lossy(),
            "--to",
            "objstore",
            "--url",
            &url,
            "--endpoint",
            &endpoint,
            "--format",
            formats,
        ]);
        assert!(o.status.success(), "{name} to S3: {}", text(&o));
        let remote = dir.path().join("remote");
        let types = judge(&[
            "s3",
            &endpoint,
            &bucket,
            &format!("stores/{name}/"),
            &remote.to_string_lossy(),
        ]);
        assert_same(&local, &remote, &format!("{name} (S3)"));
        check_content_types(&types, &name);
    }
}

#[test]
fn par_stores_match_local_stores() {
    let _turn = par_lock();
    let par = env("LABELSTORE_TEST_PAR");
    let run_prefix = unique("par");
    for (name, project, formats) in projects() {
        let dir = tempfile::tempdir().expect("tempdir");
        let local = local_store(&project, formats, dir.path());
        let prefix = format!("{run_prefix}/{name}");
        let o = store_par(&project.to_string_lossy(), &par, &prefix, formats, &[]);
        assert!(o.status.success(), "{name} to the PAR: {}", text(&o));
        let token = par_token(&par);
        assert!(
            !text(&o).contains(&token),
            "the token was printed: {}",
            text(&o)
        );
        let remote = dir.path().join("remote");
        let types = judge(&[
            "par",
            &par,
            &format!("{prefix}/"),
            &remote.to_string_lossy(),
        ]);
        assert_same(&local, &remote, &format!("{name} (PAR)"));
        check_content_types(&types, &name);
    }
}

/// Stores `project` in `formats` through the PAR `par` under `prefix`, with
/// `extra` arguments.
fn store_par(project: &str, par: &str, prefix: &str, formats: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "store",
        project,
        "--to",
        "objstore",
        "--par-url",
        par,
        "--prefix",
        prefix,
        "--format",
        formats,
    ];
    args.extend_from_slice(extra);
    run_s3(&args)
}

fn par_token(par: &str) -> String {
    let after = par.split("/p/").nth(1).expect("a PAR URL");
    after.split('/').next().expect("token").to_owned()
}

fn origin(par: &str) -> String {
    par.split("/p/").next().expect("origin").to_owned()
}

fn control(par: &str, what: &str) -> String {
    let out = Command::new(python())
        .args([
            "-c",
            "import sys, urllib.request; m = 'GET' if sys.argv[1].endswith('stats') else 'POST'; \
             print(urllib.request.urlopen(urllib.request.Request(sys.argv[1], method=m)).read().decode())",
            &format!("{}/_control/{what}", origin(par)),
        ])
        .output()
        .expect("python");
    assert!(out.status.success(), "control {what}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn listing(par: &str, prefix: &str) -> BTreeMap<String, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    judge(&["par", par, prefix, &dir.path().to_string_lossy()])
}

/// Every failing path through a PAR: the token never shows.
#[test]
fn par_failures_exit_1_without_the_token() {
    let _turn = par_lock();
    let par = env("LABELSTORE_TEST_PAR");
    let scoped = env("LABELSTORE_TEST_PAR_SCOPED");
    let token = par_token(&par);
    let scoped_token = par_token(&scoped);
    let bad_token = format!("{token}x");
    let bad = par.replace(&token, &bad_token);
    let down = format!("http://127.0.0.1:9/p/{token}/n/labelstore/b/test/o/");
    let prefix = unique("fail");
    let cases: Vec<(&str, String, String, Option<&str>)> = vec![
        ("wrong token", bad.clone(), prefix.clone(), None),
        (
            "outside the PAR's prefix",
            scoped.clone(),
            prefix.clone(),
            None,
        ),
        ("server down", down, prefix.clone(), None),
        (
            "500 forever",
            par.clone(),
            prefix.clone(),
            Some("fail?status=500&count=100000"),
        ),
    ];
    for (what, url, prefix, fault) in cases {
        control(&par, "reset");
        if let Some(f) = fault {
            control(&par, f);
        }
        let o = store_par(&harbour(), &url, &prefix, "json,coco", &[]);
        control(&par, "reset");
        let all = text(&o);
        assert_eq!(o.status.code(), Some(1), "{what}: {all}");
        for t in [&token, &bad_token, &scoped_token] {
            assert!(
                !all.contains(t.as_str()),
                "{what}: the token was printed: {all}"
            );
        }
        assert!(!all.contains("MKCOL"), "{what}: {all}");
        if what != "server down" && what != "500 forever" {
            assert!(
                all.contains("404") && all.contains("wrong, expired"),
                "{what}: not reported as a refused PAR: {all}"
            );
        }
        let objects = listing(&par, &format!("{prefix}/"));
        assert!(
            !objects.contains_key("labelstore-manifest.json"),
            "{what}: a manifest was written"
        );
    }
    // A bad PAR URL is a usage error, and its token is masked too.
    let o = store_par(&harbour(), &par.replace("/o/", "/x/"), "p", "json", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!text(&o).contains(&token), "{}", text(&o));
}

#[test]
fn par_retries_transient_failures() {
    let _turn = par_lock();
    let par = env("LABELSTORE_TEST_PAR");
    let prefix = unique("retry");
    control(&par, "reset");
    control(&par, "fail?status=503&count=3");
    let o = store_par(&harbour(), &par, &prefix, "json", &["--concurrency", "1"]);
    let stats = control(&par, "stats");
    control(&par, "reset");
    assert!(o.status.success(), "{}", text(&o));
    let objects = listing(&par, &format!("{prefix}/"));
    assert!(objects.contains_key("labelstore-manifest.json"), "{stats}");
}

#[test]
fn bad_urls_and_usage_exit_2() {
    let cases: &[&[&str]] = &[
        &["--url", "s3://"],
        &["--url", "ftp://example.com/x"],
        &["--url", "s3://b/a//c"],
        &["--url", "gs://b/x", "--region", "r"],
        &[
            "--par-url",
            "https://objectstorage.r.oraclecloud.com/p/SeCrEt/n/n/b/b/",
        ],
        &[
            "--par-url",
            "http://objectstorage.r.oraclecloud.com/p/SeCrEt/n/n/b/b/o/",
        ],
        &["--prefix", "p"],
        &[],
    ];
    for case in cases {
        let mut args = vec!["store", "--to", "objstore", "--format", "json"];
        let h = harbour();
        args.push(&h);
        args.extend_from_slice(case);
        let o = run_s3(&args);
        assert_eq!(o.status.code(), Some(2), "{case:?}: {}", text(&o));
        assert!(!text(&o).contains("SeCrEt"), "{case:?}: {}", text(&o));
    }
}

/// The manifest appears only at commit, after everything else; a 200 MiB
/// file goes through the PAR multipart flow and arrives whole.
#[test]
fn par_manifest_last_and_multipart() {
    let _turn = par_lock();
    let par = env("LABELSTORE_TEST_PAR");
    let prefix = unique("mp");
    let dir = tempfile::tempdir().expect("tempdir");
    let big = dir.path().join("big.json");
    let data = pseudo_random(200 << 20);
    std::fs::write(&big, &data).expect("write");
    let rt = runtime();
    control(&par, "reset");
    rt.block_on(async {
        let mut d =
            ObjStoreDestination::open_par(&par, &prefix, ObjStoreOptions::default()).expect("open");
        d.put("coco/big.json", Body::File(big.clone()))
            .await
            .expect("put");
        put(&mut d, "a/b.txt", b"hello").await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let before = listing(&par, &format!("{prefix}/"));
        assert!(
            !before.contains_key("labelstore-manifest.json"),
            "{before:?}"
        );
        d.commit(Body::Bytes(b"{}".to_vec())).await.expect("commit");
    });
    let stats = control(&par, "stats");
    let out = dir.path().join("remote");
    judge(&["par", &par, &format!("{prefix}/"), &out.to_string_lossy()]);
    assert!(std::fs::read(out.join("coco/big.json")).expect("big") == data);
    assert_eq!(std::fs::read(out.join("a/b.txt")).expect("b"), b"hello");
    assert!(out.join("labelstore-manifest.json").exists());
    let stats: serde_json::Value = serde_json::from_str(&stats).expect("stats");
    // 200 MiB in 16 MiB parts: 13 part PUTs and the commit.
    assert_eq!(stats["PUT u"], 13, "{stats}");
    assert_eq!(stats["POST u"], 1, "{stats}");
}

/// Through the CLI: a project whose label file (`project.json` of a `json`
/// store) is over 200 MiB goes through the PAR multipart flow and arrives
/// whole, byte for byte what a local store writes.
#[test]
fn par_cli_stores_a_200_mib_label_file() {
    let _turn = par_lock();
    let par = env("LABELSTORE_TEST_PAR");
    let prefix = unique("big-labels");
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path().join("project");
    std::fs::create_dir_all(project.join("chips")).expect("mkdir");
    std::fs::copy(
        root().join("tests/fixtures/detection-basic/chips/a.png"),
        project.join("chips/a.png"),
    )
    .expect("copy a chip");
    // A label note of 200 MiB of varied printable text (no escapes).
    let mut note = String::with_capacity(200 << 20);
    let mut x: u32 = 7;
    while note.len() < 200 << 20 {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        note.push(char::from(b'a' + (x >> 24) as u8 % 26));
    }
    let manifest = serde_json::json!({
        "labelstore": 1, "name": "big labels", "labeling_type": "object_detection",
        "classes": [{"id": 1, "name": "ship"}],
        "chips": [{"id": "a", "image": "chips/a.png",
                   "labels": [{"class": "ship", "bbox": [1, 1, 20, 20],
                               "attributes": {"note": note}}]}]
    });
    drop(note);
    std::fs::write(
        project.join("project.json"),
        serde_json::to_vec(&manifest).expect("json"),
    )
    .expect("write");
    drop(manifest);
    let local = local_store(&project, "json", dir.path());
    let size = std::fs::metadata(local.join("project.json"))
        .expect("local project.json")
        .len();
    assert!(size > 200 << 20, "{size} bytes");
    control(&par, "reset");
    let o = store_par(&project.to_string_lossy(), &par, &prefix, "json", &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains(&par_token(&par)), "{}", text(&o));
    let stats: serde_json::Value = serde_json::from_str(&control(&par, "stats")).expect("stats");
    // One object above the 64 MiB threshold, in 16 MiB parts, committed once.
    let parts = size.div_ceil(16 << 20);
    assert_eq!(stats["PUT u"], parts, "{stats}");
    assert_eq!(stats["POST u"], 1, "{stats}");
    let remote = dir.path().join("remote");
    judge(&[
        "par",
        &par,
        &format!("{prefix}/"),
        &remote.to_string_lossy(),
    ]);
    assert_same(&local, &remote, "200 MiB label file (PAR)");
}

fn s3_options(endpoint: &str) -> ObjStoreOptions {
    let config = [
        ("aws_access_key_id", "test"),
        ("aws_secret_access_key", "test"),
        ("aws_region", "us-east-1"),
    ];
    ObjStoreOptions {
        endpoint: Some(endpoint.to_owned()),
        config: config
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..ObjStoreOptions::default()
    }
}

fn chip(files: &[sink_api::ManifestEntry]) -> sink_api::ChipRecord<'_> {
    sink_api::ChipRecord {
        id: "a",
        image: "chips/a.png",
        georeferencing: "none",
        epsg: None,
        labels: 1,
        files,
    }
}

/// An aborted S3 store leaves nothing of its own behind, and the manifest
/// of an earlier store under the prefix is gone as soon as a new store
/// starts; a `Body::Copy` of an earlier chip's file is a server-side copy.
#[test]
fn s3_abort_copy_and_stale_manifest() {
    let endpoint = env("LABELSTORE_TEST_S3");
    let bucket = unique("abort");
    judge(&["mkbucket", &endpoint, &bucket]);
    let url = format!("s3://{bucket}/store");
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let fetch = |name: &str| {
        let out = dir.path().join(name);
        judge(&["s3", &endpoint, &bucket, "store/", &out.to_string_lossy()]);
        tree(&out)
    };
    rt.block_on(async {
        let mut d = ObjStoreDestination::open_url(&url, s3_options(&endpoint)).expect("open");
        put(&mut d, "chips/a.png", b"png").await;
        d.chip_stored(&chip(&[])).await.expect("chip");
        d.put("yolo/images/a.png", Body::Copy("chips/a.png".into()))
            .await
            .expect("copy");
        d.commit(Body::Bytes(b"{}".to_vec())).await.expect("commit");
    });
    let first = fetch("first");
    assert_eq!(first.len(), 3, "{:?}", first.keys());
    assert_eq!(first["yolo/images/a.png"], b"png");
    rt.block_on(async {
        let mut d = ObjStoreDestination::open_url(&url, s3_options(&endpoint)).expect("open");
        put(&mut d, "chips/b.png", b"b").await;
        put(&mut d, "labels/b.txt", b"0").await;
        d.abort().await.expect("abort");
    });
    let second = fetch("second");
    let names: Vec<_> = second.keys().cloned().collect();
    assert_eq!(names, ["chips/a.png", "yolo/images/a.png"], "{names:?}");
}

/// A store interrupted by a failing server leaves no manifest; run again,
/// it uploads only what is missing (counted by the server).
#[test]
fn par_interrupted_store_resumes() {
    let _turn = par_lock();
    let par = env("LABELSTORE_TEST_PAR");
    let prefix = unique("resume");
    let args = |prefix: &str| {
        store_par(
            &harbour(),
            &par,
            prefix,
            "json,coco,voc,yolo",
            &["--concurrency", "2"],
        )
    };
    control(&par, "reset");
    control(&par, "fail?status=500&count=1000000&after=20");
    let first = args(&prefix);
    control(&par, "reset");
    assert_eq!(first.status.code(), Some(1), "{}", text(&first));
    let present = listing(&par, &format!("{prefix}/"));
    assert!(!present.contains_key("labelstore-manifest.json"));
    assert!(
        !present.is_empty(),
        "nothing was uploaded before the failure"
    );
    let second = args(&prefix);
    let stats: serde_json::Value = serde_json::from_str(&control(&par, "stats")).expect("stats");
    control(&par, "reset");
    assert!(second.status.success(), "{}", text(&second));
    let all = listing(&par, &format!("{prefix}/"));
    assert!(all.contains_key("labelstore-manifest.json"));
    assert_eq!(
        stats["PUT o"].as_u64(),
        Some((all.len() - present.len()) as u64),
        "{stats}: {} objects, {} there before",
        all.len(),
        present.len()
    );
}

/// Storing the same files again to S3 skips them (same size and MD5).
#[test]
fn s3_rerun_skips_identical_objects() {
    let endpoint = env("LABELSTORE_TEST_S3");
    let bucket = unique("rerun");
    judge(&["mkbucket", &endpoint, &bucket]);
    let url = format!("s3://{bucket}/store");
    let rt = runtime();
    for (round, skipped) in [(0, 0), (1, 2)] {
        rt.block_on(async {
            let mut d = ObjStoreDestination::open_url(&url, s3_options(&endpoint)).expect("open");
            put(&mut d, "chips/a.png", b"png").await;
            put(&mut d, "labels/a.txt", b"0 1").await;
            let changed = format!("round {round}");
            put(&mut d, "labels/b.txt", changed.as_bytes()).await;
            assert_eq!(d.skipped(), skipped, "round {round}");
            d.commit(Body::Bytes(b"{}".to_vec())).await.expect("commit");
        });
    }
    let dir = tempfile::tempdir().expect("tempdir");
    judge(&[
        "s3",
        &endpoint,
        &bucket,
        "store/",
        &dir.path().to_string_lossy(),
    ]);
    assert_eq!(
        std::fs::read(dir.path().join("labels/b.txt")).expect("b"),
        b"round 1"
    );
}

/// Requests that time out are retried, then reported; neither the error's
/// Display nor its Debug holds the token.
#[test]
fn par_timeouts_are_reported_without_the_token() {
    let _turn = par_lock();
    let par = env("LABELSTORE_TEST_PAR");
    let token = par_token(&par);
    let opts = ObjStoreOptions {
        base_timeout: std::time::Duration::from_millis(500),
        max_retries: 1,
        first_backoff: std::time::Duration::from_millis(50),
        ..ObjStoreOptions::default()
    };
    control(&par, "reset");
    control(&par, "delay?seconds=2&count=4");
    let result = runtime().block_on(async {
        let mut d = ObjStoreDestination::open_par(&par, &unique("timeout"), opts).expect("open");
        d.put("a.txt", Body::Bytes(b"x".to_vec())).await?;
        d.commit(Body::Bytes(b"{}".to_vec())).await
    });
    std::thread::sleep(std::time::Duration::from_secs(3));
    control(&par, "reset");
    let e = result.expect_err("the requests time out");
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(&token), "{shown}");
    assert!(shown.contains("after 2 attempts"), "{shown}");
}

/// An S3 endpoint that does not answer: exit status 1 after the retries.
#[test]
fn s3_server_down_exits_1() {
    let o = run_s3(&[
        "store",
        &harbour(),
        "--to",
        "objstore",
        "--url",
        "s3://down/store",
        "--endpoint",
        "http://127.0.0.1:9",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("Connection refused"), "{}", text(&o));
}

/// A bucket that does not exist: exit status 1, the error names the bucket
/// and S3's code, without the XML document around them.
#[test]
fn s3_missing_bucket_is_named() {
    let endpoint = env("LABELSTORE_TEST_S3");
    let o = run_s3(&[
        "store",
        &harbour(),
        "--to",
        "objstore",
        "--url",
        "s3://no-such-bucket-here/store",
        "--endpoint",
        &endpoint,
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let said = text(&o);
    assert!(
        said.contains(
            "NoSuchBucket: The specified bucket does not exist (bucket no-such-bucket-here"
        ),
        "{said}"
    );
    assert!(
        !said.contains("<Error>") && !said.contains("RequestId"),
        "{said}"
    );
}

/// A store into a prefix that holds an earlier, complete store replaces
/// it: once the new manifest is up, the earlier store's files this one
/// does not have are removed, so the prefix holds what a local store of
/// the new scope writes. An object no labelstore manifest listed stays
/// (and `verify` names it).
#[test]
fn s3_store_over_an_earlier_store_replaces_it() {
    let endpoint = env("LABELSTORE_TEST_S3");
    let bucket = unique("replace");
    judge(&["mkbucket", &endpoint, &bucket]);
    let url = format!("s3://{bucket}/store");
    let project = harbour();
    let store = |formats: &str, extra: &[&str]| {
        let mut args = vec![
            "store",
            &project,
            "--to",
            "objstore",
            "--url",
            &url,
            "--endpoint",
            &endpoint,
            "--format",
            formats,
        ];
        args.extend_from_slice(extra);
        let o = run_s3(&args);
        assert!(o.status.success(), "{}", text(&o));
    };
    store("json,coco,voc", &[]);
    judge(&[
        "put",
        &endpoint,
        &bucket,
        "store/notes/readme.txt",
        "not ours",
    ]);
    store("yolo", &["--chip", "r0_c1"]);

    let dir = tempfile::tempdir().expect("tempdir");
    let local = dir.path().join("local");
    let o = common::run(&[
        "store",
        &project,
        "--to",
        "local",
        "--path",
        &local.to_string_lossy(),
        "--format",
        "yolo",
        "--chip",
        "r0_c1",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let remote = dir.path().join("remote");
    judge(&[
        "s3",
        &endpoint,
        &bucket,
        "store/",
        &remote.to_string_lossy(),
    ]);
    let notes = remote.join("notes/readme.txt");
    assert_eq!(std::fs::read(&notes).expect("notes kept"), b"not ours");
    std::fs::remove_dir_all(remote.join("notes")).expect("remove notes");
    assert_same(&local, &remote, "the store over an earlier one");

    let o = run_s3(&[
        "verify",
        "--from",
        "objstore",
        "--url",
        &url,
        "--endpoint",
        &endpoint,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let said = String::from_utf8_lossy(&o.stdout);
    let problems: Vec<&str> = said.lines().skip(1).map(str::trim).collect();
    assert_eq!(problems, ["extra: notes/readme.txt"], "{said}");
}

/// The destination conformance suite of sink-api (`testing` feature)
/// against the S3 server, a prefix per behaviour.
#[test]
fn s3_passes_the_destination_suite() {
    use sink_api::testing::{Harness, suite};
    use sink_objstore::ObjStoreReader;

    struct S3 {
        url: String,
        endpoint: String,
    }

    impl Harness for S3 {
        type Dest = ObjStoreDestination;
        type Reader = ObjStoreReader;

        async fn destination(&self) -> sink_api::Result<ObjStoreDestination> {
            ObjStoreDestination::open_url(&self.url, s3_options(&self.endpoint))
        }

        async fn reader(&self) -> sink_api::Result<ObjStoreReader> {
            ObjStoreReader::open_url(&self.url, s3_options(&self.endpoint))
        }
    }

    let endpoint = env("LABELSTORE_TEST_S3");
    let bucket = unique("suite");
    judge(&["mkbucket", &endpoint, &bucket]);
    runtime()
        .block_on(suite(|name| S3 {
            url: format!("s3://{bucket}/{name}"),
            endpoint: endpoint.clone(),
        }))
        .expect("the suite");
}
