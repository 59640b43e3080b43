"""Read the variables of a MATLAB MAT-file (level 5: what ``save -v7`` and ``save -v6`` write,
compressed or not) in pure NumPy: real double, single, integer and logical matrices.

Each variable comes back as an array of its MATLAB class (double -> float64, single ->
float32, int8 -> int8, ..., logical -> bool) with MATLAB's shape (at least 2-D), in the
file's order. Whatever cannot be read (a v7.3 HDF5 file, Octave's text format, a cell,
struct, char or sparse variable, complex values, a truncated file) raises ``DataError`` with
one line that says how to write a file relu-diag reads.
"""

from __future__ import annotations

import math
import zlib
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np

from relu_ce_diag.errors import DataError

Array = np.ndarray
SAVE_HINT = "write one from MATLAB or Octave with: save -v7 case.mat W X Y"
MI_COMPRESSED, MI_MATRIX = 15, 14
STORED = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8", 12: "i8",
          13: "u8"}  # miINT8 ... miUINT64: how values are stored on disk
CLASSES = {6: "f8", 7: "f4", 8: "i1", 9: "u1", 10: "i2", 11: "u2", 12: "i4", 13: "u4",
           14: "i8", 15: "u8"}  # mxDOUBLE_CLASS ... mxUINT64_CLASS: what the values are
OTHER = {1: "a cell array", 2: "a struct", 3: "an object", 4: "a char array (text)",
         5: "a sparse matrix (save full(A) instead)", 16: "a function handle",
         17: "an opaque object"}
HDF5 = b"\x89HDF\r\n\x1a\n"  # the signature of an HDF5 file (at 0, or 512 after a MAT header)
HEAD = 1024  # bytes enough for a matrix's flags, dimensions and name


def _v73_or_text(path: str, head: bytes, fp: BinaryIO) -> DataError | None:
    """Return the error for a file that is not MAT level 5 (None: it is)."""
    if head.startswith(b"# Created by Octave") or head.startswith(b"# name:"):
        return DataError(path, f"an Octave text file (save's default format), not a MAT-file; "
                         f"{SAVE_HINT}")
    fp.seek(512)
    if head[:19] == b"MATLAB 7.3 MAT-file" or HDF5 in (head[:8], fp.read(8)):
        return DataError(path, f"an HDF5 file (MATLAB -v7.3 or Octave -hdf5), which relu-diag "
                         f"does not read; {SAVE_HINT}")
    if len(head) < 128 or not head.startswith(b"MATLAB") or head[126:128] not in (b"IM", b"MI"):
        return DataError(path, f"not a MATLAB v5/v7 MAT-file (a v4 file, or not a MAT-file at "
                         f"all); {SAVE_HINT}")
    return None


class _Reader:
    """Tagged data elements of one buffer in the file's byte order."""

    def __init__(self, path: str, order: str) -> None:
        self.path = path
        self.order: Literal["<", ">"] = "<" if order == "<" else ">"

    def tag(self, buf: bytes, pos: int, name: str = "") -> tuple[int, int, int, int]:
        """Return (type, size in bytes, data start, next element) of the element at pos."""
        if pos + 8 > len(buf):
            raise self.corrupt(name)
        first, second = np.frombuffer(buf, f"{self.order}u4", 2, pos).tolist()
        if first >> 16:  # the small element format: up to 4 bytes of data inside the tag
            return first & 0xFFFF, first >> 16, pos + 4, pos + 8
        pad = 0 if first == MI_COMPRESSED else -second % 8
        return first, second, pos + 8, pos + 8 + second + pad

    def values(self, buf: bytes, pos: int, name: str) -> tuple[Array, int]:
        """Return the numeric values of the element at pos and the next position."""
        kind, size, start, nxt = self.tag(buf, pos, name)
        if kind not in STORED or start + size > len(buf):
            raise self.corrupt(name)
        dt = np.dtype(STORED[kind]).newbyteorder(self.order)
        return np.frombuffer(buf, dt, size // dt.itemsize, start), nxt

    def header(self, buf: bytes) -> tuple[int, int, tuple[int, ...], str, int]:
        """Return (class, flags, dimensions, name, position of the values) of a matrix."""
        flags, pos = self.values(buf, 8, "")
        dims, pos = self.values(buf, pos, "")
        kind, size, start, nxt = self.tag(buf, pos)
        if len(flags) < 2 or kind not in (1, 2) or start + size > len(buf):
            raise self.corrupt("")
        name = bytes(buf[start:start + size]).decode("latin-1")
        return int(flags[0]) & 0xFF, int(flags[0]), tuple(int(d) for d in dims), name, nxt

    def corrupt(self, name: str) -> DataError:
        what = f"variable {name!r}" if name else "a variable"
        return DataError(self.path, f"{what} is truncated or corrupt; {SAVE_HINT}")


def _declared(r: _Reader, head: bytes, limit: int) -> tuple[int, str]:
    """Check a matrix's declared size against ``limit`` bytes (as float64) before reading it;
    return (class, name)."""
    cls, _, dims, name, _ = r.header(head)
    n = math.prod(dims)
    if n * 8 > limit:
        raise DataError(r.path, f"variable {name!r} holds {n:,} values ({n * 8 / (1 << 30):.1f} "
                        f"GiB as float64), more than the {limit >> 30} GiB read; check a subset "
                        "of the samples")
    return cls, name


def _matrix(r: _Reader, buf: bytes) -> tuple[str, Array]:
    """Return (name, array) of one miMATRIX element (tag included in ``buf``)."""
    cls, flags, dims, name, pos = r.header(buf)
    if cls not in CLASSES:
        raise DataError(r.path, f"variable {name!r} is {OTHER.get(cls, f'of class {cls}')}; "
                        "relu-diag reads real numeric and logical matrices (save only those: "
                        "save -v7 case.mat W X Y)")
    if flags & 0x800:
        raise DataError(r.path, f"variable {name!r} is complex; expected real numbers")
    if any(d < 0 for d in dims) or len(dims) < 2:
        raise r.corrupt(name)
    vals, _ = r.values(buf, pos, name)
    if vals.size != math.prod(dims):
        raise r.corrupt(name)
    dtype = np.dtype(bool) if flags & 0x200 else np.dtype(CLASSES[cls])
    return name, vals.astype(dtype).reshape(dims, order="F")


def _inflate(r: _Reader, payload: bytes, limit: int) -> bytes:
    """Decompress one miCOMPRESSED element, refusing a declared size over ``limit`` before
    inflating it (a few kilobytes of zeros can declare terabytes)."""
    d = zlib.decompressobj()
    try:
        head = d.decompress(payload, HEAD)
        kind, size, _, _ = r.tag(head, 0)
        if kind != MI_MATRIX:
            return b""  # not a variable (MATLAB writes nothing else here): skipped
        _declared(r, head, limit)
        need = size + 8 - len(head)
        return head + (d.decompress(d.unconsumed_tail, need) if need > 0 else b"")
    except zlib.error:
        raise r.corrupt("") from None


def _element(r: _Reader, fp: BinaryIO, limit: int) -> tuple[bytes, int]:
    """Read the element at the file's position: (its miMATRIX bytes, tag included, or b""
    for anything else; the length of the element in the file)."""
    tag = fp.read(8)
    kind, size, _, nxt = r.tag(tag, 0)
    if kind == MI_COMPRESSED:
        if size > limit:
            raise DataError(r.path, f"a compressed variable of {size:,} bytes, more than the "
                            f"{limit >> 30} GiB read; check a subset of the samples")
        payload = fp.read(size)
        if len(payload) < size:
            raise r.corrupt("")
        return _inflate(r, payload, limit), nxt
    if kind == MI_MATRIX:
        first = tag + fp.read(min(size, HEAD))
        _declared(r, first, limit)
        return first + fp.read(size + 8 - len(first)), nxt
    return b"", nxt


def read_mat(path: str, limit: int) -> dict[str, Array]:
    """Return every variable of a MAT level-5 file by name, in the file's order, each of its
    MATLAB class and shape; a variable declaring more than ``limit`` bytes as float64 is
    refused before it is read."""
    p = Path(path)
    try:
        fp = p.open("rb")
        end = p.stat().st_size
    except OSError as exc:
        raise DataError(path, f"cannot be read ({exc.strerror or exc})") from None
    with fp:
        head = fp.read(128)
        problem = _v73_or_text(path, head, fp)
        if problem is not None:
            raise problem
        r = _Reader(path, "<" if head[126:128] == b"IM" else ">")
        out: dict[str, Array] = {}
        pos = 128
        while pos + 8 <= end:
            fp.seek(pos)
            buf, length = _element(r, fp, limit)
            if buf:
                name, arr = _matrix(r, buf)
                out[name] = arr
            pos += length
    return out
