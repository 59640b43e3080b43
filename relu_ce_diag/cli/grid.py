"""``relu-diag grid FILE.yaml``: run a YAML grid of cells against their expectations."""

from __future__ import annotations

import math
from typing import Any

import click

from relu_ce_diag.cli.app import EXIT_CODES, main
from relu_ce_diag.cli.options import jobs_option
from relu_ce_diag.cli.output import file_format, format_option, output_option

MAX_CELLS = 10_000  # a grid larger than this is refused before it is expanded, unless --force
GRID_EXIT = EXIT_CODES.replace("every cell passed (kink counts as pass unless --strict)",
                               "every cell met its expectation (default: pass)")


def _grid_names(incomplete: str) -> list[Any]:
    """Complete a grid argument: the shipped grids' names, then file names."""
    from click.shell_completion import CompletionItem

    from relu_ce_diag.settings.shipped import shipped_grids
    names = [CompletionItem(n) for n in shipped_grids() if n.startswith(incomplete)]
    return [*names, CompletionItem(incomplete, type="file")]


class Shard(click.ParamType):
    """A shard ``K/N``: run the cells whose 0-based grid index i has i % N == K - 1."""

    name = "K/N"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, tuple):
            return value
        try:
            k, n = (int(v) for v in str(value).split("/"))
        except ValueError:
            k = n = 0
        if not (n >= 1 and 1 <= k <= n):
            self.fail(f"{value!r} is not a shard K/N with 1 <= K <= N, e.g. 2/4.", param, ctx)
        return (k, n)


@main.command(epilog=GRID_EXIT)
@click.argument("file", metavar="FILE.yaml|NAME", type=str,
                shell_complete=lambda ctx, param, incomplete: _grid_names(incomplete))
@format_option(("table", "json", "junit"))
@output_option(("json", "junit"))
@jobs_option("Run cells in N parallel processes; the output is identical to --jobs 1.")
@click.option("--shard", type=Shard(), default=None,
              help="Run only shard K of N: the cells whose 0-based grid index i has "
                   "i % N == K - 1.")
@click.option("--strict", is_flag=True,
              help="A kink no longer meets a pass expectation, nor a pass with warnings.")
@click.option("--max-params", type=click.IntRange(min=1), default=2_000_000, show_default=True,
              help="Refuse (exit 2, before any cell runs) a grid with a cell of more "
                   "parameters than this, unless --force.")
@click.option("--force", is_flag=True,
              help="Run cells even above the size, memory and (estimated) time bounds, and "
                   f"grids of more than {MAX_CELLS:,} cells.")
def grid(file: str, fmt: str, output: str | None, jobs: int,
         shard: tuple[int, int] | None, strict: bool, max_params: int, force: bool) -> int:
    """Run every cell of a YAML grid and compare each verdict with its expectation.

    FILE.yaml is a grid file, or NAME one of the grids shipped with relu-diag (seed, kinks,
    saturation, smoke), e.g. relu-diag grid seed.

    \f
    (One function: a Click command reads its options once and hands them on in order.)
    """
    import sys

    from relu_ce_diag.check.budget import Limits
    from relu_ce_diag.errors import TooLargeError
    from relu_ce_diag.report.files import guard_targets, write_atomic
    from relu_ce_diag.report.grid_table import print_grid
    from relu_ce_diag.report.json_report import grid_json
    from relu_ce_diag.report.junit import to_junit
    from relu_ce_diag.report.table import make_console, wide_console
    from relu_ce_diag.run.grid import expand, refuse, run_cells
    from relu_ce_diag.run.grid import shard as take_shard
    from relu_ce_diag.settings.grid_file import load_grid
    from relu_ce_diag.settings.grid_fn import FunctionCell

    kind = file_format(output, fmt, ("json", "junit")) if output is not None else fmt
    from relu_ce_diag.settings.shipped import grid_file
    given, file = file, grid_file(file)  # a shipped grid by name (relu-diag grid seed)
    # before the work: an --output that cannot be written or would replace an input
    guard_targets({"--output": output}, {"the grid file": file})
    cfg = load_grid(file)
    planned = (math.prod(len(v) for _, v in cfg.axes) if cfg.axes else 0) + len(cfg.cells)
    if planned > MAX_CELLS and not force:  # before expanding: 1000 x 1000 axes took a minute
        raise TooLargeError(f"{file}: the grid has {planned:,} cells, more than {MAX_CELLS:,}; "
                            "shorten the axes, or pass --force to run it anyway")
    cells = expand(cfg)
    if shard is not None:
        cells = take_shard(cells, *shard)
    data = {c.spec.data: c.id for c in reversed(cells) if c.spec.data is not None}
    code = {path: c.id for c in reversed(cells) if isinstance(c.spec, FunctionCell)
            for path in c.spec.files}
    guard_targets({"--output": output}, {f"the data of cell {cid}": path
                                         for path, cid in data.items()}
                  | {f"the function of cell {cid}": path for path, cid in code.items()})
    limits = Limits(max_params=max_params, force=force)
    refuse(cells, limits, jobs)  # a cell or the grid over the bounds, unusable data: exit 2

    def render(kind: str) -> str:
        if kind == "junit":
            return to_junit(run, cfg.name)
        return grid_json(run, cfg.name, given, strict, shard)  # the file as the user named it

    err = make_console(stderr=True)
    if err.is_terminal and cells:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
        with Progress(TextColumn("{task.description}", markup=False), BarColumn(),
                      MofNCompleteColumn(), console=err, transient=True) as bar:
            task = bar.add_task(cfg.name, total=len(cells))
            run = run_cells(cells, jobs, strict, lambda c, r: bar.advance(task),
                            limits=limits)
    else:
        run = run_cells(cells, jobs, strict, limits=limits)

    if fmt != "table":  # stdout as --format says; -o FILE is written below either way
        click.echo(render(fmt), nl=False, file=sys.stdout)
    else:
        title = f"{cfg.name}: {cfg.description}" if cfg.description else cfg.name
        if shard is not None:
            title += f" (shard {shard[0]}/{shard[1]})"
        print_grid(wide_console(), run, title)
    if output is not None:
        write_atomic(output, render(kind))
    if run.interrupted:
        click.echo(f"relu-diag: interrupted after {len(run.outcomes)} of {run.planned} "
                   "cells", err=True)
    sys.stdout.flush()
    return run.exit_code
