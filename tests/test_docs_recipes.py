"""The recipes of docs/your-code.md work as written: a model class with .params and .loss, and
forward/backward functions with a cache, each wrapped as the docs show and checked."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from relu_ce_diag.cli import main

DOC = (Path(__file__).resolve().parents[1] / "docs" / "your-code.md").read_text()
EXAMPLES = Path(__file__).resolve().parent / "examples"

MYNET = '''
import numpy as np
import cs231n_net

class TwoLayerNet:
    def __init__(self, input_size, hidden_size, output_size):
        rng = np.random.default_rng(0)
        self.params = {"W1": rng.standard_normal((input_size, hidden_size)),
                       "b1": np.zeros(hidden_size),
                       "W2": rng.standard_normal((hidden_size, output_size)),
                       "b2": np.zeros(output_size)}

    def loss(self, X, y):
        return cs231n_net.correct(self.params, X, y)
'''
MYLAYERS = '''
import cs231n_net

def forward(X, params):
    return X, (X, params)

def backward(scores, y, cache):
    X, params = cache
    return cs231n_net.correct(params, X, y)
'''


def _recipe(name: str) -> str:
    block = re.search(rf"```python\n(# {name}\n.*?)```", DOC, re.S)
    assert block is not None, name
    return block.group(1)


@pytest.mark.parametrize("name, helper, source", [
    ("check_model.py", "mynet.py", MYNET), ("check_layers.py", "mylayers.py", MYLAYERS)])
def test_a_recipe_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
                                  helper: str, source: str) -> None:
    """The recipe file, verbatim, next to the user's module: relu-diag checks it and passes."""
    sys.path.insert(0, str(EXAMPLES))
    import cs231n_net
    sys.path.remove(str(EXAMPLES))
    (tmp_path / "cs231n_net.py").write_text((EXAMPLES / "cs231n_net.py").read_text())
    (tmp_path / helper).write_text(source)
    (tmp_path / name).write_text(_recipe(name))
    params, X, y = cs231n_net.case(0, D=5, H=6, C=3)
    np.savez(tmp_path / "case.npz", X=X, y=y, **params)
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["check", "--fn", f"{name}:loss", "--data", "case.npz"])
    assert r.exit_code == 0, r.output
