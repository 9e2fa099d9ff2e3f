"""``symjax prove``: prove or refute that training keeps tied hidden units tied.

Prints the derivation (forward pass, chain rule of every tied parameter, and why each tied pair's
gradients differ in general) and the theorem with its verdict. Exit status: 0 proven, 1 refuted,
2 bad input, 3 unknown (time limit), 4 a proof contradicted by its independent check (a bug;
nothing is reported as proven). SymPy is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

from ..base.choices import (
    ACTIVATIONS,
    LOSS_ALIASES,
    LOSSES,
    PERTURBATIONS,
    PROVABLE_OPTIMIZERS,
    REDUCTIONS,
)
from ..base.errors import InputError

_EXIT_HELP = (
    "exit status: 0 proven, 1 refuted (with a witness), 2 bad input, 3 unknown (time limit), "
    "4 the proof was contradicted by its own independent check (a bug in symjax; nothing is "
    "reported as proven)"
)

_PERMUTATION_HELP = (
    "ties fixed by a permutation of the units of one hidden layer, written LAYER:IMAGES with "
    "1-based units: 1:2,3,1 maps unit 1 to 2, 2 to 3 and 3 to 1 of hidden layer 1 (a 3-cycle, "
    "which ties the whole layer); 2:2,1 swaps the first two units of hidden layer 2"
)


def register(subparsers) -> None:
    """Add the ``prove`` subcommand."""
    p = subparsers.add_parser(
        "prove",
        help="prove symbolically which ties gradient descent preserves",
        description=(
            "Prove (SymPy, exactly) or refute (with a witness) that tied parameters receive "
            "equal gradients wherever the ties hold, so that training keeps them tied. The "
            "defaults are undefined functions: sigma (hidden activation), phi (output "
            "activation) and l (loss), so a proof covers every choice of them. Every proven "
            "claim is also checked by independent code (random generic functions at random "
            "exact points) before it is printed."
        ),
        epilog=_EXIT_HELP,
    )
    p.add_argument("--widths", default="2,2,1", help="layer widths (default: 2,2,1)")
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--ties",
        help=(
            "tie set such as w1=w3,w2=w4,b1=b2,w5=w6 (chains w1=w3=w5 allowed; '' for none). "
            "Default: the swap of the first two units of hidden layer 1, which for 2-2-1 is "
            "w1=w3,w2=w4,b1=b2,w5=w6"
        ),
    )
    which.add_argument("--permutation", metavar="LAYER:IMAGES", help=_PERMUTATION_HELP)
    p.add_argument(
        "--activation", default="sigma",
        help=f"hidden activation: sigma (any function), {', '.join(ACTIVATIONS)} "
             "(default: sigma)",
    )
    p.add_argument(
        "--output-activation", default="phi",
        help=f"output activation: phi (any function), {', '.join(ACTIVATIONS)} (default: phi)",
    )
    p.add_argument(
        "--loss", default="l",
        help=f"per-sample loss: l (any function of all outputs and targets), "
             f"{', '.join(LOSSES + tuple(LOSS_ALIASES))} (default: l)",
    )
    p.add_argument("--samples", type=int, default=1, help="symbolic samples (default: 1)")
    p.add_argument(
        "--reduction", default="mean",
        help=f"over samples: {', '.join(REDUCTIONS)} (default: mean)",
    )
    p.add_argument(
        "--dropout", default=None,
        help="none, shared (one mask per layer) or independent (one mask per unit)",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--optimizer",
        help="prove that training with this optimizer preserves the ties: "
             + ", ".join(PROVABLE_OPTIMIZERS)
             + "; OPTIMIZER+PERTURBATION adds one of " + ", ".join(PERTURBATIONS),
    )
    mode.add_argument(
        "--lattice", action="store_true",
        help="classify every subset of the ties (the 16 subsets of the 2-2-1 swap) and print "
             "them as a table",
    )
    p.add_argument(
        "--verbose", action="store_true",
        help="with --lattice, also print the proof or refutation of every subset",
    )
    p.add_argument("--latex", metavar="FILE", help="write the derivation and theorem as LaTeX")
    p.add_argument("--json", metavar="FILE", help="write the theorem as JSON")
    p.add_argument(
        "--timeout", type=float, default=120.0, help="seconds before 'unknown' (default: 120)"
    )
    p.set_defaults(func=run)


def _write(path: str, content: str, option: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(content)
    except OSError as err:
        raise InputError(f"cannot write {option} {path!r}: {err.strerror}") from None


def run(args: argparse.Namespace) -> int:
    """Run ``symjax prove``; returns the exit status."""
    import sympy

    from ..base.version import __version__
    from ..symbolic import _ties
    from ..symbolic._claim import prove_claim

    claim = prove_claim(
        args.widths, ties=args.ties, permutation=args.permutation, optimizer=args.optimizer,
        lattice=args.lattice, timeout=args.timeout, activation=args.activation,
        output_activation=args.output_activation, loss=args.loss, samples=args.samples,
        reduction=args.reduction, dropout=args.dropout,
    )
    theorem, steps = claim.theorem, claim.derivation
    if args.lattice and not args.verbose:
        print(_ties.lattice_table(theorem))
        print()
        print(dataclasses.replace(theorem, lemmas=[]).render())
    else:
        print(steps.text())
        print()
        if args.lattice:
            print(_ties.lattice_table(theorem))
            print()
        print(theorem.render())
    if args.latex:
        _write(args.latex, steps.latex() + "\n" + theorem.to_latex(), "--latex")
    if args.json:
        record = {
            **theorem.to_dict(),
            "versions": {"symjax": __version__, "sympy": sympy.__version__},
            "latex": steps.latex() + "\n" + theorem.to_latex(),
            **_identity(args, theorem),
        }
        _write(args.json, json.dumps(record, indent=2) + "\n", "--json")
    return theorem.exit_code


def _identity(args, theorem) -> dict:
    """Run ID and provenance for ``--json``, as ``symjax verify`` records them.

    The content hash covers the options that decide the claim and the theorem itself (claim,
    verdict, steps, witness), so the same proof gives the same ``run_id`` on any machine;
    provenance (versions, host, times) is recorded beside it and not hashed.
    """
    from ..results.document import (
        SCHEMA,
        SCHEMA_VERSION,
        collect_provenance,
        content_hash,
        run_id_of,
        to_json_value,
    )

    options = {k: v for k, v in sorted(vars(args).items()) if k not in ("func", "json", "latex")}
    document = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "kind": "prove",
        "config": to_json_value(options),
        "layout": {},
        "results": to_json_value(theorem.to_dict()),
    }
    full = content_hash(document)
    return {
        "run_id": run_id_of(document),
        "content_hash": full,
        "config": document["config"],
        "provenance": collect_provenance(jax_info=False),
    }
