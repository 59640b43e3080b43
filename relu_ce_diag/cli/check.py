"""``relu-diag check``: one cell, a Rich table, diagnostics and the exit code."""

from __future__ import annotations

from typing import Any

import click

from relu_ce_diag.cli.app import EXIT_CODES, main
from relu_ce_diag.cli.options import (
    cell_options,
    description_options,
    numeric_option,
    parse_args,
    spec_from_options,
)


@main.command(epilog=EXIT_CODES)
@cell_options
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="What to print on stdout.")
@click.option("--output", type=str, default=None, metavar="FILE",
              help="Also write the JSON report to FILE (atomically); stdout keeps the table.")
@click.option("--save-grads", type=str, default=None, metavar="FILE.npz",
              help="Save arrays W X Y loss analytic numeric exact.")
@click.option("--strict", is_flag=True, help="Kinks and warnings fail too (exit 1).")
@click.option("--ignore", "ignore_ids", multiple=True, metavar="ID",
              help="Silence the diagnostic ID (repeatable); see relu-diag explain.")
@click.option("--explain", "explain_found", is_flag=True,
              help="Print the long explanation of every diagnostic that fired.")
@click.option("--fn", "fn_ref", default=None, metavar="FILE.py:NAME|FILE.m",
              help="Check your own f, df = NAME(W, X, Y), or loss, grads = NAME(params, X, Y) "
                   "with named blocks, at the point in --data (.npz or .mat); a MATLAB "
                   "FILE.m[:NAME] runs in GNU Octave as [f, df] = NAME(W, X, Y); --act/--out/"
                   "--loss/--eps/--hidden/--layout/--reduction/--l2 describe its network.")
@click.option("--grad", "grad_ref", default=None, metavar="FILE.py:NAME",
              help="With --fn: a separate gradient function (the fun/jac style); the "
                   "perturbed calls then evaluate the loss alone.")
@click.option("--arg", "fn_args", multiple=True, metavar="NAME=VALUE",
              help="With --fn: pass an extra argument by name, e.g. --arg lam=3 (repeatable); "
                   "the first three other parameters get the parameters, X and Y.")
@click.option("--call", "call_expr", default=None, metavar="EXPR",
              help="With --fn FILE.m: an Octave expression in W, X, Y (and the data file's "
                   "variables) that returns [f, df], for other signatures.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="With --fn: evaluate the perturbed calls in N worker processes.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="SECONDS", help="With --fn: stop a call that runs longer than this.")
@description_options
@click.option("--directions", type=click.IntRange(min=1), default=None, metavar="K",
              help="Check K seeded random directions (2K evaluations) instead of every entry.")
@click.option("--max-params", type=click.IntRange(min=1), default=2_000_000, show_default=True,
              help="Refuse (exit 2) a cell with more parameters than this, unless --force.")
@click.option("--force", is_flag=True, help="Run a cell even above the size and memory bounds.")
@numeric_option
def check(fmt: str, output: str | None, save_grads: str | None, strict: bool,
          **kw: Any) -> int:
    """Check the backprop of one network cell against central differences."""
    from relu_ce_diag.check.budget import Limits
    from relu_ce_diag.diagnostics import check_ids
    from relu_ce_diag.report.files import check_target, write_atomic
    from relu_ce_diag.report.files import save_grads as write_grads
    from relu_ce_diag.report.json_report import to_json
    from relu_ce_diag.results.cell import exit_code
    from relu_ce_diag.settings.cells import validate

    limits = Limits(max_params=kw.pop("max_params"), force=kw.pop("force"))
    ignore, explain_found = check_ids(tuple(kw.pop("ignore_ids"))), kw.pop("explain_found")
    method = kw.pop("numeric")
    fn_extra = {k: kw.pop(k) for k in ("grad_ref", "fn_args", "layout", "reduction", "l2",
                                       "l2_form", "call_expr", "jobs", "timeout")}
    spec = validate(spec_from_options(kw))
    for target in (output, save_grads):  # an unwritable file is refused before the work
        if target is not None:
            check_target(target)
    import numpy as np

    with np.errstate(all="ignore"):  # overflow or NaN is a finding of the report, not a warning
        result = _run(spec, kw.pop("fn_ref"), kw.pop("directions"), limits, ignore, method,
                      fn_extra)
    code = exit_code([result], strict)
    if fmt == "json" and output is None:
        click.echo(to_json("check", [result], code), nl=False)
    else:
        from relu_ce_diag.report.table import make_console, print_check
        print_check(make_console(), [result])
        if explain_found:
            from relu_ce_diag.cli.explain import print_explanations
            print_explanations(make_console(), (f.id for f in result.findings))
    if output is not None:
        write_atomic(output, to_json("check", [result], code))
    if save_grads is not None:
        write_grads(save_grads, result)
    return code


def _run(spec: Any, fn_ref: str | None, directions: int | None, limits: Any,
         ignore: tuple[str, ...], method: str, fn_extra: dict[str, Any]) -> Any:
    """Run the cell: a user's function (--fn), random directions, or every entry."""
    if fn_ref is not None:
        return _check_fn(spec, fn_ref, directions, None if limits.force else limits.max_params,
                         ignore, fn_extra)
    for option, value in fn_extra.items():
        if value not in (None, (), 1) or (option == "jobs" and value != 1):
            from relu_ce_diag.errors import OptionError
            name = {"grad_ref": "grad", "fn_args": "arg", "call_expr": "call"}.get(option, option)
            raise OptionError("--" + name.replace("_", "-"), value,
                              "only with --fn (your own function)")
    from relu_ce_diag.run.cell import run_cell
    return run_cell(spec, limits, directions=directions, ignore=ignore, method=method)


def _check_fn(spec: Any, fn_ref: str, directions: int | None, max_params: int | None,
              ignore: tuple[str, ...], extra: dict[str, Any]) -> Any:
    """Check a user's function, announcing the calls and showing progress on a terminal."""
    from click.core import ParameterSource
    from rich.console import Console
    from rich.progress import Progress

    from relu_ce_diag.check.octave_code import is_m_ref
    from relu_ce_diag.errors import OptionError
    from relu_ce_diag.run.function import check_file
    from relu_ce_diag.settings.function import Calling, Description, validate_description

    ctx = click.get_current_context()
    given = {k for k in ("act", "out", "loss", "eps", "hidden", "dtype")
             if ctx.get_parameter_source(k) not in (None, ParameterSource.DEFAULT)}
    if spec.data is None:
        raise OptionError("--data", None, "an .npz or .mat file holding X, Y (or y) and the "
                          "parameters (W, or named blocks) when --fn is given")
    if extra["call_expr"] is not None and not is_m_ref(fn_ref):
        raise OptionError("--call", extra["call_expr"], "only with --fn FILE.m (a Python "
                          "function takes extra arguments by --arg NAME=VALUE)")
    desc = validate_description(Description(
        **{k: getattr(spec, k) for k in given - {"dtype"}}, leaky_slope=spec.leaky_slope,
        relu_grad_at_zero=spec.relu_grad_at_zero, layout=extra["layout"],
        reduction=extra["reduction"], l2=extra["l2"], l2_form=extra["l2_form"]), "--{}")
    calling = Calling(fn_ref, extra["grad_ref"], tuple(parse_args(extra["fn_args"]).items()),
                      extra["call_expr"], extra["jobs"], extra["timeout"])
    err = Console(stderr=True)
    with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("calls", total=None)
        return check_file(
            calling, spec.data, desc, step=spec.step, directions=directions, seed=spec.seed,
            max_params=max_params, ignore=ignore,
            precision=spec.dtype if "dtype" in given else None,
            announce=lambda text: err.print(f"relu-diag: {text}", markup=False,
                                            highlight=False, soft_wrap=True),
            progress=lambda done, total: bar.update(task, completed=done, total=total))
