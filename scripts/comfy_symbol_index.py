"""Build comfy_compat/data/comfy_symbols.json from a ComfyUI checkout: for each of its
Python modules, the top-level names it defines (and, for names that import a module from
outside ComfyUI, which module). Only names are recorded, never code: the compatibility
layer uses the index to answer `hasattr` and `from x import y` as ComfyUI would, with a
clear "not provided" error for names it does not implement.

    python scripts/comfy_symbol_index.py COMFYUI_DIR [COMFYUI_DIR ...] > comfy_compat/data/comfy_symbols.json
"""
from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

ROOTS = ("comfy", "comfy_extras", "comfy_execution", "comfy_api", "app")
TOP_MODULES = ("folder_paths", "node_helpers", "latent_preview", "execution", "protocol", "comfyui_version",
               "cuda_malloc", "hook_breaker_ac10a0", "new_updater", "nodes", "server")
COMFY_TOPS = set(ROOTS) | set(TOP_MODULES) | {"nodes", "server", "utils", "comfy_api_nodes", "comfy_config"}


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def names_of(tree: ast.Module, module: str, is_package: bool) -> dict[str, str]:
    """name -> "" for a definition; "numpy" for a module it imports; "torch:nn" for a name
    it imports from a module; a leading "@" when that module is ComfyUI's own."""
    found: dict[str, str] = {}
    package = module if is_package else module.rpartition(".")[0]

    def origin(target: str) -> str:
        return ("@" if target.split(".")[0] in COMFY_TOPS else "") + target

    def visit(body) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found.setdefault(node.name, "")
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for name in ast.walk(target):
                        if isinstance(name, ast.Name):
                            found.setdefault(name.id, "")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    bound = alias.asname or alias.name.split(".")[0]
                    found.setdefault(bound, origin(alias.name if alias.asname else alias.name.split(".")[0]))
            elif isinstance(node, ast.ImportFrom):
                source = node.module or ""
                if node.level:
                    base = package.split(".") if package else []
                    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                    source = ".".join(base + ([source] if source else []))
                for alias in node.names:
                    if alias.name != "*":
                        found.setdefault(alias.asname or alias.name, origin(f"{source}:{alias.name}"))
            elif isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
                visit(getattr(node, "orelse", []))
                visit(getattr(node, "finalbody", []))
    visit(tree.body)
    return {k: v for k, v in found.items() if not k.startswith("_")}


def index(checkout: Path) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    paths = [p for root in ROOTS for p in (checkout / root).rglob("*.py")]
    paths += [checkout / f"{m}.py" for m in TOP_MODULES if (checkout / f"{m}.py").is_file()]
    for path in sorted(paths):
        if any(part in ("tests", "tests-unit") for part in path.parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        except SyntaxError:
            continue
        name = module_name(checkout, path)
        out[name] = names_of(tree, name, path.name == "__init__.py")
    return out


def main(argv: list[str]) -> int:
    merged: dict[str, dict[str, str]] = {}
    for checkout in argv:
        for module, names in index(Path(checkout)).items():
            merged.setdefault(module, {}).update({k: v for k, v in names.items() if k not in merged.get(module, {})})
    json.dump({m: dict(sorted(n.items())) for m, n in sorted(merged.items())}, sys.stdout, separators=(",", ":"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
