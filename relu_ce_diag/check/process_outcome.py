"""What a supervised worker's request came to: done, failed, the worker died, or overran.

``decode`` turns a worker's reply (``process_worker.failure`` encodes exceptions) into one of
these records; the pool adds ``Ended`` and ``Overran``, which the worker cannot report.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Done:
    """A request answered: the handler's return value."""

    value: Any


@dataclass(frozen=True)
class Failed:
    """A request whose handler raised: the exception, rebuilt in the parent."""

    error: BaseException


@dataclass(frozen=True)
class Ended:
    """The worker died: ``exitcode`` (negative: killed by that signal), in call ``call`` of
    its request (-1: while it set up; None: between calls)."""

    exitcode: int | None
    call: int | None

    @property
    def how(self) -> str:
        """Say how the process ended: ``was killed by SIGKILL``, ``exited with code 0``."""
        code = self.exitcode
        if code is not None and code < 0:
            try:
                return f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"was killed by signal {-code}"
        return f"exited with code {code}"


@dataclass(frozen=True)
class Overran:
    """Call ``call`` of the request (-1: the setup) ran past the timeout and was stopped."""

    seconds: float
    call: int


Outcome = Done | Failed | Ended | Overran


class WorkerError(RuntimeError):
    """Something other than the user's code failed inside a worker (a bug: exit 3)."""


def decode(kind: str, payload: Any) -> Done | Failed:
    """Turn a worker's reply (see ``process_worker.failure``) into an outcome."""
    if kind == "ok":
        return Done(payload)
    if kind == "interrupt":
        return Failed(KeyboardInterrupt())
    if kind == "error":
        cls, message, state = payload
        exc = cls.__new__(cls)  # relu-diag's errors take varied arguments; rebuild, not call
        exc.args = (message,)
        exc.__dict__.update(state)
        return Failed(exc)
    return Failed(WorkerError(f"in a worker process: {payload}"))
