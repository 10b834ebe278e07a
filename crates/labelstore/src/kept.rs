//! What a store keeps of each chip it will write, between preparing the
//! store and writing the chip: on disk, one line a chip in selection order
//! ([`ChipLog`]), so that the store's memory does not grow with the
//! project. The report's list of stored chips ([`StoredChips`]) is read
//! from the same file when it is serialized.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

use labels_model::{ChipGeoref, ChipSpan, GeorefSource};
use raster_georef::GeoTransform;
use serde::{Deserialize, Serialize};

/// One selected chip, as the store keeps it between reading the manifest
/// and writing the chip.
#[derive(Debug, Clone)]
pub(crate) struct Kept {
    /// The chip's index in the manifest (`chips[i]`).
    pub(crate) index: usize,
    pub(crate) id: String,
    pub(crate) image: PathBuf,
    pub(crate) world_file: Option<PathBuf>,
    /// Where the chip lies in the manifest (a streamed store).
    pub(crate) span: ChipSpan,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) samples: Option<u8>,
    pub(crate) georef: ChipGeoref,
    /// What turning it into a GeoTIFF holds in memory (0: stored as it is).
    pub(crate) memory: u64,
}

/// [`Kept`] as a line of the log.
#[derive(Serialize, Deserialize)]
struct Line {
    i: usize,
    id: String,
    image: PathBuf,
    world: Option<PathBuf>,
    span: (u64, u64),
    w: u32,
    h: u32,
    samples: Option<u8>,
    source: String,
    transform: Option<[f64; 6]>,
    epsg: Option<u32>,
    memory: u64,
}

/// The georeferencing sources, by their report names.
const SOURCES: [GeorefSource; 4] = [
    GeorefSource::WorldFile,
    GeorefSource::Inline,
    GeorefSource::Embedded,
    GeorefSource::None,
];

impl Kept {
    fn line(&self) -> Line {
        Line {
            i: self.index,
            id: self.id.clone(),
            image: self.image.clone(),
            world: self.world_file.clone(),
            span: self.span.bytes(),
            w: self.width,
            h: self.height,
            samples: self.samples,
            source: self.georef.source.name().to_owned(),
            transform: self.georef.transform.map(|t| t.0),
            epsg: self.georef.epsg,
            memory: self.memory,
        }
    }

    fn from_line(l: Line) -> io::Result<Kept> {
        let source = SOURCES
            .into_iter()
            .find(|s| s.name() == l.source)
            .ok_or_else(|| io::Error::other(format!("unknown georeferencing {:?}", l.source)))?;
        Ok(Kept {
            index: l.i,
            id: l.id,
            image: l.image,
            world_file: l.world,
            span: ChipSpan::from_bytes(l.span.0, l.span.1),
            width: l.w,
            height: l.h,
            samples: l.samples,
            georef: ChipGeoref {
                source,
                transform: l.transform.map(GeoTransform),
                epsg: l.epsg,
            },
            memory: l.memory,
        })
    }

    /// Whether the chip is rewritten as a GeoTIFF (SPEC §4).
    pub(crate) fn converts(&self) -> bool {
        self.georef.needs_geotiff() && self.georef.transform.is_some()
    }
}

/// The chips a store keeps, on disk in a scratch folder, in selection
/// order; read as often as needed, one chip at a time.
#[derive(Debug, Clone)]
pub(crate) struct ChipLog {
    dir: Arc<tempfile::TempDir>,
    file: PathBuf,
    count: usize,
    /// Chips turned into GeoTIFFs.
    conversions: usize,
    /// Chips counted per georeferencing source, as the log was written.
    sources: BTreeMap<&'static str, usize>,
}

/// A [`ChipLog`] being written.
pub(crate) struct ChipLogWriter {
    dir: Arc<tempfile::TempDir>,
    file: PathBuf,
    out: BufWriter<File>,
    count: usize,
    conversions: usize,
    sources: BTreeMap<&'static str, usize>,
}

impl ChipLogWriter {
    /// A new log in a scratch folder of its own.
    pub(crate) fn create() -> io::Result<ChipLogWriter> {
        let dir = crate::scratch::scratch_dir("chips")?;
        Self::create_in(Arc::new(dir), "chips.jsonl")
    }

    fn create_in(dir: Arc<tempfile::TempDir>, name: &str) -> io::Result<ChipLogWriter> {
        let file = dir.path().join(name);
        let out = BufWriter::new(File::create(&file)?);
        Ok(ChipLogWriter {
            dir,
            file,
            out,
            count: 0,
            conversions: 0,
            sources: BTreeMap::new(),
        })
    }

    /// Adds the next chip.
    pub(crate) fn push(&mut self, kept: &Kept) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, &kept.line())?;
        self.out.write_all(b"\n")?;
        self.count += 1;
        self.conversions += usize::from(kept.converts());
        *self.sources.entry(kept.georef.source.name()).or_insert(0) += 1;
        Ok(())
    }

    pub(crate) fn finish(mut self) -> io::Result<ChipLog> {
        self.out.flush()?;
        Ok(ChipLog {
            dir: self.dir,
            file: self.file,
            count: self.count,
            conversions: self.conversions,
            sources: self.sources,
        })
    }
}

impl ChipLog {
    /// Chips kept.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// Chips turned into GeoTIFFs.
    pub(crate) fn conversions(&self) -> usize {
        self.conversions
    }

    /// Chips counted per georeferencing source (`world_file`, ...).
    pub(crate) fn georeferencing(&self) -> &BTreeMap<&'static str, usize> {
        &self.sources
    }

    /// The chips, in selection order.
    pub(crate) fn iter(&self) -> io::Result<ChipLogIter> {
        Ok(ChipLogIter {
            lines: BufReader::new(File::open(&self.file)?),
            buf: String::new(),
        })
    }

    /// A new log beside this one, with each chip as `change` makes it.
    pub(crate) fn rewrite(
        &self,
        mut change: impl FnMut(&mut Kept) -> io::Result<()>,
    ) -> io::Result<ChipLog> {
        // Two names in turn: the new log beside the old, which then goes.
        let name = if self.file.ends_with("chips.jsonl") {
            "chips-2.jsonl"
        } else {
            "chips.jsonl"
        };
        let mut out = ChipLogWriter::create_in(Arc::clone(&self.dir), name)?;
        for kept in self.iter()? {
            let mut kept = kept?;
            change(&mut kept)?;
            out.push(&kept)?;
        }
        let log = out.finish()?;
        std::fs::remove_file(&self.file).ok();
        Ok(log)
    }
}

/// The chips of a [`ChipLog`], read one line at a time.
pub(crate) struct ChipLogIter {
    lines: BufReader<File>,
    buf: String,
}

impl Iterator for ChipLogIter {
    type Item = io::Result<Kept>;

    fn next(&mut self) -> Option<io::Result<Kept>> {
        self.buf.clear();
        match self.lines.read_line(&mut self.buf) {
            Ok(0) => None,
            Ok(_) => Some(
                serde_json::from_str::<Line>(&self.buf)
                    .map_err(io::Error::other)
                    .and_then(Kept::from_line),
            ),
            Err(e) => Some(Err(e)),
        }
    }
}

/// A stored chip, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct StoredChipReport {
    /// The chip's id.
    pub chip: String,
    /// Where its georeferencing came from: `world_file`, `inline`, `embedded` or `none`.
    pub georeferencing: &'static str,
    /// Its CRS, `EPSG:<code>`, when known.
    pub crs: Option<String>,
    /// The stored image, relative to the store's root.
    pub image: String,
}

impl StoredChipReport {
    pub(crate) fn of(kept: &Kept) -> StoredChipReport {
        StoredChipReport {
            chip: kept.id.clone(),
            georeferencing: kept.georef.source.name(),
            crs: kept.georef.epsg.map(|c| format!("EPSG:{c}")),
            image: crate::store::path_str(&crate::store::stored_image(
                &kept.id,
                &kept.image,
                &kept.georef,
            )),
        }
    }
}

/// Every stored chip of a store's report, in selection order: read from
/// the store's scratch file as they are listed or serialized (a list as
/// long as the project is never held in memory), or from memory.
#[derive(Debug, Clone)]
pub struct StoredChips {
    log: Option<ChipLog>,
}

impl StoredChips {
    pub(crate) fn new(log: ChipLog) -> StoredChips {
        StoredChips { log: Some(log) }
    }

    /// No chips.
    pub fn empty() -> StoredChips {
        StoredChips { log: None }
    }

    /// How many chips were stored.
    pub fn len(&self) -> usize {
        self.log.as_ref().map_or(0, ChipLog::len)
    }

    /// Whether no chip was stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The chips, in selection order; an error if the scratch file cannot
    /// be read.
    pub fn iter(&self) -> io::Result<impl Iterator<Item = io::Result<StoredChipReport>> + use<>> {
        let chips = match &self.log {
            Some(log) => Some(log.iter()?),
            None => None,
        };
        Ok(chips
            .into_iter()
            .flatten()
            .map(|k| k.map(|k| StoredChipReport::of(&k))))
    }

    /// The chips, all in memory.
    pub fn to_vec(&self) -> io::Result<Vec<StoredChipReport>> {
        self.iter()?.collect()
    }
}

impl Serialize for StoredChips {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let mut seq = s.serialize_seq(Some(self.len()))?;
        for chip in self.iter().map_err(S::Error::custom)? {
            seq.serialize_element(&chip.map_err(S::Error::custom)?)?;
        }
        seq.end()
    }
}
