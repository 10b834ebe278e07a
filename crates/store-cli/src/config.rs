//! Named destinations (Spatial Studio's "Connections"): a config file
//! naming stores with their settings, used as `--dest NAME` by `store`,
//! `fetch` and `verify`, and listed by `labelstore dest list`.
//!
//! ```toml
//! [dest.harbour-s3]
//! to = "objstore"
//! url = "s3://labels/harbour"
//! region = "eu-frankfurt-1"
//!
//! [dest.gis]
//! to = "db"
//! connection = "service=gis"
//! table = "public.harbour_chips"
//! ```
//!
//! A destination's settings become the options they name, unless the
//! command line gives that option itself (the command line wins): the
//! arguments are completed before clap reads them, so every check of
//! explicit options (one kind of store, required options) applies alike.
//! Secrets may stay where their tools keep them (pgpass, the AWS files, the
//! environment); a PAR URL or a password in the file is masked wherever a
//! destination is shown.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use labelstore::StoreError;
use serde::{Deserialize, Serialize};

/// The config file: destinations by name.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    dest: BTreeMap<String, Dest>,
}

/// One named destination: the options it stands for.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Dest {
    /// `local`, `objstore` or `db`: `--to` of `store`, `--from` of `fetch`
    /// and `verify`.
    to: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    par_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    connection: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    table: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password_file: Option<String>,
    /// The project in a table holding several (`fetch`, `verify`).
    #[serde(skip_serializing_if = "Option::is_none")]
    project: Option<String>,
    /// Uploads in flight at once (`store --to objstore`).
    #[serde(skip_serializing_if = "Option::is_none")]
    concurrency: Option<u16>,
}

const KINDS: [&str; 3] = ["local", "objstore", "db"];

impl Dest {
    /// The options this destination stands for, in command-line order
    /// (`to` first): each setting as `(flag, value)`.
    fn options(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        let mut add = |flag, value: &Option<String>| {
            if let Some(value) = value {
                v.push((flag, value.clone()));
            }
        };
        add("--path", &self.path);
        add("--url", &self.url);
        add("--endpoint", &self.endpoint);
        add("--region", &self.region);
        add("--par-url", &self.par_url);
        add("--prefix", &self.prefix);
        add("--connection", &self.connection);
        add("--table", &self.table);
        add("--password-file", &self.password_file);
        add("--project", &self.project);
        add("--concurrency", &self.concurrency.map(|n| n.to_string()));
        v
    }

    /// This destination as shown to people: secrets masked.
    fn masked(&self) -> Dest {
        let mut d = self.clone();
        d.url = d.url.as_deref().map(mask_userinfo);
        d.connection = d.connection.as_deref().map(mask_connection);
        d.par_url = d.par_url.as_deref().map(mask_par);
        d
    }
}

/// Where the config file is: `--config FILE`, else
/// `$XDG_CONFIG_HOME/labelstore/config.toml` (`~/.config/...` without it).
pub fn config_path(given: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = given {
        return Some(p.to_owned());
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("labelstore").join("config.toml"))
}

/// Reads the config file at `path`; `None` when it does not exist and was
/// not asked for by name (`explicit`).
pub fn load(path: &Path, explicit: bool) -> Result<Option<Config>, StoreError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => return Ok(None),
        Err(e) => {
            return Err(StoreError::Usage(format!(
                "cannot read the config file {}: {e}",
                path.display()
            )));
        }
    };
    let config: Config = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| format!(" (line {})", line_of(&text, s.start)))
            .unwrap_or_default();
        StoreError::Usage(format!(
            "{}: {}{line}",
            path.display(),
            e.message().trim_end_matches('.')
        ))
    })?;
    for (name, d) in &config.dest {
        if !KINDS.contains(&d.to.as_str()) {
            return Err(StoreError::Usage(format!(
                "{}: dest.{name}.to is {:?}; one of local, objstore, db",
                path.display(),
                d.to
            )));
        }
    }
    Ok(Some(config))
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Completes `args` (the whole command line) from the destination named
/// by `--dest NAME` of `store`, `fetch` or `verify`: its settings are
/// added as options unless the command line gives them. Other commands,
/// and command lines without `--dest`, are returned as they are.
pub fn complete_args(args: Vec<OsString>) -> Result<Vec<OsString>, StoreError> {
    let text: Vec<Option<&str>> = args.iter().map(|a| a.to_str()).collect();
    // The subcommand: the first word that is neither an option nor the
    // value of `--config`, the one global option with a value.
    let mut command = None;
    let mut words = text.iter().skip(1);
    while let Some(word) = words.next() {
        match word {
            Some("--config") => {
                words.next();
            }
            Some(w) if !w.starts_with('-') => {
                command = Some(*w);
                break;
            }
            _ => {}
        }
    }
    let kind_flag = match command {
        Some("store") => "--to",
        Some("fetch") | Some("verify") => "--from",
        _ => return Ok(args),
    };
    let Some(name) = value_of(&text, "--dest") else {
        return Ok(args);
    };
    let given_config = value_of(&text, "--config").map(PathBuf::from);
    let path = config_path(given_config.as_deref()).ok_or_else(|| {
        StoreError::Usage("--dest needs a config file: give --config FILE (no HOME)".into())
    })?;
    let config = load(&path, given_config.is_some())?.ok_or_else(|| {
        StoreError::Usage(format!(
            "--dest {name}: no config file at {} (or give --config FILE)",
            path.display()
        ))
    })?;
    let dest = config.dest.get(name).ok_or_else(|| {
        let names: Vec<&str> = config.dest.keys().map(String::as_str).collect();
        StoreError::Usage(format!(
            "--dest {name}: {} names no such destination; it names: {}",
            path.display(),
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        ))
    })?;
    let mut out = args.clone();
    match value_of(&text, kind_flag) {
        Some(kind) if kind != dest.to => {
            return Err(StoreError::Usage(format!(
                "{kind_flag} {kind} contradicts --dest {name}, which is {}",
                dest.to
            )));
        }
        Some(_) => {}
        None => out.extend([kind_flag.into(), dest.to.clone().into()]),
    }
    for (flag, value) in dest.options() {
        let applies = match flag {
            "--project" => kind_flag == "--from",
            "--concurrency" => kind_flag == "--to",
            _ => true,
        };
        if applies && value_of(&text, flag).is_none() && !text.contains(&Some(flag)) {
            out.extend([flag.into(), value.into()]);
        }
    }
    Ok(out)
}

/// The value of `flag` on the command line (`--flag V` or `--flag=V`).
fn value_of<'a>(text: &[Option<&'a str>], flag: &str) -> Option<&'a str> {
    let mut it = text.iter();
    while let Some(a) = it.next() {
        match a {
            Some(a) if *a == flag => return it.next().copied().flatten(),
            Some(a) => {
                if let Some(v) = a.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
                    return Some(v);
                }
            }
            None => {}
        }
    }
    None
}

/// `labelstore dest list`: every destination with its settings, secrets
/// masked; text or JSON.
pub fn list(config: Option<&Path>, json: bool) -> Result<String, StoreError> {
    let path = config_path(config)
        .ok_or_else(|| StoreError::Usage("no config file: give --config FILE (no HOME)".into()))?;
    let Some(loaded) = load(&path, config.is_some())? else {
        return Ok(if json {
            "{}\n".to_owned()
        } else {
            format!("no destinations (no config file at {})\n", path.display())
        });
    };
    let masked: BTreeMap<&str, Dest> = loaded
        .dest
        .iter()
        .map(|(n, d)| (n.as_str(), d.masked()))
        .collect();
    if json {
        return Ok(serde_json::to_string_pretty(&masked).unwrap_or_default() + "\n");
    }
    let mut s = format!("destinations in {}:\n", path.display());
    for (name, d) in &masked {
        let settings: Vec<String> = d
            .options()
            .into_iter()
            .map(|(flag, v)| format!("{flag} {v}"))
            .collect();
        s += &format!("  {name}: {} {}\n", d.to, settings.join(" "));
    }
    Ok(s)
}

/// A URL with its password (`user:password@`) masked.
fn mask_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let user = authority[..at].split(':').next().unwrap_or("");
            format!(
                "{}{user}:***@{}{}",
                &url[..scheme_end + 3],
                &authority[at + 1..],
                &rest[authority_end..]
            )
        }
        None => url.to_owned(),
    }
}

/// A PostgreSQL connection (URL or `key=value` string) with its password
/// masked.
fn mask_connection(c: &str) -> String {
    if c.contains("://") {
        let masked = mask_userinfo(c);
        return mask_query_password(&masked);
    }
    c.split_whitespace()
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => kv.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn mask_query_password(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => kv.to_owned(),
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

fn mask_par(url: &str) -> String {
    #[cfg(feature = "objstore")]
    {
        labelstore::objstore::mask_par_url(url)
    }
    #[cfg(not(feature = "objstore"))]
    {
        let _ = url;
        "(a PAR URL)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<OsString> {
        s.split(' ').map(OsString::from).collect()
    }

    #[test]
    fn secrets_are_masked() {
        assert_eq!(
            mask_userinfo("https://me:hunter2@dav.example/labels/"),
            "https://me:***@dav.example/labels/"
        );
        assert_eq!(mask_userinfo("s3://bucket/x"), "s3://bucket/x");
        assert_eq!(
            mask_connection("host=db user=me password=hunter2 dbname=gis"),
            "host=db user=me password=*** dbname=gis"
        );
        assert_eq!(
            mask_connection("postgres://me:hunter2@db/gis?sslmode=require&password=x"),
            "postgres://me:***@db/gis?sslmode=require&password=***"
        );
    }

    #[test]
    fn the_command_line_wins_and_kinds_must_agree() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("c.toml");
        std::fs::write(
            &config,
            "[dest.nas]\nto = \"local\"\npath = \"/mnt/nas/h\"\n\n[dest.gis]\nto = \"db\"\nconnection = \"service=gis\"\ntable = \"t\"\nproject = \"p\"\n",
        )
        .unwrap();
        let c = config.display();
        let got = complete_args(args(&format!(
            "labelstore store x --config {c} --dest nas --format json"
        )))
        .unwrap();
        assert_eq!(
            got,
            args(&format!(
                "labelstore store x --config {c} --dest nas --format json --to local --path /mnt/nas/h"
            ))
        );
        let got = complete_args(args(&format!(
            "labelstore verify --dest=gis --config={c} --table other"
        )))
        .unwrap();
        assert_eq!(
            got,
            args(&format!(
                "labelstore verify --dest=gis --config={c} --table other --from db --connection service=gis --project p"
            ))
        );
        let e = complete_args(args(&format!(
            "labelstore store x --config {c} --dest gis --to local --format json"
        )))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "--to local contradicts --dest gis, which is db"
        );
        let e = complete_args(args(&format!(
            "labelstore store x --config {c} --dest nope --format json"
        )))
        .unwrap_err();
        assert!(
            e.to_string()
                .ends_with("names no such destination; it names: gis, nas"),
            "{e}"
        );
        let got = complete_args(args(&format!(
            "labelstore --config {c} fetch --dest gis --output o"
        )))
        .unwrap();
        assert_eq!(
            got,
            args(&format!(
                "labelstore --config {c} fetch --dest gis --output o --from db --connection service=gis --table t --project p"
            ))
        );
        // Other commands are left alone.
        let plain = args("labelstore import --dest x y --output z");
        assert_eq!(complete_args(plain.clone()).unwrap(), plain);
    }
}
