//! What the other xtask modules share: the workspace's paths, running cargo
//! and timing commands, finding or installing the tools (Debian packages,
//! the tests' Python venv), the bits every test server needs (a free
//! port, a per-run secret), and the tiled GeoTIFF writer of the generated
//! scenes (the example's and the chip benchmark's).
//!
//! This module imports no other xtask module, so that `test`, the servers
//! (`pg`, `objstore`, `nginx`), `conformance` and the benches depend on it
//! instead of on each other.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};

/// The workspace root: the parent of the xtask crate's folder.
pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Environment variables every cargo command run by xtask gets.
static CHILD_ENV: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());

/// Records a variable for the cargo commands xtask runs (setting the
/// process environment is unsafe in edition 2024; children get it instead).
pub(crate) fn unsafe_free_set_env(key: &str, value: &Path) {
    if let Ok(mut env) = CHILD_ENV.lock() {
        env.push((key.to_owned(), value.to_path_buf()));
    }
}

/// A variable recorded for the cargo commands, else the process's own.
pub(crate) fn child_env(key: &str) -> Option<String> {
    let recorded = CHILD_ENV.lock().ok().and_then(|env| {
        env.iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.display().to_string())
    });
    recorded.or_else(|| std::env::var(key).ok())
}

/// A command running the cargo that runs xtask.
pub(crate) fn cargo_command() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Runs `cargo ARGS` in `root` with the recorded variables, printing it
/// first; fails when cargo does.
pub(crate) fn cargo(root: &Path, args: &[&str]) -> anyhow::Result<()> {
    println!("xtask: cargo {}", args.join(" "));
    let env = CHILD_ENV.lock().map(|e| e.clone()).unwrap_or_default();
    let status = cargo_command()
        .envs(env)
        .args(args)
        .current_dir(root)
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    ensure!(
        status.success(),
        "cargo {} failed ({status})",
        args.join(" ")
    );
    Ok(())
}

/// Builds labelstore in release mode and returns the binary.
pub(crate) fn release_build(root: &Path) -> anyhow::Result<PathBuf> {
    println!("xtask: cargo build --release -p store-cli");
    let status = cargo_command()
        .args(["build", "--release", "-q", "-p", "store-cli"])
        .current_dir(root)
        .status()?;
    ensure!(status.success(), "release build failed");
    Ok(root.join("target/release/labelstore"))
}

/// Runs `cmd` to completion with its output captured; returns the wall
/// seconds, or an error with its stderr when it fails.
pub(crate) fn timed(cmd: &mut Command) -> anyhow::Result<f64> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    settle_writes();
    let started = Instant::now();
    let out = cmd.output().with_context(|| format!("running {program}"))?;
    let seconds = started.elapsed().as_secs_f64();
    ensure!(
        out.status.success(),
        "{program} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim_end()
    );
    Ok(seconds)
}

/// Writes what earlier steps left in the page cache to disk (`sync`), so
/// that no timing pays for the write-back of another's files.
pub(crate) fn settle_writes() {
    let _ = Command::new("sync").status();
}

/// Wall seconds and peak resident kilobytes of a command, through GNU time.
pub(crate) fn measure(cmd: &mut Command) -> anyhow::Result<(f64, u64)> {
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(ToOwned::to_owned).collect();
    let tmp = tempfile::NamedTempFile::new()?;
    settle_writes();
    let started = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(tmp.path())
        .arg(&program)
        .args(&args)
        .output()
        .with_context(|| format!("running {}", program.to_string_lossy()))?;
    let seconds = started.elapsed().as_secs_f64();
    ensure!(
        out.status.success(),
        "{} failed: {}",
        program.to_string_lossy(),
        String::from_utf8_lossy(&out.stderr)
    );
    let peak = std::fs::read_to_string(tmp.path())?
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .context("GNU time gave no peak memory")?;
    Ok((seconds, peak))
}

/// Whether `program` is on the PATH.
pub(crate) fn has(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program} >/dev/null 2>&1")])
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether xtask runs as root (and may install packages).
pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// `apt-get update`, then `apt-get install` of `packages`, without
/// questions or recommended packages (run as root).
pub(crate) fn apt_install(packages: &[&str]) -> anyhow::Result<()> {
    println!("xtask: apt-get install {}", packages.join(" "));
    let apt = |args: &[&str]| -> anyhow::Result<()> {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("running apt-get")?;
        ensure!(status.success(), "apt-get {} failed", args.join(" "));
        Ok(())
    };
    apt(&["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
    install.extend(packages);
    apt(&install)
}

/// Makes sure `program` is on the PATH: installs Debian's `package` when
/// running as root (as `cargo xtask test` does for its tools), otherwise
/// says what to install.
pub(crate) fn ensure_program(program: &str, package: &str) -> anyhow::Result<()> {
    if has(program) {
        return Ok(());
    }
    ensure!(
        is_root(),
        "the benchmark needs {program}: install it (e.g. `sudo apt-get install {package}`)"
    );
    apt_install(&[package])?;
    ensure!(
        has(program),
        "{package} installed but {program} is still missing"
    );
    Ok(())
}

/// The programs the tests use as outside judges, with the Debian package
/// that provides each.
const TOOLS: &[(&str, &str)] = &[
    ("gdalinfo", "gdal-bin"),
    ("gdal_translate", "gdal-bin"),
    ("cs2cs", "proj-bin"),
    ("raster2pgsql", "postgis"),
    // `labelstore preview`'s page, opened and screenshot headless.
    ("chromium", "chromium"),
];

/// Installs the Debian packages of missing tools when running as root;
/// otherwise says what to install.
pub(crate) fn ensure_tools() -> anyhow::Result<()> {
    let mut packages: Vec<&str> = TOOLS
        .iter()
        .filter(|(program, _)| !has(program))
        .map(|&(_, package)| package)
        .collect();
    packages.dedup();
    if packages.is_empty() {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "the tests need {}: install them (e.g. `sudo apt-get install {}`)",
            packages.join(", "),
            packages.join(" ")
        );
    }
    apt_install(&packages)
}

/// The Python packages the tests use as outside judges: (pip name, module
/// imported). Pillow decodes chips (the YOLO GIF-to-PNG test).
const PYTHON_PACKAGES: &[(&str, &str)] = &[
    ("pycocotools", "pycocotools"),
    ("datumaro", "datumaro"),
    ("pillow", "PIL"),
    ("shapely", "shapely"),
];

/// `pip install --quiet REQUIREMENTS` into the venv of `python`, printing
/// it first.
pub(crate) fn pip_install(python: &Path, requirements: &[&str]) -> anyhow::Result<()> {
    println!("xtask: pip install {}", requirements.join(" "));
    let status = Command::new(python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(requirements)
        .status()
        .context("running pip")?;
    ensure!(
        status.success(),
        "pip install {} failed",
        requirements.join(" ")
    );
    Ok(())
}

/// A Python virtual environment under `target/py` with the judges
/// installed; returns its interpreter, which tests find through
/// `LABELSTORE_PYTHON`.
pub(crate) fn ensure_python(root: &Path) -> anyhow::Result<PathBuf> {
    let venv = root.join("target/py");
    let python = venv.join("bin/python");
    let imports = PYTHON_PACKAGES
        .iter()
        .map(|(_, module)| *module)
        .collect::<Vec<_>>()
        .join(", ");
    let pip_names: Vec<&str> = PYTHON_PACKAGES.iter().map(|(name, _)| *name).collect();
    let ready = Command::new(&python)
        .args(["-c", &format!("import {imports}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if ready {
        return Ok(python);
    }
    make_venv(&venv)?;
    pip_install(&python, &pip_names)?;
    Ok(python)
}

/// `python3 -m venv DIR` (when it has no interpreter yet); its python.
pub(crate) fn make_venv(venv: &Path) -> anyhow::Result<PathBuf> {
    let python = venv.join("bin/python");
    if !python.exists() {
        println!("xtask: python3 -m venv {}", venv.display());
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(venv)
            .status()
            .context("running python3 -m venv (install Python 3 with venv)")?;
        ensure!(status.success(), "python3 -m venv failed");
    }
    Ok(python)
}

/// The test venv (see [`ensure_python`]) with the packages `pins` installed
/// at their versions: (pip name, module imported, version). Installs them
/// with pip unless every module already reports its version.
pub(crate) fn ensure_python_pins(
    root: &Path,
    pins: &[(&str, &str, &str)],
) -> anyhow::Result<PathBuf> {
    let python = ensure_python(root)?;
    let script = pins
        .iter()
        .map(|(_, module, _)| format!("import {module}; print({module}.__version__)"))
        .collect::<Vec<_>>()
        .join("\n");
    let wanted: Vec<&str> = pins.iter().map(|&(_, _, version)| version).collect();
    let ready = Command::new(&python)
        .args(["-c", &script])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .eq(wanted.iter().copied())
        });
    if !ready {
        let requirements: Vec<String> = pins
            .iter()
            .map(|(name, _, version)| format!("{name}=={version}"))
            .collect();
        let requirements: Vec<&str> = requirements.iter().map(String::as_str).collect();
        pip_install(&python, &requirements)?;
    }
    Ok(python)
}

/// A free TCP port on 127.0.0.1 (free when asked; the server takes it
/// right away).
pub(crate) fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

/// A secret for this run of a test server (a password, a PAR token):
/// `tag` then hex digits, not worth more than the run, but not guessable
/// across runs either.
pub(crate) fn run_secret(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{tag}{nanos:x}{:x}", std::process::id())
}

/// Waits up to 30 s for the server `child` (`what`, in errors) to listen
/// on 127.0.0.1:`port`; fails at once if it exits, with its `log` file's
/// text when it has one.
pub(crate) fn wait_for_port(
    port: u16,
    child: &mut Child,
    what: &str,
    log: Option<&Path>,
) -> anyhow::Result<()> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if let Some(status) = child.try_wait()? {
            let Some(log) = log else {
                bail!("{what} exited before listening ({status})");
            };
            let log = std::fs::read_to_string(log).unwrap_or_default();
            bail!("{what} exited before listening ({status}): {log}");
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("{what} did not listen on 127.0.0.1:{port} within 30 s")
}

/// A north-up RGB GeoTIFF to write with [`write_tiled_geotiff`]: its size,
/// tile size and georeferencing (a projected EPSG CRS).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TiledGeoTiff {
    /// Width and height in pixels.
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// Tile width and height in pixels (a multiple of 16).
    pub(crate) tile: u32,
    /// Map coordinates of the top-left corner of the top-left pixel.
    pub(crate) origin: (f64, f64),
    /// Ground size of a pixel, both axes.
    pub(crate) pixel: f64,
    /// EPSG code of the projected CRS.
    pub(crate) epsg: u16,
}

/// One `tile x tile` RGB tile (pixel-interleaved, rows of `tile * 3`
/// bytes, padded past the image's edge) compressed as a Deflate (zlib)
/// tile at `level` (1 to 9).
pub(crate) fn deflate_tile(raw: &[u8], level: u8) -> anyhow::Result<Vec<u8>> {
    use tiff::encoder::compression::{CompressionAlgorithm, Deflate, DeflateLevel};
    let level = match level {
        0..=3 => DeflateLevel::Fast,
        4..=7 => DeflateLevel::Balanced,
        _ => DeflateLevel::Best,
    };
    let mut out = Vec::with_capacity(raw.len() / 2);
    Deflate::with_level(level).write_to(&mut out, raw)?;
    Ok(out)
}

/// Writes an 8-bit RGB GeoTIFF, tiled and Deflate-compressed, to `path`:
/// `tile_row(ty)` gives the tiles of tile row `ty`, left to right, each
/// made by [`deflate_tile`], so that only one row of tiles is in memory.
/// The GeoTIFF tags are a pixel scale, one tiepoint and the geokeys
/// projected / PixelIsArea / EPSG. Classic TIFF: at most 4 GB.
pub(crate) fn write_tiled_geotiff(
    path: &Path,
    spec: TiledGeoTiff,
    mut tile_row: impl FnMut(u32) -> anyhow::Result<Vec<Vec<u8>>>,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    use tiff::encoder::TiffEncoder;
    use tiff::tags::Tag;

    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut writer = std::io::BufWriter::new(file);
    let mut tiff = TiffEncoder::new(&mut writer).context("TIFF header")?;
    let mut dir = tiff.image_directory().context("TIFF directory")?;
    let (across, down) = (
        spec.width.div_ceil(spec.tile),
        spec.height.div_ceil(spec.tile),
    );
    let (mut offsets, mut counts) = (Vec::new(), Vec::new());
    for ty in 0..down {
        let tiles = tile_row(ty)?;
        ensure!(
            tiles.len() == across as usize,
            "tile row {ty} has {} tiles, not {across}",
            tiles.len()
        );
        for t in tiles {
            let offset = dir.write_data(&t[..])?;
            offsets.push(u32::try_from(offset).context("the image outgrew a classic TIFF")?);
            counts.push(u32::try_from(t.len())?);
        }
    }
    let geokeys: [u16; 16] = [
        1, 1, 0, 3, // directory version, key revision, minor revision, key count
        1024, 0, 1, 1, // GTModelTypeGeoKey: projected
        1025, 0, 1, 1, // GTRasterTypeGeoKey: PixelIsArea
        3072, 0, 1, spec.epsg, // ProjectedCSTypeGeoKey
    ];
    let (x0, y0) = spec.origin;
    dir.write_tag(Tag::ImageWidth, spec.width)?;
    dir.write_tag(Tag::ImageLength, spec.height)?;
    dir.write_tag(Tag::BitsPerSample, &[8u16, 8, 8][..])?;
    dir.write_tag(Tag::Compression, 8u16)?; // Deflate (Adobe)
    dir.write_tag(Tag::PhotometricInterpretation, 2u16)?; // RGB
    dir.write_tag(Tag::SamplesPerPixel, 3u16)?;
    dir.write_tag(Tag::PlanarConfiguration, 1u16)?; // pixel-interleaved
    dir.write_tag(Tag::TileWidth, spec.tile)?;
    dir.write_tag(Tag::TileLength, spec.tile)?;
    dir.write_tag(Tag::TileOffsets, &offsets[..])?;
    dir.write_tag(Tag::TileByteCounts, &counts[..])?;
    dir.write_tag(Tag::SampleFormat, &[1u16, 1, 1][..])?;
    dir.write_tag(Tag::ModelPixelScaleTag, &[spec.pixel, spec.pixel, 0.0][..])?;
    dir.write_tag(Tag::ModelTiepointTag, &[0.0, 0.0, 0.0, x0, y0, 0.0][..])?;
    dir.write_tag(Tag::GeoKeyDirectoryTag, &geokeys[..])?;
    dir.finish().context("TIFF directory")?;
    writer
        .flush()
        .with_context(|| format!("writing {}", path.display()))
}
