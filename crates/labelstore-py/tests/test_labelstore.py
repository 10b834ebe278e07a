"""The labelstore wheel, installed: the module and the `labelstore` command
it installs, on the example project (examples/harbour, examples/scene).

`cargo xtask test` builds the wheel, installs it into a fresh venv with
pytest and numpy, and runs this suite there.
"""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import labelstore

ROOT = Path(os.environ.get("LABELSTORE_ROOT", Path(__file__).resolve().parents[3]))
HARBOUR = ROOT / "examples" / "harbour"
SCENE = ROOT / "examples" / "scene"
# The installed command, beside the venv's python.
COMMAND = shutil.which("labelstore", path=str(Path(sys.executable).parent))

# The example's chips: 12 listed, 2 deleted (r1_c0, r2_c1), 1 without labels
# and not saved empty (r1_c3); r2_c0 is saved empty.
STORED = ["r0_c0", "r0_c1", "r0_c2", "r0_c3", "r1_c1", "r1_c2", "r2_c0", "r2_c2", "r2_c3"]


def command(*args, check=True):
    assert COMMAND, "the wheel installs a labelstore command"
    done = subprocess.run([COMMAND, *map(str, args)], capture_output=True, text=True)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def test_store_through_the_module_reports_and_writes_every_format(tmp_path):
    steps = []
    r = labelstore.store(HARBOUR, to="local", formats=["coco", "yolo", "json"], path=tmp_path / "s", progress=steps.append)
    assert r["project"] == "harbour-ships"
    assert r["formats"] == ["coco", "yolo", "json"]
    assert r["chips_stored"] == 9
    assert r["excluded"] == {"deleted": 2, "unlabeled": 1}
    assert [c["chip"] for c in r["chips"]] == STORED
    # Progress: one step per chip stored, in order, with running totals.
    assert [s["item"] for s in steps] == STORED
    assert {s["phase"] for s in steps} == {"stored"} and {s["unit"] for s in steps} == {"chips"}
    assert [s["done"] for s in steps] == list(range(1, 10)) and steps[-1]["total"] == 9
    assert steps[-1]["bytes"] > 0
    coco = json.loads((tmp_path / "s/coco/annotations/instances_train.json").read_text())
    assert [c["name"] for c in coco["categories"]] == ["ship", "buoy", "small boat"]
    ship = next(a for a in coco["annotations"] if a["image_id"] == 1 and a["category_id"] == 1)
    assert ship["bbox"] == [8.0, 20.0, 36.5, 14.0]  # [8, 20, 44.5, 34] as COCO's x, y, w, h
    assert (tmp_path / "s/labelstore-manifest.json").is_file()


def test_store_through_the_command_matches_the_module(tmp_path):
    by_module = labelstore.store(HARBOUR, formats="voc", path=tmp_path / "m")
    done = command("store", HARBOUR, "--to", "local", "--path", tmp_path / "c", "--format", "voc", "--json")
    by_command = json.loads(done.stdout)
    for key in ("chips_stored", "excluded", "files", "bytes", "formats", "georeferencing"):
        assert by_command[key] == by_module[key], key
    text = command("store", HARBOUR, "--to", "local", "--path", tmp_path / "t", "--format", "voc").stdout
    assert text.startswith('stored 9 chips of "harbour-ships" to local folder')
    listed = labelstore.verify(path=tmp_path / "m")["files_listed"]
    # Every file but the store manifest itself is listed in it.
    assert listed == by_module["files"] - 1
    assert command("verify", "--from", "local", "--path", tmp_path / "c").stdout == (
        f"whole: {listed} files, sizes and SHA-256 as listed\n"
    )


def test_verify_finds_a_damaged_store(tmp_path):
    stored = labelstore.store(HARBOUR, formats=["kitti"], path=tmp_path / "s")
    r = labelstore.verify(path=tmp_path / "s")
    assert r == {"files_listed": stored["files"] - 1, "problems": []}
    label = tmp_path / "s/kitti/train/label_2/r0_c1.txt"
    label.write_text(label.read_text() + "x")
    r = labelstore.verify(from_="local", path=tmp_path / "s")
    assert len(r["problems"]) == 1 and "kitti/train/label_2/r0_c1.txt" in r["problems"][0]
    assert r["problems"][0].startswith("size differs")
    done = command("verify", "--from", "local", "--path", tmp_path / "s", check=False)
    assert done.returncode == 1
    assert "kitti/train/label_2/r0_c1.txt" in done.stdout


def test_fetch_reads_a_store_back_into_the_same_project(tmp_path):
    labelstore.store(HARBOUR, formats="json", path=tmp_path / "s")
    steps = []
    r = labelstore.fetch(tmp_path / "back", path=tmp_path / "s", progress=steps.append)
    assert r["chips_stored"] == 9
    assert steps and steps[-1]["done"] == steps[-1]["total"]
    original, back = labelstore.Project.load(HARBOUR), labelstore.Project.load(tmp_path / "back")
    assert back.name == "harbour-ships" and back.classes == original.classes
    assert [c.id for c in back.chips] == STORED
    for c in back.chips:
        if c.id != "r0_c3":
            assert c.labels == original.chip(c.id).labels
    # The box crossing r0_c3's right edge was clipped to the 64 px chip.
    assert original.chip("r0_c3").labels[0].bbox == [30.0, 24.0, 70.0, 40.0]
    assert back.chip("r0_c3").labels[0].bbox == [30.0, 24.0, 64.0, 40.0]
    assert back.chip("r0_c3").labels[0].attributes == {"truncated": True}
    # One chip, through the command.
    command("fetch", "--from", "local", "--path", tmp_path / "s", "--output", tmp_path / "one", "--chip", "r1_c2")
    one = labelstore.Project.load(tmp_path / "one")
    assert [c.id for c in one.chips] == ["r1_c2"]
    assert one.chips[0].georeferencing.geotransform == (500064.0, 0.5, 0.0, 4649744.0, 0.0, -0.5)


def test_import_dataset_brings_a_coco_store_back(tmp_path):
    labelstore.store(HARBOUR, formats="coco", path=tmp_path / "s")
    r = labelstore.import_dataset(tmp_path / "s/coco", tmp_path / "p")
    assert r["imported_from"] == {"format": "coco", "detected": True}
    assert r["chips_stored"] == 9
    p = labelstore.Project.load(tmp_path / "p")
    assert [c.name for c in p.classes] == ["ship", "buoy", "small boat"]
    r0 = p.chip("r0_c0")
    assert [lb.bbox for lb in r0.labels] == [[8.0, 20.0, 44.5, 34.0], [52.0, 48.0, 56.0, 52.0], [20.0, 50.0, 27.0, 54.0]]
    # The command imports the same project.
    done = command("import", "--from", "COCO", tmp_path / "s/coco", "--output", tmp_path / "q", "--json")
    assert json.loads(done.stdout)["imported_from"] == {"format": "coco", "detected": False}
    q = labelstore.Project.load(tmp_path / "q")
    assert [c.id for c in q.chips] == [c.id for c in p.chips] and q.chip("r0_c0").labels == r0.labels
    # The command, naming the format, refuses a non-empty output.
    done = command("import", "--from", "COCO", tmp_path / "s/coco", "--output", tmp_path / "p", check=False)
    assert done.returncode == 2 and "labelstore: error: " in done.stderr
    # The same refusal from the module, with the same message.
    with pytest.raises(labelstore.InputError) as e:
        labelstore.import_dataset(tmp_path / "s/coco", tmp_path / "p", format="coco")
    assert done.stderr == f"labelstore: error: {e.value}\n"


def test_store_converts_a_dataset_in_one_step(tmp_path):
    labelstore.store(HARBOUR, formats="coco", path=tmp_path / "s")
    r = labelstore.store(tmp_path / "s/coco", from_="coco", formats=["voc", "yolo"], path=tmp_path / "o")
    assert r["read_from"] == {"format": "coco", "detected": False}
    assert r["chips_stored"] == 9
    # The same labels as a store of the project itself.
    labelstore.store(HARBOUR, formats="yolo", path=tmp_path / "h")
    assert (tmp_path / "o/yolo/labels/train/r0_c0.txt").read_bytes() == (
        tmp_path / "h/yolo/labels/train/r0_c0.txt"
    ).read_bytes()


def test_chip_cuts_a_scene_into_a_project(tmp_path):
    r = labelstore.chip(
        SCENE / "scene.tif",
        SCENE / "labels.geojson",
        tmp_path / "chips",
        labeling_type="object_detection",
        size=256,
        class_field="class",
    )
    assert r["chips"] == 12 and r["scenes"][0]["size"] == [1024, 768]
    assert r["scenes"][0]["crs"] == "EPSG:32632"
    p = labelstore.Project.load(tmp_path / "chips")
    assert len(p.chips) == 12 and p.labeling_type == "object_detection"
    first = p.chips[0]
    assert (first.width, first.height) == (256, 256)
    assert first.georeferencing.source == "embedded" and first.georeferencing.srid == 32632


def test_project_load_gives_classes_chips_labels_and_georeferencing():
    p = labelstore.Project.load(HARBOUR / "project.json")
    assert (p.name, p.labeling_type, p.srid) == ("harbour-ships", "object_detection", 32632)
    assert p.classes == [
        labelstore.Class(1, "ship", "#e6194b"),
        labelstore.Class(2, "buoy", "#3cb44b"),
        labelstore.Class(3, "small boat", "#4363d8"),
    ]
    r0 = p.chip("r0_c0")
    assert r0.image == HARBOUR / "chips/r0_c0.png" and (r0.width, r0.height) == (64, 64)
    assert r0.split == "train"
    assert r0.georeferencing == labelstore.Georeferencing("world_file", (500000.0, 0.5, 0.0, 4649776.0, 0.0, -0.5), 32632)
    assert r0.georeferencing.pixel_to_map(64, 64) == (500032.0, 4649744.0)
    assert [(lb.class_name, lb.class_id, lb.kind) for lb in r0.labels] == [
        ("ship", 1, "bbox"),
        ("buoy", 2, "bbox"),
        ("small boat", 3, "bbox"),
    ]
    assert r0.labels[2].attributes == {"pose": "Left"}
    boxes, ids = r0.boxes()
    assert boxes == [[8.0, 20.0, 44.5, 34.0], [52.0, 48.0, 56.0, 52.0], [20.0, 50.0, 27.0, 54.0]] and ids == [1, 2, 3]
    arr, ids = r0.boxes(numpy=True)
    assert arr.shape == (3, 4) and arr.dtype == np.float64 and ids.tolist() == [1, 2, 3]
    assert np.array_equal(r0.labels[0].to_numpy(), np.array([8.0, 20.0, 44.5, 34.0]))
    inline = p.chip("r1_c2")
    assert inline.georeferencing == labelstore.Georeferencing("inline", (500064.0, 0.5, 0.0, 4649744.0, 0.0, -0.5), 32632)
    tif = p.chip("r1_c1")
    assert tif.georeferencing == labelstore.Georeferencing("embedded", (500032.0, 0.5, 0.0, 4649744.0, 0.0, -0.5), 32632)
    assert p.chip("r1_c0").deleted and p.chip("r1_c0").width is None
    assert p.chip("r2_c0").saved_empty and p.chip("r2_c0").labels == []
    assert p.splits == {"train": [c.id for c in p.chips if not c.deleted]}


def test_polygons_come_as_rings_and_numpy_arrays(tmp_path):
    manifest = {
        "labelstore": 1,
        "name": "seg",
        "labeling_type": "instance_segmentation",
        "classes": [{"id": 1, "name": "ship"}],
        "chips": [
            {
                "id": "a",
                "image": str(HARBOUR / "chips/r0_c1.png"),
                "split": "val",
                "labels": [
                    {"class": "ship", "polygon": [[[2, 2], [30, 2], [30, 30], [2, 30]], [[10, 10], [12, 10], [12, 12]]]},
                ],
            }
        ],
    }
    (tmp_path / "project.json").write_text(json.dumps(manifest))
    p = labelstore.Project.load(tmp_path)
    label = p.chips[0].labels[0]
    assert label.kind == "polygon" and label.bbox is None
    assert label.coordinates[1] == [[10.0, 10.0], [12.0, 10.0], [12.0, 12.0]]
    rings = label.to_numpy()
    assert [r.shape for r in rings] == [(4, 2), (3, 2)]
    assert p.splits == {"val": ["a"]}


def test_input_errors_carry_the_command_lines_message(tmp_path):
    with pytest.raises(labelstore.InputError) as e:
        labelstore.store(HARBOUR, formats=["coco", "nope"], path=tmp_path / "s")
    assert str(e.value).startswith('unknown format "nope"')
    assert isinstance(e.value, labelstore.LabelstoreError)
    done = command("store", HARBOUR, "--to", "local", "--path", tmp_path / "s", "--format", "coco,nope", check=False)
    assert done.returncode == 2
    assert done.stderr == f"labelstore: error: {e.value}\n"
    assert not (tmp_path / "s").exists()
    # An option no command has, and a project that is not there.
    with pytest.raises(labelstore.InputError, match="--colour"):
        labelstore.store(HARBOUR, formats="json", path=tmp_path / "s", colour="red")
    with pytest.raises(labelstore.InputError, match="nowhere"):
        labelstore.store(tmp_path / "nowhere", formats="json", path=tmp_path / "s")
    # A usage error clap finds: the command exits 2, the module raises.
    done = command("store", HARBOUR, "--format", "json", check=False)
    assert done.returncode == 2 and "--to <DESTINATION>" in done.stderr
    with pytest.raises(labelstore.InputError, match="--to <DESTINATION>"):
        labelstore.store(HARBOUR, to=None, formats="json", path=tmp_path / "s")
    with pytest.raises(labelstore.InputError, match="bad json|expected|line 1"):
        (tmp_path / "bad").mkdir()
        (tmp_path / "bad/project.json").write_text("{")
        labelstore.Project.load(tmp_path / "bad")


def test_destination_errors_carry_the_command_lines_message(tmp_path):
    url = "postgres://labels@127.0.0.1:1/gis"
    with pytest.raises(labelstore.DestinationError) as e:
        labelstore.store(HARBOUR, to="db", formats="json", connection=url, table="chips")
    assert "cannot connect to PostgreSQL at 127.0.0.1:1/gis" in str(e.value)
    assert not isinstance(e.value, labelstore.InputError)
    done = command("store", HARBOUR, "--to", "db", "--connection", url, "--table", "chips", "--format", "json", check=False)
    assert done.returncode == 1
    assert done.stderr == f"labelstore: error: {e.value}\n"
    # A local target under a file cannot be made.
    (tmp_path / "file").write_text("x")
    with pytest.raises(labelstore.DestinationError, match="cannot create"):
        labelstore.store(HARBOUR, formats="json", path=tmp_path / "file/sub")


def test_an_exception_in_the_progress_callback_stops_and_undoes_the_store(tmp_path):
    def stop_at_third(step):
        if step["done"] == 3:
            raise RuntimeError("enough")

    with pytest.raises(RuntimeError, match="enough"):
        labelstore.store(HARBOUR, formats="json", path=tmp_path / "s", progress=stop_at_third)
    assert not (tmp_path / "s").exists()
    assert list(tmp_path.iterdir()) == []


def test_an_exception_in_the_progress_callback_undoes_an_import_and_a_fetch(tmp_path):
    labelstore.store(HARBOUR, formats=["coco", "json"], path=tmp_path / "s")

    def stop_at_second(step):
        if step["phase"] in ("imported", "wrote") and step["done"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        labelstore.import_dataset(tmp_path / "s/coco", tmp_path / "p", progress=stop_at_second)
    with pytest.raises(KeyboardInterrupt):
        labelstore.fetch(tmp_path / "f", path=tmp_path / "s", progress=stop_at_second)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]
    # Stopped runs leave the thread as it was: the next one runs whole.
    assert labelstore.import_dataset(tmp_path / "s/coco", tmp_path / "p")["chips_stored"] == 9


def test_the_gil_is_released_while_a_store_runs(tmp_path):
    """Another Python thread runs while the store's native code does."""
    window = {}

    def work():
        window["start"] = time.monotonic()
        for i in range(3):
            labelstore.store(HARBOUR, formats=["coco", "voc", "json"], path=tmp_path / f"s{i}")
        window["end"] = time.monotonic()

    worker = threading.Thread(target=work)
    ticks = []
    worker.start()
    while worker.is_alive():
        ticks.append(time.monotonic())
        time.sleep(0.001)
    worker.join()
    inside = [t for t in ticks if window["start"] < t < window["end"]]
    assert len(inside) >= 10, (len(inside), window["end"] - window["start"])


def test_formats_and_help_through_the_module_and_the_command():
    # The installed wheel, not the source tree.
    assert "site-packages" in labelstore.__file__ and "site-packages" in labelstore._native.__file__
    names = [f["name"] for f in labelstore.formats()]
    assert names[:7] == ["json", "geojson", "shapefile", "voc", "coco", "kitti", "yolo"]
    assert command("--help").stdout.startswith("Store AI labeling projects")
    assert command("--version").stdout.strip().startswith("labelstore ")
