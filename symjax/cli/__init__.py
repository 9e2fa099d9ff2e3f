"""The ``symjax`` command.

Each subcommand lives in its own module ``symjax/cli/<name>.py`` that defines
``register(subparsers)``: it adds its parser and sets ``func=run`` where ``run(args) -> int``
returns the exit status. Those modules import neither JAX nor SymPy at import time, so that
``symjax --help`` is instant and the numeric commands can set XLA flags before JAX loads.

Exit status: 0 success (a claim proven, a check passed), 1 a claim refuted or a check failed,
2 bad input (or a file that cannot be read or written), reported as one line on stderr, never a
traceback; 3 unknown (a proof hit its time limit); 4 a proof was contradicted by its own
independent check (a bug in symjax: nothing that says "proven" is printed or written); 130 and
143 when SIGINT or SIGTERM stopped it (:mod:`symjax.base.signals`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from ..base import signals as _signals
from ..base.errors import EXIT_CONTRADICTED, GuardContradiction, InputError

#: Subcommand modules, in the order ``symjax --help`` lists them.
SUBCOMMANDS = (
    "prove", "verify", "report", "reproduce", "cite", "laws", "stability", "dynamics",
)


class _Parser(argparse.ArgumentParser):
    """argparse with errors as one line and exit status 2."""

    def error(self, message):  # noqa: D401 - argparse API
        raise InputError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    from ..base.version import __version__

    parser = _Parser(
        prog="symjax",
        description=(
            "Prove symbolically and verify numerically why tied hidden units stay tied "
            "and random initialization breaks the symmetry."
        ),
    )
    parser.add_argument("--version", action="version", version=f"symjax {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in SUBCOMMANDS:
        importlib.import_module(f"symjax.cli.{name}").register(sub)
    return parser


def _where_to_report() -> str:
    """`` at URL`` for the project's issue tracker or repository, from the package metadata."""
    try:
        from importlib.metadata import metadata

        urls = dict(
            u.split(", ", 1) for u in metadata("symjax-proofs").get_all("Project-URL") or []
        )
    except Exception:  # noqa: BLE001 - metadata is optional here; the message stands without it
        return ""
    for key in ("Issues", "Repository", "Homepage"):
        if key in urls:
            return f" at {urls[key]}"
    return ""


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    with _signals.handling():
        try:
            status = _run(argv)
            if _signals.received() is not None and status != _signals.exit_status():
                raise _signals.RunInterrupted(_signals.message(), _signals.exit_status())
        except (KeyboardInterrupt, _signals.RunInterrupted) as stop:
            if isinstance(stop, _signals.RunInterrupted):
                text, status = str(stop), stop.exit_status
            else:
                text, status = _signals.message(), _signals.exit_status()
            print(f"symjax: {text}", file=sys.stderr)
        if _signals.received() is not None and "jax" in sys.modules:
            # Compiled calls may still run in XLA's threads, and interpreter shutdown would wait
            # for them: end the process now (finished files are complete, written atomically).
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
    return status


def _run(argv: list[str]) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except InputError as err:
        print(f"symjax: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a file that cannot be read or written (disk full, permissions)
        where = f" ({err.filename})" if getattr(err, "filename", None) else ""
        print(f"symjax: error: {err.strerror or err}{where}", file=sys.stderr)
        return 2
    except GuardContradiction as err:
        print(
            f"symjax: a proof was contradicted by its own independent check, so nothing was "
            f"reported as proven; this is a bug in symjax, please report it with the command "
            f"you ran{_where_to_report()} ({err})",
            file=sys.stderr,
        )
        return EXIT_CONTRADICTED


if __name__ == "__main__":
    sys.exit(main())
