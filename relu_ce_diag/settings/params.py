"""A user function's point: its parameters (one flat ``W``, or named blocks such as ``W1 b1 W2
b2``), its data ``X`` and targets ``Y`` (or integer labels ``y``), and extra arguments.

Named blocks are checked as one flat vector, each block raveled in C order (NumPy's default)
one after the other in their given order, and every entry is named by its block, as in
``W1[3, 5]`` or ``b2[1]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from relu_ce_diag.errors import DataError
from relu_ce_diag.model.layout import Block, Layout, flat_layout

Array = np.ndarray
DATA_KEYS = ("X", "Y", "y")  # the data and the targets; every other array is a parameter


@dataclass(frozen=True)
class Point:
    """Where a user's function is checked: ``params`` (None: the flat form with ``W``),
    the flat vector ``W`` (P,) and its ``layout``, the data ``X``, the targets ``Y`` (as
    stored: one-hot or labels) under the name ``target`` (``Y`` or ``y``), and the other
    variables of the data file by name; ``call_sizes`` are the layer sizes an Octave ``--call``
    passes between W and X, as the ML course's ``nnCostFunction(W, 400, 25, 10, X, y, lam)``
    does (empty: none)."""

    W: Array
    layout: Layout
    X: Array
    Y: Array
    target: str = "Y"
    params: tuple[str, ...] | None = None
    shapes: tuple[tuple[int, ...], ...] = ()
    others: tuple[tuple[str, Array], ...] = ()
    call_sizes: tuple[int, ...] = ()

    @property
    def named(self) -> bool:
        return self.params is not None

    def unflatten(self, W: Array) -> dict[str, Array]:
        """Return fresh arrays of each named block from a flat vector (P,)."""
        assert self.params is not None
        return {b.name: W[b.slice].reshape(b.shape).copy() for b in self.layout.blocks}


def layout_of(params: Mapping[str, Array]) -> Layout:
    """Return the layout of named blocks, in order, each raveled in C order."""
    blocks, start = [], 0
    for name, a in params.items():
        shape = tuple(int(n) for n in np.shape(a))
        blocks.append(Block(name, shape, start, "C"))
        start += math.prod(shape)
    return Layout(tuple(blocks))


def named_point(params: Mapping[str, Array], X: Array, Y: Array, target: str = "Y",
                others: Mapping[str, Array] | None = None, source: str = "params") -> Point:
    """Return the point of named parameter blocks (each a real, finite, non-empty array)."""
    if not params:
        raise DataError(source, "holds no parameters besides X and Y (or y)")
    arrays = {}
    for name, a in params.items():
        arr = np.asarray(a)
        if arr.dtype.kind not in "fiu" or arr.size == 0:
            raise DataError(source, f"parameter {name!r} must be a non-empty array of real "
                            f"numbers; got dtype {arr.dtype} and shape {arr.shape}")
        arrays[name] = arr.astype(np.float64) if arr.dtype.kind != "f" else arr
    layout = layout_of(arrays)
    W = np.concatenate([a.ravel() for a in arrays.values()])  # the blocks' common dtype
    return Point(W, layout, X, Y, target, tuple(arrays), tuple(a.shape for a in arrays.values()),
                 tuple((others or {}).items()))


def flat_point(W: Array, X: Array, Y: Array, target: str = "Y",
               others: Mapping[str, Array] | None = None) -> Point:
    """Return the point of a flat parameter vector W (as given: (P,), (P, 1) or any shape)."""
    return Point(np.asarray(W), flat_layout(int(np.size(W))), X, Y, target, None, (),
                 tuple((others or {}).items()))


def require_names(names: list[str], source: str, args: tuple[str, ...] = ()) -> None:
    """Refuse a data file whose arrays (by ``names``, from its headers or its arrays) lack X,
    the targets or any parameter: said before anything large is read."""
    if "X" not in names or not ("Y" in names or "y" in names):
        need = [k for k in ("X",) if k not in names] + ([] if "Y" in names or "y" in names
                                                       else ["Y (or integer labels y)"])
        raise DataError(source, f"missing array(s) {' and '.join(need)}; the file holds "
                        f"{', '.join(names) or 'no arrays'}")
    if not [k for k in names if k not in DATA_KEYS and k not in args]:
        raise DataError(source, "has no array W and no named parameters: store W (a vector, "
                        "for f, df = fn(W, X, Y)) or named blocks such as W1 b1 W2 b2 (for "
                        "loss, grads = fn(params, X, Y))")


def point_from_arrays(arrays: Mapping[str, Array], source: str,
                      args: tuple[str, ...] = ()) -> Point:
    """Split a data file's arrays into X, the targets (Y, else y), the parameters and the
    variables named in ``args`` (the function's extra arguments). A lone ``W`` that is a
    vector (or a column) is the flat form ``f, df = fn(W, X, Y)``; other arrays are named
    blocks ``loss, grads = fn(params, X, Y)``."""
    require_names(list(arrays), source, args)
    target = "Y" if "Y" in arrays else "y"
    X, Y = arrays["X"], arrays[target]
    others = {k: v for k, v in arrays.items() if k in args}
    params = {k: v for k, v in arrays.items() if k not in DATA_KEYS and k not in args}
    W = params.get("W")
    if list(params) == ["W"] and W is not None and (W.ndim == 1 or (W.ndim == 2 and 1 in W.shape)):
        return flat_point(W.astype(np.float64).ravel(), X, Y, target, others)
    return named_point(params, X, Y, target, others, source)
