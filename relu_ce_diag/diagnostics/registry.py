"""The diagnostics registry: every diagnostic is one record, its text beside its rule.

A family module declares each diagnostic with ``@diagnostic(id, title, explanation, fix)`` on
the function that fires it (``rule(checked) -> list[Finding]``); a rule that can fire
several ids names the others in ``also``, each declared with ``text(...)``. ``explain``,
``--ignore``, the generated docs page and ``diagnose`` all read this registry, in the order
the families register (which is the order findings are reported in).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from relu_ce_diag.errors import unknown_name

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    """A diagnostic that fired for a cell: stable id, severity, one-line finding with numbers,
    the fix, and the numbers as data (for JSON)."""

    id: str
    severity: str
    message: str
    fix: str = ""
    data: tuple[tuple[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "severity": self.severity, "message": self.message,
                "fix": self.fix, "data": dict(self.data)}


Rule = Callable[[Any], list[Finding]]  # rule(ctx: diagnostics.context.Context)


@dataclass(frozen=True)
class Diagnostic:
    """One diagnostic: stable ``id``, a short ``title``, the long ``explanation`` and ``fix``
    (what ``relu-diag explain ID`` prints), and the ``rule`` that fires it with the ``ids``
    that rule may fire (None: fired by the rule of ``fired_by``)."""

    id: str
    title: str
    explanation: str
    fix: str
    rule: Rule | None = field(default=None, compare=False)
    ids: tuple[str, ...] = ()
    fired_by: str = ""
    family: str = ""


DIAGNOSTICS: dict[str, Diagnostic] = {}


def _add(d: Diagnostic) -> None:
    if d.id in DIAGNOSTICS:
        raise ValueError(f"diagnostic {d.id!r} is registered twice")
    DIAGNOSTICS[d.id] = d


def diagnostic(diag_id: str, title: str, explanation: str, fix: str,
               also: tuple[str, ...] = ()) -> Callable[[Rule], Rule]:
    """Register the decorated rule as the one that fires ``diag_id`` (and the ids ``also``,
    each declared with ``text``)."""
    def register(rule: Rule) -> Rule:
        _add(Diagnostic(diag_id, title, explanation, fix, rule, (diag_id, *also),
                        family=rule.__module__))
        return rule
    return register


def text(diag_id: str, title: str, explanation: str, fix: str, fired_by: str) -> None:
    """Register the text of a diagnostic fired by the rule of ``fired_by``."""
    _add(Diagnostic(diag_id, title, explanation, fix, None, (), fired_by,
                    family=DIAGNOSTICS[fired_by].family))


def order_families(families: tuple[str, ...]) -> None:
    """Order the registry by family (module names, in report order), keeping the order of
    definition within a family."""
    rank = {name: k for k, name in enumerate(families)}
    unknown = {d.family for d in DIAGNOSTICS.values()} - set(rank)
    if unknown:
        raise ValueError(f"diagnostics of unlisted families: {sorted(unknown)}")
    ordered = sorted(DIAGNOSTICS.values(), key=lambda d: rank[d.family])  # stable
    DIAGNOSTICS.clear()
    DIAGNOSTICS.update((d.id, d) for d in ordered)


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


def run_rules(ctx: Any, ignore: tuple[str, ...] = ()) -> tuple[Finding, ...]:
    """Run every rule on a context, in registry order; a rule whose ids are all ignored is
    not run at all, and no ignored id is reported."""
    found: list[Finding] = []
    for d in DIAGNOSTICS.values():
        if d.rule is None or (ignore and all(i in ignore for i in d.ids)):
            continue
        fired = d.rule(ctx)
        if fired:
            found += [f for f in fired if f.id not in ignore] if ignore else fired
    return tuple(found)


def as_markdown() -> str:
    """Return the registry as a markdown list, the form the docs show."""
    lines = []
    for d in DIAGNOSTICS.values():
        lines += [f"- **`{d.id}`**: {d.title}. {d.explanation}", f"  *Fix:* {d.fix}", ""]
    return "\n".join(lines)
