"""Run one cell: forward pass, backprop under test, numerical gradient, verdict. Never prints."""

from __future__ import annotations

import numpy as np

from relu_ce_diag.budget import Limits, check_budget
from relu_ce_diag.cells import CellSpec, Prepared, prepare, validate
from relu_ce_diag.compare import compare, max_relative, normwise_relative, tolerance
from relu_ce_diag.data import hidden_from_size, load_npz
from relu_ce_diag.diagnostics import DiagContext, diagnose
from relu_ce_diag.network import Net, backprop, deltas, forward, pack
from relu_ce_diag.numgrad import central_differences, sample_scale
from relu_ce_diag.results import BlockStats, CellResult, Entry, GradArrays


def run_cell(spec: CellSpec, limits: Limits | None = None) -> CellResult:
    """Validate, prepare and check one cell; input problems (and a cell over ``limits``)
    raise ReluDiagError before any gradient is computed."""
    limits = limits if limits is not None else Limits()
    spec = validate(spec)
    if spec.data is None:  # refuse before generating anything
        refuse_too_large(spec, limits, spec.id)
    prep = prepare(spec)
    check_budget(prep.net, prep.arrays.X.shape[0], spec.id, limits,
                 np.dtype(spec.dtype).itemsize)
    return check_prepared(prep, cell_id=spec.id)


def refuse_too_large(spec: CellSpec, limits: Limits, cell_id: str) -> None:
    """Raise TooLargeError (or DataError) before a validated cell builds anything large.

    Without ``data`` the sizes come from the spec; with it, only the .npz file is read (its
    W fixes a single hidden width, as ``prepare`` does), never the weights generated."""
    itemsize = np.dtype(spec.dtype).itemsize
    if spec.data is None:
        net = Net((spec.inputs, *spec.hidden, spec.outputs))
        check_budget(net, spec.samples, cell_id, limits, itemsize)
        return
    X, Y, W = load_npz(spec.data)
    hidden = spec.hidden
    if W is not None and len(hidden) == 1:
        hidden = (hidden_from_size(W.size, X.shape[1], Y.shape[1]) or hidden[0],)
    check_budget(Net((X.shape[1], *hidden, Y.shape[1])), X.shape[0], cell_id, limits, itemsize)


def check_prepared(prep: Prepared, cell_id: str, analytic: np.ndarray | None = None,
                   ) -> CellResult:
    """Check the backprop of a prepared cell (or a given ``analytic`` (P,)) against central
    differences."""
    spec, net, arr = prep.spec, prep.net, prep.arrays
    W, X, Y = arr.W, arr.X, arr.Y
    eps_m = float(np.finfo(W.dtype).eps)
    fw = forward(net, W, X, Y)
    exact_ds = deltas(net, W, fw, Y, "exact")
    exact = pack([d.T @ ab for d, ab in zip(exact_ds, fw.inputs, strict=True)])
    if analytic is not None:
        analytic = np.asarray(analytic, dtype=W.dtype)
    elif spec.backprop == "exact":
        analytic = exact
    else:
        analytic = backprop(net, W, X, Y, spec.backprop, fw=fw)[1]
    h = spec.h
    scale = sample_scale(net, fw, exact_ds)
    ng = central_differences(net, W, X, Y, fw, h, scale)
    half = central_differences(net, W, X, Y, fw, h / 2, scale)
    # Where a stencil crosses a kink or the clamp, n(h) - n(h/2) measures the kink, not the
    # truncation error; it must not widen the tolerance (that would excuse a real bug there).
    kinked = ng.straddle | ng.clamp | half.straddle | half.clamp
    tol = tolerance(analytic, ng.numeric, np.where(kinked, ng.numeric, half.numeric),
                    ng.scale, h, eps_m)
    cmp = compare(analytic, ng.numeric, tol)
    arrays = GradArrays(W, X, Y, analytic, ng.numeric, exact, fw.f)

    kinked = ng.straddle | ng.clamp
    bad = ~cmp.ok
    set_aside = bad & kinked & cmp.finite
    judged = ~set_aside
    a64, n64 = analytic.astype(np.float64), ng.numeric.astype(np.float64)
    if not np.isfinite(fw.f) or not cmp.finite.all():
        status = "fail"
        nonfinite = int((~cmp.finite).sum())
        reason = (f"loss is {fw.f}" if not np.isfinite(fw.f) else "") + (
            f"{'; ' if not np.isfinite(fw.f) else ''}{nonfinite} non-finite gradient entries"
            if nonfinite else "")
    elif (bad & judged).any():
        status = "fail"
        reason = f"{int((bad & judged).sum())} of {W.size} entries differ beyond tolerance"
    elif set_aside.any():
        status = "kink"
        reason = (f"{int(set_aside.sum())} entries differ only where the step straddles "
                  "a kink or the clamp")
    else:
        status = "pass"
        reason = f"all {W.size} entries agree within tolerance"

    ratio = np.where(cmp.finite, cmp.error / np.maximum(tol, np.finfo(np.float64).tiny), np.inf)
    ratio = np.where(judged, ratio, -1.0)
    w = int(np.argmax(ratio))
    worst = Entry(net.entry_name(w), w, float(a64[w]), float(n64[w]), float(cmp.error[w]),
                  float(tol[w]))
    blocks = tuple(
        BlockStats(name, sl.stop - sl.start, max_relative(a64[sl], n64[sl]),
                   normwise_relative(a64[sl], n64[sl]), int((bad & judged)[sl].sum()),
                   int(set_aside[sl].sum()))
        for name, sl in net.blocks())
    return CellResult(
        id=cell_id, spec=spec, status=status, reason=reason, loss=fw.f, n_params=W.size,
        step=h, max_rel=max_relative(a64, n64),
        max_rel_judged=max_relative(a64[judged], n64[judged]),
        normwise=normwise_relative(a64, n64), mismatched=int((bad & judged).sum()),
        set_aside=tuple(net.entry_name(int(p)) for p in np.flatnonzero(set_aside)),
        straddled=int(ng.straddle.sum()), clamp_crossed=int(ng.clamp.sum()),
        worst=worst, blocks=blocks, arrays=arrays,
        findings=diagnose(DiagContext(prep, fw, analytic, exact, ng, half.numeric, tol, cmp,
                                      set_aside, status)))
