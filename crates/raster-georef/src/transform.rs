//! GDAL-order affine geotransforms.

use crate::{Error, Result};

/// GDAL's affine geotransform `[x0, dx_col, dx_row, y0, dy_col, dy_row]`.
///
/// Corner-based: `(x0, y0)` is the map position of the top-left *corner* of the
/// top-left pixel, and pixel coordinate `(px, py)` (continuous, y down) maps to
/// `x = x0 + px*dx_col + py*dx_row`, `y = y0 + px*dy_col + py*dy_row`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoTransform(pub [f64; 6]);

impl GeoTransform {
    /// Checks that all six numbers are finite and the pixel axes span an area.
    pub fn new(c: [f64; 6]) -> Result<Self> {
        let det = c[1] * c[5] - c[2] * c[4];
        if c.iter().any(|v| !v.is_finite()) || det == 0.0 || !det.is_finite() {
            return Err(Error::Degenerate(c));
        }
        Ok(GeoTransform(c))
    }

    /// Map coordinates of the continuous pixel position `(px, py)`.
    pub fn pixel_to_map(&self, px: f64, py: f64) -> (f64, f64) {
        let c = &self.0;
        (c[0] + px * c[1] + py * c[2], c[3] + px * c[4] + py * c[5])
    }

    /// Pixel position of the map coordinates `(x, y)`.
    pub fn map_to_pixel(&self, x: f64, y: f64) -> (f64, f64) {
        let c = &self.0;
        let det = c[1] * c[5] - c[2] * c[4];
        let (dx, dy) = (x - c[0], y - c[3]);
        ((dx * c[5] - dy * c[2]) / det, (dy * c[1] - dx * c[4]) / det)
    }

    /// Builds a geotransform from world-file lines `A D B E C F`, shifting the
    /// centre-of-pixel origin `(C, F)` half a pixel back to the corner.
    pub fn from_world_file(w: [f64; 6]) -> Result<Self> {
        let [a, d, b, e, c, f] = w;
        Self::new([c - a / 2.0 - b / 2.0, a, b, f - d / 2.0 - e / 2.0, d, e])
    }

    /// The world-file lines `A D B E C F` of this geotransform.
    pub fn to_world_file(&self) -> [f64; 6] {
        let [x0, a, b, y0, d, e] = self.0;
        [a, d, b, e, x0 + a / 2.0 + b / 2.0, y0 + d / 2.0 + e / 2.0]
    }

    /// The text of a world file for this geotransform, written as GDAL
    /// writes it: six lines of ten decimals.
    pub fn to_world_file_text(&self) -> String {
        self.to_world_file()
            .iter()
            .map(|v| format!("{v:.10}\n"))
            .collect()
    }

    /// Parses the text of a world file; `file` names it in errors.
    ///
    /// Six lines, each one finite number (surrounding blanks and a trailing
    /// empty line are fine; a decimal comma too, as GDAL reads it); a pixel
    /// size of zero is refused.
    pub fn parse_world_file(text: &str, file: &str) -> Result<Self> {
        let err = |line: usize, message: String| Error::WorldFile {
            file: file.to_owned(),
            line,
            message,
        };
        let mut values = [0.0; 6];
        let mut n = 0;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            if n == 6 {
                return Err(err(i + 1, "more than six values".into()));
            }
            let v = gdal_number(line)
                .ok_or_else(|| err(i + 1, format!("{} is not a number", crate::excerpt(line))))?;
            if !v.is_finite() {
                return Err(err(
                    i + 1,
                    format!("{} is not a finite number", crate::excerpt(line)),
                ));
            }
            values[n] = v;
            n += 1;
        }
        if n < 6 {
            return Err(err(n + 1, format!("expected six values, found {n}")));
        }
        if values[0] == 0.0 {
            return Err(err(1, "pixel width is zero".into()));
        }
        if values[3] == 0.0 {
            return Err(err(4, "pixel height is zero".into()));
        }
        Self::from_world_file(values).map_err(|e| err(1, e.to_string()))
    }
}

/// A world-file value as GDAL reads it (`CPLAtofM`): a comma that comes
/// before any point is the decimal mark (`-0,01`, `4287500,50`, as in
/// GDAL's own test data). Unlike GDAL, nothing may follow the number:
/// `1,234.5` or `12 m` are refused rather than read as 1.234 and 12.
fn gdal_number(text: &str) -> Option<f64> {
    let comma_first = match (text.find(','), text.find('.')) {
        (Some(c), Some(p)) => c < p,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if comma_first {
        text.replacen(',', ".", 1).parse().ok()
    } else {
        text.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_commas_are_read_as_gdal_reads_them_and_nothing_else_is() {
        let gt = GeoTransform::parse_world_file(
            " 0,01 \n0\n0\n\t-0,01\n4287500,50\n 5000000,25\n",
            "a.wld",
        )
        .unwrap();
        assert_eq!(gt.0, [4287500.495, 0.01, 0.0, 5000000.255, 0.0, -0.01]);
        for bad in ["1,234.5", "12 m", "1,2,3", "0x10", "1.5abc", "1 2"] {
            let text = format!("{bad}\n0\n0\n-1\n0\n0\n");
            let e = GeoTransform::parse_world_file(&text, "a.wld").unwrap_err();
            assert!(e.to_string().contains("is not a number"), "{bad}: {e}");
        }
    }

    #[test]
    fn world_file_half_pixel_shift_matches_gdal() {
        // GEO.md: `10,0,0,-10,500005,4099995` → GDAL origin (500000, 4100000).
        let gt =
            GeoTransform::parse_world_file("10\n0\n0\n-10\n500005\n4099995\n", "a.pgw").unwrap();
        assert_eq!(gt.0, [500000.0, 10.0, 0.0, 4100000.0, 0.0, -10.0]);
        assert_eq!(
            gt.to_world_file(),
            [10.0, 0.0, 0.0, -10.0, 500005.0, 4099995.0]
        );
    }

    #[test]
    fn rotated_world_file_lines_go_to_gdal_slots() {
        // GEO.md: line 2 → gt[4], line 3 → gt[2].
        let gt = GeoTransform::parse_world_file("10\n1\n2\n-10\n500005\n4099995", "a.wld").unwrap();
        assert_eq!(gt.0, [499999.0, 10.0, 2.0, 4099999.5, 1.0, -10.0]);
        let (px, py) = gt.map_to_pixel(gt.pixel_to_map(3.5, 7.25).0, gt.pixel_to_map(3.5, 7.25).1);
        assert!((px - 3.5).abs() < 1e-9 && (py - 7.25).abs() < 1e-9);
    }

    #[test]
    fn bad_world_files_name_the_line() {
        let e = GeoTransform::parse_world_file("1\n0\n0\nx\n5\n6\n", "c.tfw").unwrap_err();
        assert_eq!(e.to_string(), "c.tfw: line 4: \"x\" is not a number");
        let e = GeoTransform::parse_world_file("1\n0\n0\n-1\n5\n", "c.tfw").unwrap_err();
        assert_eq!(e.to_string(), "c.tfw: line 6: expected six values, found 5");
        let e = GeoTransform::parse_world_file("0\n0\n0\n-1\n5\n6", "c.tfw").unwrap_err();
        assert_eq!(e.to_string(), "c.tfw: line 1: pixel width is zero");
        let e = GeoTransform::parse_world_file("1\n0\n0\ninf\n5\n6", "c.tfw").unwrap_err();
        assert_eq!(
            e.to_string(),
            "c.tfw: line 4: \"inf\" is not a finite number"
        );
        let e = GeoTransform::parse_world_file("1\n0\n0\n-1\n5\n6\n7", "c.tfw").unwrap_err();
        assert_eq!(e.to_string(), "c.tfw: line 7: more than six values");
    }
}
