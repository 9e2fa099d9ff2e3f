"""The symbolic half of symjax: SymPy proofs about tied hidden units.

A :class:`SymbolicMLP` of any widths writes the loss and its gradients as SymPy expressions;
:func:`chain_rule` lays each gradient out as products of named factors and
:func:`compare_chains` names the factors two gradients differ in; :func:`prove_tie_invariance`,
:func:`prove_transpositions` and :func:`tie_lattice` decide which ties gradient descent
preserves, returning :class:`Theorem` objects with proofs or witnesses.
:func:`prove_training_preserves_ties` extends the proof by induction to optimizers with state
(momentum, Adam, ...) and refutes it for symmetry-breaking perturbations;
:func:`conservation_laws` counts and finds the conservation laws of gradient flow; and
:func:`prove_block_diagonal` / :func:`growth_factor` describe how fast a small asymmetry grows
near the tied subspace.
"""

from ._chain import ChainComparison as ChainComparison
from ._chain import ChainRule as ChainRule
from ._chain import Factor as Factor
from ._chain import FactorDifference as FactorDifference
from ._chain import chain_rule as chain_rule
from ._chain import compare_chains as compare_chains
from ._laws import check_conserved as check_conserved
from ._laws import conservation_laws as conservation_laws
from ._network import MAX_HIDDEN_LAYERS as MAX_HIDDEN_LAYERS
from ._network import MAX_PATHS as MAX_PATHS
from ._network import MAX_SAMPLES as MAX_SAMPLES
from ._network import MAX_SYMBOLIC_PARAMS as MAX_SYMBOLIC_PARAMS
from ._network import SymbolicMLP as SymbolicMLP
from ._network import canonical as canonical
from ._network import exactly_zero as exactly_zero
from ._optimizers import OPTIMIZERS as OPTIMIZERS
from ._optimizers import PERTURBATIONS as PERTURBATIONS
from ._optimizers import prove_training_preserves_ties as prove_training_preserves_ties
from ._optimizers import prove_update_preserves_ties as prove_update_preserves_ties
from ._optimizers import update_formulas as update_formulas
from ._stability import growth_factor as growth_factor
from ._stability import predict_asymmetry as predict_asymmetry
from ._stability import prove_block_diagonal as prove_block_diagonal
from ._stability import prove_duplication as prove_duplication
from ._stability import stability_model as stability_model
from ._theorem import ProofStep as ProofStep
from ._theorem import Theorem as Theorem
from ._theorem import combine as combine
from ._ties import network as network
from ._ties import permutation_ties as permutation_ties
from ._ties import prove_tie_invariance as prove_tie_invariance
from ._ties import prove_transpositions as prove_transpositions
from ._ties import tie_lattice as tie_lattice
from ._ties import whole_layer_ties as whole_layer_ties

__all__ = [
    "ChainComparison",
    "ChainRule",
    "Factor",
    "FactorDifference",
    "MAX_HIDDEN_LAYERS",
    "MAX_PATHS",
    "MAX_SAMPLES",
    "MAX_SYMBOLIC_PARAMS",
    "OPTIMIZERS",
    "PERTURBATIONS",
    "ProofStep",
    "SymbolicMLP",
    "Theorem",
    "canonical",
    "chain_rule",
    "check_conserved",
    "combine",
    "compare_chains",
    "conservation_laws",
    "exactly_zero",
    "growth_factor",
    "network",
    "permutation_ties",
    "predict_asymmetry",
    "prove_block_diagonal",
    "prove_duplication",
    "prove_tie_invariance",
    "prove_training_preserves_ties",
    "prove_transpositions",
    "prove_update_preserves_ties",
    "stability_model",
    "tie_lattice",
    "update_formulas",
    "whole_layer_ties",
]
