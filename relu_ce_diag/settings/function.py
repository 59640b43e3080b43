"""The settings of a user's own function check: what was called, on what, and how it was
described (if at all)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from relu_ce_diag.errors import OptionError, unknown_name
from relu_ce_diag.model.activations import ACTIVATIONS, DEFAULT_ACT, HIDDEN_NAMES
from relu_ce_diag.model.described import L2_FORMS, LAYOUTS, REDUCTIONS
from relu_ce_diag.model.losses import DEFAULT_LOSS, LOSSES, MATLAB_EPS
from relu_ce_diag.model.network import Net, hidden_from_size

Array = np.ndarray


@dataclass(frozen=True)
class Description:
    """What the user said about their network (None: not described)."""

    act: str | None = None
    out: str | None = None
    loss: str | None = None
    eps: float | None = None
    hidden: tuple[int, ...] | None = None
    leaky_slope: float = 0.01
    relu_grad_at_zero: float = 0.0
    layout: str | None = None
    reduction: str | None = None
    l2: float | None = None
    l2_form: str | None = None

    @property
    def given(self) -> bool:
        return any(v is not None for v in (self.act, self.out, self.loss, self.eps, self.hidden,
                                           self.layout, self.reduction, self.l2, self.l2_form))


@dataclass(frozen=True)
class Calling:
    """How to call a user's function: ``ref`` (``FILE.py:NAME``, ``package.module:NAME``), a
    separate gradient function ``grad``, extra arguments by name, an expression ``call``
    for other signatures (Octave), ``jobs`` worker processes for the perturbed calls, and
    a ``timeout`` in seconds per call (None: none)."""

    ref: str
    grad: str | None = None
    args: tuple[tuple[str, object], ...] = ()
    call: str | None = None
    jobs: int = 1
    timeout: float | None = None


@dataclass(frozen=True)
class FunctionSpec:
    """A user function's check: its label (``file.py:NAME``), the data file (if any), the
    sizes of X and Y, the seed of the directions, the step and the precision it was judged
    in, and the network it was described as (``act``/``out``/``loss`` None: a black box)."""

    label: str
    inputs: int
    outputs: int
    samples: int
    step: float
    dtype: str
    seed: int = 0
    data: str | None = None
    act: str | None = None
    out: str | None = None
    loss: str | None = None
    eps: float = MATLAB_EPS
    hidden: tuple[int, ...] = ()
    leaky_slope: float = 0.01
    relu_grad_at_zero: float = 0.0
    layout: str | None = None
    reduction: str | None = None
    l2: float | None = None

    @property
    def id(self) -> str:
        return self.label

    def as_dict(self) -> dict[str, Any]:
        """Return the settings with the same keys as a built-in cell's (JSON schema
        ``relu-diag/results/1``) and ``fn``, the function checked: ``backprop`` is ``user``
        and an undescribed network's act, out and loss are ``unknown``."""
        return {"fn": self.label, "act": self.act or "unknown", "out": self.out or "unknown",
                "loss": self.loss or "unknown", "eps": self.eps, "backprop": "user",
                "hidden": list(self.hidden), "inputs": self.inputs, "outputs": self.outputs,
                "samples": self.samples, "targets": "onehot", "seed": self.seed,
                "step": self.step, "dtype": self.dtype,
                "relu_grad_at_zero": self.relu_grad_at_zero,
                "leaky_slope": self.leaky_slope, "data": self.data,
                **({"layout": self.layout, "reduction": self.reduction, "l2": self.l2}
                   if self.layout else {})}


def net_names(d: Description, label: str = "{}") -> tuple[str, str, str]:
    """Return the described (hidden activation, output activation, loss), defaults filled."""
    act = d.act or DEFAULT_ACT
    if act not in HIDDEN_NAMES:
        raise unknown_name(label.format("act"), act, HIDDEN_NAMES)
    loss = d.loss or DEFAULT_LOSS
    if loss not in LOSSES:
        raise unknown_name(label.format("loss"), loss, LOSSES)
    out = d.out or LOSSES[loss].output_for(act)
    if out not in ACTIVATIONS:
        raise unknown_name(label.format("out"), out, ACTIVATIONS)
    return act, out, loss


def describe_net(d: Description, W: Array, X: Array, Y: Array, label: str = "{}") -> Net:
    """Build the seed-layout network a description implies, sizes inferred from the arrays;
    errors name the option as ``label`` formats it (``--{}`` on the command line)."""
    act, out, loss = net_names(d, label)
    n_in, n_out = X.shape[1], Y.shape[1]
    hidden = d.hidden
    if hidden is None or len(hidden) == 1:
        width = hidden_from_size(W.size, n_in, n_out)
        if width is None or (hidden is not None and hidden[0] != width):
            raise OptionError(label.format("hidden"), hidden[0] if hidden else None,
                              f"a layout whose size matches W ({W.size} entries for "
                              f"{n_in} inputs and {n_out} outputs)")
        hidden = (width,)
    net = Net(sizes=(n_in, *hidden, n_out), act=act, out=out, loss=loss,
              eps=MATLAB_EPS if d.eps is None else d.eps, at_zero=d.relu_grad_at_zero,
              leaky_slope=d.leaky_slope)
    if net.n_params != W.size:
        raise OptionError(label.format("hidden"), ",".join(map(str, hidden)),
                          f"widths whose network has {W.size} parameters like W "
                          f"(these give {net.n_params})")
    return net


def validate_description(d: Description, label: str = "{}") -> Description:
    """Check the names and numbers of a description; raise OptionError naming the option."""
    if d.layout is not None and d.layout not in LAYOUTS:
        raise unknown_name(label.format("layout"), d.layout, LAYOUTS)
    if d.reduction is not None and d.reduction not in REDUCTIONS:
        raise unknown_name(label.format("reduction"), d.reduction, REDUCTIONS)
    if d.l2 is not None and not (isinstance(d.l2, (int, float)) and 0 <= d.l2 < math.inf):
        raise OptionError(label.format("l2"), d.l2, "a finite number >= 0")
    if d.l2_form is not None and d.l2_form not in L2_FORMS:
        raise unknown_name(label.format("l2-form"), d.l2_form, L2_FORMS)
    net_names(d, label)
    return d
