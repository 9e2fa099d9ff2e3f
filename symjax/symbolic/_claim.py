"""One claim of ``symjax prove``, from its options: the theorem and the derivation behind it.

``symjax prove`` and a report's proof appendix both derive their theorem here, so an appendix
says exactly what ``symjax prove`` with the recorded options says.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..base.layout import parse_permutation
from . import _ties
from ._chain import Derivation, derivation
from ._optimizers import prove_training_preserves_ties
from ._theorem import Theorem

#: The options that choose the network (``symjax prove --activation`` ...).
NETWORK_OPTIONS = ("activation", "output_activation", "loss", "samples", "reduction", "dropout")


class Claim(NamedTuple):
    theorem: Theorem
    derivation: Derivation
    widths: list[int]
    pairs: list[tuple[str, str]]


def prove_claim(widths, *, ties=None, permutation: str | None = None,
                optimizer: str | None = None, lattice: bool = False, timeout: float = 120.0,
                **network: Any) -> Claim:
    """Prove (or refute) the claim that ``symjax prove`` states for these options.

    ``network`` holds :data:`NETWORK_OPTIONS`; ``permutation`` (``"LAYER:IMAGES"``) wins over
    ``ties``; ``optimizer`` proves training under that optimizer, ``lattice`` every subset of the
    ties, otherwise gradient descent's invariance of the ties.

    Raises:
      InputError: a bad option.
    """
    net = _ties.network(widths, **network)
    if permutation is not None:
        pairs = net.layout.permutation_pairs(*parse_permutation(permutation))
    else:
        pairs = _ties.resolve_ties(net.layout, ties)
    if optimizer is not None:
        theorem = prove_training_preserves_ties(net.widths, pairs, optimizer, **network)
    elif lattice:
        theorem = _ties.tie_lattice(net.widths, pairs, **network, timeout=timeout)
    else:
        theorem = _ties.prove_tie_invariance(net.widths, pairs, **network, timeout=timeout)
    return Claim(theorem, derivation(net, pairs), list(net.widths), list(pairs))
