//! TLS to the database, against the throwaway cluster `cargo xtask test`
//! starts (`LABELSTORE_TEST_PG`): it speaks TLS with a certificate for
//! `localhost` only, signed by the CA at `LABELSTORE_TEST_PG_CA`. Without
//! those variables these tests fail, saying so.
//!
//! Whether a session is encrypted is asked of the server (`pg_stat_ssl`),
//! from a second connection, while the destination holds its own open.

use std::path::{Path, PathBuf};
use std::process::Command;

use sink_api::Destination;
use sink_db::{DbDestination, DbOptions, Replace};
use tokio_postgres::{Client, NoTls};

fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| {
        panic!(
            "{key} is not set: the TLS tests need the throwaway PostgreSQL + PostGIS cluster \
             that `cargo xtask test` starts (with its CA); run `cargo xtask test`"
        )
    })
}

/// The cluster's URL, its password and the CA's path.
fn server() -> (String, String, String) {
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
    (url, pw, env("LABELSTORE_TEST_PG_CA"))
}

/// The cluster's URL with `host` and the query `query`.
fn url_with(host: &str, query: &str) -> String {
    let (url, ..) = server();
    format!(
        "{}?{query}",
        url.replacen("@127.0.0.1:", &format!("@{host}:"), 1)
    )
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn client() -> Client {
    let (url, ..) = server();
    let (c, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    c
}

fn options(connection: String, table: &str) -> DbOptions {
    DbOptions {
        connection,
        password_file: None,
        table: table.into(),
        project: "tls".into(),
        format: "voc".into(),
        masks: false,
        replace: Replace::Project,
    }
}

/// Opens a destination with `connection` (which must name
/// `application_name=app`), asks the server whether that session is
/// encrypted, and rolls back. Returns (ssl, the destination's description).
async fn session_encrypted(connection: String, app: &str, table: &str) -> (bool, String) {
    let d = DbDestination::open(options(connection, table))
        .await
        .unwrap_or_else(|e| panic!("{app}: {e}"));
    let rows = client()
        .await
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = $1",
            &[&app],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{app}: one session");
    let described = d.describe();
    d.abort().await.unwrap();
    (rows[0].get(0), described)
}

#[test]
fn each_sslmode_gives_the_session_the_server_sees() {
    let (_, pw, ca) = server();
    let pid = std::process::id();
    rt().block_on(async {
        for (host, query, ssl) in [
            ("127.0.0.1", "sslmode=disable".to_owned(), false),
            ("127.0.0.1", "sslmode=allow".to_owned(), false),
            // libpq's default.
            ("127.0.0.1", String::new(), true),
            ("127.0.0.1", "sslmode=prefer".to_owned(), true),
            ("127.0.0.1", "sslmode=require".to_owned(), true),
            // The chain only: the certificate names localhost, not 127.0.0.1.
            (
                "127.0.0.1",
                format!("sslmode=verify-ca&sslrootcert={ca}"),
                true,
            ),
            (
                "localhost",
                format!("sslmode=verify-full&sslrootcert={ca}"),
                true,
            ),
            // require with a root certificate checks the chain, as libpq.
            (
                "localhost",
                format!("sslmode=require&sslrootcert={ca}"),
                true,
            ),
        ] {
            let app = format!(
                "tls_{pid}_{}",
                query.replace(['=', '&', '/', '.', '-'], "_")
            );
            let app: String = app.chars().take(60).collect();
            let q = match query.as_str() {
                "" => format!("application_name={app}"),
                q => format!("{q}&application_name={app}"),
            };
            let (encrypted, described) =
                session_encrypted(url_with(host, &q), &app, "tls_modes").await;
            assert_eq!(encrypted, ssl, "{query}");
            let expected = if ssl { "(TLSv1.3)" } else { "(without TLS)" };
            assert!(described.ends_with(expected), "{query}: {described}");
            assert!(!described.contains(&pw), "{described}");
        }
    });
}

#[test]
fn key_value_strings_take_sslrootcert_and_verify_full() {
    let (url, pw, ca) = server();
    let port = url.rsplit_once(':').unwrap().1.split('/').next().unwrap();
    let app = format!("tls_kv_{}", std::process::id());
    let conn = format!(
        "host=localhost port={port} user=postgres password='{pw}' dbname=postgres \
         sslmode=verify-full sslrootcert='{ca}' application_name={app}"
    );
    let (encrypted, _) = rt().block_on(session_encrypted(conn, &app, "tls_kv"));
    assert!(encrypted);
}

/// A second CA, which did not sign the server's certificate.
fn wrong_ca(dir: &Path) -> PathBuf {
    let out = Command::new("openssl")
        .args(["req", "-x509", "-nodes", "-days", "1"])
        .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
        .args(["-keyout", "wrong.key", "-out", "wrong.crt"])
        .args(["-subj", "/CN=some other CA"])
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .current_dir(dir)
        .output()
        .expect("running openssl (cargo xtask test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("wrong.crt")
}

/// Opening with `connection` fails; returns the error.
fn open_fails(connection: String) -> sink_api::Error {
    match rt().block_on(DbDestination::open(options(connection, "tls_fail"))) {
        Ok(d) => panic!("opened {}", d.describe()),
        Err(e) => e,
    }
}

#[test]
fn a_certificate_of_another_ca_is_refused_with_exit_1() {
    let (_, pw, _) = server();
    let tmp = tempfile::tempdir().unwrap();
    let wrong = wrong_ca(tmp.path());
    for mode in ["verify-full", "verify-ca", "require"] {
        let e = open_fails(url_with(
            "localhost",
            &format!("sslmode={mode}&sslrootcert={}", wrong.display()),
        ));
        let m = e.to_string();
        assert!(!e.is_usage(), "{m}");
        assert!(
            m.contains(&format!(
                "the server's certificate is not signed by a trusted certificate authority \
                 (sslmode={mode}, root certificates from {}); give the CA that signed it as \
                 sslrootcert=FILE",
                wrong.display()
            )),
            "{m}"
        );
        assert!(
            m.contains("cannot connect to PostgreSQL at localhost:"),
            "{m}"
        );
        assert!(!m.contains(&pw), "{m}");
    }
}

#[test]
fn verify_full_checks_the_host_name_and_verify_ca_does_not() {
    let (_, pw, ca) = server();
    let e = open_fails(url_with(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ));
    let m = e.to_string();
    assert!(!e.is_usage(), "{m}");
    assert!(
        m.contains(
            "the server's certificate is not valid for the host name 127.0.0.1: it names \
             localhost (sslmode=verify-full, root certificates from "
        ),
        "{m}"
    );
    assert!(
        m.ends_with(
            "/ca.crt); connect with a name it holds, or use sslmode=verify-ca to skip the \
             name check"
        ),
        "{m}"
    );
    assert!(!m.contains(&pw), "{m}");
    // The same CA without the name check.
    rt().block_on(async {
        let d = DbDestination::open(options(
            url_with("127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={ca}")),
            "tls_fail",
        ))
        .await
        .unwrap();
        assert!(d.describe().ends_with("(TLSv1.3)"), "{}", d.describe());
        d.abort().await.unwrap();
    });
}

#[test]
fn a_missing_root_certificate_file_is_a_usage_error() {
    let (_, pw, _) = server();
    let e = open_fails(url_with(
        "localhost",
        "sslmode=verify-full&sslrootcert=/nonexistent/labelstore-ca.pem",
    ));
    let m = e.to_string();
    assert!(e.is_usage(), "{m}");
    assert!(
        m.starts_with("cannot read sslrootcert /nonexistent/labelstore-ca.pem: "),
        "{m}"
    );
    assert!(!m.contains(&pw), "{m}");
    let e = open_fails(url_with("localhost", "sslmode=verify-everything"));
    assert!(e.is_usage(), "{e}");
    assert!(
        e.to_string()
            .starts_with("bad sslmode \"verify-everything\""),
        "{e}"
    );
}

/// A server without TLS answers a client's SSLRequest with a single `N`
/// (the PostgreSQL protocol; every server built without SSL, or with
/// `ssl=off`, does). The throwaway cluster has TLS on, so a listener on
/// loopback plays that server for the one exchange that matters.
#[test]
fn require_against_a_server_without_tls_fails_with_exit_1() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    rt().block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 8];
            s.read_exact(&mut request).await.unwrap();
            // Length 8, code 80877103: SSLRequest.
            assert_eq!(request, [0, 0, 0, 8, 4, 210, 22, 47]);
            s.write_all(b"N").await.unwrap();
            // The client hangs up.
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest).await;
        });
        let conn = format!("postgres://u:NoTlsSecret1@127.0.0.1:{port}/db?sslmode=require");
        let e = match DbDestination::open(options(conn, "tls_none")).await {
            Ok(_) => panic!("opened"),
            Err(e) => e,
        };
        let m = e.to_string();
        assert!(!e.is_usage(), "{m}");
        assert!(
            m.contains(
                "the server does not accept TLS connections, and sslmode=require asks for one"
            ),
            "{m}"
        );
        assert!(!m.contains("NoTlsSecret1"), "{m}");
        server.await.unwrap();
    });
}
