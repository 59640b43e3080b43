"""Allow ``python -m relu_ce_diag``, which behaves as the ``relu-diag`` command.

``-m`` puts the working folder first on the import path, so a ``secrets.py`` or ``hmac.py``
of the user's, beside their code, would replace the standard library's modules NumPy imports.
The ``relu-diag`` command does not put it there; neither does this (a user's function still
finds its own folder: it is loaded from its file).
"""

import os
import sys

if sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from relu_ce_diag.cli import main  # noqa: E402  (after the path is fixed)

main()
