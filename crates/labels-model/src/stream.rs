//! Manifests of any size, read chip by chip (SPEC §6: memory stays bounded
//! as projects grow).
//!
//! [`ManifestStream::open`] reads and checks everything but the chips (the
//! chips array is skipped). [`ManifestStream::scan`] then streams the chips
//! one by one through the same validation [`Project::load`] applies, handing
//! each valid chip to a callback with its [`ChipSpan`], the bytes it takes
//! in the file. A store keeps only what it decided about each chip (a few
//! dozen bytes), and [`ChipReader`] reads the chips it stores back from
//! their spans, in order, while it writes them. Nothing ever holds every
//! chip at once.

use std::cell::Cell;
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::rc::Rc;

use serde::Deserialize;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::{Error, Result};
use crate::manifest::{Validator, WireChip, WireClass, located};
use crate::model::{Chip, Project};

/// Where a chip lies in its manifest: bytes `start..end` of the file (the
/// chip's JSON object, after any `,` and white space).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChipSpan {
    start: u64,
    end: u64,
}

impl ChipSpan {
    /// Where the chip's object starts and ends in the file, in bytes.
    pub fn bytes(self) -> (u64, u64) {
        (self.start, self.end)
    }

    /// The span of bytes `start..end`, as [`ChipSpan::bytes`] gave it (a
    /// span kept on disk between a scan and the reads).
    pub fn from_bytes(start: u64, end: u64) -> ChipSpan {
        ChipSpan { start, end }
    }
}

/// A project manifest whose chips stay in the file until asked for.
#[derive(Debug)]
pub struct ManifestStream {
    header: Project,
}

/// The manifest with its chips skipped (they are only checked to be an
/// array here).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireHeader {
    labelstore: u32,
    name: String,
    labeling_type: String,
    #[serde(default)]
    srid: Option<u32>,
    classes: Vec<WireClass>,
    #[allow(dead_code)]
    chips: SkippedArray,
}

/// A JSON array, skipped.
struct SkippedArray;

impl<'de> Deserialize<'de> for SkippedArray {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SkippedArray;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(SkippedArray)
            }
        }
        d.deserialize_seq(V)
    }
}

/// A reader that counts the bytes read through it.
struct Counting<R> {
    inner: R,
    pos: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos.set(self.pos.get() + n as u64);
        Ok(n)
    }
}

fn open_file(path: &Path) -> Result<File> {
    crate::regular::open_regular(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

impl ManifestStream {
    /// Reads and checks the header of the manifest at `path` (the file, or
    /// a folder holding `project.json`): everything but the chips, whose
    /// array is skipped.
    pub fn open(path: &Path) -> Result<ManifestStream> {
        let manifest_path = if path.is_dir() {
            path.join(crate::MANIFEST_FILE)
        } else {
            path.to_path_buf()
        };
        let file = open_file(&manifest_path)?;
        let mut de = serde_json::Deserializer::from_reader(BufReader::new(file));
        let wire: WireHeader = match serde_path_to_error::deserialize(&mut de) {
            Ok(w) => {
                de.end().map_err(|e| located_syntax(&manifest_path, &e))?;
                w
            }
            Err(e) => return Err(located(e, &manifest_path, || reparse(&manifest_path))),
        };
        let mut v = Validator {
            file: manifest_path.clone(),
            diags: Vec::new(),
        };
        let (ty, classes) = v.header(
            wire.labelstore,
            &wire.name,
            &wire.labeling_type,
            wire.srid,
            wire.classes,
        );
        match ty {
            Some(labeling_type) if v.diags.is_empty() => Ok(ManifestStream {
                header: Project {
                    name: wire.name,
                    labeling_type,
                    srid: wire.srid,
                    classes,
                    chips: Vec::new(),
                    base_dir: manifest_path
                        .parent()
                        .map(Path::to_path_buf)
                        .unwrap_or_default(),
                    manifest_path,
                },
            }),
            _ => Err(Error::Invalid(v.diags)),
        }
    }

    /// The project without its chips.
    pub fn header(&self) -> &Project {
        &self.header
    }

    /// Reads every chip in manifest order, checking each as
    /// [`Project::load`] does (duplicate ids included), and hands each valid
    /// one to `visit` with its index and span. Every problem is collected;
    /// the error lists them all. Returns how many chips the manifest holds.
    pub fn scan(&self, visit: &mut dyn FnMut(usize, Chip, ChipSpan)) -> Result<usize> {
        let path = &self.header.manifest_path;
        let pos = Rc::new(Cell::new(0));
        let reader = Counting {
            inner: BufReader::new(open_file(path)?),
            pos: Rc::clone(&pos),
        };
        let mut de = serde_json::Deserializer::from_reader(reader);
        let mut v = Validator {
            file: path.clone(),
            diags: Vec::new(),
        };
        let mut seen = HashSet::new();
        let mut count = 0;
        let seed = ScanProject {
            chips: ScanChips {
                header: &self.header,
                v: &mut v,
                seen: &mut seen,
                pos: &pos,
                visit,
                count: &mut count,
            },
        };
        let mut track = serde_path_to_error::Track::new();
        let scanned = seed.deserialize(serde_path_to_error::Deserializer::new(&mut de, &mut track));
        if let Err(e) = scanned {
            let e = serde_path_to_error::Error::new(track.path(), e);
            return Err(located(e, path, || reparse(path)));
        }
        de.end().map_err(|e| located_syntax(path, &e))?;
        if v.diags.is_empty() {
            Ok(count)
        } else {
            Err(Error::Invalid(v.diags))
        }
    }

    /// A reader of chips by their spans, for spans in increasing order.
    pub fn reader(&self) -> Result<ChipReader<'_>> {
        Ok(ChipReader {
            header: &self.header,
            file: BufReader::new(open_file(&self.header.manifest_path)?),
            pos: 0,
            buf: Vec::new(),
        })
    }
}

/// Reads chips back from their spans (the second pass of a streamed store).
#[derive(Debug)]
pub struct ChipReader<'a> {
    header: &'a Project,
    file: BufReader<File>,
    pos: u64,
    buf: Vec<u8>,
}

impl ChipReader<'_> {
    /// The chip at manifest index `index`, which [`ManifestStream::scan`]
    /// found at `span`, checked again. A manifest changed since the scan is
    /// an error.
    pub fn read(&mut self, index: usize, span: ChipSpan) -> Result<Chip> {
        let path = &self.header.manifest_path;
        let io = |source| Error::Io {
            path: path.clone(),
            source,
        };
        if span.start >= self.pos {
            let skip =
                i64::try_from(span.start - self.pos).map_err(|e| io(std::io::Error::other(e)))?;
            self.file.seek_relative(skip).map_err(io)?;
        } else {
            self.file.seek(SeekFrom::Start(span.start)).map_err(io)?;
        }
        let len = usize::try_from(span.end.saturating_sub(span.start))
            .map_err(|e| io(std::io::Error::other(e)))?;
        self.buf.resize(len, 0);
        self.file.read_exact(&mut self.buf).map_err(io)?;
        self.pos = span.end;
        let text = self
            .buf
            .iter()
            .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b',' | b'['))
            .map_or(&self.buf[..0], |k| &self.buf[k..]);
        let changed = |why: String| {
            Error::invalid(
                path,
                None,
                format!("chips[{index}]"),
                format!("the manifest changed while the store was running ({why})"),
            )
        };
        let wire: WireChip = serde_json::from_slice(text).map_err(|e| changed(e.to_string()))?;
        let mut v = Validator {
            file: path.clone(),
            diags: Vec::new(),
        };
        let chip = v.chip(
            index,
            wire,
            Some(self.header.labeling_type),
            &self.header.classes,
        );
        if v.diags.is_empty() {
            Ok(chip)
        } else {
            Err(Error::Invalid(v.diags))
        }
    }
}

/// The whole manifest as a JSON value: only to find a chip's id for an
/// error message.
fn reparse(path: &Path) -> Option<serde_json::Value> {
    let file = crate::regular::open_regular(path).ok()?;
    serde_json::from_reader(BufReader::new(file)).ok()
}

fn located_syntax(path: &Path, e: &serde_json::Error) -> Error {
    Error::invalid(
        path,
        None,
        format!("line {}, column {}", e.line(), e.column()),
        format!(
            "malformed JSON: {}",
            crate::manifest::strip_position(&e.to_string())
        ),
    )
}

/// The top-level object of a scan: every key but `chips` skipped.
struct ScanProject<'a, 'b> {
    chips: ScanChips<'a, 'b>,
}

impl<'de> DeserializeSeed<'de> for ScanProject<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ScanProject<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a project manifest object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let mut chips = Some(self.chips);
        while let Some(key) = map.next_key::<String>()? {
            match (key.as_str(), chips.take()) {
                ("chips", Some(seed)) => map.next_value_seed(seed)?,
                (_, seed) => {
                    chips = seed;
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// The chips array of a scan.
struct ScanChips<'a, 'b> {
    header: &'a Project,
    v: &'a mut Validator,
    seen: &'a mut HashSet<String>,
    pos: &'a Rc<Cell<u64>>,
    visit: &'a mut (dyn FnMut(usize, Chip, ChipSpan) + 'b),
    count: &'a mut usize,
}

impl<'de> DeserializeSeed<'de> for ScanChips<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ScanChips<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a sequence")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        // serde_json reads byte by byte and has consumed exactly the array's
        // `[` here, and exactly up to an element's closing `}` after it.
        let mut start = self.pos.get();
        let mut i = 0;
        while let Some(wire) = seq.next_element::<WireChip>()? {
            let end = self.pos.get();
            let span = ChipSpan { start, end };
            start = end;
            let before = self.v.diags.len();
            let chip = self.v.chip(
                i,
                wire,
                Some(self.header.labeling_type),
                &self.header.classes,
            );
            self.v.unique(i, &chip.id, self.seen);
            if self.v.diags.len() == before {
                (self.visit)(i, chip, span);
            }
            i += 1;
        }
        *self.count = i;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> std::path::PathBuf {
        let p = dir.join("project.json");
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Every chip, streamed, equals what `Project::load` reads; spans read
    /// the same chips back, also out of order and after skipping some.
    #[test]
    fn scan_and_reread_equal_load() {
        let dir = tempfile::tempdir().unwrap();
        // Chips before classes, odd white space, escapes, unicode.
        let p = write(
            dir.path(),
            r#"{"chips" :[
              {"id": "a", "image": "a.png", "labels": [{"class": "ship", "polygon": [[[1, 2], [3, 4], [1, 4]]]}]} ,
              {"id":"b","image":"b\u00e9.png","saved_empty":true,"labels":[]},
              {"id": "c", "image": "c.png", "labels": [{"class": 1, "polygon": [[[0,0],[4,0],[4,4]]],
                 "attributes": {"note": "a \"quoted\" } ] , note", "n": [1, {"x": null}]}}]}
            ],
            "labelstore": 1, "name": "s", "labeling_type": "instance_segmentation",
            "classes": [{"id": 1, "name": "ship"}], "srid": 32632}"#,
        );
        let whole = Project::load(&p).unwrap();
        let stream = ManifestStream::open(&p).unwrap();
        assert_eq!(stream.header().name, "s");
        assert_eq!(stream.header().srid, Some(32632));
        assert!(stream.header().chips.is_empty());
        let mut seen = Vec::new();
        let n = stream
            .scan(&mut |i, chip, span| seen.push((i, chip, span)))
            .unwrap();
        assert_eq!(n, 3);
        assert_eq!(
            seen.iter().map(|(_, c, _)| c.clone()).collect::<Vec<_>>(),
            whole.chips
        );
        let mut reader = stream.reader().unwrap();
        for &k in &[0usize, 2, 1, 2] {
            let (i, chip, span) = &seen[k];
            assert_eq!(&reader.read(*i, *span).unwrap(), chip);
        }
    }

    #[test]
    fn errors_name_file_chip_and_field_as_load_does() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            // A type error inside a chip.
            r#"{"labelstore": 1, "name": "s", "labeling_type": "object_detection",
                "classes": [{"id": 1, "name": "ship"}],
                "chips": [{"id": "a", "image": "a.png", "labels": []},
                          {"id": "b", "image": "b.png", "labels": [{"class": 1, "bbox": "x"}]}]}"#,
            // Validation errors and a duplicate id.
            r#"{"labelstore": 1, "name": "s", "labeling_type": "object_detection",
                "classes": [{"id": 1, "name": "ship"}],
                "chips": [{"id": "a", "image": "a.png", "labels": [{"class": "car", "bbox": [0, 0, 1, 1]}]},
                          {"id": "a", "image": "", "labels": []}]}"#,
            // Malformed JSON.
            r#"{"labelstore": 1, "name": "s", "labeling_type": "object_detection",
                "classes": [], "chips": [{"id": "a",]}"#,
            // A header error.
            r#"{"labelstore": 2, "name": "s", "labeling_type": "object_detection",
                "classes": [], "chips": []}"#,
        ];
        for text in cases {
            let p = write(dir.path(), text);
            let want = Project::load(&p).unwrap_err().to_string();
            let got = ManifestStream::open(&p)
                .and_then(|s| s.scan(&mut |_, _, _| {}))
                .unwrap_err()
                .to_string();
            assert_eq!(got, want, "{text}");
        }
    }

    #[test]
    fn a_manifest_changed_between_passes_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let text = r#"{"labelstore": 1, "name": "s", "labeling_type": "object_detection",
            "classes": [{"id": 1, "name": "ship"}],
            "chips": [{"id": "a", "image": "a.png", "labels": []}]}"#;
        let p = write(dir.path(), text);
        let stream = ManifestStream::open(&p).unwrap();
        let mut spans = Vec::new();
        stream
            .scan(&mut |i, _, span| spans.push((i, span)))
            .unwrap();
        std::fs::write(&p, text.replace("\"a\"", "\"abc\"")).unwrap();
        let err = stream.reader().unwrap().read(0, spans[0].1).unwrap_err();
        assert!(err.to_string().contains("changed"), "{err}");
    }
}
