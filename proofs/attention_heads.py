"""Attention heads: swapping two heads (their query, key and value blocks and their block of the
output projection) is a symmetry of multi-head attention, so heads that start tied stay tied.

A two-head self-attention block written in plain JAX (model width 2, head width 1, a sequence of
two tokens, softmax over keys, output projection, squared error), translated through its jaxpr
into SymPy. Proven: the head swap. Refuted with witnesses: the swap without the output projection
blocks, and with the output projection blocks paired the wrong way round (head 1's column with
head 1's). Exits 0 only when every verdict is as stated.

Usage: ``python proofs/attention_heads.py``
"""

from __future__ import annotations

import sys

import jax.numpy as jnp

from symjax.symbolic.jaxpr import blocks, check_cases

HEADS, WIDTH, TOKENS = 2, 2, 2


def attention(p, x, y):
    q, k, v = x @ p["Wq"].T, x @ p["Wk"].T, x @ p["Wv"].T      # (tokens, heads), head width 1
    outs = []
    for h in range(HEADS):
        scores = q[:, h:h + 1] * k[:, h:h + 1].T                   # (tokens, tokens)
        e = jnp.exp(scores)
        weights = e / jnp.sum(e, axis=1, keepdims=True)
        outs.append(weights @ v[:, h:h + 1])
    out = jnp.concatenate(outs, axis=1) @ p["Wo"].T
    return jnp.sum((out - y) ** 2)


PARAMS = {name: jnp.ones((HEADS, WIDTH)) for name in ("Wq", "Wk", "Wv")}
PARAMS["Wo"] = jnp.ones((WIDTH, HEADS))
DATA = (jnp.ones((TOKENS, WIDTH)), jnp.ones((TOKENS, WIDTH)))
QKV = [t for name in ("Wq", "Wk", "Wv") for t in blocks(name, (HEADS, WIDTH), 0, [0], [1])]
OUT = blocks("Wo", (WIDTH, HEADS), 1, [0], [1])
WRONG_OUT = [("Wo[0,0]", "Wo[1,1]"), ("Wo[1,0]", "Wo[0,1]")]

CASES = [
    ("swap heads 1,2: q, k, v blocks and output projection", attention, PARAMS, QKV + OUT, DATA,
     "proven"),
    ("control: q, k, v blocks only", attention, PARAMS, QKV, DATA, "refuted"),
    ("control: output projection blocks paired wrongly", attention, PARAMS, QKV + WRONG_OUT,
     DATA, "refuted"),
]

if __name__ == "__main__":
    print(__doc__.split("\n\n")[0] + "\n")
    sys.exit(1 if check_cases(CASES) else 0)
