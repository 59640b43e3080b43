"""Load a user's function (``FILE.py:NAME`` or ``package.module:NAME``) and word what it raises.

A file is loaded as a script author expects: its own folder is importable (first on
``sys.path``), and ``__name__`` is the file's stem, never ``"__main__"``, so a trailing
``if __name__ == "__main__":`` block does not run. What the module prints goes to stderr, and
a NumPy error state it sets (``np.seterr``) is kept for its own calls, not left in force for
relu-diag. Whatever the function raises (any exception but KeyboardInterrupt: a
``GeneratorExit`` or a test framework's ``Failed`` too) or returns that cannot be used becomes
a :class:`UserFunctionError` naming the function and, for an exception, the user's own
``file:line``.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import sys
import sysconfig
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from relu_ce_diag.errors import UserFunctionError, not_a_file, suggest

Array = np.ndarray
GradFn = Callable[[Array, Array, Array], Any]
_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)  # relu_ce_diag/


@dataclass(frozen=True)
class UserFunction:
    """A loaded gradient function, how to name it in messages (``file.py:NAME``), and the
    NumPy error state its module set when it was loaded (``np.geterr()``)."""

    fn: GradFn
    label: str
    errstate: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def users_turn(errstate: Mapping[str, Any] | None = None) -> Iterator[None]:
    """Run the user's code with its prints on stderr and its own NumPy error state; relu-diag's
    error state comes back afterwards, whatever the user's code set (np.errstate restores it)."""
    with np.errstate(**(errstate or {})), contextlib.redirect_stdout(sys.stderr):
        yield


def _library_dirs() -> tuple[str, ...]:
    """Folders of the interpreter and installed packages (not the user's code)."""
    paths = sysconfig.get_paths()
    dirs = {paths.get(k, "") for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    return tuple(str(Path(d).resolve()) for d in dirs if d) + (_PACKAGE_DIR,)


def _where(exc: BaseException) -> str:
    """Return ``file:line`` of the innermost frame of ``exc`` in the user's own code, or ""
    when none is (a call with the wrong arguments fails before the function's first line:
    the context then names the function)."""
    frames = traceback.extract_tb(exc.__traceback__)
    libs = _library_dirs()
    for fr in reversed(frames):
        path = str(Path(fr.filename).resolve())
        if not path.startswith(libs) and not fr.filename.startswith("<frozen"):
            return f"{_short(fr.filename)}:{fr.lineno}"
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{_short(exc.filename)}:{exc.lineno}"
    return ""


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
    return UserFunctionError(f"{where + ': ' if where else ''}{type(exc).__name__}"
                             f"{': ' + msg if msg else ''} ({context})")


def _load_file(path: Path, ref: str) -> ModuleType:
    """Import a .py file as a module named after its stem, its folder first on sys.path."""
    why = not_a_file(path)
    if why is not None:
        what = (f"no such file {str(path)!r}" if why == "does not exist"
                else f"{str(path)!r} {why}")
        raise UserFunctionError(f"{ref}: {what} (expected FILE.py:NAME "
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
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # the user's module (sys.exit, GeneratorExit...): one line
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
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # the user's package (any exception): its own error, one line
        raise raised(f"while importing {modname}", exc) from None


def load_function(ref: str) -> UserFunction:
    """Load ``path/to/file.py:NAME`` or ``package.module:NAME`` and return the callable."""
    target, sep, attr = ref.rpartition(":")
    if not sep or not target or not attr:
        raise UserFunctionError(f"--fn: got {ref!r}, expected FILE.py:NAME or "
                                "package.module:NAME")
    is_file = target.endswith(".py") or "/" in target or "\\" in target
    before = np.geterr()
    with users_turn():
        try:
            module = _load_file(Path(target), ref) if is_file else _load_module(target, ref)
        finally:
            theirs = np.geterr()  # what the module set (np.seterr at import); users_turn undoes it
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
    return UserFunction(fn, ref, dict(theirs) if theirs != before else {})


def describe(fn: GradFn) -> str:
    """Return a label for a callable: ``file.py:NAME`` when its source is known."""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    try:
        src = inspect.getsourcefile(fn)
    except TypeError:
        src = None
    return f"{_short(src)}:{name}" if src else str(name)


def _described(value: object, arr: Array | None) -> str:
    """Say what a returned value is, for a message: its type, and why it is not numbers."""
    name = type(value).__name__
    if arr is None:
        return f"a {name}, which NumPy cannot convert to an array"
    if arr.dtype.kind == "O":
        big = next((x for x in arr.reshape(-1) if isinstance(x, int) and not isinstance(x, bool)
                    and abs(x) > sys.float_info.max), None)
        if big is not None:
            return f"an integer of {len(str(abs(big)))} digits, too large for a float"
    kind = {"b": "booleans", "c": "complex numbers", "U": "text", "S": "bytes", "M": "dates",
            "m": "time spans"}.get(arr.dtype.kind, "objects that are not numbers")
    return f"a {name}" if arr.ndim == 0 else f"a {name} of {kind}"


def as_numbers(value: object, what: str, label: str, must: str = "must hold real numbers",
               ) -> Array:
    """Return ``value`` as a plain real array (a copy), or raise one line naming what it was:
    something NumPy cannot convert, text, objects, complex, booleans, an integer too large for a
    float, or a masked array hiding entries (a mask would make those entries unchecked)."""
    if isinstance(value, np.ma.MaskedArray):
        hidden = int(np.ma.count_masked(value))
        if hidden:
            entries = "entry" if hidden == 1 else "entries"
            raise UserFunctionError(f"{label}: {what} is a masked array with {hidden} masked "
                                    f"{entries}; return plain numbers (e.g. np.ma.filled) so "
                                    "every entry can be checked")
        value = np.ma.getdata(value)
    arr: Array | None
    if type(value) is np.ndarray or isinstance(value, (float, int, np.number)):
        arr = np.array(value)  # the usual case, fast: a copy
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a conversion's warning is not a finding
                arr = np.array(value)  # a plain ndarray (np.matrix becomes one)
        except KeyboardInterrupt:
            raise
        except BaseException:  # noqa: BLE001  an object NumPy cannot convert: say what it was
            arr = None
    if arr is None or arr.dtype.kind not in "fiu":
        raise UserFunctionError(f"{label}: {what} {must}; got {_described(value, arr)}")
    return arr


def as_loss(value: object, label: str) -> tuple[float, np.dtype]:
    """Convert a returned loss to a float, or raise naming what came back."""
    arr = as_numbers(value, "f", label, "must be a real scalar loss")
    if arr.size != 1:
        raise UserFunctionError(f"{label}: f must be a real scalar loss; got an array of "
                                f"shape {arr.shape}")
    dt = arr.dtype if arr.dtype.kind == "f" else np.dtype(np.float64)
    return float(arr.reshape(())), dt
