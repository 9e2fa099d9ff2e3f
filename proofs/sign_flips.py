"""Signed symmetries: a unit that starts as the negative of another stays so, for odd activations.

The general theorem. Let g be a signed permutation of the parameters (an orthogonal map that
permutes coordinates and flips some signs) with L(g theta) = L(theta) for every theta. Then
grad L(g theta) = g grad L(theta) (differentiate both sides; g^T = g^-1), so at a fixed point
theta = g theta the gradient is fixed too: grad L(theta) = g grad L(theta). A gradient step keeps
theta in Fix(g), and so does every optimizer whose update commutes with g (coordinatewise maps
that are odd in the gradient, with even second moments) and whose initial state is fixed by g
(zero first moments). Permutation ties are the unsigned case;
flipping the sign of a hidden unit (incoming weights, bias, outgoing weights) is a symmetry
exactly when the hidden activation is odd (tanh, identity).

This script proves the instances symbolically with the independent check behind every "proven",
and refutes the controls with witnesses: the flip of unit 1 against unit 2 of 2-2-1 (tanh and
identity proven; sigmoid, relu, leaky_relu, softplus and an arbitrary activation refuted), the
same on wider and deeper networks, a flip missing its outgoing weights (refuted), and training
with each modelled optimizer (proven by induction for tanh, except yogi: its first moment starts
at 1e-6, not 0, so it is refuted by the initial state). Exits 0 only when every verdict is the
one stated.

Usage: ``python proofs/sign_flips.py``
"""

from __future__ import annotations

import sys

from symjax import Layout
from symjax.symbolic import (
    OPTIMIZERS,
    ProofScript,
    prove_tie_invariance,
    prove_training_preserves_ties,
)


def flip(widths, layer: int, u: int, v: int, parts=("in", "bias", "out")) -> str:
    """The sign-flip ties of unit ``u`` against unit ``v`` of hidden ``layer``."""
    layout = Layout(widths)
    a, b = layout.unit_params(layer, u), layout.unit_params(layer, v)
    return ",".join(f"{x}=-{y}" for part in parts for x, y in zip(a[part], b[part]))


ODD = ("tanh", "identity")
NOT_ODD = ("sigmoid", "relu", "leaky_relu", "softplus", "sigma")


def cases():
    """(description, widths, ties, options, expected verdict)."""
    out = []
    for act in ODD + NOT_ODD:
        out.append((f"2-2-1 flip, {act}", (2, 2, 1), flip((2, 2, 1), 1, 1, 2),
                    {"activation": act}, "proven" if act in ODD else "refuted"))
    wider = (((2, 3, 1), 1, 1, 3), ((2, 2, 2, 1), 2, 1, 2), ((3, 3, 2), 1, 2, 3))
    for widths, layer, u, v in wider:
        name = "-".join(map(str, widths))
        for act in ("tanh", "sigmoid"):
            out.append((f"{name} flip of units {u},{v} of layer {layer}, {act}", widths,
                        flip(widths, layer, u, v), {"activation": act},
                        "proven" if act == "tanh" else "refuted"))
    out.append(("2-2-1 flip without the outgoing weights, tanh", (2, 2, 1),
                flip((2, 2, 1), 1, 1, 2, parts=("in", "bias")), {"activation": "tanh"},
                "refuted"))
    return out


def main(argv=None) -> int:
    script = ProofScript(__doc__, argv)
    print(__doc__.split("\n\n")[1])
    print(f"\n{'case':<58} {'ties':<40} verdict")
    for description, widths, ties, options, expected in cases():
        theorem = prove_tie_invariance(widths, ties, **options)
        ok = script.check(f"{description}: {ties}", theorem.verdict == expected)
        evidence = ""
        if theorem.witness:
            w = theorem.witness
            evidence = f"  {w['difference']} = {w['value']}"
        print(f"{description:<58} {ties:<40} {theorem.verdict.upper()}"
              f"{'' if ok else '  (expected ' + expected + ')'}{evidence}")
    print("\nTraining from sign-flipped 2-2-1 tanh parameters, w1=-w3,w2=-w4,b1=-b2,w5=-w6:")
    for optimizer in OPTIMIZERS:
        theorem = prove_training_preserves_ties(
            (2, 2, 1), flip((2, 2, 1), 1, 1, 2), optimizer, activation="tanh"
        )
        # yogi starts its first moment at 1e-6, not 0: opposite parameters get unequal moments
        expected = "refuted" if optimizer == "yogi" else "proven"
        script.check(f"training under {optimizer}", theorem.verdict == expected)
        reason = f"  {theorem.witness['difference']} = {theorem.witness['value']}" if (
            theorem.refuted) else ""
        print(f"  {optimizer:<28} {theorem.verdict.upper()}"
              f"{'' if theorem.verdict == expected else '  (expected ' + expected + ')'}{reason}")
    held = sum(ok for _, ok in script.checks)
    print(f"\n{held} of {len(script.checks)} verdicts as stated.")
    return script.finish(summary=False)


if __name__ == "__main__":
    sys.exit(main())
