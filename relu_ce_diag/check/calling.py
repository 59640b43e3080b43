"""How a user's function is called, and what it may return: the one adapter for every form.

* the flat form ``f, df = fn(W, X, Y)`` (the seed's), df shaped like W;
* named blocks ``loss, grads = fn(params, X, Y)`` with ``params`` a dict of fresh copies and
  ``grads`` a dict of the same keys (``dW1`` for ``W1`` is accepted too) or a list/tuple in the
  same order, each shaped exactly like its parameter;
* extra arguments bound by name (``--arg lam=3``; anything else the function takes, the rest
  being W, X, Y in the order it declares them);
* a separate gradient function (``--grad``, the ``fun``/``jac`` style): the perturbed calls
  then evaluate the loss alone;
* a tuple of more than two values: the first two are the loss and the gradient.

Whatever cannot be used becomes a ``UserFunctionError`` naming the function, the key and both
shapes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from relu_ce_diag.check.userfn import as_loss, as_numbers, raised, users_turn
from relu_ce_diag.errors import UserFunctionError
from relu_ce_diag.settings.params import Point

Array = np.ndarray
GRAD_SPELLINGS = ("{}", "d{}", "d_{}", "grad_{}", "{}_grad")


@dataclass(frozen=True)
class Call:
    """One evaluation: the loss ``f`` as a float and the gradient ``df`` (P,), with the dtypes
    the function returned them in."""

    f: float
    df: Array
    f_dtype: np.dtype
    df_dtype: np.dtype


def _binder(fn: Callable[..., Any], args: Mapping[str, object], label: str,
            ) -> Callable[[object, Array, Array], Any]:
    """Return call(first, X, Y) -> fn(...): the extra ``args`` by name, and the first three
    parameters without a value (in declared order) get the parameters, X and Y."""
    if not args:
        return lambda w, X, Y: fn(w, X, Y)
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return lambda w, X, Y: fn(w, X, Y, **args)
    params = sig.parameters
    takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
    unknown = [k for k in args if k not in params and not takes_kwargs]
    if unknown:
        raise UserFunctionError(f"{label} takes no argument {unknown[0]!r} (--arg); it takes "
                                f"{', '.join(params) or 'none'}")
    free = [p for p in params.values() if p.name not in args
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is p.empty]
    if len(free) != 3:
        left = ", ".join(p.name for p in free) or "nothing"
        raise UserFunctionError(f"{label}: with the --arg values given, {left} remain; exactly "
                                "three (the parameters, X and Y) must, the others given by --arg "
                                "NAME=VALUE")
    names = [p.name for p in free]
    return lambda w, X, Y: fn(**{names[0]: w, names[1]: X, names[2]: Y}, **args)


class UserCode:
    """A user's function made uniform: ``value_and_grad(W)`` and ``loss(W)`` on the flat
    vector W (P,), whatever its form; ``extra_values`` counts what a longer tuple returned.
    Each call gets fresh copies, prints to stderr, and runs in ``errstate`` (the NumPy error
    state its module set), relu-diag's own being restored afterwards."""

    def __init__(self, fn: Callable[..., Any], point: Point, label: str, *,
                 args: Mapping[str, object] | None = None,
                 grad: Callable[..., Any] | None = None,
                 errstate: Mapping[str, Any] | None = None) -> None:
        self.point, self.label = point, label
        self.args = dict(args or {})
        self.errstate = dict(errstate or {})  # the NumPy error state the user's module set
        self.extra_values = 0
        self._fn = _binder(fn, self.args, label)
        self._grad = _binder(grad, self.args, label) if grad is not None else None

    def _first(self, W: Array) -> object:
        p = self.point
        if p.named:
            return p.unflatten(W)
        return W.reshape(p.W.shape).copy()

    def _invoke(self, call: Callable[[object, Array, Array], Any], W: Array, where: str) -> Any:
        try:
            with users_turn(self.errstate):
                return call(self._first(W), self.point.X.copy(), self.point.Y.copy())
        except (UserFunctionError, KeyboardInterrupt):
            raise
        except BaseException as exc:  # the user's code (sys.exit, GeneratorExit...): one line
            raise raised(f"raised by {self.label} {where}{self._dict_hint(exc)}", exc) from None

    def _dict_hint(self, exc: BaseException) -> str:
        """Say that the first argument was a dict, when a type error may come from it: the
        data file's arrays chose the named form (W beside W1, say) for a function of W."""
        p = self.point
        if not p.named or not isinstance(exc, (TypeError, AttributeError, IndexError)):
            return ""
        names = ", ".join(b.name for b in p.layout.blocks)
        return (f"; its first argument was a dict of the data file's parameters ({names}): if "
                "it takes one flat W, the data file must hold W, X and Y alone")

    def _split(self, out: Any) -> tuple[object, object]:
        """Return (loss, gradient) from what the function returned."""
        if self._grad is not None and not isinstance(out, (tuple, list)):
            return out, None
        if not isinstance(out, (tuple, list)) or len(out) < 2:
            got = f"a {type(out).__name__}" + (f" of length {len(out)}"
                                               if isinstance(out, (tuple, list)) else "")
            form = "(loss, grads)" if self.point.named else "(f, df)"
            raise UserFunctionError(f"{self.label}: must return {form}; got {got}")
        self.extra_values = max(self.extra_values, len(out) - 2)
        return out[0], out[1]

    def loss(self, W: Array, where: str) -> tuple[float, np.dtype]:
        """Return f at W (P,) and its dtype."""
        f, _ = self._split(self._invoke(self._fn, W, where))
        return as_loss(f, self.label)

    def value_and_grad(self, W: Array, where: str = "at W") -> Call:
        """Return f and df (P,) at W (P,)."""
        f, g = self._split(self._invoke(self._fn, W, where))
        if self._grad is not None:
            g = self._invoke(self._grad, W, where)
        value, f_dtype = as_loss(f, self.label)
        df = self._flat_grad(g)
        return Call(value, df, f_dtype, df.dtype)

    def _flat_grad(self, g: object) -> Array:
        """Return the gradient as one flat vector (P,) in the point's layout."""
        p = self.point
        if not p.named:
            return _as_grad(g, p.W.size, p.W.shape, self.label)
        assert p.params is not None
        if isinstance(g, Mapping):
            parts = [_pick(g, name, self.label) for name in p.params]
        elif isinstance(g, (tuple, list)) and len(g) == len(p.params):
            parts = list(g)
        else:
            raise UserFunctionError(f"{self.label}: grads must be a dict with the keys of params "
                                    f"({', '.join(p.params)}) or a list of {len(p.params)} "
                                    f"arrays in that order; got a {type(g).__name__}")
        flat = []
        for name, shape, part in zip(p.params, p.shapes, parts, strict=True):
            arr = as_numbers(part, f"grads[{name!r}]", self.label)
            if arr.shape != shape:
                raise UserFunctionError(f"{self.label}: grads[{name!r}] has shape {arr.shape} "
                                        f"but params[{name!r}] has shape {shape}"
                                        + _shape_hint(arr, shape, np.shape(p.X), np.shape(p.Y)))
            flat.append(arr.ravel())
        return np.concatenate(flat)


def _shape_hint(arr: Array, shape: tuple[int, ...], x_shape: tuple[int, ...],
                y_shape: tuple[int, ...]) -> str:
    """Say what a gradient of the wrong shape most likely is: a sum over the wrong axis
    (one value per sample: the axis X shares with the targets, and not one X's other)."""
    samples = set(x_shape) & set(y_shape)
    if (arr.size != int(np.prod(shape)) and len(x_shape) == 2 and arr.size in samples
            and x_shape.count(arr.size) == 1 and arr.ndim <= 2):
        return (f"; its {arr.size} values are one per sample: a sum over the wrong axis? A bias "
                "gradient sums over the samples (axis=0 when X holds samples as rows, axis=1 "
                "when as columns)")
    return ""


def _pick(g: Mapping[str, object], name: str, label: str) -> object:
    """Return the gradient of parameter ``name`` from a dict (``W1`` or ``dW1``, ...)."""
    for spelling in GRAD_SPELLINGS:
        if spelling.format(name) in g:
            return g[spelling.format(name)]
    raise UserFunctionError(f"{label}: grads has no {name!r} (nor 'd{name}'); it holds "
                            f"{', '.join(map(str, g)) or 'nothing'}")


def _as_grad(value: object, P: int, shape: tuple[int, ...], label: str) -> Array:
    """Convert a returned flat-form gradient to (P,) or raise naming its shape or dtype."""
    arr = as_numbers(value, "df", label)
    if arr.shape not in (shape, (P,), (P, 1), (1, P)):
        raise UserFunctionError(f"{label}: df has shape {arr.shape} but W has shape {shape}; "
                                "df must be shaped like W (column-major vec of the weights)")
    return arr.reshape(P)
