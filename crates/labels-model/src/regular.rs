//! Opening the files a project or a dataset names, refusing any that is not
//! a regular file before opening it: opening a FIFO waits forever for a
//! writer, and a device or a socket is no image, world file or manifest.
//!
//! The check follows symbolic links (a link to a regular file is fine). On
//! Unix the file is opened without waiting (`O_NONBLOCK`, which changes
//! nothing for a regular file) and checked on the open descriptor: one
//! `open` and one `fstat`, no path looked up twice. Elsewhere the check runs
//! just before the open.

use std::fs::File;
use std::io;
use std::path::Path;

/// Checks that `path` is a regular file (after following symbolic links).
/// Anything else is an [`io::ErrorKind::InvalidInput`] error saying what it
/// is, e.g. "it is a FIFO (named pipe), not a regular file".
pub fn check_regular(path: &Path) -> io::Result<()> {
    let meta = std::fs::metadata(path)?;
    if meta.is_file() {
        return Ok(());
    }
    Err(not_regular(&meta.file_type()))
}

/// [`File::open`] for a regular file only (see [`check_regular`]).
pub fn open_regular(path: &Path) -> io::Result<File> {
    open_regular_with_len(path).map(|(file, _)| file)
}

/// [`open_regular`], with the file's length from the same `fstat`.
pub fn open_regular_with_len(path: &Path) -> io::Result<(File, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Opening a FIFO for reading without O_NONBLOCK waits for a writer.
        const O_NONBLOCK: i32 = 0o4000;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(O_NONBLOCK)
            .open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(not_regular(&meta.file_type()));
        }
        Ok((file, meta.len()))
    }
    #[cfg(not(unix))]
    {
        check_regular(path)?;
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok((file, len))
    }
}

/// [`std::fs::read`] for a regular file only (see [`check_regular`]).
pub fn read_regular(path: &Path) -> io::Result<Vec<u8>> {
    let (mut file, len) = open_regular_with_len(path)?;
    read_known_len(&mut file, len)
}

/// Reads the rest of `file`, whose length (from [`open_regular_with_len`])
/// is `len`: a read of the whole and one finding the end, without the
/// `fstat` and `lseek` [`File::read_to_end`] spends asking the size again.
/// A file that grew since is read to its new end all the same.
pub fn read_known_len(file: &mut File, len: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    // One byte more than the length, so the read that finds the end needs
    // no second allocation.
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0).saturating_add(1));
    let n = Read::by_ref(file)
        .take(len.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if n as u64 > len {
        file.read_to_end(&mut bytes)?;
    }
    Ok(bytes)
}

/// [`std::fs::read_to_string`] for a regular file only (see [`check_regular`]).
pub fn read_regular_to_string(path: &Path) -> io::Result<String> {
    String::from_utf8(read_regular(path)?).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

fn not_regular(t: &std::fs::FileType) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("it is {}, not a regular file", describe(t)),
    )
}

/// What kind of file system object `t` is, in words.
fn describe(t: &std::fs::FileType) -> &'static str {
    if t.is_dir() {
        return "a folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
    }
    "a special file"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_whole_whatever_length_was_found() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.bin");
        let bytes: Vec<u8> = (0..=255).cycle().take(70_000).collect();
        std::fs::write(&file, &bytes).unwrap();
        // The length found, one that grew since, one that shrank.
        for len in [70_000, 10, 0, 1_000_000] {
            let mut f = File::open(&file).unwrap();
            assert_eq!(read_known_len(&mut f, len).unwrap(), bytes, "{len}");
        }
    }

    #[test]
    fn a_regular_file_and_a_link_to_one_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.txt");
        std::fs::write(&file, b"x").unwrap();
        assert_eq!(read_regular(&file).unwrap(), b"x");
        #[cfg(unix)]
        {
            let link = dir.path().join("link.txt");
            std::os::unix::fs::symlink(&file, &link).unwrap();
            assert_eq!(read_regular_to_string(&link).unwrap(), "x");
        }
    }

    #[test]
    fn a_folder_is_refused_and_a_missing_file_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let e = open_regular(dir.path()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(e.to_string(), "it is a folder, not a regular file");
        let e = read_regular(&dir.path().join("none")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_and_a_device_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("p.png");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        // Opening the FIFO would block this test forever.
        let e = read_regular(&fifo).unwrap_err();
        assert_eq!(
            e.to_string(),
            "it is a FIFO (named pipe), not a regular file"
        );
        let e = open_regular(Path::new("/dev/null")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "it is a character device, not a regular file"
        );
    }
}
