//! A big georeferenced GeoTIFF scene read window by window, and each window
//! written as a chip GeoTIFF.
//!
//! [`Scene`] opens the first (full-resolution) image of a GeoTIFF, classic
//! or BigTIFF, striped or tiled, with any compression the `tiff` crate
//! decodes here (none, Deflate, LZW, PackBits, JPEG, ZSTD). Its
//! georeferencing comes from its GeoTIFF tags or a sibling world file.
//! [`Scene::windows`] lists the windows of a sweep, and
//! [`Scene::read_window`] decodes only the strips or tiles a window meets,
//! keeping at most the chunks of the window's rows: a row-major sweep holds
//! one band of chunks, whatever the scene's size.
//! [`Window::to_geotiff`] writes a window as a Deflate-compressed striped
//! GeoTIFF with the scene's CRS and the window's geotransform.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use tiff::decoder::{Decoder, DecodingResult, Limits};

use crate::geotiff::{CrsKeys, embedded_from_ifd, set_geo_tags};
use crate::rastertiff::Striped;
use crate::tiffio::{Ifd, TiffBuilder, Value, parse_from, tag};
use crate::{Crs, Error, GeoTransform, Result, SiblingWorldFiles};

/// The sample types a scene may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SampleType {
    /// 8-bit unsigned.
    U8,
    /// 16-bit unsigned.
    U16,
    /// 16-bit signed.
    I16,
    /// 32-bit unsigned.
    U32,
    /// 32-bit IEEE float.
    F32,
}

impl SampleType {
    /// Bytes per sample.
    pub fn bytes(self) -> usize {
        match self {
            SampleType::U8 => 1,
            SampleType::U16 | SampleType::I16 => 2,
            SampleType::U32 | SampleType::F32 => 4,
        }
    }

    /// TIFF BitsPerSample and SampleFormat.
    fn tiff_tags(self) -> (u16, u16) {
        match self {
            SampleType::U8 => (8, 1),
            SampleType::U16 => (16, 1),
            SampleType::I16 => (16, 2),
            SampleType::U32 => (32, 1),
            SampleType::F32 => (32, 3),
        }
    }

    fn from_tiff(bits: u64, format: u64) -> std::result::Result<Self, String> {
        Ok(match (bits, format) {
            (8, 1) => SampleType::U8,
            (16, 1) => SampleType::U16,
            (16, 2) => SampleType::I16,
            (32, 1) => SampleType::U32,
            (32, 3) => SampleType::F32,
            _ => {
                let kind = match format {
                    1 => "unsigned integer",
                    2 => "signed integer",
                    3 => "float",
                    5 => "complex integer",
                    6 => "complex float",
                    _ => "undefined",
                };
                return Err(format!(
                    "samples of {bits}-bit {kind} are not supported \
                     (only 8-bit, 16-bit and 32-bit unsigned, 16-bit signed and 32-bit float)"
                ));
            }
        })
    }

    /// Sample `i` of little-endian bytes `b`, as a float.
    fn value(self, b: &[u8], i: usize) -> f64 {
        let n = self.bytes();
        let s = &b[i * n..(i + 1) * n];
        match self {
            SampleType::U8 => f64::from(s[0]),
            SampleType::U16 => f64::from(u16::from_le_bytes([s[0], s[1]])),
            SampleType::I16 => f64::from(i16::from_le_bytes([s[0], s[1]])),
            SampleType::U32 => f64::from(u32::from_le_bytes([s[0], s[1], s[2], s[3]])),
            SampleType::F32 => f64::from(f32::from_le_bytes([s[0], s[1], s[2], s[3]])),
        }
    }
}

/// The layout of a scene's strips or tiles.
#[derive(Debug, Clone, Copy)]
struct Grid {
    width: u32,
    height: u32,
    /// Chunk width and height (a strip is as wide as the image).
    cw: u32,
    ch: u32,
    across: u32,
    down: u32,
    /// Planar configuration 2: one chunk per band.
    planar: bool,
}

impl Grid {
    fn chunk_index(&self, plane: u32, cx: u32, cy: u32) -> u32 {
        plane * self.across * self.down + cy * self.across + cx
    }

    /// The chunk row of chunk `idx`.
    fn chunk_row(&self, idx: u32) -> u32 {
        (idx % (self.across * self.down)) / self.across
    }
}

/// A decoded chunk: little-endian samples, `w x h` pixels of `samples` each.
#[derive(Debug)]
struct Chunk {
    data: Vec<u8>,
    w: usize,
    samples: usize,
}

/// A georeferenced GeoTIFF scene, read window by window.
pub struct Scene<R: Read + Seek = BufReader<File>> {
    name: String,
    decoder: Decoder<R>,
    grid: Grid,
    bands: usize,
    sample: SampleType,
    rgb: bool,
    /// The scene's ExtraSamples values (alpha or unspecified), kept in chips.
    extra: Vec<u16>,
    /// Photometric YCbCr: the tiff crate hands out YCbCr samples, which
    /// become RGB as GDAL (libjpeg) makes them.
    ycbcr: bool,
    nodata: Option<String>,
    transform: GeoTransform,
    epsg: Option<u32>,
    crs: Option<Crs>,
    cache: HashMap<u32, Chunk>,
}

impl<R: Read + Seek> std::fmt::Debug for Scene<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scene")
            .field("name", &self.name)
            .field("grid", &self.grid)
            .field("bands", &self.bands)
            .field("sample", &self.sample)
            .field("nodata", &self.nodata)
            .field("transform", &self.transform)
            .field("epsg", &self.epsg)
            .field("cached_chunks", &self.cache.len())
            .finish_non_exhaustive()
    }
}

/// One window of a scene: its pixels, pixel-interleaved, in the scene's
/// sample type (little-endian bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Left column of the window in the scene.
    pub col: u32,
    /// Top row of the window in the scene.
    pub row: u32,
    /// Width and height in pixels.
    pub size: u32,
    /// Bands per pixel.
    pub bands: usize,
    /// The sample type of every band.
    pub sample: SampleType,
    /// `size * size * bands` samples, row by row, little-endian.
    pub data: Vec<u8>,
    nodata: Option<f64>,
}

impl Scene<BufReader<File>> {
    /// Opens the GeoTIFF at `path`. Without georeferencing tags, the first
    /// sibling world file GDAL would probe (`.tfw`, `.tifw`, `.wld`,
    /// case-insensitively) georeferences it; without either, it is refused.
    pub fn open(path: &Path) -> Result<Self> {
        let name = path.display().to_string();
        let err = |message: String| Error::GeoTiff {
            file: name.clone(),
            message,
        };
        let file = File::open(path).map_err(|e| err(format!("cannot open: {e}")))?;
        let world = world_file_of(path)?;
        Scene::build(BufReader::new(file), &name, world)
    }
}

/// The geotransform of the world file beside `path` (the one GDAL would
/// take), when there is one.
fn world_file_of(path: &Path) -> Result<Option<GeoTransform>> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Some(name) = SiblingWorldFiles::default().find(dir, path) else {
        return Ok(None);
    };
    let p = dir.join(name);
    let text = std::fs::read_to_string(&p).map_err(|e| Error::GeoTiff {
        file: p.display().to_string(),
        message: format!("cannot read: {e}"),
    })?;
    GeoTransform::parse_world_file(&text, &p.display().to_string()).map(Some)
}

impl<R: Read + Seek> Scene<R> {
    /// Opens a GeoTIFF scene from `src`, georeferenced by its tags; `name`
    /// names it in errors.
    pub fn from_reader(src: R, name: &str) -> Result<Self> {
        Scene::build(src, name, None)
    }

    fn build(mut src: R, name: &str, world: Option<GeoTransform>) -> Result<Self> {
        let err = |message: String| Error::GeoTiff {
            file: name.to_owned(),
            message,
        };
        let ifd = parse_from(&mut src).map_err(err)?;
        src.seek(SeekFrom::Start(0))
            .map_err(|e| err(format!("cannot read: {e}")))?;
        let georef = embedded_from_ifd(&ifd).map_err(err)?;
        let transform = georef.and_then(|g| g.transform).or(world).ok_or_else(|| {
            err("the scene has no georeferencing (no GeoTIFF tags, no world file)".into())
        })?;
        let epsg = georef.and_then(|g| g.epsg);
        let crs = epsg.map(Crs::from_epsg).transpose()?;
        let (bands, sample, planar, rgb) = layout_of(&ifd).map_err(err)?;
        let ycbcr = ifd.uint(tag::PHOTOMETRIC) == Some(6);
        let extra = match ifd.get(tag::EXTRA_SAMPLES) {
            Some(Value::Short(v)) => v.clone(),
            _ => Vec::new(),
        };
        if ycbcr && (planar || bands != 3 || sample != SampleType::U8) {
            return Err(err(
                "YCbCr is supported only as three 8-bit bands, pixel-interleaved".into(),
            ));
        }
        let nodata = match ifd.get(tag::GDAL_NODATA) {
            Some(Value::Ascii(b)) => {
                let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                Some(String::from_utf8_lossy(&b[..end]).trim().to_owned())
            }
            _ => None,
        };
        let decoder = Decoder::new(src)
            .map(|d| d.with_limits(Limits::unlimited()))
            .map_err(|e| err(e.to_string()))?;
        let mut decoder = decoder;
        let grid = grid_of(&mut decoder, planar).map_err(err)?;
        Ok(Scene {
            name: name.to_owned(),
            decoder,
            grid,
            bands,
            sample,
            rgb,
            extra,
            ycbcr,
            nodata,
            transform,
            epsg,
            crs,
            cache: HashMap::new(),
        })
    }

    /// The scene's name, as given when opened.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Width and height in pixels.
    pub fn dimensions(&self) -> (u32, u32) {
        (self.grid.width, self.grid.height)
    }

    /// Bands per pixel.
    pub fn bands(&self) -> usize {
        self.bands
    }

    /// The sample type of every band.
    pub fn sample_type(&self) -> SampleType {
        self.sample
    }

    /// The scene's geotransform.
    pub fn transform(&self) -> GeoTransform {
        self.transform
    }

    /// The EPSG code of the scene's GeoKeys, when they give one.
    pub fn epsg(&self) -> Option<u32> {
        self.epsg
    }

    /// The scene's CRS: from its GeoKeys, or given with [`Scene::set_crs`].
    pub fn crs(&self) -> Option<&Crs> {
        self.crs.as_ref()
    }

    /// Gives the CRS of a scene whose GeoKeys name none (a world file).
    pub fn set_crs(&mut self, crs: Crs) {
        self.epsg = Some(crs.epsg());
        self.crs = Some(crs);
    }

    /// The `GDAL_NODATA` tag's text, as GDAL wrote it.
    pub fn nodata(&self) -> Option<&str> {
        self.nodata.as_deref()
    }

    /// The top-left corners `(col, row)` of the windows of a sweep, row by
    /// row: every `stride` pixels, `size x size` each, the last row and
    /// column shifted to end at the scene's edge.
    pub fn windows(&self, size: u32, stride: u32) -> Result<Vec<(u32, u32)>> {
        let err = |message: String| Error::GeoTiff {
            file: self.name.clone(),
            message,
        };
        if size == 0 || stride == 0 {
            return Err(err(format!(
                "window size {size} and stride {stride} must be positive"
            )));
        }
        let (w, h) = self.dimensions();
        if w < size || h < size {
            return Err(err(format!(
                "the scene ({w} x {h} pixels) is smaller than a window of {size} x {size}"
            )));
        }
        let cols = offsets(w, size, stride);
        let rows = offsets(h, size, stride);
        Ok(rows
            .iter()
            .flat_map(|&r| cols.iter().map(move |&c| (c, r)))
            .collect())
    }

    /// The `size x size` window whose top-left pixel is `(col, row)`.
    /// Decodes only the strips or tiles it meets, and keeps only those of
    /// the window's rows: chunks of other rows are dropped first.
    pub fn read_window(&mut self, col: u32, row: u32, size: u32) -> Result<Window> {
        let (w, h) = self.dimensions();
        if size == 0 || col.saturating_add(size) > w || row.saturating_add(size) > h {
            return Err(Error::GeoTiff {
                file: self.name.clone(),
                message: format!(
                    "window at column {col}, row {row} of {size} x {size} pixels \
                     lies outside the scene ({w} x {h})"
                ),
            });
        }
        let g = self.grid;
        let (cy0, cy1) = (row / g.ch, (row + size - 1) / g.ch);
        let (cx0, cx1) = (col / g.cw, (col + size - 1) / g.cw);
        self.cache
            .retain(|&i, _| (cy0..=cy1).contains(&g.chunk_row(i)));
        let bps = self.sample.bytes();
        let n = usize::try_from(size).unwrap_or(usize::MAX);
        let mut data = vec![0u8; n * n * self.bands * bps];
        let planes = if g.planar { self.bands } else { 1 };
        for cy in cy0..=cy1 {
            for cx in cx0..=cx1 {
                for plane in 0..planes {
                    let idx = g.chunk_index(plane as u32, cx, cy);
                    self.load(idx)?;
                    let Some(chunk) = self.cache.get(&idx) else {
                        continue;
                    };
                    let target = Target {
                        data: &mut data,
                        col,
                        row,
                        size,
                        bands: self.bands,
                        bps,
                        first_band: plane,
                    };
                    copy_chunk(chunk, cx * g.cw, cy * g.ch, target);
                }
            }
        }
        Ok(Window {
            col,
            row,
            size,
            bands: self.bands,
            sample: self.sample,
            data,
            nodata: self.nodata.as_deref().and_then(parse_nodata),
        })
    }

    /// Decodes chunk `idx` into the cache unless it is there.
    fn load(&mut self, idx: u32) -> Result<()> {
        if self.cache.contains_key(&idx) {
            return Ok(());
        }
        let err = |message: String| Error::Corrupt {
            file: self.name.clone(),
            message,
        };
        let (w, h) = self.decoder.chunk_data_dimensions(idx);
        let decoded = self
            .decoder
            .read_chunk(idx)
            .map_err(|e| err(format!("chunk {idx}: {e}")))?;
        let mut data = le_bytes(decoded);
        if self.ycbcr {
            ycbcr_to_rgb(&mut data);
        }
        let samples = if self.grid.planar { 1 } else { self.bands };
        let (w, h) = (w as usize, h as usize);
        if data.len() != w * h * samples * self.sample.bytes() {
            return Err(err(format!(
                "chunk {idx} decodes to {} bytes, not {w} x {h} pixels of {samples} samples",
                data.len()
            )));
        }
        self.cache.insert(idx, Chunk { data, w, samples });
        Ok(())
    }

    /// How many chunks the cache holds, and how many chunk rows they span.
    #[cfg(test)]
    fn cache_extent(&self) -> (usize, usize) {
        let mut rows: Vec<u32> = self.cache.keys().map(|&i| self.grid.chunk_row(i)).collect();
        rows.sort_unstable();
        rows.dedup();
        (self.cache.len(), rows.len())
    }
}

/// Offsets `0, stride, 2 stride, …` of windows of `size` within `len`,
/// the last one shifted to end at `len`.
fn offsets(len: u32, size: u32, stride: u32) -> Vec<u32> {
    let mut out: Vec<u32> = (0..=len - size).step_by(stride as usize).collect();
    if out.last().is_some_and(|&o| o + size < len) {
        out.push(len - size);
    }
    out
}

/// Bands, sample type, planar configuration 2, and RGB photometric of a
/// scene's first image.
fn layout_of(ifd: &Ifd) -> std::result::Result<(usize, SampleType, bool, bool), String> {
    let bands = ifd.uint(tag::SAMPLES_PER_PIXEL).unwrap_or(1);
    let bits = ifd
        .get(tag::BITS_PER_SAMPLE)
        .and_then(Value::as_u64s)
        .unwrap_or_else(|| vec![1]);
    let formats = ifd
        .get(tag::SAMPLE_FORMAT)
        .and_then(Value::as_u64s)
        .unwrap_or_else(|| vec![1]);
    if bits.iter().any(|&b| b != bits[0]) || formats.iter().any(|&f| f != formats[0]) {
        return Err("bands of different sample types are not supported".into());
    }
    let sample = SampleType::from_tiff(bits[0], formats[0])?;
    let planar = match ifd.uint(tag::PLANAR_CONFIG).unwrap_or(1) {
        1 => false,
        2 => true,
        p => return Err(format!("planar configuration {p} is not a TIFF one")),
    };
    let photometric = ifd.uint(tag::PHOTOMETRIC).unwrap_or(1);
    if ifd.get(tag::COLOR_MAP).is_some() || photometric == 3 {
        return Err("palette images are not supported as scenes".into());
    }
    let bands = usize::try_from(bands).map_err(|_| "too many bands".to_owned())?;
    if bands == 0 || bands > 65535 {
        return Err(format!("{bands} samples per pixel"));
    }
    // YCbCr JPEG is decoded to RGB by the tiff crate.
    let rgb = matches!(photometric, 2 | 6) && bands >= 3;
    Ok((bands, sample, planar, rgb))
}

fn grid_of<R: Read + Seek>(d: &mut Decoder<R>, planar: bool) -> std::result::Result<Grid, String> {
    let (width, height) = d.dimensions().map_err(|e| e.to_string())?;
    let (cw, ch) = d.chunk_dimensions();
    if width == 0 || height == 0 || cw == 0 || ch == 0 {
        return Err(format!(
            "an image of {width} x {height} in chunks of {cw} x {ch}"
        ));
    }
    Ok(Grid {
        width,
        height,
        cw,
        ch,
        across: width.div_ceil(cw),
        down: height.div_ceil(ch),
        planar,
    })
}

/// Decoded samples as little-endian bytes.
fn le_bytes(r: DecodingResult) -> Vec<u8> {
    fn flat<T: Copy, const N: usize>(v: &[T], f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
        v.iter().flat_map(|&x| f(x)).collect()
    }
    match r {
        DecodingResult::U8(v) => v,
        DecodingResult::U16(v) => flat(&v, u16::to_le_bytes),
        DecodingResult::I16(v) => flat(&v, i16::to_le_bytes),
        DecodingResult::U32(v) => flat(&v, u32::to_le_bytes),
        DecodingResult::F32(v) => flat(&v, f32::to_le_bytes),
        // Other sample types are refused when the scene is opened.
        _ => Vec::new(),
    }
}

/// Converts YCbCr samples to RGB in place, with libjpeg's fixed-point
/// arithmetic (`jdcolor.c`), so the pixels are those GDAL decodes.
fn ycbcr_to_rgb(data: &mut [u8]) {
    const ONE_HALF: i32 = 1 << 15;
    let fix = |x: f64| (x * 65536.0 + 0.5) as i32;
    let (cr_r, cb_b) = (fix(1.402), fix(1.772));
    let (cb_g, cr_g) = (fix(0.344_136_286), fix(0.714_136_286));
    let clamp = |v: i32| v.clamp(0, 255) as u8;
    for px in data.chunks_exact_mut(3) {
        let (y, cb, cr) = (
            i32::from(px[0]),
            i32::from(px[1]) - 128,
            i32::from(px[2]) - 128,
        );
        px[0] = clamp(y + ((cr_r * cr + ONE_HALF) >> 16));
        px[1] = clamp(y + ((-cb_g * cb - cr_g * cr + ONE_HALF) >> 16));
        px[2] = clamp(y + ((cb_b * cb + ONE_HALF) >> 16));
    }
}

/// Where a chunk's pixels go: a window's buffer.
struct Target<'a> {
    data: &'a mut [u8],
    col: u32,
    row: u32,
    size: u32,
    bands: usize,
    bps: usize,
    /// The band of the chunk's first sample (planar chunks hold one band).
    first_band: usize,
}

/// Copies the part of `chunk` (top-left pixel `(x0, y0)` of the scene)
/// that lies inside the window.
fn copy_chunk(chunk: &Chunk, x0: u32, y0: u32, t: Target<'_>) {
    let h = chunk.data.len() / (chunk.w * chunk.samples * t.bps).max(1);
    let (x0, y0) = (x0 as usize, y0 as usize);
    let (col, row, size) = (t.col as usize, t.row as usize, t.size as usize);
    let xa = x0.max(col);
    let xb = (x0 + chunk.w).min(col + size);
    let ya = y0.max(row);
    let yb = (y0 + h).min(row + size);
    if xa >= xb || ya >= yb {
        return;
    }
    let px_src = chunk.samples * t.bps;
    let px_dst = t.bands * t.bps;
    for y in ya..yb {
        let src_line = (y - y0) * chunk.w * px_src;
        let dst_line = (y - row) * size * px_dst;
        if chunk.samples == t.bands {
            let s = src_line + (xa - x0) * px_src;
            let d = dst_line + (xa - col) * px_dst;
            let n = (xb - xa) * px_src;
            t.data[d..d + n].copy_from_slice(&chunk.data[s..s + n]);
        } else {
            for x in xa..xb {
                let s = src_line + (x - x0) * px_src;
                let d = dst_line + (x - col) * px_dst + t.first_band * t.bps;
                t.data[d..d + px_src].copy_from_slice(&chunk.data[s..s + px_src]);
            }
        }
    }
}

/// A `GDAL_NODATA` text as a number (`nan`, `inf` and `-inf` included).
fn parse_nodata(text: &str) -> Option<f64> {
    let t = text.trim().to_ascii_lowercase();
    match t.as_str() {
        "nan" => Some(f64::NAN),
        "inf" | "+inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        _ => t.parse().ok(),
    }
}

impl Window {
    /// Every sample of every band equals the scene's nodata value (false
    /// when the scene has none).
    pub fn is_all_nodata(&self) -> bool {
        let Some(nd) = self.nodata else {
            return false;
        };
        let n = self.data.len() / self.sample.bytes();
        (0..n).all(|i| {
            let v = self.sample.value(&self.data, i);
            if nd.is_nan() { v.is_nan() } else { v == nd }
        })
    }

    /// The window's geotransform: the scene's, shifted to the window.
    pub fn transform<R: Read + Seek>(&self, scene: &Scene<R>) -> GeoTransform {
        let (x, y) = scene
            .transform
            .pixel_to_map(f64::from(self.col), f64::from(self.row));
        let [_, a, b, _, d, e] = scene.transform.0;
        GeoTransform([x, a, b, y, d, e])
    }

    /// The window as a GeoTIFF: its pixels, the scene's nodata tag and CRS
    /// keys, the window's geotransform; Deflate-compressed strips. A scene
    /// without a CRS (see [`Scene::set_crs`]) is refused.
    pub fn to_geotiff<R: Read + Seek>(&self, scene: &Scene<R>) -> Result<Vec<u8>> {
        self.clone().into_chip(scene)?.encode()
    }

    /// The window with all it needs of its scene to become a chip GeoTIFF,
    /// so the compression can run on another thread ([`ChipTiff::encode`]). A
    /// scene without a CRS is refused.
    pub fn into_chip<R: Read + Seek>(self, scene: &Scene<R>) -> Result<ChipTiff> {
        let err = |message: String| Error::GeoTiff {
            file: scene.name.clone(),
            message,
        };
        let crs = scene.crs.as_ref().ok_or_else(|| {
            err("the scene has no CRS: its GeoKeys name none, and none was given".into())
        })?;
        let layout = self.layout(scene).map_err(|e| err(e.to_owned()))?;
        Ok(ChipTiff {
            transform: self.transform(scene),
            epsg: crs.epsg(),
            geographic: crs.is_geographic(),
            crs_name: crs.name().to_owned(),
            scene: scene.name.clone(),
            layout,
            data: self.data,
        })
    }

    /// The chip's TIFF layout: the window's size, the scene's bands,
    /// sample type, colour, extra samples (alpha stays alpha) and nodata.
    fn layout<R: Read + Seek>(&self, scene: &Scene<R>) -> std::result::Result<Striped, &str> {
        let samples = u16::try_from(self.bands).map_err(|_| "too many bands")?;
        let (bits, format) = self.sample.tiff_tags();
        let extra = usize::from(samples) - if scene.rgb { 3 } else { 1 };
        Ok(Striped {
            width: self.size,
            height: self.size,
            samples,
            bits,
            format,
            rgb: scene.rgb,
            extra: if scene.extra.len() == extra {
                scene.extra.clone()
            } else {
                vec![0; extra]
            },
            nodata: scene.nodata.clone(),
        })
    }
}

/// A window on its way to a chip GeoTIFF: its pixels, layout,
/// geotransform and CRS, owned, so it may be encoded on any thread.
#[derive(Debug, Clone)]
pub struct ChipTiff {
    transform: GeoTransform,
    epsg: u32,
    geographic: bool,
    crs_name: String,
    scene: String,
    layout: Striped,
    data: Vec<u8>,
}

impl ChipTiff {
    /// The GeoTIFF: Deflate-compressed strips, the scene's nodata tag and
    /// CRS keys, the window's geotransform.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let err = |message: String| Error::GeoTiff {
            file: self.scene.clone(),
            message,
        };
        let keys = CrsKeys {
            epsg: self.epsg,
            geographic: self.geographic,
            name: &self.crs_name,
        };
        let layout = &self.layout;
        let mut b = TiffBuilder::new(false);
        layout.set_tags(&mut b);
        let mut scratch = Vec::new();
        for strip in self
            .data
            .chunks(layout.rows_per_strip() * layout.line_bytes())
        {
            scratch.clear();
            scratch.extend_from_slice(strip);
            b.push_chunk(layout.compress(&mut scratch));
        }
        set_geo_tags(&mut b, &self.transform, Some(keys)).map_err(err)?;
        b.finish().map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An uncompressed tiled `w x h` u8 GeoTIFF in tiles of `t x t`, each
    /// pixel holding `(x + 3y) % 251`.
    fn tiled(w: u32, h: u32, t: u32) -> Vec<u8> {
        let mut b = TiffBuilder::new(true);
        b.set(tag::IMAGE_WIDTH, Value::Long(vec![w]));
        b.set(tag::IMAGE_LENGTH, Value::Long(vec![h]));
        b.set(tag::BITS_PER_SAMPLE, Value::Short(vec![8]));
        b.set(tag::COMPRESSION, Value::Short(vec![1]));
        b.set(tag::PHOTOMETRIC, Value::Short(vec![1]));
        b.set(tag::SAMPLES_PER_PIXEL, Value::Short(vec![1]));
        b.set(322, Value::Long(vec![t]));
        b.set(323, Value::Long(vec![t]));
        for ty in 0..h.div_ceil(t) {
            for tx in 0..w.div_ceil(t) {
                let mut tile = vec![0u8; (t * t) as usize];
                for y in 0..t {
                    for x in 0..t {
                        let (px, py) = (tx * t + x, ty * t + y);
                        tile[(y * t + x) as usize] = ((px + 3 * py) % 251) as u8;
                    }
                }
                b.push_chunk(tile);
            }
        }
        let gt = GeoTransform([500000.0, 1.0, 0.0, 4100000.0, 0.0, -1.0]);
        let utm = CrsKeys {
            epsg: 32632,
            geographic: false,
            name: "WGS 84 / UTM zone 32N",
        };
        set_geo_tags(&mut b, &gt, Some(utm)).unwrap();
        b.finish().unwrap()
    }

    #[test]
    fn windows_overlap_and_shift_to_the_edge() {
        assert_eq!(offsets(10, 4, 4), [0, 4, 6]);
        assert_eq!(offsets(10, 4, 3), [0, 3, 6]);
        assert_eq!(offsets(8, 4, 4), [0, 4]);
        assert_eq!(offsets(4, 4, 2), [0]);
        let scene = Scene::from_reader(std::io::Cursor::new(tiled(10, 9, 4)), "s.tif").unwrap();
        let w = scene.windows(4, 4).unwrap();
        assert_eq!(w[..4], [(0, 0), (4, 0), (6, 0), (0, 4)]);
        assert_eq!(w.len(), 9);
        let e = scene.windows(10, 4).unwrap_err().to_string();
        assert!(
            e.starts_with("s.tif: the scene (10 x 9 pixels) is smaller"),
            "{e}"
        );
    }

    #[test]
    fn a_sweep_keeps_one_band_of_chunks() {
        let (w, h, t, size) = (100, 90, 8, 20);
        let mut scene = Scene::from_reader(std::io::Cursor::new(tiled(w, h, t)), "s.tif").unwrap();
        let across = w.div_ceil(t) as usize;
        let band_rows = (size as usize).div_ceil(t as usize) + 1;
        for (col, row) in scene.windows(size, 15).unwrap() {
            let win = scene.read_window(col, row, size).unwrap();
            for y in 0..size {
                for x in 0..size {
                    let want = ((col + x + 3 * (row + y)) % 251) as u8;
                    assert_eq!(win.data[(y * size + x) as usize], want);
                }
            }
            let (chunks, rows) = scene.cache_extent();
            assert!(rows <= band_rows, "{rows} chunk rows cached");
            assert!(chunks <= across * band_rows, "{chunks} chunks cached");
        }
        assert!(!scene.read_window(0, 0, size).unwrap().is_all_nodata());
        let e = scene.read_window(90, 0, 20).unwrap_err().to_string();
        assert!(e.contains("lies outside the scene"), "{e}");
    }

    #[test]
    fn nodata_windows_and_unsupported_samples() {
        let win = Window {
            col: 0,
            row: 0,
            size: 1,
            bands: 2,
            sample: SampleType::F32,
            data: [f32::NAN.to_le_bytes(), f32::NAN.to_le_bytes()].concat(),
            nodata: parse_nodata("nan"),
        };
        assert!(win.is_all_nodata());
        let e = SampleType::from_tiff(64, 3).unwrap_err();
        assert!(
            e.starts_with("samples of 64-bit float are not supported"),
            "{e}"
        );
        assert_eq!(parse_nodata("-9999"), Some(-9999.0));
    }
}
