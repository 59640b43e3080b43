"""The parts of docs/ that come from the code are what the code prints today: the diagnostics
list and table, the help screens, the example outputs and the JSON document
(scripts/gen_docs.py regenerates them between their markers)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_generated_section_is_up_to_date(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)  # the commands name files from the repository root
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gen_docs", gen)
    spec.loader.exec_module(gen)
    assert gen.main(check=True) == 0, capsys.readouterr().out
    pages = [p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md")]
    assert sum(p.count("<!-- begin: output relu-diag ") for p in pages) >= 3
    assert sum(p.count("<!-- begin: json relu-diag ") for p in pages) >= 1
