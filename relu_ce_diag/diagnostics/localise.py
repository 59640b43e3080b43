"""Where the error enters: which blocks of the gradient are right, which are wrong, and what
the pattern says, for every failing check (no description needed).

Per block the analytic values are fitted to the numerical ones by one factor r (least
squares): a block that fits exactly with r != 1 is off by a constant factor (2, 1/N, -1); a
block whose mismatched values all have the same magnitude is clipped. Blocks named with a
layer number (``W1 b1``, ``w2``) are grouped into layers: a right output layer above a wrong
hidden one says the error enters at the hidden layer's delta, a wrong weight block beside a
right bias says it is a term of the weights alone (an L2 penalty, the input). Without names,
contiguous runs of mismatched entries are shown as ranges.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from relu_ce_diag.diagnostics.context import Context, listing
from relu_ce_diag.diagnostics.registry import Finding, diagnostic
from relu_ce_diag.model.layout import Block, Layout

Array = np.ndarray
EXACT = {"float64": 1e-6, "float32": 1e-3}  # relative misfit of an exact constant factor


@dataclass(frozen=True)
class BlockFit:
    """One block: its mismatched entries, the factor r with analytic ~ r * numeric, how
    well that factor fits (relative residual), and a common magnitude of the mismatched
    analytic values (0: none)."""

    block: Block
    bad: int
    ratio: float
    misfit: float
    clipped: float

    @property
    def wrong(self) -> bool:
        return self.bad > 0


def _fit(a: Array, n: Array, bad: Array) -> tuple[float, float, float]:
    """Return (r, misfit, clipped) of analytic a against numeric n on one block."""
    fin = np.isfinite(a) & np.isfinite(n)
    a, n, bad = a[fin], n[fin], bad[fin]
    nn = float(n @ n)
    r = float(a @ n) / nn if nn > 0 else (0.0 if float(a @ a) == 0 else np.inf)
    scale = max(float(np.linalg.norm(a)), float(np.linalg.norm(n)), 1e-300)
    misfit = float(np.linalg.norm(a - r * n)) / scale if np.isfinite(r) else np.inf
    mags = np.abs(a[bad])
    clipped = 0.0
    if mags.size >= 2 and mags.max() > 0 and np.ptp(mags) <= 1e-9 * mags.max() \
            and np.all(np.abs(n[bad]) > mags.max()):
        clipped = float(mags.max())
    return r, misfit, clipped


def _layer(name: str) -> tuple[str, int] | None:
    """Return (kind w|b, layer number) of a block named like W1, b2, w3, else None."""
    m = re.fullmatch(r"([A-Za-z]+?)_?(\d+)", name)
    if m is None or m.group(1).lower() not in ("w", "b"):
        return None
    return m.group(1).lower(), int(m.group(2))


def _factor(r: float, N: int) -> str:
    """Name a factor: 2, 1/2, -1 (a sign error), 1/N (N = 16), N, or the number."""
    def near(value: float) -> bool:
        return abs(r - value) <= 1e-6 * abs(value)

    for value, words in ((-1.0, "-1 (a sign error)"), (2.0, "2"), (0.5, "1/2")):
        if near(value):
            same_n = " (= N)" if near(float(N)) else " (= 1/N)" if near(1.0 / N) else ""
            return words + same_n
    for value, words in ((1.0 / N, f"1/N (N = {N})"), (float(N), f"N (N = {N})")):
        if near(value):
            return words
    return f"{r:.4g}"


def lines(bad: Array, block: Block) -> str:
    """Name the mismatched entries of a 2-D block when they are whole columns (or whole rows)
    and fewer than all: ``column 0`` (a bias column regularised, say), else ''."""
    if len(block.shape) != 2 or min(block.shape) < 2 or not bad.any():
        return ""
    order: Literal["C", "F"] = "F" if block.order == "F" else "C"
    m = bad.reshape(block.shape, order=order)
    for axis, word in ((0, "column"), (1, "row")):
        whole, some = m.all(axis=axis), m.any(axis=axis)
        if np.array_equal(whole, some) and 0 < whole.sum() <= whole.size // 2:
            idx = np.flatnonzero(whole)
            return f"{word}{'s' if idx.size > 1 else ''} {', '.join(map(str, idx[:6]))}" + \
                (" ..." if idx.size > 6 else "")
    return ""


def _wrong_block(f: BlockFit, mismatched: Array) -> str:
    """``W1 (24 of 24)``, or ``Theta1 (5 of 25: column 0 only)``."""
    only = lines(mismatched[f.block.slice], f.block)
    return f"{f.block.name} ({f.bad} of {f.block.size}{f': {only} only' if only else ''})"


def _bias_columns(wrong: list[BlockFit], mismatched: Array) -> tuple[str, str]:
    """Every wrong block wrong in its first column alone (or its last alone): the bias
    column of a layout with the bias inside the weight matrix (Theta1 = [b, W])."""
    cols = {lines(mismatched[f.block.slice], f.block) for f in wrong}
    last = {f"column {f.block.shape[-1] - 1}" for f in wrong if len(f.block.shape) == 2}
    if cols == {"column 0"} or (len(cols) == 1 and cols == last):
        which = "first" if cols == {"column 0"} else "last"
        return (f"only the {which} column of each is wrong: the bias column when the bias "
                "is inside the weight matrix",
                "the bias column's gradient: the L2 term skips it when the loss does (MATLAB "
                "Theta1_grad(:, 2:end) for a bias-first Theta1), and its delta is the plain "
                "sum over the samples")
    return "", ""


def fits(ctx: Context) -> list[BlockFit]:
    """Fit every block of a checked cell's layout."""
    j = ctx.judged
    a, n = j.analytic.astype(np.float64), j.numeric.astype(np.float64)
    out = []
    for b in ctx.layout.blocks:
        s = b.slice
        r, misfit, clipped = _fit(a[s], n[s], j.mismatched[s])
        out.append(BlockFit(b, int(j.mismatched[s].sum()), r, misfit, clipped))
    return out


def _ranges(mask: Array, layout: Layout) -> list[str]:
    """Describe contiguous runs of True in a flat mask by block ranges, e.g. W[210:310]."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(idx) > 1)
    starts, stops = np.r_[idx[0], idx[cuts + 1]], np.r_[idx[cuts], idx[-1]] + 1
    out = []
    for lo, hi in zip(starts.tolist(), stops.tolist(), strict=True):
        b = layout.block_of(lo)
        whole = lo == b.start and hi == b.start + b.size
        if hi - lo == 1:
            out.append(layout.name(lo))
        elif whole:
            out.append(f"{b.name}[{lo - b.start}:{hi - b.start}] (all {hi - lo}: the whole block)")
        else:
            out.append(f"{b.name}[{lo - b.start}:{hi - b.start}]")
    return out


def _named(r: float, N: int) -> bool:
    """True when r is one of the factors ``_factor`` names (-1, 2, 1/2, N, 1/N)."""
    return any(abs(r - v) <= 1e-6 * abs(v) for v in (-1.0, 2.0, 0.5, float(N), 1.0 / N))


def _exact(wrong: list[BlockFit], N: int, tol: float) -> list[BlockFit]:
    """The wrong blocks off by one constant factor. A block of one entry always fits some
    factor, so it counts only when its factor is one a larger block shows too, or one with
    a name (2, -1, N, ...): a lone bias of an output unit is not evidence of a factor."""
    fit = [f for f in wrong if f.misfit <= tol and np.isfinite(f.ratio) and f.ratio != 0]
    seen = [f.ratio for f in fit if f.block.size > 1]
    return [f for f in fit if f.block.size > 1 or _named(f.ratio, N)
            or any(abs(f.ratio - r) <= 1e-6 * abs(r) for r in seen)]


def samples(ctx: Context) -> int:
    """The number of samples N: the described network's, else read from X and the targets
    (samples as rows, or as columns when only X's second axis matches them)."""
    b = ctx.black
    d = None if b is None else (b.fitted or b.described)
    if d is not None:
        return d.samples
    X, Y = np.shape(ctx.X), np.shape(ctx.Y)
    if len(X) != 2:
        return int(X[0]) if X else 1
    if len(Y) == 2 and X[1] == Y[1] and X[0] != Y[0]:
        return int(X[1])
    if len(Y) == 1 and X[1] == Y[0] and X[0] != Y[0]:
        return int(X[1])
    return int(X[0])


def _pattern(fitted: list[BlockFit], N: int, tol: float) -> tuple[str, str]:
    """Return (what the pattern of wrong blocks says, where to look)."""
    wrong = [f for f in fitted if f.wrong]
    exact = _exact(wrong, N, tol)
    if wrong and len(exact) == len(wrong) and len({round(f.ratio, 9) for f in exact}) == 1 \
            and len(wrong) == len(fitted):
        r = exact[0].ratio
        return (f"every block is off by the same factor {_factor(r, N)}",
                "a factor on the whole gradient: a mean loss with a summed gradient (or the "
                "reverse), or an extra constant")
    clipped = [f for f in wrong if f.clipped]
    if clipped:
        c = clipped[0].clipped
        return (f"{', '.join(f.block.name for f in clipped)} stuck at +-{c:.4g} where the "
                "numerical gradient is larger",
                "a clip in the loss or the gradient (np.clip): the gradient of a clipped "
                "quantity is 0 outside the clip")
    if exact and len(exact) == len(wrong):
        parts = [f"{f.block.name} is {_factor(f.ratio, N)} x the numerical gradient"
                 for f in exact]
        return "; ".join(parts), "a constant factor in those blocks' gradient"
    layers = {f.block.name: _layer(f.block.name) for f in fitted}
    if all(layers.values()) and wrong:
        by: dict[int, dict[str, BlockFit]] = {}
        for f in fitted:
            kind, k = layers[f.block.name]  # type: ignore[misc]
            by.setdefault(k, {})[kind] = f
        bad_layers = sorted(k for k, d in by.items() if any(f.wrong for f in d.values()))
        weights_only = [d for k in bad_layers for d in (by[k],)
                        if "w" in d and "b" in d and d["w"].wrong and not d["b"].wrong]
        if weights_only and len(weights_only) == len(bad_layers):
            names = ", ".join(d["w"].block.name for d in weights_only)
            biases = ", ".join(d["b"].block.name for d in weights_only)
            return (f"only the weights {names} are wrong, not the biases {biases}",
                    "a term of the weights alone: the L2 penalty's gradient (its factor), "
                    "the input to that layer, or the order of its product (a transpose)")
        if bad_layers and max(by) not in bad_layers:
            names = "/".join(f.block.name for k in bad_layers for f in by[k].values())
            return (f"the output layer is right; the error enters at {names}",
                    "the hidden layer's delta: its activation derivative (for relu, the mask "
                    "z > 0), the sum back through the weights above, or its sign")
    if exact:
        parts = [f"{f.block.name} is {_factor(f.ratio, N)} x the numerical gradient"
                 for f in exact]
        return "; ".join(parts), "a constant factor in those blocks' gradient"
    return "", ""


@diagnostic(
    "localisation", "which blocks are wrong, and what the pattern says",
    "For a failing check relu-diag fits each block of the gradient (each named parameter, "
    "or w1, b1, ... of the seed layout) to the numerical one by a single factor. The finding "
    "names the wrong blocks (or, for an unnamed W, the ranges of wrong entries) and reads "
    "the pattern: every block off by one factor (1/N: a mean against a sum), a block off by "
    "a constant factor (2, -1), a gradient stuck at a clip value, a right output layer above "
    "a wrong hidden one (the hidden delta), or a wrong weight block beside a right bias (a "
    "term of the weights alone, such as L2).",
    "Look where the finding points; with the network described (--act, --loss, --layout) "
    "the known-bug finding names the exact formula.")
def localisation(ctx: Context) -> list[Finding]:
    """Return the ``localisation`` finding of a failing check: wrong blocks and the pattern."""
    if ctx.status != "fail" or not ctx.entries or ctx.layout is None:
        return []
    j = ctx.judged
    if not j.mismatched.any() or not j.finite.any():  # nothing to fit (see non-finite)
        return []
    fitted = fits(ctx)
    N = samples(ctx)
    tol = EXACT["float32" if ctx.black is not None and ctx.black.precision == "float32"
                or ctx.W.dtype == np.float32 else "float64"]
    what, look = _pattern(fitted, N, tol)
    wrong = [f for f in fitted if f.wrong]
    if not what and wrong and len(ctx.layout.blocks) > 1:
        what, look = _bias_columns(wrong, j.mismatched)
    if len(ctx.layout.blocks) == 1:
        where = "mismatched entries: " + listing(_ranges(j.mismatched, ctx.layout), 6)
    else:
        right = [f.block.name for f in fitted if not f.wrong]
        where = ("wrong: " + ", ".join(_wrong_block(f, j.mismatched) for f in wrong)
                 + ("; right: " + ", ".join(right) if right else ""))
    return [Finding(
        "localisation", "info", where + (f"; {what}" if what else ""),
        fix=f"look at {look}" if look else "compare each wrong block with its formula",
        data=(("blocks", [{"name": f.block.name, "mismatched": f.bad, "size": f.block.size,
                           "ratio": f.ratio, "misfit": f.misfit} for f in fitted]),
              ("pattern", what)))]
