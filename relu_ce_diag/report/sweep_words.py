"""The words and colours of a step-size sweep: one palette and one set of kind words for the
terminal chart, the table, the figure and the JSON text."""

from __future__ import annotations

import math
from collections.abc import Sequence

from relu_ce_diag.results.sweep import FLAT_DECADES, NEAR, Sweep

# region -> (Rich style, matplotlib colour): the same meaning in the terminal and the figure
PALETTE = {"truncation": ("blue", "tab:blue"), "round-off": ("magenta", "tab:purple"),
           "best": ("bold green", "tab:green"), "near-best": ("green", "tab:green"),
           "kink": ("yellow", "tab:orange"), "clamp": ("yellow", "tab:orange"),
           "derivation": ("red", "tab:red"), "non-finite": ("bold red", "black")}
KIND_STYLE = {"v": "bold green", "kink-plateau": "bold yellow", "derivation-error": "bold red",
              "non-finite": "bold red", "inconclusive": "bold red"}
KIND_WORDS = {"v": "a V: truncation meets round-off",
              "kink-plateau": "kink plateau at every step",
              "derivation-error": "derivation error: flat at every step",
              "non-finite": "non-finite at every step",
              "inconclusive": "inconclusive: too few decades swept"}


def shape_words(s: Sweep) -> str:
    """Name the shape of the curve in a few words."""
    if s.verdict.kind != "v":
        return KIND_WORDS.get(s.verdict.kind, s.verdict.kind)
    trunc, roundoff = s.fit("truncation"), s.fit("round-off")
    if trunc and roundoff:
        return KIND_WORDS["v"]
    if trunc:
        return "truncation down to a floor (round-off below the swept range)"
    return "no truncation error in range: round-off only" if roundoff else "flat and small"


def _range(hs: Sequence[float]) -> str:
    lo, hi = min(hs), max(hs)
    return f"h = {lo:.2g}" if lo == hi else f"h = {lo:.2g} to {hi:.2g}"


def verdict_lines(s: Sweep) -> tuple[str, ...]:
    """Say what the sweep's verdict means, from the labelled points and the fits."""
    kind = s.verdict.kind
    if kind == "non-finite":
        return ("non-finite: the loss or the gradients are NaN or infinite at every step, so "
                "no step can be judged; run `relu-diag check` for the cause (log(0) with "
                "--eps 0?).",)
    best = s.points[s.verdict.best_index]
    if kind == "inconclusive":
        return (f"inconclusive: the lowest norm-wise error is {best.clean:.2g} (at h = "
                f"{best.step:.2g}), too large for a finite-difference error, but the steps span "
                f"less than {FLAT_DECADES:g} decades, so a wrong gradient (flat error) cannot be "
                "told from a badly chosen step; sweep a wider range, e.g. --steps "
                "1e-1:1e-12:23.",)
    if kind == "derivation-error":
        return _derivation(s)
    return (*_plateau(s), *_regions(s), *_best(s))


def _derivation(s: Sweep) -> tuple[str, ...]:
    """A flat curve: the gradient is wrong, whatever the step."""
    flat = [p for p in s.points if p.region == "derivation"]
    lo, hi = f"{min(p.clean for p in flat):.2g}", f"{max(p.clean for p in flat):.2g}"
    lines = [f"derivation error: the norm-wise error stays "
             f"{'at ' + lo if lo == hi else f'between {lo} and {hi}'} over "
             f"{_range([p.step for p in flat])} instead of falling with h: the analytic "
             "gradient is wrong, not the step, and no step will make the check pass. Run "
             "`relu-diag check` with these options to see which formula is wrong."]
    if s.black_box:
        lines.append("(a black box shows no kinks: a kink exactly at W also gives a flat "
                     "error; `relu-diag check --fn` tells them apart by one-sided "
                     "differences.)")
    return tuple(lines)


def _plateau(s: Sweep) -> tuple[str, ...]:
    """Where set-aside entries (kinks, the clamp) hold the error up, if anywhere."""
    pts, best = s.points, s.points[s.verdict.best_index]
    kink_pts = [p for p in pts if p.region in ("kink", "clamp")]
    if s.verdict.kind == "kink-plateau":
        what = "straddle a kink" if best.straddled else "cross the clamp"
        why = ("their one-sided derivatives at W differ and the analytic value lies between "
               "them: W sits exactly on a kink" if s.black_box else
               "a pre-activation exactly on the kink has a margin of 0")
        return (f"kink plateau at every step: at least {best.flagged} entries {what} at every "
                f"step ({why}, so no step avoids it); the norm-wise error stays near "
                f"{best.normwise:.2g}. `check` sets these entries aside (status kink); the "
                "rest is judged below.",)
    if not kink_pts:
        return ()
    kf = s.fit("kink")
    slope = f" (error ~ h^{kf.slope:.2f} instead of h^2)" if kf else ""
    if any(not math.isfinite(p.normwise) for p in kink_pts):
        slope = " (not finite where the stencil reaches log(0))"
    below = [p.step for p in pts if p.step < min(q.step for q in kink_pts) and p.flagged == 0]
    end = (f"; below the smallest margin (h <= {max(below):.2g}) no entry is set aside and "
           "the error falls again" if below else "")
    kink = any(p.straddled for p in kink_pts)
    clamp = any(p.clamp_crossed for p in kink_pts)
    what = " or ".join(w for w, on in (("straddles a kink", kink),
                                       ("crosses the clamp", clamp)) if on)
    return (f"{'kink' if kink else 'clamp'} plateau for {_range([p.step for p in kink_pts])}: "
            f"entries whose stencil {what} carry the error{slope}{end}.",)


def _aside(s: Sweep) -> str:
    best = s.points[s.verdict.best_index]
    return " with the set-aside entries excluded" if best.flagged else ""


def _regions(s: Sweep) -> tuple[str, ...]:
    """The truncation and round-off regions and their fitted slopes."""
    lines = []
    for region, law in (("truncation", "h^2"), ("round-off", "1/h")):
        f = s.fit(region)
        hs = [p.step for p in s.points if p.region == region]
        if f is not None:
            lines.append(f"{region} region ({_range([f.h_low, f.h_high])}): error ~ "
                         f"h^{f.slope:.2f} (expected {law}){_aside(s)}.")
        elif hs:
            lines.append(f"{region} region ({_range(hs)}): too few steps to fit a slope.")
        else:
            lines.append(f"no {region} region in the swept range.")
    return tuple(lines)


KEEP = 2.0  # the check's own step is kept when its error is within this factor of the best


def _best(s: Sweep) -> tuple[str, ...]:
    """The best step, how the check's own step compares, and the recommendation."""
    pts, best = s.points, s.points[s.verdict.best_index]
    near = [p.step for p in pts if p.flagged == best.flagged and p.clean <= NEAR * best.clean]
    lines = [f"best step h = {best.step:.2g}: norm-wise error {best.clean:.2g}{_aside(s)}; "
             f"steps {_range(near)} are within {NEAR:g}x of it."]
    if best.clean > s.eps_machine ** (1 / 3):
        lines.append(f"even the best step leaves an error of {best.clean:.2g}; expect "
                     "`check` to flag entries.")
    keep = None
    if s.check_step is not None:
        mine = next((p for p in pts if math.isclose(p.step, s.check_step, rel_tol=1e-9)),
                    None)
        if mine is not None and mine is not best:
            ratio = mine.clean / best.clean if best.clean > 0 else float("inf")
            if mine.flagged == best.flagged and ratio <= KEEP:
                keep = mine
            how = (f"{ratio:.2g}x the best" if ratio >= 1 else
                   "as low as the best (the best is the largest step near the lowest error, "
                   "for a margin from kinks)")
            lines.append(f"the check's step h = {mine.step:.2g} gives {mine.clean:.2g}, "
                         f"{how} ({mine.region}).")
    lines.append(f"recommended: --step {keep.step:.2g} (the check's own: as good as the best)"
                 if keep is not None else f"recommended: --step {best.step:.2g}")
    return tuple(lines)
