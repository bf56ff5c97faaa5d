"""`main.py nodes list | deps [PACK] | install-deps PACK`: custom node packs, their load
status and their pip requirements."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_OK, EXIT_MISSING, EXIT_REFUSED = 0, 1, 2


def add_nodes_flags(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="nodes_action", required=True)
    listing = actions.add_parser("list", help="import every pack and show: loaded / failed (why) / time / nodes")
    listing.add_argument("--json", action="store_true", help="print the reports as JSON")
    deps = actions.add_parser("deps", help="list a pack's (or every pack's) requirements that are missing")
    deps.add_argument("pack", nargs="?", help="folder name in custom_nodes/ (default: all)")
    install = actions.add_parser("install-deps", help="install a pack's missing requirements beside the app's pins")
    install.add_argument("pack", help="folder name in custom_nodes/")
    install.add_argument("--dry-run", action="store_true", help="only show what would be installed")


def _packs_dir(args: argparse.Namespace) -> Path:
    return Path(args.base_dir) / "custom_nodes"


def _pack_dir(args: argparse.Namespace, name: str) -> Path:
    from comfy_compat.loader import pack_entries

    for entry in pack_entries(_packs_dir(args)):
        if name in (entry.name, entry.stem):
            return entry
    raise SystemExit(f"error: no pack '{name}' in {_packs_dir(args)}")


def list_packs(args: argparse.Namespace) -> int:
    from comfy_compat.setup import load_headless

    from .app_paths import app_folders

    loaded = load_headless(_packs_dir(args), app_folders(args))
    if args.json:
        print(json.dumps([r.as_dict() for r in loaded.reports], indent=2))
        return EXIT_OK
    if not loaded.reports:
        print(f"no packs in {_packs_dir(args)}")
        return EXIT_OK
    width = max(len(r.name) for r in loaded.reports)
    print(f"{'pack':{width}}  {'status':7}  {'time':>7}  {'nodes':>5}  reason")
    for r in loaded.reports:
        note = r.reason
        if r.node_errors:
            note = (note + "; " if note else "") + f"{len(r.node_errors)} node(s) not registered"
        print(f"{r.name:{width}}  {r.status:7}  {r.seconds:6.2f}s  {len(r.nodes):5d}  {note}")
        for node_id, problem in r.node_errors.items():
            print(f"{'':{width}}    - {node_id}: {problem}")
    return EXIT_OK


def show_deps(args: argparse.Namespace) -> int:
    from comfy_compat.deps import missing_requirements, requirement_lines
    from comfy_compat.loader import pack_entries

    entries = [_pack_dir(args, args.pack)] if args.pack else [e for e in pack_entries(_packs_dir(args)) if e.is_dir()]
    any_missing = False
    for entry in entries:
        lines = requirement_lines(entry)
        missing = missing_requirements(lines)
        any_missing = any_missing or bool(missing)
        state = "nothing missing" if not missing else f"{len(missing)} missing"
        print(f"{entry.name}: {len(lines)} requirement(s), {state}")
        for item in missing:
            print(f"  {item.line}: {item.reason}")
    if any_missing and args.pack:
        print(f"install them with: main.py nodes install-deps {args.pack}")
    return EXIT_MISSING if any_missing else EXIT_OK


def install_deps(args: argparse.Namespace) -> int:
    from comfy_compat.deps import DependencyError, install, missing_requirements, plan_install, requirement_lines

    entry = _pack_dir(args, args.pack)
    missing = missing_requirements(requirement_lines(entry))
    if not missing:
        print(f"{entry.name}: nothing to install")
        return EXIT_OK
    lines = [m.line for m in missing]
    try:
        changes = plan_install(lines) if args.dry_run else install(lines)
    except DependencyError as exc:
        print(f"{entry.name}: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    verb = "would install" if args.dry_run else "installed"
    print(f"{entry.name}: {verb} {', '.join(changes) if changes else 'nothing'}")
    return EXIT_OK


def nodes_command(args: argparse.Namespace) -> int:
    return {"list": list_packs, "deps": show_deps, "install-deps": install_deps}[args.nodes_action](args)
