//! `cargo xtask test`: everything CI checks, in order, stopping at the
//! first failure: the format check, clippy with warnings denied, every
//! crate's tests (doctests included), then the conformance suite.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, ensure};

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

/// Runs the whole test suite.
pub(crate) fn run(root: &Path) -> anyhow::Result<()> {
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
