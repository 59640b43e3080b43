"""Frozen records of a grid run: each cell with its expectation, its outcome, the run."""

from __future__ import annotations

from dataclasses import dataclass

from relu_ce_diag.results.cell import EXIT_FINDING, EXIT_INTERRUPTED, EXIT_OK, CellResult
from relu_ce_diag.settings.cells import CellSpec
from relu_ce_diag.settings.grid_file import Where
from relu_ce_diag.settings.grid_fn import FunctionCell


@dataclass(frozen=True)
class GridCell:
    """One cell of a grid: its position in the whole grid, unique id, settings (of the built-in
    network, or of a user's function), expectation."""

    index: int
    id: str
    spec: CellSpec | FunctionCell
    expected: tuple[str, ...]
    why: str
    where: Where


@dataclass(frozen=True)
class Outcome:
    """A cell with its result and whether the result meets the cell's expectation."""

    cell: GridCell
    result: CellResult
    met: bool


@dataclass(frozen=True)
class GridRun:
    """The outcomes of a run in grid order; ``planned`` cells were to run."""

    outcomes: tuple[Outcome, ...]
    planned: int
    interrupted: bool

    @property
    def exit_code(self) -> int:
        """Return 130 if interrupted, else 0 when every cell met its expectation, else 1."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_OK if all(o.met for o in self.outcomes) else EXIT_FINDING
