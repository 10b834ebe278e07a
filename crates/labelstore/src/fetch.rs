//! Reading a store back into a project folder (`labelstore fetch`): the
//! store's manifest says which formats it holds; the richest one (`json`
//! when present) is read with its own reader, and a local store in `json`
//! writes the project (manifest plus chips) that `labelstore store` accepts
//! again.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use labels_model::{FormatId, ImageLimits, Scope};
use sha2::{Digest, Sha256};
use sink_db::{ChipRow, DbReader};
use sink_objstore::ObjStoreReader;

use crate::formats::label_format;
use crate::listed::{Listed, unsafe_entry};
use sink_api::STORE_MANIFEST;
use crate::store::{Plan, StoreError, StoreOptions};

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

/// Prepares fetching the local store at `dir` (the whole project or one
/// chip) as a project in format `json`.
/// Every file the store's project names must be one its manifest lists,
/// and the folder must hold nothing else (see `listed`).
pub fn prepare_fetch_local(dir: &Path, scope: Scope) -> Result<Plan, StoreError> {
    if !dir.is_dir() {
        return Err(StoreError::Usage(format!(
            "{} is not a folder: there is no store to fetch there",
            dir.display()
        )));
    }
    prepare_fetch_dir(dir, scope, &HashSet::new(), true)
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
    let reader = label_format(from)
        .ok_or_else(|| StoreError::Usage(format!("format {from} cannot be read by this build")))?;
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
        Ok(self
            .hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    }
}

/// Why a fetch stops at a file that is not as listed.
const DAMAGED: &str = "the store is damaged; `labelstore verify` lists every difference";

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

/// Downloads the store manifest of an object store into `to`.
pub(crate) async fn get_manifest(reader: &ObjStoreReader, to: &Path) -> Result<(), StoreError> {
    let mut rx = Receiving::new(Some(to))?;
    let got = reader
        .get(STORE_MANIFEST, &mut |b: &[u8]| rx.take(b))
        .await?;
    rx.finish()?;
    if got.is_none() {
        return Err(destination(
            format!("{} holds no labelstore store", reader.describe()),
            if reader.is_par() {
                "there is no labelstore-manifest.json under the prefix, or the PAR is wrong, \
                 expired or does not allow reading it"
            } else {
                "there is no labelstore-manifest.json under the prefix"
            },
        ));
    }
    Ok(())
}

/// Downloads the object store's files into `dir`, checking each against
/// the store manifest, then prepares reading them back as a local store
/// (the whole project or one chip). `dir` must outlive the plan.
pub async fn prepare_fetch_objstore(
    reader: &ObjStoreReader,
    dir: &Path,
    scope: Scope,
) -> Result<Plan, StoreError> {
    let manifest = dir.join(STORE_MANIFEST);
    get_manifest(reader, &manifest).await?;
    for e in entries(&manifest)? {
        let e = e?;
        let path = scratch_path(dir, &e.path)?;
        let mut rx = Receiving::new(Some(&path))?;
        let got = reader.get(&e.path, &mut |b: &[u8]| rx.take(b)).await?;
        let sha = rx.finish()?;
        let Some(size) = got else {
            return Err(destination(
                format!("{} is missing from {}", e.path, reader.describe()),
                DAMAGED,
            ));
        };
        check_received(&e, size, &sha, &format!("in {}", reader.describe()))?;
    }
    prepare_fetch_dir(dir, scope, &HashSet::new(), false)
}

/// Reads a database store into `dir` (a chip whose row keeps its image's
/// bytes as those bytes, under the recorded image path; any other chip as
/// a (Geo)TIFF made from its raster; label and project-wide files as
/// stored; each checked against the store manifest), then prepares reading
/// it back as a local store.
/// Rows are read in batches. `dir` must outlive the plan.
pub async fn prepare_fetch_db(
    reader: &mut DbReader,
    dir: &Path,
    scope: Scope,
) -> Result<Plan, StoreError> {
    let manifest = dir.join(STORE_MANIFEST);
    {
        let mut rx = Receiving::new(Some(&manifest))?;
        reader
            .read_file(STORE_MANIFEST, &mut |b: &[u8]| rx.take(b))
            .await?;
        rx.finish()?;
    }
    let mut listed: HashMap<String, Entry> = HashMap::new();
    for e in entries(&manifest)? {
        let e = e?;
        if !sink_api::is_safe_store_path(&e.path) {
            return Err(unsafe_entry(&e.path));
        }
        listed.insert(e.path.clone(), e);
    }
    let shown = reader.describe();
    let chip = match &scope {
        Scope::Chip(id) => Some(id.clone()),
        Scope::Project => None,
    };
    let mut from_rasters = HashSet::new();
    let mut seen_bytes = HashSet::new();
    {
        // Every chip's rows, also for one chip: project-wide files (VOC's
        // image sets, a COCO file) list every chip, and the store's reader
        // wants them all; the plan's scope then picks the one asked for.
        let mut rows = reader.chips(None, true).await?;
        loop {
            let batch = rows.next_batch().await?;
            if batch.is_empty() {
                break;
            }
            for row in batch {
                match write_chip(dir, &row, &listed, &shown)? {
                    Some(true) => from_rasters.insert(row.chip_id),
                    Some(false) => seen_bytes.insert(row.chip_id),
                    None => false,
                };
            }
        }
    }
    if let Some(id) = &chip
        && !from_rasters.contains(id)
        && !seen_bytes.contains(id)
    {
        return Err(destination(
            format!("{shown} holds no chip {id:?}"),
            "no row of that chip id",
        ));
    }
    let mut files = reader.files(true).await?;
    loop {
        let batch = files.next_batch().await?;
        if batch.is_empty() {
            break;
        }
        for f in batch {
            // A row the manifest does not list is not the store's: not read.
            let Some(e) = listed.get(&f.path) else {
                continue;
            };
            let data = f.data.unwrap_or_default();
            let (size, sha) = sink_api::digest_bytes(&data);
            check_received(e, size, &sha, &format!("in {shown}"))?;
            let path = scratch_path(dir, &f.path)?;
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, &data)?;
        }
    }
    prepare_fetch_dir(dir, scope, &from_rasters, false)
}

/// Writes one chip row's files into `dir`: the image (the row's kept bytes
/// at its recorded path, checked against the recorded size and SHA-256 and
/// the store manifest; else the raster as `chips/<id>.tif`), also at the
/// paths of the image's copies so a format's reader finds them, and the
/// label file. True when the image was made from the raster; `None` (and
/// nothing written) for a row whose image the store manifest does not list,
/// which is not part of the store.
fn write_chip(
    dir: &Path,
    row: &ChipRow,
    listed: &HashMap<String, Entry>,
    shown: &str,
) -> Result<Option<bool>, StoreError> {
    if !listed.contains_key(&row.image_path) {
        return Ok(None);
    }
    let chip_err = |m: String| destination(format!("{shown}: chip {}", row.chip_id), &m);
    let from_raster = match &row.image {
        Some(bytes) => {
            let (size, sha) = sink_api::digest_bytes(bytes);
            let recorded = u64::try_from(row.image_size).ok();
            if recorded != Some(size) || sha != row.image_sha256 {
                return Err(destination(
                    format!(
                        "{} (image of chip {}) in {shown} differs from its row's image_size \
                         and image_sha256 ({} bytes recorded, found {size})",
                        row.image_path, row.chip_id, row.image_size
                    ),
                    DAMAGED,
                ));
            }
            if let Some(e) = listed.get(&row.image_path) {
                check_received(e, size, &sha, &format!("(image of chip {})", row.chip_id))?;
            }
            let target = scratch_path(dir, &row.image_path)?;
            write_image(dir, row, &target, bytes, listed)?;
            false
        }
        None => {
            raster_tiff(dir, row, &chip_err, listed)?;
            true
        }
    };
    if let (Some(path), Some(bytes)) = (&row.label_path, &row.labels)
        && let Some(e) = listed.get(path)
    {
        let (size, sha) = sink_api::digest_bytes(bytes);
        check_received(e, size, &sha, &format!("(labels of chip {})", row.chip_id))?;
        let at = scratch_path(dir, path)?;
        if let Some(parent) = at.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(at, bytes)?;
    }
    Ok(Some(from_raster))
}

/// Writes a chip's image to `target` and at the paths of its copies (the
/// row's files of the image's checksum the store manifest lists).
fn write_image(
    dir: &Path,
    row: &ChipRow,
    target: &Path,
    bytes: &[u8],
    listed: &HashMap<String, Entry>,
) -> Result<(), StoreError> {
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(target, bytes)?;
    for f in &row.files {
        if f.sha256 != row.image_sha256 || !listed.contains_key(&f.path) {
            continue;
        }
        let copy = scratch_path(dir, &f.path)?;
        if copy == target {
            continue;
        }
        if let Some(parent) = copy.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if std::fs::hard_link(target, &copy).is_err() {
            std::fs::write(&copy, bytes)?;
        }
    }
    Ok(())
}

/// Writes the chip's raster as the (Geo)TIFF `chips/<id>.tif` (and at the
/// paths of the image's copies).
fn raster_tiff(
    dir: &Path,
    row: &ChipRow,
    chip_err: &dyn Fn(String) -> StoreError,
    listed: &HashMap<String, Entry>,
) -> Result<(), StoreError> {
    let wkb = row.rast.as_deref().unwrap_or_default();
    let raster = raster_georef::WkbRaster::from_wkb(wkb)
        .map_err(|e| chip_err(format!("its raster cannot be read: {e}")))?;
    let epsg = row
        .epsg
        .and_then(|c| u32::try_from(c).ok())
        .or_else(|| u32::try_from(raster.srid).ok().filter(|&c| c > 0));
    let crs = match epsg {
        Some(code) => Some(
            raster_georef::Crs::from_epsg(code).map_err(|e| chip_err(format!("its CRS: {e}")))?,
        ),
        None => None,
    };
    let keys = crs.as_ref().map(|c| raster_georef::CrsKeys {
        epsg: epsg.unwrap_or_default(),
        geographic: c.is_geographic(),
        name: c.name(),
    });
    let georef = (row.georeferencing != "none").then_some((&raster.geotransform, keys));
    let name = format!("chips/{}.tif", row.chip_id);
    let tiff = raster_georef::raster_to_geotiff(&raster, &name, georef)
        .map_err(|e| chip_err(e.to_string()))?;
    drop(raster);
    let target = scratch_path(dir, &name)?;
    write_image(dir, row, &target, &tiff, listed)
}
