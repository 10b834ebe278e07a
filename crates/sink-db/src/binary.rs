//! PostgreSQL's binary `COPY` format (`COPY ... FROM STDIN WITH (FORMAT
//! binary)`, "Binary Format" in the `COPY` reference): a signature and
//! header, then each row as a 16-bit field count and each field as a 32-bit
//! length (-1 for NULL) followed by the value in its type's binary receive
//! form, then a trailer of -1. Integers are big-endian.
//!
//! The forms labelstore sends: `text` as its UTF-8 bytes (tokio-postgres
//! sets `client_encoding` to UTF8), `integer` and `bigint` as 4 and 8
//! bytes, `bytea` as its bytes, `jsonb` as version byte 1 and the JSON
//! text, `geometry` as EWKB (what PostGIS's `geometry_recv` reads).

/// The signature, the flags (no OIDs) and an empty header extension.
pub(crate) const HEADER: &[u8; 19] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// The end of the rows.
pub(crate) const TRAILER: [u8; 2] = (-1i16).to_be_bytes();

/// A field longer than PostgreSQL takes (1 GB is its limit for any value;
/// the format's length is an `i32`).
#[derive(Debug)]
pub(crate) struct TooLong(pub(crate) usize);

impl std::fmt::Display for TooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a value of {} bytes is more than PostgreSQL takes in one field (1 GB)",
            self.0
        )
    }
}

/// PostgreSQL's largest value (`MaxAllocSize`, 1 GB less one byte).
const MAX_FIELD: usize = (1 << 30) - 1;

/// The length word of a field of `len` bytes.
fn field_length(len: usize) -> Result<[u8; 4], TooLong> {
    i32::try_from(len)
        .ok()
        .filter(|_| len <= MAX_FIELD)
        .map(i32::to_be_bytes)
        .ok_or(TooLong(len))
}

/// Rows being written into `buf`, field by field.
pub(crate) struct Rows<'a> {
    pub(crate) buf: &'a mut Vec<u8>,
}

impl Rows<'_> {
    /// Starts a row of `fields` fields.
    pub(crate) fn row(&mut self, fields: i16) {
        self.buf.extend_from_slice(&fields.to_be_bytes());
    }

    /// A NULL field.
    pub(crate) fn null(&mut self) {
        self.buf.extend_from_slice(&(-1i32).to_be_bytes());
    }

    /// A field of `len` bytes, whose bytes the caller writes next.
    fn length(&mut self, len: usize) -> Result<(), TooLong> {
        self.buf.extend_from_slice(&field_length(len)?);
        Ok(())
    }

    /// A field whose bytes `write` appends to the buffer (so a value made
    /// for the row is not copied into it); where they are in the buffer.
    /// The buffer is left as it was when `write` fails.
    pub(crate) fn written(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), String>,
    ) -> Result<std::ops::Range<usize>, String> {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        let len = write(self.buf).and_then(|()| {
            let len = self.buf.len() - at - 4;
            field_length(len).map_err(|e| e.to_string())
        });
        match len {
            Ok(len) => {
                self.buf[at..at + 4].copy_from_slice(&len);
                Ok(at + 4..self.buf.len())
            }
            Err(e) => {
                self.buf.truncate(at);
                Err(e)
            }
        }
    }

    /// A `bytea` (or any value already in its binary form).
    pub(crate) fn bytes(&mut self, b: &[u8]) -> Result<(), TooLong> {
        self.length(b.len())?;
        self.buf.extend_from_slice(b);
        Ok(())
    }

    /// A `text`.
    pub(crate) fn text(&mut self, s: &str) -> Result<(), TooLong> {
        self.bytes(s.as_bytes())
    }

    /// A `bytea`, or NULL.
    pub(crate) fn bytes_or_null(&mut self, b: Option<&[u8]>) -> Result<(), TooLong> {
        match b {
            Some(b) => self.bytes(b),
            None => {
                self.null();
                Ok(())
            }
        }
    }

    /// An `integer`.
    pub(crate) fn int4(&mut self, v: i32) {
        self.buf.extend_from_slice(&4i32.to_be_bytes());
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// A `bigint`.
    pub(crate) fn int8(&mut self, v: i64) {
        self.buf.extend_from_slice(&8i32.to_be_bytes());
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// A `jsonb`: version 1, then the JSON text.
    pub(crate) fn jsonb(&mut self, json: &str) -> Result<(), TooLong> {
        self.length(json.len() + 1)?;
        self.buf.push(1);
        self.buf.extend_from_slice(json.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_framed_as_postgresql_reads_them() {
        let mut buf = HEADER.to_vec();
        let mut rows = Rows { buf: &mut buf };
        rows.row(6);
        rows.text("a\tb").unwrap();
        rows.null();
        rows.int4(-2);
        rows.int8(1 << 40);
        rows.jsonb("{}").unwrap();
        let at = rows
            .written(|b| {
                b.extend_from_slice(b"xy");
                Ok(())
            })
            .unwrap();
        assert_eq!(
            rows.written(|b| {
                b.push(0);
                Err("no".into())
            }),
            Err("no".to_owned())
        );
        assert_eq!(&buf[at], b"xy");
        buf.extend_from_slice(&TRAILER);
        let mut want = b"PGCOPY\n\xff\r\n\0".to_vec();
        want.extend_from_slice(&[0; 8]);
        want.extend_from_slice(&[0, 6]);
        want.extend_from_slice(&[0, 0, 0, 3, b'a', b'\t', b'b']);
        want.extend_from_slice(&[0xff; 4]);
        want.extend_from_slice(&[0, 0, 0, 4, 0xff, 0xff, 0xff, 0xfe]);
        want.extend_from_slice(&[0, 0, 0, 8, 0, 0, 1, 0, 0, 0, 0, 0]);
        want.extend_from_slice(&[0, 0, 0, 3, 1, b'{', b'}']);
        want.extend_from_slice(&[0, 0, 0, 2, b'x', b'y']);
        want.extend_from_slice(&[0xff, 0xff]);
        assert_eq!(buf, want);
    }
}
