"""Measure what running a user's function in worker processes costs and gains.

Run from the repository root: python scripts/user_code_bench.py
Prints the time to start a worker and three markdown tables for docs/user-code.md:

1. the cost per call of a trivial function (f = W.W) in this process, in a worker with the
   stencil points batched, and in a worker with one round trip per call;
2. the time of `relu-diag check --fn` on a function of about 2 ms per call (P = 2000) with
   --jobs 1 and --jobs 2 (the JSON reports must be identical), end to end, and of its 2000
   stencil calls alone with the CPU time each worker spent (when other programs share the
   cores, the workers' CPU time shows the split the wall time cannot);
3. the time from SIGTERM to the last process gone for `relu-diag grid --jobs 2` and
   `relu-diag check --fn --jobs 2` (Linux: descendants are found through /proc).
Each figure is the best (tables 1, 2) or the median and worst (table 3) of several runs.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from relu_ce_diag.check.hosts import open_host, open_local
from relu_ce_diag.settings.function import Calling

RELU_DIAG = str(Path(sys.executable).with_name("relu-diag"))
P_SPEEDUP = 2000  # parameters of the --jobs measurement: 4000 calls of about 2 ms
FUNCTIONS = '''
import time
import numpy as np

REPS = {reps}

def square(W, X, Y):
    return float(W @ W), 2 * W

def slow(W, X, Y):
    w = W.reshape(X.shape[1], Y.shape[1])
    for _ in range(REPS):
        Z = np.tanh(X @ w)
        E = Z - Y
        f = 0.5 * float(np.sum(E * E))
        df = X.T @ (E * (1 - Z * Z))
    return f, df.reshape(-1)

def hangs(W, X, Y):
    time.sleep(600)
'''
GRID = """name: big
defaults: {hidden: 200, inputs: 60, samples: 256, loss: cce}
grid:
  act: [sigmoid, tanh, softplus, identity, relu]
  seed: [1, 2, 3, 4, 5, 6, 7, 8]
"""


def best(run: object, repeat: int = 5) -> float:
    """Return the least wall time of ``repeat`` runs of ``run()``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def calibrate(folder: Path) -> int:
    """Return REPS such that ``slow`` takes about 2 ms per call here (P = P_SPEEDUP)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 50))
    Y = 0.1 * rng.standard_normal((100, P_SPEEDUP // 50))
    np.savez(folder / "slow.npz", W=0.1 * rng.standard_normal(P_SPEEDUP), X=X, Y=Y)
    (folder / "fns.py").write_text(FUNCTIONS.format(reps=10))
    host = open_local(Calling(f"{folder / 'fns.py'}:slow"), str(folder / "slow.npz"))
    host.loss(host.point.W, "at W")  # the first call warms up
    per_rep = best(lambda: host.loss(host.point.W, "at W"), 50) / 10
    return max(1, round(2e-3 / per_rep))


def per_call(folder: Path, P: int, n: int = 1000) -> tuple[float, float, float]:
    """Return the seconds per call in this process, in a worker batched, and unbatched."""
    rng = np.random.default_rng(1)
    np.savez(folder / f"sq{P}.npz", W=rng.standard_normal(P), X=np.ones((4, 3)),
             Y=np.ones((4, 1)))
    calling, data = Calling(f"{folder / 'fns.py'}:square"), str(folder / f"sq{P}.npz")
    local, child = open_local(calling, data), open_host(calling, data)
    W = local.point.W
    points = []
    for k in range(n):
        Wk = W.copy()
        Wk[k % P] += 1e-6 if k % 2 == 0 else -1e-6
        points.append((Wk, f"at W + 1e-06 along entry {k % P}"))
    inside = best(lambda: local.losses(points), 20) / n
    batched = best(lambda: child.losses(points), 20) / n
    single = best(lambda: [child.loss(Wk, w) for Wk, w in points[:200]], 20) / 200
    child.close()  # type: ignore[attr-defined]
    return inside, batched, single


def _cpu(pid: int) -> float:
    """Return the CPU seconds (user + system) process ``pid`` has used (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def speedup(folder: Path, P: int, repeat: int = 3) -> list[tuple[int, float, float, list[float]]]:
    """Return, for --jobs 1 and 2: the seconds of `relu-diag check` end to end, the seconds
    of the 2P stencil calls, and the CPU seconds each worker spent on them (the best of
    ``repeat`` runs, --jobs 1 and 2 taking turns so that a busy moment hits both)."""
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((100, 50)), 0.1 * rng.standard_normal((100, P // 50))
    np.savez(folder / "slowP.npz", W=0.1 * rng.standard_normal(P), X=X, Y=Y)
    ref, data = f"{folder / 'fns.py'}:slow", str(folder / "slowP.npz")
    hosts = {jobs: open_host(Calling(ref, jobs=jobs), data) for jobs in (1, 2)}
    W, points = hosts[1].point.W, []
    for k in range(2 * P):
        Wk = W.copy()
        Wk[k // 2] += 1e-6 if k % 2 == 0 else -1e-6
        points.append((Wk, f"entry {k // 2}"))
    whole: dict[int, list[float]] = {1: [], 2: []}
    calls: dict[int, list[tuple[float, list[float]]]] = {1: [], 2: []}
    outputs = []
    for _ in range(repeat):
        for jobs, host in hosts.items():
            cmd = [RELU_DIAG, "check", "--fn", ref, "--data", data, "--jobs", str(jobs),
                   "--format", "json"]
            start = time.perf_counter()
            outputs.append(subprocess.run(cmd, capture_output=True, text=True,
                                          check=False).stdout)
            whole[jobs].append(time.perf_counter() - start)
            pids = [w.proc.pid for w in host.pool.workers]  # type: ignore[attr-defined]
            cpu0, start = [_cpu(p) for p in pids], time.perf_counter()
            host.losses(points)
            calls[jobs].append((time.perf_counter() - start,
                                [_cpu(p) - c for p, c in zip(pids, cpu0, strict=True)]))
    for host in hosts.values():
        host.close()  # type: ignore[attr-defined]
    assert len(set(outputs)) == 1 and outputs[0], "--jobs 2 must give the --jobs 1 report"
    return [(jobs, min(whole[jobs]), *min(calls[jobs])) for jobs in (1, 2)]


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found += [child]
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def sigterm_to_gone(cmd: list[str], runs: int = 5) -> tuple[float, float, int]:
    """Return the median and worst seconds from SIGTERM to the last process gone (and the
    stdout pipe closed), and how many processes there were."""
    times, count = [], 0
    for _ in range(runs):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(3)
        family = descendants(proc.pid)
        count = len(family) + 1
        start = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        proc.communicate()
        while any(alive(p) for p in family):
            time.sleep(0.001)
        times.append(time.perf_counter() - start)
        assert proc.returncode == 130, proc.returncode
    return statistics.median(times), max(times), count


def main() -> None:
    """Measure and print the three tables."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        reps = calibrate(folder)
        (folder / "fns.py").write_text(FUNCTIONS.format(reps=reps))
        print(f"cores: {len(os.sched_getaffinity(0))}, load average before: "
              f"{os.getloadavg()[0]:.2f}\n")
        calling = Calling(f"{folder / 'fns.py'}:square")
        np.savez(folder / "start.npz", W=np.ones(3), X=np.ones((2, 2)), Y=np.ones((2, 1)))
        first = best(lambda: open_host(calling, str(folder / "start.npz")), 1)
        later = best(lambda: open_host(calling, str(folder / "start.npz")), 10)
        print(f"starting: the fork server and a worker {first:.2f} s, a worker later "
              f"{later * 1e3:.0f} ms\n")
        print("| P | in this process | worker, batched | worker, one call per message |")
        print("|---|---|---|---|")
        for P in (100, 10_000):
            inside, batched, single = per_call(folder, P)
            print(f"| {P:,} | {inside * 1e6:.1f} us | {batched * 1e6:.1f} us "
                  f"(+{(batched - inside) * 1e6:.1f}) | {single * 1e6:.0f} us |")
        print(f"\n| --jobs | `relu-diag check` end to end | the {2 * P_SPEEDUP} stencil calls | "
              "CPU of each worker | speed-up (end to end / calls) |")
        print("|---|---|---|---|---|")
        rows = speedup(folder, P_SPEEDUP)
        for jobs, whole, calls, cpu in rows:
            print(f"| {jobs} | {whole:.2f} s | {calls:.2f} s | "
                  f"{', '.join(f'{c:.2f} s' for c in cpu)} | "
                  f"{rows[0][1] / whole:.2f}x / {rows[0][2] / calls:.2f}x |")
        (folder / "big.yaml").write_text(GRID)
        np.savez(folder / "w.npz", W=np.ones(4), X=np.ones((2, 2)), Y=np.ones((2, 1)))
        print("\n| command | processes | SIGTERM to all gone: median | worst |")
        print("|---|---|---|---|")
        for label, cmd in [
                ("grid big.yaml --jobs 2", [RELU_DIAG, "grid", str(folder / "big.yaml"),
                                            "--jobs", "2"]),
                ("check --fn (hangs) --jobs 2", [RELU_DIAG, "check", "--fn",
                                                 f"{folder / 'fns.py'}:hangs", "--data",
                                                 str(folder / "w.npz"), "--jobs", "2"])]:
            median, worst, count = sigterm_to_gone(cmd)
            print(f"| `relu-diag {label}` | {count} | {median * 1e3:.0f} ms | "
                  f"{worst * 1e3:.0f} ms |")
        print(f"\nslow: {reps} repetitions, {rows[0][2] / (2 * P_SPEEDUP) * 1e3:.1f} ms per call "
              f"(--jobs 1); load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
