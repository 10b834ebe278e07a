//! The Python wheel (crates/labelstore-py), as a user gets it: maturin
//! (from PyPI, in its own venv under `target/maturin`) builds it into
//! `target/wheels`, pip installs it with pytest and numpy into a venv made
//! afresh (`target/wheel-test`), and its pytest suite runs there against
//! the installed module and `labelstore` command.
//!
//! The wheel is built with the dev profile, which shares `target/` with
//! every other build (the dependencies are optimized there anyway, see the
//! workspace's `[profile.dev.package."*"]`); a release wheel is
//! `maturin build --release`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, ensure};

use crate::util::{make_venv, pip_install};

/// The maturin that builds the wheel.
const MATURIN: &str = "maturin==1.16.0";
/// What the suite runs with besides the wheel: numpy for the arrays
/// (any numpy the interpreter has wheels for).
const TEST_REQUIREMENTS: &[&str] = &["pytest==9.2.0", "numpy>=1.22,<3"];

/// Builds, installs and tests the wheel.
pub(crate) fn test(root: &Path) -> anyhow::Result<()> {
    println!("xtask: the Python wheel");
    let wheel = build(root)?;
    let venv = root.join("target/wheel-test");
    if venv.exists() {
        std::fs::remove_dir_all(&venv).with_context(|| format!("removing {}", venv.display()))?;
    }
    let python = make_venv(&venv)?;
    let wheel_arg = wheel.display().to_string();
    let mut requirements = vec![wheel_arg.as_str()];
    requirements.extend(TEST_REQUIREMENTS);
    pip_install(&python, &requirements)?;
    let status = Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(root.join("crates/labelstore-py/tests"))
        .env("LABELSTORE_ROOT", root)
        // Out of the source tree, so `import labelstore` can only be the
        // installed wheel.
        .current_dir(&venv)
        .status()
        .context("running pytest")?;
    ensure!(status.success(), "the Python wheel's tests failed");
    Ok(())
}

/// `maturin build` into `target/wheels`; the wheel's path.
fn build(root: &Path) -> anyhow::Result<PathBuf> {
    let venv = root.join("target/maturin");
    let maturin = venv.join("bin/maturin");
    let version = MATURIN.trim_start_matches("maturin==");
    let ready = Command::new(&maturin)
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == format!("maturin {version}"));
    if !ready {
        let python = make_venv(&venv)?;
        pip_install(&python, &[MATURIN])?;
    }
    let out = root.join("target/wheels");
    // Only the wheel built now is there to install.
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("removing {}", out.display()))?;
    }
    println!("xtask: maturin build -m crates/labelstore-py/Cargo.toml -o target/wheels");
    let status = Command::new(&maturin)
        .args(["build", "--quiet", "-m"])
        .arg(root.join("crates/labelstore-py/Cargo.toml"))
        .arg("-o")
        .arg(&out)
        .current_dir(root)
        .status()
        .context("running maturin")?;
    ensure!(status.success(), "maturin build failed");
    let wheels: Vec<PathBuf> = std::fs::read_dir(&out)
        .with_context(|| format!("reading {}", out.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "whl"))
        .collect();
    match wheels.as_slice() {
        [wheel] => Ok(wheel.clone()),
        _ => anyhow::bail!(
            "maturin left {} wheels in {}, not one",
            wheels.len(),
            out.display()
        ),
    }
}
