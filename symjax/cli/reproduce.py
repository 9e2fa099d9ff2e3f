"""``symjax reproduce`` (:mod:`symjax.report.reproduce`, which sets the XLA flags of the recorded
run before anything imports JAX)."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Re-run the config recorded in a symjax verify results.json, with the same batch layout (seeds
per call, devices, XLA flags), and compare every per-seed figure with the recorded files: each
column of per_seed.csv, and params.npz and trajectories.npz when present, bit for bit. Prints
which files and columns matched and, for each difference, the run, seed, column and by how much.
Exit status 0 when everything matches, 1 when anything differs, 2 on bad input (a missing,
truncated, edited or inconsistent results file) or when the environment differs in a way that
makes a bitwise comparison meaningless (symjax, jax, jaxlib or optax version, machine, device
count or kind, platform, XLA flags): then it says what differs; with --tolerance X it re-runs
anyway and compares floats within relative tolerance X (integers exactly)."""


def register(subparsers) -> None:
    """Add the ``reproduce`` subcommand."""
    parser = subparsers.add_parser(
        "reproduce", help="re-run a recorded verify run and compare it bit for bit",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("results", metavar="RESULTS",
                        help="results.json written by symjax verify --out DIR (or DIR)")
    parser.add_argument("--tolerance", metavar="X", type=float,
                        help="compare floats within relative tolerance X instead of bitwise; "
                             "also allows a different environment")
    parser.add_argument("--out", metavar="DIR",
                        help="keep the re-run's files here (default: a temporary directory)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``symjax reproduce``; returns the exit status."""
    import sys

    from ..report.reproduce import render, reproduce

    outcome = reproduce(args.results, tolerance=args.tolerance, out=args.out, quiet=args.quiet)
    stream = sys.stderr if outcome.status == 2 else sys.stdout
    for line in render(outcome, args.tolerance):
        print(line, file=stream)
    return outcome.status
