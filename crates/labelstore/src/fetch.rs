//! Reading a store back into a project folder (`labelstore fetch`), from
//! any [`StoreReader`]: a local store in place, any other brought into a
//! scratch folder first, file by file against its manifest. The
//! store's manifest says which formats it holds; the richest one (`json`
//! when present) is read with its own reader, and a local store in `json`
//! writes the project (manifest plus chips) that `labelstore store` accepts
//! again.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use labels_model::{ImageLimits, Scope};
use sha2::{Digest, Sha256};
use sink_api::{DAMAGED, Fetched, STORE_MANIFEST, StoreReader};

use crate::formats::{FormatId, label_format};
use crate::listed::{Listed, unsafe_entry};
use crate::store::{Plan, Progress, StoreError, StoreOptions};

/// The project's name and the formats a store's manifest lists, in its order.
fn stored_formats(dir: &Path) -> Result<(Option<String>, Vec<FormatId>), StoreError> {
    let manifest = dir.join(STORE_MANIFEST);
    let file = std::fs::File::open(&manifest).map_err(|e| {
        StoreError::Destination(sink_api::Error::io(
            format_args!(
                "{} holds no labelstore store ({STORE_MANIFEST})",
                dir.display()
            ),
            e,
        ))
    })?;
    let value = sink_api::manifest_header(BufReader::new(file)).map_err(|e| {
        StoreError::Scratch(std::io::Error::other(format!(
            "{}: malformed store manifest: {}",
            manifest.display(),
            raster_georef::shorten_quotes(&e.to_string())
        )))
    })?;
    let formats = value["formats"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().and_then(FormatId::parse))
        .collect();
    Ok((value["project"].as_str().map(str::to_owned), formats))
}

/// What fetching a store from a remote place would bring over, told from
/// its manifest alone ([`fetch_dry_run`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct FetchDryRun {
    /// Always `true`: nothing was written.
    pub dry_run: bool,
    /// Where the store is (no secrets).
    pub source: String,
    /// The stored project's name, as its manifest says.
    pub project: Option<String>,
    /// The formats it was stored in.
    pub formats: Vec<&'static str>,
    /// The files its manifest lists (the manifest included), which a fetch
    /// brings over and checks before it writes the project folder.
    pub bring: sink_api::Tally,
}

/// Reads the store manifest of `reader` (into a scratch folder of the
/// system's, removed at once) and tells what a fetch would bring over.
/// Nothing else is read or written.
pub async fn fetch_dry_run<R: StoreReader>(reader: &mut R) -> Result<FetchDryRun, StoreError> {
    let scratch = crate::scratch::scratch_dir("fetch-plan")?;
    let manifest = scratch.path().join(STORE_MANIFEST);
    get_manifest(reader, &manifest).await?;
    let (project, formats) = stored_formats(scratch.path())?;
    let mut bring = sink_api::Tally::default();
    for e in entries(&manifest)? {
        let e = e?;
        if !sink_api::is_safe_store_path(&e.path) {
            return Err(unsafe_entry(&e.path));
        }
        bring.add(e.size);
    }
    bring.add(std::fs::metadata(&manifest)?.len());
    Ok(FetchDryRun {
        dry_run: true,
        source: reader.describe(),
        project,
        formats: formats.iter().map(|f| f.name()).collect(),
        bring,
    })
}

/// Prepares fetching the store `reader` reads (the whole project or one
/// chip) as a project in format `json`.
///
/// A local store is read in place: every file the store's project names
/// must be one its manifest lists, and the folder must hold nothing else
/// (see `listed`). Any other store is first brought into `dir` (which must
/// outlive the plan), each file checked against the store manifest: the
/// files a reader hands in bulk ([`StoreReader::get_all`]: a database's
/// rows, a chip kept as a raster made back into a (Geo)TIFF), then the
/// others one by one.
pub async fn prepare_fetch<R: StoreReader>(
    reader: &mut R,
    dir: &Path,
    scope: Scope,
) -> Result<Plan, StoreError> {
    prepare_fetch_with_progress(reader, dir, scope, &mut |_| {}).await
}

/// [`prepare_fetch`], telling `progress` of every file brought into `dir`
/// (none for a local store, read in place).
pub async fn prepare_fetch_with_progress<R: StoreReader>(
    reader: &mut R,
    dir: &Path,
    scope: Scope,
    progress: &mut (dyn FnMut(Progress<'_>) + Send),
) -> Result<Plan, StoreError> {
    if let Some(root) = reader.local_folder() {
        if !root.is_dir() {
            return Err(StoreError::Usage(format!(
                "{} is not a folder: there is no store to fetch there",
                root.display()
            )));
        }
        return prepare_fetch_dir(root, scope, &HashSet::new(), true);
    }
    let shown = reader.describe();
    let manifest = dir.join(STORE_MANIFEST);
    get_manifest(reader, &manifest).await?;
    let mut listed: HashMap<String, Entry> = HashMap::new();
    for e in entries(&manifest)? {
        let e = e?;
        if !sink_api::is_safe_store_path(&e.path) {
            return Err(unsafe_entry(&e.path));
        }
        listed.insert(e.path.clone(), e);
    }
    let mut made = HashSet::new();
    let mut chips = HashSet::new();
    let total = listed.len();
    let (mut done, mut bytes) = (0, 0);
    let whole = reader
        .get_all(&|p: &str| listed.contains_key(p), |f: Fetched<'_>| {
            write_fetched(dir, &f, &listed, &shown)?;
            done += 1;
            bytes += f.bytes.len() as u64;
            progress(Progress {
                done,
                total,
                bytes,
                item: f.path,
            });
            if let Some(id) = f.chip {
                if f.made {
                    made.insert(id.to_owned());
                }
                chips.insert(id.to_owned());
            }
            Ok::<(), StoreError>(())
        })
        .await?;
    if !whole {
        get_each(reader, dir, &manifest, &shown, total, progress).await?;
    } else if let Scope::Chip(id) = &scope
        && !chips.contains(id)
    {
        return Err(destination(
            format!("{shown} holds no chip {id:?}"),
            "no row of that chip id",
        ));
    }
    prepare_fetch_dir(dir, scope, &made, false)
}

/// Writes one file a reader handed in bulk into `dir`, checked against
/// the store manifest first (unless made by the reader or a copy).
fn write_fetched(
    dir: &Path,
    f: &Fetched<'_>,
    listed: &HashMap<String, Entry>,
    shown: &str,
) -> Result<(), StoreError> {
    if !f.made
        && f.copy_of.is_none()
        && let Some(e) = listed.get(f.path)
    {
        let (size, sha) = sink_api::digest_bytes(f.bytes);
        let at = match f.about {
            Some(about) => format!("({about})"),
            None => format!("in {shown}"),
        };
        check_received(e, size, &sha, &at)?;
    }
    let path = scratch_path(dir, f.path)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if let Some(original) = f.copy_of
        && std::fs::hard_link(scratch_path(dir, original)?, &path).is_ok()
    {
        return Ok(());
    }
    std::fs::write(&path, f.bytes)?;
    Ok(())
}

/// Brings every file the store manifest lists into `dir`, one by one,
/// each checked against its entry.
async fn get_each<R: StoreReader>(
    reader: &mut R,
    dir: &Path,
    manifest: &Path,
    shown: &str,
    total: usize,
    progress: &mut (dyn FnMut(Progress<'_>) + Send),
) -> Result<(), StoreError> {
    let mut bytes = 0;
    for (done, e) in entries(manifest)?.enumerate() {
        let e = e?;
        let path = scratch_path(dir, &e.path)?;
        let mut rx = Receiving::new(Some(&path))?;
        let got = reader.get(&e.path, &mut |b: &[u8]| rx.take(b)).await?;
        let sha = rx.finish()?;
        let Some(size) = got else {
            return Err(destination(
                format!("{} is missing from {shown}", e.path),
                DAMAGED,
            ));
        };
        check_received(&e, size, &sha, &format!("in {shown}"))?;
        bytes += size;
        progress(Progress {
            done: done + 1,
            total,
            bytes,
            item: &e.path,
        });
    }
    Ok(())
}

/// Prepares fetching the store materialised in `dir`; the chips named in
/// `from_rasters` have their image at `chips/<id>.tif`, a (Geo)TIFF made
/// from a database raster, whatever the store's label files call it.
/// Only files the store manifest lists are read, and (with `whole_folder`,
/// a local store) the folder must hold nothing else.
fn prepare_fetch_dir(
    dir: &Path,
    scope: Scope,
    from_rasters: &HashSet<String>,
    whole_folder: bool,
) -> Result<Plan, StoreError> {
    // Absolute: the image paths set below must not be taken as relative
    // to the folder of the format's files.
    let dir = &std::path::absolute(dir).map_err(StoreError::Scratch)?;
    let (name, formats) = stored_formats(dir)?;
    let listed = Listed::read(dir)?;
    let unlisted = if whole_folder {
        listed.unlisted_files()?
    } else {
        Vec::new()
    };
    let from = formats
        .iter()
        .copied()
        .find(|&f| f == FormatId::Json)
        .or_else(|| formats.first().copied())
        .ok_or_else(|| StoreError::Usage(format!("{} lists no format", dir.display())))?;
    let reader = label_format(from);
    if from != FormatId::Json {
        // Other formats' readers look for their files in the folder.
        listed.refuse_unlisted(&unlisted)?;
    }
    let mut project = reader.read(dir)?;
    // First what the project names, by chip and field; then the rest.
    listed.check_project(&project, from_rasters)?;
    listed.refuse_unlisted(&unlisted)?;
    // Most formats do not record the project's name; the store manifest does.
    if let Some(name) = name.filter(|n| !n.trim().is_empty()) {
        project.name = name;
    }
    for chip in &mut project.chips {
        if !chip.is_labeled() {
            chip.saved_empty = true;
        }
        if from_rasters.contains(&chip.id) {
            chip.image = dir.join("chips").join(format!("{}.tif", chip.id));
            chip.world_file = None;
            chip.geotransform = None;
        }
    }
    // The project folder: manifest, chips and (semantic segmentation)
    // masks, which `labelstore store` takes again.
    Plan::prepare_project(
        project,
        StoreOptions {
            formats: vec![FormatId::Json],
            scope,
            limits: ImageLimits::default(),
            format_options: Default::default(),
        },
    )
}

/// One file of a store manifest.
pub(crate) type Entry = sink_api::ManifestEntry;

/// The file entries of the store manifest at `manifest`, read line by line
/// (the pipeline writes one entry per line), so a manifest of any length
/// is read without holding it.
pub(crate) fn entries(
    manifest: &Path,
) -> Result<impl Iterator<Item = Result<Entry, StoreError>> + use<>, StoreError> {
    let file = File::open(manifest).map_err(StoreError::Scratch)?;
    let shown = manifest.display().to_string();
    Ok(
        sink_api::manifest_entries(BufReader::new(file)).map(move |entry| {
            entry.map_err(|err| {
                StoreError::Scratch(io::Error::other(format!(
                    "{shown}: {}",
                    raster_georef::shorten_quotes(&err.to_string())
                )))
            })
        }),
    )
}

/// A destination failure (exit status 1): what failed, and why.
pub(crate) fn destination(what: String, why: &str) -> StoreError {
    StoreError::Destination(sink_api::Error::io(what, io::Error::other(why.to_owned())))
}

/// A file being received: written to `path` and hashed on the way.
pub(crate) struct Receiving {
    out: Option<BufWriter<File>>,
    hasher: Sha256,
}

impl Receiving {
    /// Writes to `path` (its folders created), or only hashes with `None`.
    pub(crate) fn new(path: Option<&Path>) -> io::Result<Receiving> {
        let out = match path {
            Some(p) => {
                if let Some(parent) = p.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                Some(BufWriter::new(File::create(p)?))
            }
            None => None,
        };
        Ok(Receiving {
            out,
            hasher: Sha256::new(),
        })
    }

    pub(crate) fn take(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hasher.update(bytes);
        match &mut self.out {
            Some(o) => o.write_all(bytes),
            None => Ok(()),
        }
    }

    /// The lower-case hex SHA-256 of what was received.
    pub(crate) fn finish(self) -> io::Result<String> {
        if let Some(o) = self.out {
            o.into_inner().map_err(io::IntoInnerError::into_error)?;
        }
        Ok(sink_api::hex(&self.hasher.finalize()))
    }
}

/// Checks a received file against its manifest entry.
fn check_received(e: &Entry, size: u64, sha: &str, at: &str) -> Result<(), StoreError> {
    if size != e.size || sha != e.sha256 {
        return Err(destination(
            format!(
                "{} {at} differs from the store manifest (manifest {} bytes, found {size}{})",
                e.path,
                e.size,
                if size == e.size {
                    ", another SHA-256"
                } else {
                    ""
                }
            ),
            DAMAGED,
        ));
    }
    Ok(())
}

/// Where the store's file `path` goes in the folder `dir`; an unsafe path
/// is refused.
fn scratch_path(dir: &Path, path: &str) -> Result<PathBuf, StoreError> {
    if !sink_api::is_safe_store_path(path) {
        return Err(unsafe_entry(path));
    }
    Ok(dir.join(path))
}

/// Brings the store manifest into `to`.
pub(crate) async fn get_manifest<R: StoreReader>(
    reader: &mut R,
    to: &Path,
) -> Result<(), StoreError> {
    let mut rx = Receiving::new(Some(to))?;
    reader.manifest(&mut |b: &[u8]| rx.take(b)).await?;
    rx.finish()?;
    Ok(())
}
