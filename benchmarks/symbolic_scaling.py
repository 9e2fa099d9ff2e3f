"""How the symbolic engine scales with the widths: derivation and proof times.

For 2-h-1 (h up to 16) and 2-h-h-1 networks with undefined activation and loss: the time to
build the loss and differentiate it with respect to every parameter ("gradients"), and the time
to prove that every transposition of every hidden layer preserves its ties, from a cold cache
(gradients included). Each time is the minimum over ``--repeat`` runs. Target: all 28
transpositions of 2-8-1 proven in under 30 s on a 2-core machine.

Usage: ``python benchmarks/symbolic_scaling.py [--max-hidden 16] [--repeat 1]``
"""

from __future__ import annotations

import argparse
import sys
import time

from symjax import Layout
from symjax.symbolic import SymbolicMLP, prove_transpositions
from symjax.symbolic._ties import clear_cache

TARGET_WIDTHS = (2, 8, 1)
TARGET_SECONDS = 30.0


def _best_of(repeat: int, fn) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def _prove_cold(widths):
    clear_cache()
    return prove_transpositions(widths, timeout=600)


def measure(widths, repeat: int) -> dict:
    """One row of the table."""
    t_grad, _ = _best_of(repeat, lambda: SymbolicMLP(widths).gradient())
    t_prove, theorem = _best_of(repeat, lambda: _prove_cold(widths))
    return {
        "widths": "-".join(map(str, widths)),
        "params": Layout(widths).n_params,
        "transpositions": len(theorem.lemmas),
        "gradients_s": t_grad,
        "prove_s": t_prove,
        "per_transposition_ms": 1000 * t_prove / max(len(theorem.lemmas), 1),
        "verdict": theorem.verdict,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-hidden", type=int, default=16, help="largest h of 2-h-1")
    parser.add_argument("--repeat", type=int, default=1, help="runs per row (minimum shown)")
    args = parser.parse_args(argv)
    series = [(2, h, 1) for h in (2, 3, 4, 6, 8, 12, 16) if h <= args.max_hidden]
    series += [(2, h, h, 1) for h in (2, 3, 4, 5, 6) if h <= args.max_hidden]
    header = f"{'widths':<10} {'params':>6} {'transp.':>7} {'gradients s':>11} " \
             f"{'prove s':>8} {'ms/transp.':>10}  verdict"
    print(header)
    print("-" * len(header))
    rows = []
    for widths in series:
        row = measure(widths, args.repeat)
        rows.append(row)
        print(f"{row['widths']:<10} {row['params']:>6} {row['transpositions']:>7} "
              f"{row['gradients_s']:>11.2f} {row['prove_s']:>8.2f} "
              f"{row['per_transposition_ms']:>10.1f}  {row['verdict']}", flush=True)
    target = next((r for r in rows if r["widths"] == "-".join(map(str, TARGET_WIDTHS))), None)
    if target is None:
        return 0
    met = target["verdict"] == "proven" and target["prove_s"] < TARGET_SECONDS
    print(f"\nTarget: all transpositions of {target['widths']} proven in under "
          f"{TARGET_SECONDS:g} s: {target['prove_s']:.2f} s, {'met' if met else 'NOT met'} "
          f"({TARGET_SECONDS / target['prove_s']:.0f}x under the budget).")
    return 0 if met and all(r["verdict"] == "proven" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
