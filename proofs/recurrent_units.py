"""Recurrent units: swapping two hidden units of an RNN (their input rows, their recurrent rows
and columns, their biases and their readout columns) is a symmetry, so tied units stay tied
through time.

An Elman RNN written in plain JAX (2 inputs, 2 hidden tanh units, 2 time steps, linear readout of
the last state, squared error), translated through its jaxpr into SymPy. Proven: the unit swap,
and for tanh the sign flip of one unit against the other (unit 2 = -unit 1: input rows, bias and
readout opposite, recurrent matrix U[0,0]=U[1,1], U[0,1]=U[1,0]). Refuted with witnesses: the
recurrent rows swapped without their columns, and no recurrent ties at all. Exits 0 only when
every verdict is as stated.

Usage: ``python proofs/recurrent_units.py``
"""

from __future__ import annotations

import sys

import jax.numpy as jnp

from symjax.symbolic.jaxpr import blocks, check_cases


def rnn(p, xs, y):
    h = jnp.zeros((1, 2))
    for t in range(xs.shape[0]):
        h = jnp.tanh(xs[t:t + 1] @ p["W"].T + h @ p["U"].T + p["b"][None, :])
    return jnp.sum((h @ p["v"].T - y) ** 2)


PARAMS = {"W": jnp.ones((2, 2)), "U": jnp.ones((2, 2)), "b": jnp.ones(2), "v": jnp.ones((1, 2))}
DATA = (jnp.ones((2, 2)), jnp.ones((1, 1)))
ROWS = blocks("W", (2, 2), 0, [0], [1]) + [("b[0]", "b[1]")] + blocks("v", (1, 2), 1, [0], [1])
# the recurrent matrix under the swap: U[0,0]<->U[1,1], U[0,1]<->U[1,0]
RECURRENT = [("U[0,0]", "U[1,1]"), ("U[0,1]", "U[1,0]")]
FLIP = [(a, "-" + b) for a, b in ROWS] + [("U[0,0]", "U[1,1]"), ("U[0,1]", "U[1,0]")]

CASES = [
    ("swap units 1,2: input rows, recurrent rows and columns, bias, readout", rnn, PARAMS,
     ROWS + RECURRENT, DATA, "proven"),
    ("sign flip of unit 2 against unit 1 (tanh is odd)", rnn, PARAMS, FLIP, DATA, "proven"),
    ("control: recurrent rows swapped, columns not (U[0,0]=U[1,0], U[0,1]=U[1,1])", rnn, PARAMS,
     ROWS + [("U[0,0]", "U[1,0]"), ("U[0,1]", "U[1,1]")], DATA, "refuted"),
    ("control: no recurrent ties", rnn, PARAMS, ROWS, DATA, "refuted"),
]

if __name__ == "__main__":
    print(__doc__.split("\n\n")[0] + "\n")
    sys.exit(1 if check_cases(CASES) else 0)
