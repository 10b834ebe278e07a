//! The pixels of the chips, read and compressed on every core.
//!
//! Decoding a window's tiles and compressing its chip is nearly all of a
//! run's work. [`Readers`] hands the windows to be read to one thread per
//! core, each with its own handle on the scene: a window row goes to worker
//! `row % workers`, so workers sweep different rows (a striped scene's
//! strips are decoded once) and each keeps only the chunks of its own rows.
//! Every worker sends its chips, in sweep order, through a channel of
//! [`AHEAD`] places, so the chips come back in sweep order and memory stays
//! a few chips per worker whatever the scene's size.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

use crate::{Error, Result, open_scene};

/// Chips a worker may have ready before the run takes them.
const AHEAD: usize = 2;

/// A window to read: the scene's index and file, and its top-left corner.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) scene: usize,
    pub(crate) path: PathBuf,
    pub(crate) col: u32,
    pub(crate) row: u32,
    /// The index of the window's row in its scene's sweep.
    pub(crate) row_index: usize,
}

/// A read window: its chip GeoTIFF, or `None` when all its pixels are
/// nodata.
type Read = Result<Option<Vec<u8>>>;

/// The workers reading the windows of a run.
#[derive(Debug)]
pub(crate) struct Readers {
    channels: Vec<Receiver<Read>>,
}

impl Readers {
    /// Starts the workers on `jobs` (in sweep order).
    pub(crate) fn start(jobs: Vec<Job>, size: u32, srid: Option<u32>) -> Readers {
        let workers = thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1)
            .clamp(1, 8);
        let mut shares: Vec<Vec<Job>> = vec![Vec::new(); workers];
        for job in jobs {
            shares[job.row_index % workers].push(job);
        }
        let mut channels = Vec::new();
        for share in shares {
            let (tx, rx) = sync_channel(AHEAD);
            let spawned = thread::Builder::new()
                .name("scene-reader".into())
                .spawn(move || work(share, size, srid, &tx));
            if let Err(e) = spawned {
                // No thread: the run gets the failure at its first window.
                let (tx, rx) = sync_channel(1);
                let _ = tx.send(Err(Error::Input(format!("cannot start a reader: {e}"))));
                channels.push(rx);
                continue;
            }
            channels.push(rx);
        }
        Readers { channels }
    }

    /// The next chip of the worker for window row `row_index`.
    pub(crate) fn next(&self, row_index: usize) -> Read {
        let channel = &self.channels[row_index % self.channels.len()];
        channel
            .recv()
            .unwrap_or_else(|_| Err(Error::Input("a scene reader stopped".into())))
    }
}

/// One worker: reads its windows in order, each scene opened once.
fn work(jobs: Vec<Job>, size: u32, srid: Option<u32>, tx: &SyncSender<Read>) {
    let mut open: Option<(usize, raster_georef::Scene)> = None;
    for job in jobs {
        let read = (|| -> Read {
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
            Ok(Some(window.to_geotiff(scene)?))
        })();
        let failed = read.is_err();
        // A closed channel: the run stopped, and so does this worker.
        if tx.send(read).is_err() || failed {
            return;
        }
    }
}
