//! The AWS CLI's shared files, for `s3://` stores: credentials, region and
//! endpoint of a profile when the environment gives no keys.
//!
//! The profile is `AWS_PROFILE`, else `AWS_DEFAULT_PROFILE`, else `default`.
//! Keys (`aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`)
//! come from its section of the credentials file
//! (`AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`, sections
//! `[NAME]`), else of the config file (`AWS_CONFIG_FILE`, else
//! `~/.aws/config`, sections `[default]` and `[profile NAME]`); `region` and
//! `endpoint_url` from the config file (then the credentials file; the
//! `s3` endpoint of a `[services NAME]` section the profile names first),
//! as the AWS CLI reads them. Environment variables win over the files, as in the
//! CLI, and the caller's flags over both.
//!
//! With no keys anywhere, [`resolve`] says so, naming where it looked,
//! rather than letting the client ask the instance-metadata address (which,
//! off EC2, takes long to fail); `AWS_EC2_METADATA_DISABLED=false`, or the
//! variables of web-identity and container credentials, leave the choice to
//! `object_store`'s own chain. The hand parser reads the files' INI dialect:
//! `[section]` lines, `key = value` lines, `#` and `;` comments, and the
//! indented sub-settings of a key with no value (kept as `key.sub`).

use std::collections::HashMap;
use std::path::PathBuf;

/// How the environment is read (the process's in use, a map in tests).
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, empty values as absent.
pub(crate) fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

/// What the files give for a profile.
#[derive(Default, PartialEq, Eq)]
pub(crate) struct Profile {
    pub(crate) access_key_id: Option<String>,
    pub(crate) secret_access_key: Option<String>,
    pub(crate) session_token: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) endpoint_url: Option<String>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("Profile")
            .field("access_key_id", &self.access_key_id)
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .finish_non_exhaustive()
    }
}

/// What [`resolve`] decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// The environment has keys, or another credential source is asked
    /// for: `object_store` goes its own way; the profile still gives what
    /// the environment does not (region, endpoint), when one was found.
    Environment(Option<Profile>),
    /// Keys from the profile's files.
    Files(Profile),
}

/// The section of `profile` in the credentials file (`[NAME]`) or the
/// config file (`[profile NAME]`, or `[default]`).
fn section<'a>(
    sections: &'a HashMap<String, HashMap<String, String>>,
    profile: &str,
    config: bool,
) -> Option<&'a HashMap<String, String>> {
    if !config {
        return sections.get(profile);
    }
    sections
        .iter()
        .find(|(name, _)| {
            let words: Vec<&str> = name.split_whitespace().collect();
            match words.as_slice() {
                ["profile", p] => *p == profile,
                [p] => profile == "default" && *p == "default",
                _ => false,
            }
        })
        .map(|(_, s)| s)
}

/// Reads the profile from the AWS CLI's files; `Err` is the message for a
/// request that has no credentials anywhere, or names a profile that is
/// nowhere (paths and names only, never a key).
pub(crate) fn resolve(env: Env<'_>, keys_given: bool) -> Result<Resolved, String> {
    let home = env("HOME").map(PathBuf::from);
    let file = |var: &str, name: &str| {
        env(var)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(name)))
    };
    let (creds_file, config_file) = (
        file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
        file("AWS_CONFIG_FILE", "config"),
    );
    let named = env("AWS_PROFILE").or_else(|| env("AWS_DEFAULT_PROFILE"));
    let profile = named.clone().unwrap_or_else(|| "default".to_owned());
    let read = |path: &Option<PathBuf>| {
        path.as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map(|t| parse_ini(&t))
            .unwrap_or_default()
    };
    let (creds, config) = (read(&creds_file), read(&config_file));
    let from_creds = section(&creds, &profile, false);
    let from_config = section(&config, &profile, true);
    let found = from_creds.is_some() || from_config.is_some();
    let get = |key: &str, config_first: bool| {
        let (a, b) = if config_first {
            (from_config, from_creds)
        } else {
            (from_creds, from_config)
        };
        a.and_then(|s| s.get(key))
            .or_else(|| b.and_then(|s| s.get(key)))
            .filter(|v| !v.is_empty())
            .cloned()
    };
    let p = Profile {
        access_key_id: get("aws_access_key_id", false),
        secret_access_key: get("aws_secret_access_key", false),
        session_token: get("aws_session_token", false),
        region: get("region", true),
        // `services = NAME` in the profile points at `[services NAME]`,
        // whose `s3 = ` sub-settings win over the profile's own endpoint;
        // AWS_IGNORE_CONFIGURED_ENDPOINT_URLS turns both off.
        endpoint_url: get("services", true)
            .and_then(|name| config.get(&format!("services {name}")))
            .and_then(|s| s.get("s3.endpoint_url").cloned())
            .or_else(|| get("endpoint_url", true))
            .filter(|_| {
                !env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
                    .is_some_and(|v| v.eq_ignore_ascii_case("true"))
            }),
    };
    let shown = |path: &Option<PathBuf>| {
        path.as_ref()
            .map_or_else(|| "(no HOME)".to_owned(), |p| p.display().to_string())
    };
    let looked = || {
        format!(
            "{} [{profile}], {} [{}]",
            shown(&creds_file),
            shown(&config_file),
            if profile == "default" {
                "default".to_owned()
            } else {
                format!("profile {profile}")
            }
        )
    };
    if named.is_some() && !found {
        return Err(format!(
            "AWS profile {profile:?} not found (looked in {})",
            looked()
        ));
    }
    let other_source = keys_given
        || env("AWS_WEB_IDENTITY_TOKEN_FILE").is_some()
        || env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").is_some()
        || env("AWS_CONTAINER_CREDENTIALS_FULL_URI").is_some()
        || env("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("false"));
    if other_source {
        return Ok(Resolved::Environment(found.then_some(p)));
    }
    if p.access_key_id.is_none() || p.secret_access_key.is_none() {
        // Credentials the CLI would get by running something or asking a
        // service: not labelstore's to do, but worth naming.
        const ELSEWHERE: &[&str] = &[
            "credential_process",
            "role_arn",
            "sso_session",
            "sso_start_url",
            "web_identity_token_file",
        ];
        if let Some(key) = ELSEWHERE.iter().find(|k| get(k, false).is_some()) {
            return Err(format!(
                "AWS profile {profile:?} gets its credentials through {key}, which labelstore \
                 does not support: export them first (`aws configure export-credentials \
                 --profile {profile} --format env`)"
            ));
        }
        return Err(format!(
            "no AWS credentials: looked in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, {} \
             (on EC2 or ECS, set AWS_EC2_METADATA_DISABLED=false to use the instance's role)",
            looked()
        ));
    }
    Ok(Resolved::Files(p))
}

/// The sections of an AWS CLI file: name (trimmed) to keys (lower case)
/// and values (trimmed). The first of a repeated section or key wins.
fn parse_ini(text: &str) -> HashMap<String, HashMap<String, String>> {
    let mut sections: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut current: Option<String> = None;
    // The key with no value whose indented lines are sub-settings.
    let mut parent: Option<String> = None;
    for line in text.lines() {
        let indented = line.starts_with([' ', '\t']);
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim().to_owned();
            sections.entry(name.clone()).or_default();
            current = Some(name);
            parent = None;
            continue;
        }
        let (Some(section), Some((key, value))) = (&current, line.split_once('=')) else {
            continue;
        };
        let (key, value) = (key.trim().to_ascii_lowercase(), value.trim().to_owned());
        let key = match (&parent, indented) {
            (Some(p), true) => format!("{p}.{key}"),
            _ => {
                parent = value.is_empty().then(|| key.clone());
                key
            }
        };
        if let Some(s) = sections.get_mut(section) {
            s.entry(key).or_insert(value);
        }
    }
    sections
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn ini_sections_keys_and_sub_settings() {
        let s = parse_ini(
            "# c\n[default]\naws_access_key_id = AK\n; c\n\
             [profile  dev ]\nRegion=eu-west-1\ns3 =\n  endpoint_url = http://sub\n\
             endpoint_url = http://top\n",
        );
        assert_eq!(s["default"]["aws_access_key_id"], "AK");
        assert_eq!(s["profile  dev"]["region"], "eu-west-1");
        assert_eq!(s["profile  dev"]["s3.endpoint_url"], "http://sub");
        assert_eq!(s["profile  dev"]["endpoint_url"], "http://top");
        assert!(section(&s, "dev", true).is_some());
        assert!(section(&s, "dev", false).is_none());
        assert!(section(&s, "default", true).is_some());
    }

    #[test]
    fn profiles_resolve_as_the_aws_cli_resolves_them() {
        let dir = tempfile::tempdir().unwrap();
        let aws = dir.path().join(".aws");
        std::fs::create_dir(&aws).unwrap();
        std::fs::write(
            aws.join("credentials"),
            "[default]\naws_access_key_id=D\naws_secret_access_key=d-s3cret\n\
             [test]\naws_access_key_id=T\naws_secret_access_key=t-s3cret\n",
        )
        .unwrap();
        std::fs::write(
            aws.join("config"),
            "[default]\nregion=us-east-1\nservices = local\n\
             [services local]\ns3 =\n  endpoint_url = http://127.0.0.1:9001\n\
             [profile test]\nregion=eu-west-1\n\
             endpoint_url=http://127.0.0.1:9000\n[profile keyless]\nregion=x\n",
        )
        .unwrap();
        let home = dir.path().to_str().unwrap().to_owned();
        let base = vec![("HOME", home.clone())];
        let Ok(Resolved::Files(p)) = resolve(&env_of(base.clone()), false) else {
            panic!("default profile");
        };
        assert_eq!(p.access_key_id.as_deref(), Some("D"));
        assert_eq!(p.region.as_deref(), Some("us-east-1"));
        assert_eq!(p.endpoint_url.as_deref(), Some("http://127.0.0.1:9001"));
        let mut with = base.clone();
        with.push(("AWS_PROFILE", "test".into()));
        let Ok(Resolved::Files(p)) = resolve(&env_of(with.clone()), false) else {
            panic!("test profile");
        };
        assert_eq!(p.secret_access_key.as_deref(), Some("t-s3cret"));
        assert_eq!(p.endpoint_url.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(!format!("{p:?}").contains("s3cret"));
        let mut ignoring = with.clone();
        ignoring.push(("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true".into()));
        let Ok(Resolved::Files(p)) = resolve(&env_of(ignoring), false) else {
            panic!("test profile");
        };
        assert_eq!(p.endpoint_url, None);
        // Keys in the environment: object_store's own way, the profile's
        // region and endpoint still known.
        let Ok(Resolved::Environment(Some(p))) = resolve(&env_of(with), true) else {
            panic!("keys given");
        };
        assert_eq!(p.region.as_deref(), Some("eu-west-1"));
        // A named profile that is nowhere, and a profile without keys.
        let mut missing = base.clone();
        missing.push(("AWS_PROFILE", "nope".into()));
        let e = resolve(&env_of(missing), false).unwrap_err();
        assert!(
            e.contains("\"nope\" not found") && e.contains("credentials"),
            "{e}"
        );
        let mut keyless = base.clone();
        keyless.push(("AWS_PROFILE", "keyless".into()));
        let e = resolve(&env_of(keyless.clone()), false).unwrap_err();
        assert!(
            e.starts_with("no AWS credentials: looked in AWS_ACCESS_KEY_ID"),
            "{e}"
        );
        assert!(e.contains("[profile keyless]"), "{e}");
        keyless.push(("AWS_EC2_METADATA_DISABLED", "false".into()));
        assert!(matches!(
            resolve(&env_of(keyless), false),
            Ok(Resolved::Environment(Some(_)))
        ));
        // Files named by their variables.
        let other = vec![
            ("HOME", "/nonexistent".to_owned()),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                aws.join("credentials").display().to_string(),
            ),
            ("AWS_CONFIG_FILE", aws.join("config").display().to_string()),
        ];
        assert!(matches!(
            resolve(&env_of(other), false),
            Ok(Resolved::Files(_))
        ));
        let e = resolve(&env_of(vec![("HOME", "/nonexistent".into())]), false).unwrap_err();
        assert!(e.contains("/nonexistent/.aws/credentials [default]"), "{e}");
        // A profile whose credentials come from elsewhere is named as such.
        std::fs::write(
            aws.join("config"),
            "[profile sso]\nsso_session = corp\nregion = x\n",
        )
        .unwrap();
        let mut sso = base;
        sso.push(("AWS_PROFILE", "sso".into()));
        let e = resolve(&env_of(sso), false).unwrap_err();
        assert!(
            e.contains("through sso_session") && e.contains("export-credentials"),
            "{e}"
        );
    }
}
