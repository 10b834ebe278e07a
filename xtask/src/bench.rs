//! `cargo xtask bench formats|memory|db|objstore|geotiff|chip`: labelstore against the tool
//! people use today for the same job, on the same machine, in one run.
//! Numbers are printed, never asserted: speed is checked here, not in the
//! tests.
//!
//! `bench formats` generates a 10,000-chip COCO dataset (32x32 chips, ten
//! boxes each, as the task; the images are hard links to one small
//! PNG), then times
//! - labelstore (release build): `import --from coco`, then `store` as VOC,
//!   YOLO and KITTI;
//! - Datumaro (Python API, as `datum convert` does it): import the COCO
//!   dataset and export it as VOC, YOLO and KITTI with the images
//!   (`save_media=True`), the task; and labels only, for
//!   information;
//!
//! and prints each side's wall time and peak memory (GNU time's maximum
//! resident set size) and the ratios. Then, like for like with panlabel
//! (a Rust converter, pinned in [`panlabel`]): labelstore's import + `store`
//! as VOC and YOLO only, against `panlabel convert` from the same COCO to
//! VOC and to YOLO plus the images placed as panlabel asks its users to
//! (`cp -al`, hard links, the cheapest way), and labels only for
//! information; checks that both wrote the same labels; and times
//! `cp -al` of labelstore's VOC + YOLO store, the same entries as hard links
//! from one thread: the floor of the store's file creation on this disk.
//!
//! `bench db` (labelstore against `raster2pgsql -Y | psql`) and
//! `bench objstore` (labelstore against `rclone copy`) live in [`db`] and
//! [`objstore`]; both use the GeoTIFF chips of [`chips`]. `bench geotiff`
//! (world-file chips to GeoTIFFs, labelstore against rasterio) lives in
//! [`geotiff`]; `bench memory` (peak memory of a store and its
//! verification from 1,000 to 100,000 chips) in [`memory`]; `bench chip`
//! (a 20,000 x 20,000 GeoTIFF scene and 20,000 GeoJSON polygons cut into
//! labeled 512 x 512 chips, labelstore against a rasterio + shapely script)
//! in [`chip`].
//!
//! The benches time file creation on the machine's disk, and a removal of
//! many files slows it for minutes after: ext4 without a journal (as on
//! this machine) skips inodes freed in the last minutes when it allocates
//! new ones, scanning past each of them (measured: 20 times slower, for
//! about six minutes after 350,000 files were removed). So the benches'
//! folders are removed at the end of the run ([`remove_at_end`]), never
//! between two timings; a run first waits until creating files is fast
//! ([`settle`]); and every timing starts with a `sync`, so that none pays
//! for writing back another's files.

mod chip;
mod chips;
mod db;
mod geotiff;
mod memory;
mod objstore;
mod panlabel;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, ensure};

use crate::util::{ensure_python, ensure_tools, measure, release_build};

/// Chips in the COCO dataset of `bench formats`.
const CHIPS: usize = 10_000;

/// Boxes on each chip of the COCO dataset of `bench formats`.
const BOXES: usize = 10;

/// The benches' folders, removed at the end of the run.
static LEFT: std::sync::Mutex<Vec<tempfile::TempDir>> = std::sync::Mutex::new(Vec::new());

/// Keeps `dir` until the end of the run (see the module's documentation).
pub(crate) fn remove_at_end(dir: tempfile::TempDir) {
    LEFT.lock().unwrap_or_else(|e| e.into_inner()).push(dir);
}

/// Waits until creating files is as fast as on a quiet disk: 200 files of
/// 1 KiB in a new folder in each place the benches write (the system's
/// temporary folder and `target/bench/`; the folders are kept, as removing
/// them would slow the next creations), in under 15 ms each (5 ms on this
/// machine's quiet disk, 100 to 200 ms in the minutes after a removal of
/// many files), three probes in a row, 20 s apart (one fast probe proved
/// too early: the next minute's stores still ran 2 to 3 times slower), for
/// 15 minutes at most.
fn settle(root: &Path) -> anyhow::Result<()> {
    let places = [
        std::env::temp_dir().join("labelstore-bench-settle"),
        root.join("target/bench/settle"),
    ];
    let started = std::time::Instant::now();
    let mut fast_in_a_row = 0;
    for round in 0.. {
        let mut slowest = std::time::Duration::ZERO;
        for dir in &places {
            let probe = dir.join(format!("{}-{round}", std::process::id()));
            std::fs::create_dir_all(&probe)
                .with_context(|| format!("creating {}", probe.display()))?;
            let t = std::time::Instant::now();
            for i in 0..200 {
                std::fs::write(probe.join(i.to_string()), [0u8; 1024])?;
            }
            slowest = slowest.max(t.elapsed());
        }
        if slowest < std::time::Duration::from_millis(15) {
            fast_in_a_row += 1;
            if fast_in_a_row == 3 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_secs(20));
            continue;
        }
        fast_in_a_row = 0;
        if started.elapsed() > std::time::Duration::from_secs(15 * 60) {
            println!("xtask: file creation is still slow; the benches run anyway");
            break;
        }
        println!(
            "xtask: creating 200 files took {} ms: waiting for the disk to settle \
             (file creation is slow for minutes after many files were removed)",
            slowest.as_millis()
        );
        std::thread::sleep(std::time::Duration::from_secs(20));
    }
    Ok(())
}

/// Removes the folders kept by [`remove_at_end`].
fn remove_left() {
    drop(std::mem::take(
        &mut *LEFT.lock().unwrap_or_else(|e| e.into_inner()),
    ));
}

/// The usage line of `cargo xtask bench`.
pub(crate) const USAGE: &str = "bench all [--quick]|formats|memory|db [--chips N]|\
     objstore [--chips N]|geotiff [--chips N]|chip [--pixels N]";

/// One line of `bench all`'s table: what a benchmark measured against its
/// target.
struct Row {
    task: String,
    ours: String,
    peer: String,
    theirs: String,
    /// The peer's time over ours (none for a figure of our own).
    ratio: Option<f64>,
    target: String,
    /// None for a figure given for information, with no target.
    met: Option<bool>,
}

/// The rows the benchmarks of this run recorded.
static ROWS: std::sync::Mutex<Vec<Row>> = std::sync::Mutex::new(Vec::new());

/// Records a timing against a peer: `ours` and `theirs` in seconds, met
/// when the peer takes at least `target` times as long.
pub(crate) fn record_speed(task: &str, ours: f64, peer: &str, theirs: f64, target: f64) {
    push(timing(task, ours, peer, theirs, Some(target)));
}

/// Records a timing against a peer for information, with no target (the
/// floor a job cannot go under on this machine, a peer doing less).
pub(crate) fn record_info(task: &str, ours: f64, peer: &str, theirs: f64) {
    push(timing(task, ours, peer, theirs, None));
}

fn timing(task: &str, ours: f64, peer: &str, theirs: f64, target: Option<f64>) -> Row {
    let ratio = theirs / ours;
    Row {
        task: task.to_owned(),
        ours: format!("{ours:.2} s"),
        peer: peer.to_owned(),
        theirs: format!("{theirs:.2} s"),
        ratio: Some(ratio),
        target: target.map(|t| format!("{t}x")).unwrap_or_default(),
        met: target.map(|t| ratio >= t),
    }
}

/// Records a figure of labelstore's own against a limit (peak memory).
pub(crate) fn record_limit(task: &str, ours: u64, unit: &str, under: u64) {
    push(Row {
        task: task.to_owned(),
        ours: format!("{ours} {unit}"),
        peer: String::new(),
        theirs: String::new(),
        ratio: None,
        target: format!("under {under} {unit}"),
        met: Some(ours < under),
    });
}

fn push(row: Row) {
    ROWS.lock().unwrap_or_else(|e| e.into_inner()).push(row);
}

/// Runs the benchmark named by `args[0]`, with its options after it.
pub(crate) fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let usage = || anyhow::anyhow!("usage: cargo xtask {USAGE}");
    let what = args.first().map(String::as_str);
    let rest = args.get(1..).unwrap_or_default();
    // The value of `flag`, the only option a benchmark takes, if given.
    let number = |flag: &str| -> anyhow::Result<Option<usize>> {
        match rest {
            [] => Ok(None),
            [f, n] if f == flag => n
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .map(Some)
                .ok_or_else(usage),
            _ => Err(usage()),
        }
    };
    // Arguments checked before anything runs.
    type Job<'a> = Box<dyn FnOnce() -> anyhow::Result<()> + 'a>;
    let job: Job<'_> = match what {
        Some("all") if rest.is_empty() => Box::new(|| all(root, false)),
        Some("all") if rest == ["--quick"] => Box::new(|| all(root, true)),
        Some("formats") if rest.is_empty() => Box::new(|| formats(root)),
        Some("memory") if rest.is_empty() => Box::new(|| memory::run(root)),
        Some("db") => {
            let n = number("--chips")?.unwrap_or(chips::DEFAULT_CHIPS);
            Box::new(move || db::run(root, n))
        }
        Some("objstore") => {
            let n = number("--chips")?.unwrap_or(chips::DEFAULT_CHIPS);
            Box::new(move || objstore::run(root, n))
        }
        Some("geotiff") => {
            let n = number("--chips")?.unwrap_or(chips::DEFAULT_CHIPS);
            Box::new(move || geotiff::run(root, n))
        }
        Some("chip") => {
            let n = number("--pixels")?.unwrap_or(chip::DEFAULT_PIXELS);
            Box::new(move || chip::run(root, n))
        }
        _ => return Err(usage()),
    };
    settle(root)?;
    let result = job();
    remove_left();
    result
}

/// `cargo xtask bench all`: every benchmark in one run, at the issue's
/// sizes (`--quick`: small sizes, to check the harness; formats and memory
/// have one size and are left out), then one table of every figure
/// against its target, with the machine and the date; also written to
/// `target/bench/all.md`. A benchmark that fails is a row saying so, and
/// the run goes on.
fn all(root: &Path, quick: bool) -> anyhow::Result<()> {
    let chips_n = if quick { 50 } else { 1_000 };
    type Bench<'a> = Box<dyn Fn() -> anyhow::Result<()> + 'a>;
    let mut benches: Vec<(&str, Bench<'_>)> = Vec::new();
    if !quick {
        benches.push(("formats", Box::new(|| formats(root))));
    }
    benches.push(("geotiff", Box::new(|| geotiff::run(root, chips_n))));
    benches.push(("db", Box::new(|| db::run(root, chips_n))));
    benches.push(("objstore", Box::new(|| objstore::run(root, chips_n))));
    benches.push((
        "chip",
        Box::new(|| chip::run(root, if quick { 2048 } else { chip::DEFAULT_PIXELS })),
    ));
    if !quick {
        benches.push(("memory", Box::new(|| memory::run(root))));
    }
    for (name, bench) in &benches {
        println!("xtask: bench {name}");
        if let Err(e) = bench() {
            println!("xtask: bench {name} failed: {e:#}");
            push(Row {
                task: format!("bench {name}"),
                ours: "failed".to_owned(),
                peer: String::new(),
                theirs: String::new(),
                ratio: None,
                target: String::new(),
                met: Some(false),
            });
        }
    }
    let table = table(&ROWS.lock().unwrap_or_else(|e| e.into_inner()), quick)?;
    print!("\n{table}");
    let out = root.join("target/bench/all.md");
    std::fs::create_dir_all(root.join("target/bench"))?;
    std::fs::write(&out, &table).with_context(|| format!("writing {}", out.display()))?;
    println!("xtask: the table is in {}", out.display());
    Ok(())
}

/// The table of `rows` in Markdown, after the machine and the date.
fn table(rows: &[Row], quick: bool) -> anyhow::Result<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| (kb + 512 * 1024) / (1024 * 1024));
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let mut t = String::new();
    writeln!(
        t,
        "`cargo xtask bench all{}` on {cores} cores ({model}), {mem_gib} GiB, {date}\n",
        if quick { " --quick" } else { "" }
    )?;
    writeln!(
        t,
        "| task | labelstore | peer | peer's | ratio | target | met |"
    )?;
    writeln!(t, "|---|---|---|---|---|---|---|")?;
    for r in rows {
        writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} |",
            cell(&r.task),
            r.ours,
            cell(&r.peer),
            r.theirs,
            r.ratio.map(|x| format!("{x:.2}x")).unwrap_or_default(),
            r.target,
            match r.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            }
        )?;
    }
    Ok(t)
}

/// `text` in a Markdown table's cell: a `|` (a shell pipe in a peer's
/// name) would end the cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// Runs `run` twice, into the folders named `out` and `out-2` (nothing is
/// removed in between: a removal slows the next writes, see `settle`), and
/// keeps the faster time and the higher peak memory. File creation on
/// this machine stalls now and then for a second or more; the best of
/// two, for every side alike, is the tool's own time.
fn best_of_two(
    out: &str,
    mut run: impl FnMut(&str) -> anyhow::Result<(f64, u64)>,
) -> anyhow::Result<(f64, u64)> {
    let first = run(out)?;
    let second = run(&format!("{out}-2"))?;
    Ok(best(first, second))
}

/// [`best_of_two`] for two sides taking turns (`a`, `b`, `a`, `b`), so a
/// stall of the disk that lasts longer than one run falls on both sides
/// alike instead of on both runs of one.
fn best_of_two_each(
    (out_a, mut a): (&str, impl FnMut(&str) -> anyhow::Result<(f64, u64)>),
    (out_b, mut b): (&str, impl FnMut(&str) -> anyhow::Result<(f64, u64)>),
) -> anyhow::Result<((f64, u64), (f64, u64))> {
    let (a1, b1) = (a(out_a)?, b(out_b)?);
    let (a2, b2) = (a(&format!("{out_a}-2"))?, b(&format!("{out_b}-2"))?);
    Ok((best(a1, a2), best(b1, b2)))
}

/// The faster time and the higher peak memory of two runs.
fn best(first: (f64, u64), second: (f64, u64)) -> (f64, u64) {
    (first.0.min(second.0), first.1.max(second.1))
}

/// `cargo xtask bench formats`.
fn formats(root: &Path) -> anyhow::Result<()> {
    ensure_tools()?;
    ensure!(
        Path::new("/usr/bin/time").exists(),
        "the benchmark measures peak memory with GNU time: apt-get install time"
    );
    let python = ensure_python(root)?;
    let labelstore = release_build(root)?;

    let tmp = tempfile::tempdir()?;
    let coco = tmp.path().join("coco");
    generate_coco(root, &coco)?;
    println!("generated {CHIPS} chips of COCO in {}", coco.display());

    // labelstore in one step, as a user converting a dataset runs it:
    // `store --from coco` reads the COCO dataset and stores it.
    let coco_json = coco.join("annotations/instances_default.json");
    let store_from = |formats: &str, out: &str| {
        measure(
            Command::new(&labelstore)
                .arg("store")
                .arg(&coco_json)
                .args([
                    "--from", "coco", "--to", "local", "--format", formats, "--path",
                ])
                .arg(tmp.path().join(out)),
        )
    };

    // Datumaro as the task says, with the images (each export
    // gets every image, as labelstore's store does), and labels only, for
    // information.
    let datumaro = |media: bool, out: &str| {
        let script = format!(
            "import datumaro as dm\n\
             ds = dm.Dataset.import_from({src:?}, 'coco_instances')\n\
             for fmt in ('voc_detection', 'yolo', 'kitti_detection'):\n\
             \x20   ds.export({out:?} + '/' + fmt, fmt, save_media={media})\n",
            src = coco.display().to_string(),
            out = tmp.path().join(out).display().to_string(),
            media = if media { "True" } else { "False" },
        );
        measure(Command::new(&python).args(["-c", &script]))
    };
    let (ours, theirs) = best_of_two_each(
        ("ours", |out: &str| store_from("voc,yolo,kitti", out)),
        ("datumaro", |out: &str| datumaro(true, out)),
    )?;
    let their_images = files_in(&tmp.path().join("datumaro/voc_detection/JPEGImages"))?;
    ensure!(
        their_images == CHIPS,
        "Datumaro's VOC export holds {their_images} images, not {CHIPS}"
    );
    let theirs_labels = best_of_two("datumaro-labels", |out| datumaro(false, out))?;

    let mut report = String::new();
    writeln!(
        report,
        "COCO -> VOC + YOLO + KITTI, {CHIPS} chips x {BOXES} boxes, with the images \
         (every figure: the faster of two runs, labelstore and its peer taking turns)"
    )?;
    writeln!(
        report,
        "  labelstore store --from coco: {:.2} s, peak {} MB",
        ours.0,
        ours.1 / 1024
    )?;
    writeln!(
        report,
        "  datumaro (save_media=True): {:.2} s, peak {} MB; labels only (save_media=False): {:.2} s",
        theirs.0,
        theirs.1 / 1024,
        theirs_labels.0
    )?;
    writeln!(
        report,
        "  labelstore is {:.1}x as fast (target: 20x), with {:.2}x the peak memory; \
         {:.1}x Datumaro writing labels only",
        theirs.0 / ours.0,
        ours.1 as f64 / theirs.1.max(1) as f64,
        theirs_labels.0 / ours.0
    )?;
    record_speed(
        &format!(
            "COCO to VOC + YOLO + KITTI, {CHIPS} images x {BOXES} boxes, with the images (store --from coco)"
        ),
        ours.0,
        "Datumaro",
        theirs.0,
        20.0,
    );
    record_info(
        "the same, Datumaro writing labels only",
        ours.0,
        "Datumaro, save_media=False",
        theirs_labels.0,
    );

    // Like for like with panlabel: VOC and YOLO only, from the same COCO.
    let panlabel = panlabel::ensure(root)?;
    // The same in two steps: `import` makes a labelstore project (its
    // chips hard links), then `store` stores it, for information.
    let two = |out: &str| {
        let project = tmp.path().join(format!("{out}-project"));
        let import = measure(
            Command::new(&labelstore)
                .args(["import", "--from", "coco"])
                .arg(&coco)
                .arg("--output")
                .arg(&project),
        )?;
        let store = measure(
            Command::new(&labelstore)
                .arg("store")
                .arg(&project)
                .args(["--to", "local", "--format", "voc,yolo", "--path"])
                .arg(tmp.path().join(out)),
        )?;
        anyhow::Ok((import, store))
    };
    // The faster of two, by the sum of both steps.
    let (a, b) = (two("ours-vy-two")?, two("ours-vy-two-2")?);
    let (ours_import, ours_store) = if a.0.0 + a.1.0 <= b.0.0 + b.1.0 { a } else { b };
    // panlabel writes no image ("Place your original images here", its
    // JPEGImages/README.txt says): the images placed as a user would, at
    // the least cost, hard links from the dataset into VOC's JPEGImages/
    // and YOLO's images/.
    let images_src = coco.join("images/default/.");
    let place = |dir: &Path, to: &str| {
        measure(
            Command::new("cp")
                .arg("-al")
                .arg(&images_src)
                .arg(dir.join(to)),
        )
    };
    let pan = |out: &str| {
        let dir = tmp.path().join(out);
        let voc = measure(&mut panlabel::convert(
            &panlabel,
            &coco_json,
            "voc",
            &dir.join("voc"),
        ))?;
        let yolo = measure(&mut panlabel::convert(
            &panlabel,
            &coco_json,
            "yolo",
            &dir.join("yolo"),
        ))?;
        let images = [place(&dir, "voc/JPEGImages")?, place(&dir, "yolo/images")?];
        anyhow::Ok([voc, yolo, images[0], images[1]])
    };
    // The faster of two, by the whole (labels and images).
    let total = |r: &[(f64, u64); 4]| r.iter().map(|m| m.0).sum::<f64>();
    // Taking turns, as with Datumaro.
    let ours_1 = store_from("voc,yolo", "ours-vy")?;
    let a = pan("panlabel")?;
    let ours_2 = store_from("voc,yolo", "ours-vy-2")?;
    let b = pan("panlabel-2")?;
    let ours_vy = best(ours_1, ours_2);
    // The floor of the store's file creation: the same tree made of hard
    // links by one `cp -al` (no reading, hashing or writing of bytes).
    let floor = best_of_two("cp-al", |out| {
        measure(
            Command::new("cp")
                .arg("-al")
                .arg(tmp.path().join("ours-vy"))
                .arg(tmp.path().join(out)),
        )
    })?;
    let [their_voc, their_yolo, voc_images, yolo_images] =
        if total(&a) <= total(&b) { a } else { b };
    let their_images = [voc_images, yolo_images];
    let theirs_dir = tmp.path().join("panlabel");
    let objects = panlabel::check_same(&tmp.path().join("ours-vy"), &theirs_dir, CHIPS)?;
    let (ours_files, theirs_files) = (
        files_in(&tmp.path().join("ours-vy"))?,
        files_in(&theirs_dir)?,
    );
    let theirs_labels = their_voc.0 + their_yolo.0;
    let placing = their_images[0].0 + their_images[1].0;
    let theirs_seconds = theirs_labels + placing;
    let theirs_peak = their_voc.1.max(their_yolo.1);
    let two_steps = ours_import.0 + ours_store.0;
    writeln!(
        report,
        "COCO -> VOC + YOLO, {CHIPS} chips x {BOXES} boxes, against panlabel"
    )?;
    writeln!(
        report,
        "  labelstore store --from coco --format voc,yolo: reads the COCO JSON and every \
         chip's header, writes the labels, copies each chip once (VOC and YOLO get hard \
         links), SHA-256 of every file, staged and moved into place"
    )?;
    writeln!(
        report,
        "    {:.2} s, peak {} MB, {ours_files} files and links written; in two steps \
         (import, then store): {two_steps:.2} s (import {:.2} s, store {:.2} s)",
        ours_vy.0,
        ours_vy.1 / 1024,
        ours_import.0,
        ours_store.0,
    )?;
    writeln!(
        report,
        "  the floor: cp -al of labelstore's VOC + YOLO store (the same {ours_files} \
         entries as hard links, one thread): {:.2} s; labelstore took {:.2}x that",
        floor.0,
        ours_vy.0 / floor.0
    )?;
    record_info(
        &format!("the {ours_files} files of the VOC + YOLO store above"),
        ours_vy.0,
        "cp -al of the same tree (the floor)",
        floor.0,
    );
    writeln!(
        report,
        "  panlabel {} convert --from coco --to voc, then --to yolo (--allow-lossy): \
         validates and reads the COCO JSON twice, writes the labels, copies no images; \
         then cp -al of the images into voc/JPEGImages/ and yolo/images/",
        panlabel::VERSION
    )?;
    writeln!(
        report,
        "    {theirs_seconds:.2} s (voc {:.2} s, yolo {:.2} s, images {placing:.2} s), \
         peak {} MB, {theirs_files} files and links written",
        their_voc.0,
        their_yolo.0,
        theirs_peak / 1024
    )?;
    writeln!(
        report,
        "  labelstore is {:.2}x as fast (target: 2x), with {:.2}x the peak memory; \
         {:.2}x panlabel's labels alone; in two steps {:.2}x",
        theirs_seconds / ours_vy.0,
        ours_vy.1 as f64 / theirs_peak.max(1) as f64,
        theirs_labels / ours_vy.0,
        theirs_seconds / two_steps
    )?;
    record_speed(
        &format!(
            "COCO to VOC + YOLO, {CHIPS} images x {BOXES} boxes, with the images (store --from coco)"
        ),
        ours_vy.0,
        &format!("panlabel {} + cp -al of the images", panlabel::VERSION),
        theirs_seconds,
        2.0,
    );
    record_info(
        "the same, panlabel writing labels only",
        ours_vy.0,
        &format!("panlabel {}, labels only", panlabel::VERSION),
        theirs_labels,
    );
    record_info(
        "the same in two steps (import, then store)",
        two_steps,
        &format!("panlabel {} + cp -al of the images", panlabel::VERSION),
        theirs_seconds,
    );
    writeln!(
        report,
        "  the same labels: {CHIPS} YOLO files byte for byte, {objects} VOC objects \
         (labelstore: VOC's 1-based integer pixels, panlabel: COCO's floats)"
    )?;
    print!("{report}");
    remove_at_end(tmp);
    Ok(())
}

/// Files (and hard links) under `dir`, at any depth.
fn files_in(dir: &Path) -> anyhow::Result<usize> {
    let mut n = 0;
    for e in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let e = e?;
        n += if e.file_type()?.is_dir() {
            files_in(&e.path())?
        } else {
            1
        };
    }
    Ok(n)
}

/// Writes a COCO dataset in Datumaro's layout: `annotations/instances_default.json`
/// and `images/default/<n>.png`.
fn generate_coco(root: &Path, dir: &Path) -> anyhow::Result<()> {
    let images = dir.join("images/default");
    std::fs::create_dir_all(&images)?;
    std::fs::create_dir_all(dir.join("annotations"))?;
    // Every image a hard link to one copy of the fixture made beside `dir`,
    // never to the fixture itself: the runs add up to 50,000 more links to
    // that file, and ext4 allows 65,000 (a fixture shared with other
    // datasets on the disk would reach the limit).
    let png = dir.with_file_name("coco-image.png");
    std::fs::copy(
        root.join("tests/fixtures/detection-basic/chips/a.png"),
        &png,
    )?;
    let (w, h) = (32, 32);
    let mut json = String::from(
        "{\"info\": {}, \"licenses\": [], \"categories\": [\
         {\"id\": 1, \"name\": \"ship\", \"supercategory\": \"\"}, \
         {\"id\": 2, \"name\": \"buoy\", \"supercategory\": \"\"}, \
         {\"id\": 3, \"name\": \"small boat\", \"supercategory\": \"\"}], \"images\": [",
    );
    for i in 0..CHIPS {
        std::fs::hard_link(&png, images.join(format!("c{i}.png")))?;
        let sep = if i == 0 { "" } else { ", " };
        write!(
            json,
            "{sep}{{\"id\": {}, \"file_name\": \"c{i}.png\", \"width\": {w}, \"height\": {h}}}",
            i + 1
        )?;
    }
    json.push_str("], \"annotations\": [");
    let mut id = 0;
    for i in 0..CHIPS {
        for k in 0..BOXES {
            id += 1;
            let sep = if id == 1 { "" } else { ", " };
            let (x, y) = ((i * 7 + k * 5) % 20, (i * 3 + k * 9) % 20);
            write!(
                json,
                "{sep}{{\"id\": {id}, \"image_id\": {}, \"category_id\": {}, \"bbox\": [{x}.5, {y}, 10, 8.25], \
                 \"area\": 82.5, \"iscrowd\": 0}}",
                i + 1,
                k % 3 + 1
            )?;
        }
    }
    json.push_str("]}\n");
    std::fs::write(dir.join("annotations/instances_default.json"), json)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn bad_arguments_get_the_usage_before_anything_runs() {
        let root = Path::new("/nonexistent");
        for bad in [
            &[][..],
            &["database"],
            &["db", "--chips"],
            &["db", "--chips", "0"],
            &["db", "--chips", "many"],
            &["objstore", "--count", "5"],
            &["geotiff", "--chips", "-1"],
            &["formats", "--chips", "5"],
            &["memory", "--chips", "5"],
            &["db", "--chips", "5", "extra"],
            &["db", "--pixels", "5"],
            &["chip", "--chips", "5"],
            &["chip", "--pixels", "0"],
            &["chip", "--pixels"],
        ] {
            let e = run(root, &args(bad)).unwrap_err().to_string();
            assert_eq!(e, format!("usage: cargo xtask {USAGE}"), "{bad:?}");
        }
    }
}
