//! `--dry-run`: runs a store, import or chip up to the point of writing and
//! prints its plan ([`labelstore::DryRunReport`]) instead of its summary.

use labelstore::sink::Destination;
use labelstore::{DryRunReport, Plan, StoreError};

/// Runs `plan` as a dry run into `dest` (a destination opened for one) and
/// prints the plan.
pub(crate) fn run<D: Destination>(
    runtime: &tokio::runtime::Runtime,
    plan: Plan,
    dest: D,
    json: bool,
) -> Result<(), StoreError> {
    let report = runtime.block_on(plan.dry_run(dest, &mut |_| {}))?;
    print(json, &report, || human(&report));
    Ok(())
}

/// A local folder (`target`) opened for a dry run: refused as a real store
/// would refuse it, by reading only.
pub(crate) fn local_folder(
    target: &std::path::Path,
    overwrite: bool,
    reads_from: Vec<std::path::PathBuf>,
) -> Result<labelstore::fs::FsDryRun, StoreError> {
    Ok(labelstore::fs::FsDestination::dry_run(
        target,
        &crate::local_options(overwrite, reads_from),
    )?)
}

/// Runs `plan` as a dry run into a local folder and prints the plan.
pub(crate) fn local(
    plan: Plan,
    target: &std::path::Path,
    overwrite: bool,
    reads_from: Vec<std::path::PathBuf>,
    json: bool,
) -> Result<(), StoreError> {
    let dest = local_folder(target, overwrite, reads_from)?;
    run(&current_thread()?, plan, dest, json)
}

/// Cuts the scenes of `plan` as a dry run into a local folder and prints
/// the plan.
pub(crate) fn chip(
    plan: labelstore::ChipPlan,
    target: &std::path::Path,
    overwrite: bool,
    reads_from: Vec<std::path::PathBuf>,
    json: bool,
) -> Result<(), StoreError> {
    let dest = local_folder(target, overwrite, reads_from)?;
    let report = current_thread()?.block_on(plan.dry_run(dest, &mut |_| {}))?;
    print(json, &report, || chip_human(&report));
    Ok(())
}

/// A fetch's dry run: the output folder checked as a fetch checks it; a
/// local store planned exactly (read in place, as a fetch reads it), any
/// other told from its store manifest (the files a fetch would bring).
pub(crate) fn fetch(
    runtime: &tokio::runtime::Runtime,
    source: crate::Source,
    args: &crate::FetchArgs,
) -> Result<(), StoreError> {
    let scope = args.chip.clone().map_or(
        labelstore::model::Scope::Project,
        labelstore::model::Scope::Chip,
    );
    let reads_from: Vec<_> = source.local_folder().into_iter().collect();
    let dest = local_folder(&args.output, args.overwrite, reads_from)?;
    match source {
        crate::Source::Local(path) => {
            let mut reader = labelstore::fs::FsReader::open(&path);
            let plan = runtime.block_on(labelstore::prepare_fetch(
                &mut reader,
                std::path::Path::new(""),
                scope,
            ))?;
            run(runtime, plan, dest, args.json)
        }
        #[cfg(feature = "objstore")]
        crate::Source::Objstore(mut reader) => {
            print_fetch(
                &runtime.block_on(labelstore::fetch_dry_run(&mut reader))?,
                args,
            );
            Ok(())
        }
        #[cfg(feature = "db")]
        crate::Source::Db(mut reader) => {
            print_fetch(
                &runtime.block_on(labelstore::fetch_dry_run(&mut reader))?,
                args,
            );
            Ok(())
        }
    }
}

/// Prints what fetching a remote store would bring.
#[cfg(any(feature = "db", feature = "objstore"))]
fn print_fetch(report: &labelstore::FetchDryRun, args: &crate::FetchArgs) {
    print(args.json, report, || {
        format!(
            "dry run: nothing was written\nwould fetch {:?} from {} (stored as {}) into {}\nwould bring: {} files, {} bytes\n",
            report.project.as_deref().unwrap_or(""),
            report.source,
            report.formats.join(", "),
            args.output.display(),
            report.bring.files,
            report.bring.bytes
        )
    });
}

fn current_thread() -> Result<tokio::runtime::Runtime, StoreError> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Prints a dry run's plan: `report` as JSON with `--json` (kept in an
/// embedded run), else `as_text`.
fn print<T: serde::Serialize>(json: bool, report: &T, as_text: impl FnOnce() -> String) {
    crate::embed::summary(json, report, as_text);
}

fn chip_human(r: &DryRunReport<labelstore::ChipSummary>) -> String {
    let c = &r.summary;
    let mut s = format!(
        "dry run: nothing was written\nwould cut {} chips with labels and {} empty from {} scenes of {:?} into {}\n",
        c.chips,
        c.empty_chips,
        c.scenes.len(),
        c.project,
        c.destination
    );
    for sc in &c.scenes {
        s += &format!(
            "  scene {}: {} windows, {} chips, {} left out without labels, {} all nodata\n",
            sc.scene, sc.windows, sc.chips, sc.without_labels, sc.all_nodata
        );
    }
    for (split, count) in &c.splits {
        let labels = crate::labels_per_class(count);
        s += &format!(
            "  split {split}: {} chips ({})\n",
            count.chips,
            labels.join(", ")
        );
    }
    s + &format!(
        "would write: {} files, {} bytes\n",
        r.write.files, r.write.bytes
    )
}

fn human(r: &DryRunReport) -> String {
    let mut s = "dry run: nothing was written\n".to_owned();
    let summary = crate::human(&r.summary, "would store");
    // The store's own closing line (files, bytes, seconds) is told below.
    for line in summary.lines().filter(|l| !l.starts_with("files: ")) {
        s += line;
        s += "\n";
    }
    let plan = &r.destination_plan;
    s += &format!(
        "would write: {} files, {} bytes\n",
        r.write.files, r.write.bytes
    );
    if plan.skip.files > 0 {
        s += &format!(
            "would skip (already there, same size and MD5): {} files, {} bytes\n",
            plan.skip.files, plan.skip.bytes
        );
    }
    match (plan.delete, plan.table_exists) {
        (0, _) => {}
        (n, Some(_)) => s += &format!("would replace: {n} rows of an earlier store\n"),
        (n, None) => s += &format!("would remove or replace: {n} files of an earlier store\n"),
    }
    if !plan.rows.is_empty() {
        let rows: Vec<String> = plan
            .rows
            .iter()
            .map(|(table, n)| format!("{table} {n}"))
            .collect();
        s += &format!("would write rows: {}\n", rows.join(", "));
    }
    match plan.table_exists {
        Some(true) => s += "table: exists\n",
        Some(false) => s += "table: would be created\n",
        None => {}
    }
    s
}
