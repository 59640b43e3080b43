"""A user's MATLAB function run by GNU Octave: the host of ``--fn FILE.m[:NAME]``.

Octave starts once per check (``octave_session``) and calls ``[f, df] = NAME(W, X, Y)``, or
the ``--call`` expression, through a driver that loops over whole blocks of stencil points
inside Octave and answers each call as it finishes: one round trip per block, not per call.
W is passed as a column (P x 1), X and Y (and the data file's variables the expression uses)
as the data file holds them. Whatever goes wrong is said in MATLAB's terms: Octave's own
message at the user's ``file:line``, a wrong return size, Octave missing, a call over
``--timeout``; Octave is then stopped, as on Ctrl-C.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from itertools import islice
from pathlib import Path

import numpy as np

from relu_ce_diag.check.calling import Call
from relu_ce_diag.check.host import Done
from relu_ce_diag.check.octave_code import MFile, call_sizes, names_used, octave_point, read_mfile
from relu_ce_diag.check.octave_driver import BIND, BIND_NAME
from relu_ce_diag.check.octave_session import (
    FULL,
    LOSS,
    RAISED,
    READY,
    Reply,
    Session,
    StoppedError,
    find_octave,
)
from relu_ce_diag.errors import OptionError, UserFunctionError
from relu_ce_diag.settings.data import read_arrays
from relu_ce_diag.settings.function import Calling
from relu_ce_diag.settings.params import Point

Array = np.ndarray
BLOCK = 512  # points per request at most
BLOCK_BYTES = 32 << 20  # and at most this many bytes of dense points
F64, F32 = np.dtype(np.float64), np.dtype(np.float32)
DTYPES: dict[int, np.dtype] = {1: F64, 2: F32, 3: F64}  # double, single, integer or logical
_PARSE = re.compile(r"parse error near line (\d+) of file (\S+)")


def _words(*values: Iterable[float] | float) -> bytes:
    """Encode numbers as little-endian float64 words."""
    flat = [np.atleast_1d(np.asarray(v, dtype=np.float64)).ravel(order="F") for v in values]
    return np.concatenate(flat).astype("<f8").tobytes() if flat else b""


def _text(s: str) -> bytes:
    data = s.encode("utf-8")
    return _words(len(data)) + data


def _short(path: str) -> str:
    """Show a path relative to the working folder when it lies inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return path


def _parse_error(message: str) -> tuple[str, str, str] | None:
    """Return (file, line, one-line text) of an Octave parse error (which names its file and
    line inside the message, over several lines), else None."""
    parse = _PARSE.search(message)
    if parse is None:
        return None
    rest = [s.strip() for s in message[parse.end():].splitlines() if s.strip()]
    return parse.group(2), parse.group(1), "parse error: " + ": ".join(
        s for s in rest if set(s) != {"^"})


def raised(text: str, label: str, where: str, expr: str = "") -> UserFunctionError:
    """Turn the driver's report of an Octave error into one line: ``file:line: error: ...``
    (an expression Octave cannot read: an OptionError of ``--call``)."""
    file, line, message = (text.split("\n", 2) + ["", ""])[:3]
    parse = _parse_error(message)
    if file == "--call":
        said = " ".join((parse[2] if parse is not None else message).split())
        raise OptionError("--call", expr, "an Octave expression in W, X, Y (and the data "
                          f"file's variables) that returns [f, df]; Octave: {said}")
    if parse is not None:
        file, line, message = parse
    message = " ".join(message.split())
    if "called with too many outputs" in message or "undefined in return list" in message:
        message += " (it must return two outputs: [f, df])"
    at = f"{_short(file)}:{line}" if file and line not in ("", "0", "-1") else \
        _short(file) if file else label
    return UserFunctionError(f"{at}: error: {message} (raised by {label} {where})")


class OctaveHost:
    """Call a user's MATLAB function in one Octave session; ``calls`` counts the calls."""

    language = "matlab"
    extra_values = 0  # MATLAB returns exactly the outputs asked for: [f, df]

    def __init__(self, session: Session, point: Point, label: str) -> None:
        self.session, self.point, self.label = session, point, label
        self.expr = ""
        self.calls = 0

    def close(self) -> None:
        """Stop Octave."""
        self.session.close()

    @contextmanager
    def _stopping(self) -> Iterator[None]:
        """Stop Octave when the block is left by an exception, Ctrl-C included."""
        try:
            yield
        except BaseException:
            self.close()
            raise

    def _reply(self, where: str, startup: bool = False) -> Reply:
        """Read one reply; turn an error, a timeout or a dead Octave into one line (the
        caller stops Octave: ``_stopping``)."""
        try:
            r = self.session.reply(startup)
        except StoppedError as exc:
            if exc.reason == "timeout":
                limit = self.session.timeout
                raise UserFunctionError(
                    f"{self.label}: no answer within {limit:g} s {where} (--timeout); Octave "
                    "was stopped" if not startup else
                    f"{self.label}: Octave did not start within the time allowed; Octave was "
                    "stopped") from None
            raise UserFunctionError(f"{self.label}: {exc.reason} ({where})") from None
        if r.kind == RAISED:
            raise raised(r.text, self.label, where + self._unrolled(where), self.expr)
        if r.kind not in (READY, LOSS, FULL):
            raise UserFunctionError(f"{self.label}: {r.text} ({where})")
        return r

    def _unrolled(self, where: str) -> str:
        """Say how W is made of named blocks, for an error at W (a block too many is a
        variable of the data file the expression does not use)."""
        blocks = self.point.layout.blocks
        if not self.point.named or not (where == "at W" or where.startswith("at W (")):
            return ""  # at W itself, the timing calls included; not at a step along an entry
        scalars = [b.name for b in blocks if b.size == 1  # not a bias of one unit (b2)
                   and not re.fullmatch(r"(?i)(w|b|theta|bias)_?\d*", b.name)]
        unused = (f" ({', '.join(scalars)}: {'a scalar' if len(scalars) == 1 else 'scalars'} "
                  "of the data file the expression does not use, so entries of W; use them "
                  "in --call or leave them out of the file)" if scalars else "")
        return (f"; W = [{'; '.join(f'{b.name}(:)' for b in blocks)}], "
                f"{self.point.W.size} entries{unused}")

    def _send(self, *parts: bytes, startup: bool = False) -> None:
        try:
            self.session.request(*parts, startup=startup)
        except StoppedError as exc:
            raise UserFunctionError(f"{self.label}: {exc.reason}") from None

    def start(self, mfile: MFile, expr: str) -> None:
        """Write the call as a function of W, send the folder, script and data; wait until
        Octave is ready."""
        p, self.expr = self.point, expr
        variables = [("X", p.X), (p.target, p.Y), *p.others]
        bind = BIND.format(names=", ".join(n for n, _ in variables), expr=expr)
        Path(self.session.folder, f"{BIND_NAME}.m").write_text(bind, encoding="utf-8")
        parts = [_text(str(mfile.path.resolve().parent)),
                 _text(str(mfile.path.resolve()) if mfile.script else ""),
                 _words(len(variables))]
        for _, value in variables:
            a = np.asarray(value, dtype=np.float64)
            dims = a.shape if a.ndim >= 2 else (a.size, 1)
            parts += [_words(len(dims), dims), _words(a)]
        with self._stopping():
            self._send(*parts, startup=True)
            self._reply("while starting", startup=True)

    def value_and_grad(self, W: Array, where: str = "at W") -> Call:
        """Return f and df (P,) at W (P,)."""
        P = self.point.W.size
        with self._stopping():
            self._send(_words(1, 1, P, 0, 0, W))
            self.calls += 1
            r = self._reply(where)
            words = np.asarray(r.words, dtype=np.float64)
            f, fc, dc, rows, cols = words[:5]
            shape = (int(rows), int(cols))
            if shape not in ((P, 1), (1, P)):
                raise UserFunctionError(
                    f"{self.label}: df is {shape[0]}x{shape[1]} but W is {P}x1 ({where}); "
                    "return df shaped like W, e.g. df = [df1(:); df2(:)]")
        return Call(float(f), words[5:].astype(DTYPES[int(dc)]), DTYPES[int(fc)],
                    DTYPES[int(dc)])

    def loss(self, W: Array, where: str) -> float:
        """Return f at W (P,)."""
        return float(self.losses([(W, where)])[0])

    def losses(self, points: Iterable[tuple[Array, str]], done: Done | None = None) -> Array:
        """Return f at every point (W, where) in order, block by block; ``done(1)`` per call."""
        out: list[float] = []
        with self._stopping():
            for block in _blocks(points, self.point.W.size):
                self._send(*_encode(block))
                for _, where in block:
                    self.calls += 1
                    out.append(float(self._reply(where).words[0]))
                    if done is not None:
                        done(1)
        return np.array(out, dtype=np.float64)


def _blocks(points: Iterable[tuple[Array, str]], P: int,
            ) -> Iterator[list[tuple[Array, str]]]:
    """Split the points into requests of at most BLOCK points and BLOCK_BYTES of W."""
    size = max(1, min(BLOCK, BLOCK_BYTES // (8 * max(P, 1))))
    it = iter(points)
    while block := list(islice(it, size)):
        yield block


def _encode(block: list[tuple[Array, str]]) -> tuple[bytes, ...]:
    """Encode a block of points as the base W and, per point, the entries that differ from
    it (or the whole W when most do)."""
    Ws = np.stack([np.asarray(W, dtype=np.float64).reshape(-1) for W, _ in block])
    base, P = Ws[0], Ws.shape[1]
    counts, idx, vals = [], [], []
    for row in Ws:
        changed = np.flatnonzero(row != base)
        if changed.size > P // 3:
            counts.append(-1)
            vals.append(row)
        else:
            counts.append(changed.size)
            idx.append(changed + 1)
            vals.append(row[changed])
    idx_all = np.concatenate(idx) if idx else np.empty(0)
    vals_all = np.concatenate(vals)
    return (_words(2, len(block), P, idx_all.size, vals_all.size), _words(base),
            _words(counts), _words(idx_all), _words(vals_all))


def open_octave(calling: Calling, data: str) -> OctaveHost:
    """Read the .m file and the data, start Octave on them, and return the host."""
    mfile = read_mfile(calling)
    arrays = read_arrays(data)
    point = octave_point(arrays, data, names_used(calling.call or ""))
    point = replace(point, call_sizes=call_sizes(calling.call or "", arrays))
    expr = mfile.expr or f"{mfile.name}(W, X, {point.target})"
    session = Session(find_octave(calling.ref), calling.ref, calling.timeout)
    host = OctaveHost(session, point, calling.ref)
    host.start(mfile, expr)
    return host
