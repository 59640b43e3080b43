"""Load a user's function (``FILE.py:NAME`` or ``package.module:NAME``) and word what it raises.

A file is loaded as a script author expects: its own folder is importable (first on
``sys.path``), and ``__name__`` is the file's stem, never ``"__main__"``, so a trailing
``if __name__ == "__main__":`` block does not run. Whatever the function raises or returns
that cannot be used becomes a :class:`UserFunctionError` naming the function and, for an
exception, the user's own ``file:line``.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import sysconfig
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from relu_ce_diag.errors import UserFunctionError, suggest

Array = np.ndarray
GradFn = Callable[[Array, Array, Array], Any]
_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)  # relu_ce_diag/


@dataclass(frozen=True)
class UserFunction:
    """A loaded gradient function and how to name it in messages (``file.py:NAME``)."""

    fn: GradFn
    label: str


def _library_dirs() -> tuple[str, ...]:
    """Folders of the interpreter and installed packages (not the user's code)."""
    paths = sysconfig.get_paths()
    dirs = {paths.get(k, "") for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    return tuple(str(Path(d).resolve()) for d in dirs if d) + (_PACKAGE_DIR,)


def _where(exc: BaseException) -> str:
    """Return ``file:line`` of the innermost frame of ``exc`` in the user's own code."""
    frames = traceback.extract_tb(exc.__traceback__)
    libs = _library_dirs()
    for fr in reversed(frames):
        path = str(Path(fr.filename).resolve())
        if not path.startswith(libs) and not fr.filename.startswith("<frozen"):
            return f"{_short(fr.filename)}:{fr.lineno}"
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{_short(exc.filename)}:{exc.lineno}"
    return f"{_short(frames[-1].filename)}:{frames[-1].lineno}" if frames else "?"


def _short(path: str) -> str:
    """Show a path relative to the working folder when it lies inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path


def raised(context: str, exc: BaseException) -> UserFunctionError:
    """Turn the user's exception into one line: ``file:line: Type: message (context)``."""
    where = _where(exc)
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f"{_short(exc.filename)}:{exc.lineno}"
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return UserFunctionError(f"{where}: {type(exc).__name__}{': ' + msg if msg else ''} "
                             f"({context})")


def _load_file(path: Path, ref: str) -> ModuleType:
    """Import a .py file as a module named after its stem, its folder first on sys.path."""
    if not path.is_file():
        raise UserFunctionError(f"{ref}: no such file {str(path)!r} (expected FILE.py:NAME "
                                "or package.module:NAME)")
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # kept: the function may import its neighbours lazily
    name = path.stem
    old = sys.modules.get(name)
    if old is not None and getattr(old, "__file__", None) != str(path.resolve()):
        name = f"relu_diag_user_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path.resolve())
    if spec is None or spec.loader is None:
        raise UserFunctionError(f"{ref}: cannot load {str(path)!r} as Python source")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # the user's module (sys.exit too): theirs, one line
        sys.modules.pop(name, None)
        raise raised(f"while loading {_short(str(path))}", exc) from None
    return module


def _load_module(modname: str, ref: str) -> ModuleType:
    """Import ``package.module`` from sys.path (the working folder included)."""
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(modname)
    except ModuleNotFoundError as exc:
        if exc.name and modname.startswith(exc.name):
            raise UserFunctionError(f"{ref}: no module named {exc.name!r} (expected "
                                    "FILE.py:NAME or package.module:NAME)") from None
        raise raised(f"while importing {modname}", exc) from None
    except (Exception, SystemExit) as exc:  # the user's package: its own error, one line
        raise raised(f"while importing {modname}", exc) from None


def load_function(ref: str) -> UserFunction:
    """Load ``path/to/file.py:NAME`` or ``package.module:NAME`` and return the callable."""
    target, sep, attr = ref.rpartition(":")
    if not sep or not target or not attr:
        raise UserFunctionError(f"--fn: got {ref!r}, expected FILE.py:NAME or "
                                "package.module:NAME")
    is_file = target.endswith(".py") or "/" in target or "\\" in target
    module = _load_file(Path(target), ref) if is_file else _load_module(target, ref)
    fn = getattr(module, attr, None)
    if fn is None:
        names = sorted(n for n, v in vars(module).items()
                       if callable(v) and not n.startswith("_") and not inspect.isclass(v)
                       and getattr(v, "__module__", None) == module.__name__)
        listed = ", ".join(names) if names else "no functions"
        raise UserFunctionError(f"{ref}: {target} has no {attr!r}{suggest(attr, names)}; "
                                f"it defines {listed}")
    if not callable(fn):
        raise UserFunctionError(f"{ref}: {attr!r} is a {type(fn).__name__}, not a function")
    return UserFunction(fn, ref)


def describe(fn: GradFn) -> str:
    """Return a label for a callable: ``file.py:NAME`` when its source is known."""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    try:
        src = inspect.getsourcefile(fn)
    except TypeError:
        src = None
    return f"{_short(src)}:{name}" if src else str(name)


def as_loss(value: object, label: str) -> tuple[float, np.dtype]:
    """Convert a returned loss to a float, or raise naming what came back."""
    try:
        arr = np.asarray(value)
    except Exception:  # an exotic object; say what it was
        arr = np.asarray(None)
    if arr.dtype.kind not in "fiu" or arr.size != 1:
        what = f"an array of shape {arr.shape}" if arr.dtype.kind in "fiucb" else \
            f"a {type(value).__name__}"
        raise UserFunctionError(f"{label}: f must be a real scalar loss; got {what}")
    dt = arr.dtype if arr.dtype.kind == "f" else np.dtype(np.float64)
    return float(arr.reshape(())), dt


