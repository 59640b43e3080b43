"""Supervised worker processes: where relu-diag runs what may crash, hang or exit.

A ``Pool`` runs requests in child processes (``process_worker.serve``), each of which builds
its handler once from a picklable ``setup``. The parent notices a worker that dies (its exit
code or signal) and makes that the outcome of the request it was running, stops a call that
runs past ``timeout`` seconds (the worker's heartbeat says which call and since when), and
replaces the lost worker for the requests still to come. Workers are killed (SIGKILL) when
the pool is closed, when the iterator of outcomes is left early (Ctrl-C, or SIGTERM/SIGHUP
that the CLI turns into an interrupt), when the pool is garbage-collected and at exit; a
worker whose parent dies goes too.

Workers start from a fork server where the platform has one (a clean process that has
imported NumPy and the worker's code once, so a worker starts in milliseconds), else they
are spawned; they get the parent's working folder, environment and import path from the
setup that needs them.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.machinery
import multiprocessing
import multiprocessing.util  # before atexit.register below: so our hook runs before its joins
import os
import signal
import sys
import time
import weakref
from collections.abc import Generator, Iterable, Iterator
from multiprocessing.connection import wait
from typing import Any

from relu_ce_diag.check.process_outcome import Done, Ended, Outcome, Overran, decode
from relu_ce_diag.check.process_worker import Beat, Surroundings, serve

Context = Any  # a multiprocessing context (forkserver or spawn)
POLL = 0.05  # seconds: with a timeout, how often to look at a worker not yet in a call
HOME = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def context(preload: str) -> Context:
    """Return the fork-server context (preloading ``preload``) where there is one, else spawn."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["relu_ce_diag.check.process_worker", preload])
    return ctx


@contextlib.contextmanager
def _clean_start() -> Iterator[None]:
    """Start a worker (and the fork server, when it is first needed) untouched by the user's
    files: from the folder that holds relu-diag's package, because the fork server runs
    ``python -c``, whose first import path is its working folder (where a user's
    ``secrets.py`` would stand in for the standard library's); and without the parent's main
    script, which multiprocessing would run again in the worker to find functions defined
    there (a worker runs relu-diag's code only; a console script would import the whole CLI
    in every worker, an unguarded script would run again). The worker then takes the
    parent's working folder from ``surroundings``."""
    here = os.getcwd()
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    os.chdir(HOME)
    if main is not None and not getattr(spec, "name", None):  # not run as -m: a script
        main.__spec__ = importlib.machinery.ModuleSpec("relu_ce_diag.__main__", None)
    try:
        yield
    finally:
        os.chdir(here)
        if main is not None:
            main.__spec__ = spec


def surroundings() -> Surroundings:
    """Return this process's working folder, environment and import path, for a worker."""
    return os.getcwd(), dict(os.environ), list(sys.path)


class Worker:
    """One child process: a duplex pipe for requests and replies, a heartbeat in shared
    memory, and the write end of its lifeline (held by this process alone)."""

    def __init__(self, ctx: Context, setup: Any) -> None:
        self.conn, theirs = ctx.Pipe()
        lifeline, self._lifeline = ctx.Pipe(duplex=False)
        self.beat = Beat(ctx.RawArray("d", [-1.0, 0.0]))  # setting up, not in a call
        self.proc = ctx.Process(target=serve, name="relu-diag worker", daemon=False,
                                args=(theirs, lifeline, self.beat.array, surroundings(), setup))
        with _clean_start():
            self.proc.start()
        theirs.close()
        lifeline.close()
        self.ready = False  # its setup reply is still to come

    def receive(self) -> tuple[Outcome, bool]:
        """Read what the worker sent, or its death when it sent nothing; say whether that
        was its setup reply (the first it sends)."""
        try:
            has = self.conn.poll()
            kind, payload = self.conn.recv() if has else ("", None)
        except (EOFError, OSError):
            has = False
        setup, self.ready = not self.ready, True
        return (decode(kind, payload) if has else self.ended()), setup

    def ended(self) -> Ended:
        """Reap the dead worker; say how it ended and in which call."""
        call, since = self.beat.read()
        self.proc.join(5)
        self.close()
        return Ended(self.proc.exitcode, call if since or call < 0 else None)

    def overran(self, timeout: float | None, now: float) -> Overran | None:
        call, since = self.beat.read()
        if timeout is None or not since or now - since <= timeout:
            return None
        self.kill()
        return Overran(timeout, call)

    def deadline(self, timeout: float | None) -> float | None:
        _, since = self.beat.read()
        return since + timeout if timeout is not None and since else None

    def kill(self) -> None:
        """Kill the worker and its process group (the worker leads one of its own, see
        ``process_worker.serve``): a process the user's function forked goes with it."""
        pid = self.proc.pid
        if pid is not None and hasattr(os, "killpg"):
            with contextlib.suppress(OSError):
                if os.getpgid(pid) == pid:  # alive, or a zombie not yet reaped
                    os.killpg(pid, signal.SIGKILL)
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.close()

    def close(self) -> None:
        self.conn.close()
        self._lifeline.close()


_POOLS: weakref.WeakSet[Pool] = weakref.WeakSet()


def _kill(workers: list[Worker]) -> None:
    while workers:
        workers.pop().kill()


@atexit.register
def _close_all() -> None:
    """At exit, before multiprocessing joins its children: kill every worker still alive."""
    for pool in list(_POOLS):
        pool.close()


class Pool:
    """``jobs`` workers built from ``setup``; ``timeout`` seconds per call (None: no limit)."""

    def __init__(self, setup: Any, jobs: int = 1, timeout: float | None = None) -> None:
        self.setup, self.jobs, self.timeout = setup, max(1, jobs), timeout
        self.ctx = context(type(setup).__module__)
        self.workers: list[Worker] = []
        _POOLS.add(self)
        self._finalizer = weakref.finalize(self, _kill, self.workers)

    def start(self) -> Outcome:
        """Start every worker and wait until all are set up: return ``Done(info)`` of the
        first, or the first failure (then the pool is closed)."""
        self.workers.extend(Worker(self.ctx, self.setup) for _ in range(self.jobs))
        busy = dict.fromkeys(self.workers, -1)
        first: Outcome | None = None
        try:
            while busy:
                for w, outcome in self._next(busy):
                    del busy[w]
                    if not isinstance(outcome, Done):
                        return outcome
                    if w is self.workers[0]:
                        first = outcome
        finally:
            if busy or first is None:
                self.close()
        assert first is not None  # the first worker is among those waited for
        return first

    def run(self, requests: Iterable[Any]) -> Generator[tuple[int, Outcome], None, None]:
        """Send ``requests`` to idle workers, replacing lost ones; yield (index, outcome) as
        each finishes. Leaving the iterator early kills the workers still busy."""
        todo = iter(enumerate(requests))
        busy: dict[Worker, int] = {}
        try:
            while True:
                for w in self._idle(busy):
                    nxt = next(todo, None)
                    if nxt is None:
                        break
                    with contextlib.suppress(OSError):  # it just died: its sentinel says so
                        w.conn.send(nxt[1])
                    busy[w] = nxt[0]
                if not busy:
                    return
                for w, outcome in self._next(busy):
                    yield busy.pop(w), outcome
        finally:
            for w in busy:
                w.kill()

    def _idle(self, busy: dict[Worker, int]) -> list[Worker]:
        """Return the workers free for a request, in order, after replacing the dead ones (a
        new worker sets up first: its setup reply comes before the reply to the request)."""
        for w in [w for w in self.workers if w not in busy and not w.proc.is_alive()]:
            w.kill()
            self.workers.remove(w)
        while len(self.workers) < self.jobs:
            self.workers.append(Worker(self.ctx, self.setup))
        return [w for w in self.workers if w not in busy]

    def _next(self, busy: dict[Worker, int]) -> list[tuple[Worker, Outcome]]:
        """Wait until some busy workers finish, die or overrun; return their outcomes (a
        successful setup reply is an outcome only for ``start``, whose requests are -1)."""
        while True:
            deadlines = [w.deadline(self.timeout) for w in busy]
            known = [d for d in deadlines if d is not None]
            wait_for = (None if self.timeout is None
                        else POLL if len(known) < len(deadlines)  # a call may start any moment
                        else max(0.0, min(known) - time.monotonic()))
            ready = set(wait([h for w in busy for h in (w.conn, w.proc.sentinel)], wait_for))
            now, out = time.monotonic(), []
            for w, index in busy.items():
                if w.conn in ready or w.proc.sentinel in ready:
                    outcome, setup = w.receive()
                    if setup and index >= 0 and isinstance(outcome, Done):
                        continue  # a new worker is ready; the request's reply is next
                else:
                    late = w.overran(self.timeout, now)
                    if late is None:
                        continue
                    outcome = late
                out.append((w, outcome))
            if out:
                return out

    def close(self) -> None:
        """Kill every worker (they hold nothing that needs a goodbye)."""
        _kill(self.workers)
        _POOLS.discard(self)
