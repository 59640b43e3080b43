"""The diagnostics on the command line: explain, --ignore, --explain, --strict, JSON, exits."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from relu_ce_diag.cli import main
from relu_ce_diag.diagnostics.registry import DIAGNOSTICS, as_markdown

KINK_DATA = str(Path(__file__).resolve().parents[1] / "configs" / "data" / "kink_at_zero.npz")


def run(*args: str):
    """Invoke relu-diag in-process and return the click Result."""
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize("diag_id", list(DIAGNOSTICS))
def test_explain_prints_the_registry_text(diag_id):
    """relu-diag explain ID prints the title, the start of the explanation and the fix."""
    d = DIAGNOSTICS[diag_id]
    r = run("explain", diag_id)
    assert r.exit_code == 0
    flat = " ".join(r.output.split())
    assert d.title in flat and " ".join(d.explanation.split()[:6]) in flat
    assert " ".join(d.fix.split()[:4]) in flat


def test_explain_without_id_lists_every_diagnostic():
    """relu-diag explain lists all ids."""
    r = run("explain")
    assert r.exit_code == 0 and all(i in r.output for i in DIAGNOSTICS)


@pytest.mark.parametrize("args", [("explain", "pairng"), ("check", "--ignore", "pairng")])
def test_unknown_id_is_exit_2_with_a_suggestion(args):
    """An unknown id in explain or --ignore is exit 2 with a did-you-mean, no traceback."""
    r = run(*args)
    assert r.exit_code == 2
    assert "did you mean 'pairing'?" in r.output and "Traceback" not in r.output


def test_archetype_prints_pairing_saturation_and_attribution():
    """check --act relu --loss ce: exit 1 and the three lines of the acceptance."""
    r = run("check", "--act", "relu", "--loss", "ce")
    assert r.exit_code == 1
    assert "[pairing]" in r.output and "[clamp-saturation]" in r.output
    assert re.search(r"\[attribution\] +shortcut delta invalid for relu \+ ce: explains", r.output)


def test_exact_backprop_passes_but_strict_fails_on_the_range_warning():
    """--backprop exact passes (exit 0); the output-range warning makes --strict exit 1."""
    r = run("check", "--act", "relu", "--loss", "ce", "--backprop", "exact")
    assert r.exit_code == 0 and "[pairing]" not in r.output and "[output-range]" in r.output
    assert run("check", "--act", "relu", "--loss", "ce", "--backprop", "exact",
               "--strict").exit_code == 1
    assert run("check", "--act", "relu", "--loss", "ce", "--backprop", "exact", "--strict",
               "--ignore", "output-range", "--ignore", "clamp-saturation").exit_code == 0


def test_kink_data_is_exit_0_and_strict_exit_1():
    """The shipped kink data: kink, the zero units named, exit 0; --strict exit 1."""
    args = ("check", "--data", KINK_DATA, "--act", "relu", "--loss", "cce")
    r = run(*args)
    assert r.exit_code == 0 and "kink" in r.output
    assert "h1[2]" in r.output and "h1[4]" in r.output and "[zero-preactivation]" in r.output
    assert run(*args, "--strict").exit_code == 1


def test_tanh_ce_has_range_and_pairing():
    """--act tanh --loss ce: output-range and pairing lines."""
    r = run("check", "--act", "tanh", "--loss", "ce")
    assert r.exit_code == 1 and "[output-range]" in r.output and "[pairing]" in r.output
    assert "go negative" in r.output


def test_eps_zero_is_a_finding_not_a_crash():
    """--eps 0 --act relu --loss ce: exit 1 with the non-finite line and its cause."""
    r = run("check", "--eps", "0", "--act", "relu", "--loss", "ce")
    assert r.exit_code == 1 and "[non-finite]" in r.output and "log(0)" in r.output
    assert "Traceback" not in r.output


def test_ignore_drops_the_finding_from_table_and_json():
    """--ignore pairing removes it from both outputs; the others stay."""
    r = run("check", "--ignore", "pairing", "--format", "json")
    ids = [f["id"] for f in json.loads(r.output)["cells"][0]["findings"]]
    assert "pairing" not in ids and "attribution" in ids
    assert "[pairing]" not in run("check", "--ignore", "pairing").output


def test_json_findings_carry_id_severity_fix_and_data():
    """Each JSON finding has its id, a severity, numbers in data, and a fix unless it is
    info about a cause that explains none of the error (the clamp here)."""
    doc = json.loads(run("check", "--format", "json").output)
    findings = doc["cells"][0]["findings"]
    assert {f["id"] for f in findings} >= {"pairing", "clamp-saturation", "attribution"}
    for f in findings:
        assert f["severity"] in ("error", "warning", "info") and f["data"]
        assert f["fix"] or (f["severity"] == "info" and f["id"] == "clamp-saturation"), f
    parts = next(f for f in findings if f["id"] == "attribution")["data"]["parts"]
    assert parts[0]["id"] == "pairing"


def test_explain_flag_appends_the_long_text():
    """check --explain prints the registry text of each finding that fired."""
    r = run("check", "--explain")
    flat = " ".join(r.output.split())
    assert " ".join(DIAGNOSTICS["pairing"].explanation.split()[:8]) in flat


def test_clean_cell_has_no_findings():
    """sigmoid + ce with the shortcut (a canonical pair) passes with no diagnostic lines."""
    r = run("check", "--act", "sigmoid", "--loss", "ce", "--format", "json")
    assert r.exit_code == 0 and json.loads(r.output)["cells"][0]["findings"] == []


def test_markdown_lists_every_diagnostic():
    """The README form of the registry has one entry per id."""
    md = as_markdown()
    assert all(f"**`{i}`**" in md for i in DIAGNOSTICS)


def test_saturated_sigmoid_from_saved_arrays(tmp_path):
    """The README recipe: scale the saved W by 40; sigmoid + ce then fails with the clamp
    quantified and float saturation named."""
    grads = tmp_path / "g.npz"
    assert run("check", "--act", "sigmoid", "--loss", "ce", "--save-grads", str(grads)
               ).exit_code == 0
    with np.load(grads) as z:
        np.savez(tmp_path / "big.npz", X=z["X"], Y=z["Y"], W=40 * z["W"])
    r = run("check", "--act", "sigmoid", "--loss", "ce", "--data", str(tmp_path / "big.npz"))
    assert r.exit_code == 1
    assert "[clamp-saturation]" in r.output and "[float-saturation]" in r.output
    assert "clamped outputs: explains" in " ".join(r.output.split())
