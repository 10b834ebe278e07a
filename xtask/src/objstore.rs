//! Object-store servers for the `sink-objstore` tests, on loopback:
//! moto's S3 server (`moto_server`, PyPI `moto[server]`, installed into the
//! tests' venv when missing) and the OCI PAR emulator kept under
//! `crates/sink-objstore/tests/support/parmock.py`. [`Servers`] stops both
//! when dropped, so a failing step still stops them.
//!
//! The tests find them through:
//! - `LABELSTORE_TEST_S3`: the S3 endpoint (`http://127.0.0.1:PORT`; any
//!   access key is accepted; tests create their own buckets);
//! - `LABELSTORE_TEST_PAR`: a PAR URL for the whole bucket;
//! - `LABELSTORE_TEST_PAR_SCOPED`: a PAR URL limited to the prefix `scoped/`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use anyhow::{Context, ensure};

use crate::util;

/// The running servers; stopped on drop.
#[derive(Debug)]
pub(crate) struct Servers {
    children: Vec<(&'static str, Child)>,
    env: Vec<(&'static str, String)>,
    dir: PathBuf,
}

/// Installs moto's server into the venv of `python` when missing.
fn ensure_moto(python: &Path) -> anyhow::Result<PathBuf> {
    let bin = python.with_file_name("moto_server");
    let ready = bin.exists()
        && Command::new(python)
            .args(["-c", "import boto3, moto"])
            .output()
            .is_ok_and(|o| o.status.success());
    if ready {
        return Ok(bin);
    }
    util::pip_install(python, &["moto[server]", "boto3"])?;
    ensure!(bin.exists(), "{} missing after pip install", bin.display());
    Ok(bin)
}

impl Servers {
    /// Starts moto and the PAR emulator. `python` is the tests' venv
    /// interpreter; `root` the workspace.
    pub(crate) fn start(root: &Path, python: &Path) -> anyhow::Result<Servers> {
        let mut servers = Servers::start_s3(python)?;
        let par_port = servers.start_par(root, python)?;
        println!(
            "xtask: moto S3 at {}, PAR emulator on 127.0.0.1:{par_port}",
            servers.env[0].1
        );
        Ok(servers)
    }

    /// Starts moto alone (`LABELSTORE_TEST_S3`), with no objects.
    pub(crate) fn start_s3(python: &Path) -> anyhow::Result<Servers> {
        let moto = ensure_moto(python)?;
        let dir = tempfile::Builder::new()
            .prefix("labelstore-objstore-")
            .tempdir()
            .context("creating the servers' folder")?
            .keep();
        let mut servers = Servers {
            children: Vec::new(),
            env: Vec::new(),
            dir,
        };
        let s3_port = util::free_port()?;
        let s3_log = std::fs::File::create(servers.dir.join("moto.log"))?;
        let mut child = Command::new(&moto)
            .args(["-H", "127.0.0.1", "-p", &s3_port.to_string()])
            .env_remove("AWS_CA_BUNDLE")
            .stdout(s3_log.try_clone()?)
            .stderr(s3_log)
            .spawn()
            .with_context(|| format!("starting {}", moto.display()))?;
        let started = util::wait_for_port(s3_port, &mut child, "moto_server", None);
        servers.children.push(("moto_server", child));
        started?;
        servers
            .env
            .push(("LABELSTORE_TEST_S3", format!("http://127.0.0.1:{s3_port}")));
        Ok(servers)
    }

    /// Starts the PAR emulator beside moto; gives its port.
    fn start_par(&mut self, root: &Path, python: &Path) -> anyhow::Result<u16> {
        let par_port = util::free_port()?;
        let (whole, scoped) = (util::run_secret("w"), util::run_secret("s"));
        let par_log = std::fs::File::create(self.dir.join("parmock.log"))?;
        let mut child = Command::new(python)
            .arg(root.join("crates/sink-objstore/tests/support/parmock.py"))
            .arg(par_port.to_string())
            .arg(self.dir.join("par"))
            .arg(format!("{whole}="))
            .arg(format!("{scoped}=scoped/"))
            .stdout(par_log.try_clone()?)
            .stderr(par_log)
            .spawn()
            .context("starting the PAR emulator")?;
        let started = util::wait_for_port(par_port, &mut child, "the PAR emulator", None);
        self.children.push(("parmock", child));
        started?;
        let par = |t: &str| format!("http://127.0.0.1:{par_port}/p/{t}/n/labelstore/b/test/o/");
        self.env.push(("LABELSTORE_TEST_PAR", par(&whole)));
        self.env.push(("LABELSTORE_TEST_PAR_SCOPED", par(&scoped)));
        Ok(par_port)
    }

    /// The variables the tests read.
    pub(crate) fn env(&self) -> &[(&'static str, String)] {
        &self.env
    }

    /// Stops the servers and removes their folder.
    pub(crate) fn stop(&mut self) -> anyhow::Result<()> {
        for (name, mut child) in self.children.drain(..) {
            child
                .kill()
                .and_then(|()| child.wait().map(drop))
                .with_context(|| format!("stopping {name}"))?;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        Ok(())
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
