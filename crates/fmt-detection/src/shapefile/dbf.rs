//! The dBASE III table (`.dbf`) of a Shapefile layer: planning its columns
//! from what the labels hold, encoding records, and reading tables back
//! (ours and other tools').

use std::collections::BTreeMap;

use serde_json::{Number, Value};

use crate::common::{FieldKind, IndexField};

/// Widest `C` column (dBASE III; GDAL allows 255).
pub(crate) const MAX_TEXT: usize = 254;
/// Widest `N` column written for integers (`-9223372036854775808`).
const MAX_INTEGER: usize = 20;
/// Widest `N` column written for real numbers (GDAL's own width for reals).
const MAX_REAL: usize = 24;
/// At most this many columns (dBASE III, and GDAL's shapefile writer).
const MAX_COLUMNS: usize = 255;
/// The header's last-update date, fixed so that a store is reproducible:
/// 1995-07-26, the date shapelib's `DBFCreate` wrote for years.
const DATE: [u8; 3] = [95, 7, 26];

/// What one attribute key's values across a layer look like, gathered
/// while writing; decides the key's column at the end.
#[derive(Debug, Clone, Default)]
pub(crate) struct FieldStats {
    bools: bool,
    numbers: bool,
    floats: bool,
    texts: bool,
    /// Null, arrays, objects, strings a dbf would trim or confuse with a
    /// blank: only JSON text holds them.
    others: bool,
    number_width: usize,
    decimals: usize,
    text_width: usize,
    json_width: usize,
}

/// A real number as written in an `N` column: the shortest text that reads
/// back as the same `f64`, never with an exponent, always with a `.`
/// (`1.0`, `0.00000015`), so it reads back as a real, not an integer.
fn real_text(v: f64) -> String {
    let s = format!("{v}");
    if s.contains('.') { s } else { s + ".0" }
}

/// Whether a string reads back from a `C` column as itself: not empty (a
/// blank column is a missing value), no leading or trailing blank (readers
/// trim them), no NUL.
fn plain_text(s: &str) -> bool {
    !s.is_empty() && !s.starts_with(' ') && !s.ends_with(' ') && !s.contains('\0')
}

impl FieldStats {
    /// Takes one value into account.
    pub(crate) fn observe(&mut self, v: &Value) {
        let json = serde_json::to_string(v).unwrap_or_default();
        self.json_width = self.json_width.max(json.len());
        match v {
            Value::Bool(_) => self.bools = true,
            Value::Number(n) => {
                self.numbers = true;
                let text = match n.as_f64() {
                    Some(f) if !(n.is_i64() || n.is_u64()) => {
                        self.floats = true;
                        real_text(f)
                    }
                    _ => n.to_string(),
                };
                self.number_width = self.number_width.max(text.len());
                if let Some((_, frac)) = text.split_once('.') {
                    self.decimals = self.decimals.max(frac.len());
                }
            }
            Value::String(s) if plain_text(s) => {
                self.texts = true;
                self.text_width = self.text_width.max(s.len());
            }
            _ => self.others = true,
        }
    }

    /// The column kind and its width and decimals.
    fn column(&self) -> (FieldKind, usize, usize) {
        let kinds = [self.bools, self.numbers, self.texts, self.others]
            .iter()
            .filter(|&&k| k)
            .count();
        if kinds == 1 && !self.others {
            if self.bools {
                return (FieldKind::Logical, 1, 0);
            }
            if self.numbers && !self.floats && self.number_width <= MAX_INTEGER {
                return (FieldKind::Integer, self.number_width, 0);
            }
            if self.numbers && self.floats && self.number_width <= MAX_REAL {
                return (FieldKind::Real, self.number_width, self.decimals);
            }
            if self.texts {
                return (FieldKind::Text, self.text_width, 0);
            }
        }
        (FieldKind::Json, self.json_width.max(1), 0)
    }
}

/// A column of the table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Column {
    /// At most 10 ASCII characters.
    pub(crate) name: String,
    /// `C`, `N` or `L`.
    pub(crate) kind: u8,
    pub(crate) width: usize,
    pub(crate) decimals: usize,
    /// The attribute it holds and how; `None` for `chip_id`, `class_id`,
    /// `class_name`.
    pub(crate) attribute: Option<(String, FieldKind)>,
}

/// Whether an attribute key can name its column as it is: 1 to 10 ASCII
/// letters, digits and `_`, starting with a letter.
fn usable_name(key: &str) -> bool {
    (1..=10).contains(&key.len())
        && key.starts_with(|c: char| c.is_ascii_alphabetic())
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The columns of a layer: `chip_id`, `class_id`, `class_name` (widths of
/// their longest values), then one per attribute key in key order. A key
/// that is a usable name (see [`usable_name`]) and not taken (compared
/// without case, as dBASE and GDAL compare names) names its column; any
/// other gets `attr_1`, `attr_2`, … (the next not taken), and the index
/// maps it back: names are never truncated. Errors name the key whose
/// values no column holds.
pub(crate) fn plan(
    stats: &BTreeMap<String, FieldStats>,
    widths: [usize; 3],
) -> Result<Vec<Column>, String> {
    if stats.len() + 3 > MAX_COLUMNS {
        return Err(format!(
            "{} attribute keys: a dbf holds at most {} besides chip_id, class_id and class_name",
            stats.len(),
            MAX_COLUMNS - 3
        ));
    }
    let mut columns = vec![
        Column {
            name: "chip_id".into(),
            kind: b'C',
            width: widths[0].max(1),
            decimals: 0,
            attribute: None,
        },
        Column {
            name: "class_id".into(),
            kind: b'N',
            width: widths[1].max(1),
            decimals: 0,
            attribute: None,
        },
        Column {
            name: "class_name".into(),
            kind: b'C',
            width: widths[2].max(1),
            decimals: 0,
            attribute: None,
        },
    ];
    let mut taken: Vec<String> = columns
        .iter()
        .map(|c| c.name.to_ascii_lowercase())
        .collect();
    let mut names: BTreeMap<&str, String> = BTreeMap::new();
    for key in stats.keys() {
        if usable_name(key) && !taken.contains(&key.to_ascii_lowercase()) {
            taken.push(key.to_ascii_lowercase());
            names.insert(key, key.clone());
        }
    }
    let mut n = 0;
    for key in stats.keys() {
        if names.contains_key(key.as_str()) {
            continue;
        }
        let name = loop {
            n += 1;
            let candidate = format!("attr_{n}");
            if !taken.contains(&candidate) {
                break candidate;
            }
        };
        taken.push(name.clone());
        names.insert(key, name);
    }
    for (key, s) in stats {
        let (kind, width, decimals) = s.column();
        if width > MAX_TEXT {
            return Err(format!(
                "attribute {key:?} has a value of {width} bytes as JSON text; a dbf column \
                 holds at most {MAX_TEXT}"
            ));
        }
        columns.push(Column {
            name: names.get(key.as_str()).cloned().unwrap_or_default(),
            kind: match kind {
                FieldKind::Logical => b'L',
                FieldKind::Integer | FieldKind::Real => b'N',
                FieldKind::Text | FieldKind::Json => b'C',
            },
            width,
            decimals,
            attribute: Some((key.clone(), kind)),
        });
    }
    let record = 1 + columns.iter().map(|c| c.width).sum::<usize>();
    if record > usize::from(u16::MAX) {
        return Err(format!(
            "a record would be {record} bytes; a dbf record holds at most {}",
            u16::MAX
        ));
    }
    Ok(columns)
}

/// The index's description of the attribute columns.
pub(crate) fn index_fields(columns: &[Column]) -> Vec<IndexField> {
    columns
        .iter()
        .filter_map(|c| {
            let (attribute, kind) = c.attribute.clone()?;
            Some(IndexField {
                field: c.name.clone(),
                attribute,
                kind,
            })
        })
        .collect()
}

/// The table's header: version 3 (dBASE III without memo), the fixed date,
/// record count, header and record lengths, language driver 0 (the `.cpg`
/// says UTF-8), the column descriptors and the 0x0D terminator.
pub(crate) fn header(columns: &[Column], records: u32) -> Vec<u8> {
    let header_len = 32 + 32 * columns.len() + 1;
    let record_len = 1 + columns.iter().map(|c| c.width).sum::<usize>();
    let mut h = Vec::with_capacity(header_len);
    h.push(0x03);
    h.extend_from_slice(&DATE);
    h.extend_from_slice(&records.to_le_bytes());
    h.extend_from_slice(&u16::try_from(header_len).unwrap_or(u16::MAX).to_le_bytes());
    h.extend_from_slice(&u16::try_from(record_len).unwrap_or(u16::MAX).to_le_bytes());
    h.extend_from_slice(&[0; 20]);
    for c in columns {
        let mut name = [0u8; 11];
        for (d, s) in name.iter_mut().zip(c.name.bytes().take(10)) {
            *d = s;
        }
        h.extend_from_slice(&name);
        h.push(c.kind);
        h.extend_from_slice(&[0; 4]);
        h.push(u8::try_from(c.width).unwrap_or(u8::MAX));
        h.push(u8::try_from(c.decimals).unwrap_or(u8::MAX));
        h.extend_from_slice(&[0; 14]);
    }
    h.push(0x0D);
    h
}

/// The byte that ends a dBASE file.
pub(crate) const END_OF_FILE: u8 = 0x1A;

/// Appends `text` left-justified (`C`) or right-justified (`N`) in `width`
/// bytes. Values never exceed their column: [`plan`] sized it.
fn put(buf: &mut Vec<u8>, text: &[u8], width: usize, right: bool) {
    let text = &text[..text.len().min(width)];
    let pad = width - text.len();
    if right {
        buf.resize(buf.len() + pad, b' ');
        buf.extend_from_slice(text);
    } else {
        buf.extend_from_slice(text);
        buf.resize(buf.len() + pad, b' ');
    }
}

/// One record: not deleted, then each column's value.
pub(crate) fn record(
    buf: &mut Vec<u8>,
    columns: &[Column],
    chip: &str,
    class_id: u32,
    class_name: &str,
    attributes: &serde_json::Map<String, Value>,
) {
    buf.push(b' ');
    for c in columns {
        let Some((key, kind)) = &c.attribute else {
            match c.name.as_str() {
                "chip_id" => put(buf, chip.as_bytes(), c.width, false),
                "class_id" => put(buf, class_id.to_string().as_bytes(), c.width, true),
                _ => put(buf, class_name.as_bytes(), c.width, false),
            }
            continue;
        };
        let text = match (attributes.get(key), kind) {
            (None, FieldKind::Logical) => "?".to_owned(),
            (None, _) => String::new(),
            (Some(Value::Bool(b)), FieldKind::Logical) => if *b { "T" } else { "F" }.to_owned(),
            (Some(Value::Number(n)), FieldKind::Integer | FieldKind::Real) => match n.as_f64() {
                Some(f) if !(n.is_i64() || n.is_u64()) => real_text(f),
                _ => n.to_string(),
            },
            (Some(Value::String(s)), FieldKind::Text) => s.clone(),
            (Some(v), _) => serde_json::to_string(v).unwrap_or_default(),
        };
        let right = matches!(kind, FieldKind::Integer | FieldKind::Real);
        put(buf, text.as_bytes(), c.width, right);
    }
}

// ------------------------------------------------------------------------
// Reading

/// A column as a table's header describes it.
#[derive(Debug, Clone)]
pub(crate) struct FieldDesc {
    pub(crate) name: String,
    pub(crate) kind: u8,
    pub(crate) decimals: u8,
    offset: usize,
    width: usize,
}

/// A table read whole.
#[derive(Debug)]
pub(crate) struct Table<'a> {
    pub(crate) fields: Vec<FieldDesc>,
    bytes: &'a [u8],
    start: usize,
    record_len: usize,
    pub(crate) records: usize,
}

/// Reads a table's header; errors say what is wrong, for the caller to
/// place in the file.
pub(crate) fn parse(bytes: &[u8]) -> Result<Table<'_>, String> {
    let u16_at = |i: usize| -> Option<usize> {
        Some(usize::from(u16::from_le_bytes(
            bytes.get(i..i + 2)?.try_into().ok()?,
        )))
    };
    if bytes.len() < 32 {
        return Err(format!(
            "{} bytes: too short for a dBASE header",
            bytes.len()
        ));
    }
    let records = bytes
        .get(4..8)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or("no record count")?;
    let header_len = u16_at(8).ok_or("no header length")?;
    let record_len = u16_at(10).ok_or("no record length")?;
    let mut fields = Vec::new();
    let mut offset = 1;
    let mut at = 32;
    while at < header_len.min(bytes.len()) && bytes[at] != 0x0D {
        let d = bytes.get(at..at + 32).ok_or(format!(
            "field descriptor {} is cut short",
            fields.len() + 1
        ))?;
        let name_len = d[..11].iter().position(|&b| b == 0).unwrap_or(11);
        let name = String::from_utf8_lossy(&d[..name_len]).trim().to_owned();
        let width = usize::from(d[16]);
        fields.push(FieldDesc {
            name,
            kind: d[11],
            decimals: d[17],
            offset,
            width,
        });
        offset += width;
        at += 32;
    }
    if offset > record_len {
        return Err(format!(
            "the fields take {offset} bytes, more than the record length {record_len}"
        ));
    }
    let needed = records
        .checked_mul(record_len)
        .and_then(|n| n.checked_add(header_len))
        .ok_or("impossible record count")?;
    if bytes.len() < needed {
        return Err(format!(
            "{records} records of {record_len} bytes after a {header_len}-byte header need \
             {needed} bytes; the file has {}",
            bytes.len()
        ));
    }
    Ok(Table {
        fields,
        bytes,
        start: header_len,
        record_len,
        records,
    })
}

impl Table<'_> {
    /// Record `i` (0-based): whether it is deleted, and its raw values.
    pub(crate) fn record(&self, i: usize) -> Option<(bool, Vec<&[u8]>)> {
        if i >= self.records {
            return None;
        }
        let r = self
            .bytes
            .get(self.start + i * self.record_len..self.start + (i + 1) * self.record_len)?;
        let deleted = r.first() == Some(&b'*');
        let values = self
            .fields
            .iter()
            .map(|f| r.get(f.offset..f.offset + f.width).unwrap_or(&[]))
            .collect();
        Some((deleted, values))
    }
}

/// Decodes a `C` value: UTF-8 when `utf8` and valid, Latin-1 otherwise.
pub(crate) fn text(raw: &[u8], utf8: bool) -> String {
    match (utf8, std::str::from_utf8(raw)) {
        (true, Ok(s)) => s.to_owned(),
        _ => raw.iter().map(|&b| char::from(b)).collect(),
    }
}

/// A number's text as a JSON number: an integer without `.` or exponent,
/// a real otherwise.
fn number(s: &str) -> Option<Value> {
    if !s.contains(['.', 'e', 'E']) {
        if let Ok(i) = s.parse::<i64>() {
            return Some(Value::from(i));
        }
        if let Ok(u) = s.parse::<u64>() {
            return Some(Value::from(u));
        }
    }
    let f: f64 = s.parse().ok()?;
    Number::from_f64(f).map(Value::Number)
}

/// Decodes a value of a column written as `kind`; `Ok(None)` when blank.
pub(crate) fn decode(raw: &[u8], kind: FieldKind, utf8: bool) -> Result<Option<Value>, String> {
    let s = text(raw, utf8);
    let trimmed = s.trim_matches(' ');
    if trimmed.is_empty() {
        return Ok(None);
    }
    match kind {
        FieldKind::Logical => logical(trimmed),
        FieldKind::Integer | FieldKind::Real => number(trimmed)
            .map(Some)
            .ok_or_else(|| format!("{trimmed:?} is not a number")),
        FieldKind::Text => Ok(Some(Value::String(s.trim_end_matches(' ').to_owned()))),
        FieldKind::Json => serde_json::from_str(trimmed)
            .map(Some)
            .map_err(|e| format!("{trimmed:?} is not JSON text: {e}")),
    }
}

fn logical(s: &str) -> Result<Option<Value>, String> {
    match s {
        "T" | "t" | "Y" | "y" => Ok(Some(Value::Bool(true))),
        "F" | "f" | "N" | "n" => Ok(Some(Value::Bool(false))),
        "?" => Ok(None),
        _ => Err(format!(
            "{} is not a logical value (T, F, Y, N or ?)",
            raster_georef::excerpt(s)
        )),
    }
}

/// Decodes a value of a column another tool wrote, by its dBASE type: `L`
/// as a boolean, `N`/`F` as a number (an integer when it has no decimals),
/// anything else as trimmed text; blank (and `?` for `L`) is `None`. A
/// number is a real when its column has decimals or its text a `.`.
/// Unreadable numbers stay text.
pub(crate) fn decode_foreign(raw: &[u8], field: &FieldDesc, utf8: bool) -> Option<Value> {
    let s = text(raw, utf8);
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    match field.kind {
        b'L' | b'l' => logical(s).ok().flatten(),
        b'N' | b'n' | b'F' | b'f' => {
            let n = if field.decimals > 0 {
                s.parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .map(Value::Number)
            } else {
                number(s)
            };
            Some(n.unwrap_or_else(|| Value::String(s.to_owned())))
        }
        _ => Some(Value::String(s.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stats(values: &[Value]) -> FieldStats {
        let mut s = FieldStats::default();
        values.iter().for_each(|v| s.observe(v));
        s
    }

    #[test]
    fn columns_follow_the_values() {
        let cases = [
            (vec![json!(true), json!(false)], (FieldKind::Logical, 1, 0)),
            (vec![json!(2), json!(-10)], (FieldKind::Integer, 3, 0)),
            (
                vec![json!(0.875), json!(1), json!(1.0)],
                (FieldKind::Real, 5, 3),
            ),
            (vec![json!(1.5e-7)], (FieldKind::Real, 10, 8)),
            (vec![json!("Left"), json!("vélo")], (FieldKind::Text, 5, 0)),
            (vec![json!("a"), json!(1)], (FieldKind::Json, 3, 0)),
            (vec![json!(" padded")], (FieldKind::Json, 9, 0)),
            (vec![json!("")], (FieldKind::Json, 2, 0)),
            (vec![json!(null)], (FieldKind::Json, 4, 0)),
            (vec![json!(["a", 1, null])], (FieldKind::Json, 12, 0)),
            // Too long for N(24): 1 and 300 zeros; as JSON text "1e300".
            (
                vec![json!(1e300)],
                (FieldKind::Json, json!(1e300).to_string().len(), 0),
            ),
        ];
        for (values, want) in cases {
            assert_eq!(stats(&values).column(), want, "{values:?}");
        }
    }

    #[test]
    fn names_are_never_truncated() {
        let mut s = BTreeMap::new();
        for key in [
            "score",
            "Score",
            "attr_1",
            "a_very_long_key",
            "vélo",
            "chip_ID",
            "10x",
            "abcdefghij",
        ] {
            s.insert(key.to_owned(), stats(&[json!(1)]));
        }
        let cols = plan(&s, [1, 1, 1]).unwrap();
        let names: Vec<(&str, &str)> = cols[3..]
            .iter()
            .map(|c| (c.attribute.as_ref().unwrap().0.as_str(), c.name.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("10x", "attr_2"),
                ("Score", "Score"),
                ("a_very_long_key", "attr_3"),
                ("abcdefghij", "abcdefghij"),
                ("attr_1", "attr_1"),
                ("chip_ID", "attr_4"),
                ("score", "attr_5"),
                ("vélo", "attr_6"),
            ]
        );
    }

    #[test]
    fn values_round_trip_through_their_columns() {
        let values = [
            json!(true),
            json!(-3),
            json!(u64::MAX),
            json!(0.1),
            json!(-0.0),
            json!(2.0),
            json!("naïve \"q\"\n"),
            json!(["a", 1, null]),
            json!({"k": [1.5e-7, -0.0]}),
            json!(null),
            json!(" x "),
        ];
        for v in values {
            let s = stats(std::slice::from_ref(&v));
            let mut st = BTreeMap::new();
            st.insert("k".to_owned(), s);
            let cols = plan(&st, [1, 1, 1]).unwrap();
            let mut attrs = serde_json::Map::new();
            attrs.insert("k".into(), v.clone());
            let mut buf = Vec::new();
            record(&mut buf, &cols, "c", 7, "n", &attrs);
            let raw = &buf[buf.len() - cols[3].width..];
            let kind = cols[3].attribute.as_ref().unwrap().1;
            assert_eq!(decode(raw, kind, true).unwrap(), Some(v.clone()), "{v}");
            // A missing value is blank and reads back as missing.
            let mut buf = Vec::new();
            record(&mut buf, &cols, "c", 7, "n", &serde_json::Map::new());
            let raw = &buf[buf.len() - cols[3].width..];
            assert_eq!(decode(raw, kind, true).unwrap(), None, "{v}");
        }
    }

    #[test]
    fn bad_tables_are_refused() {
        assert!(parse(b"short").unwrap_err().contains("too short"));
        let cols = plan(&BTreeMap::new(), [3, 1, 3]).unwrap();
        let mut bytes = header(&cols, 2);
        record(&mut bytes, &cols, "abc", 1, "car", &serde_json::Map::new());
        let e = parse(&bytes).unwrap_err();
        assert!(e.contains("2 records of 8 bytes"), "{e}");
        record(&mut bytes, &cols, "abc", 1, "car", &serde_json::Map::new());
        let t = parse(&bytes).unwrap();
        assert_eq!(t.records, 2);
        assert_eq!(
            t.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            ["chip_id", "class_id", "class_name"]
        );
        assert_eq!(t.record(1).unwrap().1[2], b"car");
        assert!(t.record(2).is_none());
    }
}
