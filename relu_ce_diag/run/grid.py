"""Grids: expand a checked config into cells, match expectations, run cells in order,
in parallel supervised processes (``check.process``) or as one shard. Never prints; progress
goes through a callback."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from relu_ce_diag.check.budget import Limits, refuse_too_large
from relu_ce_diag.check.process import Pool
from relu_ce_diag.check.process_outcome import Done, Ended, Failed
from relu_ce_diag.check.process_outcome import Outcome as Reply
from relu_ce_diag.check.process_worker import Beat
from relu_ce_diag.errors import OptionError, ReluDiagError
from relu_ce_diag.results.cell import CellResult
from relu_ce_diag.results.grid import GridCell, GridRun, Outcome
from relu_ce_diag.run.cell import run_cell
from relu_ce_diag.settings.cells import CellSpec, validate
from relu_ce_diag.settings.grid_file import GridConfig, Partial, Rule, Where

BASE_KEYS = ("act", "out", "loss", "backprop")


def _show(key: str, v: object) -> str:
    if key == "data":
        return Path(v).name if isinstance(v, str) else "generated"
    if isinstance(v, tuple):
        return ",".join(str(x) for x in v)
    return f"{v:g}" if isinstance(v, float) else str(v)


def cell_id(spec: CellSpec, base: CellSpec) -> str:
    """Name a cell act/out/loss/backprop plus the settings that differ from the grid's
    defaults ``base``."""
    head = f"{spec.act}/{spec.output}/{spec.loss}/{spec.backprop}"
    extras = [f"{f.name}={_show(f.name, getattr(spec, f.name))}" for f in fields(spec)
              if f.name not in BASE_KEYS and getattr(spec, f.name) != getattr(base, f.name)]
    return head + (" " + ",".join(extras) if extras else "")


def _value(spec: CellSpec, key: str) -> Any:
    return {"out": spec.output, "step": spec.h}.get(key, getattr(spec, key))


def expectation(spec: CellSpec, rules: Sequence[Rule]) -> tuple[tuple[str, ...], str]:
    """Return the statuses allowed for ``spec`` and why: the last matching rule wins,
    default pass."""
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
    axis fastest), then the explicit cells; ids are made unique with ``#2``, ``#3``."""
    base = CellSpec(**cfg.defaults)
    grid_where = Where(cfg.file, "grid", cfg.where.line)
    planned: list[tuple[Partial, str | None, Where]] = []
    if cfg.axes:
        keys = [k for k, _ in cfg.axes]
        for combo in itertools.product(*(vs for _, vs in cfg.axes)):
            axis = dict(zip(keys, combo, strict=True))
            planned.append(({**cfg.defaults, **axis}, None, grid_where))
    for c in cfg.cells:
        planned.append(({**cfg.defaults, **c.settings}, c.id, c.where))
    cells: list[GridCell] = []
    seen: dict[str, int] = {}
    for i, (settings, given, where) in enumerate(planned):
        spec = CellSpec(**settings)
        cid = given or cell_id(spec, base)
        seen[cid] = seen.get(cid, 0) + 1
        if seen[cid] > 1:
            cid = f"{cid} #{seen[cid]}"
        spec = _check(spec, cid, where)
        expected, why = expectation(spec, cfg.rules)
        cells.append(GridCell(i, cid, spec, expected, why, where))
    return tuple(cells)


def shard(cells: Sequence[GridCell], k: int, n: int) -> tuple[GridCell, ...]:
    """Return shard ``k`` of ``n`` (1-based): the cells whose grid index i has i % n == k - 1."""
    if not (n >= 1 and 1 <= k <= n):
        raise OptionError("--shard", f"{k}/{n}", "K/N with 1 <= K <= N, e.g. 1/4")
    return tuple(c for c in cells if c.index % n == k - 1)


def refuse(cells: Sequence[GridCell], limits: Limits) -> None:
    """Raise an input error naming file:line and the first cell over ``limits`` (or with an
    unusable data file) before any cell runs: a grid is refused whole, not cell by cell."""
    for cell in cells:
        try:
            refuse_too_large(cell.spec, limits, cell.id)
        except ReluDiagError as exc:
            raise ReluDiagError(f"{cell.where.source}: {cell.where.path}: {exc}") from None


def _error(cell: GridCell, reason: str) -> CellResult:
    return CellResult(id=cell.id, spec=cell.spec, status="error", reason=reason)


def run_one(cell: GridCell, limits: Limits | None = None) -> CellResult:
    """Run one cell in isolation: any exception becomes an ``error`` result with its reason;
    NumPy warnings are kept out of the terminal and noted in the reason."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
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
