"""Your own model, numerically: is a symmetry one, and do tied parameters stay tied in training?

For a plain-JAX ``loss(params, *data)`` over a parameter pytree and a symmetry given as disjoint
(signed) pairs of parameter elements, named as :mod:`symjax.symbolic.jaxpr` names them
(``"W1[0,1]"``, ``"-b1[1]"``; the helpers there build the common ones):

* :func:`check_symmetry` evaluates the loss at random points and at their images under the
  symmetry ``g`` (each pair swapped, with its sign) in float64, and refuses one that changes the
  loss, naming the leaf whose pairs break it.
* :func:`verify_model` trains many seeds from random inits projected onto the fixed set of ``g``
  (``q = s p`` for each pair) with an optax optimizer, ``jit(vmap(scan))``, and records for
  every seed and pair whether the tie held bit for bit at every step, the first step it broke
  and the largest ULP distance. Kernels that round tied rows differently (a matrix product on
  CPU) show as small ULP distances: that is a measurement, not a failure of the theorem.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..base.errors import InputError

_ELEMENT = re.compile(r"^(-?)([A-Za-z_][A-Za-z0-9_]*)\[([0-9,]*)\]$")


def _parse(name: str, shapes: dict[str, tuple[int, ...]]) -> tuple[int, str, tuple[int, ...]]:
    match = _ELEMENT.match(name.strip())
    if not match:
        raise InputError(f"parameter element {name!r} must look like W1[0,1] (or -W1[0,1])")
    sign, leaf, index = match.groups()
    idx = tuple(int(i) for i in index.split(",") if i != "")
    if leaf not in shapes:
        raise InputError(f"unknown parameter leaf {leaf!r} in {name!r}; leaves: "
                         f"{', '.join(shapes)}")
    if len(idx) != len(shapes[leaf]) or any(not 0 <= i < n for i, n in zip(idx, shapes[leaf])):
        raise InputError(f"{name!r} is outside {leaf} of shape {shapes[leaf]}")
    return (-1 if sign else 1), leaf, idx


@dataclass(frozen=True)
class _Pairs:
    """The symmetry as index pairs per leaf: (leaf_p, idx_p, leaf_q, idx_q, sign)."""

    items: tuple[tuple[str, tuple[int, ...], str, tuple[int, ...], int], ...]


def _pairs(params: Any, pairs: Sequence[tuple[str, str]]) -> tuple[_Pairs, list[str]]:
    from ..symbolic.jaxpr import parameter_names

    shapes = parameter_names(params)
    order = list(shapes)
    seen: set = set()
    items = []
    for p, q in pairs:
        sp_, lp, ip = _parse(p, shapes)
        sq, lq, iq = _parse(q, shapes)
        if sp_ < 0:
            raise InputError(f"put the sign on the second element of the pair ({p}={q})")
        for key in ((lp, ip), (lq, iq)):
            if key in seen:
                raise InputError(
                    f"{key[0]}{list(key[1])} appears in two pairs; give the symmetry as disjoint "
                    "pairs (each swapped with its partner)"
                )
            seen.add(key)
        items.append((lp, ip, lq, iq, sq))
    return _Pairs(tuple(items)), order


def _apply_g(tree: dict, pairs: _Pairs) -> dict:
    """The image of a parameter dict (leaf name -> JAX array) under the symmetry."""
    out = dict(tree)
    for lp, ip, lq, iq, s in pairs.items:
        vp, vq = tree[lp][ip], tree[lq][iq]
        out[lp] = out[lp].at[ip].set(s * vq)
        out[lq] = out[lq].at[iq].set(s * vp)
    return out


def _project(tree: dict, pairs: _Pairs) -> dict:
    """The fixed set of the symmetry: ``q = s p`` for each pair."""
    out = dict(tree)
    for lp, ip, lq, iq, s in pairs.items:
        out[lq] = out[lq].at[iq].set(s * out[lp][ip])
    return out


def _as_dict(params, order):
    import jax

    return dict(zip(order, jax.tree_util.tree_leaves(params)))


def _as_tree(values: dict, params, order):
    import jax

    treedef = jax.tree_util.tree_structure(params)
    return jax.tree_util.tree_unflatten(treedef, [values[k] for k in order])


def check_symmetry(loss: Callable, params, pairs, *data, points: int = 8, seed: int = 0
                   ) -> float:
    """Check that swapping each pair (with its sign) leaves the loss unchanged, in float64.

    Returns:
      The largest relative change of the loss over ``points`` random parameter points (with
      random data of the given shapes).

    Raises:
      InputError: when the loss changes by more than rounding; the message names the leaves
        of the pairs whose swap alone changes it.
    """
    import jax
    import jax.numpy as jnp

    sym, order = _pairs(params, pairs)
    rng = np.random.default_rng(seed)
    worst = 0.0
    with jax.enable_x64(True):
        def value(tree, args):
            return float(loss(_as_tree(tree, params, order), *args))

        for _ in range(points):
            tree = {k: jnp.asarray(rng.uniform(-1, 1, np.shape(v)))
                    for k, v in _as_dict(params, order).items()}
            args = [jax.tree_util.tree_map(lambda a: jnp.asarray(rng.uniform(-1, 1, np.shape(a))),
                                           d) for d in data]
            a, b = value(tree, args), value(_apply_g(tree, sym), args)
            change = abs(a - b) / (abs(a) + abs(b) + 1e-300)
            worst = max(worst, change)
            if change > 1e-9:
                culprits = sorted({lp for lp, _, _, _, _ in sym.items
                                   if _single_changes(value, tree, args, sym, lp)})
                raise InputError(
                    f"the pairs are not a symmetry of the loss: swapping them changes it by "
                    f"{change:.3g} (relative) at a random point"
                    + (f"; the pairs in leaf {', '.join(culprits)} break it" if culprits else "")
                )
    return worst


def _single_changes(value, tree, args, sym: _Pairs, leaf: str) -> bool:
    only = _Pairs(tuple(t for t in sym.items if t[0] == leaf or t[2] == leaf))
    rest = _Pairs(tuple(t for t in sym.items if t not in only.items))
    a = value(_apply_g(tree, rest), args)
    b = value(_apply_g(tree, sym), args)
    return abs(a - b) > 1e-9 * (abs(a) + abs(b) + 1e-300)


@dataclass(frozen=True)
class ModelVerification:
    """Per seed and pair: held bit for bit at every step, first break step, largest ULPs.

    Attributes:
      pairs: the pairs as given.
      held: ``(seeds, pairs)`` bool.
      first_break: ``(seeds, pairs)`` int, -1 where the pair never broke.
      max_ulp: ``(seeds, pairs)`` largest ULP distance of ``q`` from ``s p`` over the steps.
      steps: training steps.
    """

    pairs: tuple[tuple[str, str], ...]
    held: np.ndarray
    first_break: np.ndarray
    max_ulp: np.ndarray
    steps: int

    @property
    def seeds(self) -> int:
        return self.held.shape[0]

    def table(self) -> str:
        """One line per pair: seeds held, first break (median over broken seeds), max ULP."""
        lines = [f"{'pair':<28} {'held':>12}  {'first break med':>15}  {'max ulp':>8}"]
        for k, (p, q) in enumerate(self.pairs):
            broken = self.first_break[:, k][self.first_break[:, k] >= 0]
            med = f"{int(np.median(broken))}" if broken.size else "never"
            lines.append(f"{p + '=' + q:<28} {int(self.held[:, k].sum()):>6}/{self.seeds:<5}  "
                         f"{med:>15}  {int(self.max_ulp[:, k].max()):>8}")
        return "\n".join(lines)


def verify_model(loss: Callable, params, pairs, *data, optimizer: str = "adam",
                 lr: float | None = None, seeds: int = 1000, steps: int = 100, seed: int = 0,
                 dtype: str = "float32") -> ModelVerification:
    """Train ``seeds`` random inits projected onto the fixed set of the pairs and check the ties.

    Each seed's parameters are drawn uniform in [-1, 1] (``jax.random.fold_in(key, seed)``),
    then ``q = s p`` is imposed for every pair. Training: the given data (one fixed batch),
    ``steps`` updates of an optax optimizer by name (as ``symjax verify`` names them), all
    seeds at once under ``jit(vmap(scan))``. After every update each pair is compared bit for
    bit (``q == s p``) and its ULP distance recorded.

    Raises:
      InputError: bad pairs, optimizer, counts or dtype.
    """
    import jax
    import jax.numpy as jnp

    from ..numeric.optimizers import parse_optimizers

    for name, v in (("seeds", seeds), ("steps", steps)):
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 10**7:
            raise InputError(f"{name} must be an integer from 1 to 10000000, got {v!r}")
    if dtype not in ("float32", "float64"):
        raise InputError(f"unknown dtype {dtype!r}; allowed: float32, float64")
    sym, order = _pairs(params, pairs)
    spec = parse_optimizers(optimizer, lr)[0]
    if spec.perturbed:
        raise InputError(
            f"optimizer {optimizer!r}: dropout and gradient noise are not modelled here"
        )
    opt = spec.transformation()
    base = _as_dict(params, order)
    with jax.enable_x64(dtype == "float64"):
        dt = jnp.dtype(dtype)
        args = [jax.tree_util.tree_map(lambda a: jnp.asarray(a, dt), d) for d in data]
        uint = jnp.uint32 if dt == jnp.float32 else jnp.uint64

        def ordered(x):
            """Bit patterns mapped to unsigned integers in the order of the floats."""
            bits = jax.lax.bitcast_convert_type(x, uint)
            top = jnp.asarray(1, uint) << (jnp.iinfo(uint).bits - 1)
            return jnp.where(bits & top, ~bits, bits | top)

        def ulp(a, b):
            oa, ob = ordered(a), ordered(b)
            return jnp.where(oa > ob, oa - ob, ob - oa)

        def checks(tree):
            eq, dist = [], []
            for lp, ip, lq, iq, s in sym.items:
                a, b = s * tree[lp][ip], tree[lq][iq]
                nan = jnp.isnan(a) & jnp.isnan(b)  # a diverged seed: -NaN is NaN too
                eq.append(nan | (jax.lax.bitcast_convert_type(a, uint)
                                 == jax.lax.bitcast_convert_type(b, uint)))
                dist.append(jnp.where(nan, jnp.asarray(0, uint), ulp(a, b)))
            return jnp.stack(eq), jnp.stack(dist)

        def one(key):
            tree = {k: jax.random.uniform(jax.random.fold_in(key, i), np.shape(v), dt, -1, 1)
                    for i, (k, v) in enumerate(base.items())}
            tree = _project(tree, sym)

            def objective(t):
                return loss(_as_tree(t, params, order), *args)

            state = opt.init(tree)
            eq0, d0 = checks(tree)
            first = jnp.where(eq0, -1, 0)
            carry0 = (tree, state, first, d0.astype(jnp.float64 if dt == jnp.float64 else
                                                     jnp.float32), jnp.asarray(1, jnp.int32))

            def step(carry, _):
                t, s_, first_, worst, k = carry
                grads = jax.grad(objective)(t)
                updates, s_ = opt.update(grads, s_, t)
                t = jax.tree_util.tree_map(lambda a, u: a + u, t, updates)
                eq, dist = checks(t)
                first_ = jnp.where((first_ < 0) & ~eq, k, first_)
                worst = jnp.maximum(worst, dist.astype(worst.dtype))
                return (t, s_, first_, worst, k + 1), None

            (_, _, first, worst, _), _ = jax.lax.scan(step, carry0, None, length=steps)
            return first, worst

        keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(seed), i))(
            jnp.arange(seeds))
        first, worst = jax.jit(jax.vmap(one))(keys)
    first = np.asarray(first)
    return ModelVerification(tuple((p, q) for p, q in pairs), first < 0, first,
                             np.asarray(worst).astype(np.float64), steps)
