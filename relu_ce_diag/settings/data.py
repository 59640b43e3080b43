"""Inputs, targets and weights: generated from a seed, or loaded from an .npz or .mat file."""

from __future__ import annotations

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


def _declared_size(z: np.lib.npyio.NpzFile, key: str) -> int:
    """Return the element count an array's .npy header declares (0 if it cannot be read)."""
    if z.zip is None:
        return 0
    try:
        with z.zip.open(f"{key}.npy") as fp:
            version = np.lib.format.read_magic(fp)
            read = {(1, 0): np.lib.format.read_array_header_1_0,
                    (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            shape = read(fp)[0] if read is not None else ()
    except (KeyError, OSError, ValueError, zipfile.BadZipFile, EOFError):
        return 0  # the full read below reports what is wrong
    return int(np.prod(shape, dtype=object)) if shape else 1


def _array(path: str, z: np.lib.npyio.NpzFile, key: str) -> Array:
    # A compressed .npz of zeros can declare terabytes in a few kilobytes: check the header
    # before NumPy allocates it (a gradient check needs a few hundred samples, not millions).
    n = _declared_size(z, key)
    if n * 8 > MAX_ARRAY_BYTES:
        raise DataError(path, f"array {key!r} holds {n:,} values ({n * 8 / (1 << 30):.1f} GiB "
                        f"as float64), more than the {MAX_ARRAY_BYTES >> 30} GiB read; check a "
                        "subset of the samples")
    return _checked(path, key, z[key])


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


def read_npz(path: str) -> dict[str, Array]:
    """Load every array of an .npz file, in the file's order, each checked (real, finite, not
    empty, not too large): integer arrays (labels) keep their integer dtype, the rest become
    float64."""
    p = Path(path)
    if not p.is_file():
        raise DataError(path, "no such file")
    try:
        with np.load(p, allow_pickle=False) as z:
            out = {}
            for key in z.files:
                a = _array(path, z, key)
                kind = z[key].dtype.kind
                out[key] = a.astype(z[key].dtype) if kind in "iub" else a
            return out
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        if "pickle" in str(exc):  # NumPy's text would invite allow_pickle: say what is wrong
            raise DataError(path, "not a readable .npz file (not a zip of numeric arrays; "
                            "object arrays and pickled data are refused; save with np.savez)"
                            ) from None
        raise DataError(path, f"not a readable .npz file ({exc})") from None


def read_arrays(path: str) -> dict[str, Array]:
    """Load every array of a data file, in the file's order, each checked as ``read_npz``
    checks them: a MAT-file (``.mat``, as ``save -v7`` writes it: integer classes keep their
    dtype, the others become float64, shapes stay at least 2-D) or an ``.npz`` file."""
    if Path(path).suffix.lower() != ".mat":
        return read_npz(path)
    if not Path(path).is_file():
        raise DataError(path, "no such file")
    out = {}
    for key, a in read_mat(path, MAX_ARRAY_BYTES).items():  # logical 0/1 become float64
        checked = _checked(path, key, a.astype(np.float64) if a.dtype == bool else a)
        out[key] = a if a.dtype.kind in "iu" else checked
    return out


def load_npz(path: str) -> tuple[Array, Array, Array | None]:
    """Load X (N, n_in), Y (N, n_out) and optional W (P,) from an .npz or .mat file; check
    shapes."""
    arrays = read_arrays(path)
    missing = [k for k in ("X", "Y") if k not in arrays]
    if missing:
        raise DataError(path, f"missing array(s) {', '.join(missing)}; the file holds "
                        f"{', '.join(arrays) or 'no arrays'} (need X and Y, W optional)")
    X, Y = arrays["X"].astype(np.float64), arrays["Y"].astype(np.float64)
    W = arrays["W"].astype(np.float64) if "W" in arrays else None
    if X.ndim != 2 or Y.ndim != 2:
        raise DataError(path, f"X and Y must be 2-D (samples x features); got shapes "
                        f"{X.shape} and {Y.shape}")
    if X.shape[0] != Y.shape[0]:
        raise DataError(path, f"X has {X.shape[0]} rows but Y has {Y.shape[0]}; "
                        "they must have one row per sample")
    if W is not None:
        if W.ndim == 2 and 1 in W.shape:
            W = W.ravel()
        if W.ndim != 1:
            raise DataError(path, f"W must be a vector (P,) or (P, 1); got shape {W.shape}")
    return X, Y, W
