"""A worker that does not share the server's folders (another machine): the images a prompt
loads travel with it, the images it saves come back under free names. The worker class
runs in this process here; tests/test_ray_workers.py runs it as Ray actors."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from cluster import worker as protocol
from cluster.files import input_files, output_files, place_input_files, store_output_files
from cluster.settings import WorkerSettings
from cluster.worker import StudioWorker
from nodes.folders import Folders


def png(path: Path, value: int) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), value, dtype=np.uint8)).save(path)
    return path.read_bytes()


def load_and_save(name: str) -> dict:
    return {"1": {"class_type": "LoadImage", "inputs": {"image": name}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "shipped"}}}


def test_input_files_are_the_named_files_of_the_folders_and_nothing_outside(tmp_path):
    head = Folders.under(tmp_path / "head")
    data = png(head.input / "sub" / "cat.png", 10)
    png(head.output / "made.png", 20)
    (tmp_path / "secret.png").write_bytes(b"no")
    prompt = {"1": {"inputs": {"image": "sub/cat.png", "again": "sub/cat.png", "other": "made.png [output]",
                               "escape": "../../secret.png", "text": "a cat", "n": 3}}}
    files = input_files(prompt, head)
    assert [(f["type"], f["name"]) for f in files] == [("input", "sub/cat.png"), ("output", "made.png")]
    assert files[0]["data"] == data
    worker = Folders.under(tmp_path / "worker")
    place_input_files(files, worker)
    assert (worker.input / "sub" / "cat.png").read_bytes() == data


def test_saved_files_come_back_and_never_replace_a_file_already_there(tmp_path):
    worker, head = Folders.under(tmp_path / "worker"), Folders.under(tmp_path / "head")
    made = png(worker.output / "run" / "img_00001_.png", 30)
    outputs = {"9": {"images": [{"filename": "img_00001_.png", "subfolder": "run", "type": "output"}]}}
    files = output_files(outputs, worker)
    taken = png(head.output / "run" / "img_00001_.png", 40)  # another worker's image, same name
    store_output_files(files, outputs, head)
    entry = outputs["9"]["images"][0]
    assert entry["filename"] == "img_00001__1.png"
    assert (head.output / "run" / "img_00001__1.png").read_bytes() == made
    assert (head.output / "run" / "img_00001_.png").read_bytes() == taken
    store_output_files(files, {"9": {"images": [dict(entry, filename="img_00001_.png")]}}, head)
    assert sorted(p.name for p in (head.output / "run").iterdir()) == ["img_00001_.png", "img_00001__1.png"]


def test_an_output_that_did_not_come_back_is_dropped_not_pointed_at_another_file(tmp_path):
    head = Folders.under(tmp_path / "head")
    png(head.output / "img_00001_.png", 1)
    (head.output / "img_00002_.png").mkdir()  # a folder where the name would go
    outputs = {"9": {"images": [{"filename": "img_00001_.png", "subfolder": "", "type": "output"},
                                {"filename": "img_00002_.png", "subfolder": "", "type": "output"}],
                     "text": ["kept"]}}
    store_output_files([{"type": "output", "subfolder": "", "filename": "img_00002_.png", "data": b"new"}], outputs, head)
    assert outputs["9"] == {"images": [{"filename": "img_00002__1.png", "subfolder": "", "type": "output"}],
                            "text": ["kept"]}
    assert (head.output / "img_00002__1.png").read_bytes() == b"new"


def test_a_worker_on_other_folders_runs_a_prompt_with_shipped_files(tmp_path, monkeypatch):
    monkeypatch.setattr(StudioWorker, "_apply_process_settings", staticmethod(lambda settings: None))  # process-wide
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # the worker's scratch folder goes here
    (tmp_path / "tmp").mkdir()
    head = Folders.under(tmp_path / "head")
    png(head.input / "photo.png", 50)
    worker = StudioWorker(WorkerSettings(base_dir=str(tmp_path / "head"), ship_files=True,
                                         registry="tests.ray_test_nodes:NODES", heartbeat_s=0.2))
    assert not worker.shared_folders and worker.folders.output.parent.parent == tmp_path / "tmp"
    request = {"prompt": load_and_save("photo.png"), "prompt_id": "p1", "extra_data": {}, "outputs": ["2"],
               "inputs": input_files(load_and_save("photo.png"), head)}
    events = list(worker.run(request))
    kinds = [kind for kind, _ in events if kind != protocol.HEARTBEAT]
    assert kinds[0] == "execution_start" and kinds[-1] == protocol.RESULT
    payload = events[-1][1]
    result = payload["result"]
    assert result.status == "success" and [f["filename"] for f in payload["files"]] == ["shipped_00001_.png"]
    store_output_files(payload["files"], result.outputs, head)
    saved = result.outputs["2"]["images"][0]
    with Image.open(head.output / saved["subfolder"] / saved["filename"]) as image:
        assert image.size == (8, 8) and image.getpixel((0, 0)) == (50, 50, 50)
    assert worker.info()["prompts_run"] == 1 and worker.info()["shared_folders"] is False
