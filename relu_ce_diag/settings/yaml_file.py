"""Read a YAML file safely, with the line of every key path: the only module that imports yaml.

``yaml.safe_load`` builds only plain data; refused tags, invalid YAML, duplicate keys,
self-referencing aliases and files nested thousands deep each become one ``ConfigError``
naming the file and line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from relu_ce_diag.errors import ReluDiagError


class ConfigError(ReluDiagError):
    """The YAML file itself cannot be read or parsed (exit code 2)."""


class _DuplicateKeyError(Exception):
    """A mapping spells the same key twice (key path, 1-based line)."""


def _lines(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    """Map every key path below ``node`` to the 1-based line of its value."""
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value != "<<":
                if k.value in seen:  # safe_load would keep the last one without a word
                    raise _DuplicateKeyError(show_path((*path, k.value)), k.start_mark.line + 1)
                seen.add(k.value)
            out[path + (k.value,)] = k.start_mark.line + 1
            _lines(v, (*path, k.value), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _lines(v, (*path, i), out)


def show_path(path: tuple[Any, ...]) -> str:
    s = ""
    for p in path:
        s += f"[{p}]" if isinstance(p, int) else (f".{p}" if s else str(p))
    return s or "(top level)"


def read_yaml(file: str) -> tuple[object, dict[tuple[Any, ...], int]]:
    """Read ``file`` with yaml.safe_load; return the document and its key-path line map."""
    try:
        text = Path(file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read it ({exc})") from None
    try:
        doc = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{file}{line}: refused tag ({exc.problem}); grid files are read "
                          "with yaml.safe_load, which builds only plain data (no Python "
                          "objects)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if "!!python/" in text:  # e.g. [!!python/name:os.system]: PyYAML stops at the tag
            at = text[:text.index("!!python/")].count("\n") + 1
            raise ConfigError(f"{file}:{at}: refused tag (and not valid YAML: {problem}); grid "
                              "files are read with yaml.safe_load, which builds only plain "
                              "data (no Python objects)") from None
        raise ConfigError(f"{file}{line}: not valid YAML ({problem})") from None
    except RecursionError:  # a self-referencing alias (a: &a [*a]) or thousands of levels
        raise ConfigError(f"{file}: nested too deeply (or an alias refers to itself); a grid "
                          "file is a few levels of plain mappings and lists") from None
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        try:
            _lines(node, (), lines)
        except _DuplicateKeyError as dup:
            path, line = dup.args
            raise ConfigError(f"{file}:{line}: {path}: duplicate key; YAML would keep only the "
                              "last one, so remove or merge the other") from None
        except RecursionError:
            raise ConfigError(f"{file}: nested too deeply (or an alias refers to itself); a "
                              "grid file is a few levels of plain mappings and lists") from None
    return doc, lines
