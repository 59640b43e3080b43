"""Write output files safely: atomically, never over an input of the run, never replacing a
special file.

The rule for a target path, the same for every output (``--output``, ``--save-grads``,
``--plot``):

* a symbolic link is followed, and its target is written (atomically, in the target's folder);
* a character device or a FIFO (``/dev/null``, a pipe) is written into directly: it cannot be
  replaced, and a temporary file renamed over it would turn it into a plain file;
* any other existing non-regular file (a folder, a socket, a block device) is refused;
* a regular file that is this run's own stdout or stderr (``-o /dev/stdout > log``, or the
  file's name) is written into that stream, after what was printed: renaming a file over it
  would erase what the run (and the shell, with ``>>``) wrote there;
* anything else is written to a temporary file in the same folder and renamed into place, so
  an interrupted run never leaves half a file;
* a file that is also an input of the same run (same file, links followed) is refused before
  any work: the report must not replace the data, the grid or the user's source.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from relu_ce_diag.errors import OutputError
from relu_ce_diag.results.cell import CellResult

Paths = Mapping[str, "str | None"]


def _mode(path: str) -> int | None:
    """Return the st_mode of ``path`` with links followed, or None if nothing is there."""
    try:
        return os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # a loop of links, a name too long, a NUL byte
        raise OutputError(path, f"cannot write ({getattr(exc, 'strerror', None) or exc})"
                          ) from None


def _is_stream(mode: int | None) -> bool:
    return mode is not None and (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode))


def _real_target(path: str) -> Path:
    """Return the file a write to ``path`` must replace: the path itself, or the end of its
    chain of symbolic links."""
    return Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)


def check_target(path: str) -> Path:
    """Raise OutputError unless ``path`` can be written: its folder exists and is writable,
    and it is not a folder, a read-only file or a special file other than a device or FIFO;
    return the folder the file will be written in.

    Commands call it before the work, so a typo in --output does not cost the run."""
    mode = _mode(path)
    if mode is not None and stat.S_ISDIR(mode):
        raise OutputError(path, "cannot write: it is a folder; give a file name")
    if _is_stream(mode):
        if not os.access(path, os.W_OK):
            raise OutputError(path, "cannot write: permission denied")
        return _real_target(path).parent
    if mode is not None and not stat.S_ISREG(mode):
        raise OutputError(path, "cannot write: not a regular file (a socket or a block "
                          "device); give a file name")
    target = _real_target(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(path, f"cannot write: folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(path, f"cannot write: folder {str(folder)!r} is not writable")
    if mode is not None and not os.access(target, os.W_OK):
        raise OutputError(path, "cannot write: the file is read-only")
    return folder


def same_file(a: str, b: str) -> bool:
    """Say whether paths ``a`` and ``b`` name one file (links followed, hard links too)."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # one of them does not exist (yet): compare where they lead
        return os.path.realpath(a) == os.path.realpath(b)


def guard_targets(targets: Paths, inputs: Paths) -> None:
    """Refuse, before the work, output ``targets`` (option -> path) that cannot be written,
    that name the same file twice, or that are one of the run's ``inputs`` (label -> path)."""
    given = [(label, path) for label, path in targets.items() if path is not None]
    for i, (label, path) in enumerate(given):
        check_target(path)
        for what, source in inputs.items():
            if source is not None and same_file(path, source):
                raise OutputError(path, f"refusing to write {label} over {what} {source!r}, an "
                                  "input of this run; give another file name")
        for other, earlier in given[:i]:
            if same_file(path, earlier):
                raise OutputError(path, f"{label} and {other} name the same file; give each "
                                  "its own")


def _write_stream(path: str, data: bytes) -> bool:
    """Write ``data`` into a device or FIFO at ``path``; False if it is (now) something else."""
    try:
        fd = os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise OutputError(path, f"cannot write ({exc.strerror or exc})") from None
    with os.fdopen(fd, "wb") as fh:
        if not _is_stream(os.fstat(fd).st_mode):  # replaced since it was looked at
            return False
        try:
            fh.write(data)
            fh.flush()
        except OSError as exc:
            raise OutputError(path, f"cannot write ({exc.strerror or exc})") from None
    return True


def _standard_stream(path: str) -> int | None:
    """Return 1 or 2 when ``path`` is the regular file this process's stdout or stderr
    writes to (links followed), else None."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    for fd in (1, 2):
        try:
            fs = os.fstat(fd)
        except OSError:
            continue
        if (fs.st_dev, fs.st_ino) == (st.st_dev, st.st_ino):
            return fd
    return None


def _write_fd(path: str, fd: int, data: bytes) -> None:
    """Write ``data`` into the standard stream ``fd`` after what was printed to it."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view):]
    except OSError as exc:
        raise OutputError(path, f"cannot write ({exc.strerror or exc})") from None


def write_atomic(path: str, data: str | bytes) -> None:
    """Write ``data`` to ``path`` by the rule of this module: a device or FIFO directly, any
    other file through a temporary file in its folder renamed over it (links followed)."""
    raw = data.encode() if isinstance(data, str) else data
    mode = _mode(path)
    if _is_stream(mode) and _write_stream(path, raw):
        return
    fd = _standard_stream(path)
    if fd is not None:
        _write_fd(path, fd, raw)
        return
    folder = check_target(path)
    target = _real_target(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=folder)
    except OSError as exc:  # a read-only or full folder is the user's to fix, in one line
        raise OutputError(path, f"cannot write ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        if mode is not None and stat.S_ISREG(mode):
            keep = stat.S_IMODE(mode)  # a replaced file keeps its permissions
        else:
            umask = os.umask(0)
            os.umask(umask)
            keep = 0o666 & ~umask  # mkstemp makes 0600; a report should be like any file
        os.chmod(tmp, keep)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(path, f"cannot write ({exc.strerror or exc})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_grads(path: str, result: CellResult) -> None:
    """Save W X Y loss analytic numeric (and exact) of one result to an .npz file."""
    a = result.arrays
    if a is None:
        raise OutputError(path, f"cell {result.id} has no gradients to save ({result.reason})")
    arrays = {"W": a.W, "X": a.X, "Y": a.Y, "loss": np.array(a.loss),
              "analytic": a.analytic, "numeric": a.numeric}
    if a.exact is not None:
        arrays["exact"] = a.exact
    import io
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]  # numpy's stub misreads **kwargs
    write_atomic(path, buf.getvalue())
