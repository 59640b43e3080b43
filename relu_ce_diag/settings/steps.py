"""The steps of a sweep, as written on the command line: START:STOP:COUNT or a comma list."""

from __future__ import annotations

import math

import numpy as np

from relu_ce_diag.errors import OptionError

DEFAULT_STEPS = "1e-1:1e-12:23"
MAX_STEPS = 200
STEPS_HELP = ("START:STOP:COUNT (log-spaced, both ends included, e.g. 1e-1:1e-12:23) or a "
              "comma list (e.g. 1e-2,1e-4,1e-6); every step in (0, 1]")


def parse_steps(text: str, label: str = "--steps") -> tuple[float, ...]:
    """Parse START:STOP:COUNT or a comma list into distinct steps, largest first."""
    raw = str(text).strip()
    try:
        if ":" in raw:
            parts = raw.split(":")
            if len(parts) != 3:
                raise ValueError
            start, stop, count = float(parts[0]), float(parts[1]), int(parts[2])
            if count < 2 or count > MAX_STEPS or not (start > 0 and stop > 0):
                raise ValueError  # the count before logspace: 1e8 steps would take seconds
            steps = np.logspace(math.log10(start), math.log10(stop), count).tolist()
            steps[0], steps[-1] = start, stop  # the ends exactly as written
        else:
            steps = [float(s) for s in raw.split(",") if s.strip()]
    except (ValueError, OverflowError):
        raise OptionError(label, text, f"{STEPS_HELP}; at most {MAX_STEPS} steps") from None
    if not steps or any(not (math.isfinite(h) and 0 < h <= 1) for h in steps) \
            or len(steps) > MAX_STEPS:
        raise OptionError(label, text, f"{STEPS_HELP}; at most {MAX_STEPS} steps")
    return tuple(sorted({float(f"{h:.12g}") for h in steps}, reverse=True))
