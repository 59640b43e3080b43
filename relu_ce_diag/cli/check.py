"""``relu-diag check``: one cell, a Rich table, diagnostics and the exit code."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import click

from relu_ce_diag.cli.app import EXIT_CODES, main
from relu_ce_diag.cli.options import (
    FILE,
    FunctionRef,
    cell_options,
    description_options,
    jobs_option,
    numeric_option,
    parse_args,
    refuse_ignored,
    spec_from_options,
)
from relu_ce_diag.cli.output import file_format, format_option, output_option


@main.command(epilog=EXIT_CODES)
@cell_options
@format_option(("table", "json", "junit"))
@output_option(("json", "junit"))
@click.option("--save-grads", type=FILE, default=None, metavar="FILE.npz",
              help="Save arrays W X Y loss analytic numeric exact.")
@click.option("--strict", is_flag=True, help="Kinks and warnings fail too (exit 1).")
@click.option("--ignore", "ignore_ids", multiple=True, metavar="ID",
              help="Silence the diagnostic ID (repeatable); see relu-diag explain.")
@click.option("--explain", "explain_found", is_flag=True,
              help="Print the long explanation of every diagnostic that fired.")
@click.option("--fn", "fn_ref", type=FunctionRef(), default=None,
              metavar="FILE.py:NAME|FILE.m",
              help="Check your own f, df = NAME(W, X, Y), or loss, grads = NAME(params, X, Y) "
                   "with named blocks, at the point in --data (.npz or .mat); a MATLAB "
                   "FILE.m[:NAME] runs in GNU Octave as [f, df] = NAME(W, X, Y); --act, --out, "
                   "--loss, --eps, --hidden, --layout, --reduction and --l2 describe its "
                   "network.")
@click.option("--grad", "grad_ref", type=FunctionRef(), default=None, metavar="FILE.py:NAME",
              help="With --fn: a separate gradient function (the fun/jac style); the "
                   "perturbed calls then evaluate the loss alone.")
@click.option("--arg", "fn_args", multiple=True, metavar="NAME=VALUE",
              help="With --fn: pass an extra argument by name, e.g. --arg lam=3 (repeatable); "
                   "the first three other parameters get the parameters, X and Y.")
@click.option("--call", "call_expr", default=None, metavar="EXPR",
              help="With --fn FILE.m: an Octave expression in W, X, Y (and the data file's "
                   "variables) that returns [f, df], for other signatures.")
@jobs_option("With --fn: evaluate the perturbed calls in N worker processes.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              callback=lambda ctx, param, v: _not_nan(ctx, param, v),
              metavar="SECONDS", help="With --fn: stop a call that runs longer than this.")
@description_options
@click.option("--directions", type=click.IntRange(min=1), default=None, metavar="K",
              help="Check K seeded random directions (2K evaluations) instead of every entry.")
@click.option("--max-params", type=click.IntRange(min=1), default=2_000_000, show_default=True,
              help="Refuse (exit 2) a cell with more parameters than this, unless --force.")
@click.option("--force", is_flag=True,
              help="Run a cell even above the size, memory and (estimated) time bounds.")
@numeric_option
def check(fmt: str, output: str | None, save_grads: str | None, strict: bool,
          **kw: Any) -> int:
    """Check the backprop of one network cell against central differences."""
    import numpy as np

    from relu_ce_diag.check.budget import Limits, refuse_too_large
    from relu_ce_diag.diagnostics import check_ids
    from relu_ce_diag.report.files import guard_targets, write_atomic
    from relu_ce_diag.report.files import save_grads as write_grads
    from relu_ce_diag.report.json_report import to_json
    from relu_ce_diag.results.cell import exit_code
    from relu_ce_diag.settings.cells import validate

    limits = Limits(max_params=kw.pop("max_params"), force=kw.pop("force"))
    ignore, explain_found = check_ids(tuple(kw.pop("ignore_ids"))), kw.pop("explain_found")
    method, fn_ref, directions = kw.pop("numeric"), kw.pop("fn_ref"), kw.pop("directions")
    fn_extra = {k: kw.pop(k) for k in ("grad_ref", "fn_args", "layout", "reduction", "l2",
                                       "l2_form", "call_expr", "jobs", "timeout")}
    spec = validate(spec_from_options(kw))
    refuse_ignored(spec, fn_given=fn_ref is not None)
    kind = file_format(output, fmt, ("json", "junit")) if output is not None else fmt
    # before the work: outputs that cannot be written or would replace an input, and a
    # run over the size, memory or time bounds (from the data's headers alone)
    guard_targets({"--output": output, "--save-grads": save_grads},
                  {"--data": spec.data, "--fn": fn_source(fn_ref),
                   "--grad": fn_source(fn_extra["grad_ref"])})
    if fn_ref is None:
        refuse_too_large(spec, limits, spec.id, method=method, directions=directions)
    with np.errstate(all="ignore"):  # overflow or NaN is a finding of the report, not a warning
        result = _run(spec, fn_ref, directions, limits, ignore, method, fn_extra)
    code = exit_code([result], strict)

    def render(kind: str) -> str:
        if kind == "junit":
            from relu_ce_diag.report.junit import check_junit
            return check_junit([result], "check", [code])
        return to_json("check", [result], code)

    if fmt != "table":  # stdout as --format says; -o FILE is written below either way
        click.echo(render(fmt), nl=False, file=sys.stdout)
    else:
        from relu_ce_diag.report.table import make_console, print_check
        print_check(make_console(), [result])
        if explain_found:
            from relu_ce_diag.cli.explain import print_explanations
            print_explanations(make_console(), (f.id for f in result.findings))
    if output is not None:
        write_atomic(output, render(kind))
    if save_grads is not None:
        write_grads(save_grads, result)
    return code


def _not_nan(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and math.isnan(value):  # FloatRange lets NaN through
        raise click.BadParameter("got nan, expected a number of seconds > 0", ctx, param)
    return value


def _run(spec: Any, fn_ref: str | None, directions: int | None, limits: Any,
         ignore: tuple[str, ...], method: str, fn_extra: dict[str, Any]) -> Any:
    """Run the cell: a user's function (--fn), random directions, or every entry."""
    if fn_ref is not None:
        return _check_fn(spec, fn_ref, directions, limits, ignore, fn_extra)
    for option, value in fn_extra.items():
        if value not in (None, (), 1) or (option == "jobs" and value != 1):
            from relu_ce_diag.errors import OptionError
            name = {"grad_ref": "grad", "fn_args": "arg", "call_expr": "call"}.get(option, option)
            raise OptionError("--" + name.replace("_", "-"), value,
                              "only with --fn (your own function)")
    from relu_ce_diag.run.cell import run_cell
    return run_cell(spec, limits, directions=directions, ignore=ignore, method=method)


def _check_fn(spec: Any, fn_ref: str, directions: int | None, limits: Any,
              ignore: tuple[str, ...], extra: dict[str, Any]) -> Any:
    """Check a user's function, announcing the calls and showing progress on a terminal."""
    from click.core import ParameterSource
    from rich.progress import Progress

    from relu_ce_diag.check.octave_code import is_m_ref
    from relu_ce_diag.errors import OptionError
    from relu_ce_diag.report.table import make_console
    from relu_ce_diag.run.function import check_file
    from relu_ce_diag.settings.function import Calling, Description, validate_description

    ctx = click.get_current_context()
    given = {k for k in ("act", "out", "loss", "eps", "hidden", "dtype")
             if ctx.get_parameter_source(k) not in (None, ParameterSource.DEFAULT)}
    if spec.data is None:
        raise OptionError("--data", None, "an .npz or .mat file holding X, Y (or y) and the "
                          "parameters (W, or named blocks) when --fn is given", missing=True)
    if extra["call_expr"] is not None and not is_m_ref(fn_ref):
        raise OptionError("--call", extra["call_expr"], "only with --fn FILE.m (a Python "
                          "function takes extra arguments by --arg NAME=VALUE)")
    desc = validate_description(Description(
        **{k: getattr(spec, k) for k in given - {"dtype"}}, leaky_slope=spec.leaky_slope,
        relu_grad_at_zero=spec.relu_grad_at_zero, layout=extra["layout"],
        reduction=extra["reduction"], l2=extra["l2"], l2_form=extra["l2_form"]), "--{}")
    calling = Calling(fn_ref, extra["grad_ref"], tuple(parse_args(extra["fn_args"]).items()),
                      extra["call_expr"], extra["jobs"], extra["timeout"])
    err = make_console(stderr=True)
    with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("calls", total=None)
        return check_file(
            calling, spec.data, desc, step=spec.step, directions=directions, seed=spec.seed,
            limits=limits, ignore=ignore,
            precision=spec.dtype if "dtype" in given else None,
            announce=lambda text: err.print(f"relu-diag: {text}", markup=False,
                                            highlight=False, soft_wrap=True),
            progress=lambda done, total: bar.update(task, completed=done, total=total))


def fn_source(ref: str | None) -> str | None:
    """Return the file of a ``--fn`` reference (``FILE.py:NAME``, or ``package.module:NAME``
    found on sys.path without importing it), or None: an input the outputs must not replace."""
    target, sep, _ = (ref or "").rpartition(":")
    if not sep or not target:
        return None
    if target.endswith(".py") or "/" in target or "\\" in target:
        return target
    parts = target.split(".")
    for base in ("", *sys.path):
        for found in (Path(base or ".", *parts[:-1], parts[-1] + ".py"),
                      Path(base or ".", *parts, "__init__.py")):
            if found.is_file():
                return str(found)
    return None
