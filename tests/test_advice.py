"""Advice that agrees with itself: every option a report advises is followed once, as printed,
and the next report asks for no other value of it; no report advises two values of one option
or a value already in use; a cause that explains none of the error is info without a fix."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from relu_ce_diag.cli import main
from relu_ce_diag.diagnostics.advice import flags

ROOT = Path(__file__).resolve().parents[1]
SKIP = {"step", "dtype", "data", "inputs", "outputs", "samples", "targets", "leaky_slope"}


@cache
def report(args: tuple[str, ...]) -> dict[str, Any]:
    r = CliRunner().invoke(main, ["check", *args, "--format", "json"])
    assert r.exit_code in (0, 1), (args, r.output)
    return json.loads(r.stdout)["cells"][0]  # type: ignore[no-any-return]


def seed_cells() -> list[tuple[str, tuple[str, ...]]]:
    """The seed grid's cells as check options (their own step left to the default)."""
    r = CliRunner().invoke(main, ["grid", "seed", "--format", "json"])
    cells = []
    for c in json.loads(r.stdout)["cells"]:
        args: list[str] = []
        for key, value in c["settings"].items():
            if key in SKIP or value is None:
                continue
            text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
            args += [f"--{key.replace('_', '-')}", text]
        cells.append((c["id"], tuple(args)))
    return cells


def advice(cell: dict[str, Any]) -> dict[str, set[str]]:
    """Every option the report's fixes name, with the values they name."""
    found: dict[str, set[str]] = {}
    for f in cell["findings"]:
        for opt, value in flags(f["fix"]).items():
            found.setdefault(opt, set()).add(value)
    return found


def with_option(args: tuple[str, ...], opt: str, value: str) -> tuple[str, ...]:
    """``args`` with ``opt value`` set (replaced where it is already given)."""
    out = list(args)
    if opt in out:
        i = out.index(opt)
        del out[i:i + (2 if value else 1)]
    return (*out, opt, value) if value else (*out, opt)


def in_use(args: tuple[str, ...], opt: str) -> str | None:
    return args[args.index(opt) + 1] if opt in args else None


def same(opt: str, a: str, b: str) -> bool:
    if opt in ("--step", "--eps", "--relu-grad-at-zero"):
        return float(a) == float(b)
    return a.lower() == b.lower()


DATA = [(f"{name} {backprop}", ("--data", f"configs/data/{name}.npz", "--act", "relu",
                                "--loss", loss, "--backprop", backprop))
        for name, loss in (("kink_at_zero", "cce"), ("kink_at_zero", "ce"), ("saturated", "ce"))
        for backprop in ("shortcut", "exact")]
CASES = [(cid, (*args, "--dtype", dtype)) for dtype in ("float64", "float32")
         for cid, args in [*seed_cells(), *DATA]]


@pytest.mark.parametrize(("cid", "args"), CASES, ids=[f"{c} {a[-1]}" for c, a in CASES])
def test_follow_the_advice(cid: str, args: tuple[str, ...], monkeypatch: pytest.MonkeyPatch,
                           ) -> None:
    """One value per option, none already in use; followed once, the next report does not
    ask about that option again (no other value, nor the one now in use)."""
    monkeypatch.chdir(ROOT)  # the data files are named from the repository root
    first = advice(report(args))
    for opt, values in first.items():
        assert len(values) == 1, f"{cid}: {opt} advised as {values}"
        value = next(iter(values))
        used = in_use(args, opt)
        assert used is None or not same(opt, used, value), f"{cid}: {opt} {value} is in use"
        followed = with_option(args, opt, value)
        again = advice(report(followed))
        assert opt not in again, f"{cid}: after {opt} {value} the report asks for {again[opt]}"


def test_the_seed_archetype_in_float32_asks_for_one_thing() -> None:
    """relu + ce in float32: the derivation is the cause, so the kinks, the clamp and the
    step are info without a fix, precision says it is not precision and advises nothing."""
    cell = report(("--act", "relu", "--loss", "ce", "--dtype", "float32"))
    by_id = {f["id"]: f for f in cell["findings"]}
    for side in ("kink-straddle", "clamp-saturation", "step-size"):
        assert by_id[side]["severity"] == "info" and by_id[side]["fix"] == "", side
    assert "not precision" in by_id["precision"]["message"] and not by_id["precision"]["fix"]
    assert advice(cell) == {"--out": {"sigmoid"}, "--backprop": {"exact"}}  # the two cures


def test_exact_backprop_is_not_advised_when_in_use() -> None:
    """With --backprop exact the clamp finding is info and does not advise it again."""
    cell = report(("--act", "relu", "--loss", "ce", "--backprop", "exact"))
    clamp = next(f for f in cell["findings"] if f["id"] == "clamp-saturation")
    assert clamp["severity"] == "info" and "--backprop" not in clamp["fix"]


def test_a_kink_cell_in_float32_asks_for_float64_and_float64_is_clean() -> None:
    """relu + se in float32 kinks at the default step; the advice is float64, whose report
    is a pass with no kink and no advice about the step."""
    args = ("--act", "relu", "--loss", "se", "--dtype", "float32")
    cell = report(args)
    assert cell["status"] == "kink" and advice(cell)["--dtype"] == {"float64"}
    after = report(with_option(args, "--dtype", "float64"))
    assert after["status"] == "pass" and "--step" not in advice(after)


def test_flags_reads_the_options_of_a_fix() -> None:
    assert flags("--step 2e-03, or another --seed") == {"--step": "2e-03"}
    assert flags("--out sigmoid for ce, or a loss that fits relu outputs (se)") == {
        "--out": "sigmoid"}
    assert flags("use d3 = y - Y (the --backprop exact delta)") == {"--backprop": "exact"}
    assert flags("keep the clamp (--eps 2.2e-16)") == {"--eps": "2.2e-16"}
    assert flags("compare each wrong block with its formula") == {}
