"""Property: no file given as input to a run is modified by it, whatever the options.

check, check --fn, sweep, sweep --fn and grid run with random mixes of options, their
--output, --save-grads and --plot pointing at the run's own inputs (directly, through a
symbolic link or a hard link) or at fresh files; every input keeps its bytes, and a run told
to write over one of them exits 2 before doing anything.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from hypothesis import event, given, settings
from hypothesis import strategies as st

from relu_ce_diag.cli import main

FN = ("import numpy as np\n"
      "def f(W, X, Y):\n"
      "    z = X @ W.reshape(X.shape[1], -1)\n"
      "    return float(0.5 * np.sum((z - Y) ** 2)), (X.T @ (z - Y)).ravel()\n")
INPUTS = ("case.npz", "net.npz", "model.py", "g.yaml")
USES = {"check": ("net.npz",), "check-fn": ("case.npz", "model.py"), "sweep": ("net.npz",),
        "sweep-fn": ("case.npz", "model.py"), "grid": ("g.yaml", "net.npz")}
ALIASES = {"link.npz": "net.npz", "hard.py": "model.py", "link.yaml": "g.yaml"}
TARGETS = [*INPUTS, *ALIASES, "fresh.json", "fresh.npz", "fresh.png"]


def _folder(root: Path) -> None:
    """Write the inputs of every command, with a symbolic and a hard link to some."""
    X, Y = np.linspace(-1, 1, 12).reshape(4, 3), np.eye(4)[:, :2]
    np.savez(root / "case.npz", X=X, Y=Y, W=np.linspace(-0.5, 0.5, 6))
    np.savez(root / "net.npz", X=X, Y=Y)
    (root / "model.py").write_text(FN)
    (root / "g.yaml").write_text("cells:\n  - {act: tanh, loss: se, hidden: 2, data: net.npz}\n")
    (root / "link.npz").symlink_to("net.npz")
    os.link(root / "model.py", root / "hard.py")
    (root / "link.yaml").symlink_to("g.yaml")


def _digests(root: Path, names: tuple[str, ...]) -> dict[str, str]:
    return {n: hashlib.sha256((root / n).read_bytes()).hexdigest() for n in names}


def _args(root: Path, command: str, options: dict[str, str | None], extra: list[str]
          ) -> list[str]:
    """Build the command line of one run, every path absolute."""
    fn = ["--fn", f"{root / 'model.py'}:f", "--data", str(root / "case.npz")]
    head = {"check": ["check", "--act", "tanh", "--loss", "se", "--hidden", "2", "--data",
                      str(root / "link.npz")],
            "check-fn": ["check", *fn],
            "sweep": ["sweep", "--act", "tanh", "--hidden", "2", "--no-chart", "--data",
                      str(root / "net.npz"), "--steps", "1e-2,1e-5"],
            "sweep-fn": ["sweep", *fn, "--no-chart", "--steps", "1e-2,1e-5"],
            "grid": ["grid", str(root / "link.yaml")]}[command]
    tail = [x for opt, name in options.items() if name is not None
            for x in (opt, str(root / name))]
    return [*head, *tail, *extra]


@settings(max_examples=60)
@given(command=st.sampled_from(["check", "check-fn", "sweep", "sweep-fn", "grid"]),
       output=st.none() | st.sampled_from(TARGETS), second=st.none() | st.sampled_from(TARGETS),
       extra=st.lists(st.sampled_from([["--strict"], ["--format", "json"], ["--seed", "3"]]),
                      max_size=2))
def test_no_input_of_a_run_is_modified(command: str, output: str | None, second: str | None,
                                       extra: list[list[str]]) -> None:
    """A run's inputs keep their bytes; writing over one is exit 2 with stdout empty."""
    flat = [x for e in extra if not (command == "grid" and e[0] == "--seed") for x in e]
    second_opt = {"check": "--save-grads", "check-fn": "--save-grads", "sweep": "--plot",
                  "sweep-fn": "--plot", "grid": None}[command]
    options = {"--output": output}
    if second_opt is not None:
        options[second_opt] = second
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _folder(root)
        before = _digests(root, USES[command])
        r = CliRunner().invoke(main, _args(root, command, options, flat))
        event(f"{command} exit {r.exit_code}")
        assert _digests(root, USES[command]) == before, (command, options, r.stderr)
        named = [ALIASES.get(n, n) for n in options.values() if n is not None]
        clash = bool(set(named) & set(USES[command])) or len(set(named)) < len(named)
        assert r.exit_code in ((2,) if clash else (0, 1, 2)), (command, options, r.stderr)
        if clash:
            assert r.stdout == "" and "relu-diag: error:" in r.stderr
        assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no temporaries
