//! `s3s-fs`, a persistent S3-compatible server (crates.io, the `s3s`
//! project), for the test that stops the S3 server in the middle of a store
//! and starts it again: moto keeps its objects in memory and loses them when
//! it stops, `s3s-fs` keeps them as files in a folder.
//!
//! [`ensure`] installs the pinned version under `target/tools` with
//! `cargo install` when it is missing (a few minutes on two cores, once);
//! the tests find the binary through `LABELSTORE_S3S_FS` and start and stop
//! their own instances (`s3s-fs --host 127.0.0.1 --port P --access-key K
//! --secret-key S FOLDER`).
//!
//! The version is pinned at 0.14.1, the newest whose `rust-version` our
//! toolchain meets (0.15.0 to 0.17.0 require Rust 1.96).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, ensure};

/// The pinned version.
const VERSION: &str = "0.14.1";

/// The installed binary's `--version` answer, when it runs.
fn installed_version(bin: &Path) -> Option<String> {
    let out = Command::new(bin).arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The path of `s3s-fs` under `<root>/target/tools/bin`, installed (with
/// its `binary` feature) when missing or of another version.
pub(crate) fn ensure(root: &Path) -> anyhow::Result<PathBuf> {
    let tools = root.join("target/tools");
    let bin = tools.join("bin/s3s-fs");
    if installed_version(&bin).is_some_and(|v| v == format!("s3s-fs {VERSION}")) {
        return Ok(bin);
    }
    println!("xtask: cargo install s3s-fs {VERSION} (once; a few minutes)");
    let status = crate::util::cargo_command()
        .args(["install", "--locked", "--force", "--root"])
        .arg(&tools)
        .args(["s3s-fs", "--version", &format!("={VERSION}")])
        .args(["--features", "binary"])
        .status()
        .context("running cargo install s3s-fs")?;
    ensure!(status.success(), "cargo install s3s-fs {VERSION} failed");
    ensure!(
        installed_version(&bin).is_some(),
        "{} does not run after cargo install",
        bin.display()
    );
    Ok(bin)
}

/// `LABELSTORE_S3S_FS` and the binary's path (installed when missing), for
/// `cargo xtask serve`'s env file.
pub(crate) fn env_var(root: &Path) -> anyhow::Result<(&'static str, String)> {
    Ok(("LABELSTORE_S3S_FS", ensure(root)?.display().to_string()))
}
