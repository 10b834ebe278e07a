//! A small element tree read with quick-xml: VOC annotation files are tiny,
//! so each is read whole and then looked up by element path.
//!
//! Only elements and their text matter: attributes, comments, processing
//! instructions and the DOCTYPE are skipped; character references and the
//! five predefined entities are resolved; any other entity is an error.

use std::path::Path;

use labels_model::{Error, Result};
use quick_xml::Reader;
use quick_xml::events::Event;

/// An element: its (local) name, its text (the concatenation of its own
/// character data), its children, and where it starts in the file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Element {
    pub(crate) name: String,
    pub(crate) text: String,
    pub(crate) children: Vec<Element>,
    /// 1-based line of the start tag.
    pub(crate) line: usize,
}

impl Element {
    /// The first child named `name`.
    pub(crate) fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The children named `name`.
    pub(crate) fn children_named<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// 1-based line number of byte `offset` in `text`.
fn line_at(text: &str, offset: u64) -> usize {
    let end = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(text.len());
    1 + text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// Parses `text` (the contents of `file`) into its root element.
pub(crate) fn parse(text: &str, file: &Path) -> Result<Element> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let err = |line: usize, msg: String| Error::invalid(file, None, format!("line {line}"), msg);
    loop {
        let start = reader.buffer_position();
        let event = reader.read_event().map_err(|e| {
            err(
                line_at(text, reader.error_position()),
                format!(
                    "malformed XML: {}",
                    raster_georef::shorten_quotes(&e.to_string())
                ),
            )
        })?;
        let line = line_at(text, start);
        match event {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_owned();
                stack.push(Element {
                    name,
                    text: String::new(),
                    children: Vec::new(),
                    line,
                });
            }
            Event::Empty(e) => {
                let name = e.local_name().as_ref().to_owned();
                let el = Element {
                    name,
                    text: String::new(),
                    children: Vec::new(),
                    line,
                };
                attach(&mut stack, &mut root, el).map_err(|m| err(line, m))?;
            }
            Event::End(_) => {
                // quick-xml checks that end tags match their start tags.
                if let Some(el) = stack.pop() {
                    attach(&mut stack, &mut root, el).map_err(|m| err(line, m))?;
                }
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                push_text(&mut stack, &content).map_err(|m| err(line, m))?;
            }
            Event::CData(t) => {
                let content = t.xml10_content();
                push_text(&mut stack, &content).map_err(|m| err(line, m))?;
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => match &*r {
                        "lt" => "<".to_owned(),
                        "gt" => ">".to_owned(),
                        "amp" => "&".to_owned(),
                        "apos" => "'".to_owned(),
                        "quot" => "\"".to_owned(),
                        other => return Err(err(line, format!("unknown entity &{other};"))),
                    },
                    Err(e) => return Err(err(line, format!("bad character reference: {e}"))),
                };
                push_text(&mut stack, &resolved).map_err(|m| err(line, m))?;
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(err(open.line, format!("<{}> is never closed", open.name)));
    }
    root.ok_or_else(|| err(1, "the file holds no XML element".to_owned()))
}

fn attach(
    stack: &mut [Element],
    root: &mut Option<Element>,
    el: Element,
) -> std::result::Result<(), String> {
    match stack.last_mut() {
        Some(parent) => {
            parent.children.push(el);
            Ok(())
        }
        None if root.is_none() => {
            *root = Some(el);
            Ok(())
        }
        None => Err(format!("a second root element <{}>", el.name)),
    }
}

fn push_text(stack: &mut [Element], text: &str) -> std::result::Result<(), String> {
    match stack.last_mut() {
        Some(el) => {
            el.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err("text outside the root element".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_text_and_entities() {
        let xml = "\u{feff}<?xml version=\"1.0\"?>\n<!-- c -->\n<annotation verified=\"yes\">\n  <name>a &amp; b &lt;c&gt; &#233;&#x20AC;<![CDATA[<x>]]></name>\n  <size><width>3</width><empty/></size>\n</annotation>\n";
        let root = parse(xml.trim_start_matches('\u{feff}'), Path::new("f.xml")).unwrap();
        assert_eq!(root.name, "annotation");
        assert_eq!(root.line, 3);
        assert_eq!(root.child("name").unwrap().text, "a & b <c> é€<x>");
        let size = root.child("size").unwrap();
        assert_eq!(size.line, 5);
        assert_eq!(size.child("width").unwrap().text, "3");
        assert_eq!(size.children_named("empty").count(), 1);
    }

    #[test]
    fn errors_give_the_line() {
        for (xml, want) in [
            ("<a>\n<b>\n</a>", "f.xml: line 3: malformed XML"),
            ("<a>\n<b>", "f.xml: line 2: <b> is never closed"),
            ("<a/>\n<b/>", "f.xml: line 2: a second root element <b>"),
            ("<a>\n&foo;</a>", "f.xml: line 2: unknown entity &foo;"),
            ("", "f.xml: line 1: the file holds no XML element"),
            ("<a/>x", "f.xml: line 1: text outside the root element"),
        ] {
            let e = parse(xml, Path::new("f.xml")).unwrap_err().to_string();
            assert!(e.starts_with(want), "{xml:?}: {e}");
        }
    }
}
