"""Properties of the verdict over random cells: no false alarm, and no missed wrong entry.

Random valid cells with smooth activations and the exact chain rule must never fail; a
single entry of their gradient moved by 1e-3 x max|g| must always fail, and be the entry
the report names.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from relu_ce_diag.model.activations import ACTIVATIONS
from relu_ce_diag.model.losses import LOSSES
from relu_ce_diag.run.cell import check_prepared
from relu_ce_diag.settings.cells import CellSpec, prepare, validate

SMOOTH = tuple(n for n, a in ACTIVATIONS.items() if not a.kinks and not a.output_only)
SMOOTH_OUT = tuple(n for n, a in ACTIVATIONS.items() if not a.kinks)
# Output/loss pairs whose loss is defined on the whole output range (ce needs (0, 1)).
PAIRS = tuple((out, loss) for loss in LOSSES for out in SMOOTH_OUT
              if loss == "se" or (loss == "ce" and out in ("sigmoid", "softmax"))
              or (loss == "cce" and out == "softmax"))


def test_the_strategies_cover_the_registries() -> None:
    """Every smooth activation and every loss is drawn (the filters are not vacuous)."""
    assert set(SMOOTH) == {"sigmoid", "tanh", "softplus", "identity"}
    assert {loss for _, loss in PAIRS} == set(LOSSES)
    assert {out for out, _ in PAIRS} == set(SMOOTH_OUT)


@st.composite
def smooth_cells(draw: st.DrawFn) -> CellSpec:
    """Draw a small valid cell: smooth activations, a loss that fits the output, exact."""
    out, loss = draw(st.sampled_from(PAIRS))
    targets = "multilabel" if loss != "cce" and draw(st.booleans()) else "onehot"
    return validate(CellSpec(
        act=draw(st.sampled_from(SMOOTH)), out=out, loss=loss, backprop="exact",
        hidden=tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=2))),
        inputs=draw(st.integers(1, 4)), outputs=draw(st.integers(2, 4)),
        samples=draw(st.integers(1, 6)), targets=targets, seed=draw(st.integers(0, 10**6)),
        eps=draw(st.sampled_from([0.0, 2.220446049250313e-16, 1e-8]))))


@settings(max_examples=70)
@given(spec=smooth_cells())
def test_exact_backprop_of_a_smooth_cell_never_fails(spec: CellSpec) -> None:
    """No false alarm: the exact gradient of a smooth cell passes, every entry judged."""
    prep = prepare(spec)
    r = check_prepared(prep, spec.id)
    assert r.status == "pass", (spec.id, r.reason, r.worst)
    assert r.mismatched == 0 and not r.set_aside


@settings(max_examples=70)
@given(spec=smooth_cells(), pick=st.floats(0, 1, exclude_max=True), sign=st.sampled_from([-1, 1]))
def test_one_perturbed_entry_always_fails_and_is_named(spec: CellSpec, pick: float,
                                                       sign: int) -> None:
    """A single entry moved by 1e-3 x max|g| fails, and the report names that entry."""
    prep = prepare(spec)
    exact = check_prepared(prep, spec.id).arrays.analytic
    p = int(pick * exact.size)
    wrong = exact.copy()
    wrong[p] += sign * 1e-3 * np.max(np.abs(exact))
    r = check_prepared(prep, spec.id, analytic=wrong)
    assert r.status == "fail", (spec.id, p, r.reason)
    assert r.mismatched == 1 and r.worst is not None
    assert r.worst.name == prep.net.entry_name(p) and r.worst.index == p
