"""``check --fn FILE.py:NAME --data case.npz``: load the function and its point, then check."""

from __future__ import annotations

from collections.abc import Callable

from relu_ce_diag.check.blackbox import Progress
from relu_ce_diag.check.budget import Limits, refuse_function
from relu_ce_diag.check.hosts import open_host
from relu_ce_diag.check.pace import forecast
from relu_ce_diag.results.cell import CellResult
from relu_ce_diag.run.api import run_function
from relu_ce_diag.settings.describe import describe_user
from relu_ce_diag.settings.function import Calling, Description


def check_file(calling: Calling, data: str, desc: Description, *, step: float | None = None,
               precision: str | None = None, directions: int | None = None, seed: int = 0,
               progress: Progress | None = None,
               announce: Callable[[str], None] | None = None,
               limits: Limits | None = None, ignore: tuple[str, ...] = (),
               label: str = "--{}") -> CellResult:
    """Open the user's function and the point in ``data`` and check it; ``announce``
    receives the number of calls and their time (two calls at W timed) before the check. A
    check over ``limits`` (more entries than --max-params, an estimated time or memory over
    the bounds) is refused (TooLargeError) from the data's headers, before the function is
    loaded. ``label`` names a description key in messages (``--{}`` for options, ``{}`` for
    a grid cell's keys)."""
    refuse_function(data, limits or Limits(), directions=directions)
    host = open_host(calling, data)
    try:
        if desc.given:  # a description that does not fit the arrays is refused before any call
            describe_user(desc, host.point, label)
        if announce is not None:
            announce(forecast(host, directions))
        return run_function(host, desc, step=step, precision=precision,
                            directions=directions, seed=seed, progress=progress, data=data,
                            ignore=ignore, label=label)
    finally:
        host.close()  # the workers or the Octave session end with the check, not at exit
