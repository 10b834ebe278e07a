//! The store pipeline: a project in, its labels and chips out, through a
//! [`Destination`].
//!
//! [`Plan::prepare`] does everything that can fail because of the input
//! (reading and validating the manifest, checking the formats, selecting and
//! resolving the chips) without writing anything. [`Plan::execute`] then
//! streams the chips one at a time through the format writers into the
//! destination, writes the store manifest last and commits; any failure
//! aborts the destination, which is left as it was.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use labels_model::{
    Chip, ChipFormat, ChipGeoref, ChipResolver, ChipSpan, Excluded, ExclusionReason, GeorefSource,
    ImageLimits, LabelFormat, LabelWriter, LeftBehind, ManifestStream, Output, Project, Resolution,
    Scope, Selection, Selector, SplitSpec, SplitUnit, replay, resolve, select,
};
use serde::Serialize;
use sink_api::{
    Body, Destination, ManifestEntry, ManifestWriter, STORE_MANIFEST, digest_bytes, digest_file,
};

use crate::formats::{FormatId, FormatOptions, label_format_with};
use crate::kept::{ChipLog, ChipLogWriter, Kept, StoredChips};

/// The version of the store manifest's layout.
const MANIFEST_VERSION: u32 = 1;

/// The header of a store manifest: everything but the file list, which
/// [`ManifestWriter`] streams after it.
#[derive(Debug, Serialize)]
struct Header<'a> {
    labelstore_store: u32,
    project: &'a str,
    labeling_type: &'a str,
    formats: Vec<&'a str>,
    scope: serde_json::Value,
    stored_chips: usize,
    excluded: Vec<serde_json::Value>,
    clipped_labels: Vec<serde_json::Value>,
}

/// Chip files up to this size are read once into memory (hashed, then
/// handed over as bytes); larger ones are hashed, then copied from disk.
const READ_ONCE_BYTES: u64 = 16 << 20;

/// What to store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The label formats to write, at least one.
    pub formats: Vec<FormatId>,
    /// The whole project or one chip.
    pub scope: Scope,
    /// Limits applied to images before decoding.
    pub limits: ImageLimits,
    /// Options of the formats that have some.
    pub format_options: FormatOptions,
}

/// Why a store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The project is wrong (exit status 2).
    #[error("{0}")]
    Input(#[from] labels_model::Error),
    /// The request is wrong: a format that does not fit, a refused target (exit status 2).
    #[error("{0}")]
    Usage(String),
    /// The destination failed (exit status 1).
    #[error("{0}")]
    Destination(#[from] sink_api::Error),
    /// Local scratch space failed (exit status 1).
    #[error("local scratch space: {0}")]
    Scratch(#[from] io::Error),
    /// The scenes or labels of `labelstore chip` are wrong (exit status 2).
    #[error("{0}")]
    Chip(#[from] scene_chipper::Error),
    /// The store was interrupted (Ctrl-C, SIGTERM) and undone (exit status 130).
    #[error("interrupted: the store was undone, the destination is as it was")]
    Interrupted,
}

impl StoreError {
    /// The process exit status for this error: 2 for input and usage
    /// errors, 1 for destination failures, 130 (as after SIGINT) for an
    /// interrupted store.
    pub fn exit_code(&self) -> u8 {
        match self {
            StoreError::Input(_) | StoreError::Usage(_) | StoreError::Chip(_) => 2,
            StoreError::Destination(e) if e.is_usage() => 2,
            StoreError::Destination(_) | StoreError::Scratch(_) => 1,
            StoreError::Interrupted => 130,
        }
    }
}

/// Progress of a long run (a store, a chipping, the files a fetch or a
/// verify reads), for a progress bar or a line per item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress<'a> {
    /// Items done so far: chips written ([`Plan::execute`]), windows looked
    /// at (`ChipPlan::execute`), files read (fetch, verify).
    pub done: usize,
    /// Items to do.
    pub total: usize,
    /// Bytes written (or read) so far.
    pub bytes: u64,
    /// The item just done: a chip's id, or a file's store path.
    pub item: &'a str,
}

/// What a store did, for the closing summary.
#[derive(Debug, Clone, Serialize)]
pub struct StoreReport {
    /// The project's name.
    pub project: String,
    /// The project's labeling type.
    pub labeling_type: &'static str,
    /// Where it went (no secrets).
    pub destination: String,
    /// The formats written.
    pub formats: Vec<&'static str>,
    /// `"project"` or the one chip's id.
    pub scope: String,
    /// Chips stored.
    pub chips_stored: usize,
    /// Chips left out, counted per reason.
    pub excluded: BTreeMap<&'static str, usize>,
    /// Chips left out, each with its reason.
    pub excluded_chips: Vec<ExcludedChip>,
    /// Labels clipped to their chip's edge.
    pub clipped_labels: usize,
    /// The chips whose labels were clipped, each with how many.
    pub clipped_chips: Vec<ClippedChip>,
    /// Stored chips without georeferencing (labels stay in pixel coordinates).
    pub chips_without_georeferencing: usize,
    /// Stored chips counted per georeferencing source
    /// (`world_file`, `inline`, `embedded`, `none`).
    pub georeferencing: BTreeMap<&'static str, usize>,
    /// Every stored chip: its georeferencing, CRS and stored image (read
    /// from the store's scratch file as it is listed, not held).
    pub chips: StoredChips,
    /// What each format's writer had to say, counted (labels it left out
    /// and why, chips it converted); formats with nothing to say are absent.
    pub notes: FormatNotes,
    /// Per format, what did not survive it; formats that lost nothing are
    /// absent.
    pub losses: FormatLosses,
    /// What an import met in the dataset and did not bring over, counted
    /// (VOC parts, COCO keypoints); empty for a store.
    pub not_imported: LeftBehind,
    /// Per split, the chips stored and their labels per class.
    pub splits: SplitCounts,
    /// Files written, the store manifest included.
    pub files: usize,
    /// Bytes written.
    pub bytes: u64,
    /// Wall-clock seconds of the whole store.
    pub seconds: f64,
}

/// What a store (or a chip run) would do, told by a dry run
/// ([`Plan::dry_run`], [`ChipPlan::dry_run`](crate::ChipPlan::dry_run));
/// as JSON, the run's summary with `"dry_run": true` and the
/// destination's plan.
#[derive(Debug, Clone, Serialize)]
pub struct DryRunReport<S = StoreReport> {
    /// Always `true`: nothing was written.
    pub dry_run: bool,
    /// The summary the run would end with (for a store: chips per split,
    /// excluded per reason, `files` and `bytes`: everything the store
    /// would hold, its manifest included).
    #[serde(flatten)]
    pub summary: S,
    /// What the run would write: its files less those the destination
    /// already holds (`skip`).
    pub write: sink_api::Tally,
    /// What the destination adds: files it would skip or remove, rows.
    #[serde(flatten)]
    pub destination_plan: sink_api::Preview,
}

impl<S> DryRunReport<S> {
    /// The report of a run that would hold `files` files of `bytes` bytes.
    pub(crate) fn new(
        summary: S,
        files: usize,
        bytes: u64,
        preview: sink_api::Preview,
    ) -> DryRunReport<S> {
        DryRunReport {
            dry_run: true,
            write: sink_api::Tally {
                files: files.saturating_sub(preview.skip.files),
                bytes: bytes.saturating_sub(preview.skip.bytes),
            },
            summary,
            destination_plan: preview,
        }
    }
}

/// Per split, what a store holds of it.
pub type SplitCounts = BTreeMap<String, SplitCount>;

/// The chips of one split and their labels per class name.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SplitCount {
    /// Chips stored in the split.
    pub chips: usize,
    /// Their labels, per class name.
    pub labels: BTreeMap<String, usize>,
}

/// Per format, what its writer counted (see [`labels_model::LabelWriter::notes`]).
pub type FormatNotes = BTreeMap<&'static str, BTreeMap<&'static str, usize>>;

/// Per format, what did not survive it (see [`FormatLoss`]).
pub type FormatLosses = BTreeMap<&'static str, FormatLoss>;

/// What did not survive one format: attributes it has no field for,
/// labels it left out, coordinates it rounded.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FormatLoss {
    /// Attribute keys the format has no field for, each with the number of
    /// labels that carried it.
    pub attributes_left_out: BTreeMap<String, usize>,
    /// Labels the writer left out, counted per reason (its notes that say
    /// `labels left out: <reason>`).
    pub labels_left_out: BTreeMap<&'static str, usize>,
    /// How coordinates were rounded, when any moved.
    pub coordinates_rounded: Option<RoundingReport>,
}

impl FormatLoss {
    /// Whether nothing was lost.
    pub fn is_empty(&self) -> bool {
        self.attributes_left_out.is_empty()
            && self.labels_left_out.is_empty()
            && self.coordinates_rounded.is_none()
    }
}

/// How a format rounded coordinates (see [`labels_model::Rounding`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundingReport {
    /// What the format writes: `integer pixels`, `6 decimals (normalized)`.
    pub to: &'static str,
    /// The largest distance in pixels a coordinate moved, to a millionth.
    pub max_shift_px: f64,
}

/// A chip whose labels were clipped to its edge, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct ClippedChip {
    /// The chip's id.
    pub chip: String,
    /// How many of its labels were clipped.
    pub labels: usize,
}

/// A chip left out of a store, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct ExcludedChip {
    /// The chip's id.
    pub chip: String,
    /// Why it was left out.
    pub reason: &'static str,
}

/// A validated store, ready to run.
///
/// A store from a manifest ([`Plan::prepare`]) never holds the project's
/// chips: they are read, checked and resolved one by one, and read again
/// from the manifest one by one while they are written. What is kept of
/// each chip in between (its place in the manifest, what resolving it
/// found) goes to a scratch file, read back in order, so memory stays flat
/// however many chips the project has. A project already in memory
/// ([`Plan::prepare_project`]) is stored from memory.
#[derive(Debug)]
pub struct Plan {
    /// The project; without its chips when they stream from the manifest.
    project: Project,
    /// The manifest the chips stream from.
    stream: Option<ManifestStream>,
    /// What is kept of each chip to write, in selection order.
    kept: ChipLog,
    selection: Selection,
    /// What resolving found; a streamed store's `georef` is empty (it is
    /// in `kept`, chip by chip).
    resolution: Resolution,
    options: StoreOptions,
    started: Instant,
    cancel: Option<Arc<AtomicBool>>,
    /// Splits assigned by [`Plan::with_split`], per selected chip.
    splits: Option<Vec<String>>,
    /// What the dataset an import read held and was not brought over.
    not_imported: LeftBehind,
}

impl Plan {
    /// Makes the store stop when `cancel` becomes true (checked before each
    /// chip and before the store manifest): it is then undone as after a
    /// failure and [`execute`](Plan::execute) returns
    /// [`StoreError::Interrupted`].
    pub fn cancel_on(mut self, cancel: Arc<AtomicBool>) -> Plan {
        self.cancel = Some(cancel);
        self
    }

    /// Records what the dataset an import read held and did not bring
    /// over: the report's `not_imported`.
    pub fn with_not_imported(mut self, left: LeftBehind) -> Plan {
        self.not_imported = left;
        self
    }

    /// Assigns every stored chip a split by `spec` (its own `split` is
    /// replaced): chip by chip from their ids, or map block by map block
    /// from the centre of each georeferenced chip in its CRS (a chip
    /// without georeferencing goes on its own). A block needs map units
    /// in metres: a chip in a geographic CRS is refused.
    pub fn with_split(mut self, spec: &SplitSpec) -> Result<Plan, StoreError> {
        let mut units = Vec::with_capacity(self.selection.chips.len());
        for kept in self.kept.iter()? {
            let kept = kept?;
            let (id, w, h, georef) = (&kept.id, kept.width, kept.height, &kept.georef);
            let unit = match (spec.block, georef.transform) {
                (Some(side), Some(t)) => {
                    if let Some(epsg) = georef.epsg
                        && raster_georef::Crs::from_epsg(epsg).is_ok_and(|c| c.is_geographic())
                    {
                        return Err(StoreError::Usage(format!(
                            "--split-by block: chip {id:?} is in EPSG:{epsg}, a geographic CRS \
                             (degrees); a block needs map units in metres"
                        )));
                    }
                    let (x, y) = t.pixel_to_map(f64::from(w) / 2.0, f64::from(h) / 2.0);
                    SplitUnit::Block(
                        georef.epsg.unwrap_or(0),
                        (x / side).floor() as i64,
                        (y / side).floor() as i64,
                    )
                }
                _ => SplitUnit::Chip(id.clone()),
            };
            units.push(unit);
        }
        let assigned = spec.assign(&units);
        self.splits = Some(
            assigned
                .into_iter()
                .map(|p| spec.parts[p].0.clone())
                .collect(),
        );
        Ok(self)
    }

    fn check_cancel(&self) -> Result<(), StoreError> {
        match &self.cancel {
            Some(c) if c.load(Ordering::Relaxed) => Err(StoreError::Interrupted),
            _ => Ok(()),
        }
    }

    /// Reads and validates the project at `project_path` (a manifest or a
    /// folder holding `project.json`) for a store with `options`. Nothing is
    /// written.
    pub fn prepare(project_path: &Path, options: StoreOptions) -> Result<Plan, StoreError> {
        let started = Instant::now();
        let stream = ManifestStream::open(project_path)?;
        let header = stream.header();
        let mut selector = Selector::new(&options.scope, &header.manifest_path);
        let mut resolver = ChipResolver::new(header, &options.limits);
        let mut resolution = Resolution::default();
        let mut kept = ChipLogWriter::create()?;
        let mut unwritten = None;
        // The manifest is parsed on this thread while another resolves the
        // chips it hands over (each image's header read and checked, its
        // georeferencing found), a few hundred chips ahead at most.
        let (to_resolve, chips_in) = std::sync::mpsc::sync_channel::<(usize, Chip, ChipSpan)>(256);
        let scanned = std::thread::scope(|scope| {
            let resolving = scope.spawn(|| {
                for (i, mut chip, span) in chips_in {
                    let (clipped, georef) = resolver.resolve(i, &mut chip);
                    if clipped > 0 {
                        resolution.clipped.push((chip.id.clone(), clipped));
                    }
                    let pushed = kept.push(&Kept {
                        index: i,
                        width: chip.width.unwrap_or(0),
                        height: chip.height.unwrap_or(0),
                        samples: chip.samples,
                        world_file: chip.world_file,
                        span,
                        image: chip.image,
                        id: chip.id,
                        georef,
                        memory: 0,
                    });
                    if let Err(e) = pushed {
                        unwritten.get_or_insert(e);
                    }
                }
            });
            let scanned = stream.scan(&mut |i, chip, span| {
                if selector.offer(i, &chip) {
                    // Fails only when the resolving thread ended (a panic,
                    // raised again below).
                    let _ = to_resolve.send((i, chip, span));
                }
            });
            drop(to_resolve);
            if let Err(panic) = resolving.join() {
                std::panic::resume_unwind(panic);
            }
            scanned
        });
        // In the order a whole load reports problems: the manifest's own,
        // the formats, the selection, then the files it points to.
        scanned?;
        if let Some(e) = unwritten {
            return Err(StoreError::Scratch(e));
        }
        check_formats(header, &options.formats)?;
        let selection = selector.finish()?;
        resolver.finish()?;
        let project = header.header();
        let kept = conversion_memory(&project, kept.finish()?, options.limits.memory_budget)?;
        check_chip_format(&project, &kept, &options)?;
        Ok(Plan {
            project,
            stream: Some(stream),
            kept,
            selection,
            resolution,
            options,
            started,
            cancel: None,
            splits: None,
            not_imported: LeftBehind::new(),
        })
    }

    /// Like [`Plan::prepare`], for a project already in memory (read from
    /// another format, imported); its paths are relative to its `base_dir`.
    /// Chip ids are checked here too: a project read from another tool's
    /// dataset has not been through the manifest's validation.
    pub fn prepare_project(project: Project, options: StoreOptions) -> Result<Plan, StoreError> {
        let mut seen = std::collections::HashSet::new();
        let mut diags = Vec::new();
        for (i, chip) in project.chips.iter().enumerate() {
            let problem = if !labels_model::is_safe_chip_id(&chip.id) {
                "a chip id is 1 to 128 characters of A-Z a-z 0-9 . _ - and does not start with '.'"
            } else if !seen.insert(chip.id.as_str()) {
                "duplicate chip id"
            } else {
                continue;
            };
            diags.push(labels_model::Diagnostic {
                file: project.manifest_path.clone(),
                chip: Some(chip.id.clone()),
                field: format!("chips[{i}].id"),
                message: problem.to_owned(),
            });
        }
        if !diags.is_empty() {
            return Err(StoreError::Input(labels_model::Error::Invalid(diags)));
        }
        Self::prepare_loaded(project, options, Instant::now())
    }

    fn prepare_loaded(
        mut project: Project,
        options: StoreOptions,
        started: Instant,
    ) -> Result<Plan, StoreError> {
        check_formats(&project, &options.formats)?;
        let selection = select(&project, &options.scope)?;
        let resolution = resolve(&mut project, &selection.chips, &options.limits)?;
        let mut kept = ChipLogWriter::create()?;
        for (&i, georef) in selection
            .chips
            .iter()
            .zip(resolution.georef.iter().copied())
        {
            let chip = &project.chips[i];
            kept.push(&Kept {
                index: i,
                id: chip.id.clone(),
                image: chip.image.clone(),
                world_file: chip.world_file.clone(),
                span: ChipSpan::default(),
                width: chip.width.unwrap_or(0),
                height: chip.height.unwrap_or(0),
                samples: chip.samples,
                georef,
                memory: 0,
            })?;
        }
        let kept = conversion_memory(&project, kept.finish()?, options.limits.memory_budget)?;
        check_chip_format(&project, &kept, &options)?;
        Ok(Plan {
            project,
            stream: None,
            kept,
            selection,
            resolution,
            options,
            started,
            cancel: None,
            splits: None,
            not_imported: LeftBehind::new(),
        })
    }

    /// The project as read and resolved; without its chips when they
    /// stream from the manifest ([`Plan::prepare`]).
    pub fn project(&self) -> &Project {
        &self.project
    }

    /// The chips the store will write and those it leaves out.
    pub fn selection(&self) -> &Selection {
        &self.selection
    }

    /// What resolving the selected chips found: clipping and, for a
    /// project stored from memory ([`Plan::prepare_project`]),
    /// georeferencing; a store streamed from a manifest keeps each chip's
    /// georeferencing on disk, not here (its `georef` is empty).
    pub fn resolution(&self) -> &Resolution {
        &self.resolution
    }

    /// How many chips the store will write.
    pub fn chip_count(&self) -> usize {
        self.selection.chips.len()
    }

    /// Runs the store into `dest`; `progress` hears of every chip written.
    pub async fn execute<D: Destination>(
        self,
        mut dest: D,
        progress: &mut (dyn FnMut(Progress<'_>) + Send),
    ) -> Result<StoreReport, StoreError> {
        let description = dest.describe();
        match self.run(&mut dest, progress).await {
            Ok((files, bytes, (notes, losses), splits, manifest)) => {
                dest.commit(Body::File(manifest.path().join(STORE_MANIFEST)))
                    .await?;
                let mut report = self.report(description, files, bytes);
                report.notes = notes;
                report.losses = losses;
                report.splits = splits;
                Ok(report)
            }
            Err(e) => {
                // The original error matters more than a failed clean-up.
                let _ = dest.abort().await;
                Err(e)
            }
        }
    }

    /// Runs the store as [`execute`](Plan::execute) would, into `dest`
    /// opened for a dry run (one that writes nothing: [`sink_api::Discard`],
    /// `FsDestination::dry_run`, ...), and reports what the store would
    /// do: the chips per split, the files and bytes it would write (exact:
    /// the format writers and chip conversions run, their bytes are
    /// counted and dropped), and what the destination adds
    /// ([`Destination::preview`]: files it would skip or remove, rows).
    /// Every input check of the real run happens; a spool in the system's
    /// temporary folder is the only thing written, and it goes.
    pub async fn dry_run<D: Destination>(
        self,
        mut dest: D,
        progress: &mut (dyn FnMut(Progress<'_>) + Send),
    ) -> Result<DryRunReport, StoreError> {
        let description = dest.describe();
        match self.run(&mut dest, progress).await {
            Ok((files, bytes, (notes, losses), splits, manifest)) => {
                let preview = dest
                    .preview(Body::File(manifest.path().join(STORE_MANIFEST)))
                    .await?;
                let mut store = self.report(description, files, bytes);
                store.notes = notes;
                store.losses = losses;
                store.splits = splits;
                Ok(DryRunReport::new(store, files, bytes, preview))
            }
            Err(e) => {
                let _ = dest.abort().await;
                Err(e)
            }
        }
    }

    async fn run<D: Destination>(
        &self,
        dest: &mut D,
        progress: &mut (dyn FnMut(Progress<'_>) + Send),
    ) -> Result<
        (
            usize,
            u64,
            (FormatNotes, FormatLosses),
            SplitCounts,
            tempfile::TempDir,
        ),
        StoreError,
    > {
        let spool = crate::scratch::scratch_dir("spool")?;
        let header = self.project.header();
        let mut chips = ChipSource::new(self)?;
        let mut splits = SplitCounts::new();
        let formats: Vec<Box<dyn LabelFormat>> = self
            .options
            .formats
            .iter()
            .map(|&f| label_format_with(f, &self.options.format_options))
            .collect();
        let mut run = Run {
            writers: formats
                .iter()
                .map(|f| f.writer_placing(&header, self.options.format_options.chip_format))
                .collect(),
            attributes_left_out: vec![BTreeMap::new(); formats.len()],
            formats,
            out: SpoolOutput::new(spool.path().join("appended")),
            receipt: ManifestWriter::create(&spool.path().join(STORE_MANIFEST), &self.header())?,
            sent: Sent {
                files: 0,
                bytes: 0,
                chip_files: Vec::new(),
            },
            // Chips that become GeoTIFFs are decoded and compressed on
            // every core, ahead of the store loop and in its order.
            converter: Converter::start(
                self.geotiff_jobs()?,
                self.kept.conversions(),
                self.options.limits.memory_budget,
            ),
        };
        let total = self.kept.len();
        for (done, kept) in self.kept.iter()?.enumerate() {
            self.check_cancel()?;
            let kept = kept?;
            let georef = &kept.georef;
            let mut chip = chips.chip(&kept)?;
            if let Some(assigned) = &self.splits {
                chip.to_mut().split = Some(assigned[done].clone());
            }
            let count = splits.entry(chip.split().to_owned()).or_default();
            count.chips += 1;
            for label in &chip.labels {
                let class = self
                    .project
                    .class(label.class_id)
                    .map_or("", |c| c.name.as_str());
                *count.labels.entry(class.to_owned()).or_default() += 1;
            }
            self.store_chip(dest, &mut run, &chip, georef).await?;
            progress(Progress {
                done: done + 1,
                total,
                bytes: run.sent.bytes,
                item: &chip.id,
            });
        }
        let notes = run.finish_writers(&self.options.formats)?;
        let Run {
            mut out,
            mut receipt,
            mut sent,
            ..
        } = run;
        sent.chip_files.clear();
        out.flush_puts(dest, &mut receipt, &mut sent).await?;
        for (path, file) in out.finish_appended()? {
            let (size, sha) = digest_file(&file)?;
            dest.put(&path, Body::File(file)).await?;
            sent.record(&mut receipt, &path, size, &sha)?;
        }
        receipt.finish()?;
        self.check_cancel()?;
        let manifest = spool.path().join(STORE_MANIFEST);
        let size = std::fs::metadata(&manifest)?.len();
        // The spool goes with the manifest to the commit.
        Ok((sent.files + 1, sent.bytes + size, notes, splits, spool))
    }

    /// The chips to turn into GeoTIFFs, in selection order, read from the
    /// kept chips as the converter takes them.
    fn geotiff_jobs(&self) -> Result<GeotiffJobs, StoreError> {
        let base = self.project.base_dir.clone();
        Ok(Box::new(self.kept.iter()?.filter_map(move |k| match k {
            Ok(k) if k.converts() => Some(Ok(GeotiffJob {
                index: k.index,
                image: base.join(&k.image),
                id: k.id,
                georef: k.georef,
                memory: k.memory,
            })),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })))
    }

    /// Stores one chip: its image (as it is, or the GeoTIFF the converter
    /// made), then each format's files of it, then tells the destination.
    async fn store_chip<D: Destination>(
        &self,
        dest: &mut D,
        run: &mut Run,
        chip: &Chip,
        georef: &ChipGeoref,
    ) -> Result<(), StoreError> {
        let stored = stored_chip(chip, georef);
        let image = self.project.base_dir.join(&chip.image);
        let stored_image = path_str(&stored.image);
        if let (true, Some(_)) = (georef.needs_geotiff(), &georef.transform) {
            let (tiff, size, sha) = run.converter.next()?;
            // Formats re-encode it for --chip-format png or jpg.
            run.out.chip_source = (self.options.format_options.chip_format != ChipFormat::Keep)
                .then(|| (stored_image.clone(), ChipBytes::Kept(tiff.clone())));
            dest.put(&stored_image, Body::Bytes(tiff)).await?;
            run.sent
                .record(&mut run.receipt, &stored_image, size, &sha)?;
        } else {
            // Embedded or no georeferencing: the chip as it is.
            self.put_file(dest, &mut run.receipt, &mut run.sent, &image, &stored_image)
                .await?;
            run.out.chip_source = Some((stored_image.clone(), ChipBytes::Source(image.clone())));
        }
        for w in &mut run.writers {
            w.write_chip(&stored, georef, &mut run.out)?;
        }
        run.tally_attributes(&stored);
        run.out
            .flush_puts(dest, &mut run.receipt, &mut run.sent)
            .await?;
        if dest.takes_labels() {
            dest.chip_labels(crate::label_records::chip_labels(
                &self.project,
                &stored,
                georef,
            ))
            .await?;
        }
        dest.chip_stored(&sink_api::ChipRecord {
            id: &chip.id,
            image: &stored_image,
            georeferencing: georef.source.name(),
            epsg: georef.epsg,
            labels: chip.labels.len() + usize::from(chip.mask.is_some()),
            files: &run.sent.chip_files,
        })
        .await?;
        run.sent.chip_files.clear();
        Ok(())
    }

    async fn put_file<D: Destination>(
        &self,
        dest: &mut D,
        receipt: &mut ManifestWriter,
        sent: &mut Sent,
        src: &Path,
        to: &str,
    ) -> Result<(), StoreError> {
        let io = |source| labels_model::Error::Io {
            path: src.to_path_buf(),
            source,
        };
        let (mut file, len) = labels_model::open_regular_with_len(src).map_err(io)?;
        if len <= READ_ONCE_BYTES {
            // Small files are read once, hashed and handed over in memory.
            let bytes = labels_model::read_known_len(&mut file, len).map_err(io)?;
            drop(file);
            let (size, sha) = digest_bytes(&bytes);
            dest.put(to, Body::Bytes(bytes)).await?;
            sent.record(receipt, to, size, &sha)?;
        } else {
            drop(file);
            let (size, sha) = digest_file(src).map_err(io)?;
            dest.put(to, Body::File(src.to_path_buf())).await?;
            sent.record(receipt, to, size, &sha)?;
        }
        Ok(())
    }

    fn scope_name(&self) -> String {
        match &self.options.scope {
            Scope::Project => "project".to_owned(),
            Scope::Chip(id) => id.clone(),
        }
    }

    fn header(&self) -> Header<'_> {
        let scope = match &self.options.scope {
            Scope::Project => serde_json::json!("project"),
            Scope::Chip(id) => serde_json::json!({ "chip": id }),
        };
        Header {
            labelstore_store: MANIFEST_VERSION,
            project: &self.project.name,
            labeling_type: self.project.labeling_type.name(),
            formats: self.options.formats.iter().map(|f| f.name()).collect(),
            scope,
            stored_chips: self.selection.chips.len(),
            excluded: self
                .selection
                .excluded
                .iter()
                .map(|Excluded { chip, reason }| {
                    serde_json::json!({ "chip": chip, "reason": reason.name() })
                })
                .collect(),
            clipped_labels: self
                .resolution
                .clipped
                .iter()
                .map(|(chip, n)| serde_json::json!({ "chip": chip, "labels": n }))
                .collect(),
        }
    }

    fn report(&self, destination: String, files: usize, bytes: u64) -> StoreReport {
        let mut excluded = BTreeMap::new();
        for e in &self.selection.excluded {
            *excluded.entry(e.reason.name()).or_insert(0) += 1;
        }
        for r in [ExclusionReason::Deleted, ExclusionReason::Unlabeled] {
            excluded.entry(r.name()).or_insert(0);
        }
        // Counted as the chips were kept, not by reading them again.
        let georeferencing = self.kept.georeferencing().clone();
        StoreReport {
            project: self.project.name.clone(),
            labeling_type: self.project.labeling_type.name(),
            destination,
            formats: self.options.formats.iter().map(|f| f.name()).collect(),
            scope: self.scope_name(),
            chips_stored: self.selection.chips.len(),
            excluded,
            excluded_chips: self
                .selection
                .excluded
                .iter()
                .map(|e| ExcludedChip {
                    chip: e.chip.clone(),
                    reason: e.reason.name(),
                })
                .collect(),
            clipped_labels: self.resolution.clipped_total(),
            clipped_chips: self
                .resolution
                .clipped
                .iter()
                .map(|(chip, labels)| ClippedChip {
                    chip: chip.clone(),
                    labels: *labels,
                })
                .collect(),
            chips_without_georeferencing: georeferencing
                .get(GeorefSource::None.name())
                .copied()
                .unwrap_or(0),
            georeferencing,
            chips: StoredChips::new(self.kept.clone()),
            notes: FormatNotes::new(),
            losses: FormatLosses::new(),
            not_imported: self.not_imported.clone(),
            splits: SplitCounts::new(),
            files,
            bytes,
            seconds: self.started.elapsed().as_secs_f64(),
        }
    }
}

/// The chips to turn into GeoTIFFs, in order, read as they are taken.
type GeotiffJobs = Box<dyn Iterator<Item = io::Result<GeotiffJob>> + Send>;

/// A chip to turn into a GeoTIFF: its manifest index, id, image file,
/// georeferencing, and the memory converting it holds.
struct GeotiffJob {
    index: usize,
    id: String,
    image: PathBuf,
    georef: ChipGeoref,
    memory: u64,
}

/// Estimates from their headers what turning each selected chip into a
/// GeoTIFF holds in memory (0 for chips stored as they are), refusing the
/// chips that need more than the whole `budget` and those whose header
/// cannot be read.
fn conversion_memory(project: &Project, kept: ChipLog, budget: u64) -> Result<ChipLog, StoreError> {
    if kept.conversions() == 0 {
        return Ok(kept);
    }
    let mut diags = Vec::new();
    let kept = kept.rewrite(|k| {
        if !k.converts() {
            return Ok(());
        }
        let (i, id, path) = (k.index, &k.id, project.base_dir.join(&k.image));
        // The header probe checked that a chip's content is the kind its
        // extension names: a TIFF or JPEG, copied whole, needs only its
        // size (a stat, not an open and a read per chip).
        let estimate = match labels_model::ImageKind::from_path(&path) {
            Some(labels_model::ImageKind::Jpeg | labels_model::ImageKind::Tiff) => {
                std::fs::metadata(&path)
                    .map(|m| raster_georef::copied_conversion_memory(m.len()))
                    .map_err(|e| raster_georef::Error::GeoTiff {
                        file: path.display().to_string(),
                        message: format!("cannot read the file: {e}"),
                    })
            }
            _ => raster_georef::conversion_memory(&path),
        };
        let message = match estimate {
            Ok(bytes) if bytes <= budget => {
                k.memory = bytes;
                return Ok(());
            }
            Ok(bytes) => format!(
                "turning it into a GeoTIFF needs about {} of memory, more than the \
                 memory budget of {} (--memory-budget)",
                fmt_bytes(bytes),
                fmt_bytes(budget)
            ),
            Err(e) => format!("cannot be stored as a GeoTIFF: {}", georef_message(e)),
        };
        diags.push(labels_model::Diagnostic {
            file: path,
            chip: Some(id.clone()),
            field: format!("chips[{i}].image"),
            message,
        });
        Ok(())
    })?;
    if diags.is_empty() {
        Ok(kept)
    } else {
        Err(StoreError::Input(labels_model::Error::Invalid(diags)))
    }
}

/// Refuses, from their headers, the selected chips that the formats which
/// place images beside their labels (COCO, VOC, YOLO, KITTI) cannot place
/// as `--chip-format` asks (16-bit samples as JPEG, more than four bands),
/// before anything is written.
fn check_chip_format(
    project: &Project,
    kept: &ChipLog,
    options: &StoreOptions,
) -> Result<(), StoreError> {
    let chips = options.format_options.chip_format;
    let places = |f: &FormatId| {
        matches!(
            f,
            FormatId::Coco | FormatId::Voc | FormatId::Yolo | FormatId::Kitti
        )
    };
    if chips == ChipFormat::Keep || !options.formats.iter().any(places) {
        return Ok(());
    }
    let mut diags = Vec::new();
    for k in kept.iter()? {
        let k = k?;
        let (i, id, path) = (k.index, &k.id, project.base_dir.join(&k.image));
        if let Err(message) = fmt_detection::check_placeable(&path, chips) {
            let target = if chips == ChipFormat::Png {
                "PNG"
            } else {
                "JPEG"
            };
            diags.push(labels_model::Diagnostic {
                file: path,
                chip: Some(id.clone()),
                field: format!("chips[{i}].image"),
                message: format!("cannot be placed beside the labels as {target}: {message}"),
            });
        }
    }
    if diags.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Input(labels_model::Error::Invalid(diags)))
    }
}

/// A byte count for people: `512 MiB`, `1.5 GiB`, `300 KiB`.
fn fmt_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    let text = format!("{v:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text} {}", UNITS[unit])
}

/// The message of a conversion error, without the file (diagnostics name
/// it).
fn georef_message(e: raster_georef::Error) -> String {
    match e {
        raster_georef::Error::GeoTiff { message, .. } => message,
        other => other.to_string(),
    }
}

/// A GeoTIFF chip's bytes with their size and SHA-256.
type Converted = Result<(Vec<u8>, u64, String), labels_model::Error>;

/// How many converted chips may wait ahead of the store loop, per worker.
const AHEAD: usize = 4;

/// Turns chips into GeoTIFFs on worker threads (one per core), ahead of the
/// store loop; [`Converter::next`] hands them over in job order. At most a
/// few chips wait converted, and what chips being converted or waiting
/// hold is kept within the memory budget ([`Budget`]).
struct Converter {
    results: std::sync::mpsc::Receiver<(usize, Converted)>,
    ready: BTreeMap<usize, Converted>,
    next: usize,
    consumed: Arc<std::sync::atomic::AtomicUsize>,
    stop: Arc<AtomicBool>,
    budget: Arc<Budget>,
}

/// The memory budget shared by the converter's workers: a chip takes its
/// estimated share before it is converted (waiting until that much is
/// free), keeps its GeoTIFF's real size while the GeoTIFF waits for the
/// store loop, and gives it back when the store loop takes it.
///
/// Shares are taken in job order, so a big chip waiting for room is never
/// overtaken by later chips whose GeoTIFFs the store loop could not take
/// before the big one's (which would deadlock).
#[derive(Debug)]
struct Budget {
    total: u64,
    state: std::sync::Mutex<BudgetState>,
    changed: std::sync::Condvar,
}

#[derive(Debug)]
struct BudgetState {
    /// Bytes held by chips being converted or waiting converted.
    held: u64,
    /// The job whose turn it is to take its share.
    turn: usize,
    /// Workers waiting for a change: without any, a change wakes nobody
    /// (a notification is a system call even when no thread waits).
    waiting: usize,
}

impl Budget {
    fn new(total: u64) -> Budget {
        Budget {
            total,
            state: std::sync::Mutex::new(BudgetState {
                held: 0,
                turn: 0,
                waiting: 0,
            }),
            changed: std::sync::Condvar::new(),
        }
    }

    /// Waits for job `job`'s turn and for `bytes` to be free, then holds
    /// them; false when `stop` is set first. A share larger than the whole
    /// budget (prepare refuses those; a file may change) waits until
    /// nothing else is held.
    fn take(&self, job: usize, bytes: u64, stop: &AtomicBool) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            let fits = st.held == 0 || st.held.saturating_add(bytes) <= self.total;
            if st.turn == job && fits {
                st.held = st.held.saturating_add(bytes);
                st.turn += 1;
                if st.waiting > 0 {
                    self.changed.notify_all();
                }
                return true;
            }
            st.waiting += 1;
            st = self
                .changed
                .wait_timeout(st, std::time::Duration::from_millis(20))
                .unwrap_or_else(|e| e.into_inner())
                .0;
            st.waiting -= 1;
        }
    }

    /// Replaces a held share of `from` bytes by one of `to` bytes.
    fn resize(&self, from: u64, to: u64) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.held = st.held.saturating_sub(from).saturating_add(to);
        if st.waiting > 0 {
            self.changed.notify_all();
        }
    }
}

impl Converter {
    /// Starts converting `jobs` (`count` of them) on worker threads.
    fn start(jobs: GeotiffJobs, count: usize, budget: u64) -> Converter {
        use std::sync::atomic::AtomicUsize;
        let (tx, results) = std::sync::mpsc::channel();
        let consumed = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let workers = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, 8)
            .min(count);
        // The jobs, and the number of the next one taken.
        let jobs = Arc::new(std::sync::Mutex::new((0, jobs)));
        let budget = Arc::new(Budget::new(budget));
        for _ in 0..workers {
            let (jobs, consumed, stop, tx, budget) = (
                Arc::clone(&jobs),
                Arc::clone(&consumed),
                Arc::clone(&stop),
                tx.clone(),
                Arc::clone(&budget),
            );
            let spawned = std::thread::Builder::new()
                .name("geotiff".into())
                .spawn(move || {
                    loop {
                        let (j, job) = {
                            let mut jobs = jobs.lock().unwrap_or_else(|e| e.into_inner());
                            let Some(job) = jobs.1.next() else { return };
                            jobs.0 += 1;
                            (jobs.0 - 1, job)
                        };
                        let job = match job {
                            Ok(job) => job,
                            Err(source) => {
                                let failed = labels_model::Error::Io {
                                    path: PathBuf::new(),
                                    source,
                                };
                                let _ = tx.send((j, Err(failed)));
                                return;
                            }
                        };
                        // Wait while too far ahead of the store loop.
                        while j >= consumed.load(Ordering::Relaxed) + AHEAD * workers {
                            if stop.load(Ordering::Relaxed) {
                                return;
                            }
                            std::thread::sleep(std::time::Duration::from_millis(1));
                        }
                        if !budget.take(j, job.memory, &stop) {
                            return;
                        }
                        let converted = convert(&job);
                        // The GeoTIFF now holds its real size until taken.
                        budget.resize(job.memory, held(&converted));
                        if stop.load(Ordering::Relaxed) || tx.send((j, converted)).is_err() {
                            return;
                        }
                    }
                });
            if spawned.is_err() {
                // No thread: the store loop converts (see `next`).
                break;
            }
        }
        Converter {
            results,
            ready: BTreeMap::new(),
            next: 0,
            consumed,
            stop,
            budget,
        }
    }

    /// The next job's GeoTIFF.
    fn next(&mut self) -> Converted {
        loop {
            if let Some(r) = self.ready.remove(&self.next) {
                self.next += 1;
                self.consumed.store(self.next, Ordering::Relaxed);
                self.budget.resize(held(&r), 0);
                return r;
            }
            match self.results.recv() {
                Ok((j, r)) => {
                    self.ready.insert(j, r);
                }
                Err(_) => {
                    return Err(labels_model::Error::Io {
                        path: PathBuf::new(),
                        source: io::Error::other("the GeoTIFF workers stopped"),
                    });
                }
            }
        }
    }
}

impl Drop for Converter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.budget.changed.notify_all();
    }
}

/// The bytes a converted chip holds while it waits for the store loop.
fn held(c: &Converted) -> u64 {
    c.as_ref().map_or(0, |(tiff, _, _)| tiff.len() as u64)
}

/// Reads a chip and turns it into a GeoTIFF carrying its georeferencing.
fn convert(job: &GeotiffJob) -> Converted {
    let image = &job.image;
    let Some(gt) = &job.georef.transform else {
        return Err(labels_model::Error::invalid(
            image,
            Some(&job.id),
            format!("chips[{}].image", job.index),
            "no geotransform".to_owned(),
        ));
    };
    let crs = crs_keys(job.georef.epsg)
        .map_err(|e| labels_model::Error::invalid(image, Some(&job.id), "srid", e.to_string()))?;
    let keys = crs
        .as_ref()
        .map(|(name, geographic, epsg)| raster_georef::CrsKeys {
            epsg: *epsg,
            geographic: *geographic,
            name,
        });
    let tiff = raster_georef::chip_file_to_geotiff(image, gt, keys).map_err(|e| {
        labels_model::Error::invalid(
            image,
            Some(&job.id),
            format!("chips[{}].image", job.index),
            format!("cannot be stored as a GeoTIFF: {}", georef_message(e)),
        )
    })?;
    let (size, sha) = digest_bytes(&tiff);
    Ok((tiff, size, sha))
}

/// Checks the requested formats against the project's labeling type.
fn check_formats(project: &Project, formats: &[FormatId]) -> Result<(), StoreError> {
    let ty = project.labeling_type;
    let names = |v: Vec<FormatId>| v.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ");
    if formats.is_empty() {
        return Err(StoreError::Usage(format!(
            "no format given; a {ty} project can be stored as: {}",
            names(FormatId::for_type(ty))
        )));
    }
    for &f in formats {
        if !f.fits(ty) {
            return Err(StoreError::Usage(format!(
                "format {f} does not fit a {ty} project ({}); valid formats: {}",
                project.manifest_path.display(),
                names(FormatId::for_type(ty))
            )));
        }
    }
    Ok(())
}

/// The CRS facts a GeoTIFF's keys record for `epsg`: name, whether
/// geographic, and the code.
fn crs_keys(epsg: Option<u32>) -> raster_georef::Result<Option<(String, bool, u32)>> {
    let Some(code) = epsg else {
        return Ok(None);
    };
    let crs = raster_georef::Crs::from_epsg(code)?;
    Ok(Some((crs.name().to_owned(), crs.is_geographic(), code)))
}

/// The chip as stored: its image renamed after its id under `chips/`,
/// extension in lower case; a chip georeferenced by a world file or a
/// geotransform becomes `chips/<id>.tif`, a GeoTIFF carrying it. A mask
/// file keeps its source path (relative to the project's folder): the mask
/// formats read it and write the stored masks.
fn stored_chip(chip: &Chip, georef: &ChipGeoref) -> Chip {
    let image = stored_image(&chip.id, &chip.image, georef);
    if georef.needs_geotiff() {
        return Chip {
            image,
            world_file: None,
            geotransform: None,
            ..chip.clone()
        };
    }
    let image_ext = lower_ext(&chip.image);
    let world_ext = raster_georef::world_file_candidates(&image_ext)
        .into_iter()
        .next()
        .unwrap_or_else(|| "wld".to_owned());
    Chip {
        image,
        world_file: chip
            .world_file
            .as_ref()
            .map(|_| PathBuf::from(format!("chips/{}.{world_ext}", chip.id))),
        ..chip.clone()
    }
}

/// Where a chip's image goes in a store: `chips/<id>.<ext>`, or
/// `chips/<id>.tif` when it becomes a GeoTIFF.
pub(crate) fn stored_image(id: &str, image: &Path, georef: &ChipGeoref) -> PathBuf {
    if georef.needs_geotiff() {
        PathBuf::from(format!("chips/{id}.tif"))
    } else {
        PathBuf::from(format!("chips/{id}.{}", lower_ext(image)))
    }
}

fn lower_ext(p: &Path) -> String {
    p.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

pub(crate) fn path_str(p: &Path) -> String {
    p.to_string_lossy().replace('\\', "/")
}

/// What a run writes with and has written so far.
struct Run {
    formats: Vec<Box<dyn LabelFormat>>,
    writers: Vec<Box<dyn LabelWriter>>,
    /// Per format (in `formats`' order), the attribute keys it has no
    /// field for, each with the number of labels written that carried it.
    attributes_left_out: Vec<BTreeMap<String, usize>>,
    out: SpoolOutput,
    receipt: ManifestWriter,
    sent: Sent,
    converter: Converter,
}

impl Run {
    /// Counts, per format, the attributes of the labels of `chip` (as
    /// stored) that the format has no field for; labels the format leaves
    /// out are not counted (they are counted as left out).
    fn tally_attributes(&mut self, chip: &Chip) {
        for (format, tally) in self.formats.iter().zip(&mut self.attributes_left_out) {
            for label in &chip.labels {
                // A label without attributes has none to leave out.
                if label.attributes.is_empty() || format.leaves_out(chip, label) {
                    continue;
                }
                for key in format.attributes_left_out(&label.attributes) {
                    *tally.entry(key.to_owned()).or_default() += 1;
                }
            }
        }
    }

    /// Ends every format's writing; what each said and what each lost, by
    /// format.
    fn finish_writers(
        &mut self,
        formats: &[FormatId],
    ) -> Result<(FormatNotes, FormatLosses), StoreError> {
        let mut notes = FormatNotes::new();
        let mut losses = FormatLosses::new();
        for ((w, format), attributes) in self
            .writers
            .iter_mut()
            .zip(formats)
            .zip(std::mem::take(&mut self.attributes_left_out))
        {
            w.finish(&mut self.out)?;
            let said: BTreeMap<&'static str, usize> =
                w.notes().into_iter().filter(|&(_, n)| n > 0).collect();
            let loss = FormatLoss {
                attributes_left_out: attributes,
                labels_left_out: said
                    .iter()
                    .filter_map(|(what, &n)| Some((what.strip_prefix("labels left out: ")?, n)))
                    .collect(),
                coordinates_rounded: w.rounding().filter(|r| r.max_shift_px > 0.0).map(|r| {
                    RoundingReport {
                        to: r.to,
                        // To a millionth of a pixel: no float noise.
                        max_shift_px: (r.max_shift_px * 1e6).round() / 1e6,
                    }
                }),
            };
            if !loss.is_empty() {
                losses.insert(format.name(), loss);
            }
            if !said.is_empty() {
                notes.insert(format.name(), said);
            }
        }
        Ok((notes, losses))
    }
}

/// The chips to store, in selection order: read again from the manifest
/// one by one (a streamed store), or the project's, in memory.
struct ChipSource<'p> {
    project: &'p Project,
    reader: Option<labels_model::ChipReader<'p>>,
}

impl<'p> ChipSource<'p> {
    fn new(plan: &'p Plan) -> Result<ChipSource<'p>, StoreError> {
        let reader = match &plan.stream {
            Some(stream) => Some(stream.reader()?),
            None => None,
        };
        Ok(ChipSource {
            project: &plan.project,
            reader,
        })
    }

    /// The chip `k` keeps.
    fn chip(&mut self, k: &Kept) -> Result<Cow<'p, Chip>, StoreError> {
        let i = k.index;
        let Some(reader) = &mut self.reader else {
            return Ok(Cow::Borrowed(&self.project.chips[i]));
        };
        let mut chip = reader.read(i, k.span)?;
        if chip.id != k.id {
            return Err(StoreError::Input(labels_model::Error::invalid(
                &self.project.manifest_path,
                Some(&k.id),
                format!("chips[{i}].id"),
                "the manifest changed while the store was running".to_owned(),
            )));
        }
        replay(&mut chip, k.width, k.height, k.world_file.as_deref());
        chip.samples = k.samples;
        Ok(Cow::Owned(chip))
    }
}

/// Counts what was sent, and remembers the current chip's files so that
/// aliases of them can be listed with their size and checksum.
#[derive(Default)]
pub(crate) struct Sent {
    pub(crate) files: usize,
    pub(crate) bytes: u64,
    chip_files: Vec<ManifestEntry>,
}

impl Sent {
    pub(crate) fn record(
        &mut self,
        r: &mut ManifestWriter,
        path: &str,
        size: u64,
        sha: &str,
    ) -> io::Result<()> {
        self.files += 1;
        self.bytes += size;
        self.chip_files.push(ManifestEntry {
            path: path.to_owned(),
            size,
            sha256: sha.to_owned(),
        });
        r.add(path, size, sha)
    }
}

/// A file a format writer handed over, waiting for the chip to be done.
enum Pending {
    Bytes(Vec<u8>),
    Alias(String),
}

/// The [`Output`] format writers write to: whole files wait in memory until
/// the chip is done; appended files are spooled to local disk.
pub(crate) struct SpoolOutput {
    dir: PathBuf,
    puts: Vec<(String, Pending)>,
    appended: BTreeMap<String, BufWriter<File>>,
    /// The chip being written: its stored image path and where its bytes
    /// are (`None` when the stored image was converted to a GeoTIFF whose
    /// bytes are not kept: no format reads them with `--chip-format keep`).
    chip_source: Option<(String, ChipBytes)>,
}

/// Where the bytes of the stored image of the chip being written are.
enum ChipBytes {
    /// The source file, stored as it is.
    Source(PathBuf),
    /// The GeoTIFF it was converted to.
    Kept(Vec<u8>),
}

impl SpoolOutput {
    pub(crate) fn new(dir: PathBuf) -> SpoolOutput {
        SpoolOutput {
            dir,
            puts: Vec::new(),
            appended: BTreeMap::new(),
            chip_source: None,
        }
    }

    async fn flush_puts<D: Destination>(
        &mut self,
        dest: &mut D,
        receipt: &mut ManifestWriter,
        sent: &mut Sent,
    ) -> Result<(), StoreError> {
        for (path, pending) in std::mem::take(&mut self.puts) {
            match pending {
                Pending::Bytes(bytes) => {
                    let (size, sha) = digest_bytes(&bytes);
                    dest.put(&path, Body::Bytes(bytes)).await?;
                    sent.record(receipt, &path, size, &sha)?;
                }
                Pending::Alias(existing) => {
                    let Some(ManifestEntry {
                        size, sha256: sha, ..
                    }) = sent.chip_files.iter().find(|e| e.path == existing).cloned()
                    else {
                        return Err(StoreError::Scratch(io::Error::other(format!(
                            "{path} refers to {existing}, which is not a file of this chip"
                        ))));
                    };
                    dest.put(&path, Body::Copy(existing)).await?;
                    sent.record(receipt, &path, size, &sha)?;
                }
            }
        }
        Ok(())
    }

    /// Closes the appended files; gives each store path with its spool file.
    pub(crate) fn finish_appended(&mut self) -> io::Result<Vec<(String, PathBuf)>> {
        let mut out = Vec::new();
        for (path, w) in std::mem::take(&mut self.appended) {
            w.into_inner().map_err(io::IntoInnerError::into_error)?;
            out.push((path.clone(), self.dir.join(&path)));
        }
        Ok(out)
    }
}

impl Output for SpoolOutput {
    fn put(&mut self, path: &str, bytes: Vec<u8>) -> io::Result<()> {
        self.puts.push((path.to_owned(), Pending::Bytes(bytes)));
        Ok(())
    }

    fn alias(&mut self, path: &str, existing: &str) -> io::Result<()> {
        self.puts
            .push((path.to_owned(), Pending::Alias(existing.to_owned())));
        Ok(())
    }

    fn read(&mut self, existing: &str) -> io::Result<Vec<u8>> {
        match &self.chip_source {
            Some((stored, ChipBytes::Source(source))) if stored == existing => {
                std::fs::read(source)
            }
            Some((stored, ChipBytes::Kept(bytes))) if stored == existing => Ok(bytes.clone()),
            _ => Err(io::Error::other(format!(
                "{existing} is not the image of the chip being written"
            ))),
        }
    }

    fn append(&mut self, path: &str, bytes: &[u8]) -> io::Result<()> {
        if !sink_api::is_safe_store_path(path) {
            return Err(io::Error::other(format!("unsafe store path {path:?}")));
        }
        if !self.appended.contains_key(path) {
            let file = self.dir.join(path);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent)?;
            }
            self.appended
                .insert(path.to_owned(), BufWriter::new(File::create(file)?));
        }
        match self.appended.get_mut(path) {
            Some(w) => w.write_all(bytes),
            None => Err(io::Error::other("spool file vanished")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use labels_model::{LabelingType, Project};

    #[test]
    fn projects_from_other_tools_get_their_chip_ids_checked() {
        let mut a = Chip::new("img 1", "a.png");
        a.saved_empty = true;
        let project = Project {
            name: "foreign".into(),
            labeling_type: LabelingType::ObjectDetection,
            srid: None,
            classes: vec![],
            chips: vec![
                a,
                Chip::new("../x", "b.png"),
                Chip::new("ok", "c.png"),
                Chip::new("ok", "d.png"),
            ],
            base_dir: ".".into(),
            manifest_path: "annotations.json".into(),
        };
        let options = StoreOptions {
            formats: vec![FormatId::Json],
            scope: Scope::Project,
            limits: ImageLimits::default(),
            format_options: FormatOptions::default(),
        };
        let e = Plan::prepare_project(project, options).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let text = e.to_string();
        assert!(
            text.contains("annotations.json: chip \"img 1\": chips[0].id: a chip id is"),
            "{text}"
        );
        assert!(text.contains("chip \"../x\": chips[1].id"), "{text}");
        assert!(
            text.contains("chip \"ok\": chips[3].id: duplicate chip id"),
            "{text}"
        );
    }

    #[test]
    fn the_budget_is_taken_in_job_order_and_waits_for_room() {
        use std::sync::mpsc;
        use std::time::Duration;
        let budget = Arc::new(Budget::new(10));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        // Job 1 fits at once but must wait for job 0's turn.
        let take = |job: usize, bytes: u64| {
            let (budget, stop, tx) = (Arc::clone(&budget), Arc::clone(&stop), tx.clone());
            std::thread::spawn(move || {
                let took = budget.take(job, bytes, &stop);
                tx.send((job, took)).unwrap();
            })
        };
        let one = take(1, 2);
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
        assert!(budget.take(0, 9, &stop));
        // Job 1 now has its turn, but 9 + 2 > 10: it waits for room.
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
        // Job 0's GeoTIFF turns out small: room for job 1.
        budget.resize(9, 3);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), (1, true));
        one.join().unwrap();
        // A share bigger than the whole budget runs once nothing is held.
        let two = take(2, 50);
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
        budget.resize(3 + 2, 0);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), (2, true));
        two.join().unwrap();
        // A stopped store stops the waiting.
        let three = take(3, 1);
        stop.store(true, Ordering::Relaxed);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), (3, false));
        three.join().unwrap();
    }

    #[test]
    fn byte_counts_read_as_people_write_them() {
        assert_eq!(fmt_bytes(512), "512 bytes");
        assert_eq!(fmt_bytes(4 << 20), "4 MiB");
        assert_eq!(fmt_bytes(4_613_734), "4.4 MiB");
        assert_eq!(fmt_bytes(3 << 29), "1.5 GiB");
    }
}
