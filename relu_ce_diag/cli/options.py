"""Options shared by the commands that run cells, and their conversion to a CellSpec."""

from __future__ import annotations

import ast
import os
from collections.abc import Callable
from typing import Any

import click

from relu_ce_diag.errors import match_name, suggest
from relu_ce_diag.model.activations import ACTIVATIONS, DEFAULT_ACT, HIDDEN_NAMES
from relu_ce_diag.model.described import L2_FORMS, LAYOUTS, REDUCTIONS
from relu_ce_diag.model.losses import DEFAULT_LOSS, LOSSES, MATLAB_EPS
from relu_ce_diag.model.network import BACKPROPS
from relu_ce_diag.model.precision import DTYPES, STEP
from relu_ce_diag.numeric import METHODS
from relu_ce_diag.settings.cells import CellSpec
from relu_ce_diag.settings.data import TARGETS


class Name(click.Choice):
    """A click.Choice that takes any case (CE, ReLU) and whose error names the closest
    allowed value."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        found = match_name(value, map(str, self.choices))
        if found is not None:
            return found
        self.fail(f"{value!r} is not one of {', '.join(map(str, self.choices))}"
                  f"{suggest(str(value), map(str, self.choices))}.", param, ctx)


class FileName(click.ParamType):
    """A file name the shell completes; relu-diag checks it itself, with its own words."""

    name = "file"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        return str(value)

    def shell_complete(self, ctx: Any, param: Any, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem
        return [CompletionItem(incomplete, type="file")]


class FunctionRef(FileName):
    """FILE.py:NAME (or FILE.m, package.module:NAME): the shell completes the file part."""

    name = "FILE.py:NAME"


FILE = FileName()


class Widths(click.ParamType):
    """Hidden layer widths: ``100`` or ``64,32``."""

    name = "WIDTHS"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, tuple):
            return value
        try:
            widths = tuple(int(v) for v in str(value).split(","))
        except ValueError:
            widths = ()
        if not widths or min(widths) < 1:
            self.fail(f"{value!r} is not a list of layer widths >= 1 such as 100 or 64,32.",
                      param, ctx)
        return widths


CELL_OPTIONS: list[Callable[[Any], Any]] = [
    click.option("--act", type=Name(HIDDEN_NAMES), default=DEFAULT_ACT, show_default=True,
                 help="Hidden activation."),
    click.option("--out", type=Name(tuple(ACTIVATIONS)), default=None,
                 help="Output activation [default: the hidden one; softmax for cce]."),
    click.option("--loss", type=Name(tuple(LOSSES)), default=DEFAULT_LOSS, show_default=True,
                 help="se: 0.5 sum (y-Y)^2; ce: binary cross-entropy with the eps clamp; "
                      "cce: categorical cross-entropy."),
    click.option("--eps", type=float, default=MATLAB_EPS, show_default=True,
                 help="Clamp of log(max(y, eps)); 0 means no clamp."),
    click.option("--backprop", type=Name(BACKPROPS), default="shortcut", show_default=True,
                 help="shortcut: the seed's d3 = y - Y; exact: the true chain rule."),
    click.option("--hidden", type=Widths(), default="100", show_default=True,
                 help="Hidden layer widths, e.g. 100 or 64,32."),
    click.option("--inputs", type=int, default=5, show_default=True, help="Generated inputs."),
    click.option("--outputs", type=int, default=3, show_default=True,
                 help="Generated outputs."),
    click.option("--samples", type=int, default=16, show_default=True,
                 help="Generated samples."),
    click.option("--targets", type=Name(TARGETS), default="onehot", show_default=True,
                 help="Generated targets: one-hot classes or 0/1 multi-label."),
    click.option("--seed", type=int, default=0, show_default=True,
                 help="Seed of the generated data and weights."),
    click.option("--data", type=FILE, default=None, metavar="FILE.npz|FILE.mat",
                 help="Arrays X, Y (and optionally W) instead of generated ones."),
    click.option("--dtype", type=Name(DTYPES), default="float64", show_default=True,
                 help="Precision of the whole computation."),
    click.option("--step", type=float, default=None,
                 help=f"Finite-difference step [default: {STEP['float64']:g} for float64, "
                      f"{STEP['float32']:g} for float32]."),
    click.option("--relu-grad-at-zero", type=float, default=0.0, show_default=True,
                 help="relu'(0) in the analytic gradient (the seed's z > 0 gives 0)."),
    click.option("--leaky-slope", type=float, default=0.01, show_default=True,
                 help="Slope of leaky-relu for z < 0."),
]


numeric_option = click.option(
    "--numeric", type=Name(METHODS), default="fast", show_default=True,
    help="The numerical gradient of the built-in network: fast (structure-aware) or plain "
         "(a loop over the entries, the reference it is tested against).")


def cell_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add every cell option to a command."""
    for opt in reversed(CELL_OPTIONS):
        f = opt(f)
    return f


def spec_from_options(kw: dict[str, Any]) -> CellSpec:
    """Build a CellSpec from the parsed cell options (pops them from ``kw``)."""
    names = ("act", "out", "loss", "eps", "backprop", "hidden", "inputs", "outputs", "samples",
             "targets", "seed", "data", "dtype", "step", "relu_grad_at_zero", "leaky_slope")
    return CellSpec(**{n: kw.pop(n) for n in names})


DESCRIPTION_OPTIONS: list[Callable[[Any], Any]] = [
    click.option("--layout", type=Name(LAYOUTS), default=None,
                 help="With --fn: how the parameters are laid out (seed: the seed's W; cs231n: "
                      "W1 (D, H), b1 (H,), X (N, D); columns: W1 (n1, n0), b1 (n1, 1), X (n0, "
                      "m); theta: the ML course's Theta1 (n1, n0 + 1) with the bias first, "
                      "W = [Theta1(:); Theta2(:)], X (m, n0), labels 1..K) [default: "
                      "detected from names and shapes, or the sizes a --call passes]."),
    click.option("--reduction", type=Name(REDUCTIONS), default=None,
                 help="With --fn: the loss sums or averages over the samples, or averages over "
                      "every output element as np.mean of an (N, C) array does (mean-all) "
                      "[default: the one that reproduces the function's loss]."),
    click.option("--l2", type=click.FloatRange(min=0), default=None, metavar="LAMBDA",
                 help="With --fn: the loss adds an L2 penalty on the weights with this lambda "
                      "(its form is fitted to the loss unless --l2-form is given)."),
    click.option("--l2-form", type=Name(tuple(L2_FORMS)), default=None,
                 help="With --l2: the penalty's form."),
]


def description_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add the options that describe a user's network beyond the cell options."""
    for opt in reversed(DESCRIPTION_OPTIONS):
        f = opt(f)
    return f


def parse_args(items: tuple[str, ...]) -> dict[str, object]:
    """Parse ``--arg NAME=VALUE`` items: VALUE as a Python literal (3, 0.1, 'relu', [1, 2]),
    else as text."""
    out: dict[str, object] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip().isidentifier():
            raise click.BadParameter(f"{item!r} is not NAME=VALUE, e.g. lam=3",
                                     param_hint="--arg")
        try:
            out[name.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            out[name.strip()] = value.strip()
    return out


FIXED_BY_DATA = ("inputs", "outputs", "samples", "targets")


def refuse_ignored(spec: CellSpec, fn_given: bool = False) -> None:
    """Refuse cell options the data file overrides (--inputs, --outputs, --samples,
    --targets; --hidden when the file holds W), rather than run another network silently."""
    if spec.data is None or fn_given:
        return
    from click.core import ParameterSource

    from relu_ce_diag.errors import OptionError
    from relu_ce_diag.settings.data import read_npz

    ctx = click.get_current_context()

    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT)

    for name in FIXED_BY_DATA:
        if given(name):
            raise OptionError(f"--{name}", getattr(spec, name), f"no --{name} with --data "
                              f"{spec.data}: its X and Y fix the sizes")
    if given("hidden") and len(spec.hidden) == 1 and "W" in read_npz(spec.data):
        raise OptionError("--hidden", spec.hidden[0], f"no --hidden with --data {spec.data}: "
                          "its W fixes the hidden width")


MAX_JOBS = max(64, 2 * (os.cpu_count() or 1))  # far past the cores: only start-up and memory


def _jobs(ctx: click.Context, param: click.Parameter, value: int) -> int:
    if value > MAX_JOBS:
        raise click.BadParameter(
            f"got {value}, expected at most {MAX_JOBS}: each job is a process of its own, and "
            f"this machine has {os.cpu_count() or 1} cores", ctx, param)
    return value


def jobs_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--jobs N``: at least 1, and at most MAX_JOBS (10,000 processes would exhaust the
    machine long before they gained anything)."""
    return click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
                        metavar="N", callback=_jobs, help=help_text)
