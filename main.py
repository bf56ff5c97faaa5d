"""Command line of the studio: `serve` (the default) runs the server, `run WORKFLOW` runs
a workflow headless."""
from __future__ import annotations

import argparse
import logging
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

COMMANDS = ("serve", "run", "nodes")


def build_parser() -> argparse.ArgumentParser:
    from cli.app_paths import add_folder_flags
    from cli.serve_command import add_serve_flags

    parser = argparse.ArgumentParser(prog="main.py", description="Stable Diffusion node-graph studio")
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="start the HTTP/WebSocket server (the default command)")
    add_serve_flags(serve)
    add_folder_flags(serve)
    run = commands.add_parser("run", help="run a workflow (API-format JSON or a PNG carrying one) headless")
    run.add_argument("workflow", help="path to the workflow .json or .png")
    run.add_argument("--set", action="append", metavar="NODE.INPUT=VALUE",
                     help="override an input, e.g. --set 6.text='a red circle' --set 3.seed=7")
    run.add_argument("--output-dir", default=None, help="where images are saved (default: BASE/output)")
    run.add_argument("--verbose", "-v", action="store_true", help="print tracebacks of failing nodes")
    add_folder_flags(run)
    from cli.memory_flags import add_memory_flags

    add_memory_flags(run)
    from cli.nodes_command import add_nodes_flags

    nodes = commands.add_parser("nodes", help="custom node packs: list, deps [PACK], install-deps PACK")
    add_folder_flags(nodes)
    add_nodes_flags(nodes)
    return parser


def with_default_command(argv: list[str]) -> list[str]:
    """No command (or only flags) means `serve`; `-h` alone still shows the overview."""
    if argv and (argv[0] in COMMANDS or argv[0] in ("-h", "--help")):
        return argv
    return ["serve", *argv]


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(with_default_command(list(sys.argv[1:] if argv is None else argv)))
    if args.command == "nodes":
        from cli.nodes_command import nodes_command

        return nodes_command(args)
    if args.command == "run":
        from cli.run_command import run_workflow_command

        return run_workflow_command(args)
    from cli.serve_command import serve_command

    return serve_command(args)


if __name__ == "__main__":
    sys.exit(main())
