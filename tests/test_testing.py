"""relu_ce_diag.testing.assert_gradient: passes what check_function passes, and otherwise
fails with a short message (verdict, worst entry with both values, where, top finding and fix)
that names the seed's entries as w2[1, 65] and a user's blocks by their own names."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from relu_ce_diag.errors import OptionError
from relu_ce_diag.testing import MAX_LINES, assert_gradient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(Path(__file__).parent / "examples"))
import cs231n_net  # noqa: E402
import seed_backprop  # noqa: E402

SEED = dict(np.load(ROOT / "examples" / "seed_case.npz"))


def failure(*args, **kwargs) -> str:
    """Return the AssertionError message of assert_gradient(*args, **kwargs)."""
    with pytest.raises(AssertionError) as info:
        assert_gradient(*args, **kwargs)
    return str(info.value)


def test_the_seed_function_fails_in_a_few_lines_naming_w2() -> None:
    """The seed's backprop described as relu + ce: fail, w2[1, 65] with both values, the
    blocks that are wrong, the known bug and the line to paste, in at most 15 lines."""
    msg = failure(seed_backprop.backprop, SEED["W"], SEED["X"], SEED["Y"], act="relu",
                  loss="ce")
    lines = msg.splitlines()
    assert len(lines) <= MAX_LINES == 15
    assert lines[0].startswith("relu-diag: ") and ":backprop: fail: " in lines[0]
    assert "worst entry w2[1, 65]: analytic 6.65427, numeric 30.2946" in lines[1]
    assert any(line.strip().startswith("wrong: w1 (500 of 500)") for line in lines)
    assert any(line.strip().startswith("[known-bug] your df equals the shortcut") for line in
               lines)
    assert any("fix: " in line and "d3 = (-Y / np.maximum(y, eps)" in line for line in lines)


def test_the_fixed_seed_function_passes_and_returns_the_result() -> None:
    """The exact output delta passes; the result comes back for further assertions."""
    result = assert_gradient(seed_backprop.backprop_fixed, SEED["W"], SEED["X"], SEED["Y"],
                             act="relu", loss="ce")
    assert result.status == "pass" and result.worst is not None


def test_named_blocks_are_named_by_the_users_names() -> None:
    """A dict of W1 b1 W2 b2 with the relu mask missing: the message names W1/b1 entries."""
    params, X, y = cs231n_net.case()
    msg = failure(cs231n_net.missing_mask, params, X, y)
    assert len(msg.splitlines()) <= MAX_LINES
    assert "worst entry W1[" in msg or "worst entry b1[" in msg
    assert "the error enters at W1/b1" in msg
    assert_gradient(cs231n_net.correct, params, X, y, act="relu", loss="cce", l2=0.05)


def test_one_wrong_entry_in_a_thousand_is_named() -> None:
    """A correct gradient with one entry off by one part in 1e3 fails, naming that entry."""
    def perturbed(W, X, Y):
        f, df = seed_backprop.backprop_fixed(W, X, Y)
        df = df.copy()
        df[796] *= 1.001
        return f, df

    msg = failure(perturbed, SEED["W"], SEED["X"], SEED["Y"], act="relu", loss="ce")
    assert "1 of 903 entries" in msg and "worst entry w2[1, 65]" in msg


def _relu_sum(W, X, Y):
    """f = sum(relu(W)), relu'(0) = 0: W[1] = 0 sits on the kink."""
    return float(np.maximum(W, 0).sum()), (W > 0).astype(float)


def test_a_kink_passes_unless_strict() -> None:
    """An entry set aside at a kink passes; strict=True fails it, naming the entry."""
    W, one = np.array([0.5, 0.0, -0.5]), np.ones((1, 1))
    assert assert_gradient(_relu_sum, W, one, one).status == "kink"
    msg = failure(_relu_sum, W, one, one, strict=True)
    assert msg.splitlines()[0].startswith("relu-diag: ") and ": kink" in msg.splitlines()[0]
    assert "set aside at kinks: W[1]" in msg


def test_an_unusable_function_fails_with_one_line() -> None:
    """A function returning the wrong shape fails the test with the one-line reason; a bad
    option to the helper itself is the test's own error, raised as such."""
    def wrong_shape(W, X, Y):
        return 1.0, W[:3]

    msg = failure(wrong_shape, SEED["W"], SEED["X"], SEED["Y"])
    assert "\n" not in msg and "df has shape (3,) but W has shape (903,)" in msg
    with pytest.raises(OptionError):
        assert_gradient(seed_backprop.backprop, SEED["W"], SEED["X"], SEED["Y"], act="rellu")


def test_docs_ci_shows_the_seed_message_as_printed() -> None:
    """docs/ci.md's message for the seed's function is the one assert_gradient raises."""
    docs = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    shown = docs.split("```text\nrelu-diag: examples/seed_backprop.py:backprop", 1)[1]
    shown = "relu-diag: examples/seed_backprop.py:backprop" + shown.split("```", 1)[0]
    msg = failure(seed_backprop.backprop, SEED["W"], SEED["X"], SEED["Y"], act="relu",
                  loss="ce", label="examples/seed_backprop.py:backprop")
    assert msg + "\n" == shown
