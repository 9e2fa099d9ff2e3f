"""The bridge: symbolic gradients, lambdified to JAX, against ``jax.grad`` of the numeric network.

This is the one module of :mod:`symjax.symbolic` that imports JAX and the numeric half
(DESIGN.md); ``import symjax.symbolic`` does not import it. Import it by name::

    from symjax.symbolic.bridge import compare_gradients

It answers one question: do the two halves mean the same network? :func:`lambdify_gradient`
turns the SymPy gradient of a :class:`~symjax.symbolic.SymbolicMLP` (concrete activations and
loss only) into a JAX function; :func:`numeric_gradient` is ``jax.grad`` of the loss of
:mod:`symjax._net` on either computation path; :func:`compare_gradients` evaluates both at random
points with ``jit(vmap(.))`` in float64 and reports the largest differences as a
:class:`GradientComparison`. A mismatch in any definition (an activation, its derivative at a
kink, the loss, the reduction over samples, the dropout masks or the parameter order) shows up as
a relative difference far above :data:`TOLERANCE`.

Random points (:func:`random_points`, NumPy ``default_rng(seed)``, so they do not depend on JAX's
PRNG settings): parameters and inputs standard normal; targets standard normal for the squared
error and uniform in ``[0, 1]`` for ``bce``; dropout masks uniform in ``[0, 2)`` (both gradients
are polynomials in the masks, so any values test them). Random points hit the kinks of
``relu``/``leaky_relu`` with probability zero; the conventions there (``relu'(0) = 0``,
``leaky_relu'(0) = 1``) are checked at exact zeros by the tests.

Relative difference of one gradient component at one point:
``|g_sym - g_num| / max(|g_sym|, |g_num|)``, and ``0`` where both are exactly zero (a dead relu
unit); NaN or infinity on either side counts as an infinite difference.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp

from .._choices import ACTIVATIONS, LOSSES
from .._errors import InputError, choose
from .._net import Net, exact_loss, from_matrices, matmul_loss, to_leaves, to_matrices
from ._network import SymbolicMLP

#: The numeric computation paths of :mod:`symjax._net`.
PATHS = ("exact", "matmul")
#: Number of random points used when none is given.
DEFAULT_POINTS = 1000
#: Largest relative difference at which the halves agree (float64; measured differences are
#: below 1e-13, a wrong definition gives differences of order 1).
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

    def __len__(self) -> int:
        return self.params.shape[0]


def _check_concrete(net: SymbolicMLP) -> None:
    if not isinstance(net, SymbolicMLP):
        raise InputError(f"expected a SymbolicMLP, got {type(net).__name__}")
    choose("activation (the bridge needs a concrete one)", net.activation, ACTIVATIONS)
    choose("output activation (the bridge needs a concrete one)", net.output_activation,
           ACTIVATIONS)
    choose("loss (the bridge needs a concrete one)", net.loss, LOSSES)
    if net.loss == "bce" and net.output_activation != "sigmoid":
        raise InputError(
            f"loss 'bce' needs outputs in (0, 1): use output_activation 'sigmoid', "
            f"got {net.output_activation!r}"
        )


def mask_symbols(net: SymbolicMLP) -> tuple[sp.Symbol, ...]:
    """The dropout mask symbols of ``net``, sample by sample (empty without dropout)."""
    out: dict[sp.Symbol, None] = {}
    for s in net.samples_range:
        for layer in net.layout.hidden_layers:
            for unit in range(1, net.widths[layer] + 1):
                m = net.mask(layer, unit, s)
                if m.is_Symbol:
                    out[m] = None
    return tuple(out)


def _mask_index(net: SymbolicMLP) -> np.ndarray:
    """``(n_hidden_units, samples)`` position in :func:`mask_symbols` of each numeric mask."""
    position = {m: i for i, m in enumerate(mask_symbols(net))}
    return np.array(
        [
            [position[net.mask(layer, unit, s)] for s in net.samples_range]
            for layer in net.layout.hidden_layers
            for unit in range(1, net.widths[layer] + 1)
        ],
        dtype=np.int32,
    ).reshape(-1, net.samples)


def _arguments(net: SymbolicMLP) -> list[sp.Symbol]:
    """Every symbol a gradient may contain: parameters, inputs, targets, masks (this order)."""
    n_in, n_out = net.widths[0], net.widths[-1]
    inputs = [net.x(i, s) for s in net.samples_range for i in range(1, n_in + 1)]
    targets = [net.y(k, s) for s in net.samples_range for k in range(1, n_out + 1)]
    return [*net.param_symbols, *inputs, *targets, *mask_symbols(net)]


def lambdify_gradient(
    net: SymbolicMLP, gradient: Mapping[str, sp.Expr] | None = None
) -> GradientFn:
    """The symbolic gradient of ``net`` as a JAX function of one point.

    Args:
      net: a network with concrete activations and loss.
      gradient: ``{parameter name: expression}`` for every parameter, in the symbols of ``net``;
        ``None`` (default) uses ``net.gradient()``. Pass hand-derived expressions (e.g. chain-rule
        forms) to check them against ``jax.grad``.

    Returns:
      ``f(params, inputs, targets, masks) -> (n_params,)`` with ``params`` of shape
      ``(n_params,)``, ``inputs`` ``(samples, n_in)``, ``targets`` ``(samples, n_out)`` and
      ``masks`` ``(n_masks,)`` (see :class:`Points`). Pure, so it runs under ``jit`` and ``vmap``;
      float64 when called with x64 enabled.

    Raises:
      InputError: for an undefined activation or loss (naming the allowed choices), or a
        ``gradient`` with missing or unknown parameters or unknown symbols.
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
    exprs = [sp.sympify(gradient[name]) for name in names]
    args = _arguments(net)
    unknown = set().union(*(e.free_symbols for e in exprs)) - set(args)
    if unknown:
        raise InputError(
            f"gradient uses symbols {', '.join(sorted(map(str, unknown)))} that are not "
            f"parameters or data of {net!r}"
        )
    f = sp.lambdify(args, exprs, modules="jax", cse=True)

    def fn(params, inputs, targets, masks):
        values = [params[i] for i in range(params.shape[0])]
        values += [inputs[s, i] for s in range(inputs.shape[0]) for i in range(inputs.shape[1])]
        values += [targets[s, k] for s in range(targets.shape[0]) for k in range(targets.shape[1])]
        values += [masks[j] for j in range(masks.shape[0])]
        return jnp.stack([jnp.asarray(g, params.dtype) for g in f(*values)])

    return fn


def numeric_gradient(net: SymbolicMLP, *, path: str = "exact") -> GradientFn:
    """``jax.grad`` of the loss of :mod:`symjax._net` for the same network and data as ``net``.

    Args:
      net: a network with concrete activations and loss; its widths, activations, loss,
        reduction and dropout choose the numeric :class:`symjax._net.Net` and its masks.
      path: ``"exact"`` (scalar leaves, fixed-order sums) or ``"matmul"`` (``x @ W.T + b``).

    Returns:
      A function with the signature of :func:`lambdify_gradient`'s.

    Raises:
      InputError: as :func:`lambdify_gradient`, or for an unknown ``path``.
    """
    _check_concrete(net)
    choose("path", path, PATHS)
    numeric = Net(
        net.widths,
        activation=net.activation,
        output_activation=net.output_activation,
        loss=net.loss,
        reduction=net.reduction,
    )
    index = _mask_index(net) if net.dropout else None

    def fn(params, inputs, targets, masks):
        m = None if index is None else masks[index]
        if path == "exact":
            g = jax.grad(lambda leaves: exact_loss(numeric, leaves, inputs, targets, m))(
                to_leaves(params)
            )
            return jnp.stack(g)
        g = jax.grad(lambda mats: matmul_loss(numeric, mats, inputs, targets, m))(
            to_matrices(numeric, params)
        )
        return from_matrices(g)

    return fn


def random_points(net: SymbolicMLP, n: int = DEFAULT_POINTS, *, seed: int = 0) -> Points:
    """``n`` random points for ``net``'s gradient, from NumPy's ``default_rng(seed)``.

    Parameters and inputs are standard normal; targets standard normal for the squared error
    and uniform in ``[0, 1]`` for ``bce``; dropout masks uniform in ``[0, 2)``.
    """
    _check_concrete(net)
    rng = np.random.default_rng(seed)
    m, (n_in, n_out) = net.samples, (net.widths[0], net.widths[-1])
    fan_in = np.array([net.widths[info.layer - 1] for info in net.layout.params])
    params = rng.standard_normal((n, net.layout.n_params)) / np.sqrt(fan_in)
    inputs = rng.standard_normal((n, m, n_in))
    if net.loss == "bce":
        targets = rng.uniform(0.0, 1.0, (n, m, n_out))
    else:
        targets = rng.standard_normal((n, m, n_out))
    masks = rng.uniform(0.0, 2.0, (n, len(mask_symbols(net))))
    return Points(params, inputs, targets, masks)


def _evaluate(fn: GradientFn, points: Points) -> np.ndarray:
    batched = jax.jit(jax.vmap(fn))
    return np.asarray(batched(points.params, points.inputs, points.targets, points.masks))


def relative_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``|a - b| / max(|a|, |b|)`` elementwise; ``0`` where both are 0, ``inf`` where non-finite.

    >>> relative_difference(np.array([1.0, 0.0, np.nan]), np.array([1.5, 0.0, 1.0]))
    array([0.33333333, 0.        ,        inf])
    """
    diff = np.abs(a - b)
    scale = np.maximum(np.abs(a), np.abs(b))
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
      path: the numeric path compared against (``"exact"`` or ``"matmul"``).
      points: number of random points; seed: the seed of :func:`random_points`.
      tolerance: largest relative difference accepted.
      max_rel: largest relative difference over every point and parameter (see
        :func:`relative_difference`); ``inf`` if either side was not finite somewhere.
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
        """One-line description of the network, e.g. ``2-2-1 tanh/sigmoid squared_error``."""
        text = (
            f"{'-'.join(map(str, self.widths))} {self.activation}/{self.output_activation} "
            f"{self.loss}, samples={self.samples} ({self.reduction})"
        )
        return text + (f", dropout={self.dropout}" if self.dropout else "")

    def __str__(self) -> str:
        verdict = "agrees" if self.agrees else "DISAGREES"
        return (
            f"{self.network}, {self.path} path: {verdict} over {self.points} points "
            f"(seed {self.seed}): max relative difference {self.max_rel:.2e} "
            f"({self.worst_param}, point {self.worst_point}), max absolute {self.max_abs:.2e}, "
            f"tolerance {self.tolerance:.0e}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field plus ``agrees``; infinities as the string ``"inf"``."""
        d = asdict(self)
        d["widths"] = list(self.widths)
        d["per_param"] = [asdict(p) for p in self.per_param]
        for p in [d, *d["per_param"]]:
            for key in ("max_rel", "max_abs"):
                p[key] = p[key] if math.isfinite(p[key]) else "inf"
        d["agrees"] = self.agrees
        return d


def compare_gradients(
    net: SymbolicMLP,
    *,
    path: str = "exact",
    points: int = DEFAULT_POINTS,
    seed: int = 0,
    tolerance: float = TOLERANCE,
    gradient: Mapping[str, sp.Expr] | None = None,
) -> GradientComparison:
    """Compare the symbolic gradient of ``net`` with ``jax.grad`` of the numeric loss.

    Both are evaluated in float64 (x64 is enabled for the duration of the call and restored
    after it) at the same :func:`random_points`, vectorized with ``jit(vmap(.))``.

    Args:
      net: a network with concrete activations and loss (``bce`` with a sigmoid output).
      path: numeric path, ``"exact"`` or ``"matmul"``.
      points: number of random points.
      seed: seed of the random points.
      tolerance: largest relative difference at which the two agree.
      gradient: expressions to use instead of ``net.gradient()`` (see
        :func:`lambdify_gradient`).

    Returns:
      A :class:`GradientComparison`; its ``agrees`` decides.

    Raises:
      InputError: for an undefined activation or loss (naming the allowed choices), an unknown
        path, a non-positive number of points or tolerance, or a bad ``gradient``.

    Examples:
      >>> from symjax.symbolic import SymbolicMLP
      >>> net = SymbolicMLP((2, 2, 1), activation="tanh", output_activation="sigmoid",
      ...                   loss="squared_error")
      >>> compare_gradients(net, points=100).agrees
      True
    """
    choose("path", path, PATHS)
    if isinstance(points, bool) or not isinstance(points, int) or points < 1:
        raise InputError(f"points must be a positive integer, got {points!r}")
    if not tolerance > 0:
        raise InputError(f"tolerance must be positive, got {tolerance!r}")
    sym = lambdify_gradient(net, gradient)
    num = numeric_gradient(net, path=path)
    at = random_points(net, points, seed=seed)
    with jax.enable_x64(True):
        g_sym, g_num = _evaluate(sym, at), _evaluate(num, at)
    rel = relative_difference(g_sym, g_num)  # (points, n_params)
    absolute = np.where(np.isfinite(g_sym - g_num), np.abs(g_sym - g_num), np.inf)
    worst_point, worst = np.unravel_index(np.argmax(rel), rel.shape)
    names = net.layout.names
    return GradientComparison(
        widths=net.widths,
        path=path,
        points=points,
        seed=seed,
        tolerance=float(tolerance),
        max_rel=float(rel.max()),
        max_abs=float(absolute.max()),
        worst_param=names[worst],
        worst_point=int(worst_point),
        per_param=tuple(
            ParamDifference(name, float(rel[:, i].max()), float(absolute[:, i].max()))
            for i, name in enumerate(names)
        ),
        **net.options,
    )
