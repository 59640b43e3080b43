"""The Python API for a user's own gradient: ``check_function`` -> ``CellResult``.

Never prints; the progress of the 2P calls goes to an optional callback.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from relu_ce_diag.check.blackbox import Progress
from relu_ce_diag.check.blackbox import check_function as check_source
from relu_ce_diag.check.userfn import describe
from relu_ce_diag.diagnostics import diagnose
from relu_ce_diag.errors import OptionError
from relu_ce_diag.model.network import Net, backprop
from relu_ce_diag.results.cell import CellResult, build_result
from relu_ce_diag.settings.function import Description, describe_net

Array = np.ndarray


def run_function(fn: Callable[..., object], W: Array, X: Array, Y: Array, net: Net | None, *,
                 label: str, step: float | None = None, precision: str | None = None,
                 directions: int | None = None, seed: int = 0,
                 progress: Progress | None = None, data: str | None = None,
                 ignore: tuple[str, ...] = ()) -> CellResult:
    """Check ``fn`` at W, X, Y as described by ``net`` (None: a black box), diagnose, and
    build the result."""
    exact = None
    if net is not None:  # the described network's exact gradient, for the report and catalogue
        with np.errstate(all="ignore"):
            exact = backprop(net, W.reshape(-1).astype(np.float64), X.astype(np.float64),
                             Y.astype(np.float64), "exact")[1]
    checked = check_source(fn, W, X, Y, label=label, step=step, precision=precision,
                           directions=directions, seed=seed, progress=progress,
                           layout=net.layout if net is not None else None, net=net,
                           exact=exact, data=data)
    return build_result(checked, diagnose(checked, ignore))


def check_function(fn: Callable[..., object], W: Array, X: Array, Y: Array, *,
                   act: str | None = None, out: str | None = None, loss: str | None = None,
                   eps: float | None = None, hidden: int | tuple[int, ...] | None = None,
                   leaky_slope: float = 0.01, relu_grad_at_zero: float = 0.0,
                   step: float | None = None, precision: str | None = None,
                   directions: int | None = None, seed: int = 0,
                   progress: Progress | None = None, label: str | None = None,
                   ignore: tuple[str, ...] = ()) -> CellResult:
    """Check ``f, df = fn(W, X, Y)`` at W (P,) on X (N, n_in), Y (N, n_out).

    With any of ``act``, ``out``, ``loss``, ``eps``, ``hidden`` the network is taken as
    described (seed layout): entries get names like ``w1[3, 5]``, blocks get their own
    errors and df is compared with a catalogue of known wrong formulas. ``precision``
    (float64|float32) overrides the detected one; ``directions`` checks K random directions
    instead of every entry. Raises ``UserFunctionError`` when fn cannot be checked.
    """
    if isinstance(hidden, int):
        hidden = (hidden,)
    d = Description(act, out, loss, eps, hidden, leaky_slope, relu_grad_at_zero)
    W, X, Y = np.asarray(W), np.asarray(X), np.asarray(Y)
    if directions is not None and (directions < 1 or isinstance(directions, bool)):
        raise OptionError("directions", directions, "a whole number >= 1")
    net = describe_net(d, W, X, Y) if d.given else None
    return run_function(fn, W, X, Y, net, label=label or describe(fn), step=step,
                        precision=precision, directions=directions, seed=seed,
                        progress=progress, ignore=ignore)
