"""A pack's pip requirements: which are missing, and installing them without replacing
what the app depends on.

Installing runs pip twice: first `--dry-run --report` with the app's pins as constraints
(torch and everything in requirements.txt), to see what would change; anything that
would replace torch, add a CUDA build or fight a pin is refused with the reason, before
anything is installed. Only then the real install, with the same constraints.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Optional

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

APP_REQUIREMENTS = Path(__file__).resolve().parent.parent / "requirements.txt"
GUARDED = {"torch", "torchvision", "torchaudio", "triton", "xformers"}  # never installed or replaced by a pack


class DependencyError(RuntimeError):
    """A pack's requirements cannot be installed beside the app (the message says why)."""


@dataclass
class Missing:
    line: str  # the requirement as the pack wrote it
    reason: str  # "not installed", "installed 1.2, needs >=2", "cannot be checked: ..."
    checkable: bool = True


def requirement_lines(pack_dir: Path) -> list[str]:
    """The pack's requirements.txt lines (comments and pip options dropped); else its
    pyproject.toml [project].dependencies."""
    req = pack_dir / "requirements.txt"
    if req.is_file():
        lines = []
        for raw in req.read_text(encoding="utf-8", errors="replace").splitlines():
            line = raw.split(" #", 1)[0].strip()
            if line and not line.startswith(("#", "-")):
                lines.append(line)
        return lines
    project = pack_dir / "pyproject.toml"
    if project.is_file():
        import tomllib

        try:
            data = tomllib.loads(project.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            return []
        return [str(d) for d in data.get("project", {}).get("dependencies", [])]
    return []


def _installed_version(name: str) -> Optional[str]:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def missing_requirements(lines: list[str]) -> list[Missing]:
    """The requirements this environment does not satisfy."""
    out = []
    for line in lines:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            out.append(Missing(line, "cannot be checked: not a name-based requirement (a URL or path?)", False))
            continue
        if req.marker is not None and not req.marker.evaluate():
            continue
        if req.url:
            if _installed_version(req.name) is None:
                out.append(Missing(line, "not installed (from a URL)", False))
            continue
        version = _installed_version(req.name)
        if version is None:
            out.append(Missing(line, "not installed"))
        elif req.specifier and not req.specifier.contains(version, prereleases=True):
            out.append(Missing(line, f"installed {version}, needs {req.specifier}"))
    return out


def app_constraints() -> list[str]:
    """The app's pins as pip constraints: torch as installed, plus requirements.txt."""
    pins = []
    torch_version = _installed_version("torch")
    if torch_version:
        pins.append(f"torch=={torch_version}")
    if APP_REQUIREMENTS.is_file():
        for raw in APP_REQUIREMENTS.read_text().splitlines():
            line = raw.split("#", 1)[0].strip()
            if line and not line.startswith("-") and not line.startswith("torch=="):
                pins.append(line)
    return pins


def _pip_error(done: subprocess.CompletedProcess) -> str:
    lines = [line for line in (done.stderr or done.stdout).strip().splitlines()
             if not line.startswith("WARNING: Location")]
    return "\n".join(lines[-8:])


def _pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True)


def _refusals(report: dict) -> list[str]:
    problems = []
    for item in report.get("install", []):
        meta = item.get("metadata", {})
        name = canonicalize_name(meta.get("name", ""))
        version = str(meta.get("version", ""))
        if name in GUARDED:
            problems.append(f"{name} {version} (the app's own {name} must stay as it is)")
        elif name.startswith("nvidia-") or "+cu" in version or "+rocm" in version:
            problems.append(f"{name} {version} (a CUDA/ROCm build, several GB)")
    return problems


def _pip_inputs(folder: Path, lines: list[str]) -> tuple[Path, Path]:
    """(constraints file with the app's pins, requirements file with `lines`) in `folder`."""
    constraints = folder / "constraints.txt"
    constraints.write_text("\n".join(app_constraints()) + "\n")
    wanted = folder / "requirements.txt"
    wanted.write_text("\n".join(lines) + "\n")
    return constraints, wanted


def plan_install(lines: list[str]) -> list[str]:
    """What pip would install for `lines` beside the app's pins; raises DependencyError."""
    with tempfile.TemporaryDirectory() as tmp:
        constraints, wanted = _pip_inputs(Path(tmp), lines)
        report_path = Path(tmp) / "report.json"
        done = _pip("install", "--dry-run", "--quiet", "--report", str(report_path),
                    "-c", str(constraints), "-r", str(wanted))
        if done.returncode != 0:
            raise DependencyError(f"pip cannot install these beside the app's pinned packages:\n{_pip_error(done)}")
        report = json.loads(report_path.read_text())
    problems = _refusals(report)
    if problems:
        raise DependencyError("refused: installing them would bring " + "; ".join(problems))
    return [f"{item['metadata']['name']}=={item['metadata']['version']}" for item in report.get("install", [])]


def install(lines: list[str]) -> list[str]:
    """Check, then install `lines`; returns what was installed. Raises DependencyError."""
    changes = plan_install(lines)
    if not changes:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        constraints, wanted = _pip_inputs(Path(tmp), lines)
        done = _pip("install", "--quiet", "-c", str(constraints), "-r", str(wanted))
        if done.returncode != 0:
            raise DependencyError(f"pip failed:\n{_pip_error(done)}")
    return changes
