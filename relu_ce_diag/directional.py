"""Random-direction checks: analytic . v against (f(W + h v) - f(W - h v)) / 2h.

For a large network, K seeded unit directions cost 2K forward passes instead of 2P loss
evaluations. A direction that fails is measured again at h/2 (truncation); for the reference
network the forward passes at W +/- h v also tell exactly whether the stencil crossed a kink or
the eps clamp, so such a direction is set aside as it would be entry by entry.
"""

from __future__ import annotations

import numpy as np

from relu_ce_diag.cells import Prepared
from relu_ce_diag.compare import compare, max_relative, normwise_relative, tolerance
from relu_ce_diag.network import Forward, Net, backprop, deltas, forward, pack
from relu_ce_diag.numgrad import sample_scale
from relu_ce_diag.results import CellResult, Entry, Finding, GradArrays

Array = np.ndarray


def random_directions(rng: np.random.Generator, K: int, P: int) -> Array:
    """Draw K unit-norm Rademacher directions (K, P): entries +-1/sqrt(P), so every entry of
    W moves by the same amount and a wrong entry shifts df . v by |error| / sqrt(P)."""
    bits = np.unpackbits(np.frombuffer(rng.bytes(K * P // 8 + 1), dtype=np.uint8))[:K * P]
    V = bits.reshape(K, P) * (2.0 / np.sqrt(P))  # one random bit per entry: cheap for large P
    V -= 1.0 / np.sqrt(P)
    return V


def direction_rng(seed: int) -> np.random.Generator:
    """Return the generator of the directions: seeded, independent of the data's stream."""
    return np.random.default_rng([seed, 0xD1])


def _sides(z: Array, points: tuple[float, ...]) -> Array:
    """Return the sign pattern of z against each point, stacked (len(points), ...)."""
    return np.stack([np.sign(z - p) for p in points]) if points else np.zeros((0,))


def crossed(net: Net, a: Forward, b: Forward) -> tuple[bool, bool]:
    """Return (kink, clamp): whether going from forward pass a to b crossed (or touched) a
    kink of any layer's activation, or the loss's eps clamp."""
    kink = False
    for layer, (za, zb) in enumerate(zip(a.z, b.z, strict=True)):
        pts = net.layer_act(layer).kinks
        if pts and np.any(_sides(za, pts) != _sides(zb, pts)):
            kink = True
    clamp = False
    if net.loss in ("ce", "cce") and net.eps > 0:
        ys = [(a.y, b.y)] + ([(1 - a.y, 1 - b.y)] if net.loss == "ce" else [])
        clamp = any(np.any(np.sign(u - net.eps) != np.sign(v - net.eps)) for u, v in ys)
    return kink, clamp


def check_directions(prep: Prepared, cell_id: str, K: int) -> CellResult:
    """Check the cell's backprop along K seeded random directions (2K forward passes, plus
    2 more per direction that fails at the first step)."""
    spec, net, arr = prep.spec, prep.net, prep.arrays
    W, X, Y = arr.W, arr.X, arr.Y
    eps_m = float(np.finfo(W.dtype).eps)
    h = spec.h
    fw = forward(net, W, X, Y)
    ex_ds = deltas(net, W, fw, Y, "exact")
    exact = pack([d.T @ ab for d, ab in zip(ex_ds, fw.inputs, strict=True)])
    analytic = exact if spec.backprop == "exact" else backprop(net, W, X, Y, spec.backprop,
                                                               fw=fw)[1]
    a64 = analytic.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        scale = 2.0 * float(sample_scale(net, fw, ex_ds).sum())
    V = random_directions(direction_rng(spec.seed), K, W.size)

    Wp, Wm, disp = np.empty_like(W), np.empty_like(W), np.empty(W.size)  # reused: no page faults

    def measure(k: int, t: float) -> tuple[float, float, bool, bool]:
        np.multiply(V[k], t, out=disp)
        np.add(W, disp, out=Wp, casting="unsafe")
        np.subtract(W, disp, out=Wm, casting="unsafe")
        fp, fm = forward(net, Wp, X, Y), forward(net, Wm, X, Y)
        # the displacement actually taken (rounded), not 2 t v: it matters for large P
        np.subtract(Wp, Wm, out=disp, casting="unsafe")
        length = float(disp @ V[k])
        with np.errstate(invalid="ignore", over="ignore"):
            n = (fp.f - fm.f) / length
        return n, float(a64 @ disp) / length, *crossed(net, fp, fm)

    num, ana = np.empty(K), np.empty(K)
    kink, clamp = np.zeros(K, bool), np.zeros(K, bool)
    for k in range(K):
        num[k], ana[k], kink[k], clamp[k] = measure(k, h)
    tol = tolerance(ana, num, None, np.full(K, scale), h, eps_m)
    cmp = compare(ana, num, tol)
    for k in np.flatnonzero(~cmp.ok & cmp.finite).tolist():
        nh, _, kh, ch = measure(k, h / 2)
        tol[k] = tolerance(ana[k:k + 1], num[k:k + 1], np.array([nh]), np.array([scale]), h,
                           eps_m)[0]
        kink[k] |= kh
        clamp[k] |= ch
    cmp = compare(ana, num, tol)
    return _result(prep, cell_id, fw.f, h, W, analytic, exact, ana, num, cmp.ok, cmp.finite,
                   tol, kink, clamp)


def _result(prep: Prepared, cell_id: str, f: float, h: float, W: Array, analytic: Array,
            exact: Array, ana: Array, num: Array, ok: Array, finite: Array, tol: Array,
            kink: Array, clamp: Array) -> CellResult:
    """Build the CellResult of a directional check (names ``direction k``)."""
    K = ana.size
    set_aside = ~ok & finite & (kink | clamp)
    bad = ~ok & ~set_aside
    names = [f"direction {k}" for k in range(K)]
    if not np.isfinite(f) or not finite.all():
        status, reason = "fail", (f"loss is {f}" if not np.isfinite(f) else
                                  f"{int((~finite).sum())} of {K} directions are not finite")
    elif bad.any():
        status, reason = "fail", f"{int(bad.sum())} of {K} random directions differ beyond " \
                                 "tolerance"
    elif set_aside.any():
        status, reason = "kink", (f"{int(set_aside.sum())} of {K} random directions differ "
                                  "only where the step crosses a kink or the clamp")
    else:
        status, reason = "pass", f"all {K} random directions agree within tolerance"
    judged = ~set_aside
    with np.errstate(invalid="ignore", over="ignore"):
        ratio = np.where(finite, np.abs(ana - num) / np.maximum(tol, 1e-300), np.inf)
    w = int(np.argmax(np.where(judged, ratio, -1.0)))
    worst = Entry(names[w], w, float(ana[w]), float(num[w]), float(abs(ana[w] - num[w])),
                  float(tol[w]))
    spec = prep.spec
    note = Finding("directions", "info",
                   f"checked {K} random directions (seed {spec.seed}) instead of all "
                   f"{W.size} entries: a pass says df . v matches along each, not that every "
                   "entry is right", "run without --directions to check and name every entry",
                   (("directions", K), ("seed", spec.seed)))
    return CellResult(
        id=f"{cell_id} [{K} directions]", spec=spec, status=status, reason=reason, loss=f,
        n_params=W.size, step=h, max_rel=max_relative(ana, num),
        max_rel_judged=max_relative(ana[judged], num[judged]),
        normwise=normwise_relative(ana, num), mismatched=int(bad.sum()),
        set_aside=tuple(names[k] for k in np.flatnonzero(set_aside)),
        straddled=int(kink.sum()), clamp_crossed=int(clamp.sum()), worst=worst,
        findings=(note,),
        arrays=GradArrays(W, prep.arrays.X, prep.arrays.Y, analytic, num, exact, f))
