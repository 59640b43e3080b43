"""The diagnostics registry: every fired finding is registered, texts and rules belong together,
and --ignore skips a rule's work instead of filtering its output."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from relu_ce_diag import check_function
from relu_ce_diag.diagnostics import DIAGNOSTICS, FAMILIES
from relu_ce_diag.diagnostics import precision as precision_family
from relu_ce_diag.model.activations import HIDDEN_NAMES
from relu_ce_diag.model.losses import LOSSES
from relu_ce_diag.run.cell import run_cell
from relu_ce_diag.settings.cells import CellSpec

CELLS = [CellSpec(act=a, loss=l, backprop=b, hidden=(6,))
         for a, l, b in itertools.product(HIDDEN_NAMES, sorted(LOSSES), ("shortcut", "exact"))]
CELLS += [CellSpec(act="relu", loss="ce", dtype="float32"), CellSpec(act="relu", eps=0.0),
          CellSpec(act="relu", loss="cce", data="configs/data/kink_at_zero.npz"),
          CellSpec(act="sigmoid", loss="ce", data="configs/data/saturated.npz")]


def _declared(fid: str) -> set[str]:
    """The ids the rule that fires ``fid`` may fire."""
    d = DIAGNOSTICS[fid]
    return set(d.ids if d.rule is not None else DIAGNOSTICS[d.fired_by].ids)


@pytest.mark.parametrize("spec", CELLS, ids=lambda s: s.id)
def test_every_fired_finding_is_registered(spec: CellSpec) -> None:
    """A built-in cell's findings all carry registered ids, each declared by its rule."""
    for f in run_cell(spec).findings:
        assert f.id in DIAGNOSTICS and f.id in _declared(f.id), f.id
        assert f.severity in ("error", "warning", "info")


def test_function_findings_are_registered() -> None:
    """A user function's findings (described, failing, flat, kinked) are registered too."""
    rng = np.random.default_rng(0)
    W = rng.standard_normal(5)

    def fn(W, X, Y):  # a kink at W[0] = 0, a flat clamp, a wrong entry
        return float(np.maximum(W, 0).sum() + np.log(max(W[4], 1e-16))), \
            np.r_[(W[:4] > 0).astype(float), 7.0]

    W[0], W[4] = 0.0, -1.0
    r = check_function(fn, W, np.ones((1, 1)), np.ones((1, 1)))
    assert {f.id for f in r.findings} >= {"flat-loss", "fn-precision"}
    for f in r.findings:
        assert f.id in DIAGNOSTICS and f.id in _declared(f.id), f.id


def test_every_diagnostic_has_its_text_and_a_rule() -> None:
    """Each record has a title, an explanation and a fix, and a rule (or the rule firing it),
    in a listed family."""
    families = set(FAMILIES)
    for d in DIAGNOSTICS.values():
        assert d.title and d.explanation and d.fix, d.id
        assert d.rule is not None or d.fired_by in DIAGNOSTICS, d.id
        assert d.family in families, d.id


def test_ignore_skips_the_work_not_only_the_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """--ignore precision on a float32 cell does not run the float64 re-check at all."""
    calls: list[str] = []
    real = precision_family.recheck
    def spy(ctx: object, dtype: str | None = None, step: float | None = None) -> object:
        if dtype == "float64":
            calls.append("recheck")
        return real(ctx, dtype, step)  # type: ignore[arg-type]

    monkeypatch.setattr(precision_family, "recheck", spy)
    spec = CellSpec(act="relu", loss="ce", dtype="float32")
    assert any(f.id == "precision" for f in run_cell(spec).findings) and calls
    calls.clear()
    r = run_cell(spec, ignore=("precision",))
    assert not calls and all(f.id != "precision" for f in r.findings)
