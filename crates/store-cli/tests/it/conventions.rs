//! Connections found where libpq and the AWS CLI keep them, not on the
//! command line: a service file and a password file for `--to db`, against
//! the throwaway cluster (`LABELSTORE_TEST_PG`); an AWS profile's keys,
//! region and endpoint for `--to objstore --url s3://`, against the S3 test
//! server (`LABELSTORE_TEST_S3`). Every variable of those conventions is
//! cleared and HOME pointed at a temporary folder, so nothing of the
//! machine's own set-up takes part. The secret never shows.

use std::path::Path;
use std::process::{Command, Output};

use crate::fetch_verify::{S3, env, python, unique};
use crate::util::{labelstore, root, stderr, stdout};

/// The variables of libpq's and the AWS CLI's conventions.
const CLEARED: &[&str] = &[
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGSSLMODE",
    "PGSSLROOTCERT",
    "PGAPPNAME",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ALLOW_HTTP",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
];

/// `labelstore ARGS` in the repository root with HOME at `home`, the
/// conventions' variables cleared, then `envs` set.
fn run_in(home: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd: Command = labelstore();
    for name in CLEARED {
        cmd.env_remove(name);
    }
    cmd.current_dir(root())
        .env("HOME", home)
        .env("PGSYSCONFDIR", home.join("no-such-folder"))
        .envs(envs.iter().copied())
        .args(args)
        .output()
        .unwrap()
}

/// `store examples/harbour --to TO... --format FORMAT`.
fn store_args<'a>(to: &[&'a str], format: &'a str) -> Vec<&'a str> {
    let mut args = vec!["store", "examples/harbour", "--to"];
    args.extend_from_slice(to);
    args.extend(["--format", format]);
    args
}

fn assert_quiet_about(secret: &str, o: &Output) {
    assert!(
        !stdout(o).contains(secret) && !stderr(o).contains(secret),
        "the secret shows:\n{}\n{}",
        stdout(o),
        stderr(o)
    );
}

/// The test cluster's port and password (from `postgres://postgres:PW@127.0.0.1:PORT/postgres`).
fn cluster() -> (String, String) {
    let url = env("LABELSTORE_TEST_PG");
    let (creds, rest) = url.split_once('@').unwrap();
    let pw = creds.rsplit_once(':').unwrap().1.to_owned();
    assert!(
        pw.len() >= 8,
        "the test password is too short to search for"
    );
    let port = rest
        .strip_prefix("127.0.0.1:")
        .and_then(|r| r.split('/').next())
        .expect("LABELSTORE_TEST_PG on 127.0.0.1")
        .to_owned();
    (port, pw)
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn db_store_fetch_and_verify_through_a_service_and_a_password_file() {
    let (port, pw) = cluster();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    std::fs::write(
        h.join(".pg_service.conf"),
        format!(
            "# written by the test\n[labelstore_test]\nhost=127.0.0.1\nport={port}\n\
             user=postgres\ndbname=postgres\n"
        ),
    )
    .unwrap();
    let pgpass = h.join(".pgpass");
    std::fs::write(
        &pgpass,
        format!("127.0.0.1:{port}:postgres:other:wrong\n*:{port}:postgres:postgres:{pw}\n"),
    )
    .unwrap();
    chmod(&pgpass, 0o600);
    let table = unique("libpq");

    // PGSERVICE and ~/.pgpass alone: no --connection, no password anywhere
    // but the password file.
    let svc = [("PGSERVICE", "labelstore_test")];
    let store = store_args(&["db", "--table", &table], "voc");
    let o = run_in(h, &store, &svc);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("127.0.0.1:{port}/postgres as postgres")),
        "{}",
        stdout(&o)
    );
    assert_quiet_about(&pw, &o);

    let o = run_in(h, &["verify", "--from", "db", "--table", &table], &svc);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    assert_quiet_about(&pw, &o);

    // `service=` as the connection string; the files named by the *FILE
    // variables rather than found in HOME.
    let elsewhere = tempfile::tempdir().unwrap();
    let (services, pass) = (
        elsewhere.path().join("services"),
        elsewhere.path().join("pass"),
    );
    std::fs::rename(h.join(".pg_service.conf"), &services).unwrap();
    std::fs::rename(&pgpass, &pass).unwrap();
    let out = elsewhere.path().join("fetched");
    let o = run_in(
        h,
        &[
            "fetch",
            "--from",
            "db",
            "--connection",
            "service=labelstore_test",
            "--table",
            &table,
            "--output",
            out.to_str().unwrap(),
        ],
        &[
            ("PGSERVICEFILE", services.to_str().unwrap()),
            ("PGPASSFILE", pass.to_str().unwrap()),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(out.join("project.json").is_file());
    assert_quiet_about(&pw, &o);

    // A password file others can read is ignored, as libpq ignores it, and
    // the failure says so.
    chmod(&pass, 0o644);
    let o = run_in(
        h,
        &["verify", "--from", "db", "--table", &table],
        &[
            ("PGSERVICE", "labelstore_test"),
            ("PGSERVICEFILE", services.to_str().unwrap()),
            ("PGPASSFILE", pass.to_str().unwrap()),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("group or world access"),
        "{}",
        stderr(&o)
    );
    assert_quiet_about(&pw, &o);

    // A service that is nowhere: exit 2, naming where it was looked for.
    let o = run_in(h, &store, &[("PGSERVICE", "nowhere")]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("\"nowhere\" not found") && stderr(&o).contains(".pg_service.conf"),
        "{}",
        stderr(&o)
    );
}

/// A secret access key found only in the temporary credentials file (the
/// S3 test server takes any key).
const AWS_SECRET: &str = "pr0file-only-s3cret-Xq7";

#[test]
fn s3_store_and_verify_through_an_aws_profile() {
    let endpoint = env("LABELSTORE_TEST_S3");
    let bucket = unique("profile").replace('_', "-");
    python(S3, &[&endpoint, "mkbucket", &bucket]);
    let home = tempfile::tempdir().unwrap();
    let aws = home.path().join(".aws");
    std::fs::create_dir(&aws).unwrap();
    std::fs::write(
        aws.join("credentials"),
        format!(
            "[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n\n\
             [test]\naws_access_key_id = test\naws_secret_access_key = {AWS_SECRET}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        aws.join("config"),
        format!(
            "[default]\nregion = eu-west-1\n\n\
             [profile test]\nregion = us-east-1\nendpoint_url = {endpoint}\n"
        ),
    )
    .unwrap();
    let url = format!("s3://{bucket}/harbour");

    // AWS_PROFILE and ~/.aws alone: no key, region or endpoint anywhere else.
    let o = run_in(
        home.path(),
        &store_args(&["objstore", "--url", &url], "coco"),
        &[("AWS_PROFILE", "test")],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_quiet_about(AWS_SECRET, &o);

    // The files named by AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE.
    let elsewhere = tempfile::tempdir().unwrap();
    let o = run_in(
        elsewhere.path(),
        &["verify", "--from", "objstore", "--url", &url],
        &[
            ("AWS_PROFILE", "test"),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                aws.join("credentials").to_str().unwrap(),
            ),
            ("AWS_CONFIG_FILE", aws.join("config").to_str().unwrap()),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    assert_quiet_about(AWS_SECRET, &o);

    // A profile that is nowhere: exit 2, naming it and the files.
    let o = run_in(
        home.path(),
        &["verify", "--from", "objstore", "--url", &url],
        &[("AWS_PROFILE", "nope")],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("\"nope\" not found"), "{}", stderr(&o));
    assert_quiet_about(AWS_SECRET, &o);
}

#[test]
fn s3_without_credentials_fails_fast_saying_where_it_looked() {
    let home = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let o = run_in(
        home.path(),
        &store_args(&["objstore", "--url", "s3://nobody/harbour"], "coco"),
        &[],
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    let creds = home.path().join(".aws/credentials");
    assert!(
        err.contains("no AWS credentials: looked in AWS_ACCESS_KEY_ID"),
        "{err}"
    );
    assert!(
        err.contains(&format!("{} [default]", creds.display())),
        "{err}"
    );
}
