//! nginx with WebDAV on loopback, the plain HTTP (PUT) target of the
//! `sink-objstore` tests. nginx runs as an ordinary foreground child
//! (`daemon off; master_process off;`) with its config, pid, temp folders,
//! logs and document root in a temp folder; [`Nginx`] kills it and removes
//! the folder when dropped, so a failing step still stops it.
//!
//! Debian: the `nginx` package (bookworm; `nginx-light` and `nginx-core`
//! are only meta packages over it) is built `--with-http_dav_module`
//! (checked in `nginx -V`); `libnginx-mod-http-dav-ext` adds PROPFIND, which
//! is loaded when present. Both are installed when missing and xtask runs as
//! root (with Debian's service start held off); otherwise xtask names them.
//!
//! The tests find it through `LABELSTORE_TEST_HTTP`:
//! `http://labelstore:<password>@127.0.0.1:PORT/dav/`, a WebDAV folder
//! (PUT DELETE MKCOL COPY MOVE, `create_full_put_path on`, JSON autoindex)
//! behind Basic authentication (the password is new every run). Beside it
//! on the same origin, without authentication:
//! - `/fail/`: every request answered 500;
//! - `/nodav/`: every request answered 404 (a plain server refusing MKCOL);
//! - `/_log`: the access log, one line per request:
//!   `METHOD REQUEST_URI STATUS "CONTENT_TYPE"`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use anyhow::{Context, bail, ensure};

use crate::util;

/// The Debian packages nginx comes from here.
const PACKAGES: &[&str] = &["nginx", "libnginx-mod-http-dav-ext"];

/// Debian's PROPFIND module for nginx.
const DAV_EXT: &str = "/usr/lib/nginx/modules/ngx_http_dav_ext_module.so";

/// The running nginx; stopped on drop.
#[derive(Debug)]
pub(crate) struct Nginx {
    child: Option<Child>,
    dir: PathBuf,
    url: String,
}

/// The nginx binary: on PATH, or Debian's `/usr/sbin/nginx` (not on a
/// normal user's PATH).
fn binary() -> Option<PathBuf> {
    let on_path = Command::new("sh")
        .args(["-c", "command -v nginx"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    on_path.or_else(|| Some(PathBuf::from("/usr/sbin/nginx")).filter(|p| p.exists()))
}

/// Whether `nginx -V` lists the WebDAV module.
fn has_dav(nginx: &Path) -> bool {
    Command::new(nginx)
        .arg("-V")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stderr).contains("--with-http_dav_module"))
}

/// Installs nginx with WebDAV when missing (as root), else says what to
/// install. Debian's postinst would start the packaged service on port 80:
/// a `policy-rc.d` answering 101 holds it off during the install.
fn ensure() -> anyhow::Result<PathBuf> {
    if let Some(nginx) = binary()
        && has_dav(&nginx)
        && Path::new(DAV_EXT).exists()
    {
        return Ok(nginx);
    }
    if !util::is_root() {
        if let Some(nginx) = binary()
            && has_dav(&nginx)
        {
            // PROPFIND is optional: the tests list through autoindex.
            return Ok(nginx);
        }
        bail!(
            "the tests need nginx with WebDAV: install {} (e.g. `sudo apt-get install {}`)",
            PACKAGES.join(", "),
            PACKAGES.join(" ")
        );
    }
    let policy = Path::new("/usr/sbin/policy-rc.d");
    let own_policy = !policy.exists();
    if own_policy {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::write(policy, "#!/bin/sh\nexit 101\n").context("writing policy-rc.d")?;
        std::fs::set_permissions(policy, std::fs::Permissions::from_mode(0o755))?;
    }
    let installed = util::apt_install(PACKAGES);
    if own_policy {
        let _ = std::fs::remove_file(policy);
    }
    installed?;
    let nginx = binary().context("nginx is missing after apt-get install")?;
    ensure!(
        has_dav(&nginx),
        "{} was built without --with-http_dav_module",
        nginx.display()
    );
    Ok(nginx)
}

fn config(dir: &Path, port: u16, dav_ext: bool) -> String {
    let d = dir.display();
    let (load, propfind) = if dav_ext {
        (
            format!("load_module {DAV_EXT};\n"),
            "      dav_ext_methods PROPFIND OPTIONS;\n",
        )
    } else {
        (String::new(), "")
    };
    format!(
        "{load}daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 512; }}
http {{
  log_format labelstore '$request_method $request_uri $status \"$content_type\"';
  access_log {d}/access.log labelstore;
  client_body_temp_path {d}/tmp/body;
  proxy_temp_path {d}/tmp/proxy;
  fastcgi_temp_path {d}/tmp/fastcgi;
  uwsgi_temp_path {d}/tmp/uwsgi;
  scgi_temp_path {d}/tmp/scgi;
  client_max_body_size 0;
  default_type application/octet-stream;
  server {{
    listen 127.0.0.1:{port};
    root {d}/root;
    location /dav/ {{
      auth_basic \"labelstore tests\";
      auth_basic_user_file {d}/htpasswd;
      dav_methods PUT DELETE MKCOL COPY MOVE;
{propfind}      create_full_put_path on;
      autoindex on;
      autoindex_format json;
    }}
    location /fail/ {{ return 500; }}
    location /nodav/ {{ return 404; }}
    location = /_log {{ alias {d}/access.log; default_type text/plain; }}
  }}
}}
"
    )
}

impl Nginx {
    /// Installs (when needed) and starts nginx on a free loopback port.
    pub(crate) fn start() -> anyhow::Result<Nginx> {
        let nginx = ensure()?;
        let dir = tempfile::Builder::new()
            .prefix("labelstore-nginx-")
            .tempdir()
            .context("creating nginx's folder")?
            .keep();
        let mut server = Nginx {
            child: None,
            dir,
            url: String::new(),
        };
        std::fs::create_dir_all(server.dir.join("tmp"))?;
        std::fs::create_dir_all(server.dir.join("root/dav"))?;
        let password = util::run_secret("dav");
        std::fs::write(
            server.dir.join("htpasswd"),
            format!("labelstore:{{PLAIN}}{password}\n"),
        )?;
        let port = util::free_port()?;
        let conf = server.dir.join("nginx.conf");
        std::fs::write(
            &conf,
            config(&server.dir, port, Path::new(DAV_EXT).exists()),
        )?;
        let log = std::fs::File::create(server.dir.join("stderr.log"))?;
        let mut child = Command::new(&nginx)
            .arg("-p")
            .arg(&server.dir)
            .arg("-e")
            .arg(server.dir.join("error.log"))
            .arg("-c")
            .arg(&conf)
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", nginx.display()))?;
        let started = util::wait_for_port(
            port,
            &mut child,
            "nginx",
            Some(&server.dir.join("error.log")),
        );
        server.child = Some(child);
        started?;
        server.url = format!("http://labelstore:{password}@127.0.0.1:{port}/dav/");
        println!("xtask: nginx (WebDAV) on 127.0.0.1:{port}");
        Ok(server)
    }

    /// `LABELSTORE_TEST_HTTP`: the WebDAV folder's URL, credentials in it.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Stops nginx and removes its folder.
    pub(crate) fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child
                .kill()
                .and_then(|()| child.wait().map(drop))
                .context("stopping nginx")?;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        Ok(())
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
