"""Every permutation of every hidden layer gives a tie set that gradient descent preserves.

For several widths (one to three hidden layers, one or two outputs) and every hidden layer: every
transposition, the cycles, a product of two transpositions and the tie of the whole layer, all
proven for an arbitrary activation, output activation and loss. Negative controls are refuted
with witnesses: half ties (only the incoming weights and bias of the swapped units, or only their
outgoing weights) and the full swap under dropout with an independent mask per unit; the same
swap under a dropout mask shared by the layer stays proven. Exits 0 only when every verdict is
the one stated.

Usage: ``python proofs/permutation_invariance.py [--latex DIR]``
"""

from __future__ import annotations

import itertools
import sys

from symjax import Layout, format_ties
from symjax.symbolic import ProofScript, permutation_ties, prove_tie_invariance, whole_layer_ties

WIDTHS = [(2, 3, 1), (3, 3, 2), (2, 4, 1), (2, 2, 2, 1), (2, 3, 3, 1), (2, 2, 2, 2, 1)]


def _cycle(units: tuple[int, ...]) -> dict[int, int]:
    return {u: units[(k + 1) % len(units)] for k, u in enumerate(units)}


def positive_cases(widths) -> list[tuple[str, tuple]]:
    """(description, ties) for every permutation tie set shown for ``widths``."""
    layout = Layout(widths)
    cases = []
    for layer in layout.hidden_layers:
        n = layout.widths[layer]
        units = range(1, n + 1)
        perms = [(f"swap {i},{j}", {i: j, j: i}) for i, j in itertools.combinations(units, 2)]
        perms += [(f"cycle {c}", _cycle(c)) for c in itertools.combinations(units, 3)]
        if n >= 4:
            perms.append(("swap 1,2 and 3,4", {1: 2, 2: 1, 3: 4, 4: 3}))
        cases += [
            (f"layer {layer}: {name}", permutation_ties(widths, layer, p)) for name, p in perms
        ]
        cases.append((f"layer {layer}: whole layer", whole_layer_ties(widths, layer)))
    return cases


def negative_cases(widths) -> list[tuple[str, tuple, dict, str]]:
    """(description, ties, options, expected verdict): the controls on hidden layer 1."""
    layout = Layout(widths)
    swap = layout.swap_pairs(1, 1, 2)
    outgoing = set(layout.unit_params(1, 1)["out"])
    incoming = tuple(p for p in swap if p[0] not in outgoing)
    out_only = tuple(p for p in swap if p[0] in outgoing)
    return [
        ("half tie: incoming weights and bias only", incoming, {}, "refuted"),
        ("half tie: outgoing weights only", out_only, {}, "refuted"),
        ("full swap, independent dropout masks", swap, {"dropout": "independent"}, "refuted"),
        ("full swap, dropout mask shared by the layer", swap, {"dropout": "shared"}, "proven"),
    ]


def main(argv=None) -> int:
    script = ProofScript(__doc__, argv, latex_help="write one .tex fragment per network into DIR")
    for widths in WIDTHS:
        name = "-".join(map(str, widths))
        script.section(name)
        rows = [(d, t, {}, "proven") for d, t in positive_cases(widths)]
        rows += negative_cases(widths)
        fragment = [rf"\paragraph{{{name}}}", r"\begin{itemize}"]
        for description, ties, options, expected in rows:
            theorem = prove_tie_invariance(widths, ties, **options)
            ok = script.check(f"{name} {description}", theorem.verdict == expected)
            w = theorem.witness
            evidence = f"  witness: {w['difference']} = {w['value']}" if w else ""
            print(f"  [{'ok' if ok else 'FAILED'}] {theorem.verdict:<8} {description}: "
                  f"{format_ties(ties)}{evidence}")
            fragment.append(
                rf"\item {description.replace('_', ' ')}: \texttt{{{format_ties(ties)}}} "
                rf"--- \textbf{{{theorem.verdict}}}"
            )
        fragment.append(r"\end{itemize}")
        script.fragment(f"permutations_{name}.tex", "\n".join(fragment) + "\n")
    held = sum(ok for _, ok in script.checks)
    print(f"\n{held} of {len(script.checks)} verdicts as stated "
          "(every permutation tie set proven for arbitrary sigma, phi and l; controls refuted).")
    return script.finish(summary=False)


if __name__ == "__main__":
    sys.exit(main())
