//! The format registry: which label formats exist (SPEC §3), the other
//! names people type for them, and the one place that picks a format's
//! implementation by its id. Each implementation says its own name, the
//! labeling types it fits, where its files go and what a round trip loses
//! (`LabelFormat::name`, `labeling_types`, `layout`, `fidelity`...), which
//! is what [`FormatInfo`] (`labelstore formats`) shows; the model knows no
//! format.

use std::fmt;

use labels_model::{Chip, ChipFormat, Geometry, JsonFormat, Label, LabelFormat, LabelingType};
use serde::Serialize;

/// Every label format of SPEC §3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FormatId {
    /// labelstore's own manifest format.
    Json,
    /// RFC 7946 GeoJSON.
    Geojson,
    /// ESRI Shapefile.
    Shapefile,
    /// Pascal VOC XML.
    Voc,
    /// COCO JSON.
    Coco,
    /// KITTI object labels.
    Kitti,
    /// YOLO text labels.
    Yolo,
    /// Palette PNG masks.
    Png,
    /// Single-band TIFF masks.
    Tiff,
    /// Single-band GeoTIFF masks.
    Geotiff,
    /// Palette GIF masks.
    Gif,
    /// Indexed BMP masks.
    Bmp,
}

impl FormatId {
    /// Every format, in the order of SPEC §3.
    pub const ALL: [FormatId; 12] = [
        FormatId::Json,
        FormatId::Geojson,
        FormatId::Shapefile,
        FormatId::Voc,
        FormatId::Coco,
        FormatId::Kitti,
        FormatId::Yolo,
        FormatId::Png,
        FormatId::Tiff,
        FormatId::Geotiff,
        FormatId::Gif,
        FormatId::Bmp,
    ];

    /// The name used on the command line and in store manifests, as the
    /// format's implementation gives it.
    pub fn name(self) -> &'static str {
        label_format(self).name()
    }

    /// Other names people type for this format (the names of other tools
    /// and ecosystems), accepted wherever a format name is, in any case.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            FormatId::Json => &["labelstore"],
            FormatId::Geojson => &["geo-json", "geo_json"],
            FormatId::Shapefile => &["shp", "esri-shapefile", "esri_shapefile"],
            FormatId::Voc => &["pascal-voc", "pascal_voc", "pascalvoc", "voc_detection"],
            FormatId::Coco => &["ms-coco", "mscoco", "coco_instances"],
            FormatId::Kitti => &["kitti_detection"],
            FormatId::Yolo => &["yolov5", "yolov8", "ultralytics", "darknet"],
            FormatId::Png => &[],
            FormatId::Tiff => &["tif"],
            FormatId::Geotiff => &["geotif"],
            FormatId::Gif => &[],
            FormatId::Bmp => &[],
        }
    }

    /// The format with this name or alias ([`FormatId::aliases`]), matched
    /// case-insensitively.
    pub fn parse(name: &str) -> Option<FormatId> {
        let name = name.trim();
        Self::ALL.into_iter().find(|f| {
            f.name().eq_ignore_ascii_case(name)
                || f.aliases().iter().any(|a| a.eq_ignore_ascii_case(name))
        })
    }

    /// The format with this name or alias, or an error that says which
    /// format the name is closest to.
    pub fn lookup(name: &str) -> Result<FormatId, UnknownFormat> {
        Self::parse(name).ok_or_else(|| UnknownFormat {
            name: name.to_owned(),
            suggestion: Self::suggest(name),
        })
    }

    /// The format whose name or alias is closest to `name` by edit distance
    /// (Damerau–Levenshtein, any case), when it is close enough to be a
    /// typo: at most 2 edits, and fewer than half the letters of the name.
    pub fn suggest(name: &str) -> Option<FormatId> {
        let name = name.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .flat_map(|f| {
                std::iter::once(f.name())
                    .chain(f.aliases().iter().copied())
                    .map(move |n| (f, n))
            })
            .map(|(f, n)| (strsim::damerau_levenshtein(&name, n), f, n))
            .filter(|(d, _, n)| *d <= 2 && 2 * d < n.len())
            .min_by_key(|(d, _, _)| *d)
            .map(|(_, f, _)| f)
    }

    /// What `labelstore formats` says of this format, from its
    /// implementation.
    pub fn info(self) -> FormatInfo {
        let format = label_format(self);
        FormatInfo {
            name: format.name(),
            aliases: self.aliases(),
            labeling_types: format.labeling_types().iter().map(|t| t.name()).collect(),
            import: crate::import::IMPORT_FORMATS.contains(&self),
            store: true,
            splits: format.keeps_splits(),
            cannot_carry: cannot_carry(format.as_ref()),
            layout: format.layout(),
        }
    }

    /// Whether a project of labeling type `ty` can be stored in this format.
    pub fn fits(self, ty: LabelingType) -> bool {
        label_format(self).labeling_types().contains(&ty)
    }

    /// The formats a project of labeling type `ty` can be stored in.
    pub fn for_type(ty: LabelingType) -> Vec<FormatId> {
        Self::ALL.into_iter().filter(|f| f.fits(ty)).collect()
    }
}

impl fmt::Display for FormatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A format name that is neither a format's name nor one of its aliases.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct UnknownFormat {
    /// The name as given.
    pub name: String,
    /// The format it is closest to, if it looks like a typo of one.
    pub suggestion: Option<FormatId>,
}

impl fmt::Display for UnknownFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown format {:?}", self.name)?;
        match self.suggestion {
            Some(s) => write!(f, "; did you mean {s}?"),
            None => {
                let all: Vec<_> = FormatId::ALL.iter().map(|f| f.name()).collect();
                write!(f, " (formats: {})", all.join(", "))
            }
        }
    }
}

/// One format as `labelstore formats` shows it: every field comes from the
/// format's implementation (its name, labeling types, layout, fidelity,
/// splits) or the registry (aliases, whether `import` reads it). The
/// field names are the keys of `labelstore formats --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FormatInfo {
    /// The name on the command line and in store manifests.
    pub name: &'static str,
    /// Other names accepted for it.
    pub aliases: &'static [&'static str],
    /// The labeling types whose projects it stores.
    pub labeling_types: Vec<&'static str>,
    /// Whether `labelstore import` reads datasets in it.
    pub import: bool,
    /// Whether `labelstore store` writes it (every format).
    pub store: bool,
    /// Whether it lays out and reads back each chip's split.
    pub splits: bool,
    /// What a store in it and a read back do not give back as it was.
    pub cannot_carry: Vec<String>,
    /// Where its files go in a store.
    pub layout: &'static str,
}

/// What a round trip through `format` loses, in words, from its
/// `fidelity`, `keeps_splits`, `geometry_survives_as_mask` and
/// `leaves_out` (asked about a box a billionth of a pixel wide).
fn cannot_carry(format: &dyn LabelFormat) -> Vec<String> {
    let fidelity = format.fidelity();
    let mut out = Vec::new();
    if let Some(t) = fidelity.pixel_tolerance.filter(|t| *t > 0.0) {
        out.push(format!("exact coordinates (within {t} px)"));
    }
    for t in format.labeling_types() {
        if format.geometry_survives_as_mask(*t) {
            out.push(format!(
                "{} polygon vertices (some come back as the outline of the same mask)",
                t.name()
            ));
        }
    }
    if !fidelity.class_ids {
        out.push("class ids (classes come back numbered 1, 2, 3... in id order)".into());
    }
    match fidelity.attributes {
        None => {}
        Some([]) => out.push("attributes".into()),
        Some(kept) => out.push(format!("attributes other than {}", kept.join(", "))),
    }
    if !fidelity.empty_chips {
        out.push("chips saved empty".into());
    }
    if !format.keeps_splits() {
        out.push("splits".into());
    }
    let mut chip = Chip::new("probe", "probe.png");
    (chip.width, chip.height) = (Some(512), Some(512));
    let thin = Label {
        class_id: 1,
        geometry: Geometry::BBox([10.0, 10.0, 10.0 + 1e-9, 100.0]),
        attributes: Default::default(),
    };
    if format
        .labeling_types()
        .contains(&LabelingType::ObjectDetection)
        && format.leaves_out(&chip, &thin)
    {
        out.push("boxes that round to zero width or height (left out and counted)".into());
    }
    out
}

/// Options of formats that have some.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FormatOptions {
    /// GeoJSON keeps each chip's own CRS (with the legacy `crs` member)
    /// instead of RFC 7946's WGS 84 longitude/latitude.
    pub geojson_native_crs: bool,
    /// The creation time label files that carry one say (COCO's
    /// `info.date_created`), in seconds since the Unix epoch: the caller's
    /// `SOURCE_DATE_EPOCH`. `None` leaves the date out; no writer reads the
    /// clock, so the same project always gives the same bytes.
    pub source_date_epoch: Option<i64>,
    /// The file type of the chip images COCO, VOC, YOLO and KITTI place
    /// beside their labels (`--chip-format`); the stored chips under
    /// `chips/` are never changed by it.
    pub chip_format: ChipFormat,
}

/// The implementation of `id` with `options`.
pub fn label_format_with(id: FormatId, options: &FormatOptions) -> Box<dyn LabelFormat> {
    match id {
        FormatId::Geojson if options.geojson_native_crs => {
            Box::new(fmt_detection::GeojsonFormat::native())
        }
        FormatId::Coco => Box::new(fmt_detection::CocoFormat::created_at(
            options.source_date_epoch,
        )),
        _ => label_format(id),
    }
}

/// The implementation of `id`.
pub fn label_format(id: FormatId) -> Box<dyn LabelFormat> {
    use fmt_segmentation::MaskFormat;
    match id {
        FormatId::Json => Box::new(JsonFormat),
        FormatId::Voc => Box::new(fmt_detection::VocFormat),
        FormatId::Kitti => Box::new(fmt_detection::KittiFormat),
        FormatId::Coco => Box::new(fmt_detection::CocoFormat::default()),
        FormatId::Yolo => Box::new(fmt_detection::YoloFormat),
        FormatId::Geojson => Box::new(fmt_detection::GeojsonFormat::default()),
        FormatId::Shapefile => Box::new(fmt_detection::ShapefileFormat),
        FormatId::Png => Box::new(MaskFormat::PNG),
        FormatId::Tiff => Box::new(MaskFormat::TIFF),
        FormatId::Geotiff => Box::new(MaskFormat::GEOTIFF),
        FormatId::Gif => Box::new(MaskFormat::GIF),
        FormatId::Bmp => Box::new(MaskFormat::BMP),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_suggestions() {
        for (alias, f) in [
            ("YOLOv8", FormatId::Yolo),
            ("yolov5", FormatId::Yolo),
            ("ultralytics", FormatId::Yolo),
            ("darknet", FormatId::Yolo),
            ("pascal-voc", FormatId::Voc),
            ("Pascal_VOC", FormatId::Voc),
            ("pascalvoc", FormatId::Voc),
            ("ms-coco", FormatId::Coco),
            ("MSCOCO", FormatId::Coco),
            ("coco_instances", FormatId::Coco),
            ("shp", FormatId::Shapefile),
            ("geo-json", FormatId::Geojson),
            ("tif", FormatId::Tiff),
            ("kitti_detection", FormatId::Kitti),
        ] {
            assert_eq!(FormatId::parse(alias), Some(f), "{alias}");
        }
        // No alias is another format's name or alias.
        let mut seen = std::collections::HashSet::new();
        for f in FormatId::ALL {
            for n in std::iter::once(f.name()).chain(f.aliases().iter().copied()) {
                assert!(seen.insert(n.to_ascii_lowercase()), "{n} twice");
            }
        }
        let err = |n: &str| FormatId::lookup(n).unwrap_err().to_string();
        assert_eq!(err("yolo8"), "unknown format \"yolo8\"; did you mean yolo?");
        assert_eq!(err("Cocoo"), "unknown format \"Cocoo\"; did you mean coco?");
        assert_eq!(
            err("shapfile"),
            "unknown format \"shapfile\"; did you mean shapefile?"
        );
        assert_eq!(
            err("yolov11"),
            "unknown format \"yolov11\"; did you mean yolo?"
        );
        assert_eq!(
            err("pascal voc"),
            "unknown format \"pascal voc\"; did you mean voc?"
        );
        assert_eq!(
            err("jpeg"),
            "unknown format \"jpeg\" (formats: json, geojson, shapefile, voc, coco, kitti, yolo, \
             png, tiff, geotiff, gif, bmp)"
        );
        assert_eq!(FormatId::suggest("xyz"), None);
    }

    #[test]
    fn info_comes_from_the_implementations() {
        let yolo = FormatId::Yolo.info();
        assert_eq!(
            yolo.cannot_carry,
            [
                "exact coordinates (within 0.01 px)",
                "class ids (classes come back numbered 1, 2, 3... in id order)",
                "attributes",
                "boxes that round to zero width or height (left out and counted)"
            ]
        );
        assert!(yolo.import && yolo.store && yolo.splits);
        assert!(FormatId::Json.info().cannot_carry.is_empty());
        assert!(!FormatId::Json.info().import);
        assert_eq!(
            FormatId::Geojson.info().cannot_carry,
            ["exact coordinates (within 0.000001 px)", "splits"]
        );
        for f in FormatId::ALL {
            assert!(!f.info().layout.is_empty(), "{f}");
        }
    }

    #[test]
    fn names_are_case_insensitive() {
        assert_eq!(FormatId::parse("JSON"), Some(FormatId::Json));
        assert_eq!(FormatId::parse(" GeoTIFF "), Some(FormatId::Geotiff));
        assert_eq!(FormatId::parse("jpeg"), None);
        for f in FormatId::ALL {
            assert_eq!(FormatId::parse(&f.name().to_uppercase()), Some(f));
        }
    }

    #[test]
    fn formats_per_type_follow_spec() {
        let names = |t| {
            FormatId::for_type(t)
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(LabelingType::ObjectDetection),
            [
                "json",
                "geojson",
                "shapefile",
                "voc",
                "coco",
                "kitti",
                "yolo"
            ]
        );
        assert_eq!(names(LabelingType::InstanceSegmentation), ["json", "coco"]);
        // SPEC §3's mask formats, and `json`, the project folder (masks
        // under `masks/`), which fetch gives back for every labeling type.
        assert_eq!(
            names(LabelingType::SemanticSegmentation),
            ["json", "png", "tiff", "geotiff", "gif", "bmp"]
        );
    }
}
