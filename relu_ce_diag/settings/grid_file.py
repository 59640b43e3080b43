"""Load a YAML grid file and check every key and value before anything runs.

It turns the file (read by ``yaml_file``) into a frozen ``GridConfig`` of
normalised partial cells (plain dicts of CellSpec settings, and of a user's function's:
``grid_fn``), each carrying the key path and line it came from, so that every later error can
name ``file:line: key.path``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from relu_ce_diag.errors import OptionError, match_name, suggest
from relu_ce_diag.model.activations import ACTIVATIONS, HIDDEN_NAMES
from relu_ce_diag.model.losses import LOSSES
from relu_ce_diag.model.network import BACKPROPS
from relu_ce_diag.model.precision import DTYPES
from relu_ce_diag.settings.cells import CellSpec, validate
from relu_ce_diag.settings.data import TARGETS
from relu_ce_diag.settings.grid_fn import FN_KEYS, read_fn_setting
from relu_ce_diag.settings.yaml_file import ConfigError, read_yaml, show_path

TOP_KEYS = ("name", "description", "defaults", "grid", "cells", "expect")
SPEC_KEYS = tuple(f.name for f in fields(CellSpec))
CELL_KEYS = SPEC_KEYS + FN_KEYS
EXPECT_KEYS = ("match", "status", "why")
EXPECTABLE = ("pass", "kink", "fail")
FLOATS = ("eps", "step", "relu_grad_at_zero", "leaky_slope")
INTS = ("inputs", "outputs", "samples", "seed")
NAMES = ("act", "out", "loss", "backprop", "targets", "dtype")
NULLABLE = ("out", "step", "data", *FN_KEYS)  # null: as if not given
_ALLOWED = {"act": HIDDEN_NAMES, "out": tuple(ACTIVATIONS), "loss": tuple(LOSSES),
            "backprop": BACKPROPS, "targets": TARGETS, "dtype": DTYPES}
# Settings checked alone against this base, so that a one-hot rule cannot blame `outputs`.
_BASE = CellSpec(targets="multilabel")

Partial = dict[str, Any]


@dataclass(frozen=True)
class Where:
    """Where a value sits: the YAML file, its key path (``grid.act[0]``) and 1-based line."""

    file: str
    path: str
    line: int | None

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True)
class ExplicitCell:
    """One entry of ``cells:``: a partial cell over the defaults, with an optional id."""

    settings: Partial
    id: str | None
    where: Where


@dataclass(frozen=True)
class Rule:
    """One ``expect:`` rule: cells matching every key (any of the listed values) must have
    one of ``statuses``."""

    match: dict[str, tuple[Any, ...]]
    statuses: tuple[str, ...]
    why: str
    where: Where


@dataclass(frozen=True)
class GridConfig:
    """A parsed, checked grid file; ``axes`` keep their order from the file."""

    file: str
    name: str
    description: str
    defaults: Partial
    axes: tuple[tuple[str, tuple[Any, ...]], ...]
    cells: tuple[ExplicitCell, ...]
    rules: tuple[Rule, ...]
    where: Where


class _Reader:
    """Walk the loaded document, raising one OptionError per problem with file, path, line."""

    def __init__(self, file: str, lines: dict[tuple[Any, ...], int]) -> None:
        self.file = file
        self.lines = lines

    def where(self, path: tuple[Any, ...]) -> Where:
        line = None
        for n in range(len(path), -1, -1):  # the nearest enclosing key the YAML spells out
            if path[:n] in self.lines:
                line = self.lines[path[:n]]
                break
        return Where(self.file, show_path(path), line)

    def fail(self, path: tuple[Any, ...], value: object, expected: str) -> OptionError:
        w = self.where(path)
        return OptionError(w.path, value, expected, source=w.source)

    def mapping(self, value: object, path: tuple[Any, ...], allowed: tuple[str, ...],
                what: str) -> dict[str, Any]:
        """Check that ``value`` is a mapping whose keys are all in ``allowed``."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(path, value, f"a mapping of {what}")
        out = {}
        for key, v in value.items():
            norm = key.replace("-", "_") if isinstance(key, str) else key
            if norm not in allowed:
                shown = [a.replace("_", "-") if a in ("relu_grad_at_zero", "leaky_slope",
                                                      "l2_form") else a for a in allowed]
                raise self.fail((*path, key), key, f"one of the keys {', '.join(shown)}"
                                + suggest(str(key), shown + list(allowed)))
            out[norm] = (key, v)
        return out

    def text(self, value: object, path: tuple[Any, ...]) -> str:
        if not isinstance(value, str):
            raise self.fail(path, value, "a string")
        # a lone surrogate ("\ud800") cannot be written as UTF-8 and a control character
        # breaks the JUnit XML: both crashed the report after every cell had run
        if any(c not in "\t\n" and (ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF) for c in value):
            raise self.fail(path, value, "printable text (no control characters or lone "
                            "surrogates)")
        return value

    def setting(self, key: str, value: Any, path: tuple[Any, ...]) -> Any:
        """Normalise one cell setting (types as ``check`` takes them) and check it alone."""
        if value is None and key in NULLABLE:
            return None
        if key in FN_KEYS:
            return read_fn_setting(key, value, Path(self.file).parent,
                                   lambda v, e: self.fail(path, v, e),
                                   lambda v: self._float(v, path))
        if key in NAMES and isinstance(value, str):
            value = match_name(value, _ALLOWED[key]) or value  # CE, ReLU: the seed's spellings
        if key in NAMES or key == "data":
            if not isinstance(value, str):
                raise self.fail(path, value, "a name (a string)" if key != "data"
                                else "a path to an .npz or .mat file, relative to the YAML "
                                "file")
        elif key in FLOATS:
            value = self._float(value, path)
        elif key in INTS:
            if not isinstance(value, int) or isinstance(value, bool):
                raise self.fail(path, value, "a whole number")
        elif key == "hidden":
            value = self._widths(value, path)
        if key == "data":
            return self._data(value, path)  # type: ignore[arg-type]
        try:
            validate(replace(_BASE, **{key: value}), label="{}")
        except OptionError as exc:
            raise self.fail(path, exc.value, exc.expected) from None
        return value

    def _float(self, value: object, path: tuple[Any, ...]) -> float:
        # YAML 1.1 reads 1e-8 (no dot) as a string; a number is what the user meant.
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise self.fail(path, value, "a number") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(path, value, "a number")
        try:
            value = float(value)  # an integer of 400 digits overflows
        except OverflowError:
            raise self.fail(path, value, "a finite number") from None
        if not math.isfinite(value):
            raise self.fail(path, value, "a finite number")
        return value

    def _widths(self, value: object, path: tuple[Any, ...]) -> tuple[int, ...]:
        if isinstance(value, str):
            try:
                value = [int(v) for v in value.split(",")]
            except ValueError:
                raise self.fail(path, value, "layer widths such as 100 or [64, 32]") from None
        items = value if isinstance(value, list) else [value]
        if not items or any(not isinstance(v, int) or isinstance(v, bool) or v < 1
                            for v in items):
            raise self.fail(path, value, "layer widths >= 1 such as 100 or [64, 32]")
        return tuple(items)

    def _data(self, value: str, path: tuple[Any, ...]) -> str:
        target = Path(self.file).parent / value
        if not target.is_file():
            raise self.fail(path, value, f"an existing .npz or .mat file relative to the YAML "
                            f"file ({str(target)!r} does not exist)")
        return os.path.relpath(target)

    def partial(self, value: object, path: tuple[Any, ...], extra: tuple[str, ...] = ()
                ) -> tuple[Partial, dict[str, Any]]:
        """Read a partial cell; return its settings and the values of ``extra`` keys."""
        items = self.mapping(value, path, CELL_KEYS + extra, "cell settings")
        settings = {k: self.setting(k, v, (*path, key)) for k, (key, v) in items.items()
                    if k not in extra}
        return settings, {k: v for k, (key, v) in items.items() if k in extra}

    def listing(self, value: object, path: tuple[Any, ...], what: str) -> list[Any]:
        if value is not None and not isinstance(value, list):
            raise self.fail(path, value, f"a list of {what}")
        return value or []


def _cells(r: _Reader, value: object) -> list[ExplicitCell]:
    """Read ``cells:``; two cells with one id are refused (JUnit would merge their results)."""
    cells: list[ExplicitCell] = []
    named: dict[str, Where] = {}
    for i, entry in enumerate(r.listing(value, ("cells",), "partial cells")):
        settings, extra = r.partial(entry, ("cells", i), ("id",))
        cid = r.text(extra["id"], ("cells", i, "id")) if "id" in extra else None
        cells.append(ExplicitCell(settings, cid, r.where(("cells", i))))
        if cid is None:
            continue
        if cid in named:
            first = named[cid]
            at = f" at line {first.line}" if first.line else ""
            raise r.fail(("cells", i, "id"), cid, f"an id no other cell has ({first.path}{at} "
                         "has it too)")
        named[cid] = cells[-1].where
    return cells


def _statuses(r: _Reader, value: object, path: tuple[Any, ...]) -> tuple[str, ...]:
    """Read a rule's ``status:``, one status or a non-empty list of them."""
    statuses = value if isinstance(value, list) else [value]
    if not statuses:  # no status allowed: the rule could never be met
        raise r.fail(path, [], "one of " + ", ".join(EXPECTABLE) + " or a non-empty list of "
                     "them")
    for j, s in enumerate(statuses):
        if s not in EXPECTABLE:
            p = path + ((j,) if isinstance(value, list) else ())
            raise r.fail(p, s, "one of " + ", ".join(EXPECTABLE) + suggest(str(s), EXPECTABLE))
    return tuple(statuses)


def _rules(r: _Reader, value: object) -> list[Rule]:
    """Read ``expect:``, a list of rules with match:, status: and why:."""
    rules = []
    for i, entry in enumerate(r.listing(value, ("expect",), "rules")):
        items = r.mapping(entry, ("expect", i), EXPECT_KEYS, "rule keys")
        if "status" not in items:
            raise r.fail(("expect", i), entry, "a rule with match: and status: (pass, kink "
                         "or fail)")
        statuses = _statuses(r, items["status"][1], ("expect", i, "status"))
        match: dict[str, tuple[Any, ...]] = {}
        mpath = ("expect", i, "match")
        for k, (key, values) in r.mapping(items.get("match", (None, None))[1], mpath,
                                          CELL_KEYS, "cell settings").items():
            values = values if isinstance(values, list) else [values]
            match[k] = tuple(r.setting(k, v, (*mpath, key)) for v in values)
        why = r.text(items["why"][1], ("expect", i, "why")) if "why" in items else ""
        rules.append(Rule(match, statuses, why, r.where(("expect", i))))
    return rules


def load_grid(file: str) -> GridConfig:
    """Load and check a grid file; raise ConfigError or OptionError naming file:line: key."""
    doc, lines = read_yaml(file)
    r = _Reader(file, lines)
    if doc is None:
        raise r.fail((), None, "a grid: a mapping with grid: and/or cells:")
    top = r.mapping(doc, (), TOP_KEYS, "grid sections")
    name = r.text(top["name"][1], ("name",)) if "name" in top else Path(file).stem
    description = r.text(top["description"][1], ("description",)) \
        if "description" in top else ""
    defaults = r.partial(top.get("defaults", (None, None))[1], ("defaults",))[0]

    axes = []
    grid = r.mapping(top.get("grid", (None, None))[1], ("grid",), CELL_KEYS, "axes")
    for k, (key, values) in grid.items():
        path = ("grid", key)
        values = values if isinstance(values, list) else [values]
        if not values:
            raise r.fail(path, [], "a non-empty list of values (an empty axis empties the grid)")
        axes.append((k, tuple(r.setting(k, v, (*path, i)) for i, v in enumerate(values))))

    cells = _cells(r, top.get("cells", (None, None))[1])
    if not axes and not cells:
        raise r.fail(("grid",), None, "at least one axis under grid: or one entry under "
                     "cells: (the grid is empty)")

    rules = _rules(r, top.get("expect", (None, None))[1])
    return GridConfig(file, name, description, defaults, tuple(axes), tuple(cells),
                      tuple(rules), r.where(()))

__all__ = ["CELL_KEYS", "TOP_KEYS", "ConfigError", "GridConfig", "Rule", "Where", "load_grid"]
