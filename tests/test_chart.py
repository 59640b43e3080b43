"""Tests of the sweep's pictures: the Rich log-log chart and the matplotlib figure."""

from __future__ import annotations

import math
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from relu_ce_diag.cli import main
from relu_ce_diag.report.chart import CLEAN, GUTTER, NORM, print_sweep, steps_table, sweep_chart
from relu_ce_diag.results.sweep import StepPoint
from relu_ce_diag.run.sweep import classify
from relu_ce_diag.settings.steps import parse_steps

STEPS = parse_steps("1e-1:1e-12:12")


def textbook(flag_large: bool = False):
    """A classified V: error = h^2 + 1e-16/h; optionally the two largest steps straddle."""
    pts = []
    for h in STEPS:
        e = h * h + 1e-16 / h
        kinked = flag_large and h >= 1e-2
        pts.append(StepPoint(h, 10 * e, 0.1 if kinked else e, e, 5 if kinked else 0, 0,
                             5 if kinked else 0))
    return classify(pts, 2.220446049250313e-16)


def grid_rows(text: str, height: int) -> list[str]:
    """Return the plot rows of a chart (the part right of the gutter)."""
    return [line[GUTTER:] for line in text.splitlines()[:height]]


def test_chart_places_points_on_log_log_axes() -> None:
    """Each ● sits in the column of log10(h) (h grows to the right) and the row of
    log10(error): the best step is the lowest ●, the largest step the rightmost."""
    s = textbook()
    width, height = 45, 21  # 11 decades of h -> 4 columns per decade
    rows = grid_rows(sweep_chart(s, width=width, height=height).plain, height)
    marks = {(r, c) for r, line in enumerate(rows) for c, ch in enumerate(line) if ch == NORM}
    assert len(marks) == len(STEPS)
    cols = sorted(c for _, c in marks)
    assert cols == [round(i * (width - 1) / 11) for i in range(12)]
    best = s.verdict.best_step
    best_col = round((math.log10(best) + 12) / 11 * (width - 1))
    lowest = max(r for r, _ in marks)
    assert (lowest, best_col) in marks
    top = min(r for r, _ in marks)
    assert any(c == width - 1 for r, c in marks if r == top)  # h = 0.1: the largest error


def test_chart_labels_decades_and_legend() -> None:
    """The y axis carries decade labels, the x axis 1e-12 ... 1e-1, the legend the regions."""
    text = sweep_chart(textbook(), width=60, height=15).plain
    assert "1e-12" in text and "1e-1" in text and "step h" in text
    assert "┤" in text and "└" in text
    assert "truncation" in text and "round-off" in text and "best" in text
    assert CLEAN not in text.split("\n")[0]  # nothing set aside: no ○ drawn


def test_chart_draws_set_aside_curve_only_where_entries_are_set_aside() -> None:
    """○ (set-aside entries excluded) is drawn exactly at the steps with set-aside entries."""
    s = textbook(flag_large=True)
    height = 15
    rows = grid_rows(sweep_chart(s, width=45, height=height).plain, height)
    assert sum(line.count(CLEAN) for line in rows) == 2
    assert "kink" in sweep_chart(s).plain


def test_chart_marks_non_finite_points() -> None:
    """A non-finite error is drawn as × on the top row, not dropped."""
    pts = [StepPoint(h, math.inf, math.nan, math.nan, 0, 0, 0) for h in STEPS]
    text = sweep_chart(classify(pts, 2.2e-16), width=40, height=8).plain
    assert "×" in text.splitlines()[0]


def test_steps_table_has_one_row_per_step() -> None:
    """The table lists every step with its region."""
    console = Console(record=True, width=120)
    console.print(steps_table(textbook()))
    out = console.export_text()
    assert out.count("truncation") >= 2 and "1e-12" in out and "0.1" in out


def test_print_sweep_prints_the_verdict() -> None:
    """print_sweep ends with the verdict kind and the recommended --step."""
    console = Console(record=True, width=100)
    print_sweep(console, textbook(), "demo")
    out = console.export_text()
    assert "demo: v" in out and "recommended: --step" in out


def test_plot_without_matplotlib_is_one_line_exit_2(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    """--plot with matplotlib not importable: one line naming the extra, exit 2, no file."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    out = tmp_path / "curve.png"
    r = CliRunner().invoke(main, ["sweep", "--steps", "1e-2,1e-6", "--plot", str(out)])
    assert r.exit_code == 2
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "pip install 'relu-diag[plot]'" in lines[0]
    assert not out.exists()


@pytest.mark.parametrize("suffix", ["png", "svg"])
def test_plot_writes_a_small_figure(suffix: str, tmp_path: Path) -> None:
    """--plot writes a valid PNG or SVG (< 100 KB) next to the usual output."""
    pytest.importorskip("matplotlib")
    out = tmp_path / f"curve.{suffix}"
    r = CliRunner().invoke(main, ["sweep", "--act", "sigmoid", "--no-chart", "--plot",
                                  str(out)])
    assert r.exit_code == 0, r.output
    data = out.read_bytes()
    assert 0 < len(data) < 100_000
    if suffix == "png":
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert ET.fromstring(data).tag.endswith("svg")
