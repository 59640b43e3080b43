"""The example notebook runs top to bottom (so it cannot rot), and results display in it as
the report the terminal prints."""

from __future__ import annotations

from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "your_gradient.ipynb"


def test_the_example_notebook_executes_and_shows_the_report() -> None:
    """Every cell runs (its asserts hold); the result cells display the HTML report."""
    import nbclient
    import nbformat
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    html = [o["data"]["text/html"] for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if "text/html" in o.get("data", {})]
    assert any("localisation" in h and "known-bug" in h for h in html)
    assert any("all 78 entries agree" in h or "agree within tolerance" in h for h in html)
    assert any("<img" in h or "step" in h for h in html)


def test_a_result_displays_as_the_terminal_report() -> None:
    """The HTML a notebook shows for a result holds the table and the findings."""
    import numpy as np

    from relu_ce_diag import check_function
    from relu_ce_diag.report.notebook import result_html
    r = check_function(lambda W, X, Y: (float(W @ W), 3 * W), np.ones(3), np.ones((1, 1)),
                       np.ones((1, 1)))
    html = result_html(r)
    assert "fail" in html and "localisation" in html and "W[0]" in html
