//! `--dry-run`: runs a store, import or chip up to the point of writing and
//! prints its plan ([`labelstore::DryRunReport`]) instead of its summary.

use std::io::Write;

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
    print(&report, json);
    Ok(())
}

/// Runs `plan` as a dry run into a local folder (`target`, refused as a
/// real store would refuse it, by reading only) and prints the plan.
pub(crate) fn local(
    plan: Plan,
    target: &std::path::Path,
    overwrite: bool,
    reads_from: Vec<std::path::PathBuf>,
    json: bool,
) -> Result<(), StoreError> {
    let options = labelstore::fs::FsOptions {
        overwrite,
        sources: reads_from,
    };
    let dest = labelstore::fs::FsDestination::dry_run(target, &options)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    run(&runtime, plan, dest, json)
}

fn print(r: &DryRunReport, json: bool) {
    let text = if json {
        serde_json::to_string_pretty(r).unwrap_or_default() + "\n"
    } else {
        human(r)
    };
    // A closed stdout (e.g. `| head`) is not a failure.
    let _ = std::io::stdout().write_all(text.as_bytes());
}

fn human(r: &DryRunReport) -> String {
    let mut s = "dry run: nothing was written\n".to_owned();
    let summary = crate::human(&r.store).replacen("stored ", "would store ", 1);
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
    if plan.delete > 0 {
        s += &format!(
            "would remove or replace: {} files of an earlier store\n",
            plan.delete
        );
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
