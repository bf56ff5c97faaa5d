"""`main.py serve` (and bare `main.py`) as a user starts it: a subprocess on a free port."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from main import build_parser, with_default_command

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, *flags: str) -> subprocess.Popen:
    """`main.py` started the way a user starts it; the caller stops it."""
    return subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "--port", str(port), *flags],
        cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def wait_until_served(process: subprocess.Popen, url: str) -> bytes:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read()
        except OSError:
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)


def test_serve_is_the_default_command_and_flags_parse():
    parser = build_parser()
    args = parser.parse_args(with_default_command([]))
    assert (args.command, args.listen, args.port, args.preview_method) == ("serve", "127.0.0.1", 8188, "none")
    args = parser.parse_args(with_default_command(["--listen", "--port", "9000", "--preview-method", "auto"]))
    assert (args.command, args.listen, args.port, args.preview_method) == ("serve", "0.0.0.0", 9000, "auto")
    args = parser.parse_args(with_default_command(["serve", "--listen", "127.0.0.2"]))
    assert args.listen == "127.0.0.2"
    args = parser.parse_args(with_default_command(["run", "w.json", "--set", "3.seed=1"]))
    assert args.command == "run" and args.workflow == "w.json"


def test_bare_main_serves_until_interrupted(tmp_path):
    port = free_port()
    process = start_server(port, "--base-dir", str(tmp_path))
    try:
        status = wait_until_served(process, f"http://127.0.0.1:{port}/prompt")
        assert json.loads(status) == {"exec_info": {"queue_remaining": 0}}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/object_info/KSampler", timeout=10) as response:
            assert "KSampler" in json.load(response)
        assert (tmp_path / "user" / "studio.sqlite3").exists()
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert f"http://127.0.0.1:{port}/" in output


def test_front_end_flags_pick_the_editor(tmp_path):
    import pytest

    from cli.frontends import STUDIO_FRONTEND, FrontendMissing, frontend_dir

    parser = build_parser()
    assert frontend_dir(parser.parse_args(["serve"])) == STUDIO_FRONTEND
    (tmp_path / "index.html").write_text("<html></html>")
    assert frontend_dir(parser.parse_args(["serve", "--front-end-root", str(tmp_path)])) == tmp_path.resolve()
    with pytest.raises(FrontendMissing, match="no index.html"):
        frontend_dir(parser.parse_args(["serve", "--front-end-root", str(tmp_path / "nothing")]))
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--front-end", "other"])
    args = parser.parse_args(["serve", "--front-end", "comfy", "--multi-user"])
    assert args.multi_user is True
    pytest.importorskip("comfyui_frontend_package")
    assert (frontend_dir(args) / "index.html").is_file()


def test_serve_with_comfys_frontend_and_several_users(tmp_path):
    import pytest

    pytest.importorskip("comfyui_frontend_package")
    port = free_port()
    process = start_server(port, "--base-dir", str(tmp_path), "--front-end", "comfy", "--multi-user")
    try:
        page = wait_until_served(process, f"http://127.0.0.1:{port}/").decode()
        assert "ComfyUI" in page
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/users", timeout=10) as response:
            assert json.load(response) == {"storage": "server", "users": {}}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/extensions", timeout=10) as response:
            assert any(url.startswith("/extensions/core/") for url in json.load(response))
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output


def test_ray_flags_parse_and_workers_need_ray(tmp_path):
    import pytest

    from cli.memory_flags import memory_argv
    from cli.ray_flags import ray_runners

    parser = build_parser()
    args = parser.parse_args(["serve", "--ray", "--workers", "3", "--worker-timeout", "5", "--lowvram",
                              "--reserve-vram", "0.5", "--fp16-unet", "--cpu-vae"])
    assert (args.ray, args.workers, args.worker_timeout) == ("local", 3, 5.0)
    again = parser.parse_args(["serve", *memory_argv(args)])
    assert memory_argv(again) == memory_argv(args) == ["--lowvram", "--reserve-vram", "0.5", "--cpu-vae", "--fp16-unet"]
    assert parser.parse_args(["serve", "--ray", "head:6379"]).ray == "head:6379"
    assert ray_runners(parser.parse_args(["serve"]), None) == []
    with pytest.raises(SystemExit, match="--workers needs --ray"):
        ray_runners(parser.parse_args(["serve", "--workers", "2"]), None)
    with pytest.raises(SystemExit, match="--worker-timeout must be at least 10 s"):
        ray_runners(parser.parse_args(["serve", "--ray", "--worker-timeout", "3"]), None)


def test_serve_on_a_local_ray_worker_runs_a_prompt_and_leaves_no_ray_process(tmp_path):
    import os

    import pytest

    pytest.importorskip("ray")
    from tests.tiny_models import write_tiny_checkpoint

    (tmp_path / "models" / "checkpoints").mkdir(parents=True)
    write_tiny_checkpoint(tmp_path / "models" / "checkpoints" / "tiny.safetensors")
    ray_temp = Path(os.path.realpath("/tmp")) / f"ray-cli-{os.getpid()}"
    port = free_port()
    process = start_server(port, "--base-dir", str(tmp_path), "--ray", "local", "--workers", "1",
                           "--ray-temp-dir", str(ray_temp))
    try:
        wait_until_served(process, f"http://127.0.0.1:{port}/prompt")
        deadline = time.monotonic() + 120
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/system_stats", timeout=10) as response:
                workers = json.load(response)["workers"]
            if workers[0]["state"] == "ready":
                break
            assert time.monotonic() < deadline, workers
            time.sleep(0.5)
        assert [w["id"] for w in workers] == ["worker-1"] and workers[0]["pid"] != process.pid
        prompt = json.loads((ROOT / "workflows" / "txt2img.json").read_text())
        prompt["4"]["inputs"]["ckpt_name"] = "tiny.safetensors"
        prompt["5"]["inputs"].update(width=64, height=64)
        prompt["3"]["inputs"]["steps"] = 2
        request = urllib.request.Request(f"http://127.0.0.1:{port}/prompt", data=json.dumps({"prompt": prompt}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            prompt_id = json.load(response)["prompt_id"]
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/history/{prompt_id}", timeout=10) as response:
                entry = json.load(response).get(prompt_id)
            if entry:
                break
            assert time.monotonic() < deadline, "the prompt did not finish"
            time.sleep(0.2)
        assert entry["status"]["status_str"] == "success" and entry["worker"] == "worker-1"
        image = entry["outputs"]["9"]["images"][0]
        assert (tmp_path / "output" / image["filename"]).is_file()
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    deadline = time.monotonic() + 30
    while left := subprocess.run(["pgrep", "-f", str(ray_temp)], capture_output=True, text=True).stdout.split():
        assert time.monotonic() < deadline, left  # the local Ray instance goes with the server
        time.sleep(0.2)
