"""Kinks: which steps straddle a kink (units, samples, margins), exact zeros, dead units.

The foundation's ``NumGrad.straddle`` flags entries; here each flagged entry's perturbed
forward passes are recomputed to name the (layer, unit, sample) whose pre-activation crossed,
with the margin |z| and the step's effect |z(+h) - z(-h)| / 2 on it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from relu_ce_diag.check.pipeline import KINK
from relu_ce_diag.diagnostics.context import Context, listing, unit_name
from relu_ce_diag.diagnostics.registry import Finding, diagnostic
from relu_ce_diag.diagnostics.rerun import can_try, floor1, recheck
from relu_ce_diag.model.network import Forward, Net, hidden_slope, with_bias
from relu_ce_diag.numeric.compare import max_relative
from relu_ce_diag.settings.data import Arrays

Array = np.ndarray
MAX_DETAILED = 200  # straddled entries recomputed in detail; the rest are only counted


@dataclass(frozen=True)
class Crossing:
    """A pre-activation z[layer][sample, unit] that a step of one entry carried across a kink."""

    entry: int
    layer: int
    unit: int
    sample: int
    margin: float
    effect: float


def _stencil_z(net: Net, mats: list[Array], fw: Forward, p: int, d: float,
               ) -> dict[int, Array]:
    """Return the pre-activations that move when entry p changes by d: its own layer's
    column (N, 1) and every layer above (N, n); computed from the cached forward pass."""
    layer, j, i = net.position(p)
    zs = {layer: (fw.z[layer][:, j] + d * fw.inputs[layer][:, i])[:, None]}
    if layer + 1 < len(mats):
        act = net.layer_act(layer)
        delta = act.f(zs[layer][:, 0], net.leaky_slope) - fw.inputs[layer + 1][:, j]
        zs[layer + 1] = fw.z[layer + 1] + delta[:, None] * mats[layer + 1][:, j][None, :]
    for upper in range(layer + 2, len(mats)):
        a = with_bias(net.layer_act(upper - 1).f(zs[upper - 1], net.leaky_slope))
        zs[upper] = a @ mats[upper].T
    return zs


def crossings(net: Net, arr: Arrays, fw: Forward, h: float, entries: Array) -> list[Crossing]:
    """Return the crossings of the flat entries (E,) at W +- h; ``fw`` is the forward at W.

    Only what the entry moves is recomputed: its own pre-activation column, the layer above
    by a rank-one update, and full products further up.
    """
    mats = net.unpack(arr.W)
    found = []
    for p in entries:
        with np.errstate(all="ignore"):
            zp = _stencil_z(net, mats, fw, int(p), h)
            zm = _stencil_z(net, mats, fw, int(p), -h)
        own, j = net.position(int(p))[:2]
        for layer in zp:
            points = net.layer_act(layer).kinks
            z0 = fw.z[layer][:, [j]] if layer == own else fw.z[layer]
            for k in points:
                hit = np.sign(zp[layer] - k) != np.sign(zm[layer] - k)
                for s, u in zip(*np.nonzero(hit), strict=True):
                    found.append(Crossing(
                        int(p), layer, j if layer == own else int(u), int(s),
                        float(abs(z0[s, u] - k)),
                        float(abs(zp[layer][s, u] - zm[layer][s, u]) / 2)))
    return found


def _units(net_ctx: Context, pairs: list[tuple[int, int, int]]) -> list[str]:
    """Group (layer, unit, sample) triples as 'h1[2] (samples 0, 3)'."""
    by_unit: dict[tuple[int, int], set[int]] = defaultdict(set)
    for layer, u, s in pairs:
        by_unit[(layer, u)].add(s)
    return [f"{unit_name(net_ctx.net, layer, u)} (sample{'s' if len(ss) > 1 else ''} "
            f"{', '.join(map(str, sorted(ss)[:6]))}{' ...' if len(ss) > 6 else ''})"
            for (layer, u), ss in sorted(by_unit.items())]


def _safe_step(ctx: Context, bound: float) -> float:
    """Return a step below ``bound`` (one digit, rounded down) at which no entry mismatches
    by a straddle, tried on the cell itself (up to three times, each time below the margins
    that still straddle); NaN when none is found or it would be round-off dominated."""
    step = floor1(bound)
    for _ in range(3):
        if step < np.sqrt(ctx.eps_machine):  # ~1e-8 in float64: round-off takes over
            return float("nan")
        if not can_try(ctx):
            return step
        again = recheck(ctx, step=step)
        if not again.kinked:
            return step
        j = again.judged
        left = np.flatnonzero((j.kind == KINK) & j.straddle)[:MAX_DETAILED]
        cr = crossings(ctx.net, ctx.prep.arrays, ctx.fw, step, left)
        smaller = [step * c.margin / c.effect for c in cr if c.margin > 0 and c.effect > 0]
        if not smaller:
            return float("nan")
        step = floor1(min(min(smaller), step / 2))
    return float("nan")


def _another(ctx: Context) -> str:
    """Another point: a new --seed draws new data, unless the data come from a file."""
    return "other data or weights" if ctx.prep.spec.data else "another --seed"


def _straddle_fix(ctx: Context, safe: float) -> str:
    """The one step to take: in float32, float64 when its own step straddles nothing (it
    also resolves smaller errors); else the safe step; else keep the entries set aside."""
    if ctx.prep.arrays.W.dtype == np.float32 and can_try(ctx) \
            and not recheck(ctx, "float64").kinked:
        return f"--dtype float64 (its step straddles no kink here), or {_another(ctx)}"
    if safe == safe:
        return f"--step {safe:.0e}, or {_another(ctx)}"
    return f"accept the set-aside entries, or {_another(ctx)}"


@diagnostic(
    "kink-straddle", "the finite-difference step moves a pre-activation across a kink",
    "A central difference (f(W + h) - f(W - h)) / 2h of a piecewise-linear unit averages the "
    "slopes on both sides when the step carries a pre-activation z across the kink at 0: for "
    "relu it sees a blend of 0 and 1, while the analytic gradient uses one side. The entries "
    "affected are named with the units and samples, the smallest margin |z| and the step's "
    "effect on z; relu-diag sets mismatching straddled entries aside (status kink) and shows "
    "the errors with and without them.",
    "Nothing is wrong with the backprop if only these entries differ. To check them too, use a "
    "step below the one printed (the margin divided by the effect per unit step), or move the "
    "point (another --seed or data); --strict makes kinks fail.")
def straddle_finding(ctx: Context) -> list[Finding]:
    """Return the ``kink-straddle`` finding: entries, units, samples, margins, a safe step."""
    if not ctx.white_entries:
        return []
    flagged = np.flatnonzero(ctx.ng.straddle)
    if flagged.size == 0:
        return []
    net = ctx.net
    aside = np.flatnonzero((ctx.judged.kind == KINK) & ctx.ng.straddle)
    order = np.concatenate([aside, np.setdiff1d(flagged, aside)])[:MAX_DETAILED]
    cr = crossings(net, ctx.prep.arrays, ctx.fw, ctx.h, order)
    a = ctx.analytic.astype(np.float64)
    n = ctx.ng.numeric.astype(np.float64)
    keep = ~ctx.set_aside
    with_them, without = max_relative(a, n), max_relative(a[keep], n[keep])
    names = [net.entry_name(int(p)) for p in (aside if aside.size else flagged)]
    units = _units(ctx, [(c.layer, c.unit, c.sample) for c in cr])
    margin = min((c.margin for c in cr), default=float("nan"))
    effect = max((c.effect for c in cr if c.margin == margin), default=float("nan"))
    positive = [ctx.h * c.margin / c.effect for c in cr if c.margin > 0 and c.effect > 0]
    safe = _safe_step(ctx, min(positive)) if positive and margin > 0 else float("nan")
    if positive and margin > 0 and safe == safe:
        advice = f"a step of {safe:.0e} avoids the straddle"
    elif positive and margin > 0:
        advice = ("a step small enough to avoid the straddle is round-off dominated: keep "
                  "the entries set aside")
    elif positive:
        advice = ("some pre-activations are exactly 0, which no step avoids "
                  "(see zero-preactivation); keep those entries set aside")
    else:
        advice = "the pre-activations are exactly 0, which no step avoids (see zero-preactivation)"
    message = (f"{flagged.size} entries' steps straddle a kink, {aside.size} of them mismatch "
               f"and are set aside: {listing(names)}; at {listing(units, 3)}; smallest margin "
               f"|z| = {margin:.2e} vs step effect {effect:.2e}; max rel error "
               f"{with_them:.2e} with them, {without:.2e} without; {advice}")
    return [Finding(
        "kink-straddle", "warning" if aside.size else "info", message,
        fix=_straddle_fix(ctx, safe if margin > 0 else float("nan")) if aside.size else "",
        data=(("straddled", int(flagged.size)), ("set_aside", int(aside.size)),
              ("entries", names[:50]), ("units", units[:50]), ("min_margin", margin),
              ("step_effect", effect), ("safe_step", safe), ("max_rel_error", with_them),
              ("max_rel_error_without", without)))]


@diagnostic(
    "zero-preactivation", "a pre-activation sits exactly on a kink (relu'(0) decides)",
    "When z is exactly 0 the derivative of relu is a convention: the seed's z > 0 uses 0, "
    "--relu-grad-at-zero can use another value, and any central difference sees the average of "
    "both sides, 0.5 (for leaky-relu, (1 + slope) / 2), with an error proportional to the step "
    "(the two sides curve differently). Exact zeros happen with integer or quantised data, "
    "zero-initialised weights and biases, or dead inputs. With another convention the entries "
    "through such a unit never agree with a central difference and are set aside (status "
    "kink); with relu'(0) = 0.5 they agree with the limit of the central differences at h, "
    "h/2 and h/4, and pass.",
    "Accept it as a convention (the entries are set aside, status kink), or use "
    "--relu-grad-at-zero 0.5 to match the central difference, or add a small jitter to the "
    "data or the initial weights.")
def zero_finding(ctx: Context) -> list[Finding]:
    """Return the ``zero-preactivation`` finding: pre-activations exactly on a kink."""
    if not ctx.white_entries:
        return []
    net = ctx.net
    pairs, rows = [], []
    for layer in range(len(net.shapes)):
        act = net.layer_act(layer)
        for k in act.kinks:
            on = ctx.fw.z[layer] == k
            if not on.any():
                continue
            s_idx, u_idx = np.nonzero(on)
            pairs += [(layer, int(u), int(s)) for s, u in zip(s_idx, u_idx, strict=True)]
            rows += [(layer, int(u)) for u in set(u_idx.tolist())]
    if not pairs:
        return []
    affected = np.zeros(net.n_params, dtype=bool)
    for layer, u in rows:
        affected[net.unit_entries(layer, u)] = True  # row u of layer: w[u, :], b[u]
    aside = int((affected & ctx.set_aside).sum())
    # what a central difference sees at the kink: the mean of both slopes (of the first
    # layer with an exact zero, as the finding names one convention)
    act = net.layer_act(min(layer for layer, _ in rows))
    seen = act.kink_average(net.leaky_slope)
    zero = np.zeros(1)
    used = float(act.df(zero, act.f(zero, net.leaky_slope), net.leaky_slope, net.at_zero)[0])
    units = _units(ctx, pairs)
    if np.isclose(used, seen, rtol=1e-12, atol=0.0) and not aside:
        verdict = (f"the analytic gradient uses {act.name}'(0) = {used:g} and a central "
                   f"difference sees {seen:g} (the mean of both slopes): the "
                   f"{int(affected.sum())} entries into these units agree with the limit of "
                   "the central differences at h, h/2, h/4 (their error falls like the step) "
                   "and pass")
    else:
        verdict = (f"the analytic gradient uses {act.name}'(0) = {used:g}, a central "
                   f"difference sees {seen:g}; {aside} of the {int(affected.sum())} entries "
                   "into these units mismatch")
    return [Finding(
        "zero-preactivation", "warning" if aside else "info",
        f"{len(pairs)} pre-activations are exactly 0: {listing(units, 4)}; {verdict}",
        fix=("accept the convention (entries set aside)"
             + (", --relu-grad-at-zero 0.5" if net.at_zero != 0.5 else "")  # the mean slope
             + ", or jitter the data or weights") if aside else "",
        data=(("count", len(pairs)), ("units", units[:50]), ("at_zero", net.at_zero),
              ("central_difference_sees", seen), ("set_aside", aside)))]


@diagnostic(
    "dead-units", "units that never fire: their weights' check is vacuous",
    "A relu unit whose pre-activation is <= 0 for every sample outputs 0 and passes no "
    "gradient: the weights into it and out of it have an analytic and a numerical gradient of "
    "exactly 0, so their check agrees without testing anything.",
    "Use more or other samples, another --seed, a smaller bias or a leaky-relu, so that every "
    "unit is active for some sample.")
def dead_finding(ctx: Context) -> list[Finding]:
    """Return the ``dead-units`` finding: hidden units with zero slope on every sample."""
    if not ctx.white_entries:
        return []
    net = ctx.net
    names: list[str] = []
    vacuous = 0
    a = ctx.analytic
    n = ctx.ng.numeric
    worst_layer = 0.0
    for layer in range(len(net.shapes) - 1):
        z = ctx.fw.z[layer]
        dead = np.flatnonzero((hidden_slope(net, ctx.fw, layer) == 0).all(axis=0))
        if dead.size == 0:
            continue
        worst_layer = max(worst_layer, dead.size / z.shape[1])
        names += [unit_name(net, layer, int(u)) for u in dead]
        r2, _ = net.shapes[layer + 1]
        idx = [net.unit_entries(layer, int(u)) for u in dead]                  # into the unit
        idx += [net.layer_start(layer + 1) + r2 * int(u) + np.arange(r2) for u in dead]  # out
        flat = np.concatenate(idx)
        vacuous += int(((a[flat] == 0) & (n[flat] == 0)).sum())
    if not names:
        return []
    hidden = sum(net.sizes[1:-1])
    return [Finding(
        "dead-units", "warning" if worst_layer == 1.0 else "info",
        f"{len(names)} of {hidden} hidden units never fire ({listing(names, 6)}); "
        f"{vacuous} weights into and out of them have analytic and numerical gradient 0, "
        "so their check is vacuous",
        fix="more or other samples, another --seed, or leaky-relu",
        data=(("dead", len(names)), ("hidden_units", hidden), ("units", names[:100]),
              ("vacuous_entries", vacuous)))]

