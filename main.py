"""Command line of the studio: `run WORKFLOW` runs a workflow headless."""
from __future__ import annotations

import argparse
import logging
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def build_parser() -> argparse.ArgumentParser:
    from cli.app_paths import add_folder_flags

    parser = argparse.ArgumentParser(prog="main.py", description="Stable Diffusion node-graph studio")
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="run a workflow (API-format JSON or a PNG carrying one) headless")
    run.add_argument("workflow", help="path to the workflow .json or .png")
    run.add_argument("--set", action="append", metavar="NODE.INPUT=VALUE",
                     help="override an input, e.g. --set 6.text='a red circle' --set 3.seed=7")
    run.add_argument("--output-dir", default=None, help="where images are saved (default: BASE/output)")
    run.add_argument("--verbose", "-v", action="store_true", help="print tracebacks of failing nodes")
    add_folder_flags(run)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        from cli.run_command import run_workflow_command

        return run_workflow_command(args)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
