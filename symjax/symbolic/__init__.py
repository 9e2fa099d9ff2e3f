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

from types import ModuleType as _ModuleType

from ..base.choices import ACTIVATIONS as ACTIVATIONS
from ..base.choices import LOSSES as LOSSES
from ._chain import ChainComparison as ChainComparison
from ._chain import ChainRule as ChainRule
from ._chain import Factor as Factor
from ._chain import FactorDifference as FactorDifference
from ._chain import chain_rule as chain_rule
from ._chain import compare_chains as compare_chains
from ._chain import forward_latex as forward_latex
from ._chain import forward_text as forward_text
from ._claim import Claim as Claim
from ._claim import prove_claim as prove_claim
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
from ._optimizers import SYMMETRIC_CONTROLS as SYMMETRIC_CONTROLS
from ._optimizers import prove_training_preserves_ties as prove_training_preserves_ties
from ._optimizers import prove_update_preserves_ties as prove_update_preserves_ties
from ._optimizers import update_formulas as update_formulas
from ._stability import antisymmetric_hessian_at as antisymmetric_hessian_at
from ._stability import describe_compact_form as describe_compact_form
from ._stability import gd_step as gd_step
from ._stability import growth_factor as growth_factor
from ._stability import join_pairs as join_pairs
from ._stability import predict_asymmetry as predict_asymmetry
from ._stability import prove_block_diagonal as prove_block_diagonal
from ._stability import prove_duplication as prove_duplication
from ._stability import split_pairs as split_pairs
from ._stability import stability_model as stability_model
from ._stability import tied_point as tied_point
from ._stability import tied_trajectory as tied_trajectory
from ._theorem import ProofStep as ProofStep
from ._theorem import Theorem as Theorem
from ._theorem import combine as combine
from ._ties import lattice_table as lattice_table
from ._ties import lattice_table_latex as lattice_table_latex
from ._ties import network as network
from ._ties import permutation_ties as permutation_ties
from ._ties import prove_tie_invariance as prove_tie_invariance
from ._ties import prove_transpositions as prove_transpositions
from ._ties import tie_lattice as tie_lattice
from ._ties import whole_layer_ties as whole_layer_ties
from .script import ProofScript as ProofScript

#: Every name re-exported above, for ``from symjax.symbolic import *``.
__all__ = [name for name, value in globals().items()
           if not name.startswith("_") and not isinstance(value, _ModuleType)]
