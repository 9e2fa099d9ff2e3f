"""The bridge: symbolic gradients, lambdified to JAX, against ``jax.grad`` of the numeric network.

It answers one question: do the two halves mean the same network? :func:`compare_on_paths`
(several numeric paths) and :func:`compare_gradients` (one) evaluate the lambdified SymPy
gradient of a :class:`~symjax.symbolic.SymbolicMLP` (:func:`lambdify_gradient`) and ``jax.grad``
of the loss of :mod:`symjax.numeric.net` (:func:`numeric_gradient`) at the same
:func:`random_points`, ``jit(vmap(.))`` in float64, and report the largest
:func:`relative_differences` as a :class:`GradientComparison` per path. A mismatch in any
definition (an activation, the loss, the reduction over samples, the dropout masks, the
parameter order, a hand-written VJP) shows up many orders of magnitude above :data:`TOLERANCE`.

With :mod:`symjax.symbolic.jaxpr`, this is where the symbolic half meets JAX; ``import
symjax.symbolic`` imports neither. Import it by name::

    from symjax.experiments.bridge import compare_gradients
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp

from ..base.choices import ACTIVATIONS, LOSSES
from ..base.errors import InputError, choose
from ..numeric.net import (
    Net,
    exact_form,
    from_matrices,
    matmul_loss,
    scalar_loss,
    to_leaves,
    to_matrices,
    vector_loss,
)
from ..symbolic._network import SymbolicMLP

#: What ``path`` may name: the exact path (in the layout that
#: :func:`symjax.numeric.net.exact_form` picks, as in training), the matmul path, or one of the
#: exact path's two layouts explicitly.
PATHS = ("exact", "matmul", "scalar", "vector")
#: Number of random points used when none is given.
DEFAULT_POINTS = 1000
#: Largest relative difference at which the halves agree, in float64. Correct definitions give
#: at most 5e-14 (measured on 13 networks x 3 numeric forms x 6 seeds); a wrong one (a swapped
#: pair of gradients, another activation, sum for mean) gives 1e-3 to 1.
TOLERANCE = 1e-10

#: ``(params, inputs, targets, masks) -> gradient`` at one point; see :func:`lambdify_gradient`.
GradientFn = Callable[[jax.Array, jax.Array, jax.Array, jax.Array], jax.Array]


@dataclass(frozen=True)
class Points:
    """Random evaluation points, float64 NumPy arrays with the point on the leading axis.

    Attributes:
      params: ``(n, n_params)`` parameters in the shared order.
      inputs: ``(n, samples, n_in)``.
      targets: ``(n, samples, n_out)``.
      masks: ``(n, n_masks)`` values of the dropout mask symbols in the order of
        :func:`mask_symbols` (``n_masks = 0`` without dropout).
    """

    params: np.ndarray
    inputs: np.ndarray
    targets: np.ndarray
    masks: np.ndarray


def _check_concrete(net: SymbolicMLP) -> None:
    """Raise unless ``net`` is a :class:`SymbolicMLP` that can be lambdified."""
    if not isinstance(net, SymbolicMLP):
        raise InputError(f"expected a SymbolicMLP, got {type(net).__name__}")
    need = "(the bridge lambdifies concrete functions only)"
    choose(f"activation {need}", net.activation, ACTIVATIONS)
    choose(f"output activation {need}", net.output_activation, ACTIVATIONS)
    choose(f"loss {need}", net.loss, LOSSES)
    if net.loss == "bce" and net.output_activation != "sigmoid":
        raise InputError(f"loss 'bce' needs outputs in (0, 1): use output_activation "
                         f"'sigmoid', got {net.output_activation!r}")


def _masks(net: SymbolicMLP) -> list[list[sp.Expr]]:
    """The dropout mask of every hidden unit (rows, layer by layer) and sample (columns)."""
    return [[net.mask(layer, unit, s) for s in net.samples_range]
            for layer in net.layout.hidden_layers for unit in range(1, net.widths[layer] + 1)]


def mask_symbols(net: SymbolicMLP) -> tuple[sp.Symbol, ...]:
    """The dropout mask symbols of ``net``, sample by sample (empty without dropout)."""
    by_sample = zip(*_masks(net))
    return tuple(dict.fromkeys(m for column in by_sample for m in column if m.is_Symbol))


def _mask_index(net: SymbolicMLP) -> np.ndarray:
    """``(n_hidden_units, samples)``: position in :func:`mask_symbols` of each numeric mask."""
    position = {m: i for i, m in enumerate(mask_symbols(net))}
    return np.array([[position[m] for m in row] for row in _masks(net)],
                    dtype=np.int32).reshape(-1, net.samples)


def _arguments(net: SymbolicMLP) -> list[sp.Symbol]:
    """Every symbol a gradient may contain: parameters, inputs, targets, masks (this order)."""
    n_in, n_out = net.widths[0], net.widths[-1]
    inputs = [net.x(i, s) for s in net.samples_range for i in range(1, n_in + 1)]
    targets = [net.y(k, s) for s in net.samples_range for k in range(1, n_out + 1)]
    return [*net.param_symbols, *inputs, *targets, *mask_symbols(net)]


def _sigmoid_complement(expr: sp.Expr) -> sp.Expr | None:
    """``exp(u)/(1 + exp(u))`` if ``expr`` is ``1 - 1/(1 + exp(u))``, else ``None``."""
    if not (expr.is_Add and len(expr.args) == 2 and sp.S.One in expr.args):
        return None
    e = -1 / (expr - 1) - 1
    return e / (1 + e) if isinstance(e, sp.exp) else None


def stable_form(expr: sp.Expr) -> sp.Expr:
    """``expr`` with ``1 - 1/(1 + exp(u))`` rewritten as ``exp(u)/(1 + exp(u))`` (exactly equal).

    One minus the sigmoid of a large output ``z`` (``u = -z``) cancels catastrophically in
    float64: ``1 - sigmoid(18)`` is about ``1.5e-8``, so only 8 of its digits survive, and the
    gradient of ``bce`` inherits the loss. The rewritten form keeps full relative precision. It
    is the only rewrite the bridge applies before lambdifying.

    >>> z = sp.Symbol("z", real=True)
    >>> stable_form(1 - 1 / (1 + sp.exp(-z))) == sp.exp(-z) / (1 + sp.exp(-z))
    True
    """
    swap = {}
    for add in expr.atoms(sp.Add):
        stable = _sigmoid_complement(add)
        if stable is not None:
            swap[add] = stable
    return expr.xreplace(swap)


def lambdify_gradient(
    net: SymbolicMLP, gradient: Mapping[str, sp.Expr] | None = None
) -> GradientFn:
    """The symbolic gradient of ``net`` (concrete activations and loss) as a JAX function of one
    point: ``f(params, inputs, targets, masks) -> (n_params,)``, the arguments shaped as one
    point of :class:`Points`; pure (it runs under ``jit`` and ``vmap``), float64 on float64
    arrays with x64 enabled.

    ``gradient``: ``{parameter name: expression}`` in the symbols of ``net`` for every
    parameter, instead of ``net.gradient()``: a hand-derived chain rule, or the gradient of
    another network of the same widths, to check against ``jax.grad``.

    Raises:
      InputError: for an undefined activation or loss (naming the allowed choices), or a
        ``gradient`` with missing or unknown parameters or foreign symbols.
    """
    _check_concrete(net)
    names = net.layout.names
    if gradient is None:
        gradient = net.gradient()
    elif sorted(gradient) != sorted(names):
        raise InputError(
            f"gradient must give one expression per parameter ({net.layout.names_summary()}), "
            f"got {', '.join(map(str, gradient))}"
        )
    exprs = [stable_form(sp.sympify(gradient[name])) for name in names]
    args = _arguments(net)
    foreign = set().union(*(e.free_symbols for e in exprs)) - set(args)
    if foreign:
        raise InputError(
            f"gradient uses symbols {', '.join(sorted(map(str, foreign)))} that are not "
            f"parameters or data of {net!r}"
        )
    f = sp.lambdify(args, exprs, modules="jax", cse=True)

    def fn(params, inputs, targets, masks):
        values = [*params, *inputs.reshape(-1), *targets.reshape(-1), *masks]  # as _arguments
        return jnp.stack([jnp.asarray(g, params.dtype) for g in f(*values)])

    return fn


def _numeric_net(net: SymbolicMLP) -> Net:
    """The numeric :class:`~symjax.numeric.net.Net` of ``net``'s widths, functions, reduction."""
    return Net(net.widths, net.activation, net.output_activation, net.loss, net.reduction)


def numeric_form(net: SymbolicMLP, path: str = "exact") -> str:
    """The form of :mod:`symjax.numeric.net` that ``path`` (one of :data:`PATHS`) runs for
    ``net``: scalar, vector or matmul."""
    choose("path", path, PATHS)
    if path == "exact":
        return exact_form(_numeric_net(net), net.samples)
    return path


def numeric_gradient(net: SymbolicMLP, *, path: str = "exact") -> GradientFn:
    """``jax.grad`` of the loss of :mod:`symjax.numeric.net` for the network, data and dropout
    masks of ``net``, with the signature of :func:`lambdify_gradient`'s function.

    ``path``: ``"exact"`` (fixed-order sums, in the layout training uses for this network),
    ``"matmul"`` (``x @ W.T + b``), or ``"scalar"``/``"vector"`` (one layout of the exact path,
    whatever the size).
    """
    _check_concrete(net)
    numeric, form = _numeric_net(net), numeric_form(net, path)
    index = _mask_index(net) if net.dropout else None

    def fn(params, inputs, targets, masks):
        m = None if index is None else masks[index]
        if form == "scalar":
            return jnp.stack(jax.grad(lambda leaves: scalar_loss(
                numeric, leaves, inputs, targets, m))(to_leaves(params)))
        loss = vector_loss if form == "vector" else matmul_loss
        return from_matrices(jax.grad(lambda mats: loss(numeric, mats, inputs, targets, m))(
            to_matrices(numeric, params)))

    return fn


def random_points(net: SymbolicMLP, n: int = DEFAULT_POINTS, *, seed: int = 0) -> Points:
    """``n`` random points for ``net``'s gradient, from NumPy's ``default_rng(seed)`` (so they do
    not depend on JAX's PRNG settings).

    Inputs are standard normal; the weights and biases of a layer normal with variance
    ``1 / fan_in`` (pre-activations of variance of order 1 at every depth, as after a LeCun
    init, so saturated units, where float64 itself loses digits, stay rare); targets standard
    normal for the squared error and uniform in ``[0, 1]`` for ``bce``; dropout masks uniform in
    ``[0, 2)`` (both gradients are polynomials in the masks, so any values test them). The
    points hit the kinks of ``relu`` and ``leaky_relu`` with probability zero: the conventions
    there (``relu'(0) = 0``, ``leaky_relu'(0) = 1``) are checked at exact zeros by the tests.
    """
    _check_concrete(net)
    rng = np.random.default_rng(seed)
    m, n_in, n_out = net.samples, net.widths[0], net.widths[-1]
    fan_in = np.array([net.widths[p.layer - 1] for p in net.layout.params], dtype=np.float64)
    params = rng.standard_normal((n, net.layout.n_params)) / np.sqrt(fan_in)
    inputs = rng.standard_normal((n, m, n_in))
    if net.loss == "bce":
        targets = rng.uniform(0.0, 1.0, (n, m, n_out))
    else:
        targets = rng.standard_normal((n, m, n_out))
    masks = rng.uniform(0.0, 2.0, (n, len(mask_symbols(net))))
    return Points(params, inputs, targets, masks)


def evaluate(fn: GradientFn, points: Points) -> np.ndarray:
    """``fn`` at every point, ``jit(vmap(fn))`` in float64: ``(n_points, n_params)``."""
    with jax.enable_x64(True):
        batched = jax.jit(jax.vmap(fn))
        return np.asarray(batched(points.params, points.inputs, points.targets, points.masks))


def relative_differences(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Differences of two ``(n_points, n_params)`` gradients relative to the gradient's size.

    The size at a point is its largest finite component on either side; the divisor is that
    size, but at least the median size over the points: a component near zero, or a point where
    the gradient nearly cancels (an output close to its target, per-sample gradients of opposite
    signs), is computed by both sides only to the rounding of its terms, and dividing by its own
    size would report that rounding as a disagreement. Entries are ``inf`` where either side is
    not finite, ``0`` where both are exactly equal.

    Sizes 1, 2e-9 and 2 below: the median 1 divides the differences at the second point.

    >>> a = np.array([[1.0, 0.5], [1e-9, 0.0], [2.0, 0.0]])
    >>> relative_differences(a, a + [[0.0, 0.25], [1e-9, 0.0], [0.0, np.nan]])
    array([[0.0e+00, 2.5e-01],
           [1.0e-09, 0.0e+00],
           [0.0e+00,     inf]])
    """
    diff = np.abs(a - b)
    magnitude = np.fmax(np.abs(a), np.abs(b))
    size = np.max(np.where(np.isfinite(magnitude), magnitude, 0.0), axis=1, keepdims=True)
    scale = np.maximum(size, np.median(size))
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(diff == 0, 0.0, diff / scale)
    return np.where(np.isfinite(rel), rel, np.inf)


@dataclass(frozen=True)
class ParamDifference:
    """Largest differences in one parameter's gradient component over all points."""

    name: str
    max_rel: float
    max_abs: float


@dataclass(frozen=True)
class GradientComparison:
    """Symbolic gradient against ``jax.grad`` of the numeric loss at random points.

    Attributes:
      widths, activation, output_activation, loss, samples, reduction, dropout: the network.
      path: the numeric path asked for; form: the form that ran (scalar, vector or matmul).
      points: number of random points; seed: the seed of :func:`random_points`.
      tolerance: largest relative difference accepted.
      max_rel: largest relative difference over every point and parameter (see
        :func:`relative_differences`); ``inf`` if either side was not finite somewhere.
      max_abs: largest absolute difference.
      worst_param: the parameter with ``max_rel``; worst_point: the index of its point.
      per_param: largest differences for each parameter, in the shared order.
    """

    widths: tuple[int, ...]
    activation: str
    output_activation: str
    loss: str
    samples: int
    reduction: str
    dropout: str | None
    path: str
    form: str
    points: int
    seed: int
    tolerance: float
    max_rel: float
    max_abs: float
    worst_param: str
    worst_point: int
    per_param: tuple[ParamDifference, ...]

    @property
    def agrees(self) -> bool:
        """Whether the largest relative difference is at most :attr:`tolerance`."""
        return self.max_rel <= self.tolerance

    @property
    def network(self) -> str:
        """The network in words: ``2-2-1 tanh/sigmoid squared_error, samples=1 (mean)``."""
        return (f"{'-'.join(map(str, self.widths))} {self.activation}/{self.output_activation} "
                f"{self.loss}, samples={self.samples} ({self.reduction})"
                + (f", dropout={self.dropout}" if self.dropout else ""))

    def __str__(self) -> str:
        verdict = "agrees" if self.agrees else "DISAGREES"
        path = f"{self.path} path" + (f" ({self.form})" if self.form != self.path else "")
        return (f"{self.network}, {path}: {verdict} over {self.points} points (seed {self.seed}): "
                f"max relative difference {self.max_rel:.2e} ({self.worst_param}, point "
                f"{self.worst_point}), max absolute {self.max_abs:.2e}, tolerance "
                f"{self.tolerance:.0e}")

    def to_dict(self) -> dict[str, Any]:
        """Every field plus ``agrees``, JSON-ready (infinities as the string ``"inf"``)."""
        d = asdict(self)
        d["widths"] = list(self.widths)
        for entry in [d, *d["per_param"]]:
            for key in ("max_rel", "max_abs"):
                if not math.isfinite(entry[key]):
                    entry[key] = "inf"
        d["agrees"] = self.agrees
        return d


def _comparison(net: SymbolicMLP, path: str, g_sym: np.ndarray, g_num: np.ndarray, *,
                seed: int, tolerance: float) -> GradientComparison:
    """Summarize the ``(n_points, n_params)`` gradients of both sides."""
    rel = relative_differences(g_sym, g_num)
    absolute = np.abs(g_sym - g_num)
    absolute = np.where(np.isfinite(absolute), absolute, np.inf)
    worst_point, worst = np.unravel_index(np.argmax(rel), rel.shape)
    names = net.layout.names
    return GradientComparison(
        widths=net.widths, **net.options, path=path, form=numeric_form(net, path),
        points=rel.shape[0], seed=seed, tolerance=tolerance, max_rel=float(rel.max()),
        max_abs=float(absolute.max()), worst_param=names[worst], worst_point=int(worst_point),
        per_param=tuple(ParamDifference(name, float(rel[:, i].max()), float(absolute[:, i].max()))
                        for i, name in enumerate(names)))


def compare_on_paths(net: SymbolicMLP, paths: tuple[str, ...] = ("exact", "matmul"), *,
                     points: int = DEFAULT_POINTS, seed: int = 0, tolerance: float = TOLERANCE,
                     gradient: Mapping[str, sp.Expr] | None = None
                     ) -> tuple[GradientComparison, ...]:
    """Compare the symbolic gradient of ``net`` with ``jax.grad`` of the numeric loss on each path.

    Both sides are evaluated with ``jit(vmap(.))`` in float64 (x64 is enabled for the duration of
    each evaluation and restored after it) at the same ``points`` :func:`random_points` of
    ``seed``; the symbolic side once for all paths (:data:`PATHS`). ``gradient``: see
    :func:`lambdify_gradient`.

    Returns:
      One :class:`GradientComparison` per path, in the order of ``paths``; its ``agrees``
      (largest relative difference at most ``tolerance``) decides.

    Raises:
      InputError: for an undefined activation or loss (naming the allowed choices), ``bce``
        without a sigmoid output, an unknown path, a bad number of points, seed or tolerance,
        or a bad ``gradient``.
    """
    if isinstance(points, bool) or not isinstance(points, numbers.Integral) or points < 1:
        raise InputError(f"points must be a positive integer, got {points!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(tolerance, bool) or not isinstance(tolerance, numbers.Real) or not tolerance > 0:
        raise InputError(f"tolerance must be a positive number, got {tolerance!r}")
    numeric = [numeric_gradient(net, path=path) for path in paths]
    at = random_points(net, int(points), seed=int(seed))
    g_sym = evaluate(lambdify_gradient(net, gradient), at)
    return tuple(_comparison(net, path, g_sym, evaluate(fn, at), seed=int(seed),
                             tolerance=float(tolerance)) for path, fn in zip(paths, numeric))


def compare_gradients(net: SymbolicMLP, *, path: str = "exact", points: int = DEFAULT_POINTS,
                      seed: int = 0, tolerance: float = TOLERANCE,
                      gradient: Mapping[str, sp.Expr] | None = None) -> GradientComparison:
    """Compare the symbolic gradient of ``net`` with ``jax.grad`` of the numeric loss on one path.

    Args and errors as :func:`compare_on_paths`, with a single ``path``.

    Returns:
      A :class:`GradientComparison`; its ``agrees`` decides.

    Examples:
      >>> from symjax.symbolic import SymbolicMLP
      >>> net = SymbolicMLP((2, 2, 1), activation="tanh", output_activation="sigmoid",
      ...                   loss="squared_error")
      >>> compare_gradients(net, points=100).agrees
      True
    """
    return compare_on_paths(net, (path,), points=points, seed=seed, tolerance=tolerance,
                            gradient=gradient)[0]
