"""Convolution channels: swapping two output channels of a conv layer, together with the matching
input channels of the next conv layer, is a symmetry, so channels that start tied stay tied.

A tiny 1-D CNN written in plain JAX (conv 1 -> 2 channels, kernel 2; tanh; conv 2 -> 1 channel,
kernel 2; mean over positions; squared error), translated through its jaxpr into SymPy. Proven:
the channel swap ties (kernels of conv 1, their biases, and the input-channel slices of conv 2).
Refuted with witnesses: the same ties without the conv-2 slices, and conv-2 slices paired with
the wrong kernel taps. Exits 0 only when every verdict is as stated.

Usage: ``python proofs/conv_channels.py``
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp

from symjax.symbolic.jaxpr import blocks, check_cases

NUMBERS = ("NCH", "OIH", "NCH")


def cnn(p, x, y):
    h = jax.lax.conv_general_dilated(x, p["k1"], (1,), [(0, 0)], dimension_numbers=NUMBERS)
    h = jnp.tanh(h + p["c1"][None, :, None])
    h = jax.lax.conv_general_dilated(h, p["k2"], (1,), [(0, 0)], dimension_numbers=NUMBERS)
    return jnp.sum((jnp.mean(h, axis=2) - y) ** 2)


PARAMS = {"k1": jnp.ones((2, 1, 2)), "c1": jnp.ones(2), "k2": jnp.ones((1, 2, 2))}
DATA = (jnp.ones((1, 1, 3)), jnp.ones((1, 1)))
CONV1 = blocks("k1", (2, 1, 2), 0, [0], [1]) + [("c1[0]", "c1[1]")]
CONV2 = blocks("k2", (1, 2, 2), 1, [0], [1])
WRONG_TAPS = [("k2[0,0,0]", "k2[0,1,1]"), ("k2[0,0,1]", "k2[0,1,0]")]

CASES = [
    ("swap output channels 1,2 of conv 1 and input channels of conv 2", cnn, PARAMS,
     CONV1 + CONV2, DATA, "proven"),
    ("control: conv 1 channels only", cnn, PARAMS, CONV1, DATA, "refuted"),
    ("control: conv 2 slices paired with the wrong taps", cnn, PARAMS, CONV1 + WRONG_TAPS, DATA,
     "refuted"),
]

if __name__ == "__main__":
    print(__doc__.split("\n\n")[0] + "\n")
    sys.exit(1 if check_cases(CASES) else 0)
