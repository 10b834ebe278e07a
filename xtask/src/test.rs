//! `cargo xtask test`: everything CI checks, in order, stopping at the
//! first failure: tidy, the outside judges' tools, the format check, clippy with
//! warnings denied, the Python wheel (built, installed in a fresh venv, its
//! pytest suite), every crate's tests (doctests included), then the
//! conformance suite.

use std::path::Path;

use anyhow::{Context, bail};

use crate::util::{cargo, ensure_python, ensure_tools, unsafe_free_set_env};

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
    crate::tidy::run(root)?;
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
    // The builds without the destinations' features (a library user who
    // needs only formats; a binary without db or objstore) stay clean.
    for (krate, features) in [
        ("labelstore", ""),
        ("store-cli", ""),
        ("store-cli", "db"),
        ("store-cli", "objstore"),
    ] {
        cargo(
            root,
            &[
                "clippy",
                "-p",
                krate,
                "--no-default-features",
                "--features",
                features,
                "--",
                "-D",
                "warnings",
            ],
        )?;
    }
    // The Python wheel, built, installed into a fresh venv and tested there.
    crate::wheel::test(root)?;
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
