"""A cell: one fully specified check (network, conventions, data, step), validated up front."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from relu_ce_diag.errors import DataError, OptionError, unknown_name
from relu_ce_diag.model.activations import ACTIVATIONS, DEFAULT_ACT, HIDDEN_NAMES
from relu_ce_diag.model.losses import DEFAULT_LOSS, LOSSES, MATLAB_EPS
from relu_ce_diag.model.network import BACKPROPS, Net, hidden_from_size
from relu_ce_diag.model.precision import DTYPES, STEP
from relu_ce_diag.settings.data import (
    TARGETS,
    Arrays,
    generate_inputs,
    generate_weights,
    load_npz,
)

Array = np.ndarray


@dataclass(frozen=True)
class CellSpec:
    """Everything that defines one check; ``out=None`` means the default output activation."""

    act: str = DEFAULT_ACT
    out: str | None = None
    loss: str = DEFAULT_LOSS
    eps: float = MATLAB_EPS
    backprop: str = "shortcut"
    hidden: tuple[int, ...] = (100,)
    inputs: int = 5
    outputs: int = 3
    samples: int = 16
    targets: str = "onehot"
    seed: int = 0
    step: float | None = None
    dtype: str = "float64"
    relu_grad_at_zero: float = 0.0
    leaky_slope: float = 0.01
    data: str | None = None

    @property
    def output(self) -> str:
        """The output activation: ``out``, else softmax for cce, else the hidden one."""
        if self.out is not None:
            return self.out
        loss = LOSSES.get(self.loss)
        return loss.output_for(self.act) if loss is not None else self.act

    @property
    def h(self) -> float:
        """The finite-difference step: ``step`` or the default for the dtype."""
        return self.step if self.step is not None else STEP[self.dtype]

    @property
    def id(self) -> str:
        """A stable, readable id: act/out/loss/backprop, then the non-default settings."""
        base = f"{self.act}/{self.output}/{self.loss}/{self.backprop}"
        extras = [f"{f.name}={_show(getattr(self, f.name))}" for f in fields(self)
                  if f.name not in ("act", "out", "loss", "backprop")
                  and getattr(self, f.name) != f.default]
        return base + (" " + ",".join(extras) if extras else "")

    def as_dict(self) -> dict[str, Any]:
        """Return the settings as plain JSON-able values, the output resolved."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["out"] = self.output
        d["hidden"] = list(self.hidden)
        d["step"] = self.h
        return d


def _show(v: object) -> str:
    if isinstance(v, tuple):
        return ",".join(str(x) for x in v) if len(v) != 1 else str(v[0])
    return f"{v:g}" if isinstance(v, float) else str(v)


def _name(key: str, value: object, allowed: tuple[str, ...], label: str) -> None:
    if value not in allowed:
        raise unknown_name(label, str(value), allowed)


def validate(spec: CellSpec, label: str = "--{}") -> CellSpec:
    """Check every setting of ``spec``; raise OptionError naming the option (``label``)."""
    def lab(k: str) -> str:
        return label.format(k.replace("_", "-"))

    _name("act", spec.act, HIDDEN_NAMES, lab("act"))
    if spec.out is not None:
        _name("out", spec.out, tuple(ACTIVATIONS), lab("out"))
    _name("loss", spec.loss, tuple(LOSSES), lab("loss"))
    _name("backprop", spec.backprop, BACKPROPS, lab("backprop"))
    _name("targets", spec.targets, TARGETS, lab("targets"))
    _name("dtype", spec.dtype, DTYPES, lab("dtype"))
    for key, lo in (("inputs", 1), ("outputs", 1), ("samples", 1)):
        v = getattr(spec, key)
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            raise OptionError(lab(key), v, f"a whole number >= {lo}")
    if spec.targets == "onehot" and spec.outputs < 2 and spec.data is None:
        raise OptionError(lab("outputs"), spec.outputs, "at least 2 for one-hot targets")
    if not spec.hidden or any(not isinstance(n, int) or n < 1 for n in spec.hidden):
        raise OptionError(lab("hidden"), _show(spec.hidden),
                          "one or more layer widths >= 1, e.g. 100 or 64,32")
    if not isinstance(spec.seed, int) or isinstance(spec.seed, bool) or spec.seed < 0:
        raise OptionError(lab("seed"), spec.seed, "a whole number >= 0")
    _number(lab("eps"), spec.eps, lo=0.0, hi=0.5, what="a number in [0, 0.5] (0: no clamp)")
    if spec.step is not None:
        # below the dtype's machine epsilon W + h rounds to W: a zero numerical gradient
        # and a round-off tolerance so wide that any gradient would pass
        tiny = float(np.finfo(spec.dtype).eps)
        _number(lab("step"), spec.step, lo=tiny, hi=1.0,
                what=f"a number in [{tiny:.3g}, 1] (smaller steps vanish in {spec.dtype})")
    _number(lab("relu-grad-at-zero"), spec.relu_grad_at_zero, lo=0.0, hi=1.0,
            what="a number in [0, 1]")
    _number(lab("leaky-slope"), spec.leaky_slope, lo=0.0, hi=1.0, what="a number in [0, 1)")
    return spec


def _number(key: str, v: object, *, lo: float, hi: float, what: str,
            open_low: bool = False) -> None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if ok:
        ok = (v > lo if open_low else v >= lo) and v <= hi  # type: ignore[operator]
    if not ok:
        raise OptionError(key, v, what)


@dataclass(frozen=True)
class Prepared:
    """A cell made concrete: its network and arrays in the cell's dtype."""

    spec: CellSpec
    net: Net
    arrays: Arrays


def hidden_for(spec: CellSpec, X: Array, Y: Array, W: Array | None) -> tuple[int, ...]:
    """Return the hidden widths of a cell whose data holds X, Y (and W): with W and a single
    hidden layer, its width is the one W's length fits (the seed's MATLAB code does the same)."""
    if W is None or len(spec.hidden) != 1:
        return spec.hidden
    width = hidden_from_size(W.size, X.shape[1], Y.shape[1])
    if width is None:
        raise DataError(str(spec.data), f"W has {W.size} entries, which fits no single hidden "
                        f"layer for {X.shape[1]} inputs and {Y.shape[1]} outputs")
    return (width,)


def network(spec: CellSpec, n_in: int, hidden: tuple[int, ...], n_out: int) -> Net:
    """Return the network of a validated cell with these sizes."""
    if ACTIVATIONS[spec.output].rowwise and n_out < 2:
        raise OptionError("--out", spec.output, f"at least 2 outputs (a {spec.output} of one "
                          "output is always 1, so its loss and gradient are 0)")
    return Net(sizes=(n_in, *hidden, n_out), act=spec.act, out=spec.output, loss=spec.loss,
               eps=spec.eps, at_zero=spec.relu_grad_at_zero, leaky_slope=spec.leaky_slope)


def prepare(spec: CellSpec) -> Prepared:
    """Build the network and the arrays for a validated cell (loads ``data`` if given)."""
    rng = np.random.default_rng(spec.seed)
    W = None
    if spec.data is not None:
        X, Y, W = load_npz(spec.data)
        spec = replace(spec, hidden=hidden_for(spec, X, Y, W), inputs=X.shape[1],
                       outputs=Y.shape[1], samples=X.shape[0])
    else:
        X, Y = generate_inputs(rng, spec.samples, spec.inputs, spec.outputs, spec.targets)
    net = network(spec, spec.inputs, spec.hidden, spec.outputs)
    if W is None:
        W = generate_weights(rng, net)
    elif W.size != net.n_params:
        raise DataError(str(spec.data), f"W has {W.size} entries but the network "
                        f"{'-'.join(map(str, net.sizes))} needs {net.n_params}")
    dt = np.dtype(spec.dtype)
    return Prepared(spec, net, Arrays(W.astype(dt), X.astype(dt), Y.astype(dt)))
