//! A throwaway PostgreSQL 15 + PostGIS cluster for the database tests:
//! `initdb` in a temporary folder, `pg_ctl start` on a free loopback port,
//! the `postgis` and `postgis_raster` extensions created, password
//! authentication (SCRAM) for the `postgres` role so that a wrong password
//! is refused as it would be on a real server. [`Cluster`] stops the server
//! and removes the folder when dropped, so a failing step still stops it.
//!
//! The server also speaks TLS (`ssl=on`) with a certificate for `localhost`
//! only (not 127.0.0.1), signed by a throwaway CA made with the `openssl`
//! command line; the tests find the CA at [`Cluster::ca`]
//! (`LABELSTORE_TEST_PG_CA`). Plain connections work too.
//!
//! As root, the server runs as the `postgres` user (initdb refuses root);
//! missing packages are installed with apt-get as root, and named otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail, ensure};

use crate::util;

/// Where Debian puts PostgreSQL 15's server programs.
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
/// The files that show PostGIS (with raster) is installed for PostgreSQL 15.
const POSTGIS_CONTROL: &[&str] = &[
    "/usr/share/postgresql/15/extension/postgis.control",
    "/usr/share/postgresql/15/extension/postgis_raster.control",
];
/// The Debian package providing both.
const PACKAGE: &str = "postgresql-15-postgis-3";
/// The Debian package of the `openssl` command line, which makes the
/// throwaway CA and server certificate.
const OPENSSL_PACKAGE: &str = "openssl";

/// A running throwaway cluster; stopped and removed on drop.
#[derive(Debug)]
pub(crate) struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    run_as: Option<&'static str>,
    url: String,
    ca: PathBuf,
    stopped: bool,
}

fn has_openssl() -> bool {
    Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn installed() -> bool {
    Path::new(PG_BIN).join("initdb").exists()
        && POSTGIS_CONTROL.iter().all(|p| Path::new(p).exists())
        && has_openssl()
}

/// Installs PostgreSQL 15 with PostGIS when missing (as root), or says what
/// to install.
fn ensure_installed() -> anyhow::Result<()> {
    if installed() {
        return Ok(());
    }
    if !util::is_root() {
        bail!(
            "the database tests need PostgreSQL 15 with PostGIS 3 and the openssl command: \
             install them (e.g. `sudo apt-get install {PACKAGE} {OPENSSL_PACKAGE}`), \
             or run as root to let xtask do it"
        );
    }
    util::apt_install(&[PACKAGE, OPENSSL_PACKAGE])?;
    ensure!(
        installed(),
        "{PACKAGE} and {OPENSSL_PACKAGE} installed but {PG_BIN}/initdb, PostGIS or openssl \
         is missing"
    );
    Ok(())
}

/// Runs `openssl` with `args` in `dir`.
fn openssl(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .context("running openssl")?;
    ensure!(
        out.status.success(),
        "openssl {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Makes a throwaway CA (`ca.crt`) and a server certificate for `localhost`
/// signed by it (`server.crt`, key `server.key`, mode 0600) in `dir`. The
/// certificate names `localhost` only, so that a test can show a host name
/// check failing for 127.0.0.1.
pub(crate) fn make_certificates(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    let mut ca = vec!["req", "-x509", "-nodes", "-days", "30"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-subj",
        "/CN=labelstore throwaway test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &ca)?;
    let mut csr = vec!["req", "-new", "-nodes"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(dir, &csr)?;
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .context("writing server.ext")?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ],
    )?;
    // PostgreSQL refuses a key others can read.
    std::fs::set_permissions(
        dir.join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .context("chmod 600 server.key")?;
    Ok(())
}

impl Cluster {
    /// Installs what is missing, then initialises and starts a cluster.
    pub(crate) fn start() -> anyhow::Result<Cluster> {
        ensure_installed()?;
        let run_as = util::is_root().then_some("postgres");
        let dir = tempfile::Builder::new()
            .prefix("labelstore-pg-")
            .tempdir()
            .context("creating the cluster's folder")?
            .keep();
        let port = util::free_port()?;
        let pw = util::run_secret("t");
        let mut cluster = Cluster {
            dir,
            bin: PathBuf::from(PG_BIN),
            run_as,
            url: format!("postgres://postgres:{pw}@127.0.0.1:{port}/postgres"),
            ca: PathBuf::new(),
            stopped: true,
        };
        // The server's certificate, owned by the server's user with the
        // rest of the folder (chown below).
        let tls = cluster.dir.join("tls");
        std::fs::create_dir(&tls).context("creating the certificates' folder")?;
        make_certificates(&tls)?;
        cluster.ca = tls.join("ca.crt");
        let pwfile = cluster.dir.join("pwfile");
        std::fs::write(&pwfile, format!("{pw}\n")).context("writing the password file")?;
        if let Some(user) = run_as {
            let status = Command::new("chown")
                .args(["-R", &format!("{user}:{user}")])
                .arg(&cluster.dir)
                .status()
                .context("running chown")?;
            ensure!(
                status.success(),
                "chown {user} {} failed",
                cluster.dir.display()
            );
        }
        let data = cluster.dir.join("data");
        let log = cluster.dir.join("server.log");
        cluster.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--auth=scram-sha-256".as_ref(),
                format!("--pwfile={}", pwfile.display()).as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--locale=C.UTF-8".as_ref(),
            ],
        )?;
        let _ = std::fs::remove_file(&pwfile);
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={} \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
             -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            cluster.dir.display(),
            tls.join("server.crt").display(),
            tls.join("server.key").display()
        );
        cluster.stopped = false;
        cluster.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "-o".as_ref(),
                opts.as_ref(),
                "start".as_ref(),
            ],
        )?;
        let status = Command::new(cluster.bin.join("psql"))
            .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
            .args(["-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1"])
            .args([
                "-c",
                "CREATE EXTENSION postgis; CREATE EXTENSION postgis_raster;",
            ])
            .env("PGPASSWORD", &pw)
            .status()
            .context("running psql")?;
        ensure!(status.success(), "creating the PostGIS extensions failed");
        println!("xtask: PostgreSQL 15 + PostGIS on 127.0.0.1:{port} (TLS for localhost)");
        Ok(cluster)
    }

    /// The connection URL (with the password: for the tests' environment only).
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The CA that signed the server's certificate (PEM).
    pub(crate) fn ca(&self) -> &Path {
        &self.ca
    }

    fn run(&self, program: &str, args: &[&std::ffi::OsStr]) -> anyhow::Result<()> {
        let exe = self.bin.join(program);
        let mut cmd = match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let out = cmd
            .args(args)
            .current_dir(&self.dir)
            .output()
            .with_context(|| format!("running {}", exe.display()))?;
        if !out.status.success() {
            let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            bail!(
                "{program} failed ({}):\n{}{}\n{log}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Stops the server and removes its folder.
    pub(crate) fn stop(&mut self) -> anyhow::Result<()> {
        if !self.stopped {
            self.stopped = true;
            let data = self.dir.join("data");
            self.run(
                "pg_ctl",
                &[
                    "-D".as_ref(),
                    data.as_os_str(),
                    "-m".as_ref(),
                    "fast".as_ref(),
                    "-w".as_ref(),
                    "stop".as_ref(),
                ],
            )?;
        }
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir)
                .with_context(|| format!("removing {}", self.dir.display()))?;
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("xtask: stopping the PostgreSQL cluster: {e:#}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[ignore = "installs and starts PostgreSQL; run with --ignored"]
    fn starts_answers_and_stops() {
        let mut c = Cluster::start().unwrap();
        let dir = c.dir.clone();
        let out = Command::new(c.bin.join("psql"))
            .arg(c.url())
            .args(["-Atc", "SELECT postgis_raster_lib_version() IS NOT NULL"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "t");
        // TLS, checked by psql against the throwaway CA and the name.
        let tls = |host: &str| {
            Command::new(c.bin.join("psql"))
                .arg(format!(
                    "{}?sslmode=verify-full&sslrootcert={}",
                    c.url().replace("@127.0.0.1:", &format!("@{host}:")),
                    c.ca().display()
                ))
                .args([
                    "-Atc",
                    "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                ])
                .output()
                .unwrap()
        };
        assert_eq!(
            String::from_utf8_lossy(&tls("localhost").stdout).trim(),
            "t"
        );
        assert!(!tls("127.0.0.1").status.success());
        c.stop().unwrap();
        assert!(!dir.exists());
    }
}
