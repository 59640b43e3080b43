"""Open the host a user's function runs in, with its point read from the data file.

``open_host`` is the one place that decides where user code runs; every command that checks
a user's function (check, sweep, grid cells) goes through it. A Python function runs in a
supervised child process (``process_host.InChild``): its crash, ``os._exit``, hang past
``--timeout``, ``np.seterr``, prints, or a module beside it named like the standard library's
cannot reach relu-diag or its report, and ``--jobs N`` spreads its calls over N of them. The
Python API, whose function may be a closure, calls it in this process (``open_local`` for a
file, ``InProcess`` directly for a callable).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from relu_ce_diag.check.calling import UserCode
from relu_ce_diag.check.host import Host, InProcess
from relu_ce_diag.check.octave import open_octave
from relu_ce_diag.check.octave_code import is_m_ref
from relu_ce_diag.check.process_host import InChild, UserHandler
from relu_ce_diag.check.process_worker import Beat
from relu_ce_diag.check.userfn import load_function
from relu_ce_diag.settings.data import read_arrays
from relu_ce_diag.settings.function import Calling
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
    return point_from_arrays(read_arrays(data), data, extra_names(fn, args))


def open_local(calling: Calling, data: str) -> InProcess:
    """Load the user's function and its point into this process; return its host."""
    uf = load_function(calling.ref)
    grad = load_function(calling.grad).fn if calling.grad is not None else None
    args = dict(calling.args)
    point = load_point(data, uf.fn, args)
    args.update(point.others)
    return InProcess(UserCode(uf.fn, point, uf.label, args=args, grad=grad,
                              errstate=uf.errstate))


@dataclass(frozen=True)
class UserSetup:
    """What a worker process needs to open a user's function: how to call it, and the data
    file (the worker has the parent's working folder, environment and import path)."""

    calling: Calling
    data: str

    def __call__(self, beat: Beat) -> UserHandler:
        """In the worker: load (loading counts against the timeout) and return the handler
        of its requests."""
        beat.start(-1)
        return UserHandler(open_local(self.calling, self.data), beat)


def open_host(calling: Calling, data: str) -> Host:
    """Load the user's function and its point, and return the host that calls it: GNU Octave
    for a MATLAB file (``FILE.m[:NAME]``); for Python, ``calling.jobs`` supervised worker
    processes (``calling.timeout`` seconds per call)."""
    if is_m_ref(calling.ref):
        return open_octave(calling, data)
    return InChild(UserSetup(calling, data), calling.ref, calling.jobs, calling.timeout)
