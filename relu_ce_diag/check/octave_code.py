"""What relu-diag reads of a user's .m file and ``--call`` expression before Octave starts:
which function to call, whether the file is a script, the names an expression uses, and the
point (named blocks unrolled column-major, as MATLAB's ``[A(:); B(:)]``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from relu_ce_diag.errors import OptionError, UserFunctionError, not_a_file, suggest
from relu_ce_diag.model.layout import Block, Layout
from relu_ce_diag.settings.function import Calling
from relu_ce_diag.settings.params import DATA_KEYS, Point, point_from_arrays

Array = np.ndarray
_FUNCTION = re.compile(r"^\s*function\s+(?:(?:\[[^\]]*\]|[A-Za-z]\w*)\s*=\s*)?([A-Za-z]\w*)",
                       re.MULTILINE)
_STRING = re.compile(r"\"[^\"]*\"|(?<![\w.)\]}'])'[^']*'")
_NAME = re.compile(r"(?<![\w.])[A-Za-z]\w*")


@dataclass(frozen=True)
class MFile:
    """A user's .m file: its path, the function to call (``name``), whether it is a script
    (functions after a first statement: sourced, then called by name), and the Octave
    expression that returns [f, df] (``name(W, X, Y)`` unless ``--call`` gives one)."""

    path: Path
    name: str
    script: bool
    expr: str


def is_m_ref(ref: str) -> bool:
    """Return whether ``--fn`` names a MATLAB file (``FILE.m`` or ``FILE.m:NAME``)."""
    return ref.endswith(".m") or ref.rpartition(":")[0].endswith(".m")


def _code_lines(text: str) -> list[str]:
    """Return the file's lines without comments, block comments and blank lines."""
    out, block = [], 0
    for line in text.splitlines():
        s = line.strip()
        if s in ("%{", "#{"):
            block += 1
        elif s in ("%}", "#}") and block:
            block -= 1
        elif not block and s and not s.startswith(("%", "#")):
            out.append(s)
    return out


def read_mfile(calling: Calling) -> MFile:
    """Read ``--fn FILE.m[:NAME]`` (and ``--call``): the file must exist and define NAME."""
    ref = calling.ref
    target, name = (ref, None) if ref.endswith(".m") else ref.rsplit(":", 1)
    path = Path(target)
    why = not_a_file(path)
    if why is not None:
        what = (f"no such file {target!r}" if why == "does not exist"
                else f"{target!r} {why}")
        raise UserFunctionError(f"{ref}: {what} (expected FILE.m or FILE.m:NAME)")
    for option, value in (("--grad", calling.grad), ("--arg", calling.args or None)):
        if value is not None:
            raise OptionError(option, value, "nothing with a .m function: pass every argument "
                              "in --call, e.g. --call 'NAME(W, X, Y, 3)'")
    if calling.call is not None and ("\n" in calling.call or "\r" in calling.call):
        raise OptionError("--call", calling.call, "one line: an Octave expression that returns "
                          "[f, df]")
    if calling.jobs != 1:
        raise OptionError("--jobs", calling.jobs, "1 with a .m function (one Octave session "
                          "runs the calls in batches)")
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UserFunctionError(f"{ref}: cannot read {target!r} ({exc.strerror})") from None
    lines = _code_lines(text)
    script = not lines or not re.match(r"function\b", lines[0])
    defined = _FUNCTION.findall("\n".join(lines))
    stem, listed = path.stem, ", ".join(defined) or "no functions"
    if name is None and script and calling.call is None:
        raise UserFunctionError(f"{ref}: a script file; name the function to call: --fn "
                                f"{target}:NAME (it defines {listed})")
    if name is not None and name != stem and not script and name in defined[1:]:
        raise UserFunctionError(f"{ref}: {name!r} is a local function of {path.name}, which "
                                "Octave cannot call from outside (it calls the file's first "
                                f"function, by the file's name: --fn {target})")
    if name is not None and name != stem and name not in defined[:None if script else 1]:
        raise UserFunctionError(f"{ref}: {path.name} defines no function {name!r}"
                                f"{suggest(name, defined)}; it defines {listed}")
    call_name = name if script and name is not None else stem
    return MFile(path, call_name, script, calling.call or "")


def names_used(expr: str) -> set[str]:
    """Return the identifiers an Octave expression uses (outside strings, not fields)."""
    return set(_NAME.findall(_STRING.sub(" ", expr)))


def call_sizes(expr: str, arrays: Mapping[str, Array]) -> tuple[int, ...]:
    """Return the layer sizes a call such as ``nnCostFunction(W, 400, 25, 10, X, y, lam)``
    passes between W and X (whole numbers >= 1, written or scalars of the data file), at
    least two of them; () for any other call."""
    m = re.fullmatch(r"\s*\w+\s*\((.*)\)\s*;?\s*", _STRING.sub(" ", expr))
    args = [a.strip() for a in m.group(1).split(",")] if m else []
    if len(args) < 4 or args[0] != "W" or "X" not in args:
        return ()
    sizes = []
    for a in args[1:args.index("X")]:
        value = (float(a) if re.fullmatch(r"\d+(\.0*)?", a) else
                 float(np.asarray(arrays[a]).reshape(-1)[0])
                 if a in arrays and np.size(arrays[a]) == 1 else 0.0)
        if value < 1 or value != int(value):
            return ()
        sizes.append(int(value))
    return tuple(sizes) if len(sizes) >= 2 else ()


def octave_point(arrays: Mapping[str, Array], source: str, used: set[str]) -> Point:
    """Split a data file's arrays for an Octave function: the variables the expression uses
    (besides W, X, Y, y) are passed as they are; the rest are the parameters, W or named
    blocks unrolled column-major into one W (MATLAB's ``[A(:); B(:)]``)."""
    args = tuple(k for k in arrays if k in used and k not in DATA_KEYS and k != "W")
    point = point_from_arrays(arrays, source, args)
    if not point.named:
        return point
    blocks, start, parts = [], 0, []
    for b in point.layout.blocks:
        blocks.append(Block(b.name, b.shape, start, "F"))
        parts.append(point.W[b.slice].reshape(b.shape).ravel(order="F"))
        start += b.size
    return replace(point, W=np.concatenate(parts), layout=Layout(tuple(blocks)))
