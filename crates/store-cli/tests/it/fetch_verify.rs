//! `fetch` and `verify` from the object store (moto's S3 server, the PAR
//! emulator) and from PostgreSQL/PostGIS, against the servers `cargo xtask
//! test` starts (`LABELSTORE_TEST_S3`, `LABELSTORE_TEST_PAR`,
//! `LABELSTORE_TEST_PG`). Outside judges: gdalinfo/gdal_translate for the
//! chips, boto3 and plain HTTP to damage objects, psql to damage rows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::{root, snapshot, stderr, stdout};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: these tests need the loopback servers that \
             `cargo xtask test` starts (or `cargo xtask serve FILE`, then `. FILE`)"
        )
    })
}

/// A name unique to this run.
fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{tag}_{nanos:x}")
}

fn labelstore(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_labelstore"))
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("SOURCE_DATE_EPOCH", "1767225600")
        .env_remove("AWS_CA_BUNDLE")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .output()
        .unwrap()
}

fn ok(o: &Output) {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

/// Runs the venv's Python on `script` with `args`.
fn python(script: &str, args: &[&str]) -> String {
    let o = Command::new(env("LABELSTORE_PYTHON"))
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "python: {}", stderr(&o));
    stdout(&o)
}

const S3: &str = r#"
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

fn psql(sql: &str) -> String {
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
    let from: Vec<&str> = ["--from", "objstore"]
        .into_iter()
        .chain(args.iter().map(String::as_str))
        .collect();
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
    let o = verify(&from);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    for expected in [
        "missing: chips/r0_c1.tif",
        "size differs: coco/annotations/instances_train.json",
        "checksum differs: chips/r2_c3.tif",
        "extra: chips/r9_c9.tif",
    ] {
        assert!(out.contains(expected), "{expected:?} not in:\n{out}");
    }
    assert!(out.starts_with("4 problems in 19 listed files:"), "{out}");
    // Fetching the damaged store stops at the first damage, exit 1.
    let o = fetch(&from, &tmp.path().join("damaged"));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the store is damaged"),
        "{}",
        stderr(&o)
    );
    assert!(!tmp.path().join("damaged/project.json").exists());

    // A prefix holding no store.
    let none = [
        "--from",
        "objstore",
        "--url",
        &format!("s3://{bucket}/nothing-here"),
        "--endpoint",
        &endpoint,
    ];
    for o in [fetch(&none, &tmp.path().join("none")), verify(&none)] {
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("holds no labelstore store"),
            "{}",
            stderr(&o)
        );
    }
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
    let from: Vec<&str> = ["--from", "objstore"]
        .into_iter()
        .chain(args.iter().map(String::as_str))
        .collect();
    let key = |p: &str| format!("{run}/par1/{p}");
    python(PAR, &[&par, "flip", &key("chips/a.tif")]);
    python(
        PAR,
        &[&par, "copy", &key("chips/a.tif"), &key("chips/zz.tif")],
    );
    let o = verify(&from);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains("checksum differs: chips/a.tif"), "{out}");
    assert!(out.contains("extra: chips/zz.tif"), "{out}");
    assert!(out.starts_with("2 problems in"), "{out}");

    // A wrong token, and a prefix without a store: exit 1, no token shown.
    let token = par.split("/p/").nth(1).unwrap().split('/').next().unwrap();
    let bad = par.replace(token, &format!("{token}x"));
    for (url, prefix) in [
        (bad.as_str(), key("")),
        (par.as_str(), format!("{run}/none")),
    ] {
        let src = ["--from", "objstore", "--par-url", url, "--prefix", &prefix];
        for o in [fetch(&src, &tmp.path().join("bad")), verify(&src)] {
            assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
            let all = stdout(&o) + &stderr(&o);
            assert!(all.contains("holds no labelstore store"), "{all}");
            assert!(!all.contains(token), "the token leaked: {all}");
        }
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
        ok(&labelstore(&[
            "store",
            project.to_str().unwrap(),
            "--to",
            "db",
            "--connection",
            &pg,
            "--table",
            &table,
            "--format",
            format,
        ]));
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(direct.join("labelstore-manifest.json")).unwrap(),
        )
        .unwrap();
        let name = manifest["project"].as_str().unwrap().to_owned();
        let args = db(&name);
        let from: Vec<&str> = ["--from", "db"]
            .into_iter()
            .chain(args.iter().map(String::as_str))
            .collect();
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
    let from: Vec<&str> = ["--from", "db"]
        .into_iter()
        .chain(harbour.iter().map(String::as_str))
        .collect();

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
    let o = verify(&from);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    for expected in [
        "checksum differs: coco/annotations/instances_train.json",
        "raster differs: chip r2_c0",
        "missing: chips/r0_c1.tif",
        "missing: coco/images/train/r0_c1.tif",
        "extra chip: r9_c9",
    ] {
        assert!(out.contains(expected), "{expected:?} not in:\n{out}");
    }
    assert!(out.starts_with("5 problems in 19 listed files:"), "{out}");

    // A changed byte in a chip's kept image bytes (detection-basic's BMP
    // chip g): verify names it, and a fetch stops there.
    let basic = db(&names[&1]);
    let from_b: Vec<&str> = ["--from", "db"]
        .into_iter()
        .chain(basic.iter().map(String::as_str))
        .collect();
    let b = names[&1].replace('\'', "''");
    psql(&format!(
        "UPDATE {t} SET image = set_byte(image, 70, get_byte(image, 70) # 1) \
         WHERE project = '{b}' AND chip_id = 'g'"
    ));
    let o = verify(&from_b);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.starts_with("1 problem in"), "{out}");
    assert!(
        out.contains("checksum differs: chips/g.bmp (image of chip g)"),
        "{out}"
    );
    let o = fetch(&from_b, &tmp.path().join("damaged-image"));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("chips/g.bmp (image of chip g)")
            && stderr(&o).contains("the store is damaged"),
        "{}",
        stderr(&o)
    );
    assert!(!tmp.path().join("damaged-image/project.json").exists());
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
    ok(&labelstore(&[
        "store",
        root()
            .join("tests/fixtures/semantic-masks")
            .to_str()
            .unwrap(),
        "--to",
        "db",
        "--connection",
        &pg,
        "--table",
        &table,
        "--format",
        "png",
    ]));
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
    let from_s: Vec<&str> = ["--from", "db"]
        .into_iter()
        .chain(semantic.iter().map(String::as_str))
        .collect();
    let o = verify(&from_s);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).starts_with("1 problem in"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("(labels of chip tile)"),
        "{}",
        stdout(&o)
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
        for o in [fetch(&src, &tmp.path().join("bad")), verify(&src)] {
            assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
            let all = stdout(&o) + &stderr(&o);
            assert!(all.contains(says), "{says:?} not in {all}");
            assert!(!all.contains(&password), "the password leaked: {all}");
            assert!(
                !all.contains("not-the-password"),
                "the password leaked: {all}"
            );
        }
    }
}
