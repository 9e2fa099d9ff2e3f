"""``symjax prove``: prove or refute that training keeps tied hidden units tied.

Prints the derivation (forward pass, chain rule of every tied parameter, and why each tied pair's
gradients differ in general) and the theorem with its verdict; the exit statuses are those of
``_EXIT_HELP`` (the end of ``--help``). SymPy is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import dataclasses

from ..base.choices import (
    ACTIVATIONS,
    LOSS_ALIASES,
    LOSSES,
    PERTURBATIONS,
    PROVABLE_OPTIMIZERS,
    REDUCTIONS,
)
from .laws import add_json_options

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
    add_json_options(p)
    p.add_argument(
        "--timeout", type=float, default=120.0, help="seconds before 'unknown' (default: 120)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``symjax prove``; returns the exit status."""
    from ..results.records import claim_targets, command_config, write_latex, write_record
    from ..symbolic import _ties

    claim_targets(args, "prove")
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
    latex = steps.latex() + "\n" + theorem.to_latex()
    if args.latex:
        write_latex(args.latex, latex, force=args.force)
    if args.json:
        write_record(args.json, kind="prove", config=command_config(args),
                     result=theorem.to_dict(), extra={"latex": latex}, force=args.force)
    return theorem.exit_code
