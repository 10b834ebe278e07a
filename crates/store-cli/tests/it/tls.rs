//! `--to db` over TLS, against the throwaway cluster `cargo xtask test`
//! starts (`LABELSTORE_TEST_PG`, certificate for `localhost` only, signed by
//! the CA at `LABELSTORE_TEST_PG_CA`); psql judges what landed.

use std::process::{Command, Output};

use crate::util::{labelstore, root, stderr, stdout};

fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| {
        panic!(
            "{key} is not set: the TLS tests need the throwaway PostgreSQL cluster that \
             `cargo xtask test` starts; run `cargo xtask test`"
        )
    })
}

/// The cluster's URL with `host` and the query `query`, and the password.
fn url_with(host: &str, query: &str) -> (String, String) {
    let url = env("LABELSTORE_TEST_PG");
    assert!(url.contains("@127.0.0.1:"), "unexpected LABELSTORE_TEST_PG");
    let pw = url
        .split_once('@')
        .and_then(|(creds, _)| creds.rsplit_once(':'))
        .map(|(_, pw)| pw.to_owned())
        .unwrap();
    assert!(
        pw.len() >= 8,
        "the test password is too short to search for"
    );
    let host_url = url.replacen("@127.0.0.1:", &format!("@{host}:"), 1);
    let with_query = match query {
        "" => host_url,
        q => format!("{host_url}?{q}"),
    };
    (with_query, pw)
}

fn store(connection: &str, envs: &[(&str, &str)]) -> Output {
    labelstore()
        .args(["store", "examples/harbour", "--to", "db", "--connection"])
        .arg(connection)
        .args(["--table", "cli_tls", "--format", "voc"])
        .current_dir(root())
        .env_remove("PGPASSWORD")
        .env_remove("PGSSLMODE")
        .env_remove("PGSSLROOTCERT")
        .envs(envs.iter().copied())
        .output()
        .unwrap()
}

fn psql(sql: &str) -> String {
    let out = Command::new("psql")
        .arg(env("LABELSTORE_TEST_PG"))
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("running psql (cargo xtask test installs PostgreSQL)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn stores_over_verified_tls_and_refuses_bad_certificates() {
    let ca = env("LABELSTORE_TEST_PG_CA");
    psql("DROP TABLE IF EXISTS cli_tls; DROP TABLE IF EXISTS cli_tls_files");

    // verify-full against the right CA and the name the certificate holds.
    let (conn, pw) = url_with(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let o = store(&conn, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let first = stdout(&o).lines().next().unwrap_or_default().to_owned();
    assert!(
        first.starts_with(
            "stored 9 chips of \"harbour-ships\" to PostgreSQL table cli_tls at localhost:"
        ) && first.ends_with("/postgres as postgres (TLSv1.3) as voc"),
        "{first}"
    );
    assert_eq!(
        psql("SELECT count(*) FROM cli_tls WHERE project = 'harbour-ships'"),
        "9"
    );

    // The same from PGSSLMODE and PGSSLROOTCERT, but to 127.0.0.1, which the
    // certificate does not name: refused, exit 1, the table as it was.
    let stamp = psql("SELECT max(stored_at) FROM cli_tls");
    let (conn, _) = url_with("127.0.0.1", "");
    let o = store(
        &conn,
        &[("PGSSLMODE", "verify-full"), ("PGSSLROOTCERT", ca.as_str())],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "the server's certificate is not valid for the host name 127.0.0.1: it names localhost"
        ),
        "{err}"
    );
    assert!(!err.contains(&pw) && !stdout(&o).contains(&pw), "{err}");
    assert_eq!(psql("SELECT max(stored_at) FROM cli_tls"), stamp);

    // A CA that did not sign the server's certificate: exit 1.
    let tmp = tempfile::tempdir().unwrap();
    let wrong = tmp.path().join("wrong.crt");
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-nodes", "-days", "1", "-newkey", "rsa:2048",
        ])
        .arg("-keyout")
        .arg(tmp.path().join("wrong.key"))
        .arg("-out")
        .arg(&wrong)
        .args(["-subj", "/CN=another CA"])
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let (conn, _) = url_with(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", wrong.display()),
    );
    let o = store(&conn, &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the server's certificate is not signed by a trusted certificate authority"),
        "{err}"
    );
    assert!(!err.contains(&pw), "{err}");

    // A missing root certificate file: the request is at fault, exit 2.
    let (conn, _) = url_with(
        "localhost",
        "sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem",
    );
    let o = store(&conn, &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cannot read sslrootcert /nonexistent/ca.pem"),
        "{err}"
    );
    assert!(!err.contains(&pw), "{err}");

    // sslmode=disable still stores, in the clear.
    let (conn, _) = url_with("127.0.0.1", "sslmode=disable");
    let o = store(&conn, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("as postgres (without TLS) as voc"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        psql("SELECT count(*) FROM cli_tls WHERE project = 'harbour-ships'"),
        "9"
    );
    assert_ne!(psql("SELECT max(stored_at) FROM cli_tls"), stamp);
    psql("DROP TABLE cli_tls; DROP TABLE cli_tls_files");
}
