"""A labeling project read for Python code: :meth:`Project.load`.

Coordinates are pixels, origin at the top-left corner of the top-left
pixel, x to the right, y down (SPEC §1). Geometry comes as lists, or as
numpy arrays through :meth:`Label.to_numpy` and :meth:`Chip.boxes` when
numpy is installed (``pip install labelstore[numpy]``).
"""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from labelstore import _native


def _numpy():
    try:
        import numpy
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("numpy arrays need numpy: pip install numpy (or labelstore[numpy])") from e
    return numpy


@dataclass(frozen=True)
class Class:
    """A label class: its id (a positive integer; the pixel value of
    semantic-segmentation masks), name and ``#rrggbb`` colour."""

    id: int
    name: str
    color: Optional[str]


@dataclass(frozen=True)
class Label:
    """A label on a chip. ``kind`` is ``bbox`` (``coordinates`` is
    ``[xmin, ymin, xmax, ymax]``), ``polygon`` (a list of rings, the outer
    one first, each a list of ``[x, y]``) or ``multipolygon`` (a list of
    polygons)."""

    class_name: str
    class_id: int
    kind: str
    coordinates: List[Any]
    attributes: Dict[str, Any] = field(default_factory=dict)

    @property
    def bbox(self) -> Optional[List[float]]:
        """The box, for a ``bbox`` label."""
        return self.coordinates if self.kind == "bbox" else None

    def to_numpy(self):
        """The geometry as numpy: a box as an array of 4; a polygon as a
        list of ``(n, 2)`` arrays (rings); a multipolygon as a list of
        those."""
        np = _numpy()
        if self.kind == "bbox":
            return np.asarray(self.coordinates, dtype=np.float64)
        if self.kind == "polygon":
            return [np.asarray(r, dtype=np.float64).reshape(-1, 2) for r in self.coordinates]
        return [[np.asarray(r, dtype=np.float64).reshape(-1, 2) for r in p] for p in self.coordinates]


@dataclass(frozen=True)
class Georeferencing:
    """Where a chip's georeferencing comes from (``world_file``,
    ``inline``, ``embedded`` or ``none``), its geotransform (GDAL order,
    pixel-corner based) and CRS (EPSG code)."""

    source: str
    geotransform: Optional[Tuple[float, float, float, float, float, float]]
    srid: Optional[int]

    def pixel_to_map(self, x: float, y: float) -> Tuple[float, float]:
        """Map coordinates of the pixel position ``(x, y)``."""
        if self.geotransform is None:
            raise ValueError("the chip has no georeferencing")
        g = self.geotransform
        return (g[0] + x * g[1] + y * g[2], g[3] + x * g[4] + y * g[5])


@dataclass(frozen=True)
class Chip:
    """An image chip and its labels. ``image`` is the image file;
    ``split`` is ``train`` when the project names none; ``width`` and
    ``height`` come from the image (``None`` for a deleted chip, whose
    files are not read)."""

    id: str
    image: Path
    split: str
    width: Optional[int]
    height: Optional[int]
    labels: List[Label]
    georeferencing: Georeferencing
    deleted: bool = False
    saved_empty: bool = False
    mask: Optional[Path] = None
    world_file: Optional[Path] = None

    def boxes(self, numpy: bool = False):
        """The boxes of the chip's ``bbox`` labels and their class ids:
        ``(boxes, class_ids)``, lists, or arrays of shape ``(n, 4)`` and
        ``(n,)`` with ``numpy=True``."""
        boxes = [lb.coordinates for lb in self.labels if lb.kind == "bbox"]
        ids = [lb.class_id for lb in self.labels if lb.kind == "bbox"]
        if not numpy:
            return boxes, ids
        np = _numpy()
        return np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(ids, dtype=np.int64)


@dataclass(frozen=True)
class Project:
    """A labeling project: its name, labeling type (``object_detection``,
    ``instance_segmentation``, ``semantic_segmentation``), CRS, classes and
    chips (deleted ones included: see :attr:`Chip.deleted`)."""

    name: str
    labeling_type: str
    srid: Optional[int]
    classes: List[Class]
    chips: List[Chip]
    path: Path

    @classmethod
    def load(cls, path: Union[str, "os.PathLike[str]"]) -> "Project":
        """Reads and checks the project at ``path`` (project.json or its
        folder) as ``labelstore store`` does, and the headers and
        georeferencing of its chips' images; a problem raises
        :class:`labelstore.InputError` with the command line's message."""
        raw = json.loads(_native.load_project(os.fspath(path)))
        classes = [Class(c["id"], c["name"], c["color"]) for c in raw["classes"]]
        by_name = {c.name: c.id for c in classes}
        base = Path(raw["path"]).parent
        chips = [_chip(c, by_name, base) for c in raw["chips"]]
        return cls(raw["name"], raw["labeling_type"], raw["srid"], classes, chips, Path(raw["path"]))

    def chip(self, id: str) -> Chip:
        """The chip with this id (``KeyError`` when there is none)."""
        for c in self.chips:
            if c.id == id:
                return c
        raise KeyError(id)

    @property
    def splits(self) -> Dict[str, List[str]]:
        """The ids of the chips that are not deleted, per split."""
        out: Dict[str, List[str]] = {}
        for c in self.chips:
            if not c.deleted:
                out.setdefault(c.split, []).append(c.id)
        return out


def _label(raw: Dict[str, Any], by_name: Dict[str, int]) -> Label:
    name = raw["class"]
    if isinstance(name, int):  # a class id the project does not name
        class_id, name = name, str(name)
    else:
        class_id = by_name[name]
    kind = next(k for k in ("bbox", "polygon", "multipolygon") if k in raw)
    return Label(name, class_id, kind, raw[kind], raw.get("attributes", {}))


def _chip(raw: Dict[str, Any], by_name: Dict[str, int], base: Path) -> Chip:
    g = raw["georeferencing"]
    georef = Georeferencing(g["source"], tuple(g["geotransform"]) if g["geotransform"] else None, g["srid"])
    return Chip(
        id=raw["id"],
        image=Path(raw["image_path"]),
        split=raw["split"],
        width=raw.get("width"),
        height=raw.get("height"),
        labels=[_label(lb, by_name) for lb in raw.get("labels", [])],
        georeferencing=georef,
        deleted=raw.get("deleted", False),
        saved_empty=raw.get("saved_empty", False),
        mask=base / raw["mask"] if raw.get("mask") else None,
        world_file=base / raw["world_file"] if raw.get("world_file") else None,
    )
