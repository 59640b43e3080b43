"""The reference network: seed-compatible parameter layout, forward pass and the two backprops.

Layer l has weights ``w_l`` of shape (n_l, n_{l-1} + 1), bias in the LAST column, and the
parameter vector is ``[vec(w1); vec(w2); ...]`` in column-major order, exactly as the seed's
MATLAB code reshapes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from relu_ce_diag.model.activations import ACTIVATIONS, DEFAULT_ACT, Activation
from relu_ce_diag.model.layout import Block, Layout
from relu_ce_diag.model.losses import DEFAULT_LOSS, LOSSES, MATLAB_EPS, Loss, eps_code

Array = np.ndarray
BACKPROPS = ("shortcut", "exact")


@dataclass(frozen=True)
class Net:
    """Architecture and conventions of one reference network.

    ``sizes`` is (n_inputs, n_hidden_1, ..., n_outputs). ``at_zero`` is relu'(0).
    """

    sizes: tuple[int, ...]
    act: str = DEFAULT_ACT
    out: str = DEFAULT_ACT
    loss: str = DEFAULT_LOSS
    eps: float = MATLAB_EPS
    at_zero: float = 0.0
    leaky_slope: float = 0.01

    @property
    def hidden_act(self) -> Activation:
        return ACTIVATIONS[self.act]

    @property
    def out_act(self) -> Activation:
        return ACTIVATIONS[self.out]

    @property
    def loss_fn(self) -> Loss:
        return LOSSES[self.loss]

    @property
    def canonical(self) -> bool:
        """True when the output is the loss's canonical one (the shortcut delta is exact)."""
        return self.out == self.loss_fn.canonical

    @cached_property
    def shapes(self) -> tuple[tuple[int, int], ...]:
        """Weight-matrix shapes, one per layer: (n_l, n_{l-1} + 1)."""
        return tuple((self.sizes[k + 1], self.sizes[k] + 1) for k in range(len(self.sizes) - 1))

    @cached_property
    def n_params(self) -> int:
        return params_for(self.sizes)

    @property
    def last(self) -> int:
        """The 0-based index of the output weight layer."""
        return len(self.sizes) - 2

    def layer_act(self, layer: int) -> Activation:
        """Return the activation of 0-based weight layer ``layer``."""
        return self.out_act if layer == self.last else self.hidden_act

    def layer_start(self, layer: int) -> int:
        """Return the flat index of the first entry of weight layer ``layer``."""
        return sum(r * c for r, c in self.shapes[:layer])

    def position(self, p: int) -> tuple[int, int, int]:
        """Return (layer, row j, column i) of flat parameter index p."""
        start = 0
        for layer, (r, c) in enumerate(self.shapes):
            if p < start + r * c:
                return layer, (p - start) % r, (p - start) // r
            start += r * c
        raise IndexError(f"parameter index {p} is outside 0..{self.n_params - 1}")

    def unit_entries(self, layer: int, unit: int) -> Array:
        """Return the flat indices of row ``unit`` of layer ``layer``: w[unit, :] and b[unit]."""
        r, c = self.shapes[layer]
        return self.layer_start(layer) + unit + r * np.arange(c)

    def unpack(self, W: Array) -> list[Array]:
        """Split a parameter vector (P,) into weight matrices, column-major like MATLAB."""
        mats, start = [], 0
        for r, c in self.shapes:
            mats.append(W[start:start + r * c].reshape((r, c), order="F"))
            start += r * c
        return mats

    @cached_property
    def layout(self) -> Layout:
        """Return the named blocks of W: w1 (n_1, n_0), b1 (n_1,), w2, b2, ... column-major."""
        blocks, start = [], 0
        for k, (r, c) in enumerate(self.shapes, start=1):
            blocks.append(Block(f"w{k}", (r, c - 1), start, "F"))
            blocks.append(Block(f"b{k}", (r,), start + r * (c - 1), "F"))
            start += r * c
        return Layout(tuple(blocks))

    def blocks(self) -> list[tuple[str, slice]]:
        """Return the named contiguous blocks of W: w1, b1, w2, b2, ..."""
        return [(b.name, b.slice) for b in self.layout.blocks]

    def entry_name(self, p: int) -> str:
        """Name flat parameter index p as ``w1[j, i]`` or ``b2[j]`` (0-based)."""
        if not 0 <= p < self.n_params:
            raise IndexError(f"parameter index {p} is outside 0..{self.n_params - 1}")
        return self.layout.name(p)


def params_for(sizes: tuple[int, ...]) -> int:
    """Return the number of parameters of a seed-layout network of layer ``sizes`` (each
    layer's weights and its bias)."""
    return sum(n * (m + 1) for m, n in zip(sizes, sizes[1:], strict=False))


def hidden_from_size(P: int, n_in: int, n_out: int) -> int | None:
    """Infer the width of a single hidden layer from the length P of W, or None."""
    num = P - n_out
    den = n_in + 1 + n_out
    return num // den if num > 0 and num % den == 0 else None


def pack(mats: list[Array]) -> Array:
    """Concatenate weight matrices into one column-major parameter vector (P,)."""
    return np.concatenate([m.ravel(order="F") for m in mats])


def with_bias(a: Array) -> Array:
    """Append the constant-one bias column: (..., N, n) -> (..., N, n + 1)."""
    ones = np.ones(a.shape[:-1] + (1,), dtype=a.dtype)
    return np.concatenate([a, ones], axis=-1)


@dataclass(frozen=True)
class Forward:
    """Cached forward pass: per weight layer its input with bias ``inputs[l]`` (N, n_{l}+1)
    and pre-activation ``z[l]`` (N, n_{l+1}); the output ``y`` (N, n_out); the loss terms
    (N, n_out) and the loss ``f``. ``slopes`` keeps the hidden layers' derivatives at this
    pass, each computed on first use (``hidden_slope``)."""

    inputs: list[Array]
    z: list[Array]
    y: Array
    terms: Array
    f: float
    slopes: dict[tuple[object, ...], Array] = field(default_factory=dict, compare=False,
                                                    repr=False)


def forward(net: Net, W: Array, X: Array, Y: Array) -> Forward:
    """Run the forward pass and the loss for W (P,), X (N, n_in), Y (N, n_out)."""
    mats = net.unpack(W)
    a = X
    inputs, zs = [], []
    for layer, w in enumerate(mats):
        ab = with_bias(a)
        z = ab @ w.T
        inputs.append(ab)
        zs.append(z)
        a = net.layer_act(layer).f(z, net.leaky_slope)
    terms = net.loss_fn.terms(a, Y, net.eps)
    with np.errstate(invalid="ignore", over="ignore"):
        f = float(terms.sum())
    return Forward(inputs, zs, a, terms, f)


def output_delta(net: Net, fw: Forward, Y: Array, backprop: str) -> Array:
    """Return the output delta dL/dz_L (N, n_out) under ``shortcut`` or ``exact``."""
    out, zL, y = net.out_act, fw.z[-1], fw.y
    if backprop == "shortcut":
        # The seed: d3 = y - Y for cross-entropies, (y - Y) .* dact(z3) for squared error.
        if not net.loss_fn.shortcut_chain:
            return y - Y
        return (y - Y) * out.df(zL, y, net.leaky_slope, net.at_zero)
    g = net.loss_fn.dy(y, Y, net.eps)
    if out.rowwise:  # softmax: J^T g = y * (g - <g, y>)
        return y * (g - (g * y).sum(axis=-1, keepdims=True))
    return g * out.df(zL, y, net.leaky_slope, net.at_zero)


def shortcut_is_exact(out: Activation, loss: Loss, rows_sum_to_one: bool = True) -> bool:
    """Return whether the seed's shortcut delta is the true dL/dz for this output and loss."""
    if loss.shortcut_chain:
        return not out.rowwise  # (y - Y) .* act'(z) is the chain rule elementwise
    return out.name == loss.canonical and (rows_sum_to_one or not out.rowwise)


def delta_code(net: Net, lang: str = "numpy", rows_sum_to_one: bool = True,
               names: tuple[str, str, str, str] | None = None) -> str:
    """Return the correct output delta of ``net`` as one line of code in ``lang``
    (numpy|matlab): exact for the loss as computed (0 where the clamp is active) and safe at
    y = 0 or 1. ``names`` are (delta, pre-activation, output, targets), by default the seed's
    (``d3``, ``z3``, ``y``, ``Y`` for two layers)."""
    L = len(net.sizes)
    d, z, y, Y = names or (f"d{L}", f"z{L}", "y", "Y")
    out, loss = net.out_act, net.loss_fn
    mat = lang == "matlab"
    end = ";" if mat else ""
    if net.canonical and (rows_sum_to_one or not out.rowwise):
        return f"{d} = {y} - {Y}{end}"
    if net.canonical:  # softmax + cce whose target rows do not all sum to 1
        return (f"{d} = {y} .* sum({Y}, 2) - {Y};" if mat
                else f"{d} = {y} * {Y}.sum(axis=1, keepdims=True) - {Y}")
    g = loss.dldy_code(lang, y, Y)
    pre = eps_code(lang, net.eps) if loss.clamped else ""
    if out.rowwise:
        jac = (f"{y} .* (dLdy - sum(dLdy .* {y}, 2))" if mat
               else f"{y} * (dLdy - (dLdy * {y}).sum(axis=1, keepdims=True))")
        return f"{pre}dLdy = {g}; {d} = {jac}{end}"
    dact = out.derivative_code(lang, y, z, net.leaky_slope)
    if dact == "1":
        return f"{pre}{d} = {g}{end}"
    mul = " .* " if mat else " * "
    return f"{pre}{d} = {g}{mul}{dact}{end}"


def backprop_delta(net: Net, W: Array, fw: Forward, d_out: Array,
                   hidden_df: Callable[[int, Array, Array], Array] | None = None,
                   ) -> list[Array]:
    """Backpropagate an output delta (N, n_out); return dL/dz_l (N, n_l) of every weight layer.

    ``hidden_df(layer, z, a)`` replaces the hidden derivative (the known-bug catalogue
    rebuilds wrong formulas with it); by default it is the layer's own ``df``."""
    mats = net.unpack(W)
    out = [d_out]
    for layer in range(len(mats) - 1, 0, -1):
        slope = (hidden_df(layer - 1, fw.z[layer - 1], fw.inputs[layer][:, :-1])
                 if hidden_df is not None else hidden_slope(net, fw, layer - 1))
        out.append((out[-1] @ mats[layer][:, :-1]) * slope)
    return out[::-1]


def hidden_slope(net: Net, fw: Forward, layer: int) -> Array:
    """Return act'(z) (N, n_l) of hidden weight layer ``layer`` at the forward pass, the
    activation's own ``df``; kept in ``fw.slopes`` for the next caller with the same
    activation and conventions (every backprop of the pass, the dead-units rule)."""
    act = net.layer_act(layer)
    key = (layer, act.name, net.leaky_slope, net.at_zero)
    slope = fw.slopes.get(key)
    if slope is None:
        slope = act.df(fw.z[layer], fw.inputs[layer + 1][:, :-1], net.leaky_slope,
                       net.at_zero)
        fw.slopes[key] = slope
    return slope


def weight_grads(ds: list[Array], fw: Forward) -> list[Array]:
    """Return dL/dw_l (n_l, n_{l-1} + 1) from the deltas of every layer."""
    return [d.T @ ab for d, ab in zip(ds, fw.inputs, strict=True)]


def deltas(net: Net, W: Array, fw: Forward, Y: Array, method: str) -> list[Array]:
    """Return dL/dz_l (N, n_l) for every weight layer, output delta under ``method``."""
    return backprop_delta(net, W, fw, output_delta(net, fw, Y, method))


def grad_from_delta(net: Net, W: Array, fw: Forward, d_out: Array) -> Array:
    """Backpropagate an output delta (N, n_out) through the hidden layers to a gradient (P,)."""
    return pack(weight_grads(backprop_delta(net, W, fw, d_out), fw))


def backprop(net: Net, W: Array, X: Array, Y: Array, method: str = "shortcut",
             fw: Forward | None = None, ds: list[Array] | None = None) -> tuple[float, Array]:
    """Return (f, df) like the seed's ``[f, df] = backprop(W, X, Y)``; df has shape (P,).
    ``fw`` and ``ds`` (``deltas(net, W, fw, Y, method)``) may be given when already known."""
    fw = fw if fw is not None else forward(net, W, X, Y)
    ds = ds if ds is not None else deltas(net, W, fw, Y, method)
    return fw.f, pack(weight_grads(ds, fw))
