"""relu-diag: a gradient checker that says why hand-written backprop disagrees."""

import sys

from relu_ce_diag._version import __version__

__all__ = ["__version__", "check_function", "sweep_function"]


def __getattr__(name: str) -> object:
    """Import the API on first use, so ``import relu_ce_diag`` stays cheap."""
    if name == "check_function":
        from relu_ce_diag.run.api import check_function
        return check_function
    if name == "sweep_function":
        from relu_ce_diag.run.api import sweep_function
        return sweep_function
    raise AttributeError(f"module 'relu_ce_diag' has no attribute {name!r}")


def _notebook() -> None:
    """In a running IPython (Jupyter), show results as their table and sweeps as figures."""
    ipython = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    if ipython is not None and getattr(ipython, "display_formatter", None) is not None:
        from relu_ce_diag.report.notebook import register
        register(ipython)


_notebook()
