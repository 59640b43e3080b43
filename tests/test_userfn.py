"""Loading a user's gradient function and calling it safely."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from relu_ce_diag.check.calling import UserCode
from relu_ce_diag.check.userfn import describe, load_function
from relu_ce_diag.errors import UserFunctionError
from relu_ce_diag.settings.params import flat_point

EXAMPLES = Path(__file__).parent / "examples"



def call(fn, W, X, Y, label):
    """Call fn once at W through the adapter, as the check does (fresh copies each time)."""
    return UserCode(fn, flat_point(np.asarray(W), np.asarray(X), np.asarray(Y)),
                    label).value_and_grad(np.asarray(W).reshape(-1))

def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_file_loads_with_its_folder_importable_and_not_as_main(tmp_path: Path) -> None:
    """A script's sibling module imports, __name__ is the stem, the __main__ block is skipped."""
    _write(tmp_path, "helper_mod_a.py", "K = 3.0\n")
    _write(tmp_path, "user_script_a.py",
           "from helper_mod_a import K\nNAME = __name__\n"
           "def grad(W, X, Y):\n    return K * float(W.sum()), K * W\n"
           "if __name__ == '__main__':\n    raise SystemExit('ran as main')\n")
    uf = load_function(f"{tmp_path / 'user_script_a.py'}:grad")
    assert uf.fn(np.ones(2), None, None)[0] == 6.0
    assert sys.modules["user_script_a"].NAME == "user_script_a"


def test_package_module_reference_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``package.module:NAME`` is imported from the working folder."""
    pkg = tmp_path / "userpkg_b"
    pkg.mkdir()
    _write(pkg, "__init__.py", "")
    _write(pkg, "model.py", "def grad(W, X, Y):\n    return 1.0, W\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_function("userpkg_b.model:grad").fn(np.ones(1), None, None)[0] == 1.0


def test_missing_name_lists_the_functions_that_exist() -> None:
    """A NAME that is not there names the file's functions and the closest one."""
    with pytest.raises(UserFunctionError) as exc:
        load_function(f"{EXAMPLES / 'buggy.py'}:row_majr")
    msg = str(exc.value)
    assert "has no 'row_majr'" in msg and "did you mean 'row_major'" in msg
    assert "dropped_bias" in msg and "\n" not in msg


@pytest.mark.parametrize("ref, words", [
    ("no_colon.py", "expected FILE.py:NAME"),
    ("missing_file_c.py:f", "no such file"),
    ("no_such_pkg_c.mod:f", "no module named 'no_such_pkg_c'"),
])
def test_bad_references_are_one_line(ref: str, words: str) -> None:
    """Malformed references, missing files and modules raise one clear line."""
    with pytest.raises(UserFunctionError, match=words):
        load_function(ref)


def test_error_while_loading_names_the_users_line(tmp_path: Path) -> None:
    """An exception at import time reports the user's file:line and its own message."""
    path = _write(tmp_path, "broken_d.py", "x = 1\nraise RuntimeError('no config file')\n")
    with pytest.raises(UserFunctionError) as exc:
        load_function(f"{path}:f")
    assert "broken_d.py:2: RuntimeError: no config file" in str(exc.value)


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    """A syntax error in the user's file names its line."""
    path = _write(tmp_path, "syntax_e.py", "def f(W, X, Y):\n    return (1,\n")
    with pytest.raises(UserFunctionError, match=r"syntax_e.py:\d+: SyntaxError"):
        load_function(f"{path}:f")


def test_call_passes_fresh_copies() -> None:
    """The function receives copies: scribbling on them leaves the caller's arrays intact."""
    W, X, Y = np.ones(3), np.ones((2, 2)), np.zeros((2, 1))

    def scribble(W, X, Y):
        W[:] = 7
        X[:] = 7
        Y[:] = 7
        return 0.0, W

    call(scribble, W, X, Y, "scribble")
    assert W.sum() == 3 and X.sum() == 4 and Y.sum() == 0


def test_raise_inside_numpy_points_at_the_users_line() -> None:
    """A NumPy error raised from the user's code is reported at the user's line."""
    uf = load_function(f"{EXAMPLES / 'bad.py'}:raises")
    W, X, Y = np.ones(51), np.ones((10, 4)), np.zeros((10, 3))
    with pytest.raises(UserFunctionError) as exc:
        call(uf.fn, W, X, Y, uf.label)
    line = next(i for i, t in enumerate((EXAMPLES / "bad.py").read_text().splitlines(), 1)
                if "X @ w1" in t)
    msg = str(exc.value)
    assert f"bad.py:{line}: ValueError: matmul" in msg and "at W" in msg


@pytest.mark.parametrize("ret, words", [
    ((np.ones(3), np.ones(4)), "f must be a real scalar loss; got an array of shape (3,)"),
    (("1.0", np.ones(4)), "got a str"),
    ((1.0, np.ones((2, 2))), "df has shape (2, 2) but W has shape (4,)"),
    ((1.0, np.array(["a"] * 4)), "df must hold real numbers"),
    (1.0, "must return (f, df); got a float"),
    ((1.0,), "got a tuple of length 1"),
])
def test_unusable_returns_are_refused(ret: object, words: str) -> None:
    """Wrong return types, shapes and dtypes raise one line naming what came back."""
    with pytest.raises(UserFunctionError) as exc:
        call(lambda W, X, Y: ret, np.ones(4), np.ones((1, 1)), np.ones((1, 1)), "g")
    assert words in str(exc.value)


def test_a_longer_tuple_gives_f_and_df_first() -> None:
    """(f, df, cache, ...) is accepted: the first two values are the loss and the gradient."""
    c = call(lambda W, X, Y: (2.0, 3 * W, {"cache": 1}, "extra"), np.arange(4.0),
             np.ones((1, 1)), np.ones((1, 1)), "g")
    assert c.f == 2.0 and np.array_equal(c.df, 3 * np.arange(4.0))


def test_column_vector_gradient_is_accepted() -> None:
    """df as a MATLAB-style column (P, 1) is the same vector as (P,)."""
    c = call(lambda W, X, Y: (np.float64(2.0), W.reshape(-1, 1)), np.arange(3.0),
             np.ones((1, 1)), np.ones((1, 1)), "g")
    assert c.f == 2.0 and c.df.shape == (3,) and c.df[2] == 2.0


def test_describe_names_file_and_function() -> None:
    """A callable is labelled file.py:NAME."""
    uf = load_function(f"{EXAMPLES / 'correct.py'}:relu_sigmoid_ce")
    assert describe(uf.fn).endswith("correct.py:relu_sigmoid_ce")
