"""Closed-form loss differences f(z + dz) - f(z - dz) for the two canonical output/loss pairs.

For a softmax output with categorical cross-entropy the per-sample loss, away from the clamp,
is ``sum(Y) lse(z) - Y . z``, and ``lse(z + dz) - lse(z) = log1p(sum_k y_k expm1(dz_k))``. For a
sigmoid output with binary cross-entropy each term is ``softplus(z) - Y z``, and
``softplus(z + dz) - softplus(z) = log1p(y expm1(dz))``. Both take one ``expm1`` per output
(none of the normalisation, no ``log`` of every output) and give the *difference* directly,
so it is not the small remainder of two large losses: its rounding error is relative to the
difference itself. They hold only where the ``eps`` clamp cannot switch on; ``headroom`` says
how far each sample's outputs are from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from relu_ce_diag.model.network import Forward, Net

Array = np.ndarray


def headroom(net: Net, fw: Forward) -> Array:
    """Return, per sample (N,), log(smallest output / clamp floor) (and, for sigmoid/ce,
    of 1 - y, which as computed is only relatively accurate well away from 0)."""
    info = np.finfo(fw.y.dtype)
    floor = max(net.eps, float(np.sqrt(info.tiny)))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        room = np.log(fw.y.astype(np.float64).min(axis=1) / floor)
        if net.loss_fn.clamp_high:  # log(max(1 - y, eps)): 1 - y rounds near y = 1
            near_one = (1 - fw.y).astype(np.float64).min(axis=1)
            room = np.minimum(room, np.log(near_one / max(floor, 1e7 * float(info.eps))))
    return room


MAX_ORDER = 12


def series_order(r: float, eps: float) -> int | None:
    """Return the smallest order M whose remainder bound r^M e^r / (M+1)! is below eps / 8,
    relative to sum_k y_k |t w_k| (the rounding scale of a direct sum), or None past
    MAX_ORDER. ``r`` bounds |t w_k|."""
    for M in range(1, MAX_ORDER + 1):
        if r ** M * math.exp(r) / math.factorial(M + 1) <= eps / 8:
            return M
    return None


def _horner(u: Array, c: Array) -> Array:
    """Return sum_m c[:, m] u^m (A, C) by Horner's rule; c (A, M) with M >= 1."""
    if c.shape[1] == 1:
        return np.broadcast_to(c, u.shape).copy()
    acc = np.multiply(u, c[:, -1:])
    acc += c[:, -2:-1]
    for m in range(c.shape[1] - 3, -1, -1):
        acc *= u
        acc += c[:, m:m + 1]
    return acc


def _power_sums(t: Array, c: Array) -> tuple[Array, Array]:
    """Return the even and odd parts of s(t) = sum_m c[:, m-1] t^m (A, C), c (A, M), so that
    s(+-t) = even +- odd (one Horner sweep in u = t^2 for both signs)."""
    u = np.multiply(t, t)
    odd = _horner(u, c[:, 0::2])
    odd *= t  # c1 t + c3 t^3 + ...
    if c.shape[1] == 1:
        u[...] = 0
        return u, odd
    if c.shape[1] == 2:
        u *= c[:, 1:2]  # c2 t^2, in u's buffer
        return u, odd
    even = _horner(u, c[:, 1::2])
    even *= u  # c2 t^2 + c4 t^4 + ...
    return even, odd


def softmax_cce(y: Array, Y: Array, t: Array, w: Array, tm: Array | None = None,
                reach: float | None = None) -> Array:
    """Return f(+) - f(-) (A, C) for samples with outputs y, targets Y (A, n_out) whose output
    pre-activations move by t (A, C) times w (A, n_out) on the + side and by tm times w
    (default -t) on the - side; ``reach``, if given, bounds |t| and |tm|.

    s(t) = sum_k y_k expm1(t w_k) is evaluated by its power series sum_m t^m mu_m / m!, with
    mu_m = sum_k y_k w_k^m, to the order whose remainder is below the rounding of the direct
    sum (so the value is the same to rounding, at the cost of M operations per (pair, input)
    instead of one expm1 per output); for large moves it falls back to one expm1 per output
    and side, or per output when tm is -t (expm1(-x) = -expm1(x) / (1 + expm1(x)))."""
    Yw = np.einsum("ak,ak->a", Y, w)[:, None]
    lead = Y.sum(axis=1)[:, None]
    if t.size and w.size:
        if reach is None:
            reach = float(np.abs(t).max()) if tm is None else float(max(np.abs(t).max(),
                                                                        np.abs(tm).max()))
        order = series_order(reach * float(np.abs(w).max()), float(np.finfo(t.dtype).eps))
        if order is not None:
            c = _moments(y, w, order, per_row=True)  # (A, order)
            if tm is None:
                return softmax_cce_series(c, Yw[:, 0], lead[:, 0], t)
            even, odd = _power_sums(t, c)
            em, om = _power_sums(tm, c)
            return _combine(lead, even + odd, em + om, t, tm, Yw)
    sp, sm = np.zeros_like(t), np.zeros_like(t)
    e, tmp = np.empty_like(t), np.empty_like(t)
    for k in range(w.shape[1]):  # a loop over outputs keeps every array (A, C) and in cache
        np.multiply(t, w[:, k:k + 1], out=e)
        np.expm1(e, out=e)
        if tm is None:
            np.add(e, 1, out=tmp)
            e *= y[:, k:k + 1]
            sp += e
            np.divide(e, tmp, out=tmp)  # y expm1(-x) = -y e / (1 + e)
            sm -= tmp
        else:
            e *= y[:, k:k + 1]
            sp += e
            np.multiply(tm, w[:, k:k + 1], out=tmp)
            np.expm1(tmp, out=tmp)
            tmp *= y[:, k:k + 1]
            sm += tmp
    return _combine(lead, sp, sm, t, tm, Yw)


def _moments(y: Array, w: Array, order: int, per_row: bool) -> Array:
    """Return the series coefficients mu_m / m!, mu_m = sum_k y_k w_k^m, for m = 1..order.

    ``per_row``: y (A, n_out) with w (A, n_out) gives (A, order), one set per row; else w
    (n_out, rows) gives
    (A, rows, order), one set per (row of y, column of w), by one matrix product per order.
    Built in float64: in a float32 net w^m overflows (|w| ~ 2e4, m = 9) though t^m w^m is
    tiny."""
    power = w.astype(np.float64)
    c = np.empty(y.shape[:1] + (() if per_row else w.shape[1:]) + (order,), dtype=np.float64)
    for m in range(1, order + 1):
        mu = np.einsum("ak,ak->a", y, power) if per_row else y @ power
        c[..., m - 1] = mu / math.factorial(m)
        power *= w
    return c


@dataclass(frozen=True)
class PairSeries:
    """Series coefficients of every (sample, unit) pair of a unit whose output direction is
    column j of w (n_out, rows), just below a softmax/cce output: ``coef`` (N, rows, M),
    ``yw`` = Y.w (N, rows) and ``lead`` = sum(Y) (N,)."""

    coef: Array
    yw: Array
    lead: Array

    @staticmethod
    def of_order(y: Array, Y: Array, w: Array, order: int) -> PairSeries:
        """Return the series of every pair to ``order``: ``series_order`` of the largest
        move along w, when it converges fast enough (else the caller takes one expm1 per
        output)."""
        c = _moments(y, w, order, per_row=False)
        if np.abs(c).max(initial=0.0) < np.finfo(y.dtype).max:  # fits: the net's dtype (speed)
            c = c.astype(y.dtype)
        return PairSeries(c, Y @ w, Y.sum(axis=1))

    def diff(self, n: Array, J: Array, t: Array) -> Array:
        """Return f(+t) - f(-t) (A, C) of pairs (n[a], J[a]) moved by t (A, C)."""
        return softmax_cce_series(self.coef[n, J], self.yw[n, J], self.lead[n], t)


def softmax_cce_series(c: Array, yw: Array, lead: Array, t: Array) -> Array:
    """Return f(+t) - f(-t) (A, C) from the series coefficients c (A, M) of each pair, its
    Y.w (A,) and sum(Y) (A,): log1p(s(t)) - log1p(s(-t)) = log1p(2 odd / (1 + even - odd))
    with s(+-t) = even +- odd, less 2 t Y.w; one log1p per (pair, input)."""
    even, odd = _power_sums(t, c)
    even -= odd
    even += 1
    odd /= even
    odd *= 2
    out = np.log1p(odd, out=odd)
    if not (lead == 1).all():  # one-hot targets: sum(Y) = 1
        out *= lead[:, None]
    out -= np.multiply(t, 2 * yw[:, None], out=even)
    return out


def _combine(lead: Array, sp: Array, sm: Array, t: Array, tm: Array | None, Yw: Array,
             ) -> Array:
    """Return sum(Y) (log1p(s+) - log1p(s-)) - (t+ - t-) Y.w, reusing sp's buffer."""
    out = np.log1p(sp, out=sp)
    out -= np.log1p(sm, out=sm)
    out *= lead
    out -= (t - tm) * Yw if tm is not None else t * (2 * Yw)
    return out


def sigmoid_ce(y: Array, Y: Array, t: Array, w: Array, tm: Array | None = None) -> Array:
    """Like ``softmax_cce`` for a sigmoid output with ce: per output
    log1p(y expm1(dz+)) - log1p(y expm1(dz-)) - Y (dz+ - dz-)."""
    acc = np.zeros_like(t)
    e, tmp = np.empty_like(t), np.empty_like(t)
    for k in range(w.shape[1]):
        np.multiply(t, w[:, k:k + 1], out=e)
        np.expm1(e, out=e)
        if tm is None:
            np.add(e, 1, out=tmp)
            np.divide(e, tmp, out=tmp)
            np.negative(tmp, out=tmp)  # expm1(-x) = -e / (1 + e)
        else:
            np.multiply(tm, w[:, k:k + 1], out=tmp)
            np.expm1(tmp, out=tmp)
        e *= y[:, k:k + 1]
        tmp *= y[:, k:k + 1]
        acc += np.log1p(e, out=e)
        acc -= np.log1p(tmp, out=tmp)
    Yw = (Y * w).sum(axis=1)[:, None]
    return acc - (2 * t if tm is None else t - tm) * Yw


def softmax_cce_output_layer(y: Array, Y: Array, dz: Array) -> Array:
    """Return the summed f(+) - f(-) (n_out, C) over samples for every output-layer entry
    (k, i) of a softmax/cce net, which moves only z[:, k], by dz[:, i] (S, C)."""
    ep = np.expm1(dz)
    em = -ep / (1 + ep)  # expm1(-dz)
    gap = ep - em
    yk = y[:, :, None]
    # log1p(y e+) - log1p(y e-) = log1p(y (e+ - e-) / (1 + y e-)): one log1p per element
    den = yk * em[:, None, :]
    den += 1
    lse = np.multiply(yk, gap[:, None, :])
    lse /= den
    np.log1p(lse, out=lse)  # (S, n_out, C)
    n_out, cols = y.shape[1], dz.shape[1]
    total = (Y.sum(axis=1) @ lse.reshape(y.shape[0], -1)).reshape(n_out, cols)
    return total - 2 * Y.T @ dz
