"""Normalization layers: which permutations of hidden units survive LayerNorm and BatchNorm, and
what their affine parameters must do.

LayerNorm normalizes each sample over the units of a layer: its mean and variance are symmetric
functions of the units, so a permutation of the units is a symmetry when the gain and bias of
the norm are permuted with them; a sign flip of one unit is not (it changes the mean). BatchNorm
normalizes each unit over the batch: per-unit statistics move with the unit, so a permutation is
a symmetry with the per-unit gain and bias permuted; and because a unit's statistics are its
own, the sign flip of a whole unit (incoming row, bias, gain and bias of the norm, outgoing
column) is one too when the activation after the norm is odd. Models in plain JAX (3 hidden
units, tanh after the norm, a batch of 2 samples for BatchNorm), translated through their jaxpr
into SymPy. Exits 0 only when every verdict is as stated.

Usage: ``python proofs/norm_layers.py``
"""

from __future__ import annotations

import sys

import jax.numpy as jnp

from symjax.symbolic.jaxpr import blocks, check_cases

EPS = 1e-3


def layer_norm(p, x, y):
    z = x @ p["W"].T + p["b"][None, :]
    mean = jnp.mean(z, axis=1, keepdims=True)
    var = jnp.mean((z - mean) ** 2, axis=1, keepdims=True)
    h = jnp.tanh((z - mean) / jnp.sqrt(var + EPS) * p["g"][None, :] + p["beta"][None, :])
    return jnp.sum((h @ p["v"].T - y) ** 2)


def batch_norm(p, x, y):
    z = x @ p["W"].T + p["b"][None, :]
    mean = jnp.mean(z, axis=0, keepdims=True)
    var = jnp.mean((z - mean) ** 2, axis=0, keepdims=True)
    h = jnp.tanh((z - mean) / jnp.sqrt(var + EPS) * p["g"][None, :] + p["beta"][None, :])
    return jnp.sum((h @ p["v"].T - y) ** 2)


PARAMS = {"W": jnp.ones((3, 2)), "b": jnp.ones(3), "g": jnp.ones(3), "beta": jnp.ones(3),
          "v": jnp.ones((1, 3))}
ONE = (jnp.ones((1, 2)), jnp.ones((1, 1)))
BATCH = (jnp.ones((2, 2)), jnp.ones((2, 1)))
UNITS = blocks("W", (3, 2), 0, [0], [1]) + [("b[0]", "b[1]")] + blocks("v", (1, 3), 1, [0], [1])
AFFINE = [("g[0]", "g[1]"), ("beta[0]", "beta[1]")]
FLIP = [(a, "-" + b) for a, b in UNITS] + [("g[0]", "g[1]"), ("beta[0]", "-beta[1]")]

CASES = [
    ("LayerNorm: swap units 1,2 with gain and bias", layer_norm, PARAMS, UNITS + AFFINE, ONE,
     "proven"),
    ("LayerNorm control: gain and bias not swapped", layer_norm, PARAMS, UNITS, ONE, "refuted"),
    ("LayerNorm control: sign flip of unit 2", layer_norm, PARAMS, FLIP, ONE, "refuted"),
    ("BatchNorm: swap units 1,2 with gain and bias", batch_norm, PARAMS, UNITS + AFFINE, BATCH,
     "proven"),
    ("BatchNorm control: gain and bias not swapped", batch_norm, PARAMS, UNITS, BATCH,
     "refuted"),
    ("BatchNorm: sign flip of unit 2 (gain equal, norm bias opposite)", batch_norm, PARAMS, FLIP,
     BATCH, "proven"),
]

if __name__ == "__main__":
    print(__doc__.split("\n\n")[0] + "\n")
    sys.exit(1 if check_cases(CASES) else 0)
