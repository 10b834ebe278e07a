//! `labelstore._native`, the native part of the `labelstore` Python
//! package (`python/labelstore/`), built by maturin into an abi3 wheel
//! (CPython 3.9 and later).
//!
//! It is a top-level artifact like the `labelstore` binary, and runs the
//! same code: [`run`] runs a command line in-process through
//! `store_cli::run_embedded` and gives its `--json` summary, [`main`] is
//! the binary's own `store_cli::run` for the wheel's `labelstore` command,
//! and [`load_project`] reads a project for Python code. The Python layer
//! turns keyword arguments into the command line and JSON into objects.
//!
//! Work runs with the GIL released (`Python::detach`); the progress
//! callback, and the check for Ctrl-C (`KeyboardInterrupt`), take it back
//! for each item done; an exception there stops a store, an import or a
//! fetch, which is undone. Errors are the command line's, as exceptions:
//! `InputError` for exit status 2 (bad input or usage), `DestinationError`
//! for 1 (the destination failed), both `LabelstoreError`s.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyKeyboardInterrupt};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use labelstore::model::{ImageLimits, Project};

create_exception!(
    labelstore,
    LabelstoreError,
    PyException,
    "A labelstore command failed; its message is the command line's."
);
create_exception!(
    labelstore,
    InputError,
    LabelstoreError,
    "Bad input or usage: what the command line's exit status 2 means."
);
create_exception!(
    labelstore,
    DestinationError,
    LabelstoreError,
    "The destination failed: what the command line's exit status 1 means."
);

/// The exception for a failure with the command line's exit status `code`.
fn exception(code: u8, message: String) -> PyErr {
    match code {
        2 => InputError::new_err(message),
        130 => PyKeyboardInterrupt::new_err(message),
        _ => DestinationError::new_err(message),
    }
}

/// Runs the command line `argv` (program name first) in-process and gives
/// its `--json` summary as JSON text, with the GIL released.
///
/// `progress`, when given, is called with a dict (`phase`, `unit`, `item`,
/// `done`, `total`, `bytes`) for each item done. An exception it raises
/// (and Ctrl-C, which Python raises as `KeyboardInterrupt` when the GIL is
/// taken back) stops a store, an import or a fetch before its next chip,
/// undoing it, and is raised here; `verify` and `chip` finish first.
#[pyfunction]
#[pyo3(signature = (argv, progress=None))]
fn run(py: Python<'_>, argv: Vec<OsString>, progress: Option<Py<PyAny>>) -> PyResult<String> {
    let raised: Arc<Mutex<Option<PyErr>>> = Arc::new(Mutex::new(None));
    let keep = Arc::clone(&raised);
    let callback: store_cli::ProgressFn = Box::new(move |step| {
        Python::attach(|py| {
            let told = py.check_signals().and_then(|()| match &progress {
                Some(f) => {
                    let d = PyDict::new(py);
                    d.set_item("phase", step.phase)?;
                    d.set_item("unit", step.unit)?;
                    d.set_item("item", step.item)?;
                    d.set_item("done", step.done)?;
                    d.set_item("total", step.total)?;
                    d.set_item("bytes", step.bytes)?;
                    f.call1(py, (d,)).map(drop)
                }
                None => Ok(()),
            });
            match told {
                Ok(()) => true,
                Err(e) => {
                    let mut first = keep.lock().unwrap_or_else(PoisonError::into_inner);
                    first.get_or_insert(e);
                    false
                }
            }
        })
    });
    let outcome = py.detach(|| store_cli::run_embedded(argv, Some(callback)));
    if let Some(e) = raised.lock().unwrap_or_else(PoisonError::into_inner).take() {
        return Err(e);
    }
    outcome.map_err(|f| exception(f.exit_code, f.message))
}

/// The `labelstore` command of the wheel: runs the command line `argv`
/// exactly as the binary does (output, errors, exit status), with the GIL
/// released, and gives the exit status.
#[pyfunction]
fn main(py: Python<'_>, argv: Vec<OsString>) -> u8 {
    py.detach(|| {
        let code = store_cli::run(argv);
        let _ = std::io::Write::flush(&mut std::io::stdout());
        code
    })
}

/// Reads the project at `path` (project.json or its folder) and gives it as
/// JSON text: the manifest's header (`name`, `labeling_type`, `srid`,
/// `classes`) and its chips, each as the manifest writes it (labels naming
/// their class, coordinates as given) plus what its files say: `width`,
/// `height`, `split` (`train` when it names none), `image_path` (the image
/// file) and `georeferencing` (`source`: world_file, inline, embedded or
/// none; `geotransform`, GDAL order, corner-based; `srid`). Deleted chips
/// are listed too (`deleted`), their files not read.
#[pyfunction]
fn load_project(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    py.detach(|| project_json(&path))
        .map_err(|e| InputError::new_err(e.to_string()))
}

fn project_json(path: &std::path::Path) -> Result<String, labelstore::model::Error> {
    let project = Project::load(path)?;
    let mut resolved = project.clone();
    let kept: Vec<usize> = (0..project.chips.len())
        .filter(|&i| !project.chips[i].deleted)
        .collect();
    let found = labelstore::model::resolve(&mut resolved, &kept, &ImageLimits::default())?;
    let georef: std::collections::HashMap<usize, _> =
        kept.iter().copied().zip(found.georef).collect();
    let header = project.header();
    let chips: Vec<serde_json::Value> = project
        .chips
        .iter()
        .enumerate()
        .map(|(i, chip)| {
            let mut chip = chip.clone();
            chip.width = resolved.chips[i].width;
            chip.height = resolved.chips[i].height;
            let entry = labelstore::model::chip_entry(&header, &chip);
            let mut v: serde_json::Value = serde_json::from_slice(&entry).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                // The mask as the project names it (chip_entry names it
                // where a store puts it).
                let mask = chip.mask.as_ref().map(|m| m.display().to_string());
                o.insert("mask".into(), mask.into());
                o.insert("split".into(), chip.split().into());
                let image = project.base_dir.join(&chip.image);
                o.insert("image_path".into(), image.display().to_string().into());
                let g = georef.get(&i);
                o.insert(
                    "georeferencing".into(),
                    serde_json::json!({
                        "source": g.map_or("none", |g| g.source.name()),
                        "geotransform": g.and_then(|g| g.transform).map(|t| t.0),
                        "srid": g.and_then(|g| g.epsg),
                    }),
                );
            }
            v
        })
        .collect();
    let classes: Vec<serde_json::Value> = project
        .classes
        .iter()
        .map(|c| {
            serde_json::json!({
                "id": c.id,
                "name": c.name,
                "color": c.color.map(|rgb| rgb.to_string()),
            })
        })
        .collect();
    let v = serde_json::json!({
        "name": project.name,
        "labeling_type": project.labeling_type.name(),
        "srid": project.srid,
        "path": project.manifest_path.display().to_string(),
        "classes": classes,
        "chips": chips,
    });
    Ok(v.to_string())
}

/// The module: [`run`], [`main`], [`load_project`] and the exceptions.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(main, m)?)?;
    m.add_function(wrap_pyfunction!(load_project, m)?)?;
    let py = m.py();
    m.add("LabelstoreError", py.get_type::<LabelstoreError>())?;
    m.add("InputError", py.get_type::<InputError>())?;
    m.add("DestinationError", py.get_type::<DestinationError>())?;
    Ok(())
}
