"""The other checkers, each on the same W, X, Y as relu-diag: scipy, torch, JAX.

None of them is a dependency of relu-diag: a missing library gives a row with a note and no
time. torch and JAX get a port of the same network (hidden activation ``--act``, softmax
output, categorical cross-entropy with the same ``eps`` clamp, float64, the seed layout of W).

* ``torch gradcheck``: ``torch.autograd.gradcheck`` (fast_mode off: a numerical Jacobian
  entry by entry, two forward passes per entry, against one backward pass), on batches of
  BATCH entries (the first TORCH_BATCHES), with 1 and with 2 intra-op threads; the row is
  the faster, the note gives both.
* ``jax check_grads``: ``jax.test_util.check_grads`` (order 1, forward and reverse mode):
  JAX's own check, along one random direction, not per entry.
* ``jax per-entry (vmap)``: the full per-entry central difference, ``vmap`` over the entries
  of a jitted f(W + h e_p) - f(W - h e_p), in chunks of a fixed size (one compilation,
  excluded from the time).

Every per-entry method is timed as the loop is: the fastest batch (chunk) per entry, times
P, since every entry costs the same two forward passes; on sizes with a loop subset the
batches cover the loop's entries only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from measure import BATCH, Case, H, Row, accuracy, batched, best

Array = np.ndarray
CHUNK_ELEMENTS = 1 << 22  # JAX: entries per vmap chunk x samples x widest layer
TORCH_BATCHES = 8  # batches of BATCH entries timed per thread count (each entry costs alike)


def scipy_row(case: Case) -> Row:
    """Time scipy's approx_fprime (forward differences, its default step) like the loop."""
    name = case.size.name
    try:
        from scipy.optimize import approx_fprime
    except ImportError:
        return Row(name, "scipy approx_fprime", None, None, None, "scipy not installed")
    g, per_entry = batched(case, lambda fun, V: approx_fprime(V, fun))
    keep = case.smooth[case.idx]
    return Row(name, "scipy approx_fprime", per_entry * case.exact.size,
               accuracy(g, case.exact[case.idx], keep), None,
               ("2-point, default step; " + case.subset_note).strip("; "))


def _layers(case: Case) -> list[tuple[int, int, int]]:
    """Return (start, rows, cols) of each weight matrix in W (column-major, seed layout)."""
    out, start = [], 0
    for r, c in case.prep.net.shapes:
        out.append((start, r, c))
        start += r * c
    return out


def torch_row(case: Case) -> Row:
    """Time torch.autograd.gradcheck on the case's entries at 1 and 2 threads."""
    name = case.size.name
    try:
        import torch
    except ImportError:
        return Row(name, "torch gradcheck", None, None, None, "torch not installed")
    net, a = case.prep.net, case.prep.arrays
    F = torch.nn.functional
    acts: dict[str, Callable[[Any], Any]] = {
        "relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
        "softplus": F.softplus, "identity": lambda v: v,
        "leaky-relu": lambda v: F.leaky_relu(v, net.leaky_slope)}
    act = acts[net.act]
    W0 = torch.tensor(a.W, dtype=torch.float64)
    X = torch.tensor(a.X, dtype=torch.float64)
    Y = torch.tensor(a.Y, dtype=torch.float64)
    idx = torch.tensor(case.idx)
    layers = _layers(case)

    def loss(sub: Any) -> Any:
        W = W0.index_put((idx,), sub)
        h = X
        for k, (start, r, c) in enumerate(layers):
            w = W[start:start + r * c].reshape(c, r).T  # column-major, as MATLAB's (:)
            z = torch.cat([h, torch.ones(h.shape[0], 1, dtype=torch.float64)], 1) @ w.T
            h = act(z) if k < len(layers) - 1 else torch.softmax(z, 1)
        return -(Y * torch.log(torch.clamp(h, min=net.eps))).sum()

    times, ok = {}, True
    for threads in (1, 2):
        torch.set_num_threads(threads)
        least = float("inf")
        for b0 in range(0, min(case.idx.size, TORCH_BATCHES * BATCH), BATCH):
            batch = torch.arange(b0, min(b0 + BATCH, case.idx.size))

            def on_batch(v: Any, batch: Any = batch) -> Any:
                return loss(W0[idx].index_put((batch,), v))

            sub = W0[idx][batch].clone().requires_grad_(True)
            start = time.perf_counter()
            ok &= bool(torch.autograd.gradcheck(on_batch, (sub,), eps=H, atol=1e-5, rtol=1e-3,
                                                raise_exception=False, fast_mode=False))
            least = min(least, (time.perf_counter() - start) / batch.numel())
        times[threads] = least * case.exact.size
    fastest = min(times, key=lambda k: times[k])
    timing = (f"faster with {fastest} thread(s): 1 thread {_fmt(times[1])}, 2 threads "
              f"{_fmt(times[2])}; " if case.budget else "")  # smoke: no timing claims
    note = f"{'passes' if ok else 'FAILS'}; fast_mode off; {timing}"
    return Row(name, "torch gradcheck", times[fastest], None, None, note.strip("; "))


def _fmt(s: float) -> str:
    return f"{s * 1e3:.0f} ms" if s < 1 else f"{s:.2f} s"


def jax_rows(case: Case) -> list[Row]:
    """Time jax.test_util.check_grads and a full per-entry central difference by vmap."""
    name = case.size.name
    try:
        import jax
    except ImportError:
        return [Row(name, "jax check_grads", None, None, None, "jax not installed"),
                Row(name, "jax per-entry (vmap)", None, None, None, "jax not installed")]
    jax.config.update("jax_enable_x64", True)
    loss = _jax_loss(case)
    W = jax.numpy.asarray(case.prep.arrays.W)
    from jax.test_util import check_grads

    f = jax.jit(loss)

    def grads() -> bool:
        try:
            check_grads(f, (W,), order=1, eps=H)
        except AssertionError:  # its own tolerances: a kink in reach fails it
            return False
        return True

    verdict = "passes" if grads() else "FAILS"  # and compiles
    rows = [Row(name, "jax check_grads", best(grads, case.repeat, case.budget), None, None,
                f"{verdict}; order 1, fwd and rev: one random direction, not per entry")]
    diff = jax.jit(jax.vmap(lambda p: loss(W.at[p].add(H)) - loss(W.at[p].add(-H))))
    widest = max(case.size.hidden + (case.size.inputs, case.size.outputs))
    chunk = int(min(max(BATCH, CHUNK_ELEMENTS // (case.size.samples * widest)), case.idx.size))
    pad = -case.idx.size % chunk
    entries = np.concatenate([case.idx, np.repeat(case.idx[-1:], pad)]).reshape(-1, chunk)

    def per_entry() -> tuple[Array, float]:
        out, least = [], float("inf")
        for e in entries:
            start = time.perf_counter()
            out.append(np.asarray(diff(jax.numpy.asarray(e))))
            least = min(least, (time.perf_counter() - start) / e.size)
        return np.concatenate(out)[:case.idx.size] / (2 * H), least

    per_entry()  # compile
    numeric, least = per_entry()
    rows.append(Row(name, "jax per-entry (vmap)", least * case.exact.size,
                    accuracy(numeric, case.exact[case.idx], case.smooth[case.idx]), None,
                    (f"jit, chunks of {chunk} entries, compile excluded; "
                     + case.subset_note).strip("; ")))
    return rows


def _jax_loss(case: Case) -> Callable[[Any], Any]:
    """Return the JAX port of the case's loss as a function of W (P,)."""
    import jax
    import jax.numpy as jnp

    net, a = case.prep.net, case.prep.arrays
    acts: dict[str, Callable[[Any], Any]] = {
        "relu": jax.nn.relu, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid,
        "softplus": jax.nn.softplus, "identity": lambda v: v,
        "leaky-relu": lambda v: jax.nn.leaky_relu(v, net.leaky_slope)}
    act = acts[net.act]
    X, Y = jnp.asarray(a.X), jnp.asarray(a.Y)
    layers = _layers(case)

    def loss(W: Any) -> Any:
        h = X
        for k, (start, r, c) in enumerate(layers):
            w = W[start:start + r * c].reshape(c, r).T  # column-major, as MATLAB's (:)
            z = h @ w[:, :-1].T + w[:, -1]
            h = act(z) if k < len(layers) - 1 else jax.nn.softmax(z, axis=1)
        return -(Y * jnp.log(jnp.maximum(h, net.eps))).sum()

    return loss


def versions() -> str:
    """Describe torch and JAX (version, threads, devices) where installed."""
    parts = []
    try:
        import torch

        parts.append(f"torch {torch.__version__} (intra-op threads {torch.get_num_threads()}"
                     f" by default, timed at 1 and 2)")
    except ImportError:
        parts.append("torch not installed")
    try:
        import jax

        parts.append(f"jax {jax.__version__} on {', '.join(str(d) for d in jax.devices())}")
    except ImportError:
        parts.append("jax not installed")
    return "; ".join(parts)
