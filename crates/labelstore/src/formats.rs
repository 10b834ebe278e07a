//! The format registry: which label formats exist (SPEC §3), and the one
//! place that picks a format's implementation by its id. Each
//! implementation says its own name and the labeling types it fits
//! (`LabelFormat::name`, `LabelFormat::labeling_types`); the model knows
//! no format.

use std::fmt;

use labels_model::{ChipFormat, JsonFormat, LabelFormat, LabelingType};

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

    /// The format with this name, matched case-insensitively.
    pub fn parse(name: &str) -> Option<FormatId> {
        Self::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name.trim()))
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
