"""Capture what relu-diag prints in a real terminal (tmux) at 80 and 120 columns and write
docs/screens.md: the check, grid, sweep and explain screens as text.

Run from the repository root, with relu-diag installed and tmux on the PATH:

    python scripts/capture_screens.py

tests/test_terminal.py checks the committed page (no line wider than its terminal, nothing cut).
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "screens.md"
WIDTHS = (80, 120)
COMMANDS = (
    ("check", "relu-diag check --act relu --loss ce"),
    ("grid", "relu-diag grid seed"),
    ("sweep", "relu-diag sweep --act relu --loss ce"),
    ("explain", "relu-diag explain"),
    ("explain one", "relu-diag explain pairing"),
)
HEAD = """# Screens

What relu-diag prints in a terminal, captured in tmux at {widths} columns by
`python scripts/capture_screens.py` (colours left out). The tests check that no line is wider
than its terminal and that nothing is cut.
"""


def capture(command: str, width: int) -> str:
    """Run ``command`` in a fresh tmux pane ``width`` columns wide and return the screen."""
    server, done = f"screens-{uuid.uuid4().hex[:8]}", f"done-{uuid.uuid4().hex[:8]}"
    script = (f"cd {shlex.quote(str(ROOT))}; echo '$ {command}'; {command}; "
              f"echo \"[exit $?]\"; tmux -L {server} wait-for -S {done}; sleep 60")
    tmux = ["tmux", "-L", server, "-f", "/dev/null"]
    subprocess.run([*tmux, "new-session", "-d", "-x", str(width), "-y", "400",
                    "env", "-u", "COLUMNS", "-u", "LINES", "bash", "--norc", "-c", script],
                   check=True)
    try:
        subprocess.run([*tmux, "wait-for", done], check=True, timeout=300)
        screen = subprocess.run([*tmux, "capture-pane", "-p", "-S", "0", "-E", "399"],
                                check=True, capture_output=True, text=True).stdout
    finally:
        subprocess.run([*tmux, "kill-server"], check=False)
    return "\n".join(line.rstrip() for line in screen.rstrip().splitlines())


def main() -> int:
    parts = [HEAD.format(widths=" and ".join(map(str, WIDTHS)))]
    for name, command in COMMANDS:
        parts.append(f"## {name}\n")
        for width in WIDTHS:
            parts.append(f"`{command}` at {width} columns:\n")
            parts.append(f"```text {{ .screen-{width} }}\n{capture(command, width)}\n```\n")
    PAGE.write_text("\n".join(parts), encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
