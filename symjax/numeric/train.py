"""One pure training step, ``lax.scan`` over steps, and the invariant checks of every step.

The per-seed computations (loss, gradient, perturbations, final metrics) are written for one seed
and ``vmap``-ed over a block of seeds; :mod:`symjax.numeric.sweep` maps blocks with ``lax.map`` and
shards them over devices.

The scan carry is a :class:`TrainState`: the flat parameter vector (shared order), the optax
state over it, and the invariant accumulators. The checks run inside the compiled loop at every
step, on bit patterns:

* Steps are numbered 0 (the initial parameters) to ``steps`` (after the last update); step ``t``
  is checked after the ``t``-th update.
* For each tied pair ``(a, b)`` (``(a, -b)`` for a sign-flip tie ``b = -a``, where a zero of
  either sign counts as ``+0``: round-to-nearest gives ``x - x = +0`` whatever the sign of
  ``x``, so the sign of an exact zero is not odd): ``first_break`` is the first step at which
  the bit patterns of ``a`` and ``b`` differ (``-1``: never, i.e. bitwise equal at every
  step), and ``max_ulp`` the largest distance between them in units in the last place over all
  steps. ULP distance is the difference of the IEEE bit patterns read as sign-magnitude
  integers, so ``+0`` and ``-0`` differ bitwise but are 0 ULP apart.
* ``nonfinite_step``: the first step at which some parameter is NaN or infinite (``-1``: never).
  Training goes on with the non-finite values; nothing raises.

Realistic training (both options keep a run equivariant: every seed's step sees one batch, and
both members of a tied pair see the same batch):

* Mini-batches (``batch_size`` B > 0): each epoch of ``S // B`` steps goes through one
  permutation of the ``S`` samples in batches of B (the last ``S % B`` samples of the
  permutation are left out of that epoch). Step ``t`` (1-based) is batch ``(t - 1) % (S // B)``
  of epoch ``e = (t - 1) // (S // B)``, whose permutation is
  ``jax.random.permutation(fold_in(fold_in(perturbation_key(seed), e), 2), S)``: per seed,
  deterministic, independent of batching and of the init scheme. The loss is the mean or sum
  over the batch.
* Input noise (``input_noise`` sigma > 0): step ``t`` adds ``sigma * N(0, 1)`` drawn from
  ``fold_in(fold_in(perturbation_key(seed), t), 3)`` to the batch's inputs (augmentation).

The final loss, "solved" and the trajectory's losses are those of the whole data set without
noise.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from .datasets import R2_SOLVED
from .inits import perturbation_key
from .net import (
    Net,
    from_matrices,
    matmul_forward,
    matmul_loss,
    min_unit_distance,
    scalar_loss,
    scalar_predict,
    solved,
    to_leaves,
    to_matrices,
    vector_loss,
    vector_predict,
)
from .optimizers import OptimizerSpec

PATHS = ("exact", "matmul")
DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that shapes the compiled training program. Static and hashable.

    ``form``: ``"scalar"`` or ``"vector"`` (the two layouts of the exact path, see
    :mod:`symjax.numeric.net`) or ``"matmul"``. ``ties``: index pairs into the shared order.
    ``task``: ``"classification"`` or ``"regression"`` (the "solved" criterion).
    ``trajectory_every``: record parameters and loss every this many steps (0: off).
    ``batch_size``: 0 is the whole data set, in order, every step. ``tie_signs``: per tied pair,
    ``1`` (``b == a``) or ``-1`` (``b == -a``, checked on the bits of ``-b`` and ``a``); empty:
    every pair ``1``.
    """

    net: Net
    optimizer: OptimizerSpec
    steps: int
    dtype: str
    form: str
    ties: tuple[tuple[int, int], ...]
    task: str
    trajectory_every: int = 0
    batch_size: int = 0
    input_noise: float = 0.0
    tie_signs: tuple[int, ...] = ()

    @property
    def path(self) -> str:
        """``"exact"`` or ``"matmul"``."""
        return "matmul" if self.form == "matmul" else "exact"

    @property
    def n_records(self) -> int:
        """Trajectory records per run: steps 0, k, 2k, ..., up to ``steps``."""
        return self.steps // self.trajectory_every + 1 if self.trajectory_every else 0


class Checks(NamedTuple):
    """Invariant accumulators of a block of ``n`` seeds (in the scan carry).

    The two per-pair accumulators share one array, so that one kernel per step updates both (as
    separate arrays XLA's CPU backend gives each its own kernel and copies the pairs' rows out).
    """

    pairs: jax.Array  # (2, n_pairs, n) uint32 (float32) / uint64 (float64): first_break, max_ulp
    nonfinite_step: jax.Array  # (n,) int32: first step with a non-finite parameter, -1 never

    @property
    def first_break(self) -> jax.Array:
        """``(n_pairs, n)`` int32: first step with differing bits, -1 never."""
        stored = self.pairs[0]
        return jnp.where(stored == _never(stored.dtype), -1, stored.astype(jnp.int32))

    @property
    def max_ulp(self) -> jax.Array:
        """``(n_pairs, n)`` uint32 / uint64: largest ULP distance so far."""
        return self.pairs[1]


def _never(uint_t) -> jax.Array:
    """The stored ``first_break`` of a pair never broken: the largest value of ``uint_t``."""
    return jnp.full((), jnp.iinfo(uint_t).max, uint_t)


class TrainState(NamedTuple):
    """Scan carry of a block of ``n`` seeds."""

    params: jax.Array  # (n_params, n): parameters in the shared order, one column per seed
    opt_state: Any  # optax state over the (n_params, n) array
    checks: Checks


class RunResult(NamedTuple):
    """What a block of ``n`` seeds returns; the seed axis comes first."""

    final_params: jax.Array  # (n, n_params) in the shared order
    first_break: jax.Array  # (n, n_pairs) int32, -1 = never
    max_ulp: jax.Array  # (n, n_pairs) uint32 / uint64
    nonfinite_step: jax.Array  # (n,) int32, -1 = never
    final_loss: jax.Array  # (n,) loss of the final parameters (no dropout)
    solved: jax.Array  # (n,) bool
    min_unit_distance: jax.Array  # (n,) at the end; 0 when two units of a layer are tied
    min_unit_distance_init: jax.Array  # (n,) at step 0
    trajectory_params: jax.Array | None  # (n, n_records, n_params) or None
    trajectory_loss: jax.Array | None  # (n, n_records) or None


# -- bit patterns ------------------------------------------------------------------------------
def ulp_distance(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(bits differ, |ULP distance|)`` of two float32 or float64 arrays, elementwise.

    The bit patterns are read as sign-magnitude integers and mapped to two's complement, so
    adjacent floats are 1 apart across zero too; the difference is taken in unsigned arithmetic
    (it can exceed the signed range). NaNs get some large distance; the non-finite flag reports
    them.
    """
    int_t, uint_t = (jnp.int32, jnp.uint32) if a.dtype == jnp.float32 else (jnp.int64, jnp.uint64)
    ia = lax.bitcast_convert_type(a, int_t)
    ib = lax.bitcast_convert_type(b, int_t)
    lowest = jnp.iinfo(int_t).min
    oa = jnp.where(ia < 0, lowest - ia, ia)
    ob = jnp.where(ib < 0, lowest - ib, ib)
    ua = lax.bitcast_convert_type(oa, uint_t)
    ub = lax.bitcast_convert_type(ob, uint_t)
    return ia != ib, jnp.where(oa >= ob, ua - ub, ub - ua)


# -- the three forms behind one interface -----------------------------------------------------
class _View(NamedTuple):
    """How one form computes with the flat parameter vector."""

    unflatten: Any  # (n_params,) -> the form's pytree (scalar leaves or matrices)
    flatten: Any  # the form's pytree -> (n_params,)
    loss: Any  # (pytree, x, y, masks) -> scalar
    predict: Any  # (pytree, x) -> (S, n_out)


def _view(cfg: TrainConfig) -> _View:
    net = cfg.net
    if cfg.form == "scalar":
        return _View(to_leaves, jnp.stack, functools.partial(scalar_loss, net),
                     functools.partial(scalar_predict, net))
    loss, predict = ((vector_loss, vector_predict) if cfg.form == "vector" else
                     (matmul_loss, lambda n, mats, x: matmul_forward(n, mats, x)[1]))
    return _View(functools.partial(to_matrices, net), from_matrices,
                 functools.partial(loss, net), functools.partial(predict, net))


def _eval_view(cfg: TrainConfig) -> _View:
    """The view that evaluates the whole data set: with mini-batches, the scalar layout (sized
    for a batch) hands over to the vector layout, the same function on every sample."""
    if cfg.form == "scalar" and cfg.batch_size:
        return _view(dataclasses.replace(cfg, form="vector"))
    return _view(cfg)


# -- checks ---------------------------------------------------------------------------------
def _pair_values(cfg: TrainConfig, params: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(n_pairs, n)`` values of the first and of the second members of the tied pairs."""
    left = np.asarray([i for i, _ in cfg.ties], np.int32)
    right = np.asarray([j for _, j in cfg.ties], np.int32)
    if any(s < 0 for s in cfg.tie_signs):  # negation is exact: it flips the sign bit only
        flip = np.asarray([s < 0 for s in cfg.tie_signs])[:, None]
        a, b = params[left], params[right]

        def unsigned_zero(v):  # IEEE gives x - x = +0 for either sign of x: zeros are not odd
            return jnp.where(flip & (v == 0), jnp.zeros_like(v), v)

        return unsigned_zero(a), unsigned_zero(jnp.where(flip, -b, b))
    return params[left], params[right]


def _init_checks(cfg: TrainConfig, params: jax.Array) -> Checks:
    """Checks of step 0 (the initial parameters, ``(n_params, n)``)."""
    differ, dist = ulp_distance(*_pair_values(cfg, params))
    finite = jnp.all(jnp.isfinite(params), axis=0)
    first_break = jnp.where(differ, jnp.zeros((), dist.dtype), _never(dist.dtype))
    return Checks(
        pairs=jnp.stack([first_break, dist]),
        nonfinite_step=jnp.where(finite, -1, 0).astype(jnp.int32),
    )


def _update_checks(cfg: TrainConfig, checks: Checks, params: jax.Array, t: jax.Array) -> Checks:
    """Fold step ``t``'s parameters into the accumulators."""
    differ, dist = ulp_distance(*_pair_values(cfg, params))
    broken = (checks.nonfinite_step < 0) & ~jnp.all(jnp.isfinite(params), axis=0)
    first_break, max_ulp = checks.pairs[0], checks.pairs[1]
    first_break = jnp.where((first_break == _never(dist.dtype)) & differ,
                            t.astype(dist.dtype), first_break)
    return Checks(
        pairs=jnp.stack([first_break, jnp.maximum(max_ulp, dist)]),
        nonfinite_step=jnp.where(broken, t, checks.nonfinite_step),
    )


# -- training ----------------------------------------------------------------------------------
def _dropout_masks(cfg: TrainConfig, key: jax.Array, t: jax.Array, n_samples: int) -> jax.Array:
    """One seed's dropout factors ``(n_hidden_units, S)`` of step ``t``: 0 or ``1/(1-p)``."""
    p = cfg.optimizer.dropout
    step_key = jax.random.fold_in(jax.random.fold_in(key, t), 0)
    keep = jax.random.bernoulli(step_key, 1 - p, (cfg.net.n_hidden_units, n_samples))
    return jnp.where(keep, 1 / (1 - p), 0).astype(cfg.dtype)


def _grad_noise(cfg: TrainConfig, key: jax.Array, t: jax.Array) -> jax.Array:
    """One seed's gradient noise ``(n_params,)`` of step ``t``."""
    step_key = jax.random.fold_in(jax.random.fold_in(key, t), 1)
    return cfg.optimizer.grad_noise * jax.random.normal(step_key, (cfg.net.n_params,), cfg.dtype)


def batch_data(cfg: TrainConfig, key: jax.Array, t: jax.Array, x: jax.Array,
               y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One seed's batch ``(x, y)`` of step ``t``: a mini-batch of the seed's permutation of the
    epoch, plus input noise (see the module docstring)."""
    if cfg.batch_size:
        per_epoch = x.shape[0] // cfg.batch_size
        epoch, k = (t - 1) // per_epoch, (t - 1) % per_epoch
        order = jax.random.permutation(jax.random.fold_in(jax.random.fold_in(key, epoch), 2),
                                       x.shape[0])
        idx = lax.dynamic_slice_in_dim(order, k * cfg.batch_size, cfg.batch_size)
        x, y = x[idx], y[idx]
    if cfg.input_noise > 0:
        noise_key = jax.random.fold_in(jax.random.fold_in(key, t), 3)
        x = x + jnp.asarray(cfg.input_noise, x.dtype) * jax.random.normal(noise_key, x.shape,
                                                                           x.dtype)
    return x, y


def make_step(cfg: TrainConfig, keys: jax.Array, x: jax.Array, y: jax.Array):
    """The pure training step ``(state, t) -> (state, None)`` of a block of seeds, for scan.

    ``keys``: the ``(n,)`` seeds' perturbation keys. The gradient is computed per seed
    (``vmap``) with respect to the form's pytree (scalar leaves or matrices: the vector is split
    before differentiating, never inside) and stacked back into a ``(n_params, n)`` array. The
    optimizer then updates every parameter of every seed in one elementwise kernel, so both
    members of a tied pair go through the same machine code. (Updating scalar leaves one by one
    lets XLA fuse and round the updates of different leaves differently, which breaks ties
    under Adam on CPU.)
    """
    view = _view(cfg)
    tx = cfg.optimizer.transformation()
    dropout = cfg.optimizer.dropout > 0 and cfg.net.n_hidden_units > 0
    loss = view.loss
    if cfg.form == "scalar" and jax.default_backend() == "cpu":
        # XLA's CPU fusion then computes each delta once per step, not once per use
        loss = functools.partial(scalar_loss, cfg.net, barrier=True)

    def seed_grad(flat, masks, key, t):
        xs, ys = batch_data(cfg, key, t, x, y)  # (x, y) themselves without batches and noise
        return view.flatten(jax.grad(loss)(view.unflatten(flat), xs, ys, masks))

    grad = jax.vmap(seed_grad, in_axes=(1, 0 if dropout else None, 0, None), out_axes=1)

    def step(state: TrainState, t: jax.Array) -> tuple[TrainState, None]:
        masks = None
        if dropout:
            masks = jax.vmap(_dropout_masks, in_axes=(None, 0, None, None))(
                cfg, keys, t, cfg.batch_size or x.shape[0])
        grads = grad(state.params, masks, keys, t)
        if cfg.optimizer.grad_noise > 0:
            grads = grads + jax.vmap(_grad_noise, in_axes=(None, 0, None), out_axes=1)(
                cfg, keys, t)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return TrainState(params, opt_state, _update_checks(cfg, state.checks, params, t)), None

    return step


def run_block(cfg: TrainConfig, flat0: jax.Array, seeds: jax.Array, x: jax.Array,
              y: jax.Array) -> RunResult:
    """Train a block of seeds (``flat0 (n, n_params)``, ``seeds (n,)`` uint32) for
    ``cfg.steps`` steps, check them at every step, and return their :class:`RunResult`.

    Each seed's computation is independent of the others (per-seed code under ``vmap``); the
    block only decides the memory layout: parameters are carried as ``(n_params, n)``, one
    contiguous row per parameter.
    """
    view = _eval_view(cfg)
    params0 = flat0.T
    state = TrainState(params0, cfg.optimizer.transformation().init(params0),
                       _init_checks(cfg, params0))
    step = make_step(cfg, jax.vmap(perturbation_key)(seeds), x, y)
    seed_loss = jax.vmap(lambda f: view.loss(view.unflatten(f), x, y, None), in_axes=1)

    def steps(state: TrainState, t: jax.Array, count: int) -> tuple[TrainState, jax.Array]:
        """``count`` steps after step ``t``; the step number is carried, never an array of
        ``count`` numbers (memory stays independent of the number of steps)."""
        def body(carry, _):
            state, t = carry
            t = t + 1
            return (step(state, t)[0], t), None

        return lax.scan(body, (state, t), None, length=count)[0]

    t = jnp.zeros((), jnp.int32)
    traj_params = traj_loss = None
    rest = cfg.steps
    if cfg.trajectory_every:
        k = cfg.trajectory_every
        n_blocks = cfg.steps // k

        def block(carry, _):
            state, _ = carry
            return steps(*carry, k), (state.params, seed_loss(state.params))

        (state, t), (traj_params, traj_loss) = lax.scan(block, (state, t), None,
                                                         length=n_blocks)
        traj_params = jnp.concatenate([traj_params, state.params[None]])  # (records, P, n)
        traj_loss = jnp.concatenate([traj_loss, seed_loss(state.params)[None]])  # (records, n)
        traj_params, traj_loss = jnp.transpose(traj_params, (2, 0, 1)), traj_loss.T
        rest -= n_blocks * k
    state, _ = steps(state, t, rest)

    def finish(flat):
        tree = view.unflatten(flat)
        return (view.loss(tree, x, y, None),
                solved(cfg.task, view.predict(tree, x), y, R2_SOLVED),
                min_unit_distance(cfg.net, flat))

    final_loss, is_solved, distance = jax.vmap(finish, in_axes=1)(state.params)
    return RunResult(
        final_params=state.params.T,
        first_break=state.checks.first_break.T,
        max_ulp=state.checks.max_ulp.T,
        nonfinite_step=state.checks.nonfinite_step,
        final_loss=final_loss,
        solved=is_solved,
        min_unit_distance=distance,
        min_unit_distance_init=jax.vmap(functools.partial(min_unit_distance, cfg.net))(flat0),
        trajectory_params=traj_params,
        trajectory_loss=traj_loss,
    )
