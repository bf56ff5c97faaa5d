"""Outputs at most once per prompt: a re-run after a crash rewrites the files the first run
named instead of adding new ones, and a failed save leaves no file behind."""
from __future__ import annotations

import pytest
import torch

from executor.output_ledger import OutputLedger
from executor.queue_store import QueueItem, QueueStore
from executor.run import Executor
from nodes.folders import Folders
from nodes.png_files import save_images
from nodes.registry import REGISTRY
from tests.server_support import async_test, make_client, wait_for_history


def save_prompt(batch: int = 2) -> dict:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": batch, "color": 255}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "run/pic"}},
    }


def saved(folders: Folders) -> list[str]:
    return sorted(p.name for p in (folders.output / "run").iterdir())


def test_a_rerun_of_the_same_prompt_rewrites_its_own_files(tmp_path):
    folders = Folders.under(tmp_path)
    ledger = OutputLedger(tmp_path / "outputs.sqlite3")
    first = Executor(folders, registry=REGISTRY).run(save_prompt(), prompt_id="p1",
                                                     output_files=ledger.for_prompt("p1"))
    assert saved(folders) == ["pic_00001_.png", "pic_00002_.png"]
    # The process died before the history was written: a fresh executor runs the prompt again.
    again = Executor(folders, registry=REGISTRY).run(save_prompt(), prompt_id="p1",
                                                     output_files=ledger.for_prompt("p1"))
    assert saved(folders) == ["pic_00001_.png", "pic_00002_.png"]
    assert again.outputs["2"] == first.outputs["2"]
    other = Executor(folders, registry=REGISTRY).run(save_prompt(1), prompt_id="p2",
                                                     output_files=ledger.for_prompt("p2"))
    assert other.outputs["2"]["images"][0]["filename"] == "pic_00003_.png"
    ledger.forget("p1")
    assert ledger.for_prompt("p1").previous("2", 0) is None


def test_a_rerun_rewrites_its_saved_latent_too(tmp_path):
    folders = Folders.under(tmp_path)
    ledger = OutputLedger(tmp_path / "outputs.sqlite3")
    prompt = {"1": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
              "2": {"class_type": "SaveLatent", "inputs": {"samples": ["1", 0], "filename_prefix": "run/lat"}}}
    for _ in range(2):  # the second run is the re-run after a crash
        result = Executor(folders, registry=REGISTRY).run(prompt, prompt_id="p1", output_files=ledger.for_prompt("p1"))
    assert saved(folders) == ["lat_00001_.latent"]
    assert result.outputs["2"]["latents"][0]["filename"] == "lat_00001_.latent"
    Executor(folders, registry=REGISTRY).run(prompt, prompt_id="p2", output_files=ledger.for_prompt("p2"))
    assert saved(folders) == ["lat_00001_.latent", "lat_00002_.latent"]


def test_a_lost_file_is_written_under_a_new_name(tmp_path):
    folders = Folders.under(tmp_path)
    ledger = OutputLedger(tmp_path / "outputs.sqlite3")
    Executor(folders, registry=REGISTRY).run(save_prompt(1), prompt_id="p", output_files=ledger.for_prompt("p"))
    (folders.output / "run" / "pic_00001_.png").unlink()
    (folders.output / "run" / "pic_00001_.png").mkdir()  # something else took the name meanwhile
    Executor(folders, registry=REGISTRY).run(save_prompt(1), prompt_id="p", output_files=ledger.for_prompt("p"))
    assert saved(folders) == ["pic_00001_.png", "pic_00002_.png"]


def test_a_failed_save_leaves_no_file(tmp_path, monkeypatch):
    from PIL import Image

    def broken_save(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError):
        save_images(torch.zeros(1, 8, 8, 3), tmp_path, "pic")
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_ledger_is_set_aside_and_a_folder_falls_back_to_memory(tmp_path):
    damaged = tmp_path / "outputs.sqlite3"
    damaged.write_bytes(b"not a database at all" * 100)
    ledger = OutputLedger(damaged)
    ledger.for_prompt("p").record("2", 0, "pic_00001_.png")
    assert ledger.for_prompt("p").previous("2", 0) == "pic_00001_.png"
    assert len(list(tmp_path.glob("outputs.sqlite3.damaged-*"))) == 1
    folder = tmp_path / "folder.sqlite3"
    folder.mkdir()
    in_memory = OutputLedger(folder)
    in_memory.for_prompt("p").record("2", 0, "x.png")
    assert in_memory.for_prompt("p").previous("2", 0) == "x.png" and folder.is_dir()


@async_test
async def test_a_prompt_killed_during_its_save_writes_its_pictures_once(tmp_path):
    """The first run saved (then the process died before the history was written); the
    server's re-run at the next start rewrites the same two files."""
    database = tmp_path / "user" / "studio.sqlite3"
    store = QueueStore(database)
    store.add(QueueItem(0, "saver", save_prompt(), {}, ["2"]), 1)
    store.mark_running("saver")
    store.close()
    ledger = OutputLedger(tmp_path / "user" / "studio-outputs.sqlite3")
    folders = Folders.under(tmp_path)
    Executor(folders, registry=REGISTRY).run(save_prompt(), prompt_id="saver", output_files=ledger.for_prompt("saver"))
    ledger.close()
    assert saved(folders) == ["pic_00001_.png", "pic_00002_.png"]
    async with make_client(tmp_path, registry=None) as client:
        entry = await wait_for_history(client, "saver")
        assert entry["status"]["status_str"] == "success"
        assert [i["filename"] for i in entry["outputs"]["2"]["images"]] == ["pic_00001_.png", "pic_00002_.png"]
    assert saved(folders) == ["pic_00001_.png", "pic_00002_.png"]
