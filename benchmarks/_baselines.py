"""Baselines the engine is timed against, for the default workload only.

2-2-1 network, tanh hidden units, sigmoid output, squared error ``(yhat - y)**2 / 2`` averaged
over the samples, plain gradient descent with a fixed learning rate. Every baseline takes the same
initial parameters, an ``(N, 9)`` array in the shared order ``[w1..w6, b1..b3]``, and returns the
final parameters after ``steps`` steps, so the benchmark can check that they all computed the
same thing.
"""

from __future__ import annotations

import numpy as np


def numpy_backprop(params0, x, y, *, lr, steps):
    """Hand-written backprop in NumPy, vectorized over seeds (one array per parameter)."""
    p = [np.array(params0[:, i]) for i in range(9)]
    w1, w2, w3, w4, w5, w6, b1, b2, b3 = p
    x = np.asarray(x, dtype=params0.dtype)
    y = np.asarray(y, dtype=params0.dtype).reshape(-1)
    m = x.shape[0]
    scale = params0.dtype.type(1.0 / m)
    lr = params0.dtype.type(lr)
    for _ in range(steps):
        g = [np.zeros_like(w1) for _ in range(9)]
        for s in range(m):
            x1, x2, t = x[s, 0], x[s, 1], y[s]
            a1 = np.tanh(w1 * x1 + w2 * x2 + b1)
            a2 = np.tanh(w3 * x1 + w4 * x2 + b2)
            a3 = 1 / (1 + np.exp(-(w5 * a1 + w6 * a2 + b3)))
            d3 = (a3 - t) * a3 * (1 - a3) * scale
            d1 = d3 * w5 * (1 - a1 * a1)
            d2 = d3 * w6 * (1 - a2 * a2)
            terms = (d1 * x1, d1 * x2, d2 * x1, d2 * x2, d3 * a1, d3 * a2, d1, d2, d3)
            for i, v in enumerate(terms):
                g[i] += v
        w1, w2, w3, w4, w5, w6, b1, b2, b3 = (
            v - lr * gv for v, gv in zip((w1, w2, w3, w4, w5, w6, b1, b2, b3), g)
        )
    return np.stack([w1, w2, w3, w4, w5, w6, b1, b2, b3], axis=1)


def _textbook_loss(params, x, y):
    import jax
    import jax.numpy as jnp

    W1, b1, W2, b2 = params
    h = jnp.tanh(x @ W1.T + b1)
    out = jax.nn.sigmoid(h @ W2.T + b2)[:, 0]
    return jnp.mean(0.5 * (out - y) ** 2)


def _to_textbook(flat):
    """(9,) shared order -> (W1 (2,2), b1 (2,), W2 (1,2), b2 (1,))."""
    return (flat[0:4].reshape(2, 2), flat[6:8], flat[4:6].reshape(1, 2), flat[8:9])


def _from_textbook(params):
    import jax.numpy as jnp

    W1, b1, W2, b2 = params
    return jnp.concatenate([W1.reshape(-1), W2.reshape(-1), b1, b2])


def textbook_jax(params0, x, y, *, lr, steps):
    """The way most JAX code is written: ``X @ W.T``, ``jax.grad``, ``vmap(scan)``, ``jit``.

    Returns a jitted function ``run(params0) -> final params`` so that compile time can be
    measured separately from run time.
    """
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(x, dtype=params0.dtype)
    y = jnp.asarray(y, dtype=params0.dtype).reshape(-1)
    grad = jax.grad(_textbook_loss)

    def one_seed(flat):
        def step(p, _):
            g = grad(p, x, y)
            return jax.tree.map(lambda a, b: a - lr * b, p, g), None

        p, _ = jax.lax.scan(step, _to_textbook(flat), None, length=steps)
        return _from_textbook(p)

    return jax.jit(jax.vmap(one_seed))


def python_loop(params0, x, y, *, lr, steps):
    """One jitted training step per Python call, one seed at a time."""
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(x, dtype=params0.dtype)
    y = jnp.asarray(y, dtype=params0.dtype).reshape(-1)
    grad = jax.grad(_textbook_loss)

    @jax.jit
    def step(p):
        g = grad(p, x, y)
        return jax.tree.map(lambda a, b: a - lr * b, p, g)

    out = []
    for flat in params0:
        p = _to_textbook(jnp.asarray(flat))
        for _ in range(steps):
            p = step(p)
        out.append(np.asarray(_from_textbook(p)))
    return np.stack(out)
