"""The ML course's ex4 layout (``theta``): ``Theta1`` (n_1, n_0 + 1), ``Theta2`` (n_2, n_1 + 1),
... with the bias as the FIRST column, given as named blocks or unrolled column-major as
``nn_params = [Theta1(:); Theta2(:)]``; X (m, n_0) in rows, labels y in 1..K (or one-hot Y).

A flat vector is read as this layout when the Octave ``--call`` passes the layer sizes between
W and X, as ``nnCostFunction(W, input_layer_size, hidden_layer_size, num_labels, X, y, lambda)``
does (the seed's flat vector has the same size, so nothing else tells them apart), or with
``--layout theta``.
"""

from __future__ import annotations

import re

import numpy as np

from relu_ce_diag.errors import OptionError
from relu_ce_diag.model.layout import Block
from relu_ce_diag.model.network import hidden_from_size, params_for
from relu_ce_diag.settings.function import Description
from relu_ce_diag.settings.params import Point

Array = np.ndarray
THETA = re.compile(r"(?i)theta_?(\d+)")


def theta_blocks(point: Point) -> list[Block] | None:
    """Return the point's blocks Theta1, Theta2, ... in layer order (None: not all of the
    point's blocks are named so, numbered 1, 2, ... without gaps)."""
    if not point.named:
        return None
    found = {}
    for b in point.layout.blocks:
        m = THETA.fullmatch(b.name)
        if m is None:
            return None
        found[int(m.group(1))] = b
    if sorted(found) != list(range(1, len(found) + 1)):
        return None
    return [found[k] for k in sorted(found)]


def is_flat(point: Point) -> bool:
    """True for one parameter vector: a flat W, or a single named block that is a vector
    (``nn_params`` saved as it is)."""
    blocks = point.layout.blocks
    return not point.named or (len(blocks) == 1 and sum(n > 1 for n in blocks[0].shape) <= 1)


def call_fits(point: Point) -> bool:
    """True when the sizes passed by ``--call`` fit the flat vector and X (then the flat
    vector is read as [Theta1(:); Theta2(:)])."""
    s, X = point.call_sizes, np.asarray(point.X)
    return (len(s) >= 2 and is_flat(point) and X.ndim == 2 and X.shape[1] == s[0]
            and params_for(s) == point.W.size)


def _classes(point: Point) -> int:
    """The number of outputs: one-hot Y's columns, else the largest label (1..K)."""
    Y = np.asarray(point.Y)
    if Y.ndim == 2 and min(Y.shape) > 1:
        return int(Y.shape[1])
    y = Y.reshape(-1)
    return int(np.max(y)) + (1 if y.size and np.min(y) == 0 else 0) if y.size else 1


def theta_sizes(d: Description, point: Point) -> tuple[tuple[int, ...], list[tuple[int, str]]]:
    """Return the layer sizes (n_0, ..., n_L) and each Theta's (first flat index, order)."""
    blocks = theta_blocks(point)
    if blocks is not None:
        shapes = [b.shape for b in blocks]
        if any(len(s) != 2 for s in shapes) or any(
                shapes[k][0] + 1 != shapes[k + 1][1] for k in range(len(shapes) - 1)):
            raise OptionError("--layout", "theta", "Theta_l (n_l, n_{l-1} + 1) whose shapes "
                              "chain layer to layer; got " + ", ".join(map(str, shapes)))
        sizes = (shapes[0][1] - 1, *(s[0] for s in shapes))
        return tuple(int(n) for n in sizes), [(b.start, b.order) for b in blocks]
    if not is_flat(point):
        raise OptionError("--layout", "theta", "blocks Theta1 Theta2 ... (bias as the first "
                          "column) or one flat vector W = [Theta1(:); Theta2(:)]")
    if call_fits(point):
        sizes = point.call_sizes
    else:
        n_in, n_out = int(np.asarray(point.X).shape[-1]), _classes(point)
        width = hidden_from_size(point.W.size, n_in, n_out)
        hidden = d.hidden or ((width,) if width is not None else ())
        sizes = (n_in, *hidden, n_out)
    if len(sizes) < 2 or params_for(sizes) != point.W.size:
        raise OptionError("--hidden", ",".join(map(str, sizes[1:-1])) or None,
                          f"widths whose [Theta1(:); Theta2(:); ...] has {point.W.size} "
                          f"entries like W (for {sizes[0]} inputs and {sizes[-1]} outputs)")
    starts = np.cumsum([0] + [sizes[k] * (sizes[k - 1] + 1) for k in range(1, len(sizes))])
    return tuple(int(n) for n in sizes), [(int(starts[k]), "F") for k in range(len(sizes) - 1)]


def theta_perm(sizes: tuple[int, ...], places: list[tuple[int, str]],
               P: int) -> tuple[Array, Array]:
    """Return the user's flat index of every seed-layout entry (P,) and the mask of the
    entries under L2 (every column of each Theta but the first, the bias)."""
    idx, weights = [], np.zeros(P, dtype=bool)
    for k, (start, order) in enumerate(places, start=1):
        n_out, n_in = sizes[k], sizes[k - 1]
        rows, cols = np.meshgrid(np.arange(n_out), np.arange(n_in + 1), indexing="ij")
        col = np.where(cols < n_in, cols + 1, 0)  # the seed's last column is Theta's first
        flat = Block(f"Theta{k}", (n_out, n_in + 1), start, order).flat(rows, col)
        weights[flat[col > 0]] = True
        idx.append(flat.ravel(order="F"))  # the seed vector is column-major
    return np.concatenate(idx), weights
