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
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "--port", str(port), "--base-dir", str(tmp_path)],
        cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/prompt", timeout=2) as response:
                    assert json.load(response) == {"exec_info": {"queue_remaining": 0}}
                break
            except OSError:
                assert process.poll() is None, process.stdout.read()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/object_info/KSampler", timeout=10) as response:
            assert "KSampler" in json.load(response)
        assert (tmp_path / "user" / "studio.sqlite3").exists()
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert f"http://127.0.0.1:{port}/" in output
