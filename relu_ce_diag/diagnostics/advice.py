"""One line of advice per report: the findings' fixes agree with each other.

After the rules have run, a finding whose cause explains none of a failing cell's error is
information, not a warning, and has nothing to fix; and where fixes name the same option with
different values (``--step 2e-03`` and ``--step 2e-02``), only the value of the finding that
explains the most is kept. ``flags`` reads the options a fix names: the tests follow each one
and check that the next report asks for no other value.
"""

from __future__ import annotations

import re
from dataclasses import replace

from relu_ce_diag.diagnostics.attribution import attribute
from relu_ce_diag.diagnostics.context import Context
from relu_ce_diag.diagnostics.registry import Finding

# causes that can be beside the point: a clamp, a kink, saturation or the step that explains
# none of the error is worth knowing but is not what to change
SIDE_CAUSES = ("clamp-saturation", "kink-straddle", "float-saturation", "step-size")
ABOUT = {"zero-preactivation": "kink-straddle"}  # findings about the same cause
NONE = 0.005  # a share below this explains nothing (shown as 0%)
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)(?:[ =]([^\s,;()]+))?")


def flags(fix: str) -> dict[str, str]:
    """Return the options a fix names with their values ('' for a bare flag), e.g.
    ``{"--step": "2e-03"}`` for ``--step 2e-03, or another --seed`` (``--seed`` without a
    value is advice to vary it, not a value to use: it is left out)."""
    found: dict[str, str] = {}
    for opt, value in FLAG.findall(fix):
        if value and not value.startswith("-") or opt in ("--strict", "--force"):
            found.setdefault(opt, value)
    return found


def reconcile(ctx: Context, findings: tuple[Finding, ...]) -> tuple[Finding, ...]:
    """Return the findings with side causes that explain nothing made info without a fix,
    and with one value per option across all fixes."""
    order = [f.id for f in findings]
    if ctx.white_entries and ctx.status in ("fail", "kink", "error"):
        att = ctx.once(attribute)
        if att.finite and att.parts:
            nothing = {p.id for p in att.parts if abs(p.share) < NONE}
            findings = tuple(replace(f, severity="info", fix="")
                             if ABOUT.get(f.id, f.id) in nothing
                             and ABOUT.get(f.id, f.id) in SIDE_CAUSES else f
                             for f in findings)
            order = [p.id for p in att.parts] + order  # the largest share first
    rank = {fid: k for k, fid in reversed(list(enumerate(order)))}
    chosen: dict[str, str] = {}
    for f in sorted(findings, key=lambda f: rank[f.id]):
        for opt, value in flags(f.fix).items():
            chosen.setdefault(opt, value)
    return tuple(f if all(chosen[o] == v for o, v in flags(f.fix).items())
                 else replace(f, fix="") for f in findings)
