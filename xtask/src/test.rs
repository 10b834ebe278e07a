//! `cargo xtask test`: everything CI checks, in order, stopping at the
//! first failure: the outside judges' tools, the format check, clippy with
//! warnings denied, every crate's tests (doctests included), then the
//! conformance suite.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail, ensure};

/// Environment variables every cargo command run by xtask gets.
static CHILD_ENV: std::sync::Mutex<Vec<(String, std::path::PathBuf)>> =
    std::sync::Mutex::new(Vec::new());

/// Records a variable for the cargo commands xtask runs (setting the
/// process environment is unsafe in edition 2024; children get it instead).
fn unsafe_free_set_env(key: &str, value: &Path) {
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

fn cargo(root: &Path, args: &[&str]) -> anyhow::Result<()> {
    println!("xtask: cargo {}", args.join(" "));
    let env = CHILD_ENV.lock().map(|e| e.clone()).unwrap_or_default();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
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

/// The programs the tests use as outside judges, with the Debian package
/// that provides each.
const TOOLS: &[(&str, &str)] = &[
    ("gdalinfo", "gdal-bin"),
    ("gdal_translate", "gdal-bin"),
    ("cs2cs", "proj-bin"),
    ("raster2pgsql", "postgis"),
];

fn has(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program} >/dev/null 2>&1")])
        .status()
        .is_ok_and(|s| s.success())
}

pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

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
    install.extend(&packages);
    apt(&install)
}

/// The Python packages the tests use as outside judges: (pip name, module
/// imported). Pillow decodes chips (the YOLO GIF-to-PNG test).
const PYTHON_PACKAGES: &[(&str, &str)] = &[
    ("pycocotools", "pycocotools"),
    ("datumaro", "datumaro"),
    ("pillow", "PIL"),
    ("shapely", "shapely"),
];

/// A Python virtual environment under `target/py` with the judges
/// installed; returns its interpreter, which tests find through
/// `LABELSTORE_PYTHON`.
pub(crate) fn ensure_python(root: &Path) -> anyhow::Result<std::path::PathBuf> {
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
    if !python.exists() {
        println!("xtask: python3 -m venv {}", venv.display());
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .context("running python3 -m venv (install Python 3 with venv)")?;
        ensure!(status.success(), "python3 -m venv failed");
    }
    println!("xtask: pip install {}", pip_names.join(" "));
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(&pip_names)
        .status()
        .context("running pip")?;
    ensure!(
        status.success(),
        "pip install {} failed",
        pip_names.join(" ")
    );
    Ok(python)
}

/// `cargo xtask serve ENVFILE`: starts the test servers (PostgreSQL +
/// PostGIS, the S3 server, the PAR emulator), writes `export KEY='VALUE'`
/// lines for the tests' variables to ENVFILE, and keeps the servers up
/// until ENVFILE is deleted. For running single tests by hand:
/// `. ENVFILE && cargo test -p sink-db`.
pub(crate) fn serve(root: &Path, envfile: Option<&str>) -> anyhow::Result<()> {
    let Some(envfile) = envfile else {
        bail!("usage: cargo xtask serve ENVFILE (delete ENVFILE to stop the servers)");
    };
    ensure_tools()?;
    let python = ensure_python(root)?;
    let cluster = crate::pg::Cluster::start()?;
    let servers = crate::objstore::Servers::start(root, &python)?;
    let nginx = crate::nginx::Nginx::start()?;
    let mut vars = vec![
        ("LABELSTORE_PYTHON", python.display().to_string()),
        ("LABELSTORE_TEST_PG", cluster.url().to_owned()),
        ("LABELSTORE_TEST_PG_CA", cluster.ca().display().to_string()),
    ];
    vars.extend(servers.env().iter().map(|(k, v)| (*k, v.clone())));
    vars.push(("LABELSTORE_TEST_HTTP", nginx.url().to_owned()));
    vars.push(crate::s3fs::env_var(root)?);
    let text: String = vars
        .iter()
        .map(|(k, v)| format!("export {k}='{v}'\n"))
        .collect();
    std::fs::write(envfile, text).with_context(|| format!("writing {envfile}"))?;
    println!("xtask: servers up; `. {envfile}` to use them, delete {envfile} to stop them");
    while Path::new(envfile).exists() {
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    drop(servers);
    drop(cluster);
    Ok(())
}

/// `cargo xtask conformance`: the conformance suite alone, with the test
/// servers its round trips go through.
pub(crate) fn conformance(root: &Path) -> anyhow::Result<()> {
    ensure_tools()?;
    let python = ensure_python(root)?;
    unsafe_free_set_env("LABELSTORE_PYTHON", &python);
    cargo(root, &["build", "-p", "store-cli"])?;
    let mut cluster = crate::pg::Cluster::start()?;
    unsafe_free_set_env("LABELSTORE_TEST_PG", Path::new(cluster.url()));
    let mut servers = crate::objstore::Servers::start(root, &python)?;
    for (key, value) in servers.env() {
        unsafe_free_set_env(key, Path::new(value));
    }
    let nginx = crate::nginx::Nginx::start()?;
    unsafe_free_set_env("LABELSTORE_TEST_HTTP", Path::new(nginx.url()));
    crate::conformance::run(root)?;
    drop(nginx);
    servers.stop()?;
    cluster.stop()
}

/// Runs the whole test suite.
pub(crate) fn run(root: &Path) -> anyhow::Result<()> {
    ensure_tools()?;
    let python = ensure_python(root)?;
    unsafe_free_set_env("LABELSTORE_PYTHON", &python);
    unsafe_free_set_env("LABELSTORE_S3S_FS", &crate::s3fs::ensure(root)?);
    cargo(root, &["fmt", "--all", "--", "--check"])?;
    cargo(
        root,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // The database tests run against a throwaway PostgreSQL + PostGIS,
    // stopped when `cluster` is dropped, also when a step fails.
    let mut cluster = crate::pg::Cluster::start()?;
    unsafe_free_set_env("LABELSTORE_TEST_PG", Path::new(cluster.url()));
    unsafe_free_set_env("LABELSTORE_TEST_PG_CA", cluster.ca());
    // The object-store tests run against moto's S3 server and the PAR
    // emulator, stopped when `servers` is dropped.
    let mut servers = crate::objstore::Servers::start(root, &python)?;
    for (key, value) in servers.env() {
        unsafe_free_set_env(key, Path::new(value));
    }
    // nginx with WebDAV (the plain HTTP target), stopped when dropped.
    let nginx = crate::nginx::Nginx::start()?;
    unsafe_free_set_env("LABELSTORE_TEST_HTTP", Path::new(nginx.url()));
    cargo(root, &["test", "--workspace"])?;
    println!("xtask: conformance");
    crate::conformance::run(root)?;
    servers.stop()?;
    cluster.stop()
}
