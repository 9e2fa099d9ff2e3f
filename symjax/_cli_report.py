"""``symjax report``: tables, figures and a methods paragraph from a ``symjax verify`` directory.

Nothing heavy at import: :mod:`symjax._report` (NumPy) and matplotlib load when the command runs;
JAX is never needed.
"""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Write a report of a symjax verify results directory (results.json and per_seed.csv, and
trajectories.npz when the run used --trajectory-every): report.md (methods, table, figures,
notes), table.tex (booktabs, ready to \\input), summary.csv, methods.txt, methods.tex, and the
figures as PDF and PNG (needs matplotlib: pip install symjax-proofs[plots]). With DIR/proof.json
(symjax prove --json DIR/proof.json), also appendix_proof.tex. Every number is read from the
run's files. Exit status 0 on success, 2 on bad input (a missing, truncated, edited or
inconsistent results file). A directory written by symjax dynamics --out DIR gets report.md,
summary.txt (measured next to predicted) and its figures."""


def register(subparsers) -> None:
    """Add the ``report`` subcommand."""
    parser = subparsers.add_parser(
        "report",
        help="tables, figures and a methods paragraph from a verify (or dynamics) directory",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("results", metavar="DIR",
                        help="directory written by symjax verify --out DIR (or its results.json)")
    parser.add_argument("--out", metavar="OUT", help="output directory (default: DIR/report)")
    parser.add_argument("--proof", metavar="FILE",
                        help="proof JSON for the appendix (default: DIR/proof.json if present)")
    parser.add_argument("--no-figures", action="store_true",
                        help="write the tables and the methods paragraph only")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``symjax report``; returns the exit status."""
    from ._report import write_report

    report = write_report(args.results, args.out, proof=args.proof,
                          figures=not args.no_figures)
    print(f"wrote {len(report.files)} files into {report.out}:")
    for path in report.files:
        print(f"  {path.name}")
    for note in report.notes:
        print(f"note: {note}")
    return 0
