//! The writer threads of a local store.
//!
//! Creating a file is the kernel's work, most of it done under the lock of
//! the folder the file goes into. A store of many small files spends its
//! time there, so [`Writers`] spreads the files over a few threads, each
//! folder kept by one thread (the first folder seen goes to the first
//! thread, the next to the next, and so on round), so no two threads wait
//! on one folder's lock. Each thread writes its files in the order they were
//! handed over.
//!
//! A hard link to a file written earlier (or a copy of one) waits for that file: the link's
//! job names the thread and position of its source when the source was one
//! of the recent files (the usual case: a chip linked into each format's
//! layout right after it is written), or else everything handed over
//! before it. A job only ever waits for jobs handed over before it, so the
//! threads never wait on each other in a circle.
//!
//! Memory stays bounded: [`Writers::send`] waits while what was handed
//! over and not yet written (bytes, paths, jobs) passes [`HELD_BYTES`]. The first failure stops
//! further writes and is returned by the next call.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use sink_api::{Error, Result};

/// The most bytes handed over and not yet written: each job counts its
/// bytes, its paths and [`JOB_COST`], so a long queue of links is bounded
/// as well as a few big files.
pub(crate) const HELD_BYTES: u64 = 4 << 20;

/// What a job costs in memory besides its bytes and paths (the job, its
/// waits, the channel's slot), roughly.
const JOB_COST: u64 = 160;

/// How many recent files are remembered as sources of links.
const RECENT: usize = 4096;

/// What to write at a path.
#[derive(Debug)]
pub(crate) enum Work {
    /// These bytes.
    Bytes(Vec<u8>),
    /// A copy of this file.
    File(PathBuf),
    /// A hard link to this file (a copy where links are not supported).
    Link(PathBuf),
}

struct Job {
    dest: PathBuf,
    work: Work,
    /// Wait until each named thread has finished this many jobs.
    after: Vec<(usize, u64)>,
    bytes: u64,
}

#[derive(Default)]
struct State {
    /// Jobs finished (written or skipped), per thread.
    done: Vec<u64>,
    /// Bytes handed over and not yet written.
    held: u64,
    /// The first failure: what was done, the error's kind and text.
    failed: Option<(String, io::ErrorKind, String)>,
    /// Stop writing: the store is being abandoned.
    stop: bool,
    /// Threads waiting on `changed`: with none, a change wakes nobody and
    /// costs no system call.
    waiting: usize,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for the next change.
    fn wait<'a>(&self, mut state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        state.waiting += 1;
        let mut state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        state.waiting -= 1;
        state
    }

    /// Wakes the waiting threads, if any, after a change to `state`.
    fn wake(&self, state: MutexGuard<'_, State>) {
        let wake = state.waiting > 0;
        drop(state);
        if wake {
            self.changed.notify_all();
        }
    }
}

/// Writer threads; see the module's documentation.
pub(crate) struct Writers {
    senders: Vec<Sender<Job>>,
    handles: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
    /// Jobs handed over, per thread.
    sent: Vec<u64>,
    /// The thread that keeps each folder.
    folders: HashMap<PathBuf, usize>,
    /// Recent files: the thread that writes each and its position there.
    recent: HashMap<PathBuf, (usize, u64)>,
}

impl Writers {
    /// Starts `threads` writer threads (at least one).
    pub(crate) fn start(threads: usize) -> io::Result<Writers> {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                done: vec![0; threads],
                ..State::default()
            }),
            changed: Condvar::new(),
        });
        let mut writers = Writers {
            senders: Vec::with_capacity(threads),
            handles: Vec::with_capacity(threads),
            shared,
            sent: vec![0; threads],
            folders: HashMap::new(),
            recent: HashMap::new(),
        };
        for me in 0..threads {
            let (tx, rx) = channel();
            let shared = Arc::clone(&writers.shared);
            let handle = std::thread::Builder::new()
                .name(format!("labelstore-writer-{me}"))
                .spawn(move || work(me, &rx, &shared))?;
            writers.senders.push(tx);
            writers.handles.push(handle);
        }
        Ok(writers)
    }

    /// The number of threads a store on this machine gets: one per core,
    /// two to four.
    pub(crate) fn threads() -> usize {
        std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4))
    }

    /// Hands over `work` for `dest` (whose folder exists). Returns an
    /// earlier failure instead, if there was one.
    pub(crate) fn send(&mut self, dest: PathBuf, work: Work) -> Result<()> {
        let path_len = |p: &Path| p.as_os_str().len() as u64;
        let bytes = JOB_COST
            + path_len(&dest)
            + match &work {
                Work::Bytes(b) => b.len() as u64,
                Work::File(src) | Work::Link(src) => path_len(src),
            };
        {
            let mut state = self.shared.lock();
            while state.failed.is_none() && state.held > 0 && state.held + bytes > HELD_BYTES {
                state = self.shared.wait(state);
            }
            if let Some(failed) = &state.failed {
                return Err(error(failed));
            }
            state.held += bytes;
        }
        let folder = dest.parent().unwrap_or(Path::new("")).to_path_buf();
        let next = self.folders.len() % self.senders.len();
        let thread = *self.folders.entry(folder).or_insert(next);
        let after = match &work {
            Work::Link(src) => match self.recent.get(src) {
                Some(&(t, at)) => vec![(t, at)],
                // Not a recent file: wait for everything handed over.
                None => self.sent.iter().copied().enumerate().collect(),
            },
            // Copies are of files outside the store, unless one is recent.
            Work::File(src) => self.recent.get(src).map(|&at| vec![at]).unwrap_or_default(),
            Work::Bytes(_) => Vec::new(),
        };
        self.sent[thread] += 1;
        if self.recent.len() >= RECENT {
            self.recent.clear();
        }
        self.recent
            .insert(dest.clone(), (thread, self.sent[thread]));
        let job = Job {
            dest,
            work,
            after,
            bytes,
        };
        if self.senders[thread].send(job).is_err() {
            return Err(Error::io(
                "cannot write the store",
                io::Error::other("a writer thread ended"),
            ));
        }
        Ok(())
    }

    /// Waits for every file handed over to be written; returns the first
    /// failure, if any.
    pub(crate) fn finish(&mut self) -> Result<()> {
        let mut state = self.shared.lock();
        loop {
            if let Some(failed) = &state.failed {
                return Err(error(failed));
            }
            if state.done == self.sent {
                return Ok(());
            }
            state = self.shared.wait(state);
        }
    }

    /// Stops the threads: with `abandon`, files not yet written are
    /// skipped. Returns when no thread writes any more.
    pub(crate) fn stop(&mut self, abandon: bool) {
        if abandon {
            let mut state = self.shared.lock();
            state.stop = true;
            self.shared.wake(state);
        }
        self.senders.clear();
        for handle in self.handles.drain(..) {
            let _ = handle.join();
        }
    }
}

impl std::fmt::Debug for Writers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writers")
            .field("threads", &self.handles.len())
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

impl Drop for Writers {
    fn drop(&mut self) {
        self.stop(true);
    }
}

fn error((context, kind, message): &(String, io::ErrorKind, String)) -> Error {
    Error::io(context, io::Error::new(*kind, message.clone()))
}

/// One writer thread: takes its jobs in order until the channel closes.
fn work(me: usize, jobs: &Receiver<Job>, shared: &Shared) {
    for job in jobs {
        let skip = {
            let mut state = shared.lock();
            while !state.stop
                && state.failed.is_none()
                && job.after.iter().any(|&(t, at)| state.done[t] < at)
            {
                state = shared.wait(state);
            }
            state.stop || state.failed.is_some()
        };
        let written = if skip { Ok(()) } else { write(&job) };
        let mut state = shared.lock();
        if let Err(e) = written
            && state.failed.is_none()
        {
            state.failed = Some((
                format!("cannot write {}", job.dest.display()),
                e.kind(),
                e.to_string(),
            ));
        }
        state.done[me] += 1;
        state.held -= job.bytes;
        shared.wake(state);
    }
}

fn write(job: &Job) -> io::Result<()> {
    let dest = &job.dest;
    match &job.work {
        Work::Bytes(bytes) => std::fs::write(dest, bytes),
        Work::File(src) => std::fs::copy(src, dest).map(drop),
        // Filesystems without hard links get a copy.
        Work::Link(src) => {
            std::fs::hard_link(src, dest).or_else(|_| std::fs::copy(src, dest).map(drop))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_wait_for_their_source_in_another_folder() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["a", "b", "c"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        let mut w = Writers::start(3).unwrap();
        for i in 0..300 {
            let src = dir.path().join(format!("a/{i}"));
            w.send(src.clone(), Work::Bytes(vec![i as u8; 10_000]))
                .unwrap();
            w.send(dir.path().join(format!("b/{i}")), Work::Link(src.clone()))
                .unwrap();
            w.send(dir.path().join(format!("c/{i}")), Work::File(src))
                .unwrap();
            assert!(w.sent.iter().sum::<u64>() == 3 * (i + 1));
        }
        // A link to a file handed over long ago: waits for everything.
        w.send(dir.path().join("b/old"), Work::Link(dir.path().join("a/0")))
            .unwrap();
        w.finish().unwrap();
        for i in 0..300 {
            for sub in ["a", "b", "c"] {
                let got = std::fs::read(dir.path().join(format!("{sub}/{i}"))).unwrap();
                assert_eq!(got, vec![i as u8; 10_000], "{sub}/{i}");
            }
        }
        assert_eq!(
            std::fs::read(dir.path().join("b/old")).unwrap(),
            vec![0; 10_000]
        );
    }

    #[test]
    fn the_first_failure_is_returned_and_stops_the_writes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        let mut w = Writers::start(2).unwrap();
        // Its folder does not exist.
        w.send(dir.path().join("missing/x"), Work::Bytes(b"x".to_vec()))
            .unwrap();
        let e = w.finish().unwrap_err().to_string();
        assert!(e.starts_with("cannot write "), "{e}");
        assert!(e.contains("missing/x"), "{e}");
        // Later files are refused with the same error.
        let again = w
            .send(dir.path().join("a/y"), Work::Bytes(b"y".to_vec()))
            .unwrap_err();
        assert_eq!(again.to_string(), e);
        w.stop(false);
        assert!(!dir.path().join("a/y").exists());
    }
}
