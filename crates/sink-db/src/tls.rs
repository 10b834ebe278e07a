//! TLS for the database connection, as libpq users expect it.
//!
//! `sslmode` (`disable`, `allow`, `prefer`, `require`, `verify-ca`,
//! `verify-full`) and `sslrootcert` are read from the connection string (URL
//! query or key=value) or else from `PGSSLMODE` / `PGSSLROOTCERT`, then taken
//! out of the string before tokio-postgres parses it (it knows neither
//! `verify-*` nor `sslrootcert`). The default is libpq's `prefer`.
//!
//! | sslmode | encrypted | certificate checked |
//! |---|---|---|
//! | `disable` | never | - |
//! | `allow` | only when the server insists | no |
//! | `prefer` | when the server offers it | no, unless a root certificate is given |
//! | `require` | always | no, unless a root certificate is given (then as `verify-ca`) |
//! | `verify-ca` | always | chain, against `sslrootcert` or the system's roots |
//! | `verify-full` | always | chain and host name |
//!
//! The root certificates are `sslrootcert=FILE` (PEM), else
//! `~/.postgresql/root.crt` when it exists (as libpq), else, for `verify-*`,
//! the system's trusted roots (libpq would fail there; `sslrootcert=system`
//! asks for them explicitly, as in libpq 16). Without a certificate check the
//! handshake is still verified: the server must hold the key of the
//! certificate it shows. TLS is never used over a Unix socket, as in libpq.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sink_api::{Error, Result};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::{Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Mode {
    fn parse(s: &str) -> Option<Mode> {
        Some(match s {
            "disable" => Mode::Disable,
            "allow" => Mode::Allow,
            "prefer" => Mode::Prefer,
            "require" => Mode::Require,
            "verify-ca" => Mode::VerifyCa,
            "verify-full" => Mode::VerifyFull,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Disable => "disable",
            Mode::Allow => "allow",
            Mode::Prefer => "prefer",
            Mode::Require => "require",
            Mode::VerifyCa => "verify-ca",
            Mode::VerifyFull => "verify-full",
        }
    }
}

/// The TLS parameters found in a connection string (the last of each wins,
/// as in libpq).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Params {
    sslmode: Option<String>,
    sslrootcert: Option<String>,
}

impl Params {
    /// Sets `sslmode` or `sslrootcert` from a service file when the
    /// connection string did not; true if `key` is one of them.
    pub(crate) fn fill(&mut self, key: &str, value: &str) -> bool {
        let slot = match key {
            "sslmode" => &mut self.sslmode,
            "sslrootcert" => &mut self.sslrootcert,
            _ => return false,
        };
        if slot.is_none() {
            *slot = Some(value.to_owned());
        }
        true
    }
}

/// Takes `sslmode` and `sslrootcert` out of a connection string (a
/// `postgres://` URL or key=value string). A string this cannot read is
/// returned as it is, for tokio-postgres to report.
pub(crate) fn split_params(conn: &str) -> (String, Params) {
    let mut params = Params::default();
    let mut take = |key: &str, value: String| match key {
        "sslmode" => {
            params.sslmode = Some(value);
            true
        }
        "sslrootcert" => {
            params.sslrootcert = Some(value);
            true
        }
        _ => false,
    };
    match split_with(conn, &mut take) {
        Some(rest) => (rest, params),
        None => (conn.to_owned(), Params::default()),
    }
}

/// Takes the parameters `take` accepts (returning true) out of a connection
/// string; `None` when the string cannot be read.
pub(crate) fn split_with(conn: &str, take: &mut dyn FnMut(&str, String) -> bool) -> Option<String> {
    if conn.starts_with("postgres://") || conn.starts_with("postgresql://") {
        split_url(conn, take)
    } else {
        split_key_values(conn, take)
    }
}

fn split_url(conn: &str, take: &mut dyn FnMut(&str, String) -> bool) -> Option<String> {
    // tokio-postgres reads the credentials up to the first '@', then the
    // host and path up to '?'.
    let after_creds = conn.find('@').map_or(0, |at| at + 1);
    let Some(q) = conn[after_creds..].find('?').map(|q| q + after_creds) else {
        return Some(conn.to_owned());
    };
    let mut kept = Vec::new();
    for pair in conn[q + 1..].split('&') {
        let (k, v) = pair.split_once('=')?;
        if !take(&percent_decode(k), percent_decode(v)) {
            kept.push(pair);
        }
    }
    let mut out = conn[..q].to_owned();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    Some(out)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// libpq's key=value syntax: `key = value` pairs apart by white space, a
/// value either single-quoted or up to white space, `\` escaping the next
/// character in both.
fn split_key_values(conn: &str, take: &mut dyn FnMut(&str, String) -> bool) -> Option<String> {
    let b = conn.as_bytes();
    let mut i = 0;
    let mut out = String::new();
    let mut last_end = 0;
    let skip_ws = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    loop {
        i = skip_ws(i);
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' {
            i += 1;
        }
        let key = &conn[start..i];
        i = skip_ws(i);
        if key.is_empty() || b.get(i) != Some(&b'=') {
            return None;
        }
        i = skip_ws(i + 1);
        let mut value = Vec::new();
        if b.get(i) == Some(&b'\'') {
            i += 1;
            loop {
                match b.get(i) {
                    None => return None,
                    Some(b'\'') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        value.push(*b.get(i + 1)?);
                        i += 2;
                    }
                    Some(&c) => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
        } else {
            while let Some(&c) = b.get(i) {
                if c.is_ascii_whitespace() {
                    break;
                }
                if c == b'\\' {
                    value.push(*b.get(i + 1)?);
                    i += 2;
                } else {
                    value.push(c);
                    i += 1;
                }
            }
        }
        let value = String::from_utf8(value).ok()?;
        if take(key, value) {
            out.push_str(&conn[last_end..start]);
            last_end = i;
        }
    }
    out.push_str(&conn[last_end..]);
    Some(out)
}

/// Where the root certificates come from.
#[derive(Debug, Clone)]
enum Roots {
    /// No certificate check.
    None,
    /// A PEM file.
    File(PathBuf, Arc<RootCertStore>),
    /// The system's trusted roots.
    System(Arc<RootCertStore>),
}

/// How to set up TLS for one connection.
#[derive(Debug, Clone)]
pub(crate) struct Tls {
    mode: Mode,
    roots: Roots,
    /// Whether every host is a Unix socket (no TLS there).
    unix_only: bool,
    /// The rustls configuration checking the certificate as `roots` and
    /// `mode` say.
    client: rustls::ClientConfig,
}

fn refused(m: String) -> Error {
    Error::Refused(m)
}

impl Tls {
    /// Resolves the parameters with the environment's fallbacks, reads the
    /// root certificates and sets tokio-postgres's own mode in `config`.
    pub(crate) fn new(params: Params, config: &mut Config) -> Result<Tls> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let (mode_text, mode_from) = match (params.sslmode, env("PGSSLMODE")) {
            (Some(m), _) => (Some(m), "sslmode"),
            (None, Some(m)) => (Some(m), "PGSSLMODE"),
            (None, None) => (None, ""),
        };
        let rootcert = params.sslrootcert.or_else(|| env("PGSSLROOTCERT"));
        let mode = match &mode_text {
            Some(m) => Mode::parse(m).ok_or_else(|| {
                refused(format!(
                    "bad {mode_from} {m:?}: use disable, allow, prefer, require, verify-ca \
                     or verify-full"
                ))
            })?,
            // libpq 16: sslrootcert=system makes verify-full the default.
            None if rootcert.as_deref() == Some("system") => Mode::VerifyFull,
            None => Mode::Prefer,
        };
        let roots = match rootcert.as_deref() {
            _ if mode == Mode::Disable => Roots::None,
            Some("system") => {
                if mode != Mode::VerifyFull {
                    return Err(refused(format!(
                        "sslmode={} may not be used with sslrootcert=system (use verify-full)",
                        mode.name()
                    )));
                }
                system_roots()?
            }
            Some(file) => {
                let path = PathBuf::from(file);
                let store = read_roots(&path)?;
                Roots::File(path, store)
            }
            None => match default_root_file() {
                Some(path) => {
                    let store = read_roots(&path)?;
                    Roots::File(path, store)
                }
                None if matches!(mode, Mode::VerifyCa | Mode::VerifyFull) => system_roots()?,
                None => Roots::None,
            },
        };
        let hosts = config.get_hosts();
        let unix_only = !hosts.is_empty() && hosts.iter().all(|h| !matches!(h, Host::Tcp(_)));
        let client = client_config(&roots, mode == Mode::VerifyFull)
            .map_err(|e| Error::io("setting up TLS", std::io::Error::other(e)))?;
        let tls = Tls {
            mode,
            roots,
            unix_only,
            client,
        };
        config.ssl_mode(tls.first_ssl_mode());
        Ok(tls)
    }

    fn first_ssl_mode(&self) -> SslMode {
        if self.unix_only {
            return SslMode::Disable;
        }
        match self.mode {
            Mode::Disable | Mode::Allow => SslMode::Disable,
            Mode::Prefer => SslMode::Prefer,
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
        }
    }

    fn connector(&self) -> MakeRustlsConnect {
        MakeRustlsConnect::new(self.client.clone())
    }

    /// What the connection promises, for messages: `sslmode=verify-full,
    /// root certificates from FILE`.
    fn describe(&self) -> String {
        let roots = match &self.roots {
            Roots::None => String::new(),
            Roots::File(p, _) => format!(", root certificates from {}", p.display()),
            Roots::System(_) => ", the system's root certificates".into(),
        };
        format!("sslmode={}{roots}", self.mode.name())
    }
}

/// A rustls configuration whose certificate check is [`Verifier`]'s.
fn client_config(roots: &Roots, check_name: bool) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = match roots {
        Roots::None => None,
        Roots::File(_, r) | Roots::System(r) => Some(r.clone()),
    };
    let verifier = Verifier {
        provider: provider.clone(),
        roots,
        check_name,
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// `~/.postgresql/root.crt`, when it exists.
fn default_root_file() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    let p = Path::new(&home).join(".postgresql/root.crt");
    p.is_file().then_some(p)
}

fn read_roots(path: &Path) -> Result<Arc<RootCertStore>> {
    let bytes = std::fs::read(path)
        .map_err(|e| refused(format!("cannot read sslrootcert {}: {e}", path.display())))?;
    let mut store = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        let cert = cert.map_err(|e| {
            refused(format!(
                "sslrootcert {}: not a PEM certificate file: {e}",
                path.display()
            ))
        })?;
        store.add(cert).map_err(|e| {
            refused(format!(
                "sslrootcert {}: a certificate cannot be used as a root: {e}",
                path.display()
            ))
        })?;
    }
    if store.is_empty() {
        return Err(refused(format!(
            "sslrootcert {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(Arc::new(store))
}

fn system_roots() -> Result<Roots> {
    let found = rustls_native_certs::load_native_certs();
    let mut store = RootCertStore::empty();
    store.add_parsable_certificates(found.certs);
    if store.is_empty() {
        return Err(refused(
            "no trusted root certificates found on this system for the server's certificate \
             check: give sslrootcert=FILE (the CA that signed the server's certificate)"
                .into(),
        ));
    }
    Ok(Roots::System(Arc::new(store)))
}

/// The certificate check of each mode: none (the handshake signature is
/// still verified), the chain, or the chain and the host name.
#[derive(Debug)]
struct Verifier {
    provider: Arc<CryptoProvider>,
    roots: Option<Arc<RootCertStore>>,
    check_name: bool,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let Some(roots) = &self.roots else {
            return Ok(ServerCertVerified::assertion());
        };
        let cert = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        if self.check_name {
            rustls::client::verify_server_name(&cert, server_name)?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Connects as `tls` says (with libpq's fallbacks: `prefer` retries without
/// TLS when the handshake fails, `allow` retries with TLS when the server
/// refuses a plain connection) and drives the connection in a task.
pub(crate) async fn connect(
    config: &Config,
    tls: &Tls,
) -> std::result::Result<Client, tokio_postgres::Error> {
    let first = spawn(config.connect(tls.connector()).await);
    let retry = match (&first, tls.mode) {
        _ if tls.unix_only => None,
        (Err(e), Mode::Prefer) if rustls_error(e).is_some() => Some(SslMode::Disable),
        (Err(e), Mode::Allow)
            if e.as_db_error().is_some_and(|d| {
                *d.code() == tokio_postgres::error::SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            }) =>
        {
            Some(SslMode::Require)
        }
        _ => None,
    };
    match retry {
        Some(mode) => {
            let mut again = config.clone();
            again.ssl_mode(mode);
            spawn(again.connect(tls.connector()).await)
        }
        None => first,
    }
}

fn spawn<S, T>(
    r: std::result::Result<(Client, tokio_postgres::Connection<S, T>), tokio_postgres::Error>,
) -> std::result::Result<Client, tokio_postgres::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (client, connection) = r?;
    tokio::spawn(async move {
        // Its error reaches the client's next call.
        let _ = connection.await;
    });
    Ok(client)
}

/// The rustls error behind a failed connection, if any.
fn rustls_error(e: &tokio_postgres::Error) -> Option<&rustls::Error> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(c) = cause {
        if let Some(r) = c.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(r) = c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(r);
        }
        cause = c.source();
    }
    None
}

/// A TLS failure as a message a user can act on, or `None` when `e` is not
/// one. `host` is the host connected to.
pub(crate) fn explain(e: &tokio_postgres::Error, tls: &Tls, host: &str) -> Option<String> {
    let how = tls.describe();
    if let Some(r) = rustls_error(e) {
        let cert =
            |what: &str, advice: &str| format!("the server's certificate {what} ({how}){advice}");
        let names = |presented: &[String]| {
            let names: Vec<&str> = presented.iter().map(|n| readable_name(n)).collect();
            format!(": it names {}", names.join(", "))
        };
        let wrong_name = |named: String| {
            cert(
                &format!("is not valid for the host name {host}{named}"),
                "; connect with a name it holds, or use sslmode=verify-ca to skip the name check",
            )
        };
        return Some(match r {
            rustls::Error::InvalidCertificate(c) => match c {
                CertificateError::UnknownIssuer => cert(
                    "is not signed by a trusted certificate authority",
                    "; give the CA that signed it as sslrootcert=FILE",
                ),
                CertificateError::NotValidForName => wrong_name(String::new()),
                CertificateError::NotValidForNameContext { presented, .. } => {
                    wrong_name(names(presented))
                }
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    cert("has expired", "")
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    cert("is not valid yet", "")
                }
                CertificateError::Revoked => cert("is revoked", ""),
                CertificateError::BadSignature => cert("has a bad signature", ""),
                other => cert(&format!("was refused: {other:?}"), ""),
            },
            other => format!("the TLS handshake failed ({how}): {other}"),
        });
    }
    let text = super::pg_message(e);
    if text.contains("server does not support TLS") {
        return Some(format!(
            "the server does not accept TLS connections, and {how} asks for one \
             (sslmode=prefer or disable connect without TLS)"
        ));
    }
    None
}

/// A name of a certificate as webpki shows it (`DnsName("localhost")`,
/// `IpAddress(127.0.0.1)`) as a user writes it.
fn readable_name(n: &str) -> &str {
    n.strip_prefix("DnsName(\"")
        .and_then(|r| r.strip_suffix("\")"))
        .or_else(|| {
            n.strip_prefix("IpAddress(")
                .and_then(|r| r.strip_suffix(')'))
        })
        .unwrap_or(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> (String, Option<String>, Option<String>) {
        let (rest, p) = split_params(s);
        (rest, p.sslmode, p.sslrootcert)
    }

    #[test]
    fn url_parameters_are_taken_out() {
        assert_eq!(
            split("postgres://u:p@h:5/db?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem"),
            (
                "postgres://u:p@h:5/db".into(),
                Some("verify-full".into()),
                Some("/tmp/ca.pem".into())
            )
        );
        assert_eq!(
            split("postgresql://h/db?application_name=x&sslmode=require&connect_timeout=3"),
            (
                "postgresql://h/db?application_name=x&connect_timeout=3".into(),
                Some("require".into()),
                None
            )
        );
        // A '?' in the password is not the query.
        assert_eq!(
            split("postgres://u:a?b@h/db"),
            ("postgres://u:a?b@h/db".into(), None, None)
        );
        assert_eq!(
            split("postgres://h/db?sslmode=disable&sslmode=verify-ca"),
            ("postgres://h/db".into(), Some("verify-ca".into()), None)
        );
    }

    #[test]
    fn key_value_parameters_are_taken_out() {
        assert_eq!(
            split("host=h sslmode = verify-ca user=u sslrootcert='/a b/c\\'s.pem' dbname=d"),
            (
                "host=h  user=u  dbname=d".into(),
                Some("verify-ca".into()),
                Some("/a b/c's.pem".into())
            )
        );
        assert_eq!(
            split("host=h password='x y'"),
            ("host=h password='x y'".into(), None, None)
        );
        // Unreadable: left for tokio-postgres to report.
        assert_eq!(
            split("host=h sslmode"),
            ("host=h sslmode".into(), None, None)
        );
    }

    #[test]
    fn certificate_names_read_as_written() {
        assert_eq!(readable_name("DnsName(\"localhost\")"), "localhost");
        assert_eq!(readable_name("IpAddress(127.0.0.1)"), "127.0.0.1");
        assert_eq!(readable_name("DirectoryName"), "DirectoryName");
    }

    #[test]
    fn modes_and_roots() {
        let mut c = Config::new();
        c.host("h");
        let p = |m: &str| Params {
            sslmode: Some(m.into()),
            sslrootcert: None,
        };
        let t = Tls::new(p("require"), &mut c).unwrap();
        assert_eq!(c.get_ssl_mode(), SslMode::Require);
        assert!(matches!(t.roots, Roots::None) || default_root_file().is_some());
        Tls::new(p("disable"), &mut c).unwrap();
        assert_eq!(c.get_ssl_mode(), SslMode::Disable);
        let e = Tls::new(p("verify-everything"), &mut c).unwrap_err();
        assert!(e.is_usage());
        assert!(
            e.to_string().contains("bad sslmode \"verify-everything\""),
            "{e}"
        );
        let missing = Params {
            sslmode: Some("verify-full".into()),
            sslrootcert: Some("/nonexistent/ca.pem".into()),
        };
        let e = Tls::new(missing, &mut c).unwrap_err();
        assert!(e.is_usage());
        assert!(
            e.to_string()
                .starts_with("cannot read sslrootcert /nonexistent/ca.pem: "),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = Tls::new(
            Params {
                sslmode: Some("verify-ca".into()),
                sslrootcert: Some(empty.display().to_string()),
            },
            &mut c,
        )
        .unwrap_err();
        assert!(e.to_string().contains("holds no PEM certificate"), "{e}");
        let e = Tls::new(
            Params {
                sslmode: Some("require".into()),
                sslrootcert: Some("system".into()),
            },
            &mut c,
        )
        .unwrap_err();
        assert!(e.to_string().contains("sslrootcert=system"), "{e}");
        // Unix sockets never use TLS.
        let mut u = Config::new();
        u.host_path("/run/postgresql");
        Tls::new(p("require"), &mut u).unwrap();
        assert_eq!(u.get_ssl_mode(), SslMode::Disable);
    }
}
