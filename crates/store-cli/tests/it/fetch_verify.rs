//! `fetch` and `verify` from the object store (moto's S3 server, the PAR
//! emulator) and from PostgreSQL/PostGIS, against the servers `cargo xtask
//! test` starts (`LABELSTORE_TEST_S3`, `LABELSTORE_TEST_PAR`,
//! `LABELSTORE_TEST_PG`). Outside judges: gdalinfo/gdal_translate for the
//! chips, boto3 and plain HTTP to damage objects, psql to damage rows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::{self, root, snapshot, stderr, stdout};

pub(crate) fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: these tests need the loopback servers that \
             `cargo xtask test` starts (or `cargo xtask serve FILE`, then `. FILE`)"
        )
    })
}

/// A name unique to this run.
pub(crate) fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{tag}_{nanos:x}")
}

/// Runs `labelstore` with `args` against the loopback servers: moto's
/// credentials, no proxy, COCO's `date_created` fixed.
fn labelstore(args: &[&str]) -> Output {
    labelstore_env(args, &[("SOURCE_DATE_EPOCH", "1767225600")])
}

pub(crate) fn ok(o: &Output) {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

/// Runs the venv's Python on `script` with `args`.
pub(crate) fn python(script: &str, args: &[&str]) -> String {
    let o = Command::new(env("LABELSTORE_PYTHON"))
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "python: {}", stderr(&o));
    stdout(&o)
}

pub(crate) const S3: &str = r#"
import sys, boto3
c = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test")
op, bucket = sys.argv[2], sys.argv[3]
if op == "mkbucket":
    c.create_bucket(Bucket=bucket)
elif op == "delete":
    c.delete_object(Bucket=bucket, Key=sys.argv[4])
elif op == "truncate":
    b = c.get_object(Bucket=bucket, Key=sys.argv[4])["Body"].read()
    c.put_object(Bucket=bucket, Key=sys.argv[4], Body=b[: len(b) // 2])
elif op == "flip":
    b = bytearray(c.get_object(Bucket=bucket, Key=sys.argv[4])["Body"].read())
    b[len(b) // 2] ^= 0x01
    c.put_object(Bucket=bucket, Key=sys.argv[4], Body=bytes(b))
elif op == "copy":
    b = c.get_object(Bucket=bucket, Key=sys.argv[4])["Body"].read()
    c.put_object(Bucket=bucket, Key=sys.argv[5], Body=b)
"#;

const PAR: &str = r#"
import sys, urllib.request
par, op, name = sys.argv[1], sys.argv[2], sys.argv[3]
b = bytearray(urllib.request.urlopen(par + name).read())
if op == "flip":
    b[len(b) // 2] ^= 0x01
    to = name
else:
    to = sys.argv[4]
req = urllib.request.Request(par + to, data=bytes(b), method="PUT",
                             headers={"Content-Type": "image/tiff"})
urllib.request.urlopen(req).read()
"#;

/// Runs `sql` through psql on the test database; its output, unaligned.
pub(crate) fn psql(sql: &str) -> String {
    let o = Command::new("psql")
        .arg(env("LABELSTORE_TEST_PG"))
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .unwrap();
    assert!(o.status.success(), "psql {sql}: {}", stderr(&o));
    stdout(&o).trim().to_owned()
}

/// The projects of the round trips, each with a format that fits it.
/// (A semantic-segmentation store fetches back as a mask store, which
/// `store` does not take as a project: see the report of issue #9.)
fn projects() -> Vec<(PathBuf, &'static str)> {
    vec![
        (root().join("examples/harbour"), "coco"),
        (root().join("tests/fixtures/detection-basic"), "json"),
        (root().join("tests/fixtures/instance-polygons"), "json"),
    ]
}

/// The database round trips: each project in every format that fits it,
/// `coco` last (the rows that stay for the damage checks).
fn db_projects() -> Vec<(PathBuf, Vec<&'static str>)> {
    vec![
        (
            root().join("examples/harbour"),
            vec!["voc", "yolo", "json", "coco"],
        ),
        (
            root().join("tests/fixtures/detection-basic"),
            vec!["voc", "yolo", "json", "coco"],
        ),
        (
            root().join("tests/fixtures/instance-polygons"),
            vec!["json", "coco"],
        ),
    ]
}

fn store_local(project: &Path, to: &Path, format: &str) {
    ok(&labelstore(&[
        "store",
        project.to_str().unwrap(),
        "--to",
        "local",
        "--path",
        to.to_str().unwrap(),
        "--format",
        format,
    ]));
}

fn store_db(project: &Path, connection: &str, table: &str, format: &str) {
    ok(&labelstore(&[
        "store",
        project.to_str().unwrap(),
        "--to",
        "db",
        "--connection",
        connection,
        "--table",
        table,
        "--format",
        format,
    ]));
}

fn fetch(source: &[&str], out: &Path) -> Output {
    let mut args = vec!["fetch"];
    args.extend_from_slice(source);
    args.extend(["--output", out.to_str().unwrap()]);
    labelstore(&args)
}

fn verify(source: &[&str]) -> Output {
    let mut args = vec!["verify"];
    args.extend_from_slice(source);
    labelstore(&args)
}

/// The source arguments `--from KIND ARGS...`.
fn source<'a>(kind: &'a str, args: &'a [String]) -> Vec<&'a str> {
    ["--from", kind]
        .into_iter()
        .chain(args.iter().map(String::as_str))
        .collect()
}

/// `verify` of a damaged store: exit 1, a report starting with `summary`
/// that names each of `problems`.
fn verify_finds(source: &[&str], summary: &str, problems: &[&str]) {
    let o = verify(source);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    for expected in problems {
        assert!(out.contains(expected), "{expected:?} not in:\n{out}");
    }
    assert!(out.starts_with(summary), "{out}");
}

/// `fetch` of a damaged store stops at the damage: exit 1, a message
/// holding each of `says`, and no project written to `out`.
fn fetch_stops(source: &[&str], out: &Path, says: &[&str]) {
    let o = fetch(source, out);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    for s in says {
        assert!(stderr(&o).contains(s), "{}", stderr(&o));
    }
    assert!(!out.join("project.json").exists());
}

/// Both `fetch` and `verify` of `source` exit 1 saying `says`, and
/// neither shows any of `secrets`.
fn both_fail(source: &[&str], out: &Path, says: &str, secrets: &[&str]) {
    for o in [fetch(source, out), verify(source)] {
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let all = stdout(&o) + &stderr(&o);
        assert!(stderr(&o).contains(says), "{says:?} not in {all}");
        for secret in secrets {
            assert!(!all.contains(secret), "a secret leaked: {all}");
        }
    }
}

/// What GDAL reads from a chip: size, bands (type and every pixel value,
/// as raw bytes), geotransform and CRS (as WKT).
#[derive(Debug, PartialEq)]
struct Judged {
    size: serde_json::Value,
    types: Vec<String>,
    geotransform: Option<Vec<f64>>,
    crs: Option<String>,
    pixels: Vec<u8>,
}

fn judge(chip: &Path, tmp: &Path) -> Judged {
    let o = Command::new("gdalinfo")
        .args(["-json", chip.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "gdalinfo {}: {}",
        chip.display(),
        stderr(&o)
    );
    let info: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // The pixels, raw: through a VRT without its geotransform (ENVI output
    // refuses rotated ones).
    let vrt = tmp.join("pixels.vrt");
    let raw = tmp.join("pixels.raw");
    let o = Command::new("gdal_translate")
        .args(["-q", "-of", "VRT"])
        .arg(chip)
        .arg(&vrt)
        .output()
        .unwrap();
    assert!(o.status.success(), "gdal_translate: {}", stderr(&o));
    let text = std::fs::read_to_string(&vrt).unwrap();
    let plain: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("<GeoTransform>"))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&vrt, plain).unwrap();
    let o = Command::new("gdal_translate")
        .args(["-q", "-of", "ENVI", "-co", "INTERLEAVE=BSQ"])
        .arg(&vrt)
        .arg(&raw)
        .output()
        .unwrap();
    assert!(o.status.success(), "gdal_translate: {}", stderr(&o));
    Judged {
        size: info["size"].clone(),
        types: info["bands"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["type"].as_str().unwrap().to_owned())
            .collect(),
        geotransform: info.get("geoTransform").map(|g| {
            g.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        }),
        // The CRS by its EPSG code (the last ID of the WKT): GDAL words the
        // same CRS differently when a GeoTIFF carries more keys.
        crs: info
            .pointer("/coordinateSystem/wkt")
            .and_then(|w| w.as_str())
            .filter(|w| !w.is_empty())
            .map(|w| w.rsplit("ID[").next().unwrap_or(w).to_owned()),
        pixels: std::fs::read(&raw).unwrap(),
    }
}

fn is_image(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    [".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif", ".bmp"]
        .iter()
        .any(|e| lower.ends_with(e))
}

/// Compares a direct local store with the store of a fetched project:
/// the same files, label files identical; chips identical in
/// bytes, except (unless `bytes`) GeoTIFF chips (`.tif`), which come back
/// from the database's rasters and are compared as GDAL reads them: same
/// size, band types, geotransform, CRS and pixels (a chip that was a JPEG
/// may differ by up to two levels: PostGIS holds what sink-db's JPEG
/// decoder, zune-jpeg, gives, and GDAL's libjpeg rounds a few pixels
/// otherwise; the fetched chip holds the raster's pixels exactly). Every
/// file keeps its path: nothing is renamed by a round trip.
fn compare(direct: &Path, again: &Path, bytes: bool, tmp: &Path) {
    let (a, b) = (snapshot(direct), snapshot(again));
    let paths = |s: &BTreeMap<String, Vec<u8>>| -> Vec<String> {
        s.keys()
            .filter(|p| !p.ends_with('/') && *p != "labelstore-manifest.json")
            .cloned()
            .collect()
    };
    assert_eq!(
        paths(&a),
        paths(&b),
        "the round trip stores other files than a direct store"
    );
    for path in paths(&a) {
        let geotiff = is_image(&path) && !path.contains("masks/") && path.ends_with(".tif");
        if bytes || !geotiff {
            assert!(
                a[&path] == b[&path],
                "{path} differs after the round trip:\n{}\n---\n{}",
                String::from_utf8_lossy(&a[&path]),
                String::from_utf8_lossy(&b[&path])
            );
            continue;
        }
        let (ja, jb) = (
            judge(&direct.join(&path), tmp),
            judge(&again.join(&path), tmp),
        );
        assert_eq!(
            (&ja.size, &ja.types, &ja.geotransform, &ja.crs),
            (&jb.size, &jb.types, &jb.geotransform, &jb.crs),
            "{path}: size, band types or georeferencing differ after the round trip"
        );
        assert_eq!(ja.pixels.len(), jb.pixels.len(), "{path}");
        let worst = ja
            .pixels
            .iter()
            .zip(&jb.pixels)
            .map(|(x, y)| x.abs_diff(*y))
            .max()
            .unwrap_or(0);
        let was_jpeg = std::fs::read(direct.join(&path))
            .unwrap()
            .windows(3)
            .any(|w| w == [0xFF, 0xD8, 0xFF]);
        let allowed = if was_jpeg { 2 } else { 0 };
        assert!(
            worst <= allowed,
            "{path}: pixels differ by up to {worst} after the round trip"
        );
    }
}

/// Store each project to the object store (`dest` gives the arguments for
/// a name), fetch it back, store the fetched project locally, compare.
fn objstore_round_trip(tmp: &Path, dest: &dyn Fn(&str) -> Vec<String>, tag: &str) {
    for (i, (project, format)) in projects().into_iter().enumerate() {
        let name = format!("{tag}{i}");
        let direct = tmp.join(format!("{name}-direct"));
        store_local(&project, &direct, format);
        let args = dest(&name);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut store = vec!["store", project.to_str().unwrap(), "--to", "objstore"];
        store.extend(&args);
        store.extend(["--format", format]);
        ok(&labelstore(&store));
        let mut from = vec!["--from", "objstore"];
        from.extend(&args);
        let o = verify(&from);
        ok(&o);
        assert!(stdout(&o).starts_with("whole: "), "{}", stdout(&o));
        let fetched = tmp.join(format!("{name}-fetched"));
        ok(&fetch(&from, &fetched));
        let again = tmp.join(format!("{name}-again"));
        store_local(&fetched, &again, format);
        compare(&direct, &again, true, tmp);
    }
}

/// `labelstore` against the loopback servers, with extra environment.
pub(crate) fn labelstore_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = util::labelstore();
    for name in [
        "AWS_CA_BUNDLE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
    ] {
        cmd.env_remove(name);
    }
    cmd.envs([
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ])
    .envs(env.iter().copied())
    .args(args)
    .output()
    .unwrap()
}

#[test]
fn s3_is_configured_by_the_environment_alone() {
    let endpoint = env("LABELSTORE_TEST_S3");
    let bucket = unique("env").replace('_', "-");
    python(S3, &[&endpoint, "mkbucket", &bucket]);
    let harbour = root().join("examples/harbour");
    let project = harbour.to_str().unwrap();
    // Nothing listens on port 9 (discard) of the loopback.
    let dead = "http://127.0.0.1:9";
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<&'a str>);
    let cases: [Case<'_>; 4] = [
        (
            "endpoint-url",
            vec![("AWS_ENDPOINT_URL", &endpoint), ("AWS_ALLOW_HTTP", "true")],
            vec![],
        ),
        // The S3-specific variable wins over the general one.
        (
            "endpoint-url-s3",
            vec![
                ("AWS_ENDPOINT_URL", dead),
                ("AWS_ENDPOINT_URL_S3", &endpoint),
                ("AWS_ALLOW_HTTP", "true"),
            ],
            vec![],
        ),
        // An http:// endpoint from the environment allows plain HTTP, as
        // one given with --endpoint does.
        (
            "implied-http",
            vec![("AWS_ENDPOINT_URL_S3", &endpoint)],
            vec![],
        ),
        // And --endpoint wins over the environment.
        (
            "flag",
            vec![("AWS_ENDPOINT_URL_S3", dead), ("AWS_ALLOW_HTTP", "true")],
            vec!["--endpoint", &endpoint],
        ),
    ];
    for (name, vars, flags) in &cases {
        let url = format!("s3://{bucket}/{name}");
        let mut args = vec![
            "store", project, "--to", "objstore", "--url", &url, "--format", "yolo",
        ];
        args.extend(flags);
        let o = labelstore_env(&args, vars);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        let mut args = vec!["verify", "--from", "objstore", "--url", &url];
        args.extend(flags);
        let o = labelstore_env(&args, vars);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{name}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        assert!(stdout(&o).starts_with("whole:"), "{name}: {}", stdout(&o));
    }
}

#[test]
fn objstore_s3_round_trip_and_verify_names_each_damage() {
    let endpoint = env("LABELSTORE_TEST_S3");
    let bucket = unique("fv").replace('_', "-");
    python(S3, &[&endpoint, "mkbucket", &bucket]);
    let tmp = tempfile::tempdir().unwrap();
    let dest = |name: &str| {
        vec![
            "--url".to_owned(),
            format!("s3://{bucket}/{name}"),
            "--endpoint".to_owned(),
            endpoint.clone(),
        ]
    };
    objstore_round_trip(tmp.path(), &dest, "s3");

    // Damage the harbour store (COCO): a deleted chip, a truncated label
    // file, a flipped byte in a chip, an extra chip.
    let args = dest("s30");
    let from = source("objstore", &args);
    let key = |p: &str| format!("s30/{p}");
    python(S3, &[&endpoint, "delete", &bucket, &key("chips/r0_c1.tif")]);
    python(
        S3,
        &[
            &endpoint,
            "truncate",
            &bucket,
            &key("coco/annotations/instances_train.json"),
        ],
    );
    python(S3, &[&endpoint, "flip", &bucket, &key("chips/r2_c3.tif")]);
    python(
        S3,
        &[
            &endpoint,
            "copy",
            &bucket,
            &key("chips/r0_c0.tif"),
            &key("chips/r9_c9.tif"),
        ],
    );
    verify_finds(
        &from,
        "4 problems in 19 listed files:",
        &[
            "missing: chips/r0_c1.tif",
            "size differs: coco/annotations/instances_train.json",
            "checksum differs: chips/r2_c3.tif",
            "extra: chips/r9_c9.tif",
        ],
    );
    // Fetching the damaged store stops at the first damage, exit 1.
    fetch_stops(
        &from,
        &tmp.path().join("damaged"),
        &["the store is damaged"],
    );

    // A prefix holding no store.
    let none = [
        "--from",
        "objstore",
        "--url",
        &format!("s3://{bucket}/nothing-here"),
        "--endpoint",
        &endpoint,
    ];
    both_fail(
        &none,
        &tmp.path().join("none"),
        "holds no labelstore store",
        &[],
    );
}

#[test]
fn objstore_par_round_trip_and_verify_names_each_damage() {
    let par = env("LABELSTORE_TEST_PAR");
    let run = unique("fvpar");
    let tmp = tempfile::tempdir().unwrap();
    let dest = |name: &str| {
        vec![
            "--par-url".to_owned(),
            par.clone(),
            "--prefix".to_owned(),
            format!("{run}/{name}"),
        ]
    };
    objstore_round_trip(tmp.path(), &dest, "par");

    // A PAR cannot delete: a flipped byte in a chip and an extra chip.
    let args = dest("par1");
    let from = source("objstore", &args);
    let key = |p: &str| format!("{run}/par1/{p}");
    python(PAR, &[&par, "flip", &key("chips/a.tif")]);
    python(
        PAR,
        &[&par, "copy", &key("chips/a.tif"), &key("chips/zz.tif")],
    );
    verify_finds(
        &from,
        "2 problems in",
        &["checksum differs: chips/a.tif", "extra: chips/zz.tif"],
    );

    // A wrong token, and a prefix without a store: exit 1, no token shown.
    let token = par.split("/p/").nth(1).unwrap().split('/').next().unwrap();
    let bad = par.replace(token, &format!("{token}x"));
    for (url, prefix) in [
        (bad.as_str(), key("")),
        (par.as_str(), format!("{run}/none")),
    ] {
        let src = ["--from", "objstore", "--par-url", url, "--prefix", &prefix];
        both_fail(
            &src,
            &tmp.path().join("bad"),
            "holds no labelstore store",
            &[token],
        );
    }
}

#[test]
fn db_round_trip_verify_and_errors() {
    let pg = env("LABELSTORE_TEST_PG");
    let table = unique("fv");
    let tmp = tempfile::tempdir().unwrap();
    let db = |project: &str| {
        vec![
            "--connection".to_owned(),
            pg.clone(),
            "--table".to_owned(),
            table.clone(),
            "--project".to_owned(),
            project.to_owned(),
        ]
    };
    let mut names = BTreeMap::new();
    let runs = db_projects()
        .into_iter()
        .enumerate()
        .flat_map(|(i, (p, formats))| formats.into_iter().map(move |f| (i, p.clone(), f)));
    for (i, project, format) in runs {
        let direct = tmp.path().join(format!("db{i}{format}-direct"));
        store_local(&project, &direct, format);
        store_db(&project, &pg, &table, format);
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(direct.join("labelstore-manifest.json")).unwrap(),
        )
        .unwrap();
        let name = manifest["project"].as_str().unwrap().to_owned();
        let args = db(&name);
        let from = source("db", &args);
        let o = verify(&from);
        ok(&o);
        assert!(stdout(&o).starts_with("whole: "), "{}", stdout(&o));
        let fetched = tmp.path().join(format!("db{i}{format}-fetched"));
        ok(&fetch(&from, &fetched));
        let again = tmp.path().join(format!("db{i}{format}-again"));
        store_local(&fetched, &again, format);
        compare(&direct, &again, false, tmp.path());
        // The rows keep the bytes of exactly the chips not stored as
        // GeoTIFFs, and those bytes are the local store's.
        let p = name.replace('\'', "''");
        assert_eq!(
            psql(&format!(
                "SELECT count(*) FROM {table} WHERE project = '{p}' AND \
                 ((image IS NULL) <> (image_path LIKE '%.tif') \
                  OR encode(sha256(image), 'hex') <> image_sha256 \
                  OR length(image) <> image_size)"
            )),
            "0",
            "{name} in {format}"
        );
        names.insert(i, name);
    }
    let plain = psql(&format!(
        "SELECT string_agg(project || ':' || image_path, ',' ORDER BY project, chip_id) \
         FROM {table} WHERE image IS NOT NULL"
    ));
    assert_eq!(plain, "detection basic:chips/g.bmp,roofs:chips/empty.png");
    let harbour = db(&names[&0]);
    let from = source("db", &harbour);

    // One chip.
    let one = tmp.path().join("one");
    let mut args = from.clone();
    args.extend(["--chip", "r1_c1"]);
    ok(&fetch(&args, &one));
    let p: serde_json::Value =
        serde_json::from_slice(&std::fs::read(one.join("project.json")).unwrap()).unwrap();
    assert_eq!(p["chips"].as_array().unwrap().len(), 1);
    assert_eq!(p["chips"][0]["id"], "r1_c1");

    // Several projects in the table: --project is needed.
    let o = verify(&["--from", "db", "--connection", &pg, "--table", &table]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--project"), "{}", stderr(&o));

    // Changed rows, each named: a labels byte (detection-basic, json: its
    // labels are project-wide, so change the harbour's COCO file too), a
    // raster pixel, a deleted row, an extra row.
    let t = &table;
    let h = names[&0].replace('\'', "''");
    psql(&format!(
        "UPDATE {t}_files SET data = set_byte(data, 9, get_byte(data, 9) # 1) \
         WHERE project = '{h}' AND path = 'coco/annotations/instances_train.json'"
    ));
    psql(&format!(
        "UPDATE {t} SET rast = ST_SetValue(rast, 1, 2, 2, \
         CASE WHEN ST_Value(rast, 1, 2, 2) > 0 THEN ST_Value(rast, 1, 2, 2) - 1 ELSE 1 END) \
         WHERE project = '{h}' AND chip_id = 'r2_c0'"
    ));
    psql(&format!(
        "DELETE FROM {t} WHERE project = '{h}' AND chip_id = 'r0_c1'"
    ));
    psql(&format!(
        "INSERT INTO {t} (project, chip_id, rast, image_path, image_size, image_sha256, \
         georeferencing, format, label_count, files) \
         SELECT project, 'r9_c9', rast, 'chips/r9_c9.tif', image_size, image_sha256, \
         georeferencing, format, label_count, '[]' FROM {t} \
         WHERE project = '{h}' AND chip_id = 'r0_c0'"
    ));
    verify_finds(
        &from,
        "5 problems in 19 listed files:",
        &[
            "checksum differs: coco/annotations/instances_train.json",
            "raster differs: chip r2_c0",
            "missing: chips/r0_c1.tif",
            "missing: coco/images/train/r0_c1.tif",
            "extra chip: r9_c9",
        ],
    );

    // A changed byte in a chip's kept image bytes (detection-basic's BMP
    // chip g): verify names it, and a fetch stops there.
    let basic = db(&names[&1]);
    let from_b = source("db", &basic);
    let b = names[&1].replace('\'', "''");
    psql(&format!(
        "UPDATE {t} SET image = set_byte(image, 70, get_byte(image, 70) # 1) \
         WHERE project = '{b}' AND chip_id = 'g'"
    ));
    verify_finds(
        &from_b,
        "1 problem in",
        &["checksum differs: chips/g.bmp (image of chip g)"],
    );
    fetch_stops(
        &from_b,
        &tmp.path().join("damaged-image"),
        &["chips/g.bmp (image of chip g)", "the store is damaged"],
    );
    // Cut short: the size is named.
    psql(&format!(
        "UPDATE {t} SET image = substring(image FROM 1 FOR 60) \
         WHERE project = '{b}' AND chip_id = 'g'"
    ));
    let out = stdout(&verify(&from_b));
    assert!(
        out.contains("size differs: chips/g.bmp (image of chip g: manifest 654 bytes, found 60)"),
        "{out}"
    );

    // A label file stored in the row itself (semantic masks, png: the
    // chip's mask file): one byte changed.
    store_db(
        &root().join("tests/fixtures/semantic-masks"),
        &pg,
        &table,
        "png",
    );
    let name: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root().join("tests/fixtures/semantic-masks/project.json")).unwrap(),
    )
    .unwrap();
    names.insert(3, name["name"].as_str().unwrap().to_owned());
    let s = names[&3].replace('\'', "''");
    psql(&format!(
        "UPDATE {t} SET labels = set_byte(labels, 29, get_byte(labels, 29) # 1) \
         WHERE project = '{s}' AND chip_id = 'tile'"
    ));
    let semantic = db(&names[&3]);
    verify_finds(
        &source("db", &semantic),
        "1 problem in",
        &["(labels of chip tile)"],
    );

    // No such project, no such table, a wrong password: exit 1, no secret.
    let password = pg
        .split("://")
        .nth(1)
        .and_then(|r| r.split('@').next())
        .and_then(|u| u.split_once(':'))
        .map(|(_, p)| p.to_owned())
        .unwrap();
    let wrong = pg.replace(&password, "not-the-password");
    for (conn, tbl, project, says) in [
        (
            pg.as_str(),
            table.as_str(),
            "no-such-project",
            "holds no store of project",
        ),
        (pg.as_str(), "no_such_table", "x", "there is no table"),
        (wrong.as_str(), table.as_str(), "x", "cannot connect"),
    ] {
        let src = [
            "--from",
            "db",
            "--connection",
            conn,
            "--table",
            tbl,
            "--project",
            project,
        ];
        both_fail(
            &src,
            &tmp.path().join("bad"),
            says,
            &[&password, "not-the-password"],
        );
    }
}

/// One chip from a store whose project-wide files list every chip (VOC's
/// image sets): the fetch reads the whole store and keeps the one chip,
/// byte for byte (a BMP without georeferencing) with its labels.
#[test]
fn db_fetch_of_one_chip_from_a_voc_store() {
    let pg = env("LABELSTORE_TEST_PG");
    let table = unique("one");
    let tmp = tempfile::tempdir().unwrap();
    let project = root().join("tests/fixtures/detection-basic");
    store_db(&project, &pg, &table, "voc");
    let out = tmp.path().join("one");
    ok(&fetch(
        &[
            "--from",
            "db",
            "--connection",
            &pg,
            "--table",
            &table,
            "--chip",
            "g",
        ],
        &out,
    ));
    let p: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("project.json")).unwrap()).unwrap();
    assert_eq!(p["name"], "detection basic");
    let chips = p["chips"].as_array().unwrap();
    assert_eq!(chips.len(), 1, "{p}");
    assert_eq!(chips[0]["id"], "g");
    assert_eq!(chips[0]["labels"][0]["class"], "truck");
    assert_eq!(
        std::fs::read(out.join("chips/g.bmp")).unwrap(),
        std::fs::read(project.join("chips/g.bmp")).unwrap()
    );
}
