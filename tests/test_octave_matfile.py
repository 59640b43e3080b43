"""MAT-files (``save -v7``/``-v6``) as --data: the pure-NumPy reader against a small writer of
its own and against files GNU Octave writes, and every way a file can be refused."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from relu_ce_diag.cli import main
from relu_ce_diag.errors import DataError
from relu_ce_diag.settings.data import read_arrays
from relu_ce_diag.settings.matfile import read_mat

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = Path(__file__).parent / "examples"
LIMIT = 4 << 30
CLASS = {"f8": 6, "f4": 7, "i1": 8, "u1": 9, "i2": 10, "u2": 11, "i4": 12, "u4": 13, "i8": 14,
         "u8": 15}
MI = {"i1": 1, "u1": 2, "i2": 3, "u2": 4, "i4": 5, "u4": 6, "f4": 7, "f8": 9, "i8": 12, "u8": 13}
HINT = "save -v7 case.mat W X Y"


def _element(kind: int, data: bytes, order: str, small: bool = False) -> bytes:
    """One tagged data element, padded to 8 bytes (the small format packs <= 4 bytes)."""
    if small and len(data) <= 4:
        return struct.pack(f"{order}I", (len(data) << 16) | kind) + data.ljust(4, b"\0")
    return struct.pack(f"{order}II", kind, len(data)) + data + b"\0" * (-len(data) % 8)


def matrix(name: str, a: np.ndarray, order: str = "<", stored: str | None = None,
           cls: int | None = None, flags: int = 0, imag: np.ndarray | None = None) -> bytes:
    """One miMATRIX element: array flags, dimensions, name, values stored as ``stored``."""
    a = np.atleast_2d(a)
    key = "u1" if a.dtype == bool else a.dtype.str[1:]
    cls = CLASS[key] if cls is None else cls
    stored = stored or key
    body = (_element(6, struct.pack(f"{order}II", cls | flags | (0x200 if a.dtype == bool else 0)
                                    | (0x800 if imag is not None else 0), 0), order)
            + _element(5, struct.pack(f"{order}{a.ndim}i", *a.shape), order)
            + _element(1, name.encode(), order, small=True))
    for part in (a, imag) if imag is not None else (a,):
        body += _element(MI[stored], np.asarray(part).astype(np.dtype(stored).newbyteorder(
            order)).tobytes(order="F"), order)
    return _element(14, body, order)


def write_mat(path: Path, elements: list[bytes], order: str = "<",
              text: bytes = b"MATLAB 5.0 MAT-file, written by a test") -> str:
    """Write a MAT level-5 file of the given elements."""
    head = text.ljust(116, b" ") + b"\0" * 8 + struct.pack(f"{order}H", 0x0100)
    path.write_bytes(head + (b"IM" if order == "<" else b"MI") + b"".join(elements))
    return str(path)


def compressed(element: bytes, order: str = "<") -> bytes:
    """Wrap one element in miCOMPRESSED, as save -v7 writes every variable."""
    data = zlib.compress(element)
    return struct.pack(f"{order}II", 15, len(data)) + data


VALUES = {
    "f8": np.arange(1, 13).reshape(3, 4, order="F") / 7,
    "f4": np.array([[1.5, 2.5], [-3, 4]], dtype=np.float32),
    "i1": np.array([[-1, 2, 3]], dtype=np.int8),
    "u2": np.array([[1], [2], [65535]], dtype=np.uint16),
    "i8": np.array([[-5, 6]], dtype=np.int64),
    "u8": np.array([[7, 2**40]], dtype=np.uint64),
    "nd": np.arange(24.0).reshape(2, 3, 4),
    "L": np.array([[True, False], [False, True]]),
}


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("zipped", [False, True])
def test_every_class_round_trips(tmp_path: Path, order: str, zipped: bool) -> None:
    """Double, single, integer and logical matrices come back with their class, shape and
    values, in the file's order, in either byte order, compressed or not."""
    elements = [matrix(k, v, order) for k, v in VALUES.items()]
    path = write_mat(tmp_path / "a.mat", [compressed(e, order) for e in elements] if zipped
                     else elements, order)
    got = read_mat(path, LIMIT)
    assert list(got) == list(VALUES)
    for k, v in VALUES.items():
        assert got[k].dtype == v.dtype and got[k].shape == np.atleast_2d(v).shape, k
        np.testing.assert_array_equal(got[k], v)


def test_doubles_stored_in_a_narrow_type_are_doubles(tmp_path: Path) -> None:
    """MATLAB stores an integer-valued double matrix as uint8 on disk; it reads as float64."""
    y = np.array([[1.0], [3.0], [2.0]])
    path = write_mat(tmp_path / "a.mat", [compressed(matrix("y", y, stored="u1"))])
    got = read_mat(path, LIMIT)["y"]
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, y)


def test_a_huge_declared_variable_is_refused_before_inflating(tmp_path: Path) -> None:
    """A compressed variable declaring 10^12 values is refused from its header, in one line."""
    body = matrix("X", np.zeros((1, 1)))
    body = body.replace(struct.pack("<2i", 1, 1), struct.pack("<2i", 10**6, 10**6), 1)
    path = write_mat(tmp_path / "a.mat", [compressed(body)])
    with pytest.raises(DataError, match=r"variable 'X' holds 1,000,000,000,000 values"):
        read_mat(path, LIMIT)


@pytest.mark.parametrize(("content", "words"), [
    (b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(512, b" ") + b"\x89HDF\r\n\x1a\n",
     "HDF5 file (MATLAB -v7.3"),
    (b"\x89HDF\r\n\x1a\n" + b"\0" * 600, "HDF5 file"),
    (b"# Created by Octave 7.3.0\n# name: X\n", "Octave text file"),
    (b"\0\0\0\0\x03\0\0\0" + b"\0" * 200, "not a MATLAB v5/v7 MAT-file"),
])
def test_files_relu_diag_cannot_read_say_how_to_write_one(tmp_path: Path, content: bytes,
                                                          words: str) -> None:
    """A v7.3 (HDF5), Octave text or v4 file is refused with the one line that fixes it."""
    path = tmp_path / "case.mat"
    path.write_bytes(content)
    with pytest.raises(DataError) as err:
        read_mat(str(path), LIMIT)
    assert words in str(err.value) and HINT in str(err.value)


@pytest.mark.parametrize(("cls", "words"), [(1, "a cell array"), (2, "a struct"),
                                            (4, "a char array"), (5, "a sparse matrix")])
def test_variables_that_are_not_matrices_are_named(tmp_path: Path, cls: int,
                                                   words: str) -> None:
    """A cell, struct, char or sparse variable is refused by name and class."""
    path = write_mat(tmp_path / "a.mat", [matrix("X", np.ones((2, 2))),
                                          matrix("thing", np.ones((1, 2)), cls=cls)])
    with pytest.raises(DataError, match=f"variable 'thing' is {words}"):
        read_mat(path, LIMIT)


def test_complex_and_truncated_variables_are_refused(tmp_path: Path) -> None:
    """Complex values and a file cut short each give one line naming the variable."""
    z = write_mat(tmp_path / "z.mat", [matrix("z", np.ones((1, 2)), imag=np.ones((1, 2)))])
    with pytest.raises(DataError, match="variable 'z' is complex"):
        read_mat(z, LIMIT)
    whole = Path(write_mat(tmp_path / "t.mat", [matrix("X", np.ones((4, 4)))])).read_bytes()
    (tmp_path / "t.mat").write_bytes(whole[:-40])
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_mat(str(tmp_path / "t.mat"), LIMIT)


def test_read_arrays_checks_mat_values_as_npz_ones(tmp_path: Path) -> None:
    """Through read_arrays, logicals become float64, integer labels keep their type, and a
    NaN or an empty variable is refused as in an .npz."""
    ok = write_mat(tmp_path / "ok.mat", [matrix("Y", VALUES["L"]), matrix("y", VALUES["i1"])])
    got = read_arrays(ok)
    assert got["Y"].dtype == np.float64 and got["y"].dtype == np.int8
    nan = write_mat(tmp_path / "nan.mat", [matrix("X", np.array([[1.0, np.nan]]))])
    with pytest.raises(DataError, match="'X' holds 1 NaN"):
        read_arrays(nan)
    with pytest.raises(DataError, match="no such file"):
        read_arrays(str(tmp_path / "missing.mat"))


def test_the_shipped_seed_case_mat_holds_the_npz_arrays() -> None:
    """tests/examples/seed_case.mat (written by Octave's save -v7) equals seed_case.npz."""
    mat = read_arrays(str(EXAMPLES / "seed_case.mat"))
    npz = np.load(ROOT / "examples" / "seed_case.npz")
    assert mat["W"].shape == (903, 1)
    for k in ("W", "X", "Y"):
        np.testing.assert_array_equal(mat[k].reshape(npz[k].shape), npz[k])


@pytest.mark.parametrize("args", [
    ["--fn", f"{ROOT / 'examples' / 'seed_backprop.py'}:backprop", "--act", "relu", "--loss",
     "ce"],
    ["--act", "relu", "--loss", "ce"],
])
def test_a_mat_file_checks_like_the_npz(args: list[str]) -> None:
    """A Python --fn and the built-in cell give the same report on the .mat as on the .npz."""
    def report(data: Path) -> dict:
        r = CliRunner().invoke(main, ["check", *args, "--data", str(data), "--format", "json"])
        assert r.exit_code == 1, r.output
        doc = json.loads(r.stdout.replace(str(data), "DATA"))
        return doc

    assert report(EXAMPLES / "seed_case.mat") == report(ROOT / "examples" / "seed_case.npz")


def test_an_unreadable_mat_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """The CLI refuses a v7.3 file with exit 2 and the save -v7 hint, no traceback."""
    path = tmp_path / "case.mat"
    path.write_bytes(b"MATLAB 7.3 MAT-file".ljust(512, b" ") + b"\x89HDF\r\n\x1a\n")
    r = CliRunner().invoke(main, ["check", "--act", "relu", "--data", str(path)])
    assert r.exit_code == 2
    assert r.stderr.count("\n") == 1 and HINT in r.stderr and "Traceback" not in r.stderr


OCTAVE = shutil.which("octave-cli") or shutil.which("octave")
# CI sets RELU_DIAG_REQUIRE_OCTAVE=1 after installing Octave: there these tests never skip.
NEEDS_OCTAVE = pytest.mark.skipif(
    OCTAVE is None and os.environ.get("RELU_DIAG_REQUIRE_OCTAVE") != "1",
    reason="GNU Octave is not installed (CI installs it)")


@NEEDS_OCTAVE
@pytest.mark.parametrize("version", ["-v7", "-v6"])
def test_files_octave_writes_read_back_exactly(tmp_path: Path, version: str) -> None:
    """Every class Octave's save -v7 (compressed) and -v6 writes reads back exactly."""
    code = ("A = reshape(1:12, 3, 4) / 7; s = single([1.5 2.5; -3 4]); i8 = int8([-1 2 3]); "
            "u16 = uint16([1; 2; 65535]); L = logical([1 0; 0 1]); sc = pi; col = (1:5)'; "
            "nd = reshape(1:24, 2, 3, 4); big = sin(reshape(1:2000, 50, 40)); "
            f"save('{version}', 'a.mat', 'A', 's', 'i8', 'u16', 'L', 'sc', 'col', 'nd', 'big');")
    subprocess.run([OCTAVE or "octave-cli", "--norc", "--quiet", "--eval", code], cwd=tmp_path,
                   check=True, capture_output=True)
    got = read_mat(str(tmp_path / "a.mat"), LIMIT)
    assert list(got) == ["A", "s", "i8", "u16", "L", "sc", "col", "nd", "big"]
    np.testing.assert_array_equal(got["A"], VALUES["f8"])
    np.testing.assert_array_equal(got["s"], VALUES["f4"])
    assert got["s"].dtype == np.float32 and got["i8"].dtype == np.int8 and got["L"].dtype == bool
    np.testing.assert_array_equal(got["u16"], VALUES["u2"])
    assert got["sc"].shape == (1, 1) and got["sc"][0, 0] == np.pi
    np.testing.assert_array_equal(got["col"], np.arange(1.0, 6.0).reshape(5, 1))
    np.testing.assert_array_equal(got["nd"], np.arange(1.0, 25.0).reshape(2, 3, 4, order="F"))
    np.testing.assert_allclose(got["big"], np.sin(np.arange(1.0, 2001.0)).reshape(
        50, 40, order="F"), rtol=0, atol=1e-15)
