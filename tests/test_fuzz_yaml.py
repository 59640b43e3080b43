"""Fuzz the grid loader and ``relu-diag grid``: random YAML and mutations of shipped configs.

Whatever the file holds, the outcome is a verdict (exit 0 or 1) or one line naming what is
wrong (exit 2); never a traceback, never exit 3.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from hypothesis import event, given, settings
from hypothesis import strategies as st

from relu_ce_diag.check.budget import Limits
from relu_ce_diag.cli import main
from relu_ce_diag.errors import ReluDiagError
from relu_ce_diag.run.grid import expand, refuse
from relu_ce_diag.settings.grid_file import CELL_KEYS, TOP_KEYS, load_grid

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
SHIPPED = {p.name: yaml.safe_load(p.read_text()) for p in CONFIGS}

ODD_SCALARS = ["~", "null", "yes", "no", "on", "off", "true", "1e400", "-1e400", ".inf",
               "-.inf", ".nan", "NaN", "0x1F", "0o17", "0b101", "1_000", "-0", "0", "1e-8",
               "2001-12-14", "12:30:45", "''", '""', "' '", "é", "\u202e", "a" * 300,
               "[]", "{}", "[[]]", "!!binary aGVsbG8=", "!!set {a}", "!!omap [a: 1]",
               "!!python/object:os.system {}", "!!python/name:os.system ''",
               "!!python/object/apply:os.getcwd []", "!!str 3", "!!int '3'", "!!float x",
               "&a [*a]", "*nope", "99999999999999999999999", "-1", "3.5", "1e-320"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                    st.sampled_from(["relu", "tanh", "sigmoid", "softmax", "ce", "cce", "se",
                                     "exact", "shortcut", "float32", "pass", "fail", "kink"]))
keys = st.one_of(st.sampled_from(TOP_KEYS + CELL_KEYS + ("match", "status", "why", "id")),
                 st.text(max_size=8))
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)), max_leaves=25)


def _outcome(path: Path) -> str:
    """Load, expand and size-check a grid file; return 'ok' or the ReluDiagError text."""
    try:
        refuse(expand(load_grid(str(path))), Limits())
    except ReluDiagError as exc:
        return str(exc)
    return "ok"


@settings(max_examples=60)
@given(doc=documents)
def test_random_documents_load_or_say_why(tmp_path_factory: Any, doc: Any) -> None:
    """A random YAML document is a grid or one ReluDiagError line; nothing else escapes."""
    path = tmp_path_factory.mktemp("doc") / "g.yaml"
    path.write_text(yaml.safe_dump(doc))
    text = _outcome(path)
    event("grid" if text == "ok" else "refused")
    assert text == "ok" or (text and "\n" not in text), text


@settings(max_examples=40)
@given(raw=st.lists(st.sampled_from(ODD_SCALARS + ["grid:", "cells:", "- ", "act:", "  ",
                                                   "\n", "{", "}", "[", "]", ":", "#", "\t",
                                                   "---", "...", "%YAML 1.1"]),
                    max_size=15))
def test_random_text_loads_or_says_why(tmp_path_factory: Any, raw: list[str]) -> None:
    """Random YAML-ish text (tags, anchors, odd scalars, broken syntax) never escapes."""
    path = tmp_path_factory.mktemp("raw") / "g.yaml"
    path.write_text(" ".join(raw))
    text = _outcome(path)
    assert text == "ok" or (text and "\n" not in text), text


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """List every key/index path into ``doc`` (mappings and lists), shallow first."""
    out: list[tuple[Any, ...]] = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) \
        if isinstance(doc, list) else ()
    for k, v in items:
        out.append((*prefix, k))
        out.extend(_paths(v, (*prefix, k)))
    return out


def _mutate(doc: Any, path: tuple[Any, ...], how: str, value: Any) -> Any:
    """Return a copy of ``doc`` with the node at ``path`` deleted, renamed or replaced."""
    doc = yaml.safe_load(yaml.safe_dump(doc))
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    last = path[-1]
    if how == "delete":
        del parent[last]
    elif how == "rename" and isinstance(parent, dict):
        parent[f"{last}x"] = parent.pop(last)
    elif how == "nest":
        parent[last] = [[[[[[parent[last]]]]]]]
    elif how == "insert" and isinstance(parent, dict):
        parent["unknown_name"] = value
    else:  # retype
        parent[last] = value
    return doc


@settings(max_examples=50)
@given(name=st.sampled_from(sorted(SHIPPED)), data=st.data(),
       how=st.sampled_from(["delete", "rename", "retype", "insert", "nest", "odd"]),
       value=scalars | st.lists(scalars, max_size=3) | st.dictionaries(keys, scalars,
                                                                        max_size=2))
def test_mutated_shipped_configs_never_crash_the_cli(tmp_path_factory: Any, name: str,
                                                     data: st.DataObject, how: str,
                                                     value: Any) -> None:
    """A shipped config with one key deleted, renamed, retyped, nested or made odd runs its
    first cell or says what is wrong: exit 0, 1 or 2, one line for 2, no traceback."""
    folder = tmp_path_factory.mktemp("mut")
    shutil.copytree(ROOT / "configs" / "data", folder / "data")
    doc = SHIPPED[name]
    path = data.draw(st.sampled_from(_paths(doc)))
    if how == "odd":
        text = yaml.safe_dump(_mutate(doc, path, "retype", "ODD"))
        text = text.replace("ODD", data.draw(st.sampled_from(ODD_SCALARS)), 1)
    else:
        text = yaml.safe_dump(_mutate(doc, path, how, value))
    (folder / name).write_text(text)
    r = CliRunner().invoke(main, ["grid", str(folder / name), "--shard", "1/40",
                                  "--format", "json"])
    event(f"exit {r.exit_code}")
    assert "Traceback" not in r.stdout + r.stderr
    assert r.exit_code in (0, 1, 2), (r.exit_code, r.stderr, text)
    if r.exit_code == 2:
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_shipped_configs_load() -> None:
    """The mutation base is sound: every shipped config loads and expands unmutated."""
    assert len(SHIPPED) >= 4
    for p in CONFIGS:
        assert _outcome(p) == "ok", p
