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
use labelstore::model::{Chip, FormatId, ImageLimits, Project, Scope, select};
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

fn store(project: &Path, format: FormatId, target: &Path) -> anyhow::Result<Project> {
    let plan = Plan::prepare(project, options(format))?;
    let resolved = plan.project().clone();
    let dest = labelstore::fs::FsDestination::open(target, false)?;
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    rt.block_on(plan.execute(dest, &mut |_| {}))?;
    Ok(resolved)
}

fn check(fixture: &Path, format: FormatId) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (first, second) = (tmp.path().join("first"), tmp.path().join("second"));
    let resolved = store(fixture, format, &first)?;
    let reader = label_format(format).context("no implementation")?;
    let back = reader.read(&first).context("reading the store back")?;

    // The stored scope: the resolved project without excluded chips.
    let selection = select(&resolved, &Scope::Project)?;
    let expected: Vec<&Chip> = selection
        .chips
        .iter()
        .map(|&i| &resolved.chips[i])
        .collect();
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
        back.chips.len() == expected.len(),
        "{} chips read back, {} stored",
        back.chips.len(),
        expected.len()
    );
    for (got, want) in back.chips.iter().zip(expected) {
        compare_chip(got, want, &first, &resolved.base_dir)
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
    ensure!(
        got.geotransform == want.geotransform,
        "geotransform {:?}",
        got.geotransform
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
    let pairs = [
        (Some(&got.image), Some(&want.image)),
        (got.world_file.as_ref(), want.world_file.as_ref()),
        (got.mask.as_ref(), want.mask.as_ref()),
    ];
    for pair in pairs {
        match pair {
            (Some(g), Some(w)) => {
                let (a, b) = (
                    std::fs::read(stored.join(g))?,
                    std::fs::read(source.join(w))?,
                );
                ensure!(
                    a == b,
                    "{} is not byte-identical to {}",
                    g.display(),
                    w.display()
                );
            }
            (None, None) => {}
            (g, w) => bail!("stored file {g:?} where the source has {w:?}"),
        }
    }
    Ok(())
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
