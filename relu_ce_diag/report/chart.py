"""Rich rendering of a step-size sweep: a log-log chart in the terminal, a table, the verdict."""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table
from rich.text import Text

from relu_ce_diag.report.layout import hanging
from relu_ce_diag.report.sweep_words import KIND_STYLE, PALETTE, verdict_lines
from relu_ce_diag.results.sweep import Sweep

REGION_STYLE = {region: style for region, (style, _) in PALETTE.items()}
NORM, CLEAN, MAXREL, OFFSCALE = "●", "○", "·", "×"
GUTTER = 7  # "1e-05 ┤"


def _log(v: float) -> float | None:
    """Return log10(v) for a finite positive v, -inf for 0, None otherwise."""
    if not math.isfinite(v) or v < 0:
        return None
    return math.log10(v) if v > 0 else -math.inf


def sweep_chart(s: Sweep, width: int = 60, height: int = 15) -> Text:
    """Draw error against step on log-log axes: h grows to the right, one decade per tick.

    ● norm-wise error (coloured by region), ○ the same with set-aside entries excluded
    (only where some are), · per-entry maximum; × a value that is not finite.

    (One function: the grid of characters is built, filled and labelled in place.)
    """
    width, height = max(width, 12), max(height, 5)
    xs = [math.log10(p.step) for p in s.points]
    series = [(MAXREL, "dim", [p.max_rel for p in s.points], [True] * len(s.points)),
              (CLEAN, "cyan", [p.clean for p in s.points], [p.flagged > 0 for p in s.points]),
              (NORM, "", [p.normwise for p in s.points], [True] * len(s.points))]
    ys = [y for _, _, vals, show in series for v, on in zip(vals, show, strict=True) if on
          for y in [_log(v)] if y is not None and math.isfinite(y)]
    lo = math.floor(min(ys)) if ys else -1
    hi = math.ceil(max(ys)) if ys else 0
    hi = hi if hi > lo else lo + 1
    x0, x1 = min(xs), max(xs)

    def col(x: float) -> int:
        return width // 2 if x1 == x0 else round((x - x0) / (x1 - x0) * (width - 1))

    def row(y: float) -> int:
        y = min(max(y, lo), hi)
        return round((hi - y) / (hi - lo) * (height - 1))

    grid: list[list[tuple[str, str]]] = [[(" ", "")] * width for _ in range(height)]
    for mark, style, vals, show in series:
        for x, v, on, p in zip(xs, vals, show, s.points, strict=True):
            if not on:
                continue
            y = _log(v)
            st = REGION_STYLE.get(p.region, "") if mark == NORM else style
            if y is None:
                grid[0][col(x)] = (OFFSCALE, "bold red")
            else:
                grid[row(y)][col(x)] = (mark, st)

    every = max(1, math.ceil((hi - lo) / max(1, (height - 1) // 2)))
    labelled = {row(d): d for d in range(hi, lo - 1, -1) if (hi - d) % every == 0}
    out = Text()
    for r in range(height):
        d = labelled.get(r)
        out.append(f"{'1e' + format(d, '+03d') if d is not None else '':>5} "
                   f"{'┤' if d is not None else '│'}", style="dim")
        for ch, st in grid[r]:
            out.append(ch, style=st)
        out.append("\n")
    out.append(" " * (GUTTER - 1) + "└" + "─" * width + "\n", style="dim")
    ticks = [" "] * (width + GUTTER + 6)
    for d in range(math.ceil(x0), math.floor(x1) + 1):
        label, c = f"1e{d}", GUTTER + col(d)
        start = max(0, c - len(label) // 2)
        if all(ch == " " for ch in ticks[max(0, start - 1):start + len(label) + 1]):
            ticks[start:start + len(label)] = list(label)
    out.append("".join(ticks).rstrip() + "\n", style="dim")
    out.append(" " * GUTTER + "x: step h, y: relative error (both log10)\n", style="dim")
    aside = any(p.flagged for p in s.points)
    keys = [(f"{mark} {name}", style) for mark, name, style in (
        (NORM, "norm-wise", ""), (CLEAN, "set-aside excluded", "cyan"),
        (MAXREL, "max per-entry", "dim")) if mark != CLEAN or aside]
    keys += [(f"{NORM} {region}", rstyle) for region, rstyle in REGION_STYLE.items()
             if any(p.region == region for p in s.points)]
    used = width  # the legend, wrapped under the chart at the chart's indent
    for key, style in keys:
        if used + 2 + len(key) > width:
            out.append(("\n" if used < width else "") + " " * GUTTER)
            used = -2
        out.append("  " if used >= 0 else "")
        out.append(key, style=style)
        used += 2 + len(key)
    out.append("\n")
    return out


def _e(v: float) -> str:
    return f"{v:.2e}" if math.isfinite(v) else str(v)


def steps_table(s: Sweep, title: str | None = None) -> Table:
    """Build the per-step table: errors, straddle and clamp counts, region."""
    t = Table(title=title, header_style="bold", title_justify="left")
    for name in ("step h", "norm-wise", "set-aside excl.", "max per-entry", "straddle",
                 "clamp", "region"):
        t.add_column(name, justify="left" if name == "region" else "right",
                     no_wrap=name in ("step h", "region"))
    for p in s.points:
        t.add_row(f"{p.step:.2g}", _e(p.normwise), _e(p.clean), _e(p.max_rel),
                  "-" if p.straddled is None else str(p.straddled),
                  "-" if p.clamp_crossed is None else str(p.clamp_crossed),
                  Text(p.region, style=REGION_STYLE.get(p.region, "")))
    return t


def print_sweep(console: Console, s: Sweep, title: str, chart: bool = True,
                table: bool = True) -> None:
    """Print the sweep of one cell: table, chart and the verdict in words."""
    if table:
        console.print(steps_table(s, title=f"step sweep: {title}"))
    if chart:
        console.print(sweep_chart(s, width=max(24, min(72, console.width - GUTTER - 4))))
    console.print(Text(f"{title}: {s.verdict.kind}", style=KIND_STYLE.get(s.verdict.kind, "")))
    console.print(hanging([("-", line) for line in verdict_lines(s)]))
