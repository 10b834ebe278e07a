//! Opening the files a project or a dataset names, refusing any that is not
//! a regular file before opening it: opening a FIFO waits forever for a
//! writer, and a device or a socket is no image, world file or manifest.
//!
//! The check follows symbolic links (a link to a regular file is fine). It
//! runs just before the open, so a file swapped for a FIFO in between could
//! still block; nothing a user does by mistake does that.

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
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("it is {}, not a regular file", describe(&meta.file_type())),
    ))
}

/// [`File::open`] for a regular file only (see [`check_regular`]).
pub fn open_regular(path: &Path) -> io::Result<File> {
    check_regular(path)?;
    File::open(path)
}

/// [`std::fs::read`] for a regular file only (see [`check_regular`]).
pub fn read_regular(path: &Path) -> io::Result<Vec<u8>> {
    check_regular(path)?;
    std::fs::read(path)
}

/// [`std::fs::read_to_string`] for a regular file only (see [`check_regular`]).
pub fn read_regular_to_string(path: &Path) -> io::Result<String> {
    check_regular(path)?;
    std::fs::read_to_string(path)
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
