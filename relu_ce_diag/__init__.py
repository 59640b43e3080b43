"""relu-diag: a gradient checker that says why hand-written backprop disagrees."""

from relu_ce_diag._version import __version__

__all__ = ["__version__", "check_function"]


def __getattr__(name: str) -> object:
    """Import ``check_function`` on first use, so ``import relu_ce_diag`` stays cheap."""
    if name == "check_function":
        from relu_ce_diag.run.api import check_function
        return check_function
    raise AttributeError(f"module 'relu_ce_diag' has no attribute {name!r}")
