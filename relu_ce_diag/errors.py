"""Exceptions the core raises; only the CLI turns them into messages and exit codes."""

from __future__ import annotations

import difflib
import os
import reprlib
import stat
from collections.abc import Iterable

_SHORT = reprlib.Repr()
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlevel = 120, 120, 3
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 8


def not_a_file(path: object) -> str | None:
    """Say why ``path`` is not a regular file one can read: ``None`` when it is one, else
    "does not exist", "is a folder" or "is not a regular file (a device, FIFO or socket)"
    (a FIFO would block an import, /dev/zero would be read for ever)."""
    try:
        mode = os.stat(path).st_mode  # type: ignore[arg-type]
    except (OSError, ValueError, TypeError):
        return "does not exist"
    if stat.S_ISREG(mode):
        return None
    return ("is a folder" if stat.S_ISDIR(mode)
            else "is not a regular file (a device, FIFO or socket)")


def shown(value: object) -> str:
    """Return a short repr of a user's value for a one-line message: a long string, a big
    list or a 400-digit integer is cut (a full repr could take gigabytes, or raise)."""
    if isinstance(value, int) and value.bit_length() > 200:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    return _SHORT.repr(value)


class ReluDiagError(Exception):
    """Base class: the input could not be used, so nothing was judged (exit code 2)."""


class OptionError(ReluDiagError):
    """An option or configuration key has a value that is not allowed."""

    def __init__(self, key: str, value: object, expected: str, *, source: str = "",
                 missing: bool = False) -> None:
        self.key = key
        self.value = value
        self.expected = expected
        self.source = source
        where = f"{source}: " if source else ""
        got = "not given" if missing else f"got {shown(value)}"  # never 'got None'
        super().__init__(f"{where}{key}: {got}, expected {expected}.")


class DataError(ReluDiagError):
    """A data file is missing, unreadable or holds arrays of the wrong shape or content."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class UserFunctionError(ReluDiagError):
    """A user's gradient function raised or returned something unusable."""


class TooLargeError(ReluDiagError):
    """A cell is refused before it runs because it would need too much time or memory."""


class OutputError(DataError):
    """An output file cannot be written: an unwritable or special target, a full disk, or
    an input of the same run that writing would replace."""


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def match_name(value: str, allowed: Iterable[str]) -> str | None:
    """Return the allowed name ``value`` spells, ignoring case, '-' and '_' (the seed writes
    CE and ReLU; ``leaky_relu`` is leaky-relu), or None."""
    if not isinstance(value, str):
        return None
    keys = {_key(a): a for a in allowed}
    return keys.get(_key(value))


def suggest(value: str, allowed: Iterable[str]) -> str:
    """Return ' (did you mean X?)' for the closest allowed name, or ''."""
    close = difflib.get_close_matches(value, list(allowed), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_name(key: str, value: str, allowed: Iterable[str], *, source: str = "") -> OptionError:
    """Build the error for a name that is not in a registry, with a suggestion."""
    allowed = list(allowed)
    return OptionError(key, value, "one of " + ", ".join(allowed) + suggest(value, allowed),
                       source=source)
