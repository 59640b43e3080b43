"""Every printed fix works when pasted: the code a finding prints is put, line for line, in place
of the lines of the buggy function that assign the same names, and the result passes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from relu_ce_diag import check_function
from relu_ce_diag.cli import main
from relu_ce_diag.model.activations import ACTIVATIONS
from relu_ce_diag.model.losses import LOSSES
from relu_ce_diag.run.cell import run_cell
from relu_ce_diag.settings.cells import CellSpec

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = Path(__file__).resolve().parent / "examples"
sys.path.insert(0, str(EXAMPLES))
import columns_net  # noqa: E402
import cs231n_net  # noqa: E402
from test_named_blocks import COL_BUGS, COL_DESC, CS_BUGS, CS_DESC  # noqa: E402


def _target(statement: str) -> str:
    return statement.partition(" = ")[0].strip().replace('"', "'")


def apply_fix(source: str, func: str, code: str) -> str:
    """Paste ``code`` into function ``func`` of ``source``: each statement replaces the line
    that assigns its name; a statement whose name no line assigns goes before the next one."""
    lines = source.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(f"def {func}("))
    end = next((i for i in range(start + 1, len(lines))
                if lines[i] and not lines[i][0].isspace()), len(lines))
    pending: list[str] = []
    placed = 0
    for statement in (s.strip().rstrip(";") for s in code.split("; ")):
        hits = [i for i in range(start + 1, end)
                if lines[i].strip().replace('"', "'").startswith(_target(statement) + " =")]
        if not hits:
            pending.append(statement)
            continue
        i = hits[-1]
        indent = lines[i][:len(lines[i]) - len(lines[i].lstrip())]
        lines[i] = indent + "; ".join([*pending, statement])
        pending, placed = [], placed + 1
    assert placed and not pending, f"the fix {code!r} found no line to replace in {func}"
    return "\n".join(lines) + "\n"


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_seeds_fix_pasted_into_the_seeds_function_passes(tmp_path: Path) -> None:
    """The fix printed for examples/seed_backprop.py (relu + ce, d3 = y - Y), pasted in place
    of its d3 line, makes the same command exit 0."""
    ref = f"{ROOT / 'examples' / 'seed_backprop.py'}:backprop"
    data = str(ROOT / "examples" / "seed_case.npz")
    args = ["check", "--fn", ref, "--data", data, "--act", "relu", "--loss", "ce",
            "--format", "json"]
    import json
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 1
    kb = next(f for f in json.loads(first.stdout)["cells"][0]["findings"]
              if f["id"] == "known-bug")
    code = kb["data"]["code"]
    assert code in kb["fix"]  # the printed fix holds the code verbatim
    fixed = tmp_path / "seed_fixed.py"
    fixed.write_text(apply_fix((ROOT / "examples" / "seed_backprop.py").read_text(),
                               "backprop", code))
    again = CliRunner().invoke(main, [*args[:2], f"{fixed}:backprop", *args[3:]])
    assert again.exit_code == 0, again.stdout[-2000:]


SEED_TEMPLATE = '''
import numpy as np

def act(z, kind):
    if kind == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if kind == "tanh":
        return np.tanh(z)
    if kind == "relu":
        return np.maximum(0, z)
    if kind == "leaky-relu":
        return np.where(z > 0, z, 0.01 * z)
    if kind == "softplus":
        return np.logaddexp(0, z)
    if kind == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return z

def backprop(W, X, Y):
    N, n_inp = X.shape
    n_out = Y.shape[1]
    n_hid = (W.size - n_out) // (n_inp + 1 + n_out)
    w1 = W[:n_hid * (n_inp + 1)].reshape(n_hid, n_inp + 1, order="F")
    w2 = W[n_hid * (n_inp + 1):].reshape(n_out, n_hid + 1, order="F")
    X = np.hstack([X, np.ones((N, 1))])
    z2 = X @ w1.T
    a2 = np.hstack([act(z2, "relu"), np.ones((N, 1))])
    z3 = a2 @ w2.T
    y = act(z3, "{out}")
    eps = np.finfo(float).eps
    if "{loss}" == "se":
        f = 0.5 * np.sum((y - Y) ** 2)
    elif "{loss}" == "cce":
        f = -np.sum(Y * np.log(np.maximum(y, eps)))
    else:
        f = -np.sum(Y * np.log(np.maximum(y, eps)) + (1 - Y) * np.log(np.maximum(1 - y, eps)))
    d3 = y - Y
    df2 = d3.T @ a2
    d2 = (d3 @ w2[:, :-1]) * (z2 > 0)
    df1 = d2.T @ X
    return f, np.concatenate([df1.ravel(order="F"), df2.ravel(order="F")])
'''
SHORTCUT_WRONG = [(o, loss) for o in ACTIVATIONS for loss in ("ce", "cce")
                  if o != LOSSES[loss].canonical and not (o == "softmax" and loss == "ce")]


@pytest.mark.parametrize("out, loss", SHORTCUT_WRONG)
def test_the_pairing_fix_pasted_into_a_seed_function_passes(tmp_path: Path, out: str,
                                                            loss: str) -> None:
    """For every output the shortcut is wrong for, the built-in cell's pairing fix pasted in
    place of d3 = y - Y in a seed-style function gives its exact gradient."""
    r = run_cell(CellSpec(act="relu", out=out, loss=loss, hidden=(7,), seed=2,
                          targets="multilabel" if loss == "ce" else "onehot"))
    pairing = next(f for f in r.findings if f.id == "pairing")
    code = dict(pairing.data)["correct_delta"]
    assert f"use {code}" in pairing.fix
    path = tmp_path / f"seed_{out}_{loss}.py".replace("-", "_")
    path.write_text(apply_fix(SEED_TEMPLATE.format(out=out, loss=loss), "backprop", code))
    fixed = _load(path, path.stem)
    assert r.arrays is not None
    W, X, Y = r.arrays.W, r.arrays.X, r.arrays.Y
    _, df = fixed.backprop(W, X, Y)
    assert np.allclose(df, r.arrays.exact, rtol=1e-9, atol=1e-12)
    assert np.isfinite(df).all()  # no 0/0 at relu's zeros or the clamp


@pytest.mark.parametrize("bug", sorted(CS_BUGS))
def test_cs231n_fixes_pasted_pass(tmp_path: Path, bug: str) -> None:
    """Each CS231n bug's printed fix, pasted into the buggy function, makes it pass."""
    params, X, y = cs231n_net.case(0)
    r = check_function(getattr(cs231n_net, bug), params, X, y, **CS_DESC)
    code = dict(next(f for f in r.findings if f.id == "known-bug").data)["code"]
    src = (EXAMPLES / "cs231n_net.py").read_text()
    path = tmp_path / f"cs_{bug}.py"
    path.write_text(apply_fix(src, bug, code))
    fixed = getattr(_load(path, path.stem), bug)
    assert check_function(fixed, params, X, y, **CS_DESC).status == "pass", code


@pytest.mark.parametrize("bug", sorted(COL_BUGS))
def test_columns_fixes_pasted_pass(tmp_path: Path, bug: str) -> None:
    """Each course-style bug's printed fix, pasted into the buggy function, makes it pass."""
    params, X, Y = columns_net.case(1)
    r = check_function(getattr(columns_net, bug), params, X, Y, **COL_DESC)
    code = dict(next(f for f in r.findings if f.id == "known-bug").data)["code"]
    src = (EXAMPLES / "columns_net.py").read_text()
    path = tmp_path / f"col_{bug}.py"
    path.write_text(apply_fix(src, bug, code))
    fixed = getattr(_load(path, path.stem), bug)
    assert check_function(fixed, params, X, Y, **COL_DESC).status == "pass", code


def test_the_output_fix_of_the_seed_case_passes() -> None:
    """The other printed fix of the seed's cell, --out sigmoid, followed literally, passes."""
    r = run_cell(CellSpec(act="relu", loss="ce"))
    assert "--out sigmoid" in next(f for f in r.findings if f.id == "pairing").fix
    assert run_cell(CellSpec(act="relu", loss="ce", out="sigmoid")).status == "pass"


SEED_BUGGY = '''
import numpy as np
from seed_acts import act

def backprop(W, X, Y):
    N, n_inp = X.shape
    n_out = Y.shape[1]
    n_hid = (W.size - n_out) // (n_inp + 1 + n_out)
    w1 = W[:n_hid * (n_inp + 1)].reshape(n_hid, n_inp + 1, order="F")
    w2 = W[n_hid * (n_inp + 1):].reshape(n_out, n_hid + 1, order="F")
    X = np.hstack([X, np.ones((N, 1))])
    z2 = X @ w1.T
    a2 = np.hstack([act(z2, "{act}"), np.ones((N, 1))])
    z3 = a2 @ w2.T
    y = act(z3, "{out}")
    eps = np.finfo(float).eps
    if "{loss}" == "se":
        f = 0.5 * np.sum((y - Y) ** 2)
    else:
        f = -np.sum(Y * np.log(np.maximum(y, eps)) + (1 - Y) * np.log(np.maximum(1 - y, eps)))
    d3 = {d3}
    df2 = {df2}
    d2 = {d2}
    df1 = {df1}
    df = {df}
    return f, df
'''
RIGHT = {"d3": "y - Y", "df2": "d3.T @ a2", "d2": "(d3 @ w2[:, :-1]) * {dact}",
         "df1": "d2.T @ X", "df": 'np.concatenate([df1.ravel(order="F"), df2.ravel(order="F")])'}
DACT = {"relu": "(z2 > 0)", "tanh": "(1 - np.tanh(z2) ** 2)",
        "leaky-relu": "((z2 > 0) + 0.01 * (z2 <= 0))"}
# bug -> (act, out, loss, the buggy lines)
SEED_BUGS = {
    "missing-output-derivative": ("tanh", "sigmoid", "se", {"d3": "y - Y"}),
    "softmax-elementwise": ("relu", "softmax", "se", {"d3": "(y - Y) * y * (1 - y)"}),
    "row-major": ("relu", "sigmoid", "ce", {"df": "np.concatenate([df1.ravel(), df2.ravel()])"}),
    "dropped-bias": ("relu", "sigmoid", "ce",
                     {"df1": "np.hstack([d2.T @ X[:, :-1], np.zeros((d2.shape[1], 1))])",
                      "df2": "np.hstack([d3.T @ a2[:, :-1], np.zeros((d3.shape[1], 1))])"}),
    "factor-2": ("tanh", "identity", "se", {"d3": "2 * (y - Y)"}),
    "mean-instead-of-sum": ("relu", "sigmoid", "ce", {"d3": "(y - Y) / N"}),
    "shifted-threshold": ("relu", "sigmoid", "ce", {"d2": "(d3 @ w2[:, :-1]) * (z2 > 0.5)"}),
    "wrong-leaky-slope": ("leaky-relu", "sigmoid", "ce",
                          {"d2": "(d3 @ w2[:, :-1]) * ((z2 > 0) + 0.1 * (z2 <= 0))"}),
    "hidden-sign": ("tanh", "sigmoid", "ce", {"d2": "-(d3 @ w2[:, :-1]) * (1 - np.tanh(z2) ** 2)"}),
    "missing-hidden-derivative": ("relu", "sigmoid", "ce", {"d2": "d3 @ w2[:, :-1]"}),
}


@pytest.mark.parametrize("bug", sorted(SEED_BUGS))
def test_seed_layout_fixes_pasted_pass(tmp_path: Path, bug: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Each seed-layout bug, described, prints a fix that makes the function pass when pasted."""
    import nets
    act, out, loss, lines = SEED_BUGS[bug]
    (tmp_path / "seed_acts.py").write_text("from nets import act  # noqa: F401\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    parts = {**RIGHT, "d2": RIGHT["d2"].format(dact=DACT.get(act, "1")), **lines}
    path = tmp_path / f"seed_{bug.replace('-', '_')}.py"
    path.write_text(SEED_BUGGY.replace("{act}", act).replace("{out}", out)
                    .replace("{loss}", loss).format(**parts))
    W, X, Y = nets.case(3, onehot=loss != "ce")
    buggy = _load(path, path.stem).backprop
    r = check_function(buggy, W, X, Y, act=act, out=out, loss=loss)
    kb = next(f for f in r.findings if f.id == "known-bug")
    assert dict(kb.data)["match"].startswith(bug), kb.message
    code = dict(kb.data)["code"]
    path.write_text(apply_fix(path.read_text(), "backprop", code))
    fixed = _load(path, path.stem + "_fixed").backprop
    assert check_function(fixed, W, X, Y, act=act, out=out, loss=loss).status == "pass", code
