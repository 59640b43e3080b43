"""The reference network: seed-compatible parameter layout, forward pass and the two backprops.

Layer l has weights ``w_l`` of shape (n_l, n_{l-1} + 1), bias in the LAST column, and the
parameter vector is ``[vec(w1); vec(w2); ...]`` in column-major order, exactly as the seed's
MATLAB code reshapes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from relu_ce_diag.activations import ACTIVATIONS, Activation
from relu_ce_diag.losses import LOSSES, Loss

Array = np.ndarray
BACKPROPS = ("shortcut", "exact")


@dataclass(frozen=True)
class Net:
    """Architecture and conventions of one reference network.

    ``sizes`` is (n_inputs, n_hidden_1, ..., n_outputs). ``at_zero`` is relu'(0).
    """

    sizes: tuple[int, ...]
    act: str = "relu"
    out: str = "relu"
    loss: str = "ce"
    eps: float = 2.220446049250313e-16
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
    def shapes(self) -> list[tuple[int, int]]:
        """Weight-matrix shapes, one per layer: (n_l, n_{l-1} + 1)."""
        return [(self.sizes[k + 1], self.sizes[k] + 1) for k in range(len(self.sizes) - 1)]

    @property
    def n_params(self) -> int:
        return sum(r * c for r, c in self.shapes)

    def layer_act(self, layer: int) -> Activation:
        """Return the activation of 0-based weight layer ``layer``."""
        return self.out_act if layer == len(self.sizes) - 2 else self.hidden_act

    def unpack(self, W: Array) -> list[Array]:
        """Split a parameter vector (P,) into weight matrices, column-major like MATLAB."""
        mats, start = [], 0
        for r, c in self.shapes:
            mats.append(W[start:start + r * c].reshape((r, c), order="F"))
            start += r * c
        return mats

    def blocks(self) -> list[tuple[str, slice]]:
        """Return the named contiguous blocks of W: w1, b1, w2, b2, ..."""
        out, start = [], 0
        for k, (r, c) in enumerate(self.shapes, start=1):
            out.append((f"w{k}", slice(start, start + r * (c - 1))))
            out.append((f"b{k}", slice(start + r * (c - 1), start + r * c)))
            start += r * c
        return out

    def entry_name(self, p: int) -> str:
        """Name flat parameter index p as ``w1[j, i]`` or ``b2[j]`` (0-based)."""
        start = 0
        for k, (r, c) in enumerate(self.shapes, start=1):
            if p < start + r * c:
                j, i = (p - start) % r, (p - start) // r
                return f"b{k}[{j}]" if i == c - 1 else f"w{k}[{j}, {i}]"
            start += r * c
        raise IndexError(f"parameter index {p} is outside 0..{self.n_params - 1}")


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
    (N, n_out) and the loss ``f``."""

    inputs: list[Array]
    z: list[Array]
    y: Array
    terms: Array
    f: float


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
        if net.loss in ("ce", "cce"):
            return y - Y
        return (y - Y) * out.df(zL, y, net.leaky_slope, net.at_zero)
    g = net.loss_fn.dy(y, Y, net.eps)
    if out.rowwise:  # softmax: J^T g = y * (g - <g, y>)
        return y * (g - (g * y).sum(axis=-1, keepdims=True))
    return g * out.df(zL, y, net.leaky_slope, net.at_zero)


def deltas(net: Net, W: Array, fw: Forward, Y: Array, method: str) -> list[Array]:
    """Return dL/dz_l (N, n_l) for every weight layer, output delta under ``method``."""
    mats = net.unpack(W)
    out = [output_delta(net, fw, Y, method)]
    for layer in range(len(mats) - 1, 0, -1):
        a = fw.inputs[layer][:, :-1]
        slope = net.layer_act(layer - 1).df(fw.z[layer - 1], a, net.leaky_slope, net.at_zero)
        out.append((out[-1] @ mats[layer][:, :-1]) * slope)
    return out[::-1]


def backprop(net: Net, W: Array, X: Array, Y: Array, method: str = "shortcut",
             fw: Forward | None = None) -> tuple[float, Array]:
    """Return (f, df) like the seed's ``[f, df] = backprop(W, X, Y)``; df has shape (P,)."""
    fw = fw if fw is not None else forward(net, W, X, Y)
    ds = deltas(net, W, fw, Y, method)
    return fw.f, pack([d.T @ ab for d, ab in zip(ds, fw.inputs, strict=True)])
