"""Fuzz ``--data``: random arrays in .npz files never crash ``check`` or ``sweep``.

Wrong shapes, NaN, inf, empty, huge, every dtype (int, bool, complex, object, strings),
0-d and 3-d arrays, a W of any length: a verdict (exit 0 or 1) or one line (exit 2).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
from click.testing import CliRunner
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from relu_ce_diag.cli import main

DTYPES = [np.float64, np.float32, np.float16, np.int64, np.int8, np.uint8, np.bool_,
          np.complex128]
ODD = [np.nan, np.inf, -np.inf, 1e300, -1e300, 1e-320, 0.0, 1.0, -1.0]


@st.composite
def arrays(draw: st.DrawFn, shape: tuple[int, ...] | None = None,
           clean: bool = False) -> np.ndarray:
    """Draw an array of a random dtype and shape (0-d to 3-d, empty allowed), odd values in;
    ``clean``: real finite numbers of a usable dtype, with 1e300 as the only odd value."""
    kind = "numeric" if clean else draw(st.sampled_from(["numeric", "numeric", "numeric",
                                                         "object", "str"]))
    if shape is None:
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))
    if kind == "object":
        return np.array([None, 1.0, "a"][: draw(st.integers(1, 3))], dtype=object)
    if kind == "str":
        return np.full(shape, "x")
    dtype = draw(st.sampled_from(DTYPES[:6] if clean else DTYPES))
    with np.errstate(all="ignore"):
        a = np.asarray(draw(hnp.arrays(np.float64, shape, elements=st.floats(-3, 3))))
        if a.size and draw(st.booleans()):
            a.flat[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from(
                [1e300, -1e300, 0.0] if clean else ODD))
        return a.astype(dtype)


@st.composite
def cases(draw: st.DrawFn) -> dict[str, np.ndarray]:
    """Draw the arrays of a data file: often well-shaped X (N, n) and Y (N, m), sometimes
    anything; W absent, of the right length, or of any length."""
    if draw(st.booleans()):
        n, n_in, n_out = draw(st.integers(0, 5)), draw(st.integers(0, 4)), draw(st.integers(1, 3))
        clean = draw(st.booleans())
        out = {"X": draw(arrays((n, n_in), clean)), "Y": draw(arrays((n, n_out), clean))}
        hidden = draw(st.integers(1, 3))
        good_w = hidden * (n_in + 1) + n_out * (hidden + 1)
        length = draw(st.sampled_from([None, good_w, good_w, draw(st.integers(0, 40))]))
        if length is not None:
            out["W"] = draw(arrays((length,), clean))
    else:
        out = {k: draw(arrays()) for k in draw(st.sets(st.sampled_from("XYWZ"), max_size=4))}
    return out


def _run(folder: Path, files: dict[str, np.ndarray], command: list[str]) -> Any:
    """Save ``files`` to case.npz and run the CLI on it; no NumPy warning may reach the user
    (overflow and NaN are the report's findings, not stray lines on stderr)."""
    np.savez(folder / "case.npz", **files)  # type: ignore[arg-type]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = CliRunner().invoke(main, [*command, "--data", str(folder / "case.npz")])
    assert not caught, [str(w.message) for w in caught]
    return r


def _assert_sane(r: Any) -> None:
    event(f"exit {r.exit_code}")
    assert "Traceback" not in r.stdout + r.stderr
    assert r.exit_code in (0, 1, 2), (r.exit_code, r.stderr, repr(r.exception))
    if r.exit_code == 2:
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


@settings(max_examples=60)
@given(files=cases(), act=st.sampled_from(["relu", "sigmoid", "tanh"]),
       loss=st.sampled_from(["ce", "se", "cce"]))
def test_check_survives_any_data_file(tmp_path_factory: Any, files: dict[str, np.ndarray],
                                      act: str, loss: str) -> None:
    """check --data on random arrays: exit 0, 1 or 2, one line for 2, no traceback."""
    folder = tmp_path_factory.mktemp("npz")
    _assert_sane(_run(folder, files, ["check", "--act", act, "--loss", loss, "--hidden", "2",
                                      "--format", "json"]))


@settings(max_examples=20)
@given(files=cases())
def test_sweep_survives_any_data_file(tmp_path_factory: Any,
                                      files: dict[str, np.ndarray]) -> None:
    """sweep --data on random arrays (three steps): exit 0, 1 or 2, no traceback."""
    folder = tmp_path_factory.mktemp("npz")
    _assert_sane(_run(folder, files, ["sweep", "--hidden", "2", "--steps", "1e-2,1e-4,1e-6",
                                      "--format", "json"]))
