"""The bridge: the symbolic gradients agree with jax.grad of the numeric network.

For a handful of networks (every activation, both losses, one to three hidden layers, several
samples, dropout), the SymPy gradient of :class:`symjax.symbolic.SymbolicMLP`, lambdified to JAX,
is compared with ``jax.grad`` of the engine's loss on each numeric path (the exact
path in both of its layouts, and matmul) at 1000 random points in float64. Prints the largest
relative difference of each comparison (see :mod:`symjax.experiments.bridge` for its definition).

Exits 0 only when every comparison agrees within the bridge's tolerance (1e-10).

Usage: ``python proofs/bridge.py [--latex DIR]``
"""

from __future__ import annotations

import math
import sys

from symjax import bridge, tex_escape, tex_number
from symjax.symbolic import ProofScript, SymbolicMLP

TOLERANCE = bridge.TOLERANCE

POINTS = 1000
SEED = 0
#: Numeric paths: the exact path's two layouts, then matmul.
PATHS = ("scalar", "vector", "matmul")
#: (widths, keyword arguments of SymbolicMLP)
NETWORKS = [
    ((2, 2, 1), {"activation": "tanh", "output_activation": "sigmoid", "loss": "squared_error"}),
    ((2, 2, 1), {"activation": "relu", "output_activation": "identity", "loss": "squared_error",
                 "samples": 3}),
    ((2, 3, 1), {"activation": "leaky_relu", "output_activation": "sigmoid", "loss": "bce",
                 "samples": 3, "reduction": "sum"}),
    ((3, 2, 2), {"activation": "softplus", "output_activation": "sigmoid", "loss": "bce"}),
    ((2, 2, 2, 1), {"activation": "sigmoid", "output_activation": "identity",
                    "loss": "squared_error", "samples": 2, "dropout": "independent"}),
    ((2, 2, 2, 2, 1), {"activation": "identity", "output_activation": "tanh",
                       "loss": "squared_error", "samples": 2, "dropout": "shared"}),
]


def _tex_number(x: float) -> str:
    """``1.2e-15`` -> ``$1.2\\times 10^{-15}$``; zero and infinity as such."""
    if not 0 < x < math.inf:
        return r"$\infty$" if x == math.inf else "$0$"
    return tex_number(f"{x:.1e}")


def latex_table(results: list[bridge.GradientComparison]) -> str:
    """A ``tabular`` fragment: one row per comparison."""
    rows = [
        r"\begin{tabular}{lllllrl}",
        r"network & activations & loss & data & path & max.\ rel.\ difference & agrees \\",
        r"\hline",
    ]
    for r in results:
        data = f"{r.samples} ({r.reduction}" + (f", {r.dropout} dropout)" if r.dropout else ")")
        rows.append(
            f"{'-'.join(map(str, r.widths))} & "
            f"{tex_escape(r.activation)}/{tex_escape(r.output_activation)} "
            f"& {tex_escape(r.loss)} & {tex_escape(data)} & {r.form} & "
            f"{_tex_number(r.max_rel)} & {'yes' if r.agrees else 'no'} \\\\"
        )
    rows.append(r"\end{tabular}")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run every comparison, print them, write the LaTeX fragment if asked; 0 if all agree."""
    script = ProofScript(__doc__, argv, latex_help="write the table of results to DIR/bridge.tex")

    print(f"Symbolic gradient (lambdified) vs jax.grad, {POINTS} random points, float64, "
          f"tolerance {TOLERANCE:.0e} (relative)\n")
    results = []
    for widths, options in NETWORKS:
        net = SymbolicMLP(widths, **options)
        for result in bridge.compare_on_paths(net, PATHS, points=POINTS, seed=SEED):
            results.append(result)
            script.check(str(result), result.agrees)
            print(f"  {'ok  ' if result.agrees else 'FAIL'} {result}")
    worst = max(results, key=lambda r: r.max_rel)
    print(f"\n{sum(r.agrees for r in results)} of {len(results)} comparisons agree; largest "
          f"relative difference {worst.max_rel:.2e} ({worst.network}, {worst.form}).")
    script.fragment("bridge.tex", latex_table(results))
    return script.finish(summary=False)


if __name__ == "__main__":
    sys.exit(main())
