"""The diagnostics registry: one place lists every diagnostic's id, title, text and fix.

Its text is what ``relu-diag explain ID`` and ``check --explain`` print and what the README
shows; the checks that fire a diagnostic live in the sibling modules and refer to it by id.
"""

from __future__ import annotations

from dataclasses import dataclass

from relu_ce_diag.errors import unknown_name


@dataclass(frozen=True)
class Diagnostic:
    """One diagnostic: stable ``id``, a short ``title``, the long ``explanation`` and ``fix``."""

    id: str
    title: str
    explanation: str
    fix: str


DIAGNOSTICS: dict[str, Diagnostic] = {d.id: d for d in (
    Diagnostic(
        "pairing", "the shortcut output delta is not the gradient of this output + loss",
        "The shortcut delta d = y - Y (and, for squared error, (y - Y) .* act'(z)) is the "
        "true dL/dz of the output layer only for canonical pairs: sigmoid + ce, softmax + cce "
        "when every target row sums to 1, and any elementwise output + se (y - Y alone only for "
        "identity + se). For any other pair it is a different formula, so the analytic "
        "gradient is wrong everywhere the output delta flows, however the numerical gradient "
        "is taken.",
        "Use the delta printed for the pair (the chain rule dL/dy .* act'(z), the softmax "
        "Jacobian for softmax), or change the output to the loss's canonical activation "
        "(--out sigmoid for ce, --out softmax for cce, --out identity for se)."),
    Diagnostic(
        "output-range", "the output activation's range does not fit the loss's domain",
        "Cross-entropies take logarithms of y (and of 1 - y for ce), so they need outputs in "
        "(0, 1). relu, softplus and identity outputs exceed 1, so log(1 - y) hits the "
        "max(., eps) clamp and the loss is flat there; tanh, leaky-relu and identity outputs "
        "go negative, so log(y) is clamped. softmax + ce treats coupled outputs as independent "
        "probabilities, and cce on a non-softmax output ignores the outputs whose target is 0.",
        "Pair the loss with an output of the right range: sigmoid + ce (multi-label), "
        "softmax + cce (one class per sample); keep relu/tanh for hidden layers; or use se."),
    Diagnostic(
        "kink-straddle", "the finite-difference step moves a pre-activation across a kink",
        "A central difference (f(W + h) - f(W - h)) / 2h of a piecewise-linear unit averages "
        "the slopes on both sides when the step carries a pre-activation z across the kink at "
        "0: for relu it sees a blend of 0 and 1, while the analytic gradient uses one side. "
        "The entries affected are named with the units and samples, the smallest margin |z| "
        "and the step's effect on z; relu-diag sets mismatching straddled entries aside "
        "(status kink) and shows the errors with and without them.",
        "Nothing is wrong with the backprop if only these entries differ. To check them too, "
        "use a step below the one printed (the margin divided by the effect per unit step), "
        "or move the point (another --seed or data); --strict makes kinks fail."),
    Diagnostic(
        "zero-preactivation", "a pre-activation sits exactly on a kink (relu'(0) decides)",
        "When z is exactly 0 the derivative of relu is a convention: the seed's z > 0 uses 0, "
        "--relu-grad-at-zero can use another value, and any central difference sees the "
        "average of both sides, 0.5 (for leaky-relu, (1 + slope) / 2). Exact zeros happen with "
        "integer or quantised data, zero-initialised weights and biases, or dead inputs; the "
        "entries through such a unit can never agree with a central difference.",
        "Accept it as a convention (the entries are set aside, status kink), or use "
        "--relu-grad-at-zero 0.5 to match the central difference, or add a small jitter to "
        "the data or the initial weights."),
    Diagnostic(
        "clamp-saturation", "outputs sit inside the log(max(., eps)) clamp",
        "With log(max(y, eps)) the loss as computed is flat wherever y <= eps (or 1 - y <= eps "
        "for ce), so its true gradient there is 0, while a hand-written delta such as y - Y is "
        "not. Also a step that carries an output across eps mixes two slopes. The attribution "
        "says how much of the mismatch the clamped outputs explain, by recomputing the exact "
        "gradient without the clamp.",
        "Keep outputs away from the clamp: the canonical output for the loss (sigmoid + ce, "
        "softmax + cce), smaller initial weights, or the exact chain rule (--backprop exact), "
        "which includes the clamp."),
    Diagnostic(
        "float-saturation", "activations round to (or too near) their bound of 0 or 1",
        "sigmoid(z) rounds to exactly 1 for z > 37 in float64 (z > 17 in float32), and a "
        "softmax or tanh output can round to its bound as well. Then 1 - y is 0, log(1 - y) "
        "is clamped (or -inf without a clamp), and y (1 - y) is 0, so the loss is flat and "
        "gradients vanish. Short of that, floats next to 1 are spaced eps_machine apart, so "
        "when 1 - y is below about eps_machine / (1e-3 h) the step's effect on the unit is lost "
        "in rounding and the central difference is wrong, in hidden layers as well. The units "
        "are named with the number of samples, and the share of the error on the weights into "
        "them is given.",
        "Scale the weights or inputs down (large pre-activations), or compute the loss from "
        "the logits (log-sigmoid / log-softmax) instead of from y."),
    Diagnostic(
        "non-finite", "the loss or the gradients are -inf or NaN",
        "Without a clamp (--eps 0) log(0) is -inf and 0 * log(0) is NaN; an output above 1 "
        "gives log(1 - y) of a negative number, NaN. One non-finite term makes the loss and "
        "every central difference through it NaN, so nothing can be compared. The finding "
        "names the outputs (sample, unit, value, target) that produced it.",
        "Keep the clamp (the default eps 2.2e-16) and an output in (0, 1) for the "
        "cross-entropies: sigmoid for ce, softmax for cce."),
    Diagnostic(
        "dead-units", "units that never fire: their weights' check is vacuous",
        "A relu unit whose pre-activation is <= 0 for every sample outputs 0 and passes no "
        "gradient: the weights into it and out of it have an analytic and a numerical "
        "gradient of exactly 0, so their check agrees without testing anything.",
        "Use more or other samples, another --seed, a smaller bias or a leaky-relu, so that "
        "every unit is active for some sample."),
    Diagnostic(
        "precision", "a float32 check, re-run in float64 side by side",
        "In float32 the round-off of a central difference is about 1e-7 * |f| / h, so the "
        "comparison can resolve only large errors and saturates sooner. relu-diag re-runs the "
        "same cell in float64 and shows both verdicts: a mismatch that disappears in float64 "
        "is precision, one that stays is a real error.",
        "Check gradients in float64 (--dtype float64) and train in float32 afterwards."),
    Diagnostic(
        "step-size", "the comparison is dominated by round-off or truncation",
        "The tolerance of each entry is its round-off (eps_machine * scale / h) plus its "
        "truncation (from a second step h/2). When these are large against the gradient the "
        "check cannot resolve errors below that level: a step too small is round-off "
        "dominated, a step too large truncation dominated. The step that balances both is "
        "printed.",
        "Use the suggested --step (about eps_machine^(1/3) times the scale of W: 6e-6 in "
        "float64, 5e-3 in float32)."),
    Diagnostic(
        "attribution", "how much of the mismatch each cause explains",
        "For a failing or kinked cell the discrepancy analytic - numeric is split exactly into "
        "parts: the wrong output delta (analytic minus the exact chain rule of the unclamped "
        "loss), the clamp (unclamped minus clamped exact gradient, plus steps that cross the "
        "clamp), the kink-straddling entries, the entries into units that round to (or too "
        "near) 1, and the remaining finite-difference error. Each "
        "part's share is its projection on the total error (the shares add up to 100%), and "
        "the number of entries that would still mismatch without it is given.",
        "Fix the cause with the largest share first; see relu-diag explain ID for each."),
    # Findings about a user's own function (check --fn); texts in relu_ce_diag/catalogue.py.
    Diagnostic(
        "known-bug", "your df equals a known wrong formula",
        "With the network described (--act, --out, --loss, --eps, --hidden), relu-diag "
        "rebuilds the exact gradient and a catalogue of classic mistakes (the shortcut delta "
        "y - Y on a non-canonical pair, a missing output derivative, softmax differentiated "
        "element-wise, a wrong leaky slope, relu' on a shifted threshold, row-major "
        "flattening, a dropped bias gradient, a factor of 2, a mean instead of a sum, and "
        "pairs of these) and names the one your df equals, with the relative distance.",
        "Apply the fix printed with the finding; it spells out the correct formula."),
    Diagnostic(
        "matches-exact", "your df equals the exact gradient of the described network",
        "The user's df agrees with relu-diag's own exact chain rule for the described "
        "network to the printed relative distance.",
        "Nothing to fix."),
    Diagnostic(
        "no-known-bug", "the check failed and no catalogued formula matches",
        "The user's df differs from the exact gradient of the described network and from "
        "every catalogued mistake; the closest one and its distance are printed as a hint.",
        "Compare your deltas with the correct output delta printed, layer by layer."),
    Diagnostic(
        "description-mismatch", "the described network does not compute the function's loss",
        "The loss of the network given by --act/--out/--loss/--eps/--hidden at W differs from "
        "the f the function returns, so entry names and the catalogue may not apply.",
        "Describe the network as the function computes it, or drop the description."),
    Diagnostic(
        "flat-loss", "the loss does not move along an entry, but df is not 0 there",
        "f(W + h) = f(W) = f(W - h) exactly, so the loss as computed is flat along the entry "
        "and its gradient is 0, while the analytic value is not. This is never excused as a "
        "kink: a clamp such as log(max(y, eps)) or a saturated unit (a relu output at 0, a "
        "sigmoid rounding to 0 or 1) is the usual cause.",
        "Differentiate the loss as computed (0 where the clamp or the saturation is active), "
        "or keep outputs out of the clamp (the canonical output for the loss)."),
    Diagnostic(
        "fn-kink", "entries differ only at a kink of the function (a valid subgradient)",
        "For a black-box function the kink is detected from one-sided differences at h/2: an "
        "entry is set aside only when the left and right derivatives differ and the analytic "
        "value lies between them (within their round-off and truncation).",
        "Nothing is wrong if only these differ; a smaller --step or another W moves off the "
        "kink; --strict makes kinks fail."),
    Diagnostic(
        "fn-precision", "the precision the function computes in, and the step chosen for it",
        "A function that returns float32 values, values that are all exactly float32, or a "
        "loss that moves only in steps of ~1e-7 relative is judged with float32's round-off "
        "(eps 1.2e-7) and step 1e-2; otherwise with float64's (eps 2.2e-16) and step 1e-6, "
        "plus the jitter of f measured near W (e.g. 1 - y rounding at a saturated output).",
        "Pass --dtype to force a precision and --step to choose another step."),
    Diagnostic(
        "directions", "random directions were checked, not every entry",
        "With --directions K the check compares df . v with (f(W + h v) - f(W - h v)) / 2h "
        "along K seeded unit directions: 2K evaluations instead of 2P. A pass means df is "
        "right along each direction; a wrong entry is caught with high probability but is "
        "not named.",
        "Run without --directions to check and name every entry."),
)}

SEVERITIES = ("error", "warning", "info")


def get(diag_id: str, key: str = "explain") -> Diagnostic:
    """Return the diagnostic ``diag_id``; an unknown id raises OptionError with a suggestion."""
    if diag_id not in DIAGNOSTICS:
        raise unknown_name(key, diag_id, DIAGNOSTICS)
    return DIAGNOSTICS[diag_id]


def check_ids(ids: tuple[str, ...], key: str = "--ignore") -> tuple[str, ...]:
    """Return ``ids`` if every one is a known diagnostic, else raise OptionError."""
    for i in ids:
        get(i, key)
    return ids


def as_markdown() -> str:
    """Return the registry as a markdown list, the form the README shows."""
    lines = []
    for d in DIAGNOSTICS.values():
        lines += [f"- **`{d.id}`**: {d.title}. {d.explanation}", f"  *Fix:* {d.fix}", ""]
    return "\n".join(lines)

