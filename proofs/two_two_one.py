"""The 2-2-1 question end to end: why hidden units stay tied, and why untied ones drift apart.

Forward pass, the chain rule of every parameter (each checked against ``sympy.diff``), why
dJ/dw1 and dJ/dw3 differ (w5 vs w6, z1 vs z2) and why dJ/dw1 and dJ/dw2 differ (x1 vs x2), the
theorem that the swap ties w1=w3, w2=w4, w5=w6, b1=b2 are preserved for every activation and
loss, and the classification of all 16 subsets of those ties (only the empty set and the full
set are preserved). Exits 0 only when every claim comes out as stated here.

Usage: ``python proofs/two_two_one.py [--latex DIR]``
"""

from __future__ import annotations

import sys

from symjax.symbolic import (
    ACTIVATIONS,
    ProofScript,
    SymbolicMLP,
    chain_rule,
    compare_chains,
    forward_latex,
    forward_text,
    lattice_table,
    lattice_table_latex,
    prove_tie_invariance,
    tie_lattice,
)

FULL = "w1=w3,w2=w4,w5=w6,b1=b2"


def main(argv=None) -> int:
    script = ProofScript(__doc__, argv,
                       latex_help="write .tex fragments (forward, chain rules, ...) into DIR")
    net = SymbolicMLP((2, 2, 1))
    w5, w6, x1 = (net.symbol(n) for n in ("w5", "w6", "x1"))

    script.section("Forward pass (sigma, phi and l are arbitrary differentiable functions)")
    print(forward_text(net))

    script.section("Chain rule for every parameter, read from J back to the parameter")
    rules = {name: chain_rule(net, name) for name in net.layout.names}
    for rule in rules.values():
        print(rule.text())
    script.check("every chain rule equals sympy.diff(J, p) exactly",
                 all(rule.check() for rule in rules.values()))
    factors = {f.name: f.value for f in rules["w1"].terms[0]}
    script.check("dz3/da1 = w5 and dz1/dw1 = x1",
                 factors["dz3/da1"] == w5 and factors["dz1/dw1"] == x1)
    w3_factors = {f.name: f.value for f in rules["w3"].terms[0]}
    script.check("dz3/da2 = w6", w3_factors["dz3/da2"] == w6)

    script.section("Why the gradients differ")
    w1_w3 = compare_chains(rules["w1"], rules["w3"])
    w1_w2 = compare_chains(rules["w1"], rules["w2"])
    print(w1_w3.text(), "", w1_w2.text(), sep="\n")
    script.check("dJ/dw1 vs dJ/dw3 differ only through w5 vs w6 and z1 vs z2",
                 w1_w3.through == (("w5", "w6"), ("z1", "z2")))
    script.check("dJ/dw1 vs dJ/dw2 differ only through x1 vs x2",
                 w1_w2.through == (("x1", "x2"),))

    script.section(f"Theorem: the ties {FULL} are preserved, for every activation and loss")
    theorem = prove_tie_invariance((2, 2, 1), FULL)
    print(theorem.render())
    script.check("tie theorem proven for arbitrary sigma, phi and l", theorem.proven)
    concrete = [
        prove_tie_invariance((2, 2, 1), FULL, activation=act, output_activation=out, loss=loss)
        for act in ACTIVATIONS
        for out, loss in (("identity", "squared_error"), ("sigmoid", "bce"))
    ]
    print(f"\nAs corollaries, proven directly for each of the {len(concrete)} concrete "
          f"activation x (identity, squared_error | sigmoid, bce) choices: "
          f"{sum(t.proven for t in concrete)} of {len(concrete)}.")
    script.check("tie theorem proven for every concrete activation and loss",
                 all(t.proven for t in concrete))

    script.section(f"Which of the 16 subsets of {FULL} are preserved?")
    lattice = tie_lattice((2, 2, 1), FULL)
    print(lattice_table(lattice))
    print(f"\n{lattice.claim}")
    script.check("lattice decided, and only the empty and the full tie set are preserved",
                 lattice.proven and lattice.context["invariant"] == ["", FULL])

    script.fragment("forward.tex", "\\[\n" + forward_latex(net) + "\n\\]\n")
    script.fragment("chain_rules.tex",
                    "".join(f"\\[\n{r.latex()}\n\\]\n" for r in rules.values()))
    script.fragment("comparisons.tex", w1_w3.latex() + "\n" + w1_w2.latex())
    script.fragment("theorem.tex", theorem.to_latex())
    script.fragment("lattice.tex", lattice_table_latex(lattice))
    return script.finish()


if __name__ == "__main__":
    sys.exit(main())
