//! `cargo xtask bench db`: labelstore against `raster2pgsql -Y | psql`,
//! storing the same GeoTIFF chips into the same throwaway PostGIS cluster.
//!
//! Both sides load every chip as one untiled raster row of one new table,
//! in one transaction, with COPY, the SRID set and a GiST index on
//! `ST_ConvexHull(rast)`:
//! - raster2pgsql (GDAL reads the files): `raster2pgsql -s SRID -F -I -Y N
//!   -c chips/*.tif TABLE | psql`, which adds the file name column and
//!   builds the index (and ANALYZE) after loading; `-Y N` with N the number
//!   of chips makes it one COPY, as labelstore does (raster2pgsql streams
//!   rows whatever N is, and was fastest so: 1,000 chips took 17.8 s with its
//!   default of 50 rows per COPY, 15.9 s with 100, 9.6 to 12.3 s with 1,000);
//! - labelstore (release build): `store --to db --format json`, which also
//!   writes each chip's labels, SHA-256 and metadata, and the project-wide
//!   files to `<table>_files`, with its index built as rows arrive; its
//!   `COPY` is binary (the rasters' WKB, no hex) and, as the server has lz4
//!   and the cluster chooses no compression, the rasters are compressed
//!   with lz4 rather than pglz.
//!
//! Afterwards both tables are counted and compared row by row: the same
//! rasters (`ST_Metadata`, and the raster bytes) for the same file names.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, ensure};

use super::chips;
use crate::util;

/// psql of the PostgreSQL the cluster runs.
const PSQL: &str = "/usr/lib/postgresql/15/bin/psql";
/// The table raster2pgsql loads.
const R2P_TABLE: &str = "bench_raster2pgsql";
/// The table labelstore stores into.
const OUR_TABLE: &str = "bench_labelstore";

/// Runs the benchmark on `n` chips.
pub(super) fn run(root: &Path, n: usize) -> anyhow::Result<()> {
    util::ensure_program("raster2pgsql", "postgis")?;
    let labelstore = util::release_build(root)?;
    let project = chips::project(root, n)?;
    let mut files: Vec<_> = std::fs::read_dir(project.join("chips"))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    ensure!(
        files.len() == n,
        "{} holds {} files, not {n}: delete it to make it again",
        project.display(),
        files.len()
    );
    // Read every chip once, so that neither side pays for a cold cache.
    let mut bytes = 0;
    for f in &files {
        bytes += std::fs::read(f)
            .with_context(|| format!("reading {}", f.display()))?
            .len();
    }

    let mut cluster = crate::pg::Cluster::start()?;
    let url = cluster.url().to_owned();

    let theirs = raster2pgsql(&files, &url).context("raster2pgsql | psql")?;
    let ours = util::timed(
        Command::new(&labelstore)
            .arg("store")
            .arg(&project)
            .args(["--to", "db", "--connection", &url])
            .args(["--table", OUR_TABLE, "--format", "json"]),
    )
    .context("labelstore store --to db")?;

    let count = |table: &str| query(&url, &format!("SELECT count(*) FROM {table}"));
    let (our_rows, their_rows) = (count(OUR_TABLE)?, count(R2P_TABLE)?);
    let same = |what: &str| {
        query(
            &url,
            &format!(
                "SELECT count(*) FROM {OUR_TABLE} l JOIN {R2P_TABLE} r \
                 ON l.image_path = 'chips/' || r.filename WHERE {what}"
            ),
        )
    };
    let same_metadata = same("ST_Metadata(l.rast) = ST_Metadata(r.rast)")?;
    let same_bytes = same("ST_AsBinary(l.rast) = ST_AsBinary(r.rast)")?;
    let size = |table: &str| {
        query(
            &url,
            &format!("SELECT pg_total_relation_size('{table}') / 1048576"),
        )
    };
    let (our_mb, their_mb) = (size(OUR_TABLE)?, size(R2P_TABLE)?);
    cluster.stop()?;

    println!(
        "PostGIS: {n} GeoTIFF chips ({s}x{s}, {b} bands of 8 bits, EPSG:{srid}, {mb} MB), \
         each side into its own new table in the same cluster: one untiled raster row per \
         chip, one transaction, COPY, GiST index on ST_ConvexHull(rast)",
        s = chips::SIZE,
        b = chips::BANDS,
        srid = chips::SRID,
        mb = bytes / 1_048_576
    );
    println!(
        "  raster2pgsql -s {} -F -I -Y {n} -c chips/*.tif {R2P_TABLE} | psql: \
         rasters + file names; one COPY; index and ANALYZE after the load",
        chips::SRID
    );
    println!("    {theirs:.2} s, {their_rows} rows, table {their_mb} MB");
    println!(
        "  labelstore store --to db --table {OUR_TABLE} --format json: rasters + each chip's \
         labels, SHA-256 and metadata + {OUR_TABLE}_files; one binary COPY; lz4; index built during \
         the load"
    );
    println!("    {ours:.2} s, {our_rows} rows, table {our_mb} MB");
    println!("  labelstore is {:.2}x as fast (target: 2x)", theirs / ours);
    super::record_speed(
        &format!("{n} GeoTIFF chips into PostGIS"),
        ours,
        "raster2pgsql -Y | psql",
        theirs,
        2.0,
    );
    println!(
        "  rows: {our_rows} and {their_rows}; the same raster metadata in {same_metadata}, \
         the same raster bytes in {same_bytes}"
    );
    let want = n.to_string();
    ensure!(
        our_rows == want && their_rows == want,
        "expected {n} rows on each side, got {our_rows} (labelstore) and {their_rows} (raster2pgsql)"
    );
    ensure!(
        same_metadata == want,
        "only {same_metadata} of {n} rows have the same raster metadata on both sides"
    );
    Ok(())
}

/// Loads `files` with `raster2pgsql ... | psql`; returns the wall seconds of
/// the whole pipeline.
fn raster2pgsql(files: &[std::path::PathBuf], url: &str) -> anyhow::Result<f64> {
    let log = tempfile::NamedTempFile::new()?;
    crate::util::settle_writes();
    let started = Instant::now();
    let mut producer = Command::new("raster2pgsql")
        .args(["-s", &chips::SRID.to_string(), "-F", "-I"])
        .args(["-Y", &files.len().to_string(), "-c"])
        .args(files)
        .arg(R2P_TABLE)
        .stdout(Stdio::piped())
        .stderr(log.reopen()?)
        .spawn()
        .context("starting raster2pgsql")?;
    let sql = producer.stdout.take().context("raster2pgsql's output")?;
    let consumer = Command::new(PSQL)
        .args(["-q", "-X", "-v", "ON_ERROR_STOP=1", "-d", url])
        .stdin(sql)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting psql")?;
    let psql = consumer.wait_with_output()?;
    let r2p = producer.wait()?;
    let seconds = started.elapsed().as_secs_f64();
    let tail = || {
        let text = std::fs::read_to_string(log.path()).unwrap_or_default();
        let lines: Vec<_> = text.lines().rev().take(5).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    };
    ensure!(r2p.success(), "raster2pgsql failed ({r2p}):\n{}", tail());
    ensure!(
        psql.status.success(),
        "psql failed ({}): {}",
        psql.status,
        String::from_utf8_lossy(&psql.stderr).trim_end()
    );
    Ok(seconds)
}

/// The one value `sql` returns.
fn query(url: &str, sql: &str) -> anyhow::Result<String> {
    let out = Command::new(PSQL)
        .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .output()
        .context("running psql")?;
    ensure!(
        out.status.success(),
        "psql -c {sql:?} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim_end()
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
