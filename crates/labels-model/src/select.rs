//! Which chips a store includes (SPEC §2).

use std::fmt;

use crate::error::{Error, Result};
use crate::model::Project;

/// What a store covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every chip that qualifies.
    Project,
    /// One chip, by id (the "current labeled chip").
    Chip(String),
}

/// Why a chip is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ExclusionReason {
    /// Logically deleted.
    Deleted,
    /// No labels and no mask, and not saved empty.
    Unlabeled,
}

impl ExclusionReason {
    /// The name used in reports and store manifests.
    pub fn name(self) -> &'static str {
        match self {
            ExclusionReason::Deleted => "deleted",
            ExclusionReason::Unlabeled => "unlabeled",
        }
    }
}

impl fmt::Display for ExclusionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A chip left out of a store, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excluded {
    /// The chip's id.
    pub chip: String,
    /// Why it is left out.
    pub reason: ExclusionReason,
}

/// The chips a store includes and those it leaves out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    /// Indices into [`Project::chips`], in manifest order.
    pub chips: Vec<usize>,
    /// The chips of the scope that are not stored, in manifest order.
    pub excluded: Vec<Excluded>,
}

fn reason(chip: &crate::Chip) -> Option<ExclusionReason> {
    if chip.deleted {
        Some(ExclusionReason::Deleted)
    } else if !chip.is_labeled() && !chip.saved_empty {
        Some(ExclusionReason::Unlabeled)
    } else {
        None
    }
}

/// Applies SPEC §2: deleted chips are never stored; chips without labels
/// (or mask) only when saved empty. Asking for one chip that is unknown,
/// deleted or unlabeled is an error saying which.
pub fn select(project: &Project, scope: &Scope) -> Result<Selection> {
    let mut selector = Selector::new(scope, &project.manifest_path);
    for (i, chip) in project.chips.iter().enumerate() {
        selector.offer(i, chip);
    }
    selector.finish()
}

/// [`select`] chip by chip, for a manifest read as a stream: every chip is
/// offered in manifest order, then [`Selector::finish`] gives the selection.
#[derive(Debug)]
pub struct Selector<'a> {
    scope: &'a Scope,
    manifest: &'a std::path::Path,
    selection: Selection,
    /// For a one-chip scope: why the chip asked for is not stored, once seen.
    asked: Option<Option<ExclusionReason>>,
}

impl<'a> Selector<'a> {
    /// A selector for `scope` over the manifest at `manifest` (named in errors).
    pub fn new(scope: &'a Scope, manifest: &'a std::path::Path) -> Selector<'a> {
        Selector {
            scope,
            manifest,
            selection: Selection::default(),
            asked: None,
        }
    }

    /// Offers the chip at index `i`; returns whether the store includes it.
    pub fn offer(&mut self, i: usize, chip: &crate::Chip) -> bool {
        let reason = reason(chip);
        match self.scope {
            Scope::Project => match reason {
                Some(reason) => {
                    self.selection.excluded.push(Excluded {
                        chip: chip.id.clone(),
                        reason,
                    });
                    false
                }
                None => {
                    self.selection.chips.push(i);
                    true
                }
            },
            Scope::Chip(id) if *id == chip.id && self.asked.is_none() => {
                self.asked = Some(reason);
                if reason.is_none() {
                    self.selection.chips.push(i);
                }
                reason.is_none()
            }
            Scope::Chip(_) => false,
        }
    }

    /// The selection; for a one-chip scope, an error when that chip is
    /// unknown, deleted or unlabeled.
    pub fn finish(self) -> Result<Selection> {
        if let Scope::Chip(id) = self.scope {
            let err = |msg: &str| Error::invalid(self.manifest, Some(id), "--chip", msg.to_owned());
            match self.asked {
                None => return Err(err("no chip has this id in the project")),
                Some(Some(ExclusionReason::Deleted)) => {
                    return Err(err("the chip is deleted, so it cannot be stored"));
                }
                Some(Some(ExclusionReason::Unlabeled)) => {
                    return Err(err(
                        "the chip has no labels and is not saved empty, so it cannot be stored",
                    ));
                }
                Some(None) => {}
            }
        }
        Ok(self.selection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Geometry;
    use crate::model::{Chip, Label, LabelingType};

    fn project() -> Project {
        let mut labeled = Chip::new("labeled", "a.png");
        labeled.labels.push(Label {
            class_id: 1,
            geometry: Geometry::BBox([0.0, 0.0, 1.0, 1.0]),
            attributes: Default::default(),
        });
        let mut deleted = labeled.clone();
        deleted.id = "deleted".into();
        deleted.deleted = true;
        let mut empty = Chip::new("empty", "c.png");
        empty.saved_empty = true;
        let mut mask = Chip::new("mask", "d.png");
        mask.mask = Some("m.png".into());
        Project {
            name: "t".into(),
            labeling_type: LabelingType::ObjectDetection,
            srid: None,
            classes: vec![],
            chips: vec![labeled, deleted, Chip::new("bare", "b.png"), empty, mask],
            base_dir: ".".into(),
            manifest_path: "project.json".into(),
        }
    }

    #[test]
    fn whole_project() {
        let s = select(&project(), &Scope::Project).unwrap();
        assert_eq!(s.chips, [0, 3, 4]);
        assert_eq!(
            s.excluded,
            [
                Excluded {
                    chip: "deleted".into(),
                    reason: ExclusionReason::Deleted
                },
                Excluded {
                    chip: "bare".into(),
                    reason: ExclusionReason::Unlabeled
                },
            ]
        );
    }

    #[test]
    fn one_chip() {
        let p = project();
        let one = |id: &str| select(&p, &Scope::Chip(id.into()));
        assert_eq!(one("empty").unwrap().chips, [3]);
        let msg = |id: &str| one(id).unwrap_err().to_string();
        assert_eq!(
            msg("nope"),
            "project.json: chip \"nope\": --chip: no chip has this id in the project"
        );
        assert_eq!(
            msg("deleted"),
            "project.json: chip \"deleted\": --chip: the chip is deleted, so it cannot be stored"
        );
        assert!(
            msg("bare")
                .ends_with("the chip has no labels and is not saved empty, so it cannot be stored")
        );
    }
}
