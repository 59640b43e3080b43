"""The user's own functions in a grid file: ``fn: model.py:loss_and_grads`` with ``data:`` and
the settings of ``check --fn``, read and checked before anything runs.

A function is found by reading its file, never by running it: a ``.py`` file must parse and
bind the name at its top level (``def NAME``, an assignment or an import); a ``.m`` file must
exist (``check.octave_code`` reads which functions it defines). The real load happens when the
cell runs, where whatever the function raises or returns becomes that cell's ``error`` row.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relu_ce_diag.errors import OptionError, match_name, not_a_file, suggest
from relu_ce_diag.model.described import L2_FORMS, LAYOUTS, REDUCTIONS
from relu_ce_diag.model.losses import MATLAB_EPS
from relu_ce_diag.settings.function import Description, net_names

# Keys only a function cell takes; keys only a built-in cell takes. Every other cell key
# (act, out, loss, eps, hidden, seed, step, dtype, data, relu_grad_at_zero, leaky_slope)
# means the same in both: for a function cell, its description and how it is checked.
FN_KEYS = ("fn", "args", "grad", "call", "layout", "reduction", "l2", "l2_form", "directions")
BUILTIN_ONLY = ("backprop", "inputs", "outputs", "samples", "targets")
# Keys a function cell takes from its own entry or axis only, not from ``defaults:``: the
# widths of the built-in network say nothing of the user's (read from W when not described).
OWN_ONLY = ("hidden",)
DESCRIPTION = ("act", "out", "loss", "eps", "hidden", "leaky_slope", "relu_grad_at_zero",
               "layout", "reduction", "l2", "l2_form")
_NAMES = {"layout": LAYOUTS, "reduction": REDUCTIONS, "l2_form": tuple(L2_FORMS)}
REF_FORMS = "FILE.py:NAME or FILE.m[:NAME], the file relative to the YAML file"

Fail = Callable[[object, str], OptionError]


@dataclass(frozen=True)
class Ref:
    """A function named in a grid: its file (relative to the working folder, as the run opens
    it) and name (None: a ``.m`` file's own function); ``text`` is how the YAML wrote it."""

    path: str
    name: str | None
    text: str = field(compare=False)

    @property
    def ref(self) -> str:
        """The reference as ``check --fn`` takes it."""
        return f"{self.path}:{self.name}" if self.name else self.path

    @property
    def matlab(self) -> bool:
        return self.path.endswith(".m")


@dataclass(frozen=True)
class FunctionCell:
    """A grid cell that checks a user's function at the point in ``data``, as ``desc``
    describes it (``act``/``loss`` None: a black box), with the settings of ``check --fn``."""

    fn: Ref
    data: str
    desc: Description = Description()
    grad: Ref | None = None
    args: tuple[tuple[str, Any], ...] = ()
    call: str | None = None
    step: float | None = None
    dtype: str | None = None
    seed: int = 0
    directions: int | None = None

    @property
    def files(self) -> tuple[str, ...]:
        """The user's source files the cell reads (its function, its gradient function)."""
        return (self.fn.path, *((self.grad.path,) if self.grad is not None else ()))

    def value(self, key: str) -> Any:
        """Return the setting ``key`` as an ``expect:`` rule compares it: act, out and loss
        resolved when the network is described (None when not), None for keys a function
        cell does not take."""
        d = self.desc
        if key in ("act", "out", "loss"):
            return dict(zip(("act", "out", "loss"), net_names(d), strict=True))[key] \
                if d.given else None
        if key == "eps":
            return (MATLAB_EPS if d.eps is None else d.eps) if d.given else None
        if key in DESCRIPTION:
            return getattr(d, key)
        return getattr(self, key, None)


def function_cell(settings: dict[str, Any]) -> FunctionCell:
    """Build the function cell of checked settings (built-in-only keys already left out)."""
    desc = Description(**{k: settings[k] for k in DESCRIPTION if k in settings})
    rest = {k: settings[k] for k in ("grad", "args", "call", "step", "dtype", "seed",
                                     "directions") if settings.get(k) is not None}
    return FunctionCell(settings["fn"], settings["data"], desc, **rest)


def read_fn_setting(key: str, value: Any, folder: Path, fail: Fail,
                    number: Callable[[Any], float]) -> Any:
    """Normalise one function-cell setting of a grid file (``fail(value, expected)`` builds
    the error naming file, line and key; ``number`` reads a float as the grid file does)."""
    if key in ("fn", "grad"):
        return read_ref(value, folder, fail, python_only=key == "grad")
    if key == "args":
        if not isinstance(value, dict) or not all(isinstance(k, str) and k.isidentifier()
                                                  for k in value):
            raise fail(value, "a mapping of argument names to values, e.g. {lam: 3}")
        return tuple(value.items())
    if key == "call":
        if not isinstance(value, str) or not value.strip() or "\n" in value or "\r" in value:
            raise fail(value, "one line: an Octave expression in W, X, Y that returns [f, df]")
        return value
    if key == "directions":
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise fail(value, "a whole number >= 1")
        return value
    if key == "l2":
        l2 = number(value)
        if not 0 <= l2 < float("inf"):
            raise fail(value, "a finite number >= 0")
        return l2
    allowed = _NAMES[key]
    name = match_name(value, allowed) if isinstance(value, str) else None
    if key == "l2_form" and value in allowed:
        name = value  # the forms are formulas: spelled exactly
    if name is None:
        raise fail(value, "one of " + ", ".join(allowed) + suggest(str(value), allowed))
    return name


def read_ref(value: Any, folder: Path, fail: Fail, python_only: bool = False) -> Ref:
    """Read ``FILE.py:NAME`` or ``FILE.m[:NAME]`` relative to ``folder``: the file must exist,
    and a Python file must bind NAME at its top level (read, not run)."""
    forms = "FILE.py:NAME, the file relative to the YAML file" if python_only else REF_FORMS
    if not isinstance(value, str):
        raise fail(value, forms)
    target, _, name = (value, "", "") if value.endswith(".m") else value.rpartition(":")
    python = target.endswith(".py")
    if not (python or target.endswith(".m")) or (python_only and not python) \
            or ((python or name) and not name.isidentifier()):
        raise fail(value, forms)
    path = folder / target
    why = not_a_file(path)
    if why is not None:
        raise fail(value, f"{forms} ({str(path)!r} {why})")
    if python:
        _defines(path, name, value, fail)
    return Ref(os.path.relpath(path), name or None, value)


def _bound(body: list[ast.stmt]) -> Iterator[str]:
    """Yield the names a module's top-level statements bind (inside if/try/with too)."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node.name
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                yield a.asname or a.name.split(".")[0]
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                yield from (n.id for n in ast.walk(t) if isinstance(n, ast.Name))
        for attr in ("body", "orelse", "finalbody", "handlers"):
            inner = getattr(node, attr, None)
            if isinstance(inner, list) and not isinstance(node, (ast.FunctionDef,
                                                                 ast.AsyncFunctionDef,
                                                                 ast.ClassDef)):
                yield from _bound(inner)


def _defines(path: Path, name: str, value: str, fail: Fail) -> None:
    """Raise unless the Python file ``path`` parses and binds ``name`` at its top level (a
    ``from x import *`` or a module ``__getattr__`` may bind any name)."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError as exc:
        raise fail(value, f"a Python file that parses ({os.path.relpath(path)}:{exc.lineno}: "
                   f"{exc.msg})") from None
    except (OSError, ValueError) as exc:
        raise fail(value, f"a readable Python file ({exc})") from None
    names = set(_bound(tree.body))
    if name in names or "*" in names or "__getattr__" in names:
        return
    defs = sorted(n.name for n in tree.body if isinstance(n, (ast.FunctionDef,
                                                               ast.AsyncFunctionDef)))
    listed = ", ".join(defs) or "no functions"
    raise fail(value, f"a function {path.name} defines (it has no {name!r}"
               f"{suggest(name, defs)}; it defines {listed})")
