"""``symjax verify``: the numeric check, from the command line.

No JAX at import: :func:`run` sets the XLA flags of the fast path (:func:`symjax.configure_xla`)
before anything imports JAX.
"""

from __future__ import annotations

import argparse
import functools
import sys
import warnings
from pathlib import Path

from ..base import signals as _signals
from ..base.errors import InputError
from ..results.config import DEFAULTS, VerifyConfig

#: Seconds a process waits to join a multi-process run (``--coordinator-timeout``).
COORDINATOR_TIMEOUT = 60

DESCRIPTION = """\
Train many seeds of an MLP under every init scheme x optimizer and check, bit for bit at every
step, that tied hidden units stay tied. The default is the main experiment: 2-2-1, tanh hidden,
sigmoid output, squared error, XOR, every built-in init scheme, sgd and adam, 10,000 seeds,
1,000 steps, exact path. Prints a table per init x optimizer; with --out DIR writes
results.json (config, layout, summaries, provenance), per_seed.csv and trajectory_sample.npz
(the first 128 seeds re-run with parameters and loss at log-spaced steps, for the figures of
symjax report DIR); a new run into DIR replaces the files and the report of the previous one.
Exit status 0 when every run covered by the invariance theorem kept its ties, 1 otherwise, 2 on
bad input."""


def register(subparsers) -> None:
    """Add the ``verify`` subcommand."""
    parser = subparsers.add_parser(
        "verify", help="check numerically that tied units stay tied (many seeds, bitwise)",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for name, f in VerifyConfig.fields().items():
        shown = "" if f.default is None else f" (default: {f.default})"  # else the help says it
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, default=f.default,
                            metavar=name.upper(), help=f.metadata["help"] + shown)
    parser.add_argument("--out", metavar="DIR",
                        help="write results.json and per_seed.csv here: a new or empty "
                             "directory, or one holding a symjax verify run (a finished one "
                             "is replaced once the new run is complete)")
    parser.add_argument("--force", action="store_true",
                        help="write into --out even when it is a non-empty directory of other "
                             "files (files with symjax's names are replaced)")
    parser.add_argument("--save-params", action="store_true",
                        help="also write params.npz (initial and final parameters per run)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--progress", action="store_true",
                        help="show the progress bar and the time left even when stderr is not a "
                             "terminal (logs of batch jobs)")
    parser.add_argument(
        "--resume", metavar="DIR",
        help="finish the interrupted run in DIR (options are read from DIR/run.json; only "
             "missing or damaged chunks are recomputed)")
    group = parser.add_argument_group(
        "multi-process runs (jax.distributed; every process gets the same command and --out "
        "on a shared file system)")
    group.add_argument("--distributed", action="store_true",
                       help="call jax.distributed.initialize() with the cluster's own settings "
                            "(SLURM, Open MPI, Kubernetes, ...)")
    group.add_argument("--coordinator", metavar="HOST:PORT",
                       help="address of process 0 (implies --distributed)")
    group.add_argument("--num-processes", metavar="N", type=_positive_int,
                       help="number of processes (with --coordinator)")
    group.add_argument("--process-id", metavar="I", type=_natural_int,
                       help="this process's index, 0..N-1 (with --coordinator)")
    group.add_argument("--coordinator-timeout", metavar="SECONDS", type=_positive_int,
                       default=COORDINATOR_TIMEOUT,
                       help="give up joining the run after this many seconds, with a message "
                            f"(default {COORDINATOR_TIMEOUT})")
    parser.set_defaults(func=run)


def _int_at_least(text: str, low: int) -> int:
    """argparse ``type=``: an integer >= ``low`` (argparse names the option in its message)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer (>= {low})") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"{value} must be an integer >= {low}")
    return value


_positive_int = functools.partial(_int_at_least, low=1)
_natural_int = functools.partial(_int_at_least, low=0)


def _distributed_kwargs(args: argparse.Namespace) -> dict | None:
    """Keyword arguments of ``jax.distributed.initialize``, ``None`` for a one-process run."""
    explicit = {"coordinator_address": args.coordinator, "num_processes": args.num_processes,
                "process_id": args.process_id}
    given = {k: v for k, v in explicit.items() if v is not None}
    if not args.distributed and not given:
        return None
    if given and len(given) != 3:
        missing = [f"--{k.replace('_address', '').replace('_', '-')}" for k in explicit
                   if k not in given]
        raise InputError(f"--coordinator, --num-processes and --process-id go together; "
                         f"missing {', '.join(missing)}")
    if given and given["process_id"] >= given["num_processes"]:
        raise InputError(f"--process-id {given['process_id']} must be below --num-processes "
                         f"{given['num_processes']}")
    if not args.out and not args.resume:
        raise InputError("a multi-process run needs --out DIR on a file system every process "
                         "can reach (each writes its chunks there; process 0 merges)")
    return given


def _join(distributed: dict, timeout: int) -> None:
    """``jax.distributed.initialize``, after checking that the coordinator can be reached.

    XLA ends the process (no exception) when the coordinator stays unreachable, so a process
    other than 0 first waits up to ``timeout`` seconds for a TCP connection to it.
    """
    import socket
    import time

    address = distributed.get("coordinator_address")
    if address:
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise InputError(f"--coordinator {address!r} must be HOST:PORT, e.g. node0:1234")
        print(f"symjax: joining the run at {address} as process {distributed['process_id']} "
              f"of {distributed['num_processes']} (waiting up to {timeout} s, "
              f"--coordinator-timeout)", file=sys.stderr)
        if distributed["process_id"] != 0:  # process 0 starts the coordinator itself
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                try:
                    socket.create_connection((host.strip("[]"), int(port)),
                                             timeout=max(0.1, min(left, 5))).close()
                    break
                except socket.gaierror as err:
                    raise InputError(f"--coordinator {address}: unknown host {host!r} "
                                     f"({err.strerror})") from None
                except OSError as err:
                    if left <= 0.5:
                        raise InputError(
                            f"could not reach the coordinator {address} within {timeout} s "
                            f"({err.strerror or err}); check the address and that process 0 "
                            f"runs, or raise --coordinator-timeout") from None
                    time.sleep(0.5)
    import jax

    try:
        jax.distributed.initialize(**distributed, initialization_timeout=timeout)
    except (RuntimeError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"jax.distributed.initialize failed: {first}") from None


def run(args: argparse.Namespace) -> int:
    """Run ``symjax verify``; returns the exit status."""
    for option, value in (("--out", args.out), ("--resume", args.resume)):
        if value is not None and not value.strip():  # before anything else: never "here"
            raise InputError(f"{option} {value!r} is empty; name a directory")
    if args.resume:
        given = [f"--{n.replace('_', '-')}" for n, default in DEFAULTS.items()
                 if getattr(args, n) != default]
        outputs = {"--out": args.out, "--save-params": args.save_params, "--force": args.force}
        given += [option for option, value in outputs.items() if value]
        if given:
            raise InputError(f"--resume DIR takes the options of the run in DIR; drop "
                             f"{', '.join(given)}")
    elif args.save_params and not args.out:
        raise InputError("--save-params needs --out DIR (where params.npz is written)")
    distributed = _distributed_kwargs(args)
    with _signals.hint(functools.partial(_kept, args.resume or args.out)):
        return _verify_and_print(args, distributed)


def _kept(out: str | None) -> str:
    """What an interruption outside training (which says what it saved) leaves."""
    if out and (Path(out) / "run.json").is_file():
        return f"resume with: symjax verify --resume {out}"
    return "nothing was saved (run with --out DIR to keep finished chunks and resume)"


def _verify_and_print(args: argparse.Namespace, distributed: dict | None) -> int:
    from ..numeric.xla import configure_xla

    configure_xla()
    if distributed is not None:
        _join(distributed, args.coordinator_timeout)
    from ..experiments.verify import SymjaxWarning, resume_verify, verify
    from ..numeric.sweep import RunInterrupted

    _signals.check()  # a signal that arrived while JAX loaded
    options = {name: getattr(args, name) for name in DEFAULTS}
    out = args.resume or args.out
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SymjaxWarning)  # the table repeats them
            if args.resume:
                results = resume_verify(args.resume, quiet=args.quiet,
                                        progress=args.progress or None)
            else:
                results = verify(**options, out=args.out, save_params=args.save_params,
                                 quiet=args.quiet, progress=args.progress or None,
                                 force=args.force)
    except RunInterrupted as stop:
        print(f"symjax: {stop}", file=sys.stderr)
        return stop.exit_status
    import jax

    if jax.process_index() != 0:
        print(f"process {jax.process_index()}: chunks written to {out}; process 0 wrote the "
              f"merged results", file=sys.stderr)
        return 0 if results.ok else 1
    print(results.table())
    if out:
        print(f"wrote {out}", file=sys.stderr)
    return 0 if results.ok else 1
