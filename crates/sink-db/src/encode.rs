//! The chips' rows, made on a thread of their own while the rows before
//! them are sent: [`Encoder`] takes a [`ChipJob`] per chip (the bytes the
//! pipeline put and what the row records), decodes the image into a raster
//! (`raster.rs`), encodes it and its mask as WKB, hashes them, and hands
//! back the row in PostgreSQL's binary `COPY` format (`binary.rs`), in
//! chip order.
//!
//! Memory stays bounded: one chip waits for the thread, one is encoded, one
//! encoded row waits to be sent (the channels hold one each), and one is
//! being sent.

use std::sync::Arc;
use std::thread::JoinHandle;

use raster_georef::WkbRaster;
use sink_api::{Error, Result};
use tokio::sync::mpsc;

use crate::binary::Rows;
use crate::raster::{chip_raster, mask_raster};
use crate::read::raster_sha256;

/// The columns of the chips' `COPY`, in the order [`encode`] writes them.
pub(crate) const CHIP_COPY_COLUMNS: &str = "project, chip_id, rast, mask, image_path, \
     image_size, image_sha256, georeferencing, epsg, format, label_path, labels, label_count, \
     files, raster_sha256, image";

/// How many fields a chip row has.
const CHIP_FIELDS: i16 = 16;

/// What the store says of every chip row.
#[derive(Debug)]
pub(crate) struct Common {
    pub(crate) project: String,
    pub(crate) format: String,
    /// Whether the chip's label file is its class mask, stored as a raster.
    pub(crate) masks: bool,
}

/// One chip, as the pipeline handed it over.
#[derive(Debug)]
pub(crate) struct ChipJob {
    pub(crate) id: String,
    /// Its store path (`chips/<id>.<ext>`).
    pub(crate) image_path: String,
    /// The chip file's bytes.
    pub(crate) image: Vec<u8>,
    /// Whether the row keeps those bytes (see `keeps_bytes`).
    pub(crate) keep_image: bool,
    pub(crate) srid: i32,
    /// The chip's label file (path, bytes), if it has one of its own.
    pub(crate) label: Option<(String, Vec<u8>)>,
    /// Its entry of `project.json`, for a chip without a label file.
    pub(crate) entry: Option<Vec<u8>>,
    pub(crate) image_size: u64,
    pub(crate) image_sha256: String,
    pub(crate) georeferencing: String,
    pub(crate) epsg: Option<u32>,
    pub(crate) label_count: usize,
    /// The JSON list of the chip's files.
    pub(crate) files: String,
}

/// A chip's row in binary `COPY` format, or why it cannot be stored.
type Encoded = Result<Vec<u8>>;

/// The encoding thread and the channels to and from it.
#[derive(Debug)]
pub(crate) struct Encoder {
    jobs: Option<mpsc::Sender<ChipJob>>,
    rows: mpsc::Receiver<Encoded>,
    thread: Option<JoinHandle<()>>,
}

impl Encoder {
    /// Starts the thread.
    pub(crate) fn start(common: Common) -> Result<Encoder> {
        let (jobs, mut job_rx) = mpsc::channel::<ChipJob>(1);
        let (row_tx, rows) = mpsc::channel::<Encoded>(1);
        let common = Arc::new(common);
        let thread = std::thread::Builder::new()
            .name("labelstore-db-rows".into())
            .spawn(move || {
                while let Some(job) = job_rx.blocking_recv() {
                    let mut row = Vec::new();
                    let done = encode(&common, job, &mut row).map(|()| row);
                    let failed = done.is_err();
                    // The receiver is gone when the store was given up.
                    if row_tx.blocking_send(done).is_err() || failed {
                        return;
                    }
                }
            })
            .map_err(|e| Error::io("cannot start the thread that encodes rasters", e))?;
        Ok(Encoder {
            jobs: Some(jobs),
            rows,
            thread: Some(thread),
        })
    }

    /// Hands `job` to the thread; gives it back when the thread is busy
    /// (then a row comes from [`next_row`](Self::next_row)).
    pub(crate) fn try_push(&mut self, job: ChipJob) -> Result<Option<ChipJob>> {
        let Some(jobs) = &self.jobs else {
            return Err(stopped());
        };
        match jobs.try_send(job) {
            Ok(()) => Ok(None),
            Err(mpsc::error::TrySendError::Full(job)) => Ok(Some(job)),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(self.stopped_why()),
        }
    }

    /// A row already made, if there is one.
    pub(crate) fn try_row(&mut self) -> Result<Option<Vec<u8>>> {
        match self.rows.try_recv() {
            Ok(row) => row.map(Some),
            Err(mpsc::error::TryRecvError::Empty) => Ok(None),
            Err(mpsc::error::TryRecvError::Disconnected) => Err(self.stopped_why()),
        }
    }

    /// The next row, waiting for it; `None` once every chip handed over
    /// has its row and [`close`](Self::close) was called.
    pub(crate) async fn next_row(&mut self) -> Result<Option<Vec<u8>>> {
        match self.rows.recv().await {
            Some(row) => row.map(Some),
            None if self.jobs.is_none() => self.join().map(|()| None),
            None => Err(self.stopped_why()),
        }
    }

    /// Says that no more chips come.
    pub(crate) fn close(&mut self) {
        drop(self.jobs.take());
    }

    /// The thread's end: an error when it panicked (its rows are missing).
    fn join(&mut self) -> Result<()> {
        match self.thread.take().map(JoinHandle::join) {
            Some(Err(_)) => Err(stopped()),
            _ => Ok(()),
        }
    }

    /// Why the thread stopped taking chips: the chip it could not encode
    /// (it hands that over, then ends), else that it panicked.
    fn stopped_why(&mut self) -> Error {
        drop(self.jobs.take());
        let joined = self.join();
        while let Ok(row) = self.rows.try_recv() {
            if let Err(e) = row {
                return e;
            }
        }
        joined.err().unwrap_or_else(stopped)
    }
}

fn stopped() -> Error {
    Error::io(
        "database",
        std::io::Error::other("the thread that encodes rasters stopped"),
    )
}

/// Appends the WKB of `raster` to `out`.
fn wkb(raster: &WkbRaster, out: &mut Vec<u8>) -> std::result::Result<(), String> {
    raster.write_wkb(false, out).map_err(|e| e.to_string())
}

/// Writes the row of `job` to `row`.
fn encode(common: &Common, job: ChipJob, row: &mut Vec<u8>) -> Result<()> {
    let refuse = |m: String| Error::Refused(format!("chip {} ({}): {m}", job.id, job.image_path));
    let too_long = |e: crate::binary::TooLong| refuse(e.to_string());
    let rast = chip_raster(&job.image, &job.image_path, job.srid).map_err(refuse)?;
    let mask = match (&job.label, common.masks) {
        (Some((path, bytes)), true) => Some(mask_raster(bytes, path, &rast).map_err(refuse)?),
        _ => None,
    };
    let int4 = |v: u64, what: &str| {
        i32::try_from(v).map_err(|_| refuse(format!("{what} {v} does not fit an integer column")))
    };
    // The rasters' WKB is written into the row as it is made.
    let kept = if job.keep_image { job.image.len() } else { 0 };
    let labels =
        job.label.as_ref().map_or(0, |l| l.1.len()) + job.entry.as_ref().map_or(0, Vec::len);
    row.reserve(
        rast.wkb_len()
            + mask.as_ref().map_or(0, WkbRaster::wkb_len)
            + kept
            + labels
            + job.files.len()
            + 512,
    );
    let mut r = Rows { buf: row };
    r.row(CHIP_FIELDS);
    r.text(&common.project).map_err(too_long)?;
    r.text(&job.id).map_err(too_long)?;
    let rast_at = r.written(|b| wkb(&rast, b)).map_err(refuse)?;
    let mask_at = match &mask {
        Some(m) => Some(r.written(|b| wkb(m, b)).map_err(refuse)?),
        None => {
            r.null();
            None
        }
    };
    let rasters_sha = raster_sha256(&r.buf[rast_at], mask_at.map(|at| &r.buf[at]));
    r.text(&job.image_path).map_err(too_long)?;
    r.int8(i64::try_from(job.image_size).unwrap_or(i64::MAX));
    r.text(&job.image_sha256).map_err(too_long)?;
    r.text(&job.georeferencing).map_err(too_long)?;
    match job.epsg {
        Some(c) => r.int4(int4(u64::from(c), "EPSG code")?),
        None => r.null(),
    }
    r.text(&common.format).map_err(too_long)?;
    match (&job.label, &job.entry) {
        (Some((path, bytes)), _) => {
            r.text(path).map_err(too_long)?;
            r.bytes(bytes).map_err(too_long)?;
        }
        // No label file of its own (the format's files are project-wide):
        // its entry in labelstore's own format.
        (None, Some(entry)) => {
            r.null();
            r.bytes(entry).map_err(too_long)?;
        }
        (None, None) => {
            r.null();
            r.null();
        }
    }
    r.int4(int4(job.label_count as u64, "label count")?);
    r.jsonb(&job.files).map_err(too_long)?;
    r.text(&rasters_sha).map_err(too_long)?;
    r.bytes_or_null(job.keep_image.then_some(&job.image[..]))
        .map_err(too_long)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use raster_georef::{GeoTransform, PixelType, Pixels, RasterBand};

    use super::*;

    fn job(id: &str, image: Vec<u8>) -> ChipJob {
        ChipJob {
            id: id.into(),
            image_path: format!("chips/{id}.tif"),
            image,
            keep_image: false,
            srid: 0,
            label: None,
            entry: None,
            image_size: 0,
            image_sha256: String::new(),
            georeferencing: "none".into(),
            epsg: None,
            label_count: 0,
            files: "[]".into(),
        }
    }

    /// Rows come back in chip order; a chip that cannot be decoded is
    /// refused by name, and the rows before it still come.
    #[test]
    fn rows_come_in_order_and_a_bad_chip_is_refused_by_name() {
        let raster = WkbRaster {
            width: 2,
            height: 1,
            geotransform: GeoTransform([0.0, 1.0, 0.0, 0.0, 0.0, 1.0]),
            srid: 0,
            bands: vec![RasterBand {
                pixtype: PixelType::U8,
                nodata: None,
                pixels: Pixels::U8(vec![1, 2]),
            }],
        };
        let tiff = raster_georef::raster_to_geotiff(&raster, "a.tif", None).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut encoder = Encoder::start(Common {
                project: "p".into(),
                format: "json".into(),
                masks: false,
            })
            .unwrap();
            let mut rows = Vec::new();
            for j in [
                job("a", tiff.clone()),
                job("b", tiff),
                job("bad", b"nope".to_vec()),
            ] {
                let mut j = j;
                while let Some(back) = encoder.try_push(j).unwrap() {
                    j = back;
                    rows.push(encoder.next_row().await.unwrap().unwrap());
                }
            }
            encoder.close();
            let failed = loop {
                match encoder.next_row().await {
                    Ok(Some(row)) => rows.push(row),
                    Ok(None) => panic!("the bad chip gave a row"),
                    Err(e) => break e,
                }
            };
            assert!(failed.is_usage(), "{failed}");
            assert!(
                failed.to_string().starts_with("chip bad (chips/bad.tif): "),
                "{failed}"
            );
            assert_eq!(rows.len(), 2);
            for (row, id) in rows.iter().zip(["a", "b"]) {
                // 16 fields, then the project and the chip id as text.
                let mut want = vec![0, 16, 0, 0, 0, 1, b'p', 0, 0, 0, 1];
                want.extend_from_slice(id.as_bytes());
                assert!(row.starts_with(&want), "{id}");
            }
        });
    }
}
