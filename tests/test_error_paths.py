"""Every error path of the CLI: exit 2, one line naming the thing, never a traceback.

Each case is a bad option, YAML key or value, data file or user function, given to the
command as a user would; the expected fragment is what the one-line message must name.
Internal errors give exit 3 and say how to see the traceback; ``--debug`` shows it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from relu_ce_diag.cli import main

ROOT = Path(__file__).resolve().parent.parent
SMOKE = str(ROOT / "configs" / "smoke.yaml")

GOOD_X = np.linspace(-1, 1, 12).reshape(4, 3)
GOOD_Y = np.eye(4)[:, :2]
GOOD_W = np.linspace(-0.5, 0.5, 2 * 4 + 2 * 3)  # 3 inputs, 2 hidden, 2 outputs

NPZ = {  # name -> arrays of a bad (or, for ok/w, good) data file
    "ok": {"X": GOOD_X, "Y": GOOD_Y},
    "w": {"X": GOOD_X, "Y": GOOD_Y, "W": GOOD_W},
    "nan": {"X": np.full((4, 3), np.nan), "Y": GOOD_Y},
    "inf": {"X": GOOD_X, "Y": np.full((4, 2), np.inf)},
    "obj": {"X": np.array([None, 1], dtype=object), "Y": GOOD_Y},
    "str": {"X": np.array(["a", "b"]), "Y": GOOD_Y},
    "cplx": {"X": GOOD_X * 1j, "Y": GOOD_Y},
    "d3": {"X": np.zeros((2, 2, 2)), "Y": np.eye(2)},
    "d0": {"X": np.array(1.0), "Y": np.eye(2)},
    "d1": {"X": np.ones(4), "Y": GOOD_Y},
    "empty": {"X": np.zeros((0, 3)), "Y": np.zeros((0, 2))},
    "rows": {"X": GOOD_X, "Y": np.eye(5)[:, :2]},
    "noy": {"X": GOOD_X},
    "nox": {"Y": GOOD_Y},
    "none": {"Z": GOOD_X},
    "w2d": {"X": GOOD_X, "Y": GOOD_Y, "W": np.ones((3, 3))},
    "wlen": {"X": GOOD_X, "Y": GOOD_Y, "W": np.ones(7)},
    "wnan": {"X": GOOD_X, "Y": GOOD_Y, "W": np.full(GOOD_W.size, np.nan)},
}

PY = {  # name -> source of a user's module for --fn
    "fn.py": "import numpy as np\n"
             "def ok(W, X, Y):\n    return float(W @ W), 2 * W\n"
             "def boom(W, X, Y):\n    raise ValueError('boom')\n"
             "def none(W, X, Y):\n    return None\n"
             "def three(W, X, Y):\n    return (1.0,)\n"
             "def strs(W, X, Y):\n    return 'a', 'b'\n"
             "def shape(W, X, Y):\n    return 1.0, W[:-1]\n"
             "def cplx(W, X, Y):\n    return 1.0, W * 1j\n"
             "def vecloss(W, X, Y):\n    return W, W\n"
             "def nanloss(W, X, Y):\n    return float('nan'), W\n"
             "def leaves(W, X, Y):\n    import sys; sys.exit(3)\n"
             "def deep(W, X, Y):\n    return deep(W, X, Y)\n"
             "VALUE = 3\n",
    "syntax.py": "def f(:\n",
    "raises.py": "raise RuntimeError('at import')\n",
    "exits.py": "import sys\nsys.exit(0)\n",
}

YAML = {  # name -> text of a bad grid file, and the fragment its message must name
    "notyaml.yaml": ("grid: [\n", "not valid YAML"),
    "pyobj.yaml": ("grid: !!python/object:os.system {}\n", "refused tag"),
    "pyapply.yaml": ("cells: [!!python/object/apply:os.getcwd []]\n", "refused tag"),
    "pyname.yaml": ("grid: {act: [!!python/name:os.system '']}\n", "refused tag"),
    "toplist.yaml": ("- 1\n- 2\n", "a mapping"),
    "topnum.yaml": ("3\n", "a mapping"),
    "emptydoc.yaml": ("", "a grid"),
    "unknowntop.yaml": ("grid: {act: [relu]}\ngird: 1\n", "gird"),
    "recursive.yaml": ("a: &a [*a]\n", "nested too deeply"),
    "deep.yaml": ("grid: " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
    "binary.yaml": (b"\xff\xfe\x00grid", "cannot read"),
    "numkey.yaml": ("grid: {1: [2]}\n", "one of the keys"),
    "badact.yaml": ("grid: {act: [rleu]}\n", "did you mean 'relu'"),
    "badloss.yaml": ("defaults: {loss: xe}\ngrid: {act: [relu]}\n", "loss"),
    "badout.yaml": ("grid: {out: [softmaxx]}\n", "out"),
    "actsoftmax.yaml": ("grid: {act: [softmax]}\n", "act"),
    "badbackprop.yaml": ("grid: {backprop: [shortcutt]}\n", "backprop"),
    "badtargets.yaml": ("grid: {targets: [hot]}\n", "targets"),
    "baddtype.yaml": ("grid: {dtype: [float16]}\n", "dtype"),
    "zerohidden.yaml": ("grid: {hidden: [0]}\n", "hidden"),
    "emptyhidden.yaml": ("grid: {hidden: [[]]}\n", "hidden"),
    "nestedhidden.yaml": ("grid: {hidden: [[1, [2]]]}\n", "hidden"),
    "strhidden.yaml": ("grid: {hidden: [a]}\n", "hidden"),
    "nanEps.yaml": ("grid: {eps: [.nan]}\n", "eps"),
    "bigeps.yaml": ("grid: {eps: [0.9]}\n", "eps"),
    "streps.yaml": ("grid: {eps: [small]}\n", "eps"),
    "booleps.yaml": ("grid: {eps: [true]}\n", "eps"),
    "zerostep.yaml": ("grid: {step: [0]}\n", "step"),
    "tinystep.yaml": ("grid: {step: [1e-320]}\n", "step"),
    "tinystep32.yaml": ("defaults: {dtype: float32}\ngrid: {step: [1e-8]}\n", "float32"),
    "negseed.yaml": ("grid: {seed: [-1]}\n", "seed"),
    "floatseed.yaml": ("grid: {seed: [1.5]}\n", "seed"),
    "zerosamples.yaml": ("grid: {samples: [0]}\n", "samples"),
    "boolinputs.yaml": ("grid: {inputs: [true]}\n", "inputs"),
    "oneoutput.yaml": ("cells: [{act: relu, outputs: 1}]\n", "outputs"),
    "badslope.yaml": ("grid: {leaky-slope: [2]}\n", "leaky"),
    "badzero.yaml": ("grid: {relu-grad-at-zero: [-1]}\n", "relu"),
    "dateact.yaml": ("grid: {act: [2001-01-01]}\n", "act"),
    "mapact.yaml": ("grid: {act: {a: 1}}\n", "act"),
    "emptyaxis.yaml": ("grid: {act: []}\n", "non-empty"),
    "emptygrid.yaml": ("name: x\n", "empty"),
    "gridlist.yaml": ("grid: [relu]\n", "grid"),
    "cellsmap.yaml": ("cells: {act: relu}\n", "cells"),
    "cellnum.yaml": ("cells: [3]\n", "cells[0]"),
    "cellid.yaml": ("cells: [{id: 3}]\n", "id"),
    "cellkey.yaml": ("cells: [{actt: relu}]\n", "actt"),
    "ctlid.yaml": ('cells: [{id: "a\\x01b", act: relu}]\n', "printable text"),
    "surrogateid.yaml": ('cells: [{id: "x\\ud800y", act: relu}]\n', "lone surrogates"),
    "surrogatename.yaml": ('name: "\\udfff"\ngrid: {act: [relu]}\n', "name"),
    "namelist.yaml": ("name: [1]\ngrid: {act: [relu]}\n", "name"),
    "nodata.yaml": ("grid: {act: [relu]}\ndefaults: {data: nope.npz}\n", "nope.npz"),
    "datanum.yaml": ("grid: {act: [relu]}\ndefaults: {data: 3}\n", "data"),
    "garbagedata.yaml": ("grid: {act: [relu]}\ndefaults: {data: garbage.npz}\n",
                         "not a zip of numeric arrays"),
    "nandata.yaml": ("grid: {act: [relu]}\ndefaults: {data: nan.npz}\n", "nan.npz"),
    "objdata.yaml": ("grid: {act: [relu]}\ndefaults: {data: obj.npz}\n", "obj.npz"),
    "expectnum.yaml": ("grid: {act: [relu]}\nexpect: 3\n", "expect"),
    "expectstatus.yaml": ("grid: {act: [relu]}\nexpect: [{match: {act: relu}, status: maybe}]\n",
                          "status"),
    "expectnostatus.yaml": ("grid: {act: [relu]}\nexpect: [{match: {act: relu}}]\n", "status"),
    "expectkey.yaml": ("grid: {act: [relu]}\nexpect: [{match: {nope: 1}, status: pass}]\n",
                       "nope"),
    "expectmatch.yaml": ("grid: {act: [relu]}\nexpect: [{match: 3, status: pass}]\n", "match"),
    "expectvalue.yaml": ("grid: {act: [relu]}\nexpect: [{match: {act: rel}, status: pass}]\n",
                         "act"),
    "expectwhy.yaml": ("grid: {act: [relu]}\nexpect: [{status: pass, why: [1]}]\n", "why"),
    "expectrule.yaml": ("grid: {act: [relu]}\nexpect: [{status: pass, when: 1}]\n", "when"),
    "huge.yaml": ("grid: {act: [relu]}\ndefaults: {hidden: 100000, inputs: 1000}\n",
                  "--max-params"),
    "hugeint.yaml": ("grid: {hidden: [100000000000000000000]}\n", "--max-params"),
    "product.yaml": (f"grid: {{seed: {list(range(200))}, samples: {list(range(1, 101))}}}\n",
                     "20,000 cells"),
    "hugeram.yaml": ("defaults: {inputs: 1, hidden: 1, samples: 100000000}\n"
                     "grid: {act: [relu]}\n", "GiB"),
}


def _write_bomb(path: Path) -> None:
    """Write a 1 MB .npz whose X header declares 10^6 x 10^5 float64 values (800 GB)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, shape in (("X", (10**6, 10**5)), ("Y", (10**6, 2))):
            with zf.open(f"{key}.npy", "w", force_zip64=True) as fp:
                np.lib.format.write_array_header_2_0(
                    fp, {"descr": "<f8", "fortran_order": False, "shape": shape})
                fp.write(b"\0" * (1 << 20))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding every bad (and a few good) data, function and grid files."""
    d = tmp_path_factory.mktemp("bad")
    for name, arrays in NPZ.items():
        np.savez(d / f"{name}.npz", **arrays)  # type: ignore[arg-type]
    (d / "garbage.npz").write_bytes(b"this is not a zip file")
    _write_bomb(d / "bomb.npz")
    (d / "zero.npz").write_bytes(b"")
    (d / "folder.npz").mkdir()
    (d / "outdir").mkdir()
    for name, text in PY.items():
        (d / name).write_text(text)
    for name, (text, _) in YAML.items():
        if isinstance(text, bytes):
            (d / name).write_bytes(text)
        else:
            (d / name).write_text(text)
    return d


DATA_CASES = [  # --data problems, for check and sweep alike: (file, fragment)
    ("nope.npz", "no such file"), ("garbage.npz", "not a zip of numeric arrays"),
    ("zero.npz", "not a readable .npz"), ("folder.npz", "no such file"),
    ("nan.npz", "NaN"), ("inf.npz", "infinite"), ("obj.npz", "object arrays"), ("str.npz", "dtype"),
    ("cplx.npz", "dtype"), ("d3.npz", "2-D"), ("d0.npz", "2-D"), ("d1.npz", "2-D"),
    ("empty.npz", "empty"), ("rows.npz", "rows"), ("noy.npz", "missing array(s) Y"),
    ("nox.npz", "missing array(s) X"), ("none.npz", "missing array(s) X, Y"),
    ("w2d.npz", "W must be a vector"), ("wlen.npz", "fits no single hidden layer"),
    ("wnan.npz", "NaN"), ("bomb.npz", "GiB as float64"),
]

OPTION_CASES = [  # options common to check and sweep: (args, fragment)
    (["--act", "rleu"], "did you mean 'relu'"), (["--act", "softmax"], "--act"),
    (["--out", "softmaxx"], "--out"), (["--loss", "xe"], "--loss"),
    (["--backprop", "exactt"], "--backprop"), (["--targets", "hot"], "--targets"),
    (["--dtype", "float16"], "--dtype"), (["--eps", "-1"], "--eps"),
    (["--eps", "nan"], "--eps"), (["--eps", "inf"], "--eps"), (["--eps", "0.6"], "--eps"),
    (["--eps", "small"], "--eps"), (["--hidden", "0"], "--hidden"),
    (["--hidden", "a,b"], "--hidden"), (["--hidden", ""], "--hidden"),
    (["--hidden", "-3"], "--hidden"), (["--hidden", "1,,2"], "--hidden"),
    (["--inputs", "0"], "--inputs"), (["--inputs", "x"], "--inputs"),
    (["--outputs", "0"], "--outputs"), (["--outputs", "1"], "--outputs"),
    (["--samples", "0"], "--samples"), (["--samples", "1e3"], "--samples"),
    (["--seed", "-1"], "--seed"), (["--seed", "x"], "--seed"), (["--step", "0"], "--step"),
    (["--step", "-1"], "--step"), (["--step", "2"], "--step"), (["--step", "nan"], "--step"),
    (["--step", "1e-320"], "2.22e-16"), (["--step", "1e-8", "--dtype", "float32"], "float32"),
    (["--data", "two\nlines.npz"], "two\\nlines.npz"), (["--output", "no\ndir/x"], "no\\ndir"),
    (["--relu-grad-at-zero", "2"], "--relu-grad-at-zero"),
    (["--relu-grad-at-zero", "nan"], "--relu-grad-at-zero"),
    (["--leaky-slope", "-1"], "--leaky-slope"), (["--leaky-slope", "1.5"], "--leaky-slope"),
    (["--format", "xml"], "--format"), (["--output", "nodir/x.json"], "nodir"),
    (["--output", "outdir"], "outdir"), (["--max-params", "0"], "--max-params"),
    (["--max-params", "10"], "--max-params"), (["--hidden", "100000", "--inputs", "1000"],
                                               "--max-params"),
    (["--inputs", "1", "--hidden", "1", "--samples", "100000000"], "GiB"),
    (["--nope"], "--nope"), (["extra"], "extra"), (["--act"], "--act"),
]

CHECK_CASES = [
    (["--save-grads", "nodir/g.npz"], "nodir"), (["--ignore", "pairng"], "pairing"),
    (["--directions", "0"], "--directions"), (["--directions", "x"], "--directions"),
]

FN_CASES = [  # (args after --fn, fragment)
    (["fn.py:ok"], "--data"), (["fn.py:ok", "--data", "ok.npz"], "no array W"),
    (["nope.py:f", "--data", "w.npz"], "no such file"),
    (["fn.py", "--data", "w.npz"], "FILE.py:NAME"), ([":", "--data", "w.npz"], "FILE.py:NAME"),
    (["fn.py:okk", "--data", "w.npz"], "did you mean 'ok'"),
    (["fn.py:VALUE", "--data", "w.npz"], "not a function"),
    (["fn.py:boom", "--data", "w.npz"], "ValueError: boom"),
    (["fn.py:none", "--data", "w.npz"], "must return (f, df)"),
    (["fn.py:three", "--data", "w.npz"], "must return (f, df)"),
    (["fn.py:strs", "--data", "w.npz"], "real scalar loss"),
    (["fn.py:shape", "--data", "w.npz"], "shape"),
    (["fn.py:cplx", "--data", "w.npz"], "real numbers"),
    (["fn.py:vecloss", "--data", "w.npz"], "real scalar loss"),
    (["fn.py:nanloss", "--data", "w.npz"], "nan"),
    (["fn.py:leaves", "--data", "w.npz"], "SystemExit"),
    (["fn.py:deep", "--data", "w.npz"], "RecursionError"),
    (["syntax.py:f", "--data", "w.npz"], "SyntaxError"),
    (["raises.py:f", "--data", "w.npz"], "RuntimeError: at import"),
    (["exits.py:f", "--data", "w.npz"], "SystemExit"),
    (["no_such_module_xyz:f", "--data", "w.npz"], "no module named"),
    (["fn.py:ok", "--data", "nan.npz"], "NaN"),
    (["fn.py:ok", "--data", "garbage.npz"], "not a zip of numeric arrays"),
]

SWEEP_CASES = [
    (["--steps", "x"], "--steps"), (["--steps", ""], "--steps"), (["--steps", "0"], "--steps"),
    (["--steps", "-1"], "--steps"), (["--steps", "nan"], "--steps"),
    (["--steps", "1e-3:1e-1"], "--steps"), (["--steps", "1e-3:1e-1:0"], "--steps"),
    (["--steps", "1e-3:1e-1:100000000"], "--steps"), (["--steps", "1e-3,abc"], "--steps"),
    (["--steps", "1e-300:1e-1:x"], "--steps"), (["--plot", "x.txt"], "x.txt"),
]

GRID_OPTION_CASES = [
    ([SMOKE, "--jobs", "0"], "--jobs"), ([SMOKE, "--shard", "3/2"], "--shard"),
    ([SMOKE, "--shard", "x"], "--shard"), ([SMOKE, "--shard", "0/0"], "--shard"),
    ([SMOKE, "--format", "x"], "--format"), ([SMOKE, "--output", "nodir/x.json"], "nodir"),
    ([SMOKE, "--output", "outdir"], "outdir"), ([SMOKE, "--max-params", "10"], "--max-params"),
    (["nope.yaml"], "no such file"), (["outdir"], "outdir"), ([], "FILE.yaml"),
]

OTHER_CASES = [
    (["explain", "pairng"], "did you mean 'pairing'"), (["explain", "a", "b"], "b"),
    (["nope"], "nope"), (["--nope"], "--nope"), (["chek"], "chek"),
]

ALL: list[tuple[str, list[str], str]] = (
    [(f"check {' '.join(a)}", ["check", *a], m) for a, m in OPTION_CASES + CHECK_CASES]
    + [(f"sweep {' '.join(a)}", ["sweep", "--no-chart", *a], m)
       for a, m in OPTION_CASES + SWEEP_CASES]
    + [(f"check --data {f}", ["check", "--data", f], m) for f, m in DATA_CASES]
    + [(f"sweep --data {f}", ["sweep", "--data", f], m) for f, m in DATA_CASES]
    + [(f"check --fn {' '.join(a)}", ["check", "--fn", *a], m) for a, m in FN_CASES]
    + [(f"sweep --fn {' '.join(a)}", ["sweep", "--fn", *a], m) for a, m in FN_CASES]
    + [(f"grid {name}", ["grid", name], m) for name, (_, m) in YAML.items()]
    + [(f"grid {' '.join(a).replace(SMOKE, 'smoke.yaml')}", ["grid", *a], m)
       for a, m in GRID_OPTION_CASES]
    + [(" ".join(a), a, m) for a, m in OTHER_CASES]
)


def test_the_catalogue_is_large() -> None:
    """Hundreds of bad inputs are tried, across every command."""
    commands = {args[0] for _, args, _ in ALL}
    assert len(ALL) >= 250 and commands >= {"check", "sweep", "grid", "explain"}


@pytest.mark.parametrize(("label", "args", "fragment"), ALL, ids=[c[0][:60] for c in ALL])
def test_bad_input_is_one_line_and_exit_2(folder: Path, monkeypatch: pytest.MonkeyPatch,
                                          label: str, args: list[str], fragment: str) -> None:
    """Exit 2, exactly one error line that names the culprit, no traceback anywhere."""
    monkeypatch.chdir(folder)
    r = CliRunner().invoke(main, args)
    out = r.stdout + r.stderr
    assert "Traceback" not in out, out
    assert r.exit_code == 2, (label, r.exit_code, r.stderr, repr(r.exception))
    assert r.stdout == "", r.stdout  # refused before any work: nothing was judged
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("relu-diag: error:")]
    assert len(errors) == 1, r.stderr
    # --fn announces its calls first; every other line is such a note, never a continuation
    assert all(ln.startswith("relu-diag: ") for ln in r.stderr.splitlines()), r.stderr
    assert fragment.lower() in errors[0].lower(), (fragment, errors[0])


@pytest.mark.parametrize("command", [["check"], ["sweep", "--no-chart"],
                                     ["grid", SMOKE, "--shard", "1/20"]])
def test_internal_error_is_exit_3_with_a_hint(monkeypatch: pytest.MonkeyPatch,
                                              command: list[str]) -> None:
    """A bug inside relu-diag is exit 3, one line naming the exception and --debug."""
    import relu_ce_diag.run.cell
    import relu_ce_diag.settings.cells

    def broken(*args: object, **kw: object) -> None:
        raise ZeroDivisionError("planted")

    monkeypatch.setattr(relu_ce_diag.run.cell, "check_prepared", broken)
    monkeypatch.setattr(relu_ce_diag.settings.cells, "prepare", broken)
    r = CliRunner().invoke(main, command)
    if command[0] == "grid":  # isolation: the planted bug is that cell's error row
        assert r.exit_code == 1 and "ZeroDivisionError: planted" in r.stdout
        return
    assert r.exit_code == 3, (r.exit_code, r.stderr)
    assert "Traceback" not in r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "ZeroDivisionError: planted" in lines[0]
    assert "--debug" in lines[0]


PLANT = ("import relu_ce_diag.run.cell as r\n"
         "def broken(*a, **k):\n    raise ZeroDivisionError('planted')\n"
         "r.run_cell = broken\n"
         "import sys\nfrom relu_ce_diag.cli import main\nmain(sys.argv[1:])\n")


@pytest.mark.parametrize(("argv", "env", "traceback"), [
    (["check"], {}, False),
    (["--debug", "check"], {}, True),
    (["check", "--debug"], {}, True),
    (["check"], {"RELU_DIAG_DEBUG": "1"}, True),
])
def test_debug_shows_the_traceback(argv: list[str], env: dict[str, str],
                                   traceback: bool) -> None:
    """In a real process: exit 3 and one line without --debug; the traceback with it."""
    proc = subprocess.run([sys.executable, "-c", PLANT, *argv], capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=60, check=False)
    assert ("Traceback" in proc.stderr) is traceback, proc.stderr
    assert "ZeroDivisionError: planted" in proc.stderr
    if not traceback:
        assert proc.returncode == 3 and len(proc.stderr.strip().splitlines()) == 1
    else:
        assert proc.returncode != 0


def test_python_object_tag_is_refused_not_built(folder: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A !!python/object/apply tag is refused by safe_load; the named call never runs."""
    monkeypatch.chdir(folder)
    marker = folder / "ran.txt"
    (folder / "attack.yaml").write_text(
        f"cells: [!!python/object/apply:pathlib.Path.touch [!!python/object/apply:pathlib.Path"
        f" ['{marker}']]]\n")
    r = CliRunner().invoke(main, ["grid", "attack.yaml"])
    assert r.exit_code == 2 and "refused tag" in r.stderr and "safe_load" in r.stderr
    assert not marker.exists()


def test_fn_loads_only_the_named_file(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--fn imports the one file named; a neighbour with side effects is not executed."""
    monkeypatch.chdir(folder)
    marker = folder / "neighbour_ran.txt"
    (folder / "neighbour.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    r = CliRunner().invoke(main, ["check", "--fn", "fn.py:ok", "--data", "w.npz"])
    assert r.exit_code in (0, 1), r.stderr
    assert not marker.exists()


def test_no_eval_in_the_package() -> None:
    """No eval/exec of config strings anywhere in the package; YAML only via safe_load."""
    src = "\n".join(p.read_text() for p in (ROOT / "relu_ce_diag").rglob("*.py"))
    for banned in ("eval(", "exec(", "yaml.load(", "yaml.unsafe_load", "yaml.full_load",
                   "allow_pickle=True", "pickle.load"):
        assert banned not in src.replace("literal_eval(", ""), banned


@pytest.mark.parametrize("command", [
    ["grid", "markup.yaml"], ["grid", "markup.yaml", "--format", "junit"],
    ["check", "--data", "[/]x.npz", "--hidden", "2", "--explain"],
    ["sweep", "--data", "[/]x.npz", "--hidden", "2", "--steps", "1e-2,1e-4"]])
def test_user_text_is_printed_not_parsed_as_markup(folder: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   command: list[str]) -> None:
    """A '[/]' or '[bold' in a grid name, id, why or file name is shown as written (it was
    a Rich MarkupError, exit 3, after every cell had run)."""
    monkeypatch.chdir(folder)
    (folder / "[").mkdir(exist_ok=True)
    np.savez(folder / "[" / "]x.npz", X=GOOD_X, Y=GOOD_Y)
    (folder / "markup.yaml").write_text(
        'name: "[/] [bold"\ndescription: "[/red]"\ndefaults: {hidden: 2, inputs: 2}\n'
        'cells:\n  - {id: "[/]x[/bold]", act: sigmoid}\n  - {id: "[link=x]y", act: tanh}\n'
        'expect:\n  - {match: {act: tanh}, status: pass, why: "[/i]"}\n')
    r = CliRunner().invoke(main, command)
    assert r.exit_code in (0, 1), (r.exit_code, r.stderr)
    if command[0] == "grid" and "junit" not in command:
        assert "[/] [bold: [/red]" in r.stdout and "[/]x[/bold]" in r.stdout
        assert "[/i]" in r.stdout
