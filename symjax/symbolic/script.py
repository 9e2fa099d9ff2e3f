"""The frame of a proof script (``python proofs/NAME.py``): sections, named checks, a summary,
LaTeX fragments and the exit status.

A script states its claims as checks; it exits 0 only when every check came out as stated, so a
prover that changes its answer fails the script (and the test that runs it)::

    script = ProofScript(__doc__)
    script.section("Theorem")
    theorem = prove_tie_invariance((2, 2, 1), "w1=w3,w2=w4,w5=w6,b1=b2")
    print(theorem.render())
    script.check("the full swap is preserved", theorem.proven)
    script.fragment("theorem.tex", theorem.to_latex())
    sys.exit(script.finish())
"""

from __future__ import annotations

import argparse
import pathlib
from collections.abc import Sequence

from ..base.files import atomic_write_text

#: Width of a section's rule.
RULE = 100


class ProofScript:
    """Command line (``--latex DIR``), output and verdict of one proof script.

    Args:
      doc: the script's docstring (its first line is the ``--help`` description).
      argv: arguments (default ``sys.argv[1:]``).
      latex_help: what ``--latex DIR`` writes.
      options: more ``(flags, keyword arguments)`` for :meth:`argparse.ArgumentParser
        .add_argument`; their values are in :attr:`args`.
    """

    def __init__(self, doc: str | None, argv: Sequence[str] | None = None, *,
                 latex_help: str = "write .tex fragments into DIR",
                 options: Sequence[tuple[Sequence[str], dict]] = ()):
        parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0] if doc else None)
        parser.add_argument("--latex", metavar="DIR", type=pathlib.Path, help=latex_help)
        for flags, kwargs in options:
            parser.add_argument(*flags, **kwargs)
        self.args = parser.parse_args(argv)
        self.checks: list[tuple[str, bool]] = []
        self.fragments: dict[str, str] = {}

    @staticmethod
    def section(title: str) -> None:
        """Print a section title between two rules."""
        print(f"\n{'=' * RULE}\n{title}\n{'=' * RULE}")

    def check(self, text: str, ok: bool) -> bool:
        """Record a claim of the script and whether it came out as stated."""
        self.checks.append((text, bool(ok)))
        return bool(ok)

    def fragment(self, name: str, tex: str) -> None:
        """A LaTeX fragment written into ``--latex DIR`` by :meth:`finish`."""
        self.fragments[name] = tex

    @property
    def ok(self) -> bool:
        return all(ok for _, ok in self.checks)

    def finish(self, *, summary: bool = True) -> int:
        """Print the checks, write the fragments (``--latex``); the exit status: 0 when every
        check came out as stated, 1 otherwise."""
        if summary and self.checks:
            self.section("Summary")
            for text, ok in self.checks:
                print(f"  [{'ok' if ok else 'FAILED'}] {text}")
        directory = self.args.latex
        if directory is not None and self.fragments:
            directory.mkdir(parents=True, exist_ok=True)
            for name, tex in self.fragments.items():
                atomic_write_text(directory / name, tex)
            print(f"LaTeX fragments written to {directory}/: {', '.join(self.fragments)}")
        return 0 if self.ok else 1
