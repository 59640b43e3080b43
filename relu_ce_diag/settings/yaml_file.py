"""Read a YAML file safely, with the line of every key path: the only module that imports yaml.

The file is parsed once into nodes by PyYAML's safe loader, which builds only plain data;
refused tags, invalid YAML, duplicate keys, self-referencing aliases and files nested thousands
deep each become one ``ConfigError`` naming the file and line. Before anything walks the
document, its size with every alias expanded is counted (each shared node once, so the count
itself is cheap): a few hundred bytes of nested aliases can stand for billions of values, and
such a document is refused. So is a file that is not a regular file, or larger than
``MAX_BYTES``, before it is read.
"""

from __future__ import annotations

import os
import stat
from typing import Any

import yaml

from relu_ce_diag.errors import ReluDiagError

MAX_BYTES = 8 << 20  # a grid file of 10,000 explicit cells is well under 1 MB
MAX_VALUES = 1_000_000  # values in the document with every alias expanded
_DEEP = ("nested too deeply (or an alias refers to itself); a grid file is a few levels of "
         "plain mappings and lists")


class ConfigError(ReluDiagError):
    """The YAML file itself cannot be read or parsed (exit code 2)."""


class _DuplicateKeyError(Exception):
    """A mapping spells the same key twice (key path, 1-based line)."""


class _KeyError(Exception):
    """A mapping has a list or a mapping as a key (key path, 1-based line, what it is)."""


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def expanded_size(node: yaml.Node, limit: int) -> int:
    """Count the nodes of the document below ``node`` with every alias expanded, each shared
    node measured once (memoized); stop counting past ``limit``. Raise RecursionError for an
    alias inside itself."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(n: yaml.Node) -> int:
        key = id(n)
        if key in sizes:
            return sizes[key]
        if key in open_:  # a: &a [*a]: the document would be infinite
            raise RecursionError
        open_.add(key)
        total = 1
        for child in _children(n):
            total = min(limit + 1, total + size(child))
        open_.discard(key)
        sizes[key] = total
        return total

    return size(node)


def _lines(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int],
           seen: set[int]) -> None:
    """Map every key path below ``node`` to the 1-based line of its value; a node reached
    again through an alias is not walked again (its paths take the alias's line)."""
    out.setdefault(path, node.start_mark.line + 1)
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys = set()
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):  # ? [a, b]: 1 builds an unhashable key
                what = "a list" if isinstance(k, yaml.SequenceNode) else "a mapping"
                raise _KeyError(show_path(path), k.start_mark.line + 1, what)
            if k.value != "<<":
                if k.value in keys:  # safe_load would keep the last one without a word
                    raise _DuplicateKeyError(show_path((*path, k.value)), k.start_mark.line + 1)
                keys.add(k.value)
            out[path + (k.value,)] = k.start_mark.line + 1
            _lines(v, (*path, k.value), out, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _lines(v, (*path, i), out, seen)


def show_path(path: tuple[Any, ...]) -> str:
    s = ""
    for p in path:
        s += f"[{p}]" if isinstance(p, int) else (f".{p}" if s else str(p))
    return s or "(top level)"


def _read_text(file: str) -> str:
    """Read ``file`` as UTF-8: a regular file of at most MAX_BYTES, checked before it is read
    (/dev/zero would be read until memory runs out) and while it is (it may grow)."""
    too_large = ConfigError(f"{file}: larger than {MAX_BYTES >> 20} MB; a grid file is a few "
                            "kilobytes (list axes, not cells, for large grids)")
    try:
        # non-blocking: opening a FIFO must not wait for a writer before it is refused
        with os.fdopen(os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as fh:
            st = os.fstat(fh.fileno())
            if stat.S_ISDIR(st.st_mode):
                raise ConfigError(f"{file}: is a folder; give a .yaml file")
            if not stat.S_ISREG(st.st_mode):
                raise ConfigError(f"{file}: not a regular file (a device, FIFO or socket); give "
                                  "a .yaml file")
            if st.st_size > MAX_BYTES:
                raise too_large
            chunks, total = [], 0
            while chunk := fh.read(1 << 16):  # in pieces: no MAX_BYTES buffer up front
                chunks.append(chunk)
                total += len(chunk)
                if total > MAX_BYTES:
                    raise too_large
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{file}: is a folder; give a .yaml file") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{file}: cannot read it "
                          f"({getattr(exc, 'strerror', None) or exc})") from None
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: cannot read it ({exc})") from None


def _parse_error(file: str, text: str, exc: yaml.YAMLError) -> ConfigError:
    """Turn PyYAML's error into one line naming the file and line."""
    mark = getattr(exc, "problem_mark", None)
    line = f":{mark.line + 1}" if mark else ""
    if isinstance(exc, yaml.constructor.ConstructorError):
        return ConfigError(f"{file}{line}: refused tag ({exc.problem}); grid files are read "
                           "with yaml.safe_load, which builds only plain data (no Python "
                           "objects)")
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if "!!python/" in text:  # e.g. [!!python/name:os.system]: PyYAML stops at the tag
        at = text[:text.index("!!python/")].count("\n") + 1
        return ConfigError(f"{file}:{at}: refused tag (and not valid YAML: {problem}); grid "
                           "files are read with yaml.safe_load, which builds only plain "
                           "data (no Python objects)")
    return ConfigError(f"{file}{line}: not valid YAML ({problem})")


def read_yaml(file: str) -> tuple[object, dict[tuple[Any, ...], int]]:
    """Read ``file`` with PyYAML's safe loader; return the document and its key-path line map.

    The nodes are parsed once; their expanded size is bounded and their lines mapped before
    the document is built (building merges ``<<`` keys into the nodes)."""
    text = _read_text(file)
    loader = yaml.SafeLoader(text)
    lines: dict[tuple[Any, ...], int] = {}
    try:
        node = loader.get_single_node()
        if node is None:
            return None, lines
        if expanded_size(node, MAX_VALUES) > MAX_VALUES:
            raise ConfigError(f"{file}: the document holds more than {MAX_VALUES:,} values once "
                              "its aliases (*name) are expanded; a grid file needs far fewer "
                              "(an alias bomb?)")
        _lines(node, (), lines, set())
        return loader.construct_document(node), lines
    except yaml.YAMLError as exc:
        raise _parse_error(file, text, exc) from None
    except _DuplicateKeyError as dup:
        path, line = dup.args
        raise ConfigError(f"{file}:{line}: {path}: duplicate key; YAML would keep only the "
                          "last one, so remove or merge the other") from None
    except _KeyError as bad:
        path, line, what = bad.args
        raise ConfigError(f"{file}:{line}: {path}: a key is {what}; keys are names such as "
                          "act or hidden") from None
    except RecursionError:  # a self-referencing alias (a: &a [*a]) or thousands of levels
        raise ConfigError(f"{file}: {_DEEP}") from None
    except ValueError as exc:  # an integer of more than 4300 digits, a date out of range
        raise ConfigError(f"{file}: a value cannot be read ({str(exc)[:120]})") from None
    finally:
        loader.dispose()
