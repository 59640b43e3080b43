"""Grids: expand a checked config into cells (built-in ones, and the user's functions of
``grid_fn``), match expectations, run cells in order, in parallel supervised processes
(``check.process``) or as one shard. Never prints; progress goes through a callback."""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from relu_ce_diag.check.budget import Estimate, Limits, refuse_too_large
from relu_ce_diag.check.budget import refuse as budget_refuse
from relu_ce_diag.check.process import Pool
from relu_ce_diag.check.process_outcome import Done, Ended, Failed
from relu_ce_diag.check.process_outcome import Outcome as Reply
from relu_ce_diag.check.process_worker import Beat
from relu_ce_diag.errors import OptionError, ReluDiagError
from relu_ce_diag.results.cell import CellResult
from relu_ce_diag.results.grid import GridCell, GridRun, Outcome
from relu_ce_diag.run.cell import run_cell
from relu_ce_diag.run.grid_fn import (
    builtin_cell,
    error_spec,
    fn_cell,
    fn_cell_id,
    refuse_fn_cell,
    run_fn_cell,
)
from relu_ce_diag.settings.cells import CellSpec, validate
from relu_ce_diag.settings.data import load_npz
from relu_ce_diag.settings.grid_file import SPEC_KEYS, GridConfig, Partial, Rule, Where
from relu_ce_diag.settings.grid_fn import FunctionCell

BASE_KEYS = ("act", "out", "loss", "backprop")


def _show(key: str, v: object) -> str:
    if key == "data":
        return Path(v).name if isinstance(v, str) else "generated"
    if isinstance(v, tuple):
        return ",".join(_show(key, x) for x in v)
    if isinstance(v, int) and abs(v) >= 10**15:  # a 400-digit setting: an id, not a number
        return f"~1e{len(str(abs(v))) - 1}"
    return f"{v:g}" if isinstance(v, float) else str(v)


def cell_id(spec: CellSpec, base: CellSpec) -> str:
    """Name a cell act/out/loss/backprop plus the settings that differ from the grid's
    defaults ``base``."""
    head = f"{spec.act}/{spec.output}/{spec.loss}/{spec.backprop}"
    extras = [f"{f.name}={_show(f.name, getattr(spec, f.name))}" for f in fields(spec)
              if f.name not in BASE_KEYS and getattr(spec, f.name) != getattr(base, f.name)]
    return head + (" " + ",".join(extras) if extras else "")


def _value(spec: CellSpec | FunctionCell, key: str) -> Any:
    if isinstance(spec, FunctionCell):
        return spec.value(key)
    return {"out": spec.output, "step": spec.h}.get(key, getattr(spec, key, None))


def expectation(spec: CellSpec | FunctionCell, rules: Sequence[Rule]
                ) -> tuple[tuple[str, ...], str]:
    """Return the statuses allowed for ``spec`` and why: the last matching rule wins,
    default pass (a rule naming a key the cell does not take, such as ``fn``, does not
    match it)."""
    found: tuple[tuple[str, ...], str] = (("pass",), "")
    for rule in rules:
        if all(_value(spec, k) in vs for k, vs in rule.match.items()):
            found = (rule.statuses, rule.why)
    return found


def meets(result: CellResult, expected: Sequence[str], strict: bool = False) -> bool:
    """Say whether ``result`` meets ``expected``: kink meets pass unless strict; under
    strict a pass with warnings does not; error never does."""
    allowed = set(expected) | ({"kink"} if "pass" in expected and not strict else set())
    if result.status not in allowed:
        return False
    return not (strict and result.status == "pass"
                and any(f.severity == "warning" for f in result.findings))


def _check(spec: CellSpec, cid: str, where: Where) -> CellSpec:
    try:
        return validate(spec, label="{}")
    except OptionError as exc:
        raise OptionError(f"{where.path}.{exc.key}", exc.value,
                          f"{exc.expected} (in cell {cid})", source=where.source) from None


def expand(cfg: GridConfig) -> tuple[GridCell, ...]:
    """Return the cells of ``cfg`` in grid order: the cartesian product of the axes (last
    axis fastest), then the explicit cells; made-up ids are made unique with ``#2``, ``#3``
    (given ids are unique already, and kept). A cell whose settings name ``fn`` checks the
    user's function; a setting made on the cell (or its axis) that its kind does not take is
    refused, one inherited from ``defaults:`` is left out."""
    base = CellSpec(**{k: v for k, v in cfg.defaults.items() if k in SPEC_KEYS})
    grid_where = Where(cfg.file, "grid", cfg.where.line)
    planned: list[tuple[Partial, str | None, Where, set[str]]] = []
    if cfg.axes:
        keys = [k for k, _ in cfg.axes]
        for combo in itertools.product(*(vs for _, vs in cfg.axes)):
            axis = dict(zip(keys, combo, strict=True))
            planned.append(({**cfg.defaults, **axis}, None, grid_where, set(keys)))
    for c in cfg.cells:
        planned.append(({**cfg.defaults, **c.settings}, c.id, c.where, set(c.settings)))
    cells: list[GridCell] = []
    used = {c.id for c in cfg.cells if c.id is not None}  # unique, as load_grid checks
    for i, (settings, given, where, own) in enumerate(planned):
        user = settings.get("fn") is not None
        cid = given
        if cid is None:  # a made-up name never takes a given id: names stay unique
            base_id, n = (fn_cell_id(settings, own, cfg.defaults, _show) if user
                          else cell_id(builtin_cell(settings, own, where), base)), 1
            cid = base_id
            while cid in used:
                n += 1
                cid = f"{base_id} #{n}"
            used.add(cid)
        spec = fn_cell(settings, own, where, cid) if user \
            else _check(builtin_cell(settings, own, where), cid, where)
        expected, why = expectation(spec, cfg.rules)
        cells.append(GridCell(i, cid, spec, expected, why, where))
    return tuple(cells)


def shard(cells: Sequence[GridCell], k: int, n: int) -> tuple[GridCell, ...]:
    """Return shard ``k`` of ``n`` (1-based): the cells whose grid index i has i % n == k - 1."""
    if not (n >= 1 and 1 <= k <= n):
        raise OptionError("--shard", f"{k}/{n}", "K/N with 1 <= K <= N, e.g. 1/4")
    return tuple(c for c in cells if c.index % n == k - 1)


def refuse(cells: Sequence[GridCell], limits: Limits, jobs: int = 1) -> Estimate:
    """Raise an input error naming file:line and the first cell over ``limits`` (or with an
    unusable data file) before any cell runs: a grid is refused whole, not cell by cell; so
    is a grid whose cells together would take longer than ``limits`` allow on ``jobs``
    processes. Return the grid's estimate."""
    seconds, memory, checked, read = 0.0, 0, set(), set[str]()
    for cell in cells:
        try:
            if isinstance(cell.spec, FunctionCell):
                est = refuse_fn_cell(cell.spec, limits, read)
            else:
                est = refuse_too_large(cell.spec, limits, cell.id)
            if isinstance(cell.spec, CellSpec) and cell.spec.data is not None \
                    and cell.spec.data not in checked:
                load_npz(cell.spec.data)  # bounded by the headers just checked
                checked.add(cell.spec.data)
        except ReluDiagError as exc:
            raise ReluDiagError(f"{cell.where.source}: {cell.where.path}: {exc}") from None
        seconds += est.seconds
        memory = max(memory, est.memory)
    parallel = max(1, min(jobs, len(cells), os.cpu_count() or 1))
    total = Estimate(0, memory, 0.0, seconds / parallel, f"{len(cells):,} cells")
    return budget_refuse(total, limits, "the grid", "run a --shard at a time, or ")


def _error(cell: GridCell, reason: str) -> CellResult:
    spec = error_spec(cell.spec) if isinstance(cell.spec, FunctionCell) else cell.spec
    return CellResult(id=cell.id, spec=spec, status="error",
                      reason=" ".join(reason.splitlines()))  # one line in every report


def run_one(cell: GridCell, limits: Limits | None = None) -> CellResult:
    """Run one cell in isolation: any exception (a user's function that raises or returns
    the wrong shape too) becomes an ``error`` result with its reason on one line; NumPy
    warnings are kept out of the terminal and noted in the reason."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if isinstance(cell.spec, FunctionCell):
                result = run_fn_cell(cell.spec, limits)
            else:
                result = run_cell(cell.spec) if limits is None else run_cell(cell.spec, limits)
        except ReluDiagError as exc:
            return _error(cell, str(exc))
        except Exception as exc:  # noqa: BLE001  isolation: one broken cell must not stop a grid
            return _error(cell, f"{type(exc).__name__}: {exc}")
    result = replace(result, id=cell.id, arrays=None)  # arrays stay out: results must pickle
    notes = sorted({str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)})
    if notes:
        result = replace(result, reason=f"{result.reason} (NumPy warned: {'; '.join(notes)})")
    return result


class CellRunner:
    """A worker's setup for grid cells: its handler runs ``run_one(cell, *bounds)``."""

    def __call__(self, beat: Beat) -> Callable[[tuple[Any, ...]], CellResult]:
        return lambda request: run_one(*request)


def _settled(cell: GridCell, outcome: Reply) -> CellResult:
    """Return a worker's result for ``cell``, or the cell's error row when it failed or died."""
    if isinstance(outcome, Done):
        return outcome.value  # type: ignore[no-any-return]
    if isinstance(outcome, Failed):
        return _error(cell, f"{type(outcome.error).__name__}: {outcome.error}")
    how = outcome.how if isinstance(outcome, Ended) else "ran out of time"
    return _error(cell, f"the worker process running this cell {how} (SIGKILL is what the "
                        "out-of-memory killer sends); the other cells ran")


Progress = Callable[[GridCell, CellResult], None]


def run_cells(cells: Sequence[GridCell], jobs: int = 1, strict: bool = False,
              on_result: Progress | None = None, limits: Limits | None = None) -> GridRun:
    """Run ``cells`` (``jobs`` supervised processes when > 1); return outcomes in grid order.
    Ctrl-C (and SIGTERM or SIGHUP, which the CLI turns into it) stops the run, ends the
    workers and returns what finished, flagged ``interrupted``."""
    done: dict[int, CellResult] = {}
    interrupted = False
    bounds = () if limits is None or limits == Limits() else (limits,)  # default: run_cell's

    def record(pos: int, result: CellResult) -> None:
        done[pos] = result
        if on_result is not None:
            on_result(cells[pos], result)

    try:
        if jobs <= 1 or len(cells) <= 1:
            for pos, cell in enumerate(cells):
                record(pos, run_one(cell, *bounds))
        else:
            # Workers start from one fork server (or are spawned) with the parent's environment,
            # hence its BLAS thread count: the same count gives the same rounding, so --jobs N
            # matches --jobs 1 bit for bit. A worker that dies costs its cell only.
            pool = Pool(CellRunner(), min(jobs, len(cells)))
            try:
                for pos, outcome in pool.run((cell, *bounds) for cell in cells):
                    record(pos, _settled(cells[pos], outcome))
            finally:
                pool.close()  # on Ctrl-C or SIGTERM too: no worker outlives the run
    except KeyboardInterrupt:
        interrupted = True
    outcomes = tuple(Outcome(cells[p], done[p], meets(done[p], cells[p].expected, strict))
                     for p in sorted(done))
    return GridRun(outcomes, len(cells), interrupted)
