//! `labelstore chip`: georeferenced scenes and their GIS labels cut into a
//! project folder. `scene-chipper` makes the chips and the labels; this
//! writes them into a destination as a store in format `json` would: each
//! chip's GeoTIFF as it is cut, `project.json` appended chip by chip on
//! local disk, then the store manifest (so the folder is a labelstore store
//! `fetch`, `verify` and `--overwrite` know), and the commit.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use labels_model::{ChipGeoref, GeorefSource, JsonFormat, LabelFormat};
use scene_chipper::{ChipOptions, ChipReport, Chipper};
use serde::Serialize;
use sink_api::{Body, Destination, ManifestWriter, STORE_MANIFEST, digest_bytes, digest_file};

use crate::store::{DryRunReport, Progress, Sent, SplitCounts, SpoolOutput, StoreError};
use labels_model::{SplitSpec, SplitUnit};

/// The header of a chip run's store manifest: a store in format `json`
/// (what fetch reads) and how it was cut.
#[derive(Debug, Serialize)]
struct Header<'a> {
    labelstore_store: u32,
    project: &'a str,
    labeling_type: &'a str,
    formats: [&'a str; 1],
    scope: &'a str,
    chipped_from: Chipped,
}

#[derive(Debug, Serialize)]
struct Chipped {
    scenes: Vec<String>,
    labels: String,
    size: u32,
    stride: u32,
}

/// Prepares cutting `scenes` with the labels of `labels` (see
/// [`Chipper::prepare`]): everything that can fail because of the input,
/// nothing written.
pub fn prepare_chip(
    scenes: &[PathBuf],
    labels: &Path,
    options: ChipOptions,
) -> Result<ChipPlan, StoreError> {
    let chipper = Chipper::prepare(scenes, labels, options)?;
    Ok(ChipPlan {
        chipper,
        scenes: scenes.iter().map(|p| p.display().to_string()).collect(),
        labels: labels.display().to_string(),
        started: Instant::now(),
        splits: None,
        counts: SplitCounts::new(),
    })
}

/// A prepared chip run.
#[derive(Debug)]
pub struct ChipPlan {
    chipper: Chipper,
    scenes: Vec<String>,
    labels: String,
    started: Instant,
    /// Splits assigned by [`ChipPlan::with_split`], per chip id.
    splits: Option<HashMap<String, String>>,
    /// Chips and labels written per split.
    counts: SplitCounts,
}

/// What a chip run did, for the closing summary.
#[derive(Debug, Clone, Serialize)]
pub struct ChipSummary {
    /// The project's name (the first scene's).
    pub project: String,
    /// The project's labeling type.
    pub labeling_type: &'static str,
    /// Where it went.
    pub destination: String,
    /// Chips written, with labels.
    pub chips: usize,
    /// Chips written without labels (`--keep-empty`).
    pub empty_chips: usize,
    /// Windows left out: `without_labels`, `all_nodata`.
    pub windows_left_out: BTreeMap<&'static str, usize>,
    /// Per scene.
    pub scenes: Vec<SceneSummary>,
    /// Per class: features, labels written, clipped, dropped.
    pub classes: Vec<ClassSummary>,
    /// Features read from the labels file.
    pub features: usize,
    /// Features that meet no scene.
    pub features_outside: usize,
    /// Features without a geometry, skipped.
    pub features_without_geometry: usize,
    /// Per split, the chips written and their labels per class.
    pub splits: SplitCounts,
    /// Files written, the store manifest included.
    pub files: usize,
    /// Bytes written.
    pub bytes: u64,
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
}

/// One scene of a chip run, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct SceneSummary {
    /// The scene's file.
    pub scene: String,
    /// The start of its chips' ids.
    pub id: String,
    /// Width and height in pixels.
    pub size: [u32; 2],
    /// Its CRS.
    pub crs: String,
    /// Windows in its sweep.
    pub windows: usize,
    /// Chips written with labels.
    pub chips: usize,
    /// Chips written without labels.
    pub empty_chips: usize,
    /// Windows no label meets, left out.
    pub without_labels: usize,
    /// Windows all nodata, left out.
    pub all_nodata: usize,
}

/// One class of a chip run, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct ClassSummary {
    /// The class id.
    pub id: u32,
    /// The class name.
    pub name: String,
    /// Features of the class.
    pub features: usize,
    /// Labels written (a feature's piece in a chip).
    pub labels: usize,
    /// Labels cut by a chip's edge.
    pub clipped: usize,
    /// Pieces dropped by `--min-visible`.
    pub dropped: usize,
}

impl ChipPlan {
    /// Gives every chip a split by `spec` (see `Plan::with_split`), from
    /// the chips the sweep means to cut: exact to one chip among the
    /// windows with labels (a window later found all nodata drops out).
    /// Blocks need a projected CRS: a scene in a geographic CRS is refused.
    pub fn with_split(mut self, spec: &SplitSpec) -> Result<ChipPlan, StoreError> {
        let planned = self.chipper.planned();
        let mut units = Vec::with_capacity(planned.len());
        for (id, (x, y), epsg) in &planned {
            units.push(match spec.block {
                Some(side) => {
                    if raster_georef::Crs::from_epsg(*epsg).is_ok_and(|c| c.is_geographic()) {
                        return Err(StoreError::Usage(format!(
                            "--split-by block: chip {id:?} is in EPSG:{epsg}, a geographic CRS \
                             (degrees); a block needs map units in metres"
                        )));
                    }
                    SplitUnit::Block(*epsg, (x / side).floor() as i64, (y / side).floor() as i64)
                }
                None => SplitUnit::Chip(id.clone()),
            });
        }
        let assigned = spec.assign(&units);
        self.splits = Some(
            planned
                .into_iter()
                .zip(assigned)
                .map(|((id, _, _), p)| (id, spec.parts[p].0.clone()))
                .collect(),
        );
        Ok(self)
    }

    /// The project's header: name, type, classes, CRS.
    pub fn project(&self) -> labels_model::Project {
        self.chipper.project_header()
    }

    /// Cuts every window and writes the chips, `project.json` and the store
    /// manifest into `dest`; `progress` hears of every window looked at. On
    /// any failure the destination is aborted, so it is as it was.
    pub async fn execute<D: Destination>(
        mut self,
        mut dest: D,
        progress: &mut (dyn FnMut(Progress<'_>) + Send),
    ) -> Result<ChipSummary, StoreError> {
        let description = dest.describe();
        match self.run(&mut dest, progress).await {
            Ok((files, bytes, spool)) => {
                dest.commit(Body::File(spool.path().join(STORE_MANIFEST)))
                    .await?;
                Ok(self.summary(description, files, bytes))
            }
            Err(e) => {
                // The original error matters more than a failed clean-up.
                let _ = dest.abort().await;
                Err(e)
            }
        }
    }

    /// Cuts every window as [`execute`](ChipPlan::execute) would, into
    /// `dest` opened for a dry run (see [`crate::Plan::dry_run`]), and
    /// reports what the run would write: scenes, windows, chips per split,
    /// labels per class, and the exact files and bytes (the chips are cut
    /// and compressed, then dropped).
    pub async fn dry_run<D: Destination>(
        mut self,
        mut dest: D,
        progress: &mut (dyn FnMut(Progress<'_>) + Send),
    ) -> Result<DryRunReport<ChipSummary>, StoreError> {
        let description = dest.describe();
        match self.run(&mut dest, progress).await {
            Ok((files, bytes, spool)) => {
                let preview = dest
                    .preview(Body::File(spool.path().join(STORE_MANIFEST)))
                    .await?;
                let summary = self.summary(description, files, bytes);
                Ok(DryRunReport::new(summary, files, bytes, preview))
            }
            Err(e) => {
                let _ = dest.abort().await;
                Err(e)
            }
        }
    }

    async fn run<D: Destination>(
        &mut self,
        dest: &mut D,
        progress: &mut (dyn FnMut(Progress<'_>) + Send),
    ) -> Result<(usize, u64, tempfile::TempDir), StoreError> {
        let spool = crate::scratch::scratch_dir("chip")?;
        let header = self.chipper.project_header();
        let mut writer = JsonFormat.writer(&header);
        let mut out = SpoolOutput::new(spool.path().join("appended"));
        let mut sent = Sent::default();
        let georef = ChipGeoref {
            source: GeorefSource::Embedded,
            transform: None,
            epsg: header.srid,
        };
        let total = self.chipper.windows();
        let mut rows = Vec::new();
        let mut written = 0;
        while let Some(mut cut) = self.chipper.next_chip()? {
            if let Some(splits) = &self.splits {
                cut.chip.split = splits.get(&cut.chip.id).cloned();
            }
            let count = self.counts.entry(cut.chip.split().to_owned()).or_default();
            count.chips += 1;
            for label in &cut.chip.labels {
                let class = header.class(label.class_id).map_or("", |c| c.name.as_str());
                *count.labels.entry(class.to_owned()).or_default() += 1;
            }
            let (size, sha) = digest_bytes(&cut.tiff);
            dest.put(&cut.file, Body::Bytes(cut.tiff)).await?;
            rows.push((cut.file, size, sha));
            written += size;
            writer.write_chip(&cut.chip, &georef, &mut out)?;
            progress(Progress {
                done: self.chipper.windows_done(),
                total,
                bytes: written,
                item: &cut.chip.id,
            });
        }
        writer.finish(&mut out)?;
        let stride = self.chipper.stride();
        let manifest_header = Header {
            labelstore_store: 1,
            project: &header.name,
            labeling_type: header.labeling_type.name(),
            formats: ["json"],
            scope: "project",
            chipped_from: Chipped {
                scenes: self.scenes.clone(),
                labels: self.labels.clone(),
                size: self.chipper.size(),
                stride,
            },
        };
        let mut receipt =
            ManifestWriter::create(&spool.path().join(STORE_MANIFEST), &manifest_header)?;
        for (path, size, sha) in rows {
            sent.record(&mut receipt, &path, size, &sha)?;
        }
        for (path, file) in out.finish_appended()? {
            let (size, sha) = digest_file(&file)?;
            dest.put(&path, Body::File(file)).await?;
            sent.record(&mut receipt, &path, size, &sha)?;
        }
        receipt.finish()?;
        let size = std::fs::metadata(spool.path().join(STORE_MANIFEST))?.len();
        Ok((sent.files + 1, sent.bytes + size, spool))
    }

    fn summary(&self, destination: String, files: usize, bytes: u64) -> ChipSummary {
        let header = self.chipper.project_header();
        let report: &ChipReport = self.chipper.report();
        let scenes: Vec<SceneSummary> = report
            .scenes
            .iter()
            .map(|s| SceneSummary {
                scene: s.path.display().to_string(),
                id: s.id.clone(),
                size: [s.dimensions.0, s.dimensions.1],
                crs: format!("EPSG:{}", s.epsg),
                windows: s.windows,
                chips: s.chips,
                empty_chips: s.empty_chips,
                without_labels: s.without_labels,
                all_nodata: s.all_nodata,
            })
            .collect();
        let sum = |f: fn(&SceneSummary) -> usize| scenes.iter().map(f).sum::<usize>();
        let windows_left_out = BTreeMap::from([
            ("without_labels", sum(|s| s.without_labels)),
            ("all_nodata", sum(|s| s.all_nodata)),
        ]);
        ChipSummary {
            project: header.name,
            labeling_type: header.labeling_type.name(),
            destination,
            chips: sum(|s| s.chips),
            empty_chips: sum(|s| s.empty_chips),
            windows_left_out,
            classes: report
                .classes
                .iter()
                .map(|c| ClassSummary {
                    id: c.id,
                    name: c.name.clone(),
                    features: c.features,
                    labels: c.pieces,
                    clipped: c.clipped,
                    dropped: c.dropped,
                })
                .collect(),
            scenes,
            features: report.features,
            features_outside: report.features_outside,
            features_without_geometry: report.features_without_geometry,
            splits: self.counts.clone(),
            files,
            bytes,
            seconds: self.started.elapsed().as_secs_f64(),
        }
    }
}
