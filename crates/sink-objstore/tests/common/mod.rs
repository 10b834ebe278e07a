//! Helpers shared by the object-store tests (`servers.rs`, `http.rs`,
//! `restart.rs`): the servers' environment variables, the labelstore
//! binary and its environment, the projects stored, and comparing a store
//! fetched from a server with a local store of the same project.

// Each test file uses a subset of these.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use sink_api::{Body, Destination};

/// The value of `name`, set by `cargo xtask test` (or `cargo xtask serve`);
/// a clear failure when it is missing.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: the object-store tests need the loopback servers (moto's S3 \
             server, the PAR emulator, nginx with WebDAV, s3s-fs) and the Python judge that \
             `cargo xtask test` starts and installs; run `cargo xtask test` (or `cargo xtask \
             serve FILE`, then `. FILE`)"
        )
    })
}

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The labelstore binary. `cargo test --workspace` (what `cargo xtask test`
/// runs) builds it with the tests; when it is missing it is built here.
/// Building it on every run would flip tokio's features between these tests
/// and the binary, and rebuild half the workspace each time.
pub fn labelstore() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            // Beside this test's own folder (target/debug/deps), wherever
            // the target folder is (CARGO_TARGET_DIR included).
            let bin = std::env::current_exe()
                .ok()
                .and_then(|exe| Some(exe.parent()?.parent()?.join("labelstore")))
                .unwrap_or_else(|| root().join("target/debug/labelstore"));
            if !bin.exists() {
                let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
                let status = Command::new(cargo)
                    .args(["build", "-q", "-p", "store-cli", "--bin", "labelstore"])
                    .current_dir(root())
                    .status()
                    .expect("running cargo build");
                assert!(status.success(), "cargo build -p store-cli failed");
            }
            bin
        })
        .clone()
}

/// A name unique to this run.
pub fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{tag}-{nanos:x}")
}

/// The environment every client run gets: no proxy (the servers are on
/// loopback), and a fixed COCO `date_created`, the same in the local and
/// remote stores.
pub fn plain_env(cmd: &mut Command) -> &mut Command {
    for name in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        cmd.env_remove(name);
    }
    cmd.env("SOURCE_DATE_EPOCH", "1767225600")
}

/// [`plain_env`] plus S3 credentials `key`/`secret` in us-east-1, and no
/// other AWS settings.
pub fn aws_env<'a>(cmd: &'a mut Command, key: &str, secret: &str) -> &'a mut Command {
    for name in [
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CA_BUNDLE",
        "AWS_ENDPOINT_URL",
    ] {
        cmd.env_remove(name);
    }
    plain_env(cmd)
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_REGION", "us-east-1")
}

/// Runs labelstore with `args` in [`plain_env`].
pub fn run(args: &[&str]) -> Output {
    plain_env(&mut Command::new(labelstore()))
        .args(args)
        .output()
        .expect("running labelstore")
}

/// Runs labelstore with `args` with moto's credentials ([`aws_env`]).
pub fn run_s3(args: &[&str]) -> Output {
    aws_env(&mut Command::new(labelstore()), "test", "test")
        .args(args)
        .output()
        .expect("running labelstore")
}

/// A run's exit status and output, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every file under `dir`, by relative path (empty when `dir` does not
/// exist).
pub fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).expect("under base");
                out.insert(
                    rel.to_string_lossy().replace('\\', "/"),
                    std::fs::read(&p).expect("read"),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

/// The files under `remote` are those under `local`, byte for byte, a
/// manifest among them.
pub fn assert_same(local: &Path, remote: &Path, what: &str) {
    let (a, b) = (tree(local), tree(remote));
    let (ka, kb): (Vec<_>, Vec<_>) = (a.keys().collect(), b.keys().collect());
    assert_eq!(ka, kb, "{what}: object names differ from the local store");
    for (k, v) in &a {
        assert!(&b[k] == v, "{what}: {k} differs from the local store");
    }
    assert!(
        a.contains_key("labelstore-manifest.json"),
        "{what}: no manifest"
    );
}

/// The projects stored: the example and every fixture, with all the
/// formats of their labeling type.
pub fn projects() -> Vec<(String, PathBuf, &'static str)> {
    let mut v = vec![(
        "harbour".to_owned(),
        root().join("examples/harbour"),
        "json,coco,voc,yolo,kitti,geojson,shapefile",
    )];
    let mut fixtures: Vec<_> = std::fs::read_dir(root().join("tests/fixtures"))
        .expect("tests/fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("project.json").exists())
        .collect();
    fixtures.sort();
    for p in fixtures {
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(p.join("project.json")).expect("read"))
                .expect("project.json");
        let formats = match manifest["labeling_type"].as_str() {
            Some("object_detection") => "json,coco,voc,yolo,kitti,geojson,shapefile",
            Some("instance_segmentation") => "json,coco",
            _ => "png,tiff,geotiff,gif,bmp",
        };
        let name = p.file_name().expect("name").to_string_lossy().into_owned();
        v.push((name, p, formats));
    }
    v
}

/// The example project's folder.
pub fn harbour() -> String {
    root()
        .join("examples/harbour")
        .to_string_lossy()
        .into_owned()
}

/// Stores `project` in `formats` to the folder `dir/local`, the reference
/// the remote stores are compared with; returns that folder.
pub fn local_store(project: &Path, formats: &str, dir: &Path) -> PathBuf {
    let out = dir.join("local");
    let o = run(&[
        "store",
        &project.to_string_lossy(),
        "--to",
        "local",
        "--path",
        &out.to_string_lossy(),
        "--format",
        formats,
    ]);
    assert!(o.status.success(), "local store: {}", text(&o));
    out
}

/// A single-threaded runtime for the library tests.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// `len` bytes of varied data (a linear congruential sequence).
pub fn pseudo_random(len: usize) -> Vec<u8> {
    let mut data = Vec::with_capacity(len + 4);
    let mut x: u32 = 1;
    while data.len() < len {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        data.extend_from_slice(&x.to_le_bytes());
    }
    data
}

/// Puts `bytes` as `name` through `d`; a failure fails the test.
pub async fn put(d: &mut impl Destination, name: &str, bytes: &[u8]) {
    d.put(name, Body::Bytes(bytes.to_vec()))
        .await
        .unwrap_or_else(|e| panic!("put {name}: {e}"));
}
