"""labelstore from Python: store labeling projects (image chips and their
labels) in training formats, into a local folder, an object store or
PostgreSQL/PostGIS, and read them back.

Each function runs the ``labelstore`` command of the same name in this
process (no subprocess) and returns its ``--json`` summary as a dict.
Keyword arguments are the command's options, with ``_`` for ``-``:
``par_url="..."`` is ``--par-url ...``, ``overwrite=True`` is
``--overwrite``, ``None`` and ``False`` leave an option out, and a
trailing ``_`` avoids a Python keyword (``from_="local"``, ``class_=...``).
Work runs with the GIL released. ``progress``, when given, is called with
a dict (``phase``, ``unit``, ``item``, ``done``, ``total``, ``bytes``) for
each item done; an exception it raises (or Ctrl-C) stops a store, an
import or a fetch, which is then undone, and is raised (``verify`` and
``chip`` finish first).

Errors are exceptions with the command line's messages:
:class:`InputError` for what its exit status 2 means (bad input or usage),
:class:`DestinationError` for 1 (the destination failed).

>>> import labelstore
>>> labelstore.store("examples/harbour", to="local", path="out/harbour",
...                  formats=["coco", "yolo"])["chips_stored"]
9
"""

import json
import os
from typing import Any, Callable, Dict, Iterable, List, Optional, Union

from labelstore import _native
from labelstore._native import DestinationError, InputError, LabelstoreError
from labelstore.project import Chip, Class, Georeferencing, Label, Project

__all__ = [
    "store",
    "import_dataset",
    "chip",
    "verify",
    "fetch",
    "formats",
    "Project",
    "Chip",
    "Class",
    "Label",
    "Georeferencing",
    "LabelstoreError",
    "InputError",
    "DestinationError",
]

PathLike = Union[str, "os.PathLike[str]"]
Progress = Optional[Callable[[Dict[str, Any]], Any]]


def _value(value: Any) -> str:
    """An option's value as the command line takes it."""
    if isinstance(value, dict):
        # --split train=0.8,val=0.2
        return ",".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        # --format coco,yolo
        return ",".join(_value(v) for v in value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def _argv(command: str, positional: Iterable[PathLike], options: Dict[str, Any]) -> List[str]:
    argv = ["labelstore", command]
    for key, value in options.items():
        if value is None or value is False:
            continue
        flag = "--" + key.rstrip("_").replace("_", "-")
        argv.append(flag)
        if value is not True:
            argv.append(_value(value))
    positional = [os.fspath(p) for p in positional]
    if positional:
        # After `--`, a path starting with `-` is still a path.
        argv.append("--")
        argv.extend(positional)
    return argv


def _run(command: str, positional: Iterable[PathLike], options: Dict[str, Any], progress: Progress) -> Any:
    return json.loads(_native.run(_argv(command, positional, options), progress))


def store(
    project: PathLike,
    to: str = "local",
    formats: Union[str, Iterable[str], None] = None,
    *,
    progress: Progress = None,
    **options: Any,
) -> Dict[str, Any]:
    """Stores ``project`` (project.json or its folder) in ``formats`` into
    the destination ``to`` (``local``, ``objstore`` or ``db``); options as
    ``labelstore store``: ``path``, ``url``, ``par_url``, ``prefix``,
    ``endpoint``, ``region``, ``connection``, ``table``, ``password_file``,
    ``dest``, ``chip``, ``overwrite``, ``concurrency``, ``split``,
    ``dry_run``, ... ``from_="coco"`` (``voc``, ``yolo``, ``kitti``,
    ``geojson``, ``shapefile``, ``auto``) takes another tool's dataset
    for ``project`` and converts it in one step. Returns the summary
    (``chips_stored``, ``excluded``, ``files``, ``bytes``, ...)."""
    if isinstance(formats, str):
        formats = [formats]
    return _run("store", [project], {"to": to, "format": formats, **options}, progress)


def import_dataset(
    path: PathLike,
    output: PathLike,
    format: str = "auto",
    *,
    progress: Progress = None,
    **options: Any,
) -> Dict[str, Any]:
    """Brings a dataset (COCO, Pascal VOC, YOLO, KITTI, or a store's GeoJSON
    or Shapefile folder) at ``path`` into a project folder ``output``;
    ``format="auto"`` tells it from the layout. Options as ``labelstore
    import`` (``overwrite``, ``split``, ``dry_run``, ...)."""
    return _run("import", [path], {"from": format, "output": output, **options}, progress)


def chip(
    scenes: Union[PathLike, Iterable[PathLike]],
    labels: PathLike,
    output: PathLike,
    *,
    labeling_type: str,
    size: int,
    progress: Progress = None,
    **options: Any,
) -> Dict[str, Any]:
    """Cuts georeferenced scenes (GeoTIFF) and the labels drawn on them in a
    GIS into a project folder ``output``. Give ``class_field="..."`` or
    ``class_="..."``; other options as ``labelstore chip`` (``stride``,
    ``keep_empty``, ``min_visible``, ``layer``, ``srid``, ``overwrite``,
    ...)."""
    if isinstance(scenes, (str, os.PathLike)):
        scenes = [scenes]
    options = {"labels": labels, "output": output, "labeling_type": labeling_type, "size": size, **options}
    return _run("chip", scenes, options, progress)


def verify(from_: str = "local", *, progress: Progress = None, **options: Any) -> Dict[str, Any]:
    """Checks a store against its manifest (``path=...`` for a local one;
    ``url``, ``par_url`` and ``prefix``, ``connection`` and ``table`` for
    the others). Returns ``files_listed`` and ``problems``: the store is
    whole when ``problems`` is empty."""
    return _run("verify", [], {"from": from_, **options}, progress)


def fetch(
    output: PathLike,
    from_: str = "local",
    *,
    progress: Progress = None,
    **options: Any,
) -> Dict[str, Any]:
    """Reads a store back into a project folder ``output`` (``path=...``
    for a local store; ``chip``, ``overwrite``, ``project`` as ``labelstore
    fetch``)."""
    return _run("fetch", [], {"from": from_, "output": output, **options}, progress)


def formats() -> List[Dict[str, Any]]:
    """Every label format: its name, labeling types, whether ``import``
    reads it and ``store`` writes it, its layout and aliases."""
    return _run("formats", [], {}, None)
