"""A described user function: does the description compute its loss, and which formula is df?

With ``--act/--out/--loss/--eps/--hidden`` the user says which seed-layout network their
function computes; relu-diag rebuilds its exact gradient and the known wrong formulas
(``catalogue``) and names the one df equals.
"""

from __future__ import annotations

import numpy as np

from relu_ce_diag.diagnostics.catalogue import candidates, closest
from relu_ce_diag.diagnostics.context import Context
from relu_ce_diag.diagnostics.registry import Finding, diagnostic, text
from relu_ce_diag.model.network import delta_code, forward

MATCH_TOL = {"float64": 1e-6, "float32": 1e-3}


def _to(distance: float) -> str:
    """Say how closely two gradients agree: ``exactly`` or ``to 3e-16``."""
    return "exactly" if distance == 0 else f"to {distance:.0e}"


@diagnostic(
    "description-mismatch", "the described network does not compute the function's loss",
    "The loss of the network given by --act/--out/--loss/--eps/--hidden at W differs from the "
    "f the function returns, so entry names and the catalogue may not apply.",
    "Describe the network as the function computes it, or drop the description.")
def mismatch_finding(ctx: Context) -> list[Finding]:
    """Return ``description-mismatch`` when the described network's loss is not the f the
    function returns."""
    b = ctx.black
    if b is None or b.net is None:
        return []
    net = b.net
    fw = forward(net, ctx.W.astype(np.float64), ctx.X.astype(np.float64),
                 ctx.Y.astype(np.float64))
    loose = b.precision == "float32"
    if np.isclose(fw.f, ctx.f, rtol=1e-4 if loose else 1e-9, atol=0):
        return []
    return [Finding("description-mismatch", "warning",
                    f"the described network ({net.act}/{net.out}/{net.loss}) gives loss "
                    f"{fw.f:.10g} at W but the function returns {ctx.f:.10g}",
                    "describe the network as the function computes it (--act, --out, "
                    "--loss, --eps, --hidden), or drop the description; the names and the "
                    "catalogue below assume it")]


@diagnostic(
    "known-bug", "your df equals a known wrong formula",
    "With the network described (--act, --out, --loss, --eps, --hidden), relu-diag rebuilds "
    "the exact gradient and a catalogue of classic mistakes (the shortcut delta y - Y on a "
    "non-canonical pair, a missing output derivative, softmax differentiated element-wise, a "
    "wrong leaky slope, relu' on a shifted threshold, row-major flattening, a dropped bias "
    "gradient, a factor of 2, a mean instead of a sum, and pairs of these) and names the one "
    "your df equals, with the relative distance.",
    "Apply the fix printed with the finding; it spells out the correct formula.",
    also=("matches-exact", "no-known-bug"))
def catalogue_finding(ctx: Context) -> list[Finding]:
    """Return ``known-bug``, ``matches-exact`` or ``no-known-bug``: which catalogued formula
    the user's df equals."""
    b = ctx.black
    if b is None or b.net is None:
        return []
    net = b.net
    X, Y = ctx.X.astype(np.float64), ctx.Y.astype(np.float64)
    cands = candidates(net, ctx.W.astype(np.float64), X, Y)
    m = closest(ctx.df, cands, MATCH_TOL[b.precision])
    correct = delta_code(net, "numpy")
    data = (("match", m.candidate.name), ("distance", m.distance),
            ("exact_distance", m.exact_distance), ("correct_delta", correct))
    if m.matched and not m.candidate.bugs:
        return [Finding("matches-exact", "info",
                        f"your df equals the exact gradient of the described network "
                        f"{_to(m.distance)}", "", data)]
    if m.matched:
        what = "; and ".join(bug.what for bug in m.candidate.bugs)
        fix = "; ".join(bug.fix for bug in m.candidate.bugs)
        return [Finding("known-bug", "error",
                        f"your df equals {what} {_to(m.distance)} (relative distance from the "
                        f"exact gradient: {m.exact_distance:.2g})", fix, data)]
    if ctx.status == "fail" and np.isfinite(m.distance):
        return [Finding("no-known-bug", "info",
                        f"your df matches no catalogued formula: the closest is "
                        f"{m.candidate.name} at relative distance {m.distance:.2g} (the exact "
                        f"gradient is {m.exact_distance:.2g} away)",
                        f"for a {net.out} output with {net.loss} the correct delta is "
                        f"{correct}", data)]
    return []


text(
    "matches-exact", "your df equals the exact gradient of the described network",
    "The user's df agrees with relu-diag's own exact chain rule for the described network to "
    "the printed relative distance.",
    "Nothing to fix.", fired_by="known-bug")
text(
    "no-known-bug", "the check failed and no catalogued formula matches",
    "The user's df differs from the exact gradient of the described network and from every "
    "catalogued mistake; the closest one and its distance are printed as a hint.",
    "Compare your deltas with the correct output delta printed, layer by layer.",
    fired_by="known-bug")
