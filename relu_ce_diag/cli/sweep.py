"""``relu-diag sweep``: the error of the check at many steps, a chart, the recommended step."""

from __future__ import annotations

import sys
from typing import Any

import click
import numpy as np

from relu_ce_diag.cli.app import main
from relu_ce_diag.cli.options import (
    FILE,
    FunctionRef,
    cell_options,
    numeric_option,
    refuse_ignored,
    spec_from_options,
)
from relu_ce_diag.cli.output import file_format, format_option, output_option
from relu_ce_diag.settings.steps import DEFAULT_STEPS, STEPS_HELP

SWEEP_EXIT = """\b
Exit codes:
  0    some step gives a usable check (a V, or a kink plateau whose
       entries the check sets aside)
  1    no step helps: a derivation error (flat error), non-finite
       values at every step, or an error too large to judge over too
       few steps (inconclusive)
  2    the input could not be used (bad option, data file, --plot
       without matplotlib); nothing was judged
  3    internal error of relu-diag
  130  interrupted; the steps that finished were printed"""


@main.command(epilog=SWEEP_EXIT)
@cell_options
@click.option("--steps", default=DEFAULT_STEPS, show_default=True, metavar="STEPS",
              help=f"Steps to try: {STEPS_HELP}. The check's --step is always added.")
@format_option(("table", "json"))
@output_option(("json",))
@click.option("--plot", type=FILE, default=None, metavar="FILE.png|svg",
              help="Draw the curve to a PNG or SVG file (needs the plot extra: matplotlib).")
@click.option("--no-chart", is_flag=True, help="Leave out the terminal chart.")
@click.option("--fn", "fn_ref", type=FunctionRef(), default=None,
              metavar="FILE.py:NAME|FILE.m",
              help="Sweep your own f, df = NAME(W, X, Y) (or package.module:NAME, or a MATLAB "
                   "FILE.m run by GNU Octave) at the W, X, Y of --data: 2P calls per step.")
@click.option("--max-params", type=click.IntRange(min=1), default=2_000_000, show_default=True,
              help="Refuse (exit 2) a network or W with more parameters than this, unless "
                   "--force.")
@click.option("--force", is_flag=True,
              help="Run even above the size, memory and (estimated) time bounds.")
@numeric_option
def sweep(steps: str, fmt: str, output: str | None, plot: str | None, no_chart: bool,
          fn_ref: str | None, max_params: int, force: bool, numeric: str, **kw: Any) -> int:
    """Sweep the finite-difference step: the error curve, classified, and the best --step.

    A correct gradient gives a V on log-log axes (truncation ~h^2 for large h, round-off
    ~1/h for small h); a stencil that straddles a ReLU kink holds the error on a plateau;
    a wrong gradient is flat at every step. The verdict reads the norm-wise relative error
    (smooth, weighted by entry size); the per-entry maximum is shown but is noisier.
    """
    from relu_ce_diag.check.budget import Limits
    from relu_ce_diag.cli.check import fn_source
    from relu_ce_diag.report.files import guard_targets, write_atomic
    from relu_ce_diag.report.json_report import sweep_json
    from relu_ce_diag.run.sweep import Interrupted, sweep_prepared
    from relu_ce_diag.settings.cells import prepare, validate
    from relu_ce_diag.settings.steps import parse_steps

    spec = validate(spec_from_options(kw))
    refuse_ignored(spec, fn_given=fn_ref is not None)
    if output is not None:
        file_format(output, fmt, ("json",))
    # before the work: outputs that cannot be written or would replace an input
    guard_targets({"--output": output, "--plot": plot},
                  {"--data": spec.data, "--fn": fn_source(fn_ref)})
    limits = Limits(max_params=max_params, force=force)
    swept = parse_steps(steps)
    if plot is not None:  # refuse before the work, not after it
        from relu_ce_diag.report.plot import ensure_available, plot_format
        plot_format(plot)
        ensure_available()
    _refuse(spec, fn_ref, limits, numeric, len(swept))
    stop: Interrupted | None = None
    with np.errstate(all="ignore"):  # overflow or NaN is a finding of the sweep, not a warning
        if fn_ref is not None:
            title, settings, n_params, result, stop = _sweep_fn(spec, fn_ref, swept)
        else:
            prep = prepare(spec)
            title, settings, n_params = spec.id, prep.spec.as_dict(), prep.net.n_params
            try:
                result = sweep_prepared(prep, swept, method=numeric)
            except Interrupted as exc:
                result, stop = _finished(exc), exc
    code = 130 if stop is not None else 0 if result.verdict.ok else 1
    doc = sweep_json(result, title, settings, n_params, code)
    if fmt == "json":  # stdout as --format says; -o FILE is written below either way
        click.echo(doc, nl=False, file=sys.stdout)
    else:
        from relu_ce_diag.report.chart import print_sweep
        from relu_ce_diag.report.table import make_console
        print_sweep(make_console(), result, title, chart=not no_chart)
    if output is not None:
        write_atomic(output, doc)
    if plot is not None:
        from relu_ce_diag.report.plot import save_plot
        save_plot(result, plot, title)
    if stop is not None:
        click.echo(f"relu-diag: {stop}", err=True)
    return code


def _refuse(spec: Any, fn_ref: str | None, limits: Any, numeric: str, steps: int) -> None:
    """Refuse a sweep over the bounds before the work: it is budgeted per step (one pass,
    2P calls for --fn, at each, and at the check's step)."""
    from relu_ce_diag.check.budget import refuse_function, refuse_too_large
    if fn_ref is None:
        refuse_too_large(spec, limits, spec.id, method=numeric, steps=steps)
    elif spec.data is not None:
        refuse_function(spec.data, limits, steps=steps)


def _finished(stop: Any) -> Any:
    """Return the sweep of the steps that finished before an interrupt, or re-raise it when
    none did (nothing to print)."""
    if stop.sweep is None:
        raise stop
    return stop.sweep


def _sweep_fn(spec: Any, fn_ref: str, swept: tuple[float, ...],
              ) -> tuple[str, dict[str, Any], int, Any, Any]:
    """Sweep a user's function at the W, X, Y of --data; announce the calls on stderr.
    Return the title, settings, size, sweep and the interrupt that cut it short (if any)."""
    from click.core import ParameterSource
    from rich.progress import Progress

    from relu_ce_diag.check.hosts import open_host
    from relu_ce_diag.errors import OptionError
    from relu_ce_diag.report.table import make_console
    from relu_ce_diag.run.sweep import Interrupted, sweep_function
    from relu_ce_diag.settings.function import Calling

    if spec.data is None:
        raise OptionError("--data", None, "an .npz or .mat file holding X, Y and the "
                          "parameters when --fn is given", missing=True)
    host = open_host(Calling(fn_ref), spec.data)
    point = host.point
    P = point.W.size
    ctx = click.get_current_context()
    dtype_given = ctx.get_parameter_source("dtype") not in (None, ParameterSource.DEFAULT)
    calls = 2 * P * (len(swept) + 1) + 2
    click.echo(f"relu-diag: sweeping {host.label}: about {calls} calls (2 x {P} parameters "
               f"at each of {len(swept)} steps and the check's step)", err=True)
    err = make_console(stderr=True)
    with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("steps", total=None)
        try:
            result, stop = sweep_function(
                host, swept, check_step=spec.step,
                precision=spec.dtype if dtype_given else None,
                progress=lambda done, total: bar.update(task, completed=done, total=total)), None
        except Interrupted as exc:
            result, stop = _finished(exc), exc
        finally:
            host.close()  # the workers or the Octave session end with the sweep
    X, Y = point.X, point.Y
    settings = {"fn": fn_ref, "data": spec.data, "samples": int(X.shape[0]),
                "inputs": int(X.shape[1]) if X.ndim == 2 else 1,
                "outputs": int(Y.shape[1]) if Y.ndim == 2 else 1}
    return host.label, settings, P, result, stop
