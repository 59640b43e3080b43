"""A user's network as relu-diag understands it: the seed-layout ``Net``, where each of its
entries sits in the user's own parameters, and how the user's loss wraps the network's.

Four layouts are known. ``seed``: the seed's MATLAB layout, w_l (n_l, n_{l-1} + 1) with the
bias as the last column, flat and column-major (or as named blocks ``w1 w2``). ``cs231n``:
``W1`` (D, H), ``b1`` (H,), ..., X (N, D), integer labels y (N,) or one-hot Y (N, C).
``columns`` (course style): ``W1`` (n_1, n_0), ``b1`` (n_1, 1), ..., X (n_0, m), Y (n_L, m).
``theta`` (the ML course's ex4): ``Theta1`` (n_1, n_0 + 1), ``Theta2``, ... with the bias as
the FIRST column, as named blocks or unrolled ``W = [Theta1(:); Theta2(:)]``, X (m, n_0),
labels y in 1..K (or one-hot Y (m, K)); the L2 term skips the bias column.
The user's loss is ``reduction`` (sum; mean over the N samples; or ``mean-all``, the mean over
every output element, N x C, as ``np.mean`` of an (N, C) array takes it) of the network's loss plus
an L2 penalty ``l2_scale * l2 * sum(w^2)`` over the weights (not the biases).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from relu_ce_diag.model.layout import Block, Layout
from relu_ce_diag.model.network import Net, backprop, forward

Array = np.ndarray
LAYOUTS = ("seed", "cs231n", "columns", "theta")
REDUCTIONS = ("sum", "mean", "mean-all")
# The L2 conventions people write: 0.5 * lam * sum(W^2), lam * sum(W^2), and both over N.
L2_FORMS = {"0.5*lam*sum(W^2)": (0.5, False), "lam*sum(W^2)": (1.0, False),
            "lam/(2N)*sum(W^2)": (0.5, True), "lam/N*sum(W^2)": (1.0, True)}


@dataclass(frozen=True)
class Described:
    """A described user network. ``perm`` (P,) gives, for each entry of the seed-layout
    vector, its index in the user's flat parameters; ``weights`` (P,) marks the user's
    entries under the L2 penalty; ``X``, ``Y`` are the data as the seed network takes them
    (N, n_in), (N, n_out); ``square`` lists the user's square weight blocks as (first flat
    index, side, layer) (a transposed one keeps its shape)."""

    net: Net
    layout: str
    perm: Array
    weights: Array
    X: Array
    Y: Array
    reduction: str = "sum"
    l2: float = 0.0
    l2_form: str = "lam*sum(W^2)"
    square: tuple[tuple[int, int, int], ...] = ()

    @property
    def samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def outputs(self) -> int:
        return int(self.net.sizes[-1])

    @property
    def data_scale(self) -> float:
        """The factor of the network's (summed) loss in the user's loss."""
        return {"sum": 1.0, "mean": 1.0 / self.samples,
                "mean-all": 1.0 / (self.samples * self.outputs)}[self.reduction]

    @property
    def l2_scale(self) -> float:
        """The factor c of the penalty c * lam * sum(w^2)."""
        half, per_n = L2_FORMS[self.l2_form]
        return half / self.samples if per_n else half

    def to_seed(self, W: Array) -> Array:
        """Return the seed-layout vector (P,) of the user's flat parameters (P,)."""
        return np.asarray(W, dtype=np.float64).reshape(-1)[self.perm]

    def to_user(self, g_seed: Array) -> Array:
        """Return a seed-layout gradient (P,) in the user's flat layout."""
        g = np.empty(g_seed.size, dtype=np.float64)
        g[self.perm] = g_seed
        return g

    def penalty(self, W: Array) -> tuple[float, Array]:
        """Return the L2 penalty and its gradient (P,) at the user's flat parameters."""
        w = np.asarray(W, dtype=np.float64).reshape(-1) * self.weights
        c = self.l2_scale * self.l2
        return float(c * (w @ w)), 2 * c * w

    def loss_and_grad(self, W: Array) -> tuple[float, Array]:
        """Return the user's loss and its exact gradient (P,) at the flat parameters W."""
        with np.errstate(all="ignore"):
            f, g = backprop(self.net, self.to_seed(W), self.X, self.Y, "exact")
        pen, gp = self.penalty(W)
        return self.data_scale * f + pen, self.data_scale * self.to_user(g) + gp

    def words(self) -> str:
        """Say how the user's network was read: layout, reduction, L2 form."""
        red = reduction_words(self)
        l2 = f" plus {self.l2_form} with lam = {self.l2:g}" if self.l2 else ""
        sizes = "-".join(map(str, self.net.sizes))
        layout = self.layout + (" layout (Theta_l (n_l, n_{l-1} + 1), the bias as the first "
                                "column and not regularised, unrolled column-major)"
                                if self.layout == "theta" else " layout")
        return (f"{layout}, {sizes}, {self.net.act} hidden, {self.net.out} output, "
                f"{self.net.loss} as {red}{l2}")


def reduction_words(d: Described) -> str:
    """Say how the user's loss reduces the per-sample losses, e.g. 'the mean over the 8
    samples'."""
    if d.reduction == "mean":
        return f"the mean over the {d.samples} samples"
    if d.reduction == "mean-all":
        return (f"the mean over all {d.samples} x {d.outputs} output elements (np.mean of the "
                "(N, C) losses)")
    return "the sum over the samples"


def loss_of(d: Described, W: Array) -> float:
    """Return the described user's loss at the flat parameters W."""
    with np.errstate(all="ignore"):
        f = forward(d.net, d.to_seed(W), d.X, d.Y).f
    return d.data_scale * f + d.penalty(W)[0]


def fit(d: Described, W: Array, f: float, rtol: float, *, reduction_given: bool = False,
        form_given: bool = False) -> Described | None:
    """Return the description whose loss is the function's ``f`` at W, trying the reductions
    and L2 forms not given (None: none of them reproduces f)."""
    reductions = (d.reduction,) if reduction_given else REDUCTIONS
    forms = (d.l2_form,) if form_given or not d.l2 else tuple(L2_FORMS)
    for red in reductions:
        for form in forms:
            cand = replace(d, reduction=red, l2_form=form)
            if np.isclose(loss_of(cand, W), f, rtol=rtol, atol=0.0):
                return cand
    return None


def seed_described(net: Net, X: Array, Y: Array) -> Described:
    """Return the description of the seed's flat layout: W is the network's own vector."""
    P = net.n_params
    weights = np.zeros(P, dtype=bool)
    for b in net.layout.blocks:
        weights[b.slice] = b.name.startswith("w")
    return Described(net, "seed", np.arange(P), weights, np.asarray(X, dtype=np.float64),
                     np.asarray(Y, dtype=np.float64))


def theta_layout(net: Net) -> Layout:
    """Return the named blocks of a flat ``[Theta1(:); Theta2(:); ...]``: Theta_l
    (n_l, n_{l-1} + 1), column-major, one after the other."""
    blocks, start = [], 0
    for k in range(1, len(net.sizes)):
        shape = (net.sizes[k], net.sizes[k - 1] + 1)
        blocks.append(Block(f"Theta{k}", shape, start, "F"))
        start += shape[0] * shape[1]
    return Layout(tuple(blocks))
