//! `cargo xtask bench objstore`: labelstore storing world-file chips to a
//! local S3 server, converting them to GeoTIFF as it uploads, against
//! `rclone copy` of the same bytes and of the raw chips.
//!
//! The bench project: `n` PNG chips, each with a world file (see
//! [`chips::world_file_project`]). It is first stored to a local folder
//! (`store --to local --format json`: `project.json`, the chips as
//! GeoTIFFs, the store manifest): the bytes a store uploads. Then, against
//! one moto S3 server started for the run (path-style, plain HTTP on
//! loopback), each side writes into its own new bucket, with the same
//! number of uploads in flight:
//! - rclone (`rclone copy DIR remote:bucket/bench --transfers N`, its remote
//!   configured through `RCLONE_CONFIG_BENCH_*` variables: provider Other,
//!   the same endpoint, path style), with its defaults (a HEAD after each
//!   upload), of the local store (the same bytes labelstore uploads) and of
//!   the raw project folder (the PNGs and world files); and once more of the
//!   local store with `--s3-no-head --s3-no-check-bucket`, which checks no
//!   more than labelstore does, for information;
//! - labelstore (release build): `store PROJECT --to objstore --url
//!   s3://bucket/bench --endpoint URL --concurrency N --format json`, which
//!   reads the raw project, converts each chip to a GeoTIFF, hashes every
//!   object for its manifest and uploads the manifest last.
//!
//! Afterwards `rclone lsjson` lists every bucket, and the names, sizes and
//! MD5s of the objects are compared with the local folders: labelstore's
//! with the local store, byte for byte.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, ensure};

use super::chips::{self, Encoding};
use crate::util;

/// Uploads in flight on each side: labelstore's default `--concurrency`.
const CONCURRENCY: usize = 8;
/// The rclone remote configured through environment variables.
const REMOTE: &str = "bench";
/// The object name prefix on both sides.
const PREFIX: &str = "bench";
/// labelstore's bucket.
const OUR_BUCKET: &str = "labelstore-bench";
/// rclone's bucket for the local store.
const THEIR_BUCKET: &str = "rclone-bench";
/// rclone's bucket for the local store without its checks.
const THEIR_TUNED_BUCKET: &str = "rclone-no-head-bench";
/// rclone's bucket for the raw project.
const THEIR_RAW_BUCKET: &str = "rclone-raw-bench";
/// Variables that would send loopback traffic elsewhere or make S3 clients
/// load a CA bundle they do not need for plain HTTP.
const UNSET: &[&str] = &[
    "AWS_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
];

/// Runs the benchmark on `n` chips.
pub(super) fn run(root: &Path, n: usize) -> anyhow::Result<()> {
    util::ensure_program("rclone", "rclone")?;
    let labelstore = util::release_build(root)?;
    let python = util::ensure_python(root)?;
    let project = chips::world_file_project(root, n, Encoding::Png)?;

    let tmp = tempfile::tempdir()?;
    let store = tmp.path().join("store");
    let local = util::timed(
        Command::new(&labelstore)
            .arg("store")
            .arg(&project)
            .args(["--to", "local", "--format", "json", "--path"])
            .arg(&store),
    )
    .context("labelstore store --to local")?;
    let expected = local_files(&store)?;
    let raw = local_files(&project)?;
    let bytes: u64 = expected.values().map(|(size, _)| size).sum();
    let raw_bytes: u64 = raw.values().map(|(size, _)| size).sum();
    // Read every file once, so that no side pays for a cold cache.
    for path in expected.keys() {
        std::fs::read(store.join(path)).with_context(|| format!("reading {path}"))?;
    }
    for path in raw.keys() {
        std::fs::read(project.join(path)).with_context(|| format!("reading {path}"))?;
    }
    let rclone_conf = tmp.path().join("rclone.conf");
    std::fs::write(&rclone_conf, "")?;

    let mut servers = crate::objstore::Servers::start(root, &python)?;
    let endpoint = servers
        .env()
        .iter()
        .find(|(k, _)| *k == "LABELSTORE_TEST_S3")
        .map(|(_, v)| v.clone())
        .context("the S3 server's endpoint")?;
    let rclone = |args: &[&str]| {
        let mut cmd = Command::new("rclone");
        let var = |key: &str| format!("RCLONE_CONFIG_{}_{key}", REMOTE.to_ascii_uppercase());
        cmd.args(args)
            .env("RCLONE_CONFIG", &rclone_conf)
            .env(var("TYPE"), "s3")
            .env(var("PROVIDER"), "Other")
            .env(var("ENDPOINT"), &endpoint)
            .env(var("REGION"), "us-east-1")
            .env(var("FORCE_PATH_STYLE"), "true")
            .env(var("ACCESS_KEY_ID"), "bench")
            .env(var("SECRET_ACCESS_KEY"), "bench");
        for v in UNSET {
            cmd.env_remove(v);
        }
        cmd
    };
    for bucket in [
        OUR_BUCKET,
        THEIR_BUCKET,
        THEIR_TUNED_BUCKET,
        THEIR_RAW_BUCKET,
    ] {
        util::timed(&mut rclone(&["mkdir", &format!("{REMOTE}:{bucket}")]))
            .with_context(|| format!("creating the bucket {bucket}"))?;
    }
    let concurrency = CONCURRENCY.to_string();
    let store_arg = store.to_string_lossy().into_owned();
    let project_arg = project.to_string_lossy().into_owned();
    let dest = |bucket: &str| format!("{REMOTE}:{bucket}/{PREFIX}");

    // labelstore last: moto holds every object in memory and may slow down
    // as it fills, which only counts against labelstore.
    let copy = |dir: &str| ["copy", dir, "--transfers", &concurrency].map(str::to_owned);
    let copy_store = copy(&store_arg);
    let copy_store: Vec<&str> = copy_store.iter().map(String::as_str).collect();
    let copy_raw = copy(&project_arg);
    let copy_raw: Vec<&str> = copy_raw.iter().map(String::as_str).collect();
    let theirs = util::timed(rclone(&copy_store).arg(dest(THEIR_BUCKET))).context("rclone copy")?;
    let theirs_raw = util::timed(rclone(&copy_raw).arg(dest(THEIR_RAW_BUCKET)))
        .context("rclone copy of the raw chips")?;
    let theirs_tuned = util::timed(
        rclone(&copy_store)
            .arg(dest(THEIR_TUNED_BUCKET))
            .args(["--s3-no-head", "--s3-no-check-bucket"]),
    )
    .context("rclone copy --s3-no-head")?;
    let mut ours_cmd = Command::new(&labelstore);
    ours_cmd
        .arg("store")
        .arg(&project)
        .args(["--to", "objstore", "--url"])
        .arg(format!("s3://{OUR_BUCKET}/{PREFIX}"))
        .args(["--endpoint", &endpoint, "--region", "us-east-1"])
        .args(["--concurrency", &concurrency, "--format", "json"])
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_REGION", "us-east-1");
    for v in UNSET {
        ours_cmd.env_remove(v);
    }
    let ours = util::timed(&mut ours_cmd).context("labelstore store --to objstore")?;

    let list = |bucket: &str| {
        listing(rclone(&["lsjson", "-R", "--files-only", "--hash"]).arg(dest(bucket)))
    };
    let listed = [
        list(THEIR_BUCKET)?,
        list(THEIR_RAW_BUCKET)?,
        list(THEIR_TUNED_BUCKET)?,
        list(OUR_BUCKET)?,
    ];
    servers.stop()?;

    println!(
        "S3 (moto on loopback, one server): {n} world-file PNG chips ({} files, {} MB raw; \
         stored: {} files, {} MB of project.json, GeoTIFF chips and labelstore-manifest.json), \
         each side into its own new bucket under {PREFIX}/, {CONCURRENCY} uploads in flight",
        raw.len(),
        raw_bytes / 1_048_576,
        expected.len(),
        bytes / 1_048_576
    );
    println!("  (the local store, for rclone's same bytes, took {local:.2} s)");
    let store_files = (&expected, "the local store");
    let raw_files = (&raw, "the raw project");
    let sides = [
        (
            format!(
                "rclone copy STORE {} --transfers {CONCURRENCY} (provider Other, path style; \
                 rclone's defaults: a HEAD after each upload to check it)",
                dest(THEIR_BUCKET)
            ),
            theirs,
            store_files,
        ),
        (
            format!(
                "rclone copy PROJECT {} --transfers {CONCURRENCY} (the raw PNGs and world files)",
                dest(THEIR_RAW_BUCKET)
            ),
            theirs_raw,
            raw_files,
        ),
        (
            format!(
                "rclone copy STORE {} --transfers {CONCURRENCY} --s3-no-head --s3-no-check-bucket \
                 (no check after each upload, as labelstore)",
                dest(THEIR_TUNED_BUCKET)
            ),
            theirs_tuned,
            store_files,
        ),
        (
            format!(
                "labelstore store PROJECT --to objstore --url s3://{OUR_BUCKET}/{PREFIX} \
                 --endpoint ... --concurrency {CONCURRENCY} --format json (converts each chip to \
                 a GeoTIFF as it uploads, hashes every object, manifest last)"
            ),
            ours,
            store_files,
        ),
    ];
    for ((what, seconds, (files, name)), listed) in sides.iter().zip(&listed) {
        let same = files
            .iter()
            .filter(|(path, want)| listed.get(*path) == Some(want))
            .count();
        println!("  {what}");
        println!(
            "    {seconds:.2} s, {} objects, {same} with the size and MD5 of {name}'s file",
            listed.len(),
        );
        ensure!(
            same == files.len() && listed.len() == files.len(),
            "{} uploaded {} objects, {same} the same as {name}'s {} files: {what}",
            if what.starts_with("labelstore") {
                "labelstore"
            } else {
                "rclone"
            },
            listed.len(),
            files.len()
        );
    }
    println!(
        "  labelstore is {:.2}x as fast as rclone of the same bytes (target: 1.2x), {:.2}x as \
         fast as rclone of the raw chips (target: 2.5x); {:.2}x as fast as rclone without its \
         checks",
        theirs / ours,
        theirs_raw / ours,
        theirs_tuned / ours
    );
    let task = format!("{n} world-file PNG chips to S3 (moto) as GeoTIFFs");
    super::record_speed(&task, ours, "rclone copy of the same bytes", theirs, 1.2);
    super::record_speed(&task, ours, "rclone copy of the raw chips", theirs_raw, 2.5);
    super::remove_at_end(tmp);
    Ok(())
}

/// Every file under `dir`, by its path relative to `dir` (with `/`), with
/// its size and MD5 (hex, through `md5sum`).
fn local_files(dir: &Path) -> anyhow::Result<BTreeMap<String, (u64, String)>> {
    let out = Command::new("sh")
        .arg("-c")
        .arg("find . -type f -print0 | xargs -0 md5sum")
        .current_dir(dir)
        .output()
        .context("running md5sum")?;
    ensure!(out.status.success(), "md5sum failed in {}", dir.display());
    let mut files = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let (md5, path) = line.split_once("  ").context("md5sum's output")?;
        let path = path.trim_start_matches("./");
        let size = std::fs::metadata(dir.join(path))?.len();
        files.insert(path.to_owned(), (size, md5.to_owned()));
    }
    Ok(files)
}

/// The objects `rclone lsjson -R --files-only --hash` lists: path, size and
/// MD5 (the ETag of a single-part upload).
fn listing(cmd: &mut Command) -> anyhow::Result<BTreeMap<String, (u64, String)>> {
    let out = cmd.output().context("running rclone lsjson")?;
    ensure!(
        out.status.success(),
        "rclone lsjson failed: {}",
        String::from_utf8_lossy(&out.stderr).trim_end()
    );
    let items: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).context("rclone lsjson's output")?;
    let mut objects = BTreeMap::new();
    for item in items {
        let path = item["Path"].as_str().context("an object without Path")?;
        let size = item["Size"].as_u64().context("an object without Size")?;
        let md5 = item["Hashes"]["md5"].as_str().unwrap_or_default();
        objects.insert(path.to_owned(), (size, md5.to_owned()));
    }
    Ok(objects)
}
