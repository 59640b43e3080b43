"""Time relu-diag's full gradient check against a plain loop and other checkers.

Usage::

    python benchmarks/bench.py                 # every size, relu hidden layers
    python benchmarks/bench.py --sizes small,medium --repeat 5 --act tanh
    python benchmarks/bench.py --smoke         # a tiny size in seconds, no timing claims

Every cell is ``--act`` hidden layer(s), softmax output, categorical cross-entropy, float64,
step 1e-6, generated from --seed. Sizes: small 5-100-3 N=16, medium 32-100-10 N=128, large
256-256-10 N=512, deep 32-64-32-10 N=128, deep3 32-64-32-16-10 N=128. Rows:

* ``relu-diag check``: ``run.cell.check_prepared`` (forward pass, both backprops, central
  differences at h and h/2, tolerances, comparison, diagnostics); interpreter start excluded.
* ``relu-diag numgrad``: the part of it that is the numerical gradient: central differences
  at h and h/2, tolerance and comparison.
* ``plain loop``: ``numeric.plain.loop_central_differences`` over ``network.forward``, two
  full forward passes per parameter, run in batches of 25 entries; its time is the fastest
  batch's time per entry times P (robust to a busy machine, and in the loop's favour). On
  sizes marked ``~`` the batches cover a random subset of the parameters (said in the
  output).
* ``scipy approx_fprime``, ``torch gradcheck``, ``jax check_grads``, ``jax per-entry
  (vmap)``: when importable (``peers``).

Times are the best of at least --repeat runs (fast ones repeat for 2 s). Ratios are the
loop's (and torch gradcheck's) time over the row's time, measured in the same run. Accuracy
is ``max |g_num - g_exact| / max |g_exact|`` against the exact chain-rule gradient in float64,
over the entries whose stencil crosses no kink and no clamp (where a central difference
legitimately differs from the derivative; their count is printed). Peak memory is the peak
of traced allocations (``tracemalloc``, Python and NumPy buffers) in a separate, untimed run.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

import numpy as np
import peers
from measure import SIZES, SMOKE, Case, Row, Size, accuracy, batched, best, peak, subset_fun

from relu_ce_diag.model.network import backprop, deltas, forward
from relu_ce_diag.numeric import central_differences, sample_scale
from relu_ce_diag.numeric.compare import compare, tolerance
from relu_ce_diag.numeric.plain import loop_central_differences
from relu_ce_diag.run.cell import check_prepared
from relu_ce_diag.settings.cells import CellSpec, Prepared, prepare, validate

Array = np.ndarray
H = 1e-6


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


def make_case(size: Size, repeat: int, seed: int, smoke: bool, act: str) -> Case:
    """Prepare one size: the cell, its exact gradient, the smooth entries, the loop's entries."""
    spec = validate(CellSpec(act=act, loss="cce", inputs=size.inputs, hidden=size.hidden,
                             outputs=size.outputs, samples=size.samples, seed=seed))
    prep = prepare(spec)
    net, a = prep.net, prep.arrays
    P = net.n_params
    exact = backprop(net, a.W, a.X, a.Y, "exact")[1]
    fw = forward(net, a.W, a.X, a.Y)
    flags = central_differences(net, a.W, a.X, a.Y, fw, H,
                                sample_scale(net, fw, deltas(net, a.W, fw, a.Y, "exact")))
    rng = np.random.default_rng(seed)
    subset = size.loop_subset if 0 < size.loop_subset < P and not smoke else P
    idx = np.sort(rng.choice(P, size=subset, replace=False)) if subset < P else np.arange(P)
    return Case(size, prep, exact, ~(flags.straddle | flags.clamp), idx, repeat,
                0.0 if smoke else 2.0)


def own_rows(case: Case) -> list[Row]:
    """Measure relu-diag's check, its numerical-gradient part and the plain loop."""
    prep, name = case.prep, case.size.name
    cid = prep.spec.id
    check_prepared(prep, cid)  # warm up
    t_check = best(lambda: check_prepared(prep, cid), case.repeat, case.budget)
    result = check_prepared(prep, cid)
    rows = [Row(name, "relu-diag check", t_check,
                accuracy(result.arrays.numeric, case.exact, case.smooth),
                peak(lambda: check_prepared(prep, cid)), f"status {result.status}")]
    t_num = best(lambda: _numgrad_check(prep), case.repeat, case.budget)
    kinked = int((~case.smooth).sum())
    rows.append(Row(name, "relu-diag numgrad", t_num,
                    accuracy(_numgrad_check(prep), case.exact, case.smooth),
                    peak(lambda: _numgrad_check(prep)),
                    f"{kinked} kinked entries left out of accuracy"))
    loop, per_entry = batched(case, lambda fun, V: loop_central_differences(fun, V, H)[0])
    fun_small, V_small = subset_fun(prep, case.idx[:50])
    rows.append(Row(name, "plain loop", per_entry * case.exact.size,
                    accuracy(loop, case.exact[case.idx], case.smooth[case.idx]),
                    peak(lambda: loop_central_differences(fun_small, V_small, H)),
                    case.subset_note))
    return rows


def bench_size(size: Size, repeat: int, seed: int, smoke: bool, act: str = "relu",
               ) -> list[Row]:
    """Measure every available method on one size, all on the same W, X, Y."""
    case = make_case(size, repeat, seed, smoke, act)
    return [*own_rows(case), peers.scipy_row(case), peers.torch_row(case),
            *peers.jax_rows(case)]


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


def _ratio(base: float | None, s: float | None, smoke: bool) -> str:
    if base is None or s is None or smoke:
        return "-"
    r = base / s
    return f"{r:.0f}x" if r >= 10 else f"{r:.2g}x"


def table(rows: list[Row], sizes: dict[str, Size], smoke: bool) -> str:
    """Render the rows as a Markdown table."""
    loops = {r.size: r.seconds for r in rows if r.method == "plain loop"}
    torch = {r.size: r.seconds for r in rows if r.method == "torch gradcheck"}
    out = ["| size | P | method | time | vs loop | vs torch gradcheck | accuracy | peak memory "
           "| note |", "|---|---:|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        sz = sizes[r.size]
        tm = "-" if smoke else _fmt_time(r.seconds)
        if r.seconds is not None and "~" in r.note and not smoke:
            tm = "~" + tm
        acc = "-" if r.accuracy is None else f"{r.accuracy:.1e}"
        mem = "-" if r.peak_bytes is None else f"{r.peak_bytes / 2**20:.1f} MiB"
        out.append(f"| {r.size}: {sz.label} | {sz.n_params:,} | {r.method} | {tm} | "
                   f"{_ratio(loops.get(r.size), r.seconds, smoke)} | "
                   f"{_ratio(torch.get(r.size), r.seconds, smoke)} | {acc} | {mem} | "
                   f"{r.note.replace('~ ', '')} |")
    return "\n".join(out)


def machine() -> list[str]:
    """Return the lines that say what ran the benchmark."""
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    return [f"python {platform.python_version()}, numpy {np.__version__}, BLAS: {blas_info()}, "
            f"{os.cpu_count()} cpus, load average {load}", peers.versions()]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table; return the exit code."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--sizes", default=",".join(SIZES),
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
        chosen, repeat = {"smoke": SMOKE}, 1
    else:
        names = [s.strip() for s in args.sizes.split(",") if s.strip()]
        unknown = [n for n in names if n not in SIZES]
        if unknown:
            ap.error(f"--sizes: unknown size {unknown[0]!r}; choose from {', '.join(SIZES)}")
        chosen, repeat = {n: SIZES[n] for n in names}, max(1, args.repeat)
    start = machine()
    rows = [row for sz in chosen.values()
            for row in bench_size(sz, repeat, args.seed, args.smoke, args.act)]
    print(f"relu-diag benchmark: {args.act} hidden, softmax output, cce, float64, h={H:g}, "
          f"seed {args.seed}, best of {repeat}")
    print(*start, sep="\n")
    print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.smoke:
        print("smoke mode: a tiny size for CI; times are not measurements")
    print()
    print(table(rows, chosen, args.smoke))
    print()
    print("accuracy: max |g_num - g_exact| / max |g_exact| against the float64 exact gradient, "
          "entries whose stencil crosses a kink or the clamp left out; peak memory: tracemalloc "
          "peak of one untimed run (loop: on 50 entries, its peak does not grow with P); "
          "relu-diag, torch and jax rows: best of repeated runs; loop and scipy rows: the "
          "fastest batch of 25 entries, per entry, times P (robust to a busy machine, in the "
          "loop's favour); ~: those per-entry rows cover a random subset of the entries, "
          "scaled to P.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
