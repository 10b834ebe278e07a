//! `fetch` reads only what `verify` trusts: files the store manifest lists,
//! at safe paths inside the store. A hand-tampered store is refused with
//! exit status 2 naming the path, and nothing is written.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::util::{root, run, stderr, stdout};

/// A local store of the example project in `json`, at `tmp/s/store`.
fn stored(tmp: &Path) -> PathBuf {
    stored_from(tmp, &root().join("examples/harbour"))
}

/// A local store of `project` in `json`, at `tmp/s/store`.
fn stored_from(tmp: &Path, project: &Path) -> PathBuf {
    let store = tmp.join("s/store");
    let o = run(&[
        "store".as_ref(),
        project.as_os_str(),
        "--to".as_ref(),
        "local".as_ref(),
        "--path".as_ref(),
        store.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    store
}

/// Replaces `from` by `to` in the store's file `name`.
fn edit(store: &Path, name: &str, from: &str, to: &str) {
    let path = store.join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from:?} not in {name}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// `fetch --from local` of `store` into `out`.
fn fetch(store: &Path, out: &Path) -> Output {
    run(&[
        "fetch".as_ref(),
        "--from".as_ref(),
        "local".as_ref(),
        "--path".as_ref(),
        store.as_os_str(),
        "--output".as_ref(),
        out.as_os_str(),
    ])
}

/// `fetch` of `store` into `out` exits 2 saying each of `says`, and
/// creates nothing there.
fn refused(store: &Path, out: &Path, says: &[&str]) -> String {
    let o = fetch(store, out);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{}{err}", stdout(&o));
    for s in says {
        assert!(err.contains(s), "{s:?} not in {err}");
    }
    assert!(!out.exists(), "{} was created", out.display());
    let beside: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("labelstore"))
        .collect();
    assert!(beside.is_empty(), "left beside the output: {beside:?}");
    err
}

#[test]
fn fetch_refuses_a_project_naming_a_file_outside_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let store = stored(tmp.path());
    // A secret beside the store, and the store's project.json pointing at it.
    std::fs::create_dir_all(tmp.path().join("outside")).unwrap();
    // A real PNG: main copied it into the fetched project.
    let secret = std::fs::read(root().join("examples/harbour/chips/r0_c0.png")).unwrap();
    std::fs::write(tmp.path().join("outside/secret.png"), &secret).unwrap();
    edit(
        &store,
        "project.json",
        "\"image\": \"chips/r0_c0.tif\"",
        "\"image\": \"../../outside/secret.png\"",
    );
    let out = tmp.path().join("fetched");
    refused(
        &store,
        &out,
        &[
            "\"../../outside/secret.png\" lies outside the store",
            "r0_c0",
            "chips[0].image",
        ],
    );

    // An absolute path, a world file and a mask outside are refused alike.
    let abs = tmp.path().join("outside/secret.png");
    edit(
        &store,
        "project.json",
        "\"image\": \"../../outside/secret.png\"",
        &format!("\"image\": {:?}", abs.to_str().unwrap()),
    );
    refused(
        &store,
        &out,
        &[abs.to_str().unwrap(), "chips[0].image", "outside the store"],
    );
    edit(
        &store,
        "project.json",
        &format!("\"image\": {:?}", abs.to_str().unwrap()),
        "\"image\": \"chips/r0_c0.tif\", \"world_file\": \"../../outside/secret.png\"",
    );
    refused(
        &store,
        &out,
        &[
            "chips[0].world_file",
            "outside/secret.png",
            "outside the store",
        ],
    );
}

#[test]
fn fetch_refuses_a_manifest_listing_an_unsafe_path_as_verify_does() {
    for bad in ["../x", "/etc/passwd", "chips/../../x"] {
        let tmp = tempfile::tempdir().unwrap();
        let store = stored(tmp.path());
        edit(
            &store,
            "labelstore-manifest.json",
            "{\"path\":\"chips/r0_c1.tif\"",
            &format!("{{\"path\":{bad:?}"),
        );
        let o = run(&[
            "verify".as_ref(),
            "--from".as_ref(),
            "local".as_ref(),
            "--path".as_ref(),
            store.as_os_str(),
        ]);
        assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
        assert!(stdout(&o).contains(&format!("unsafe path in the manifest: {bad}")));
        refused(&store, &tmp.path().join("fetched"), &[bad, "unsafe path"]);
    }
}

#[test]
fn fetch_refuses_a_file_in_the_store_folder_that_the_manifest_does_not_list() {
    let tmp = tempfile::tempdir().unwrap();
    let store = stored(tmp.path());
    // Named by the project: refused naming the chip and the field.
    std::fs::copy(
        store.join("chips/r0_c1.tif"),
        store.join("chips/slipped.tif"),
    )
    .unwrap();
    edit(
        &store,
        "project.json",
        "\"image\": \"chips/r0_c1.tif\"",
        "\"image\": \"chips/slipped.tif\"",
    );
    let out = tmp.path().join("fetched");
    refused(
        &store,
        &out,
        &[
            "chips/slipped.tif",
            "r0_c1",
            "chips[1].image",
            "labelstore-manifest.json",
        ],
    );
    // Named by nobody (a world file beside a chip, which the resolver
    // would take): refused too.
    edit(
        &store,
        "project.json",
        "\"image\": \"chips/slipped.tif\"",
        "\"image\": \"chips/r0_c1.tif\"",
    );
    std::fs::remove_file(store.join("chips/slipped.tif")).unwrap();
    std::fs::write(store.join("chips/r0_c2.tfw"), "1\n0\n0\n-1\n0\n0\n").unwrap();
    refused(&store, &out, &["chips/r0_c2.tfw"]);
    // Without it, the same store fetches.
    std::fs::remove_file(store.join("chips/r0_c2.tfw")).unwrap();
    let o = fetch(&store, &out);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(out.join("chips/r0_c1.tif").is_file());
}

#[test]
fn fetch_follows_no_symbolic_link_in_a_store() {
    let tmp = tempfile::tempdir().unwrap();
    let store = stored(tmp.path());
    let secret = tmp.path().join("secret.tif");
    std::fs::rename(store.join("chips/r0_c0.tif"), &secret).unwrap();
    std::os::unix::fs::symlink(&secret, store.join("chips/r0_c0.tif")).unwrap();
    refused(
        &store,
        &tmp.path().join("fetched"),
        &["chips/r0_c0.tif", "symbolic link"],
    );
}

// The same from an object store and a database (the loopback servers of
// `cargo xtask test`): the store is brought into a scratch folder beside
// the output, and a project naming `../../outside/secret.bmp` from there
// points beside the output's parent.

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: this test needs the loopback servers of `cargo xtask test`")
    })
}

/// A name unique to this run.
fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{tag}{nanos:x}")
}

/// Uploads a local store to `s3://bucket/prefix/` after sealing it again:
/// each manifest entry gets the size and SHA-256 of its file as it is now
/// (a tampered file then passes the checksums, as a careful attacker's
/// would).
const UPLOAD: &str = r#"
import sys, os, re, hashlib, boto3
endpoint, bucket, prefix, root = sys.argv[1:5]
c = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test")
c.create_bucket(Bucket=bucket)
m = os.path.join(root, "labelstore-manifest.json")
def seal(match):
    p = os.path.join(root, match.group(1))
    if not os.path.isfile(p):
        return match.group(0)
    b = open(p, "rb").read()
    return '{"path":"%s","size":%d,"sha256":"%s"}' % (match.group(1), len(b), hashlib.sha256(b).hexdigest())
text = re.sub(r'\{"path":"([^"]*)","size":\d+,"sha256":"[0-9a-f]*"\}', seal, open(m).read())
open(m, "w").write(text)
for d, _, files in os.walk(root):
    for f in files:
        p = os.path.join(d, f)
        c.put_object(Bucket=bucket, Key=prefix + "/" + os.path.relpath(p, root), Body=open(p, "rb").read())
"#;

/// A local store of detection-basic whose project names a secret beside
/// `tmp/a`, the parent of the output `tmp/a/out`.
fn tampered(tmp: &Path) -> PathBuf {
    let store = stored_from(tmp, &root().join("tests/fixtures/detection-basic"));
    std::fs::create_dir_all(tmp.join("outside")).unwrap();
    std::fs::copy(store.join("chips/g.bmp"), tmp.join("outside/secret.bmp")).unwrap();
    edit(
        &store,
        "project.json",
        "\"image\": \"chips/g.bmp\"",
        "\"image\": \"../../outside/secret.bmp\"",
    );
    std::fs::create_dir_all(tmp.join("a")).unwrap();
    store
}

/// Runs `labelstore` with the loopback S3 server's credentials.
fn remote(args: &[&str]) -> Output {
    crate::util::labelstore()
        .envs([
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ])
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .args(args)
        .output()
        .unwrap()
}

/// `fetch` with `source` into `tmp/a/out` exits 2 saying each of `says`;
/// no output, no scratch folder left.
fn remote_refused(tmp: &Path, source: &[&str], says: &[&str]) {
    let out = tmp.join("a/out");
    let mut args = vec!["fetch", "--output", out.to_str().unwrap()];
    args.extend(source);
    let o = remote(&args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{}{err}", stdout(&o));
    for s in says {
        assert!(err.contains(s), "{s:?} not in {err}");
    }
    let left: Vec<_> = std::fs::read_dir(tmp.join("a")).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn fetch_from_an_object_store_trusts_only_the_manifest() {
    let endpoint = env("LABELSTORE_TEST_S3");
    let tmp = tempfile::tempdir().unwrap();
    let store = tampered(tmp.path());
    let bucket = unique("trust-");
    let upload = |prefix: &str| {
        let o = std::process::Command::new(env("LABELSTORE_PYTHON"))
            .args(["-c", UPLOAD, &endpoint, &bucket, prefix])
            .arg(&store)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    };
    upload("outside");
    let url = format!("s3://{bucket}/outside");
    let source = ["--from", "objstore", "--url", &url, "--endpoint", &endpoint];
    remote_refused(
        tmp.path(),
        &source,
        &["../../outside/secret.bmp", "chip \"g\"", "chips[4].image"],
    );

    // A manifest listing an unsafe path.
    edit(
        &store,
        "labelstore-manifest.json",
        "{\"path\":\"chips/a.tif\"",
        "{\"path\":\"../a.tif\"",
    );
    upload("unsafe");
    let url = format!("s3://{bucket}/unsafe");
    let source = ["--from", "objstore", "--url", &url, "--endpoint", &endpoint];
    remote_refused(tmp.path(), &source, &["unsafe path \"../a.tif\""]);
}

/// Runs `sql` through psql on the test database.
fn psql(sql: &str) {
    let o = std::process::Command::new("psql")
        .arg(env("LABELSTORE_TEST_PG"))
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .unwrap();
    assert!(o.status.success(), "psql {sql}: {}", stderr(&o));
}

#[test]
fn fetch_from_a_database_trusts_only_the_manifest() {
    let pg = env("LABELSTORE_TEST_PG");
    let tmp = tempfile::tempdir().unwrap();
    let table = unique("trust_");
    let o = remote(&[
        "store",
        root()
            .join("tests/fixtures/detection-basic")
            .to_str()
            .unwrap(),
        "--to",
        "db",
        "--connection",
        &pg,
        "--table",
        &table,
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    std::fs::create_dir_all(tmp.path().join("outside")).unwrap();
    std::fs::copy(
        root().join("tests/fixtures/detection-basic/chips/g.bmp"),
        tmp.path().join("outside/secret.bmp"),
    )
    .unwrap();
    std::fs::create_dir_all(tmp.path().join("a")).unwrap();
    // The stored project.json names the secret, and the stored manifest is
    // sealed again over it.
    let files = format!("{table}_files");
    psql(&format!(
        "UPDATE {files} SET data = convert_to(replace(convert_from(data, 'UTF8'), \
         '\"image\": \"chips/g.bmp\"', '\"image\": \"../../outside/secret.bmp\"'), 'UTF8') \
         WHERE path = 'project.json'"
    ));
    psql(&format!(
        "UPDATE {files} m SET data = convert_to(regexp_replace(convert_from(m.data, 'UTF8'), \
         '\\{{\"path\":\"project.json\",\"size\":[0-9]+,\"sha256\":\"[0-9a-f]+\"\\}}', \
         '{{\"path\":\"project.json\",\"size\":' || length(p.data) || ',\"sha256\":\"' || \
         encode(sha256(p.data), 'hex') || '\"}}'), 'UTF8') \
         FROM {files} p WHERE m.path = 'labelstore-manifest.json' AND p.path = 'project.json' \
         AND p.project = m.project"
    ));
    let source = ["--from", "db", "--connection", &pg, "--table", &table];
    remote_refused(
        tmp.path(),
        &source,
        &["../../outside/secret.bmp", "chip \"g\"", "chips[4].image"],
    );
}
