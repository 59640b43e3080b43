"""Time relu-diag's full gradient check against a plain loop and other checkers.

Usage::

    python benchmarks/bench.py                 # small, medium, large and a deeper network
    python benchmarks/bench.py --sizes small,medium --repeat 5
    python benchmarks/bench.py --smoke         # a tiny size in about a second, no timing claims

Every cell is relu hidden layer(s) (or --act), softmax output, categorical cross-entropy,
float64, step 1e-6, generated from --seed. Sizes: small 5-100-3 N=16, medium 32-100-10 N=128,
large 256-256-10 N=512, deep 32-64-32-10 N=128, deep3 32-64-32-16-10 N=128. Rows:

* ``relu-diag check``: ``runner.check_prepared`` (forward pass, both backprops, central
  differences at h and h/2, tolerances, comparison, diagnostics); interpreter start excluded.
* ``relu-diag numgrad``: the part of it that is the numerical gradient: central differences
  at h and h/2, tolerance and comparison.
* ``plain loop``: ``numgrad.loop_central_differences`` over ``network.forward``, two full
  forward passes per parameter, run in batches of 25 entries; its time is the fastest
  batch's time per entry times P (robust to a busy machine, and in the loop's favour). On
  sizes marked ``~`` the batches cover a random subset of the parameters (said in the
  output).
* ``scipy approx_fprime``, ``torch gradcheck``, ``jax check_grads``: when importable.

Ratios are the plain loop's time over the row's time, measured in the same run. Accuracy is
``max |g_num - g_exact| / max |g_exact|`` against the exact chain-rule gradient in float64, over
the entries whose stencil crosses no kink and no clamp (where a central difference
legitimately differs from the derivative; their count is printed). Peak memory is the peak of
traced allocations (``tracemalloc``, Python and NumPy buffers) in a separate, untimed run.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from relu_ce_diag.model.network import backprop, deltas, forward
from relu_ce_diag.numeric import central_differences, sample_scale
from relu_ce_diag.numeric.compare import compare, tolerance
from relu_ce_diag.numeric.plain import loop_central_differences
from relu_ce_diag.run.cell import check_prepared
from relu_ce_diag.settings.cells import CellSpec, Prepared, prepare, validate

Array = np.ndarray
H = 1e-6


@dataclass(frozen=True)
class Size:
    """One benchmark cell: inputs, hidden widths, outputs, samples, loop subset (0: all)."""

    name: str
    inputs: int
    hidden: tuple[int, ...]
    outputs: int
    samples: int
    loop_subset: int = 0

    @property
    def label(self) -> str:
        return f"{self.inputs}-{'-'.join(map(str, self.hidden))}-{self.outputs}, N={self.samples}"


SIZES = {
    "small": Size("small", 5, (100,), 3, 16),
    "medium": Size("medium", 32, (100,), 10, 128),
    "large": Size("large", 256, (256,), 10, 512, loop_subset=400),
    "deep": Size("deep", 32, (64, 32), 10, 128),
    "deep3": Size("deep3", 32, (64, 32, 16), 10, 128),
}
SMOKE = Size("smoke", 3, (4,), 2, 5)


@dataclass(frozen=True)
class Row:
    """One measured method on one size."""

    size: str
    method: str
    seconds: float | None
    accuracy: float | None
    peak_bytes: int | None
    note: str = ""


def _best(fn: Callable[[], object], repeat: int, budget: float = 2.0) -> float:
    """Return the best wall time (seconds) of at least ``repeat`` calls, repeating fast calls
    until ``budget`` seconds are spent (at most 200 calls), so a busy machine matters less."""
    best, spent, n = float("inf"), 0.0, 0
    while n < repeat or (spent < budget and n < 200):
        t = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - t
        best, spent, n = min(best, elapsed), spent + elapsed, n + 1
    return best


def _peak(fn: Callable[[], object]) -> int:
    """Return the peak traced allocation (bytes) of one call."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _accuracy(numeric: Array, exact: Array, keep: Array) -> float:
    """Return max |numeric - exact| / max |exact| over the entries ``keep`` (bool (P,))."""
    top = float(np.abs(exact).max())
    return float(np.abs(numeric[keep] - exact[keep]).max()) / top if keep.any() else 0.0


def _numgrad_check(prep: Prepared) -> Array:
    """Run the numerical-gradient part of a check; return the numeric gradient (P,)."""
    net, a = prep.net, prep.arrays
    fw = forward(net, a.W, a.X, a.Y)
    exact_ds = deltas(net, a.W, fw, a.Y, "exact")
    analytic = backprop(net, a.W, a.X, a.Y, "shortcut", fw=fw)[1]
    scale = sample_scale(net, fw, exact_ds)
    ng = central_differences(net, a.W, a.X, a.Y, fw, H, scale)
    half = central_differences(net, a.W, a.X, a.Y, fw, H / 2, scale)
    tol = tolerance(analytic, ng.numeric, half.numeric, ng.scale, H, float(np.finfo(float).eps))
    compare(analytic, ng.numeric, tol)
    return ng.numeric


def _subset_fun(prep: Prepared, idx: Array) -> tuple[Callable[[Array], float], Array]:
    """Return f(V) of the entries ``idx`` of W (the others fixed) and their values."""
    net, a = prep.net, prep.arrays
    W = a.W.copy()

    def fun(V: Array) -> float:
        W[idx] = V
        return forward(net, W, a.X, a.Y).f

    return fun, a.W[idx].copy()


def _batched(prep: Prepared, idx: Array, method: Callable[[Callable[[Array], float], Array],
                                                          Array], batch: int = 25,
             ) -> tuple[Array, float]:
    """Run a per-entry ``method(fun, V)`` over ``idx`` in batches of ``batch`` entries; return
    its gradient (len(idx),) and the fastest batch's seconds per entry (robust to a busy
    machine, and if anything in the method's favour)."""
    out = np.empty(idx.size)
    best = float("inf")
    for b0 in range(0, idx.size, batch):
        sub = idx[b0:b0 + batch]
        fun, V = _subset_fun(prep, sub)
        start = time.perf_counter()
        out[b0:b0 + sub.size] = method(fun, V)
        best = min(best, (time.perf_counter() - start) / sub.size)
    return out, best


def bench_size(size: Size, repeat: int, seed: int, smoke: bool, act: str = "relu",
               ) -> list[Row]:
    """Measure every available method on one size."""
    spec = validate(CellSpec(act=act, loss="cce", inputs=size.inputs, hidden=size.hidden,
                             outputs=size.outputs, samples=size.samples, seed=seed))
    prep = prepare(spec)
    net, a = prep.net, prep.arrays
    P = net.n_params
    exact = backprop(net, a.W, a.X, a.Y, "exact")[1]
    fw = forward(net, a.W, a.X, a.Y)
    flags = central_differences(net, a.W, a.X, a.Y, fw, H,
                                sample_scale(net, fw, deltas(net, a.W, fw, a.Y, "exact")))
    smooth = ~(flags.straddle | flags.clamp)
    note = f"{int((~smooth).sum())} kinked entries left out of accuracy"
    rows: list[Row] = []

    check_prepared(prep, spec.id)  # warm up
    budget = 0.0 if smoke else 2.0
    t_check = _best(lambda: check_prepared(prep, spec.id), repeat, budget)
    result = check_prepared(prep, spec.id)
    rows.append(Row(size.name, "relu-diag check", t_check,
                    _accuracy(result.arrays.numeric, exact, smooth),
                    _peak(lambda: check_prepared(prep, spec.id)), f"status {result.status}"))
    t_num = _best(lambda: _numgrad_check(prep), repeat, budget)
    rows.append(Row(size.name, "relu-diag numgrad", t_num,
                    _accuracy(_numgrad_check(prep), exact, smooth),
                    _peak(lambda: _numgrad_check(prep)), note))

    rng = np.random.default_rng(seed)
    subset = size.loop_subset if 0 < size.loop_subset < P and not smoke else P
    idx = np.sort(rng.choice(P, size=subset, replace=False)) if subset < P else np.arange(P)
    loop, per_entry = _batched(prep, idx, lambda fun, V: loop_central_differences(fun, V, H)[0])
    t_loop = per_entry * P
    small_idx = idx[: min(subset, 50)]
    fun_small, V_small = _subset_fun(prep, small_idx)
    rows.append(Row(size.name, "plain loop", t_loop, _accuracy(loop, exact[idx], smooth[idx]),
                    _peak(lambda: loop_central_differences(fun_small, V_small, H)),
                    f"~ on {subset} of {P} entries" if subset < P else ""))
    rows.extend(_others(size, prep, idx, exact, smooth, P))
    return rows


def _others(size: Size, prep: Prepared, idx: Array, exact: Array, smooth: Array,
            P: int) -> list[Row]:
    """Measure scipy / torch / jax on the same entries as the loop, when importable."""
    rows = []
    scale = P / idx.size
    extra = f"~ on {idx.size} of {P} entries" if idx.size < P else ""
    try:
        from scipy.optimize import approx_fprime
    except ImportError:
        rows.append(Row(size.name, "scipy approx_fprime", None, None, None, "scipy not installed"))
    else:
        # forward differences, step sqrt(eps) (scipy's default)
        g, per_entry = _batched(prep, idx, lambda fun, V: approx_fprime(V, fun))
        rows.append(Row(size.name, "scipy approx_fprime", per_entry * P,
                        _accuracy(g, exact[idx], smooth[idx]), None,
                        ("2-point, default step; " + extra).strip("; ")))
    rows.append(_torch(size, prep, scale, extra))
    rows.append(_jax(size))
    return rows


def _torch(size: Size, prep: Prepared, scale: float, extra: str) -> Row:
    """Time torch.autograd.gradcheck (fast_mode off) on the same network, if importable."""
    try:
        import torch
    except ImportError:
        return Row(size.name, "torch gradcheck", None, None, None, "torch not installed")
    net, a = prep.net, prep.arrays
    acts = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
                   "softplus": torch.nn.functional.softplus, "identity": lambda v: v,
                   "leaky-relu": lambda v: torch.nn.functional.leaky_relu(v, net.leaky_slope)}
    mats = [torch.tensor(m, dtype=torch.float64, requires_grad=True) for m in net.unpack(a.W)]
    X = torch.tensor(a.X, dtype=torch.float64)
    Y = torch.tensor(a.Y, dtype=torch.float64)

    def loss(*ws: object) -> object:
        h = X
        for k, w in enumerate(ws):
            z = torch.cat([h, torch.ones(h.shape[0], 1, dtype=torch.float64)], 1) @ w.T
            h = acts[net.act](z) if k < len(ws) - 1 else torch.softmax(z, 1)
        return -(Y * torch.log(torch.clamp(h, min=net.eps))).sum()

    start = time.perf_counter()
    torch.autograd.gradcheck(loss, tuple(mats), eps=H, atol=1e-5, raise_exception=False,
                             fast_mode=False)
    return Row(size.name, "torch gradcheck", time.perf_counter() - start, None, None,
               "fast_mode off; all entries")


def _jax(size: Size) -> Row:
    """Report jax as skipped unless importable (check_grads needs a jax port of the net)."""
    try:
        import jax  # noqa: F401
    except ImportError:
        return Row(size.name, "jax check_grads", None, None, None, "jax not installed")
    return Row(size.name, "jax check_grads", None, None, None, "installed; not ported")


def blas_info() -> str:
    """Describe the BLAS NumPy uses (threadpoolctl if available) and OPENBLAS_CORETYPE."""
    try:
        from threadpoolctl import threadpool_info
        pools = [f"{p.get('internal_api')} {p.get('version')} {p.get('architecture')} "
                 f"threads={p.get('num_threads')}" for p in threadpool_info()]
        desc = "; ".join(pools) or "no BLAS pool found"
    except ImportError:
        cfg = np.show_config(mode="dicts")  # type: ignore[func-returns-value]
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        desc = f"{blas.get('name', '?')} {blas.get('version', '?')}{_openblas_core()}"
    core = os.environ.get("OPENBLAS_CORETYPE")
    return desc + f"; OPENBLAS_CORETYPE={core}" if core else desc + "; OPENBLAS_CORETYPE unset"


def _openblas_core() -> str:
    """Ask NumPy's bundled OpenBLAS for its runtime kernel and threads (empty if not found)."""
    import ctypes
    import glob

    libs = glob.glob(os.path.join(os.path.dirname(np.__file__) + ".libs", "*openblas*"))
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
            for prefix in ("scipy_openblas", "openblas"):
                for suffix in ("64_", ""):
                    core = getattr(lib, f"{prefix}_get_corename{suffix}", None)
                    threads = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                    if core is not None and threads is not None:
                        core.restype = ctypes.c_char_p
                        return f", kernel {core().decode()}, {threads()} threads"
        except OSError:
            continue
    return ""


def _fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def table(rows: list[Row], sizes: dict[str, Size], smoke: bool) -> str:
    """Render the rows as a Markdown table."""
    loops = {r.size: r.seconds for r in rows if r.method == "plain loop"}
    out = ["| size | P | method | time | vs loop | accuracy | peak memory | note |",
           "|---|---:|---|---:|---:|---:|---:|---|"]
    for r in rows:
        sz = sizes[r.size]
        P = sum((a + 1) * b for a, b in zip((sz.inputs, *sz.hidden), (*sz.hidden, sz.outputs),
                                            strict=True))
        loop = loops.get(r.size)
        ratio = "-" if r.seconds is None or not loop or smoke else f"{loop / r.seconds:.0f}x"
        tm = "-" if smoke else _fmt_time(r.seconds)
        if r.seconds is not None and "~" in r.note and not smoke:
            tm = "~" + tm
        acc = "-" if r.accuracy is None else f"{r.accuracy:.1e}"
        mem = "-" if r.peak_bytes is None else f"{r.peak_bytes / 2**20:.1f} MiB"
        out.append(f"| {r.size}: {sz.label} | {P:,} | {r.method} | {tm} | {ratio} | {acc} | "
                   f"{mem} | {r.note.replace('~ ', '')} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table; return the exit code."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="small,medium,large,deep",
                    help=f"comma-separated, from {', '.join(SIZES)}")
    ap.add_argument("--repeat", type=int, default=3,
                    help="best of at least this many timed runs (fast ones repeat for 2 s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--act", default="relu", choices=("relu", "leaky-relu", "tanh", "sigmoid",
                                                      "softplus", "identity"),
                    help="hidden activation (the output is softmax with cce)")
    ap.add_argument("--smoke", action="store_true",
                    help="a tiny size, everything once, no timing claims (for CI)")
    args = ap.parse_args(argv)
    if args.smoke:
        chosen = {"smoke": SMOKE}
        repeat = 1
    else:
        names = [s.strip() for s in args.sizes.split(",") if s.strip()]
        unknown = [n for n in names if n not in SIZES]
        if unknown:
            ap.error(f"--sizes: unknown size {unknown[0]!r}; choose from {', '.join(SIZES)}")
        chosen = {n: SIZES[n] for n in names}
        repeat = max(1, args.repeat)
    rows: list[Row] = []
    for sz in chosen.values():
        rows.extend(bench_size(sz, repeat, args.seed, args.smoke, args.act))
    print(f"relu-diag benchmark: {args.act} hidden, softmax output, cce, float64, h={H:g}, "
          f"seed {args.seed}, best of {repeat}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, BLAS: {blas_info()}, "
          f"{os.cpu_count()} cpus")
    if args.smoke:
        print("smoke mode: a tiny size for CI; times are not measurements")
    print()
    print(table(rows, chosen, args.smoke))
    print()
    print("accuracy: max |g_num - g_exact| / max |g_exact| against the float64 exact gradient, "
          "entries whose stencil crosses a kink or the clamp left out; peak memory: tracemalloc "
          "peak of one untimed run (loop: on 50 entries, its peak does not grow with P); "
          "relu-diag rows: best of repeated runs; loop and scipy rows: the fastest batch of "
          "25 entries, per entry, times P (robust to a busy machine, in the loop's favour); "
          "~: those batches cover a random subset of the entries only.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
