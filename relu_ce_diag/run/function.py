"""``check --fn FILE.py:NAME --data case.npz``: load the function and its point, then check."""

from __future__ import annotations

from collections.abc import Callable

from relu_ce_diag.check.blackbox import Progress, plan
from relu_ce_diag.check.userfn import load_function
from relu_ce_diag.errors import DataError, TooLargeError
from relu_ce_diag.results.cell import CellResult
from relu_ce_diag.run.api import run_function
from relu_ce_diag.settings.data import load_npz
from relu_ce_diag.settings.function import Description, describe_net


def check_file(ref: str, data: str, desc: Description, *, step: float | None = None,
               precision: str | None = None, directions: int | None = None, seed: int = 0,
               progress: Progress | None = None,
               announce: Callable[[str], None] | None = None,
               max_params: int | None = None, ignore: tuple[str, ...] = ()) -> CellResult:
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
    return run_function(uf.fn, W, X, Y, net, label=uf.label, step=step, precision=precision,
                        directions=directions, seed=seed, progress=progress, data=data,
                        ignore=ignore)
