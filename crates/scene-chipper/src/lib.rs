//! The road in for geospatial teams: cuts georeferenced GeoTIFF scenes and
//! the labels drawn on them in a GIS (GeoJSON, Shapefile, GeoPackage) into a
//! labelstore project, the job of `labelstore chip`.
//!
//! [`Chipper::prepare`] does everything that can fail because of the input
//! and reads no pixels: it opens every scene (its size, georeferencing and
//! CRS), reads every label with its class, reprojects the labels to each
//! scene's CRS and finds the windows each one meets. Then
//! [`Chipper::next_chip`] walks the windows, scene by scene and row by row:
//! every `stride` pixels a `size x size` window (the last row and column
//! shifted to end at the scene's edge), its labels clipped to it and turned
//! into pixel coordinates through the window's geotransform (a box, the
//! extent of what is left, for object detection; polygons, holes kept, for
//! instance and semantic segmentation, which the store rasterizes as
//! `gdal_rasterize` does), and its pixels as a GeoTIFF
//! (`raster_georef::Window::to_geotiff`). Windows without labels are passed
//! over before their pixels are read, unless empty chips are kept; windows
//! that are all nodata are skipped.
//!
//! The crate makes projects and never reaches a destination: what it hands
//! out (a chip's GeoTIFF bytes, its [`Chip`](labels_model::Chip) and the
//! project's header) is written by the facade.

mod error;
mod labels;
mod readers;
mod window;

use std::path::{Path, PathBuf};

use labels_model::{Chip, Class, LabelingType, Project};
use raster_georef::{Crs, Scene};

pub use crate::error::{Error, Result};
use crate::labels::{LabelSet, SceneLabels};
use crate::readers::{Job, Readers};

/// Where each label's class comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassFrom {
    /// The value of this attribute of each feature.
    Field(String),
    /// One class, this one, for every feature.
    Fixed(String),
}

/// How to cut scenes into chips.
#[derive(Debug, Clone)]
pub struct ChipOptions {
    /// What kind of labels the project holds.
    pub labeling_type: LabelingType,
    /// Where each label's class comes from.
    pub class: ClassFrom,
    /// The GeoPackage table to read (when it holds several).
    pub layer: Option<String>,
    /// Width and height of a chip, in pixels.
    pub size: u32,
    /// Pixels from one window to the next (`None`: `size`, no overlap).
    pub stride: Option<u32>,
    /// Keep chips without labels, saved empty (negative examples).
    pub keep_empty: bool,
    /// Drop a feature's piece whose area is below this share of the whole
    /// feature (0 keeps every piece).
    pub min_visible: f64,
    /// The CRS (EPSG code) of scenes whose GeoTIFF keys name none (a scene
    /// georeferenced by a world file).
    pub srid: Option<u32>,
}

/// What a run did, for the summary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChipReport {
    /// Per scene, in the order given.
    pub scenes: Vec<SceneReport>,
    /// Per class, in the project's order.
    pub classes: Vec<ClassReport>,
    /// Features read from the labels file.
    pub features: usize,
    /// Features that meet no scene.
    pub features_outside: usize,
    /// Features without a geometry, skipped.
    pub features_without_geometry: usize,
}

/// What a run did with one scene.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SceneReport {
    /// The scene's file.
    pub path: PathBuf,
    /// Its chip ids start with this.
    pub id: String,
    /// Its width and height.
    pub dimensions: (u32, u32),
    /// Its CRS.
    pub epsg: u32,
    /// Windows of the sweep.
    pub windows: usize,
    /// Chips written with labels.
    pub chips: usize,
    /// Chips written without labels (`keep_empty`).
    pub empty_chips: usize,
    /// Windows left out because no label meets them.
    pub without_labels: usize,
    /// Windows left out because all their pixels are nodata.
    pub all_nodata: usize,
}

/// What a run did with the labels of one class.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassReport {
    /// The class's id in the project.
    pub id: u32,
    /// Its name.
    pub name: String,
    /// Features of this class in the labels file.
    pub features: usize,
    /// Labels written (one per feature and chip it meets).
    pub pieces: usize,
    /// Of those, the ones cut by a chip's edge.
    pub clipped: usize,
    /// Pieces dropped as smaller than `min_visible` of their feature.
    pub dropped: usize,
}

/// One chip cut from a scene.
#[derive(Debug, Clone)]
pub struct Cut {
    /// The chip, as the project lists it: `chips/<id>.tif` and its labels.
    pub chip: Chip,
    /// Its image's path in the project folder (`chips/<id>.tif`).
    pub file: String,
    /// Its GeoTIFF.
    pub tiff: Vec<u8>,
}

/// A prepared run: the scenes, the labels per window, and the sweep's
/// position.
#[derive(Debug)]
pub struct Chipper {
    options: ChipOptions,
    stride: u32,
    labels: LabelSet,
    scenes: Vec<SceneLabels>,
    report: ChipReport,
    project_srid: Option<u32>,
    /// The scene being swept and its next window.
    at: (usize, usize),
    /// The threads reading the windows' pixels, from the first chip on.
    readers: Option<Readers>,
}

impl Chipper {
    /// Checks the options, opens every scene and reads every label; reads
    /// no pixels.
    ///
    /// Fails naming the file (and the feature or field) when a scene is
    /// not a GeoTIFF it can read or has no georeferencing or CRS, when the
    /// labels file is missing, of an unknown kind, without a known CRS,
    /// without the class field, with a feature that is not a polygon, or
    /// when no label meets any scene.
    pub fn prepare(scenes: &[PathBuf], labels: &Path, options: ChipOptions) -> Result<Chipper> {
        let stride = check_options(scenes, &options)?;
        let mut opened = Vec::new();
        for path in scenes {
            opened.push(open_scene(path, options.srid)?);
        }
        let labels = LabelSet::read(labels, &options)?;
        let ids = scene_ids(scenes);
        let mut prepared = Vec::new();
        for ((scene, path), id) in opened.iter().zip(scenes).zip(ids) {
            let windows = scene.windows(options.size, stride)?;
            prepared.push(SceneLabels::new(
                &labels,
                scene,
                path,
                id,
                windows,
                options.size,
            )?);
        }
        let meeting = labels.meeting(&prepared);
        if meeting == 0 {
            return Err(labels.meets_no_scene(&prepared));
        }
        let report = ChipReport {
            scenes: prepared.iter().map(SceneLabels::report).collect(),
            classes: labels.class_reports(),
            features: labels.len(),
            features_outside: labels.len() - meeting,
            features_without_geometry: labels.without_geometry(),
        };
        let first = prepared.first().map(|s| s.epsg);
        let project_srid = first.filter(|&e| prepared.iter().all(|s| s.epsg == e));
        Ok(Chipper {
            options,
            stride,
            labels,
            scenes: prepared,
            report,
            project_srid,
            at: (0, 0),
            readers: None,
        })
    }

    /// The project the chips belong to, without its chips: named after the
    /// first scene, its classes, its CRS when every scene has the same.
    pub fn project_header(&self) -> Project {
        let name = self
            .scenes
            .first()
            .map(|s| s.id.clone())
            .unwrap_or_default();
        Project {
            name,
            labeling_type: self.options.labeling_type,
            srid: self.project_srid,
            classes: self.classes().to_vec(),
            chips: Vec::new(),
            base_dir: PathBuf::from("."),
            manifest_path: PathBuf::from(labels_model::MANIFEST_FILE),
        }
    }

    /// The project's classes: ids from the class values when they are all
    /// whole numbers that can be ids, else numbered from 1 in name order.
    pub fn classes(&self) -> &[Class] {
        self.labels.classes()
    }

    /// Windows in every scene's sweep (for a progress bar).
    pub fn windows(&self) -> usize {
        self.scenes.iter().map(|s| s.windows.len()).sum()
    }

    /// Windows looked at so far.
    pub fn windows_done(&self) -> usize {
        let (scene, window) = self.at;
        self.scenes[..scene.min(self.scenes.len())]
            .iter()
            .map(|s| s.windows.len())
            .sum::<usize>()
            + window
    }

    /// What the run did so far.
    pub fn report(&self) -> &ChipReport {
        &self.report
    }

    /// The next chip of the sweep, `None` after the last. A window without
    /// labels is passed over before its pixels are read (unless empty chips
    /// are kept); one whose pixels are all nodata is skipped.
    pub fn next_chip(&mut self) -> Result<Option<Cut>> {
        if self.readers.is_none() {
            self.readers = Some(Readers::start(
                self.jobs(),
                self.options.size,
                self.options.srid,
            ));
        }
        while let Some(scene) = self.scenes.get(self.at.0) {
            let Some(&(col, row)) = scene.windows.get(self.at.1) else {
                self.at = (self.at.0 + 1, 0);
                continue;
            };
            let index = self.at.1;
            self.at.1 += 1;
            if let Some(cut) = self.cut(index, col, row)? {
                return Ok(Some(cut));
            }
        }
        Ok(None)
    }

    /// Window `index` (at `col`, `row`) of the current scene, when it makes
    /// a chip.
    fn cut(&mut self, index: usize, col: u32, row: u32) -> Result<Option<Cut>> {
        let s = self.at.0;
        let size = self.options.size;
        let pieces = self.scenes[s].pieces(&self.labels, index, &self.options);
        if pieces.labels.is_empty() && !self.options.keep_empty {
            self.report.scenes[s].without_labels += 1;
            self.count_dropped(&pieces.dropped);
            return Ok(None);
        }
        let Some(readers) = &mut self.readers else {
            return Ok(None);
        };
        let Some(tiff) = readers.next()? else {
            self.report.scenes[s].all_nodata += 1;
            return Ok(None);
        };
        self.count_dropped(&pieces.dropped);
        let id = format!("{}_x{col}_y{row}", self.scenes[s].id);
        let file = format!("chips/{id}.tif");
        let mut chip = Chip::new(id, &file);
        chip.width = Some(size);
        chip.height = Some(size);
        if self.project_srid != Some(self.scenes[s].epsg) {
            chip.srid = Some(self.scenes[s].epsg);
        }
        let report = &mut self.report.scenes[s];
        if pieces.labels.is_empty() {
            chip.saved_empty = true;
            report.empty_chips += 1;
        } else {
            report.chips += 1;
        }
        for (label, clipped) in &pieces.labels {
            let class = &mut self.report.classes[self.labels.class_of(label.feature)];
            class.pieces += 1;
            class.clipped += usize::from(*clipped);
        }
        chip.labels = pieces
            .labels
            .into_iter()
            .map(|(label, _)| self.labels.to_label(label))
            .collect();
        Ok(Some(Cut { chip, file, tiff }))
    }

    /// The chips the sweep means to cut, known before any pixel is read:
    /// every window with labels (every window, when empty chips are kept),
    /// each as its chip id, the map position of its centre in its scene's
    /// CRS and that CRS's EPSG code. A window found all nodata is left out
    /// later.
    pub fn planned(&self) -> Vec<(String, (f64, f64), u32)> {
        let half = f64::from(self.options.size) / 2.0;
        self.jobs()
            .into_iter()
            .map(|job| {
                let scene = &self.scenes[job.scene];
                let centre = scene
                    .transform
                    .pixel_to_map(f64::from(job.col) + half, f64::from(job.row) + half);
                let id = format!("{}_x{}_y{}", scene.id, job.col, job.row);
                (id, centre, scene.epsg)
            })
            .collect()
    }

    /// The windows whose pixels the sweep reads, in sweep order: those
    /// with labels, or all when empty chips are kept.
    fn jobs(&self) -> Vec<Job> {
        let mut jobs = Vec::new();
        for (s, scene) in self.scenes.iter().enumerate() {
            for (i, &(col, row)) in scene.windows.iter().enumerate() {
                if self.options.keep_empty
                    || !scene
                        .pieces(&self.labels, i, &self.options)
                        .labels
                        .is_empty()
                {
                    jobs.push(Job {
                        scene: s,
                        path: scene.path.clone(),
                        col,
                        row,
                    });
                }
            }
        }
        jobs
    }

    fn count_dropped(&mut self, dropped: &[usize]) {
        for &class in dropped {
            self.report.classes[class].dropped += 1;
        }
    }

    /// The size of a chip, in pixels.
    pub fn size(&self) -> u32 {
        self.options.size
    }

    /// The stride of the sweep.
    pub fn stride(&self) -> u32 {
        self.stride
    }
}

/// Checks the options; gives the stride.
fn check_options(scenes: &[PathBuf], options: &ChipOptions) -> Result<u32> {
    if scenes.is_empty() {
        return Err(Error::Input("no scene given".into()));
    }
    if options.size == 0 {
        return Err(Error::Input("--size must be at least 1 pixel".into()));
    }
    let stride = options.stride.unwrap_or(options.size);
    if stride == 0 {
        return Err(Error::Input("--stride must be at least 1 pixel".into()));
    }
    if !(0.0..=1.0).contains(&options.min_visible) {
        return Err(Error::Input(format!(
            "--min-visible {} is not a ratio from 0 to 1",
            options.min_visible
        )));
    }
    if let ClassFrom::Fixed(name) | ClassFrom::Field(name) = &options.class
        && name.trim().is_empty()
    {
        return Err(Error::Input("the class (or class field) is empty".into()));
    }
    Ok(stride)
}

/// Opens a scene and makes sure it has a CRS (its keys', or `srid`).
pub(crate) fn open_scene(path: &Path, srid: Option<u32>) -> Result<Scene> {
    let mut scene = Scene::open(path)?;
    if scene.crs().is_none() {
        let Some(code) = srid else {
            return Err(Error::Input(format!(
                "{}: the scene's GeoTIFF keys name no CRS; give it with --srid EPSG",
                path.display()
            )));
        };
        scene.set_crs(Crs::from_epsg(code)?);
    }
    Ok(scene)
}

/// Chip-id stems for the scenes: each file's stem in the characters a chip
/// id may hold (others become `_`), made unique with `-2`, `-3`, ...
fn scene_ids(scenes: &[PathBuf]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for path in scenes {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut id: String = stem
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .take(96)
            .collect();
        if id.is_empty() || id.starts_with('.') {
            id.insert(0, 's');
        }
        let base = id.clone();
        let mut n = 2;
        while ids.contains(&id) {
            id = format!("{base}-{n}");
            n += 1;
        }
        ids.push(id);
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scene_ids_are_chip_ids_and_unique() {
        let ids = scene_ids(&[
            PathBuf::from("a/scene one.tif"),
            PathBuf::from("b/scene one.tif"),
            PathBuf::from(".hidden.tif"),
            PathBuf::from("ortho_2024.TIF"),
        ]);
        assert_eq!(ids, ["scene_one", "scene_one-2", "s.hidden", "ortho_2024"]);
        for id in &ids {
            assert!(labels_model::is_safe_chip_id(&format!("{id}_x0_y0")));
        }
    }
}
