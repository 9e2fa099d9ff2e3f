"""Hand-written reference programs for the throughput benchmark (no symjax machinery).

* :func:`prototype_program`: the engine's arithmetic for the default workload (2-2-1, tanh,
  sigmoid, squared error averaged over the samples, plain gradient descent) with nothing else:
  nine scalar leaves per seed, ``jax.grad``, ``vmap`` over seeds, ``lax.scan`` over steps. A
  :class:`Variant` switches on one piece of the engine's machinery at a time (stacked carry,
  invariant checks, cache blocks, sharding over devices), so the benchmark can tell what each
  piece costs.
* :func:`textbook_program`: ``X @ W.T`` + ``jax.grad`` + ``vmap(scan)`` for any widths (for
  2-2-1 it is ``_baselines.textbook_jax``), to compare the engine with across widths.

Both take ``(n, n_params)`` initial parameters in the shared order (layer by layer, unit by unit,
weights then biases) and return the final parameters in the same order.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import AxisType, PartitionSpec

from symjax.numeric.net import delta_barrier
from symjax.numeric.train import Checks, _never, ulp_distance

#: Tied pairs of 2-2-1 as indices into [w1..w6, b1..b3]: w1=w3, w2=w4, w5=w6, b1=b2.
TIED_PAIRS = ((0, 2), (1, 3), (4, 5), (6, 7))
N_PARAMS = 9


@dataclass(frozen=True)
class Variant:
    """Which pieces of the engine's machinery the prototype uses.

    Attributes:
      carry: ``"leaves"``: the scan carries nine ``(n,)`` arrays; ``"stacked"``: one ``(9, n)``
        array, split into rows before the gradient and stacked back after it (as the engine).
      checks: fold the engine's per-step invariant checks into the carry (bit patterns and ULP
        distance of the four tied pairs, first non-finite step) and return them.
      block: seeds per ``lax.map`` block on one device (0: one block).
      devices: shard the seeds over this many devices with ``shard_map`` (1: plain ``jit``).
      constant_data: XOR as compile-time constants (the engine passes the data as arguments).
      grad: ``"autodiff"`` (``jax.grad`` of :func:`scalar_loss`, as the engine) or ``"manual"``
        (hand-written backprop, :func:`manual_grad`: the same function, fewer operations, not
        bitwise equal to ``jax.grad``).
      barrier: pass the pre-activations through ``symjax.numeric.net.delta_barrier`` (as the engine
        does), so that XLA computes each delta once per step.
    """

    carry: str = "leaves"
    checks: bool = False
    block: int = 0
    devices: int = 1
    constant_data: bool = False
    grad: str = "autodiff"
    barrier: bool = False

    def __post_init__(self):
        if self.carry not in ("leaves", "stacked"):
            raise ValueError(f"carry must be 'leaves' or 'stacked', got {self.carry!r}")
        if self.grad not in ("autodiff", "manual"):
            raise ValueError(f"grad must be 'autodiff' or 'manual', got {self.grad!r}")

    @property
    def label(self) -> str:
        parts = [self.carry] + (["manual grad"] if self.grad == "manual" else [])
        parts += ["delta barrier"] if self.barrier else []
        parts += ["checks"] if self.checks else []
        parts += [f"block={self.block}"] if self.block else []
        parts += [f"devices={self.devices}"]
        parts += ["const data"] if self.constant_data else []
        return ", ".join(parts)

    def padded(self, n: int) -> int:
        """Seeds after padding to whole blocks on every device."""
        unit = self.devices * max(self.block, 1)
        return -(-n // unit) * unit


def scalar_loss(leaves, x, y, barrier: bool = False):
    """Loss of 2-2-1 over the data set, written like the engine's scalar layout.

    Pre-activations are ``w_1 a_1 + w_2 a_2 + b`` summed left to right, sample losses
    ``(yhat - y)**2 / 2`` are summed in sample order and divided by the number of samples.
    ``barrier``: pre-activations go through ``delta_barrier`` (identity; see the engine).
    """
    w1, w2, w3, w4, w5, w6, b1, b2, b3 = leaves
    bar = delta_barrier if barrier else (lambda z: z)
    total = None
    for s in range(x.shape[0]):
        x1, x2 = x[s, 0], x[s, 1]
        a1 = jnp.tanh(bar(w1 * x1 + w2 * x2 + b1))
        a2 = jnp.tanh(bar(w3 * x1 + w4 * x2 + b2))
        out = jax.nn.sigmoid(bar(w5 * a1 + w6 * a2 + b3))
        term = (out - y[s, 0]) ** 2 / 2
        total = term if total is None else total + term
    return total / x.shape[0]


def manual_grad(leaves, x, y):
    """Gradient of :func:`scalar_loss` by hand-written backprop (as ``_baselines.numpy_backprop``).

    Every tied pair still goes through mirrored operations, so ties stay exact; the rounding
    differs from ``jax.grad``'s operation order.
    """
    w1, w2, w3, w4, w5, w6, b1, b2, b3 = leaves
    grads = None
    scale = 1.0 / x.shape[0]
    for s in range(x.shape[0]):
        x1, x2, t = x[s, 0], x[s, 1], y[s, 0]
        a1 = jnp.tanh(w1 * x1 + w2 * x2 + b1)
        a2 = jnp.tanh(w3 * x1 + w4 * x2 + b2)
        a3 = jax.nn.sigmoid(w5 * a1 + w6 * a2 + b3)
        d3 = (a3 - t) * (a3 * (1 - a3)) * scale
        d1 = d3 * w5 * (1 - a1 * a1)
        d2 = d3 * w6 * (1 - a2 * a2)
        terms = (d1 * x1, d1 * x2, d2 * x1, d2 * x2, d3 * a1, d3 * a2, d1, d2, d3)
        grads = terms if grads is None else tuple(g + v for g, v in zip(grads, terms))
    return grads


# The checks carried as the engine carries them (symjax.numeric.train.Checks): first_break (stored
# unsigned, "never" = the largest value) and max_ulp of every tied pair in one (2, pairs, n)
# array, and the non-finite step.
def _checks_init(rows):
    n = rows[0].shape[0]
    uint = jnp.uint32 if rows[0].dtype == jnp.float32 else jnp.uint64
    pairs = jnp.zeros((2, len(TIED_PAIRS), n), uint).at[0].set(_never(uint))
    return pairs, jnp.full((n,), -1, jnp.int32)


def _checks_update(checks, rows, t):
    pairs, nonfinite = checks
    differ, dist = ulp_distance(jnp.stack([rows[i] for i, _ in TIED_PAIRS]),
                                jnp.stack([rows[j] for _, j in TIED_PAIRS]))
    first_break = jnp.where((pairs[0] == _never(dist.dtype)) & differ, t.astype(dist.dtype),
                            pairs[0])
    finite = jnp.all(jnp.stack([jnp.isfinite(r) for r in rows]), axis=0)
    return (jnp.stack([first_break, jnp.maximum(pairs[1], dist)]),
            jnp.where((nonfinite < 0) & ~finite, t, nonfinite))


def _checks_result(checks):
    """``(first_break int32 (-1: never), max_ulp, nonfinite_step)``."""
    if not checks:
        return ()
    result = Checks(*checks)
    return result.first_break, result.max_ulp, result.nonfinite_step


def _train_block(variant: Variant, steps: int, lr: float, flat0, x, y):
    """``(n, 9)`` initial parameters -> final parameters (and checks) after ``steps`` steps."""
    grad_fn = (jax.grad(functools.partial(scalar_loss, barrier=variant.barrier))
               if variant.grad == "autodiff" else manual_grad)
    grad = jax.vmap(grad_fn, in_axes=(0, None, None))
    lr = jnp.asarray(lr, flat0.dtype)

    def step(carry, t):
        params, checks = carry
        rows = tuple(params) if variant.carry == "leaves" else tuple(params[i] for i in
                                                                       range(N_PARAMS))
        g = grad(rows, x, y)
        if variant.carry == "leaves":
            params = tuple(p - lr * d for p, d in zip(params, g))
            rows = params
        else:
            params = params - lr * jnp.stack(g)
            rows = tuple(params[i] for i in range(N_PARAMS))
        if variant.checks:
            checks = _checks_update(checks, rows, t)
        return (params, checks), None

    cols = tuple(flat0[:, i] for i in range(N_PARAMS))
    params = cols if variant.carry == "leaves" else flat0.T
    checks = _checks_init(cols) if variant.checks else ()
    ts = jnp.arange(1, steps + 1, dtype=jnp.int32)
    (params, checks), _ = lax.scan(step, (params, checks), ts)
    final = jnp.stack(params, axis=1) if variant.carry == "leaves" else params.T
    return final, _checks_result(checks)


def prototype_program(variant: Variant, *, steps: int, lr: float, x: np.ndarray,
                      y: np.ndarray):
    """Jitted ``flat0 (n, 9) [, x, y] -> (final (n, 9), checks)``.

    ``n`` must be a multiple of ``variant.devices * variant.block`` (see :meth:`Variant.padded`).
    With ``constant_data`` the program takes ``flat0`` only.
    """
    def per_device(flat0, x, y):
        if not variant.block:
            return _train_block(variant, steps, lr, flat0, x, y)
        nb = flat0.shape[0] // variant.block
        out = lax.map(lambda f: _train_block(variant, steps, lr, f, x, y),
                      flat0.reshape(nb, variant.block, N_PARAMS))
        final, checks = out
        # checks: per block (pairs, block) -> (pairs, n); final: (nb, block, 9) -> (n, 9)
        checks = tuple(jnp.moveaxis(c, 0, -2).reshape(c.shape[1:-1] + (-1,)) for c in checks)
        return final.reshape(-1, N_PARAMS), checks

    fn = per_device
    if variant.devices > 1:
        mesh = jax.make_mesh((variant.devices,), ("seeds",), axis_types=(AxisType.Auto,))
        seeds, rep = PartitionSpec("seeds"), PartitionSpec()
        checks_spec = (PartitionSpec(None, "seeds"),) * 2 + (seeds,) if variant.checks else ()
        fn = jax.shard_map(per_device, mesh=mesh, in_specs=(seeds, rep, rep),
                           out_specs=(seeds, checks_spec), check_vma=False)
    if variant.constant_data:
        xc, yc = np.asarray(x), np.asarray(y)
        return jax.jit(lambda flat0: fn(flat0, xc, yc))
    return jax.jit(fn)


def textbook_program(widths, *, steps: int, lr: float, activation=jnp.tanh,
                     output_activation=jax.nn.sigmoid):
    """Jitted ``(flat0 (n, P), x (S, in), y (S, out)) -> final (n, P)`` for any widths.

    Per layer ``a @ W.T + b`` (default precision), the loss is the mean over samples of the sum
    over outputs of ``(yhat - y)**2 / 2``; ``jax.grad``, ``vmap`` over seeds, ``scan`` over steps.
    """
    widths = tuple(widths)
    shapes = list(zip(widths[:-1], widths[1:]))
    n_weights = sum(i * o for i, o in shapes)

    def unflatten(flat):
        mats, w, b = [], 0, n_weights
        for fan_in, fan_out in shapes:
            mats.append((flat[w : w + fan_in * fan_out].reshape(fan_out, fan_in),
                         flat[b : b + fan_out]))
            w, b = w + fan_in * fan_out, b + fan_out
        return mats

    def flatten(mats):
        return jnp.concatenate([w.reshape(-1) for w, _ in mats] + [b for _, b in mats])

    def loss(mats, x, y):
        a = x
        for layer, (w, b) in enumerate(mats, start=1):
            z = a @ w.T + b
            a = output_activation(z) if layer == len(mats) else activation(z)
        return jnp.mean(jnp.sum((a - y) ** 2 / 2, axis=1))

    grad = jax.grad(loss)

    def one_seed(flat, x, y):
        def step(mats, _):
            return jax.tree.map(lambda p, g: p - lr * g, mats, grad(mats, x, y)), None

        return flatten(lax.scan(step, unflatten(flat), None, length=steps)[0])

    return jax.jit(jax.vmap(one_seed, in_axes=(0, None, None)))
