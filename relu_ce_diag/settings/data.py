"""Inputs, targets and weights: generated from a seed, or loaded from an .npz or .mat file."""

from __future__ import annotations

import math
import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from relu_ce_diag.errors import DataError
from relu_ce_diag.model.network import Net, pack
from relu_ce_diag.settings.matfile import read_mat

Array = np.ndarray
TARGETS = ("onehot", "multilabel")


@dataclass(frozen=True)
class Arrays:
    """The arrays of one check: W (P,), X (N, n_in), Y (N, n_out)."""

    W: Array
    X: Array
    Y: Array


def normalise_columns(X: Array) -> Array:
    """Scale each column of X (N, n) to zero mean and unit variance (constant columns: 0)."""
    centred = X - X.mean(axis=0)
    std = centred.std(axis=0)
    return centred / np.where(std > 0, std, 1.0)


def generate_inputs(rng: np.random.Generator, samples: int, inputs: int, outputs: int,
                    targets: str) -> tuple[Array, Array]:
    """Draw normalised inputs X (N, n_in) and one-hot or 0/1 multi-label targets Y (N, n_out)."""
    X = normalise_columns(rng.standard_normal((samples, inputs)))
    if targets == "onehot":
        Y = np.zeros((samples, outputs))
        Y[np.arange(samples), rng.integers(outputs, size=samples)] = 1.0
    else:
        Y = (rng.random((samples, outputs)) < 0.5).astype(np.float64)
    return X, Y


def generate_weights(rng: np.random.Generator, net: Net) -> Array:
    """Draw W (P,) with entries ~ N(0, 1 / fan_in), laid out as the seed's MATLAB code."""
    return pack([rng.standard_normal((r, c)) / np.sqrt(c) for r, c in net.shapes])


MAX_ARRAY_BYTES = 4 << 30  # an array larger than this (as float64) is refused before reading
GIB = 1 << 30
KEYS = ("X", "Y", "W")
_PICKLED = ("not a readable .npz file (not a zip of numeric arrays; object arrays and pickled "
            "data are refused; save with np.savez)")


@dataclass(frozen=True)
class Header:
    """What one array of an .npz file declares in its .npy header; nothing is loaded."""

    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def loaded_bytes(self) -> int:
        """Bytes of the array once loaded and converted to float64."""
        return self.size * max(self.dtype.itemsize, 8)


def _regular(path: str, kind: str) -> None:
    """Refuse a missing file, a folder or a special file (a FIFO would block, /dev/zero
    would be read forever), naming what it is; ``kind`` is the file wanted (``an .npz``)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise DataError(path, "no such file") from None
    except (OSError, ValueError) as exc:
        raise DataError(path, f"cannot read it ({getattr(exc, 'strerror', None) or exc})"
                        ) from None
    if stat.S_ISDIR(mode):
        raise DataError(path, "no such file (it is a folder)")
    if not stat.S_ISREG(mode):
        raise DataError(path, f"not a regular file (a device, FIFO or socket); give {kind} file")


def _check_file(path: str) -> None:
    """Refuse a missing, special or non-zip file before NumPy opens it (a single .npy array
    would be loaded whole)."""
    _regular(path, "an .npz")
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(np.lib.format.MAGIC_PREFIX))
    except OSError as exc:
        raise DataError(path, f"cannot read it ({exc.strerror or exc})") from None
    if head == np.lib.format.MAGIC_PREFIX:
        raise DataError(path, "is a single .npy array, not an .npz file; save X, Y (and W) "
                        "together with np.savez")
    if not head.startswith(b"PK"):
        raise DataError(path, "not a readable .npz file (not a zip of numeric arrays; save "
                        "with np.savez)")


def _header(path: str, zf: zipfile.ZipFile, member: str, key: str) -> Header:
    """Read and check the .npy header of ``member``: real numbers, and bytes (not just the
    count of values) within MAX_ARRAY_BYTES, so a tiny file cannot make NumPy allocate
    gigabytes (a compressed array of zeros, or a 50 MB void item)."""
    read = {(1, 0): np.lib.format.read_array_header_1_0,
            (2, 0): np.lib.format.read_array_header_2_0}
    with zf.open(member) as fp:
        version = np.lib.format.read_magic(fp)
        if version not in read:
            raise DataError(path, f"array {key!r} is in .npy format {version}; save with "
                            "np.savez (formats 1.0 and 2.0)")
        shape, _, dtype = read[version](fp)
    if dtype.hasobject:
        raise DataError(path, _PICKLED)
    if dtype.kind not in "iuf" or dtype.fields is not None or dtype.subdtype is not None:
        raise DataError(path, f"array {key!r} has dtype {str(dtype)[:80]}; expected real numbers")
    h = Header(tuple(int(n) for n in shape), dtype)
    if h.loaded_bytes > MAX_ARRAY_BYTES:
        raise DataError(path, f"array {key!r} holds {h.size:,} values "
                        f"({h.loaded_bytes / GIB:.1f} GiB as float64), more than the "
                        f"{MAX_ARRAY_BYTES >> 30} GiB read; check a subset of the samples")
    return h


def _shapes(path: str, h: dict[str, Header]) -> None:
    """Check the shapes the headers declare: X, Y (N, *), W a vector."""
    X, Y, W = h["X"].shape, h["Y"].shape, h["W"].shape if "W" in h else None
    if len(X) != 2 or len(Y) != 2:
        raise DataError(path, f"X and Y must be 2-D (samples x features); got shapes "
                        f"{X} and {Y}")
    if X[0] != Y[0]:
        raise DataError(path, f"X has {X[0]} rows but Y has {Y[0]}; "
                        "they must have one row per sample")
    if W is not None and not (len(W) == 1 or (len(W) == 2 and 1 in W)):
        raise DataError(path, f"W must be a vector (P,) or (P, 1); got shape {W}")


def all_headers(path: str) -> dict[str, Header]:
    """Check a file and the header of every array in it (nothing is loaded)."""
    _check_file(path)
    try:
        with zipfile.ZipFile(path) as zf:
            members = {n[:-4] if n.endswith(".npy") else n: n for n in zf.namelist()}
            return {k: _header(path, zf, m, k) for k, m in members.items()}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, RuntimeError,
            NotImplementedError) as exc:  # corrupt, encrypted, or an unknown compression
        raise DataError(path, f"not a readable .npz file ({exc})") from None


def read_npz(path: str) -> dict[str, Array]:
    """Load every array of an .npz file, in the file's order, each checked from its header
    first and then for its values (finite, not empty): integer arrays (labels) keep their
    integer dtype, the rest become float64."""
    headers = all_headers(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: (a.astype(headers[k].dtype) if headers[k].dtype.kind in "iu" else a)
                    for k in headers for a in (_array(path, z, k),)}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        if "pickle" in str(exc):  # NumPy's text would invite allow_pickle: say what is wrong
            raise DataError(path, _PICKLED) from None
        raise DataError(path, f"not a readable .npz file ({exc})") from None


def npz_headers(path: str) -> dict[str, Header]:
    """Check an .npz file from its headers alone and return those of X, Y (and W, if any).

    Refused before anything is loaded: a missing, special or non-zip file, a missing X or Y,
    a dtype that is not real numbers (object, void, structured, subarray, complex, text), an
    array over MAX_ARRAY_BYTES, and shapes that do not fit (X, Y 2-D with the same rows, W a
    vector)."""
    _check_file(path)
    try:
        with zipfile.ZipFile(path) as zf:
            members = {n[:-4] if n.endswith(".npy") else n: n for n in zf.namelist()}
            missing = [k for k in ("X", "Y") if k not in members]
            if missing:
                raise DataError(path, f"missing array(s) {', '.join(missing)}; the file holds "
                                f"{', '.join(members) or 'no arrays'} (need X and Y, W "
                                "optional)")
            headers = {k: _header(path, zf, members[k], k) for k in KEYS if k in members}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, RuntimeError,
            NotImplementedError) as exc:  # corrupt, encrypted, or an unknown compression
        raise DataError(path, f"not a readable .npz file ({exc})") from None
    _shapes(path, headers)
    return headers


def _array(path: str, z: np.lib.npyio.NpzFile, key: str) -> Array:
    a = z[key]
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "iuf":
        raise DataError(path, f"array {key!r} is not an array of real numbers")
    return _checked(path, key, a)


def _checked(path: str, key: str, a: Array) -> Array:
    """Return ``a`` as float64 if it holds real, finite values and is not empty."""
    if a.dtype == object or not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
        raise DataError(path, f"array {key!r} has dtype {a.dtype}; expected real numbers")
    a = a.astype(np.float64)
    if a.size == 0:
        raise DataError(path, f"array {key!r} is empty")
    if not np.all(np.isfinite(a)):
        bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        raise DataError(path, f"array {key!r} holds {bad} NaN or infinite value(s)")
    return a


def load_npz(path: str) -> tuple[Array, Array, Array | None]:
    """Load X (N, n_in), Y (N, n_out) and optional W (P,) from an .npz file (each checked
    from its header, ``npz_headers``, before it is read) or a .mat file."""
    if Path(path).suffix.lower() == ".mat":
        return _mat_cell(path)
    headers = npz_headers(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            X, Y = _array(path, z, "X"), _array(path, z, "Y")
            W = _array(path, z, "W") if "W" in headers else None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        if "pickle" in str(exc):  # NumPy's text would invite allow_pickle: say what is wrong
            raise DataError(path, _PICKLED) from None
        raise DataError(path, f"not a readable .npz file ({exc})") from None
    if W is not None and W.ndim == 2:
        W = W.ravel()
    return X, Y, W


def _mat_arrays(path: str) -> dict[str, Array]:
    """Load every variable of a MAT-file (``save -v7``): integer classes keep their dtype,
    the others become float64, shapes stay at least 2-D; each checked for its values."""
    _regular(path, "a .mat")
    out = {}
    for key, a in read_mat(path, MAX_ARRAY_BYTES).items():  # logical 0/1 become float64
        checked = _checked(path, key, a.astype(np.float64) if a.dtype == bool else a)
        out[key] = a if a.dtype.kind in "iu" else checked
    return out


def read_arrays(path: str) -> dict[str, Array]:
    """Load every array of a data file (.npz, or .mat as MATLAB's ``save -v7`` writes it),
    in the file's order, each checked."""
    return _mat_arrays(path) if Path(path).suffix.lower() == ".mat" else read_npz(path)


def data_headers(path: str) -> dict[str, Header]:
    """Return the shape and dtype of every array of a data file; an .npz is read from its
    headers alone, a .mat (bounded by MAX_ARRAY_BYTES per variable) is read."""
    if Path(path).suffix.lower() != ".mat":
        return all_headers(path)
    return {k: Header(tuple(a.shape), a.dtype) for k, a in _mat_arrays(path).items()}


def cell_headers(path: str) -> dict[str, Header]:
    """Return the headers of X, Y (and W) of a built-in cell's data file, checked."""
    if Path(path).suffix.lower() != ".mat":
        return npz_headers(path)
    X, Y, W = _mat_cell(path)
    arrays = {"X": X, "Y": Y} | ({"W": W} if W is not None else {})
    return {k: Header(tuple(a.shape), a.dtype) for k, a in arrays.items()}


def _mat_cell(path: str) -> tuple[Array, Array, Array | None]:
    """Load X, Y (and W) of a built-in cell from a .mat file, with the shapes an .npz needs."""
    arrays = _mat_arrays(path)
    missing = [k for k in ("X", "Y") if k not in arrays]
    if missing:
        raise DataError(path, f"missing array(s) {', '.join(missing)}; the file holds "
                        f"{', '.join(arrays) or 'no arrays'} (need X and Y, W optional)")
    _shapes(path, {k: Header(tuple(a.shape), a.dtype) for k, a in arrays.items() if k in KEYS})
    W = arrays["W"].astype(np.float64).ravel() if "W" in arrays else None
    return arrays["X"].astype(np.float64), arrays["Y"].astype(np.float64), W
