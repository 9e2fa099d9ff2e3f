"""``symjax dynamics``: the numeric half of conservation laws, stability and rounding.

Measures, over many seeds with JAX, (1) the conservation law of ReLU units under GD (per-step
change ``eta^2 (|g_in|^2 - g_out^2)``), its drift under momentum and Adam and its decay under
weight decay; (2) the growth of a small asymmetry between tied units of 2-2-1 on XOR against
the product of the Jacobians of the GD map on the antisymmetric subspace, and the break step
against ``ln(1/eps)``; (3) how often rounding on the matmul path breaks tied units, and that the
exact path never does. Prints measured next to predicted; ``--json FILE`` writes a results
document (kind ``dynamics``, with provenance); ``--out DIR`` also draws figures.

Exit status: 0 when every measurement agrees with its prediction, 1 when one does not, 2 on bad
input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..base.errors import InputError, choose


def register(subparsers) -> None:
    """Add the ``dynamics`` subcommand."""
    parser = subparsers.add_parser(
        "dynamics",
        help="measure conservation laws, growth of asymmetries and rounding breaks (JAX)",
        description=__doc__.split("\n\n", 1)[1].split("\n\nExit")[0].replace("\n", " "),
    )
    parser.add_argument("--part", default="laws,stability,rounding",
                        help="comma-separated parts: laws, stability, rounding (default all)")
    parser.add_argument("--seeds", type=int, default=1000, help="seeds per run (default 1000)")
    parser.add_argument(
        "--steps", type=int, default=None,
        help="training steps (default per part: laws 200, stability 3000, rounding 1000)")
    parser.add_argument(
        "--dtype", default=None,
        help="float32 or float64: the dtype of the laws part and the only dtype of the rounding "
             "part (default float64 for laws, both for rounding; stability is always float64)")
    parser.add_argument("--lr", default=None,
                        help="learning rate of laws (default 0.05) and stability (default 2.0)")
    parser.add_argument("--eps", default=None,
                        help="stability: comma-separated perturbation sizes "
                             "(default 1e-12,1e-10,1e-8,1e-6,1e-4,1e-2)")
    parser.add_argument("--activation", default="tanh",
                        help="stability: hidden activation, tanh or sigmoid (default tanh)")
    parser.add_argument("--json", metavar="FILE",
                        help="write the results document to FILE (new, or replacing a symjax "
                             "dynamics results file)")
    parser.add_argument("--out", metavar="DIR",
                        help="write results.json and figures (needs matplotlib) into DIR: a "
                             "new or empty directory, or one holding symjax dynamics results")
    parser.add_argument("--force", action="store_true",
                        help="write even when --json FILE is another file or --out DIR a "
                             "non-empty directory of other files (same-named files replaced)")
    parser.set_defaults(func=run)


def _parts(text: str) -> list[str]:
    from ..experiments.dynamics import PARTS  # NumPy, not JAX

    parts = [choose("part", p.strip(), PARTS) for p in text.split(",") if p.strip()]
    if not parts:
        raise InputError(f"--part {text!r} names no part; allowed: {', '.join(PARTS)}")
    return list(dict.fromkeys(parts))


def options(args: argparse.Namespace) -> dict:
    """The keyword options of :func:`symjax.experiments.dynamics.measure` for each part."""
    from ..experiments.dynamics import DTYPES, _positive_float, check_options

    if args.seeds < 1:
        raise InputError(f"--seeds must be >= 1, got {args.seeds}")
    if args.steps is not None and args.steps < 1:
        raise InputError(f"--steps must be >= 1, got {args.steps}")
    opts: dict = {"laws": {"seeds": args.seeds}, "stability": {"seeds": args.seeds},
                  "rounding": {"seeds": args.seeds}}
    if args.steps is not None:
        for part in opts.values():
            part["steps"] = args.steps
    if args.dtype is not None:
        opts["laws"]["dtype"] = choose("dtype", args.dtype, DTYPES)
        opts["rounding"]["dtypes"] = (args.dtype,)
    if args.lr is not None:
        opts["laws"]["lr"] = opts["stability"]["lr"] = _positive_float("--lr", args.lr)
    if args.eps is not None:
        try:
            opts["stability"]["eps"] = tuple(float(e) for e in args.eps.split(",") if e.strip())
        except ValueError:
            raise InputError(f"--eps {args.eps!r} must be comma-separated numbers") from None
    opts["stability"]["activation"] = args.activation
    check_options(_parts(args.part), opts)  # before any work, JAX not loaded yet
    return opts


def run(args: argparse.Namespace) -> int:
    """Measure, print, optionally write; the exit status as documented above."""
    parts = _parts(args.part)
    opts = options(args)
    targets = _claim_targets(args)  # before anything runs or is written
    from ..numeric.xla import configure_xla

    configure_xla()
    from ..experiments import dynamics as _dynamics
    from ..results.document import collect_provenance, write_results

    provenance = collect_provenance()
    results = _dynamics.measure(parts, **opts)
    print(_dynamics.render(results))
    ok = all(results[p]["ok"] for p in parts)
    print(f"\nVerdict: {'every measurement agrees with its prediction' if ok else 'MISMATCH'}")
    config = {"parts": parts, **{p: results[p]["config"] for p in parts}}
    stored = {p: {k: v for k, v in results[p].items() if k != "config"} for p in parts}
    stored["ok"] = ok
    for target in targets:
        write_results(target, kind="dynamics", config=config, layout={}, results=stored,
                      provenance=provenance)
        print(f"wrote {target}", file=sys.stderr)
    if args.out:
        from ..report import plots as _plots

        if _plots.available():
            from ..report.dynamics_plots import write_dynamics_figures
            names = write_dynamics_figures(results, figure_writer(targets[-1]))
            print(f"figures: {', '.join(names)} in {args.out}", file=sys.stderr)
        else:
            print("figures skipped: matplotlib is not installed", file=sys.stderr)
    return 0 if ok else 1


def figure_writer(directory: Path):
    """``write(name, bytes)`` into ``directory``, atomically: a new file replaces a link of that
    name, never writes through it."""
    from ..base.files import atomic_open

    def write(name: str, data: bytes) -> None:
        with atomic_open(directory / name) as f:
            f.write(data)

    return write


def _claim_targets(args: argparse.Namespace) -> list:
    """The paths ``--json`` and ``--out`` write, checked before the measurement starts: never
    someone else's file or non-empty directory (unless ``--force``), never through a link."""
    from ..results.document import results_path
    from ..results.rundir import claim_directory, claim_file, holds_dynamics_results, refuse_symlink

    what = "dynamics results"
    targets = []
    for option, value in (("--json", args.json), ("--out", args.out)):
        if value is None:
            continue
        if option == "--json" and results_path(value) == Path(value):
            target = claim_file(value, option=option, ours=holds_dynamics_results,
                                what=f"{what} file", force=args.force)
        else:  # a directory: DIR/results.json (and the figures of --out)
            target = claim_directory(value, option=option, ours=holds_dynamics_results,
                                     what=what, force=args.force)
            refuse_symlink(target / "results.json")
        targets.append(target)
    if len(targets) == 2 and results_path(targets[0]) == results_path(targets[1]):
        targets.pop(0)  # one file, written once
    return targets
