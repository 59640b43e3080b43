"""How long a check of a user's function will take, said before the bulk of its calls.

The announcement counts the calls (as ``blackbox.plan`` does) and times the function at W:
the first call of a fresh process pays for warming up (caches, BLAS threads, lazy imports;
8x a later call for a 1.5 ms function), so it is made twice and the second is timed. A
check that will take long suggests ``--jobs`` and ``--directions``.
"""

from __future__ import annotations

import os
import time

import numpy as np

from relu_ce_diag.check.blackbox import LARGE_P
from relu_ce_diag.check.host import Host
from relu_ce_diag.check.probe import require_finite

TIMING_CALLS = 2  # the first warms the function up, the second is timed
FIRST_CALLS = 7  # at most, before the stencil: two at W, five precision probes
LONG = 30.0  # seconds: a check longer than this suggests --jobs or --directions


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def per_call(host: Host) -> float:
    """Call the function at W ``TIMING_CALLS`` times; return the seconds of the last call (as
    the worker measured it, when there is one: one call's trip between processes costs far
    more than a call in a batch). The first call takes the gradient too, so that a gradient
    of the wrong shape or type, or a loss of nan, is refused before the forecast is said."""
    W = host.point.W if host.point.W.dtype.kind == "f" else host.point.W.astype(np.float64)
    seconds = 0.0
    for i in range(TIMING_CALLS):
        start = time.perf_counter()
        if i == 0:
            require_finite(host.value_and_grad(W, "at W"), host.label)
        else:
            host.loss(W, f"at W (timing call {i + 1})")
        seconds = time.perf_counter() - start
    inside = getattr(host, "call_seconds", None)
    return float(inside) if inside is not None else seconds


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "under a second"
    if seconds < 90:
        return f"{seconds:.2g} s" if seconds < 10 else f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def forecast(host: Host, directions: int | None, seconds: float | None = None) -> str:
    """Say how many calls the check will make and about how long it will take, timing the
    function at W unless ``seconds`` per call is given; suggest --jobs and --directions when
    it is long."""
    seconds = per_call(host) if seconds is None else seconds
    P = host.point.W.size
    K = directions if directions else P
    jobs = int(getattr(host, "jobs", 1))
    what = f"{K} random directions" if directions else f"{P} entries"
    total = seconds * (2 * K / jobs + FIRST_CALLS)
    about = "" if total < 1 else "about "
    text = (f"{host.label}: {2 * K} calls ({what} x 2), plus up to {FIRST_CALLS} to test W "
            "and its precision and 2 more per check that needs a second step; "
            f"{about}{_duration(total)} at {seconds * 1e3:.2g} ms per call (timed at W)"
            + (f" in {jobs} processes" if jobs > 1 else ""))
    hints = []
    if total > LONG and jobs < _cores():
        hints.append(f"--jobs {_cores()} spreads the calls over {_cores()} processes")
    if not directions and (total > LONG or P > LARGE_P):
        hints.append("--directions K checks K random directions with 2K calls")
    return text + (f"; {' and '.join(hints)}" if hints else "")
