"""Print the table of docs/diagnostics.md: what each example command reports.

Run from the repository root: python scripts/diag_table.py (scripts/gen_docs.py puts the
same table into docs/diagnostics.md between its markers).
Each row runs the command in-process (through the CLI) and lists its status, exit code and
the diagnostics that fired, with the first words of each finding.
"""

from __future__ import annotations

import json
import shlex

from click.testing import CliRunner

from relu_ce_diag.cli import main as cli

COMMANDS = [
    "check --act relu --loss ce",
    "check --act relu --loss ce --backprop exact",
    "check --data configs/data/kink_at_zero.npz --act relu --loss cce",
    "check --data configs/data/kink_at_zero.npz --act relu --loss cce --strict",
    "check --act tanh --loss ce",
    "check --eps 0 --act relu --loss ce",
    "check --act sigmoid --loss ce --eps 0.3",
    "check --act sigmoid --loss ce --data configs/data/saturated.npz",
    "check --act sigmoid --loss ce --data configs/data/saturated.npz --backprop exact",
    "check --act relu --loss ce --dtype float32",
    "check --act relu --loss cce",
]


def table() -> str:
    """Run every command; return the markdown table, one row each."""
    rows = ["| command | status (exit) | diagnostics |", "|---|---|---|"]
    for cmd in COMMANDS:
        res = CliRunner().invoke(cli, [*shlex.split(cmd), "--format", "json"])
        cell = json.loads(res.stdout)["cells"][0]
        found = "; ".join(f"`{f['id']}` ({f['severity']}): {f['message'][:90]}"
                          + ("..." if len(f["message"]) > 90 else "")
                          for f in cell["findings"]) or "none"
        rows.append(f"| `relu-diag {cmd}` | {cell['status']} ({res.exit_code}) | {found} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(table(), end="")
