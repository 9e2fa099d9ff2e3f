"""Which optimizers keep tied hidden units tied, and which perturbations break the tie.

For every optimizer: its per-coordinate update formulas, the per-coordinate lemma and the verdict
of the induction over training steps (2-2-1 network, ties w1=w3, w2=w4, b1=b2, w5=w6, any
activation and loss). Then each symmetry-breaking perturbation with its witness, and its
symmetric control. Exits 0 only when every optimizer is proven, every perturbation refuted and
every control proven.

Usage: ``python proofs/optimizers.py [--latex DIR]``
"""

from __future__ import annotations

import sys

import sympy as sp

from symjax.symbolic import (
    OPTIMIZERS,
    SYMMETRIC_CONTROLS,
    ProofScript,
    prove_training_preserves_ties,
    prove_update_preserves_ties,
    update_formulas,
)

#: Perturbed optimizers shown, each with the verdict it must get.
PERTURBED = [
    (f"{base}+{name}", expected)
    for base in ("sgd", "adam")
    for breaking, control in SYMMETRIC_CONTROLS.items()
    for name, expected in ((breaking, "refuted"), (control, "proven"))
]


def main(argv=None) -> int:
    script = ProofScript(__doc__, argv, latex_help="write one .tex fragment per theorem into DIR")

    rows = []
    for optimizer in OPTIMIZERS:
        script.section(f"Optimizer {optimizer}")
        print("Per-coordinate update of p (for q, swap p and q):")
        shown: dict[sp.Expr, sp.Symbol] = {}
        for name, expr in update_formulas(optimizer).items():
            if name.endswith(("_p", "_p'")) and not name.startswith("theta"):
                print(f"  {name} = {expr.xreplace(shown)}")
                shown[expr] = sp.Symbol(name)
        print("  theta_p' = theta_p + u_p")
        print(prove_update_preserves_ties(optimizer))
        theorem = prove_training_preserves_ties((2, 2, 1), None, optimizer)
        print(f"\nInduction: {theorem.claim}")
        for i, step in enumerate(theorem.steps, 1):
            print(f"  {i}. {step.text}")
        print(f"Verdict: {theorem.verdict.upper()}")
        rows.append((optimizer, theorem, "proven"))

    script.section("Perturbations (refuted: ties break; the symmetric controls must stay proven)")
    for optimizer, expected in PERTURBED:
        theorem = prove_training_preserves_ties((2, 2, 1), None, optimizer)
        failing = next((lemma for lemma in theorem.lemmas if not lemma.proven), None)
        print(f"\n{optimizer}: {theorem.verdict.upper()}")
        if failing is not None:
            print(f"  failing lemma: {failing.claim}")
            print("  witness: " + ", ".join(f"{k}={v}" for k, v in theorem.witness.items()))
        rows.append((optimizer, theorem, expected))

    script.section("Summary")
    print(f"{'optimizer':<28} {'preserves ties':<16} {'expected':<10} ok")
    for name, theorem, expected in rows:
        yes = {"proven": "yes", "refuted": "no"}.get(theorem.verdict, theorem.verdict)
        want = {"proven": "yes", "refuted": "no"}[expected]
        print(f"{name:<28} {yes:<16} {want:<10} {'ok' if theorem.verdict == expected else 'FAIL'}")

    for name, theorem, expected in rows:
        script.check(name, theorem.verdict == expected)
        script.fragment(f"optimizer_{name.replace('+', '_')}.tex", theorem.to_latex())
    print("\nAll claims came out as stated." if script.ok else
          "\nSOME CLAIMS DID NOT COME OUT AS STATED.")
    return script.finish(summary=False)


if __name__ == "__main__":
    sys.exit(main())
