"""Read a user's description (``--act --loss --layout --reduction --l2``) against their point:
which layout the parameters are in (detected from names and shapes where unambiguous), the
network's sizes, and the data as the seed network takes it."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np

from relu_ce_diag.errors import OptionError, ReluDiagError
from relu_ce_diag.model.described import LAYOUTS, Described, seed_described
from relu_ce_diag.model.losses import MATLAB_EPS
from relu_ce_diag.model.network import Net, hidden_from_size, params_for
from relu_ce_diag.settings.function import Description, describe_net, net_names
from relu_ce_diag.settings.params import Point
from relu_ce_diag.settings.theta import call_fits, theta_blocks, theta_perm, theta_sizes

Array = np.ndarray


def _layers(point: Point) -> dict[int, dict[str, int]]:
    """Return {layer: {'w': block index, 'b': block index}} from names like W1 b1 w2."""
    out: dict[int, dict[str, int]] = {}
    for k, b in enumerate(point.layout.blocks):
        m = re.fullmatch(r"([WwBb])_?(\d+)", b.name)
        if m is None and re.fullmatch(r"(?i)theta_?\d+", b.name):
            _theta_refused(point, b.name)
        if m is None:
            raise OptionError("--layout", b.name, "parameters named by layer, such as W1 b1 W2 "
                              "b2 (cs231n, columns), w1 w2 (seed) or Theta1 Theta2 (theta), "
                              "to describe the network")
        out.setdefault(int(m.group(2)), {})[m.group(1).lower()] = k
    if sorted(out) != list(range(1, len(out) + 1)):
        raise OptionError("--layout", ", ".join(b.name for b in point.layout.blocks),
                          "layers numbered 1, 2, ... without gaps")
    return out


def _theta_refused(point: Point, name: str) -> None:
    """Raise for Theta blocks read in another layout, or beside other parameters."""
    others = [b.name for b in point.layout.blocks if not re.fullmatch(r"(?i)theta_?\d+",
                                                                        b.name)]
    if others:
        raise OptionError("--layout", ", ".join(b.name for b in point.layout.blocks),
                          "Theta1 Theta2 ... alone as the parameters (the theta layout); "
                          f"{', '.join(others)} are parameters too, as variables of the data "
                          "file the --call expression does not use: use them in --call or "
                          "leave them out of the file")
    raise OptionError("--layout", name, "parameters named by layer for this layout; Theta1 "
                      "Theta2 (bias as the first column) are the theta layout: --layout "
                      "theta, or leave --layout out")


def detect_layout(point: Point) -> str:
    """Return the layout the point's parameters are in, or raise naming the ambiguity."""
    if theta_blocks(point) is not None or call_fits(point):
        return "theta"
    if not point.named:
        return "seed"
    layers = _layers(point)
    if all(set(d) == {"w"} for d in layers.values()):
        return "seed"
    blocks, X = point.layout.blocks, point.X
    w1, b1 = blocks[layers[1]["w"]], blocks[layers[1].get("b", layers[1]["w"])]
    two = X.ndim == 2 and len(w1.shape) == 2
    # cs231n's biases are (H,) or a row (1, H) (keepdims); the columns layout's (H, 1) or (H,)
    cs = two and X.shape[1] == w1.shape[0] and b1.shape in ((w1.shape[1],), (1, w1.shape[1]))
    col = two and X.shape[0] == w1.shape[1] and b1.shape in ((w1.shape[0], 1), (w1.shape[0],))
    if cs == col:
        shapes = f"the shapes of X {X.shape}, {w1.name} {w1.shape} and {b1.name} {b1.shape}"
        raise ReluDiagError(
            f"--layout: {shapes} fit both cs231n and columns; give --layout cs231n or "
            "--layout columns." if cs else
            f"--layout: {shapes} fit none of the known layouts ({', '.join(LAYOUTS)}); "
            "the network can be checked undescribed (without --act, --loss, --l2), or with "
            "its parameters in one of these layouts (docs/your-code.md).")
    return "cs231n" if cs else "columns"


def _onehot(y: Array, classes: int, source: str) -> Array:
    """Return one-hot rows (N, classes) of integer labels (0-based, or 1-based 1..classes)."""
    y = np.asarray(y).reshape(-1)
    if y.dtype.kind not in "iub" and not np.all(y == np.round(y)):
        raise OptionError(source, "y", "integer class labels")
    y = y.astype(np.int64)
    if y.size and y.min() >= 1 and y.max() == classes:
        y = y - 1  # 1-based labels (MATLAB, course code)
    if y.size and (y.min() < 0 or y.max() >= classes):
        raise OptionError(source, f"labels {int(y.min())}..{int(y.max())}",
                          f"labels 0..{classes - 1} (or 1..{classes})")
    return np.eye(classes)[y]


def _sizes(point: Point, layers: dict[int, dict[str, int]], layout: str) -> tuple[int, ...]:
    """Return (n_0, ..., n_L) from the weight blocks' shapes."""
    shapes = [point.layout.blocks[layers[k]["w"]].shape for k in sorted(layers)]
    if any(len(s) != 2 for s in shapes):
        raise OptionError("--layout", layout, "2-D weight matrices")
    if layout == "cs231n":
        sizes = [shapes[0][0]] + [s[1] for s in shapes]
        chain = all(shapes[k][1] == shapes[k + 1][0] for k in range(len(shapes) - 1))
    elif layout == "columns":
        sizes = [shapes[0][1]] + [s[0] for s in shapes]
        chain = all(shapes[k][0] == shapes[k + 1][1] for k in range(len(shapes) - 1))
    else:  # seed, named: w_l is (n_l, n_{l-1} + 1)
        sizes = [shapes[0][1] - 1] + [s[0] for s in shapes]
        chain = all(shapes[k][0] + 1 == shapes[k + 1][1] for k in range(len(shapes) - 1))
    if not chain:
        raise OptionError("--layout", layout, "weights whose shapes chain layer to layer; got "
                          + ", ".join(str(s) for s in shapes))
    return tuple(int(n) for n in sizes)


def _perm(point: Point, layers: dict[int, dict[str, int]], layout: str,
          sizes: tuple[int, ...]) -> tuple[Array, Array]:
    """Return the user's flat index of every seed-layout entry (P,), and the weights mask."""
    blocks = point.layout.blocks
    idx, weights = [], np.zeros(point.W.size, dtype=bool)
    for k in sorted(layers):
        n_out, n_in = sizes[k], sizes[k - 1]
        w = blocks[layers[k]["w"]]
        rows, cols = np.meshgrid(np.arange(n_out), np.arange(n_in + 1), indexing="ij")
        if layout == "seed":
            flat = w.flat(rows, cols)
            weights[flat[cols < n_in]] = True
        else:
            b = blocks[layers[k]["b"]]
            if b.size != n_out:
                raise OptionError("--layout", f"{b.name} {b.shape}", f"{n_out} biases")
            c = np.minimum(cols, n_in - 1)  # the bias column is b's, not w's
            inner = w.flat(c, rows) if layout == "cs231n" else w.flat(rows, c)
            flat = np.where(cols < n_in, inner, b.start + rows)
            weights[w.slice] = True
        idx.append(flat.ravel(order="F"))  # the seed vector is column-major
    return np.concatenate(idx), weights


def _data(point: Point, layout: str, n_in: int, n_out: int, source: str) -> tuple[Array, Array]:
    """Return X (N, n_in) and Y (N, n_out) as the seed network takes them."""
    X = np.asarray(point.X, dtype=np.float64)
    Y = np.asarray(point.Y)
    if layout == "columns":
        X = X.T
        Y = Y.T if Y.ndim == 2 else Y.reshape(-1, 1)
    if Y.ndim == 1 or (Y.ndim == 2 and Y.shape[1] == 1 and n_out > 1):
        Y = _onehot(Y, n_out, source) if n_out > 1 else Y.reshape(-1, 1)
    if X.ndim != 2 or X.shape[1] != n_in or Y.shape != (X.shape[0], n_out):
        raise OptionError("--layout", layout, f"X and Y that fit it: {n_in} inputs and "
                          f"{n_out} outputs per sample; got X {point.X.shape} and "
                          f"{point.target} {point.Y.shape}")
    return X, Y.astype(np.float64)


def _seed_targets(d: Description, point: Point, label: str) -> Array:
    """Return the targets (N, n_out) of the seed's flat W: Y as given, or integer labels y
    (N,) one-hot with the number of classes for which W's size fits a network (0-based
    labels, or 1-based as MATLAB writes them)."""
    Y = np.asarray(point.Y)
    if Y.ndim == 2 and Y.shape[1] > 1:
        return Y.astype(np.float64)
    y = Y.reshape(-1)
    n_in, P = np.asarray(point.X).shape[-1], point.W.size
    integral = y.size > 0 and bool(np.all(np.isfinite(y)) and np.all(y == np.round(y)))
    if not integral or Y.ndim == 2 and _fits(d, P, n_in, 1):
        return y.reshape(-1, 1).astype(np.float64)
    top, one_based = int(y.max()), bool(y.min() >= 1)
    tried = [top + 1, top] if one_based else [top + 1]
    classes = [K for K in tried if K > 1 and _fits(d, P, n_in, K)]
    if classes:
        return _onehot(y, classes[0], label.format("data"))
    if d.hidden is not None and top >= 1 and Y.ndim == 1:
        raise OptionError(label.format("hidden"), ",".join(map(str, d.hidden)),
                          f"widths whose network has {P} parameters like W, for {n_in} inputs "
                          f"and the {' or '.join(map(str, tried))} classes of the labels y")
    return y.reshape(-1, 1).astype(np.float64)  # one output; describe_net names a misfit


def _fits(d: Description, P: int, n_in: int, n_out: int) -> bool:
    """True when a seed-layout net with n_in inputs and n_out outputs (and the given hidden
    widths, if any) has P parameters."""
    if d.hidden is None or len(d.hidden) == 1:
        width = hidden_from_size(P, n_in, n_out)
        return width is not None and (d.hidden is None or d.hidden[0] == width)
    return params_for((n_in, *d.hidden, n_out)) == P


def describe_user(d: Description, point: Point, label: str = "--{}") -> Described:
    """Build the described network of a user's point (its reduction and L2 form as given or
    as defaults; ``model.described.fit`` settles them against the function's loss)."""
    layout = d.layout or detect_layout(point)
    if layout == "theta":
        return _theta(d, point, label)
    if layout == "seed" and not point.named:
        Y = _seed_targets(d, point, label)
        net = describe_net(d, point.W.reshape(-1), np.asarray(point.X, dtype=np.float64), Y,
                           label)
        base = seed_described(net, point.X, Y)
    else:
        layers = _layers(point)
        sizes = _sizes(point, layers, layout)
        act, out, loss = net_names(d, label)
        net = Net(sizes, act, out, loss, MATLAB_EPS if d.eps is None else d.eps,
                  d.relu_grad_at_zero, d.leaky_slope)
        perm, weights = _perm(point, layers, layout, sizes)
        X, Y = _data(point, layout, sizes[0], sizes[-1], label.format("data"))
        blocks = point.layout.blocks
        square = tuple((blocks[d["w"]].start, blocks[d["w"]].shape[0], k)
                       for k, d in sorted(layers.items())
                       if len(set(blocks[d["w"]].shape)) == 1 and layout != "seed")
        base = Described(net, layout, perm, weights, X, Y, square=square)
    return replace(base, reduction=d.reduction or "sum", l2=d.l2 or 0.0,
                   l2_form=d.l2_form or "lam*sum(W^2)")


def _theta(d: Description, point: Point, label: str) -> Described:
    """The ML course's ex4 layout (``settings.theta``): by default the mean over the m
    samples and lambda/(2m) * sum(W^2) over every column but the bias, as ex4 writes them."""
    sizes, places = theta_sizes(d, point)
    act, out, loss = net_names(d, label)
    net = Net(sizes, act, out, loss, MATLAB_EPS if d.eps is None else d.eps,
              d.relu_grad_at_zero, d.leaky_slope)
    perm, weights = theta_perm(sizes, places, point.W.size)
    X, Y = _data(point, "theta", sizes[0], sizes[-1], label.format("data"))
    return Described(net, "theta", perm, weights, X, Y, reduction=d.reduction or "mean",
                     l2=d.l2 or 0.0, l2_form=d.l2_form or "lam/(2N)*sum(W^2)")
