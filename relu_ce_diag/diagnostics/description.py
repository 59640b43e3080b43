"""A described user function: does the description compute its loss, and which formula is df?

With ``--act/--out/--loss/--eps/--hidden`` (and ``--layout``, ``--reduction``, ``--l2``) the
user says which network their function computes; relu-diag fits the reduction and the L2
form to the function's loss, rebuilds its exact gradient and the known wrong formulas
(``catalogue``) in the user's layout, and names the one df equals. A description that does
not reproduce the loss is said so and not used for naming bugs; a known bug is named only
for a failing check.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from relu_ce_diag.diagnostics.catalogue import candidates, closest, layer_entries
from relu_ce_diag.diagnostics.context import Context
from relu_ce_diag.diagnostics.fixes import Coder
from relu_ce_diag.diagnostics.registry import Finding, diagnostic, text
from relu_ce_diag.model.described import L2_FORMS, loss_of

MATCH_TOL = {"float64": 1e-6, "float32": 1e-3}


def _to(distance: float) -> str:
    """Say how closely two gradients agree: ``exactly`` or ``to 3e-16``."""
    return "exactly" if distance == 0 else f"to {distance:.0e}"


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
    """Return ``known-bug`` (a failing check whose df equals a catalogued formula),
    ``matches-exact`` or ``no-known-bug``."""
    b = ctx.black
    if b is None or b.fitted is None or not ctx.entries:
        return []
    d = b.fitted
    m = closest(ctx.df, candidates(d, ctx.W, b.language), MATCH_TOL[b.precision])
    correct = Coder(d, b.language).output_delta()
    data = (("match", m.candidate.name), ("distance", m.distance),
            ("exact_distance", m.exact_distance), ("correct_delta", correct))
    if m.matched and not m.candidate.bugs:
        return [Finding("matches-exact", "info",
                        f"your df equals the exact gradient of the described network "
                        f"{_to(m.distance)}", "", data)]
    if ctx.status != "fail":  # a passing gradient is never called a bug
        return []
    if m.matched:
        what = "; and ".join(bug.what for bug in m.candidate.bugs)
        fix = "; and ".join(bug.fix for bug in m.candidate.bugs)
        code = "; ".join(dict.fromkeys(bug.code for bug in m.candidate.bugs if bug.code))
        return [Finding("known-bug", "error",
                        f"your df equals {what} {_to(m.distance)} (relative distance from the "
                        f"exact gradient: {m.exact_distance:.2g})", fix,
                        (*data, ("code", code)))]
    if np.isfinite(m.distance):
        return [Finding("no-known-bug", "info",
                        f"your df matches no catalogued formula: the closest is "
                        f"{m.candidate.name} at relative distance {m.distance:.2g} (the exact "
                        f"gradient is {m.exact_distance:.2g} away)", _no_bug_fix(ctx, correct),
                        data)]
    return []


def _no_bug_fix(ctx: Context, correct: str) -> str:
    """Where to look when no catalogued formula fits: the output delta, unless every entry of
    the output layer agrees (then the layers below it, with their correct formulas)."""
    b = ctx.black
    assert b is not None and b.fitted is not None
    d = b.fitted
    out = layer_entries(d, d.net.last)
    if d.net.last == 0 or ctx.judged.mismatched[out].any():
        return f"for a {d.net.out} output with {d.net.loss} the correct output delta is {correct}"
    code = Coder(d, b.language)
    return (f"the output layer is right, and so is its delta ({correct}); compare the layers "
            f"below it with the correct formulas: {code.hidden_deltas()}; "
            f"{code.all_weight_grads()}")


@diagnostic(
    "description-mismatch", "the described network does not compute the function's loss",
    "The loss of the network given by --act/--out/--loss/--eps/--hidden at W differs from the "
    "f the function returns, so entry names and the catalogue may not apply.",
    "Describe the network as the function computes it, or drop the description.",
    also=("description",))
def mismatch_finding(ctx: Context) -> list[Finding]:
    """Return ``description`` (how the network was read) when the description reproduces the
    function's loss, else ``description-mismatch`` with the ratio of the two losses."""
    b = ctx.black
    if b is None or b.described is None:
        return []
    d, fitted = b.described, b.fitted
    if fitted is not None:
        notes = []
        if fitted.reduction != d.reduction:
            notes.append("the reduction")
        if fitted.l2 and fitted.l2_form != d.l2_form:
            notes.append(f"the L2 term {fitted.l2_form}")
        fitted_words = f" (fitted to your loss: {' and '.join(notes)})" if notes else ""
        return [Finding("description", "info", f"read as: {fitted.words()}{fitted_words}",
                        "", (("layout", fitted.layout), ("reduction", fitted.reduction),
                             ("l2", fitted.l2), ("l2_form", fitted.l2_form)))]
    described = loss_of(d, ctx.W)
    ratio = ctx.f / described if described else float("inf")
    extra = ctx.f - d.data_scale * loss_of(replace(d, l2=0.0), ctx.W) / d.data_scale
    hint = (f"; the function's loss exceeds the network's by {extra:.6g}: an L2 term? (--l2 "
            f"LAMBDA, forms {', '.join(L2_FORMS)})" if not d.l2 and extra > 0 else
            f"; the function's loss is {ratio:.6g} x the described one")
    return [Finding("description-mismatch", "warning",
                    f"the described network ({d.words()}) gives loss {described:.10g} at W but "
                    f"the function returns {ctx.f:.10g}{hint}",
                    "describe the network as the function computes it (--act, --out, --loss, "
                    "--eps, --hidden, --layout, --reduction, --l2), or drop the description; "
                    "the known-bug catalogue is not used while it does not fit")]


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
text(
    "description", "how relu-diag read the described network",
    "The layout of the parameters (seed, cs231n, columns or theta: detected from the names "
    "and shapes, or --layout), the sizes, the activations and loss, the reduction over the "
    "samples (sum, mean, or mean-all: the mean over every output element as np.mean takes "
    "it) and the L2 term, as fitted to the loss the function returns.",
    "Nothing to fix; pass --layout, --reduction or --l2 to say otherwise.",
    fired_by="description-mismatch")
