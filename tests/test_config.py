"""Tests of the YAML grid loader: schema, normalisation, and one-line errors with file:line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from relu_ce_diag.cli import main
from relu_ce_diag.errors import OptionError, ReluDiagError
from relu_ce_diag.model.activations import HIDDEN_NAMES
from relu_ce_diag.settings.grid_file import ConfigError, load_grid


def write(tmp_path: Path, text: str, name: str = "g.yaml") -> str:
    """Write a grid file and return its path."""
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def line_of(text: str, needle: str) -> int:
    """Return the 1-based line of the first occurrence of ``needle`` in ``text`` (the oracle)."""
    return next(i for i, s in enumerate(text.splitlines(), 1) if needle in s)


FULL = """\
name: demo
description: a demo grid
defaults:
  hidden: 8
  relu-grad-at-zero: 0.5
  eps: 1e-8
grid:
  act: [sigmoid, relu]
  loss: [se, ce]
cells:
  - {act: tanh, loss: cce, id: mine}
expect:
  - match: {act: relu, loss: ce}
    status: fail
    why: wrong delta
"""


def test_full_schema_is_normalised(tmp_path: Path) -> None:
    """Every section is read, dashed keys and YAML-1.1 '1e-8' strings are normalised."""
    cfg = load_grid(write(tmp_path, FULL))
    assert (cfg.name, cfg.description) == ("demo", "a demo grid")
    assert cfg.defaults == {"hidden": (8,), "relu_grad_at_zero": 0.5, "eps": 1e-8}
    assert cfg.axes == (("act", ("sigmoid", "relu")), ("loss", ("se", "ce")))
    assert [(c.settings, c.id) for c in cfg.cells] == [({"act": "tanh", "loss": "cce"}, "mine")]
    (rule,) = cfg.rules
    assert (rule.match, rule.statuses, rule.why) == (
        {"act": ("relu",), "loss": ("ce",)}, ("fail",), "wrong delta")


def test_name_defaults_to_file_stem(tmp_path: Path) -> None:
    """Without name:, the grid is named after its file."""
    assert load_grid(write(tmp_path, "cells:\n  - {act: relu}\n", "mygrid.yaml")).name == "mygrid"


@pytest.mark.parametrize("name", HIDDEN_NAMES)
def test_every_hidden_activation_is_accepted(tmp_path: Path, name: str) -> None:
    """Each registered hidden activation is a valid axis value."""
    assert load_grid(write(tmp_path, f"grid:\n  act: [{name}]\n")).axes == (("act", (name,)),)


@pytest.mark.parametrize("text, needle, path, fragment", [
    ("grid:\n  act: [rellu]\n", "rellu", "grid.act[0]", "did you mean 'relu'"),
    ("grdi:\n  act: [relu]\n", "grdi", "grdi", "did you mean 'grid'"),
    ("defaults: {hiden: 3}\ngrid:\n  act: [relu]\n", "hiden", "defaults.hiden",
     "did you mean 'hidden'"),
    ("defaults:\n  eps: -1\ngrid:\n  act: [relu]\n", "eps", "defaults.eps", "[0, 0.5]"),
    ("defaults:\n  eps: abc\ngrid:\n  act: [relu]\n", "eps", "defaults.eps", "a number"),
    ("defaults:\n  eps: .nan\ngrid:\n  act: [relu]\n", "eps", "defaults.eps", "finite"),
    ("grid:\n  act: [relu]\n  samples: [4, ten]\n", "ten", "grid.samples[1]", "whole number"),
    ("grid:\n  act: [relu]\n  hidden: [0]\n", "hidden", "grid.hidden[0]", ">= 1"),
    ("grid:\n  act: []\n", "act", "grid.act", "non-empty"),
    ("name: x\n", "name", "grid", "empty"),
    ("cells:\n  - {act: relu}\n  - {act: relu, loss: cee}\n", "cee", "cells[1].loss",
     "did you mean"),
    ("cells:\n  - {act: relu}\nexpect:\n  - match: {act: relu}\n    status: fial\n", "fial",
     "expect[0].status", "did you mean 'fail'"),
    ("cells:\n  - {act: relu}\nexpect:\n  - match: {ac: relu}\n    status: fail\n", "ac:",
     "expect[0].match.ac", "did you mean 'act'"),
    ("cells:\n  - {act: softmax}\n", "softmax", "cells[0].act", "one of"),
    ("cells:\n  - {act: relu, dtype: float16}\n", "float16", "cells[0].dtype", "float64"),
    ("cells: relu\n", "cells", "cells", "a list"),
])
def test_bad_key_or_value_names_file_line_path(tmp_path: Path, text: str, needle: str,
                                               path: str, fragment: str) -> None:
    """A bad key or value is refused with file:line, the key path and what is allowed."""
    f = write(tmp_path, text)
    with pytest.raises(OptionError) as info:
        load_grid(f)
    msg = str(info.value)
    assert msg.startswith(f"{f}:{line_of(text, needle)}: {path}: got "), msg
    assert fragment in msg and "\n" not in msg


def test_python_tag_is_refused(tmp_path: Path) -> None:
    """A !!python/object tag is refused by safe_load with a message that says so."""
    f = write(tmp_path, "grid:\n  act: !!python/object:os.system {}\n")
    with pytest.raises(ConfigError, match=r"g\.yaml:2: refused tag .*safe_load"):
        load_grid(f)


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    """A YAML syntax error is one line with the file and line."""
    with pytest.raises(ConfigError, match=r"g\.yaml:\d+: not valid YAML"):
        load_grid(write(tmp_path, "grid:\n  act: [relu\n"))


def test_duplicate_key_is_refused(tmp_path: Path) -> None:
    """A key given twice is refused at its second line instead of silently dropped."""
    text = "grid:\n  act: [relu]\n  loss: [se]\n  act: [tanh]\n"
    with pytest.raises(ConfigError, match=r"g\.yaml:4: grid\.act: duplicate key"):
        load_grid(write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    """A grid file that does not exist is an input error."""
    with pytest.raises(ConfigError, match="no such file"):
        load_grid(str(tmp_path / "nope.yaml"))


def test_data_paths_are_relative_to_the_yaml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                  ) -> None:
    """data: is resolved from the YAML file's folder, not the working directory."""
    (tmp_path / "sub" / "d").mkdir(parents=True)
    np.savez(tmp_path / "sub" / "d" / "x.npz", X=np.ones((2, 2)), Y=np.eye(2))
    f = write(tmp_path / "sub", "cells:\n  - {act: relu, data: d/x.npz}\n")
    monkeypatch.chdir(tmp_path)
    cfg = load_grid(f)
    assert Path(cfg.cells[0].settings["data"]).resolve() == (tmp_path / "sub/d/x.npz").resolve()
    with pytest.raises(OptionError, match=r"cells\[0\]\.data: got 'd/y\.npz'.*does not exist"):
        load_grid(write(tmp_path / "sub", "cells:\n  - {act: relu, data: d/y.npz}\n"))


def test_cli_typo_is_one_line_exit_2(tmp_path: Path) -> None:
    """`act: [rellu]` gives one line on stderr with the path and a suggestion, exit 2."""
    f = write(tmp_path, "name: t\ngrid:\n  act: [rellu]\n")
    res = CliRunner().invoke(main, ["grid", f])
    assert res.exit_code == 2
    assert res.stdout == ""
    (line,) = res.stderr.splitlines()
    assert f"{f}:3: grid.act[0]: got 'rellu'" in line and "did you mean 'relu'" in line


def test_config_error_is_an_input_error() -> None:
    """ConfigError is a ReluDiagError, so the CLI maps it to exit 2."""
    assert issubclass(ConfigError, ReluDiagError)
