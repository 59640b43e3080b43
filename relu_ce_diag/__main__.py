"""Allow ``python -m relu_ce_diag``."""

from relu_ce_diag.cli import main

main()
