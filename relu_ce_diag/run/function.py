"""``check --fn FILE.py:NAME --data case.npz``: load the function and its point, then check."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping

from relu_ce_diag.check.blackbox import Progress, plan
from relu_ce_diag.check.calling import UserCode
from relu_ce_diag.check.host import InProcess
from relu_ce_diag.check.userfn import load_function
from relu_ce_diag.errors import TooLargeError
from relu_ce_diag.results.cell import CellResult
from relu_ce_diag.run.api import run_function
from relu_ce_diag.settings.data import read_npz
from relu_ce_diag.settings.describe import describe_user
from relu_ce_diag.settings.function import Description
from relu_ce_diag.settings.params import Point, point_from_arrays


def extra_names(fn: Callable[..., object], args: Mapping[str, object]) -> tuple[str, ...]:
    """Return the names of the parameters the function takes besides the three that receive
    the parameters, X and Y (the first three without a default, ``--arg`` names aside)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return ()
    open_ = [p.name for p in params if p.name not in args
             and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return tuple(open_[3:])


def load_point(data: str, fn: Callable[..., object], args: Mapping[str, object]) -> Point:
    """Read the data file of a user's function: X, Y (or y), its parameters, and the
    variables the function takes by name (not given by ``--arg``)."""
    return point_from_arrays(read_npz(data), data, extra_names(fn, args))


def check_file(ref: str, data: str, desc: Description, *, step: float | None = None,
               precision: str | None = None, directions: int | None = None, seed: int = 0,
               progress: Progress | None = None,
               announce: Callable[[str], None] | None = None,
               max_params: int | None = None, ignore: tuple[str, ...] = (),
               args: Mapping[str, object] | None = None, grad_ref: str | None = None,
               ) -> CellResult:
    """Load ``file.py:NAME`` (and a separate gradient ``grad_ref``) and the point in ``data``
    and check the function; ``announce`` receives the number of calls before the first one.
    An entry-by-entry check of more than ``max_params`` entries is refused (TooLargeError)
    before any call."""
    uf = load_function(ref)
    grad = load_function(grad_ref).fn if grad_ref is not None else None
    args = dict(args or {})
    point = load_point(data, uf.fn, args)
    args.update(point.others)
    P = point.W.size
    if max_params is not None and directions is None and max_params < P:
        raise TooLargeError(f"{data}: W has {P:,} entries, more than --max-params "
                            f"{max_params:,} (an entry-by-entry check makes 2 calls per entry);"
                            " use --directions K, raise --max-params, or pass --force")
    code = UserCode(uf.fn, point, uf.label, args=args, grad=grad)
    if desc.given:  # a description that does not fit the arrays is refused before any call
        describe_user(desc, point, "--{}")
    if announce is not None:
        announce(plan(uf.label, P, directions))
    return run_function(InProcess(code), desc, step=step, precision=precision,
                        directions=directions, seed=seed, progress=progress, data=data,
                        ignore=ignore, label="--{}")
