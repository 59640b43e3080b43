"""Python API and CLI entry for a user's own gradient: ``check_function`` -> ``CellResult``.

Never prints; the progress of the 2P calls goes to an optional callback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from relu_ce_diag.activations import ACTIVATIONS, HIDDEN_NAMES
from relu_ce_diag.blackbox import (
    FLAT,
    KINK,
    MISMATCH,
    NONFINITE,
    BlackBox,
    Progress,
    check_blackbox,
    plan,
)
from relu_ce_diag.catalogue import candidates, closest, correct_delta
from relu_ce_diag.cells import CellSpec
from relu_ce_diag.compare import max_relative, normwise_relative
from relu_ce_diag.data import hidden_from_size, load_npz
from relu_ce_diag.errors import DataError, OptionError, TooLargeError, unknown_name
from relu_ce_diag.losses import LOSSES, MATLAB_EPS
from relu_ce_diag.network import Net, forward
from relu_ce_diag.results import BlockStats, CellResult, Entry, Finding, GradArrays
from relu_ce_diag.userfn import GradFn, describe, load_function

Array = np.ndarray
NET_KEYS = ("act", "out", "loss", "eps", "hidden", "leaky_slope", "relu_grad_at_zero")
MATCH_TOL = {"float64": 1e-6, "float32": 1e-3}
SHOWN = 8
JITTER_SHOWN = 64  # mention the measured jitter of f when it exceeds this many eps |f|


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

    @property
    def given(self) -> bool:
        return any(v is not None for v in (self.act, self.out, self.loss, self.eps, self.hidden))


def describe_net(d: Description, W: Array, X: Array, Y: Array, label: str = "{}") -> Net:
    """Build the seed-layout network a description implies, sizes inferred from the arrays;
    errors name the option as ``label`` formats it (``--{}`` on the command line)."""
    act = d.act or "relu"
    if act not in HIDDEN_NAMES:
        raise unknown_name(label.format("act"), act, HIDDEN_NAMES)
    loss = d.loss or "ce"
    if loss not in LOSSES:
        raise unknown_name(label.format("loss"), loss, LOSSES)
    out = d.out or ("softmax" if loss == "cce" else act)
    if out not in ACTIVATIONS:
        raise unknown_name(label.format("out"), out, ACTIVATIONS)
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


def check_function(fn: GradFn, W: Array, X: Array, Y: Array, *, act: str | None = None,
                   out: str | None = None, loss: str | None = None, eps: float | None = None,
                   hidden: int | tuple[int, ...] | None = None, leaky_slope: float = 0.01,
                   relu_grad_at_zero: float = 0.0, step: float | None = None,
                   precision: str | None = None, directions: int | None = None,
                   seed: int = 0, progress: Progress | None = None,
                   label: str | None = None) -> CellResult:
    """Check ``f, df = fn(W, X, Y)`` at W (P,) on X (N, n_in), Y (N, n_out).

    With any of ``act``, ``out``, ``loss``, ``eps``, ``hidden`` the network is taken as
    described (seed layout): entries get names like ``w1[3, 5]``, blocks get their own
    errors and df is compared with a catalogue of known wrong formulas. ``precision``
    (float64|float32) overrides the detected one; ``directions`` checks K random directions
    instead of every entry. Raises ``UserFunctionError`` when fn cannot be checked.
    """
    if isinstance(hidden, int):
        hidden = (hidden,)
    d = Description(act, out, loss, eps, hidden, leaky_slope, relu_grad_at_zero)
    W, X, Y = np.asarray(W), np.asarray(X), np.asarray(Y)
    if directions is not None and (directions < 1 or isinstance(directions, bool)):
        raise OptionError("directions", directions, "a whole number >= 1")
    net = describe_net(d, W, X, Y) if d.given else None
    label = label or describe(fn)
    bb = check_blackbox(fn, W, X, Y, label=label, step=step, precision=precision,
                        directions=directions, seed=seed, progress=progress)
    return to_result(bb, net, W, X, Y, seed)


def check_reference(ref: str, data: str, desc: Description, *, step: float | None = None,
                    precision: str | None = None, directions: int | None = None,
                    seed: int = 0, progress: Progress | None = None,
                    announce: Callable[[str], None] | None = None,
                    max_params: int | None = None) -> CellResult:
    """Load ``file.py:NAME`` and ``data`` (.npz with W, X, Y) and check the function;
    ``announce`` receives the number of calls before the first one. An entry-by-entry check
    of more than ``max_params`` entries is refused (TooLargeError) before any call."""
    X, Y, W = load_npz(data)
    if W is None:
        raise DataError(data, "has no array W; --fn needs W, X and Y (the point to check at)")
    if max_params is not None and directions is None and W.size > max_params:
        raise TooLargeError(f"{data}: W has {W.size:,} entries, more than --max-params "
                            f"{max_params:,} (an entry-by-entry check makes 2 calls per entry);"
                            " use --directions K, raise --max-params, or pass --force")
    uf = load_function(ref)
    net = describe_net(desc, W, X, Y, "--{}") if desc.given else None
    if announce is not None:
        announce(plan(uf.label, W.size, directions))
    bb = check_blackbox(uf.fn, W, X, Y, label=uf.label, step=step, precision=precision,
                        directions=directions, seed=seed, progress=progress)
    return to_result(bb, net, W, X, Y, seed, data=data)


def _entry_names(P: int, net: Net | None) -> list[str]:
    """Name the P entries of W: ``w1[j, i]``/``b2[k]`` when described, else ``W[p]``."""
    return [net.entry_name(p) for p in range(P)] if net is not None else \
        [f"W[{p}]" for p in range(P)]


def _listed(names: list[str]) -> str:
    return ", ".join(names[:SHOWN]) + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN
                                       else "")


def to_result(bb: BlackBox, net: Net | None, W: Array, X: Array, Y: Array, seed: int,
              data: str | None = None) -> CellResult:
    """Turn a black-box check into the CellResult the CLI renders, with its findings."""
    K, P = bb.analytic.size, bb.df.size
    entry_names = _entry_names(P, net)
    names = entry_names if bb.directions is None else [f"direction {k}" for k in range(K)]
    findings: list[Finding] = []
    bad_df = np.flatnonzero(~np.isfinite(bb.df))
    judged = bb.kind != KINK
    mism = np.isin(bb.kind, (MISMATCH, FLAT, NONFINITE))
    flat = np.flatnonzero(bb.kind == FLAT)
    kinks = np.flatnonzero(bb.kind == KINK)
    if bad_df.size:
        findings.append(Finding("non-finite", "error",
                                f"df holds {bad_df.size} NaN or infinite entries: "
                                f"{_listed([entry_names[p] for p in bad_df])}",
                                "look for log(0), 0/0 or an overflow in the backprop",
                                (("entries", [entry_names[p] for p in bad_df[:50]]),)))
    nonfin_n = np.flatnonzero((bb.kind == NONFINITE) & np.isfinite(bb.analytic))
    if nonfin_n.size:
        findings.append(Finding("non-finite", "error",
                                f"the loss is not finite at W +/- h along "
                                f"{_listed([names[k] for k in nonfin_n])}",
                                "the step reaches a log(0) or overflow; clamp the loss or "
                                "use a smaller --step"))
    if flat.size:
        findings.append(Finding("flat-loss", "error",
                                "the loss does not move at all along "
                                f"{_listed([names[k] for k in flat])} (f(W+h) = f(W) = "
                                "f(W-h) exactly) but df is not 0 there "
                                f"(e.g. {bb.analytic[flat[0]]:.4g})",
                                "a clamp (log(max(y, eps))) or a saturated unit (relu output "
                                "at 0, sigmoid rounding to 0 or 1) is the usual cause: the "
                                "loss as computed is flat, so its gradient is 0 there",
                                (("entries", [names[k] for k in flat[:50]]),)))
    if kinks.size:
        findings.append(Finding("fn-kink", "warning",
                                f"{kinks.size} entries differ only at a kink: the analytic "
                                f"value lies between the left and right derivatives "
                                f"({_listed([names[k] for k in kinks])})",
                                "a valid subgradient; use a smaller --step to move off the "
                                "kink, or accept it",
                                (("entries", [names[k] for k in kinks[:50]]),)))
    status, reason = _verdict(bb, mism, kinks, bad_df, K)
    exact = None
    if net is not None:
        exact, extra = _describe_findings(bb, net, W, X, Y, status == "fail")
        findings = extra + findings
    findings.append(_precision_finding(bb))
    if bb.directions is not None:
        findings.append(Finding("directions", "info",
                                f"checked {K} random directions (seed {seed}), not all {P} "
                                f"entries: a pass says df . v matches along each, not that "
                                f"every entry is right",
                                "run without --directions to check and name every entry"))
    ratio = np.where(np.isfinite(bb.analytic - bb.numeric),
                     np.abs(bb.analytic - bb.numeric) / np.maximum(bb.tol, 1e-300), np.inf)
    ratio = np.where(judged, ratio, -1.0)
    w = int(np.argmax(ratio))
    worst = Entry(names[w], w, float(bb.analytic[w]), float(bb.numeric[w]),
                  float(abs(bb.analytic[w] - bb.numeric[w])), float(bb.tol[w]))
    blocks = _blocks(bb, net, mism, kinks)
    spec = _spec(bb, net, X, Y, seed, data)
    arrays = GradArrays(W.reshape(-1), X, Y, bb.df, bb.numeric, exact, bb.f)
    return CellResult(
        id=bb.label + (f" [{K} directions]" if bb.directions is not None else ""), spec=spec,
        status=status, reason=reason, loss=bb.f, n_params=P, step=bb.h,
        max_rel=max_relative(bb.analytic, bb.numeric),
        max_rel_judged=max_relative(bb.analytic[judged], bb.numeric[judged]),
        normwise=normwise_relative(bb.analytic, bb.numeric), mismatched=int(mism.sum()),
        set_aside=tuple(names[k] for k in kinks), straddled=int(kinks.size),
        worst=worst, blocks=blocks, findings=tuple(findings), arrays=arrays)


def _to(distance: float) -> str:
    """Say how closely two gradients agree: ``exactly`` or ``to 3e-16``."""
    return "exactly" if distance == 0 else f"to {distance:.0e}"


def _verdict(bb: BlackBox, mism: Array, kinks: Array, bad_df: Array, K: int) -> tuple[str, str]:
    what = "random directions" if bb.directions is not None else "entries"
    if bad_df.size:
        return "fail", f"df holds {bad_df.size} non-finite entries"
    if mism.any():
        return "fail", f"{int(mism.sum())} of {K} {what} differ beyond tolerance"
    if kinks.size:
        return "kink", f"{kinks.size} {what} differ only at a kink (a valid subgradient)"
    return "pass", f"all {K} {what} agree within tolerance ({bb.precision.name} error model)"


def _precision_finding(bb: BlackBox) -> Finding:
    p = bb.precision
    jitter = (f"; f jitters by {p.noise:.1e} near W (rounding such as 1 - y at a saturated "
              "output), which the tolerance includes") \
        if p.noise > JITTER_SHOWN * p.eps * abs(bb.f) else ""
    return Finding("fn-precision", "info",
                   f"the function computes in {p.name} ({p.reason}): step h = {bb.h:g}, "
                   f"round-off model eps = {p.eps:.3g}{jitter}, {bb.calls} calls",
                   "pass --step to choose another step" if p.name == "float64" else
                   "float32 gradients are checked with a coarser step and tolerance; "
                   "compute in float64 for a sharper check",
                   (("precision", p.name), ("eps", p.eps), ("step", bb.h), ("calls", bb.calls),
                    ("jitter", p.noise)))


def _blocks(bb: BlackBox, net: Net | None, mism: Array, kinks: Array) -> tuple[BlockStats, ...]:
    if bb.directions is not None:
        return ()
    kink_mask = np.zeros(bb.analytic.size, dtype=bool)
    kink_mask[kinks] = True
    parts = net.blocks() if net is not None else [("W", slice(0, bb.analytic.size))]
    return tuple(BlockStats(name, sl.stop - sl.start, max_relative(bb.analytic[sl], bb.numeric[sl]),
                            normwise_relative(bb.analytic[sl], bb.numeric[sl]),
                            int(mism[sl].sum()), int(kink_mask[sl].sum()))
                 for name, sl in parts)


def _spec(bb: BlackBox, net: Net | None, X: Array, Y: Array, seed: int,
          data: str | None) -> CellSpec:
    """Record the settings: the described network, or the sizes alone for a black box
    (act, out and loss ``unknown``, hidden empty)."""
    kw: dict[str, Any] = {"backprop": "user", "inputs": X.shape[1], "outputs": Y.shape[1],
                          "samples": X.shape[0], "seed": seed, "step": bb.h,
                          "dtype": bb.precision.name, "data": data, "act": "unknown",
                          "out": "unknown", "loss": "unknown", "hidden": ()}
    if net is not None:
        kw.update(act=net.act, out=net.out, loss=net.loss, eps=net.eps,
                  hidden=tuple(net.sizes[1:-1]), leaky_slope=net.leaky_slope,
                  relu_grad_at_zero=net.at_zero)
    return CellSpec(**kw)


def _describe_findings(bb: BlackBox, net: Net, W: Array, X: Array, Y: Array, failed: bool,
                       ) -> tuple[Array, list[Finding]]:
    """Compare the user's f and df with the described network and the known wrong formulas."""
    Wf = W.reshape(-1).astype(np.float64)
    out: list[Finding] = []
    X, Y = X.astype(np.float64), Y.astype(np.float64)
    fw = forward(net, Wf, X, Y)
    loose = bb.precision.name == "float32"
    if not np.isclose(fw.f, bb.f, rtol=1e-4 if loose else 1e-9, atol=0):
        out.append(Finding("description-mismatch", "warning",
                           f"the described network ({net.act}/{net.out}/{net.loss}) gives loss "
                           f"{fw.f:.10g} at W but the function returns {bb.f:.10g}",
                           "describe the network as the function computes it (--act, --out, "
                           "--loss, --eps, --hidden), or drop the description; the names and "
                           "the catalogue below assume it"))
    cands = candidates(net, Wf, X, Y)
    m = closest(bb.df, cands, MATCH_TOL[bb.precision.name])
    exact = cands[0].grad
    data = (("match", m.candidate.name), ("distance", m.distance),
            ("exact_distance", m.exact_distance), ("correct_delta", correct_delta(net)))
    if m.matched and not m.candidate.bugs:
        out.append(Finding("matches-exact", "info",
                           f"your df equals the exact gradient of the described network "
                           f"{_to(m.distance)}", "", data))
    elif m.matched:
        what = "; and ".join(b.what for b in m.candidate.bugs)
        fix = "; ".join(b.fix for b in m.candidate.bugs)
        out.append(Finding("known-bug", "error",
                           f"your df equals {what} {_to(m.distance)} (relative distance from "
                           f"the exact gradient: {m.exact_distance:.2g})", fix, data))
    elif failed and np.isfinite(m.distance):
        out.append(Finding("no-known-bug", "info",
                           f"your df matches no catalogued formula: the closest is "
                           f"{m.candidate.name} at relative distance {m.distance:.2g} (the exact "
                           f"gradient is {m.exact_distance:.2g} away)",
                           f"for a {net.out} output with {net.loss} the correct delta is "
                           f"{correct_delta(net)}", data))
    return exact, out
