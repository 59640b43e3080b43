"""Diagnostics: say why a gradient check fails, where, what to change, and how much each cause
explains. Each family module registers its diagnostics (text and rule together); ``diagnose``
runs them on a checked cell, in the order of ``FAMILIES``."""

from __future__ import annotations

from relu_ce_diag.check.checked import Checked
from relu_ce_diag.diagnostics import (
    attribution,
    description,
    function,
    kinks,
    localise,
    nonfinite,
    pairing,
    precision,
    saturation,
)
from relu_ce_diag.diagnostics.advice import reconcile
from relu_ce_diag.diagnostics.context import Context
from relu_ce_diag.diagnostics.registry import (
    DIAGNOSTICS,
    Diagnostic,
    Finding,
    check_ids,
    get,
    order_families,
    run_rules,
)

# The order findings are reported in: what the user's description says first, then what
# makes the check meaningless (non-finite values), then the causes, then the bookkeeping.
FAMILIES = tuple(m.__name__ for m in (description, nonfinite, pairing, saturation, kinks,
                                      precision, attribution, localise, function))
order_families(FAMILIES)


def diagnose(checked: Checked, ignore: tuple[str, ...] = ()) -> tuple[Finding, ...]:
    """Run every diagnostic's rule on a checked cell (the ids in ``ignore`` are not run) and
    make their fixes agree (``advice.reconcile``)."""
    ctx = Context(checked)
    return reconcile(ctx, run_rules(ctx, ignore))


__all__ = ["DIAGNOSTICS", "Diagnostic", "Finding", "check_ids", "diagnose", "get"]
