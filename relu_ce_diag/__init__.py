"""relu-diag: a gradient checker that says why hand-written backprop disagrees."""

__version__ = "0.1.0"
