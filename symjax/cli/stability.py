"""``symjax stability``: how fast a small asymmetry between tied hidden units grows (2-2-1).

Prints the antisymmetric Hessian block ``H_anti`` (its compact form, proven equal to the Hessian
block, and its value at the tied point), the per-step growth factor ``rho(I - eta H_anti)`` at the
point, the block-diagonality theorem and the Fukumizu-Amari duplication theorem with their
verdicts. ``--json FILE`` writes the same as JSON.

Exit status as for ``symjax prove``: 0 both theorems proven, 1 refuted, 2 bad input, 3 unknown,
4 a proof contradicted by its independent check.
"""

from __future__ import annotations

import argparse

from ..base.choices import ACTIVATIONS
from ..base.errors import InputError
from .laws import add_json_options

#: Repeated from ``symjax.symbolic._stability`` so that ``--help`` does not import SymPy.
_OUTPUTS = ("sigmoid", "identity")
_DEFAULT_POINT = "w1=1/2,w2=-1/3,b1=1/4,w5=1,b3=0"


def register(subparsers) -> None:
    """Add the ``stability`` subcommand."""
    parser = subparsers.add_parser(
        "stability",
        help="growth of small asymmetries between tied hidden units (2-2-1, XOR)",
        description=(
            "Linearise gradient descent of the 2-2-1 network on XOR (squared error, mean) at a "
            "tied point: prove the Hessian block diagonal in symmetric/antisymmetric "
            "coordinates, print the antisymmetric block H_anti and the per-step growth factor "
            "rho(I - eta H_anti) of a small asymmetry, and prove that the tied network is a "
            "2-1-1 network with its hidden unit duplicated (Fukumizu-Amari)."
        ),
    )
    parser.add_argument(
        "--activation", default="sigmoid",
        help=f"hidden activation: {', '.join(ACTIVATIONS)} (default sigmoid)",
    )
    parser.add_argument(
        "--output-activation", default="sigmoid",
        help=f"output activation: {', '.join(_OUTPUTS)} (default sigmoid)",
    )
    parser.add_argument("--lr", default="1/2", help="learning rate eta, exact (default 1/2)")
    parser.add_argument(
        "--point", default=_DEFAULT_POINT,
        help=(
            "tied point as name=value pairs (w1=w3, w2=w4, b1=b2, w5=w6; missing ones take the "
            f"default), exact rationals (default {_DEFAULT_POINT})"
        ),
    )
    add_json_options(parser)
    parser.set_defaults(func=run)


def parse_point(text: str) -> dict[str, str]:
    """``"w1=1/2,w5=1"`` -> ``{"w1": "1/2", "w5": "1"}``; InputError for a bad chunk."""
    out = {}
    for chunk in (c.strip() for c in text.split(",")):
        if not chunk:
            continue
        name, sep, value = (s.strip() for s in chunk.partition("="))
        if not sep or not name or not value:
            raise InputError(f"point entry {chunk!r} must look like w1=1/2")
        if name in out:
            raise InputError(f"point entry {chunk!r} gives {name} a second value")
        out[name] = value
    return out


#: Learning rates are exact rationals; beyond these magnitudes a float cannot show the result.
_LR_RANGE = (1e-300, 1e300)


def check_lr(text: str) -> None:
    """Refuse (InputError), before any proof starts, a learning rate that is not a positive
    rational whose size a float can hold (the growth factor is reported as a float)."""
    import re

    value = text.strip()
    low, high = _LR_RANGE
    if not re.fullmatch(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?"
                        r"(/[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?)?", value):
        raise InputError(f"--lr {text!r} must be an exact rational such as 1/2 or 0.5")
    num, _, den = value.partition("/")
    try:
        size = float(num) / float(den or 1)
    except (OverflowError, ZeroDivisionError):
        size = float("nan")
    if not low <= size <= high:
        raise InputError(f"--lr {text!r} must be positive, between {low:g} and {high:g}")


def run(args: argparse.Namespace) -> int:
    """Prove, evaluate, print, optionally write JSON; 0 proven, 1 refuted."""
    import sympy as sp

    from ..results.records import claim_targets, command_config, write_record
    from ..symbolic._stability import (
        describe_compact_form,
        growth_factor,
        prove_block_diagonal,
        prove_duplication,
        stability_model,
    )
    from ..symbolic._theorem import EXIT_STATUS

    claim_targets(args, "stability")

    check_lr(args.lr)
    model = stability_model(args.activation, args.output_activation)
    growth = growth_factor(model, parse_point(args.point), args.lr)
    block = prove_block_diagonal(model)
    duplication = prove_duplication(model)

    point = ", ".join(
        f"{name}={partner}={value}" if partner else f"{name}={value}"
        for (name, value), partner in zip(growth.point.items(), ("w3", "w4", "b2", "w6", None))
    )
    print(f"Stability of the tied subspace: {model.describe()}")
    print("\nAntisymmetric Hessian block (compact form; equality with the Hessian is lemma 2):")
    print(describe_compact_form(model))
    print(f"\nTied point: {point}; learning rate eta = {sp.Rational(args.lr)}")
    print("H_anti at the point:")
    for row in growth.hessian:
        print("  [" + ", ".join(f"{v: .6e}" for v in row) + "]")
    print("eigenvalues of H_anti: " + ", ".join(f"{v:.6e}" for v in growth.eigenvalues))
    trend = "grows" if growth.grows else "does not grow"
    print(
        f"growth factor rho(I - eta H_anti) = {growth.factor:.12g}: a small asymmetry {trend} "
        f"by this factor per step (to first order)"
    )
    print("\n" + block.render())
    print("\n" + duplication.render())
    if args.json:
        result = {
            "activation": model.activation,
            "output_activation": model.output_activation,
            "data": [[str(v) for v in row] for row in model.data],
            **growth.to_dict(),
            "H_anti_symbolic": [
                [sp.sstr(model.compact_antisymmetric_hessian[i, j]) for j in range(4)]
                for i in range(4)
            ],
            "theorems": [block.to_dict(), duplication.to_dict()],
        }
        write_record(args.json, kind="stability", config=command_config(args), result=result,
                     force=args.force)
    verdicts = {block.verdict, duplication.verdict}
    return max(EXIT_STATUS[v] for v in verdicts) if "refuted" not in verdicts else 1
