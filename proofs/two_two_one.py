"""The 2-2-1 question end to end: why hidden units stay tied, and why untied ones drift apart.

Forward pass, the chain rule of every parameter (each checked against ``sympy.diff``), why
dJ/dw1 and dJ/dw3 differ (w5 vs w6, z1 vs z2) and why dJ/dw1 and dJ/dw2 differ (x1 vs x2), the
theorem that the swap ties w1=w3, w2=w4, w5=w6, b1=b2 are preserved for every activation and
loss, and the classification of all 16 subsets of those ties (only the empty set and the full
set are preserved). Exits 0 only when every claim comes out as stated here.

Usage: ``python proofs/two_two_one.py [--latex DIR]``
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from symjax.base.choices import ACTIVATIONS
from symjax.symbolic import SymbolicMLP, chain_rule, compare_chains, prove_tie_invariance
from symjax.symbolic._chain import forward_latex, forward_text
from symjax.symbolic._ties import lattice_table, lattice_table_latex, tie_lattice

FULL = "w1=w3,w2=w4,w5=w6,b1=b2"


def _rule(title: str) -> None:
    print(f"\n{'=' * 100}\n{title}\n{'=' * 100}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latex", metavar="DIR", type=pathlib.Path,
                        help="write .tex fragments (forward, chain rules, ...) into DIR")
    args = parser.parse_args(argv)
    checks: list[tuple[str, bool]] = []
    net = SymbolicMLP((2, 2, 1))
    w5, w6, x1 = (net.symbol(n) for n in ("w5", "w6", "x1"))

    _rule("Forward pass (sigma, phi and l are arbitrary differentiable functions)")
    print(forward_text(net))

    _rule("Chain rule for every parameter, read from J back to the parameter")
    rules = {name: chain_rule(net, name) for name in net.layout.names}
    for rule in rules.values():
        print(rule.text())
    checks.append(("every chain rule equals sympy.diff(J, p) exactly",
                   all(rule.check() for rule in rules.values())))
    factors = {f.name: f.value for f in rules["w1"].terms[0]}
    checks.append(("dz3/da1 = w5 and dz1/dw1 = x1",
                   factors["dz3/da1"] == w5 and factors["dz1/dw1"] == x1))
    w3_factors = {f.name: f.value for f in rules["w3"].terms[0]}
    checks.append(("dz3/da2 = w6", w3_factors["dz3/da2"] == w6))

    _rule("Why the gradients differ")
    w1_w3 = compare_chains(rules["w1"], rules["w3"])
    w1_w2 = compare_chains(rules["w1"], rules["w2"])
    print(w1_w3.text(), "", w1_w2.text(), sep="\n")
    checks.append(("dJ/dw1 vs dJ/dw3 differ only through w5 vs w6 and z1 vs z2",
                   w1_w3.through == (("w5", "w6"), ("z1", "z2"))))
    checks.append(("dJ/dw1 vs dJ/dw2 differ only through x1 vs x2",
                   w1_w2.through == (("x1", "x2"),)))

    _rule(f"Theorem: the ties {FULL} are preserved, for every activation and loss")
    theorem = prove_tie_invariance((2, 2, 1), FULL)
    print(theorem.render())
    checks.append(("tie theorem proven for arbitrary sigma, phi and l", theorem.proven))
    concrete = [
        prove_tie_invariance((2, 2, 1), FULL, activation=act, output_activation=out, loss=loss)
        for act in ACTIVATIONS
        for out, loss in (("identity", "squared_error"), ("sigmoid", "bce"))
    ]
    print(f"\nAs corollaries, proven directly for each of the {len(concrete)} concrete "
          f"activation x (identity, squared_error | sigmoid, bce) choices: "
          f"{sum(t.proven for t in concrete)} of {len(concrete)}.")
    checks.append(("tie theorem proven for every concrete activation and loss",
                   all(t.proven for t in concrete)))

    _rule(f"Which of the 16 subsets of {FULL} are preserved?")
    lattice = tie_lattice((2, 2, 1), FULL)
    print(lattice_table(lattice))
    print(f"\n{lattice.claim}")
    checks.append(("lattice decided, and only the empty and the full tie set are preserved",
                   lattice.proven and lattice.context["invariant"] == ["", FULL]))

    _rule("Summary")
    for text, ok in checks:
        print(f"  [{'ok' if ok else 'FAILED'}] {text}")
    if args.latex:
        args.latex.mkdir(parents=True, exist_ok=True)
        fragments = {
            "forward.tex": "\\[\n" + forward_latex(net) + "\n\\]\n",
            "chain_rules.tex": "".join(f"\\[\n{r.latex()}\n\\]\n" for r in rules.values()),
            "comparisons.tex": w1_w3.latex() + "\n" + w1_w2.latex(),
            "theorem.tex": theorem.to_latex(),
            "lattice.tex": lattice_table_latex(lattice),
        }
        for name, content in fragments.items():
            (args.latex / name).write_text(content, encoding="utf-8")
        print(f"LaTeX fragments written to {args.latex}/: {', '.join(fragments)}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
