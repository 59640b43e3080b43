"""Loss registry: elementwise terms, their exact derivative (clamp included), canonical output,
and where the ``max(., eps)`` clamp acts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from relu_ce_diag.errors import unknown_name

Array = np.ndarray

MATLAB_EPS = 2.220446049250313e-16


@dataclass(frozen=True)
class Loss:
    """One loss: ``terms(y, Y, eps)`` (same shape as y, summed to the loss) and ``dy``.

    ``dy(y, Y, eps)`` is the exact derivative of the terms as computed: where the
    ``max(., eps)`` clamp is active the computed loss is flat, so its slope is 0 there.
    ``canonical`` is the output activation for which the shortcut delta ``y - Y`` is the
    true dL/dz; ``default_output`` the output a cell gets when none is named (None: the
    hidden activation, as the seed ties them). ``clamp_low``/``clamp_high``: the loss takes
    ``log(max(y, eps))`` / ``log(max(1 - y, eps))``. ``from_logits``: with its canonical
    output the loss is a smooth function of the logits (log-sum-exp, softplus), so loss
    differences have closed forms. ``shortcut_chain``: the seed's shortcut multiplies
    ``y - Y`` by act'(z) (squared error) instead of taking it as the delta.
    ``dldy`` is dL/dy as code (MATLAB, NumPy) with ``{eps}`` for the clamp: safe where y
    is 0 or 1 (no 0/0), and exactly 0 where the clamp is active.
    """

    name: str
    terms: Callable[[Array, Array, float], Array]
    dy: Callable[[Array, Array, float], Array]
    canonical: str
    formula: str
    low: float = -np.inf
    high: float = np.inf
    default_output: str | None = None
    clamp_low: bool = False
    clamp_high: bool = False
    from_logits: bool = False
    shortcut_chain: bool = False
    dldy: tuple[str, str] = ("", "")

    @property
    def clamped(self) -> bool:
        """True for the losses that take logarithms (behind the eps clamp)."""
        return self.clamp_low or self.clamp_high

    def clamp_points(self, eps: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Return the thresholds of y and of 1 - y where the clamp switches on."""
        return ((eps,) if self.clamp_low else ()), ((eps,) if self.clamp_high else ())

    def clamp_masks(self, y: Array, Y: Array, eps: float) -> tuple[Array, Array, Array]:
        """Return (y <= eps, 1 - y <= eps, clamp active in the loss), each shaped like y.

        Active means the clamped term has a non-zero target weight, so the loss is flat there.
        """
        none = np.zeros(y.shape, dtype=bool)
        if not self.clamped or eps <= 0:
            return none, none, none
        low = y <= eps if self.clamp_low else none
        high = (1 - y) <= eps if self.clamp_high else none
        if not self.clamp_high:  # (low & (Y != 0)) | (none & (Y != 1))
            return low, high, low & (Y != 0)
        if not self.clamp_low:
            return low, high, high & (Y != 1)
        return low, high, (low & (Y != 0)) | (high & (Y != 1))

    def output_for(self, hidden: str) -> str:
        """Return the output activation a cell gets by default: softmax for cce, else the
        hidden activation (the seed ties them)."""
        return self.default_output or hidden

    def dldy_code(self, lang: str, y: str, Y: str) -> str:
        """Return dL/dy as code in ``lang`` (matlab|numpy), safe at y = 0 and y = 1, with the
        clamp as a variable ``eps`` (see ``eps_code``)."""
        return self.dldy[0 if lang == "matlab" else 1].format(y=y, Y=Y, eps="eps")


def eps_code(lang: str, eps: float) -> str:
    """Return the statement that defines ``eps`` for ``dldy_code`` ('' where MATLAB's own
    ``eps`` is the clamp)."""
    if lang == "matlab":
        return "" if eps == MATLAB_EPS else f"eps = {'realmin' if eps == 0 else repr(eps)}; "
    value = ("np.finfo(float).eps" if eps == MATLAB_EPS
             else "np.finfo(float).tiny" if eps == 0 else repr(eps))
    return f"eps = {value}; "


def _clamped_log(x: Array, eps: float) -> Array:
    with np.errstate(divide="ignore", invalid="ignore"):  # log(0) = -inf is a finding, not a crash
        return np.log(np.maximum(x, x.dtype.type(eps)))


def _ce_terms(y: Array, Y: Array, eps: float) -> Array:
    with np.errstate(invalid="ignore"):  # 0 * -inf = NaN, as in the seed without a clamp
        return -(Y * _clamped_log(y, eps) + (1 - Y) * _clamped_log(1 - y, eps))


def _inverse_where(num: Array, den: Array, live: Array) -> Array:
    """Return num / den where live, else 0 (no warning where den is 0)."""
    safe = np.where(live, den, den.dtype.type(1))
    return np.where(live, num / safe, den.dtype.type(0))


def _ce_dy(y: Array, Y: Array, eps: float) -> Array:
    return -_inverse_where(Y, y, y > eps) + _inverse_where(1 - Y, 1 - y, (1 - y) > eps)


def _cce_terms(y: Array, Y: Array, eps: float) -> Array:
    with np.errstate(invalid="ignore"):
        return -(Y * _clamped_log(y, eps))


_LOW = ("-{Y} ./ max({y}, {eps}) .* ({y} > {eps})",
        "-{Y} / np.maximum({y}, {eps}) * ({y} > {eps})")
_HIGH = (" + (1 - {Y}) ./ max(1 - {y}, {eps}) .* (1 - {y} > {eps})",
         " + (1 - {Y}) / np.maximum(1 - {y}, {eps}) * (1 - {y} > {eps})")

LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss("se", lambda y, Y, eps: 0.5 * (y - Y) ** 2, lambda y, Y, eps: y - Y,
             canonical="identity", formula="0.5 * sum((y - Y)^2)", shortcut_chain=True,
             dldy=("({y} - {Y})", "({y} - {Y})")),
        Loss("ce", _ce_terms, _ce_dy, canonical="sigmoid",
             formula="-sum(Y log(max(y, eps)) + (1 - Y) log(max(1 - y, eps)))",
             low=0.0, high=1.0, clamp_low=True, clamp_high=True, from_logits=True,
             dldy=(f"({_LOW[0]}{_HIGH[0]})", f"({_LOW[1]}{_HIGH[1]})")),
        Loss("cce", _cce_terms, lambda y, Y, eps: -_inverse_where(Y, y, y > eps),
             canonical="softmax", formula="-sum(Y log(max(y, eps)))", low=0.0, high=1.0,
             default_output="softmax", clamp_low=True, from_logits=True,
             dldy=(f"({_LOW[0]})", f"({_LOW[1]})")),
    )
}


DEFAULT_LOSS = "ce"  # the seed's logistic cross-entropy


def get_loss(name: str, *, key: str = "--loss") -> Loss:
    """Look up a loss by name."""
    if name not in LOSSES:
        raise unknown_name(key, name, LOSSES)
    return LOSSES[name]
