"""``relu-diag check``: one cell, a Rich table, diagnostics and the exit code."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from relu_ce_diag.cli.app import EXIT_CODES, main
from relu_ce_diag.cli.options import cell_options, numeric_option, spec_from_options


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
@click.option("--fn", "fn_ref", default=None, metavar="FILE.py:NAME",
              help="Check your own f, df = NAME(W, X, Y) (or package.module:NAME) at the W, "
                   "X, Y of --data; --act/--out/--loss/--eps/--hidden describe its network.")
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

    from relu_ce_diag.check.budget import Limits, refuse_function, refuse_too_large
    from relu_ce_diag.diagnostics import check_ids
    from relu_ce_diag.report.files import guard_targets, write_atomic
    from relu_ce_diag.report.files import save_grads as write_grads
    from relu_ce_diag.report.json_report import to_json
    from relu_ce_diag.results.cell import exit_code
    from relu_ce_diag.settings.cells import validate

    limits = Limits(max_params=kw.pop("max_params"), force=kw.pop("force"))
    ignore, explain_found = check_ids(tuple(kw.pop("ignore_ids"))), kw.pop("explain_found")
    method, fn_ref, directions = kw.pop("numeric"), kw.pop("fn_ref"), kw.pop("directions")
    spec = validate(spec_from_options(kw))
    # before the work: outputs that cannot be written or would replace an input, and a
    # run over the size, memory or time bounds (from the data's headers alone)
    guard_targets({"--output": output, "--save-grads": save_grads},
                  {"--data": spec.data, "--fn": fn_source(fn_ref)})
    if fn_ref is None:
        refuse_too_large(spec, limits, spec.id, method=method, directions=directions)
    elif spec.data is not None:
        refuse_function(spec.data, limits, directions=directions)
    with np.errstate(all="ignore"):  # overflow or NaN is a finding of the report, not a warning
        result = _run(spec, fn_ref, directions, limits, ignore, method)
    code = exit_code([result], strict)
    if fmt == "json" and output is None:
        click.echo(to_json("check", [result], code), nl=False, file=sys.stdout)
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
         ignore: tuple[str, ...], method: str) -> Any:
    """Run the cell: a user's function (--fn), random directions, or every entry."""
    if fn_ref is not None:
        return _check_fn(spec, fn_ref, directions, None if limits.force else limits.max_params,
                         ignore)
    from relu_ce_diag.run.cell import run_cell
    return run_cell(spec, limits, directions=directions, ignore=ignore, method=method)


def _check_fn(spec: Any, fn_ref: str, directions: int | None, max_params: int | None,
              ignore: tuple[str, ...]) -> Any:
    """Check a user's function, announcing the calls and showing progress on a terminal."""
    from click.core import ParameterSource
    from rich.progress import Progress

    from relu_ce_diag.errors import OptionError
    from relu_ce_diag.report.table import make_console
    from relu_ce_diag.run.function import check_file
    from relu_ce_diag.settings.function import Description

    ctx = click.get_current_context()
    given = {k for k in ("act", "out", "loss", "eps", "hidden", "dtype")
             if ctx.get_parameter_source(k) not in (None, ParameterSource.DEFAULT)}
    if spec.data is None:
        raise OptionError("--data", None, "an .npz file holding W, X and Y when --fn is given")
    desc = Description(**{k: getattr(spec, k) for k in given - {"dtype"}},
                       leaky_slope=spec.leaky_slope, relu_grad_at_zero=spec.relu_grad_at_zero)
    err = make_console(stderr=True)
    with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("calls", total=None)
        return check_file(
            fn_ref, spec.data, desc, step=spec.step, directions=directions, seed=spec.seed,
            max_params=max_params, ignore=ignore,
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
