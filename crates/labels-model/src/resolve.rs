//! Looking at the files behind the chips being stored: image headers, world
//! files, masks; then clipping labels to their chip.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use pixel_geometry::{ClipOutcome, clip};
use raster_georef::{GeoTransform, SiblingWorldFiles};

use crate::error::{Diagnostic, Error, Result};
use crate::image::{ImageKind, ImageLimits, Opened, probe, probe_file};
use crate::model::{Chip, Project};

/// Where a chip's georeferencing comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum GeorefSource {
    /// A world file, named in the manifest or found beside the image.
    WorldFile,
    /// The manifest's inline `geotransform`.
    Inline,
    /// Tags embedded in a GeoTIFF image.
    Embedded,
    /// None: the chip is a plain image.
    None,
}

impl GeorefSource {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            GeorefSource::WorldFile => "world_file",
            GeorefSource::Inline => "inline",
            GeorefSource::Embedded => "embedded",
            GeorefSource::None => "none",
        }
    }
}

/// A stored chip's resolved georeferencing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChipGeoref {
    /// Where it comes from.
    pub source: GeorefSource,
    /// The pixel-corner geotransform, when the chip has one.
    pub transform: Option<GeoTransform>,
    /// The CRS: the chip's `srid`, else the project's, else the GeoTIFF's own keys.
    pub epsg: Option<u32>,
}

impl ChipGeoref {
    /// Whether the chip must be rewritten as a GeoTIFF to carry its
    /// georeferencing (SPEC §4): world-file and inline georeferencing.
    pub fn needs_geotiff(&self) -> bool {
        matches!(self.source, GeorefSource::WorldFile | GeorefSource::Inline)
    }
}

/// What resolving the stored chips found and changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resolution {
    /// Labels that crossed their chip's edge and were clipped, per chip id.
    pub clipped: Vec<(String, usize)>,
    /// The georeferencing of each resolved chip, in the order of the indices given.
    pub georef: Vec<ChipGeoref>,
}

impl Resolution {
    /// Labels clipped over all chips.
    pub fn clipped_total(&self) -> usize {
        self.clipped.iter().map(|(_, n)| n).sum()
    }
}

/// Resolves the chips at `indices` (from [`crate::select`]) in place: reads
/// each image's header (checking it exists, is what its extension says and
/// is within `limits`), fills in width and height, finds and checks the world
/// file (the given one, or a sibling as GDAL probes it), checks the mask, and
/// clips labels to the chip. A label wholly outside its chip is an error.
///
/// Every problem is collected; the error lists them all.
pub fn resolve(
    project: &mut Project,
    indices: &[usize],
    limits: &ImageLimits,
) -> Result<Resolution> {
    let mut r = ChipResolver::new(project, limits);
    let mut res = Resolution::default();
    for &i in indices {
        let chip = &mut project.chips[i];
        let (n, georef) = r.resolve(i, chip);
        res.georef.push(georef);
        if n > 0 {
            res.clipped.push((chip.id.clone(), n));
        }
    }
    r.finish().map(|()| res)
}

/// [`resolve`] chip by chip, for a manifest read as a stream.
#[derive(Debug)]
pub struct ChipResolver {
    r: Resolver,
    project_srid: Option<u32>,
}

impl ChipResolver {
    /// A resolver for the chips of `project` (its header is enough: base
    /// folder, manifest path, classes, srid).
    pub fn new(project: &Project, limits: &ImageLimits) -> ChipResolver {
        ChipResolver {
            r: Resolver {
                base: project.base_dir.clone(),
                manifest: project.manifest_path.clone(),
                limits: *limits,
                siblings: SiblingWorldFiles::default(),
                crs: HashMap::new(),
                mask_values: {
                    let mut ok = [false; 256];
                    ok[0] = true;
                    ok[255] = true;
                    for c in &project.classes {
                        if let Some(v) = usize::try_from(c.id).ok().filter(|&v| v < 256) {
                            ok[v] = true;
                        }
                    }
                    ok
                },
                diags: Vec::new(),
            },
            project_srid: project.srid,
        }
    }

    /// Resolves the chip at manifest index `i` in place (as [`resolve`]
    /// does); returns how many of its labels were clipped and its
    /// georeferencing. Problems are kept for [`ChipResolver::finish`].
    pub fn resolve(&mut self, i: usize, chip: &mut Chip) -> (usize, ChipGeoref) {
        let r = &mut self.r;
        let (n, mut georef) = r.chip(i, chip);
        if georef.source != GeorefSource::None {
            let given = chip
                .srid
                .map(|c| (c, format!("chips[{i}].srid")))
                .or(self.project_srid.map(|c| (c, "srid".to_owned())));
            if let Some((code, field)) = given {
                georef.epsg = Some(code);
                if !r.known_crs(code) {
                    let manifest = r.manifest.clone();
                    let msg = format!(
                        "EPSG:{code} is not a coordinate reference system labelstore knows \
                         (a projected or geographic 2D CRS of the EPSG registry)"
                    );
                    r.err(&manifest, chip, field, msg);
                }
            }
        }
        (n, georef)
    }

    /// Every problem found, or nothing.
    pub fn finish(self) -> Result<()> {
        if self.r.diags.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self.r.diags))
        }
    }
}

/// Replays a resolution on a chip read again from its manifest (the
/// second pass of a streamed store): sets the size and world file found
/// the first time and clips its labels to the chip. Returns how many
/// labels were clipped.
pub fn replay(chip: &mut Chip, width: u32, height: u32, world_file: Option<&Path>) -> usize {
    chip.width = Some(width);
    chip.height = Some(height);
    if chip.world_file.is_none() {
        chip.world_file = world_file.map(Path::to_path_buf);
    }
    let (w, h) = (f64::from(width), f64::from(height));
    let mut clipped = 0;
    for label in &mut chip.labels {
        if let ClipOutcome::Clipped(g) = clip(&label.geometry, w, h) {
            label.geometry = g;
            clipped += 1;
        }
    }
    clipped
}

#[derive(Debug)]
struct Resolver {
    base: PathBuf,
    manifest: PathBuf,
    limits: ImageLimits,
    /// Per folder: lower-cased file name → actual name, for case-insensitive lookups.
    siblings: SiblingWorldFiles,
    /// Which mask values are allowed: the class ids, 0 and 255.
    mask_values: [bool; 256],
    /// EPSG codes already looked up, and whether they are known.
    crs: HashMap<u32, bool>,
    diags: Vec<Diagnostic>,
}

impl Resolver {
    /// Checks that every value of a mask file is a class id, 0 or 255.
    fn check_mask_values(&self, path: &Path) -> std::result::Result<(), String> {
        let bytes =
            crate::regular::read_regular(path).map_err(|e| format!("cannot read the mask: {e}"))?;
        let band = raster_georef::decode_band8(&bytes, "").map_err(|e| match e {
            raster_georef::Error::GeoTiff { message, .. } => message,
            other => other.to_string(),
        })?;
        let w = band.width as usize;
        match band
            .data
            .iter()
            .position(|&v| !self.mask_values[usize::from(v)])
        {
            None => Ok(()),
            Some(k) => Err(format!(
                "mask value {} at pixel ({}, {}) is not a class id, 0 (background) or 255 (ignore)",
                band.data[k],
                k % w.max(1),
                k / w.max(1)
            )),
        }
    }

    fn known_crs(&mut self, code: u32) -> bool {
        *self
            .crs
            .entry(code)
            .or_insert_with(|| raster_georef::Crs::from_epsg(code).is_ok())
    }

    fn err(&mut self, file: &Path, chip: &Chip, field: String, message: String) {
        self.diags.push(Diagnostic {
            file: file.to_path_buf(),
            chip: Some(chip.id.clone()),
            field,
            message,
        });
    }

    /// Resolves one chip; returns how many labels were clipped, and its
    /// georeferencing (CRS from the GeoTIFF keys only).
    fn chip(&mut self, i: usize, chip: &mut Chip) -> (usize, ChipGeoref) {
        let image = self.base.join(&chip.image);
        let mut georef = ChipGeoref {
            source: GeorefSource::None,
            transform: None,
            epsg: None,
        };
        let (header, file) = match probe_file(&image, &self.limits) {
            Ok(h) => h,
            Err(msg) => {
                self.err(&image, chip, format!("chips[{i}].image"), msg);
                return (0, georef);
            }
        };
        self.take_size(i, chip, &header);
        if let Some(gt) = chip.geotransform {
            georef.source = GeorefSource::Inline;
            georef.transform = GeoTransform::new(gt).ok();
        }
        if chip.world_file.is_none()
            && chip.geotransform.is_none()
            && header.kind == ImageKind::Tiff
        {
            self.embedded_georef(i, chip, &image, &file, &mut georef);
        }
        if chip.world_file.is_none()
            && chip.geotransform.is_none()
            && georef.source == GeorefSource::None
        {
            chip.world_file = self.sibling_world_file(&chip.image);
        }
        self.world_file_georef(i, chip, &mut georef);
        self.check_copied_in_full(i, chip, &image, &header, &file, &georef);
        self.check_mask(i, chip, &header);
        let clipped = self.clip_labels(i, chip, &header);
        if georef.source == GeorefSource::None {
            georef.epsg = None;
        }
        (clipped, georef)
    }

    /// Checks the manifest's `width` and `height` against the image
    /// header's, then takes the header's size and samples per pixel.
    fn take_size(&mut self, i: usize, chip: &mut Chip, header: &crate::image::Header) {
        for (field, given, actual) in [
            ("width", chip.width, header.width),
            ("height", chip.height, header.height),
        ] {
            if given.is_some_and(|g| g != actual) {
                let msg = format!(
                    "the manifest says {field} {}, the image header says {actual}",
                    given.unwrap_or_default()
                );
                let manifest = self.manifest.clone();
                self.err(&manifest, chip, format!("chips[{i}].{field}"), msg);
            }
        }
        chip.width = Some(header.width);
        chip.height = Some(header.height);
        chip.samples = header.samples;
    }

    /// The georeferencing in a TIFF chip's tags, which win over a sibling
    /// world file, as in GDAL.
    fn embedded_georef(
        &mut self,
        i: usize,
        chip: &Chip,
        image: &Path,
        opened: &Opened,
        georef: &mut ChipGeoref,
    ) {
        let embedded = opened
            .with_reader(|r| raster_georef::read_embedded(r, ""))
            .map_err(|e| format!("cannot read the file: {e}"))
            .and_then(|read| {
                read.map_err(|e| match e {
                    raster_georef::Error::GeoTiff { message, .. } => {
                        format!("broken GeoTIFF tags: {message}")
                    }
                    other => other.to_string(),
                })
            });
        match embedded {
            Ok(Some(e)) => {
                georef.epsg = e.epsg;
                if e.transform.is_some() {
                    georef.source = GeorefSource::Embedded;
                    georef.transform = e.transform;
                }
            }
            Ok(None) => {}
            Err(msg) => self.err(image, chip, format!("chips[{i}].image"), msg),
        }
    }

    /// The georeferencing of the chip's world file (named, or found
    /// beside the image), if it has one.
    fn world_file_georef(&mut self, i: usize, chip: &Chip, georef: &mut ChipGeoref) {
        let Some(wf) = &chip.world_file else {
            return;
        };
        let path = self.base.join(wf);
        let checked = crate::regular::read_regular(&path)
            .map_err(|e| format!("cannot read the world file: {e}"))
            .and_then(|bytes| {
                let text = String::from_utf8(bytes)
                    .map_err(|_| "the world file is not text".to_owned())?;
                GeoTransform::parse_world_file(&text, &path.display().to_string()).map_err(|e| {
                    match e {
                        raster_georef::Error::WorldFile { line, message, .. } => {
                            format!("line {line}: {message}")
                        }
                        other => other.to_string(),
                    }
                })
            });
        match checked {
            Ok(gt) => {
                georef.source = GeorefSource::WorldFile;
                georef.transform = Some(gt);
            }
            Err(msg) => self.err(&path, chip, format!("chips[{i}].world_file"), msg),
        }
    }

    /// The header probe checked the structure by headers. A chip copied as
    /// it is is read in full too (PNG CRCs, all of a JPEG's data); one
    /// converted to a GeoTIFF is decoded (its decoder checks it) or
    /// wrapped, so headers and ends are enough. Measured on 3000 world-file
    /// chips (release, warm cache): PNGs read in full would add 160 ms to a
    /// 4.5 s store, too much of `bench geotiff`'s 5 %.
    fn check_copied_in_full(
        &mut self,
        i: usize,
        chip: &Chip,
        image: &Path,
        header: &crate::image::Header,
        opened: &Opened,
        georef: &ChipGeoref,
    ) {
        if georef.needs_geotiff() || !matches!(header.kind, ImageKind::Png | ImageKind::Jpeg) {
            return;
        }
        let full = opened
            .with_reader(|r| raster_georef::check_structure(r, "", raster_georef::Depth::Full))
            .map_err(|e| format!("cannot read the file: {e}"))
            .and_then(|checked| {
                checked.map_err(|e| match e {
                    raster_georef::Error::Corrupt { message, .. } => message,
                    other => other.to_string(),
                })
            });
        if let Err(msg) = full {
            self.err(image, chip, format!("chips[{i}].image"), msg);
        }
    }

    /// Checks the chip's mask, if it has one: its size is the chip's, its
    /// values are class ids, 0 or 255.
    fn check_mask(&mut self, i: usize, chip: &Chip, header: &crate::image::Header) {
        let Some(mask) = &chip.mask else {
            return;
        };
        let path = self.base.join(mask);
        match probe(&path, &self.limits) {
            Ok(m) if (m.width, m.height) != (header.width, header.height) => {
                let msg = format!(
                    "the mask is {}x{} but its chip is {}x{}",
                    m.width, m.height, header.width, header.height
                );
                self.err(&path, chip, format!("chips[{i}].mask"), msg);
            }
            Ok(_) => {
                if let Err(msg) = self.check_mask_values(&path) {
                    self.err(&path, chip, format!("chips[{i}].mask"), msg);
                }
            }
            Err(msg) => self.err(&path, chip, format!("chips[{i}].mask"), msg),
        }
    }

    /// Clips the chip's labels to it; returns how many were clipped. A
    /// label wholly outside the chip is an error.
    fn clip_labels(&mut self, i: usize, chip: &mut Chip, header: &crate::image::Header) -> usize {
        let (w, h) = (f64::from(header.width), f64::from(header.height));
        let mut clipped = 0;
        let mut outside = Vec::new();
        for (j, label) in chip.labels.iter_mut().enumerate() {
            match clip(&label.geometry, w, h) {
                ClipOutcome::Inside => {}
                ClipOutcome::Clipped(g) => {
                    label.geometry = g;
                    clipped += 1;
                }
                ClipOutcome::Outside => outside.push((j, label.geometry.field())),
            }
        }
        for (j, field) in outside {
            let manifest = self.manifest.clone();
            let msg = format!(
                "the {} lies wholly outside its {}x{} chip",
                if field == "bbox" { "box" } else { "polygon" },
                header.width,
                header.height
            );
            self.err(
                &manifest,
                chip,
                format!("chips[{i}].labels[{j}].{field}"),
                msg,
            );
        }
        clipped
    }

    /// The world file GDAL would find beside `image` (relative to the base
    /// folder), matching names case-insensitively.
    fn sibling_world_file(&mut self, image: &Path) -> Option<PathBuf> {
        let rel_dir = image.parent().unwrap_or(Path::new(""));
        let name = self.siblings.find(&self.base.join(rel_dir), image)?;
        Some(rel_dir.join(name))
    }
}
