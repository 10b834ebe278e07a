//! The `.shp` geometry and `.shx` index of a Shapefile layer of boxes: every
//! record is a Polygon (shape type 5) of one ring of 5 points, so every
//! record has the same size and the `.shx` follows from the record count.

/// Shape type 5: Polygon.
const POLYGON: i32 = 5;
/// A record's content: type, bbox, 1 part, 5 points, part index 0, points.
const CONTENT_BYTES: usize = 4 + 32 + 4 + 4 + 4 + 5 * 16;
/// A record: number and content length, then the content.
pub(crate) const RECORD_BYTES: usize = 8 + CONTENT_BYTES;
/// The main header of `.shp` and `.shx`.
pub(crate) const HEADER_BYTES: usize = 100;
/// A `.shx` entry: offset and content length.
pub(crate) const SHX_ENTRY_BYTES: usize = 8;
/// The most records a layer holds: the `.shp` length, in 16-bit words,
/// must fit an `i32`.
pub(crate) const MAX_RECORDS: u32 = ((i32::MAX as usize - HEADER_BYTES) / RECORD_BYTES) as u32;

fn words(bytes: usize) -> i32 {
    i32::try_from(bytes / 2).unwrap_or(i32::MAX)
}

/// The 100-byte header of a `.shp` (`file_bytes` long) or `.shx`: file
/// code 9994 and length in 16-bit words big-endian, version 1000 and shape
/// type little-endian, the bounding box, Z and M ranges zero.
pub(crate) fn header(file_bytes: usize, bbox: [f64; 4]) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_BYTES);
    h.extend_from_slice(&9994i32.to_be_bytes());
    h.extend_from_slice(&[0; 20]);
    h.extend_from_slice(&words(file_bytes).to_be_bytes());
    h.extend_from_slice(&1000i32.to_le_bytes());
    h.extend_from_slice(&POLYGON.to_le_bytes());
    for v in bbox {
        h.extend_from_slice(&v.to_le_bytes());
    }
    h.extend_from_slice(&[0; 32]);
    h
}

/// The length in bytes of a `.shp` of `records` records.
pub(crate) fn shp_bytes(records: u32) -> usize {
    HEADER_BYTES + RECORD_BYTES * records as usize
}

/// The length in bytes of a `.shx` of `records` records.
pub(crate) fn shx_bytes(records: u32) -> usize {
    HEADER_BYTES + SHX_ENTRY_BYTES * records as usize
}

/// Record `number` (1-based) of a ring of 4 corners, already clockwise;
/// the ring is closed with its first corner.
pub(crate) fn record(number: u32, ring: &[(f64, f64); 4]) -> Vec<u8> {
    let mut r = Vec::with_capacity(RECORD_BYTES);
    r.extend_from_slice(&i32::try_from(number).unwrap_or(i32::MAX).to_be_bytes());
    r.extend_from_slice(&words(CONTENT_BYTES).to_be_bytes());
    r.extend_from_slice(&POLYGON.to_le_bytes());
    for v in bounds(ring) {
        r.extend_from_slice(&v.to_le_bytes());
    }
    r.extend_from_slice(&1i32.to_le_bytes());
    r.extend_from_slice(&5i32.to_le_bytes());
    r.extend_from_slice(&0i32.to_le_bytes());
    for (x, y) in ring.iter().chain(std::iter::once(&ring[0])) {
        r.extend_from_slice(&x.to_le_bytes());
        r.extend_from_slice(&y.to_le_bytes());
    }
    r
}

/// The `.shx` entry of record `i` (0-based): its offset and content
/// length, in 16-bit words, big-endian.
pub(crate) fn shx_entry(i: u32) -> [u8; SHX_ENTRY_BYTES] {
    let offset = words(HEADER_BYTES + RECORD_BYTES * i as usize);
    let mut e = [0; SHX_ENTRY_BYTES];
    e[..4].copy_from_slice(&offset.to_be_bytes());
    e[4..].copy_from_slice(&words(CONTENT_BYTES).to_be_bytes());
    e
}

/// `[xmin, ymin, xmax, ymax]` of a ring.
pub(crate) fn bounds(ring: &[(f64, f64); 4]) -> [f64; 4] {
    ring.iter().fold(
        [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ],
        |b, &(x, y)| [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)],
    )
}
