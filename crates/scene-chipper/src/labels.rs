//! The labels: read once with their classes ([`LabelSet`]), then placed on
//! each scene ([`SceneLabels`]): reprojected to its CRS and listed under
//! every window they meet.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use labels_model::{Attributes, Class, Label};
use pixel_geometry::{Geometry, Polygon};
use raster_georef::{Crs, GeoTransform, Scene};

use crate::window::Piece;
use crate::{ChipOptions, ClassFrom, ClassReport, Error, Result, SceneReport};

/// One feature of the labels file.
#[derive(Debug)]
struct Feature {
    /// Its position in the file, for messages.
    index: usize,
    /// Index into the class table.
    class: usize,
    /// Its shape, in the labels file's CRS.
    geometry: Geometry,
    /// Its attributes but the class field.
    attributes: Attributes,
}

/// Every label of the labels file, with the project's classes.
#[derive(Debug)]
pub(crate) struct LabelSet {
    file: String,
    crs: Crs,
    features: Vec<Feature>,
    classes: Vec<Class>,
    without_geometry: usize,
}

impl LabelSet {
    /// Reads every feature of `path` with its class.
    pub(crate) fn read(path: &Path, options: &ChipOptions) -> Result<LabelSet> {
        let mut layer = vector_labels::open(path, options.layer.as_deref())?;
        let file = path.display().to_string();
        if let ClassFrom::Field(field) = &options.class
            && !layer.fields().iter().any(|f| f == field)
        {
            return Err(vector_labels::Error::UnknownField {
                file,
                field: field.clone(),
                fields: layer.fields().to_vec(),
            }
            .into());
        }
        let raw = layer
            .features()
            .collect::<vector_labels::Result<Vec<_>>>()?;
        let mut names = Vec::with_capacity(raw.len());
        for f in &raw {
            names.push(match &options.class {
                ClassFrom::Fixed(name) => name.clone(),
                ClassFrom::Field(field) => layer.class_of(f, field)?,
            });
        }
        let classes = class_table(&names, options, &file)?;
        let features = raw
            .into_iter()
            .zip(names)
            .map(|(mut f, name)| {
                if let ClassFrom::Field(field) = &options.class {
                    f.attributes.remove(field);
                }
                Feature {
                    index: f.index,
                    class: classes.iter().position(|c| c.name == name).unwrap_or(0),
                    geometry: f.geometry,
                    attributes: f.attributes,
                }
            })
            .collect::<Vec<_>>();
        if features.is_empty() {
            return Err(Error::Input(format!(
                "{file}: holds no polygon feature, so there is nothing to label"
            )));
        }
        Ok(LabelSet {
            file,
            crs: layer.crs().clone(),
            features,
            classes,
            without_geometry: layer.skipped(),
        })
    }

    /// The number of features.
    pub(crate) fn len(&self) -> usize {
        self.features.len()
    }

    /// Features without a geometry, skipped.
    pub(crate) fn without_geometry(&self) -> usize {
        self.without_geometry
    }

    /// The project's classes.
    pub(crate) fn classes(&self) -> &[Class] {
        &self.classes
    }

    /// The summary's class table, features counted.
    pub(crate) fn class_reports(&self) -> Vec<ClassReport> {
        let mut out: Vec<ClassReport> = self
            .classes
            .iter()
            .map(|c| ClassReport {
                id: c.id,
                name: c.name.clone(),
                ..ClassReport::default()
            })
            .collect();
        for f in &self.features {
            out[f.class].features += 1;
        }
        out
    }

    /// How many features meet at least one scene.
    pub(crate) fn meeting(&self, scenes: &[SceneLabels]) -> usize {
        scenes
            .iter()
            .flat_map(|s| s.feats.iter().map(|f| f.feature))
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// The error when no label meets any scene: where the labels and the
    /// scenes are, so a wrong CRS shows.
    pub(crate) fn meets_no_scene(&self, scenes: &[SceneLabels]) -> Error {
        let scenes: Vec<String> = scenes
            .iter()
            .map(|s| format!("{} (EPSG:{})", s.path.display(), s.epsg))
            .collect();
        Error::Input(format!(
            "{}: none of its {} features (EPSG:{}) meets the scene{} {}; \
             are the labels drawn over these scenes, and is the labels file's CRS right?",
            self.file,
            self.features.len(),
            self.crs.epsg(),
            if scenes.len() == 1 { "" } else { "s" },
            scenes.join(", ")
        ))
    }

    /// A piece of a feature as a label of the project.
    pub(crate) fn to_label(&self, piece: Piece) -> Label {
        let feature = &self.features[piece.feature];
        Label {
            class_id: self.classes[feature.class].id,
            geometry: piece.geometry,
            attributes: feature.attributes.clone(),
        }
    }

    /// The class index of feature `feature`.
    pub(crate) fn class_of(&self, feature: usize) -> usize {
        self.features[feature].class
    }
}

/// The classes of the names found: ids from the names when every name is
/// a whole number that can be a class id (up to 254 for semantic
/// segmentation, whose masks keep 0 for background and 255 for "ignore"),
/// else 1, 2, ... in name order.
fn class_table(names: &[String], options: &ChipOptions, file: &str) -> Result<Vec<Class>> {
    let unique: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let semantic = options.labeling_type == labels_model::LabelingType::SemanticSegmentation;
    let max_id: u32 = if semantic { 254 } else { i32::MAX as u32 };
    let numeric: Option<Vec<(u32, &str)>> = unique
        .iter()
        .map(|n| {
            n.parse::<u32>()
                .ok()
                .filter(|&v| (1..=max_id).contains(&v) && v.to_string() == *n)
                .map(|v| (v, *n))
        })
        .collect();
    let mut table: Vec<Class> = match numeric {
        Some(mut ids) => {
            ids.sort();
            ids.into_iter().map(|(id, name)| class(id, name)).collect()
        }
        None => unique
            .iter()
            .zip(1u32..)
            .map(|(name, id)| class(id, name))
            .collect(),
    };
    if semantic && table.len() > 254 {
        return Err(Error::Input(format!(
            "{file}: {} classes; a semantic-segmentation mask holds at most 254 (1 to 254)",
            table.len()
        )));
    }
    table.shrink_to_fit();
    Ok(table)
}

fn class(id: u32, name: &str) -> Class {
    Class {
        id,
        name: name.to_owned(),
        color: None,
    }
}

/// A feature placed on a scene.
#[derive(Debug)]
pub(crate) struct SceneFeature {
    /// Index into the [`LabelSet`]'s features.
    pub(crate) feature: usize,
    /// Its shape in the scene's CRS (map coordinates).
    pub(crate) geometry: Geometry,
    /// Its area in the scene's pixels, holes taken out.
    pub(crate) area: f64,
}

/// The labels of one scene, listed under the windows they meet.
#[derive(Debug)]
pub(crate) struct SceneLabels {
    pub(crate) path: PathBuf,
    pub(crate) id: String,
    pub(crate) epsg: u32,
    pub(crate) dimensions: (u32, u32),
    pub(crate) transform: GeoTransform,
    pub(crate) size: u32,
    /// The windows' top-left corners, row by row.
    pub(crate) windows: Vec<(u32, u32)>,
    /// The features meeting the scene, in file order.
    pub(crate) feats: Vec<SceneFeature>,
    /// Per window, indices into `feats`, in file order.
    pub(crate) by_window: Vec<Vec<u32>>,
}

impl SceneLabels {
    /// Reprojects every label to `scene`'s CRS and lists it under the
    /// windows its extent meets.
    pub(crate) fn new(
        labels: &LabelSet,
        scene: &Scene,
        path: &Path,
        id: String,
        windows: Vec<(u32, u32)>,
        size: u32,
    ) -> Result<SceneLabels> {
        let Some(crs) = scene.crs() else {
            return Err(Error::Input(format!(
                "{}: the scene has no CRS",
                path.display()
            )));
        };
        let transform = scene.transform();
        let (w, h) = scene.dimensions();
        let cols: Vec<u32> = windows
            .iter()
            .map(|&(c, _)| c)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let rows: Vec<u32> = windows
            .iter()
            .map(|&(_, r)| r)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut feats = Vec::new();
        let mut by_window = vec![Vec::new(); windows.len()];
        for (i, f) in labels.features.iter().enumerate() {
            let geometry =
                vector_labels::reproject(&f.geometry, &labels.crs, crs).map_err(|e| {
                    Error::Input(format!(
                        "{}: feature {}: cannot be moved from EPSG:{} to the scene's EPSG:{}: {e}",
                        labels.file,
                        f.index,
                        labels.crs.epsg(),
                        crs.epsg()
                    ))
                })?;
            let (extent, area) = pixel_extent_and_area(&geometry, &transform);
            let [x0, y0, x1, y1] = extent;
            if !(x0 < f64::from(w) && x1 > 0.0 && y0 < f64::from(h) && y1 > 0.0 && area > 0.0) {
                continue;
            }
            let n = feats.len() as u32;
            let span = |offsets: &[u32], lo: f64, hi: f64| {
                let first = offsets.partition_point(|&o| f64::from(o) + f64::from(size) <= lo);
                let end = offsets.partition_point(|&o| f64::from(o) < hi);
                first..end.max(first)
            };
            for ri in span(&rows, y0, y1) {
                for ci in span(&cols, x0, x1) {
                    by_window[ri * cols.len() + ci].push(n);
                }
            }
            feats.push(SceneFeature {
                feature: i,
                geometry,
                area,
            });
        }
        Ok(SceneLabels {
            path: path.to_path_buf(),
            id,
            epsg: crs.epsg(),
            dimensions: (w, h),
            transform,
            size,
            windows,
            feats,
            by_window,
        })
    }

    /// The summary's line for this scene, before the sweep.
    pub(crate) fn report(&self) -> SceneReport {
        SceneReport {
            path: self.path.clone(),
            id: self.id.clone(),
            dimensions: self.dimensions,
            epsg: self.epsg,
            windows: self.windows.len(),
            ..SceneReport::default()
        }
    }
}

/// The extent `[xmin, ymin, xmax, ymax]` of a geometry in the pixels of
/// `transform`, and its area there (outer rings less holes).
fn pixel_extent_and_area(geometry: &Geometry, transform: &GeoTransform) -> ([f64; 4], f64) {
    let polygons: Vec<&Polygon> = match geometry {
        Geometry::Polygon(p) => vec![p],
        Geometry::MultiPolygon(m) => m.iter().collect(),
        // Readers give polygons; a box is its rectangle.
        Geometry::BBox(_) => Vec::new(),
    };
    let mut extent = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    let mut area = 0.0;
    for polygon in polygons {
        for (k, ring) in polygon.iter().enumerate() {
            let pixels: Vec<[f64; 2]> = ring
                .iter()
                .map(|&[x, y]| {
                    let (px, py) = transform.map_to_pixel(x, y);
                    [px, py]
                })
                .collect();
            for &[x, y] in &pixels {
                extent = [
                    extent[0].min(x),
                    extent[1].min(y),
                    extent[2].max(x),
                    extent[3].max(y),
                ];
            }
            let a = crate::window::ring_area(&pixels);
            area += if k == 0 { a } else { -a };
        }
    }
    (extent, area)
}
