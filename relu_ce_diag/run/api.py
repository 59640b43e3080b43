"""The Python API for a user's own gradient: ``check_function`` -> ``CellResult``.

Never prints; the progress of the 2P calls goes to an optional callback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from relu_ce_diag.check.blackbox import Progress
from relu_ce_diag.check.blackbox import check_function as check_source
from relu_ce_diag.check.calling import UserCode
from relu_ce_diag.check.host import Host, InProcess
from relu_ce_diag.check.userfn import describe
from relu_ce_diag.diagnostics import diagnose
from relu_ce_diag.errors import OptionError
from relu_ce_diag.results.cell import CellResult, build_result
from relu_ce_diag.results.sweep import Sweep
from relu_ce_diag.run.sweep import sweep_function as run_sweep
from relu_ce_diag.settings.describe import describe_user
from relu_ce_diag.settings.function import Description, validate_description
from relu_ce_diag.settings.params import Point, flat_point, named_point
from relu_ce_diag.settings.steps import DEFAULT_STEPS, parse_steps

Array = np.ndarray


def run_function(host: Host, desc: Description, *, step: float | None = None,
                 precision: str | None = None, directions: int | None = None, seed: int = 0,
                 progress: Progress | None = None, data: str | None = None,
                 ignore: tuple[str, ...] = (), label: str = "{}") -> CellResult:
    """Check a user's function at its point as described (if at all), diagnose, and build
    the result; option names in errors are formatted by ``label``."""
    described = describe_user(desc, host.point, label) if desc.given else None
    given = tuple(k for k in ("reduction", "l2_form") if getattr(desc, k) is not None)
    checked = check_source(host, step=step, precision=precision, directions=directions,
                           seed=seed, progress=progress, described=described, given=given,
                           data=data)
    return build_result(checked, diagnose(checked, ignore))


def point_of(params: Array | Mapping[str, Array], X: Array, Y: Array) -> Point:
    """Return the point of a flat W (any array) or of named blocks (a mapping)."""
    if isinstance(params, Mapping):
        return named_point(params, np.asarray(X), np.asarray(Y))
    return flat_point(np.asarray(params), np.asarray(X), np.asarray(Y))


def check_function(fn: Callable[..., object], params: Array | Mapping[str, Array], X: Array,
                   Y: Array, *, act: str | None = None, out: str | None = None,
                   loss: str | None = None, eps: float | None = None,
                   hidden: int | tuple[int, ...] | None = None, leaky_slope: float = 0.01,
                   relu_grad_at_zero: float = 0.0, step: float | None = None,
                   precision: str | None = None, directions: int | None = None,
                   seed: int = 0, progress: Progress | None = None, label: str | None = None,
                   args: Mapping[str, Any] | None = None,
                   grad: Callable[..., object] | None = None, layout: str | None = None,
                   reduction: str | None = None, l2: float | None = None,
                   l2_form: str | None = None, ignore: tuple[str, ...] = ()) -> CellResult:
    """Check a user's gradient: ``f, df = fn(W, X, Y)`` with W an array, or
    ``loss, grads = fn(params, X, Y)`` with ``params`` a dict of named arrays (grads a dict of
    the same keys, ``dW1`` spellings too, or a list in the same order).

    ``args`` are extra arguments passed by name; ``grad`` a separate gradient function (then
    ``fn`` may return the loss alone). With any of ``act``, ``out``, ``loss``, ``eps``,
    ``hidden``, ``layout`` (seed|cs231n|columns|theta, detected from names and shapes if not
    given), ``reduction`` (sum|mean|mean-all), ``l2`` (lambda; ``l2_form`` one of
    ``model.described.L2_FORMS``) the network is taken as described: the flat seed layout's
    entries get names like ``w1[3, 5]``, and df is compared with a catalogue of known wrong
    formulas. ``precision``
    (float64|float32) overrides the detected one; ``directions`` checks K random directions
    instead of every entry. Raises ``UserFunctionError`` when fn cannot be checked.
    """
    if isinstance(hidden, int):
        hidden = (hidden,)
    d = Description(act, out, loss, eps, hidden, leaky_slope, relu_grad_at_zero, layout,
                    reduction, l2, l2_form)
    validate_description(d)
    if directions is not None and (directions < 1 or isinstance(directions, bool)):
        raise OptionError("directions", directions, "a whole number >= 1")
    point = point_of(params, X, Y)
    code = UserCode(fn, point, label or describe(fn), args=args, grad=grad)
    return run_function(InProcess(code), d, step=step, precision=precision, directions=directions,
                        seed=seed, progress=progress, ignore=ignore)


def sweep_function(fn: Callable[..., object], params: Array | Mapping[str, Array], X: Array,
                   Y: Array, *, steps: str = DEFAULT_STEPS, step: float | None = None,
                   precision: str | None = None, args: Mapping[str, Any] | None = None,
                   grad: Callable[..., object] | None = None, label: str | None = None,
                   ) -> Sweep:
    """Sweep the finite-difference step of a user's gradient (same calling forms as
    ``check_function``): the error at every step of ``steps`` (START:STOP:COUNT or a comma
    list), classified; in a notebook it shows as its figure."""
    code = UserCode(fn, point_of(params, X, Y), label or describe(fn), args=args, grad=grad)
    return run_sweep(InProcess(code), parse_steps(steps), check_step=step, precision=precision)
