//! Coordinate reference systems known by their EPSG code.
//!
//! A [`Crs`] answers three questions about an EPSG code: is it geographic
//! (longitude/latitude) or projected, what is its ESRI-flavoured WKT for a
//! `.prj` sidecar, and where on WGS 84 (longitude/latitude, as RFC 7946
//! GeoJSON wants) is a point given in it, and back. Everything is pure Rust: the
//! definitions come from the [`crs_definitions`] crate (PostGIS's
//! `spatial_ref_sys`: a PROJ.4 string and an OGC WKT1 text per code), the
//! arithmetic from [`proj4rs`] (a port of PROJ's projections).
//!
//! # Which codes
//!
//! [`Crs::from_epsg`] knows the 5,506 EPSG codes for which `crs-definitions`
//! 0.6 has a PROJ.4 string and a WKT1 `PROJCS` (4,961 projected CRSs) or
//! `GEOGCS` (545 geographic 2D CRSs), deprecated ones included. Everything
//! else is [`Error::UnknownCrs`]: codes above 65,535 or absent from the data,
//! geocentric CRSs (`GEOCCS`, e.g. 4978), geographic 3D CRSs (4979, the
//! `BOUNDCRS`/`GEOGCRS` entries), compound CRSs (`COMPD_CS`, e.g. 5498) and
//! the ten entries without a PROJ.4 string or a WKT (22300, 29701, 6200, …).
//! Whether a code is geographic comes from its definition (`+proj=longlat`,
//! which always agrees with the WKT1 keyword), never from its number: EPSG
//! numbers geographic CRSs outside 4000–4999 (3819, 3824) and projected ones
//! inside it (4087, 4088).
//!
//! # Conversion to WGS 84
//!
//! [`Crs::to_wgs84`] inverts the projection and applies the datum shift the
//! definition carries. It works for 4,866 of the codes (4,441 projected, 425
//! geographic):
//!
//! * WGS 84, and datums PROJ treats as equal to it (`+towgs84=0,0,0`: ETRS89,
//!   NAD83, RGF93, GDA94, …), convert with the projection's own accuracy:
//!   under a micrometre from PROJ's `cs2cs` in the tests.
//! * Datums with a Helmert shift in the definition get that shift: the
//!   `+towgs84=` of the PROJ.4 string, or for a named PROJ.4 datum
//!   (`+datum=OSGB36` in EPSG:27700) the `TOWGS84` of the WKT, which is
//!   EPSG's. It is the transformation PROJ uses too when it has no grid file
//!   (British National Grid agrees with `cs2cs` to 0.1 µm), but such
//!   transformations are themselves good only to a metre or a few.
//! * Datums on the GRS 1980 or WGS 84 ellipsoid without any shift in the
//!   definition (about 930 codes, mostly ITRF-aligned national datums) are
//!   taken as WGS 84, as PROJ's "ballpark" transformation does: the error is
//!   the datum's offset from WGS 84, about a metre.
//!
//! The other 640 are refused with [`Error::Crs`] rather than answered
//! wrongly: 402 definitions on another ellipsoid without a shift (Pulkovo-,
//! Bessel-, Clarke-based ones and spheres: ignoring the shift would be off by
//! up to hundreds of metres), 237 needing a grid file labelstore does not
//! ship (NAD27's `conus`, New Zealand's `nzgd2kgrid0005.gsb`) and EPSG:8441,
//! whose Laborde projection `proj4rs` lacks.
//!
//! [`Crs::from_wgs84`] goes the other way (the datum shift reversed, then
//! the projection), for the same codes; it refuses what `to_wgs84` refuses,
//! and agrees with `cs2cs` to 5 nm in the tests. The two directions are not
//! exact inverses of each other: a round trip comes back within 10 nm where
//! the inverse projection is closed-form (Transverse Mercator, Mercator),
//! ~1 µm where `proj4rs` iterates it (Lambert Conformal Conic), and through a
//! 7-parameter Helmert shift, which PROJ.4 semantics undo to first order
//! only, up to a millimetre (OSGB 1936). A caller that needs a point to come
//! back exactly polishes the longitude/latitude against `from_wgs84`, as the
//! GeoJSON writer does.
//!
//! **Axis order.** Coordinates are in traditional GIS order everywhere, as
//! GDAL's "data axis to CRS axis mapping" 2,1 for EPSG:4326: `x` is the
//! easting (for a geographic CRS the longitude) and `y` the northing (the
//! latitude), whatever order the EPSG definition gives its axes; the result is
//! `(longitude, latitude)` in degrees. A geographic CRS's coordinates are in
//! its own angular unit and relative to its own prime meridian (grads from
//! Paris for EPSG:4807), a projected one's in its linear unit (US survey feet
//! for EPSG:2227). The few south-oriented grids (`+axis=wsu`, e.g. EPSG:2046)
//! take their first axis, the westing, as `x`.
//!
//! # ESRI WKT
//!
//! [`Crs::esri_wkt`] writes the WKT1 dialect of ArcGIS `.prj` files. Its
//! structure and numbers come from the `crs-definitions` WKT1; the names ESRI
//! gives to CRSs, datums, spheroids, prime meridians and units (which follow
//! no rule: "WGS_1984_UTM_Zone_32N", "GCS_RGF_1993", "D_OSGB_1936") come from
//! `crs/esri.tsv`, generated with GDAL 3.6.2 / PROJ 9.1.1 by
//! `crs/gen_esri_tsv.py`. It covers 5,252 codes (4,727 projected, 525
//! geographic); checked against GDAL for every one of them
//! (`gen_esri_tsv.py --check`), 4,312 are GDAL's `gdalsrsinfo -o wkt_esri`
//! text byte for byte and the other 940 differ only in the 15th significant
//! digit or in a unit's name: we write ESRI's own ("Foot_US", "Foot") where
//! GDAL 3.6 writes EPSG's ("US survey foot"; GDAL reads both). The ESRI
//! projections written are Transverse_Mercator, Gauss_Kruger,
//! Lambert_Conformal_Conic (from 1SP and 2SP), Albers, Double_Stereographic,
//! Cassini, Lambert_Azimuthal_Equal_Area, Mercator, Mercator_Auxiliary_Sphere
//! (EPSG:3857), Stereographic_North_Pole and _South_Pole,
//! Hotine_Oblique_Mercator_Azimuth_Natural_Origin and _Center,
//! Rectified_Skew_Orthomorphic_Natural_Origin and _Center,
//! Equidistant_Cylindrical, Plate_Carree, Polyconic, Azimuthal_Equidistant,
//! Behrmann, New_Zealand_Map_Grid and Laborde_Oblique_Mercator. The other 254
//! codes get [`Error::Crs`]: those GDAL itself has no ESRI form for
//! (south-oriented Transverse Mercator, polar stereographic variant A such as
//! UPS, Lambert Conic Near-Conformal), Krovak (whose ESRI parameters GDAL
//! takes from elsewhere), and those whose GDAL definition differs from the
//! `crs-definitions` one (EPSG revised the CRS between the two databases, or
//! ESRI has its own variant).
//!
//! ```
//! use raster_georef::Crs;
//! let utm = Crs::from_epsg(32632)?;
//! assert!(!utm.is_geographic());
//! assert_eq!(utm.name(), "WGS 84 / UTM zone 32N");
//! assert!(utm.esri_wkt()?.starts_with(r#"PROJCS["WGS_1984_UTM_Zone_32N",GEOGCS["GCS_WGS_1984""#));
//! let (lon, lat) = utm.to_wgs84(500000.0, 0.0)?;
//! assert!((lon - 9.0).abs() < 1e-12 && lat.abs() < 1e-12);
//! let (x, y) = utm.from_wgs84(9.0, 0.0)?;
//! assert!((x - 500000.0).abs() < 1e-6 && y.abs() < 1e-6);
//! # Ok::<(), raster_georef::Error>(())
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use proj4rs::Proj;
use proj4rs::transform::{Transform, TransformClosure, transform};

use crate::{Error, Result};

/// The PROJ.4 definition of the target, WGS 84 longitude/latitude.
const WGS84_PROJ4: &str = "+proj=longlat +datum=WGS84 +no_defs";

/// A coordinate reference system known by its EPSG code.
///
/// Covers the 5,506 projected and geographic 2D CRSs of `crs-definitions`
/// 0.6. [`to_wgs84`](Self::to_wgs84) works for 4,866 of them and
/// [`esri_wkt`](Self::esri_wkt) for 5,252; for the others they return
/// [`Error::Crs`] rather than a wrong answer: a datum shift to WGS 84 that is
/// unknown or needs a grid file, an ESRI form GDAL does not have or that
/// differs from this definition. Coordinates are in traditional GIS order:
/// `x` is the easting or longitude, `y` the northing or latitude. The module
/// documentation of `crs.rs` details all of this.
#[derive(Clone)]
pub struct Crs {
    epsg: u32,
    def: crs_definitions::Def,
    geographic: bool,
    name: &'static str,
    to_wgs84: Result<Pipeline, String>,
}

/// What [`Crs::to_wgs84`] needs, prepared once by [`Crs::from_epsg`].
#[derive(Clone)]
struct Pipeline {
    /// Nothing to do: the CRS is WGS 84 longitude/latitude in degrees.
    identity: bool,
    /// Radians per unit of a geographic CRS's coordinates (unused when projected).
    angle_to_rad: f64,
    src: Proj,
    dst: Proj,
}

impl fmt::Debug for Crs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Crs")
            .field("epsg", &self.epsg)
            .field("name", &self.name)
            .field("geographic", &self.geographic)
            .field("proj4", &self.def.proj4)
            .finish()
    }
}

impl Crs {
    /// Looks up an EPSG code; [`Error::UnknownCrs`] for a code this build
    /// does not cover: geocentric, geographic 3D and compound CRSs, codes
    /// above 65,535 or missing from `crs-definitions`.
    pub fn from_epsg(code: u32) -> Result<Crs> {
        let def = u16::try_from(code)
            .ok()
            .and_then(crs_definitions::from_code)
            .ok_or(Error::UnknownCrs(code))?;
        let geographic = match (def.wkt.get(..7), proj4_value(def.proj4, "proj")) {
            (Some("GEOGCS["), Some("longlat")) => true,
            (Some("PROJCS["), Some(p)) if p != "longlat" && p != "geocent" => false,
            _ => return Err(Error::UnknownCrs(code)),
        };
        let name = wkt_name(def.wkt).ok_or(Error::UnknownCrs(code))?;
        let to_wgs84 = Pipeline::new(&def, geographic);
        Ok(Crs {
            epsg: code,
            def,
            geographic,
            name,
            to_wgs84,
        })
    }

    /// The EPSG code.
    pub fn epsg(&self) -> u32 {
        self.epsg
    }

    /// `true` for a geographic 2D CRS (longitude/latitude), `false` for a
    /// projected one; read from the definition, not guessed from the code.
    pub fn is_geographic(&self) -> bool {
        self.geographic
    }

    /// The CRS's name as its WKT1 definition gives it, e.g.
    /// "WGS 84 / UTM zone 32N" or "WGS 84"; ASCII without `|` for every
    /// covered code, so fit for a GeoTIFF citation key.
    pub fn name(&self) -> &str {
        self.name
    }

    /// The CRS as ESRI-flavoured WKT1 on one line, the content of a `.prj`
    /// file, as GDAL writes it (`gdalsrsinfo -o wkt_esri EPSG:n`), with ESRI's
    /// names for units ("Foot_US").
    ///
    /// [`Error::Crs`] when this code has no ESRI form this build can write.
    pub fn esri_wkt(&self) -> Result<String> {
        esri::wkt(self.def.wkt, self.epsg).map_err(|message| self.error(message))
    }

    /// Identifies the CRS of a `.prj` file (ESRI-flavoured WKT1, one
    /// object): by its top-level `AUTHORITY["EPSG",…]` when it has one, else
    /// by finding the EPSG code whose [`esri_wkt`](Self::esri_wkt) says the
    /// same thing (the same keywords and names, ignoring case, and numbers
    /// within 1e-12 relative), among the codes `crs/esri.tsv` gives the
    /// text's CRS name. That is what GDAL writes for an EPSG code
    /// (`ogr2ogr -t_srs EPSG:n` to a Shapefile).
    ///
    /// [`Error::UnknownWkt`] when the text is not WKT1 or matches no code.
    pub fn from_esri_wkt(text: &str) -> Result<Crs> {
        let code = esri::identify(text.trim()).map_err(Error::UnknownWkt)?;
        Crs::from_epsg(code)
    }

    /// Converts map coordinates in this CRS to WGS 84 `(longitude, latitude)`
    /// in degrees.
    ///
    /// `x` is the easting and `y` the northing, or for a geographic CRS the
    /// longitude and latitude in its own angular unit (degrees for all but
    /// a few) — traditional GIS order even where EPSG puts latitude first.
    /// [`Error::Crs`] for coordinates that are not finite or not on the
    /// projection, and for a CRS whose datum shift to WGS 84 is not known
    /// (another ellipsoid and no `+towgs84`, or a grid file needed).
    pub fn to_wgs84(&self, x: f64, y: f64) -> Result<(f64, f64)> {
        let mut point = [(x, y)];
        self.to_wgs84_many(&mut point)?;
        Ok(point[0])
    }

    /// Refuses a point that is not finite, naming it.
    fn check_finite(&self, points: &[(f64, f64)]) -> Result<()> {
        match points
            .iter()
            .position(|(x, y)| !x.is_finite() || !y.is_finite())
        {
            Some(i) => {
                let (x, y) = points[i];
                Err(self.error(format!("point {i} ({x}, {y}) is not finite")))
            }
            None => Ok(()),
        }
    }

    /// Converts many points in place, as [`to_wgs84`](Self::to_wgs84) does
    /// one; faster than calling it per point.
    ///
    /// On error the message names the first point that failed, and the
    /// slice holds partly converted values.
    pub fn to_wgs84_many(&self, points: &mut [(f64, f64)]) -> Result<()> {
        let pipeline = self.to_wgs84.as_ref().map_err(|m| self.error(m.clone()))?;
        self.check_finite(points)?;
        if self.geographic {
            let limit = std::f64::consts::FRAC_PI_2 * (1.0 + 1e-12);
            if let Some(i) = points
                .iter()
                .position(|&(_, lat)| (lat * pipeline.angle_to_rad).abs() > limit)
            {
                let (x, y) = points[i];
                return Err(self.error(format!("point {i} ({x}, {y}): latitude beyond ±90°")));
            }
        }
        if pipeline.identity {
            return Ok(());
        }
        if self.geographic {
            let k = pipeline.angle_to_rad;
            for p in points.iter_mut() {
                *p = (p.0 * k, p.1 * k);
            }
        }
        let mut batch = Batch { points, failed: 0 };
        transform(&pipeline.src, &pipeline.dst, &mut batch).map_err(|e| {
            self.error(format!(
                "point {} cannot be converted to WGS 84: {e}",
                batch.failed
            ))
        })?;
        for (i, p) in batch.points.iter_mut().enumerate() {
            let (lon, lat) = (p.0.to_degrees(), p.1.to_degrees());
            if !lon.is_finite() || !lat.is_finite() {
                return Err(self.error(format!("point {i} cannot be converted to WGS 84")));
            }
            *p = (lon, lat);
        }
        Ok(())
    }

    /// Converts WGS 84 `(longitude, latitude)` in degrees to map
    /// coordinates in this CRS: the inverse of [`to_wgs84`](Self::to_wgs84),
    /// with the same datum shift (reversed) and the same axis order (`x` the
    /// easting or longitude, `y` the northing or latitude, in the CRS's own
    /// unit and relative to its own prime meridian).
    ///
    /// [`Error::Crs`] for coordinates that are not finite, a latitude beyond
    /// ±90°, a point off the projection, and for the CRSs
    /// [`to_wgs84`](Self::to_wgs84) refuses.
    pub fn from_wgs84(&self, lon: f64, lat: f64) -> Result<(f64, f64)> {
        let mut point = [(lon, lat)];
        self.from_wgs84_many(&mut point)?;
        Ok(point[0])
    }

    /// Converts many points in place, as [`from_wgs84`](Self::from_wgs84)
    /// does one; faster than calling it per point.
    ///
    /// On error the message names the first point that failed, and the
    /// slice holds partly converted values.
    pub fn from_wgs84_many(&self, points: &mut [(f64, f64)]) -> Result<()> {
        let pipeline = self.to_wgs84.as_ref().map_err(|m| self.error(m.clone()))?;
        self.check_finite(points)?;
        if let Some(i) = points
            .iter()
            .position(|&(_, lat)| lat.abs() > 90.0 * (1.0 + 1e-12))
        {
            let (x, y) = points[i];
            return Err(self.error(format!("point {i} ({x}, {y}): latitude beyond ±90°")));
        }
        if pipeline.identity {
            return Ok(());
        }
        for p in points.iter_mut() {
            *p = (p.0.to_radians(), p.1.to_radians());
        }
        let mut batch = Batch { points, failed: 0 };
        transform(&pipeline.dst, &pipeline.src, &mut batch).map_err(|e| {
            self.error(format!(
                "point {} cannot be converted from WGS 84: {e}",
                batch.failed
            ))
        })?;
        let k = if self.geographic {
            pipeline.angle_to_rad
        } else {
            1.0
        };
        for (i, p) in batch.points.iter_mut().enumerate() {
            let (x, y) = (p.0 / k, p.1 / k);
            if !x.is_finite() || !y.is_finite() {
                return Err(self.error(format!("point {i} cannot be converted from WGS 84")));
            }
            *p = (x, y);
        }
        Ok(())
    }

    fn error(&self, message: String) -> Error {
        Error::Crs {
            epsg: self.epsg,
            message,
        }
    }
}

impl Pipeline {
    /// Prepares the conversion, or says why this CRS cannot be converted.
    fn new(def: &crs_definitions::Def, geographic: bool) -> Result<Pipeline, String> {
        check_datum(def.proj4)?;
        let angle_to_rad = if geographic {
            geographic_unit(def.wkt)?
        } else {
            1.0
        };
        let identity = geographic
            && def.proj4 == WGS84_PROJ4
            && (angle_to_rad - 1f64.to_radians()).abs() < 1e-15;
        let proj4 = with_wkt_towgs84(def)?;
        let src = Proj::from_proj_string(&proj4).map_err(|e| {
            let grids = proj4_value(def.proj4, "nadgrids")
                .or_else(|| datum_grids(proj4_value(def.proj4, "datum")?));
            match grids {
                Some(g) => format!(
                    "its datum shift needs the grid file(s) {g}, which labelstore does not ship"
                ),
                None => format!("PROJ.4 definition {:?} not usable: {e}", def.proj4),
            }
        })?;
        let dst =
            Proj::from_proj_string(WGS84_PROJ4).map_err(|e| format!("WGS 84 definition: {e}"))?;
        Ok(Pipeline {
            identity,
            angle_to_rad,
            src,
            dst,
        })
    }
}

/// The PROJ.4 definition, with the WKT's `TOWGS84` added where it names a
/// datum (`+datum=OSGB36`) rather than giving its shift: PROJ.4's built-in
/// parameters for a datum are older, rounded variants of EPSG's (OSGB 1936's
/// differ by 4 mm), and PROJ itself uses EPSG's.
fn with_wkt_towgs84(def: &crs_definitions::Def) -> Result<String, String> {
    let proj4 = def.proj4.to_owned();
    if proj4_value(&proj4, "datum").is_none()
        || proj4_value(&proj4, "towgs84").is_some()
        || proj4_value(&proj4, "nadgrids").is_some()
    {
        return Ok(proj4);
    }
    let root = wkt::parse(def.wkt).map_err(|e| format!("unreadable WKT: {e}"))?;
    let geogcs = if root.keyword == "GEOGCS" {
        Some(&root)
    } else {
        root.child("GEOGCS")
    };
    let towgs84 = geogcs
        .and_then(|g| g.child("DATUM"))
        .and_then(|d| d.child("TOWGS84"));
    let Some(towgs84) = towgs84 else {
        return Ok(proj4);
    };
    let values: Option<Vec<&str>> = (0..towgs84.args.len()).map(|i| towgs84.token(i)).collect();
    match values {
        Some(v) if v.len() == 3 || v.len() == 7 => Ok(format!("{proj4} +towgs84={}", v.join(","))),
        _ => Err("its WKT has a malformed TOWGS84".to_owned()),
    }
}

/// The grids PROJ.4's built-in datums (as `proj4rs` has them) need.
fn datum_grids(datum: &str) -> Option<&'static str> {
    datum
        .eq_ignore_ascii_case("NAD27")
        .then_some("@conus,@alaska,@ntv2_0.gsb,@ntv1_can.dat")
}

/// Refuses a definition whose datum shift to WGS 84 is unknown, where
/// PROJ.4 semantics would silently apply none.
fn check_datum(proj4: &str) -> Result<(), String> {
    if ["datum", "towgs84", "nadgrids"]
        .iter()
        .any(|k| proj4_value(proj4, k).is_some())
    {
        return Ok(());
    }
    match proj4_value(proj4, "ellps") {
        // Ellipsoids of WGS 84 and of the ITRF-aligned datums.
        Some("GRS80" | "WGS84") => Ok(()),
        ellps => Err(format!(
            "no datum shift to WGS 84 is known for it (its PROJ.4 definition {proj4:?} has \
             {} but no +towgs84), so its coordinates could be off by up to hundreds of metres",
            ellps.map_or("its own ellipsoid".to_owned(), |e| format!("+ellps={e}"))
        )),
    }
}

/// Radians per unit of a geographic CRS's coordinates, from the WKT1's last
/// `UNIT`.
fn geographic_unit(wkt: &str) -> Result<f64, String> {
    let root = wkt::parse(wkt).map_err(|e| format!("unreadable WKT: {e}"))?;
    let factor = root
        .child("UNIT")
        .and_then(|u| u.number(1))
        .filter(|f| f.is_finite() && *f > 0.0)
        .ok_or("WKT has no angular unit")?;
    // EPSG's degree is π/180 rounded to 15 digits: use the exact value.
    Ok(if (factor - 1f64.to_radians()).abs() < 1e-15 {
        1f64.to_radians()
    } else {
        factor
    })
}

/// The value of `+key=value` in a PROJ.4 string.
fn proj4_value<'a>(proj4: &'a str, key: &str) -> Option<&'a str> {
    proj4.split_whitespace().find_map(|t| {
        let (k, v) = t.strip_prefix('+')?.split_once('=')?;
        (k == key).then_some(v)
    })
}

/// The name of a WKT1 object: its first quoted string.
fn wkt_name(wkt: &'static str) -> Option<&'static str> {
    let start = wkt.find('"')? + 1;
    let len = wkt[start..].find('"')?;
    Some(&wkt[start..start + len])
}

/// Points handed to `proj4rs`, remembering which one failed.
struct Batch<'a> {
    points: &'a mut [(f64, f64)],
    failed: usize,
}

impl Transform for Batch<'_> {
    fn transform_coordinates<F: TransformClosure>(
        &mut self,
        f: &mut F,
    ) -> proj4rs::errors::Result<()> {
        for (i, p) in self.points.iter_mut().enumerate() {
            self.failed = i;
            let (x, y, _) = f(p.0, p.1, 0.0)?;
            *p = (x, y);
        }
        Ok(())
    }
}

/// A just-enough WKT1 reader: keywords, bracketed arguments, quoted strings,
/// numbers and bare words (`EAST`).
mod wkt {
    /// One `KEYWORD[arg,…]` node.
    #[derive(Debug)]
    pub(super) struct Node<'a> {
        pub(super) keyword: &'a str,
        pub(super) args: Vec<Arg<'a>>,
    }

    /// An argument of a node.
    #[derive(Debug)]
    pub(super) enum Arg<'a> {
        /// A quoted string, without its quotes.
        Str(&'a str),
        /// A number or a bare word, as written.
        Token(&'a str),
        Node(Node<'a>),
    }

    impl<'a> Node<'a> {
        /// The first child node with this keyword.
        pub(super) fn child(&self, keyword: &str) -> Option<&Node<'a>> {
            self.children().find(|n| n.keyword == keyword)
        }

        /// The child nodes, in order.
        pub(super) fn children(&self) -> impl Iterator<Item = &Node<'a>> {
            self.args.iter().filter_map(|a| match a {
                Arg::Node(n) => Some(n),
                _ => None,
            })
        }

        /// The quoted string at argument `i`.
        pub(super) fn string(&self, i: usize) -> Option<&'a str> {
            match self.args.get(i)? {
                Arg::Str(s) => Some(s),
                _ => None,
            }
        }

        /// The number at argument `i`, as written.
        pub(super) fn token(&self, i: usize) -> Option<&'a str> {
            match self.args.get(i)? {
                Arg::Token(s) => Some(s),
                _ => None,
            }
        }

        /// The number at argument `i`.
        pub(super) fn number(&self, i: usize) -> Option<f64> {
            self.token(i)?.parse().ok()
        }

        /// The EPSG code of this node's `AUTHORITY["EPSG","n"]`.
        pub(super) fn epsg(&self) -> Option<u32> {
            let a = self.child("AUTHORITY")?;
            (a.string(0)? == "EPSG").then_some(())?;
            a.string(1)?.parse().ok()
        }
    }

    /// Parses one WKT1 object.
    pub(super) fn parse(text: &str) -> Result<Node<'_>, String> {
        let mut p = Parser { text, pos: 0 };
        let node = p.node()?;
        if p.pos != text.len() {
            return Err(format!("trailing text at {}", p.pos));
        }
        Ok(node)
    }

    struct Parser<'a> {
        text: &'a str,
        pos: usize,
    }

    impl<'a> Parser<'a> {
        fn rest(&self) -> &'a str {
            &self.text[self.pos..]
        }

        fn node(&mut self) -> Result<Node<'a>, String> {
            let rest = self.rest();
            let len = rest
                .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .unwrap_or(rest.len());
            let keyword = &rest[..len];
            self.pos += len;
            if keyword.is_empty() || !self.rest().starts_with('[') {
                return Err(format!("expected KEYWORD[ at {}", self.pos));
            }
            self.pos += 1;
            let mut args = Vec::new();
            loop {
                args.push(self.arg()?);
                match self.rest().chars().next() {
                    Some(',') => self.pos += 1,
                    Some(']') => {
                        self.pos += 1;
                        return Ok(Node { keyword, args });
                    }
                    _ => return Err(format!("expected , or ] at {}", self.pos)),
                }
            }
        }

        fn arg(&mut self) -> Result<Arg<'a>, String> {
            let rest = self.rest();
            if let Some(quoted) = rest.strip_prefix('"') {
                let len = quoted
                    .find('"')
                    .ok_or_else(|| format!("unterminated string at {}", self.pos))?;
                self.pos += len + 2;
                return Ok(Arg::Str(&quoted[..len]));
            }
            let len = rest.find([',', ']', '[']).unwrap_or(rest.len());
            if rest[len..].starts_with('[') {
                return self.node().map(Arg::Node);
            }
            if len == 0 {
                return Err(format!("empty argument at {}", self.pos));
            }
            self.pos += len;
            Ok(Arg::Token(&rest[..len]))
        }
    }
}

/// ESRI WKT from the `crs-definitions` WKT1 and the names in `crs/esri.tsv`.
mod esri {
    use super::{HashMap, LazyLock, wkt};
    use std::fmt::Write;

    /// The names GDAL gives in ESRI WKT, by EPSG code.
    struct Names {
        /// Unit code → (ESRI name, value as written).
        units: HashMap<u32, (&'static str, &'static str)>,
        /// Geographic CRS code → GCS, datum, spheroid, prime meridian names and
        /// the prime meridian's value as written.
        geographic: HashMap<u32, [&'static str; 5]>,
        /// Projected CRS code → PROJCS name and, when not the default, ESRI
        /// projection name.
        projected: HashMap<u32, (&'static str, Option<&'static str>)>,
    }

    static NAMES: LazyLock<Names> = LazyLock::new(|| {
        let mut names = Names {
            units: HashMap::new(),
            geographic: HashMap::new(),
            projected: HashMap::new(),
        };
        for line in include_str!("crs/esri.tsv").lines() {
            let f: Vec<&str> = line.split('\t').collect();
            let Some(code) = f.get(1).and_then(|c| c.parse().ok()) else {
                continue;
            };
            match (f[0], f.len()) {
                ("U", 4) => {
                    names.units.insert(code, (f[2], f[3]));
                }
                ("G", 7) => {
                    names
                        .geographic
                        .insert(code, [f[2], f[3], f[4], f[5], f[6]]);
                }
                ("P", 3 | 4) => {
                    names.projected.insert(code, (f[2], f.get(3).copied()));
                }
                _ => {}
            }
        }
        names
    });

    /// The ESRI projection for a WKT1 one when `esri.tsv` names none (keep in
    /// step with `DEFAULT_PROJECTION` in `gen_esri_tsv.py`).
    fn default_projection(wkt1: &str) -> Option<&'static str> {
        Some(match wkt1 {
            "Transverse_Mercator" => "Transverse_Mercator",
            "Lambert_Conformal_Conic_1SP" | "Lambert_Conformal_Conic_2SP" => {
                "Lambert_Conformal_Conic"
            }
            "Oblique_Stereographic" => "Double_Stereographic",
            "Cassini_Soldner" => "Cassini",
            "Albers_Conic_Equal_Area" => "Albers",
            "Lambert_Azimuthal_Equal_Area" => "Lambert_Azimuthal_Equal_Area",
            "Mercator_1SP" | "Mercator_2SP" => "Mercator",
            "Hotine_Oblique_Mercator" => "Hotine_Oblique_Mercator_Azimuth_Natural_Origin",
            "Hotine_Oblique_Mercator_Azimuth_Center" => "Hotine_Oblique_Mercator_Azimuth_Center",
            "Equirectangular" => "Equidistant_Cylindrical",
            "Polyconic" => "Polyconic",
            "Azimuthal_Equidistant" => "Azimuthal_Equidistant",
            "New_Zealand_Map_Grid" => "New_Zealand_Map_Grid",
            "Laborde_Oblique_Mercator" => "Laborde_Oblique_Mercator",
            _ => return None,
        })
    }

    /// The EPSG code whose ESRI WKT is `text` (see [`super::Crs::from_esri_wkt`]).
    pub(super) fn identify(text: &str) -> Result<u32, String> {
        let root = wkt::parse(text).map_err(|e| format!("unreadable WKT: {e}"))?;
        if let Some(code) = root.epsg() {
            return Ok(code);
        }
        let name = root.string(0).ok_or("a WKT without a name")?;
        let names = &*NAMES;
        let mut candidates: Vec<u32> = match root.keyword {
            "PROJCS" => names
                .projected
                .iter()
                .filter(|(_, (n, _))| n.eq_ignore_ascii_case(name))
                .map(|(c, _)| *c)
                .collect(),
            "GEOGCS" => names
                .geographic
                .iter()
                .filter(|(_, g)| g[0].eq_ignore_ascii_case(name))
                .map(|(c, _)| *c)
                .collect(),
            k => return Err(format!("a {k} is neither a projected nor a geographic CRS")),
        };
        candidates.sort_unstable();
        for code in candidates {
            let ours = u16::try_from(code)
                .ok()
                .and_then(crs_definitions::from_code)
                .and_then(|def| wkt(def.wkt, code).ok());
            let Some(ours) = ours else { continue };
            if wkt::parse(&ours).is_ok_and(|node| same_node(&root, &node)) {
                return Ok(code);
            }
        }
        Err(format!(
            "the ESRI WKT {name:?} is no EPSG coordinate reference system labelstore knows"
        ))
    }

    /// Whether two WKT nodes say the same: keywords and strings equal but for
    /// case, numbers equal to 1e-12 relative.
    fn same_node(a: &wkt::Node<'_>, b: &wkt::Node<'_>) -> bool {
        a.keyword.eq_ignore_ascii_case(b.keyword)
            && a.args.len() == b.args.len()
            && a.args.iter().zip(&b.args).all(|pair| match pair {
                (wkt::Arg::Str(x), wkt::Arg::Str(y)) => x.eq_ignore_ascii_case(y),
                (wkt::Arg::Token(x), wkt::Arg::Token(y)) => {
                    match (x.parse::<f64>(), y.parse::<f64>()) {
                        (Ok(x), Ok(y)) => (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
                        _ => x.eq_ignore_ascii_case(y),
                    }
                }
                (wkt::Arg::Node(x), wkt::Arg::Node(y)) => same_node(x, y),
                _ => false,
            })
    }

    /// The ESRI WKT of the CRS `epsg` whose WKT1 is `text`.
    pub(super) fn wkt(text: &str, epsg: u32) -> Result<String, String> {
        let root = wkt::parse(text).map_err(|e| format!("unreadable WKT: {e}"))?;
        let mut out = String::new();
        match root.keyword {
            "GEOGCS" => geogcs(&root, &mut out)?,
            "PROJCS" => projcs(&root, epsg, &mut out)?,
            k => return Err(format!("no ESRI form for a {k}")),
        }
        Ok(out)
    }

    fn geogcs(node: &wkt::Node<'_>, out: &mut String) -> Result<(), String> {
        let names = &*NAMES;
        let code = node.epsg().ok_or("its geographic CRS has no EPSG code")?;
        let [gcs, datum, spheroid, primem, primem_value] = names
            .geographic
            .get(&code)
            .ok_or_else(|| format!("no ESRI name is known for its geographic CRS EPSG:{code}"))?;
        let sph = node
            .child("DATUM")
            .and_then(|d| d.child("SPHEROID"))
            .ok_or("its WKT has no spheroid")?;
        let (a, rf) = (
            sph.number(1).ok_or("spheroid without axis")?,
            sph.number(2).ok_or("spheroid without flattening")?,
        );
        let (unit, unit_value) = unit(node)?;
        write!(
            out,
            "GEOGCS[\"{gcs}\",DATUM[\"{datum}\",SPHEROID[\"{spheroid}\",{},{}]],\
             PRIMEM[\"{primem}\",{primem_value}],UNIT[\"{unit}\",{unit_value}]]",
            number(a),
            number(rf)
        )
        .map_err(|e| e.to_string())
    }

    /// The ESRI name and value of a node's `UNIT`.
    fn unit(node: &wkt::Node<'_>) -> Result<(&'static str, &'static str), String> {
        let code = node
            .child("UNIT")
            .and_then(|u| u.epsg())
            .ok_or("its unit has no EPSG code")?;
        NAMES
            .units
            .get(&code)
            .copied()
            .ok_or_else(|| format!("no ESRI name is known for its unit EPSG:{code}"))
    }

    fn projcs(node: &wkt::Node<'_>, epsg: u32, out: &mut String) -> Result<(), String> {
        let &(name, projection) = NAMES.projected.get(&epsg).ok_or(
            "no ESRI definition is known for it (GDAL has none, or GDAL's differs from ours)",
        )?;
        let wkt1 = node
            .child("PROJECTION")
            .and_then(|p| p.string(0))
            .ok_or("its WKT has no projection")?;
        let projection = projection
            .or_else(|| default_projection(wkt1))
            .ok_or_else(|| format!("no ESRI projection is known for {wkt1}"))?;
        let base = node.child("GEOGCS").ok_or("its WKT has no GEOGCS")?;
        let inverse_flattening = base
            .child("DATUM")
            .and_then(|d| d.child("SPHEROID"))
            .and_then(|s| s.number(2))
            .ok_or("its WKT has no spheroid")?;
        let parameters = parameters(wkt1, projection, &Params(node), inverse_flattening)?;
        write!(out, "PROJCS[\"{name}\",").map_err(|e| e.to_string())?;
        geogcs(base, out)?;
        write!(out, ",PROJECTION[\"{projection}\"]").map_err(|e| e.to_string())?;
        for (key, value) in parameters {
            write!(out, ",PARAMETER[\"{key}\",{value}]").map_err(|e| e.to_string())?;
        }
        let (unit, unit_value) = unit(node)?;
        write!(out, ",UNIT[\"{unit}\",{unit_value}]]").map_err(|e| e.to_string())
    }

    /// The `PARAMETER`s of a WKT1 `PROJCS`.
    struct Params<'n, 'a>(&'n wkt::Node<'a>);

    impl Params<'_, '_> {
        fn get(&self, name: &str) -> Result<f64, String> {
            self.0
                .children()
                .find(|n| n.keyword == "PARAMETER" && n.string(0) == Some(name))
                .and_then(|n| n.number(1))
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("its WKT has no parameter {name}"))
        }

        /// The parameter as ESRI writes it.
        fn text(&self, name: &str) -> Result<String, String> {
            self.get(name).map(number)
        }
    }

    /// An azimuth or angle as ESRI writes it, in (-180, 180].
    fn signed_angle(v: f64) -> f64 {
        if v > 180.0 { v - 360.0 } else { v }
    }

    /// ESRI parameters: (name, value as ESRI writes it), in GDAL's order.
    type EsriParams = Vec<(&'static str, String)>;

    /// The ESRI parameters, in GDAL's order, of a WKT1 projection written as
    /// the ESRI projection `esri`: the false easting and northing, then
    /// those of the projection.
    fn parameters(
        wkt1: &str,
        esri: &str,
        p: &Params<'_, '_>,
        inverse_flattening: f64,
    ) -> Result<EsriParams, String> {
        let fe = ("False_Easting", p.text("false_easting")?);
        let fn_ = ("False_Northing", p.text("false_northing")?);
        let rest = match (wkt1, esri) {
            ("Mercator_1SP", "Mercator") => mercator_1sp(p, inverse_flattening)?,
            ("Polar_Stereographic", "Stereographic_North_Pole" | "Stereographic_South_Pole") => {
                polar_stereographic(p)?
            }
            (
                "Hotine_Oblique_Mercator" | "Hotine_Oblique_Mercator_Azimuth_Center",
                "Hotine_Oblique_Mercator_Azimuth_Natural_Origin"
                | "Hotine_Oblique_Mercator_Azimuth_Center",
            ) => hotine_oblique_mercator(p)?,
            ("Equirectangular", "Plate_Carree") => plate_carree(p)?,
            _ => renamed_parameters(wkt1, esri, p)?,
        };
        let rest = rest.ok_or_else(|| format!("no ESRI form for {wkt1} as {esri}"))?;
        Ok([fe, fn_].into_iter().chain(rest).collect())
    }

    /// The parameters of the projections whose ESRI parameters are WKT1's
    /// renamed (or constants); none for a pair that has no ESRI form.
    fn renamed_parameters(
        wkt1: &str,
        esri: &str,
        p: &Params<'_, '_>,
    ) -> Result<Option<EsriParams>, String> {
        Ok(Some(match (wkt1, esri) {
            ("Transverse_Mercator", "Transverse_Mercator" | "Gauss_Kruger")
            | ("Oblique_Stereographic", "Double_Stereographic") => vec![
                ("Central_Meridian", p.text("central_meridian")?),
                ("Scale_Factor", p.text("scale_factor")?),
                ("Latitude_Of_Origin", p.text("latitude_of_origin")?),
            ],
            ("Cassini_Soldner", "Cassini") => vec![
                ("Central_Meridian", p.text("central_meridian")?),
                ("Scale_Factor", number(1.0)),
                ("Latitude_Of_Origin", p.text("latitude_of_origin")?),
            ],
            ("Lambert_Conformal_Conic_1SP", "Lambert_Conformal_Conic") => vec![
                ("Central_Meridian", p.text("central_meridian")?),
                ("Standard_Parallel_1", p.text("latitude_of_origin")?),
                ("Scale_Factor", p.text("scale_factor")?),
                ("Latitude_Of_Origin", p.text("latitude_of_origin")?),
            ],
            ("Lambert_Conformal_Conic_2SP", "Lambert_Conformal_Conic") => vec![
                ("Central_Meridian", p.text("central_meridian")?),
                ("Standard_Parallel_1", p.text("standard_parallel_1")?),
                ("Standard_Parallel_2", p.text("standard_parallel_2")?),
                ("Latitude_Of_Origin", p.text("latitude_of_origin")?),
            ],
            ("Albers_Conic_Equal_Area", "Albers") => vec![
                ("Central_Meridian", p.text("longitude_of_center")?),
                ("Standard_Parallel_1", p.text("standard_parallel_1")?),
                ("Standard_Parallel_2", p.text("standard_parallel_2")?),
                ("Latitude_Of_Origin", p.text("latitude_of_center")?),
            ],
            ("Lambert_Azimuthal_Equal_Area", "Lambert_Azimuthal_Equal_Area")
            | ("Azimuthal_Equidistant", "Azimuthal_Equidistant") => vec![
                ("Central_Meridian", p.text("longitude_of_center")?),
                ("Latitude_Of_Origin", p.text("latitude_of_center")?),
            ],
            ("Mercator_2SP", "Mercator") | ("Cylindrical_Equal_Area", "Behrmann") => vec![
                ("Central_Meridian", p.text("central_meridian")?),
                ("Standard_Parallel_1", p.text("standard_parallel_1")?),
            ],
            ("Mercator_1SP", "Mercator_Auxiliary_Sphere") => vec![
                ("Central_Meridian", p.text("central_meridian")?),
                ("Standard_Parallel_1", number(0.0)),
                ("Auxiliary_Sphere_Type", number(0.0)),
            ],
            (
                "Hotine_Oblique_Mercator" | "Hotine_Oblique_Mercator_Azimuth_Center",
                "Rectified_Skew_Orthomorphic_Natural_Origin" | "Rectified_Skew_Orthomorphic_Center",
            ) => vec![
                ("Scale_Factor", p.text("scale_factor")?),
                ("Azimuth", number(signed_angle(p.get("azimuth")?))),
                ("Longitude_Of_Center", p.text("longitude_of_center")?),
                ("Latitude_Of_Center", p.text("latitude_of_center")?),
                (
                    "XY_Plane_Rotation",
                    number(signed_angle(p.get("rectified_grid_angle")?)),
                ),
            ],
            ("Equirectangular", "Equidistant_Cylindrical") => vec![
                ("Central_Meridian", p.text("central_meridian")?),
                ("Standard_Parallel_1", p.text("latitude_of_origin")?),
            ],
            ("Polyconic", "Polyconic") => vec![
                ("Central_Meridian", p.text("central_meridian")?),
                ("Latitude_Of_Origin", p.text("latitude_of_origin")?),
            ],
            ("New_Zealand_Map_Grid", "New_Zealand_Map_Grid") => vec![
                ("Longitude_Of_Origin", p.text("central_meridian")?),
                ("Latitude_Of_Origin", p.text("latitude_of_origin")?),
            ],
            ("Laborde_Oblique_Mercator", "Laborde_Oblique_Mercator") => vec![
                ("Scale_Factor", p.text("scale_factor")?),
                ("Azimuth", p.text("azimuth")?),
                ("Longitude_Of_Center", p.text("longitude_of_center")?),
                ("Latitude_Of_Center", p.text("latitude_of_center")?),
            ],
            _ => return Ok(None),
        }))
    }

    /// Mercator (1SP) as ESRI's Mercator, which states the latitude where
    /// the scale is true instead of the scale at the equator:
    /// k0 = cos φ1 / √(1 − e² sin² φ1). None off the equator, or for a
    /// scale no latitude has.
    fn mercator_1sp(
        p: &Params<'_, '_>,
        inverse_flattening: f64,
    ) -> Result<Option<EsriParams>, String> {
        if p.get("latitude_of_origin").is_ok_and(|v| v != 0.0) {
            return Ok(None);
        }
        let k0 = p.get("scale_factor")?;
        let f = if inverse_flattening == 0.0 {
            0.0
        } else {
            1.0 / inverse_flattening
        };
        let e2 = f * (2.0 - f);
        let sin2 = (1.0 - k0 * k0) / (1.0 - k0 * k0 * e2);
        if !(0.0..=1.0).contains(&sin2) {
            return Ok(None);
        }
        Ok(Some(vec![
            ("Central_Meridian", p.text("central_meridian")?),
            (
                "Standard_Parallel_1",
                number(sin2.sqrt().asin().to_degrees()),
            ),
        ]))
    }

    /// Polar stereographic variant B (a standard parallel, scale 1); none
    /// for variant A, which has none.
    fn polar_stereographic(p: &Params<'_, '_>) -> Result<Option<EsriParams>, String> {
        let lat = p.get("latitude_of_origin")?;
        if p.get("scale_factor")? != 1.0 || lat.abs() == 90.0 {
            return Ok(None);
        }
        Ok(Some(vec![
            ("Central_Meridian", p.text("central_meridian")?),
            ("Standard_Parallel_1", number(lat)),
        ]))
    }

    /// Hotine oblique Mercator as ESRI's azimuth forms, which have no
    /// rectified grid angle of its own: none unless it equals the azimuth.
    fn hotine_oblique_mercator(p: &Params<'_, '_>) -> Result<Option<EsriParams>, String> {
        if p.get("rectified_grid_angle")? != p.get("azimuth")? {
            return Ok(None);
        }
        Ok(Some(vec![
            ("Scale_Factor", p.text("scale_factor")?),
            ("Azimuth", number(signed_angle(p.get("azimuth")?))),
            ("Longitude_Of_Center", p.text("longitude_of_center")?),
            ("Latitude_Of_Center", p.text("latitude_of_center")?),
        ]))
    }

    /// Equirectangular as Plate Carrée: only on the equator.
    fn plate_carree(p: &Params<'_, '_>) -> Result<Option<EsriParams>, String> {
        if p.get("latitude_of_origin")? != 0.0 {
            return Ok(None);
        }
        Ok(Some(vec![(
            "Central_Meridian",
            p.text("central_meridian")?,
        )]))
    }

    /// A number as GDAL writes it in ESRI WKT: C's `%.15g`, with `.0` added
    /// to an integer.
    pub(super) fn number(v: f64) -> String {
        const DIGITS: usize = 15;
        if v == 0.0 {
            return "0.0".to_owned();
        }
        let sci = format!("{:.*e}", DIGITS - 1, v);
        let exp: i32 = sci
            .rsplit_once('e')
            .and_then(|(_, e)| e.parse().ok())
            .unwrap_or(0);
        if !(-4..DIGITS as i32).contains(&exp) {
            let (mantissa, _) = sci.rsplit_once('e').unwrap_or((&sci, ""));
            let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
            let sign = if exp < 0 { '-' } else { '+' };
            return format!("{mantissa}e{sign}{:02}", exp.abs());
        }
        let decimals = usize::try_from(DIGITS as i32 - 1 - exp).unwrap_or(0);
        let fixed = format!("{v:.decimals$}");
        let trimmed = if fixed.contains('.') {
            fixed.trim_end_matches('0').trim_end_matches('.')
        } else {
            &fixed
        };
        if trimmed.contains('.') {
            trimmed.to_owned()
        } else {
            format!("{trimmed}.0")
        }
    }
}

#[cfg(test)]
mod tests;
