"""Tables and transcripts the docs write by hand say what the code gives today: the results of
the shipped grids (docs/grids.md), the seed reproduction table (docs/check.md, from
scripts/seed_table.py) and the validation errors of docs/grids.md, run from the files their
comments describe."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from relu_ce_diag.cli import main

ROOT = Path(__file__).resolve().parents[1]
GRIDS = (ROOT / "docs" / "grids.md").read_text(encoding="utf-8")
CHECK = (ROOT / "docs" / "check.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")
SHIPPED = re.findall(r"^\| `(\w+\.yaml)` \| .* \| (\d+ cells: [^|]*?) \|$", GRIDS, re.M)


def test_the_shipped_grids_table_names_every_grid() -> None:
    assert sorted(name for name, _ in SHIPPED) == sorted(
        p.name for p in (ROOT / "configs").glob("*.yaml"))


@pytest.mark.parametrize(("name", "result"), SHIPPED)
def test_a_shipped_grid_gives_what_its_row_says(name: str, result: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    run = CliRunner().invoke(main, ["grid", f"configs/{name}", "--format", "json"])
    assert run.exit_code == 0, run.output
    doc = json.loads(run.stdout)
    counts = ", ".join(f"{doc['summary'][s]} {s}" for s in ("pass", "kink", "fail", "error")
                       if doc["summary"][s])
    met = "all as expected" if doc["grid"]["met"] == doc["grid"]["planned"] else "not all"
    assert result == f"{doc['summary']['cells']} cells: {counts}, {met}"


def _columns(row: str) -> list[str]:
    """A row of the seed table without its time column (times vary from run to run)."""
    return [c.strip() for c in row.strip().strip("|").split("|")][:-1]


def test_the_seed_table_is_what_scripts_seed_table_prints(
        capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("seed_table", ROOT / "scripts" / "seed_table.py")
    assert spec is not None and spec.loader is not None
    seed_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seed_table)
    seed_table.main()
    printed = [_columns(r) for r in capsys.readouterr().out.splitlines() if r.startswith("| ")]
    documented = [_columns(r) for r in CHECK.splitlines() if r.startswith("| ")
                  and ("| Q&A |" in r or r.startswith("| question") or r.startswith("| edit"))]
    assert documented == printed


def test_the_validation_transcript_of_grids_runs_as_written(tmp_path: Path) -> None:
    """Each `$ relu-diag grid F.yaml   # content` line: F.yaml written from its comment (with
    the README's model.py and case.npz beside it) gives the error line printed under it."""
    block = re.search(r"```console\n(.*?)```", GRIDS, re.S)
    assert block is not None
    model = re.search(r"```python\n(# model\.py.*?)```", README, re.S)
    assert model is not None
    (tmp_path / "model.py").write_text(model.group(1))
    subprocess.run([sys.executable, "model.py"], check=True, cwd=tmp_path)
    lines = block.group(1).splitlines()
    runs = [(i, m) for i, line in enumerate(lines)
            if (m := re.match(r"\$ relu-diag grid (\S+)\s+# (.*)$", line))]
    assert len(runs) == 2
    for i, m in runs:
        name, content = m.groups()
        (tmp_path / name).write_text(content.replace("\\n", "\n") + "\n")
        out = subprocess.run([sys.executable, "-m", "relu_ce_diag", "grid", name],
                             capture_output=True, text=True, cwd=tmp_path, check=False)
        assert out.returncode == 2
        assert out.stderr.strip() == lines[i + 1]


def test_the_seed_checks_call_count_in_the_readme_and_matlab_page(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """README.md and docs/matlab.md quote the calls of the seed's check through Octave; the
    Python port makes the same calls (benchmarks/octave_seed.py prints both)."""
    monkeypatch.chdir(ROOT)
    run = CliRunner().invoke(main, ["check", "--fn", "examples/seed_backprop.py:backprop",
                                    "--data", "examples/seed_case.npz", "--act", "relu",
                                    "--loss", "ce", "--format", "json"])
    assert run.exit_code == 1, run.output
    (cell,) = json.loads(run.stdout)["cells"]
    (calls,) = [dict(f["data"])["calls"] for f in cell["findings"] if f["id"] == "fn-precision"]
    quoted = f"P = 903, {calls:,} calls"
    matlab = (ROOT / "docs" / "matlab.md").read_text(encoding="utf-8")
    assert quoted in " ".join(README.split()) and quoted in matlab
