"""What a person sees at an 80-column terminal: every report fits, no column is cut, and every
word of every finding is there (wrapped under its own label, not lost)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from relu_ce_diag.cli import main
from relu_ce_diag.diagnostics import DIAGNOSTICS

ROOT = Path(__file__).resolve().parents[1]
BOX = "┃│┓┐┩┤┘┫"
CUT = "…"


def run(columns: int, *args: str) -> str:
    r = CliRunner().invoke(main, list(args), env={"COLUMNS": str(columns)})
    assert r.exit_code in (0, 1), r.output
    return r.stdout


def words(text: str) -> str:
    """The text with its layout taken out: one space between words."""
    return " ".join(text.split())


def assert_fits(text: str, columns: int) -> None:
    """No line is wider than the terminal, no cell was cut short with an ellipsis, and every
    table line ends on the table's right border."""
    for line in text.splitlines():
        assert len(line) <= columns, line
        assert CUT not in line, line
        if line and line[0] in "┏┃┡│└":
            assert line[-1] in BOX, line
        assert line == line.rstrip(), f"trailing spaces: {line!r}"


def first_column(table_text: str) -> list[str]:
    """Read a Rich table's first column back, joining each row's folded lines."""
    cells: list[str] = []
    for line in table_text.splitlines():
        if line.startswith("│"):
            part = line.split("│")[1].strip()
            if line.split("│")[2].strip():  # the status column starts a row
                cells.append(part)
            elif cells and part:
                cells[-1] += " " + part
    return cells


@pytest.mark.parametrize("columns", [80, 120])
def test_check_report_fits_and_keeps_every_finding(columns: int, tmp_path: Path) -> None:
    """The seed's check in float32 (the longest report): every finding's message and fix
    appear whole, word for word, and the cell id is never split inside a word."""
    out = tmp_path / "r.json"
    text = run(columns, "check", "--act", "relu", "--loss", "ce", "--dtype", "float32",
               "-o", str(out))
    assert_fits(text, columns)
    doc = json.loads(out.read_text())
    flat = words(text)
    findings = doc["cells"][0]["findings"]
    assert findings
    for f in findings:
        assert words(f"[{f['id']}] {f['message']}") in flat, f["id"]
        if f["fix"]:
            assert words(f"fix: {f['fix']}") in flat, f["id"]
    assert "relu/relu/ce/shortcut" in text  # a whole word on one line


@pytest.mark.parametrize("columns", [80, 120])
def test_grid_table_fits_and_shows_every_cell(columns: int, tmp_path: Path) -> None:
    """The seed grid: every cell id reads back whole from the first column; the rules'
    notes, the failing cells' worst entries and diagnostics are all printed."""
    out = tmp_path / "g.json"
    text = run(columns, "grid", "seed", "-o", str(out))
    assert_fits(text, columns)
    doc = json.loads(out.read_text())
    ids = [c["id"] for c in doc["cells"]]
    assert first_column(text) == ids
    flat = words(text)
    for c in doc["cells"]:
        if c.get("why"):
            assert words(c["why"]) in flat
        if c["status"] != "pass":
            for f in c["findings"]:
                assert f["id"] in flat
    assert flat.endswith("21 of 21 met their expectation; exit 0")


@pytest.mark.parametrize("columns", [80, 120])
def test_sweep_and_explain_fit(columns: int) -> None:
    """The sweep's table, chart, legend and verdict, and explain's list and entries."""
    text = run(columns, "sweep", "--act", "relu", "--loss", "se")
    assert_fits(text, columns)
    assert "recommended: --step" in words(text)
    listing = run(columns, "explain")
    assert_fits(listing, columns)
    for d in DIAGNOSTICS.values():
        assert re.search(rf"^{re.escape(d.id)} +", listing, re.M), d.id  # an id, then space
        assert words(d.title) in words(listing)
    entry = run(columns, "explain", "pairing")
    assert_fits(entry, columns)
    pairing = DIAGNOSTICS["pairing"]
    assert words(pairing.explanation) in words(entry) and words(pairing.fix) in words(entry)


@pytest.mark.parametrize("args", [
    ("check", "--act", "relu", "--loss", "ce", "--dtype", "float32"),
    ("sweep", "--act", "relu", "--loss", "se", "--no-chart")])
def test_numbers_and_code_are_not_highlighted(args: tuple[str, ...]) -> None:
    """On a colour terminal, colour marks a status or a severity only: no number, bracket
    or formula in a finding, a fix or a verdict gets a colour of its own (Rich's automatic
    highlighting is off)."""
    r = CliRunner().invoke(main, list(args), env={"COLUMNS": "100", "FORCE_COLOR": "1",
                                                  "TERM": "xterm-256color"})
    assert "\x1b[" in r.stdout  # the colours are on
    # a colour code, then a number, a bracket or a quote that is not a finding's [label]
    assert not re.search(r"\x1b\[(?!0m)[0-9;]*m(?!\[[a-z-]+\])[-\d(\[.'\"]", r.stdout)


def test_committed_screens_fit_their_terminals() -> None:
    """docs/screens.md (captured in tmux by scripts/capture_screens.py) holds every command
    at 80 and 120 columns, each run to its end, no line wider than its terminal, none cut."""
    page = (ROOT / "docs" / "screens.md").read_text(encoding="utf-8")
    screens = re.findall(r"at (\d+) columns:\n\n```text[^\n]*\n(.*?)\n```", page, re.S)
    assert len(screens) == 10
    for columns, screen in screens:
        assert_fits(screen, int(columns))
        assert screen.startswith("$ relu-diag ") and re.search(r"\[exit [01]\]$", screen)
    assert sorted({c for c, _ in screens}) == ["120", "80"]


def test_a_long_cell_id_is_folded_not_cut() -> None:
    """An id longer than the terminal (a deep path to a user's function) is folded inside
    its column; the table still fits and the status, errors and worst entry still show."""
    import io

    import numpy as np
    from rich.console import Console

    from relu_ce_diag import check_function
    from relu_ce_diag.report.table import print_check

    def a_function_with_a_name_far_longer_than_any_terminal_is_wide_in_columns(W, X, Y):
        return float(W @ W), 3 * W

    r = check_function(a_function_with_a_name_far_longer_than_any_terminal_is_wide_in_columns,
                       np.ones(3), np.ones((1, 1)), np.ones((1, 1)))
    assert len(r.id) > 80
    out = io.StringIO()
    print_check(Console(file=out, width=80, highlight=False), [r])
    text = "\n".join(line.rstrip() for line in out.getvalue().splitlines())
    assert_fits(text, 80)
    table = text.split("per block")[0]
    assert "".join(first_column(table)).replace(" ", "") == r.id.replace(" ", "")
    assert "fail" in text and "W[0]: analytic 3, numeric 2" in text  # under the table


@pytest.mark.parametrize("cell", [("relu", "ce"), ("relu", "cce"), ("leaky-relu", "cce"),
                                  ("softplus", "se"), ("sigmoid", "ce")])
def test_every_id_stays_whole_at_80_columns(cell: tuple[str, str], tmp_path: Path) -> None:
    """Whatever the id, its words are never cut: where the worst-entry column would not
    leave room, the worst entry is listed under the table instead."""
    act, loss = cell
    out = tmp_path / "r.json"
    text = run(80, "check", "--act", act, "--loss", loss, "-o", str(out))
    assert_fits(text, 80)
    doc = json.loads(out.read_text())["cells"][0]
    assert any(doc["id"] in line for line in text.splitlines()), doc["id"]
    assert doc["worst"]["name"] in text
