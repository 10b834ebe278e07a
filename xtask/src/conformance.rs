//! `cargo xtask conformance`: the cross-crate suite.
//!
//! For every fixture project (each folder of `tests/fixtures`, and the
//! example project) and every format this build implements for its labeling
//! type: store it to a local folder, read the labels back with the format's
//! own reader, and compare with the model (every label, class and chip
//! field, and the stored chip files byte for byte against their sources).
//! Then store what was read back again and check that every file comes out
//! byte-identical. It grows with every format.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use labelstore::model::{Chip, ChipGeoref, FormatId, GeorefSource, ImageLimits, Project, Scope};
use labelstore::{Plan, StoreOptions, implemented_formats, label_format};

/// Runs the suite; fails when any case fails.
pub(crate) fn run(root: &Path) -> anyhow::Result<()> {
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(root.join("tests/fixtures"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("project.json").exists())
        .collect();
    fixtures.sort();
    fixtures.push(root.join("examples/harbour"));
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for fixture in &fixtures {
        let name = fixture
            .strip_prefix(root)
            .unwrap_or(fixture)
            .display()
            .to_string();
        let project = Project::load(fixture).with_context(|| format!("loading {name}"))?;
        let formats = implemented_formats(project.labeling_type);
        if formats.is_empty() {
            println!(
                "conformance {name}: no {} format implemented yet ... skipped",
                project.labeling_type
            );
            skipped += 1;
        }
        for format in formats {
            match check(fixture, format) {
                Ok(()) => {
                    println!("conformance {name} {format} ... ok");
                    passed += 1;
                }
                Err(e) => {
                    println!("conformance {name} {format} ... FAILED\n  {e:#}");
                    failed += 1;
                }
            }
        }
    }
    println!("conformance: {passed} passed, {failed} failed, {skipped} skipped");
    ensure!(failed == 0, "{failed} conformance cases failed");
    Ok(())
}

fn options(format: FormatId) -> StoreOptions {
    StoreOptions {
        formats: vec![format],
        scope: Scope::Project,
        limits: ImageLimits::default(),
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

fn store(project: &Path, format: FormatId, target: &Path) -> anyhow::Result<Scoped> {
    let plan = Plan::prepare(project, options(format))?;
    let scoped = scope_of(&plan);
    let dest = labelstore::fs::FsDestination::open(target, false)?;
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    rt.block_on(plan.execute(dest, &mut |_| {}))?;
    Ok(scoped)
}

fn check(fixture: &Path, format: FormatId) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (first, second) = (tmp.path().join("first"), tmp.path().join("second"));
    let stored = store(fixture, format, &first)?;
    let resolved = &stored.project;
    let reader = label_format(format).context("no implementation")?;
    let back = reader.read(&first).context("reading the store back")?;
    ensure!(
        back.name == resolved.name,
        "name {:?} != {:?}",
        back.name,
        resolved.name
    );
    ensure!(
        back.labeling_type == resolved.labeling_type,
        "labeling type differs"
    );
    ensure!(
        back.srid == resolved.srid,
        "srid {:?} != {:?}",
        back.srid,
        resolved.srid
    );
    ensure!(
        back.classes == resolved.classes,
        "classes differ: {:?}",
        back.classes
    );
    ensure!(
        back.chips.len() == stored.chips.len(),
        "{} chips read back, {} stored",
        back.chips.len(),
        stored.chips.len()
    );
    // Resolve what was read back, as a new store would.
    let back_scope = scope_of(&Plan::prepare(&first, options(format))?);
    for ((got, got_georef), (want, want_georef)) in back_scope.chips.iter().zip(&stored.chips) {
        compare_chip(got, want, &first, &resolved.base_dir)
            .and_then(|()| {
                compare_georef(
                    got,
                    got_georef,
                    want,
                    want_georef,
                    &first,
                    &resolved.base_dir,
                )
            })
            .with_context(|| format!("chip {:?}", want.id))?;
    }

    // What was read back stores again to identical files.
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
    Ok(())
}

fn compare_chip(got: &Chip, want: &Chip, stored: &Path, source: &Path) -> anyhow::Result<()> {
    ensure!(got.id == want.id, "id {:?}", got.id);
    ensure!(
        (got.width, got.height) == (want.width, want.height),
        "size {:?}x{:?}",
        got.width,
        got.height
    );
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
    match (&got.mask, &want.mask) {
        (Some(g), Some(w)) => same_bytes(&stored.join(g), &source.join(w))?,
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
fn compare_georef(
    got: &Chip,
    got_georef: &ChipGeoref,
    want: &Chip,
    want_georef: &ChipGeoref,
    stored: &Path,
    source: &Path,
) -> anyhow::Result<()> {
    ensure!(
        got_georef.transform == want_georef.transform && got_georef.epsg == want_georef.epsg,
        "georeferencing {got_georef:?} read back, {want_georef:?} stored"
    );
    let (stored_image, source_image) = (stored.join(&got.image), source.join(&want.image));
    if !want_georef.needs_geotiff() {
        ensure!(
            got_georef.source == want_georef.source,
            "georeferencing source changed"
        );
        return same_bytes(&stored_image, &source_image);
    }
    ensure!(
        got_georef.source == GeorefSource::Embedded,
        "not stored as a GeoTIFF"
    );
    ensure!(
        got.world_file.is_none() && got.geotransform.is_none(),
        "georeferencing left outside the GeoTIFF"
    );
    let (a, b) = (gdalinfo(&source_image)?, gdalinfo(&stored_image)?);
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
