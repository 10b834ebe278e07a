//! `cargo xtask conformance`: the cross-crate suite.
//!
//! For every fixture project (each folder of `tests/fixtures`, and the
//! example project) and every format this build implements for its labeling
//! type: store it to a local folder, read the labels back with the format's
//! own reader, and compare with the model (every label, class and chip
//! field, and the stored chip files byte for byte against their sources).
//! Then store what was read back again and check that every file comes out
//! byte-identical. It grows with every format.
//!
//! Round trips through every destination of the test servers (the S3
//! server, nginx with WebDAV, the PAR emulator, PostgreSQL + PostGIS): for every fixture and
//! format, `labelstore store` to the destination, `labelstore fetch` back,
//! `labelstore store` the fetched project to a local folder, and compare
//! with the direct local store: every label file byte-identical, every chip
//! byte-identical or, from the database (chips are rasters there), with
//! the same size, band types, geotransform, CRS and pixels as GDAL reads
//! them.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use labelstore::model::{
    Chip, ChipGeoref, Class, Fidelity, Geometry, GeorefSource, ImageLimits, Label, LabelFormat,
    LabelingType, Project, Scope,
};
use labelstore::segmentation::class_mask;
use labelstore::{FormatId, Plan, StoreOptions, label_format};

/// Runs the suite; fails when any case fails.
pub(crate) fn run(root: &Path) -> anyhow::Result<()> {
    let python = match std::env::var_os("LABELSTORE_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => crate::util::ensure_python(root)?,
    };
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(root.join("tests/fixtures"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("project.json").exists())
        .collect();
    fixtures.sort();
    fixtures.push(root.join("examples/harbour"));
    let (mut passed, mut failed) = (0, 0);
    let destinations = Destination::from_env()?;
    let mut case = 0;
    for fixture in &fixtures {
        let name = fixture
            .strip_prefix(root)
            .unwrap_or(fixture)
            .display()
            .to_string();
        let project = Project::load(fixture).with_context(|| format!("loading {name}"))?;
        for format in FormatId::for_type(project.labeling_type) {
            match check(fixture, format, &python) {
                Ok(()) => {
                    println!("conformance {name} {format} ... ok");
                    passed += 1;
                }
                Err(e) => {
                    println!("conformance {name} {format} ... FAILED\n  {e:#}");
                    failed += 1;
                }
            }
            for dest in &destinations {
                case += 1;
                match round_trip(fixture, format, dest, case) {
                    Ok(()) => {
                        println!("conformance {name} {format} via {} ... ok", dest.name());
                        passed += 1;
                    }
                    Err(e) => {
                        println!(
                            "conformance {name} {format} via {} ... FAILED\n  {e:#}",
                            dest.name()
                        );
                        failed += 1;
                    }
                }
            }
        }
    }
    println!("conformance: {passed} passed, {failed} failed");
    ensure!(failed == 0, "{failed} conformance cases failed");
    Ok(())
}

fn options(format: FormatId) -> StoreOptions {
    StoreOptions {
        formats: vec![format],
        scope: Scope::Project,
        limits: ImageLimits::default(),
        format_options: Default::default(),
    }
}

/// The stored scope of a store: its chips (resolved) with their georeferencing.
struct Scoped {
    project: Project,
    chips: Vec<(Chip, ChipGeoref)>,
}

fn scope_of(plan: &Plan) -> Scoped {
    let project = plan.project().clone();
    let chips = plan
        .selection()
        .chips
        .iter()
        .zip(&plan.resolution().georef)
        .map(|(&i, g)| (project.chips[i].clone(), *g))
        .collect();
    Scoped { project, chips }
}

/// The stored scope of a project read whole (the store itself streams its
/// chips from the manifest and never holds them: reading the project whole
/// here also checks that both ways agree).
fn loaded_scope(path: &Path) -> anyhow::Result<Scoped> {
    let mut project = Project::load(path)?;
    let selection = labelstore::model::select(&project, &Scope::Project)?;
    let resolution =
        labelstore::model::resolve(&mut project, &selection.chips, &ImageLimits::default())?;
    let chips = selection
        .chips
        .iter()
        .zip(&resolution.georef)
        .map(|(&i, g)| (project.chips[i].clone(), *g))
        .collect();
    Ok(Scoped { project, chips })
}

fn store(project: &Path, format: FormatId, target: &Path) -> anyhow::Result<Scoped> {
    let plan = Plan::prepare(project, options(format))?;
    let scoped = loaded_scope(project)?;
    let dest = labelstore::fs::FsDestination::open(target, false)?;
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    rt.block_on(plan.execute(dest, &mut |_| {}))?;
    Ok(scoped)
}

fn check(fixture: &Path, format: FormatId, python: &Path) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (first, second) = (tmp.path().join("first"), tmp.path().join("second"));
    let stored = store(fixture, format, &first)?;
    let resolved = &stored.project;
    let reader = label_format(format);
    let fidelity = reader.fidelity();
    let back = reader.read(&first).context("reading the store back")?;
    ensure!(
        back.labeling_type == resolved.labeling_type,
        "labeling type differs"
    );
    compare_classes(&back.classes, &resolved.classes, fidelity)?;
    if format == FormatId::Json {
        ensure!(
            back.name == resolved.name,
            "name {:?} != {:?}",
            back.name,
            resolved.name
        );
        ensure!(
            back.srid == resolved.srid,
            "srid {:?} != {:?}",
            back.srid,
            resolved.srid
        );
    }
    let mut want: Vec<&(Chip, ChipGeoref)> = stored
        .chips
        .iter()
        .filter(|(c, _)| fidelity.empty_chips || !c.labels.is_empty())
        .collect();
    want.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    // Resolve what was read back, as a new store would.
    let back_plan = Plan::prepare_project(back.clone(), options(format))?;
    let mut got = scope_of(&back_plan).chips;
    got.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    let ids = |v: &mut dyn Iterator<Item = &Chip>| v.map(|c| c.id.clone()).collect::<Vec<_>>();
    ensure!(
        ids(&mut got.iter().map(|(c, _)| c)) == ids(&mut want.iter().map(|(c, _)| c)),
        "chips read back {:?}, stored {:?}",
        ids(&mut got.iter().map(|(c, _)| c)),
        ids(&mut want.iter().map(|(c, _)| c))
    );
    for ((g, g_georef), (w, w_georef)) in got.iter().zip(want) {
        compare_chip(g, w, resolved, &back, reader.as_ref())
            .and_then(|()| {
                compare_georef(
                    Side {
                        chip: g,
                        georef: g_georef,
                        base: &back.base_dir,
                    },
                    Side {
                        chip: w,
                        georef: w_georef,
                        base: &resolved.base_dir,
                    },
                    &first,
                    format,
                )
            })
            .with_context(|| format!("chip {:?}", w.id))?;
    }

    if resolved.labeling_type == LabelingType::SemanticSegmentation {
        if format == FormatId::Json {
            // The project folder keeps each chip's mask file as it is.
            for (chip, _) in &stored.chips {
                if let Some(mask) = &chip.mask {
                    let ext = mask
                        .extension()
                        .map(|e| e.to_string_lossy().to_ascii_lowercase())
                        .unwrap_or_default();
                    same_bytes(
                        &first.join(format!("masks/{}.{ext}", chip.id)),
                        &resolved.base_dir.join(mask),
                    )
                    .with_context(|| format!("mask of chip {:?}", chip.id))?;
                }
            }
        } else {
            judge_masks(&first, format, &stored, python)?;
        }
    }

    // labelstore's own format: what was read back stores again to identical files.
    if format == FormatId::Json {
        store(&first, format, &second)?;
        for entry in walk(&first)? {
            if entry == Path::new(labelstore::STORE_MANIFEST) {
                continue;
            }
            let (a, b) = (
                std::fs::read(first.join(&entry))?,
                std::fs::read(second.join(&entry)),
            );
            ensure!(
                b.ok() == Some(a),
                "{} differs on the second store",
                entry.display()
            );
        }
    }
    Ok(())
}

fn compare_classes(got: &[Class], want: &[Class], fidelity: Fidelity) -> anyhow::Result<()> {
    if fidelity == Fidelity::EXACT {
        ensure!(got == want, "classes {got:?} != {want:?}");
        return Ok(());
    }
    let mut want_sorted: Vec<&Class> = want.iter().collect();
    want_sorted.sort_by_key(|c| c.id);
    let names = |v: &[&Class]| v.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    let mut got_sorted: Vec<&Class> = got.iter().collect();
    got_sorted.sort_by_key(|c| c.id);
    ensure!(
        names(&got_sorted) == names(&want_sorted),
        "class names {:?} != {:?}",
        names(&got_sorted),
        names(&want_sorted)
    );
    if fidelity.class_ids {
        let ids = |v: &[&Class]| v.iter().map(|c| c.id).collect::<Vec<_>>();
        ensure!(ids(&got_sorted) == ids(&want_sorted), "class ids differ");
    }
    Ok(())
}

fn compare_chip(
    got: &Chip,
    want: &Chip,
    want_project: &Project,
    got_project: &Project,
    format: &dyn LabelFormat,
) -> anyhow::Result<()> {
    let fidelity = format.fidelity();
    ensure!(got.id == want.id, "id {:?}", got.id);
    if format.keeps_splits() {
        ensure!(
            got.split() == want.split(),
            "split {:?} != {:?}",
            got.split(),
            want.split()
        );
    }
    ensure!(
        (got.width, got.height) == (want.width, want.height),
        "size {:?}x{:?}",
        got.width,
        got.height
    );
    if want_project.labeling_type == LabelingType::SemanticSegmentation {
        // Polygons and mask files both come back as the class mask.
        let (g, w) = (
            class_mask(got, &got_project.base_dir)?,
            class_mask(want, &want_project.base_dir)?,
        );
        ensure!(g == w, "class mask differs:\n{:?}\n{:?}", g.data, w.data);
        return Ok(());
    }
    // Labels the format's writer leaves out (zero width or height as the
    // format writes them) are counted in the summary, not read back.
    let want_labels: Vec<Label> = want
        .labels
        .iter()
        .filter(|l| !format.leaves_out(want, l))
        .cloned()
        .collect();
    let want = &Chip {
        labels: want_labels,
        ..want.clone()
    };
    if fidelity == Fidelity::EXACT {
        ensure!(got.srid == want.srid, "srid {:?}", got.srid);
        ensure!(
            !got.deleted && got.saved_empty == want.saved_empty,
            "flags differ"
        );
        ensure!(
            got.labels == want.labels,
            "labels differ:\n{:?}\n{:?}",
            got.labels,
            want.labels
        );
    } else {
        ensure!(
            got.labels.len() == want.labels.len(),
            "{} labels read back, {} stored",
            got.labels.len(),
            want.labels.len()
        );
        let class_name = |p: &Project, id: u32| p.class(id).map(|c| c.name.clone());
        for (k, (g, w)) in got.labels.iter().zip(&want.labels).enumerate() {
            ensure!(
                class_name(got_project, g.class_id) == class_name(want_project, w.class_id),
                "label {k}: class {:?} != {:?}",
                class_name(got_project, g.class_id),
                class_name(want_project, w.class_id)
            );
            let tolerance = fidelity.pixel_tolerance.unwrap_or(0.0);
            let as_mask = format.geometry_survives_as_mask(want_project.labeling_type);
            match (&g.geometry, &w.geometry) {
                // The same pixels, drawn from possibly other vertices.
                (a, b) if as_mask => {
                    let draw = |x: &Geometry, c: &Chip| {
                        labelstore::geometry::rasterize(
                            c.width.unwrap_or(0),
                            c.height.unwrap_or(0),
                            0,
                            [(x, 1)],
                        )
                    };
                    ensure!(
                        draw(a, got) == draw(b, want),
                        "label {k}: mask differs: {a:?} {b:?}"
                    );
                }
                (Geometry::BBox(a), Geometry::BBox(b)) => ensure!(
                    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tolerance),
                    "label {k}: box {a:?} != {b:?} (tolerance {tolerance})"
                ),
                (a, b) => ensure!(a == b, "label {k}: geometry {a:?} != {b:?}"),
            }
            let expected = format.expected_attributes(&w.attributes);
            ensure!(
                g.attributes == expected,
                "label {k}: attributes {:?} read back, {expected:?} expected",
                g.attributes
            );
        }
    }
    match (&got.mask, &want.mask) {
        (Some(g), Some(w)) => same_bytes(
            &got_project.base_dir.join(g),
            &want_project.base_dir.join(w),
        )?,
        (None, None) => {}
        (g, w) => bail!("stored mask {g:?} where the source has {w:?}"),
    }
    Ok(())
}

fn same_bytes(a: &Path, b: &Path) -> anyhow::Result<()> {
    ensure!(
        std::fs::read(a)? == std::fs::read(b)?,
        "{} is not byte-identical to {}",
        a.display(),
        b.display()
    );
    Ok(())
}

/// The georeferencing survives the store: a chip georeferenced by a world
/// file or a geotransform comes back as a GeoTIFF that GDAL reads with the
/// same geotransform, EPSG code and pixels; any other chip is byte-identical.
/// One side of a comparison: a chip, its georeferencing, the folder its
/// paths are relative to.
struct Side<'a> {
    chip: &'a Chip,
    georef: &'a ChipGeoref,
    base: &'a Path,
}

fn compare_georef(
    got_side: Side<'_>,
    want_side: Side<'_>,
    stored_root: &Path,
    format: FormatId,
) -> anyhow::Result<()> {
    let (got, got_georef, got_base) = (got_side.chip, got_side.georef, got_side.base);
    let (want, want_georef, want_base) = (want_side.chip, want_side.georef, want_side.base);
    ensure!(
        got_georef.transform == want_georef.transform && got_georef.epsg == want_georef.epsg,
        "georeferencing {got_georef:?} read back, {want_georef:?} stored"
    );
    // The image a format's folder holds is the stored chip, byte for byte.
    let stored_chip = stored_root.join(
        walk(&stored_root.join("chips"))?
            .into_iter()
            .map(|p| Path::new("chips").join(p))
            .find(|p| {
                p.file_stem()
                    .is_some_and(|s| s.to_string_lossy() == want.id)
            })
            .context("no stored chip")?,
    );
    same_bytes(&got_base.join(&got.image), &stored_chip)?;
    if !want_georef.needs_geotiff() {
        ensure!(
            got_georef.source == want_georef.source,
            "georeferencing source changed"
        );
        return Ok(());
    }
    ensure!(
        got_georef.source == GeorefSource::Embedded,
        "not stored as a GeoTIFF"
    );
    ensure!(
        got.world_file.is_none() && got.geotransform.is_none(),
        "georeferencing left outside the GeoTIFF"
    );
    if format != FormatId::Json {
        return Ok(()); // GDAL judges the chips once per fixture, in the json case.
    }
    let source_image = want_base.join(&want.image);
    let (a, b) = (gdalinfo(&source_image)?, gdalinfo(&stored_chip)?);
    ensure!(
        b["driverShortName"] == "GTiff",
        "GDAL does not read it as a GeoTIFF"
    );
    let checksums = |v: &serde_json::Value| -> Vec<serde_json::Value> {
        v["bands"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|b| b["checksum"].clone())
            .collect()
    };
    ensure!(
        checksums(&a) == checksums(&b),
        "pixel checksums {:?} != source {:?}",
        checksums(&b),
        checksums(&a)
    );
    let gt: Vec<f64> = b["geoTransform"]
        .as_array()
        .context("GDAL sees no geotransform")?
        .iter()
        .filter_map(serde_json::Value::as_f64)
        .collect();
    let want_gt = want_georef.transform.context("no geotransform")?.0;
    for (g, w) in gt.iter().zip(want_gt) {
        ensure!(
            (g - w).abs() <= 1e-12 * w.abs().max(1.0),
            "GDAL geotransform {gt:?} != {want_gt:?}"
        );
    }
    ensure!(
        b["stac"]["proj:epsg"].as_u64().map(|c| c as u32) == want_georef.epsg,
        "GDAL sees EPSG {} not {:?}",
        b["stac"]["proj:epsg"],
        want_georef.epsg
    );
    ensure!(
        b["metadata"][""]["AREA_OR_POINT"] == "Area",
        "not AREA_OR_POINT=Area"
    );
    Ok(())
}

/// Pillow opens every stored mask with the expected mode (`P` for palette
/// formats, `L` for TIFF) and exactly the expected values; GDAL reads every
/// GeoTIFF mask with its chip's geotransform and EPSG code.
fn judge_masks(
    store: &Path,
    format: FormatId,
    stored: &Scoped,
    python: &Path,
) -> anyhow::Result<()> {
    // One folder per split: `<format>/<split>/masks/<chip id>.<ext>`.
    let dir = store.join(format.name());
    let script = "import glob, json, os, sys\n\
                  from PIL import Image\n\
                  out = {}\n\
                  for f in sorted(glob.glob(os.path.join(sys.argv[1], '*', 'masks', '*'))):\n\
                  \x20   im = Image.open(f)\n\
                  \x20   split = os.path.basename(os.path.dirname(os.path.dirname(f)))\n\
                  \x20   out[split + '/' + os.path.splitext(os.path.basename(f))[0]] = \
                  {'mode': im.mode, 'size': list(im.size), 'data': list(im.getdata())}\n\
                  print(json.dumps(out))\n";
    let out = std::process::Command::new(python)
        .args(["-c", script])
        .arg(&dir)
        .output()
        .context("running Pillow")?;
    ensure!(
        out.status.success(),
        "Pillow failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let mode = if matches!(format, FormatId::Tiff | FormatId::Geotiff) {
        "L"
    } else {
        "P"
    };
    ensure!(
        seen.as_object().map(serde_json::Map::len) == Some(stored.chips.len()),
        "Pillow found {} masks for {} chips",
        seen.as_object().map_or(0, serde_json::Map::len),
        stored.chips.len()
    );
    for (chip, georef) in &stored.chips {
        let key = format!("{}/{}", chip.split(), chip.id);
        ensure!(
            seen.get(&key).is_some(),
            "mask {}: not in its split's folder {}",
            chip.id,
            chip.split()
        );
        let m = &seen[&key];
        let want = class_mask(chip, &stored.project.base_dir)?;
        ensure!(
            m["mode"] == mode,
            "mask {}: Pillow mode {} not {mode}",
            chip.id,
            m["mode"]
        );
        ensure!(
            m["size"] == serde_json::json!([want.width, want.height]),
            "mask {}: size {}",
            chip.id,
            m["size"]
        );
        let values: Vec<u64> = m["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(serde_json::Value::as_u64)
            .collect();
        let expected: Vec<u64> = want.data.iter().map(|&v| u64::from(v)).collect();
        ensure!(
            values == expected,
            "mask {}: Pillow reads other values",
            chip.id
        );
        if format == FormatId::Geotiff
            && let Some(gt) = georef.transform
        {
            let info = gdalinfo(&dir.join(format!("{}/masks/{}.tif", chip.split(), chip.id)))?;
            let got: Vec<f64> = info["geoTransform"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(serde_json::Value::as_f64)
                .collect();
            ensure!(
                got == gt.0,
                "mask {}: GDAL geotransform {got:?} != {:?}",
                chip.id,
                gt.0
            );
            ensure!(
                info["stac"]["proj:epsg"].as_u64().map(|c| c as u32) == georef.epsg,
                "mask {}: GDAL EPSG {} != {:?}",
                chip.id,
                info["stac"]["proj:epsg"],
                georef.epsg
            );
        }
    }
    Ok(())
}

/// `gdalinfo -json -checksum` of a file.
fn gdalinfo(path: &Path) -> anyhow::Result<serde_json::Value> {
    let out = std::process::Command::new("gdalinfo")
        .args(["-json", "-checksum"])
        .arg(path)
        .output()
        .context("running gdalinfo: install GDAL's tools (Debian package gdal-bin)")?;
    ensure!(
        out.status.success(),
        "gdalinfo {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Every file under `dir`, relative to it.
fn walk(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir)?.to_path_buf());
            }
        }
    }
    Ok(out)
}

/// A destination of the round trips, from the test servers' environment.
enum Destination {
    S3 { endpoint: String },
    Http { url: String },
    Par { url: String },
    Db { url: String },
}

impl Destination {
    /// The destinations the test tooling started (`cargo xtask test` sets
    /// their variables); none when run without them.
    fn from_env() -> anyhow::Result<Vec<Destination>> {
        let var = crate::util::child_env;
        let mut out = Vec::new();
        if let Some(endpoint) = var("LABELSTORE_TEST_S3") {
            // The round trips' bucket, made with boto3 (the S3 server is
            // empty when it starts).
            let python = var("LABELSTORE_PYTHON").context("LABELSTORE_PYTHON is not set")?;
            let script =
                crate::util::project_root().join("crates/sink-objstore/tests/support/fetch.py");
            let made = std::process::Command::new(python)
                .arg(script)
                .args(["mkbucket", &endpoint, "conformance"])
                .env_remove("AWS_CA_BUNDLE")
                .output()
                .context("running fetch.py mkbucket")?;
            let text = String::from_utf8_lossy(&made.stderr);
            ensure!(
                made.status.success() || text.contains("BucketAlready"),
                "creating the conformance bucket: {text}"
            );
            out.push(Destination::S3 { endpoint });
        }
        if let Some(url) = var("LABELSTORE_TEST_HTTP") {
            out.push(Destination::Http { url });
        }
        if let Some(url) = var("LABELSTORE_TEST_PAR") {
            out.push(Destination::Par { url });
        }
        if let Some(url) = var("LABELSTORE_TEST_PG") {
            out.push(Destination::Db { url });
        }
        if out.is_empty() {
            println!(
                "conformance: no test servers (LABELSTORE_TEST_S3, _HTTP, _PAR, _PG): the round trips \
                 through the destinations run under `cargo xtask test`"
            );
        }
        Ok(out)
    }

    fn name(&self) -> &'static str {
        match self {
            Destination::S3 { .. } => "s3",
            Destination::Http { .. } => "http",
            Destination::Par { .. } => "par",
            Destination::Db { .. } => "db",
        }
    }

    /// The arguments of `store` and `fetch` for case number `case`.
    fn args(&self, case: usize) -> (Vec<String>, Vec<String>) {
        let run = std::process::id();
        let v = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        match self {
            Destination::S3 { endpoint } => {
                let url = format!("s3://conformance/r{run}/c{case}");
                let common = v(&["--url", &url, "--endpoint", endpoint]);
                let mut store = v(&["--to", "objstore"]);
                store.extend(common.clone());
                let mut fetch = v(&["--from", "objstore"]);
                fetch.extend(common);
                (store, fetch)
            }
            Destination::Http { url } => {
                let url = format!("{}/conformance-r{run}/c{case}/", url.trim_end_matches('/'));
                let store = v(&["--to", "objstore", "--url", &url]);
                let fetch = v(&["--from", "objstore", "--url", &url]);
                (store, fetch)
            }
            Destination::Par { url } => {
                let prefix = format!("conformance-r{run}/c{case}");
                let common = v(&["--par-url", url, "--prefix", &prefix]);
                let mut store = v(&["--to", "objstore"]);
                store.extend(common.clone());
                let mut fetch = v(&["--from", "objstore"]);
                fetch.extend(common);
                (store, fetch)
            }
            Destination::Db { url } => {
                let table = format!("conformance_r{run}_c{case}");
                let common = v(&["--connection", url, "--table", &table]);
                let mut store = v(&["--to", "db"]);
                store.extend(common.clone());
                let mut fetch = v(&["--from", "db"]);
                fetch.extend(common);
                (store, fetch)
            }
        }
    }
}

/// The `labelstore` binary beside this xtask binary (`cargo test
/// --workspace` builds it).
fn labelstore_bin() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .map(|d| d.join("labelstore"))
        .context("no folder of the xtask binary")?;
    ensure!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p store-cli`",
        bin.display()
    );
    Ok(bin)
}

fn labelstore_run(args: &[String]) -> anyhow::Result<()> {
    let out = std::process::Command::new(labelstore_bin()?)
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        // COCO's date_created: the same in every store of the round trip.
        .env("SOURCE_DATE_EPOCH", "1767225600")
        .env_remove("AWS_CA_BUNDLE")
        .output()
        .context("running labelstore")?;
    ensure!(
        out.status.success(),
        "labelstore {} failed ({}): {}",
        args.first().map_or("", String::as_str),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// Store `fixture` as `format` to `dest`, fetch it, store the fetched
/// project locally, and compare with a direct local store.
fn round_trip(
    fixture: &Path,
    format: FormatId,
    dest: &Destination,
    case: usize,
) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let (direct, fetched, again) = (
        tmp.path().join("direct"),
        tmp.path().join("fetched"),
        tmp.path().join("again"),
    );
    let local = |project: &Path, to: &Path| {
        labelstore_run(&[
            "store".into(),
            s(project),
            "--to".into(),
            "local".into(),
            "--path".into(),
            s(to),
            "--format".into(),
            format.name().into(),
        ])
    };
    local(fixture, &direct).context("the direct local store")?;
    let (store_args, fetch_args) = dest.args(case);
    let mut args = vec!["store".to_owned(), s(fixture)];
    args.extend(store_args);
    args.extend(["--format".to_owned(), format.name().to_owned()]);
    labelstore_run(&args).context("the store to the destination")?;
    let mut args = vec!["fetch".to_owned()];
    args.extend(fetch_args);
    args.extend(["--output".to_owned(), s(&fetched)]);
    labelstore_run(&args).context("the fetch")?;
    // A project (project.json) is stored again; a semantic-segmentation
    // fetch gives the store in its mask format directly.
    let stored_again = if fetched.join("project.json").exists() {
        local(&fetched, &again).context("storing the fetched project")?;
        &again
    } else {
        &fetched
    };
    let exact_chips = !matches!(dest, Destination::Db { .. });
    compare_stores(&direct, stored_again, exact_chips, tmp.path())
}

/// Every file of the direct store `a` in `b` too, and nothing more: label
/// files byte-identical; chips byte-identical when `exact_chips`, else as
/// GDAL reads them (a chip from a JPEG within a few levels: sink-db decodes
/// JPEG with zune-jpeg, GDAL with libjpeg).
fn compare_stores(a: &Path, b: &Path, exact_chips: bool, tmp: &Path) -> anyhow::Result<()> {
    let skip = |p: &Path| p == Path::new(labelstore::STORE_MANIFEST);
    let mut left: Vec<PathBuf> = walk(a)?.into_iter().filter(|p| !skip(p)).collect();
    let mut right: Vec<PathBuf> = walk(b)?.into_iter().filter(|p| !skip(p)).collect();
    left.sort();
    right.sort();
    ensure!(
        left == right,
        "the files differ after the round trip: only direct {:?}, only after {:?}",
        left.iter()
            .filter(|p| !right.contains(p))
            .collect::<Vec<_>>(),
        right
            .iter()
            .filter(|p| !left.contains(p))
            .collect::<Vec<_>>()
    );
    for path in &left {
        let (x, y) = (std::fs::read(a.join(path))?, std::fs::read(b.join(path))?);
        if x == y {
            continue;
        }
        // A chip or its alias in a format's folder; masks are label files.
        let chip = !path.components().any(|c| c.as_os_str() == "masks")
            && path
                .extension()
                .map(|e| e.to_string_lossy().to_ascii_lowercase())
                .is_some_and(|e| {
                    ["tif", "tiff", "png", "jpg", "jpeg", "gif", "bmp"].contains(&e.as_str())
                });
        ensure!(
            chip && !exact_chips,
            "{} differs after the round trip",
            path.display()
        );
        same_raster(&a.join(path), &b.join(path), tmp)
            .with_context(|| format!("{}", path.display()))?;
    }
    Ok(())
}

/// Two rasters GDAL reads alike: size, band types, geotransform, EPSG code
/// and pixels (within 4 levels, mean under half a level, when the first is
/// JPEG-compressed).
fn same_raster(a: &Path, b: &Path, tmp: &Path) -> anyhow::Result<()> {
    let (ia, ib) = (gdalinfo(a)?, gdalinfo(b)?);
    let view = |i: &serde_json::Value| {
        serde_json::json!({
            "size": i["size"],
            "types": i["bands"].as_array().map(|b| b.iter().map(|b| b["type"].clone()).collect::<Vec<_>>()),
            "nodata": i["bands"].as_array().map(|b| b.iter().map(|b| b["noDataValue"].clone()).collect::<Vec<_>>()),
            "geotransform": i["geoTransform"],
            "epsg": i["stac"]["proj:epsg"],
        })
    };
    ensure!(
        view(&ia) == view(&ib),
        "GDAL reads {} and {} differently",
        view(&ia),
        view(&ib)
    );
    let jpeg = ia["metadata"]["IMAGE_STRUCTURE"]["COMPRESSION"]
        .as_str()
        .is_some_and(|c| c.contains("JPEG"));
    let (pa, pb) = (pixels(a, tmp)?, pixels(b, tmp)?);
    ensure!(pa.len() == pb.len(), "pixel counts differ");
    let diffs: Vec<f64> = pa.iter().zip(&pb).map(|(x, y)| (x - y).abs()).collect();
    let worst = diffs.iter().copied().fold(0.0, f64::max);
    let mean = diffs.iter().sum::<f64>() / diffs.len().max(1) as f64;
    let (max, max_mean) = if jpeg { (4.0, 0.5) } else { (0.0, 0.0) };
    ensure!(
        worst <= max && mean <= max_mean,
        "pixels differ (worst {worst}, mean {mean})"
    );
    Ok(())
}

/// The pixels GDAL decodes, band after band, as f64 (through a VRT without
/// the geotransform: GDAL's ENVI driver refuses rotated ones).
fn pixels(path: &Path, tmp: &Path) -> anyhow::Result<Vec<f64>> {
    let vrt = tmp.join("pixels.vrt");
    let raw = tmp.join("pixels.raw");
    let gdal = |args: &[&std::ffi::OsStr]| -> anyhow::Result<()> {
        let out = std::process::Command::new("gdal_translate")
            .args(args)
            .output()
            .context("running gdal_translate")?;
        ensure!(
            out.status.success(),
            "gdal_translate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    };
    gdal(&[
        "-q".as_ref(),
        "-of".as_ref(),
        "VRT".as_ref(),
        path.as_os_str(),
        vrt.as_os_str(),
    ])?;
    let text = std::fs::read_to_string(&vrt)?;
    let plain: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("<GeoTransform>"))
        .collect();
    std::fs::write(&vrt, plain.join("\n"))?;
    gdal(&[
        "-q".as_ref(),
        "-of".as_ref(),
        "ENVI".as_ref(),
        "-ot".as_ref(),
        "Float64".as_ref(),
        "-co".as_ref(),
        "INTERLEAVE=BSQ".as_ref(),
        vrt.as_os_str(),
        raw.as_os_str(),
    ])?;
    Ok(std::fs::read(&raw)?
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect())
}
