"""``symjax verify``: the numeric check, from the command line.

No JAX at import: :func:`run` sets the XLA flags of the fast path (:func:`symjax.configure_xla`)
before anything imports JAX.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from ._errors import InputError
from ._verify_options import OPTIONS

DESCRIPTION = """\
Train many seeds of an MLP under every init scheme x optimizer and check, bit for bit at every
step, that tied hidden units stay tied. The default is the main experiment: 2-2-1, tanh hidden,
sigmoid output, squared error, XOR, every built-in init scheme, sgd and adam, 10,000 seeds,
1,000 steps, exact path. Prints a table per init x optimizer; with --out DIR writes
results.json (config, layout, summaries, provenance) and per_seed.csv. Exit status 0 when every
run covered by the invariance theorem kept its ties, 1 otherwise, 2 on bad input."""


def register(subparsers) -> None:
    """Add the ``verify`` subcommand."""
    parser = subparsers.add_parser(
        "verify", help="check numerically that tied units stay tied (many seeds, bitwise)",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for name, (default, text) in OPTIONS.items():
        shown = "" if default is None else f" (default: {default})"  # else the text says it
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, default=default,
                            metavar=name.upper(), help=text + shown)
    parser.add_argument("--out", metavar="DIR", help="write results.json and per_seed.csv here")
    parser.add_argument("--save-params", action="store_true",
                        help="also write params.npz (initial and final parameters per run)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``symjax verify``; returns the exit status."""
    if args.save_params and not args.out:
        raise InputError("--save-params needs --out DIR (where params.npz is written)")
    from ._xla import configure_xla

    configure_xla()
    from ._verifier import SymjaxWarning, verify

    options = {name: getattr(args, name) for name in OPTIONS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SymjaxWarning)  # the table repeats them
        results = verify(**options, out=args.out, save_params=args.save_params,
                         quiet=args.quiet)
    print(results.table())
    if args.out:
        print(f"wrote {args.out}", file=sys.stderr)
    return 0 if results.ok else 1
