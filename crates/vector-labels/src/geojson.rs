//! GeoJSON `FeatureCollection`s.

use std::path::Path;

use serde_json::{Map, Value};

use crate::{Error, Geometry, Polygon, Raw, Result, Ring, not_a_polygon};

/// A GeoJSON file's features, read whole.
#[derive(Debug)]
pub(crate) struct Source {
    features: Vec<Value>,
}

/// Reads the file: its features, EPSG code and property names.
pub(crate) fn open(file: &str, path: &Path) -> Result<(Source, u32, Vec<String>)> {
    let format = |message: String| Error::Format {
        file: file.to_owned(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        file: file.to_owned(),
        source,
    })?;
    let mut root: Value =
        serde_json::from_slice(&bytes).map_err(|e| format(format!("not JSON: {e}")))?;
    if root["type"] != "FeatureCollection" {
        return Err(format("not a GeoJSON FeatureCollection".into()));
    }
    let epsg = crs(&root["crs"]).map_err(|message| Error::Crs {
        file: file.to_owned(),
        message,
    })?;
    let features = match root.get_mut("features").map(Value::take) {
        Some(Value::Array(features)) => features,
        _ => {
            return Err(format(
                "a FeatureCollection without a features array".into(),
            ));
        }
    };
    let mut fields: Vec<String> = Vec::new();
    for feature in &features {
        if let Some(properties) = feature["properties"].as_object() {
            for key in properties.keys() {
                if !fields.contains(key) {
                    fields.push(key.clone());
                }
            }
        }
    }
    Ok((Source { features }, epsg, fields))
}

/// The EPSG code of a legacy `crs` member; WGS 84 (4326) without one.
fn crs(member: &Value) -> std::result::Result<u32, String> {
    if member.is_null() {
        return Ok(4326);
    }
    let name = match (&member["type"], member["properties"]["name"].as_str()) {
        (Value::String(t), Some(name)) if t == "name" => name,
        _ => return Err(format!("a crs member that names no CRS: {member}")),
    };
    let upper = name.to_ascii_uppercase();
    if upper.ends_with("CRS84") {
        return Ok(4326);
    }
    upper
        .strip_prefix("URN:OGC:DEF:CRS:EPSG:")
        .map(|rest| rest.rsplit(':').next().unwrap_or(rest))
        .or_else(|| upper.strip_prefix("EPSG:"))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("the crs {name:?} is not an EPSG code"))
}

impl Source {
    pub(crate) fn next(&mut self, file: &str, index: usize) -> Result<Option<Raw>> {
        let Some(feature) = self.features.get(index) else {
            return Ok(None);
        };
        let geometry = geometry(&feature["geometry"]).map_err(|message| Error::Feature {
            file: file.to_owned(),
            index,
            message,
        })?;
        let attributes = match &feature["properties"] {
            Value::Object(map) => map.clone(),
            _ => Map::new(),
        };
        Ok(Some((geometry, attributes)))
    }
}

/// A GeoJSON geometry as a label shape; `None` for a null or empty one.
fn geometry(value: &Value) -> std::result::Result<Option<Geometry>, String> {
    if value.is_null() {
        return Ok(None);
    }
    let coordinates = &value["coordinates"];
    let geometry = match value["type"].as_str() {
        Some("Polygon") => Geometry::Polygon(polygon(coordinates)?),
        Some("MultiPolygon") => Geometry::MultiPolygon(
            array(coordinates)?
                .iter()
                .map(polygon)
                .collect::<std::result::Result<_, _>>()?,
        ),
        Some(kind) => return Err(not_a_polygon(kind)),
        None => return Err(format!("a geometry without a type: {value}")),
    };
    let empty = match &geometry {
        Geometry::Polygon(p) => p.is_empty(),
        Geometry::MultiPolygon(m) => m.iter().all(Vec::is_empty),
        Geometry::BBox(_) => false,
    };
    Ok((!empty).then_some(geometry))
}

fn array(value: &Value) -> std::result::Result<&Vec<Value>, String> {
    value
        .as_array()
        .ok_or_else(|| format!("coordinates that are not an array: {value}"))
}

fn polygon(value: &Value) -> std::result::Result<Polygon, String> {
    array(value)?.iter().map(ring).collect()
}

fn ring(value: &Value) -> std::result::Result<Ring, String> {
    array(value)?
        .iter()
        .map(|position| match position.as_array().map(Vec::as_slice) {
            Some([x, y, ..]) => match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => Ok([x, y]),
                _ => Err(format!("a position that is not numbers: {position}")),
            },
            _ => Err(format!("a position that is not [x, y]: {position}")),
        })
        .collect()
}
