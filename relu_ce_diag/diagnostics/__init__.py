"""Diagnostics: say why a gradient check fails, where, what to change, and how much each cause
explains. ``diagnose`` runs every check of the registry on a checked cell."""

from __future__ import annotations

from collections.abc import Callable

from relu_ce_diag.diagnostics.attribution import attribute, render
from relu_ce_diag.diagnostics.context import DiagContext
from relu_ce_diag.diagnostics.kinks import dead_finding, straddle_finding, zero_finding
from relu_ce_diag.diagnostics.pairing import pairing_findings
from relu_ce_diag.diagnostics.precision import precision_finding, step_finding
from relu_ce_diag.diagnostics.registry import DIAGNOSTICS, Diagnostic, check_ids, get
from relu_ce_diag.diagnostics.saturation import clamp_finding, float_finding, nonfinite_finding
from relu_ce_diag.results import Finding

CHECKS: tuple[Callable[[DiagContext], list[Finding]], ...] = (
    nonfinite_finding, pairing_findings, clamp_finding, float_finding, straddle_finding,
    zero_finding, dead_finding, precision_finding, step_finding)


def attribution_finding(ctx: DiagContext) -> list[Finding]:
    """Return the ``attribution`` finding of a failing or kinked cell."""
    if ctx.status not in ("fail", "kink"):
        return []
    att = attribute(ctx)
    if att.finite == 0 or not att.parts:
        return []
    P = ctx.analytic.size
    return [Finding(
        "attribution", "info", render(att, P),
        fix=f"start with {att.parts[0].id} (relu-diag explain {att.parts[0].id})",
        data=(("parts", [{"id": p.id, "label": p.label, "share": p.share,
                          "mismatched_without": p.remaining, "count": p.count}
                         for p in att.parts]),
              ("mismatched", att.mismatched), ("finite_entries", att.finite)))]


def diagnose(ctx: DiagContext, ignore: tuple[str, ...] = ()) -> tuple[Finding, ...]:
    """Run every diagnostic on a checked cell; drop the ids in ``ignore``."""
    found: list[Finding] = []
    for check in (*CHECKS, attribution_finding):
        found += check(ctx)
    return tuple(f for f in found if f.id not in ignore)


__all__ = ["DIAGNOSTICS", "DiagContext", "Diagnostic", "check_ids", "diagnose", "get"]
