//! The pixels of the chips: decoded once, compressed on every core.
//!
//! Decoding a window's tiles and compressing its chip is nearly all of a
//! run's work, compressing the larger part. [`Readers`] runs one reader
//! thread that sweeps the windows in order with one handle on the scene
//! (so a strip or tile shared by neighbouring windows is decoded once) and
//! hands each window's pixels to a pool of compressors, one per core. The
//! chips come back numbered and are given out in sweep order. At most
//! [`in_flight`] windows are between the reader and the run at any time
//! (a permit is taken per window and given back when the run takes its
//! chip), so memory stays a few chips per core whatever the scene's size.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread;

use raster_georef::ChipTiff;

use crate::{Error, Result, open_scene};

/// A window to read: the scene's index and file, and its top-left corner.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) scene: usize,
    pub(crate) path: PathBuf,
    pub(crate) col: u32,
    pub(crate) row: u32,
}

/// A read window: its chip GeoTIFF, or `None` when all its pixels are
/// nodata.
type Read = Result<Option<Vec<u8>>>;

/// The threads reading and compressing the windows of a run.
#[derive(Debug)]
pub(crate) struct Readers {
    results: Receiver<(usize, Read)>,
    /// Chips that came back ahead of their turn.
    early: BTreeMap<usize, Read>,
    /// The number of the next chip to give out.
    next: usize,
    permits: Receiver<()>,
}

/// Windows between the reader and the run, at most.
fn in_flight(workers: usize) -> usize {
    2 * workers + 2
}

impl Readers {
    /// Starts the reader and the compressors on `jobs` (in sweep order).
    pub(crate) fn start(jobs: Vec<Job>, size: u32, srid: Option<u32>) -> Readers {
        let workers = thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1)
            .clamp(1, 8);
        let (results_tx, results) = sync_channel(in_flight(workers));
        let (permit_tx, permits) = sync_channel(in_flight(workers));
        let (work_tx, work_rx) = sync_channel::<(usize, ChipTiff)>(workers);
        let work_rx = Arc::new(Mutex::new(work_rx));
        for _ in 0..workers {
            let work = Arc::clone(&work_rx);
            let tx = results_tx.clone();
            // A compressor that cannot start leaves the others to do its share.
            let _ = thread::Builder::new()
                .name("chip-compressor".into())
                .spawn(move || compress(&work, &tx));
        }
        let reader = thread::Builder::new().name("scene-reader".into()).spawn({
            let results_tx = results_tx.clone();
            move || read(jobs, size, srid, &permit_tx, &work_tx, &results_tx)
        });
        if let Err(e) = reader {
            let _ =
                results_tx.try_send((0, Err(Error::Input(format!("cannot start a reader: {e}")))));
        }
        Readers {
            results,
            early: BTreeMap::new(),
            next: 0,
            permits,
        }
    }

    /// The next window's chip, in sweep order.
    pub(crate) fn next(&mut self) -> Read {
        let n = self.next;
        self.next += 1;
        let read = loop {
            if let Some(read) = self.early.remove(&n) {
                break read;
            }
            match self.results.recv() {
                Ok((k, read)) if k == n => break read,
                Ok((k, read)) => {
                    self.early.insert(k, read);
                }
                Err(_) => break Err(Error::Input("the scene reader stopped".into())),
            }
        };
        // The window is out of flight: the reader may take another.
        let _ = self.permits.try_recv();
        read
    }
}

/// The reader: decodes the windows in order and hands them to the
/// compressors; nodata windows and failures go straight to the run.
fn read(
    jobs: Vec<Job>,
    size: u32,
    srid: Option<u32>,
    permits: &SyncSender<()>,
    work: &SyncSender<(usize, ChipTiff)>,
    results: &SyncSender<(usize, Read)>,
) {
    let mut open: Option<(usize, raster_georef::Scene)> = None;
    for (n, job) in jobs.into_iter().enumerate() {
        // A closed channel: the run stopped, and so does the reader.
        if permits.send(()).is_err() {
            return;
        }
        let chip = (|| -> Result<Option<ChipTiff>> {
            if open.as_ref().is_none_or(|(s, _)| *s != job.scene) {
                open = None;
                open = Some((job.scene, open_scene(&job.path, srid)?));
            }
            let Some((_, scene)) = open.as_mut() else {
                return Ok(None);
            };
            let window = scene.read_window(job.col, job.row, size)?;
            if window.is_all_nodata() {
                return Ok(None);
            }
            Ok(Some(window.into_chip(scene)?))
        })();
        let sent = match chip {
            Ok(Some(chip)) => work.send((n, chip)).is_ok(),
            Ok(None) => results.send((n, Ok(None))).is_ok(),
            Err(e) => {
                let _ = results.send((n, Err(e)));
                false
            }
        };
        if !sent {
            return;
        }
    }
}

/// A compressor: encodes the chips it is handed until the reader is done.
fn compress(work: &Mutex<Receiver<(usize, ChipTiff)>>, results: &SyncSender<(usize, Read)>) {
    loop {
        let next = match work.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok((n, chip)) = next else {
            return;
        };
        let read = chip.encode().map(Some).map_err(Error::from);
        if results.send((n, read)).is_err() {
            return;
        }
    }
}
