"""A host that calls the user's function in supervised child processes (``check.process``).

The function is loaded once per worker; every call still gets fresh copies of W, X and Y.
Stencil points travel in batches, each point as the entries where it differs from the
function's own W (one entry for an entry-by-entry check), so the cost of a process boundary
is paid per batch, not per call. With ``jobs`` workers the batches run in parallel; the
values come back in order and are bit for bit those of one worker. A call that raises is
reported as in-process (the first in order); a worker that dies or a call that overruns
``timeout`` becomes one line naming the function, the call, and the signal or the limit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator, Sized
from dataclasses import dataclass
from typing import Any

import numpy as np

from relu_ce_diag.check.calling import Call
from relu_ce_diag.check.host import Done as Advance
from relu_ce_diag.check.host import InProcess
from relu_ce_diag.check.process import Pool
from relu_ce_diag.check.process_outcome import Done, Ended, Failed, Outcome, Overran
from relu_ce_diag.check.process_worker import Beat
from relu_ce_diag.errors import UserFunctionError

Array = np.ndarray
MAX_BATCH = 256  # calls per request at most
BATCHES_PER_WORKER = 8  # at least this many per worker, so the last ones balance the load


@dataclass(frozen=True)
class Batch:
    """Stencil points as the entries where each differs from W (a few arrays for the whole
    batch, so pickling costs little per point): point i sets ``idx[ptr[i]:ptr[i + 1]]`` of W
    to ``values[...]`` and has shape ``shape``, unless it was sent whole in ``whole[i]``."""

    ptr: Array
    idx: Array
    values: Array
    shape: tuple[int, ...]
    whole: dict[int, Array]
    wheres: list[str]

    def point(self, i: int, base: Array) -> Array:
        """Rebuild point i (a fresh array) from W (P,)."""
        if i in self.whole:
            return np.array(self.whole[i])
        W = base.copy()
        a, b = self.ptr[i], self.ptr[i + 1]
        W[self.idx[a:b]] = self.values[a:b]
        return W.reshape(self.shape)


def encode(points: list[tuple[Array, str]], base: Array) -> Batch:
    """Describe ``points`` (W, where) by the entries whose bits differ from ``base`` (P,)
    (-0.0 and NaNs kept exact); a point of another dtype or shape, or one that differs in
    most entries (a random direction), is sent whole."""
    shape = points[0][0].shape if points else base.shape
    bits = f"u{base.dtype.itemsize}" if base.dtype.itemsize in (2, 4, 8) else ""
    ptr, idx, values, whole = [0], [np.empty(0, np.intp)], [base[:0]], {}
    for i, (W, _) in enumerate(points):
        flat = np.ascontiguousarray(W).reshape(-1)
        if bits and flat.dtype == base.dtype and W.shape == shape and flat.size == base.size:
            moved = np.flatnonzero(flat.view(bits) != base.view(bits))
        else:
            moved = np.arange(flat.size)
        if 2 * moved.size >= flat.size:
            whole[i] = W
        else:
            idx.append(moved)
            values.append(flat[moved])
        ptr.append(ptr[-1] + (0 if i in whole else moved.size))
    return Batch(np.array(ptr), np.concatenate(idx), np.concatenate(values), shape, whole,
                 [where for _, where in points])


class UserHandler:
    """In the worker: answer ("vg", W, where) with the Call and ("losses", batch) with f at
    each point (n,), marking each call on the heartbeat; each with the extra values seen
    and the seconds per call spent in the function (the cost of the process boundary
    aside, for the announcement's estimate)."""

    def __init__(self, host: InProcess, beat: Beat) -> None:
        self.host, self.beat = host, beat
        self.info = (host.point, host.label)
        self.base = np.ascontiguousarray(host.point.W).reshape(-1)

    def __call__(self, request: tuple[str, Any]) -> tuple[Any, int, float]:
        """Answer a request; also return the extra values seen and the seconds per call."""
        op, payload = request
        if op == "vg":
            W, where = payload
            self.beat.start(0)
            start = time.perf_counter()
            call = self.host.value_and_grad(W, where)
            return call, self.host.extra_values, time.perf_counter() - start
        batch: Batch = payload
        values, spent = np.empty(len(batch.wheres)), 0.0
        for i, where in enumerate(batch.wheres):
            W = batch.point(i, self.base)
            self.beat.start(i)
            start = time.perf_counter()
            values[i] = self.host.loss(W, where)
            spent += time.perf_counter() - start
        return values, self.host.extra_values, spent / max(1, values.size)


class InChild:
    """Call a user's function in ``jobs`` supervised worker processes built from ``setup``
    (whose info is the point and the label); ``timeout`` seconds per call at most."""

    language = "numpy"

    def __init__(self, setup: Any, ref: str, jobs: int = 1,
                 timeout: float | None = None) -> None:
        self.label, self.jobs, self.timeout = ref, jobs, timeout
        self.calls, self._extra = 0, 0
        self.call_seconds: float | None = None  # per call in the worker, in the last request
        self.pool = Pool(setup, jobs, timeout)
        self.point, self.label = self._check(self.pool.start(), ["while loading"])
        self.base = np.ascontiguousarray(self.point.W).reshape(-1)

    @property
    def extra_values(self) -> int:
        return self._extra

    def value_and_grad(self, W: Array, where: str = "at W") -> Call:
        """Return f and df (P,) at W (P,)."""
        self.calls += 1
        for _, outcome in self.pool.run([("vg", (W, where))]):
            call, extra, self.call_seconds = self._check(outcome, [where])
            self._extra = max(self._extra, extra)
        return call

    def loss(self, W: Array, where: str) -> float:
        """Return f at W (P,)."""
        return float(self.losses([(W, where)])[0])

    def losses(self, points: Iterable[tuple[Array, str]], done: Advance | None = None) -> Array:
        """Return f at every point (W, where), in order; ``done(n)`` after each batch.

        (One function: dispatch, the first error in order and the progress share its state.)
        """
        wheres: list[list[str]] = []
        values: dict[int, Array] = {}
        error: list[tuple[int, BaseException]] = []  # the earliest failing batch so far

        def requests() -> Iterator[tuple[str, Batch]]:
            for batch in self._batches(points):
                if error:
                    return  # no more work once a call failed
                wheres.append(batch.wheres)
                yield "losses", batch

        run = self.pool.run(requests())
        try:
            for i, outcome in run:
                try:
                    values[i], extra, self.call_seconds = self._check(outcome, wheres[i])
                except UserFunctionError as exc:
                    if not error or i < error[0][0]:
                        error[:] = [(i, exc)]
                else:
                    self._extra = max(self._extra, extra)
                    self.calls += values[i].size
                    if done is not None:
                        done(values[i].size)
                if error and all(j in values for j in range(error[0][0])):
                    break  # every batch before the failing one is in: that error is first
        finally:
            run.close()  # kills the workers still busy with later batches
        if error:
            raise error[0][1]
        return np.concatenate([values[i] for i in range(len(wheres))]) if wheres \
            else np.empty(0)

    def _batches(self, points: Iterable[tuple[Array, str]]) -> Iterator[Batch]:
        n = len(points) if isinstance(points, Sized) else MAX_BATCH * self.jobs
        size = max(1, min(MAX_BATCH, math.ceil(n / (BATCHES_PER_WORKER * self.jobs))))
        batch: list[tuple[Array, str]] = []
        for point in points:
            batch.append(point)
            if len(batch) == size:
                yield encode(batch, self.base)
                batch = []
        if batch:
            yield encode(batch, self.base)

    def _check(self, outcome: Outcome, wheres: list[str]) -> Any:
        """Return a finished request's value, or raise what went wrong as one line."""
        if isinstance(outcome, Done):
            return outcome.value
        if isinstance(outcome, Failed):
            if getattr(outcome.error, "unlabelled", False):
                raise UserFunctionError(f"{self.label}: {outcome.error}")
            raise outcome.error
        call = outcome.call
        where = ("while loading" if call == -1 else "between calls" if call is None
                 else wheres[min(call, len(wheres) - 1)])
        if isinstance(outcome, Overran):
            raise UserFunctionError(f"{self.label} ran longer than --timeout {outcome.seconds:g} "
                                    f"s {where}; it was stopped")
        assert isinstance(outcome, Ended)
        raise UserFunctionError(f"{self.label}: the process running it {outcome.how} {where} "
                                "(os._exit, a crash in native code, or the out-of-memory "
                                "killer?)")

    def close(self) -> None:
        """End the worker processes."""
        self.pool.close()

    def __enter__(self) -> InChild:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
