//! Stores to a plain HTTP server that accepts PUTs: nginx with WebDAV on
//! loopback (`LABELSTORE_TEST_HTTP`, started by `cargo xtask test` and
//! `cargo xtask serve`, see `xtask/src/nginx.rs`). Every result is judged
//! through nginx itself, never through our own code alone: the objects are
//! listed through nginx's JSON autoindex and fetched with curl, and the
//! requests labelstore sent are read from nginx's access log (method, URI,
//! status, Content-Type).

#![allow(clippy::print_stderr)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use common::{
    assert_same, env, harbour, local_store, projects, pseudo_random, put, run, runtime, text, tree,
    unique,
};
use sink_api::{Body, Destination};
use sink_objstore::{ObjStoreDestination, ObjStoreOptions};

/// The WebDAV server: `base` is `LABELSTORE_TEST_HTTP`
/// (`http://labelstore:<password>@127.0.0.1:PORT/dav/`).
struct Dav {
    base: String,
    origin: String,
    user: String,
    password: String,
}

fn dav() -> Dav {
    let base = env("LABELSTORE_TEST_HTTP");
    let rest = base
        .strip_prefix("http://")
        .expect("LABELSTORE_TEST_HTTP is an http:// URL");
    let (userinfo, host) = rest.split_once('@').expect("credentials in the URL");
    let (user, password) = userinfo.split_once(':').expect("user:password");
    let host = host.split('/').next().expect("host");
    assert!(base.ends_with("/dav/"), "{base}");
    Dav {
        origin: format!("http://{host}"),
        user: user.to_owned(),
        password: password.to_owned(),
        base,
    }
}

impl Dav {
    /// The store URL for `path` under `/dav/`, credentials included.
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A GET through curl with the credentials; the body, or `None` on 404.
    fn get(&self, path: &str) -> Option<Vec<u8>> {
        let out = Command::new("curl")
            .args(["-sS", "-w", "\n%{http_code}", "-u"])
            .arg(format!("{}:{}", self.user, self.password))
            .arg(format!("{}/{path}", self.origin))
            .output()
            .expect("running curl (install curl)");
        assert!(out.status.success(), "curl {path}: {}", text(&out));
        let mut body = out.stdout;
        let nl = body.iter().rposition(|&b| b == b'\n').expect("status line");
        let code = String::from_utf8_lossy(&body[nl + 1..]).into_owned();
        body.truncate(nl);
        match code.as_str() {
            "200" => Some(body),
            "404" => None,
            c => panic!("GET {path}: status {c}"),
        }
    }

    /// Every object under `dir` (a path under the origin, ending in `/`),
    /// listed through nginx's JSON autoindex, fetched into `out`; returns
    /// the relative names.
    fn fetch_tree(&self, dir: &str, out: &Path) -> Vec<String> {
        fn walk(dav: &Dav, base: &str, rel: &str, out: &Path, names: &mut Vec<String>) {
            let Some(listing) = dav.get(&format!("{base}{rel}")) else {
                return;
            };
            let entries: Vec<serde_json::Value> =
                serde_json::from_slice(&listing).expect("autoindex JSON");
            for e in entries {
                let name = e["name"].as_str().expect("name");
                let path = format!("{rel}{name}");
                if e["type"] == "directory" {
                    walk(dav, base, &format!("{path}/"), out, names);
                } else {
                    let body = dav.get(&format!("{base}{path}")).expect("listed file");
                    assert_eq!(
                        Some(body.len() as u64),
                        e["size"].as_u64(),
                        "{path}: size in the listing"
                    );
                    let target = out.join(&path);
                    std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
                    std::fs::write(target, body).expect("write");
                    names.push(path);
                }
            }
        }
        let mut names = Vec::new();
        walk(self, dir, "", out, &mut names);
        names.sort();
        names
    }

    /// nginx's access log: `METHOD URI STATUS "CONTENT_TYPE"` lines.
    fn log(&self) -> Vec<(String, String, u16, String)> {
        let out = Command::new("curl")
            .args(["-sS", "--fail"])
            .arg(format!("{}/_log", self.origin))
            .output()
            .expect("running curl");
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut it = l.splitn(4, ' ');
                let method = it.next()?.to_owned();
                let uri = it.next()?.to_owned();
                let status = it.next()?.parse().ok()?;
                let ctype = it.next()?.trim_matches('"').to_owned();
                Some((method, uri, status, ctype))
            })
            .collect()
    }

    /// The log lines whose URI starts with `/dav/<prefix>`.
    fn log_under(&self, prefix: &str) -> Vec<(String, String, u16, String)> {
        let start = format!("/dav/{prefix}");
        self.log()
            .into_iter()
            .filter(|(_, uri, ..)| uri.starts_with(&start))
            .collect()
    }
}

fn store_to(url: &str, project: &str, formats: &str) -> Output {
    run(&[
        "store", project, "--to", "objstore", "--url", url, "--format", formats,
    ])
}

/// The example and the fixtures stored to nginx give, object for object,
/// the bytes of a local store; each object was PUT once with its
/// Content-Type; no request path has `//`, with or without a trailing `/`
/// on the URL; the password is never printed.
#[test]
fn http_stores_match_local_stores() {
    let dav = dav();
    let run_prefix = unique("stores");
    for (i, (name, project, formats)) in projects().into_iter().enumerate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let local = local_store(&project, formats, dir.path());
        let prefix = format!("{run_prefix}/{name}");
        // Half the stores name the folder with a trailing slash, half without.
        let url = if i % 2 == 0 {
            dav.url(&format!("{prefix}/"))
        } else {
            dav.url(&prefix)
        };
        let o = store_to(&url, &project.to_string_lossy(), formats);
        assert!(o.status.success(), "{name} to nginx: {}", text(&o));
        assert!(
            !text(&o).contains(&dav.password),
            "{name}: the password was printed: {}",
            text(&o)
        );
        assert!(
            text(&o).contains(&format!("{}/dav/{prefix}/", dav.origin)),
            "{name}: the target is not named: {}",
            text(&o)
        );
        let remote = dir.path().join("remote");
        dav.fetch_tree(&format!("dav/{prefix}/"), &remote);
        assert_same(&local, &remote, &format!("{name} (HTTP)"));

        let log = dav.log_under(&format!("{prefix}/"));
        let puts: BTreeMap<String, (u16, String)> = log
            .iter()
            .filter(|(m, ..)| m == "PUT")
            .map(|(_, uri, status, ctype)| {
                let rel = uri
                    .strip_prefix(&format!("/dav/{prefix}/"))
                    .expect("under the prefix");
                (rel.to_owned(), (*status, ctype.clone()))
            })
            .collect();
        let files = tree(&local);
        assert_eq!(
            puts.keys().collect::<Vec<_>>(),
            files.keys().collect::<Vec<_>>(),
            "{name}: PUT requests"
        );
        for (rel, (status, ctype)) in &puts {
            assert_eq!(*status, 201, "{name}: PUT {rel}");
            assert_eq!(
                ctype,
                sink_objstore::content_type(rel),
                "{name}: Content-Type of {rel}"
            );
        }
        assert_eq!(
            log.iter().filter(|(m, ..)| m == "PUT").count(),
            files.len(),
            "{name}: every object PUT exactly once"
        );
        let all = dav.log();
        let doubled: Vec<_> = all
            .iter()
            .filter(|(_, uri, ..)| uri.contains(&run_prefix) && uri.contains("//"))
            .collect();
        assert!(doubled.is_empty(), "{name}: `//` in {doubled:?}");
    }
}

/// The manifest goes up last, after the earlier store's manifest was
/// deleted first; storing again uploads every object again (an HTTP server
/// gives no checksum to skip by), and the result is still the local store.
#[test]
fn http_manifest_last_and_rerun_uploads_again() {
    let dav = dav();
    let prefix = unique("rerun");
    let dir = tempfile::tempdir().expect("tempdir");
    let local = local_store(Path::new(&harbour()), "json,yolo", dir.path());
    let files = tree(&local).len();
    for round in 1..=2 {
        let o = store_to(&dav.url(&prefix), &harbour(), "json,yolo");
        assert!(o.status.success(), "round {round}: {}", text(&o));
        let log = dav.log_under(&format!("{prefix}/"));
        let puts: Vec<&String> = log
            .iter()
            .filter(|(m, ..)| m == "PUT")
            .map(|(_, uri, ..)| uri)
            .collect();
        assert_eq!(puts.len(), round * files, "round {round}: PUTs {puts:?}");
        let manifest = format!("/dav/{prefix}/labelstore-manifest.json");
        assert_eq!(
            puts.last().map(|s| s.as_str()),
            Some(manifest.as_str()),
            "round {round}: the manifest is not the last PUT"
        );
        // Each round starts by deleting an earlier manifest.
        let this_round = &log[log
            .iter()
            .rposition(|(m, uri, ..)| m == "DELETE" && *uri == manifest)
            .expect("a DELETE of the manifest")..];
        assert_eq!(
            this_round.iter().filter(|(m, ..)| m == "PUT").count(),
            files,
            "round {round}: the DELETE of the old manifest came before the PUTs"
        );
        let remote = dir.path().join(format!("remote{round}"));
        dav.fetch_tree(&format!("dav/{prefix}/"), &remote);
        assert_same(&local, &remote, &format!("round {round}"));
    }
}

/// Every failing path exits 1 without the password: a server answering
/// 500 (retried, then given up), a stopped server, a wrong password (401),
/// and a plain HTTP server answering 404 to the PUT and to MKCOL, which is
/// reported as such. Nothing is left behind as a complete store.
#[test]
fn http_failures_exit_1_without_the_password() {
    let dav = dav();
    let host = dav.origin.strip_prefix("http://").expect("http origin");
    let creds = format!("{}:{}", dav.user, dav.password);
    let wrong = format!("{}x", dav.password);
    // A loopback port that nothing listens on (bound, then let go).
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let prefix = unique("fail");
    let cases = [
        (
            "500 forever",
            format!("http://{creds}@{host}/fail/{prefix}"),
        ),
        (
            "server down",
            format!("http://{creds}@127.0.0.1:{closed}/dav/{prefix}"),
        ),
        (
            "wrong password",
            format!("http://{}:{wrong}@{host}/dav/{prefix}", dav.user),
        ),
        ("no MKCOL", format!("http://{creds}@{host}/nodav/{prefix}")),
    ];
    for (what, url) in cases {
        let o = store_to(&url, &harbour(), "json,coco");
        let all = text(&o);
        assert_eq!(o.status.code(), Some(1), "{what}: {all}");
        assert!(
            !all.contains(&dav.password),
            "{what}: the password was printed: {all}"
        );
        assert!(!all.contains("<html>"), "{what}: an HTML page in {all}");
        match what {
            "500 forever" => {
                assert!(all.contains("500 Internal Server Error"), "{what}: {all}");
                // The first request (reading an earlier manifest) and its
                // five retries reached the server.
                let tries = dav
                    .log()
                    .iter()
                    .filter(|(_, uri, ..)| uri.starts_with(&format!("/fail/{prefix}/")))
                    .count();
                assert_eq!(tries, 6, "{what}: requests");
            }
            "server down" => assert!(all.contains("Connection refused"), "{what}: {all}"),
            "wrong password" => assert!(
                all.contains("access denied") && all.contains("401"),
                "{what}: {all}"
            ),
            _ => assert!(
                all.contains("404 Not Found") && all.contains("MKCOL"),
                "{what}: not reported as a server refusing MKCOL: {all}"
            ),
        }
    }
    assert!(
        dav.get(&format!("dav/{prefix}/")).is_none(),
        "objects were written"
    );
}

/// URLs that cannot name a store are usage errors (exit 2), with the
/// password masked.
#[test]
fn bad_http_urls_exit_2() {
    let cases: &[&[&str]] = &[
        &["--url", "http://u:SeCrEtPw@127.0.0.1:1/a//b"],
        &["--url", "http://u:SeCrEtPw@127.0.0.1:1/a?x=1"],
        &["--url", "http://u:SeCrEtPw@127.0.0.1:99999/a"],
        &["--url", "http://u:SeCrEtPw@127.0.0.1:1/tile%23"],
        &[
            "--url",
            "http://u:SeCrEtPw@127.0.0.1:1/a",
            "--endpoint",
            "http://x",
        ],
    ];
    for case in cases {
        let h = harbour();
        let mut args = vec!["store", &h, "--to", "objstore", "--format", "json"];
        args.extend_from_slice(case);
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{case:?}: {}", text(&o));
        assert!(!text(&o).contains("SeCrEtPw"), "{case:?}: {}", text(&o));
        assert!(text(&o).contains("<secret>"), "{case:?}: {}", text(&o));
    }
}

/// Through the library: an object above the multipart threshold goes up in
/// one PUT (HttpStore has no multipart) and arrives whole; the manifest
/// appears only at commit; an aborted store deletes what it uploaded.
#[test]
fn http_large_object_manifest_at_commit_and_abort() {
    let dav = dav();
    let prefix = unique("lib");
    let dir = tempfile::tempdir().expect("tempdir");
    let big = dir.path().join("big.json");
    let data = pseudo_random(3 << 20);
    std::fs::write(&big, &data).expect("write");
    let opts = || ObjStoreOptions {
        multipart_threshold: 1 << 20,
        ..ObjStoreOptions::default()
    };
    let rt = runtime();
    rt.block_on(async {
        let mut d = ObjStoreDestination::open_url(&dav.url(&format!("{prefix}/kept/")), opts())
            .expect("open");
        assert!(!d.describe().contains(&dav.password), "{}", d.describe());
        d.put("coco/big.json", Body::File(big.clone()))
            .await
            .expect("put");
        put(&mut d, "a/b.txt", b"hello").await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(
            dav.get(&format!("dav/{prefix}/kept/labelstore-manifest.json"))
                .is_none(),
            "the manifest is there before commit"
        );
        d.commit(Body::Bytes(b"{}".to_vec())).await.expect("commit");

        let mut d = ObjStoreDestination::open_url(&dav.url(&format!("{prefix}/aborted")), opts())
            .expect("open");
        put(&mut d, "x/one.txt", b"one").await;
        put(&mut d, "x/two.txt", b"two").await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        d.abort().await.expect("abort");
    });
    let out = dir.path().join("remote");
    let names = dav.fetch_tree(&format!("dav/{prefix}/"), &out);
    assert_eq!(
        names,
        [
            "kept/a/b.txt",
            "kept/coco/big.json",
            "kept/labelstore-manifest.json"
        ],
        "after commit and abort"
    );
    assert!(std::fs::read(out.join("kept/coco/big.json")).expect("big") == data);
    let log = dav.log_under(&format!("{prefix}/"));
    let big_puts = log
        .iter()
        .filter(|(m, uri, ..)| m == "PUT" && uri.ends_with("/coco/big.json"))
        .count();
    assert_eq!(big_puts, 1, "one PUT for the large object: {log:?}");
    for gone in ["x/one.txt", "x/two.txt"] {
        assert!(
            log.iter().any(|(m, uri, status, _)| m == "DELETE"
                && uri.ends_with(&format!("/aborted/{gone}"))
                && *status == 204),
            "{gone} was not deleted on abort: {log:?}"
        );
    }
}

/// A store on nginx reads back (`verify`, `fetch`) through labelstore's own
/// listing (PROPFIND, folder by folder), judged against curl: an object
/// deleted with curl is reported missing.
#[test]
fn http_store_verifies_and_fetches() {
    let dav = dav();
    let prefix = unique("readback");
    let url = dav.url(&prefix);
    let o = store_to(&url, &harbour(), "json,coco");
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["verify", "--from", "objstore", "--url", &url]);
    assert!(o.status.success(), "verify: {}", text(&o));
    assert!(!text(&o).contains(&dav.password), "{}", text(&o));
    let dir = tempfile::tempdir().expect("tempdir");
    let fetched = dir.path().join("fetched");
    let o = run(&[
        "fetch",
        "--from",
        "objstore",
        "--url",
        &url,
        "--output",
        &fetched.to_string_lossy(),
    ]);
    assert!(o.status.success(), "fetch: {}", text(&o));
    let remote = dir.path().join("remote");
    dav.fetch_tree(&format!("dav/{prefix}/"), &remote);
    let project = tree(&fetched);
    assert_eq!(
        project.get("project.json"),
        tree(&remote).get("project.json"),
        "the fetched project.json is the stored one"
    );
    let out = Command::new("curl")
        .args(["-sS", "--fail", "-X", "DELETE", "-u"])
        .arg(format!("{}:{}", dav.user, dav.password))
        .arg(format!(
            "{}/dav/{prefix}/coco/annotations/instances_train.json",
            dav.origin
        ))
        .output()
        .expect("curl");
    assert!(out.status.success(), "DELETE: {}", text(&out));
    let o = run(&["verify", "--from", "objstore", "--url", &url]);
    assert_eq!(o.status.code(), Some(1), "verify: {}", text(&o));
    assert!(
        text(&o).contains("missing: coco/annotations/instances_train.json"),
        "{}",
        text(&o)
    );
}
