"""The grids that ship with relu-diag (the repository's configs/), reachable by name without a
clone: ``relu-diag grid seed``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def shipped_grids() -> dict[str, str]:
    """Return {name: path} of the grids installed with the package."""
    folder = resources.files("relu_ce_diag") / "grids"
    if not folder.is_dir():
        return {}
    return {Path(str(p)).stem: str(p) for p in sorted(folder.iterdir(), key=str)
            if str(p).endswith(".yaml")}


def grid_file(name: str) -> str:
    """Return ``name`` if it is a file (or not a shipped grid's name), else the shipped grid's
    path (``seed`` or ``seed.yaml``)."""
    if Path(name).exists():
        return name
    return shipped_grids().get(Path(name).stem if name.endswith(".yaml") and "/" not in name
                               else name, name)
