"""The correct lines of a described network's backprop, written as code to paste.

Each layout has its conventional names, which the printed fixes use (and the docs list):

* ``seed`` (MATLAB or NumPy, the seed's code): ``X`` is the input with its column of ones,
  ``z2``, ``a2`` (with ones), ..., ``y`` the output, ``Y`` the targets, ``d2``, ``d3`` the
  deltas, ``w1``, ``w2`` the weights, ``df1``, ``df2`` the gradients, ``df`` the vector.
* ``cs231n`` (NumPy): ``h0 = X``, ``z1 = h0 @ W1 + b1``, ``h1``, ..., ``out`` the output,
  ``Y`` the one-hot targets (``Y = np.eye(C)[y]`` from labels), ``N`` the samples, ``dz1``,
  ``dz2`` the deltas, ``grads['W1']``, ``grads['b1']`` the gradients.
* ``columns`` (NumPy, course style): ``A0 = X``, ``Z1 = W1 @ A0 + b1``, ``A1``, ..., ``Y``,
  ``m`` the samples, ``dZ1``, ``dZ2`` the deltas (without 1/m), ``dW1``, ``db1``.
* ``theta`` (MATLAB or NumPy, the ML course's ex4): ``a1 = [ones(m, 1) X]``,
  ``z2 = a1 * Theta1'``, ``a2 = [ones(m, 1) sigmoid(z2)]``, ``z3``, ``a3`` the output, ``Y``
  the one-hot targets, ``m`` the samples, ``d3``, ``d2`` the deltas (without 1/m),
  ``sigmoidGradient(z2)``, ``Theta1_grad``, ``Theta2_grad``, ``grad``.

Every line is exact for the loss as computed (the clamp included) and safe at y = 0 or 1 and
at relu's zeros (no 0/0).
"""

from __future__ import annotations

import numpy as np

from relu_ce_diag.model.activations import Activation
from relu_ce_diag.model.described import Described
from relu_ce_diag.model.network import delta_code


class Coder:
    """Write a described network's backprop lines in ``lang`` (numpy|matlab)."""

    def __init__(self, d: Described, lang: str = "numpy") -> None:
        self.d, self.net, self.layout = d, d.net, d.layout
        self.lang = lang
        self.L = len(d.net.sizes) - 1  # weight layers
        self.end = ";" if self.lang == "matlab" else ""

    def _l2(self, l: int) -> str:
        """Return the L2 term of weight layer l's gradient, '' without L2."""
        if not self.d.l2:
            return ""
        if self.layout == "theta":
            return _theta_l2(self.d, l, self.lang)
        c = 2 * self.d.l2_scale * self.d.l2 * (self.d.samples if _per_n(self.d) else 1)
        per = (" / N" if self.layout != "columns" else " / m") if _per_n(self.d) else ""
        w = f"w{l}" if self.layout == "seed" else f"W{l}"
        if self.layout == "seed":
            w = f"[{w}(:, 1:end-1) zeros(size({w}, 1), 1)]" if self.lang == "matlab" else \
                f"np.hstack([{w}[:, :-1], np.zeros(({w}.shape[0], 1))])"
        return f" + {c:g}{per} * {w}"

    def _per_sample(self) -> str:
        """The division of the loss's reduction: '' for a sum, ' / N' (' / m' in the columns
        layout) for a mean over the samples, ' / Y.size' for a mean over every element."""
        if self.d.reduction == "mean":
            return " / m" if self.layout in ("columns", "theta") else " / N"
        if self.d.reduction == "mean-all":
            return " / numel(Y)" if self.lang == "matlab" else " / Y.size"
        return ""

    def output_delta(self, rows_sum_to_one: bool = True) -> str:
        """The output delta, with the mean's 1/N where the layout puts it."""
        L, net = self.L, self.net
        names = {"seed": (f"d{L + 1}", f"z{L + 1}", "y", "Y"),
                 "cs231n": (f"dz{L}", f"z{L}", "out", "Y"),
                 "columns": (f"dZ{L}", f"Z{L}", f"A{L}", "Y"),
                 "theta": (f"d{L + 1}", f"z{L + 1}", f"a{L + 1}", "Y")}[self.layout]
        code = delta_code(net, self.lang, rows_sum_to_one, names)
        if self.layout == "columns":  # units are rows, samples columns: sum over axis 0
            code = code.replace("sum(axis=1, keepdims", "sum(axis=0, keepdims").replace(
                f"sum({names[3]}, 2)", f"sum({names[3]}, 1)").replace(
                f"sum(dLdy .* {names[2]}, 2)", f"sum(dLdy .* {names[2]}, 1)")
        if self.d.reduction != "sum" and self.layout not in ("columns", "theta"):
            head, _, last = code.rpartition("; ") if "; " in code else ("", "", code)
            target, _, expr = last.partition(" = ")
            expr = expr.rstrip(";")
            last = f"{target} = ({expr}){self._per_sample()}{self.end}"
            code = f"{head}; {last}" if head else last
        return code

    def hidden_delta(self, k: int) -> str:
        """The delta of hidden layer k (1-based, the output of weight layer k)."""
        net, act = self.net, self.net.layer_act(k - 1)
        if self.layout == "seed":
            z, d, up = f"z{k + 1}", f"d{k + 1}", f"d{k + 2}"
            dz = act.derivative_code(self.lang, "", z, net.leaky_slope, from_z=True)
            if self.lang == "matlab":
                return f"{d} = {up} * w{k + 1}(:, 1:end-1) .* {dz};"
            return f"{d} = ({up} @ w{k + 1}[:, :-1]) * {dz}"
        if self.layout == "theta":
            return _theta_hidden(self, k, act)
        z = f"z{k}" if self.layout == "cs231n" else f"Z{k}"
        dz = act.derivative_code(self.lang, "", z, net.leaky_slope, from_z=True)
        if self.lang == "matlab":
            return (f"dz{k} = (dz{k + 1} * W{k + 1}') .* {dz};" if self.layout == "cs231n"
                    else f"dZ{k} = (W{k + 1}' * dZ{k + 1}) .* {dz};")
        if self.layout == "cs231n":
            return f"dz{k} = (dz{k + 1} @ W{k + 1}.T) * {dz}"
        return f"dZ{k} = (W{k + 1}.T @ dZ{k + 1}) * {dz}"

    def hidden_deltas(self) -> str:
        """Every hidden delta, top down."""
        return self.join(*(self.hidden_delta(k) for k in range(self.L - 1, 0, -1)))

    def weight_grads(self, l: int) -> str:
        """The gradients of weight layer l (1-based): its weights and its bias."""
        if self.layout == "seed":
            a = "X" if l == 1 else f"a{l}"
            if self.lang == "matlab":
                return f"df{l} = d{l + 1}' * {a}{self._l2(l)};"
            return f"df{l} = d{l + 1}.T @ {a}{self._l2(l)}"
        if self.layout == "theta":
            t = "'" if self.lang == "matlab" else ".T"
            mul = " * " if self.lang == "matlab" else " @ "
            return (f"Theta{l}_grad = (d{l + 1}{t}{mul}a{l}){self._per_sample()}"
                    f"{self._l2(l)}{self.end}")
        scale = self._per_sample()
        if self.lang == "matlab":  # MATLAB's names: dW1, db1 in either layout
            if self.layout == "cs231n":
                return f"dW{l} = h{l - 1}' * dz{l}{self._l2(l)}; db{l} = sum(dz{l}, 1);"
            return (f"dW{l} = dZ{l} * A{l - 1}'{scale}{self._l2(l)}; "
                    f"db{l} = sum(dZ{l}, 2){scale};")
        if self.layout == "cs231n":
            return (f"grads['W{l}'] = h{l - 1}.T @ dz{l}{self._l2(l)}; "
                    f"grads['b{l}'] = dz{l}.sum(axis=0)")
        return (f"dW{l} = dZ{l} @ A{l - 1}.T{scale}{self._l2(l)}; "
                f"db{l} = np.sum(dZ{l}, axis=1, keepdims=True){scale}")

    def all_weight_grads(self) -> str:
        """The gradients of every layer."""
        return self.join(*(self.weight_grads(l) for l in range(1, self.L + 1)))

    def join(self, *lines: str) -> str:
        """Join lines of code into one: ``a; b`` (MATLAB: ``a; b;``, no ``;;``)."""
        if self.lang != "matlab":
            return "; ".join(lines)
        return "; ".join(line.rstrip(";") for line in lines) + ";"

    def flatten(self) -> str:
        """The seed's gradient vector, column-major (the theta layout's ``grad``)."""
        name, parts = "df", [f"df{l}" for l in range(1, self.L + 1)]
        if self.layout == "theta":
            name, parts = "grad", [f"Theta{l}_grad" for l in range(1, self.L + 1)]
        if self.lang == "matlab":
            return f"{name} = [" + "; ".join(f"{p}(:)" for p in parts) + "];"
        raveled = ", ".join(f'{p}.ravel(order="F")' for p in parts)
        return f"{name} = np.concatenate([{raveled}])"


def _per_n(d: Described) -> bool:
    return d.l2_form.startswith(("lam/(2N)", "lam/N"))


def _theta_l2(d: Described, l: int, lang: str) -> str:
    """The L2 term of Theta_l's gradient: every column but the first (the bias)."""
    c = 2 * d.l2_scale * d.l2 * (d.samples if _per_n(d) else 1)
    per = " / m" if _per_n(d) else ""
    t = f"Theta{l}"
    w = (f"[zeros(size({t}, 1), 1) {t}(:, 2:end)]" if lang == "matlab" else
         f"np.hstack([np.zeros(({t}.shape[0], 1)), {t}[:, 1:]])")
    return f" + ({np.format_float_positional(c, trim='-')}{per}) * {w}"


def _theta_hidden(code: Coder, k: int, act: Activation) -> str:
    """The delta of hidden layer k in the theta layout: ``d2 = (d3 * Theta2(:, 2:end)) .*
    sigmoidGradient(z2);`` (ex4's helper for a sigmoid; the derivative written out else)."""
    z, d, up = f"z{k + 1}", f"d{k + 1}", f"d{k + 2}"
    if code.lang == "matlab":
        dz = (f"sigmoidGradient({z})" if act.name == "sigmoid" else
              act.derivative_code("matlab", "", z, code.net.leaky_slope, from_z=True))
        return f"{d} = ({up} * Theta{k + 1}(:, 2:end)) .* {dz};"
    dz = act.derivative_code("numpy", "", z, code.net.leaky_slope, from_z=True)
    return f"{d} = ({up} @ Theta{k + 1}[:, 1:]) * {dz}"
