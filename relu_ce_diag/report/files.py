"""Write output files atomically, so an interrupted run never leaves half a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from relu_ce_diag.errors import DataError
from relu_ce_diag.results.cell import CellResult


def check_target(path: str) -> Path:
    """Raise DataError if ``path`` is a folder or its folder does not exist; return its folder.

    Commands call it before the work, so a typo in --output does not cost the run."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise DataError(path, f"cannot write: folder {str(folder)!r} does not exist")
    if target.is_dir():
        raise DataError(path, "cannot write: it is a folder; give a file name")
    return folder


def write_atomic(path: str, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder."""
    target = Path(path)
    folder = check_target(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=folder)
    except OSError as exc:  # a read-only or full folder is the user's to fix, in one line
        raise DataError(path, f"cannot write ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a report should be like any file
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise DataError(path, f"cannot write ({exc.strerror or exc})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_grads(path: str, result: CellResult) -> None:
    """Save W X Y loss analytic numeric (and exact) of one result to an .npz file."""
    a = result.arrays
    if a is None:
        raise DataError(path, f"cell {result.id} has no gradients to save ({result.reason})")
    arrays = {"W": a.W, "X": a.X, "Y": a.Y, "loss": np.array(a.loss),
              "analytic": a.analytic, "numeric": a.numeric}
    if a.exact is not None:
        arrays["exact"] = a.exact
    import io
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]  # numpy's stub misreads **kwargs
    write_atomic(path, buf.getvalue())
