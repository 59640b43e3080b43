"""A step-size sweep as a PNG or SVG figure, through the optional ``plot`` extra (matplotlib).

matplotlib is imported only when a figure is asked for, so relu-diag runs without it.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

from relu_ce_diag.errors import OptionError, ReluDiagError
from relu_ce_diag.report.files import write_atomic
from relu_ce_diag.report.sweep_words import PALETTE, shape_words
from relu_ce_diag.results.sweep import Sweep

FORMATS = ("png", "svg")
REGION_COLOR = {region: color for region, (_, color) in PALETTE.items()}


class PlotUnavailableError(ReluDiagError):
    """``--plot`` was asked for but matplotlib is not installed."""


def plot_format(path: str, label: str = "--plot") -> str:
    """Return png or svg from the file name, or raise OptionError."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise OptionError(label, path, "a file name ending in .png or .svg")
    return fmt


def ensure_available() -> None:
    """Raise PlotUnavailableError now, before any work, when matplotlib is missing."""
    _matplotlib()


def _matplotlib() -> Any:
    """Import matplotlib's Figure, or raise PlotUnavailableError with the install command."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotUnavailableError("--plot needs matplotlib, which is not installed; install the "
                              "plot extra: pip install 'relu-diag[plot]'") from None
    return Figure


def _positive(v: float, floor: float) -> float:
    """Put zeros on the floor of a log axis; non-finite values become NaN (a gap)."""
    if math.isfinite(v) and v > 0:
        return v
    return floor if v == 0 else float("nan")


def render(s: Sweep, title: str, fmt: str) -> bytes:
    """Draw the sweep (log-log, regions coloured, best step marked) and return the file."""
    Figure = _matplotlib()
    fig = Figure(figsize=(6.4, 4.6), dpi=100)
    ax = fig.add_subplot()
    hs = [p.step for p in s.points]
    vals = [v for p in s.points for v in (p.normwise, p.clean, p.max_rel) if 0 < v < 1e300]
    floor = min(vals) / 10 if vals else 1e-16
    ax.plot(hs, [_positive(p.max_rel, floor) for p in s.points], ":", color="0.6",
            label="max per-entry relative")
    if any(p.flagged for p in s.points):
        ax.plot(hs, [_positive(p.clean, floor) for p in s.points], "--", color="tab:cyan",
                label="norm-wise, set-aside excluded")
    ax.plot(hs, [_positive(p.normwise, floor) for p in s.points], "-", color="0.3", lw=1,
            label="norm-wise relative")
    for region, color in REGION_COLOR.items():
        pts = [p for p in s.points if p.region == region]
        if pts:
            best = region == "best"
            ax.scatter([p.step for p in pts], [_positive(p.normwise, floor) for p in pts],
                       s=90 if best else 22, marker="*" if best else "o", color=color,
                       zorder=4 if best else 3, label=region)
    for f in s.fits:
        if f.region in ("truncation", "round-off"):
            color = REGION_COLOR[f.region]
            xs = [f.h_low, f.h_high]
            ax.plot(xs, [_line(f.slope, f.intercept, x) for x in xs], "-", color=color,
                    alpha=0.3, lw=5)
            x = math.sqrt(f.h_low * f.h_high)
            ax.annotate(f"slope {f.slope:.2f}", (x, _line(f.slope, f.intercept, x)),
                        textcoords="offset points", xytext=(-16 if f.slope > 0 else 16, 10),
                        ha="center", fontsize=8, color=color)
    v = s.verdict
    if v.recommended_step is not None:
        ax.axvline(v.recommended_step, color="tab:green", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    if vals and max(vals) / min(vals) < 1e4:  # a flat curve must look flat: show 4 decades
        ax.set_ylim(min(vals) / 1e3, max(vals) * 10)
    ax.set_xlabel("finite-difference step h")
    ax.set_ylabel("relative error")
    rec = f"\nrecommended --step {v.recommended_step:.2g}" if v.recommended_step else ""
    ax.set_title(f"{title}\n{shape_words(s)}{rec}", fontsize=9)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=4,
              frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    meta = {"Software": None} if fmt == "png" else {"Date": None}
    import matplotlib
    with matplotlib.rc_context({"svg.hashsalt": "relu-diag"}):
        fig.savefig(buf, format=fmt, metadata=meta)
    return buf.getvalue()


def _line(slope: float, intercept: float, h: float) -> float:
    """Return the fitted error 10^(slope log10 h + intercept) at step h."""
    return float(10 ** (slope * math.log10(h) + intercept))


def save_plot(s: Sweep, path: str, title: str) -> None:
    """Write the figure of ``s`` to ``path`` (.png or .svg), atomically."""
    fmt = plot_format(path)
    write_atomic(path, render(s, title, fmt))
