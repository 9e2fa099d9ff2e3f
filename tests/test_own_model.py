"""Users' own models, numerically: symmetry check and tie verification over many seeds."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from symjax import InputError
from symjax.experiments.own_model import check_symmetry, verify_model
from symjax.symbolic.jaxpr import dense_units


def elementwise(p, x, y):
    """A 2-3-1 tanh network written unit by unit: each unit's sums in one fixed order."""
    hidden = [jnp.tanh(x[:, 0] * p["W1"][u, 0] + x[:, 1] * p["W1"][u, 1] + p["b1"][u])
              for u in range(3)]
    out = p["b2"][0] + hidden[0] * p["W2"][0, 0] + hidden[1] * p["W2"][0, 1] \
        + hidden[2] * p["W2"][0, 2]
    return jnp.mean((out - y[:, 0]) ** 2)


PARAMS = {"W1": jnp.ones((3, 2)), "b1": jnp.ones(3), "W2": jnp.ones((1, 3)), "b2": jnp.ones(1)}
X = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y = jnp.array([[0.0], [1.0], [1.0], [0.0]])
SWAP = dense_units("W1", "b1", "W2", (3, 2), (1, 3), 0, 2)


def test_a_symmetry_passes_and_a_non_symmetry_is_refused_naming_the_leaf():
    assert check_symmetry(elementwise, PARAMS, SWAP, X, Y) < 1e-12
    with pytest.raises(InputError, match="not a symmetry of the loss.*leaf W1"):
        check_symmetry(elementwise, PARAMS, SWAP[:2], X, Y)
    with pytest.raises(InputError, match="appears in two pairs"):
        check_symmetry(elementwise, PARAMS, SWAP + [("W1[0,0]", "W1[1,0]")], X, Y)
    with pytest.raises(InputError, match="unknown parameter leaf 'W9'"):
        check_symmetry(elementwise, PARAMS, [("W9[0]", "W1[0,0]")], X, Y)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_ties_of_a_symmetry_hold_bit_for_bit_over_1000_seeds(optimizer):
    result = verify_model(elementwise, PARAMS, SWAP, X, Y, optimizer=optimizer, lr=0.1,
                          seeds=1000, steps=50)
    assert result.held.all() and (result.first_break == -1).all()
    assert (result.max_ulp == 0).all()
    assert "1000/1000" in result.table()


def test_ties_that_are_not_a_symmetry_break_at_the_first_update():
    result = verify_model(elementwise, PARAMS, SWAP[:2], X, Y, optimizer="sgd", lr=0.1,
                          seeds=256, steps=5)
    assert not result.held.any()
    assert (result.first_break == 1).mean() > 0.95
    assert np.all(result.max_ulp[result.first_break >= 0] > 0)


def test_bad_counts_and_perturbed_optimizers_are_refused():
    with pytest.raises(InputError, match="seeds must be an integer"):
        verify_model(elementwise, PARAMS, SWAP, X, Y, seeds=0)
    with pytest.raises(InputError, match="unknown dtype"):
        verify_model(elementwise, PARAMS, SWAP, X, Y, dtype="float16")
