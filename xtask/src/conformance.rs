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
use labelstore::model::{
    Chip, ChipGeoref, Class, Fidelity, FormatId, Geometry, GeorefSource, ImageLimits, LabelFormat,
    LabelingType, Project, Scope,
};
use labelstore::segmentation::class_mask;
use labelstore::{Plan, StoreOptions, implemented_formats, label_format};

/// Runs the suite; fails when any case fails.
pub(crate) fn run(root: &Path) -> anyhow::Result<()> {
    let python = match std::env::var_os("LABELSTORE_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => crate::test::ensure_python(root)?,
    };
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
    let reader = label_format(format).context("no implementation")?;
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
        judge_masks(&first, format, &stored, python)?;
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
                        labelstore::segmentation::rasterize(
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
    let dir = store.join(format.name()).join("masks");
    let script = "import glob, json, os, sys\n\
                  from PIL import Image\n\
                  out = {}\n\
                  for f in sorted(glob.glob(os.path.join(sys.argv[1], '*'))):\n\
                  \x20   im = Image.open(f)\n\
                  \x20   out[os.path.splitext(os.path.basename(f))[0]] = \
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
        let m = &seen[&chip.id];
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
            let info = gdalinfo(&dir.join(format!("{}.tif", chip.id)))?;
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
