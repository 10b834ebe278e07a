//! libpq's conventions for finding a connection and its password, so that a
//! database is reached the way `psql` and QGIS reach it.
//!
//! - `service=NAME` in the connection string (a key=value string, or the
//!   query of a `postgres://` URL), else `PGSERVICE`, names a section of the
//!   connection service file: `servicefile=FILE`, else `PGSERVICEFILE`, else
//!   `~/.pg_service.conf`; a service not found there is looked up in
//!   `pg_service.conf` of `PGSYSCONFDIR` (default `/etc/postgresql-common`,
//!   Debian's libpq). The section's keys are connection parameters.
//! - The password file: `passfile=FILE` (connection string or service), else
//!   `PGPASSFILE`, else `~/.pgpass`; lines `host:port:database:user:password`,
//!   `*` matching anything, `\:` and `\\` escapes, `#` comments, the first
//!   matching line wins. As in libpq it is read only when no other password
//!   was given, and ignored when group or world can read it.
//!
//! Precedence is libpq's (`conninfo_add_defaults`): what the connection
//! string says, then the service, then the `PG*` environment, then the
//! defaults. Nothing here prints: what the caller should know (an ignored
//! password file) comes back as notes for its error messages.

use std::path::{Path, PathBuf};

use sink_api::{Error, Result};

/// The parameters of a connection string that tokio-postgres does not know
/// and this module handles.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Params {
    pub(crate) service: Option<String>,
    pub(crate) servicefile: Option<String>,
    pub(crate) passfile: Option<String>,
}

impl Params {
    /// Takes `key` when it is one of this module's; true if taken.
    pub(crate) fn take(&mut self, key: &str, value: &str) -> bool {
        let slot = match key {
            "service" => &mut self.service,
            "servicefile" => &mut self.servicefile,
            "passfile" => &mut self.passfile,
            _ => return false,
        };
        *slot = Some(value.to_owned());
        true
    }
}

/// How the environment is read (the process's in use, a map in tests).
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, empty values as absent (as libpq's callers
/// usually mean them).
pub(crate) fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

fn home(env: Env<'_>) -> Option<PathBuf> {
    env("HOME").map(PathBuf::from)
}

/// One `key=value` line of a service section: key, value, line number.
pub(crate) type ServiceLine = (String, String, usize);

/// The service `name`: the file it was found in and its lines. Not found
/// anywhere is refused, naming where it was looked for.
pub(crate) fn find_service(
    name: &str,
    servicefile: Option<&str>,
    env: Env<'_>,
) -> Result<(PathBuf, Vec<ServiceLine>)> {
    let user_file = servicefile
        .map(PathBuf::from)
        .or_else(|| env("PGSERVICEFILE").map(PathBuf::from))
        .or_else(|| home(env).map(|h| h.join(".pg_service.conf")));
    let sys_file =
        Path::new(&env("PGSYSCONFDIR").unwrap_or_else(|| "/etc/postgresql-common".to_owned()))
            .join("pg_service.conf");
    let mut looked = Vec::new();
    for file in user_file.into_iter().chain([sys_file]) {
        looked.push(file.display().to_string());
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(Error::Refused(format!(
                    "cannot read the service file {}: {e}",
                    file.display()
                )));
            }
        };
        match parse_service(&text, name) {
            Ok(Some(lines)) => return Ok((file, lines)),
            Ok(None) => {}
            Err(line) => {
                return Err(Error::Refused(format!(
                    "syntax error in the service file {}, line {line}: \
                     expected [name] or key=value",
                    file.display()
                )));
            }
        }
    }
    Err(Error::Refused(format!(
        "definition of service {name:?} not found (looked in {})",
        looked.join(", ")
    )))
}

/// The lines of section `[name]` in a service file, or `None` when it has
/// none; `Err(line)` for a line that is neither. Whitespace around lines is
/// ignored, as are blank lines and `#` comments.
fn parse_service(text: &str, name: &str) -> std::result::Result<Option<Vec<ServiceLine>>, usize> {
    let mut found: Option<Vec<ServiceLine>> = None;
    let mut inside = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[') {
            let section = section.strip_suffix(']').ok_or(i + 1)?;
            if found.is_some() && inside {
                // libpq stops at the end of the service's section.
                break;
            }
            inside = section == name;
            if inside {
                found = Some(Vec::new());
            }
            continue;
        }
        let (key, value) = line.split_once('=').ok_or(i + 1)?;
        if inside && let Some(lines) = &mut found {
            lines.push((key.trim().to_owned(), value.trim().to_owned(), i + 1));
        }
    }
    Ok(found)
}

/// The password file to read: `passfile` (connection string or service),
/// else `PGPASSFILE`, else `~/.pgpass`.
pub(crate) fn passfile_path(passfile: Option<&str>, env: Env<'_>) -> Option<PathBuf> {
    passfile
        .map(PathBuf::from)
        .or_else(|| env("PGPASSFILE").map(PathBuf::from))
        .or_else(|| home(env).map(|h| h.join(".pgpass")))
}

/// What a password file gave: a password, or why it gave none (for the
/// message when the server asks for a password).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    Found(String),
    /// No such file, or no matching line: a note saying where it looked.
    Missing(String),
    /// The file was ignored: a note saying why.
    Ignored(String),
}

/// The password for `host:port:database:user` in `file`, as libpq's
/// `PasswordFromFile` finds it.
pub(crate) fn lookup_password(
    file: &Path,
    host: &str,
    port: u16,
    database: &str,
    user: &str,
) -> Lookup {
    let meta = match std::fs::metadata(file) {
        Ok(m) => m,
        Err(_) => return Lookup::Missing(format!("no password file {}", file.display())),
    };
    if !meta.is_file() {
        return Lookup::Ignored(format!(
            "password file {} is not a plain file",
            file.display()
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            return Lookup::Ignored(format!(
                "password file {} has group or world access and was ignored; \
                 permissions should be u=rw (0600) or less",
                file.display()
            ));
        }
    }
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            return Lookup::Ignored(format!("cannot read password file {}: {e}", file.display()));
        }
    };
    match match_pgpass(&text, host, &port.to_string(), database, user) {
        Some(pw) => Lookup::Found(pw),
        None => Lookup::Missing(format!(
            "no line for {host}:{port}:{database}:{user} in password file {}",
            file.display()
        )),
    }
}

/// The password of the first line of a `.pgpass` text that matches.
fn match_pgpass(text: &str, host: &str, port: &str, database: &str, user: &str) -> Option<String> {
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .find_map(|line| {
            let fields = split_pgpass(line)?;
            let wanted = [host, port, database, user];
            fields[..4]
                .iter()
                .zip(wanted)
                .all(|((raw, value), want)| raw == "*" || value == want)
                .then(|| fields[4].1.clone())
        })
}

/// The five fields of a `.pgpass` line, each as written and unescaped; the
/// password is the rest of the line. `None` for a line of fewer fields.
fn split_pgpass(line: &str) -> Option<Vec<(String, String)>> {
    let mut fields = Vec::with_capacity(5);
    let (mut raw, mut value) = (String::new(), String::new());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == ':' && fields.len() < 4 {
            fields.push((std::mem::take(&mut raw), std::mem::take(&mut value)));
            continue;
        }
        raw.push(c);
        if c == '\\' {
            if let Some(next) = chars.next() {
                raw.push(next);
                value.push(next);
            }
        } else {
            value.push(c);
        }
    }
    fields.push((raw, value));
    (fields.len() == 5).then_some(fields)
}

/// The host a password file is matched against: a Unix socket in the
/// default places counts as `localhost`, as in libpq.
pub(crate) fn pgpass_host(host: &str) -> &str {
    match host {
        "" | "/var/run/postgresql" | "/run/postgresql" | "/tmp" => "localhost",
        h => h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgpass_lines_match_as_libpq_matches_them() {
        let text = "# comment\n\
                    db.example:5432:gis:labels:first\n\
                    *:*:gis:labels:second\n\
                    localhost:5433:*:*:pa\\:ss\\\\word:with colon\n\
                    h\\:x:*:*:*:escaped-host\n\
                    short:line\n\
                    *:*:*:*:fallback\r\n";
        let m = |h, p, d, u| match_pgpass(text, h, p, d, u);
        assert_eq!(
            m("db.example", "5432", "gis", "labels").as_deref(),
            Some("first")
        );
        assert_eq!(
            m("other", "5432", "gis", "labels").as_deref(),
            Some("second")
        );
        assert_eq!(
            m("localhost", "5433", "x", "y").as_deref(),
            Some("pa:ss\\word:with colon")
        );
        assert_eq!(m("h:x", "1", "d", "u").as_deref(), Some("escaped-host"));
        assert_eq!(m("none", "1", "d", "u").as_deref(), Some("fallback"));
        assert_eq!(match_pgpass("a:1:d:u:pw\n", "a", "2", "d", "u"), None);
        // A literal `\*` is not a wildcard.
        assert_eq!(match_pgpass("\\*:1:d:u:pw\n", "a", "1", "d", "u"), None);
        assert_eq!(pgpass_host("/var/run/postgresql"), "localhost");
        assert_eq!(pgpass_host("/srv/sock"), "/srv/sock");
    }

    #[test]
    fn service_sections_are_found() {
        let text = "# services\n\
                    [other]\nhost=elsewhere\n\n\
                    [gis]\n  host = db.example \nport=5433\ndbname=gis\n\
                    [after]\nhost=no\n";
        let lines = parse_service(text, "gis").unwrap().unwrap();
        let kv: Vec<(&str, &str)> = lines
            .iter()
            .map(|(k, v, _)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            kv,
            [("host", "db.example"), ("port", "5433"), ("dbname", "gis")]
        );
        assert_eq!(lines[0].2, 6);
        assert_eq!(parse_service(text, "missing").unwrap(), None);
        assert_eq!(parse_service("[a]\nnot a pair\n", "a"), Err(2));
        assert_eq!(parse_service("[a\n", "a"), Err(1));
    }

    #[test]
    fn services_and_password_files_are_looked_up_where_libpq_looks() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap().to_owned();
        std::fs::write(dir.path().join("pg_service.conf"), "[sys]\nhost=s\n").unwrap();
        std::fs::write(dir.path().join(".pg_service.conf"), "[home]\nhost=h\n").unwrap();
        let env = |k: &str| match k {
            "HOME" | "PGSYSCONFDIR" => Some(d.clone()),
            _ => None,
        };
        let (file, lines) = find_service("home", None, &env).unwrap();
        assert_eq!(file, dir.path().join(".pg_service.conf"));
        assert_eq!(lines[0].1, "h");
        let (file, _) = find_service("sys", None, &env).unwrap();
        assert_eq!(file, dir.path().join("pg_service.conf"));
        let e = find_service("nope", None, &env).unwrap_err();
        assert!(e.is_usage());
        assert!(e.to_string().contains("\"nope\" not found"), "{e}");
        assert!(e.to_string().contains(".pg_service.conf"), "{e}");

        assert_eq!(passfile_path(None, &env), Some(dir.path().join(".pgpass")));
        let pass = dir.path().join("pass");
        std::fs::write(&pass, "*:*:*:u:s3cret\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o644)).unwrap();
            let Lookup::Ignored(why) = lookup_password(&pass, "h", 5432, "d", "u") else {
                panic!("a world-readable password file is ignored");
            };
            assert!(why.contains("0600") && !why.contains("s3cret"), "{why}");
            std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert_eq!(
            lookup_password(&pass, "h", 5432, "d", "u"),
            Lookup::Found("s3cret".into())
        );
        assert!(matches!(
            lookup_password(&pass, "h", 5432, "d", "other"),
            Lookup::Missing(_)
        ));
    }
}
