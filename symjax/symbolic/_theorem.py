"""Theorems as data: claim, hypotheses, proof steps, verdict, witness.

A :class:`Theorem` is what every prover in :mod:`symjax.symbolic` returns. It prints itself as a
readable derivation, renders to LaTeX, and serialises to JSON (exact rationals as strings).

Verdicts:

* ``"proven"``: every expression the claim needs to vanish simplified to exactly zero.
* ``"refuted"``: some expression is not identically zero; ``witness`` holds a concrete rational
  point (and, if the claim was about an undefined function, the concrete choice made) at which it
  evaluates to a non-zero number, recorded in ``witness["value"]``.
* ``"unknown"``: only when a time limit was hit; ``reason`` says so.

A ``"proven"`` theorem cannot be made without ``guard``: the record of the independent
falsification check (:mod:`symjax.symbolic._guard`) that evaluated the claim again, by code that
shares nothing with the prover's simplification. A contradiction there raises
:class:`~symjax.symbolic._guard.GuardContradiction` before any theorem exists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..base.text import tex_escape
from ._guard import conjunction

PROVEN = "proven"
REFUTED = "refuted"
UNKNOWN = "unknown"
VERDICTS = (PROVEN, REFUTED, UNKNOWN)
#: Exit status of a command that prints a theorem, by verdict (2 is bad input; 4 the independent
#: check contradicted a proof, see ``cli``).
EXIT_STATUS = {PROVEN: 0, REFUTED: 1, UNKNOWN: 3}


@dataclass
class ProofStep:
    """One step of a proof: a sentence, and optionally the formula it rests on."""

    text: str
    latex: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text} | ({} if self.latex is None else {"latex": self.latex})


@dataclass
class Theorem:
    """A claim with its verdict.

    Attributes:
      claim: the statement, one sentence.
      hypotheses: the assumptions (network, activation, loss, data, optimizer, ties).
      verdict: one of ``"proven"``, ``"refuted"``, ``"unknown"``.
      steps: the proof (or refutation) steps in order.
      witness: for a refutation, every value needed to re-check it, as strings (exact rationals),
        plus names of the concrete choices (e.g. ``"activation": "tanh"``) and ``"value"``, the
        non-zero value the failing expression takes there (exact where possible).
      reason: why the verdict is ``"unknown"`` (a time limit), else ``None``.
      context: machine-readable hypotheses (widths, ties, activation, ...).
      lemmas: sub-theorems this one rests on (e.g. one per tie set of a lattice).
      guard: for a proven theorem, the record of its independent falsification check
        (method, instantiations, points, evaluations, largest residual); required.
    """

    claim: str
    hypotheses: list[str]
    verdict: str
    steps: list[ProofStep] = field(default_factory=list)
    witness: dict[str, str] | None = None
    reason: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    lemmas: list[Theorem] = field(default_factory=list)
    guard: dict[str, Any] | None = None

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} not in {VERDICTS}")
        if self.verdict == UNKNOWN and not self.reason:
            raise ValueError("an 'unknown' verdict needs a reason (a time limit was hit)")
        if self.verdict == REFUTED and not self.witness:
            raise ValueError("a 'refuted' verdict needs a witness")
        if self.verdict == PROVEN and not self.guard:
            raise ValueError(
                "internal error: a 'proven' verdict needs the record of its independent check"
            )

    # -- convenience -----------------------------------------------------------------------
    @property
    def proven(self) -> bool:
        return self.verdict == PROVEN

    @property
    def refuted(self) -> bool:
        return self.verdict == REFUTED

    @property
    def exit_code(self) -> int:
        """CLI convention: 0 proven, 1 refuted, 3 unknown (a time limit)."""
        return EXIT_STATUS[self.verdict]

    # -- rendering -------------------------------------------------------------------------
    def __str__(self) -> str:
        return self.render()

    def render(self, indent: str = "") -> str:
        lines = [f"{indent}Claim: {self.claim}"]
        if self.hypotheses:
            lines.append(f"{indent}Hypotheses:")
            lines += [f"{indent}  - {h}" for h in self.hypotheses]
        if self.steps:
            lines.append(f"{indent}Proof:" if self.proven else f"{indent}Steps:")
            lines += [f"{indent}  {i}. {s.text}" for i, s in enumerate(self.steps, 1)]
        if self.witness:
            lines.append(f"{indent}Witness:")
            lines += [f"{indent}  {k} = {v}" for k, v in self.witness.items()]
        if self.reason:
            lines.append(f"{indent}Reason: {self.reason}")
        if self.guard and self.guard.get("evaluations"):
            lines.append(f"{indent}Independent check: {guard_summary(self.guard)}")
        lines += [lemma.render(indent + "    ") for lemma in self.lemmas]
        lines.append(f"{indent}Verdict: {self.verdict.upper()}")
        return "\n".join(lines)

    def to_latex(self) -> str:
        """A LaTeX fragment (no preamble) that a paper can ``\\input``."""
        out = [r"\begin{description}", rf"\item[Claim] {tex_escape(self.claim)}"]
        if self.hypotheses:
            out.append(r"\item[Hypotheses] \begin{itemize}")
            out += [rf"\item {tex_escape(h)}" for h in self.hypotheses]
            out.append(r"\end{itemize}")
        if self.steps:
            out.append(r"\item[Proof] \begin{enumerate}")
            for s in self.steps:
                item = rf"\item {tex_escape(s.text)}"
                if s.latex:
                    item += "\n" + rf"\[ {s.latex} \]"
                out.append(item)
            out.append(r"\end{enumerate}")
        if self.witness:
            out.append(r"\item[Witness] \begin{itemize}")
            out += [
                rf"\item $\mathtt{{{tex_escape(k)}}} = {tex_escape(v)}$"
                if k not in ("activation", "loss", "output_activation")
                else rf"\item {tex_escape(k)}: {tex_escape(v)}"
                for k, v in self.witness.items()
            ]
            out.append(r"\end{itemize}")
        if self.reason:
            out.append(rf"\item[Reason] {tex_escape(self.reason)}")
        if self.guard and self.guard.get("evaluations"):
            out.append(rf"\item[Independent check] {tex_escape(guard_summary(self.guard))}")
        out += [rf"\item[Verdict] \textbf{{{self.verdict}}}", r"\end{description}"]
        out += [lemma.to_latex() for lemma in self.lemmas]
        return "\n".join(out) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "claim": self.claim,
            "hypotheses": list(self.hypotheses),
            "verdict": self.verdict,
            "steps": [s.to_dict() for s in self.steps],
            "witness": dict(self.witness) if self.witness else None,
            "reason": self.reason,
            "context": self.context,
            "lemmas": [lemma.to_dict() for lemma in self.lemmas],
            "guard": self.guard,
        }

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), indent=2, **kw)


def combine(claim: str, hypotheses: list[str], lemmas: list[Theorem], **kw) -> Theorem:
    """A theorem that holds when all its lemmas are proven (a conjunction).

    The verdict is ``proven`` if every lemma is, ``refuted`` if any lemma is refuted (its witness
    becomes the conjunction's), else ``unknown``.
    """
    if all(t.proven for t in lemmas):
        guard = conjunction([t.guard for t in lemmas])
        return Theorem(claim, hypotheses, PROVEN, lemmas=lemmas, guard=guard, **kw)
    bad = next((t for t in lemmas if t.refuted), None)
    if bad is not None:
        return Theorem(
            claim, hypotheses, REFUTED, witness=bad.witness, lemmas=lemmas,
            steps=[ProofStep(f"Refuted by the lemma: {bad.claim}")], **kw,
        )
    reason = next(t.reason for t in lemmas if t.verdict == UNKNOWN)
    return Theorem(claim, hypotheses, UNKNOWN, reason=reason, lemmas=lemmas, **kw)


def guard_summary(guard: dict[str, Any]) -> str:
    """One line: what the independent check evaluated and the largest residual."""
    parts = [f"{guard['evaluations']} evaluations"]
    if guard.get("instantiations"):
        parts.append(f"{len(guard['instantiations'])} instantiations of the functions")
    parts.append(f"largest residual {guard.get('largest_residual', 0.0):.3g}")
    return ", ".join(parts) + f" ({guard['method']})"


