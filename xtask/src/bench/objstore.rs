//! `cargo xtask bench objstore`: labelstore storing world-file chips to a
//! local S3 server, converting them to GeoTIFF as it uploads, against
//! `rclone copy` of the same bytes and of the raw chips.
//!
//! The bench project: `n` PNG chips, each with a world file (see
//! [`chips::world_file_project`]). It is first stored to a local folder
//! (`store --to local --format json`: `project.json`, the chips as
//! GeoTIFFs, the store manifest): the bytes a store uploads. Then each side
//! uploads, with the same number of uploads in flight, to a moto S3 server
//! of its own, started empty for the run (path-style, plain HTTP on
//! loopback): moto keeps every object in memory and slows down as it fills,
//! so one shared server would favour whoever goes first. The sides take
//! turns (labelstore, rclone, rclone of the raw chips, rclone without its
//! checks, and again), and the faster of each side's two runs counts:
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
//! After every run `rclone lsjson` lists the bucket, and the names, sizes
//! and MD5s of the objects are compared with the local folders:
//! labelstore's with the local store, byte for byte.

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
/// The bucket each run creates on its own server.
const BUCKET: &str = "bench";
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

    let store_files = (&expected, "the local store");
    let raw_files = (&raw, "the raw project");
    let sides = [
        Side {
            what: format!(
                "labelstore store PROJECT --to objstore --url s3://{BUCKET}/{PREFIX} --endpoint ... \
                 --concurrency {CONCURRENCY} --format json (converts each chip to a GeoTIFF as it \
                 uploads, hashes every object, manifest last)"
            ),
            how: How::Labelstore(&labelstore, &project),
            files: store_files,
        },
        Side {
            what: format!(
                "rclone copy STORE {REMOTE}:{BUCKET}/{PREFIX} --transfers {CONCURRENCY} (provider \
                 Other, path style; rclone's defaults: a HEAD after each upload to check it)"
            ),
            how: How::Rclone(&store, &[]),
            files: store_files,
        },
        Side {
            what: format!(
                "rclone copy PROJECT {REMOTE}:{BUCKET}/{PREFIX} --transfers {CONCURRENCY} (the raw \
                 PNGs and world files)"
            ),
            how: How::Rclone(&project, &[]),
            files: raw_files,
        },
        Side {
            what: format!(
                "rclone copy STORE {REMOTE}:{BUCKET}/{PREFIX} --transfers {CONCURRENCY} \
                 --s3-no-head --s3-no-check-bucket (no check after each upload, as labelstore)"
            ),
            how: How::Rclone(&store, &["--s3-no-head", "--s3-no-check-bucket"]),
            files: store_files,
        },
    ];
    // Every run gets a moto server of its own, started empty: moto keeps
    // every object in memory and slows down as it fills, so a shared server
    // would favour whoever goes first. The sides take turns, twice, and the
    // faster run of each counts, as in the formats bench.
    let mut seconds = [f64::INFINITY; 4];
    for _ in 0..2 {
        for (side, best) in sides.iter().zip(&mut seconds) {
            *best = best.min(side.run(&python, &rclone_conf)?);
        }
    }

    println!(
        "S3 (moto on loopback, a new server for each run): {n} world-file PNG chips ({} files, {} \
         MB raw; stored: {} files, {} MB of project.json, GeoTIFF chips and \
         labelstore-manifest.json), each side into a new bucket under {PREFIX}/, {CONCURRENCY} \
         uploads in flight, the sides taking turns, the faster of two runs each",
        raw.len(),
        raw_bytes / 1_048_576,
        expected.len(),
        bytes / 1_048_576
    );
    println!("  (the local store, for rclone's same bytes, took {local:.2} s)");
    for (side, seconds) in sides.iter().zip(seconds) {
        println!("  {}", side.what);
        println!(
            "    {seconds:.2} s; every run's {} objects with the size and MD5 of {}'s files",
            side.files.0.len(),
            side.files.1
        );
    }
    let [ours, theirs, theirs_raw, theirs_tuned] = seconds;
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

/// One side of the bench: what it runs, and the files its bucket must hold
/// afterwards (by path, with size and MD5) and whose they are.
struct Side<'a> {
    what: String,
    how: How<'a>,
    files: (&'a BTreeMap<String, (u64, String)>, &'a str),
}

/// How a side uploads.
enum How<'a> {
    /// `labelstore store PROJECT --to objstore`: the binary and the project.
    Labelstore(&'a Path, &'a Path),
    /// `rclone copy DIR`, with these options besides `--transfers`.
    Rclone(&'a Path, &'a [&'a str]),
}

impl Side<'_> {
    /// Starts an empty moto server, creates the bucket, times the upload,
    /// checks the bucket's objects and stops the server; gives the seconds.
    fn run(&self, python: &Path, rclone_conf: &Path) -> anyhow::Result<f64> {
        let mut server = crate::objstore::Servers::start_s3(python)?;
        let endpoint = server.env()[0].1.clone();
        let rclone = |args: &[&str]| {
            let mut cmd = Command::new("rclone");
            let var = |key: &str| format!("RCLONE_CONFIG_{}_{key}", REMOTE.to_ascii_uppercase());
            cmd.args(args)
                .env("RCLONE_CONFIG", rclone_conf)
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
        let dest = format!("{REMOTE}:{BUCKET}/{PREFIX}");
        util::timed(&mut rclone(&["mkdir", &format!("{REMOTE}:{BUCKET}")]))
            .context("creating the bucket")?;
        let concurrency = CONCURRENCY.to_string();
        let seconds = match self.how {
            How::Labelstore(labelstore, project) => {
                let mut cmd = Command::new(labelstore);
                cmd.arg("store")
                    .arg(project)
                    .args(["--to", "objstore", "--url"])
                    .arg(format!("s3://{BUCKET}/{PREFIX}"))
                    .args(["--endpoint", &endpoint, "--region", "us-east-1"])
                    .args(["--concurrency", &concurrency, "--format", "json"])
                    .env("AWS_ACCESS_KEY_ID", "bench")
                    .env("AWS_SECRET_ACCESS_KEY", "bench")
                    .env("AWS_REGION", "us-east-1");
                for v in UNSET {
                    cmd.env_remove(v);
                }
                util::timed(&mut cmd).context("labelstore store --to objstore")?
            }
            How::Rclone(dir, extra) => {
                let dir = dir.to_string_lossy();
                let mut args = vec!["copy", &dir, &dest, "--transfers", &concurrency];
                args.extend_from_slice(extra);
                util::timed(&mut rclone(&args)).context("rclone copy")?
            }
        };
        let listed = listing(&mut rclone(&[
            "lsjson",
            "-R",
            "--files-only",
            "--hash",
            &dest,
        ]))?;
        server.stop()?;
        let (files, name) = self.files;
        let same = files
            .iter()
            .filter(|(path, want)| listed.get(*path) == Some(want))
            .count();
        ensure!(
            same == files.len() && listed.len() == files.len(),
            "{} objects uploaded, {same} the same as {name}'s {} files: {}",
            listed.len(),
            files.len(),
            self.what
        );
        Ok(seconds)
    }
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
