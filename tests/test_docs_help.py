"""What the help screens and docs/sweep.md say about output files is what the commands do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from relu_ce_diag.cli import main

SMALL = ["--act", "relu", "--loss", "cce", "--hidden", "4", "--steps", "1e-2,1e-6", "--no-chart"]


def test_sweep_writes_json_to_any_name_but_xml(tmp_path: Path) -> None:
    """docs/sweep.md: `-o FILE.xml` is refused, any other name gets JSON; the help agrees."""
    run = CliRunner().invoke(main, ["sweep", *SMALL, "-o", str(tmp_path / "s.txt")])
    assert run.exit_code == 0, run.output
    assert json.loads((tmp_path / "s.txt").read_text())["command"] == "sweep"
    refused = CliRunner().invoke(main, ["sweep", *SMALL, "-o", str(tmp_path / "s.xml")])
    assert refused.exit_code == 2 and not (tmp_path / "s.xml").exists()
    shown = " ".join(CliRunner().invoke(main, ["sweep", "--help"]).stdout.split())
    assert "-o FILE is always JSON" in shown and ".xml" not in shown


@pytest.mark.parametrize("command", ["check", "grid"])
def test_the_format_help_says_what_a_file_without_extension_gets(command: str,
                                                                  tmp_path: Path) -> None:
    shown = " ".join(CliRunner().invoke(main, [command, "--help"]).stdout.split())
    assert "neither .json nor .xml (JSON for table)" in shown
    run = CliRunner().invoke(main, ["check", "--hidden", "4", "-o", str(tmp_path / "r.txt")])
    assert run.exit_code in (0, 1) and json.loads((tmp_path / "r.txt").read_text())


def test_check_help_names_the_describing_options_whole() -> None:
    """The --fn help lists the options that describe the network as words a reader can copy,
    not a slash-joined run that the terminal wraps mid-name."""
    shown = CliRunner().invoke(main, ["check", "--help"]).stdout
    assert "--act/--o" not in shown and "--reduction and --l2" in " ".join(shown.split())


@pytest.mark.parametrize("command", ["check", "sweep"])
def test_fn_without_data_says_it_is_not_given(command: str, tmp_path: Path) -> None:
    """A new user's first --fn without --data: 'not given', never 'got None'."""
    (tmp_path / "m.py").write_text("def f(W, X, Y):\n    return 0.0, W\n")
    run = CliRunner().invoke(main, [command, "--fn", f"{tmp_path / 'm.py'}:f"])
    assert run.exit_code == 2
    assert "--data: not given, expected an .npz or .mat file" in run.stderr
    assert "None" not in run.stderr
