//! Which label formats this build implements, and the one place that picks
//! a format's implementation by its id.

use labels_model::{FormatId, JsonFormat, LabelFormat, LabelingType};

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
}

/// The implementation of `id` with `options`, or `None` when this build
/// has none yet.
pub fn label_format_with(id: FormatId, options: &FormatOptions) -> Option<Box<dyn LabelFormat>> {
    if id == FormatId::Geojson && options.geojson_native_crs {
        return Some(Box::new(fmt_detection::GeojsonFormat::native()));
    }
    if id == FormatId::Coco {
        return Some(Box::new(fmt_detection::CocoFormat::created_at(
            options.source_date_epoch,
        )));
    }
    label_format(id)
}

/// The implementation of `id`, or `None` when this build has none yet.
pub fn label_format(id: FormatId) -> Option<Box<dyn LabelFormat>> {
    match id {
        FormatId::Json => Some(Box::new(JsonFormat)),
        FormatId::Voc => Some(Box::new(fmt_detection::VocFormat)),
        FormatId::Kitti => Some(Box::new(fmt_detection::KittiFormat)),
        FormatId::Coco => Some(Box::new(fmt_detection::CocoFormat::default())),
        FormatId::Yolo => Some(Box::new(fmt_detection::YoloFormat)),
        FormatId::Geojson => Some(Box::new(fmt_detection::GeojsonFormat::default())),
        FormatId::Shapefile => Some(Box::new(fmt_detection::ShapefileFormat)),
        FormatId::Png | FormatId::Tiff | FormatId::Geotiff | FormatId::Gif | FormatId::Bmp => {
            fmt_segmentation::MaskFormat::new(id).map(|f| Box::new(f) as Box<dyn LabelFormat>)
        }
        _ => None,
    }
}

/// Whether this build can store a project of type `ty` in format `id`.
pub fn is_implemented(id: FormatId, ty: LabelingType) -> bool {
    id.fits(ty) && label_format(id).is_some()
}

/// The formats of `ty` (SPEC §3) that this build implements.
pub fn implemented_formats(ty: LabelingType) -> Vec<FormatId> {
    FormatId::for_type(ty)
        .into_iter()
        .filter(|&f| is_implemented(f, ty))
        .collect()
}
