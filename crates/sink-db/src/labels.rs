//! The labels table, `<table>_labels`: one row per label, its shape as a
//! PostGIS geometry in map coordinates (the chip's SRID) and in pixel
//! coordinates (SRID 0), from the records the store pipeline hands over
//! ([`sink_api::ChipLabels`]). Rows, in binary `COPY` format (shapes as
//! EWKB, attributes as `jsonb`), are spooled to a temporary file while the
//! chips' `COPY` holds the connection, then sent with a `COPY` of their own
//! before the commit.

use std::io::{Read, Seek, Write};

use sink_api::{Error, LabelRecord, LabelShape, Result};

use crate::binary::{Rows, TooLong};

/// The columns of the labels table: name, type as `format_type` shows it,
/// DDL.
pub(crate) const LABEL_COLUMNS: &[(&str, &str, &str)] = &[
    ("project", "text", "text NOT NULL"),
    ("chip_id", "text", "text NOT NULL"),
    ("label_index", "integer", "integer NOT NULL"),
    ("class_id", "integer", "integer NOT NULL"),
    ("class_name", "text", "text NOT NULL"),
    ("attributes", "jsonb", "jsonb NOT NULL"),
    ("geom", "geometry", "geometry"),
    ("pixel_geom", "geometry", "geometry NOT NULL"),
];

/// The key of the labels table.
pub(crate) const LABEL_KEY: &str = "PRIMARY KEY (project, chip_id, label_index)";

/// The `COPY` statement's column list.
pub(crate) const LABEL_COPY_COLUMNS: &str =
    "project, chip_id, label_index, class_id, class_name, attributes, geom, pixel_geom";

/// Label rows in binary `COPY` format (without header and trailer), on
/// local disk until they are sent.
#[derive(Debug, Default)]
pub(crate) struct LabelSpool {
    file: Option<std::fs::File>,
    rows: u64,
}

impl LabelSpool {
    /// Adds the rows of one chip's labels; `srid` is the chip's.
    pub(crate) fn add(
        &mut self,
        project: &str,
        chip: &str,
        srid: i32,
        records: &[LabelRecord],
    ) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut text = Vec::new();
        let mut rows = Rows { buf: &mut text };
        let refuse = |m: String| Error::Refused(format!("chip {chip}: {m}"));
        let int4 = |v: u32, what: &str| {
            i32::try_from(v)
                .map_err(|_| refuse(format!("{what} {v} does not fit an integer column")))
        };
        for r in records {
            let too_long = |e: TooLong| refuse(format!("label {}: {e}", r.index));
            rows.row(LABEL_COLUMNS.len() as i16);
            rows.text(project).map_err(too_long)?;
            rows.text(chip).map_err(too_long)?;
            rows.int4(int4(r.index, "label index")?);
            rows.int4(int4(r.class_id, "class id")?);
            rows.text(&r.class_name).map_err(too_long)?;
            rows.jsonb(&r.attributes_json).map_err(too_long)?;
            let geom = r.geom.as_ref().map(|g| ewkb(g, srid));
            rows.bytes_or_null(geom.as_deref()).map_err(too_long)?;
            rows.bytes(&ewkb(&r.pixel_geom, 0)).map_err(too_long)?;
        }
        let file = match &mut self.file {
            Some(f) => f,
            None => self
                .file
                .insert(tempfile::tempfile().map_err(|e| Error::io("cannot spool label rows", e))?),
        };
        file.write_all(&text)
            .map_err(|e| Error::io("cannot spool label rows", e))?;
        self.rows += records.len() as u64;
        Ok(())
    }

    /// The spooled rows, from the start, in pieces of about `chunk` bytes;
    /// `None` when there are none.
    pub(crate) fn chunks(&mut self, chunk: usize) -> Result<Option<Chunks<'_>>> {
        let Some(file) = &mut self.file else {
            return Ok(None);
        };
        file.rewind()
            .map_err(|e| Error::io("cannot read the spooled label rows", e))?;
        Ok(Some(Chunks { file, chunk }))
    }
}

/// The spooled rows, piece by piece.
pub(crate) struct Chunks<'a> {
    file: &'a mut std::fs::File,
    chunk: usize,
}

impl Chunks<'_> {
    /// The next piece, or `None` at the end.
    pub(crate) fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        let mut buf = Vec::with_capacity(self.chunk);
        (&mut *self.file)
            .take(self.chunk as u64)
            .read_to_end(&mut buf)
            .map_err(|e| Error::io("cannot read the spooled label rows", e))?;
        Ok((!buf.is_empty()).then_some(buf))
    }
}

/// A shape as EWKB (little-endian, with its SRID), as PostGIS's
/// `geometry_recv` reads it: a Polygon, or a MultiPolygon when the label
/// was one. Rings are closed.
pub(crate) fn ewkb(shape: &LabelShape, srid: i32) -> Vec<u8> {
    const SRID_FLAG: u32 = 0x2000_0000;
    let mut b = Vec::new();
    let header = |b: &mut Vec<u8>, kind: u32, srid: Option<i32>| {
        b.push(1);
        match srid {
            Some(s) => {
                b.extend_from_slice(&(kind | SRID_FLAG).to_le_bytes());
                b.extend_from_slice(&s.to_le_bytes());
            }
            None => b.extend_from_slice(&kind.to_le_bytes()),
        }
    };
    let count = |b: &mut Vec<u8>, n: usize| {
        b.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
    };
    let polygon = |b: &mut Vec<u8>, p: &[Vec<[f64; 2]>]| {
        count(b, p.len());
        for ring in p {
            let closed = ring.first() == ring.last();
            count(b, ring.len() + usize::from(!closed));
            for pt in ring.iter().chain(ring.first().filter(|_| !closed)) {
                b.extend_from_slice(&pt[0].to_le_bytes());
                b.extend_from_slice(&pt[1].to_le_bytes());
            }
        }
    };
    match (shape.multi, shape.polygons.as_slice()) {
        (false, [one]) => {
            header(&mut b, 3, Some(srid));
            polygon(&mut b, one);
        }
        (_, polys) => {
            header(&mut b, 6, Some(srid));
            count(&mut b, polys.len());
            for p in polys {
                header(&mut b, 3, None);
                polygon(&mut b, p);
            }
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_hex(b: &[u8]) -> String {
        b.iter().map(|b| format!("{b:02X}")).collect()
    }

    #[test]
    fn shapes_are_ewkb_with_closed_rings() {
        let square = LabelShape {
            multi: false,
            polygons: vec![vec![vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]]],
        };
        let hex = to_hex(&ewkb(&square, 32632));
        // Little-endian Polygon with an SRID, 32632, one ring of 5 points.
        assert!(
            hex.starts_with("0103000020787F0000010000000500000000"),
            "{hex}"
        );
        assert_eq!(hex.len(), 2 * (1 + 4 + 4 + 4 + 4 + 5 * 16));
        let multi = LabelShape {
            multi: true,
            polygons: square.polygons.clone(),
        };
        let hex = to_hex(&ewkb(&multi, 0));
        assert!(
            hex.starts_with("0106000020000000000100000001030000000100000005000000"),
            "{hex}"
        );
    }
}
