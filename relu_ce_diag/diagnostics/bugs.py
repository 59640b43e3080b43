"""The mistakes people make in hand-written backprop, each rebuilt on the described network.

A *delta* bug changes how a delta is computed (the shortcut ``y - Y`` on a non-canonical
pair, a missing output or hidden derivative, element-wise softmax, softmax without the -1 at
the true class, a wrong leaky slope, relu' on a shifted threshold, tanh' written as
1 - tanh, a sign error in the hidden delta); it yields the seed-layout gradient matrices of
the network's summed loss. A *layout* bug changes how the right matrices become the user's
gradient (row-major flattening, a dropped bias gradient, a factor of 2, a mean against a sum,
one layer divided by N, a transposed block, the L2 term missing or with the wrong factor).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from relu_ce_diag.diagnostics.fixes import Coder
from relu_ce_diag.model.described import Described
from relu_ce_diag.model.network import Forward, Net, backprop_delta, output_delta, weight_grads

Array = np.ndarray
HiddenDf = Callable[[int, Array, Array], Array]


@dataclass(frozen=True)
class KnownBug:
    """One catalogued mistake: stable id, what the user's df then is, and the fix (the
    correct code to paste in the layout's names, with the words around it)."""

    id: str
    what: str
    fix: str
    code: str = ""


def _hdf(net: Net) -> HiddenDf:
    """Return the hidden derivative of ``net``."""
    def f(layer: int, z: Array, a: Array) -> Array:
        return net.layer_act(layer).df(z, a, net.leaky_slope, net.at_zero)
    return f


def _changed(net: Net, change: Callable[[Array], Array], only: int | None = None) -> HiddenDf:
    """Return ``change`` of the hidden derivative of ``net`` (ones: no mask; minus: sign), at
    every hidden layer or ``only`` the one of that 0-based weight layer."""
    def f(layer: int, z: Array, a: Array) -> Array:
        df = net.layer_act(layer).df(z, a, net.leaky_slope, net.at_zero)
        return change(df) if only is None or layer == only else df
    return f


def _shift(t: float) -> Callable[[int, Array], Array]:
    """Return the pre-activation shift z -> z - t (relu'(z - t) is (z > t))."""
    return lambda layer, z: z - t


def _shifted(net: Net, shift: Callable[[int, Array], Array]) -> HiddenDf:
    """Return the hidden derivative evaluated on shifted pre-activations."""
    def f(layer: int, z: Array, a: Array) -> Array:
        return net.layer_act(layer).df(shift(layer, z), a, net.leaky_slope, net.at_zero)
    return f


def _slipped(net: Net, name: str, wrong: Callable[[Array], Array]) -> HiddenDf:
    """Return the hidden derivative with the activation ``name``'s slip in place of its own."""
    def f(layer: int, z: Array, a: Array) -> Array:
        act = net.layer_act(layer)
        return wrong(a) if act.name == name else act.df(z, a, net.leaky_slope, net.at_zero)
    return f


def _grads(net: Net, W: Array, fw: Forward, d_out: Array, hdf: HiddenDf) -> list[Array]:
    return weight_grads(backprop_delta(net, W, fw, d_out, hdf), fw)


def _output_bugs(d: Described, fw: Forward, W: Array, code: Coder,
                 ) -> Iterator[tuple[KnownBug, list[Array]]]:
    """The output-delta bugs that apply to the described output and loss."""
    net, Y = d.net, d.Y
    correct = code.output_delta()
    pair = f"a {net.out} output with {net.loss}"
    out, hdf = net.out_act, _hdf(net)
    if not net.loss_fn.shortcut_chain:
        yield (KnownBug("shortcut-delta", "the shortcut delta d_out = y - Y",
                        f"y - Y is dL/dz only for a canonical pair; for {pair} the correct "
                        f"delta is {correct}",
                        correct),
               _grads(net, W, fw, output_delta(net, fw, Y, "shortcut"), hdf))
    g = net.loss_fn.dy(fw.y, Y, net.eps)
    if not (out.piecewise_linear and out.slopes(net.leaky_slope) == (1.0, 1.0)):
        yield (KnownBug("missing-output-derivative", "the output delta without the output "
                        "activation's derivative (d_out = dL/dy)",
                        f"multiply by the output derivative: for {pair} the correct delta is "
                        f"{correct}",
                        correct), _grads(net, W, fw, g, hdf))
    if net.canonical and not out.rowwise and not net.loss_fn.shortcut_chain:
        dact = out.df(fw.z[-1], fw.y, net.leaky_slope, net.at_zero)
        yield (KnownBug("output-derivative-twice", "the output delta y - Y multiplied by the "
                        "output activation's derivative again",
                        f"for {pair} y - Y already is dL/dz: {correct}", correct),
               _grads(net, W, fw, (fw.y - Y) * dact, hdf))
    if out.rowwise:
        yield (KnownBug("softmax-elementwise", "softmax differentiated element-wise "
                        "(d_out = dL/dy .* y .* (1 - y))",
                        f"use the softmax Jacobian, not its diagonal: {correct}", correct),
               _grads(net, W, fw, g * fw.y * (1 - fw.y), hdf))
        if net.canonical:
            yield (KnownBug("softmax-missing-minus-one", "the softmax delta without the -1 at "
                            "the true class (d_out = y)",
                            f"subtract the one-hot targets: {correct}", correct),
                   _grads(net, W, fw, fw.y * Y.sum(axis=1, keepdims=True), hdf))


def _hidden_bugs(d: Described, fw: Forward, W: Array, code: Coder,
                 ) -> Iterator[tuple[KnownBug, list[Array]]]:
    """The hidden-delta bugs that apply to the described hidden activations."""
    net = d.net
    if net.last == 0:
        return
    exact = output_delta(net, fw, d.Y, "exact")
    correct = code.hidden_deltas()
    hidden = [net.layer_act(k) for k in range(net.last)]
    layers: list[int | None] = [None] + (list(range(net.last)) if net.last > 1 else [])
    names = sorted({a.name for a in hidden})
    missing = ("no relu mask" if names == ["relu"] else
               "no " + " or ".join(f"{n}'" for n in names) + " factor")
    for only in layers:
        where = ("the hidden" if net.last == 1 else "every hidden" if only is None
                 else f"hidden layer {only + 1}'s")
        line = correct if only is None else code.hidden_delta(only + 1)
        if not (only is None and all(a.piecewise_linear and a.slopes(net.leaky_slope) ==
                                     (1.0, 1.0) for a in hidden)):
            yield (KnownBug("missing-hidden-derivative", f"{where} delta without the hidden "
                            f"activation's derivative ({missing})",
                            f"multiply by the activation's derivative: {line}", line),
                   _grads(net, W, fw, exact, _changed(net, np.ones_like, only)))
        yield (KnownBug("hidden-sign", f"{where} delta with the wrong sign",
                        f"the hidden delta backpropagates with a plus sign: {line}", line),
               _grads(net, W, fw, exact, _changed(net, np.negative, only)))
    for act in {a.name: a for a in hidden if a.slip is not None}.values():
        assert act.slip is not None
        words, wrong = act.slip
        yield (KnownBug("slipped-derivative", f"{act.name}' written as {words}",
                        f"use the derivative as it is: {correct}", correct),
               _grads(net, W, fw, exact, _slipped(net, act.name, wrong)))
    if any(a.uses_slope for a in [*hidden, net.out_act]):
        s0 = net.leaky_slope
        for s in sorted({0.0, 1.0, s0 * 10, s0 / 10} - {s0}):
            n2 = replace(net, leaky_slope=s)
            both = code.join(code.output_delta(), correct) if net.out_act.uses_slope else correct
            yield (KnownBug("wrong-leaky-slope", f"leaky-relu derivatives with slope {s:g} for "
                            f"z <= 0 instead of {s0:g}", f"use {s0:g} where z <= 0: {both}",
                            both),
                   _grads(n2, W, fw, output_delta(n2, fw, d.Y, "exact"), _hdf(n2)))
    if any(a.kinks for a in hidden):
        mats = net.unpack(W)
        shifts: list[tuple[str, Callable[[int, Array], Array]]] = [
            ("on z without its bias (z - b)", lambda k, z: z - mats[k][:, -1])]
        shifts += [(f"as (z > {t:g})", _shift(t)) for t in (-1.0, -0.5, 0.5, 1.0)]
        for text, sh in shifts:
            yield (KnownBug("shifted-threshold", f"relu'(z) evaluated {text}",
                            f"evaluate the derivative on the full pre-activation, bias "
                            f"included: {correct}", correct),
                   _grads(net, W, fw, exact, _shifted(net, sh)))


def delta_bugs(d: Described, W: Array, fw: Forward, lang: str,
               ) -> Iterator[tuple[tuple[KnownBug, ...], list[Array]]]:
    """Yield (bugs, seed-layout gradient matrices of the summed loss): the exact ones first,
    then each delta bug."""
    code = Coder(d, lang)
    yield (), _grads(d.net, W, fw, output_delta(d.net, fw, d.Y, "exact"), _hdf(d.net))
    for bug, mats in (*_output_bugs(d, fw, W, code), *_hidden_bugs(d, fw, W, code)):
        yield (bug,), mats
