"""The child's side of a supervised worker process: answer requests until told to stop.

A worker builds its handler once from a picklable ``setup`` (load the user's function, or
nothing for grid cells), then answers each request with ``("ok", value)`` or a failure. It
never writes to stdout (fd 1 is made a copy of stderr, so the user's prints, even from C, go
there), ignores the signals a terminal or a process manager sends to the whole group (the
parent handles them and ends its workers), and ends itself when the parent is gone: a
lifeline pipe that the parent alone holds open, and on Linux the parent-death signal. It
marks in shared memory which call it is in and since when (``Beat``), so the parent can
stop an overrunning call and name the call a dead worker was in.
"""

from __future__ import annotations

# The modules marked "early" are imported before any user code puts its folder first on
# sys.path: a user's secrets.py or hmac.py beside the function must not stand in for the
# modules NumPy imports late (numpy.random needs secrets; np.load needs zipfile).
import contextlib
import hmac  # noqa: F401  early
import os
import pickle
import secrets  # noqa: F401  early
import signal
import sys
import threading
import time
import zipfile  # noqa: F401  early
from collections.abc import Callable
from typing import Any

import numpy.ma  # noqa: F401  early
import numpy.random  # noqa: F401  early

from relu_ce_diag.errors import ReluDiagError, UserFunctionError

Reply = tuple[str, Any]
Surroundings = tuple[str, dict[str, str], list[str]]  # working folder, environment, sys.path
QUIET = ("SIGINT", "SIGTERM", "SIGHUP")  # sent to the whole group: the parent ends the worker
PR_SET_PDEATHSIG = 1


class Beat:
    """Which call a worker is in (0-based within its request, -1 while it sets up) and since
    when (``time.monotonic()``; 0 when idle), in two shared doubles."""

    def __init__(self, array: Any) -> None:
        self.array = array

    def start(self, call: int) -> None:
        self.array[0] = call
        self.array[1] = time.monotonic()

    def idle(self) -> None:
        self.array[1] = 0.0

    def read(self) -> tuple[int, float]:
        """Return (call, start time); start 0.0 when the worker is between calls."""
        return int(self.array[0]), float(self.array[1])


def failure(exc: BaseException) -> Reply:
    """Encode an exception for the parent: an interrupt, one of relu-diag's errors (class,
    message, attributes), or anything else as text (a bug in relu-diag: exit 3)."""
    if isinstance(exc, KeyboardInterrupt):
        return ("interrupt", None)
    if isinstance(exc, ReluDiagError):
        cls = next(c for c in type(exc).__mro__ if c.__module__.startswith("relu_ce_diag"))
        state = dict(vars(exc))
        try:
            pickle.dumps(state)
        except Exception:  # noqa: BLE001  an attribute that cannot travel: the message does
            state = {}
        return ("error", (cls, str(exc), state))
    return ("crash", f"{type(exc).__name__}: {exc}")


def _shield() -> None:
    for name in QUIET:
        sig = getattr(signal, name, None)
        if sig is not None:
            signal.signal(sig, signal.SIG_IGN)


def _stdout_to_stderr() -> None:
    """Point fd 1 and sys.stdout at stderr: nothing a worker runs can reach stdout."""
    try:
        os.dup2(2, 1)
    except OSError:  # no stderr: then nowhere
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)
    sys.stdout = sys.stderr


def _follow_parent(lifeline: Any) -> None:
    """End this process as soon as the parent is gone, whatever the main thread is doing."""
    def watch() -> None:
        with contextlib.suppress(EOFError, OSError):
            lifeline.recv()  # the parent never sends: this returns only at EOF
        os._exit(1)

    threading.Thread(target=watch, name="relu-diag lifeline", daemon=True).start()
    if sys.platform.startswith("linux"):  # also when the main thread holds the GIL in C
        try:
            import ctypes
            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass


def _send(conn: Any, reply: Reply) -> None:
    try:
        conn.send(reply)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        conn.send(failure(RuntimeError(f"a worker's reply could not be sent: {exc}")))
    except Exception as exc:  # noqa: BLE001  the function broke pickling (sys.modules[
        # "numpy"] = None): its error in one line, not a worker traceback and exit 3
        err = UserFunctionError(f"its result could not be sent back ({type(exc).__name__}: "
                                f"{exc}); does it change sys.modules?")
        err.unlabelled = True  # type: ignore[attr-defined]  # the parent adds the label
        conn.send(failure(err))


def serve(conn: Any, lifeline: Any, array: Any, home: Surroundings,
          setup: Callable[[Beat], Callable[[Any], Any]]) -> None:
    """Run in the child: take the parent's working folder, environment and import path
    (``home``), build the handler from ``setup``, reply ("ok", its ``info``), then answer
    requests until the parent sends None or closes the pipe."""
    _shield()
    if hasattr(os, "setpgid"):  # a group of its own: what the function forks dies with it
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)
    _stdout_to_stderr()
    _follow_parent(lifeline)
    cwd, env, path = home
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    sys.path[:] = path
    beat = Beat(array)
    try:
        handler: Callable[[Any], Any] | None = setup(beat)
        reply: Reply = ("ok", getattr(handler, "info", None))
    except BaseException as exc:  # noqa: BLE001  the parent words it; this worker is done
        handler, reply = None, failure(exc)
    beat.idle()
    _send(conn, reply)
    while handler is not None:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        try:
            reply = ("ok", handler(request))
        except BaseException as exc:  # noqa: BLE001  sent to the parent, which raises it
            reply = failure(exc)
        beat.idle()
        _send(conn, reply)
