"""A grid's cells of the user's own functions: check each one's settings together before any
cell runs, name it, bound it, and run it through ``check_file`` like ``check --fn``.

Never prints: whatever the user's function prints while it runs goes to stderr, so that
stdout carries only the report (JSON or JUnit on stdout stay parseable).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import Any

from relu_ce_diag.check.budget import Estimate, Limits, refuse_function
from relu_ce_diag.check.octave_code import names_used, octave_point, read_mfile
from relu_ce_diag.errors import OptionError, ReluDiagError
from relu_ce_diag.model.losses import MATLAB_EPS
from relu_ce_diag.model.precision import STEP
from relu_ce_diag.results.cell import CellResult
from relu_ce_diag.run.function import check_file
from relu_ce_diag.settings.cells import CellSpec
from relu_ce_diag.settings.data import data_headers, read_arrays
from relu_ce_diag.settings.function import (
    Calling,
    Description,
    FunctionSpec,
    validate_description,
)
from relu_ce_diag.settings.grid_file import CELL_KEYS, SPEC_KEYS, Partial, Where
from relu_ce_diag.settings.grid_fn import (
    BUILTIN_ONLY,
    FN_KEYS,
    OWN_ONLY,
    FunctionCell,
    Ref,
    function_cell,
)
from relu_ce_diag.settings.params import point_from_arrays

Show = Callable[[str, Any], str]
# a function cell's settings when nothing sets them (seed 0, relu'(0) = 0, ...)
_UNSET = {f.name: f.default for f in (*fields(Description), *fields(FunctionCell))
          if f.default is not MISSING}


def _refuse(where: Where, key: str, value: object, expected: str, cid: str = "") -> OptionError:
    return OptionError(f"{where.path}.{key}", value,
                       expected + (f" (in cell {cid})" if cid else ""), source=where.source)


def builtin_cell(settings: Partial, own: set[str], where: Where) -> CellSpec:
    """Return the built-in cell of ``settings``; a function-only key set on the cell itself
    (not inherited from ``defaults:``) is refused."""
    for key in sorted(own & set(FN_KEYS)):
        if settings.get(key) is not None:
            raise _refuse(where, key, settings[key], "only in a cell with fn: (your own "
                          "function)")
    return CellSpec(**{k: v for k, v in settings.items() if k in SPEC_KEYS})


def fn_cell(settings: Partial, own: set[str], where: Where, cid: str) -> FunctionCell:
    """Return the function cell ``cid`` of ``settings`` with its settings checked together:
    data given, ``call`` only for a .m function, ``grad`` and ``args`` only for Python, the
    description valid, a .m file defining the function named (its text read: Octave starts
    when the cell runs). A built-in-only key set on the cell itself is refused; one from
    ``defaults:`` is left out, and so is ``hidden``."""
    fn: Ref = settings["fn"]
    builtin = sorted(own & set(BUILTIN_ONLY))
    if builtin:
        raise _refuse(where, builtin[0], settings[builtin[0]], "a setting of the built-in "
                      "network, which a cell with fn: (your own function) does not take", cid)
    if settings.get("data") is None:
        raise _refuse(where, "data", None, "an .npz or .mat file with X, Y (or y) and the "
                      f"parameters, relative to the YAML file, for {fn.text}", cid)
    for key in ("grad", "args") if fn.matlab else ("call",):
        if settings.get(key) is not None:
            raise _refuse(where, key, settings[key], "nothing with a .m function (pass every "
                          "argument in call:)" if fn.matlab else "only with a .m function (a "
                          "Python function takes extra arguments by args:)", cid)
    cell = function_cell({k: v for k, v in settings.items() if k not in BUILTIN_ONLY
                          and (k in own or k not in OWN_ONLY)})
    try:
        validate_description(cell.desc, f"{where.path}.{{}}")
        if fn.matlab:
            read_mfile(_calling(cell))
    except OptionError as exc:
        raise OptionError(exc.key, exc.value, f"{exc.expected} (in cell {cid})",
                          source=where.source) from None
    except ReluDiagError as exc:
        raise _refuse(where, "fn", fn.text, f"a function the file defines ({exc})", cid) \
            from None
    return cell


def fn_cell_id(settings: Partial, own: set[str], defaults: Partial, show: Show) -> str:
    """Name a function cell by its ``fn`` as written, then the settings that differ from the
    grid's defaults, e.g. ``model.py:loss_and_grads act=relu,loss=ce``."""
    extras = []
    for key in CELL_KEYS:
        value = settings.get(key)
        if key in ("fn", *BUILTIN_ONLY) or value is None \
                or value == defaults.get(key, _UNSET.get(key)) \
                or (key in OWN_ONLY and key not in own):
            continue
        if isinstance(value, Ref):
            shown = value.text
        elif key == "args":
            shown = ",".join(f"{k}:{show(key, v)}" for k, v in value)
        else:
            shown = show(key, value)
        extras.append(f"{key}={shown}")
    return settings["fn"].text + (" " + ",".join(extras) if extras else "")


def _calling(cell: FunctionCell) -> Calling:
    return Calling(cell.fn.ref, cell.grad.ref if cell.grad else None, cell.args, cell.call)


def refuse_fn_cell(cell: FunctionCell, limits: Limits, checked: set[str]) -> Estimate:
    """Raise TooLargeError or DataError before any cell runs: the function's check over
    ``limits`` (sizes from the data's headers), or data that holds no usable point (each file
    read once: ``checked`` holds those already read)."""
    est = refuse_function(cell.data, limits, directions=cell.directions)
    if cell.data not in checked:
        arrays = read_arrays(cell.data)
        if cell.fn.matlab:
            octave_point(arrays, cell.data, names_used(cell.call or ""))
        else:
            point_from_arrays(arrays, cell.data, tuple(k for k, _ in cell.args))
        checked.add(cell.data)
    return est if est is not None else Estimate(0, 0, 0.0)


def run_fn_cell(cell: FunctionCell, limits: Limits | None = None) -> CellResult:
    """Check the user's function of ``cell`` as ``check --fn`` does; its prints go to stderr."""
    with contextlib.redirect_stdout(sys.stderr):
        return check_file(_calling(cell), cell.data, cell.desc, step=cell.step,
                          precision=cell.dtype, directions=cell.directions, seed=cell.seed,
                          limits=limits, label="{}")  # the cell's own keys, as in the YAML


def error_spec(cell: FunctionCell) -> FunctionSpec:
    """Return the settings of a function cell that could not be checked, for its error row
    (the sizes from the data's headers, when they can be read)."""
    d, dtype = cell.desc, cell.dtype or "float64"
    try:
        h = data_headers(cell.data)
        X, Y = h["X"].shape, (h.get("Y") or h["y"]).shape
        sizes = (X[1] if len(X) > 1 else 1, Y[1] if len(Y) > 1 else 1, X[0] if X else 1)
    except (ReluDiagError, KeyError, AttributeError):
        sizes = (0, 0, 0)
    return FunctionSpec(cell.fn.ref, *sizes, step=cell.step or STEP[dtype], dtype=dtype,
                        seed=cell.seed, data=cell.data, act=d.act, out=d.out, loss=d.loss,
                        eps=MATLAB_EPS if d.eps is None else d.eps, hidden=d.hidden or (),
                        leaky_slope=d.leaky_slope, relu_grad_at_zero=d.relu_grad_at_zero,
                        layout=d.layout, reduction=d.reduction, l2=d.l2)
