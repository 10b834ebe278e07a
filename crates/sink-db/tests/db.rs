//! Database tests against a real PostgreSQL + PostGIS: the one `cargo xtask
//! test` starts, named by `LABELSTORE_TEST_PG` (a postgres:// URL with the
//! password). Without it these tests fail, saying so: they never pass
//! silently.
//!
//! The CLI tests run the `labelstore` binary of this target folder, which
//! `cargo test --workspace` builds (store-cli's own tests need it).

#![allow(clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use raster_georef::{GeoTransform, PixelType, Pixels, RasterBand, WkbRaster};
use tokio_postgres::{Client, NoTls};

#[path = "../../raster-georef/tests/support/sources.rs"]
mod sources;

fn url() -> String {
    std::env::var("LABELSTORE_TEST_PG").unwrap_or_else(|_| {
        panic!(
            "LABELSTORE_TEST_PG is not set: the database tests need the throwaway \
             PostgreSQL + PostGIS cluster that `cargo xtask test` starts; run `cargo xtask test`"
        )
    })
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn client() -> Client {
    let (c, conn) = tokio_postgres::connect(&url(), NoTls)
        .await
        .expect("connecting to LABELSTORE_TEST_PG");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    c
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn labelstore() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("labelstore"))
        .unwrap();
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p store-cli` (cargo xtask test does)",
        bin.display()
    );
    bin
}

fn store(args: &[&str]) -> Output {
    labelstore_run(&[&["store"][..], args].concat())
}

fn store_db(project: &str, table: &str, format: &str, extra: &[&str]) -> Output {
    store_db_through(&url(), project, table, format, extra)
}

/// `labelstore store PROJECT --to db` through `connection`.
fn store_db_through(
    connection: &str,
    project: &str,
    table: &str,
    format: &str,
    extra: &[&str],
) -> Output {
    let mut args = vec![
        project,
        "--to",
        "db",
        "--connection",
        connection,
        "--table",
        table,
        "--format",
        format,
    ];
    args.extend_from_slice(extra);
    store(&args)
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

async fn drop_tables(c: &Client, table: &str) {
    c.batch_execute(&format!(
        "DROP TABLE IF EXISTS {table}; DROP TABLE IF EXISTS {table}_files;"
    ))
    .await
    .unwrap();
}

fn every_type() -> WkbRaster {
    let band = |pixtype, nodata, pixels| RasterBand {
        pixtype,
        nodata,
        pixels,
    };
    WkbRaster {
        width: 3,
        height: 2,
        geotransform: GeoTransform([440720.0, 60.0, 2.0, 3751320.0, 1.0, -60.0]),
        srid: 32611,
        bands: vec![
            band(PixelType::Bool1, None, Pixels::U8(vec![0, 1, 1, 0, 1, 0])),
            band(PixelType::U2, Some(3.0), Pixels::U8(vec![0, 1, 2, 3, 2, 1])),
            band(PixelType::U4, None, Pixels::U8(vec![0, 15, 7, 8, 1, 2])),
            band(
                PixelType::I8,
                Some(-128.0),
                Pixels::I8(vec![-128, -1, 0, 127, 5, 6]),
            ),
            band(PixelType::U8, None, Pixels::U8(vec![0, 1, 254, 255, 9, 10])),
            band(
                PixelType::I16,
                Some(-9999.0),
                Pixels::I16(vec![-32768, -1, 0, 32767, -9999, 3]),
            ),
            band(
                PixelType::U16,
                None,
                Pixels::U16(vec![0, 1, 65534, 65535, 7, 8]),
            ),
            band(
                PixelType::I32,
                None,
                Pixels::I32(vec![i32::MIN, -1, 0, i32::MAX, 4, 5]),
            ),
            band(
                PixelType::U32,
                Some(0.0),
                Pixels::U32(vec![0, 1, 7, u32::MAX, 2, 3]),
            ),
            band(
                PixelType::F32,
                Some(-3.5),
                Pixels::F32(vec![-3.5, 0.0, 1.25, 3.0e38, 0.5, 2.0]),
            ),
            band(
                PixelType::F64,
                None,
                Pixels::F64(vec![-1e300, 0.0, 0.1, 1e300, 2.5, -7.0]),
            ),
        ],
    }
}

#[test]
fn wkb_encoder_agrees_with_postgis_in_both_byte_orders() {
    rt().block_on(async {
        let c = client().await;
        let r = every_type();
        let ndr = r.to_wkb(false).unwrap();
        for big in [false, true] {
            let wkb = r.to_wkb(big).unwrap();
            let row = c
                .query_one(
                    "SELECT ST_SRID(x), ST_NumBands(x), ST_Width(x), ST_Height(x), \
                     ST_GeoReference(x, 'GDAL'), ST_AsBinary(x) \
                     FROM ST_RastFromWKB($1) AS x",
                    &[&wkb],
                )
                .await
                .unwrap();
            assert_eq!(row.get::<_, i32>(0), 32611);
            assert_eq!(row.get::<_, i32>(1), 11);
            assert_eq!((row.get::<_, i32>(2), row.get::<_, i32>(3)), (3, 2));
            let georef: String = row.get(4);
            let nums: Vec<f64> = georef
                .split_whitespace()
                .map(|s| s.parse().unwrap())
                .collect();
            // World-file order: scaleX, skewY, skewX, scaleY, ulx, uly.
            assert_eq!(nums, [60.0, 1.0, 2.0, -60.0, 440720.0, 3751320.0]);
            // PostGIS writes NDR: byte-identical to our NDR.
            assert_eq!(row.get::<_, Vec<u8>>(5), ndr, "big-endian {big}");
            for (i, b) in r.bands.iter().enumerate() {
                let n = i32::try_from(i + 1).unwrap();
                let row = c
                    .query_one(
                        "SELECT ST_BandPixelType(x, $2), ST_BandNoDataValue(x, $2), \
                         ARRAY[ST_Value(x, $2, 1, 1, false), ST_Value(x, $2, 2, 1, false), \
                               ST_Value(x, $2, 3, 1, false), ST_Value(x, $2, 1, 2, false), \
                               ST_Value(x, $2, 2, 2, false), ST_Value(x, $2, 3, 2, false)] \
                         FROM ST_RastFromWKB($1) AS x",
                        &[&wkb, &n],
                    )
                    .await
                    .unwrap();
                assert_eq!(row.get::<_, String>(0), b.pixtype.name(), "band {n}");
                assert_eq!(row.get::<_, Option<f64>>(1), b.nodata, "band {n}");
                let values: Vec<f64> = row.get(2);
                let want: Vec<f64> = (0..6).map(|k| b.pixels.get(k).unwrap()).collect();
                if b.pixtype == PixelType::F32 {
                    let got: Vec<f32> = values.iter().map(|&v| v as f32).collect();
                    let want: Vec<f32> = want.iter().map(|&v| v as f32).collect();
                    assert_eq!(got, want, "band {n}");
                } else {
                    assert_eq!(values, want, "band {n}");
                }
            }
        }
        // And what PostGIS writes, we read.
        let row = c
            .query_one("SELECT ST_AsBinary(ST_RastFromWKB($1))", &[&ndr])
            .await
            .unwrap();
        assert_eq!(WkbRaster::from_wkb(&row.get::<_, Vec<u8>>(0)).unwrap(), r);
    });
}

/// The chips table's rows: chip id to (raster WKB, mask WKB, label path,
/// label bytes).
type Rows = Vec<(
    String,
    Vec<u8>,
    Option<Vec<u8>>,
    Option<String>,
    Option<Vec<u8>>,
)>;

async fn rows(c: &Client, table: &str, project: &str) -> Rows {
    c.query(
        &format!(
            "SELECT chip_id, ST_AsBinary(rast), ST_AsBinary(mask), label_path, labels \
             FROM {table} WHERE project = $1 ORDER BY chip_id"
        ),
        &[&project],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
    .collect()
}

/// GDAL's connection string for the test cluster (the password goes in
/// `PGPASSWORD`, not in the string) and the password.
fn gdal_pg() -> (String, String) {
    let u = url();
    let rest = u.strip_prefix("postgres://").expect("a postgres:// URL");
    let (auth, hostpart) = rest.rsplit_once('@').expect("user:password@host");
    let (user, password) = auth.split_once(':').expect("user:password");
    let (hostport, db) = hostpart.split_once('/').expect("host:port/db");
    let (host, port) = hostport.split_once(':').expect("host:port");
    (
        format!("PG:host={host} port={port} dbname={db} user={user}"),
        password.to_owned(),
    )
}

/// What GDAL reads of a raster (`gdalinfo -json -checksum`): size, geotransform,
/// CRS, and each band's type, nodata and checksum.
fn gdal_view(source: &str, password: &str) -> serde_json::Value {
    let o = Command::new("gdalinfo")
        .args(["-json", "-checksum", source])
        .env("PGPASSWORD", password)
        .output()
        .expect("running gdalinfo (Debian gdal-bin)");
    assert!(
        o.status.success(),
        "gdalinfo {source}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let bands: Vec<serde_json::Value> = v["bands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| serde_json::json!([b["type"], b["noDataValue"], b["checksum"]]))
        .collect();
    let compression = &v["metadata"]["IMAGE_STRUCTURE"]["COMPRESSION"];
    serde_json::json!({
        "jpeg": compression.as_str().is_some_and(|c| c.contains("JPEG")),
        "size": v["size"],
        "bands": bands,
        // The EPSG code GDAL identifies (the WKT texts differ in wording:
        // PostGIS's spatial_ref_sys against PROJ's database).
        "crs": v["stac"]["proj:epsg"],
        "geotransform": v["geoTransform"],
    })
}

/// Loads `file` with PostGIS's own loader (`raster2pgsql`, which reads it
/// through GDAL) into the table `reference`, replacing what was there.
fn raster2pgsql(file: &Path, epsg: i32, reference: &str) {
    let (conn, password) = gdal_pg();
    let load = Command::new("raster2pgsql")
        .args(["-d", "-s", &epsg.to_string()])
        .arg(file)
        .arg(reference)
        .output()
        .expect("running raster2pgsql (Debian postgis)");
    assert!(
        load.status.success(),
        "{}",
        String::from_utf8_lossy(&load.stderr)
    );
    let mut psql = Command::new("psql")
        .args([
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            conn.trim_start_matches("PG:"),
        ])
        .env("PGPASSWORD", password)
        .env("PGOPTIONS", "-c client_min_messages=warning")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("running psql");
    use std::io::Write as _;
    psql.stdin.take().unwrap().write_all(&load.stdout).unwrap();
    assert!(psql.wait().unwrap().success(), "loading {}", file.display());
}

/// A raster's PostGIS description: `ST_Metadata` (without the
/// geotransform when `georeferenced` is false: raster2pgsql puts a plain
/// image on a grid of its own), each band's pixel type and nodata, and its
/// pixels by `ST_DumpValues`, band after band.
async fn postgis_view(
    c: &Client,
    sql_from: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    column: &str,
    georeferenced: bool,
) -> (String, Vec<f64>) {
    let meta = if georeferenced {
        format!("ST_Metadata({column})::text")
    } else {
        format!("ST_Width({column}) || 'x' || ST_Height({column})")
    };
    let row = c
        .query_one(
            &format!(
                "SELECT {meta} || ' ' || (SELECT string_agg(ST_BandPixelType({column}, b) || '/' \
                   || coalesce(ST_BandNoDataValue({column}, b)::text, '-'), ',') \
                   FROM generate_series(1, ST_NumBands({column})) b) {sql_from}"
            ),
            params,
        )
        .await
        .unwrap();
    let dumped = c
        .query(
            &format!(
                "SELECT (d).nband, ARRAY(SELECT unnest((d).valarray)) FROM \
                 (SELECT ST_DumpValues({column}, NULL::integer[], false) AS d {sql_from}) s \
                 ORDER BY 1"
            ),
            params,
        )
        .await
        .unwrap();
    let pixels = dumped
        .iter()
        .flat_map(|r| r.get::<_, Vec<Option<f64>>>(1))
        .map(|v| v.expect("every pixel has a value"))
        .collect();
    (row.get(0), pixels)
}

/// Judges one stored raster (`column` of the row of `chip`) against the
/// local file a `--to local` store wrote, by outside readers only:
/// - PostGIS: the same file loaded by `raster2pgsql` has the same
///   `ST_Metadata` (geotransform with rotation, size, SRID, band count),
///   band pixel types and nodata, and `ST_DumpValues`;
/// - GDAL's PostGIS raster driver reads the row with the size,
///   geotransform, CRS, band types, nodata and checksums GDAL reads from
///   the file (GDAL's driver cannot read rotated rasters: those are judged
///   by PostGIS only).
#[allow(clippy::too_many_arguments)]
async fn judge_raster(
    c: &Client,
    table: &str,
    project: &str,
    chip: &str,
    column: &str,
    local: &Path,
    epsg: i32,
    georeferenced: bool,
) {
    let (conn, password) = gdal_pg();
    let mut from_file = gdal_view(local.to_str().unwrap(), &password);
    // JPEG decoders may differ by a few levels (IDCT, colour conversion
    // and chroma upsampling): labelstore decodes with zune-jpeg, GDAL with
    // libjpeg. A JPEG chip's pixels are compared within a tolerance and
    // its checksums left out; every other chip must be exact.
    let jpeg = from_file["jpeg"] == true;
    // A PNG/GIF/BMP/TIFF mask file carries no georeferencing even when
    // its chip (and so the mask raster) has it.
    let georeferenced = georeferenced && !from_file["geotransform"].is_null();
    let reference = format!("{table}_reference");
    raster2pgsql(local, epsg, &reference);
    let ours = postgis_view(
        c,
        &format!("FROM {table} WHERE project = $1 AND chip_id = $2"),
        &[&project, &chip],
        column,
        georeferenced,
    )
    .await;
    let theirs = postgis_view(c, &format!("FROM {reference}"), &[], "rast", georeferenced).await;
    assert_eq!(
        ours.0, theirs.0,
        "{project} {chip} {column}: ST_Metadata and bands"
    );
    assert_eq!(ours.1.len(), theirs.1.len(), "{project} {chip} {column}");
    let worst = ours
        .1
        .iter()
        .zip(&theirs.1)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    let mean = ours
        .1
        .iter()
        .zip(&theirs.1)
        .map(|(a, b)| (a - b).abs())
        .sum::<f64>()
        / ours.1.len().max(1) as f64;
    // Chroma upsampling is not normative in JPEG: libjpeg's "fancy"
    // upsampling and zune-jpeg's differ by a few levels at colour edges.
    let tolerance = if jpeg { 4.0 } else { 0.0 };
    assert!(
        mean <= tolerance / 8.0,
        "{project} {chip} {column}: pixels differ by {mean} on average"
    );
    assert!(
        worst <= tolerance,
        "{project} {chip} {column}: ST_DumpValues differs from raster2pgsql's load of {} by {worst}",
        local.display()
    );

    let rotated = from_file["geotransform"][2] != 0.0 || from_file["geotransform"][4] != 0.0;
    if rotated {
        return;
    }
    let source = format!(
        "{conn} schema=public table={table} column={column} mode=2 \
         where='project=$${project}$$ AND chip_id=$${chip}$$'"
    );
    let mut from_db = gdal_view(&source, &password);
    for v in [&mut from_db, &mut from_file] {
        v["jpeg"] = serde_json::Value::Null;
        if !georeferenced {
            // A plain image has no geotransform or CRS in GDAL's view; its
            // raster sits in pixel space with SRID 0.
            v["geotransform"] = serde_json::Value::Null;
            v["crs"] = serde_json::Value::Null;
        }
        if jpeg {
            for b in v["bands"].as_array_mut().unwrap() {
                b[2] = serde_json::Value::Null;
            }
        }
    }
    assert_eq!(
        from_db,
        from_file,
        "{project} {chip} {column}: GDAL reads the row and {} differently",
        local.display()
    );
}

/// Stores `project` locally and to the database in `format`; checks every
/// chip raster against the local chip file (georeferencing, SRID, size,
/// decoded pixels), masks against the local mask files, and every label
/// file (per chip and project-wide) byte for byte.
fn check_project(project: &str, format: &str, table: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("out");
    ok(&store(&[
        project,
        "--to",
        "local",
        "--path",
        local.to_str().unwrap(),
        "--format",
        format,
        "--json",
    ]));
    let o = store_db(project, table, format, &["--json"]);
    ok(&o);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let name = report["project"].as_str().unwrap().to_owned();
    rt().block_on(async {
        let c = client().await;
        let got = rows(&c, table, &name).await;
        let chips = report["chips"].as_array().unwrap();
        assert_eq!(got.len(), chips.len());
        for chip in chips {
            let id = chip["chip"].as_str().unwrap();
            let image = chip["image"].as_str().unwrap();
            let (_, rast, mask, label_path, labels) =
                got.iter().find(|r| r.0 == id).expect("a row per chip");
            let bytes = std::fs::read(local.join(image)).unwrap();
            let epsg = chip["crs"]
                .as_str()
                .map(|c| c.trim_start_matches("EPSG:").parse::<i32>().unwrap())
                .unwrap_or(0);
            let want = sink_db::chip_raster(&bytes, image, epsg).unwrap();
            let have = WkbRaster::from_wkb(rast).unwrap();
            assert_eq!(have, want, "{project} chip {id}");
            let georeferenced = chip["georeferencing"] != "none";
            judge_raster(
                &c,
                table,
                &name,
                id,
                "rast",
                &local.join(image),
                epsg,
                georeferenced,
            )
            .await;
            if chip["georeferencing"] != "none" {
                let gt = raster_georef::read_embedded(std::io::Cursor::new(&bytes), image)
                    .unwrap()
                    .and_then(|g| g.transform)
                    .unwrap();
                assert_eq!(have.geotransform, gt, "{id}");
            }
            let Some(label_path) = label_path.as_deref() else {
                // Formats with project-wide files only: the chip's labels
                // are its entry of project.json, as a json store writes it.
                assert!(["json", "coco", "geojson", "shapefile"].contains(&format));
                assert!(mask.is_none());
                let entry: serde_json::Value =
                    serde_json::from_slice(labels.as_deref().expect("labels")).unwrap();
                assert_eq!(entry["id"], id);
                if format == "json" {
                    let manifest: serde_json::Value =
                        serde_json::from_slice(&std::fs::read(local.join("project.json")).unwrap())
                            .unwrap();
                    let chips = manifest["chips"].as_array().unwrap();
                    assert!(chips.contains(&entry), "{id}: {entry}");
                }
                continue;
            };
            let local_label = std::fs::read(local.join(label_path)).unwrap();
            assert_eq!(labels.as_deref(), Some(&local_label[..]), "{label_path}");
            match mask {
                Some(m) => {
                    judge_raster(
                        &c,
                        table,
                        &name,
                        id,
                        "mask",
                        &local.join(label_path),
                        epsg,
                        georeferenced,
                    )
                    .await;
                    let m = WkbRaster::from_wkb(m).unwrap();
                    let band = raster_georef::decode_band8(&local_label, label_path).unwrap();
                    assert_eq!(m.bands[0].pixels, Pixels::U8(band.data));
                    assert_eq!((m.geotransform, m.srid), (have.geotransform, have.srid));
                }
                None => assert!(!["png", "tiff", "geotiff", "gif", "bmp"].contains(&format)),
            }
        }
        let files = c
            .query(
                &format!("SELECT path, data FROM {table}_files WHERE project = $1"),
                &[&name],
            )
            .await
            .unwrap();
        assert!(!files.is_empty());
        for f in files {
            let path: String = f.get(0);
            let data: Vec<u8> = f.get(1);
            if path == "labelstore-manifest.json" {
                // Its destination and timing differ; its file list is the same.
                let a: serde_json::Value = serde_json::from_slice(&data).unwrap();
                let b: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(local.join(&path)).unwrap()).unwrap();
                assert_eq!(a["files"], b["files"]);
            } else {
                assert_eq!(data, std::fs::read(local.join(&path)).unwrap(), "{path}");
            }
        }
        let shown = c
            .query_one(
                "SELECT count(*) FROM raster_columns WHERE r_table_name = $1 \
                 AND r_raster_column IN ('rast', 'mask')",
                &[&table],
            )
            .await
            .unwrap();
        assert_eq!(shown.get::<_, i64>(0), 2);
    });
}

#[test]
fn stores_the_example_and_fixtures_exactly() {
    rt().block_on(async {
        let c = client().await;
        drop_tables(&c, "it_exact").await;
    });
    check_project("examples/harbour", "voc", "it_exact");
    check_project("tests/fixtures/detection-basic", "yolo", "it_exact");
    check_project("tests/fixtures/instance-polygons", "json", "it_exact");
    check_project("tests/fixtures/semantic-masks", "png", "it_exact");
    check_project("tests/fixtures/semantic-masks", "geotiff", "it_exact");
}

/// Every kind of chip image (the sources raster-georef's GDAL tests use:
/// 1- to 16-bit, palette, RGBA, float, big-endian, planar, tiled, LZW,
/// Deflate, JPEG, nodata, embedded georeferencing) stored to the database:
/// each row judged against raster2pgsql's load and GDAL's reading of the
/// chip a local store writes. Most chips get an inline geotransform (one of
/// them rotated); two stay plain images.
#[test]
fn every_kind_of_chip_image_becomes_the_raster_postgis_and_gdal_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("project");
    std::fs::create_dir_all(dir.join("chips")).unwrap();
    let cases = sources::sources(&dir.join("chips"));
    assert!(cases.len() >= 20, "{} sources", cases.len());
    let chips: Vec<serde_json::Value> = cases
        .iter()
        .enumerate()
        .map(|(i, case)| {
            let mut chip = serde_json::json!({
                "id": format!("k{i:02}"),
                "image": format!("chips/{}", case.name),
                "saved_empty": true,
                "labels": [],
            });
            let embedded = case.name == "georeferenced-nodata.tif";
            let plain = ["rgb.png", "palette4.png"].contains(&case.name.as_str());
            if embedded {
                // Its own keys say EPSG:3857; the project's srid would win
                // (SPEC §1), so the chip names its CRS.
                chip["srid"] = serde_json::json!(3857);
            }
            if !embedded && !plain {
                let rotation = if case.name == "strips.tif" { 0.25 } else { 0.0 };
                chip["geotransform"] = serde_json::json!([
                    400000.0 + 100.0 * i as f64,
                    0.5,
                    rotation,
                    5200000.0,
                    rotation,
                    -0.5
                ]);
            }
            chip
        })
        .collect();
    let manifest = serde_json::json!({
        "labelstore": 1,
        "name": "every kind",
        "labeling_type": "object_detection",
        "srid": 32633,
        "classes": [{"id": 1, "name": "thing"}],
        "chips": chips,
    });
    std::fs::write(
        dir.join("project.json"),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
    rt().block_on(async {
        let c = client().await;
        drop_tables(&c, "it_kinds").await;
    });
    check_project(dir.to_str().unwrap(), "json", "it_kinds");
}

async fn count(c: &Client, table: &str) -> (i64, String) {
    let sql = format!("SELECT count(*), min(stored_at)::text FROM {table}");
    let r = c.query_one(&sql, &[]).await.unwrap();
    (r.get::<_, i64>(0), r.get::<_, String>(1))
}

#[test]
fn storing_again_replaces_and_a_chip_store_replaces_its_row() {
    let table = "it_replace";
    rt().block_on(async {
        let c = client().await;
        drop_tables(&c, table).await;
        ok(&store_db("examples/harbour", table, "coco", &[]));
        let (n1, t1) = count(&c, table).await;
        assert_eq!(n1, 9);
        ok(&store_db("examples/harbour", table, "coco", &[]));
        let (n2, t2) = count(&c, table).await;
        assert_eq!(n2, 9);
        assert_ne!(t1, t2, "rows were replaced");
        ok(&store_db(
            "examples/harbour",
            table,
            "coco",
            &["--chip", "r0_c1"],
        ));
        let r = c
            .query(
                &format!("SELECT chip_id FROM {table} ORDER BY stored_at DESC, chip_id"),
                &[],
            )
            .await
            .unwrap();
        assert_eq!(r.len(), 9);
        assert_eq!(r[0].get::<_, String>(0), "r0_c1");
    });
}

#[test]
fn refuses_hostile_table_names_and_many_formats() {
    let long = "t".repeat(64);
    for bad in [
        "",
        "chips\"; DROP TABLE x; --",
        "chips;",
        "chips -- x",
        "chips/*x*/",
        "a.b.c",
        "x'y",
        long.as_str(),
    ] {
        let o = store_db("examples/harbour", bad, "voc", &[]);
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("table name"), "{err}");
    }
    let o = store_db("examples/harbour", "it_two", "voc,yolo", &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("one format"));
}

#[test]
fn wrong_password_and_unreachable_server_exit_1_without_the_password() {
    let u = url();
    let (head, rest) = u.split_once('@').unwrap();
    let user = head.rsplit_once(':').map_or(head, |(u, _)| u);
    let wrong = format!("{user}:WrongPassw0rd-xyz@{rest}");
    let o = store_db_through(&wrong, "examples/harbour", "it_pw", "voc", &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(!err.contains("WrongPassw0rd-xyz"), "{err}");
    // The password from a file, wrong too.
    let tmp = tempfile::tempdir().unwrap();
    let pwfile = tmp.path().join("pw");
    std::fs::write(&pwfile, "FilePassw0rd-abc\n").unwrap();
    let o = store_db(
        "examples/harbour",
        "it_pw",
        "voc",
        &["--password-file", pwfile.to_str().unwrap()],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("FilePassw0rd-abc"), "{err}");
    // Nothing listens on port 1.
    let o = store_db_through(
        "postgres://u:SecretXyz@127.0.0.1:1/db",
        "examples/harbour",
        "it_pw",
        "voc",
        &[],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot connect"), "{err}");
    assert!(!err.contains("SecretXyz"), "{err}");
}

/// The right password from `--password-file` (a URL without one) and from
/// `PGPASSWORD` (a key=value string without one): the store goes in, and
/// the password is in neither its output nor its errors.
#[test]
fn the_password_from_a_file_or_pgpassword_connects() {
    let u = url();
    let (head, rest) = u.split_once('@').unwrap();
    let (user, password) = head.rsplit_once(':').unwrap();
    let bare = format!("{user}@{rest}");
    let tmp = tempfile::tempdir().unwrap();
    let pwfile = tmp.path().join("pw");
    std::fs::write(&pwfile, format!("{password}\n")).unwrap();
    let table = "it_pwok";
    rt().block_on(async { drop_tables(&client().await, table).await });
    // Without any password the server refuses.
    let o = store_db_through(&bare, "examples/harbour", table, "yolo", &[]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = store_db_through(
        &bare,
        "examples/harbour",
        table,
        "yolo",
        &["--password-file", pwfile.to_str().unwrap()],
    );
    ok(&o);
    let (_, hostpart) = rest.split_once('@').unwrap_or(("", rest));
    let (hostport, db) = hostpart.split_once('/').unwrap();
    let (host, port) = hostport.split_once(':').unwrap();
    let user = user.trim_start_matches("postgres://");
    let kv = format!("host={host} port={port} dbname={db} user={user}");
    let o = Command::new(labelstore())
        .args([
            "store",
            "tests/fixtures/detection-basic",
            "--to",
            "db",
            "--connection",
            &kv,
            "--table",
            table,
            "--format",
            "yolo",
        ])
        .current_dir(root())
        .env("PGPASSWORD", password)
        .output()
        .unwrap();
    ok(&o);
    for out in [&o.stdout, &o.stderr] {
        assert!(!String::from_utf8_lossy(out).contains(password));
    }
    rt().block_on(async {
        let c = client().await;
        let r = c
            .query_one(
                &format!("SELECT string_agg(DISTINCT project, ',' ORDER BY project) FROM {table}"),
                &[],
            )
            .await
            .unwrap();
        assert_eq!(r.get::<_, String>(0), "detection basic,harbour-ships");
    });
}

#[test]
fn a_table_of_another_shape_is_refused() {
    rt().block_on(async {
        let c = client().await;
        c.batch_execute("DROP TABLE IF EXISTS it_shape; CREATE TABLE it_shape (id int)")
            .await
            .unwrap();
    });
    let o = store_db("examples/harbour", "it_shape", "voc", &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("another shape"), "{err}");
}

#[test]
fn a_backend_killed_mid_store_leaves_the_table_as_it_was() {
    let table = "it_kill";
    rt().block_on(async {
        let c = client().await;
        drop_tables(&c, table).await;
    });
    ok(&store_db("examples/harbour", table, "voc", &[]));
    rt().block_on(async {
        let c = client().await;
        let before = rows(&c, table, "harbour-ships").await;
        let locker = client().await;
        // Hold the table so the next store waits inside its transaction.
        locker
            .batch_execute(&format!(
                "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
            ))
            .await
            .unwrap();
        let u = url();
        let child = Command::new(labelstore())
            .args([
                "store",
                "examples/harbour",
                "--to",
                "db",
                "--connection",
                &u,
                "--table",
                table,
                "--format",
                "voc",
            ])
            .current_dir(root())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut killed = false;
        for _ in 0..200 {
            let r = c
                .query_one(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE application_name = 'labelstore' AND wait_event_type = 'Lock'",
                    &[],
                )
                .await
                .unwrap();
            if r.get::<_, i64>(0) > 0 {
                killed = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        locker.batch_execute("COMMIT").await.unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(killed, "the store never waited on the lock");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(rows(&c, table, "harbour-ships").await, before);
    });
}

/// The chips table of the previous labelstore: without `raster_sha256` and
/// `image`; `drop` leaves out one more column.
async fn create_earlier_tables(c: &Client, table: &str, drop: Option<&str>) {
    drop_tables(c, table).await;
    let columns = [
        "project text NOT NULL",
        "chip_id text NOT NULL",
        "rast raster NOT NULL",
        "mask raster",
        "image_path text NOT NULL",
        "image_size bigint NOT NULL",
        "image_sha256 text NOT NULL",
        "georeferencing text NOT NULL",
        "epsg integer",
        "format text NOT NULL",
        "label_path text",
        "labels bytea",
        "label_count integer NOT NULL",
        "files jsonb NOT NULL",
        "stored_at timestamptz NOT NULL DEFAULT now()",
    ]
    .into_iter()
    .filter(|c| drop.is_none_or(|d| !c.starts_with(&format!("{d} "))))
    .collect::<Vec<_>>()
    .join(", ");
    c.batch_execute(&format!(
        "CREATE TABLE {table} ({columns}, PRIMARY KEY (project, chip_id)); \
         CREATE INDEX ON {table} USING gist (ST_ConvexHull(rast)); \
         CREATE TABLE {table}_files (project text NOT NULL, path text NOT NULL, \
         chip_id text, format text NOT NULL, data bytea NOT NULL, size bigint NOT NULL, \
         stored_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (project, path));"
    ))
    .await
    .unwrap();
}

/// `name type` of each column of `table`, in order.
async fn columns(c: &Client, table: &str) -> Vec<String> {
    c.query(
        "SELECT attname::text || ' ' || format_type(atttypid, atttypmod) FROM pg_attribute \
         WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        &[&table],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

fn labelstore_run(args: &[&str]) -> Output {
    Command::new(labelstore())
        .args(args)
        .current_dir(root())
        .env_remove("PGPASSWORD")
        .output()
        .unwrap()
}

/// Runs `labelstore VERB --from db` (verify, fetch) on the "detection
/// basic" project in `table`, followed by `extra`.
fn read_basic(verb: &str, table: &str, extra: &[&str]) -> Output {
    let u = url();
    let args = [
        verb,
        "--from",
        "db",
        "--connection",
        &u,
        "--table",
        table,
        "--project",
        "detection basic",
    ];
    labelstore_run(&[&args[..], extra].concat())
}

#[test]
fn a_table_of_the_previous_shape_gains_the_new_columns_and_keeps_its_rows() {
    let table = "it_earlier";
    rt().block_on(async {
        let c = client().await;
        create_earlier_tables(&c, table, None).await;
        // A row of another project, stored by the previous labelstore.
        c.batch_execute(&format!(
            "INSERT INTO {table} (project, chip_id, rast, image_path, image_size, \
             image_sha256, georeferencing, format, label_count, files) VALUES ('older', 'x', \
             ST_AddBand(ST_MakeEmptyRaster(2, 2, 0, 0, 1), '8BUI'::text, 7), 'chips/x.png', \
             1, 'ab', 'none', 'voc', 0, '[]')"
        ))
        .await
        .unwrap();
    });
    ok(&store_db(
        "tests/fixtures/detection-basic",
        table,
        "voc",
        &[],
    ));
    let g = std::fs::read(root().join("tests/fixtures/detection-basic/chips/g.bmp")).unwrap();
    rt().block_on(async {
        let c = client().await;
        let cols = columns(&c, table).await;
        assert_eq!(
            cols[cols.len() - 2..],
            ["raster_sha256 text".to_owned(), "image bytea".to_owned()]
        );
        let rows = c
            .query(
                &format!(
                    "SELECT project, chip_id, image, raster_sha256 IS NOT NULL FROM {table} \
                     ORDER BY project, chip_id"
                ),
                &[],
            )
            .await
            .unwrap();
        let got: Vec<(String, String, Option<Vec<u8>>, bool)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        let chip =
            |id: &str, image: Option<Vec<u8>>| ("detection basic".into(), id.into(), image, true);
        assert_eq!(
            got,
            vec![
                chip("a", None),
                chip("b", None),
                chip("c-upper.case", None),
                chip("f", None),
                chip("g", Some(g.clone())),
                chip("t", None),
                ("older".into(), "x".into(), None, false),
            ]
        );
    });
    // The store reads back whole, the BMP chip as it was.
    ok(&read_basic("verify", table, &[]));
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("fetched");
    ok(&read_basic(
        "fetch",
        table,
        &["--output", dir.to_str().unwrap()],
    ));
    assert_eq!(std::fs::read(dir.join("chips/g.bmp")).unwrap(), g);
    let project = std::fs::read_to_string(dir.join("project.json")).unwrap();
    assert!(project.contains("\"chips/g.bmp\""), "{project}");
    assert!(!dir.join("chips/g.tif").exists());
}

#[test]
fn a_table_missing_another_column_is_refused_and_left_as_it_was() {
    let table = "it_earlier_nofiles";
    let before = rt().block_on(async {
        let c = client().await;
        create_earlier_tables(&c, table, Some("files")).await;
        columns(&c, table).await
    });
    assert!(
        !before.iter().any(|c| c.starts_with("image ")),
        "{before:?}"
    );
    let o = store_db("tests/fixtures/detection-basic", table, "voc", &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("another shape"), "{err}");
    assert!(err.contains("no column files (jsonb)"), "{err}");
    // The columns that could have been added were not: nothing changed.
    rt().block_on(async {
        let c = client().await;
        assert_eq!(columns(&c, table).await, before);
    });
}

#[test]
fn a_table_not_yet_migrated_reads_back_from_its_rasters() {
    let table = "it_unmigrated";
    rt().block_on(async {
        let c = client().await;
        drop_tables(&c, table).await;
    });
    ok(&store_db(
        "tests/fixtures/detection-basic",
        table,
        "voc",
        &[],
    ));
    rt().block_on(async {
        let c = client().await;
        c.batch_execute(&format!(
            "ALTER TABLE {table} DROP COLUMN image, DROP COLUMN raster_sha256"
        ))
        .await
        .unwrap();
    });
    // Without raster checksums verify says so for each chip; with no kept
    // bytes the BMP chip comes back as a TIFF of its raster.
    let o = read_basic("verify", table, &[]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.starts_with("6 problems in"), "{out}");
    assert!(out.contains("no raster checksum recorded: chip g"), "{out}");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fetched");
    ok(&read_basic(
        "fetch",
        table,
        &["--output", dir.to_str().unwrap()],
    ));
    assert!(dir.join("chips/g.tif").exists());
    assert!(!dir.join("chips/g.bmp").exists());
}

/// The destination conformance suite of sink-api (`testing` feature)
/// against PostGIS, a project per behaviour in one table.
#[test]
fn postgis_passes_the_destination_suite() {
    use sink_api::testing::{Harness, suite};
    use sink_db::{DbDestination, DbOptions, DbReadOptions, DbReader, Replace};

    struct Pg {
        table: String,
        project: String,
    }

    impl Harness for Pg {
        type Dest = DbDestination;
        type Reader = DbReader;

        async fn destination(&self) -> sink_api::Result<DbDestination> {
            DbDestination::open(DbOptions {
                connection: url(),
                password_file: None,
                table: self.table.clone(),
                project: self.project.clone(),
                format: "json".into(),
                masks: false,
                replace: Replace::Project,
            })
            .await
        }

        async fn reader(&self) -> sink_api::Result<DbReader> {
            DbReader::open(DbReadOptions {
                connection: url(),
                password_file: None,
                table: self.table.clone(),
                project: Some(self.project.clone()),
            })
            .await
        }
    }

    let table = format!("suite_{}", std::process::id());
    rt().block_on(async {
        suite(|name| Pg {
            table: table.clone(),
            project: name.to_owned(),
        })
        .await
        .expect("the suite");
        drop_tables(&client().await, &table).await;
    });
}

/// What `get` gives of `path`: its size and bytes.
async fn get_bytes(r: &mut sink_db::DbReader, path: &str) -> (Option<u64>, Vec<u8>) {
    use sink_api::StoreReader;
    let mut got = Vec::new();
    let n = r
        .get(path, &mut |b: &[u8]| {
            got.extend_from_slice(b);
            Ok(())
        })
        .await
        .expect("get");
    (n, got)
}

/// The reader's `get` serves a chip row's files by their store paths: its
/// label file as stored, its image as the GeoTIFF its raster gives back.
#[test]
fn the_reader_gets_the_files_of_chip_rows() {
    use sink_api::StoreReader;
    use sink_db::{DbReadOptions, DbReader};
    let table = "it_get";
    rt().block_on(async {
        let c = client().await;
        drop_tables(&c, table).await;
        ok(&store_db("examples/harbour", table, "yolo", &[]));
        let mut r = DbReader::open(DbReadOptions {
            connection: url(),
            password_file: None,
            table: table.into(),
            project: None,
        })
        .await
        .expect("open");
        let mut manifest = Vec::new();
        r.manifest(&mut |b: &[u8]| {
            manifest.extend_from_slice(b);
            Ok(())
        })
        .await
        .expect("manifest");
        let entries: Vec<sink_api::ManifestEntry> = sink_api::manifest_entries(manifest.as_slice())
            .collect::<std::io::Result<_>>()
            .expect("entries");
        let find = |prefix: &str| {
            entries
                .iter()
                .find(|e| e.path.starts_with(prefix))
                .expect("an entry")
        };
        let label = find("yolo/labels/");
        let (n, got) = get_bytes(&mut r, &label.path).await;
        assert_eq!(n, Some(label.size), "{}", label.path);
        assert_eq!(sink_api::digest_bytes(&got).1, label.sha256);
        let image = find("chips/");
        let (n, tiff) = get_bytes(&mut r, &image.path).await;
        assert_eq!(n, Some(tiff.len() as u64), "{}", image.path);
        assert!(tiff.starts_with(b"II*\0") || tiff.starts_with(b"MM\0*"));
        let (none, _) = get_bytes(&mut r, "yolo/labels/train/nope.txt").await;
        assert_eq!(none, None);
        drop_tables(&c, table).await;
    });
}

/// Rows go in PostgreSQL's binary `COPY` format, the rasters as WKB through
/// `ST_RastFromWKB`: what PostGIS gives back is exactly what the store was
/// handed, field by field: text with tabs, newlines, backslashes and quotes,
/// integers, `jsonb`, `bytea`, the raster's metadata, nodata and every
/// pixel (and its very WKB), each label's class, attributes and every
/// coordinate to the last bit. The rasters are compressed with lz4 when the
/// server has it (and nobody chose another compression).
#[test]
fn binary_rows_read_back_exactly() {
    use sink_api::{
        Body, ChipLabels, ChipRecord, Destination, LabelRecord, LabelShape, ManifestEntry,
        digest_bytes,
    };
    use sink_db::{DbDestination, DbOptions, Replace};
    let table = "it_binary";
    let project = "binary\t\"rows\" \\ é";
    let id = "tab\there back\\slash new\nline \"q\" é";
    // 64x48, 3 bands of 16 bits with nodata: 18 KB in runs of 16 values,
    // which TOAST compresses.
    let (w, h) = (64u16, 48u16);
    let n = usize::from(w) * usize::from(h);
    let band = |k: usize| RasterBand {
        pixtype: PixelType::U16,
        nodata: Some(7.0),
        pixels: Pixels::U16((0..n).map(|i| (i / 16 + k * 1000) as u16).collect()),
    };
    let gt = GeoTransform([500000.125, 0.5, 0.0, 5700000.875, 0.0, -0.5]);
    let raster = WkbRaster {
        width: w,
        height: h,
        geotransform: gt,
        srid: 32632,
        bands: (0..3).map(band).collect(),
    };
    let keys = raster_georef::CrsKeys {
        epsg: 32632,
        geographic: false,
        name: "WGS 84 / UTM zone 32N",
    };
    let image_path = "chips/a.tif";
    let tiff = raster_georef::raster_to_geotiff(&raster, image_path, Some((&gt, Some(keys))))
        .expect("a GeoTIFF");
    assert_eq!(
        sink_db::chip_raster(&tiff, image_path, 32632).expect("decoded"),
        raster,
        "the chip decodes to the raster it was made from"
    );
    let wkb = raster.to_wkb(false).unwrap();
    let label_path = "x/labels/a.txt";
    let label_bytes = vec![0u8, 1, 255, b'\\', b'\t', b'\n', b'x'];
    let files = [(image_path, &tiff[..]), (label_path, &label_bytes[..])].map(|(p, b)| {
        let (size, sha256) = digest_bytes(b);
        ManifestEntry {
            path: p.into(),
            size,
            sha256,
        }
    });
    let attributes = r#"{"pose": "left\tturn", "n": 1.5, "q": "\"x\\y\" é", "a": [1, null]}"#;
    // Coordinates that need all 64 bits of a double.
    let (x0, y0) = (500_001.123_456_789_1, 5_699_999.987_654_321);
    let ring = |dx: f64| {
        vec![
            [x0 + dx, y0],
            [x0 + dx + 3.1, y0],
            [x0 + dx + 3.1, y0 + 2.7],
            [x0 + dx, y0 + 2.7],
        ]
    };
    let hole = vec![
        [x0 + 1.0, y0 + 1.0],
        [x0 + 1.0, y0 + 1.3],
        [x0 + 1.3, y0 + 1.0],
    ];
    let geom = LabelShape {
        multi: true,
        polygons: vec![vec![ring(0.0), hole], vec![ring(10.0)]],
    };
    let pixel = LabelShape {
        multi: false,
        polygons: vec![vec![vec![[0.5, 0.25], [10.125, 0.25], [10.125, 7.75]]]],
    };
    let records = vec![
        LabelRecord {
            index: 0,
            class_id: 3,
            class_name: "ship\t\"big\" é".into(),
            attributes_json: attributes.into(),
            geom: Some(geom.clone()),
            pixel_geom: pixel.clone(),
        },
        LabelRecord {
            index: 1,
            class_id: 0,
            class_name: "none".into(),
            attributes_json: "{}".into(),
            geom: None,
            pixel_geom: pixel.clone(),
        },
    ];
    rt().block_on(async {
        let c = client().await;
        c.batch_execute(&format!("DROP TABLE IF EXISTS {table}_labels"))
            .await
            .unwrap();
        drop_tables(&c, table).await;
        let mut d = DbDestination::open(DbOptions {
            connection: url(),
            password_file: None,
            table: table.into(),
            project: project.into(),
            format: "yolo".into(),
            masks: false,
            replace: Replace::Project,
        })
        .await
        .expect("open");
        d.put(image_path, Body::Bytes(tiff.clone())).await.unwrap();
        d.put(label_path, Body::Bytes(label_bytes.clone()))
            .await
            .unwrap();
        d.chip_labels(ChipLabels {
            chip: id.into(),
            entry: b"{}".to_vec(),
            records,
        })
        .await
        .unwrap();
        d.chip_stored(&ChipRecord {
            id,
            image: image_path,
            georeferencing: "embedded",
            epsg: Some(32632),
            labels: 2,
            files: &files,
        })
        .await
        .expect("chip stored");
        d.commit(Body::Bytes(b"{}".to_vec())).await.expect("commit");

        let row = c
            .query_one(
                &format!(
                    "SELECT chip_id, image_path, image_size, image_sha256, georeferencing, \
                     epsg, format, label_path, labels, label_count, files::text, \
                     raster_sha256, image IS NULL AND mask IS NULL, ST_AsBinary(rast), \
                     (ST_MetaData(rast)).*, ST_BandNoDataValue(rast, 1), \
                     ST_BandPixelType(rast, 3) FROM {table} WHERE project = $1"
                ),
                &[&project],
            )
            .await
            .expect("the chip's row");
        assert_eq!(row.get::<_, String>(0), id);
        assert_eq!(row.get::<_, String>(1), image_path);
        assert_eq!(row.get::<_, i64>(2), tiff.len() as i64);
        assert_eq!(row.get::<_, String>(3), files[0].sha256);
        assert_eq!(row.get::<_, String>(4), "embedded");
        assert_eq!(row.get::<_, Option<i32>>(5), Some(32632));
        assert_eq!(row.get::<_, String>(6), "yolo");
        assert_eq!(row.get::<_, Option<String>>(7).as_deref(), Some(label_path));
        assert_eq!(row.get::<_, Option<Vec<u8>>>(8), Some(label_bytes.clone()));
        assert_eq!(row.get::<_, i32>(9), 2);
        let stored_files: serde_json::Value = serde_json::from_str(row.get(10)).unwrap();
        assert_eq!(stored_files, serde_json::to_value(&files).unwrap());
        assert_eq!(
            row.get::<_, Option<String>>(11),
            Some(sink_db::raster_sha256(&wkb, None))
        );
        assert!(row.get::<_, bool>(12), "no image bytes, no mask");
        assert_eq!(row.get::<_, Vec<u8>>(13), wkb, "the raster's WKB");
        // ST_MetaData: upperleftx, upperlefty, width, height, scalex,
        // scaley, skewx, skewy, srid, numbands.
        let [ulx, sx, kx, uly, ky, sy] = gt.0;
        assert_eq!((row.get::<_, f64>(14), row.get::<_, f64>(15)), (ulx, uly));
        assert_eq!((row.get::<_, i32>(16), row.get::<_, i32>(17)), (64, 48));
        let scales: Vec<f64> = (18..22).map(|i| row.get(i)).collect();
        assert_eq!(scales, [sx, sy, kx, ky]);
        assert_eq!(row.get::<_, i32>(22), 32632);
        assert_eq!(row.get::<_, i32>(23), 3);
        assert_eq!(row.get::<_, Option<f64>>(24), Some(7.0));
        assert_eq!(row.get::<_, String>(25), "16BUI");
        for (k, b) in raster.bands.iter().enumerate() {
            let values = c
                .query_one(
                    &format!(
                        "SELECT array_agg(v ORDER BY o) FROM {table}, \
                         unnest((ST_DumpValues(rast, $2::int, false))) WITH ORDINALITY AS u(v, o) \
                         WHERE project = $1"
                    ),
                    &[&project, &(k as i32 + 1)],
                )
                .await
                .expect("the band's values");
            let values: Vec<f64> = values.get(0);
            let Pixels::U16(want) = &b.pixels else {
                unreachable!()
            };
            let want: Vec<f64> = want.iter().map(|&v| f64::from(v)).collect();
            assert_eq!(values, want, "band {}", k + 1);
        }
        let lz4 = c
            .query_one(
                "SELECT 'lz4' = ANY (enumvals) AND source = 'default' FROM pg_settings \
                 WHERE name = 'default_toast_compression'",
                &[],
            )
            .await
            .map(|r| r.get::<_, bool>(0))
            .unwrap_or(false);
        let compression = c
            .query_one(
                &format!("SELECT pg_column_compression(rast) FROM {table} WHERE project = $1"),
                &[&project],
            )
            .await
            .unwrap();
        let want = if lz4 { "lz4" } else { "pglz" };
        assert_eq!(
            compression.get::<_, Option<String>>(0).as_deref(),
            Some(want)
        );

        let labels = c
            .query(
                &format!(
                    "SELECT label_index, class_id, class_name, attributes = $3::text::jsonb, \
                     attributes::text, ST_SRID(geom), ST_GeometryType(geom), ST_SRID(pixel_geom), \
                     ST_GeometryType(pixel_geom) FROM {table}_labels \
                     WHERE project = $1 AND chip_id = $2 ORDER BY label_index"
                ),
                &[&project, &id, &attributes],
            )
            .await
            .expect("label rows");
        assert_eq!(labels.len(), 2);
        let l = &labels[0];
        assert_eq!((l.get::<_, i32>(0), l.get::<_, i32>(1)), (0, 3));
        assert_eq!(l.get::<_, String>(2), "ship\t\"big\" é");
        assert!(l.get::<_, bool>(3), "the attributes, as jsonb");
        assert_eq!(l.get::<_, Option<i32>>(5), Some(32632));
        assert_eq!(
            l.get::<_, Option<String>>(6).as_deref(),
            Some("ST_MultiPolygon")
        );
        assert_eq!(l.get::<_, i32>(7), 0);
        assert_eq!(l.get::<_, String>(8), "ST_Polygon");
        let l = &labels[1];
        assert_eq!((l.get::<_, i32>(0), l.get::<_, i32>(1)), (1, 0));
        assert_eq!(l.get::<_, String>(4), "{}");
        assert_eq!(l.get::<_, Option<i32>>(5), None, "no map geometry");
        // Every vertex, in order, each ring closed.
        let points = |column: &str, index: i32| {
            let sql = format!(
                "SELECT ST_X(d.geom), ST_Y(d.geom) FROM {table}_labels, \
                 ST_DumpPoints({column}) AS d WHERE project = $1 AND chip_id = $2 \
                 AND label_index = $3 ORDER BY d.path"
            );
            let c = &c;
            async move {
                c.query(&sql, &[&project, &id, &index])
                    .await
                    .expect("points")
                    .iter()
                    .map(|r| [r.get::<_, f64>(0), r.get::<_, f64>(1)])
                    .collect::<Vec<_>>()
            }
        };
        let closed = |shape: &LabelShape| -> Vec<[f64; 2]> {
            shape
                .polygons
                .iter()
                .flatten()
                .flat_map(|ring| ring.iter().chain(ring.first()).copied())
                .collect()
        };
        assert_eq!(points("geom", 0).await, closed(&geom));
        assert_eq!(points("pixel_geom", 0).await, closed(&pixel));
        assert_eq!(points("pixel_geom", 1).await, closed(&pixel));
        c.batch_execute(&format!("DROP TABLE IF EXISTS {table}_labels"))
            .await
            .unwrap();
        drop_tables(&c, table).await;
    });
}
