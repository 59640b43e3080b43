"""Estimate a cell's cost before it runs, and refuse one that is too large unless forced."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from relu_ce_diag.errors import TooLargeError
from relu_ce_diag.model.network import Net
from relu_ce_diag.numeric import DEFAULT_BLOCK_ELEMENTS
from relu_ce_diag.settings.cells import CellSpec, hidden_for
from relu_ce_diag.settings.data import load_npz

GIB = 1 << 30


@dataclass(frozen=True)
class Limits:
    """Bounds a cell must stay within: parameters, memory (GiB) and work; ``force`` lifts them."""

    max_params: int = 2_000_000
    max_memory_gib: float = 4.0
    max_work: float = 1e11
    force: bool = False


@dataclass(frozen=True)
class Estimate:
    """Parameters P, peak memory in bytes, and work in multiply-adds of one full check."""

    params: int
    memory: int
    work: float


def estimate(net: Net, samples: int, itemsize: int = 8) -> Estimate:
    """Estimate the cost of checking ``net`` on ``samples`` samples (two steps, two signs)."""
    sizes = net.sizes
    P = net.n_params
    # inputs, z, a, deltas and their copies: tracemalloc measures about 13 (N, width) arrays
    # live at the peak of a check (tanh/softmax, 2048 samples), so count 16
    cache = samples * (sum(sizes) + len(sizes)) * itemsize * 16
    vectors = P * 8 * 16  # analytic, exact, numeric at two steps, flags, tolerances, ...
    blocks = DEFAULT_BLOCK_ELEMENTS * itemsize * 12  # the perturbed blocks and temporaries
    work = 0.0
    for layer, (rows, cols) in enumerate(net.shapes):
        # one perturbed unit feeds the next layer (n_{l+2} multiply-adds per sample), then
        # every layer above is recomputed in full; output entries cost one output row.
        nxt = sizes[layer + 2] if layer + 2 < len(sizes) else sizes[-1]
        above = sum(sizes[k] * sizes[k + 1] for k in range(layer + 2, len(sizes) - 1))
        work += 4.0 * rows * cols * samples * (1 + nxt + above)
    return Estimate(P, cache + vectors + blocks, work)


def check_budget(net: Net, samples: int, cell_id: str, limits: Limits,
                 itemsize: int = 8) -> Estimate:
    """Raise TooLargeError when the cell exceeds ``limits`` (unless forced); return the estimate."""
    est = estimate(net, samples, itemsize)
    if limits.force:
        return est
    if est.params > limits.max_params:
        raise TooLargeError(f"cell {cell_id} has {est.params:,} parameters, more than "
                            f"--max-params {limits.max_params:,}; raise it or pass --force")
    if est.memory > limits.max_memory_gib * GIB:
        raise TooLargeError(f"cell {cell_id} would need about {est.memory / GIB:.1f} GiB, more "
                            f"than the {limits.max_memory_gib:g} GiB allowed; pass --force to "
                            "run it anyway")
    if est.work > limits.max_work:
        raise TooLargeError(f"cell {cell_id} needs about {est.work:.1e} multiply-adds "
                            "(many minutes); use --directions K for a sampled check, or pass "
                            "--force to run it anyway")
    return est


def refuse_too_large(spec: CellSpec, limits: Limits, cell_id: str) -> None:
    """Raise TooLargeError (or DataError) before a validated cell builds anything large.

    Without ``data`` the sizes come from the spec; with it, only the .npz file is read (its
    W fixes a single hidden width, as ``prepare`` does), never the weights generated."""
    itemsize = np.dtype(spec.dtype).itemsize
    if spec.data is None:
        net = Net((spec.inputs, *spec.hidden, spec.outputs))
        check_budget(net, spec.samples, cell_id, limits, itemsize)
        return
    X, Y, W = load_npz(spec.data)
    net = Net((X.shape[1], *hidden_for(spec, X, Y, W), Y.shape[1]))
    check_budget(net, X.shape[0], cell_id, limits, itemsize)
