"""Fuzz the options of ``check`` and ``sweep``: any value a user could type never crashes.

Each example gives one to three options random text (numbers in every spelling, names
close to the real ones, empty, unicode, huge); the outcome is a verdict (exit 0 or 1) or
one line naming the option (exit 2), never a traceback and never exit 3.
"""

from __future__ import annotations

import warnings
from typing import Any

from click.testing import CliRunner
from hypothesis import event, given, settings
from hypothesis import strategies as st

from relu_ce_diag.cli import main

OPTIONS = ["--act", "--out", "--loss", "--eps", "--backprop", "--hidden", "--inputs",
           "--outputs", "--samples", "--targets", "--seed", "--dtype", "--step",
           "--relu-grad-at-zero", "--leaky-slope"]
CHECK_ONLY = ["--directions", "--max-params", "--ignore", "--format"]
SWEEP_ONLY = ["--steps", "--max-params", "--format"]

WORDS = ["relu", "rel", "RELU", "leaky-relu", "leaky_relu", "softmax", "sigmoid", "tanh",
         "softplus", "identity", "ce", "cce", "se", "exact", "shortcut", "onehot",
         "multilabel", "float32", "float64", "float16", "json", "table", "pairing"]
NUMBERS = ["0", "1", "2", "3", "-1", "0.5", "1e-8", "1e-320", "1e400", "-0", "nan", "inf",
           "-inf", "1_000", "0x10", "1e3", "99999999999999999999", "3,3", "2,0", "1,2,3",
           "1:2:3", "1e-1:1e-9:9", "1e-2,1e-4", " 4", "4 ", "", " ", "\u0663", "é", "%s",
           "{}", "--act", "-"]
values = st.one_of(st.sampled_from(WORDS + NUMBERS),
                   st.text(max_size=10).map(lambda t: t.replace("\x00", "")),  # argv has no NUL
                   st.integers(-10**6, 10**6).map(str),
                   st.floats(allow_nan=True, allow_infinity=True).map(repr))
SMALL = ["--hidden", "3", "--inputs", "2", "--samples", "4"]  # defaults kept fast


def _invoke(args: list[str]) -> Any:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = CliRunner().invoke(main, args)
    assert not caught, [str(w.message) for w in caught]
    event(f"exit {r.exit_code}")
    assert "Traceback" not in r.stdout + r.stderr, r.stderr
    assert r.exit_code in (0, 1, 2), (args, r.exit_code, r.stderr, repr(r.exception))
    if r.exit_code == 2:
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    return r


@settings(max_examples=40)
@given(chosen=st.lists(st.tuples(st.sampled_from(OPTIONS + CHECK_ONLY), values),
                       min_size=1, max_size=3))
def test_check_survives_any_option_values(chosen: list[tuple[str, str]]) -> None:
    """check with random option values: exit 0, 1 or 2 (one line), no traceback."""
    args = ["check", *SMALL]
    for opt, value in chosen:
        args += [opt, value]
    _invoke(args)


@settings(max_examples=25)
@given(chosen=st.lists(st.tuples(st.sampled_from(OPTIONS + SWEEP_ONLY), values),
                       min_size=1, max_size=2))
def test_sweep_survives_any_option_values(chosen: list[tuple[str, str]]) -> None:
    """sweep with random option values (few steps): exit 0, 1 or 2, no traceback."""
    args = ["sweep", *SMALL, "--no-chart", "--steps", "1e-2,1e-4,1e-6"]
    for opt, value in chosen:
        args += [opt, value]
    _invoke(args)


GRID_OPTIONS = ["--format", "--jobs", "--shard", "--max-params", "--output"]


@settings(max_examples=20)
@given(chosen=st.lists(st.tuples(st.sampled_from(GRID_OPTIONS), values), min_size=1,
                       max_size=2))
def test_grid_survives_any_option_values(tmp_path_factory: Any,
                                         chosen: list[tuple[str, str]]) -> None:
    """grid with random option values (the smoke config): exit 0, 1 or 2, no traceback."""
    from pathlib import Path

    smoke = Path(__file__).resolve().parent.parent / "configs" / "smoke.yaml"
    folder = tmp_path_factory.mktemp("grid")
    args = ["grid", str(smoke)]
    for opt, value in chosen:
        if opt == "--output" and value.strip():  # a file name inside the test's own folder
            value = str(folder / value.replace("/", "_").replace("\\", "_"))
        args += [opt, value]
    if "--shard" not in args:
        args += ["--shard", "1/20"]  # one cell: the options are under test, not the grid
    _invoke(args)
