"""A JAX loss translated through its jaxpr: the same expressions as the hand-built network, and
tie proofs for users' own models with negative controls."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp

from symjax import InputError
from symjax.base.errors import GuardContradiction
from symjax.symbolic import SymbolicMLP
from symjax.symbolic import jaxpr as J


def mlp(p, x, y):
    h = jnp.tanh(x @ p["W1"].T + p["b1"][None, :])
    o = jax.nn.sigmoid(h @ p["W2"].T + p["b2"][None, :])
    return jnp.sum((o - y) ** 2) / 2


PARAMS = {"W1": jnp.ones((2, 2)), "b1": jnp.ones(2), "W2": jnp.ones((1, 2)), "b2": jnp.ones(1)}
X, Y = jnp.ones((1, 2)), jnp.ones((1, 1))
SWAP = J.dense_units("W1", "b1", "W2", (2, 2), (1, 2), 0, 1)


def test_translated_mlp_equals_the_hand_built_network():
    (out,), syms = J.to_sympy(mlp, PARAMS, X, Y)
    net = SymbolicMLP((2, 2, 1), activation="tanh", output_activation="sigmoid",
                      loss="squared_error")
    names = {"W1": ["w1", "w2", "w3", "w4"], "b1": ["b1", "b2"], "W2": ["w5", "w6"],
             "b2": ["b3"]}
    rename = {}
    for leaf, arr in syms[0].items():
        for sym, target in zip(arr.reshape(-1), names[leaf]):
            rename[sym] = net.params[target]
    rename[syms[1]["a1"][0, 0]] = net.x(1)
    rename[syms[1]["a1"][0, 1]] = net.x(2)
    rename[syms[2]["a2"][0, 0]] = net.y(1)
    translated = sp.sympify(out.item()).xreplace(rename)
    assert sp.simplify(translated - net.loss_expr) == 0
    # and the two derivations of every gradient agree exactly
    for name, sym in net.params.items():
        assert sp.simplify(sp.diff(translated, sym) - net.grad(name)) == 0, name


def test_own_model_swap_proven_and_half_swap_refuted():
    thm = J.prove_model_ties(mlp, PARAMS, SWAP, X, Y)
    assert thm.proven and thm.guard["jax_float64"] < 1e-12
    half = J.prove_model_ties(mlp, PARAMS, SWAP[:2], X, Y)
    assert half.refuted and half.witness["W1[1,0]"] == half.witness["W1[0,0]"]
    flip = J.dense_units("W1", "b1", "W2", (2, 2), (1, 2), 0, 1, sign=-1)
    assert J.prove_model_ties(mlp, PARAMS, flip, X, Y).proven  # tanh is odd


def test_unsupported_primitive_is_named():
    def erf_loss(p, x):
        return jnp.sum(jax.scipy.special.erf(p["w"] * x))

    with pytest.raises(InputError, match="unsupported primitive erf"):
        J.to_sympy(erf_loss, {"w": jnp.ones(2)}, jnp.ones(2))


def test_unknown_parameter_in_a_tie_is_named():
    with pytest.raises(InputError, match="unknown parameter 'W9\\[0,0\\]'"):
        J.prove_model_ties(mlp, PARAMS, [("W9[0,0]", "W1[0,0]")], X, Y)


def test_numeric_check_catches_a_wrong_proof(monkeypatch):
    monkeypatch.setattr(J, "nonzero_witness", lambda *a, **k: None)
    monkeypatch.setattr(J, "exactly_zero", lambda expr: True)
    with pytest.raises(GuardContradiction):
        J.prove_model_ties(mlp, PARAMS, SWAP[:2], X, Y)


def test_relu_and_softmax_translate():
    def net(p, x):
        h = jax.nn.relu(x @ p["W"].T)
        return jnp.sum(jax.nn.softmax(h))

    (out,), syms = J.to_sympy(net, {"W": jnp.ones((2, 2))}, jnp.ones((1, 2)))
    value = sp.sympify(out.item()).xreplace(
        {s: sp.Rational(k + 1, 3) for k, s in enumerate(syms[0]["W"].reshape(-1))}
        | {s: 1 for s in syms[1]["a1"].reshape(-1)}
    )
    assert abs(float(value) - 1.0) < 1e-12  # softmax sums to one
    assert np.asarray(out).shape == ()


def _proof_script(name):
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "proofs" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_witness_names_every_parameter_even_those_the_difference_lacks():
    # under BatchNorm the biases before the norm cancel from the gradient difference
    description, loss, params, ties, data, expected = _proof_script("norm_layers").CASES[4]
    assert expected == "refuted" and "BatchNorm control" in description
    thm = J.prove_model_ties(loss, params, ties, *data)
    assert thm.refuted
    names = {s.name for arr in J.to_sympy(loss, params, *data)[1][0].values()
             for s in arr.reshape(-1)}
    assert names <= set(thm.witness)
    for p, q in ties:  # and the point lies on the (signed) tied subspace
        sign, name = (-1, q[1:]) if q.startswith("-") else (1, q)
        assert sp.Rational(thm.witness[name]) == sign * sp.Rational(thm.witness[p])


def test_attention_head_swap_with_wrong_output_blocks_is_refuted():
    description, loss, params, ties, data, expected = _proof_script("attention_heads").CASES[2]
    assert expected == "refuted" and "wrongly" in description
    thm = J.prove_model_ties(loss, params, ties, *data)
    assert thm.refuted and float(thm.witness["value"]) != 0


def test_jax_float64_check_alone_objects_to_a_false_tie():
    # the numeric half of the check, on its own: half a swap is not kept by jax.grad either
    _, symbols = J.to_sympy(mlp, PARAMS, X, Y)
    assert J._jax_check(mlp, PARAMS, (X, Y), SWAP, symbols) < 1e-12
    with pytest.raises(GuardContradiction, match="jax.grad in float64 contradicts"):
        J._jax_check(mlp, PARAMS, (X, Y), SWAP[:2], symbols)
