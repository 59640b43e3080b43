"""Options alike in every command: names and formats in any case, -o FILE by its extension,
--format for stdout whether or not -o is given, the grid file named as the user named it."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from relu_ce_diag.cli import main

SMALL = ("--hidden", "4")


def run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize("args", [
    ("check", "--act", "ReLU", "--loss", "CE", *SMALL),
    ("check", "--act", "relu", "--out", "Softmax", "--loss", "CCE", *SMALL),
    ("sweep", "--act", "ReLU", "--loss", "CE", "--steps", "1e-2,1e-4", *SMALL),
])
def test_names_are_accepted_in_any_case(args: tuple[str, ...]) -> None:
    assert run(*args).exit_code in (0, 1)


@pytest.mark.parametrize("command", [("check", *SMALL), ("grid", "smoke"),
                                     ("sweep", "--steps", "1e-2,1e-4", *SMALL)])
def test_format_in_any_case_prints_json(command: tuple[str, ...]) -> None:
    r = run(*command, "--format", "JSON")
    assert r.exit_code in (0, 1), r.output
    assert json.loads(r.stdout)["schema"].startswith("relu-diag/")


@pytest.mark.parametrize("command", [("check", *SMALL), ("grid", "smoke")])
def test_format_is_stdout_and_the_extension_is_the_file(command: tuple[str, ...],
                                                         tmp_path: Path) -> None:
    """--format json -o r.json: JSON on stdout and in the file; -o r.xml alone: the table on
    stdout, JUnit in the file; a --format the extension contradicts is refused."""
    r = run(*command, "--format", "json", "-o", str(tmp_path / "r.json"))
    assert r.exit_code in (0, 1), r.output
    assert json.loads(r.stdout) == json.loads((tmp_path / "r.json").read_text())
    table = run(*command, "-o", str(tmp_path / "r.xml"))
    assert "┏" in table.stdout
    assert ET.parse(tmp_path / "r.xml").getroot().tag == "testsuites"
    refused = run(*command, "--format", "json", "-o", str(tmp_path / "x.xml"))
    assert refused.exit_code == 2 and "--format" in refused.stderr


def test_sweep_refuses_a_junit_file(tmp_path: Path) -> None:
    r = run("sweep", "--steps", "1e-2,1e-4", *SMALL, "-o", str(tmp_path / "s.xml"))
    assert r.exit_code == 2 and "--output" in r.stderr and not (tmp_path / "s.xml").exists()


def test_a_shipped_grid_is_named_as_given_in_json() -> None:
    """The JSON of `grid smoke` says file: smoke, not where the package is installed."""
    doc = json.loads(run("grid", "smoke", "--format", "json").stdout)
    assert doc["grid"]["file"] == "smoke"
