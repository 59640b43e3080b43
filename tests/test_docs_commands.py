"""Every ``relu-diag`` command line in docs/*.md and README.md runs as written.

A command line is a line that starts with ``relu-diag `` in a ```sh block, or with
``$ relu-diag `` in a ```text block. Each runs through the real CLI from the repository root
and must not exit 2 (a usage error or input it cannot use): it exits 0 or 1, or exactly the
code its comment ends with (``# the seed's failing case: exit 1``). Files it would write
(``-o``, ``--output``, ``--save-grads``, ``--plot``) go to a temporary folder instead.

Skipped: lines with a placeholder (FILE, NAME, ID, ``...``, ``<``), and lines that need a file
the repository does not ship, listed in NOT_SHIPPED with the reason.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from relu_ce_diag.cli import main

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(sh|text)\b[^\n]*\n(.*?)^```", re.S | re.M)
PLACEHOLDER = re.compile(r"\b(FILE|NAME|ID|DATA|EXPR)\b|\.\.\.|<")
EXIT = re.compile(r"\bexit (\d+)\s*$")
OUTPUTS = ("-o", "--output", "--save-grads", "--plot")

# Files the docs name as the reader's own: the lines that need them are skipped.
NOT_SHIPPED = {
    "model.py": "the reader writes it from the README; tests/test_readme.py runs those lines",
    "case.npz": "written by the reader's model.py; tests/test_readme.py runs those lines",
    "mypkg.model": "stands for a package of the reader's",
    "backprop.m": "the reader's MATLAB file; docs/matlab.md checks tests/examples/backprop.m",
    "case.mat": "the reader's MATLAB data; docs/matlab.md uses tests/examples/seed_case.mat",
    "nnCostFunction.m": "a course exercise's file, with its data ex4.mat, not shipped",
    "gradients.yaml": "the README's example grid, written by the reader",
    "big.yaml": "stands for a large grid of the reader's",
}


def _split_comment(line: str) -> tuple[str, str]:
    """Split a shell line into its command and its ``# comment`` (a ``#`` outside quotes
    that starts a word)."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1:].strip()
    return line.rstrip(), ""


def doc_commands() -> list[tuple[str, str, str]]:
    """Return (page:line, command, comment) of every relu-diag command line in the docs."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for block in FENCE.finditer(text):
            first = text.count("\n", 0, block.start(2)) + 1
            for k, line in enumerate(block.group(2).splitlines()):
                if line.startswith("$ "):
                    line = line[2:]
                elif block.group(1) == "text":
                    continue
                if line.startswith("relu-diag "):
                    command, comment = _split_comment(line)
                    found.append((f"{page.name}:{first + k}", command, comment))
    return found


COMMANDS = doc_commands()
OCTAVE = shutil.which("octave-cli") or shutil.which("octave")


def _skip_reason(argv: list[str]) -> str | None:
    for arg in argv:
        for name, reason in NOT_SHIPPED.items():
            if arg == name or arg.split(":")[0] == name:
                return f"{name}: {reason}"
    return None


def _outputs_to(argv: list[str], folder: Path) -> list[str]:
    """Return argv with the files it would write moved into ``folder``."""
    out = list(argv)
    for i, arg in enumerate(out[:-1]):
        if arg in OUTPUTS:
            out[i + 1] = str(folder / Path(out[i + 1]).name)
    return out


@pytest.mark.parametrize("where, command, comment",
                         [pytest.param(*c, id=f"{c[0]} {c[1]}") for c in COMMANDS])
def test_a_doc_command_runs(where: str, command: str, comment: str, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The command, from the repository root: not refused, and the exit code it claims."""
    if PLACEHOLDER.search(command):
        pytest.skip("a placeholder stands for the reader's own file or name")
    argv = shlex.split(command)[1:]
    reason = _skip_reason(argv)
    if reason:
        pytest.skip(reason)
    if any(a.endswith(".m") or ".m:" in a for a in argv) and OCTAVE is None \
            and os.environ.get("RELU_DIAG_REQUIRE_OCTAVE") != "1":
        pytest.skip("GNU Octave is not installed (CI installs it)")
    if "--plot" in argv:
        pytest.importorskip("matplotlib")
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "path", list(sys.path))  # --fn puts its folder first
    result = CliRunner().invoke(main, _outputs_to(argv, tmp_path))
    expected = EXIT.search(comment)
    detail = f"{where}: `{command}` exited {result.exit_code}\n{result.output[-2000:]}"
    if expected:
        assert result.exit_code == int(expected.group(1)), detail
    else:
        assert result.exit_code in (0, 1), detail


def test_the_docs_have_commands_to_run() -> None:
    """The scan finds the docs' commands, and the exit codes their comments claim."""
    assert len(COMMANDS) >= 30
    assert sum(bool(EXIT.search(c)) for _, _, c in COMMANDS) >= 10
    pages = {where.split(":")[0] for where, _, _ in COMMANDS}
    assert {"check.md", "sweep.md", "json.md", "diagnostics.md", "commands.md"} <= pages
