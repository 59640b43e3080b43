"""One GNU Octave process running relu-diag's driver: started once per check, fed requests
through a pipe, its replies read from another, each reply awaited at most ``timeout`` seconds.

Octave runs without terminal input in relu-diag's process group, so a Ctrl-C (or a kill of the
group by a CI runner) reaches both; relu-diag kills Octave on a Ctrl-C, a timeout, an error
and at the end of the check (``close``, or at the latest when the session is collected or
Python exits). If relu-diag itself is killed, Octave exits when its call returns (its pipes
are gone). Octave's own output (the user's ``disp``, warnings) goes to a log file in the
session's private folder; its last line explains an Octave that stops unexpectedly.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from relu_ce_diag.check.octave_driver import DRIVER, DRIVER_NAME
from relu_ce_diag.errors import UserFunctionError

Array = np.ndarray
STARTUP = 60.0  # seconds Octave may take to start and read the data, besides --timeout
ENV_OCTAVE = "RELU_DIAG_OCTAVE"  # the octave-cli to run, if not the one on PATH
INSTALL = "install GNU Octave (the package octave: apt-get install octave, brew install octave)"
READY, LOSS, FULL, RAISED, UNUSABLE = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class Reply:
    """One reply of the driver: its kind and payload (float64 words, or text)."""

    kind: int
    words: Array | tuple[float, ...]
    text: str = ""


class StoppedError(Exception):
    """Octave stopped answering: ``reason`` says why (a timeout, or the process ended)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def find_octave(label: str) -> str:
    """Return the Octave executable to run (``$RELU_DIAG_OCTAVE``, else octave-cli or octave
    on PATH), or raise saying which package to install."""
    given = os.environ.get(ENV_OCTAVE)
    if given:
        found = shutil.which(given)
        if found is None:
            raise UserFunctionError(f"{label}: {ENV_OCTAVE}={given} is not an executable; "
                                    f"point it at octave-cli, or {INSTALL}")
        return found
    for name in ("octave-cli", "octave"):
        found = shutil.which(name)
        if found is not None:
            return found
    raise UserFunctionError(f"{label}: a .m function runs in GNU Octave, and no octave-cli was "
                            f"found on PATH; {INSTALL}")


def _kill(proc: subprocess.Popen[bytes], fds: list[int], folder: str) -> None:
    """Kill Octave and its session (what the function started with system('... &')), reap
    it, close the pipes, remove the private folder."""
    if hasattr(os, "killpg"):
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)  # Octave leads its session's group
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    fds.clear()
    shutil.rmtree(folder, ignore_errors=True)


class Session:
    """An Octave process running the driver; ``request`` writes, ``reply`` reads."""

    def __init__(self, exe: str, label: str, timeout: float | None) -> None:
        self.label, self.timeout = label, timeout
        self.folder = tempfile.mkdtemp(prefix="relu-diag-octave-")
        Path(self.folder, f"{DRIVER_NAME}.m").write_text(DRIVER, encoding="utf-8")
        self.log = Path(self.folder, "octave.log")
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        folder = self.folder.replace("'", "''")  # an Octave string: quotes doubled
        code = f"addpath('{folder}'); {DRIVER_NAME}({req_r}, {resp_w});"
        try:
            with self.log.open("wb") as log:
                self.proc = subprocess.Popen(
                    [exe, "--no-gui", "--norc", "--quiet", "--no-history", "--eval", code],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    pass_fds=(req_r, resp_w), start_new_session=hasattr(os, "killpg"))
        except OSError as exc:
            for fd in (req_r, req_w, resp_r, resp_w):
                os.close(fd)
            shutil.rmtree(self.folder, ignore_errors=True)
            raise UserFunctionError(f"{label}: cannot start Octave ({exe}): "
                                    f"{exc.strerror or exc}; {INSTALL}") from None
        os.close(req_r)
        os.close(resp_w)
        os.set_blocking(req_w, False)
        self.req, self.resp = req_w, resp_r
        self._fds = [req_w, resp_r]
        self._buf, self._pos = b"", 0
        self._stop = weakref.finalize(self, _kill, self.proc, self._fds, self.folder)

    def close(self) -> None:
        """Stop Octave now (it holds no state worth a polite exit) and clean up."""
        self._stop()

    def _deadline(self, startup: bool = False) -> float | None:
        if self.timeout is None and not startup:
            return None
        return time.monotonic() + (self.timeout or 0.0) + (STARTUP if startup else 0.0)

    def _wait(self, fd: int, write: bool, deadline: float | None) -> None:
        """Wait until fd can be read (or written), or raise StoppedError at the deadline."""
        left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        r, w, _ = select.select([] if write else [fd], [fd] if write else [], [], left)
        if not (r or w):
            raise StoppedError("timeout")

    def request(self, *parts: bytes, startup: bool = False) -> None:
        """Write a request (its parts in order) to the driver."""
        deadline = self._deadline(startup)
        for part in parts:
            view = memoryview(part)
            while view:
                self._wait(self.req, True, deadline)
                try:
                    n = os.write(self.req, view)
                except BlockingIOError:
                    continue
                except BrokenPipeError:
                    raise StoppedError(self._ended()) from None
                view = view[n:]

    def _take(self, n: int, deadline: float | None) -> memoryview:
        """Return the next n bytes of the replies."""
        while len(self._buf) - self._pos < n:
            self._wait(self.resp, False, deadline)
            chunk = os.read(self.resp, max(1 << 16, n))
            if not chunk:
                raise StoppedError(self._ended())
            self._buf, self._pos = self._buf[self._pos:] + chunk, 0
        start, self._pos = self._pos, self._pos + n
        return memoryview(self._buf)[start:self._pos]

    def reply(self, startup: bool = False) -> Reply:
        """Read the next reply of the driver."""
        deadline = self._deadline(startup)
        kind, length = (int(v) for v in struct.unpack("<2d", self._take(16, deadline)))
        data = self._take(length if kind in (RAISED, UNUSABLE) else 8 * length, deadline)
        if kind in (RAISED, UNUSABLE):
            return Reply(kind, (), bytes(data).decode("utf-8", "replace"))
        if kind == LOSS:
            return Reply(kind, struct.unpack("<2d", data))
        return Reply(kind, np.frombuffer(data, "<f8").copy())

    def _ended(self) -> str:
        """Say how Octave ended, with the last line it printed."""
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        lines = [ln.strip() for ln in self.log.read_text("utf-8", "replace").splitlines()
                 if ln.strip() and "preparing to exit" not in ln] if self.log.exists() else []
        how = f"exit code {code}" if code is not None and code >= 0 else \
            f"signal {-code}" if code is not None else "no exit"
        return f"Octave ended ({how})" + (f": {lines[-1]}" if lines else "")
