//! `cargo xtask test`: everything CI checks, in order, stopping at the
//! first failure: the outside judges' tools, the format check, clippy with
//! warnings denied, every crate's tests (doctests included), then the
//! conformance suite.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail, ensure};

fn cargo(root: &Path, args: &[&str]) -> anyhow::Result<()> {
    println!("xtask: cargo {}", args.join(" "));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
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
];

fn has(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program} >/dev/null 2>&1")])
        .status()
        .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
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

/// Runs the whole test suite.
pub(crate) fn run(root: &Path) -> anyhow::Result<()> {
    ensure_tools()?;
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
    cargo(root, &["test", "--workspace"])?;
    println!("xtask: conformance");
    crate::conformance::run(root)
}
