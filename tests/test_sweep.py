"""Tests of the step-size sweep: measured errors, curve classification, the sweep command."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from relu_ce_diag.cli import main
from relu_ce_diag.errors import OptionError
from relu_ce_diag.model.activations import HIDDEN_NAMES
from relu_ce_diag.model.network import backprop, forward
from relu_ce_diag.numeric.compare import normwise_relative
from relu_ce_diag.numeric.plain import loop_central_differences
from relu_ce_diag.report.json_report import SWEEP_SCHEMA as SCHEMA
from relu_ce_diag.report.sweep_words import verdict_lines
from relu_ce_diag.results.sweep import StepPoint
from relu_ce_diag.run.sweep import classify, sweep_prepared
from relu_ce_diag.settings.cells import CellSpec, prepare, validate
from relu_ce_diag.settings.steps import DEFAULT_STEPS, parse_steps

KINK_DATA = str(Path(__file__).resolve().parents[1] / "configs" / "data" / "kink_at_zero.npz")
STEPS = parse_steps(DEFAULT_STEPS)
CANONICAL_OUT = {"se": "identity", "ce": "sigmoid", "cce": "softmax"}
EPS64 = float(np.finfo(np.float64).eps)


def run(**kw: object):
    """Sweep one cell over the default steps."""
    return sweep_prepared(prepare(validate(CellSpec(**kw))), STEPS)  # type: ignore[arg-type]


def synthetic(A: float, B: float, steps: tuple[float, ...] = STEPS) -> list[StepPoint]:
    """Points of a textbook curve error = A h^2 + B / h, nothing set aside."""
    return [StepPoint(h, A * h * h + B / h, A * h * h + B / h, A * h * h + B / h, 0, 0, 0)
            for h in steps]


# --- parsing the steps ----------------------------------------------------------------------

def test_parse_steps_range_is_log_spaced_with_exact_ends() -> None:
    """START:STOP:COUNT gives COUNT log-spaced steps, largest first, ends as written."""
    steps = parse_steps("1e-1:1e-12:12")
    assert len(steps) == 12
    assert steps[0] == 0.1 and steps[-1] == 1e-12
    assert np.allclose(np.diff(np.log10(steps)), -1.0)


def test_parse_steps_list_is_sorted_and_deduplicated() -> None:
    """A comma list is sorted largest first; repeated steps count once."""
    assert parse_steps("1e-6, 1e-2,1e-4,1e-2") == (1e-2, 1e-4, 1e-6)


@pytest.mark.parametrize("text", ["", "abc", "1e-1:1e-3", "1e-1:1e-3:1", "0,1e-3", "2",
                                  "1e-3,-1e-4", "nan", "1e-1:0:5", "1e-1:1e-3:x"])
def test_parse_steps_refuses_bad_text_naming_the_option(text: str) -> None:
    """Anything but a valid range or list of steps in (0, 1] is an OptionError for --steps."""
    with pytest.raises(OptionError, match="--steps"):
        parse_steps(text)


# --- the measured numbers -------------------------------------------------------------------

@pytest.mark.parametrize("h", [1e-2, 1e-5, 1e-9])
def test_measured_error_matches_a_plain_loop(h: float) -> None:
    """The norm-wise error at a step equals the one from a plain loop of full forward passes
    (to the loop's own round-off)."""
    spec = validate(CellSpec(act="tanh", loss="cce", hidden=(7,), samples=6))
    prep = prepare(spec)
    net, W, X, Y = prep.net, prep.arrays.W, prep.arrays.X, prep.arrays.Y
    a = backprop(net, W, X, Y, "shortcut")[1]
    n, _ = loop_central_differences(lambda w: forward(net, w, X, Y).f, W, h)
    oracle = normwise_relative(a, n)
    got = next(p for p in sweep_prepared(prep, (h,)).points if p.step == h).normwise
    roundoff = 8 * EPS64 * abs(forward(net, W, X, Y).f) / h / np.linalg.norm(a)
    assert abs(got - oracle) <= 0.05 * oracle + roundoff


def test_check_step_is_swept_and_compared() -> None:
    """The cell's own --step is added to the sweep and compared with the best step."""
    s = sweep_prepared(prepare(validate(CellSpec(act="sigmoid", loss="ce", step=3e-7))),
                       parse_steps("1e-2,1e-4,1e-6,1e-8"))
    assert [p.step for p in s.points] == [1e-2, 1e-4, 1e-6, 3e-7, 1e-8]
    assert any("check's step h = 3e-07" in line for line in verdict_lines(s))


# --- classification on a textbook curve (an oracle independent of the network) --------------

def test_classify_textbook_v_recovers_slopes_and_best_step() -> None:
    """On error = A h^2 + B/h the fits give slopes 2 and -1 and the best step is the grid
    point nearest the analytic optimum (B / 2A)^(1/3)."""
    A, B = 3.0, 1e-16
    s = classify(synthetic(A, B), EPS64)
    assert s.verdict.kind == "v"
    assert s.fit("truncation").slope == pytest.approx(2.0, abs=0.02)
    assert s.fit("round-off").slope == pytest.approx(-1.0, abs=0.02)
    h_opt = (B / (2 * A)) ** (1 / 3)
    assert abs(math.log10(s.verdict.recommended_step / h_opt)) <= 0.25 + 1e-9
    labels = [p.region for p in s.points]
    k = labels.index("best")
    assert set(labels[:k]) <= {"truncation", "near-best"} and "truncation" in labels[:k]
    assert set(labels[k + 1:]) <= {"round-off", "near-best"} and "round-off" in labels[k + 1:]


def test_classify_flat_large_curve_is_a_derivation_error_at_every_step() -> None:
    """A curve flat at 0.3 over every step is a derivation error, with no recommended step."""
    pts = [StepPoint(h, 0.3, 0.3, 0.9, 0, 0, 0) for h in STEPS]
    s = classify(pts, EPS64)
    assert s.verdict.kind == "derivation-error" and not s.verdict.ok
    assert s.verdict.recommended_step is None
    assert {p.region for p in s.points} == {"derivation"}


def test_classify_high_v_is_not_a_derivation_error() -> None:
    """A V whose bottom is high but not flat is still a V (it is not excused as a bug)."""
    s = classify(synthetic(1e3, 1e-8), EPS64)
    assert s.verdict.kind == "v"
    assert any("even the best step" in line for line in verdict_lines(s))


def test_classify_non_finite_everywhere() -> None:
    """NaN at every step gives the non-finite verdict and exit-worthy ok=False."""
    pts = [StepPoint(h, math.inf, math.nan, math.nan, 0, 0, 0) for h in STEPS]
    s = classify(pts, EPS64)
    assert s.verdict.kind == "non-finite" and not s.verdict.ok
    assert {p.region for p in s.points} == {"non-finite"}


# --- known cells ----------------------------------------------------------------------------

# Along any single entry these losses are quadratic between kinks: no truncation error.
PIECEWISE_QUADRATIC = ("relu", "leaky-relu", "identity")
SMOOTH_OUT = [("sigmoid", "ce"), ("sigmoid", "se"), ("tanh", "se"), ("softmax", "cce")]


# softmax + cce has no visible round-off region (the per-sample differences are taken in
# closed form or by Taylor polynomials): test_softmax_cce_round_off_is_tiny covers those cells.
V_CELLS = [(act, out, loss) for out, loss in SMOOTH_OUT for act in HIDDEN_NAMES
           if out != "softmax"]


@pytest.mark.parametrize("act,out,loss", V_CELLS)
def test_smooth_cells_have_a_v(act: str, out: str, loss: str) -> None:
    """A correct gradient (exact backprop, a smooth output) has its minimum between 1e-8 and
    1e-4, a truncation slope near 2 and a round-off slope near -1."""
    s = run(act=act, out=out, loss=loss, backprop="exact")
    assert s.verdict.kind == "v", verdict_lines(s)
    assert 1e-8 <= s.verdict.best_step <= 1e-4
    assert s.verdict.best_error < 1e-8
    assert s.fit("truncation").slope == pytest.approx(2.0, abs=0.25)
    assert s.fit("round-off").slope == pytest.approx(-1.0, abs=0.15)


@pytest.mark.parametrize("act", HIDDEN_NAMES)
def test_softmax_cce_round_off_is_tiny(act: str) -> None:
    """softmax + cce: the per-sample loss differences keep round-off near machine precision,
    so the best error is far below the textbook ~1e-11 wherever round-off does not show."""
    s = run(act=act, loss="cce", backprop="exact")
    assert s.verdict.kind == "v"
    assert s.fit("truncation").slope == pytest.approx(2.0, abs=0.25)
    r = s.fit("round-off")
    if r is None:
        assert s.verdict.best_error < 1e-14
        assert any("no round-off region" in line for line in verdict_lines(s))
    else:
        assert r.slope == pytest.approx(-1.0, abs=0.15)


@pytest.mark.parametrize("act", PIECEWISE_QUADRATIC)
def test_piecewise_quadratic_loss_has_no_truncation_region(act: str) -> None:
    """A piecewise-linear hidden layer with an identity output and squared error is quadratic
    along every entry between kinks, so the central difference has no truncation error: the
    best step is the largest one that straddles nothing; smaller ones add round-off (1/h)."""
    s = run(act=act, out="identity", loss="se", backprop="exact")
    assert s.verdict.kind == "v" and s.fit("truncation") is None
    clear = [p.step for p in s.points if p.flagged == 0]
    assert s.verdict.best_step == pytest.approx(max(clear), rel=0.5)
    assert s.fit("round-off").slope == pytest.approx(-1.0, abs=0.15)


@pytest.mark.parametrize("act,out,loss", [("relu", None, "ce"), ("tanh", None, "ce"),
                                          ("relu", "relu", "cce"), ("sigmoid", "tanh", "ce")])
def test_shortcut_on_non_canonical_pair_is_a_derivation_error(act: str, out: str | None,
                                                              loss: str) -> None:
    """The seed's d3 = y - Y on a non-canonical output is flat and large at every step."""
    s = run(act=act, out=out, loss=loss, backprop="shortcut")
    assert s.verdict.kind == "derivation-error"
    assert all(p.region == "derivation" for p in s.points)


def test_one_wrong_entry_is_not_classified_as_a_v() -> None:
    """The exact gradient with its largest entry off by 1e-3 relative is a derivation error."""
    prep = prepare(validate(CellSpec(act="sigmoid", loss="ce")))
    net, W, X, Y = prep.net, prep.arrays.W, prep.arrays.X, prep.arrays.Y
    a = backprop(net, W, X, Y, "exact")[1].copy()
    p = int(np.argmax(np.abs(a)))
    a[p] *= 1 + 1e-3
    assert sweep_prepared(prep, STEPS, analytic=a).verdict.kind == "derivation-error"


@pytest.mark.parametrize("out,loss", [("softmax", "cce"), ("sigmoid", "ce")])
def test_kink_at_zero_is_a_plateau_at_every_step(out: str, loss: str) -> None:
    """Pre-activations exactly at 0: every step straddles, the error stays on a plateau,
    and without those entries the curve is a V (truncation ~h^2, round-off ~1/h if seen)."""
    s = run(act="relu", out=out, loss=loss, backprop="exact", data=KINK_DATA)
    assert s.verdict.kind == "kink-plateau" and s.verdict.ok
    assert all(p.region == "kink" and p.straddled for p in s.points)
    errors = [p.normwise for p in s.points]
    assert max(errors) < 1.1 * min(errors)  # flat: the error does not fall with h
    assert abs(s.fit("kink").slope) < 0.05
    assert 1e-8 <= s.verdict.recommended_step <= 1e-4
    assert s.fit("truncation").slope == pytest.approx(2.0, abs=0.25)
    r = s.fit("round-off")
    if loss == "ce":  # softmax + cce takes its differences so accurately that 1/h never shows
        assert r is not None and r.slope == pytest.approx(-1.0, abs=0.15)


def test_natural_straddle_is_a_plateau_until_below_the_margin() -> None:
    """relu + cce: large steps straddle a kink and hold the error up (slope well below 2);
    once no stencil straddles, the curve is a V whose best step straddles nothing."""
    s = run(act="relu", loss="cce")
    kinks = [p for p in s.points if p.region == "kink"]
    assert kinks and all(p.straddled for p in kinks)
    assert min(p.step for p in kinks) > s.verdict.recommended_step
    assert s.fit("kink").slope < 1.5
    assert s.verdict.kind == "v"
    best = next(p for p in s.points if p.region == "best")
    assert best.straddled == 0 and best.clamp_crossed == 0
    assert any(line.startswith("kink plateau for h = 0.0032 to 0.1") for line in
               verdict_lines(s))


def test_clamp_crossing_into_log0_is_a_clamp_plateau_not_a_failure() -> None:
    """softplus + ce without a clamp: large steps push 1 - y to 0 (log(0) = -inf) for some
    entries; those steps are a clamp plateau, and the steps below still give a V."""
    s = run(act="softplus", loss="ce", eps=0.0, backprop="exact")
    plateau = [p for p in s.points if p.region == "clamp"]
    assert plateau and all(p.clamp_crossed and not p.straddled for p in plateau)
    assert any(not math.isfinite(p.normwise) for p in plateau)
    assert s.verdict.kind == "v" and s.verdict.recommended_step < min(p.step for p in plateau)
    assert any(line.startswith("clamp plateau") for line in verdict_lines(s))


def test_too_few_decades_is_inconclusive_not_a_pass() -> None:
    """A large error over a narrow range of steps is inconclusive (exit 1), not a V."""
    s = sweep_prepared(prepare(validate(CellSpec(act="relu", loss="ce", step=1e-6))),
                       parse_steps("1e-5,1e-6,1e-7"))
    assert s.verdict.kind == "inconclusive" and not s.verdict.ok
    assert s.verdict.recommended_step is None


def test_float32_cell_has_its_best_step_at_larger_h() -> None:
    """In float32 round-off sets in much earlier, so the best step is large (>= 1e-3)."""
    s = run(act="sigmoid", loss="ce", dtype="float32")
    assert s.verdict.kind == "v"
    assert s.verdict.recommended_step >= 1e-3
    assert s.fit("round-off").slope == pytest.approx(-1.0, abs=0.2)


# --- the command ----------------------------------------------------------------------------

def invoke(*args: str):
    """Run relu-diag with args; return the click result."""
    return CliRunner().invoke(main, list(args))


def test_cli_json_is_versioned_and_byte_stable() -> None:
    """--format json prints the sweep/1 document, identical on a second run, exit 0 for a V."""
    args = ("sweep", "--act", "sigmoid", "--format", "json", "--steps", "1e-2:1e-10:9")
    r1, r2 = invoke(*args), invoke(*args)
    assert r1.exit_code == 0, r1.output
    assert r1.output == r2.output
    doc = json.loads(r1.output)
    assert doc["schema"] == SCHEMA == "relu-diag/sweep/1"
    assert doc["verdict"]["kind"] == "v" and doc["exit_code"] == 0
    assert [s["step"] for s in doc["steps"]][:2] == [1e-2, 1e-3]
    assert doc["verdict"]["recommended_step"] in [s["step"] for s in doc["steps"]]
    assert {f["region"] for f in doc["fits"]} >= {"truncation", "round-off"}


def test_cli_derivation_error_exits_1_with_the_verdict_in_words() -> None:
    """The seed's failing cell: the table, the verdict and exit code 1."""
    r = invoke("sweep", "--act", "relu", "--loss", "ce", "--no-chart")
    assert r.exit_code == 1
    assert "derivation error" in r.output and "no step will make the check pass" in r.output


def test_cli_table_prints_chart_and_recommended_step() -> None:
    """The table output has the chart's axis and the recommended --step."""
    r = invoke("sweep", "--act", "tanh", "--out", "sigmoid", "--backprop", "exact")
    assert r.exit_code == 0
    assert "step h" in r.output and "recommended: --step 1e-05" in r.output
    assert "└" in r.output


def test_cli_output_file_holds_the_json(tmp_path: Path) -> None:
    """--output writes the same JSON document to a file while stdout keeps the table."""
    out = tmp_path / "sweep.json"
    r = invoke("sweep", "--loss", "cce", "--steps", "1e-3,1e-6", "--output", str(out))
    assert r.exit_code == 0
    assert json.loads(out.read_text())["schema"] == SCHEMA


@pytest.mark.parametrize("args,needle", [
    (["--steps", "1e-1:1e-12"], "--steps"),
    (["--plot", "curve.pdf"], "--plot"),
    (["--act", "relux"], "relu"),
    (["--data", "no/such.npz"], "no/such.npz"),
])
def test_cli_bad_input_is_one_line_and_exit_2(args: list[str], needle: str) -> None:
    """Bad --steps, --plot suffix, names or data files: one line naming them, exit 2."""
    r = invoke("sweep", *args)
    assert r.exit_code == 2
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.output


# --- a user's function (--fn) ---------------------------------------------------------------

USER_FN = '''
import numpy as np
from relu_ce_diag.model.network import Net, backprop

NET = Net(sizes=(4, 6, 3), act="tanh", out="sigmoid", loss="ce")
CALLS = {"n": 0}


def exact(W, X, Y):
    return backprop(NET, W, X, Y, "exact")


def wrong(W, X, Y):
    f, df = backprop(NET, W, X, Y, "exact")
    return f, 1.5 * df


KINKED = Net(sizes=(4, 6, 3), act="relu", out="softmax", loss="cce")


def kinked(W, X, Y):
    return backprop(KINKED, W, X, Y, "exact")


def noisy(W, X, Y):
    CALLS["n"] += 1
    f, df = backprop(NET, W, X, Y, "exact")
    return f * (1 + 1e-9 * CALLS["n"]), df
'''


@pytest.fixture
def user_case(tmp_path: Path) -> tuple[Path, Path]:
    """A user's gradient file and an .npz with W, X, Y for a 4-6-3 tanh/sigmoid/ce net."""
    from relu_ce_diag.model.network import Net
    from relu_ce_diag.settings.data import generate_inputs, generate_weights

    fn = tmp_path / "userfn_sweep.py"
    fn.write_text(USER_FN)
    rng = np.random.default_rng(5)
    X, Y = generate_inputs(rng, 10, 4, 3, "onehot")
    W = generate_weights(rng, Net(sizes=(4, 6, 3)))
    data = tmp_path / "case.npz"
    np.savez(data, X=X, Y=Y, W=W)
    return fn, data


def test_fn_correct_gradient_gives_a_v(user_case: tuple[Path, Path]) -> None:
    """sweep --fn on a correct function: a V with the usual slopes, exit 0, no kink counts."""
    fn, data = user_case
    r = invoke("sweep", "--fn", f"{fn}:exact", "--data", str(data), "--format", "json",
               "--steps", "1e-1:1e-12:12")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["verdict"]["kind"] == "v"
    assert 1e-8 <= doc["verdict"]["recommended_step"] <= 1e-4
    fits = {f["region"]: f["slope"] for f in doc["fits"]}
    assert fits["truncation"] == pytest.approx(2.0, abs=0.25)
    assert fits["round-off"] == pytest.approx(-1.0, abs=0.15)
    assert doc["black_box"] is True
    assert all(s["straddled"] == 0 and s["clamp_crossed"] is None for s in doc["steps"])


def test_fn_wrong_gradient_is_a_derivation_error(user_case: tuple[Path, Path]) -> None:
    """sweep --fn on a gradient off by a factor 1.5: flat at every step, exit 1."""
    fn, data = user_case
    r = invoke("sweep", "--fn", f"{fn}:wrong", "--data", str(data), "--no-chart",
               "--steps", "1e-1:1e-12:12")
    assert r.exit_code == 1
    assert "derivation error" in r.stdout and "black box" in r.stdout


def test_fn_exact_kink_is_a_plateau_not_a_derivation_error(
        user_case: tuple[Path, Path]) -> None:
    """A correct relu function at a W exactly on its kinks: the one-sided test sets those
    entries aside, so the sweep says kink plateau (exit 0), never derivation error."""
    fn, _ = user_case
    r = invoke("sweep", "--fn", f"{fn}:kinked", "--data", KINK_DATA, "--format", "json",
               "--steps", "1e-1:1e-12:12")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["verdict"]["kind"] == "kink-plateau"
    assert all(s["straddled"] > 0 for s in doc["steps"])
    assert "W sits exactly on a kink" in doc["verdict"]["text"][0]


@pytest.mark.parametrize("case,needle", [("no-data", "--data"), ("no-W", "W"),
                                         ("noisy", "not deterministic")])
def test_fn_bad_input_exits_2(user_case: tuple[Path, Path], tmp_path: Path, case: str,
                              needle: str) -> None:
    """--fn without --data, data without W, a non-deterministic function: one line, exit 2."""
    fn, data = user_case
    args = ["sweep", "--fn", f"{fn}:{'noisy' if case == 'noisy' else 'exact'}"]
    if case == "no-W":
        with np.load(data) as z:
            np.savez(tmp_path / "now.npz", X=z["X"], Y=z["Y"])
        args += ["--data", str(tmp_path / "now.npz")]
    elif case == "noisy":
        args += ["--data", str(data)]
    r = invoke(*args)
    assert r.exit_code == 2
    assert needle in r.stderr and "Traceback" not in r.output
