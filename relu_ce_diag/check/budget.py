"""Estimate a run's time and memory before it runs, and refuse one over the bounds unless forced.

Time is the work each route does, at rates measured on a 2-core x86-64 machine and then
doubled (``SLOWER``), so that the estimate errs long: the numerical gradient route by route
(closed form, pairs, blocks of entries, as ``numeric.fast`` chooses them) or the plain loop,
forward passes for random directions, and calls for a user's function (costed as a dense
network of its size). ``tests/test_budget_calibration.py`` holds the estimates above measured
times, and prints both when run as a script. Memory adds the arrays an .npz file's headers
declare, read before any array is loaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from relu_ce_diag.errors import TooLargeError
from relu_ce_diag.model.network import Net, hidden_from_size
from relu_ce_diag.numeric.fast import DEFAULT_BLOCK_ELEMENTS, DIRECTION_BUDGET
from relu_ce_diag.settings.cells import CellSpec, network
from relu_ce_diag.settings.data import cell_headers, data_headers
from relu_ce_diag.settings.params import require_names

GIB = 1 << 30
SLOWER = 2.0  # the rates below, measured, are halved: a slower machine is not refused late
CLOSED = 0.03e-6  # s per (entry, sample) of a softmax/cce output layer, in closed form
# s per (entry, sample): a base, then per output, per unit above and per multiply-add above
COST = {"linear pairs": (0.15e-6, 0.005e-6, 0.0, 0.0),  # closed form, dead relu pairs skipped
        "fast pairs": (0.3e-6, 0.03e-6, 0.0, 0.0),  # the outputs move in closed form
        "pairs": (0.2e-6, 0.08e-6, 0.01e-6, 0.006e-6),  # evaluated as computed, dead skipped
        "blocks": (0.2e-6, 0.12e-6, 0.03e-6, 0.015e-6)}  # blocks of entries, as computed
BLOCK = 200e-6  # s per block of entries (the NumPy calls of one block)
PASSES = 3  # a full check: steps h and h/2, and the diagnostics' reruns
FIXED = 0.05  # s of set-up, prologue and report
# one forward pass: s per pass, per layer, per (sample, weight), per (sample, unit), per weight
FORWARD = (100e-6, 80e-6, 5e-9, 50e-9, 20e-9)
CALL = 300e-6  # s per call of a user's function beyond its arithmetic (copies, checks)
USER_WORK = 3  # a user's f and df: a forward and a backward pass, as multiply-adds
ROW = 30e-9  # s per entry of one random direction: drawn, scaled, added and subtracted
CHECK_BYTES = 256  # bytes per check (entry or direction) of the judged arrays


@dataclass(frozen=True)
class Limits:
    """Bounds a run must stay within: parameters, memory (GiB) and time (estimated seconds);
    ``force`` lifts them."""

    max_params: int = 2_000_000
    max_memory_gib: float = 4.0
    max_seconds: float = 300.0
    force: bool = False


@dataclass(frozen=True)
class Estimate:
    """Parameters P, peak memory in bytes, work in multiply-adds, and seconds of one run;
    ``what`` says what was counted (``1,500 entries``), for the refusal."""

    params: int
    memory: int
    work: float
    seconds: float = 0.0
    what: str = ""


def _f(x: int | float) -> float:
    """Return ``x`` as a float, inf when it is too large for one (a 400-digit setting)."""
    return float(x) if abs(x) < 1e300 else math.inf


def _route(net: Net, layer: int, samples: int) -> str:
    """Name the route of ``numeric.fast.layer_differences`` for ``layer`` (kept in step with
    it): ``closed``, ``pairs`` (``fast`` or ``linear`` when the outputs move in closed form,
    the latter for a piecewise-linear layer) or ``blocks``."""
    last, sizes = net.last, net.sizes
    closed = net.canonical and net.loss_fn.from_logits
    if layer == last and closed and net.out_act.rowwise:
        return "closed"
    linear = all(net.layer_act(q).piecewise_linear for q in range(layer, last))
    pairs = layer < last and linear and (
        layer + 1 == last
        or samples * sizes[-1] * sizes[layer + 1] <= DIRECTION_BUDGET * DEFAULT_BLOCK_ELEMENTS)
    if pairs or (layer + 1 == last and closed and not net.layer_act(layer).piecewise_linear):
        if not closed:
            return "pairs"
        return "linear pairs" if net.layer_act(layer).piecewise_linear else "fast pairs"
    return "blocks"


def _layer_seconds(net: Net, layer: int, samples: int) -> float:
    """Seconds of one central-difference pass over the entries of ``layer``."""
    sizes, L = net.sizes, len(net.sizes) - 1
    rows, cols = net.shapes[layer]
    en = _f(rows * cols * samples)
    route = _route(net, layer, samples)
    if route == "closed":
        return en * CLOSED
    units = sum(sizes[q] for q in range(layer + 2, L))
    madds = (sizes[layer + 2] if layer + 2 <= L else 0) + sum(
        sizes[q] * sizes[q + 1] for q in range(layer + 2, L))
    # an entry of an elementwise output layer moves one output; any other moves them all
    outs = 1 if layer == net.last and not net.out_act.rowwise else sizes[-1]
    base, per_out, per_unit, per_madd = COST[route]
    if route == "pairs" and not any(net.loss_fn.clamp_points(net.eps)):
        per_out /= 4  # no clamp to test: an output costs a quarter
    t = en * (base + per_out * _f(outs) + per_unit * _f(units) + per_madd * _f(madds))
    if route in ("fast pairs", "linear pairs"):  # each unit's direction to the outputs, once
        t += COST["pairs"][3] * _f(samples * rows * madds)
    if route == "blocks":
        per_block = max(1, DEFAULT_BLOCK_ELEMENTS // max(1, samples * max(sizes[layer + 1:])))
        t += _f(-(-rows * cols // per_block)) * BLOCK
    return t


def forward_seconds(net: Net, samples: int) -> float:
    """Seconds of one forward pass of ``net`` on ``samples`` samples."""
    per_pass, per_layer, per_madd, per_unit, per_weight = FORWARD
    P = net.n_params
    return (per_pass + per_layer * len(net.shapes) + per_madd * _f(samples * P)
            + per_unit * _f(samples * sum(net.sizes[1:])) + per_weight * _f(P))


def estimate(net: Net, samples: int, itemsize: int = 8, *, method: str = "fast",
             passes: int = PASSES) -> Estimate:
    """Estimate a check of every entry of ``net`` on ``samples`` samples: ``passes``
    central-difference passes (a sweep makes one per step) by ``method``."""
    sizes = net.sizes
    P = net.n_params
    # inputs, z, a, deltas and their copies: tracemalloc measures about 13 (N, width) arrays
    # live at the peak of a check (tanh/softmax, 2048 samples), so count 16
    cache = samples * (sum(sizes) + len(sizes)) * itemsize * 16
    vectors = P * 8 * 16  # analytic, exact, numeric at two steps, flags, tolerances, ...
    blocks = DEFAULT_BLOCK_ELEMENTS * itemsize * 12  # the perturbed blocks and temporaries
    work = 0
    for layer, (rows, cols) in enumerate(net.shapes):
        # one perturbed unit feeds the next layer (n_{l+2} multiply-adds per sample), then
        # every layer above is recomputed in full; output entries cost one output row.
        nxt = sizes[layer + 2] if layer + 2 < len(sizes) else sizes[-1]
        above = sum(sizes[k] * sizes[k + 1] for k in range(layer + 2, len(sizes) - 1))
        work += 4 * rows * cols * samples * (1 + nxt + above)
    if method == "plain":
        one = 2 * _f(P) * forward_seconds(net, samples)
    else:
        one = sum(_layer_seconds(net, layer, samples) for layer in range(len(net.shapes)))
    seconds = SLOWER * (FIXED + passes * one)
    return Estimate(P, cache + vectors + blocks, _f(work), seconds, f"{_count(P)} entries")


def estimate_directions(net: Net, samples: int, K: int, itemsize: int = 8) -> Estimate:
    """Estimate a check of ``net`` along ``K`` random directions: up to 4 forward passes each
    (the second step where the first mismatches), one direction in memory at a time."""
    P = net.n_params
    cache = samples * (sum(net.sizes) + len(net.sizes)) * itemsize * 16
    memory = cache + P * 8 * 16 + K * CHECK_BYTES
    per = 4 * forward_seconds(net, samples) + ROW * _f(P)
    work = _f(4 * K * samples * P)
    return Estimate(P, memory, work, SLOWER * (FIXED + _f(K) * per), f"{_count(K)} directions")


def estimate_function(P: int, samples: int, width: int, checks: int, calls: int) -> Estimate:
    """Estimate ``calls`` calls of a user's function of ``P`` parameters on ``samples`` rows
    of ``width`` values (X and Y), judging ``checks`` entries or directions."""
    copies = _f(P + samples * width)
    per = CALL + USER_WORK * FORWARD[2] * _f(samples * P) + FORWARD[4] * copies
    memory = P * 8 * 16 + checks * CHECK_BYTES
    return Estimate(P, memory, _f(USER_WORK * calls * samples * P),
                    SLOWER * (FIXED + _f(calls) * per), f"{_count(calls)} calls")


def duration(seconds: float) -> str:
    """Say ``seconds`` in words: ``45 s``, ``31 min``, ``3 h``, ``a year or more``."""
    if not seconds < 3.2e7:
        return "a year or more"
    for unit, size in (("h", 3600.0), ("min", 60.0)):
        if seconds >= 2 * size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def _count(n: int) -> str:
    return f"{n:,}" if n < 10**15 else f"about 10^{len(str(n)) - 1}"


def _gib(memory: float) -> str:
    return f"{memory / GIB:.1f} GiB" if memory < 1e6 * GIB else "over a million GiB"


def refuse(est: Estimate, limits: Limits, who: str, hint: str) -> Estimate:
    """Raise TooLargeError when ``est`` exceeds the memory or time of ``limits`` (unless
    forced), naming ``who`` and the estimate; ``hint`` says how to make the run smaller."""
    if est.memory >= 2**62:  # more than any address space: even --force cannot run it
        raise TooLargeError(f"{who} would need about {_gib(est.memory)}, more than any machine "
                            "can address; make it smaller")
    if limits.force:
        return est
    if est.memory > limits.max_memory_gib * GIB:
        raise TooLargeError(f"{who} would need about {_gib(est.memory)}, more than the "
                            f"{limits.max_memory_gib:g} GiB allowed; pass --force to run it "
                            "anyway")
    if est.seconds > limits.max_seconds:
        raise TooLargeError(f"{who} would take about {duration(est.seconds)} ({est.what}, "
                            "estimated for a slow machine), more than the "
                            f"{duration(limits.max_seconds)} allowed; {hint}pass --force to run "
                            "it anyway")
    return est


def check_budget(net: Net, samples: int, cell_id: str, limits: Limits,
                 itemsize: int = 8, *, method: str = "fast", directions: int | None = None,
                 steps: int | None = None, data_bytes: int = 0) -> Estimate:
    """Raise TooLargeError when a check of ``net`` exceeds ``limits`` (unless forced): every
    entry by ``method``, ``directions`` random directions, or a sweep of ``steps`` steps
    (one pass each, and the check's); ``data_bytes`` of loaded data count as memory."""
    if directions is not None:
        est = estimate_directions(net, samples, directions, itemsize)
        hint = "use fewer --directions, or "
    else:
        est = estimate(net, samples, itemsize, method=method,
                       passes=PASSES if steps is None else steps + 1)
        if steps is not None:
            est = replace(est, what=f"{steps} steps over {est.what}")
        hint = "use fewer --steps, or " if steps is not None else \
            "use --directions K for a sampled check, or "
        if est.params > limits.max_params and not limits.force:
            raise TooLargeError(f"cell {cell_id} has {_count(est.params)} parameters, more than "
                                f"--max-params {limits.max_params:,}; raise it or pass --force")
    return refuse(replace(est, memory=est.memory + data_bytes), limits, f"cell {cell_id}", hint)


def refuse_too_large(spec: CellSpec, limits: Limits, cell_id: str, *, method: str = "fast",
                     directions: int | None = None, steps: int | None = None) -> Estimate:
    """Raise TooLargeError (or DataError) before a validated cell builds or loads anything
    large; return its estimate (as ``check_budget``).

    Without ``data`` the sizes come from the spec; with it, from the .npz file's headers
    (its W fixes a single hidden width, as ``prepare`` does): no array is loaded."""
    itemsize = np.dtype(spec.dtype).itemsize
    n_in, hidden, n_out, samples, data_bytes = (spec.inputs, spec.hidden, spec.outputs,
                                                spec.samples, 0)
    if spec.data is not None:
        h = cell_headers(spec.data)
        (samples, n_in), n_out = h["X"].shape, h["Y"].shape[1]
        data_bytes = 2 * sum(x.loaded_bytes for x in h.values())  # float64, then the dtype
        if "W" in h and len(spec.hidden) == 1:
            width = hidden_from_size(h["W"].size, n_in, n_out)
            if width is None:  # prepare says why, once the (bounded) arrays are read
                return refuse(Estimate(h["W"].size, data_bytes, 0.0), limits,
                              f"cell {cell_id}", "")
            hidden = (width,)
    net = network(spec, n_in, hidden, n_out)
    return check_budget(net, samples, cell_id, limits, itemsize, method=method,
                        directions=directions, steps=steps, data_bytes=data_bytes)


def refuse_function(data: str, limits: Limits, *, directions: int | None = None,
                    steps: int | None = None) -> Estimate | None:
    """Raise TooLargeError (or DataError) before a user's function is loaded or called: W
    over --max-params for an entry-by-entry check, or a run over the memory or time bound;
    the sizes come from the headers of ``data`` (a flat W or named blocks), which must name
    X, the targets and some parameter (DataError otherwise)."""
    h = data_headers(data)
    require_names(list(h), data)  # from the headers: before X is read (gigabytes, maybe)
    params = [x for k, x in h.items() if k not in ("X", "Y", "y")]
    size = sum(x.size for x in params)
    X, Y = h["X"].shape, (h.get("Y") or h.get("y") or h["X"]).shape
    samples = X[0] if X else 1
    n_in = int(np.prod(X[1:])) if len(X) > 1 else 1
    n_out = int(np.prod(Y[1:])) if len(Y) > 1 else 1
    if directions is None and size > limits.max_params and not limits.force:
        raise TooLargeError(f"{data}: W has {size:,} entries, more than --max-params "
                            f"{limits.max_params:,} (an entry-by-entry check makes 2 calls "
                            "per entry); use --directions K, raise --max-params, or pass "
                            "--force")
    checks = directions if directions is not None else size
    # the first step, and a second one for every check in the worst case; a sweep's steps
    calls = 4 * checks + (2 * checks * steps if steps is not None else 0)
    est = estimate_function(size, samples, n_in + n_out, checks, calls)
    est = replace(est, memory=est.memory + 2 * sum(x.loaded_bytes for x in h.values()))
    hint = ("use fewer --steps, or " if steps is not None else
            "use fewer --directions, or " if directions is not None else
            "use --directions K for a sampled check, or ")
    return refuse(est, limits, data, hint)
