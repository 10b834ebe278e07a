//! Assigning dataset splits (`--split train=0.8,val=0.1,test=0.1`):
//! deterministic from the chip ids (or map blocks) and a seed, exact to
//! one chip per split when chips are assigned one by one.
//!
//! Every chip (or every map block of chips) gets a 64-bit hash of the seed
//! and its id (or block); sorted by that hash, the chips are dealt out in
//! the order the splits are given: the first `round(0.8 N)` to `train`, the
//! next to `val`, and so on (largest remainders decide the rounding, so the
//! counts add up to `N`). A block of chips is never divided: blocks in hash
//! order each go whole to the split furthest below its share, so the
//! shares hold to within a block's size.

use std::collections::BTreeMap;

use crate::model::is_split_name;

/// How to assign splits.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitSpec {
    /// Split names and their shares, in the order given (shares add up to 1).
    pub parts: Vec<(String, f64)>,
    /// Changes the assignment; the same seed gives the same splits.
    pub seed: u64,
    /// Keep the chips of one map block together: the block's side in the
    /// project's map units (metres). `None`: chip by chip.
    pub block: Option<f64>,
}

/// The group one chip belongs to when splits are assigned.
#[derive(Debug, Clone, PartialEq)]
pub enum SplitUnit {
    /// On its own: its id.
    Chip(String),
    /// The map block holding its centre: the CRS (EPSG code, or 0 when
    /// unknown) and the block's column and row.
    Block(u32, i64, i64),
}

impl SplitSpec {
    /// Parses `train=0.8,val=0.1,test=0.1`, and `--split-by` as `chip` or
    /// `block=METRES`.
    pub fn parse(text: &str, seed: u64, by: Option<&str>) -> Result<SplitSpec, String> {
        let mut parts: Vec<(String, f64)> = Vec::new();
        for part in text.split(',') {
            let Some((name, share)) = part.split_once('=') else {
                return Err(format!(
                    "--split {text:?}: each part is NAME=SHARE, as in train=0.8,val=0.1,test=0.1"
                ));
            };
            let name = name.trim();
            if !is_split_name(name) {
                return Err(format!(
                    "--split: {name:?} is not a split name: 1 to 32 characters of a-z 0-9 _ -"
                ));
            }
            if parts.iter().any(|(n, _)| n == name) {
                return Err(format!("--split: {name:?} is given twice"));
            }
            let share: f64 = share
                .trim()
                .parse()
                .ok()
                .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s <= 1.0)
                .ok_or_else(|| {
                    format!("--split: the share of {name:?} is not a number above 0 and up to 1")
                })?;
            parts.push((name.to_owned(), share));
        }
        let sum: f64 = parts.iter().map(|(_, s)| s).sum();
        if (sum - 1.0).abs() > 1e-6 {
            return Err(format!(
                "--split {text:?}: the shares add up to {sum}, not 1"
            ));
        }
        let block = match by.map(str::trim) {
            None | Some("chip") => None,
            Some(b) => {
                let metres = b
                    .strip_prefix("block=")
                    .and_then(|m| m.trim().parse::<f64>().ok())
                    .filter(|m| m.is_finite() && *m > 0.0)
                    .ok_or_else(|| {
                        format!("--split-by {b:?}: give chip, or block=METRES (a positive number)")
                    })?;
                Some(metres)
            }
        };
        Ok(SplitSpec { parts, seed, block })
    }

    /// How many of `n` chips each split gets: its share, rounded so that
    /// the counts add up to `n` (largest remainders first, then the order
    /// given).
    pub fn targets(&self, n: usize) -> Vec<usize> {
        let exact: Vec<f64> = self.parts.iter().map(|(_, s)| s * n as f64).collect();
        let mut counts: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
        let mut left = n.saturating_sub(counts.iter().sum());
        let mut order: Vec<usize> = (0..counts.len()).collect();
        order.sort_by(|&a, &b| {
            let (fa, fb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
            fb.total_cmp(&fa).then(a.cmp(&b))
        });
        for i in order {
            if left == 0 {
                break;
            }
            counts[i] += 1;
            left -= 1;
        }
        counts
    }

    /// The split (an index into `parts`) of each chip, given each chip's
    /// group: the same units and seed give the same answer.
    pub fn assign(&self, units: &[SplitUnit]) -> Vec<usize> {
        let targets = self.targets(units.len());
        // The groups, each with its chips, in hash order.
        let mut groups: BTreeMap<(u64, String), Vec<usize>> = BTreeMap::new();
        for (i, unit) in units.iter().enumerate() {
            let key = match unit {
                SplitUnit::Chip(id) => format!("chip:{id}"),
                SplitUnit::Block(epsg, col, row) => format!("block:{epsg}:{col}:{row}"),
            };
            groups
                .entry((hash(self.seed, &key), key))
                .or_default()
                .push(i);
        }
        let mut out = vec![0; units.len()];
        let mut assigned = vec![0usize; targets.len()];
        for chips in groups.values() {
            // Chip by chip this deals the splits out in order; a block goes
            // whole to the split furthest below its share.
            let part = (0..targets.len())
                .max_by(|&a, &b| {
                    let da = targets[a] as i64 - assigned[a] as i64;
                    let db = targets[b] as i64 - assigned[b] as i64;
                    da.cmp(&db).then(b.cmp(&a))
                })
                .unwrap_or(0);
            let part = if chips.len() == 1 {
                (0..targets.len())
                    .find(|&p| assigned[p] < targets[p])
                    .unwrap_or(part)
            } else {
                part
            };
            assigned[part] += chips.len();
            for &i in chips {
                out[i] = part;
            }
        }
        out
    }
}

/// A stable 64-bit hash of `seed` and `key` (FNV-1a, then the SplitMix64
/// finalizer): the same on every machine and Rust version.
fn hash(seed: u64, key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.to_le_bytes().iter().chain(key.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chips(n: usize) -> Vec<SplitUnit> {
        (0..n).map(|i| SplitUnit::Chip(format!("c{i}"))).collect()
    }

    fn counts(spec: &SplitSpec, assigned: &[usize]) -> Vec<usize> {
        let mut c = vec![0; spec.parts.len()];
        for &p in assigned {
            c[p] += 1;
        }
        c
    }

    #[test]
    fn parse_and_refuse() {
        let s = SplitSpec::parse("train=0.7, val=0.2,test=0.1", 3, None).unwrap();
        assert_eq!(
            s.parts,
            [
                ("train".into(), 0.7),
                ("val".into(), 0.2),
                ("test".into(), 0.1)
            ]
        );
        assert_eq!(s.block, None);
        let b = SplitSpec::parse("train=0.5,val=0.5", 0, Some("block=250")).unwrap();
        assert_eq!(b.block, Some(250.0));
        for (text, by) in [
            ("train=0.8,val=0.1", None),
            ("train=0.8,Val=0.2", None),
            ("train=0.8,train=0.2", None),
            ("train", None),
            ("train=1.5", None),
            ("train=0,val=1", None),
            ("train=1", Some("block=-3")),
            ("train=1", Some("tiles")),
        ] {
            assert!(SplitSpec::parse(text, 0, by).is_err(), "{text} {by:?}");
        }
    }

    #[test]
    fn chip_by_chip_is_exact_and_deterministic() {
        let spec = SplitSpec::parse("train=0.8,val=0.1,test=0.1", 7, None).unwrap();
        for n in [0, 1, 2, 9, 10, 11, 101, 1000] {
            let a = spec.assign(&chips(n));
            assert_eq!(a, spec.assign(&chips(n)), "same input, same splits");
            assert_eq!(counts(&spec, &a), spec.targets(n));
        }
        assert_eq!(spec.targets(10), [8, 1, 1]);
        assert_eq!(spec.targets(11), [9, 1, 1]);
        assert_eq!(spec.targets(101), [81, 10, 10]);
        // Another seed deals them out differently; the counts stay.
        let other = SplitSpec {
            seed: 8,
            ..spec.clone()
        };
        let (a, b) = (spec.assign(&chips(100)), other.assign(&chips(100)));
        assert_ne!(a, b);
        assert_eq!(counts(&spec, &a), counts(&other, &b));
        // A chip keeps its split when others are added (hash order).
        let before = spec.assign(&chips(50));
        let after = spec.assign(&chips(51));
        let moved = before.iter().zip(&after).filter(|(x, y)| x != y).count();
        assert!(moved <= 3, "{moved} chips moved");
    }

    #[test]
    fn a_block_never_spans_two_splits() {
        let spec = SplitSpec::parse("train=0.6,val=0.2,test=0.2", 1, Some("block=100")).unwrap();
        // 400 chips in 100 blocks of 4 (overlapping neighbours), plus 10 alone.
        let mut units: Vec<SplitUnit> = (0..400)
            .map(|i| SplitUnit::Block(32632, (i / 4) % 10, (i / 4) / 10))
            .collect();
        units.extend((0..10).map(|i| SplitUnit::Chip(format!("plain{i}"))));
        let a = spec.assign(&units);
        let mut of_block: BTreeMap<(i64, i64), usize> = BTreeMap::new();
        for (u, &p) in units.iter().zip(&a) {
            if let SplitUnit::Block(_, c, r) = u {
                assert_eq!(*of_block.entry((*c, *r)).or_insert(p), p, "block {c},{r}");
            }
        }
        let c = counts(&spec, &a);
        let t = spec.targets(units.len());
        for (got, want) in c.iter().zip(&t) {
            assert!(got.abs_diff(*want) <= 4, "{c:?} against {t:?}");
        }
    }
}
