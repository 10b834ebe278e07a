//! Stopping the S3 server in the middle of a store (issue #8): the store
//! exits with status 1 and leaves no completion manifest; with the server
//! started again on the same port and folder, the same store run again
//! completes, byte for byte the local store, and uploads only what was
//! missing (the PUTs counted in the server's own log).
//!
//! The server is `s3s-fs` (it keeps objects as files, so they outlive a
//! restart, which moto's in-memory server does not), found through
//! `LABELSTORE_S3S_FS` (`cargo xtask test` installs it). This test starts,
//! kills and restarts its own instance, with credentials made up for the
//! run, which must never show in labelstore's output.

mod common;

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{assert_same, aws_env, env, labelstore, local_store, root, text, tree};

/// Made-up credentials for this run.
struct Credentials {
    key: String,
    secret: String,
}

impl Credentials {
    fn new() -> Credentials {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let pid = std::process::id();
        Credentials {
            key: format!("LSKEY{pid:x}{nanos:x}"),
            secret: format!("LsSecret{nanos:x}x{pid:x}"),
        }
    }

    /// The environment of a client (labelstore, boto3): these credentials,
    /// no proxy, no other AWS settings.
    fn client_env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        aws_env(cmd, &self.key, &self.secret)
    }
}

/// One `s3s-fs` process: `data` served on 127.0.0.1:`port`, requests logged
/// to `log`. Killed on drop.
struct Server {
    child: Child,
}

impl Server {
    fn start(port: u16, data: &Path, log: &Path, creds: &Credentials) -> Server {
        let log = std::fs::File::create(log).expect("create the server log");
        let child = Command::new(env("LABELSTORE_S3S_FS"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", &creds.key, "--secret-key", &creds.secret])
            .arg(data)
            // One "checked access, op: <Operation>" line per authenticated
            // request.
            .env("RUST_LOG", "s3s::ops=debug")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("starting s3s-fs");
        let mut server = Server { child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = server.child.try_wait().expect("try_wait") {
                panic!("s3s-fs exited before listening on port {port} ({status})");
            }
            assert!(
                Instant::now() < deadline,
                "s3s-fs did not listen on port {port} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How many requests of S3 operation `op` the server let through.
fn requests(log: &Path, op: &str) -> usize {
    let text = std::fs::read_to_string(log).expect("read the server log");
    let needle = format!("checked access, op: {op},");
    text.lines().filter(|l| l.contains(&needle)).count()
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// The outside judge: boto3, with the credentials from the environment.
const JUDGE: &str = r#"
import boto3, json, os, sys
c = boto3.client("s3", endpoint_url=sys.argv[2], region_name="us-east-1")
if sys.argv[1] == "mkbucket":
    c.create_bucket(Bucket=sys.argv[3])
    print("[]")
else:
    bucket, prefix, out = sys.argv[3:6]
    names = []
    for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            name = o["Key"][len(prefix):]
            path = os.path.join(out, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(c.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())
            names.append(name)
    print(json.dumps(names))
"#;

fn judge(creds: &Credentials, args: &[&str]) -> Vec<String> {
    let out = creds
        .client_env(&mut Command::new(env("LABELSTORE_PYTHON")))
        .args(["-c", JUDGE])
        .args(args)
        .output()
        .expect("running the boto3 judge");
    assert!(
        out.status.success(),
        "boto3 {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the judge prints JSON")
}

/// How many files are under `dir` (0 when it does not exist yet).
fn count_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| {
            let p = e.path();
            if p.is_dir() { count_files(&p) } else { 1 }
        })
        .sum()
}

/// A project of `n` labeled chips, all copies of one small PNG.
fn big_project(dir: &Path, n: usize) {
    let png = root().join("tests/fixtures/detection-basic/chips/a.png");
    std::fs::create_dir_all(dir.join("chips")).expect("mkdir");
    let mut chips = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("chips/c{i}.png");
        std::fs::copy(&png, dir.join(&name)).expect("copy the chip");
        chips.push(serde_json::json!({
            "id": format!("c{i}"), "image": name,
            "labels": [{"class": "ship", "bbox": [1, 1, 20, 20 + i % 7]}]
        }));
    }
    let project = serde_json::json!({
        "labelstore": 1, "name": "big", "labeling_type": "object_detection",
        "classes": [{"id": 1, "name": "ship"}], "chips": chips
    });
    std::fs::write(dir.join("project.json"), project.to_string()).expect("write");
}

const FORMATS: &str = "json,coco,yolo";
const MANIFEST: &str = "labelstore-manifest.json";

fn store_args(project: &Path, url: &str, endpoint: &str) -> Vec<String> {
    [
        "store",
        &project.to_string_lossy(),
        "--to",
        "objstore",
        "--url",
        url,
        "--endpoint",
        endpoint,
        "--format",
        FORMATS,
        "--concurrency",
        "1",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// Fails when either credential shows in `o`'s output (the message itself
/// does not show them either).
fn assert_no_credentials(o: &Output, creds: &Credentials, what: &str) {
    let all = text(o);
    assert!(
        !all.contains(&creds.secret),
        "{what}: the secret key was printed"
    );
    assert!(
        !all.contains(&creds.key),
        "{what}: the access key id was printed"
    );
}

#[test]
fn s3_server_stopped_midway_then_restarted_resumes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let project = tmp.path().join("project");
    big_project(&project, 200);
    let creds = Credentials::new();

    // The reference: a local store of the same project.
    let local_dir = local_store(&project, FORMATS, tmp.path());
    let local = tree(&local_dir);
    assert!(
        local.contains_key(MANIFEST),
        "the local store has no manifest"
    );

    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let (bucket, prefix) = ("resume", "store/");
    let url = format!("s3://{bucket}/{prefix}");
    let objects = data.join(bucket).join(prefix);
    let args = store_args(&project, &url, &endpoint);

    // First run: the server is killed once some objects are there.
    let first_log = tmp.path().join("s3s-fs-1.log");
    let mut server = Server::start(port, &data, &first_log, &creds);
    judge(&creds, &["mkbucket", &endpoint, bucket]);
    let mut child = creds
        .client_env(&mut Command::new(labelstore()))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running labelstore");
    let deadline = Instant::now() + Duration::from_secs(120);
    while count_files(&objects) < 40 {
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("the store ended ({status}) before the server could be stopped");
        }
        assert!(Instant::now() < deadline, "no objects arrived within 2 min");
        std::thread::sleep(Duration::from_millis(2));
    }
    server.kill();
    let first = child.wait_with_output().expect("waiting for labelstore");
    assert_eq!(first.status.code(), Some(1), "first run: {}", text(&first));
    assert_no_credentials(&first, &creds, "first run");
    assert!(
        String::from_utf8_lossy(&first.stderr).contains("cannot upload"),
        "first run: {}",
        text(&first)
    );
    assert!(
        !objects.join(MANIFEST).exists(),
        "a manifest was written by the interrupted store"
    );

    // Restarted on the same port and folder: what the server shows is what
    // the first run left, each object whole, and no manifest.
    let second_log = tmp.path().join("s3s-fs-2.log");
    let _server = Server::start(port, &data, &second_log, &creds);
    let left_dir = tmp.path().join("left");
    let left_names = judge(
        &creds,
        &[
            "fetch",
            &endpoint,
            bucket,
            prefix,
            &left_dir.to_string_lossy(),
        ],
    );
    let left = tree(&left_dir);
    assert_eq!(left_names.len(), left.len(), "{left_names:?}");
    assert!(!left.contains_key(MANIFEST), "{left_names:?}");
    assert!(
        !left.is_empty() && left.len() < local.len(),
        "the first run left {} of {} objects: not stopped midway",
        left.len(),
        local.len()
    );
    for (name, bytes) in &left {
        assert!(
            local.get(name) == Some(bytes),
            "{name}, left by the interrupted store, is not the local store's"
        );
    }

    // Second run: completes, uploading only the missing objects.
    let second = creds
        .client_env(&mut Command::new(labelstore()))
        .args(&args)
        .output()
        .expect("running labelstore");
    assert!(second.status.success(), "second run: {}", text(&second));
    assert_no_credentials(&second, &creds, "second run");
    let remote_dir = tmp.path().join("remote");
    judge(
        &creds,
        &[
            "fetch",
            &endpoint,
            bucket,
            prefix,
            &remote_dir.to_string_lossy(),
        ],
    );
    assert_same(&local_dir, &remote_dir, "second run");
    let puts = requests(&second_log, "PutObject");
    assert_eq!(
        puts,
        local.len() - left.len(),
        "PUTs of the second run: {} objects in all, {} already there",
        local.len(),
        left.len()
    );
    assert_eq!(requests(&second_log, "CopyObject"), 0);
}
